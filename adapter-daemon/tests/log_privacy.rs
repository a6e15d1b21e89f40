#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! Personal data never reaches the log: a real `stm-adapter serve` process, logging JSON at
//! `debug` for every crate, runs full sessions for two citizens (identity by ID card and face,
//! a refused face, a wrong name, a form with a phone number, a paid notice when offered) and
//! the whole log is searched for their ID numbers, names, addresses, phone number and QR code.
//!
//! The process also gets SIGHUP (the catalogue reloads) and SIGTERM (it exits 0).
//!
//! The daemon runs on the wall clock, so the test runs what is offered now: the certificate print
//! (back-end always open, at the demonstration terminal in a 24-hour self-service zone) at
//! least, and the items of other back-ends when they are open.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use adapter_daemon::sandbox::portrait;
use adapter_protocols::tsp::client::{ClientConfig, ClientEvent, StepCommand, TerminalClient};
use adapter_protocols::tsp::{self, CompletionPayload, Outcome, Sensitive};

struct Citizen {
    id_number: &'static str,
    name: &'static str,
    address: &'static str,
    qr_code: &'static str,
}

const ZHANG_WEI: Citizen = Citizen {
    id_number: "440106198503151014",
    name: "张伟",
    address: "广州市天河区体育西路1号",
    qr_code: "YSS1-7F3A9C0E51B24D6A",
};

const WANG_FANG: Citizen = Citizen {
    id_number: "440106199007202024",
    name: "王芳",
    address: "广州市天河区珠江新城华夏路8号",
    qr_code: "YSS1-2B8D41F09A6C3E75",
};

const PHONE: &str = "13926481357";
const CERTIFICATE: &str = "442001001000";
/// Run too when offered now (their back-ends keep hours).
const WHEN_OPEN: [&str; 2] = ["440201008000", "440701015000"];

/// The daemon, killed if the test fails before it stops it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Daemon, String) {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stm-adapter"))
        .arg("serve")
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .env("STM_ADAPTER__LOG__FORMAT", "json")
        .env("STM_ADAPTER__TSP__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ADMIN__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ISO8583__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let daemon = Daemon(child);
    // The banner names the TSP endpoint: "  TSP (terminals)   wss://127.0.0.1:PORT/tsp/v1".
    let mut address = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("TSP (terminals)") {
            let url = rest.trim();
            address = url
                .strip_prefix("wss://")
                .and_then(|u| u.strip_suffix("/tsp/v1"))
                .map(str::to_owned);
            break;
        }
    }
    (daemon, address.expect("the daemon prints its TSP endpoint"))
}

fn terminal(dir: &Path, address: &str) -> ClientConfig {
    let pki = dir.join("data/pki");
    let read = |p: &str| std::fs::read(pki.join(p)).unwrap();
    ClientConfig::new(
        address.to_owned(),
        "localhost",
        read("ca.pem"),
        read("terminals/STM-DEMO-0001.pem"),
        read("terminals/STM-DEMO-0001-key.pem"),
    )
}

fn open_payload() -> tsp::SessionOpen {
    tsp::SessionOpen {
        versions: vec![tsp::VERSION.into()],
        terminal: tsp::TerminalInfo {
            model: "log privacy test".into(),
            software_version: "1".into(),
            language: "zh-CN".into(),
        },
        capabilities: tsp::TerminalCapabilities {
            devices: [
                "id-card-reader",
                "face-camera",
                "document-camera",
                "a4-printer",
                "receipt-printer",
                "card-reader",
                "pin-pad",
                "qr-scanner",
                "signature-pad",
            ]
            .map(String::from)
            .to_vec(),
        },
    }
}

fn image(bytes: &[u8]) -> Sensitive<tsp::Image> {
    Sensitive::new(tsp::Base64Data::encode(bytes).unwrap())
}

