//! The terminal client talking to the TSP gateway over real TLS and WebSocket on 127.0.0.1,
//! with the platform played by `MockPlatformApi`: a full item, cancel, resume after a dropped
//! connection, duplicate completions, and refused certificates.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_core::platform::*;
use adapter_core::session::JournalEntry;
use adapter_core::shipped::{DataSet, shipped};
use adapter_daemon::gateway::tsp::{
    JournalError, JournalEvent, JournalRecord, JournalSink, TspConfig, TspGateway,
};
use adapter_daemon::pki::{CertifiedKey, DevCa};
use adapter_daemon::registry::TerminalRegistry;
use adapter_protocols::tsp::client::{ClientConfig, ClientEvent, StepCommand, TerminalClient};
use adapter_protocols::tsp::{self, CompletionCode, CompletionPayload, Outcome, Sensitive};
use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Default)]
struct MemoryJournal(Mutex<Vec<JournalRecord>>);

#[async_trait]
impl JournalSink for MemoryJournal {
    async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
        self.0.lock().unwrap().push(record);
        Ok(())
    }
}

impl MemoryJournal {
    fn entries(&self) -> Vec<JournalEntry> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match &r.event {
                JournalEvent::Engine(entry) => Some(entry.clone()),
                _ => None,
            })
            .collect()
    }
}

struct Harness {
    address: String,
    ca: DevCa,
    journal: Arc<MemoryJournal>,
    gateway: Arc<TspGateway>,
    _shutdown: watch::Sender<bool>,
}

const REGISTRY: &str = r#"
[[terminal]]
id = "T-0001"
profile = "stm-full"
division = "440106"

[[terminal]]
id = "T-0002"
profile = "village-kiosk"
division = "440200"
"#;

/// A platform that answers everything successfully; each test narrows it where it matters.
fn happy_platform() -> MockPlatformApi {
    let mut api = MockPlatformApi::new();
    api.expect_verify_identity().returning(|_| {
        Ok(VerifiedIdentity {
            subject: SubjectRef("sub-1".into()),
            id_number: Sensitive::new("440106199001011234".into()),
            name: Sensitive::new("张三".into()),
            assurance: Assurance::ChipAndFace,
        })
    });
    api.expect_fetch_document().returning(|r| {
        Ok(Document {
            media_type: "application/pdf".into(),
            data: Sensitive::new(format!("%PDF-1.4 {}", r.result).into_bytes()),
            pages: 1,
        })
    });
    api.expect_evaluate().returning(|_| Ok(()));
    api
}

async fn start(platform: MockPlatformApi) -> Harness {
    start_with(platform, TspConfig::default()).await
}

