#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The daemon end to end: `Daemon::start` on embedded defaults in an empty directory (the
//! in-process sandbox platform, the development PKI, the SQLite journal), terminals speaking
//! TSP over real TLS and WebSocket on 127.0.0.1 with the certificates it generated.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adapter_conformance::sim::devices::{self, Devices};
use adapter_conformance::sim::terminal::{FULL_STM, session_open};
use adapter_core::shipped::shipped;
use adapter_daemon::config::Config;
use adapter_daemon::daemon::{Daemon, DataSource};
use adapter_daemon::journal::FieldCipher;
use adapter_daemon::journal::sqlite::SqliteStore;
use adapter_daemon::journal::verify::{Problem, verify};
use adapter_daemon::sandbox;
use adapter_protocols::tsp::client::{ClientConfig, ClientEvent, StepCommand, TerminalClient};
use adapter_protocols::tsp::{self, CompletionPayload, Outcome};

const ZHANG_WEI: (&str, &str) = ("440106198503151014", "张伟");
const CERTIFICATE: &str = "442001001000"; // 户籍证明开具: identify, form, confirm, deliver (PDF), rate
const TEMPORARY_ID: &str = "440701015000"; // 临时居民身份证申领: e-licence material, a fixed fee
const ELDERLY_ALLOWANCE: &str = "440504004000"; // 高龄老人津贴申领: e-licence, sign, submit
const TRAFFIC_FINE: &str = "440201008000"; // 交通违法罚款缴纳: a payment notice
const MARRIAGE_APPOINTMENT: &str = "442004001000"; // 婚姻登记预约: slots at a hall, booking
const FINE_NOTICE: &str = "44010026110000012345";

/// Offers are planned as on Tuesday 2026-12-01 at 10:00 CST, a working day with every hall
/// open, and the clock runs on from there.
fn tuesday_morning() -> adapter_daemon::gateway::tsp::Clock {
    let base = time::macros::datetime!(2026-12-01 10:00 +08:00);
    let started = std::time::Instant::now();
    std::sync::Arc::new(move || base + started.elapsed())
}

struct Running {
    daemon: Daemon,
    dir: tempfile::TempDir,
}

fn config(dir: &Path) -> Config {
    let mut config = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    config.tsp.listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.iso8583.listen = "127.0.0.1:0".parse().unwrap();
    config.tsp.drain_seconds = 2;
    config
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_in(dir.path()).await;
    Running { daemon, dir }
}

async fn start_in(dir: &Path) -> Daemon {
    if std::env::var_os("STM_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=warn,reqwest=warn")
            .with_test_writer()
            .try_init();
    }
    let source = DataSource {
        load: Box::new(|| Ok(shipped())),
        sandbox: sandbox::shipped(),
        clock: tuesday_morning(),
    };
    Daemon::start(config(dir), source).await.unwrap()
}

impl Running {
    fn pki(&self) -> PathBuf {
        self.dir.path().join("data/pki")
    }

    fn terminal(&self, id: &str) -> ClientConfig {
        terminal_config(&self.daemon, &self.pki(), id)
    }
}

fn terminal_config(daemon: &Daemon, pki: &Path, id: &str) -> ClientConfig {
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    let mut config = ClientConfig::new(
        daemon.endpoints.tsp.to_string(),
        "localhost",
        read(pki.join("ca.pem")),
        read(pki.join(format!("terminals/{id}.pem"))),
        read(pki.join(format!("terminals/{id}-key.pem"))),
    );
    config.initial_backoff = Duration::from_millis(20);
    config
}

/// Session.Open of a full STM (every device), as the conformance kit's simulator sends it.
fn open_payload() -> tsp::SessionOpen {
    session_open(&FULL_STM)
}

/// What 张伟 does at the terminal at each step: the conformance kit's virtual devices (ID card
/// and face, the fine's notice number typed in, an approved card, printers that check PDFs).
fn answer(command: &StepCommand) -> CompletionPayload {
    let (id, _) = ZHANG_WEI;
    let mut devices = Devices::new(devices::citizen(id).unwrap());
    devices.notice = Some(FINE_NOTICE.to_owned());
    devices
        .answer(command)
        .unwrap()
        .expect("the card reader approves every payment")
}

