//! Display and Debug never show card numbers, track data, PIN blocks, keys or personal data.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use adapter_protocols::iso8583::subfield::Subfield;
use adapter_protocols::iso8583::{Message, SubKey, Value, builtin};

#[test]
fn card_data_is_masked_or_wiped() {
    let dialect = builtin("iso87-ascii").unwrap().unwrap();
    let mut m = Message::new(dialect, "0200".parse().unwrap());
    m.set(2, "6222021234567890123")
        .set(35, "6222021234567890123=30122011234567890")
        .set(52, vec![0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0])
        .set(11, "000123");
    let shown = format!("{m} {m:?}");
    assert!(shown.contains("DE2=622202*********0123"), "{shown}");
    assert!(shown.contains("DE35=[wiped, 37 bytes]"), "{shown}");
    assert!(shown.contains("DE52=[wiped, 8 bytes]"), "{shown}");
    assert!(shown.contains("DE11=000123"), "{shown}");
    assert!(!shown.contains("30122011234567890"));
    assert!(!shown.contains("123456789ABCDEF0"));
    // Values on their own never show their content in Debug either.
    assert_eq!(format!("{:?}", m.get(2).unwrap()), "Text(19 bytes)");
}

#[test]
fn sensitive_tlv_tags_are_wiped_and_the_rest_shown() {
    let dialect = builtin("gov-bill").unwrap().unwrap();
    let mut m = Message::new(dialect, "0200".parse().unwrap());
    let tag = |t: &str, v: &'static str| Subfield {
        key: SubKey::Tag(t.to_owned()),
        value: Value::from(v),
    };
    m.set_subfields(
        48,
        &[
            tag("PN01", "4400252611280000123"),
            tag("PR01", "张三"),
            tag("ID01", "11010519491231002X"),
        ],
    )
    .unwrap();
    let shown = m.to_string();
    assert!(shown.contains("PN01=4400252611280000123"), "{shown}");
    assert!(shown.contains("PR01=[wiped, 6 bytes]"), "{shown}");
    assert!(shown.contains("ID01=[wiped, 18 bytes]"), "{shown}");
    assert!(!shown.contains("张三") && !shown.contains("11010519491231002X"));
}
