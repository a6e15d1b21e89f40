//! Frames around ISO 8583 messages: a length prefix, an optional TPDU and an optional header.
//!
//! Check, then parse (the mini-redis pattern): [`FrameSpec::check`] looks at a buffer and says
//! whether a whole frame is there (`Ok(None)` when more bytes are needed, never an error for an
//! incomplete frame), [`FrameSpec::parse`] then splits a complete frame without copying.
//! With the `tokio-codec` feature, [`codec::FrameCodec`] wraps both for `tokio_util::codec`.

#[cfg(feature = "tokio-codec")]
pub mod codec;
mod tpdu;

use serde::Deserialize;

pub use tpdu::Tpdu;

/// The length prefix in front of each frame. It counts the bytes that follow it (TPDU, header
/// and message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthPrefix {
    /// No prefix: the transport delivers whole messages (one buffer = one frame).
    None,
    /// Two bytes, unsigned big-endian (UnionPay terminals, NDC, most switches).
    Binary2,
    /// Two bytes of packed BCD (up to 9999).
    Bcd2,
    /// Four ASCII decimal digits (jPOS ASCIIChannel).
    Ascii4,
    /// Four bytes, unsigned big-endian.
    Binary4,
}

impl LengthPrefix {
    pub fn width(self) -> usize {
        match self {
            LengthPrefix::None => 0,
            LengthPrefix::Binary2 | LengthPrefix::Bcd2 => 2,
            LengthPrefix::Ascii4 | LengthPrefix::Binary4 => 4,
        }
    }

    /// Largest length the prefix can express.
    pub fn limit(self) -> usize {
        match self {
            LengthPrefix::None => usize::MAX,
            LengthPrefix::Binary2 => 0xFFFF,
            LengthPrefix::Bcd2 | LengthPrefix::Ascii4 => 9999,
            LengthPrefix::Binary4 => u32::MAX as usize,
        }
    }
}

/// The frame layout of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    pub prefix: LengthPrefix,
    /// Whether a 5-byte TPDU follows the prefix.
    pub tpdu: bool,
    /// Length of a fixed header after the TPDU (UnionPay: 6), or 0.
    pub header_length: usize,
    /// Largest frame accepted, prefix excluded. A peer announcing more is refused before any
    /// byte of it is buffered.
    pub max_frame: usize,
}

impl FrameSpec {
    pub const DEFAULT_MAX_FRAME: usize = 8192;
    /// No dialect may accept frames larger than this.
    pub const LIMIT: usize = 1 << 20;

    /// Bytes between the prefix and the message.
    pub fn preamble(&self) -> usize {
        if self.tpdu { Tpdu::LEN } else { 0 }.saturating_add(self.header_length)
    }

    /// Whether `buf` starts with a complete frame: `Ok(Some(n))` with its total length
    /// (prefix included), `Ok(None)` when more bytes are needed.
    pub fn check(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let width = self.prefix.width();
        if self.prefix == LengthPrefix::None {
            // The transport delimits messages: the whole buffer is the frame.
            if buf.is_empty() {
                return Ok(None);
            }
            self.check_length(buf.len())?;
            return Ok(Some(buf.len()));
        }
        let Some(raw) = buf.get(..width) else {
            return Ok(None);
        };
        let length = read_prefix(self.prefix, raw)?;
        self.check_length(length)?;
        let total = width + length;
        Ok((buf.len() >= total).then_some(total))
    }

