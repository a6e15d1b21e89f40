//! What a data element is: its class, length rule, encodings, padding and sensitivity.
//!
//! A [`FieldSpec`] is compiled from a dialect file and decodes or encodes one value. The
//! byte-level work is in [`super::encoding`] (data) and [`super::prefix`] (length prefixes).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

use super::encoding;
use super::error::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Location, decode_err, encode_err,
};
use super::prefix;
use super::subfield::Subfields;
use super::value::Value;

/// The ISO 8583 character class of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Decimal digits.
    N,
    /// Letters, digits and space.
    An,
    /// Printable characters (ASCII, or UTF-8 where the field says `charset = "utf-8"`).
    Ans,
    /// Binary data.
    B,
    /// Track data: digits and the `=` separator.
    Z,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::N => "n",
            Class::An => "an",
            Class::Ans => "ans",
            Class::B => "b",
            Class::Z => "z",
        })
    }
}

impl Class {
    /// Whether values of this class are text (everything but `b`).
    pub fn is_text(self) -> bool {
        !matches!(self, Class::B)
    }

    /// The position of the first byte of `data` this class does not allow, if any. This runs on
    /// every byte of every text field, so it is one table lookup a byte.
    #[inline(always)]
    pub(crate) fn first_invalid(self, data: &[u8], charset: Charset) -> Option<usize> {
        first_invalid(data, self.mask(charset))
    }

    /// The bit of [`CLASS_TABLE`] that admits bytes of this class (all bits for b).
    pub(crate) fn mask(self, charset: Charset) -> u8 {
        match (self, charset) {
            (Class::N, _) => N_BIT,
            (Class::Z, _) => Z_BIT,
            (Class::An, _) => AN_BIT,
            (Class::Ans, Charset::Ascii) => ANS_BIT,
            (Class::Ans, Charset::Utf8) => UTF8_BIT,
            (Class::B, _) => u8::MAX,
        }
    }

    /// Whether `byte` may appear in a value of this class (text classes only).
    pub(crate) fn allows(self, byte: u8, charset: Charset) -> bool {
        CLASS_TABLE.get(usize::from(byte)).copied().unwrap_or(0) & self.mask(charset) != 0
    }
}

/// Checks `data` eight bytes at a time, the rest byte by byte.
/// The position of the first byte of `data` the class bit `mask` does not admit, if any. This
/// runs on every byte of every text field: one table lookup a byte, and eight bytes at a time for
/// n and ans, the classes most fields have. The position is looked for only once something is
/// wrong.
#[inline(always)]
pub(crate) fn first_invalid(data: &[u8], mask: u8) -> Option<usize> {
    let allowed = |b: &u8| CLASS_TABLE.get(usize::from(*b)).copied().unwrap_or(0) & mask != 0;
    let valid = match mask {
        N_BIT => all_words(data, all_digits, allowed),
        ANS_BIT => all_words(data, all_printable, allowed),
        u8::MAX => true,
        _ => data.iter().all(allowed),
    };
    if valid {
        None
    } else {
        data.iter().position(|b| !allowed(b))
    }
}

#[inline(always)]
fn all_words(data: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(&u8) -> bool) -> bool {
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        if !word(u64::from_le_bytes(bytes)) {
            return false;
        }
    }
    tail.iter().all(byte)
}

const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether all eight bytes are ASCII digits: high nibble 3 and low nibble at most 9 (adding 6
/// to a low nibble of 10 or more carries into the high nibble). No sum carries across bytes.
#[inline(always)]
fn all_digits(w: u64) -> bool {
    w & !LOW_NIBBLES == 0x30 * ONES && ((w & LOW_NIBBLES) + 0x06 * ONES) & !LOW_NIBBLES == 0
}

/// Whether all eight bytes are printable ASCII (0x20–0x7E): below 0x80, at least 0x20 (adding
/// 0x60 reaches 0x80), not 0x7F (adding 1 stays below 0x80). No sum carries across bytes.
#[inline(always)]
fn all_printable(w: u64) -> bool {
    w & HIGH_BITS == 0 && (w + 0x60 * ONES) & HIGH_BITS == HIGH_BITS && (w + ONES) & HIGH_BITS == 0
}

const N_BIT: u8 = 1;
const Z_BIT: u8 = 2;
const AN_BIT: u8 = 4;
const ANS_BIT: u8 = 8;
const UTF8_BIT: u8 = 16;

/// For each byte, the classes that allow it.
const CLASS_TABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut bits = 0;
        if c.is_ascii_digit() {
            bits |= N_BIT | Z_BIT;
        }
        if c == b'=' {
            bits |= Z_BIT;
        }
        if c.is_ascii_alphanumeric() || c == b' ' {
            bits |= AN_BIT;
        }
        if c >= 0x20 && c <= 0x7E {
            bits |= ANS_BIT | UTF8_BIT;
        }
        if c >= 0x80 {
            // UTF-8 lead and continuation bytes; the whole text's validity is checked apart.
            bits |= UTF8_BIT;
        }
        // Indexing in a const block: out of range fails the build, never a run.
        #[allow(clippy::indexing_slicing)]
        {
            table[b] = bits;
        }
        b += 1;
    }
    table
};

