//! The offer planner: given a terminal (its profile, division and site) and an instant, which
//! catalogue items it can offer, with which flow of steps, and for every other item exactly
//! why not.
//!
//! Reasons are decided in this order, and the first that applies is given:
//! 1. `not-implemented` — no implementation in the terminal's division, its city or its province;
//! 2. `disabled` — the implementation is not for self-service, or is switched off;
//! 3. `protocol` — a step the item needs cannot travel on any protocol the terminal speaks;
//! 4. `missing-device` — a step the item needs lacks a device (named);
//! 5. `closed` — the site or the item's back-end is closed now (with the next opening).
//!
//! Steps are checked in flow order (identify, form, materials, sign, confirm, appointment, pay,
//! submit, deliver, rate), so the reason names the first step that fails. Output is in code order.

mod flow;

pub use flow::{Flow, IdentifyMethod, PayMethod, Step, StepKind};

use serde::Serialize;
use time::OffsetDateTime;

use crate::calendar::{Calendar, Openness, Schedule, Site, open_at};
use crate::catalogue::{
    Catalogue, Delivery, Fee, FieldKind, IdentityRequirement, Implementation, Item, MaterialSource,
};
use crate::ids::DivisionCode;
use crate::terminal::{Device, TerminalProfile};

/// A terminal as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Terminal<'a> {
    pub profile: &'a TerminalProfile,
    pub division: DivisionCode,
    /// Where it stands; `None` means a 24-hour self-service zone (only back-end hours apply).
    pub site: Option<&'a Site>,
}

/// An item the terminal can offer now.
#[derive(Debug, Clone)]
pub struct Offered<'c> {
    pub item: &'c Item,
    pub implementation: &'c Implementation,
    pub flow: Flow<'c>,
}

/// An item the terminal cannot offer now, and why.
#[derive(Debug, Clone)]
pub struct Unavailable<'c> {
    pub item: &'c Item,
    pub reason: Reason,
}

/// Why an item is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The item has no implementation in the division, its city or its province.
    NotImplemented { division: DivisionCode },
    /// The implementation is not offered on self-service terminals, or is switched off.
    Disabled { cause: DisabledCause },
    /// No protocol the terminal speaks can carry this step.
    Protocol { step: StepKind },
    /// The terminal lacks this device for this step.
    MissingDevice { device: Device, step: StepKind },
    /// The site or the back-end is closed; `until` is the next opening (China Standard Time),
    /// if within the planner's horizon.
    Closed {
        #[serde(with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisabledCause {
    NotSelfService,
    SwitchedOff,
}

/// The answer for one terminal at one instant.
#[derive(Debug, Clone, Default)]
pub struct Offer<'c> {
    pub offered: Vec<Offered<'c>>,
    pub unavailable: Vec<Unavailable<'c>>,
}

/// What a terminal can do, worked out once per offer.
#[derive(Debug, Clone, Copy)]
struct Capabilities {
    tsp: bool,
    iso8583: bool,
    devices: crate::terminal::DeviceSet,
}

const ID_CARD_FACE: [Device; 2] = [Device::IdCardReader, Device::FaceCamera];
const CARD_PAYMENT: [Device; 2] = [Device::CardReader, Device::PinPad];

impl Capabilities {
    fn of(profile: &TerminalProfile) -> Capabilities {
        Capabilities {
            tsp: profile.speaks_tsp(),
            iso8583: profile.speaks_iso8583(),
            devices: profile.devices,
        }
    }

    fn has_all(&self, devices: &[Device]) -> bool {
        self.devices.first_missing(devices).is_none()
    }

    /// The device a delivery needs, if any.
    fn delivery_device(delivery: Delivery) -> Option<Device> {
        match delivery {
            Delivery::A4Print => Some(Device::A4Printer),
            Delivery::ReceiptPrint => Some(Device::ReceiptPrinter),
            Delivery::ELicence | Delivery::Post | Delivery::Counter | Delivery::Screen => None,
        }
    }

