//! The plan of one item as the session runs it: an owned copy of the offered flow (the engine
//! outlives the borrow of the catalogue) with what each step needs to render.

use adapter_protocols::tsp;

use time::OffsetDateTime;

use crate::calendar::CST;
use crate::catalogue::{Delivery, Fee, FieldKind, MaterialSource, ResultKind};
use crate::ids::DivisionCode;
use crate::plan::{Offered, Step};

/// Days of appointment slots the citizen chooses from.
pub const APPOINTMENT_DAYS: u32 = 7;

/// How a fee is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeePlan {
    /// A fixed fee, in fen: the platform issues a notice for it.
    Fixed(u64),
    /// The amount of the payment notice whose number the form field `field` collects.
    PerNotice { field: String },
}

/// A material to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMaterial {
    pub name: String,
    pub mandatory: bool,
    /// For e-licence materials: the licence type to pull.
    pub licence_type: Option<String>,
    /// Whether it is scanned (or, for an e-licence that cannot be found, could be).
    pub scan: bool,
}

/// A result to hand over, with the delivery chosen for this terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOutput {
    pub result: String,
    pub kind: ResultKind,
    pub delivery: Delivery,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedStep {
    Identify {
        methods: Vec<tsp::IdentifyMethod>,
    },
    Form {
        fields: Vec<tsp::FormField>,
    },
    Materials {
        materials: Vec<PlannedMaterial>,
        can_scan: bool,
    },
    Sign,
    Confirm,
    /// Slots at the halls near `division`, from `from` (YYYY-MM-DD, or the date the citizen
    /// entered in a form field of kind `date`, when later) for `days` days.
    Appointment {
        division: String,
        from: String,
        days: u32,
    },
    Pay {
        fee: FeePlan,
        methods: Vec<tsp::PayMethod>,
    },
    Submit,
    Deliver {
        outputs: Vec<PlannedOutput>,
    },
    Rate,
}

impl PlannedStep {
    pub fn kind(&self) -> crate::plan::StepKind {
        use crate::plan::StepKind as K;
        match self {
            PlannedStep::Identify { .. } => K::Identify,
            PlannedStep::Form { .. } => K::Form,
            PlannedStep::Materials { .. } => K::Materials,
            PlannedStep::Sign => K::Sign,
            PlannedStep::Confirm => K::Confirm,
            PlannedStep::Appointment { .. } => K::Appointment,
            PlannedStep::Pay { .. } => K::Pay,
            PlannedStep::Submit => K::Submit,
            PlannedStep::Deliver { .. } => K::Deliver,
            PlannedStep::Rate => K::Rate,
        }
    }
}

/// Everything the engine needs to run an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPlan {
    pub code: String,
    pub name: String,
    pub implementing_code: String,
    /// The implementing body (the payee of fixed fees).
    pub body: String,
    pub steps: Vec<PlannedStep>,
}

impl ItemPlan {
    /// The plan of an offered item, for a terminal in `division`, offered at `instant`.
    pub fn from_offered(
        offered: &Offered<'_>,
        division: DivisionCode,
        instant: OffsetDateTime,
    ) -> ItemPlan {
        let item = offered.item;
        let today = instant.to_offset(CST).date();
        let steps = offered
            .flow
            .steps
            .iter()
            .map(|step| match step {
                Step::Identify {
                    id_card_face,
                    qr_code,
                } => PlannedStep::Identify {
                    methods: [
                        (*id_card_face, tsp::IdentifyMethod::IdCardFace),
                        (*qr_code, tsp::IdentifyMethod::QrCode),
                    ]
                    .into_iter()
                    .filter_map(|(on, m)| on.then_some(m))
                    .collect(),
                },
                Step::Form { fields } => PlannedStep::Form {
                    fields: fields
                        .iter()
                        .map(|f| tsp::FormField {
                            id: f.id.clone(),
                            label: f.label.clone(),
                            kind: wire_name(&f.kind),
                            required: f.required,
                            options: f.options.clone(),
                        })
                        .collect(),
                },
                Step::Materials { materials, scan } => PlannedStep::Materials {
                    materials: materials
                        .iter()
                        .filter(|m| *scan || m.source != MaterialSource::Scan)
                        .map(|m| PlannedMaterial {
                            name: m.name.clone(),
                            mandatory: m.mandatory,
                            licence_type: match &m.source {
                                MaterialSource::ELicence { licence_type } => {
                                    Some(licence_type.clone())
                                }
                                _ => None,
                            },
                            scan: m.source == MaterialSource::Scan,
                        })
                        .collect(),
                    can_scan: *scan,
                },
                Step::Sign => PlannedStep::Sign,
                Step::Confirm => PlannedStep::Confirm,
                Step::Appointment => PlannedStep::Appointment {
                    division: division.to_string(),
                    from: format!(
                        "{:04}-{:02}-{:02}",
                        today.year(),
                        u8::from(today.month()),
                        today.day()
                    ),
                    days: APPOINTMENT_DAYS,
                },
                Step::Pay { fee, .. } => PlannedStep::Pay {
                    fee: match fee {
                        Fee::Fixed { fen } => FeePlan::Fixed(*fen),
                        _ => FeePlan::PerNotice {
                            field: item
                                .form
                                .iter()
                                .find(|f| f.kind == FieldKind::PaymentNotice)
                                .map(|f| f.id.clone())
                                .unwrap_or_default(),
                        },
                    },
                    methods: step
                        .pay_methods()
                        .into_iter()
                        .map(|m| match m {
                            crate::plan::PayMethod::Card => tsp::PayMethod::Card,
                            crate::plan::PayMethod::Qr => tsp::PayMethod::Qr,
                            crate::plan::PayMethod::Cash => tsp::PayMethod::Cash,
                        })
                        .collect(),
                },
                Step::Submit => PlannedStep::Submit,
                Step::Deliver { .. } => PlannedStep::Deliver {
                    outputs: step
                        .outputs()
                        .into_iter()
                        .map(|(r, d)| PlannedOutput {
                            result: r.name.clone(),
                            kind: r.kind,
                            delivery: d,
                        })
                        .collect(),
                },
                Step::Rate => PlannedStep::Rate,
            })
            .collect();
        ItemPlan {
            code: item.code.to_string(),
            name: item.name.clone(),
            implementing_code: offered.implementation.code.to_string(),
            body: offered.implementation.body.clone(),
            steps,
        }
    }

    /// Whether the item ends in a submitted application (the service is rendered only then).
    pub fn submits(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, PlannedStep::Submit))
    }
}

/// The wire names of catalogue enums (`a4-print`, `certificate` …).
pub(crate) fn wire_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
