//! A flow: the ordered steps an item takes on a given terminal. Steps borrow what they show
//! (form fields, materials, results) from the catalogue, so planning allocates one list per
//! offered item.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::catalogue::{Delivery, Fee, FormField, Material, MaterialSource, ResultSpec};

/// The kinds of step, as named in offers and reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Identify,
    Form,
    Materials,
    Sign,
    Confirm,
    Appointment,
    Pay,
    Submit,
    Deliver,
    Rate,
}

/// How a citizen can prove identity on this terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifyMethod {
    IdCardFace,
    QrCode,
}

/// How a fee can be paid on this terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayMethod {
    /// Bank card on the card reader, PIN on the PIN pad.
    Card,
    /// A payment QR code shown on screen, paid on the citizen's phone.
    Qr,
    Cash,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'c> {
    Identify {
        id_card_face: bool,
        qr_code: bool,
    },
    Form {
        fields: &'c [FormField],
    },
    /// `scan`: whether the terminal can scan (optional scanned materials are skipped without).
    Materials {
        materials: &'c [Material],
        scan: bool,
    },
    Sign,
    Confirm,
    /// Choose a slot at a hall (预约); the engine books it.
    Appointment,
    Pay {
        fee: Fee,
        card: bool,
        qr: bool,
        cash: bool,
    },
    Submit,
    /// Each result by the first of its deliveries in `supported` (a set of `Delivery::bit`).
    Deliver {
        results: &'c [ResultSpec],
        supported: u8,
    },
    Rate,
}

impl Step<'_> {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Identify { .. } => StepKind::Identify,
            Step::Form { .. } => StepKind::Form,
            Step::Materials { .. } => StepKind::Materials,
            Step::Sign => StepKind::Sign,
            Step::Confirm => StepKind::Confirm,
            Step::Appointment => StepKind::Appointment,
            Step::Pay { .. } => StepKind::Pay,
            Step::Submit => StepKind::Submit,
            Step::Deliver { .. } => StepKind::Deliver,
            Step::Rate => StepKind::Rate,
        }
    }

    pub fn identify_methods(&self) -> Vec<IdentifyMethod> {
        match self {
            Step::Identify {
                id_card_face,
                qr_code,
            } => [
                (*id_card_face, IdentifyMethod::IdCardFace),
                (*qr_code, IdentifyMethod::QrCode),
            ]
            .into_iter()
            .filter_map(|(on, m)| on.then_some(m))
            .collect(),
            _ => Vec::new(),
        }
    }

    pub fn pay_methods(&self) -> Vec<PayMethod> {
        match self {
            Step::Pay { card, qr, cash, .. } => [
                (*card, PayMethod::Card),
                (*qr, PayMethod::Qr),
                (*cash, PayMethod::Cash),
            ]
            .into_iter()
            .filter_map(|(on, m)| on.then_some(m))
            .collect(),
            _ => Vec::new(),
        }
    }

    /// For a deliver step: each result with the delivery chosen for it.
    pub fn outputs(&self) -> Vec<(&ResultSpec, Delivery)> {
        match self {
            Step::Deliver { results, supported } => results
                .iter()
                .filter_map(|r| {
                    r.delivery
                        .iter()
                        .find(|d| supported & d.bit() != 0)
                        .map(|d| (r, *d))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// For a materials step: the materials this terminal collects (pulled e-licences, scans when
    /// it can scan).
    pub fn collected_materials(&self) -> Vec<&Material> {
        match self {
            Step::Materials { materials, scan } => materials
                .iter()
                .filter(|m| *scan || m.source != MaterialSource::Scan)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The ordered steps of an item on a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow<'c> {
    pub steps: Vec<Step<'c>>,
}

impl Serialize for Step<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("step", &self.kind())?;
        match self {
            Step::Identify { .. } => map.serialize_entry("methods", &self.identify_methods())?,
            Step::Form { fields } => map.serialize_entry("fields", fields)?,
            Step::Materials { .. } => {
                map.serialize_entry("materials", &self.collected_materials())?
            }
            Step::Pay { fee, .. } => {
                map.serialize_entry("fee", fee)?;
                map.serialize_entry("methods", &self.pay_methods())?;
            }
            Step::Deliver { .. } => map.serialize_entry("outputs", &Outputs(self.outputs()))?,
            Step::Sign | Step::Confirm | Step::Appointment | Step::Submit | Step::Rate => {}
        }
        map.end()
    }
}

struct Outputs<'a>(Vec<(&'a ResultSpec, Delivery)>);

impl Serialize for Outputs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (result, delivery) in &self.0 {
            seq.serialize_element(&Output {
                result: &result.name,
                kind: result.kind,
                delivery: *delivery,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Output<'a> {
    result: &'a str,
    kind: crate::catalogue::ResultKind,
    delivery: Delivery,
}

impl Serialize for Flow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.steps.serialize(s)
    }
}
