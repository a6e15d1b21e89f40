#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The conformance suites (fixtures/conformance) against an in-process daemon on the embedded
//! defaults: every case must pass, and a case whose expectation is wrong must fail — the kit
//! certifies nothing if it cannot fail.

use adapter_conformance::report;
use adapter_conformance::run::{CaseResult, RunNumber, RunOptions, Status, run};
use adapter_conformance::scenario::{self, Suite};
use adapter_conformance::target::Target;

/// Runs `suites` against a daemon started in-process on the embedded defaults, its printers
/// saving into `prints`; the daemon is stopped after.
async fn run_in_process(suites: &[Suite], prints: &std::path::Path) -> Vec<CaseResult> {
    let target = Target::in_process().await.unwrap();
    let options = RunOptions {
        print_dir: prints.to_path_buf(),
        run_number: RunNumber::fresh(),
    };
    let results = run(&target, suites, &options, &mut |_, _, _| {}).await;
    target.stop().await;
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_case_passes_against_the_embedded_defaults() {
    let suites = scenario::shipped(None).unwrap();
    let prints = tempfile::tempdir().unwrap();
    let results = run_in_process(&suites, prints.path()).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.status {
            Status::Failed(why) => {
                Some(format!("{} / {}: {why} (seen {})", r.suite, r.name, r.seen))
            }
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let t = report::totals(&results);
    assert!(t.passed >= 40, "{t:?}");
    assert_eq!(t.skipped, 0, "an in-process daemon can run every case");
    // The printers saved PDFs.
    let printed = walk(prints.path());
    assert!(
        !printed.is_empty() && printed.iter().all(|p| p.ends_with(".pdf")),
        "{printed:?}"
    );
    // The JUnit report of the run, where CI systems pick it up.
    let junit = report::junit(&results);
    assert!(junit.contains(&format!("tests=\"{}\" failures=\"0\"", results.len())));
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-junit.xml");
    std::fs::write(out, junit).unwrap();
}

/// A bank certifies a deployment more than once: the shipped suites run twice against one
/// daemon, each run with its own notices, acquirers and batches, pass both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_repeated_against_the_same_daemon_passes_again() {
    let suites: Vec<Suite> = scenario::shipped(None).unwrap();
    let target = Target::in_process().await.unwrap();
    let prints = tempfile::tempdir().unwrap();
    for number in [11, 12] {
        let options = RunOptions {
            print_dir: prints.path().to_path_buf(),
            run_number: RunNumber::new(number).unwrap(),
        };
        let results = run(&target, &suites, &options, &mut |_, _, _| {}).await;
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !matches!(r.status, Status::Passed))
            .map(|r| {
                format!(
                    "run {number}: {} / {}: {:?} (seen {})",
                    r.suite, r.name, r.status, r.seen
                )
            })
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
    target.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_fails_and_says_what_was_seen() {
    let suite = scenario::parse(
        "negative",
        r#"
name = "negative"
description = "expectations the daemon must not meet"

[[case]]
name = "a certificate print has no payment"
protocol = "tsp"
item = "442001001000"
expect = { outcome = "Completed", includes = ["Pay"] }

[[case]]
name = "an inquiry before sign-on is not approved"
protocol = "gov-bill"
exchange = [{ send = "inquiry", notice = "44010026120000000031", expect = "00" }]
"#,
    )
    .unwrap();
    let prints = tempfile::tempdir().unwrap();
    let results = run_in_process(&[suite], prints.path()).await;
    let why: Vec<&str> = results
        .iter()
        .map(|r| match &r.status {
            Status::Failed(w) => w.as_str(),
            other => panic!("{}: {other:?}", r.name),
        })
        .collect();
    assert!(why[0].contains("no Pay step"), "{why:?}");
    assert!(why[1].contains("DE39 12, expected 00"), "{why:?}");
}

/// A case that fails still closes the session it opened: the daemon allows a terminal two, and
/// sessions left open by failed cases would make the third case fail for want of one (and a
/// repeated run against a deployment, for as long as they lasted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_case_leaves_no_session_open() {
    let case = r#"
[[case]]
name = "an item the catalogue lacks is offered"
protocol = "tsp"
offered = ["449999999999"]
"#;
    let suite = scenario::parse(
        "leaks",
        &format!("name = \"leaks\"\ndescription = \"\"\n{}", case.repeat(3)),
    )
    .unwrap();
    let prints = tempfile::tempdir().unwrap();
    let results = run_in_process(&[suite], prints.path()).await;
    assert_eq!(results.len(), 3);
    for r in &results {
        match &r.status {
            Status::Failed(why) => assert!(why.contains("449999999999 is not offered"), "{why}"),
            other => panic!("{}: {other:?}", r.name),
        }
    }
}

#[test]
fn a_suite_with_a_case_that_cannot_run_is_refused_at_load() {
    let e = scenario::parse(
        "bad",
        "name = \"bad\"\ndescription = \"\"\n[[case]]\nname = \"x\"\nprotocol = \"gov-bill\"\n",
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("needs `exchange`"), "{e:#}");
    let e = scenario::parse(
        "bad",
        "name = \"bad\"\ndescription = \"\"\n[[case]]\nname = \"x\"\nprotocol = \"tsp\"\nitem = \"1\"\ncolour = \"red\"\n",
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("colour"), "{e:#}");
}
