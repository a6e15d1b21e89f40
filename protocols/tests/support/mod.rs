//! Generators of valid messages for any dialect, driven by the dialect's own field rules.

#![allow(dead_code)]

use adapter_protocols::iso8583::field::Charset;
use adapter_protocols::iso8583::subfield::{Subfield, Subfields, TlvSpec};
use adapter_protocols::iso8583::{
    Class, Dialect, FieldSpec, LengthKind, Message, Mti, SubKey, Value,
};
use proptest::prelude::*;

/// Longest variable value generated (keeps cases small; fixed fields always get their length).
const CAP: usize = 48;

fn chars_of(class: Class, charset: Charset) -> BoxedStrategy<char> {
    match class {
        Class::N => prop::char::range('0', '9').boxed(),
        Class::Z => prop_oneof![9 => prop::char::range('0', '9'), 1 => Just('=')].boxed(),
        Class::An => prop_oneof![
            prop::char::range('0', '9'),
            prop::char::range('A', 'Z'),
            prop::char::range('a', 'z'),
            Just(' ')
        ]
        .boxed(),
        Class::Ans | Class::B => match charset {
            Charset::Ascii => prop::char::range(' ', '~').boxed(),
            _ => prop_oneof![
                4 => prop::char::range(' ', '~'),
                1 => prop::char::range('\u{4e00}', '\u{9fa5}')
            ]
            .boxed(),
        },
    }
}

/// Text of `class` whose UTF-8 length is within `lo..=hi` bytes (exactly `hi` when lo == hi).
fn text(class: Class, charset: Charset, lo: usize, hi: usize) -> BoxedStrategy<String> {
    prop::collection::vec(chars_of(class, charset), lo..=hi)
        .prop_map(move |chars| {
            let mut s = String::new();
            for c in chars {
                if s.len() + c.len_utf8() > hi {
                    break;
                }
                s.push(c);
            }
            // Multi-byte characters may leave a fixed field short: fill with ASCII.
            while s.len() < lo {
                s.push('0');
            }
            s
        })
        .boxed()
}

fn bounds(spec: &FieldSpec) -> (usize, usize) {
    match spec.length {
        LengthKind::Fixed => (spec.max, spec.max),
        _ => (1, spec.max.min(CAP)),
    }
}

/// A value valid for `spec` (ignoring subfields).
pub(crate) fn plain_value(spec: &FieldSpec) -> BoxedStrategy<Value<'static>> {
    let (lo, hi) = bounds(spec);
    if spec.class == Class::B {
        prop::collection::vec(any::<u8>(), lo..=hi)
            .prop_map(Value::from)
            .boxed()
    } else {
        text(spec.class, spec.charset, lo, hi)
            .prop_map(Value::from)
            .boxed()
    }
}

fn positional(
    parts: &[(u8, FieldSpec)],
    fixed_total: bool,
) -> BoxedStrategy<Vec<Subfield<'static>>> {
    let all: Vec<BoxedStrategy<Subfield<'static>>> = parts
        .iter()
        .map(|(p, spec)| {
            let key = SubKey::Position(*p);
            plain_value(spec)
                .prop_map(move |value| Subfield {
                    key: key.clone(),
                    value,
                })
                .boxed()
        })
        .collect();
    let n = parts.len();
    let min = if fixed_total { n } else { 1 };
    (all, min..=n)
        .prop_map(|(mut subs, keep)| {
            subs.truncate(keep);
            subs
        })
        .boxed()
}

fn tlv(spec: &TlvSpec) -> BoxedStrategy<Vec<Subfield<'static>>> {
    let tags: Vec<BoxedStrategy<Option<Subfield<'static>>>> = spec
        .tags
        .iter()
        .map(|t| {
            let key = SubKey::Tag(t.tag.clone());
            let value = if t.class == Class::B {
                prop::collection::vec(any::<u8>(), 1..=t.max.min(CAP))
                    .prop_map(Value::from)
                    .boxed()
            } else {
                text(t.class, t.charset, 1, t.max.min(CAP))
                    .prop_map(Value::from)
                    .boxed()
            };
            prop::option::weighted(
                0.3,
                value.prop_map(move |value| Subfield {
                    key: key.clone(),
                    value,
                }),
            )
            .boxed()
        })
        .collect();
    tags.prop_shuffle()
        .prop_map(|subs| subs.into_iter().flatten().collect::<Vec<_>>())
        .boxed()
}

/// A value valid for `spec`, built from subfields where the dialect defines them.
pub(crate) fn field_value(
    dialect: &'static Dialect,
    de: u8,
    spec: &FieldSpec,
) -> BoxedStrategy<Value<'static>> {
    let parts = match &spec.subfields {
        None => return plain_value(spec),
        Some(Subfields::Positional(parts)) => positional(parts, spec.length == LengthKind::Fixed),
        Some(Subfields::Tlv(t)) => tlv(t),
    };
    parts
        .prop_filter_map("subfields exceed the parent's length", move |subs| {
            let mut m = Message::new(dialect, Mti::from_digits(*b"0200").ok()?);
            m.set_subfields(de, &subs).ok()?;
            let value = m.get(de)?.clone().into_owned();
            let len = value.as_bytes().len();
            let spec = dialect.field(de)?;
            (len >= 1 && len <= spec.max).then_some(value)
        })
        .boxed()
}

/// A whole message of `dialect`: random MTI, a random subset of its fields.
pub(crate) fn message(dialect: &'static Dialect) -> BoxedStrategy<Message<'static>> {
    let fields: Vec<BoxedStrategy<Option<(u8, Value<'static>)>>> = dialect
        .fields()
        .map(|(de, spec)| {
            prop::option::weighted(
                0.25,
                field_value(dialect, de, spec).prop_map(move |v| (de, v)),
            )
            .boxed()
        })
        .collect();
    (prop::array::uniform4(b'0'..=b'9'), fields)
        .prop_map(move |(mti, fields)| {
            let mti = Mti::from_digits(mti).unwrap_or_else(|_| unreachable!());
            let mut m = Message::new(dialect, mti);
            for (de, v) in fields.into_iter().flatten() {
                m.set(de, v);
            }
            m
        })
        .boxed()
}
