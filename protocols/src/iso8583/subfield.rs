//! Subfields of a data element: positional (fixed order, each with its own field rule) or TLV
//! (tag, length, value with configurable widths).
//!
//! Subfields work on the parent field's *logical* value: for a BCD field that is its digits, for
//! an ASCII field its characters, for a binary field its bytes. So the UnionPay DE60 (BCD) splits
//! into 60.1, 60.2, 60.3 … as digit strings.

use std::borrow::Cow;

use serde::Deserialize;

use super::encoding::{ascii_text, to_hex};
use super::error::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Location, SubKey, decode_err,
    encode_err,
};
use super::field::{Charset, Class, FieldSpec, Input, LengthEncoding, Sensitivity};
use super::value::Value;

/// How a field is divided.
#[derive(Debug, Clone, PartialEq)]
pub enum Subfields {
    /// Subfields one after another, by position (1, 2, 3 …). Trailing subfields may be absent.
    Positional(Vec<(u8, FieldSpec)>),
    /// Tag-length-value records.
    Tlv(TlvSpec),
}

/// The layout of a TLV field.
#[derive(Debug, Clone, PartialEq)]
pub struct TlvSpec {
    /// Tag width in characters (ASCII tags) or bytes (binary tags).
    pub tag_width: usize,
    pub tag_encoding: TagEncoding,
    /// Length width in digits (ASCII) or bytes (BCD, binary).
    pub length_width: usize,
    pub length_encoding: LengthEncoding,
    pub unknown_tags: UnknownTags,
    pub tags: Vec<TagSpec>,
}

/// How TLV tags are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagEncoding {
    /// Printable ASCII characters; the tag is shown as written.
    Ascii,
    /// Raw bytes; the tag is shown as upper-case hex.
    Binary,
}

/// What decoding does with a tag the dialect does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownTags {
    /// Keep it (as text in a text field, bytes in a binary one).
    Keep,
    /// Drop it from the decoded subfields. Re-encoding then loses it.
    Skip,
    /// Refuse the message.
    Reject,
}

/// One known TLV tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagSpec {
    pub tag: String,
    pub name: String,
    pub class: Class,
    pub max: usize,
    pub charset: Charset,
    pub sensitivity: Sensitivity,
}

/// A decoded subfield.
#[derive(Debug, Clone, PartialEq)]
pub struct Subfield<'v> {
    pub key: SubKey,
    pub value: Value<'v>,
}

/// Where the parent's logical bytes sit in the input, for error offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParentPosition {
    /// Offset of the parent's data in the caller's buffer.
    pub start: usize,
    /// Whether logical byte i sits at `start + i` (ASCII, binary); otherwise errors point at
    /// `start`.
    pub one_to_one: bool,
}

impl ParentPosition {
    fn at(&self, inner: usize) -> usize {
        if self.one_to_one {
            self.start + inner
        } else {
            self.start
        }
    }
}

impl Subfields {
    /// Splits a parent value into its subfields.
    pub(crate) fn split<'v>(
        &self,
        field: u8,
        parent_is_text: bool,
        data: &'v [u8],
        at: ParentPosition,
    ) -> Result<Vec<Subfield<'v>>, DecodeError> {
        match self {
            Subfields::Positional(parts) => split_positional(parts, field, data, at),
            Subfields::Tlv(tlv) => tlv.split(field, parent_is_text, data, at),
        }
    }

    /// Joins subfields into the parent's logical value.
    pub(crate) fn compose(
        &self,
        field: u8,
        parent_is_text: bool,
        parts: &[Subfield<'_>],
    ) -> Result<Value<'static>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Subfields::Positional(specs) => compose_positional(specs, field, parts, &mut out)?,
            Subfields::Tlv(tlv) => tlv.compose(field, parts, &mut out)?,
        }
        if parent_is_text {
            String::from_utf8(out).map(Value::from).map_err(|e| {
                encode_err(
                    Location::Field(field),
                    EncodeErrorKind::BadCharacter {
                        class: Class::Ans,
                        position: e.utf8_error().valid_up_to(),
                    },
                )
            })
        } else {
            Ok(Value::from(out))
        }
    }

    /// The sensitivity of a subfield, for masking.
    pub(crate) fn sensitivity(&self, key: &SubKey) -> Sensitivity {
        match (self, key) {
            (Subfields::Positional(parts), SubKey::Position(p)) => parts
                .iter()
                .find(|(q, _)| q == p)
                .map_or(Sensitivity::None, |(_, s)| s.sensitivity),
            (Subfields::Tlv(tlv), SubKey::Tag(t)) => tlv
                .tag(t)
                .map_or(Sensitivity::None, |spec| spec.sensitivity),
            _ => Sensitivity::None,
        }
    }
}

fn sub_location(field: u8, key: SubKey) -> Location {
    Location::Subfield { field, key }
}

