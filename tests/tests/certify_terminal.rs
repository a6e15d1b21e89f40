#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! Certifying a terminal implementation: the kit plays the daemon, the terminal under test
//! connects to it. A well-behaved terminal (the kit's own simulator) covers the checklist with
//! no problem found; a terminal that answers a step it was never sent is caught.

use std::time::Duration;

use adapter_conformance::certify::Certification;
use adapter_conformance::run::Status;
use adapter_conformance::sim::devices::{self, Devices};
use adapter_conformance::sim::terminal::{Script, TerminalSim};
use adapter_protocols::tsp::client::ClientConfig;
use adapter_protocols::tsp::{self, CompletionPayload};

fn terminal(c: &Certification) -> ClientConfig {
    let read = |p: &str| std::fs::read(c.pki.join(p)).unwrap();
    let mut config = ClientConfig::new(
        c.listen.to_string(),
        "localhost",
        read("ca.pem"),
        read("terminals/STM-DEMO-0001.pem"),
        read("terminals/STM-DEMO-0001-key.pem"),
    );
    config.initial_backoff = Duration::from_millis(50);
    config
}

fn citizen() -> Devices {
    Devices::new(devices::citizen("440106198503151014").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_follows_the_protocol_covers_the_checklist() {
    let dir = tempfile::tempdir().unwrap();
    let c = Certification::start("127.0.0.1:0".parse().unwrap(), dir.path())
        .await
        .unwrap();
    let mut sim = TerminalSim::open(terminal(&c), citizen()).await.unwrap();
    sim.client.get_offer().await.unwrap();
    let done = |run: &adapter_conformance::sim::terminal::ItemRun| run.outcome_name();
    let run = sim
        .run_item("442001001000", &Script::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(done(&run), "Completed");
    sim.devices.notice = Some("44010026110000012345".into());
    let run = sim
        .run_item("440201008000", &Script::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(done(&run), "Completed", "{run:?}");
    let cancel = Script {
        cancel_at: Some("Confirm".into()),
        ..Script::default()
    };
    let run = sim.run_item("442001001000", &cancel, |_| {}).await.unwrap();
    assert_eq!(done(&run), "Cancelled");
    let drop = Script {
        drop_at: Some("Form".into()),
        ..Script::default()
    };
    let run = sim.run_item("442001001000", &drop, |_| {}).await.unwrap();
    assert!(run.resumed);
    sim.close().await.unwrap();
    for _ in 0..100 {
        if c.sessions_closed() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let results = c.finish().await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.status {
            Status::Failed(why) => Some(format!("{}: {why}", r.name)),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(results.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_answers_a_step_never_sent_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let c = Certification::start("127.0.0.1:0".parse().unwrap(), dir.path())
        .await
        .unwrap();
    let mut sim = TerminalSim::open(terminal(&c), citizen()).await.unwrap();
    sim.client
        .complete(
            4242,
            CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true }),
        )
        .await
        .unwrap();
    sim.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let results = c.finish().await;
    let protocol = results.last().unwrap();
    match &protocol.status {
        Status::Failed(why) => assert!(
            why.contains("answered Step.Confirm with request id 4242, which is no open step"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    // It opened and closed a session, and did nothing else of the checklist.
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Passed)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        passed,
        [
            "the terminal opens a session (Session.Open with its devices)",
            "the terminal closes its session (Session.Close)"
        ]
    );
}
