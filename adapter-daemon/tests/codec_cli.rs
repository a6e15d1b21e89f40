//! The `stm-adapter codec` contract, through the real binary: what other tools parse.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const SIGN_ON: &str = "003C 6004010000 603100310001 0800 0020000000C00012 000029 \
    3632393639303032 333031333130303438393930303031 0011 000001320030 0003 303031";

fn stm_adapter(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stm-adapter"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn dialects_lists_one_name_a_line() {
    let o = stm_adapter(&["codec", "dialects"], None);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        [
            "iso87-ascii",
            "iso87-binary",
            "iso93-ascii",
            "cups-terminal",
            "gov-bill"
        ]
    );
}

#[test]
fn decode_prints_one_json_object() {
    let o = stm_adapter(
        &[
            "codec",
            "decode",
            "--dialect",
            "cups-terminal",
            "--framed",
            "--hex",
            SIGN_ON,
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "mti": "0800", "tpdu": "6004010000", "header": "603100310001",
            "fields": {"11": "000029", "41": "62969002", "42": "301310048990001",
                       "60": {"1": "00", "2": "000132", "3": "003"}, "63": "001"}
        })
    );
}

#[test]
fn decode_then_encode_gives_back_the_same_bytes_for_every_vector() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/iso8583");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let dialect = v["dialect"].as_str().unwrap();
        let hex: String = v["hex"].as_str().unwrap().split_whitespace().collect();
        let framed = v["framed"].as_bool().unwrap();
        let mut args = vec!["codec", "decode", "--dialect", dialect, "--hex", &hex];
        if framed {
            args.push("--framed");
        }
        let decoded = stm_adapter(&args, None);
        assert!(
            decoded.status.success(),
            "{}: {}",
            path.display(),
            stderr(&decoded)
        );
        let mut args = vec!["codec", "encode", "--dialect", dialect, "--json", "-"];
        if framed {
            args.push("--framed");
        }
        let encoded = stm_adapter(&args, Some(&stdout(&decoded)));
        assert!(
            encoded.status.success(),
            "{}: {}",
            path.display(),
            stderr(&encoded)
        );
        assert_eq!(stdout(&encoded).trim(), hex, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 13);
}

#[test]
fn bad_input_exits_1_with_nothing_on_stdout_and_the_field_and_offset_on_stderr() {
    // DE2 announces 25 digits in a dialect that allows 19.
    let o = stm_adapter(
        &[
            "codec",
            "decode",
            "--dialect",
            "iso87-ascii",
            "--hex",
            "303230303430303030303030303030303030303032353132",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.contains("DE 2 at byte 20"), "{err}");
    assert!(err.contains("exceeds the maximum 19"), "{err}");
}

#[test]
fn refusals_never_echo_field_values() {
    // A PAN with a letter in it: the error names the position, never the digits.
    let json = r#"{"mti":"0200","fields":{"2":"622202123456789X"}}"#;
    let o = stm_adapter(
        &["codec", "encode", "--dialect", "iso87-ascii", "--json", "-"],
        Some(json),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.contains("DE 2"), "{err}");
    assert!(!err.contains("622202"), "{err}");
}

#[test]
fn unknown_dialect_is_a_usage_error() {
    let o = stm_adapter(
        &["codec", "decode", "--dialect", "nope", "--hex", "00"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gov-bill"));
}

#[test]
fn a_dialect_file_can_replace_a_shipped_dialect() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/dialects/cups-terminal.toml");
    let o = stm_adapter(
        &[
            "codec",
            "decode",
            "--dialect-file",
            path.to_str().unwrap(),
            "--framed",
            "--hex",
            SIGN_ON,
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
}