/// How the length of a field is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthKind {
    /// Always `max` units long.
    Fixed,
    /// Two-digit length prefix (up to 99).
    Ll,
    /// Three-digit length prefix (up to 999).
    Lll,
    /// Four-digit length prefix (up to 9999).
    Llll,
}

impl LengthKind {
    /// Number of decimal digits of the prefix (0 for fixed).
    pub fn digits(self) -> usize {
        match self {
            LengthKind::Fixed => 0,
            LengthKind::Ll => 2,
            LengthKind::Lll => 3,
            LengthKind::Llll => 4,
        }
    }

    /// Largest length the prefix can express.
    pub fn limit(self) -> usize {
        match self {
            LengthKind::Fixed => usize::MAX,
            LengthKind::Ll => 99,
            LengthKind::Lll => 999,
            LengthKind::Llll => 9999,
        }
    }
}

/// How a variable-length prefix is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthEncoding {
    /// Decimal digits in ASCII: LL = 2 bytes, LLL = 3, LLLL = 4.
    Ascii,
    /// Packed decimal: LL = 1 byte, LLL and LLLL = 2 bytes.
    Bcd,
    /// Unsigned big-endian: LL = 1 byte, LLL and LLLL = 2 bytes.
    Binary,
    /// Decimal digits in EBCDIC: one byte a digit.
    Ebcdic,
}

impl fmt::Display for LengthEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LengthEncoding::Ascii => "ASCII",
            LengthEncoding::Bcd => "BCD",
            LengthEncoding::Binary => "binary",
            LengthEncoding::Ebcdic => "EBCDIC",
        })
    }
}

/// How a field's data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// One ASCII (or UTF-8) byte a character.
    Ascii,
    /// One EBCDIC (code page 037) byte a character.
    Ebcdic,
    /// Packed decimal, two digits a byte; an odd digit count is padded on the left.
    BcdLeft,
    /// Packed decimal, two digits a byte; an odd digit count is padded on the right.
    BcdRight,
    /// Raw bytes (class b).
    Binary,
    /// Upper-case hexadecimal text, two characters a byte (class b in ASCII dialects).
    Hex,
}

impl Encoding {
    /// Bytes on the wire for a value of `units` length units.
    pub(crate) fn wire_len(self, units: usize) -> usize {
        match self {
            Encoding::Ascii | Encoding::Ebcdic | Encoding::Binary => units,
            Encoding::BcdLeft | Encoding::BcdRight => units.div_ceil(2),
            Encoding::Hex => units.saturating_mul(2),
        }
    }

    /// Whether a byte of the logical value sits at the same offset on the wire.
    pub(crate) fn is_one_to_one(self) -> bool {
        matches!(self, Encoding::Ascii | Encoding::Ebcdic | Encoding::Binary)
    }
}

/// Character set of `ans` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    /// Printable ASCII only (0x20–0x7E).
    #[default]
    Ascii,
    /// Printable ASCII plus any valid UTF-8 sequence (Chinese names, addresses, print lines).
    #[serde(rename = "utf-8")]
    Utf8,
}

/// How a fixed-length value shorter than the field is filled when encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Fill on the left (`0` for n, space for an/ans): right-justified.
    Left,
    /// Fill on the right: left-justified.
    Right,
    /// No filling: the value must have exactly the fixed length.
    None,
}

/// How a field's value is shown by Display and Debug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    /// Shown as is.
    #[default]
    None,
    /// Shown with all but the first 6 and last 4 characters replaced by `*` (card numbers).
    Mask,
    /// Never shown: only its length (track data, PIN blocks, keys, personal data).
    Wipe,
}