/// Runs an item to its end; the steps seen (without the `Step.` prefix) and the outcome.
async fn run_item(client: &mut TerminalClient, code: &str) -> (tsp::ItemOutcome, Vec<String>) {
    let item = client.start_item(code).await.unwrap();
    let (outcome, steps) = finish_item(client, item).await;
    let steps = steps
        .iter()
        .map(|s| s.trim_start_matches("Step.").to_owned())
        .collect();
    (outcome, steps)
}

/// Answers the steps of item `item` as 张伟 would until it ends; the step commands seen and the
/// outcome. PDFs handed over are checked.
async fn finish_item(client: &mut TerminalClient, item: u64) -> (tsp::ItemOutcome, Vec<String>) {
    let mut steps = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), client.next())
            .await
            .expect("the daemon answers within 20 s")
            .unwrap();
        match event {
            ClientEvent::Step(step) => {
                steps.push(step.command.name().as_str().to_owned());
                if let StepCommand::Deliver(d) = &step.command {
                    for output in &d.outputs {
                        if let Some(doc) = &output.document {
                            let bytes = doc.expose().decode().unwrap();
                            assert!(bytes.starts_with(b"%PDF-"), "{} is a PDF", output.result);
                        }
                    }
                }
                client
                    .complete(step.request_id, answer(&step.command))
                    .await
                    .unwrap();
            }
            ClientEvent::ItemEnded {
                request_id,
                outcome,
            } => {
                assert_eq!(request_id, item);
                return (outcome, steps);
            }
            other => panic!("item {item}: unexpected {other:?}"),
        }
    }
}

async fn journal_report(dir: &Path) -> adapter_daemon::journal::verify::Report {
    let key = std::fs::read_to_string(dir.join("data/journal.key")).unwrap();
    let cipher = FieldCipher::from_hex(key.trim()).unwrap();
    let store = SqliteStore::open(&dir.join("data/journal.sqlite"))
        .await
        .unwrap();
    let report = verify(&store, cipher.chain_key()).await.unwrap();
    store.close().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sessions_for_several_items_then_the_journal_verifies() {
    let r = start().await;
    let mut client = TerminalClient::connect(r.terminal("STM-DEMO-0001"))
        .await
        .unwrap();
    client.open(open_payload()).await.unwrap();
    let offer = client.get_offer().await.unwrap();
    for code in [
        CERTIFICATE,
        TEMPORARY_ID,
        ELDERLY_ALLOWANCE,
        TRAFFIC_FINE,
        MARRIAGE_APPOINTMENT,
    ] {
        assert!(
            offer.offered.iter().any(|o| o.code == code),
            "{code} is offered"
        );
    }

    let (outcome, steps) = run_item(&mut client, CERTIFICATE).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert_eq!(steps, ["Identify", "Form", "Confirm", "Deliver", "Rate"]);

    let (outcome, steps) = run_item(&mut client, TEMPORARY_ID).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert!(
        steps.contains(&"Pay".to_owned()) && steps.contains(&"Materials".to_owned()),
        "{steps:?}"
    );
    assert!(
        outcome.receipt_number.is_some(),
        "the fee was confirmed: {outcome:?}"
    );

    let (outcome, steps) = run_item(&mut client, ELDERLY_ALLOWANCE).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert!(steps.contains(&"Submit".to_owned()), "{steps:?}");
    assert!(
        outcome
            .case_number
            .as_deref()
            .is_some_and(|c| c.starts_with("GD")),
        "{outcome:?}"
    );

    let (outcome, _) = run_item(&mut client, TRAFFIC_FINE).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert!(outcome.receipt_number.is_some(), "{outcome:?}");

    // A booking at the Tianhe hall, from the date the citizen asked for (2026-12-15).
    let (outcome, steps) = run_item(&mut client, MARRIAGE_APPOINTMENT).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert_eq!(
        steps,
        [
            "Identify",
            "Form",
            "Confirm",
            "Appointment",
            "Deliver",
            "Rate"
        ]
    );
    let booking = outcome.booking_number.clone().unwrap_or_default();
    assert!(booking.starts_with("BK-20261215-"), "{outcome:?}");
    client.close(None).await.unwrap();

    // The admin API saw it all.
    let admin = format!("http://{}", r.daemon.endpoints.admin);
    let http = admin_client();
    let metrics = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("stm_adapter_items_ended_total{outcome=\"Completed\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stm_adapter_payments_total{kind=\"confirmed\"} 2"),
        "{metrics}"
    );
    let ready = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let dir = r.dir;
    r.daemon.stop().await;
    let report = journal_report(dir.path()).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(report.records > 40, "{}", report.records);

    // Tampering is found and named.
    let conn = rusqlite::Connection::open(dir.path().join("data/journal.sqlite")).unwrap();
    conn.execute_batch(
        "UPDATE journal SET body = replace(body, 'Completed', 'Failed') WHERE kind = 'ItemEnded'",
    )
    .unwrap();
    conn.close().unwrap();
    let report = journal_report(dir.path()).await;
    assert!(
        matches!(report.problems.first(), Some(Problem::Edited { .. })),
        "{:?}",
        report.problems
    );
}

