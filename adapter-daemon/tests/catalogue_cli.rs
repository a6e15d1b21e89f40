//! The `validate`, `calendar` and `catalogue` commands through the real binary: the JSON other
//! tools parse, and the exit codes.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stm-adapter"))
        .args(args)
        .output()
        .unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn validate_answers_valid_or_not_with_the_reason_and_the_parts() {
    let cases = [
        ("id-number", "11010519491231002x", true),
        ("id-number", "110105194912310021", false),
        ("credit-code", "91350100M000100Y43", true),
        ("credit-code", "91350100M000100Y4A", false),
        (
            "licence-id",
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
            true,
        ),
        (
            "licence-id",
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
            false,
        ),
        ("division", "440106", true),
        ("division", "441000", false),
        ("card-number", "6222021234567890128", true),
        ("card-number", "6222021234567890123", false),
        ("item-code", "11440100007482575H3440118009000", true),
        ("item-code", "11440100007482575H8440118009000", false),
    ];
    for (kind, value, valid) in cases {
        let o = run(&["validate", kind, value]);
        let v = json(&o);
        assert_eq!(v["valid"], valid, "{kind} {value}: {v}");
        assert_eq!(
            o.status.code(),
            Some(if valid { 0 } else { 1 }),
            "{kind} {value}"
        );
        assert_eq!(v["reason"].is_null(), valid, "{kind} {value}: {v}");
    }
    let id = json(&run(&["validate", "id-number", "11010519491231002X"]));
    assert_eq!(id["birth_date"], "1949-12-31");
    assert_eq!(id["sex"], "female");
    assert!(
        !id.to_string().contains("11010519491231002X"),
        "the number is never echoed in full"
    );
    assert_eq!(run(&["validate", "passport", "x"]).status.code(), Some(2));
}

#[test]
fn calendar_day_knows_holidays_make_up_days_and_site_windows() {
    let v = json(&run(&["calendar", "day", "2026-02-14"]));
    assert_eq!(
        (v["working_day"].clone(), v["reason"].clone()),
        (Value::Bool(true), "make-up working day".into())
    );
    let v = json(&run(&["calendar", "day", "2026-02-16"]));
    assert_eq!(v["reason"], "holiday: 春节");
    assert_eq!(v["working_day"], false);
    let v = json(&run(&["calendar", "day", "2025-05-03"]));
    assert_eq!(v["reason"], "holiday: 劳动节");
    let v = json(&run(&[
        "calendar",
        "day",
        "2026-11-27",
        "--site",
        "gz-tianhe-hall",
    ]));
    assert_eq!(v["open"], serde_json::json!(["09:00-17:00"]));
    let v = json(&run(&[
        "calendar",
        "day",
        "2026-11-28",
        "--site",
        "dg-city-hall",
    ]));
    assert_eq!(v["open"], serde_json::json!(["09:00-12:00", "13:00-16:00"]));
    assert_eq!(
        run(&["calendar", "day", "2026-13-01"]).status.code(),
        Some(2)
    );
}

#[test]
fn catalogue_stats_and_profiles() {
    let v = json(&run(&["catalogue", "stats"]));
    assert!(v["items"].as_u64().unwrap() >= 131);
    assert!(v["implementations"].as_u64().unwrap() > 2000);
    assert_eq!(v["departments"].as_object().unwrap().len(), 9);
    assert!(v["version"].as_str().unwrap().starts_with("sha256:"));
    let p = json(&run(&["catalogue", "profiles"]));
    let ids: Vec<&str> = p
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    for id in ["stm-full", "stm-no-a4", "atm-iso8583", "village-kiosk"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
}

#[test]
fn catalogue_offer_gives_flows_and_reasons() {
    let v = json(&run(&[
        "catalogue",
        "offer",
        "--profile",
        "stm-no-a4",
        "--division",
        "440100",
        "--at",
        "2026-11-27T10:00:00+08:00",
    ]));
    let reason_of = |name: &str| -> Value {
        v["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .map(|u| u["reason"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        reason_of("无房产证明开具"),
        serde_json::json!({"kind": "missing-device", "device": "a4-printer", "step": "deliver"})
    );
    let offered = v["offered"].as_array().unwrap();
    let cert = offered
        .iter()
        .find(|o| o["name"] == "户籍证明开具")
        .unwrap();
    let steps: Vec<&str> = cert["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["identify", "form", "confirm", "deliver", "rate"]);

    let atm = json(&run(&[
        "catalogue",
        "offer",
        "--profile",
        "atm-iso8583",
        "--division",
        "440100",
        "--at",
        "2026-11-27T10:00:00+08:00",
    ]));
    let protocol = atm["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "户籍证明开具")
        .unwrap();
    assert_eq!(
        protocol["reason"],
        serde_json::json!({"kind": "protocol", "step": "identify"})
    );

    let sz = json(&run(&[
        "catalogue",
        "offer",
        "--profile",
        "stm-full",
        "--division",
        "440300",
        "--at",
        "2026-11-29T10:00:00+08:00",
        "--site",
        "sz-futian-branch",
    ]));
    let kinds: Vec<&str> = sz["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["reason"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"not-implemented") && kinds.contains(&"closed"),
        "{kinds:?}"
    );

    assert_eq!(
        run(&[
            "catalogue",
            "offer",
            "--profile",
            "nope",
            "--division",
            "440100",
            "--at",
            "2026-11-27T10:00:00+08:00"
        ])
        .status
        .code(),
        Some(2)
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stm-adapter-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn catalogue_check_lists_every_problem_and_exits_1() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/catalogue");
    let dir = scratch("check");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let ok = run(&["catalogue", "check", dir.to_str().unwrap()]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Break two items in two files and a backend.
    let ps = dir.join("public-security.toml");
    let text =
        std::fs::read_to_string(&ps)
            .unwrap()
            .replacen("item_type = 20", "item_type = 31", 1);
    std::fs::write(&ps, text).unwrap();
    let hf = dir.join("housing-fund.toml");
    let text = std::fs::read_to_string(&hf).unwrap().replacen(
        "case_type = \"instant\"",
        "case_type = \"promised\"",
        1,
    );
    std::fs::write(&hf, text).unwrap();
    let o = run(&["catalogue", "check", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    let files: Vec<&str> = problems
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("public-security.toml")),
        "{problems:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("housing-fund.toml")),
        "{problems:?}"
    );
    assert!(problems.iter().all(|p| p["message"].is_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_dir_replaces_the_shipped_data() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let v = json(&run(&[
        "--data",
        fixtures.to_str().unwrap(),
        "catalogue",
        "stats",
    ]));
    let shipped = json(&run(&["catalogue", "stats"]));
    assert_eq!(v["version"], shipped["version"]);
    let missing = run(&["--data", "/nonexistent", "catalogue", "stats"]);
    assert_eq!(missing.status.code(), Some(2));
}
