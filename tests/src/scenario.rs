//! Scenarios as data (fixtures/conformance/*.toml): each suite file is a list of cases, each case
//! what the simulated terminal or switch does and what it must see. docs/conformance.md
//! describes every key.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::sim::devices::{Face, IdentifyWith};

/// The suites shipped with the kit, by name.
pub const SHIPPED: [(&str, &str); 4] = [
    ("stm", include_str!("../../fixtures/conformance/stm.toml")),
    (
        "security",
        include_str!("../../fixtures/conformance/security.toml"),
    ),
    (
        "gov-bill",
        include_str!("../../fixtures/conformance/gov-bill.toml"),
    ),
    (
        "cups-terminal",
        include_str!("../../fixtures/conformance/cups-terminal.toml"),
    ),
];

/// A suite file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    pub description: String,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// Which protocol a case speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Tsp,
    GovBill,
    CupsTerminal,
}

/// What a case needs of its target beyond the default daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// A daemon whose platform does not answer (started by the kit: in-process targets only).
    PlatformDown,
    /// The CA's key, to issue a certificate for a terminal the registry does not know.
    CaKey,
}

/// The certificate a terminal presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Certificate {
    /// Its own, from the deployment's CA.
    #[default]
    Own,
    /// None at all.
    None,
    /// One from another CA.
    Foreign,
    /// One from the deployment's CA for a terminal the registry does not know.
    Unregistered,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub protocol: Protocol,
    #[serde(default)]
    pub needs: Vec<Needs>,

    // --- TSP cases ---
    /// The terminal id (its certificate and registry entry).
    #[serde(default = "default_terminal")]
    pub terminal: String,
    /// The item to run (national implementing code).
    pub item: Option<String>,
    /// The citizen's ID number (fixtures/conformance/citizens.toml).
    #[serde(default = "default_citizen")]
    pub citizen: String,
    #[serde(default)]
    pub identify: IdentifyWith,
    #[serde(default)]
    pub face: Face,
    /// The payment-notice number the citizen keys in.
    pub notice: Option<String>,
    /// `false`: the card reader's bank host declines the payment.
    #[serde(default = "yes")]
    pub card_approved: bool,
    pub cancel_at: Option<String>,
    pub drop_at: Option<String>,
    pub time_out_at: Option<String>,
    #[serde(default)]
    pub certificate: Certificate,
    /// Only the offer: which items must be offered and which not (with the reason code).
    #[serde(default)]
    pub offered: Vec<String>,
    #[serde(default)]
    pub not_offered: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,

    // --- ISO 8583 cases ---
    #[serde(default)]
    pub exchange: Vec<Exchange>,
}

fn default_terminal() -> String {
    "STM-DEMO-0001".into()
}

fn default_citizen() -> String {
    "440106198503151014".into()
}

fn yes() -> bool {
    true
}

/// What a TSP case must see.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `Completed`, `Cancelled`, `TimedOut`, `Failed`, or `refused` (the item could not start).
    pub outcome: Option<String>,
    /// The exact steps, in order (without `Step.`).
    pub steps: Option<Vec<String>>,
    /// Steps that must appear / must not appear.
    #[serde(default)]
    pub includes: Vec<String>,
    #[serde(default)]
    pub excludes: Vec<String>,
    /// How many documents the printers must have printed.
    pub printed: Option<usize>,
    pub case_number: Option<bool>,
    pub receipt_number: Option<bool>,
    pub booking_number: Option<bool>,
    /// Whether the session must have been resumed on a new connection.
    pub resumed: Option<bool>,
    /// Whether a step must have come again with a prompt (a face that did not match …).
    pub prompted: Option<bool>,
    /// The connection or session must be refused (certificate cases).
    #[serde(default)]
    pub connection_refused: bool,
}

/// One message a simulated switch or terminal sends on an ISO 8583 link, and what it expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// `sign-on`, `echo`, `sign-off`, `inquiry`, `case-status`, `payment`, `repeat-payment`,
    /// `reversal`, `repeat-reversal`, `reconcile` (gov-bill) / `settle` (cups-terminal),
    /// `forged-mac`, `raw`, `new-link`.
    pub send: String,
    pub notice: Option<String>,
    pub amount: Option<u64>,
    /// For `case-status`: the case number.
    pub case: Option<String>,
    /// For `payment`: a label later exchanges refer to; for reversals and repeats: the label of
    /// the payment meant, or `unknown` for one the biller never saw.
    pub payment: Option<String>,
    /// For `raw`: the bytes, hexadecimal.
    pub hex: Option<String>,
    /// DE39 expected.
    pub expect: Option<String>,
    /// DE48 tags (gov-bill) expected in the answer: tag = value, or `*` for present.
    #[serde(default)]
    pub expect_tags: BTreeMap<String, String>,
    /// The answer's DE4 (cups-terminal inquiries carry the amount due there).
    pub expect_amount: Option<u64>,
    /// The biller closes the link instead of answering.
    #[serde(default)]
    pub expect_closed: bool,
    /// For `settle`: the batch must be balanced (`true`) or not (`false`).
    pub expect_balanced: Option<bool>,
    /// For `reconcile`/`settle`: totals to declare instead of what the case did.
    pub declare: Option<(u64, u64)>,
}

/// Parses a suite file.
pub fn parse(name: &str, text: &str) -> anyhow::Result<Suite> {
    let suite: Suite = toml::from_str(text).with_context(|| format!("suite {name}"))?;
    for case in &suite.cases {
        match case.protocol {
            Protocol::Tsp
                if case.item.is_none()
                    && case.offered.is_empty()
                    && case.not_offered.is_empty()
                    && case.certificate == Certificate::Own =>
            {
                bail!(
                    "suite {name}, case {:?}: a TSP case needs `item`, an offer check or a certificate",
                    case.name
                )
            }
            Protocol::GovBill | Protocol::CupsTerminal if case.exchange.is_empty() => {
                bail!(
                    "suite {name}, case {:?}: an ISO 8583 case needs `exchange`",
                    case.name
                )
            }
            _ => {}
        }
    }
    Ok(suite)
}

/// A suite from a file.
pub fn load(path: &std::path::Path) -> anyhow::Result<Suite> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    parse(&path.display().to_string(), &text)
}

/// The shipped suites, or the one named.
pub fn shipped(only: Option<&str>) -> anyhow::Result<Vec<Suite>> {
    let mut suites = Vec::new();
    for (name, text) in SHIPPED {
        if only.is_none_or(|o| o == name) {
            suites.push(parse(name, text)?);
        }
    }
    if suites.is_empty() {
        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        bail!(
            "no suite {:?}: the suites are {}",
            only.unwrap_or_default(),
            names.join(", ")
        );
    }
    Ok(suites)
}
