//! Every golden and error vector in fixtures/vectors/iso8583/ passes.

use std::path::Path;

use adapter_conformance::vectors::run_dir;

#[test]
fn golden_and_error_vectors_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/iso8583");
    let outcomes = run_dir(&dir).unwrap_or_default();
    let golden = outcomes
        .iter()
        .filter(|o| !o.file.starts_with(dir.join("errors")))
        .count();
    assert!(
        golden >= 13,
        "expected at least 13 golden vectors, found {golden}"
    );
    assert!(
        outcomes.len() - golden >= 10,
        "expected at least 10 error vectors"
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.to_string())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
