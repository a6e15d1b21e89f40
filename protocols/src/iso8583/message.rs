//! A message of a dialect: MTI plus data elements; decoding and encoding it.

use std::fmt;

use super::bitmap::Bitmap;
use super::dialect::Dialect;
use super::encoding::to_hex;
use super::error::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Location, decode_err, encode_err,
};
use super::field::{Input, Sensitivity};
use super::mask;
use super::mti::{Mti, MtiEncoding};
use super::subfield::{ParentPosition, Subfield};
use super::value::Value;
use crate::framing::{Frame, FrameHeader};

/// An ISO 8583 message: its MTI and data elements, read through its dialect.
///
/// Values decoded from a buffer borrow from it. `Display` and `Debug` mask or wipe the fields
/// the dialect marks sensitive, so a message can be logged as is.
#[derive(Clone)]
pub struct Message<'a> {
    dialect: &'a Dialect,
    mti: Mti,
    /// Sorted by data element number.
    fields: Vec<(u8, Value<'a>)>,
    /// The message carried a secondary bitmap although no field above 64 was present; kept so
    /// that re-encoding gives back the same bytes.
    empty_secondary: bool,
}

impl<'a> Message<'a> {
    pub fn new(dialect: &'a Dialect, mti: Mti) -> Message<'a> {
        Message {
            dialect,
            mti,
            // Most messages carry 8 to 24 fields: one allocation, no regrowth.
            fields: Vec::with_capacity(16),
            empty_secondary: false,
        }
    }

    pub fn dialect(&self) -> &'a Dialect {
        self.dialect
    }

    pub fn mti(&self) -> Mti {
        self.mti
    }

    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// Sets data element `de`. Values are checked against the dialect when encoding.
    pub fn set(&mut self, de: u8, value: impl Into<Value<'a>>) -> &mut Self {
        let value = value.into();
        // Fields are usually set in order: append without a search.
        if self.fields.last().is_none_or(|(last, _)| *last < de) {
            self.fields.push((de, value));
            return self;
        }
        match self.fields.binary_search_by_key(&de, |(d, _)| *d) {
            Ok(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.fields.insert(i, (de, value)),
        }
        self
    }

    pub fn remove(&mut self, de: u8) -> Option<Value<'a>> {
        let i = self.fields.binary_search_by_key(&de, |(d, _)| *d).ok()?;
        Some(self.fields.remove(i).1)
    }

