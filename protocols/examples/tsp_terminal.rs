//! A headless terminal: connects to a stm-adapter daemon with a terminal certificate, opens a
//! session, lists the offer, runs one item answering every step with sample data, and prints
//! what happens. The skeleton of a real terminal integration.
//!
//! Against `stm-adapter serve` started in the current directory (embedded defaults: sandbox
//! platform, development PKI in ./data/pki, TSP on 127.0.0.1:7443), with no arguments it runs
//! 户籍证明开具 (442001001000) as demonstration terminal STM-DEMO-0001, identifying the
//! sandbox citizen 张伟 by the QR code of the provincial app:
//!
//! ```text
//! cargo run -p adapter-protocols --features tsp-client --example tsp_terminal
//! cargo run -p adapter-protocols --features tsp-client --example tsp_terminal -- \
//!   --address 127.0.0.1:7443 --ca data/pki/ca.pem \
//!   --cert data/pki/terminals/STM-DEMO-0001.pem --key data/pki/terminals/STM-DEMO-0001-key.pem \
//!   --item 442004001000 --qr YSS1-7F3A9C0E51B24D6A
//! ```
//!
//! Items that need the ID card and a live face cannot be run with sample data against the
//! sandbox (it checks the photo); the conformance kit's terminal simulator does those.

use std::io::Write;

use adapter_protocols::tsp::client::{ClientConfig, ClientEvent, StepCommand, TerminalClient};
use adapter_protocols::tsp::{self, CompletionPayload, Sensitive};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn sample_image() -> Option<Sensitive<tsp::Image>> {
    tsp::Base64Data::encode(b"\xFF\xD8\xFF\xE0 sample image").map(Sensitive::new)
}

/// The QR code of the sandbox citizen 张伟 (fixtures/sandbox/citizens.toml).
const SANDBOX_QR: &str = "YSS1-7F3A9C0E51B24D6A";

