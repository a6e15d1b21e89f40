//! The JSON form of a message, the contract of `stm-adapter codec decode|encode` and of the
//! golden vectors:
//!
//! ```json
//! {"mti": "0810", "tpdu": "6000000401", "header": null,
//!  "fields": {"11": "000441", "60": {"1": "00", "2": "000132", "3": "003"}}}
//! ```
//!
//! Keys are data element numbers as strings. Text classes (n, an, ans, z) are text; b values
//! are upper-case hex. A field with subfields is an object of its subfields (positions or
//! tags); on input a plain string is accepted for it too. Values appear in full: this form is for
//! operators and tests, not for logs.

use std::borrow::Cow;

use serde_json::{Map, Value as Json};

use super::dialect::Dialect;
use super::encoding::to_hex;
use super::error::{DecodeError, EncodeError, SubKey};
use super::message::Message;
use super::mti::Mti;
use super::subfield::Subfield;
use super::value::Value;
use crate::framing::{FrameHeader, Tpdu};

/// The JSON could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    #[error("the message must be a JSON object with \"mti\" and \"fields\"")]
    NotAMessage,
    #[error("\"mti\" must be four decimal digits")]
    BadMti,
    #[error("\"{key}\" must be upper- or lower-case hex of {expected}")]
    BadHex { key: String, expected: &'static str },
    #[error("field key \"{0}\" is not a data element number the dialect defines")]
    UnknownField(String),
    #[error("DE {field}: {problem}")]
    BadValue {
        field: String,
        problem: &'static str,
    },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Renders a decoded message (and its frame header) as JSON.
pub fn to_json(header: &FrameHeader<'_>, message: &Message<'_>) -> Result<Json, DecodeError> {
    let mut fields = Map::new();
    for (de, value) in message.fields() {
        let rendered = match message.subfields(de)? {
            Some(parts) => {
                let mut object = Map::new();
                for part in parts {
                    object.insert(part.key.to_string(), value_json(&part.value));
                }
                Json::Object(object)
            }
            None => value_json(value),
        };
        fields.insert(de.to_string(), rendered);
    }
    let mut out = Map::new();
    out.insert("mti".into(), Json::String(message.mti().to_string()));
    out.insert(
        "tpdu".into(),
        header
            .tpdu
            .map_or(Json::Null, |t| Json::String(to_hex(&t.to_bytes()))),
    );
    out.insert(
        "header".into(),
        header
            .header
            .map_or(Json::Null, |h| Json::String(to_hex(h))),
    );
    out.insert("fields".into(), Json::Object(fields));
    Ok(Json::Object(out))
}

fn value_json(value: &Value<'_>) -> Json {
    match value {
        Value::Text(t) => Json::String(t.to_string()),
        Value::Binary(b) => Json::String(to_hex(b)),
    }
}

/// The TPDU and header given in a JSON message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonFrameHeader {
    pub tpdu: Option<Tpdu>,
    pub header: Option<Vec<u8>>,
}

impl JsonFrameHeader {
    pub fn as_frame_header(&self) -> FrameHeader<'_> {
        FrameHeader {
            tpdu: self.tpdu,
            header: self.header.as_deref(),
        }
    }
}

/// Builds a message of `dialect` from its JSON form.
pub fn from_json<'d>(
    dialect: &'d Dialect,
    json: &Json,
) -> Result<(JsonFrameHeader, Message<'d>), JsonError> {
    let object = json.as_object().ok_or(JsonError::NotAMessage)?;
    let mti: Mti = object
        .get("mti")
        .and_then(Json::as_str)
        .ok_or(JsonError::NotAMessage)?
        .parse()
        .map_err(|_| JsonError::BadMti)?;
    let fields = object
        .get("fields")
        .and_then(Json::as_object)
        .ok_or(JsonError::NotAMessage)?;
    let header = JsonFrameHeader {
        tpdu: match optional_hex(object, "tpdu", "5 bytes")? {
            Some(raw) => Some(Tpdu::from_bytes(&raw).ok_or(JsonError::BadHex {
                key: "tpdu".into(),
                expected: "5 bytes",
            })?),
            None => None,
        },
        header: optional_hex(object, "header", "the dialect's header")?,
    };
    let mut message = Message::new(dialect, mti);
    for (key, value) in fields {
        let de = key
            .parse::<u8>()
            .ok()
            .filter(|de| dialect.field(*de).is_some())
            .ok_or_else(|| JsonError::UnknownField(key.clone()))?;
        let Some(spec) = dialect.field(de) else {
            return Err(JsonError::UnknownField(key.clone()));
        };
        match value {
            Json::String(s) => {
                message.set(de, leaf(spec.class.is_text(), s, key)?.into_owned());
            }
            Json::Object(parts) if spec.subfields.is_some() => {
                let mut subfields = Vec::with_capacity(parts.len());
                for (sub_key, sub_value) in parts {
                    let Json::String(s) = sub_value else {
                        return Err(JsonError::BadValue {
                            field: format!("{key}.{sub_key}"),
                            problem: "a subfield value must be a string",
                        });
                    };
                    let sub = sub_key_of(spec.subfields.as_ref(), sub_key);
                    let is_text = subfield_is_text(spec, &sub);
                    subfields.push(Subfield {
                        key: sub,
                        value: leaf(is_text, s, &format!("{key}.{sub_key}"))?.into_owned(),
                    });
                }
                message.set_subfields(de, &subfields)?;
            }
            _ => {
                return Err(JsonError::BadValue {
                    field: key.clone(),
                    problem: "must be a string (or an object of subfields where the dialect defines them)",
                });
            }
        }
    }
    Ok((header, message))
}

fn optional_hex(
    object: &Map<String, Json>,
    key: &str,
    expected: &'static str,
) -> Result<Option<Vec<u8>>, JsonError> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => hex::decode(s).map(Some).map_err(|_| JsonError::BadHex {
            key: key.into(),
            expected,
        }),
        Some(_) => Err(JsonError::BadHex {
            key: key.into(),
            expected,
        }),
    }
}

fn leaf<'s>(is_text: bool, s: &'s str, key: &str) -> Result<Value<'s>, JsonError> {
    if is_text {
        return Ok(Value::Text(Cow::Borrowed(s)));
    }
    hex::decode(s)
        .map(Value::from)
        .map_err(|_| JsonError::BadHex {
            key: key.to_owned(),
            expected: "a class b value",
        })
}

fn sub_key_of(subfields: Option<&super::subfield::Subfields>, key: &str) -> SubKey {
    match subfields {
        Some(super::subfield::Subfields::Positional(_)) => match key.parse::<u8>() {
            Ok(p) => SubKey::Position(p),
            Err(_) => SubKey::Tag(key.to_owned()),
        },
        _ => SubKey::Tag(key.to_owned()),
    }
}

fn subfield_is_text(spec: &super::field::FieldSpec, key: &SubKey) -> bool {
    use super::subfield::Subfields;
    match (&spec.subfields, key) {
        (Some(Subfields::Positional(parts)), SubKey::Position(p)) => parts
            .iter()
            .find(|(q, _)| q == p)
            .is_none_or(|(_, s)| s.class.is_text()),
        (Some(Subfields::Tlv(tlv)), SubKey::Tag(t)) => match tlv.tag(t) {
            Some(tag) => tag.class.is_text(),
            None => spec.class.is_text(),
        },
        _ => spec.class.is_text(),
    }
}