    pub fn get(&self, de: u8) -> Option<&Value<'a>> {
        let i = self.fields.binary_search_by_key(&de, |(d, _)| *d).ok()?;
        self.fields.get(i).map(|(_, v)| v)
    }

    pub fn has(&self, de: u8) -> bool {
        self.get(de).is_some()
    }

    /// The text of data element `de` (n, an, ans, z).
    pub fn text(&self, de: u8) -> Option<&str> {
        self.get(de).and_then(Value::as_text)
    }

    /// The bytes of data element `de` (b).
    pub fn binary(&self, de: u8) -> Option<&[u8]> {
        self.get(de).and_then(Value::as_binary)
    }

    /// Data elements present, in order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &Value<'a>)> {
        self.fields.iter().map(|(d, v)| (*d, v))
    }

    /// The subfields of data element `de`: `Ok(None)` when the field is absent or the dialect
    /// gives it no subfields.
    pub fn subfields(&self, de: u8) -> Result<Option<Vec<Subfield<'_>>>, DecodeError> {
        let (Some(value), Some(spec)) = (self.get(de), self.dialect.field(de)) else {
            return Ok(None);
        };
        let Some(subfields) = &spec.subfields else {
            return Ok(None);
        };
        let at = ParentPosition {
            start: 0,
            one_to_one: true,
        };
        subfields
            .split(de, spec.class.is_text(), value.as_bytes(), at)
            .map(Some)
    }

    /// Sets data element `de` from subfields, composed by the dialect's rule for it.
    pub fn set_subfields(
        &mut self,
        de: u8,
        parts: &[Subfield<'_>],
    ) -> Result<&mut Self, EncodeError> {
        let spec = self
            .dialect
            .field(de)
            .ok_or_else(|| encode_err(Location::Field(de), EncodeErrorKind::UndefinedField))?;
        let subfields = spec
            .subfields
            .as_ref()
            .ok_or_else(|| encode_err(Location::Field(de), EncodeErrorKind::UndefinedField))?;
        let value = subfields.compose(de, spec.class.is_text(), parts)?;
        Ok(self.set(de, value))
    }

    /// Detaches the message from the buffer it was decoded from.
    pub fn into_owned(self) -> Message<'a> {
        Message {
            fields: self
                .fields
                .into_iter()
                .map(|(d, v)| (d, v.into_owned()))
                .collect(),
            ..self
        }
    }

    /// Encodes MTI, bitmap and fields (no frame) onto `out`. On error `out` may hold part of
    /// the message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let dialect = self.dialect;
        match dialect.mti_encoding() {
            MtiEncoding::Ascii => out.extend_from_slice(&self.mti.digits()),
            MtiEncoding::Bcd => {
                let [a, b, c, d] = self.mti.digits().map(|x| x - b'0');
                out.extend_from_slice(&[a << 4 | b, c << 4 | d]);
            }
        }
        let mut bitmap = Bitmap::default();
        for (de, _) in &self.fields {
            bitmap.set(*de);
        }
        if bitmap.needs_secondary() && !dialect.has_secondary_bitmap() {
            // A checked dialect has no field above 64 without a secondary bitmap.
            let de = self
                .fields
                .iter()
                .map(|(d, _)| *d)
                .find(|d| *d > 64)
                .unwrap_or(65);
            return Err(encode_err(
                Location::Field(de),
                EncodeErrorKind::UndefinedField,
            ));
        }
        let empty_secondary = self.empty_secondary && dialect.has_secondary_bitmap();
        bitmap.encode(dialect.bitmap_encoding(), empty_secondary, out);
        for (de, value) in &self.fields {
            let Some(spec) = dialect.field(*de) else {
                return Err(encode_err(
                    Location::Field(*de),
                    EncodeErrorKind::UndefinedField,
                ));
            };
            spec.encode(value, out, &|| Location::Field(*de))?;
            if let Some(subfields) = &spec.subfields {
                // What we send must be what we would accept.
                let at = ParentPosition {
                    start: 0,
                    one_to_one: true,
                };
                subfields
                    .split(*de, spec.class.is_text(), value.as_bytes(), at)
                    .map_err(|e| encode_err(e.location, EncodeErrorKind::Subfields(e.kind)))?;
            }
        }
        Ok(())
    }

    /// Encodes the message without a frame.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(256);
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Encodes the message inside the dialect's frame (length prefix, TPDU, header).
    pub fn to_frame(&self, header: &FrameHeader<'_>) -> Result<Vec<u8>, EncodeError> {
        let body = self.to_bytes()?;
        let mut out = Vec::with_capacity(body.len() + 16);
        self.dialect
            .frame()
            .write(header, &body, &mut out)
            .map_err(|e| encode_err(Location::Frame, EncodeErrorKind::Frame(e)))?;
        Ok(out)
    }
}