async fn start_with(platform: MockPlatformApi, mut config: TspConfig) -> Harness {
    let data = Arc::new(DataSet::load(&shipped()).unwrap());
    let registry = Arc::new(TerminalRegistry::load("registry.toml", REGISTRY, &data).unwrap());
    let ca = DevCa::generate().unwrap();
    let server = ca.server(&["localhost", "127.0.0.1"]).unwrap();
    let tls = adapter_daemon::tls::server_config(
        server.certificate_pem.as_bytes(),
        server.key_pem.as_bytes(),
        ca.ca.certificate_pem.as_bytes(),
    )
    .unwrap();
    let journal = Arc::new(MemoryJournal::default());
    config.session.backoff = vec![Duration::from_millis(10)];
    let gateway = TspGateway::new(data, registry, Arc::new(platform), journal.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (shutdown, rx) = watch::channel(false);
    tokio::spawn(Arc::clone(&gateway).serve(listener, tls, rx));
    Harness {
        address,
        ca,
        journal,
        gateway,
        _shutdown: shutdown,
    }
}

fn client_config(h: &Harness, cert: &CertifiedKey) -> ClientConfig {
    let mut config = ClientConfig::new(
        h.address.clone(),
        "localhost",
        h.ca.ca.certificate_pem.clone().into_bytes(),
        cert.certificate_pem.clone().into_bytes(),
        cert.key_pem.clone().into_bytes(),
    );
    config.initial_backoff = Duration::from_millis(20);
    config
}

fn open_payload(devices: &[&str]) -> tsp::SessionOpen {
    tsp::SessionOpen {
        versions: vec!["1.0".into()],
        terminal: tsp::TerminalInfo {
            model: "Test STM".into(),
            software_version: "1.0".into(),
            language: "zh-CN".into(),
        },
        capabilities: tsp::TerminalCapabilities {
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
        },
    }
}

const ALL_DEVICES: [&str; 10] = [
    "id-card-reader",
    "face-camera",
    "fingerprint-reader",
    "document-camera",
    "a4-printer",
    "receipt-printer",
    "card-reader",
    "pin-pad",
    "qr-scanner",
    "signature-pad",
];

fn image() -> Sensitive<tsp::Image> {
    Sensitive::new(tsp::Base64Data::encode(b"\xFF\xD8\xFFimage").unwrap())
}

/// What a terminal answers to each step, as a person at the STM would.
fn answer(command: &StepCommand) -> CompletionPayload {
    match command {
        StepCommand::Identify(_) => CompletionPayload::Identify(tsp::IdentifyResult {
            method: tsp::IdentifyMethod::IdCardFace,
            id_card: Some(tsp::IdCardData {
                name: Sensitive::new("张三".into()),
                sex: "1".into(),
                ethnicity: "01".into(),
                birth_date: Sensitive::new("19900101".into()),
                address: Sensitive::new("广州市天河区".into()),
                id_number: Sensitive::new("440106199001011234".into()),
                issuing_authority: "广州市公安局".into(),
                valid_from: "20200101".into(),
                valid_to: "20400101".into(),
                photo: image(),
            }),
            face: Some(image()),
            qr_code: None,
        }),
        StepCommand::Form(f) => CompletionPayload::Form(tsp::FormResult {
            values: f
                .fields
                .iter()
                .map(|x| {
                    (
                        x.id.clone(),
                        Sensitive::new(x.options.first().cloned().unwrap_or_else(|| "1".into())),
                    )
                })
                .collect(),
        }),
        StepCommand::Confirm(_) => {
            CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true })
        }
        StepCommand::Deliver(d) => CompletionPayload::Deliver(tsp::DeliverResult {
            results: d
                .outputs
                .iter()
                .map(|o| tsp::DeliveryReport {
                    result: o.result.clone(),
                    status: "delivered".into(),
                    detail: None,
                })
                .collect(),
        }),
        StepCommand::Rate(_) => CompletionPayload::Rate(tsp::RateResult {
            score: 1,
            text: None,
        }),
        other => panic!("this test does not expect {other:?}"),
    }
}

const CERTIFICATE: &str = "442001001000";