fn split_positional<'v>(
    parts: &[(u8, FieldSpec)],
    field: u8,
    data: &'v [u8],
    at: ParentPosition,
) -> Result<Vec<Subfield<'v>>, DecodeError> {
    let mut out = Vec::with_capacity(parts.len());
    let whole = Input::new(data);
    let mut pos = 0;
    for (position, spec) in parts {
        if pos == data.len() {
            break;
        }
        let location = || sub_location(field, SubKey::Position(*position));
        let value = spec
            .decode(&whole, &mut pos, 0, &location)
            .map_err(|e| DecodeError {
                offset: at.at(e.offset),
                ..e
            })?;
        out.push(Subfield {
            key: SubKey::Position(*position),
            value,
        });
    }
    if pos < data.len() {
        return Err(decode_err(
            Location::Field(field),
            at.at(pos),
            DecodeErrorKind::TrailingBytes {
                count: data.len() - pos,
            },
        ));
    }
    Ok(out)
}

fn compose_positional(
    specs: &[(u8, FieldSpec)],
    field: u8,
    parts: &[Subfield<'_>],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for part in parts {
        let known = matches!(&part.key, SubKey::Position(p) if specs.iter().any(|(q, _)| q == p));
        if !known {
            return Err(encode_err(
                sub_location(field, part.key.clone()),
                EncodeErrorKind::UndefinedField,
            ));
        }
    }
    let mut missing: Option<u8> = None;
    for (position, spec) in specs {
        let part = parts.iter().find(|p| p.key == SubKey::Position(*position));
        match (part, missing) {
            (None, None) => missing = Some(*position),
            (None, Some(_)) => {}
            (Some(_), Some(missing)) => {
                return Err(encode_err(
                    Location::Field(field),
                    EncodeErrorKind::MissingSubfield { missing },
                ));
            }
            (Some(part), None) => {
                let location = || sub_location(field, SubKey::Position(*position));
                spec.encode(&part.value, out, &location)?;
            }
        }
    }
    Ok(())
}

impl TlvSpec {
    pub fn tag(&self, tag: &str) -> Option<&TagSpec> {
        self.tags.iter().find(|t| t.tag == tag)
    }

    fn split<'v>(
        &self,
        field: u8,
        parent_is_text: bool,
        data: &'v [u8],
        at: ParentPosition,
    ) -> Result<Vec<Subfield<'v>>, DecodeError> {
        let mut out: Vec<Subfield<'v>> = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let record = pos;
            let truncated = |needed: usize, from: usize| {
                decode_err(
                    Location::Field(field),
                    at.at(from),
                    DecodeErrorKind::Truncated {
                        needed,
                        available: data.len().saturating_sub(from),
                    },
                )
            };
            let raw_tag =
                take(data, pos, self.tag_width).ok_or_else(|| truncated(self.tag_width, pos))?;
            let tag = match self.tag_encoding {
                TagEncoding::Binary => to_hex(raw_tag),
                TagEncoding::Ascii => ascii_text(raw_tag, Class::Ans, Charset::Ascii)
                    .map_err(|(i, kind)| decode_err(Location::Field(field), at.at(pos + i), kind))?
                    .to_owned(),
            };
            pos += self.tag_width;
            let location = || sub_location(field, SubKey::Tag(tag.clone()));
            let raw_len = take(data, pos, self.length_width)
                .ok_or_else(|| truncated(self.length_width, pos))?;
            let length = read_tlv_length(self.length_encoding, raw_len).ok_or_else(|| {
                decode_err(
                    location(),
                    at.at(pos),
                    DecodeErrorKind::BadLengthPrefix {
                        encoding: self.length_encoding,
                    },
                )
            })?;
            pos += self.length_width;
            let raw = take(data, pos, length).ok_or_else(|| truncated(length, pos))?;
            let value_at = pos;
            pos += length;
            if out
                .iter()
                .any(|s| matches!(&s.key, SubKey::Tag(t) if *t == tag))
            {
                return Err(decode_err(
                    location(),
                    at.at(record),
                    DecodeErrorKind::DuplicateTag,
                ));
            }
            let value = match self.tag(&tag) {
                Some(spec) => {
                    if length > spec.max {
                        return Err(decode_err(
                            location(),
                            at.at(record),
                            DecodeErrorKind::TooLong {
                                length,
                                max: spec.max,
                            },
                        ));
                    }
                    tlv_value(spec.class, spec.charset, raw)
                        .map_err(|(i, kind)| decode_err(location(), at.at(value_at + i), kind))?
                }
                None => match self.unknown_tags {
                    UnknownTags::Reject => {
                        return Err(decode_err(
                            location(),
                            at.at(record),
                            DecodeErrorKind::UnknownTag,
                        ));
                    }
                    UnknownTags::Skip => continue,
                    UnknownTags::Keep if parent_is_text => {
                        tlv_value(Class::Ans, Charset::Utf8, raw).map_err(|(i, kind)| {
                            decode_err(location(), at.at(value_at + i), kind)
                        })?
                    }
                    UnknownTags::Keep => Value::Binary(Cow::Borrowed(raw)),
                },
            };
            out.push(Subfield {
                key: SubKey::Tag(tag),
                value,
            });
        }
        Ok(out)
    }

    fn compose(
        &self,
        field: u8,
        parts: &[Subfield<'_>],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        for (i, part) in parts.iter().enumerate() {
            let location = || sub_location(field, part.key.clone());
            let SubKey::Tag(tag) = &part.key else {
                return Err(encode_err(location(), EncodeErrorKind::UndefinedField));
            };
            if parts.iter().take(i).any(|p| p.key == part.key) {
                return Err(encode_err(location(), EncodeErrorKind::DuplicateTag));
            }
            let tag_bytes = match self.tag_encoding {
                TagEncoding::Ascii => tag.as_bytes().to_vec(),
                TagEncoding::Binary => hex::decode(tag).map_err(|_| {
                    encode_err(
                        location(),
                        EncodeErrorKind::BadTag {
                            width: self.tag_width,
                        },
                    )
                })?,
            };
            let printable = tag_bytes.iter().all(|b| (0x20..=0x7E).contains(b));
            if tag_bytes.len() != self.tag_width
                || (self.tag_encoding == TagEncoding::Ascii && !printable)
            {
                return Err(encode_err(
                    location(),
                    EncodeErrorKind::BadTag {
                        width: self.tag_width,
                    },
                ));
            }
            let value = part.value.as_bytes();
            match self.tag(tag) {
                Some(spec) => {
                    check_tlv_value(spec, &part.value)
                        .map_err(|kind| encode_err(location(), kind))?;
                }
                None if self.unknown_tags == UnknownTags::Reject => {
                    return Err(encode_err(location(), EncodeErrorKind::UnknownTag));
                }
                None => {}
            }
            let length_limit = match self.length_encoding {
                LengthEncoding::Ascii | LengthEncoding::Ebcdic => {
                    10usize.saturating_pow(self.length_width as u32) - 1
                }
                LengthEncoding::Bcd => 10usize.saturating_pow(2 * self.length_width as u32) - 1,
                LengthEncoding::Binary => (1usize << (8 * self.length_width.min(4))) - 1,
            };
            if value.len() > length_limit {
                return Err(encode_err(
                    location(),
                    EncodeErrorKind::TooLong {
                        length: value.len(),
                        max: length_limit,
                    },
                ));
            }
            out.extend_from_slice(&tag_bytes);
            write_tlv_length(self.length_encoding, self.length_width, value.len(), out);
            out.extend_from_slice(value);
        }
        Ok(())
    }
}