/// How the citizen at the terminal answers; `face` is the live face the camera captures.
fn answer(
    command: &StepCommand,
    who: &Citizen,
    name_on_card: &str,
    face: &[u8],
) -> CompletionPayload {
    match command {
        StepCommand::Identify(_) => CompletionPayload::Identify(tsp::IdentifyResult {
            method: tsp::IdentifyMethod::IdCardFace,
            id_card: Some(tsp::IdCardData {
                name: Sensitive::new(name_on_card.into()),
                sex: "1".into(),
                ethnicity: "01".into(),
                birth_date: Sensitive::new(who.id_number[6..14].into()),
                address: Sensitive::new(who.address.into()),
                id_number: Sensitive::new(who.id_number.into()),
                issuing_authority: "广州市公安局天河分局".into(),
                valid_from: "20200101".into(),
                valid_to: "20400101".into(),
                photo: image(&portrait(who.id_number)),
            }),
            face: Some(image(face)),
            qr_code: None,
        }),
        StepCommand::Form(f) => CompletionPayload::Form(tsp::FormResult {
            values: f
                .fields
                .iter()
                .map(|x| {
                    let value = match x.kind.as_str() {
                        "payment-notice" => "44010026110000012345".to_owned(),
                        "phone" => PHONE.into(),
                        "address" => who.address.into(),
                        "date" => "2026-12-15".into(),
                        "month" => "2026-10".into(),
                        "month-range" => "2026-01/2026-06".into(),
                        "amount" => "100.00".into(),
                        "number" => "1".into(),
                        "plate" => "粤A12345".into(),
                        _ => x.options.first().cloned().unwrap_or_else(|| "测试".into()),
                    };
                    (x.id.clone(), Sensitive::new(value))
                })
                .collect(),
        }),
        StepCommand::Materials(m) => CompletionPayload::Materials(tsp::MaterialsResult {
            scans: m
                .materials
                .iter()
                .filter(|r| r.source == "scan")
                .map(|r| tsp::ScannedMaterial {
                    name: r.name.clone(),
                    image: image(b"\xFF\xD8\xFF\xE0 scan"),
                })
                .collect(),
        }),
        StepCommand::Sign(_) => CompletionPayload::Sign(tsp::SignResult {
            signature: image(b"\x89PNG signature"),
        }),
        StepCommand::Confirm(_) => {
            CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true })
        }
        StepCommand::Appointment(a) => CompletionPayload::Appointment(tsp::AppointmentChoice {
            slot_id: a.slots[0].slot_id.clone(),
        }),
        StepCommand::Pay(p) => CompletionPayload::Pay(tsp::PayResult {
            method: tsp::PayMethod::Card,
            card: Some(tsp::CardPayment {
                masked_pan: "622848******1234".into(),
                approval_code: "123456".into(),
                rrn: "633206000123".into(),
                stan: "000123".into(),
                amount_fen: p.amount_fen,
            }),
            cash_fen: None,
        }),
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
        StepCommand::Submit(_) => CompletionPayload::Submit(tsp::Empty {}),
        StepCommand::Notice(_) => CompletionPayload::Notice(tsp::Empty {}),
        StepCommand::Reverse(_) => {
            CompletionPayload::Reverse(tsp::ReverseResult { reversed: true })
        }
    }
}

async fn run_item(
    client: &mut TerminalClient,
    code: &str,
    who: &Citizen,
    name_on_card: &str,
    face: &[u8],
) -> tsp::ItemOutcome {
    client.start_item(code).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), client.next())
            .await
            .expect("the daemon answers")
            .unwrap();
        match event {
            ClientEvent::Step(step) => {
                let payload = answer(&step.command, who, name_on_card, face);
                client.complete(step.request_id, payload).await.unwrap();
            }
            ClientEvent::ItemEnded { outcome, .. } => return outcome,
            other => panic!("{code}: unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sessions_leave_no_personal_data_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, address) = start(dir.path());

    for (n, who) in [&ZHANG_WEI, &WANG_FANG].into_iter().enumerate() {
        let mut client = TerminalClient::connect(terminal(dir.path(), &address))
            .await
            .unwrap();
        client.open(open_payload()).await.unwrap();
        let offer = client.get_offer().await.unwrap();
        let photo = portrait(who.id_number);

        let outcome = run_item(&mut client, CERTIFICATE, who, who.name, &photo).await;
        assert_eq!(outcome.outcome, Outcome::Completed, "{outcome:?}");
        // A face that does not match, then a card whose name is not the registered one: the
        // platform refuses, the daemon logs the refusal.
        let outcome = run_item(&mut client, CERTIFICATE, who, who.name, b"someone else").await;
        assert_eq!(outcome.outcome, Outcome::Failed, "{outcome:?}");
        let outcome = run_item(&mut client, CERTIFICATE, who, "李四", &photo).await;
        assert_eq!(outcome.outcome, Outcome::Failed, "{outcome:?}");
        // The notice is paid once, by the first citizen.
        for code in WHEN_OPEN.into_iter().filter(|_| n == 0) {
            if offer.offered.iter().any(|o| o.code == code) {
                let outcome = run_item(&mut client, code, who, who.name, &photo).await;
                assert_eq!(outcome.outcome, Outcome::Completed, "{code}: {outcome:?}");
            }
        }
        client.close(None).await.unwrap();
    }

    // SIGHUP reloads the catalogue; SIGTERM drains, flushes and exits 0.
    let pid = daemon.0.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
    for _ in 0..100 {
        let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
        if log.contains("catalogue reloaded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = daemon.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the daemon exits 0 on SIGTERM");

    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    let lines = log.lines().count();
    assert!(
        log.contains("TSP session opened")
            && log.contains("platform call failed")
            && log.contains("SIGHUP: catalogue reloaded"),
        "the log holds the sessions and the refusals ({lines} lines)"
    );
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "every line is JSON: {line}"
        );
    }
    for who in [&ZHANG_WEI, &WANG_FANG] {
        for (what, value) in [
            ("ID number", who.id_number),
            ("name", who.name),
            ("address", who.address),
            ("QR code", who.qr_code),
            ("birth date", &who.id_number[6..14]),
        ] {
            assert!(!log.contains(value), "the log holds a {what}");
        }
    }
    for (what, value) in [("name on the card", "李四"), ("phone number", PHONE)] {
        assert!(!log.contains(value), "the log holds a {what}");
    }
}