/// The admin port speaks plain HTTP on loopback; reqwest still wants a TLS configuration, and
/// the workspace builds it without a default crypto provider.
fn admin_client() -> reqwest::Client {
    let tls = adapter_daemon::tls::trust_nothing_client_config().unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_without_a_certificate_or_unknown_ones_are_refused() {
    let r = start().await;
    // A certificate from another CA.
    let stranger = adapter_daemon::pki::DevCa::generate().unwrap();
    let cert = stranger.terminal("STM-DEMO-0001").unwrap();
    let mut config = r.terminal("STM-DEMO-0001");
    config.certificate_pem = cert.certificate_pem.into_bytes();
    config.key_pem = cert.key_pem.into_bytes();
    let refused = async {
        let mut c = TerminalClient::connect(config).await?;
        c.open(open_payload()).await
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .unwrap()
            .is_err()
    );

    // A certificate of our CA for a terminal the registry does not know.
    let ca = adapter_daemon::pki::DevCa::open_or_create(&r.pki()).unwrap();
    let unknown = ca.terminal("STM-UNKNOWN-9999").unwrap();
    let mut config = r.terminal("STM-DEMO-0001");
    config.certificate_pem = unknown.certificate_pem.into_bytes();
    config.key_pem = unknown.key_pem.into_bytes();
    let refused = async {
        let mut c = TerminalClient::connect(config).await?;
        c.open(open_payload()).await
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .unwrap()
            .is_err()
    );

    // No client certificate at all: the TLS handshake fails.
    let tcp = tokio::net::TcpStream::connect(r.daemon.endpoints.tsp)
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_file_iter(r.pki().join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let result = async {
        let mut stream = connector.connect(name, tcp).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /tsp/v1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = [0u8; 1];
        stream.read_exact(&mut buf).await
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), result)
            .await
            .unwrap()
            .is_err()
    );
    r.daemon.stop().await;
}

