//! `tokio_util::codec` Decoder/Encoder for framed ISO 8583 links (feature `tokio-codec`).

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{FrameError, FrameHeader, FrameSpec, Tpdu};

/// One frame off the wire: TPDU and header (when the link has them) and the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    pub tpdu: Option<Tpdu>,
    pub header: Option<Bytes>,
    pub body: Bytes,
}

/// Splits a byte stream into frames of a [`FrameSpec`] and writes frames back.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    spec: FrameSpec,
}

impl FrameCodec {
    pub fn new(spec: FrameSpec) -> FrameCodec {
        FrameCodec { spec }
    }
}

/// A framing error, or the transport failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Decoder for FrameCodec {
    type Item = OwnedFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<OwnedFrame>, CodecError> {
        let Some(total) = self.spec.check(src)? else {
            return Ok(None);
        };
        let frame = src.split_to(total).freeze();
        // `parse` checks every part's bounds; the parts are then views into `frame`.
        let parts = self.spec.parse(&frame)?;
        Ok(Some(OwnedFrame {
            tpdu: parts.header.tpdu,
            header: parts.header.header.map(|h| frame.slice_ref(h)),
            body: frame.slice_ref(parts.body),
        }))
    }
}

impl Encoder<OwnedFrame> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, item: OwnedFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        let header = FrameHeader {
            tpdu: item.tpdu,
            header: item.header.as_deref(),
        };
        let mut out = Vec::with_capacity(item.body.len() + 16);
        self.spec.write(&header, &item.body, &mut out)?;
        dst.extend_from_slice(&out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::LengthPrefix;

    fn codec(prefix: LengthPrefix, tpdu: bool, header_length: usize) -> FrameCodec {
        FrameCodec::new(FrameSpec {
            prefix,
            tpdu,
            header_length,
            max_frame: 512,
        })
    }

    #[test]
    fn splits_a_stream_into_frames_and_writes_them_back() {
        let mut c = codec(LengthPrefix::Binary2, true, 6);
        let one = [
            &[0x00, 0x0D][..],
            &[0x60, 0x04, 0x01, 0x00, 0x00],
            &[0x60, 0x31, 0x00, 0x31, 0x00, 0x01],
            &[0x08, 0x00],
        ]
        .concat();
        let mut stream =
            BytesMut::from(&[one.clone(), one.clone(), one[..5].to_vec()].concat()[..]);
        let first = c.decode(&mut stream).ok().flatten();
        assert!(first.is_some());
        assert!(c.decode(&mut stream).ok().flatten().is_some());
        assert!(matches!(c.decode(&mut stream), Ok(None)));
        let first = first.unwrap_or_else(|| unreachable!());
        assert_eq!(&first.body[..], &[0x08, 0x00]);
        let mut out = BytesMut::new();
        assert!(c.encode(first, &mut out).is_ok());
        assert_eq!(&out[..], &one[..]);
    }

    /// The `frame` fuzz target's first find (artifact `5A 4A`).
    #[test]
    fn a_short_buffer_without_prefix_is_an_error_not_a_panic() {
        let mut c = codec(LengthPrefix::None, true, 2);
        let mut buf = BytesMut::from(&b"J"[..]);
        assert!(c.decode(&mut buf).is_err());
    }
}
