//! MAC and key check values against published vectors (fixtures/vectors/mac/).

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::Path;

use adapter_protocols::iso8583::mac::{MacKey, mac_eq, retail_mac, unionpay_mac};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    vector: Vec<MacVector>,
    check_value: Vec<CheckValue>,
}

#[derive(Deserialize)]
struct MacVector {
    algorithm: String,
    key: String,
    data_text: Option<String>,
    data_hex: Option<String>,
    mac: String,
    full: String,
    source: String,
}

#[derive(Deserialize)]
struct CheckValue {
    key: String,
    value: String,
}

fn load() -> Vectors {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/mac/mac-vectors.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn macs_match_published_vectors() {
    let v = load();
    assert!(v.vector.len() >= 4);
    for vector in v.vector {
        let key = MacKey::from_hex(&vector.key).unwrap();
        let data = match (&vector.data_text, &vector.data_hex) {
            (Some(t), None) => t.as_bytes().to_vec(),
            (None, Some(h)) => hex::decode(h.split_whitespace().collect::<String>()).unwrap(),
            _ => panic!("{}: give data_text or data_hex", vector.source),
        };
        let (mac, shown) = match vector.algorithm.as_str() {
            "x9.19" | "x9.9" => {
                let m = retail_mac(&key, &data);
                (m, hex::encode_upper(m))
            }
            "unionpay" => {
                let m = unionpay_mac(&key, &data);
                (m, String::from_utf8(m.to_vec()).unwrap())
            }
            other => panic!("unknown algorithm {other}"),
        };
        assert!(
            shown.starts_with(&vector.mac),
            "{}: got {shown}",
            vector.source
        );
        assert!(
            shown.starts_with(&vector.full),
            "{}: got {shown}",
            vector.source
        );
        assert!(mac_eq(&mac, &mac));
    }
}

#[test]
fn check_values_match() {
    for cv in load().check_value {
        let key = MacKey::from_hex(&cv.key).unwrap();
        assert_eq!(hex::encode_upper(key.check_value()), cv.value);
        assert_eq!(key.kcv(), cv.value[..6]);
    }
}

#[test]
fn keys_never_show_in_debug() {
    let key = MacKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "MacKey::Double(kcv 08D7B4)");
    assert!(MacKey::from_hex("0123").is_err());
    assert!(MacKey::from_hex("zz").is_err());
}

#[test]
fn key_material_is_wrapped_block_by_block() {
    let tmk = MacKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    // Eight zero bytes under the key are its check value: ECB is one block at a time.
    let wrapped = tmk.encrypt_ecb(&[0u8; 16]).unwrap();
    assert_eq!(
        hex::encode_upper(&wrapped[..]),
        "08D7B4FB629D088508D7B4FB629D0885"
    );
    let clear = b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xAA\xBB\xCC\xDD\xEE\xFF\x00";
    let round = tmk.decrypt_ecb(&tmk.encrypt_ecb(clear).unwrap()).unwrap();
    assert_eq!(&round[..], clear);
    assert!(tmk.encrypt_ecb(&[0u8; 7]).is_none());
}
