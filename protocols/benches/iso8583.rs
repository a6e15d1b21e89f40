//! Codec benchmark: the reference 0200 of issue 2 with our iso87-ascii dialect, and the same
//! work with iso8583_rs 0.1.10 in the same run. Figures go to docs/performance.md.
//!
//! Run: `cargo bench -p adapter-protocols --bench iso8583`.

// Setup failures should stop the bench loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use adapter_protocols::iso8583::builtin::SOURCES;
use adapter_protocols::iso8583::{Dialect, Message, Mti, builtin};
use criterion::{Criterion, criterion_group, criterion_main};
use iso8583_rs::iso8583::iso_spec::{IsoMsg, Spec, new_msg, spec};

/// The reference 0200 of issue 2.
const REFERENCE: [(u8, &str); 16] = [
    (2, "6222021234567890123"),
    (3, "500000"),
    (4, "000000012300"),
    (7, "1128031500"),
    (11, "000123"),
    (12, "111500"),
    (13, "1128"),
    (22, "051"),
    (25, "00"),
    (32, "01020000"),
    (35, "6222021234567890123=30122011234567890"),
    (37, "333111000123"),
    (41, "STM00001"),
    (42, "440100000000001"),
    (
        48,
        "GS01031114400000069398000B4442111001000IDN018440104199001011234",
    ),
    (49, "156"),
];

fn build(dialect: &Dialect) -> Message<'_> {
    let mut m = Message::new(dialect, Mti::from_digits(*b"0200").unwrap());
    for (de, value) in REFERENCE {
        m.set(de, value);
    }
    m
}

/// iso87-ascii with a binary bitmap: the byte layout iso8583_rs can parse.
fn binary_bitmap_dialect() -> Dialect {
    let (_, text) = SOURCES.iter().find(|(n, _)| *n == "iso87-ascii").unwrap();
    let text = text.replacen(
        "encoding = \"hex\"\nsecondary",
        "encoding = \"binary\"\nsecondary",
        1,
    );
    let d = Dialect::from_toml("iso87-ascii-binary-bitmap", &text).unwrap();
    assert_eq!(
        d.bitmap_encoding(),
        adapter_protocols::iso8583::BitmapEncoding::Binary
    );
    d
}

fn rs_spec() -> &'static Spec {
    spec("iso87-ascii-0200")
}

fn rs_build(spec: &'static Spec) -> IsoMsg {
    let segment = spec.get_message_from_header("0200").unwrap();
    let mut m = new_msg(spec, segment);
    m.set("message_type", "0200").unwrap();
    for (de, value) in REFERENCE {
        m.set_on(u32::from(de), value).unwrap();
    }
    m
}

fn ours(c: &mut Criterion, label: &str, dialect: &Dialect) {
    let message = build(dialect);
    let bytes = message.to_bytes().unwrap();
    assert_eq!(
        dialect.decode(&bytes).unwrap().fields().count(),
        REFERENCE.len()
    );
    let mut group = c.benchmark_group(format!("reference-0200/{label}"));
    group.bench_function("decode", |b| {
        b.iter(|| dialect.decode(black_box(&bytes)).unwrap().mti())
    });
    group.bench_function("encode", |b| {
        b.iter(|| black_box(&message).to_bytes().unwrap())
    });
    group.bench_function("build+encode+decode", |b| {
        b.iter(|| {
            let bytes = build(dialect).to_bytes().unwrap();
            dialect
                .decode(black_box(&bytes))
                .map(|m| m.fields().count())
                .unwrap()
        })
    });
    group.finish();
}

fn iso8583_rs(c: &mut Criterion, expected: &[u8]) {
    let spec = rs_spec();
    let message = rs_build(spec);
    let mut bytes = message.assemble().unwrap();
    assert_eq!(
        bytes, expected,
        "iso8583_rs and our codec must produce the same frame"
    );
    let mut group = c.benchmark_group("reference-0200/iso8583_rs-0.1.10");
    group.bench_function("decode", |b| {
        b.iter(|| spec.parse(black_box(&mut bytes)).unwrap().fd_map.len())
    });
    group.bench_function("encode", |b| {
        b.iter(|| black_box(&message).assemble().unwrap())
    });
    group.bench_function("build+encode+decode", |b| {
        b.iter(|| {
            let mut bytes = rs_build(spec).assemble().unwrap();
            spec.parse(black_box(&mut bytes)).unwrap().fd_map.len()
        })
    });
    group.finish();
}

fn reference_0200(c: &mut Criterion) {
    let hex_bitmap = builtin("iso87-ascii").unwrap().unwrap();
    let binary_bitmap = binary_bitmap_dialect();
    ours(c, "ours-iso87-ascii", hex_bitmap);
    ours(c, "ours-iso87-ascii-binary-bitmap", &binary_bitmap);
    let expected = build(&binary_bitmap).to_bytes().unwrap();
    iso8583_rs(c, &expected);
}

criterion_group!(benches, reference_0200);
criterion_main!(benches);
