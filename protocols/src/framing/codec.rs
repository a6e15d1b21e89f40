//! `tokio_util::codec` Decoder/Encoder for framed ISO 8583 links (feature `tokio-codec`).

use bytes::{Buf, Bytes, BytesMut};
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
            // Reserve what the prefix announced, bounded by the spec's maximum.
            return Ok(None);
        };
        let mut frame = src.split_to(total).freeze();
        frame.advance(self.spec.prefix.width());
        let tpdu = if self.spec.tpdu {
            let raw = frame.split_to(Tpdu::LEN);
            Tpdu::from_bytes(&raw)
        } else {
            None
        };
        let header = (self.spec.header_length > 0).then(|| frame.split_to(self.spec.header_length));
        Ok(Some(OwnedFrame {
            tpdu,
            header,
            body: frame,
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
