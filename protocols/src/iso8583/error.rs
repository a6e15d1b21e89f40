//! Errors of the ISO 8583 engine.
//!
//! Every error says *where* (a [`Location`] and, when decoding, a byte offset into the input) and
//! *what* went wrong. No error ever carries a field's value: values may be card numbers, track
//! data or PIN blocks, and errors end up in logs.

use std::fmt;

use super::field::{Class, LengthEncoding};
use crate::framing::FrameError;

/// Which part of a message an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The frame around the message: length prefix, TPDU, header.
    Frame,
    /// The message type indicator.
    Mti,
    /// The primary or secondary bitmap.
    Bitmap,
    /// A data element, by number.
    Field(u8),
    /// A subfield of a data element.
    Subfield { field: u8, key: SubKey },
}

/// The key of a subfield: its position (positional subfields) or its tag (TLV).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubKey {
    Position(u8),
    Tag(String),
}

impl fmt::Display for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubKey::Position(p) => write!(f, "{p}"),
            SubKey::Tag(t) => f.write_str(t),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Frame => f.write_str("frame"),
            Location::Mti => f.write_str("MTI"),
            Location::Bitmap => f.write_str("bitmap"),
            Location::Field(de) => write!(f, "DE {de}"),
            Location::Subfield {
                field,
                key: SubKey::Position(p),
            } => write!(f, "DE {field}.{p}"),
            Location::Subfield {
                field,
                key: SubKey::Tag(t),
            } => write!(f, "DE {field} tag {t}"),
        }
    }
}

/// A message (or frame) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location} at byte {offset}: {kind}")]
pub struct DecodeError {
    /// The element being decoded.
    pub location: Location,
    /// Byte offset into the input where that element (or the offending part of it) starts.
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

/// What was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    #[error("needs {needed} bytes but only {available} are left")]
    Truncated { needed: usize, available: usize },
    #[error("length prefix is not a valid {encoding} number")]
    BadLengthPrefix { encoding: LengthEncoding },
    #[error("length {length} exceeds the maximum {max}")]
    TooLong { length: usize, max: usize },
    #[error("character {position} is not allowed in class {class}")]
    BadCharacter { class: Class, position: usize },
    #[error("packed digit {position} is not a valid BCD digit for class {class}")]
    BadNibble { class: Class, position: usize },
    #[error("BCD pad nibble is not {expected:X}")]
    BadPadding { expected: u8 },
    #[error("character {position} is not upper-case hexadecimal")]
    BadHex { position: usize },
    #[error("byte {position} has no EBCDIC (code page 037) mapping to a printable character")]
    BadEbcdic { position: usize },
    #[error("text is not valid UTF-8")]
    BadUtf8,
    #[error("bit {bit} is set but the dialect defines no field {bit}")]
    UndefinedField { bit: u8 },
    #[error("bit 1 announces a secondary bitmap but the dialect has none")]
    SecondaryBitmapNotAllowed,
    #[error("{count} bytes follow the last field")]
    TrailingBytes { count: usize },
    #[error("the tag appears more than once")]
    DuplicateTag,
    #[error("the tag is not defined in the dialect")]
    UnknownTag,
    #[error("the MTI is not four decimal digits")]
    BadMti,
    #[error("{0}")]
    Frame(FrameError),
}

/// A message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct EncodeError {
    pub location: Location,
    pub kind: EncodeErrorKind,
}

/// What was wrong with the value to encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    #[error("length {length} exceeds the maximum {max}")]
    TooLong { length: usize, max: usize },
    #[error("length {length} differs from the fixed length {expected}")]
    WrongLength { length: usize, expected: usize },
    #[error("character {position} is not allowed in class {class}")]
    BadCharacter { class: Class, position: usize },
    #[error("character {position} has no EBCDIC (code page 037) mapping")]
    NotEbcdic { position: usize },
    #[error("class {class} needs a text value")]
    ExpectedText { class: Class },
    #[error("class b needs a binary value")]
    ExpectedBinary,
    #[error("the dialect defines no such field")]
    UndefinedField,
    #[error("subfield {missing} is missing while a later one is present")]
    MissingSubfield { missing: u8 },
    #[error("the tag appears more than once")]
    DuplicateTag,
    #[error("the tag is not defined in the dialect")]
    UnknownTag,
    #[error("the tag does not fit the dialect's tag width {width}")]
    BadTag { width: usize },
    #[error("the MTI is not four decimal digits")]
    BadMti,
    #[error("the value does not split into the dialect's subfields: {0}")]
    Subfields(DecodeErrorKind),
    #[error("{0}")]
    Frame(FrameError),
}

pub(crate) fn decode_err(location: Location, offset: usize, kind: DecodeErrorKind) -> DecodeError {
    DecodeError {
        location,
        offset,
        kind,
    }
}

pub(crate) fn encode_err(location: Location, kind: EncodeErrorKind) -> EncodeError {
    EncodeError { location, kind }
}