    /// A frame of `length` bytes (prefix excluded) fits the link: not above `max_frame`, not
    /// shorter than its TPDU and header.
    fn check_length(&self, length: usize) -> Result<(), FrameError> {
        if length > self.max_frame {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame,
            });
        }
        if length < self.preamble() {
            return Err(FrameError::TooShort {
                length,
                preamble: self.preamble(),
            });
        }
        Ok(())
    }

    /// Splits a complete frame (exactly one; use [`FrameSpec::check`] on a stream first).
    pub fn parse<'a>(&self, frame: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let width = self.prefix.width();
        match self.check(frame)? {
            Some(total) if total == frame.len() => {}
            Some(total) => {
                return Err(FrameError::LengthMismatch {
                    announced: total - width,
                    actual: frame.len().saturating_sub(width),
                });
            }
            None => {
                let announced = match frame.get(..width) {
                    Some(raw) => read_prefix(self.prefix, raw)?,
                    None => width,
                };
                return Err(FrameError::LengthMismatch {
                    announced,
                    actual: frame.len().saturating_sub(width),
                });
            }
        }
        let mut pos = width;
        let tpdu = if self.tpdu {
            let raw = frame
                .get(pos..pos + Tpdu::LEN)
                .ok_or(FrameError::TooShort {
                    length: frame.len() - width,
                    preamble: self.preamble(),
                })?;
            pos += Tpdu::LEN;
            Some(Tpdu::from_bytes(raw).ok_or(FrameError::TooShort {
                length: frame.len() - width,
                preamble: self.preamble(),
            })?)
        } else {
            None
        };
        let header = if self.header_length > 0 {
            let raw = frame
                .get(pos..pos + self.header_length)
                .ok_or(FrameError::TooShort {
                    length: frame.len() - width,
                    preamble: self.preamble(),
                })?;
            pos += self.header_length;
            Some(raw)
        } else {
            None
        };
        Ok(Frame {
            header: FrameHeader { tpdu, header },
            body: frame.get(pos..).unwrap_or_default(),
            body_offset: pos,
        })
    }

    /// Writes a frame around `body`. The TPDU and header must be given exactly when the spec
    /// has them.
    pub fn write(
        &self,
        header: &FrameHeader<'_>,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        if header.tpdu.is_some() != self.tpdu {
            return Err(FrameError::TpduMismatch {
                expected: self.tpdu,
            });
        }
        let header_len = header.header.map_or(0, <[u8]>::len);
        if header_len != self.header_length {
            return Err(FrameError::HeaderMismatch {
                expected: self.header_length,
                actual: header_len,
            });
        }
        let length = self.preamble() + body.len();
        if length > self.max_frame || length > self.prefix.limit() {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame.min(self.prefix.limit()),
            });
        }
        out.reserve(self.prefix.width() + length);
        write_prefix(self.prefix, length, out);
        if let Some(tpdu) = header.tpdu {
            out.extend_from_slice(&tpdu.to_bytes());
        }
        if let Some(h) = header.header {
            out.extend_from_slice(h);
        }
        out.extend_from_slice(body);
        Ok(())
    }
}

/// The parts of a frame in front of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader<'a> {
    pub tpdu: Option<Tpdu>,
    pub header: Option<&'a [u8]>,
}

/// A complete frame split into its parts; `body` is the ISO 8583 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: FrameHeader<'a>,
    pub body: &'a [u8],
    /// Offset of `body` in the frame.
    pub body_offset: usize,
}

/// A frame is malformed or does not fit the link's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame length {length} exceeds the maximum {max}")]
    TooLarge { length: usize, max: usize },
    #[error("frame length {length} is shorter than its TPDU and header ({preamble} bytes)")]
    TooShort { length: usize, preamble: usize },
    #[error("the length prefix is not a valid number")]
    BadPrefix,
    #[error("the prefix announces {announced} bytes but {actual} follow")]
    LengthMismatch { announced: usize, actual: usize },
    #[error("a TPDU is {} on this link", if *expected { "required" } else { "not used" })]
    TpduMismatch { expected: bool },
    #[error("the header must be {expected} bytes, not {actual}")]
    HeaderMismatch { expected: usize, actual: usize },
}

impl FrameError {
    /// Byte offset in the frame the error is about.
    pub fn offset(&self) -> usize {
        0
    }
}

