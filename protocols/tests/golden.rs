//! Golden vectors: every file in fixtures/vectors/iso8583/ decodes to exactly its expected JSON
//! form, and that JSON encodes back to exactly its bytes; every file in errors/ fails with
//! exactly its expected location, offset and kind.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use adapter_protocols::framing::FrameHeader;
use adapter_protocols::iso8583::json::{from_json, to_json};
use adapter_protocols::iso8583::{DecodeError, builtin};
use serde::Deserialize;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/iso8583")
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    files
}

fn unhex(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).unwrap_or_else(|e| panic!("bad hex in vector: {e}"))
}

#[derive(Deserialize)]
struct Golden {
    description: String,
    dialect: String,
    framed: bool,
    hex: String,
    expect: toml::Value,
}

#[derive(Deserialize)]
struct Broken {
    description: String,
    dialect: String,
    framed: bool,
    hex: String,
    error: ExpectedError,
}

#[derive(Deserialize)]
struct ExpectedError {
    location: String,
    offset: usize,
    kind: String,
}

fn kind_name(e: &DecodeError) -> String {
    let debug = format!("{:?}", e.kind);
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn golden_vectors_decode_and_encode_exactly() {
    let files = toml_files(&vectors_dir());
    assert!(
        files.len() >= 12,
        "expected at least 12 golden vectors, found {}",
        files.len()
    );
    for path in files {
        let name = path.display().to_string();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v: Golden = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dialect = builtin(&v.dialect)
            .unwrap_or_else(|| panic!("{name}: no dialect {}", v.dialect))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = unhex(&v.hex);

        let (header, message) = if v.framed {
            dialect.decode_frame(&bytes)
        } else {
            dialect.decode(&bytes).map(|m| (FrameHeader::default(), m))
        }
        .unwrap_or_else(|e| panic!("{name} ({}): {e}", v.description));
        let got = to_json(&header, &message).unwrap_or_else(|e| panic!("{name}: {e}"));

        let mut expected =
            serde_json::to_value(&v.expect).unwrap_or_else(|e| panic!("{name}: {e}"));
        for key in ["tpdu", "header"] {
            if let Some(obj) = expected.as_object_mut() {
                obj.entry(key).or_insert(serde_json::Value::Null);
            }
        }
        assert_eq!(got, expected, "{name}: decoded form differs");

        let (json_header, rebuilt) =
            from_json(dialect, &expected).unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = if v.framed {
            rebuilt.to_frame(&json_header.as_frame_header())
        } else {
            rebuilt.to_bytes()
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode_upper(&encoded),
            hex::encode_upper(&bytes),
            "{name}: re-encoding differs"
        );
    }
}

#[test]
fn malformed_vectors_fail_exactly_as_expected() {
    let files = toml_files(&vectors_dir().join("errors"));
    assert!(
        files.len() >= 10,
        "expected at least 10 error vectors, found {}",
        files.len()
    );
    for path in files {
        let name = path.display().to_string();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v: Broken = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dialect = builtin(&v.dialect)
            .unwrap_or_else(|| panic!("{name}: no dialect {}", v.dialect))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = unhex(&v.hex);
        let result = if v.framed {
            dialect.decode_frame(&bytes).map(|_| ())
        } else {
            dialect.decode(&bytes).map(|_| ())
        };
        let Err(err) = result else {
            panic!(
                "{name} ({}): decoded although it is malformed",
                v.description
            );
        };
        assert_eq!(
            (err.location.to_string(), err.offset, kind_name(&err)),
            (
                v.error.location.clone(),
                v.error.offset,
                v.error.kind.clone()
            ),
            "{name}: {err}"
        );
    }
}