    /// Whether some protocol of the terminal carries this delivery (ISO 8583 prints receipts).
    fn carries_delivery(&self, delivery: Delivery) -> bool {
        self.tsp || (self.iso8583 && delivery == Delivery::ReceiptPrint)
    }

    fn supports_delivery(&self, delivery: Delivery) -> bool {
        self.carries_delivery(delivery)
            && Self::delivery_device(delivery).is_none_or(|d| self.devices.contains(d))
    }
}

/// Plans the offer of every catalogue item for `terminal` at `instant`.
pub fn offer<'c>(
    catalogue: &'c Catalogue,
    calendar: &Calendar,
    terminal: &Terminal<'_>,
    instant: OffsetDateTime,
) -> Offer<'c> {
    let caps = Capabilities::of(terminal.profile);
    let mut openness: Vec<(&str, Openness)> = Vec::new();
    let mut out = Offer {
        offered: Vec::with_capacity(catalogue.items().len()),
        unavailable: Vec::new(),
    };
    for (index, item) in catalogue.items().iter().enumerate() {
        let Some(implementation) = catalogue.implementation_for(index, &terminal.division) else {
            out.unavailable.push(Unavailable {
                item,
                reason: Reason::NotImplemented {
                    division: terminal.division,
                },
            });
            continue;
        };
        let disabled = if !implementation.self_service {
            Some(DisabledCause::NotSelfService)
        } else if !implementation.enabled {
            Some(DisabledCause::SwitchedOff)
        } else {
            None
        };
        if let Some(cause) = disabled {
            out.unavailable.push(Unavailable {
                item,
                reason: Reason::Disabled { cause },
            });
            continue;
        }
        let flow = match plan_flow(item, &caps) {
            Ok(flow) => flow,
            Err(reason) => {
                out.unavailable.push(Unavailable { item, reason });
                continue;
            }
        };
        let state = match openness
            .iter()
            .find(|(name, _)| *name == implementation.backend)
        {
            Some((_, state)) => *state,
            None => {
                let state = schedule_state(
                    catalogue,
                    calendar,
                    terminal.site,
                    &implementation.backend,
                    instant,
                );
                openness.push((&implementation.backend, state));
                state
            }
        };
        match state {
            Openness::Open => out.offered.push(Offered {
                item,
                implementation,
                flow,
            }),
            Openness::Closed { next_opening } => out.unavailable.push(Unavailable {
                item,
                reason: Reason::Closed {
                    until: next_opening,
                },
            }),
        }
    }
    out
}

fn schedule_state(
    catalogue: &Catalogue,
    calendar: &Calendar,
    site: Option<&Site>,
    backend: &str,
    instant: OffsetDateTime,
) -> Openness {
    let always = Schedule::always();
    let backend = catalogue.backend(backend).unwrap_or(&always);
    match site {
        Some(site) => open_at(&[&site.schedule, backend], calendar, instant),
        None => open_at(&[backend], calendar, instant),
    }
}

