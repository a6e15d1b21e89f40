//! Terminal capabilities: the devices a terminal has, the protocols it speaks, and the
//! profiles (models) that name a set of both. Loaded from `fixtures/terminals/*.toml`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::problems::Problems;

/// A device a terminal may carry. The ids (`id-card-reader`, …) are the contract of the CLI and
/// of the offer's `missing-device` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Device {
    IdCardReader,
    FaceCamera,
    FingerprintReader,
    DocumentCamera,
    A4Printer,
    ReceiptPrinter,
    CardReader,
    PinPad,
    QrScanner,
    SignaturePad,
    CashAcceptor,
}

impl Device {
    pub const ALL: [Device; 11] = [
        Device::IdCardReader,
        Device::FaceCamera,
        Device::FingerprintReader,
        Device::DocumentCamera,
        Device::A4Printer,
        Device::ReceiptPrinter,
        Device::CardReader,
        Device::PinPad,
        Device::QrScanner,
        Device::SignaturePad,
        Device::CashAcceptor,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Device::IdCardReader => "id-card-reader",
            Device::FaceCamera => "face-camera",
            Device::FingerprintReader => "fingerprint-reader",
            Device::DocumentCamera => "document-camera",
            Device::A4Printer => "a4-printer",
            Device::ReceiptPrinter => "receipt-printer",
            Device::CardReader => "card-reader",
            Device::PinPad => "pin-pad",
            Device::QrScanner => "qr-scanner",
            Device::SignaturePad => "signature-pad",
            Device::CashAcceptor => "cash-acceptor",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A set of devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeviceSet(u16);

impl DeviceSet {
    pub fn of(devices: &[Device]) -> DeviceSet {
        DeviceSet(devices.iter().fold(0, |acc, d| acc | d.bit()))
    }

    pub fn contains(&self, device: Device) -> bool {
        self.0 & device.bit() != 0
    }

    /// The first device of `needed` this set lacks, in the order given.
    pub fn first_missing(&self, needed: &[Device]) -> Option<Device> {
        needed.iter().copied().find(|d| !self.contains(*d))
    }

    pub fn iter(&self) -> impl Iterator<Item = Device> + '_ {
        Device::ALL.into_iter().filter(|d| self.contains(*d))
    }
}

/// How a terminal talks to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Protocol {
    /// The Terminal Session Protocol: the daemon drives any flow, the terminal renders it.
    Tsp,
    /// ISO 8583 in a dialect: bill inquiry and payment only.
    Iso8583 { dialect: String },
}

impl Protocol {
    pub fn id(&self) -> String {
        match self {
            Protocol::Tsp => "tsp".to_owned(),
            Protocol::Iso8583 { dialect } => format!("iso8583:{dialect}"),
        }
    }
}

/// A terminal model: its devices, protocols and languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalProfile {
    pub id: String,
    pub model: String,
    pub description: String,
    pub devices: DeviceSet,
    pub protocols: Vec<Protocol>,
    pub languages: Vec<String>,
}

impl TerminalProfile {
    pub fn speaks_tsp(&self) -> bool {
        self.protocols.contains(&Protocol::Tsp)
    }

    pub fn speaks_iso8583(&self) -> bool {
        self.protocols
            .iter()
            .any(|p| matches!(p, Protocol::Iso8583 { .. }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDef {
    id: String,
    model: String,
    description: String,
    devices: Vec<Device>,
    #[serde(rename = "protocol")]
    protocols: Vec<Protocol>,
    languages: Vec<String>,
}

/// Loads terminal profiles from `(file name, TOML text)` pairs, one profile a file. Every
/// problem of every file is reported.
pub fn load_profiles(files: &[(String, String)]) -> Result<Vec<TerminalProfile>, Problems> {
    let mut problems = Problems::default();
    let mut profiles: Vec<TerminalProfile> = Vec::new();
    for (file, text) in files {
        let def: ProfileDef = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(file, None, e.message().to_owned());
                continue;
            }
        };
        let here = Some(def.id.as_str());
        if def.id.is_empty()
            || !def
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            problems.push(
                file,
                here,
                "the id is lower-case letters, digits and dashes",
            );
        }
        if profiles.iter().any(|p| p.id == def.id) {
            problems.push(file, here, "another profile has this id");
        }
        if def.protocols.is_empty() {
            problems.push(file, here, "a terminal speaks at least one protocol");
        }
        for p in &def.protocols {
            if let Protocol::Iso8583 { dialect } = p
                && adapter_protocols::iso8583::builtin(dialect).is_none()
            {
                problems.push(file, here, format!("no ISO 8583 dialect named {dialect:?}"));
            }
        }
        if def.languages.is_empty() {
            problems.push(file, here, "list at least one language");
        }
        profiles.push(TerminalProfile {
            id: def.id,
            model: def.model,
            description: def.description,
            devices: DeviceSet::of(&def.devices),
            protocols: def.protocols,
            languages: def.languages,
        });
    }
    problems.into_result(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_load_and_problems_are_all_reported() {
        let good = r#"
            id = "stm-a"
            model = "Model A"
            description = "x"
            devices = ["id-card-reader", "a4-printer"]
            languages = ["zh-CN"]
            [[protocol]]
            kind = "tsp"
            [[protocol]]
            kind = "iso8583"
            dialect = "gov-bill"
        "#;
        let loaded = load_profiles(&[("a.toml".into(), good.into())]);
        let profile = loaded.ok().and_then(|p| p.into_iter().next());
        assert!(
            profile
                .as_ref()
                .is_some_and(|p| p.devices.contains(Device::A4Printer))
        );
        assert!(
            profile
                .as_ref()
                .is_some_and(|p| !p.devices.contains(Device::PinPad))
        );
        assert!(profile.is_some_and(|p| p.speaks_tsp() && p.speaks_iso8583()));

        let bad = good.replace("gov-bill", "nope").replace("\"zh-CN\"", "");
        let err = load_profiles(&[("a.toml".into(), good.into()), ("b.toml".into(), bad)]).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("b.toml: stm-a: another profile has this id"),
            "{text}"
        );
        assert!(
            text.contains("no ISO 8583 dialect named \"nope\""),
            "{text}"
        );
        assert!(text.contains("at least one language"), "{text}");
    }
}