async fn run_item(client: &mut TerminalClient, code: &str) -> (tsp::ItemOutcome, Vec<String>) {
    let item = client.start_item(code).await.unwrap();
    let mut steps = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Step(step) => {
                steps.push(step.command.name().as_str().to_owned());
                if let StepCommand::Deliver(d) = &step.command {
                    // The certificate arrives as the PDF the platform produced.
                    let pdf = d.outputs[0]
                        .document
                        .as_ref()
                        .and_then(|x| x.expose().decode())
                        .unwrap();
                    assert!(pdf.starts_with(b"%PDF"));
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
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_runs_a_certificate_print_end_to_end() {
    let h = start(happy_platform()).await;
    let cert = h.ca.terminal("T-0001").unwrap();
    let mut client = TerminalClient::connect(client_config(&h, &cert))
        .await
        .unwrap();
    let opened = client.open(open_payload(&ALL_DEVICES)).await.unwrap();
    assert_eq!(opened.version, "1.0");
    let offer = client.get_offer().await.unwrap();
    assert!(
        offer.offered.iter().any(|o| o.code == CERTIFICATE),
        "{:?}",
        offer.unavailable.len()
    );
    assert!(offer.offered.len() + offer.unavailable.len() >= 131);

    let (outcome, steps) = run_item(&mut client, CERTIFICATE).await;
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert_eq!(
        steps,
        [
            "Step.Identify",
            "Step.Form",
            "Step.Confirm",
            "Step.Deliver",
            "Step.Rate"
        ]
    );
    client.close(None).await.unwrap();

    let entries = h.journal.entries();
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, JournalEntry::IdentityVerified { .. }))
    );
    assert!(entries.iter().any(|e| matches!(
        e,
        JournalEntry::ItemEnded {
            outcome: Outcome::Completed,
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_follows_the_devices_the_terminal_reports() {
    let h = start(happy_platform()).await;
    let cert = h.ca.terminal("T-0001").unwrap();
    let mut client = TerminalClient::connect(client_config(&h, &cert))
        .await
        .unwrap();
    // The A4 printer is out of paper at opening time.
    let devices: Vec<&str> = ALL_DEVICES
        .iter()
        .copied()
        .filter(|d| *d != "a4-printer")
        .collect();
    client.open(open_payload(&devices)).await.unwrap();
    let offer = client.get_offer().await.unwrap();
    let no_property = offer
        .unavailable
        .iter()
        .find(|u| u.name == "无房产证明开具")
        .unwrap();
    assert_eq!(
        (no_property.reason.as_str(), no_property.device.as_deref()),
        ("missing-device", Some("a4-printer"))
    );
    // Starting an item that is not offered is refused with the reason.
    client.start_item(&no_property.code).await.unwrap();
    match client.next().await.unwrap() {
        ClientEvent::ItemRefused {
            code, description, ..
        } => {
            assert_eq!(code, CompletionCode::UnsupportedData);
            assert!(description.contains("a4-printer"), "{description}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizen_cancels_a_step() {
    let h = start(happy_platform()).await;
    let cert = h.ca.terminal("T-0001").unwrap();
    let mut client = TerminalClient::connect(client_config(&h, &cert))
        .await
        .unwrap();
    client.open(open_payload(&ALL_DEVICES)).await.unwrap();
    client.start_item(CERTIFICATE).await.unwrap();
    loop {
        match client.next().await.unwrap() {
            ClientEvent::Step(step) if matches!(step.command, StepCommand::Form(_)) => {
                client
                    .fail(
                        step.request_id,
                        step.command.name(),
                        CompletionCode::Canceled,
                        "cancel pressed",
                    )
                    .await
                    .unwrap();
            }
            ClientEvent::Step(step) => client
                .complete(step.request_id, answer(&step.command))
                .await
                .unwrap(),
            ClientEvent::ItemEnded { outcome, .. } => {
                assert_eq!(outcome.outcome, Outcome::Cancelled);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_mid_flow_and_a_duplicate_completion_is_applied_once() {
    let mut platform = MockPlatformApi::new();
    // Exactly one identity check although the completion arrives twice.
    platform.expect_verify_identity().times(1).returning(|_| {
        Ok(VerifiedIdentity {
            subject: SubjectRef("sub-1".into()),
            id_number: Sensitive::new("440106199001011234".into()),
            name: Sensitive::new("张三".into()),
            assurance: Assurance::ChipAndFace,
        })
    });
    platform.expect_fetch_document().returning(|_| {
        Ok(Document {
            media_type: "application/pdf".into(),
            data: Sensitive::new(b"%PDF-1.4".to_vec()),
            pages: 1,
        })
    });
    platform.expect_evaluate().returning(|_| Ok(()));
    let h = start(platform).await;
    let cert = h.ca.terminal("T-0001").unwrap();
    let mut client = TerminalClient::connect(client_config(&h, &cert))
        .await
        .unwrap();
    client.open(open_payload(&ALL_DEVICES)).await.unwrap();
    client.start_item(CERTIFICATE).await.unwrap();

    // The identify step arrives; the citizen completes it; the completion is sent twice.
    let ClientEvent::Step(identify) = client.next().await.unwrap() else {
        panic!()
    };
    client
        .complete(identify.request_id, answer(&identify.command))
        .await
        .unwrap();
    client
        .complete(identify.request_id, answer(&identify.command))
        .await
        .unwrap();

    // The form arrives, then the cable is pulled before it is answered.
    let ClientEvent::Step(form) = client.next().await.unwrap() else {
        panic!()
    };
    assert!(matches!(form.command, StepCommand::Form(_)));
    client.abort_connection();
    let resumed = client.reconnect().await.unwrap();
    assert_eq!(resumed.pending_request_id, Some(form.request_id));
    // The form comes again with its original request id.
    let ClientEvent::Step(again) = client.next().await.unwrap() else {
        panic!()
    };
    assert_eq!(again.request_id, form.request_id);
    client
        .complete(again.request_id, answer(&again.command))
        .await
        .unwrap();
    loop {
        match client.next().await.unwrap() {
            ClientEvent::Step(step) => client
                .complete(step.request_id, answer(&step.command))
                .await
                .unwrap(),
            ClientEvent::ItemEnded { outcome, .. } => {
                assert_eq!(outcome.outcome, Outcome::Completed);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let ignored = h
        .journal
        .entries()
        .iter()
        .filter(|e| matches!(e, JournalEntry::TerminalIgnored { .. }))
        .count();
    assert_eq!(ignored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_missing_certificates_are_refused() {
    let h = start(happy_platform()).await;
    // A certificate from another CA: the TLS handshake fails.
    let other = DevCa::generate().unwrap();
    let stranger = other.terminal("T-0001").unwrap();
    let refused = async {
        let mut c = TerminalClient::connect(client_config(&h, &stranger)).await?;
        c.open(open_payload(&ALL_DEVICES)).await
    }
    .await;
    assert!(refused.is_err());

    // Our CA, but a terminal the registry does not know: no session.
    let unregistered = h.ca.terminal("T-9999").unwrap();
    let refused = async {
        let mut c = TerminalClient::connect(client_config(&h, &unregistered)).await?;
        c.open(open_payload(&ALL_DEVICES)).await
    }
    .await;
    assert!(refused.is_err());

    // No client certificate at all: the handshake fails.
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls::pki_types::pem::PemObject::pem_slice_iter(h.ca.ca.certificate_pem.as_bytes())
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&h.address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let handshake = async {
        let mut tls = connector.connect(name, tcp).await?;
        // TLS 1.3 reports the refusal on the first read.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"GET /tsp/v1 HTTP/1.1\r\n\r\n").await?;
        let mut buf = [0u8; 16];
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            Err(std::io::Error::other("closed"))
        } else {
            Ok(())
        }
    }
    .await;
    assert!(handshake.is_err());
    assert_eq!(h.gateway.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_is_warned_then_ended() {
    let config = TspConfig {
        idle_timeout: Duration::from_secs(2),
        ..TspConfig::default()
    };
    let h = start_with(happy_platform(), config).await;
    let cert = h.ca.terminal("T-0002").unwrap();
    let mut client = TerminalClient::connect(client_config(&h, &cert))
        .await
        .unwrap();
    let opened = client
        .open(open_payload(&[
            "id-card-reader",
            "face-camera",
            "qr-scanner",
        ]))
        .await
        .unwrap();
    assert_eq!(opened.idle_timeout_seconds, 2);
    let first = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            first,
            ClientEvent::Unsolicited(tsp::Unsolicited::SessionExpiring(_))
        ),
        "{first:?}"
    );
    let mut events = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .unwrap()
            .unwrap();
        let done = event == ClientEvent::Disconnected;
        events.push(event);
        if done {
            break;
        }
    }
    assert!(events.iter().any(|e| matches!(
        e,
        ClientEvent::Unsolicited(tsp::Unsolicited::ServiceClosing(_))
    )));
    assert_eq!(h.gateway.session_count(), 0);
}
