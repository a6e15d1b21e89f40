//! Any bytes through every shipped dialect, framed and unframed: no panic, and every accepted
//! message re-encodes to the same bytes.
#![no_main]

use adapter_protocols::framing::FrameHeader;
use adapter_protocols::iso8583::json::to_json;
use adapter_protocols::iso8583::{builtin, builtin_names};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in builtin_names() {
        let Some(Ok(dialect)) = builtin(name) else { continue };
        if let Ok(message) = dialect.decode(data) {
            assert_eq!(message.to_bytes().ok().as_deref(), Some(data));
            let _ = to_json(&FrameHeader::default(), &message);
            let _ = format!("{message}");
            for (de, _) in message.fields() {
                let _ = message.subfields(de);
            }
        }
        if let Ok((header, message)) = dialect.decode_frame(data) {
            assert_eq!(message.to_frame(&header).ok().as_deref(), Some(data));
        }
    }
});
