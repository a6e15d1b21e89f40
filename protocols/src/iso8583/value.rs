//! The value of a data element or subfield: text (n, an, ans, z) or bytes (b).
//!
//! Decoding borrows from the input wherever the wire form is the value itself (ASCII text,
//! binary); it allocates only where it must translate (BCD, EBCDIC, hex).

use std::borrow::Cow;

/// A field value. Its Debug never shows the content: use the message's Display, which masks by
/// the dialect's sensitivity rules, or [`Value::as_bytes`] when the value itself is needed.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Text(Cow<'a, str>),
    Binary(Cow<'a, [u8]>),
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Value::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl<'a> Value<'a> {
    /// The logical bytes: the text's UTF-8, or the binary value.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Binary(b) => b,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            Value::Binary(_) => None,
        }
    }

    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Value::Text(_) => None,
            Value::Binary(b) => Some(b),
        }
    }

    /// Detaches the value from the buffer it was decoded from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Binary(b) => Value::Binary(Cow::Owned(b.into_owned())),
        }
    }

    /// Borrows the value without copying it.
    pub fn borrowed(&self) -> Value<'_> {
        match self {
            Value::Text(t) => Value::Text(Cow::Borrowed(t)),
            Value::Binary(b) => Value::Binary(Cow::Borrowed(b)),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Text(Cow::Owned(s))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Self {
        Value::Binary(Cow::Borrowed(b))
    }
}

impl From<Vec<u8>> for Value<'_> {
    fn from(b: Vec<u8>) -> Self {
        Value::Binary(Cow::Owned(b))
    }
}

impl<const N: usize> From<[u8; N]> for Value<'_> {
    fn from(b: [u8; N]) -> Self {
        Value::Binary(Cow::Owned(b.to_vec()))
    }
}