fn read_prefix(prefix: LengthPrefix, raw: &[u8]) -> Result<usize, FrameError> {
    let be = || raw.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
    match prefix {
        LengthPrefix::None => Ok(0),
        LengthPrefix::Binary2 | LengthPrefix::Binary4 => Ok(be()),
        LengthPrefix::Bcd2 => raw.iter().try_fold(0usize, |acc, &b| {
            let (hi, lo) = (b >> 4, b & 0x0F);
            if hi > 9 || lo > 9 {
                return Err(FrameError::BadPrefix);
            }
            Ok(acc * 100 + usize::from(hi * 10 + lo))
        }),
        LengthPrefix::Ascii4 => raw.iter().try_fold(0usize, |acc, &b| {
            if !b.is_ascii_digit() {
                return Err(FrameError::BadPrefix);
            }
            Ok(acc * 10 + usize::from(b - b'0'))
        }),
    }
}

fn write_prefix(prefix: LengthPrefix, length: usize, out: &mut Vec<u8>) {
    match prefix {
        LengthPrefix::None => {}
        LengthPrefix::Binary2 => out.extend_from_slice(&(length as u16).to_be_bytes()),
        LengthPrefix::Binary4 => out.extend_from_slice(&(length as u32).to_be_bytes()),
        LengthPrefix::Bcd2 => {
            let (hi, lo) = ((length / 100) % 100, length % 100);
            out.push(((hi / 10) as u8) << 4 | (hi % 10) as u8);
            out.push(((lo / 10) as u8) << 4 | (lo % 10) as u8);
        }
        LengthPrefix::Ascii4 => {
            for i in (0..4).rev() {
                out.push(b'0' + ((length / 10usize.pow(i)) % 10) as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prefix: LengthPrefix, tpdu: bool, header_length: usize) -> FrameSpec {
        FrameSpec {
            prefix,
            tpdu,
            header_length,
            max_frame: 100,
        }
    }

    #[test]
    fn incomplete_is_none_not_an_error() {
        let s = spec(LengthPrefix::Binary2, false, 0);
        assert_eq!(s.check(&[]), Ok(None));
        assert_eq!(s.check(&[0x00]), Ok(None));
        assert_eq!(s.check(&[0x00, 0x03, b'a']), Ok(None));
        assert_eq!(s.check(&[0x00, 0x03, b'a', b'b', b'c', b'X']), Ok(Some(5)));
    }

    /// Found by the `frame` fuzz target: without a prefix, a buffer shorter than the TPDU was
    /// taken for a whole frame.
    #[test]
    fn without_a_prefix_a_buffer_shorter_than_tpdu_and_header_is_refused() {
        let s = spec(LengthPrefix::None, true, 2);
        assert_eq!(
            s.check(b"J"),
            Err(FrameError::TooShort {
                length: 1,
                preamble: 7
            })
        );
        assert!(s.parse(b"J").is_err());
    }

    #[test]
    fn oversized_frames_are_refused_from_the_prefix_alone() {
        let s = spec(LengthPrefix::Ascii4, false, 0);
        assert_eq!(
            s.check(b"0101"),
            Err(FrameError::TooLarge {
                length: 101,
                max: 100
            })
        );
        assert_eq!(s.check(b"01x1"), Err(FrameError::BadPrefix));
    }

    #[test]
    fn every_prefix_round_trips() {
        for prefix in [
            LengthPrefix::Binary2,
            LengthPrefix::Bcd2,
            LengthPrefix::Ascii4,
            LengthPrefix::Binary4,
            LengthPrefix::None,
        ] {
            let s = spec(prefix, true, 6);
            let tpdu = Tpdu::from_bytes(&[0x60, 0x04, 0x01, 0x00, 0x00]);
            let header = FrameHeader {
                tpdu,
                header: Some(&[1, 2, 3, 4, 5, 6]),
            };
            let mut out = Vec::new();
            assert_eq!(s.write(&header, b"0800", &mut out), Ok(()));
            let frame = s.parse(&out);
            assert_eq!(
                frame.map(|f| (f.header, f.body)),
                Ok((header, &b"0800"[..]))
            );
        }
    }
}
