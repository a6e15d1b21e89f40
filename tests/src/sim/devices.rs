//! The virtual devices of a simulated STM: what a citizen at the terminal presents and what the
//! terminal's hardware returns, answering each TSP step.
//!
//! - ID-card reader: the chip text and photo of a fixture citizen (fixtures/conformance/
//!   citizens.toml); the sandbox platform generates each citizen's photo from the ID number
//!   (`adapter_daemon::sandbox::portrait`), so the reader returns exactly that.
//! - Face camera: the citizen's live face: the same portrait, or another one (a mismatch).
//! - Document camera: a small JPEG-framed image per material to scan.
//! - Signature pad: a PNG-framed image.
//! - Printers: every PDF and receipt handed over is saved into a folder.
//! - Card reader and PIN pad: a card authorisation the terminal's bank host approved (or
//!   declined).
//! - QR scanner: the citizen's provincial-app code.

use std::path::PathBuf;

use adapter_protocols::tsp::client::StepCommand;
use adapter_protocols::tsp::{self, CompletionPayload, Sensitive};
use anyhow::{Context, anyhow};
use serde::Deserialize;

/// A citizen as the ID card's chip describes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    pub name: String,
    /// `1` male, `2` female.
    pub sex: String,
    pub ethnicity: String,
    /// YYYYMMDD.
    pub birth_date: String,
    pub address: String,
    pub id_number: String,
    pub issuing_authority: String,
    pub valid_from: String,
    pub valid_to: String,
    /// The provincial app's QR code.
    pub qr_code: String,
}

#[derive(Debug, Deserialize)]
struct CitizenFile {
    citizen: Vec<Citizen>,
}

/// The fixture citizens (fixtures/conformance/citizens.toml).
pub fn citizens() -> anyhow::Result<Vec<Citizen>> {
    let text = include_str!("../../../fixtures/conformance/citizens.toml");
    let file: CitizenFile = toml::from_str(text).context("fixtures/conformance/citizens.toml")?;
    Ok(file.citizen)
}

/// The fixture citizen with `id_number`.
pub fn citizen(id_number: &str) -> anyhow::Result<Citizen> {
    citizens()?
        .into_iter()
        .find(|c| c.id_number == id_number)
        .ok_or_else(|| anyhow!("no fixture citizen {id_number}"))
}

/// How the citizen proves who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifyWith {
    /// ID card on the reader, then the face camera.
    #[default]
    IdCard,
    /// The provincial app's QR code on the scanner.
    Qr,
}

/// What the face camera sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Face {
    /// The card holder.
    #[default]
    Match,
    /// Somebody else.
    Mismatch,
}

/// The devices of one simulated terminal and the citizen in front of it.
#[derive(Debug, Clone)]
pub struct Devices {
    pub citizen: Citizen,
    pub identify_with: IdentifyWith,
    pub face: Face,
    /// The payment-notice number the citizen types in, if any.
    pub notice: Option<String>,
    /// Whether the card reader and PIN pad get the payment approved.
    pub card_approved: bool,
    /// Which offered appointment slot the citizen picks: this many after the earliest, round
    /// the list (a run repeated against one platform must not ask for a slot the citizen holds
    /// already).
    pub slot_pick: usize,
    /// Where the printers put what they print (`None`: nothing saved).
    pub print_dir: Option<PathBuf>,
    /// Files printed so far.
    pub printed: Vec<PathBuf>,
    stan: u32,
}

impl Devices {
    pub fn new(citizen: Citizen) -> Devices {
        Devices {
            citizen,
            identify_with: IdentifyWith::IdCard,
            face: Face::Match,
            notice: None,
            card_approved: true,
            slot_pick: 0,
            print_dir: None,
            printed: Vec::new(),
            stan: 0,
        }
    }

    fn image(bytes: &[u8]) -> anyhow::Result<Sensitive<tsp::Image>> {
        tsp::Base64Data::encode(bytes)
            .map(Sensitive::new)
            .ok_or_else(|| anyhow!("an image could not be encoded"))
    }

