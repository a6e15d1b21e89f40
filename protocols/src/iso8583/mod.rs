//! The spec-driven ISO 8583 engine.
//!
//! A [`Dialect`] (loaded from TOML, see `docs/iso8583.md`) says how every part of a message is
//! written; [`Dialect::decode`] turns bytes into a [`Message`] that borrows from them, and
//! [`Message::encode`] writes it back. Decoding never panics: whatever the bytes, the answer is a
//! message or a [`DecodeError`] naming the element, the byte offset and what was wrong.
//!
//! Module map: `dialect` (loading and checking), `field` (one element's rule), `encoding`
//! (ASCII, EBCDIC, BCD, hex), `prefix` (LL/LLL/LLLL), `bitmap`, `mti`, `message`, `subfield`
//! (positional and TLV), `mac`, `mask` (Display masking), `json` (the operator/golden-vector
//! form), `builtin` (the shipped dialects).

pub mod bitmap;
pub mod builtin;
pub mod dialect;
pub mod encoding;
pub mod error;
pub mod field;
pub mod json;
pub mod mac;
pub mod mask;
pub mod message;
pub mod mti;
mod prefix;
pub mod subfield;
pub mod value;

pub use bitmap::{Bitmap, BitmapEncoding};
pub use builtin::{builtin, builtin_names};
pub use dialect::{Dialect, DialectError};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Location, SubKey};
pub use field::{Class, Encoding, FieldSpec, LengthEncoding, LengthKind, Sensitivity};
pub use message::Message;
pub use mti::Mti;
pub use subfield::{Subfield, Subfields};
pub use value::Value;
