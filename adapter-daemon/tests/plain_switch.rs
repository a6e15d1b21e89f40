#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! A switch that knows nothing but docs/iso8583-binding.md — scripts/plain-switch.py, a plain
//! socket and hand-built messages, no ISO 8583 library — signs on, echoes, inquires, pays,
//! reverses and signs off against a real `stm-adapter serve`. Skipped (and says so) where there
//! is no python3.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn a_switch_written_from_the_binding_alone_gets_the_promised_answers() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: no python3 on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_stm-adapter"))
        .arg("serve")
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env("STM_ADAPTER__TSP__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ADMIN__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ISO8583__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = daemon.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let address = lines.by_ref().find_map(|l| {
        l.trim()
            .strip_prefix("ISO 8583 (switch) tcp://")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    });
    // Keep reading what the daemon prints, as an operator's terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/plain-switch.py");
    let out = address.map(|address| {
        Command::new("python3")
            .arg(script)
            .args(["--address", &address])
            .args(["--notice", "44010026120000000002", "--amount", "1200"])
            .output()
            .unwrap()
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let out = out.expect("the daemon printed its ISO 8583 address");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "sign-on", "echo", "inquiry", "payment", "reversal", "sign-off",
    ] {
        assert!(text.contains(&format!("{step}: ")), "{step} in {text}");
    }
}
