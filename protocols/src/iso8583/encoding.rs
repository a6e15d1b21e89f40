//! Byte-level data encodings: ASCII/UTF-8 text, EBCDIC (code page 037), packed BCD, hex.
//!
//! Pure functions over slices. Errors are `(position, kind)` pairs; the caller turns them into a
//! [`super::DecodeError`] with the field and offset.

use super::error::DecodeErrorKind;
use super::field::{Charset, Class, Encoding};

type Failure = (usize, DecodeErrorKind);

/// Validates `data` as text of `class` and returns it borrowed.
pub(crate) fn ascii_text(data: &[u8], class: Class, charset: Charset) -> Result<&str, Failure> {
    if let Some(position) = class.first_invalid(data, charset) {
        return Err((position, DecodeErrorKind::BadCharacter { class, position }));
    }
    std::str::from_utf8(data).map_err(|e| (e.valid_up_to(), DecodeErrorKind::BadUtf8))
}

/// Printable ASCII 0x20..=0x7E in code page 037.
const ASCII_TO_EBCDIC: [u8; 95] = [
    0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
    0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
    0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA, 0xE0, 0xBB, 0xB0, 0x6D,
    0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0x4F, 0xD0, 0xA1,
];

/// The inverse of [`ASCII_TO_EBCDIC`]: 0 where an EBCDIC byte has no printable ASCII character.
// Indexing in a const block: an out-of-range index fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const EBCDIC_TO_ASCII: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < ASCII_TO_EBCDIC.len() {
        table[ASCII_TO_EBCDIC[i] as usize] = 0x20 + i as u8;
        i += 1;
    }
    table
};

pub(crate) fn ebcdic_to_ascii(byte: u8) -> Option<u8> {
    match EBCDIC_TO_ASCII.get(usize::from(byte)) {
        Some(0) | None => None,
        Some(&a) => Some(a),
    }
}

pub(crate) fn ascii_to_ebcdic(byte: u8) -> Option<u8> {
    byte.checked_sub(0x20)
        .and_then(|i| ASCII_TO_EBCDIC.get(usize::from(i)))
        .copied()
}

/// Translates EBCDIC `data` to text of `class`.
pub(crate) fn ebcdic_text(data: &[u8], class: Class) -> Result<String, Failure> {
    let mut text = String::with_capacity(data.len());
    for (position, &b) in data.iter().enumerate() {
        let a = ebcdic_to_ascii(b).ok_or((position, DecodeErrorKind::BadEbcdic { position }))?;
        if !class.allows(a, Charset::Ascii) {
            return Err((position, DecodeErrorKind::BadCharacter { class, position }));
        }
        text.push(char::from(a));
    }
    Ok(text)
}

/// Writes ASCII `text` as EBCDIC; on failure returns the position of the unmappable character.
pub(crate) fn ebcdic_encode(text: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    out.reserve(text.len());
    for (position, &a) in text.iter().enumerate() {
        out.push(ascii_to_ebcdic(a).ok_or(position)?);
    }
    Ok(())
}

/// Nibble value for a digit of `class` (z uses 0xD for the `=` separator).
fn nibble_of(c: u8) -> u8 {
    match c {
        b'=' => 0xD,
        d => d.wrapping_sub(b'0') & 0x0F,
    }
}

fn char_of(nibble: u8, class: Class) -> Option<char> {
    match (nibble, class) {
        (0..=9, _) => Some(char::from(b'0' + nibble)),
        (0xD, Class::Z) => Some('='),
        _ => None,
    }
}

/// Unpacks `units` digits from packed BCD `data`, checking the pad nibble.
pub(crate) fn bcd_unpack(
    data: &[u8],
    units: usize,
    class: Class,
    encoding: Encoding,
    filler: u8,
) -> Result<String, Failure> {
    let odd = units % 2 == 1;
    let skip_first = odd && encoding == Encoding::BcdLeft;
    let mut text = String::with_capacity(units);
    let nibbles = data.iter().flat_map(|&b| [b >> 4, b & 0x0F]);
    for (i, nibble) in nibbles.enumerate() {
        let is_pad = (skip_first && i == 0) || (odd && !skip_first && i == units);
        if is_pad {
            if nibble != filler {
                return Err((i / 2, DecodeErrorKind::BadPadding { expected: filler }));
            }
            continue;
        }
        let position = text.len();
        let c = char_of(nibble, class)
            .ok_or((i / 2, DecodeErrorKind::BadNibble { class, position }))?;
        text.push(c);
    }
    Ok(text)
}