/// The operator reloads the catalogue while a citizen is mid-item: the item finishes on the plan
/// it started with; /v1 wants the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_mid_item_does_not_drop_the_session() {
    let r = start().await;
    let mut client = TerminalClient::connect(r.terminal("STM-DEMO-0001"))
        .await
        .unwrap();
    client.open(open_payload()).await.unwrap();
    let item = client.start_item(CERTIFICATE).await.unwrap();
    let ClientEvent::Step(first) = client.next().await.unwrap() else {
        panic!("the first step")
    };

    let admin = format!("http://{}", r.daemon.endpoints.admin);
    let token = std::fs::read_to_string(r.dir.path().join("data/admin.token")).unwrap();
    let http = admin_client();
    let refused = http
        .post(format!("{admin}/v1/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = http
        .post(format!("{admin}/v1/reload"))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let reloaded = http
        .post(format!("{admin}/v1/reload"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reloaded: serde_json::Value = serde_json::from_str(&reloaded).unwrap();
    assert_eq!(
        reloaded,
        serde_json::json!({"reloaded": true, "items": 131})
    );
    let sessions = http
        .get(format!("{admin}/v1/sessions"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sessions: serde_json::Value = serde_json::from_str(&sessions).unwrap();
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(1),
        "{sessions}"
    );
    assert_eq!(sessions["sessions"][0]["terminalId"], "STM-DEMO-0001");

    client
        .complete(first.request_id, answer(&first.command))
        .await
        .unwrap();
    let (outcome, _) = finish_item(&mut client, item).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    r.daemon.stop().await;
}

/// A terminal that comes back on a new connection while the daemon still holds the old one
/// (a half-open TCP connection, a restarted terminal application): what the old connection says
/// afterwards, its drop included, must not detach the session from the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_connection_dropping_after_a_resume_leaves_the_new_one_attached() {
    let r = start().await;
    let mut old = TerminalClient::connect(r.terminal("STM-DEMO-0001"))
        .await
        .unwrap();
    old.open(open_payload()).await.unwrap();
    let item = old.start_item(CERTIFICATE).await.unwrap();
    let ClientEvent::Step(_) = old.next().await.unwrap() else {
        panic!("the first step")
    };
    let token = old.resume_token().cloned().unwrap();

    let mut new = TerminalClient::connect(r.terminal("STM-DEMO-0001"))
        .await
        .unwrap();
    new.resume_with(token).await.unwrap();
    old.abort_connection();
    drop(old);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Steps keep coming on the new connection.
    let (outcome, steps) = finish_item(&mut new, item).await;
    assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
    assert_eq!(steps.first().map(String::as_str), Some("Step.Identify"));
    r.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_reconnects_and_resumes_mid_flow() {
    let r = start().await;
    let mut client = TerminalClient::connect(r.terminal("STM-DEMO-0001"))
        .await
        .unwrap();
    client.open(open_payload()).await.unwrap();
    let item = client.start_item(CERTIFICATE).await.unwrap();
    let ClientEvent::Step(identify) = client.next().await.unwrap() else {
        panic!()
    };
    client
        .complete(identify.request_id, answer(&identify.command))
        .await
        .unwrap();
    // The form is on the screen (so the daemon has the identity) when the line drops. Dropping
    // it right after sending the completion would leave open whether the completion got through
    // (a reset can overtake it), and either way is correct: the daemon would send the identify
    // step again.
    let ClientEvent::Step(form) = client.next().await.unwrap() else {
        panic!("the form")
    };
    assert_eq!(form.command.name().as_str(), "Step.Form");

    // The terminal comes back and resumes: the form comes again, under its request id.
    client.abort_connection();
    let resumed = tokio::time::timeout(Duration::from_secs(10), client.reconnect())
        .await
        .unwrap()
        .unwrap();
    assert!(!resumed.session_id.is_empty());
    assert_eq!(resumed.pending_request_id, Some(form.request_id));
    let (outcome, steps) = finish_item(&mut client, item).await;
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert_eq!(
        steps.first().map(String::as_str),
        Some("Step.Form"),
        "{steps:?}"
    );
    client.close(None).await.unwrap();
    let dir = r.dir;
    r.daemon.stop().await;
    let report = journal_report(dir.path()).await;
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_pki_and_continues_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_in(dir.path()).await;
    let ca = std::fs::read(dir.path().join("data/pki/ca.pem")).unwrap();
    first.stop().await;
    let second = start_in(dir.path()).await;
    assert_eq!(
        std::fs::read(dir.path().join("data/pki/ca.pem")).unwrap(),
        ca
    );
    let mut client = TerminalClient::connect(terminal_config(
        &second,
        &dir.path().join("data/pki"),
        "STM-DEMO-0002",
    ))
    .await
    .unwrap();
    client.open(open_payload()).await.unwrap();
    client.close(None).await.unwrap();
    assert_eq!(second.reload().unwrap(), 131);
    second.stop().await;
    let report = journal_report(dir.path()).await;
    assert!(report.is_intact(), "{:?}", report.problems);
}