fn take(data: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    data.get(at..)?.get(..n)
}

fn tlv_value(
    class: Class,
    charset: Charset,
    raw: &[u8],
) -> Result<Value<'_>, (usize, DecodeErrorKind)> {
    if class == Class::B {
        return Ok(Value::Binary(Cow::Borrowed(raw)));
    }
    ascii_text(raw, class, charset).map(|t| Value::Text(Cow::Borrowed(t)))
}

fn check_tlv_value(spec: &TagSpec, value: &Value<'_>) -> Result<(), EncodeErrorKind> {
    match (spec.class, value) {
        (Class::B, Value::Text(_)) => return Err(EncodeErrorKind::ExpectedBinary),
        (class, Value::Binary(_)) if class.is_text() => {
            return Err(EncodeErrorKind::ExpectedText { class });
        }
        (class, Value::Text(t)) => {
            if let Some(position) = class.first_invalid(t.as_bytes(), spec.charset) {
                return Err(EncodeErrorKind::BadCharacter { class, position });
            }
        }
        (_, Value::Binary(_)) => {}
    }
    let length = value.as_bytes().len();
    if length > spec.max {
        return Err(EncodeErrorKind::TooLong {
            length,
            max: spec.max,
        });
    }
    Ok(())
}

fn read_tlv_length(encoding: LengthEncoding, raw: &[u8]) -> Option<usize> {
    let digit = |d: u8| (d <= 9).then_some(usize::from(d));
    raw.iter().try_fold(0usize, |acc, &b| match encoding {
        LengthEncoding::Ascii => Some(acc * 10 + digit(b.checked_sub(b'0')?)?),
        LengthEncoding::Ebcdic => Some(acc * 10 + digit(b.checked_sub(0xF0)?)?),
        LengthEncoding::Bcd => Some(acc * 100 + digit(b >> 4)? * 10 + digit(b & 0x0F)?),
        LengthEncoding::Binary => acc.checked_mul(256).map(|a| a + usize::from(b)),
    })
}

fn write_tlv_length(encoding: LengthEncoding, width: usize, length: usize, out: &mut Vec<u8>) {
    for i in (0..width).rev() {
        match encoding {
            LengthEncoding::Ascii => out.push(b'0' + ((length / 10usize.pow(i as u32)) % 10) as u8),
            LengthEncoding::Ebcdic => {
                out.push(0xF0 + ((length / 10usize.pow(i as u32)) % 10) as u8)
            }
            LengthEncoding::Bcd => {
                let pair = (length / 100usize.pow(i as u32)) % 100;
                out.push(((pair / 10) as u8) << 4 | (pair % 10) as u8);
            }
            LengthEncoding::Binary => out.push((length >> (8 * i)) as u8),
        }
    }
}