impl Dialect {
    /// Decodes a message (MTI, bitmap, fields; no frame). Never panics; every error names the
    /// element and the byte offset.
    pub fn decode<'a>(&'a self, input: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        self.decode_at(input, 0)
    }

    /// Decodes a complete frame: length prefix, TPDU and header as the dialect says, then the
    /// message. Offsets in errors count from the start of the frame.
    pub fn decode_frame<'a>(
        &'a self,
        input: &'a [u8],
    ) -> Result<(FrameHeader<'a>, Message<'a>), DecodeError> {
        let frame: Frame<'a> = self
            .frame()
            .parse(input)
            .map_err(|e| decode_err(Location::Frame, e.offset(), DecodeErrorKind::Frame(e)))?;
        let message = self.decode_at(frame.body, frame.body_offset)?;
        Ok((frame.header, message))
    }

    fn decode_at<'a>(&'a self, input: &'a [u8], base: usize) -> Result<Message<'a>, DecodeError> {
        let mut pos = 0;
        let mti = decode_mti(self.mti_encoding(), input, &mut pos, base)?;
        let bitmap_start = pos;
        let bitmap = Bitmap::decode(
            self.bitmap_encoding(),
            self.has_secondary_bitmap(),
            input,
            &mut pos,
            base,
        )?;
        let empty_secondary = bitmap.is_set(1) && !bitmap.needs_secondary();
        let whole = Input::text_from(input, pos);
        let mut fields = Vec::with_capacity(bitmap.count());
        for de in bitmap.fields() {
            let spec = self.field(de).ok_or_else(|| {
                decode_err(
                    Location::Bitmap,
                    base + bitmap_start,
                    DecodeErrorKind::UndefinedField { bit: de },
                )
            })?;
            let start = pos;
            let value = spec.decode(&whole, &mut pos, base, &|| Location::Field(de))?;
            if let Some(subfields) = &spec.subfields {
                let data_len = spec.encoding.wire_len(value_units(&value));
                let at = ParentPosition {
                    start: base + pos - data_len.min(pos - start),
                    one_to_one: spec.encoding.is_one_to_one(),
                };
                subfields.split(de, spec.class.is_text(), value.as_bytes(), at)?;
            }
            fields.push((de, value));
        }
        if pos < input.len() {
            return Err(decode_err(
                Location::Field(fields.last().map_or(0, |(d, _)| *d)),
                base + pos,
                DecodeErrorKind::TrailingBytes {
                    count: input.len() - pos,
                },
            ));
        }
        Ok(Message {
            dialect: self,
            mti,
            fields,
            empty_secondary,
        })
    }
}

fn value_units(value: &Value<'_>) -> usize {
    value.as_bytes().len()
}

fn decode_mti(
    encoding: MtiEncoding,
    input: &[u8],
    pos: &mut usize,
    base: usize,
) -> Result<Mti, DecodeError> {
    let width = match encoding {
        MtiEncoding::Ascii => 4,
        MtiEncoding::Bcd => 2,
    };
    let raw = input.get(..width).ok_or_else(|| {
        decode_err(
            Location::Mti,
            base,
            DecodeErrorKind::Truncated {
                needed: width,
                available: input.len(),
            },
        )
    })?;
    let digits = match (encoding, raw) {
        (MtiEncoding::Ascii, &[a, b, c, d]) => [a, b, c, d],
        (MtiEncoding::Bcd, &[x, y]) => {
            [x >> 4, x & 0xF, y >> 4, y & 0xF].map(|n| if n <= 9 { b'0' + n } else { b'?' })
        }
        _ => [0; 4],
    };
    let mti = Mti::from_digits(digits)
        .map_err(|_| decode_err(Location::Mti, base, DecodeErrorKind::BadMti))?;
    *pos += width;
    Ok(mti)
}

impl fmt::Display for Message<'_> {
    /// `0200 DE2=622202*********0123 DE3=500000 … DE35=[wiped, 37 bytes]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mti)?;
        for (de, value) in &self.fields {
            write!(f, " DE{de}=")?;
            let spec = self.dialect.field(*de);
            let sensitivity = spec.map_or(Sensitivity::Wipe, |s| s.sensitivity);
            let parts = spec
                .and_then(|s| s.subfields.as_ref().map(|sub| (s, sub)))
                .filter(|_| sensitivity == Sensitivity::None)
                .and_then(|(s, sub)| {
                    let at = ParentPosition {
                        start: 0,
                        one_to_one: true,
                    };
                    sub.split(*de, s.class.is_text(), value.as_bytes(), at)
                        .ok()
                        .map(|parts| (sub, parts))
                });
            match parts {
                Some((sub, parts)) => {
                    f.write_str("{")?;
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" ")?;
                        }
                        write!(f, "{}=", part.key)?;
                        mask::write(f, &part.value, sub.sensitivity(&part.key))?;
                    }
                    f.write_str("}")?;
                }
                None => mask::write(f, value, sensitivity)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Message({} [{}])", self, self.dialect.name())
    }
}

/// Shows binary values as hex, text as is (used after masking decisions).
pub(crate) fn plain(value: &Value<'_>) -> String {
    match value {
        Value::Text(t) => t.to_string(),
        Value::Binary(b) => to_hex(b),
    }
}