/// Bytes being decoded, with the longest valid UTF-8 run from where the fields start found
/// once, so that text fields are taken as `&str` without validating each one again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    pub(crate) bytes: &'a [u8],
    text_start: usize,
    text: &'a str,
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Input<'a> {
        Input::text_from(bytes, 0)
    }

    /// Looks for text from `start` on (after a binary bitmap, say).
    pub(crate) fn text_from(bytes: &'a [u8], start: usize) -> Input<'a> {
        let rest = bytes.get(start..).unwrap_or_default();
        let text = match std::str::from_utf8(rest) {
            Ok(text) => text,
            Err(e) => rest
                .get(..e.valid_up_to())
                .and_then(|valid| std::str::from_utf8(valid).ok())
                .unwrap_or_default(),
        };
        Input {
            bytes,
            text_start: start,
            text,
        }
    }

    /// `len` bytes from `start` as text, if they lie in the valid run on char boundaries.
    #[inline]
    fn text(&self, start: usize, len: usize) -> Option<&'a str> {
        let from = start.checked_sub(self.text_start)?;
        self.text.get(from..from.checked_add(len)?)
    }
}

/// One data element (or subfield) as a dialect defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub class: Class,
    pub length: LengthKind,
    /// The length for fixed fields; the maximum for variable ones. In digits for n and z,
    /// characters (bytes) for an and ans, bytes for b.
    pub max: usize,
    pub length_encoding: LengthEncoding,
    pub encoding: Encoding,
    pub padding: Padding,
    /// Pad nibble for BCD with an odd digit count: 0x0 or 0xF.
    pub bcd_filler: u8,
    pub charset: Charset,
    pub sensitivity: Sensitivity,
    pub subfields: Option<Subfields>,
    /// `class.mask(charset)`, computed once at load.
    pub(crate) text_mask: u8,
}

