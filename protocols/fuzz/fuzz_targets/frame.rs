//! The frame checker and the tokio codec on any stream of bytes, with every prefix kind.
#![no_main]

use adapter_protocols::framing::codec::FrameCodec;
use adapter_protocols::framing::{FrameSpec, LengthPrefix};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let prefix = match selector % 5 {
        0 => LengthPrefix::None,
        1 => LengthPrefix::Binary2,
        2 => LengthPrefix::Bcd2,
        3 => LengthPrefix::Ascii4,
        _ => LengthPrefix::Binary4,
    };
    let spec = FrameSpec {
        prefix,
        tpdu: selector & 0x10 != 0,
        header_length: usize::from(selector >> 5),
        max_frame: 512,
    };
    let _ = spec.check(stream);
    let _ = spec.parse(stream);
    let mut codec = FrameCodec::new(spec);
    let mut buf = BytesMut::from(stream);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
});
