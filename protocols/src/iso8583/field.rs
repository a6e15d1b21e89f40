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

    /// Whether `byte` may appear in a value of this class (text classes only).
    pub(crate) fn allows(self, byte: u8, charset: Charset) -> bool {
        match self {
            Class::N => byte.is_ascii_digit(),
            Class::Z => byte.is_ascii_digit() || byte == b'=',
            Class::An => byte.is_ascii_alphanumeric() || byte == b' ',
            Class::Ans => match charset {
                Charset::Ascii => (0x20..=0x7E).contains(&byte),
                // UTF-8 continuation and lead bytes; whole-string validity is checked separately.
                Charset::Utf8 => (0x20..=0x7E).contains(&byte) || byte >= 0x80,
            },
            Class::B => true,
        }
    }
}

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
}

impl FieldSpec {
    /// Decodes this field from `input` at `*pos`, advancing `*pos`. `base` is added to offsets in
    /// errors so they count from the start of the caller's buffer.
    pub(crate) fn decode<'a>(
        &self,
        input: &'a [u8],
        pos: &mut usize,
        base: usize,
        location: &dyn Fn() -> Location,
    ) -> Result<Value<'a>, DecodeError> {
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
                    Encoding::Ascii => Cow::Borrowed(
                        encoding::ascii_text(data, class, self.charset).map_err(fail)?,
                    ),
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
                if let Some(position) = bytes.iter().position(|&b| !class.allows(b, self.charset)) {
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