    /// What the terminal answers to `step`, from its devices. `Ok(None)`: the terminal cannot
    /// answer it (a payment declined by the card reader's bank host).
    pub fn answer(&mut self, step: &StepCommand) -> anyhow::Result<Option<CompletionPayload>> {
        let c = self.citizen.clone();
        Ok(Some(match step {
            StepCommand::Identify(i) => {
                let qr_allowed = i.methods.contains(&tsp::IdentifyMethod::QrCode);
                let card_allowed = i.methods.contains(&tsp::IdentifyMethod::IdCardFace);
                if self.identify_with == IdentifyWith::Qr && qr_allowed || !card_allowed {
                    CompletionPayload::Identify(tsp::IdentifyResult {
                        method: tsp::IdentifyMethod::QrCode,
                        id_card: None,
                        face: None,
                        qr_code: Some(Sensitive::new(c.qr_code.clone())),
                    })
                } else {
                    let photo = adapter_daemon::sandbox::portrait(&c.id_number);
                    let face = match self.face {
                        Face::Match => photo.clone(),
                        Face::Mismatch => adapter_daemon::sandbox::portrait("110105194912310021"),
                    };
                    CompletionPayload::Identify(tsp::IdentifyResult {
                        method: tsp::IdentifyMethod::IdCardFace,
                        id_card: Some(tsp::IdCardData {
                            name: Sensitive::new(c.name),
                            sex: c.sex,
                            ethnicity: c.ethnicity,
                            birth_date: Sensitive::new(c.birth_date),
                            address: Sensitive::new(c.address),
                            id_number: Sensitive::new(c.id_number),
                            issuing_authority: c.issuing_authority,
                            valid_from: c.valid_from,
                            valid_to: c.valid_to,
                            photo: Self::image(&photo)?,
                        }),
                        face: Some(Self::image(&face)?),
                        qr_code: None,
                    })
                }
            }
            StepCommand::Form(f) => CompletionPayload::Form(tsp::FormResult {
                values: f
                    .fields
                    .iter()
                    .map(|x| {
                        let value = match x.kind.as_str() {
                            "payment-notice" => self.notice.clone().unwrap_or_default(),
                            "phone" => "13800138000".into(),
                            "date" => "2026-12-15".into(),
                            "month" => "2026-10".into(),
                            "month-range" => "2026-01/2026-06".into(),
                            "amount" => "100.00".into(),
                            "number" => "1".into(),
                            "plate" => "粤A12345".into(),
                            "address" => c.address.clone(),
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
                    .map(|r| {
                        Ok(tsp::ScannedMaterial {
                            name: r.name.clone(),
                            image: Self::image(b"\xFF\xD8\xFF\xE0 document camera")?,
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            }),
            StepCommand::Sign(_) => CompletionPayload::Sign(tsp::SignResult {
                signature: Self::image(b"\x89PNG signature pad")?,
            }),
            StepCommand::Confirm(_) => {
                CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true })
            }
            // The slot `slot_pick` after the earliest (the daemon sends them in time order).
            StepCommand::Appointment(a) => CompletionPayload::Appointment(tsp::AppointmentChoice {
                slot_id: a
                    .slots
                    .get(self.slot_pick % a.slots.len().max(1))
                    .map(|s| s.slot_id.clone())
                    .ok_or_else(|| anyhow!("Step.Appointment offers no slot"))?,
            }),
            StepCommand::Pay(p) => {
                if !self.card_approved {
                    return Ok(None);
                }
                self.stan += 1;
                CompletionPayload::Pay(tsp::PayResult {
                    method: tsp::PayMethod::Card,
                    card: Some(tsp::CardPayment {
                        masked_pan: "622848******1234".into(),
                        approval_code: format!("{:06}", 100_000 + self.stan),
                        rrn: format!("6332060{:05}", self.stan),
                        stan: format!("{:06}", self.stan),
                        amount_fen: p.amount_fen,
                    }),
                    cash_fen: None,
                })
            }
            StepCommand::Reverse(_) => {
                CompletionPayload::Reverse(tsp::ReverseResult { reversed: true })
            }
            StepCommand::Submit(_) => CompletionPayload::Submit(tsp::Empty {}),
            StepCommand::Deliver(d) => {
                let mut results = Vec::new();
                for output in &d.outputs {
                    let detail = self.print(output)?;
                    results.push(tsp::DeliveryReport {
                        result: output.result.clone(),
                        status: "delivered".into(),
                        detail,
                    });
                }
                CompletionPayload::Deliver(tsp::DeliverResult { results })
            }
            StepCommand::Rate(_) => CompletionPayload::Rate(tsp::RateResult {
                score: 5,
                text: None,
            }),
            StepCommand::Notice(_) => CompletionPayload::Notice(tsp::Empty {}),
        }))
    }

    /// A printer saves the document it is sent; a PDF must be one.
    fn print(&mut self, output: &tsp::DeliveryOrder) -> anyhow::Result<Option<String>> {
        let Some(doc) = &output.document else {
            return Ok(None);
        };
        let bytes = doc
            .expose()
            .decode()
            .ok_or_else(|| anyhow!("{}: the document is not base64", output.result))?;
        if !bytes.starts_with(b"%PDF-") {
            return Err(anyhow!("{}: the document is not a PDF", output.result));
        }
        if let Some(dir) = &self.print_dir {
            std::fs::create_dir_all(dir)?;
            let name = format!(
                "{:03}-{}-{}.pdf",
                self.printed.len() + 1,
                output.delivery,
                file_name(&output.result)
            );
            let path = dir.join(name);
            std::fs::write(&path, &bytes).with_context(|| path.display().to_string())?;
            self.printed.push(path);
        } else {
            self.printed.push(PathBuf::from(&output.result));
        }
        Ok(None)
    }
}

/// A file name from a result name: letters, digits and CJK kept, the rest `_`.
fn file_name(result: &str) -> String {
    result
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}