/// The flow of `item` on a terminal with `caps`, or the reason it cannot run there.
fn plan_flow<'c>(item: &'c Item, caps: &Capabilities) -> Result<Flow<'c>, Reason> {
    let mut steps: Vec<Step<'c>> = Vec::with_capacity(9);
    let needs_tsp = |step: StepKind| {
        if caps.tsp {
            Ok(())
        } else {
            Err(Reason::Protocol { step })
        }
    };

    // Identify.
    if item.identity != IdentityRequirement::None {
        needs_tsp(StepKind::Identify)?;
        let card_face = caps.has_all(&ID_CARD_FACE);
        let qr = caps.devices.contains(Device::QrScanner);
        let (use_card_face, use_qr) = match item.identity {
            IdentityRequirement::IdCardFace => (card_face, false),
            IdentityRequirement::QrCode => (false, qr),
            IdentityRequirement::Either | IdentityRequirement::None => (card_face, qr),
        };
        if !use_card_face && !use_qr {
            let device = match item.identity {
                IdentityRequirement::QrCode => Device::QrScanner,
                _ => caps
                    .devices
                    .first_missing(&ID_CARD_FACE)
                    .unwrap_or(Device::IdCardReader),
            };
            return Err(Reason::MissingDevice {
                device,
                step: StepKind::Identify,
            });
        }
        steps.push(Step::Identify {
            id_card_face: use_card_face,
            qr_code: use_qr,
        });
    }

    // Form: an ISO 8583 terminal can key in a payment-notice number and nothing else.
    if !item.form.is_empty() {
        let iso_only_notice =
            caps.iso8583 && item.form.iter().all(|f| f.kind == FieldKind::PaymentNotice);
        if !caps.tsp && !iso_only_notice {
            return Err(Reason::Protocol {
                step: StepKind::Form,
            });
        }
        steps.push(Step::Form { fields: &item.form });
    }

    // Materials: scans need the document camera; e-licences are pulled, nothing to scan.
    if !item.materials.is_empty() {
        needs_tsp(StepKind::Materials)?;
        let camera = caps.devices.contains(Device::DocumentCamera);
        let must_scan = item
            .materials
            .iter()
            .any(|m| m.mandatory && m.source == MaterialSource::Scan);
        if must_scan && !camera {
            return Err(Reason::MissingDevice {
                device: Device::DocumentCamera,
                step: StepKind::Materials,
            });
        }
        steps.push(Step::Materials {
            materials: &item.materials,
            scan: camera,
        });
    }

    // Sign.
    if item.signature {
        needs_tsp(StepKind::Sign)?;
        if !caps.devices.contains(Device::SignaturePad) {
            return Err(Reason::MissingDevice {
                device: Device::SignaturePad,
                step: StepKind::Sign,
            });
        }
        steps.push(Step::Sign);
    }

    steps.push(Step::Confirm);

    // Appointment: the citizen chooses a slot at a hall on screen.
    if item.appointment {
        needs_tsp(StepKind::Appointment)?;
        steps.push(Step::Appointment);
    }

    // Pay: bank card on the terminal, a QR code paid on the citizen's phone, or cash.
    if item.fee != Fee::None {
        let card = caps.has_all(&CARD_PAYMENT);
        let qr = caps.tsp;
        let cash = caps.tsp && caps.devices.contains(Device::CashAcceptor);
        if !card && !qr && !cash {
            let device = caps
                .devices
                .first_missing(&CARD_PAYMENT)
                .unwrap_or(Device::CardReader);
            return Err(Reason::MissingDevice {
                device,
                step: StepKind::Pay,
            });
        }
        steps.push(Step::Pay {
            fee: item.fee,
            card,
            qr,
            cash,
        });
    }

    // Submit: an application goes to the back office.
    if item.case_type == crate::catalogue::CaseType::Promised {
        needs_tsp(StepKind::Submit)?;
        steps.push(Step::Submit);
    }

    // Deliver: each result by the first of its deliveries the terminal supports.
    for result in &item.results {
        if result.delivery.iter().any(|d| caps.supports_delivery(*d)) {
            continue;
        }
        let carried = result.delivery.iter().find(|d| caps.carries_delivery(**d));
        return Err(
            match carried.and_then(|d| Capabilities::delivery_device(*d)) {
                Some(device) => Reason::MissingDevice {
                    device,
                    step: StepKind::Deliver,
                },
                None => Reason::Protocol {
                    step: StepKind::Deliver,
                },
            },
        );
    }
    steps.push(Step::Deliver {
        results: &item.results,
        supported: Delivery::ALL
            .iter()
            .filter(|d| caps.supports_delivery(**d))
            .fold(0u8, |acc, d| acc | d.bit()),
    });

    // Rate (好差评): wherever the protocol can carry it.
    if caps.tsp {
        steps.push(Step::Rate);
    }
    Ok(Flow { steps })
}

#[cfg(test)]
mod tests;