/// What a citizen at the terminal would do, with sample values.
fn answer(step: &StepCommand) -> Option<CompletionPayload> {
    Some(match step {
        StepCommand::Identify(i) if i.methods.contains(&tsp::IdentifyMethod::QrCode) => {
            CompletionPayload::Identify(tsp::IdentifyResult {
                method: tsp::IdentifyMethod::QrCode,
                id_card: None,
                face: None,
                qr_code: Some(Sensitive::new(
                    arg("--qr").unwrap_or_else(|| SANDBOX_QR.into()),
                )),
            })
        }
        StepCommand::Identify(_) => CompletionPayload::Identify(tsp::IdentifyResult {
            method: tsp::IdentifyMethod::IdCardFace,
            id_card: Some(tsp::IdCardData {
                name: Sensitive::new("测试".into()),
                sex: "1".into(),
                ethnicity: "01".into(),
                birth_date: Sensitive::new("19491231".into()),
                address: Sensitive::new("北京市朝阳区".into()),
                id_number: Sensitive::new("11010519491231002X".into()),
                issuing_authority: "北京市公安局朝阳分局".into(),
                valid_from: "20200101".into(),
                valid_to: "长期".into(),
                photo: sample_image()?,
            }),
            face: Some(sample_image()?),
            qr_code: None,
        }),
        StepCommand::Form(form) => CompletionPayload::Form(tsp::FormResult {
            values: form
                .fields
                .iter()
                .map(|f| {
                    let value =
                        f.options
                            .first()
                            .cloned()
                            .unwrap_or_else(|| match f.kind.as_str() {
                                "payment-notice" => "4400252611280000123".into(),
                                "phone" => "13800000000".into(),
                                _ => "1".into(),
                            });
                    (f.id.clone(), Sensitive::new(value))
                })
                .collect(),
        }),
        StepCommand::Materials(m) => CompletionPayload::Materials(tsp::MaterialsResult {
            scans: m
                .materials
                .iter()
                .filter(|x| x.source == "scan")
                .filter_map(|x| {
                    Some(tsp::ScannedMaterial {
                        name: x.name.clone(),
                        image: sample_image()?,
                    })
                })
                .collect(),
        }),
        StepCommand::Sign(_) => CompletionPayload::Sign(tsp::SignResult {
            signature: sample_image()?,
        }),
        StepCommand::Confirm(_) => {
            CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true })
        }
        StepCommand::Appointment(a) => CompletionPayload::Appointment(tsp::AppointmentChoice {
            slot_id: a.slots.first()?.slot_id.clone(),
        }),
        StepCommand::Pay(pay) => CompletionPayload::Pay(tsp::PayResult {
            method: tsp::PayMethod::Card,
            card: Some(tsp::CardPayment {
                masked_pan: "622202*********0128".into(),
                approval_code: "000001".into(),
                rrn: "000000000001".into(),
                stan: "000001".into(),
                amount_fen: pay.amount_fen,
            }),
            cash_fen: None,
        }),
        StepCommand::Reverse(_) => {
            CompletionPayload::Reverse(tsp::ReverseResult { reversed: true })
        }
        StepCommand::Submit(_) => CompletionPayload::Submit(tsp::Empty {}),
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
        StepCommand::Notice(_) => CompletionPayload::Notice(tsp::Empty {}),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let terminal = arg("--terminal").unwrap_or_else(|| "STM-DEMO-0001".into());
    let read = |flag: &str, default: String| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let path = arg(flag).unwrap_or(default);
        Ok(std::fs::read(&path).map_err(|e| {
            format!("{path}: {e} (start `stm-adapter serve` here first, or pass {flag} PATH)")
        })?)
    };
    let config = ClientConfig::new(
        arg("--address").unwrap_or_else(|| "127.0.0.1:7443".into()),
        arg("--server-name").unwrap_or_else(|| "localhost".into()),
        read("--ca", "data/pki/ca.pem".into())?,
        read("--cert", format!("data/pki/terminals/{terminal}.pem"))?,
        read("--key", format!("data/pki/terminals/{terminal}-key.pem"))?,
    );
    let mut client = TerminalClient::connect(config).await?;
    let opened = client
        .open(tsp::SessionOpen {
            versions: vec![tsp::VERSION.into()],
            terminal: tsp::TerminalInfo {
                model: "tsp_terminal example".into(),
                software_version: env!("CARGO_PKG_VERSION").into(),
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
        })
        .await?;
    say(&format!(
        "session {} open (TSP {})",
        opened.session_id, opened.version
    ));
    let offer = client.get_offer().await?;
    say(&format!(
        "{} items offered, {} not offered here now",
        offer.offered.len(),
        offer.unavailable.len()
    ));
    let code = arg("--item").unwrap_or_else(|| "442001001000".into());
    client.start_item(&code).await?;
    say(&format!("started {code}"));
    loop {
        match client.next().await? {
            ClientEvent::Step(step) => {
                say(&format!(
                    "  {} (request {})",
                    step.command.name(),
                    step.request_id
                ));
                match answer(&step.command) {
                    Some(payload) => client.complete(step.request_id, payload).await?,
                    None => return Err("could not build the sample answer".into()),
                }
            }
            ClientEvent::ItemEnded { outcome, .. } => {
                say(&format!(
                    "ended: {:?}{}{}{}",
                    outcome.outcome,
                    outcome
                        .case_number
                        .map(|c| format!(", case {c}"))
                        .unwrap_or_default(),
                    outcome
                        .booking_number
                        .map(|b| format!(", booking {b}"))
                        .unwrap_or_default(),
                    outcome
                        .message
                        .map(|m| format!(" — {m}"))
                        .unwrap_or_default()
                ));
                break;
            }
            ClientEvent::ItemRefused {
                code, description, ..
            } => {
                say(&format!("refused: {code:?}: {description}"));
                break;
            }
            ClientEvent::Unsolicited(u) => say(&format!("  daemon says {}", u.name().as_str())),
            ClientEvent::Disconnected => {
                say("connection dropped; resuming");
                client.reconnect().await?;
            }
        }
    }
    client.close(Some("done".into())).await?;
    Ok(())
}
