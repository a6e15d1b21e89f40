//! Length prefixes of variable-length fields (LL, LLL, LLLL) in ASCII, EBCDIC, BCD or binary.

use super::error::DecodeErrorKind;
use super::field::{LengthEncoding, LengthKind};

/// Bytes a prefix of `kind` takes in `encoding`.
pub(crate) fn width(encoding: LengthEncoding, kind: LengthKind) -> usize {
    let digits = kind.digits();
    match encoding {
        LengthEncoding::Ascii | LengthEncoding::Ebcdic => digits,
        LengthEncoding::Bcd => digits.div_ceil(2),
        LengthEncoding::Binary => match kind {
            LengthKind::Fixed => 0,
            LengthKind::Ll => 1,
            LengthKind::Lll | LengthKind::Llll => 2,
        },
    }
}

/// Reads a prefix at `at`; returns the length it gives and the bytes it took.
pub(crate) fn read(
    encoding: LengthEncoding,
    kind: LengthKind,
    input: &[u8],
    at: usize,
) -> Result<(usize, usize), DecodeErrorKind> {
    let used = width(encoding, kind);
    let bytes =
        input
            .get(at..)
            .and_then(|rest| rest.get(..used))
            .ok_or(DecodeErrorKind::Truncated {
                needed: used,
                available: input.len().saturating_sub(at),
            })?;
    let bad = DecodeErrorKind::BadLengthPrefix { encoding };
    let length = match encoding {
        LengthEncoding::Ascii => decimal(bytes.iter().map(|&b| b.checked_sub(b'0'))).ok_or(bad)?,
        LengthEncoding::Ebcdic => decimal(bytes.iter().map(|&b| b.checked_sub(0xF0))).ok_or(bad)?,
        LengthEncoding::Bcd => {
            decimal(bytes.iter().flat_map(|&b| [Some(b >> 4), Some(b & 0x0F)])).ok_or(bad)?
        }
        LengthEncoding::Binary => bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
    };
    Ok((length, used))
}

fn decimal(digits: impl Iterator<Item = Option<u8>>) -> Option<usize> {
    let mut value = 0usize;
    for d in digits {
        let d = d.filter(|d| *d <= 9)?;
        value = value * 10 + usize::from(d);
    }
    Some(value)
}

/// Writes a prefix for `length` (the caller has checked it fits the kind's limit).
pub(crate) fn write(encoding: LengthEncoding, kind: LengthKind, length: usize, out: &mut Vec<u8>) {
    let digits = kind.digits();
    match encoding {
        LengthEncoding::Ascii | LengthEncoding::Ebcdic => {
            let zero = if encoding == LengthEncoding::Ascii {
                b'0'
            } else {
                0xF0
            };
            for i in (0..digits).rev() {
                let d = (length / 10usize.pow(i as u32)) % 10;
                out.push(zero + d as u8);
            }
        }
        LengthEncoding::Bcd => {
            let nibbles = digits.div_ceil(2) * 2;
            let mut byte = 0u8;
            for i in (0..nibbles).rev() {
                let d = ((length / 10usize.pow(i as u32)) % 10) as u8;
                if i % 2 == 1 {
                    byte = d << 4;
                } else {
                    out.push(byte | d);
                }
            }
        }
        LengthEncoding::Binary => {
            let width = width(encoding, kind);
            for i in (0..width).rev() {
                out.push((length >> (8 * i)) as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip() {
        for encoding in [
            LengthEncoding::Ascii,
            LengthEncoding::Bcd,
            LengthEncoding::Binary,
            LengthEncoding::Ebcdic,
        ] {
            for (kind, length) in [
                (LengthKind::Ll, 37),
                (LengthKind::Lll, 999),
                (LengthKind::Llll, 1234),
            ] {
                let mut out = Vec::new();
                write(encoding, kind, length, &mut out);
                assert_eq!(out.len(), width(encoding, kind));
                assert_eq!(read(encoding, kind, &out, 0), Ok((length, out.len())));
            }
        }
    }

    #[test]
    fn bcd_lll_is_two_bytes() {
        let mut out = Vec::new();
        write(LengthEncoding::Bcd, LengthKind::Lll, 11, &mut out);
        assert_eq!(out, [0x00, 0x11]);
    }

    #[test]
    fn bad_digits_are_refused() {
        assert!(read(LengthEncoding::Ascii, LengthKind::Ll, b"1A", 0).is_err());
        assert!(read(LengthEncoding::Bcd, LengthKind::Ll, &[0x1A], 0).is_err());
        assert!(read(LengthEncoding::Ascii, LengthKind::Lll, b"12", 0).is_err());
    }
}
