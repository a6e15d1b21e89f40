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
    let mut length = 0usize;
    match encoding {
        LengthEncoding::Ascii | LengthEncoding::Ebcdic => {
            let zero = if encoding == LengthEncoding::Ascii {
                b'0'
            } else {
                0xF0
            };
            for &b in bytes {
                let digit = b.wrapping_sub(zero);
                if digit > 9 {
                    return Err(bad);
                }
                length = length * 10 + usize::from(digit);
            }
        }
        LengthEncoding::Bcd => {
            for &b in bytes {
                let (high, low) = (b >> 4, b & 0x0F);
                if high > 9 || low > 9 {
                    return Err(bad);
                }
                length = length * 100 + usize::from(high * 10 + low);
            }
        }
        LengthEncoding::Binary => {
            for &b in bytes {
                length = length << 8 | usize::from(b);
            }
        }
    }
    Ok((length, used))
}

/// Writes a prefix for `length` (the caller has checked it fits the kind's limit).
pub(crate) fn write(encoding: LengthEncoding, kind: LengthKind, length: usize, out: &mut Vec<u8>) {
    let d = [
        (length / 1000 % 10) as u8,
        (length / 100 % 10) as u8,
        (length / 10 % 10) as u8,
        (length % 10) as u8,
    ];
    let skip = 4 - kind.digits();
    match encoding {
        LengthEncoding::Ascii => {
            let text = d.map(|digit| b'0' + digit);
            out.extend_from_slice(text.get(skip..).unwrap_or_default());
        }
        LengthEncoding::Ebcdic => {
            let text = d.map(|digit| 0xF0 + digit);
            out.extend_from_slice(text.get(skip..).unwrap_or_default());
        }
        // LL is one byte; LLL and LLLL are two (LLL padded on the left with a 0 nibble).
        LengthEncoding::Bcd => match kind {
            LengthKind::Fixed => {}
            LengthKind::Ll => out.push(d[2] << 4 | d[3]),
            LengthKind::Lll | LengthKind::Llll => {
                out.extend_from_slice(&[d[0] << 4 | d[1], d[2] << 4 | d[3]])
            }
        },
        LengthEncoding::Binary => match kind {
            LengthKind::Fixed => {}
            LengthKind::Ll => out.push(length as u8),
            LengthKind::Lll | LengthKind::Llll => {
                out.extend_from_slice(&(length as u16).to_be_bytes())
            }
        },
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