/// Packs digit text (validated by the caller) as BCD.
pub(crate) fn bcd_pack(text: &[u8], encoding: Encoding, filler: u8, out: &mut Vec<u8>) {
    let odd = text.len() % 2 == 1;
    let mut pending: Option<u8> = None;
    let mut push = |n: u8| match pending.take() {
        Some(high) => out.push(high << 4 | n),
        None => pending = Some(n),
    };
    if odd && encoding == Encoding::BcdLeft {
        push(filler);
    }
    for &c in text {
        push(nibble_of(c));
    }
    if odd && encoding == Encoding::BcdRight {
        push(filler);
    }
}

fn hex_digit(nibble: u8) -> u8 {
    match nibble & 0x0F {
        n @ 0..=9 => b'0' + n,
        n => b'A' + n - 10,
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes upper-case hex text (strict: lower case is refused so that decode-then-encode gives
/// back the same bytes).
pub(crate) fn hex_decode(data: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::with_capacity(data.len() / 2);
    for (i, pair) in data.chunks(2).enumerate() {
        let value = |j: usize| {
            pair.get(j).copied().and_then(hex_value).ok_or((
                2 * i + j,
                DecodeErrorKind::BadHex {
                    position: 2 * i + j,
                },
            ))
        };
        bytes.push(value(0)? << 4 | value(1)?);
    }
    Ok(bytes)
}

/// Decodes 16 upper-case hex characters into a big-endian u64, without allocating.
pub(crate) fn hex_u64(data: &[u8]) -> Result<u64, Failure> {
    let mut value = 0u64;
    for (position, &c) in data.iter().enumerate() {
        let digit = hex_value(c).ok_or((position, DecodeErrorKind::BadHex { position }))?;
        value = value << 4 | u64::from(digit);
    }
    Ok(value)
}

pub(crate) fn hex_encode(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b));
    }
}

/// Upper-case hex of `bytes` as a String (for JSON and Display).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    hex_encode(bytes, &mut out);
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_left_and_right_padding() {
        let mut out = Vec::new();
        bcd_pack(b"123", Encoding::BcdLeft, 0, &mut out);
        assert_eq!(out, [0x01, 0x23]);
        out.clear();
        bcd_pack(b"123", Encoding::BcdRight, 0xF, &mut out);
        assert_eq!(out, [0x12, 0x3F]);
        assert_eq!(
            bcd_unpack(&[0x01, 0x23], 3, Class::N, Encoding::BcdLeft, 0).ok(),
            Some("123".to_string())
        );
        assert!(bcd_unpack(&[0x11, 0x23], 3, Class::N, Encoding::BcdLeft, 0).is_err());
        assert_eq!(
            bcd_unpack(&[0x12, 0xD4], 4, Class::Z, Encoding::BcdRight, 0).ok(),
            Some("12=4".to_string())
        );
        assert!(bcd_unpack(&[0x12, 0xD4], 4, Class::N, Encoding::BcdRight, 0).is_err());
    }

    #[test]
    fn ebcdic_round_trip_of_printable_ascii() {
        let ascii: Vec<u8> = (0x20..=0x7E).collect();
        let mut e = Vec::new();
        assert!(ebcdic_encode(&ascii, &mut e).is_ok());
        assert_eq!(e.first(), Some(&0x40));
        assert_eq!(
            ebcdic_text(&e, Class::Ans)
                .ok()
                .as_deref()
                .map(str::as_bytes),
            Some(&ascii[..])
        );
    }

    #[test]
    fn hex_is_strict_upper_case() {
        assert_eq!(hex_decode(b"0AFF").ok(), Some(vec![0x0A, 0xFF]));
        assert!(hex_decode(b"0aff").is_err());
        assert!(hex_decode(b"0AF").is_err());
    }
}