impl FieldSpec {
    /// Decodes this field from `input` at `*pos`, advancing `*pos`. `base` is added to offsets in
    /// errors so they count from the start of the caller's buffer.
    pub(crate) fn decode<'a>(
        &self,
        whole: &Input<'a>,
        pos: &mut usize,
        base: usize,
        location: &dyn Fn() -> Location,
    ) -> Result<Value<'a>, DecodeError> {
        let input = whole.bytes;
        let start = *pos;
        let units = match self.length {
            LengthKind::Fixed => self.max,
            kind => {
                let (len, used) = prefix::read(self.length_encoding, kind, input, start)
                    .map_err(|kind| decode_err(location(), base + start, kind))?;
                if len > self.max {
                    return Err(decode_err(
                        location(),
                        base + start,
                        DecodeErrorKind::TooLong {
                            length: len,
                            max: self.max,
                        },
                    ));
                }
                *pos += used;
                len
            }
        };
        let data_start = *pos;
        let wire = self.encoding.wire_len(units);
        let data = input
            .get(data_start..)
            .and_then(|rest| rest.get(..wire))
            .ok_or_else(|| {
                decode_err(
                    location(),
                    base + data_start,
                    DecodeErrorKind::Truncated {
                        needed: wire,
                        available: input.len().saturating_sub(data_start),
                    },
                )
            })?;
        *pos += wire;
        let fail = |(at, kind): (usize, DecodeErrorKind)| {
            let offset = if self.encoding.is_one_to_one() {
                base + data_start + at
            } else {
                base + data_start
            };
            decode_err(location(), offset, kind)
        };
        match self.class {
            Class::B => {
                let bytes = match self.encoding {
                    Encoding::Hex => Cow::Owned(encoding::hex_decode(data).map_err(fail)?),
                    _ => Cow::Borrowed(data),
                };
                Ok(Value::Binary(bytes))
            }
            class => {
                let text = match self.encoding {
                    Encoding::Ascii => match whole.text(data_start, wire) {
                        Some(text) => match first_invalid(text.as_bytes(), self.text_mask) {
                            None => Cow::Borrowed(text),
                            Some(position) => {
                                return Err(fail((
                                    position,
                                    DecodeErrorKind::BadCharacter { class, position },
                                )));
                            }
                        },
                        None => Cow::Borrowed(
                            encoding::ascii_text(data, class, self.charset).map_err(fail)?,
                        ),
                    },
                    Encoding::Ebcdic => {
                        Cow::Owned(encoding::ebcdic_text(data, class).map_err(fail)?)
                    }
                    Encoding::BcdLeft | Encoding::BcdRight => Cow::Owned(
                        encoding::bcd_unpack(data, units, class, self.encoding, self.bcd_filler)
                            .map_err(fail)?,
                    ),
                    // A dialect that pairs a text class with binary or hex is refused at load;
                    // should one be built by hand, its bytes are read as ASCII text.
                    Encoding::Binary | Encoding::Hex => Cow::Borrowed(
                        encoding::ascii_text(data, class, self.charset).map_err(fail)?,
                    ),
                };
                Ok(Value::Text(text))
            }
        }
    }

    /// Encodes `value` for this field onto `out`.
    pub(crate) fn encode(
        &self,
        value: &Value<'_>,
        out: &mut Vec<u8>,
        location: &dyn Fn() -> Location,
    ) -> Result<(), EncodeError> {
        let err = |kind| encode_err(location(), kind);
        let logical: Cow<'_, [u8]> = match (self.class, value) {
            (Class::B, Value::Binary(b)) => Cow::Borrowed(b.as_ref()),
            (Class::B, Value::Text(_)) => return Err(err(EncodeErrorKind::ExpectedBinary)),
            (class, Value::Text(t)) => {
                let bytes = t.as_bytes();
                if let Some(position) = first_invalid(bytes, self.text_mask) {
                    return Err(err(EncodeErrorKind::BadCharacter { class, position }));
                }
                Cow::Borrowed(bytes)
            }
            (class, Value::Binary(_)) => return Err(err(EncodeErrorKind::ExpectedText { class })),
        };
        let logical = match self.length {
            LengthKind::Fixed => self.pad_fixed(logical).map_err(err)?,
            kind => {
                if logical.len() > self.max {
                    return Err(err(EncodeErrorKind::TooLong {
                        length: logical.len(),
                        max: self.max,
                    }));
                }
                prefix::write(self.length_encoding, kind, logical.len(), out);
                logical
            }
        };
        match self.encoding {
            Encoding::Ascii | Encoding::Binary => out.extend_from_slice(&logical),
            Encoding::Hex => encoding::hex_encode(&logical, out),
            Encoding::Ebcdic => encoding::ebcdic_encode(&logical, out)
                .map_err(|position| err(EncodeErrorKind::NotEbcdic { position }))?,
            Encoding::BcdLeft | Encoding::BcdRight => {
                encoding::bcd_pack(&logical, self.encoding, self.bcd_filler, out)
            }
        }
        Ok(())
    }

    fn pad_fixed<'v>(&self, logical: Cow<'v, [u8]>) -> Result<Cow<'v, [u8]>, EncodeErrorKind> {
        let len = logical.len();
        if len == self.max {
            return Ok(logical);
        }
        if len > self.max {
            return Err(EncodeErrorKind::TooLong {
                length: len,
                max: self.max,
            });
        }
        let fill = match self.class {
            Class::N => b'0',
            Class::An | Class::Ans => b' ',
            Class::B | Class::Z => {
                return Err(EncodeErrorKind::WrongLength {
                    length: len,
                    expected: self.max,
                });
            }
        };
        let missing = self.max - len;
        let mut padded = Vec::with_capacity(self.max);
        match self.padding {
            Padding::Left => {
                padded.resize(missing, fill);
                padded.extend_from_slice(&logical);
            }
            Padding::Right => {
                padded.extend_from_slice(&logical);
                padded.resize(self.max, fill);
            }
            Padding::None => {
                return Err(EncodeErrorKind::WrongLength {
                    length: len,
                    expected: self.max,
                });
            }
        }
        Ok(Cow::Owned(padded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time checks agree with the byte table for every byte value in every lane.
    #[test]
    fn word_checks_agree_with_the_table() {
        for class in [Class::N, Class::Ans] {
            for b in 0..=255u8 {
                for lane in 0..8 {
                    let mut data = match class {
                        Class::N => *b"0123456789",
                        _ => *b"a B~ 0z!#x",
                    };
                    data[lane] = b;
                    let by_table = data
                        .iter()
                        .all(|x| CLASS_TABLE[usize::from(*x)] & class.mask(Charset::Ascii) != 0);
                    assert_eq!(
                        class.first_invalid(&data, Charset::Ascii).is_none(),
                        by_table,
                        "{class} byte {b:#04x} in lane {lane}"
                    );
                }
            }
        }
    }
}
