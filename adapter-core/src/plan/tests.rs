//! One test per kind of reason, flows on each shipped profile, and determinism — all on the
//! shipped data.

use time::macros::datetime;

use super::*;
use crate::shipped::{DataSet, shipped};
use crate::terminal::DeviceSet;

fn data() -> DataSet {
    DataSet::load(&shipped()).unwrap_or_else(|p| panic!("{p}"))
}

fn terminal<'a>(
    data: &'a DataSet,
    profile: &str,
    division: &str,
    site: Option<&str>,
) -> Terminal<'a> {
    Terminal {
        profile: data
            .profile(profile)
            .unwrap_or_else(|| panic!("no profile {profile}")),
        division: DivisionCode::parse(division).unwrap_or_else(|e| panic!("{e}")),
        site: site.map(|s| data.site(s).unwrap_or_else(|| panic!("no site {s}"))),
    }
}

/// Friday 2026-11-27, 10:00 China Standard Time: a working day.
const FRIDAY_10: OffsetDateTime = datetime!(2026-11-27 10:00 +8);

fn reason_for(offer: &Offer<'_>, name: &str) -> Option<Reason> {
    offer
        .unavailable
        .iter()
        .find(|u| u.item.name == name)
        .map(|u| u.reason)
}

fn flow_of<'o>(offer: &'o Offer<'_>, name: &str) -> Option<&'o Flow<'o>> {
    offer
        .offered
        .iter()
        .find(|o| o.item.name == name)
        .map(|o| &o.flow)
}

fn kinds(flow: &Flow<'_>) -> Vec<StepKind> {
    flow.steps.iter().map(Step::kind).collect()
}

#[test]
fn a_full_stm_offers_a_certificate_print_with_its_whole_flow() {
    let data = data();
    let t = terminal(&data, "stm-full", "440106", None);
    let offer = offer(&data.catalogue, &data.calendar, &t, FRIDAY_10);
    let flow = flow_of(&offer, "户籍证明开具")
        .unwrap_or_else(|| panic!("not offered: {:?}", reason_for(&offer, "户籍证明开具")));
    assert_eq!(
        kinds(flow),
        [
            StepKind::Identify,
            StepKind::Form,
            StepKind::Confirm,
            StepKind::Deliver,
            StepKind::Rate
        ]
    );
    let identify = flow
        .steps
        .first()
        .map(Step::identify_methods)
        .unwrap_or_default();
    assert_eq!(
        identify,
        [IdentifyMethod::IdCardFace, IdentifyMethod::QrCode]
    );
    let deliver = flow.steps.iter().find(|s| s.kind() == StepKind::Deliver);
    assert_eq!(deliver.map(|d| d.outputs()[0].1), Some(Delivery::A4Print));
    // An application with materials, signature, fee and submission.
    let renewal = flow_of(&offer, "机动车驾驶证期满换证").map(kinds);
    assert_eq!(
        renewal,
        Some(vec![
            StepKind::Identify,
            StepKind::Form,
            StepKind::Materials,
            StepKind::Sign,
            StepKind::Confirm,
            StepKind::Pay,
            StepKind::Submit,
            StepKind::Deliver,
            StepKind::Rate
        ])
    );
}

#[test]
fn not_implemented_names_the_division_and_the_nearest_implementation_wins() {
    let data = data();
    let shenzhen = terminal(&data, "stm-full", "440304", None);
    let offer_sz = offer(&data.catalogue, &data.calendar, &shenzhen, FRIDAY_10);
    assert_eq!(
        reason_for(&offer_sz, "城乡居民养老保险参保登记"),
        Some(Reason::NotImplemented {
            division: shenzhen.division
        })
    );
    // Futian has its own implementation of 户籍证明开具 (district level, exercise level 4).
    let futian = offer_sz
        .offered
        .iter()
        .find(|o| o.item.name == "户籍证明开具");
    assert_eq!(
        futian
            .map(|o| o.implementation.division.to_string())
            .as_deref(),
        Some("440304")
    );
    // A province-level item is found from any district.
    assert!(flow_of(&offer_sz, "个人所得税纳税记录开具").is_some());
}

#[test]
fn disabled_says_whether_not_self_service_or_switched_off() {
    let data = data();
    let shantou = terminal(&data, "stm-full", "440500", None);
    let o = offer(&data.catalogue, &data.calendar, &shantou, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "交通违法罚款缴纳"),
        Some(Reason::Disabled {
            cause: DisabledCause::SwitchedOff
        })
    );
    let zhanjiang = terminal(&data, "stm-full", "440800", None);
    let o = offer(&data.catalogue, &data.calendar, &zhanjiang, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "法律援助申请"),
        Some(Reason::Disabled {
            cause: DisabledCause::NotSelfService
        })
    );
}

#[test]
fn an_iso8583_atm_pays_notices_and_nothing_its_protocol_cannot_carry() {
    let data = data();
    let atm = terminal(&data, "atm-iso8583", "440100", None);
    let o = offer(&data.catalogue, &data.calendar, &atm, FRIDAY_10);
    let fine = flow_of(&o, "交通违法罚款缴纳");
    assert_eq!(
        fine.map(kinds),
        Some(vec![
            StepKind::Form,
            StepKind::Confirm,
            StepKind::Pay,
            StepKind::Deliver
        ])
    );
    let pay = fine.and_then(|f| f.steps.iter().find(|s| s.kind() == StepKind::Pay));
    assert_eq!(pay.map(Step::pay_methods), Some(vec![PayMethod::Card]));
    assert_eq!(
        reason_for(&o, "户籍证明开具"),
        Some(Reason::Protocol {
            step: StepKind::Identify
        })
    );
    assert_eq!(
        reason_for(&o, "律师执业信息查询"),
        Some(Reason::Protocol {
            step: StepKind::Form
        })
    );
    assert_eq!(
        reason_for(&o, "人民调解员名册查询"),
        Some(Reason::Protocol {
            step: StepKind::Deliver
        })
    );
    assert!(
        o.offered
            .iter()
            .all(|x| x.item.identity == IdentityRequirement::None)
    );
}

#[test]
fn missing_devices_are_named_with_their_step() {
    let data = data();
    let no_a4 = terminal(&data, "stm-no-a4", "440100", None);
    let o = offer(&data.catalogue, &data.calendar, &no_a4, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "无房产证明开具"),
        Some(Reason::MissingDevice {
            device: Device::A4Printer,
            step: StepKind::Deliver
        })
    );
    // Where an e-licence is acceptable, the certificate goes out as one instead.
    let flow = flow_of(&o, "户籍证明开具");
    let deliver = flow.and_then(|f| f.steps.iter().find(|s| s.kind() == StepKind::Deliver));
    assert_eq!(deliver.map(|d| d.outputs()[0].1), Some(Delivery::ELicence));

    let kiosk = terminal(&data, "village-kiosk", "440200", None);
    let o = offer(&data.catalogue, &data.calendar, &kiosk, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "失业登记"),
        Some(Reason::MissingDevice {
            device: Device::SignaturePad,
            step: StepKind::Sign
        })
    );
    // No card reader: the kiosk takes fees by QR code.
    let pay = flow_of(&o, "城乡居民基本医疗保险费缴纳").and_then(|f| {
        f.steps
            .iter()
            .find(|s| s.kind() == StepKind::Pay)
            .map(Step::pay_methods)
    });
    assert_eq!(pay, Some(vec![PayMethod::Qr]));

    let mut bare = data
        .profile("stm-no-a4")
        .cloned()
        .unwrap_or_else(|| panic!());
    bare.devices = DeviceSet::of(&[Device::FaceCamera, Device::ReceiptPrinter]);
    let t = Terminal {
        profile: &bare,
        division: no_a4.division,
        site: None,
    };
    let o = offer(&data.catalogue, &data.calendar, &t, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "户籍证明开具"),
        Some(Reason::MissingDevice {
            device: Device::IdCardReader,
            step: StepKind::Identify
        })
    );
    bare.devices = DeviceSet::of(&[
        Device::IdCardReader,
        Device::FaceCamera,
        Device::SignaturePad,
    ]);
    let t = Terminal {
        profile: &bare,
        division: no_a4.division,
        site: None,
    };
    let o = offer(&data.catalogue, &data.calendar, &t, FRIDAY_10);
    assert_eq!(
        reason_for(&o, "机动车驾驶证期满换证"),
        Some(Reason::MissingDevice {
            device: Device::DocumentCamera,
            step: StepKind::Materials
        })
    );
}

#[test]
fn closed_gives_the_next_opening_of_site_and_back_end_together() {
    let data = data();
    let hall = terminal(&data, "stm-full", "440106", Some("gz-tianhe-hall"));
    // Sunday 29 November 2026, 10:00: the hall is closed; it reopens Monday at 09:00.
    let sunday = offer(
        &data.catalogue,
        &data.calendar,
        &hall,
        datetime!(2026-11-29 10:00 +8),
    );
    assert_eq!(
        reason_for(&sunday, "户籍证明开具"),
        Some(Reason::Closed {
            until: Some(datetime!(2026-11-30 09:00 +8))
        })
    );
    // Friday 13:30: the hall is open, but office-hours back ends reopen at 14:00.
    let lunch = offer(
        &data.catalogue,
        &data.calendar,
        &hall,
        datetime!(2026-11-27 13:30 +8),
    );
    assert!(flow_of(&lunch, "户籍证明开具").is_some());
    assert_eq!(
        reason_for(&lunch, "失业登记"),
        Some(Reason::Closed {
            until: Some(datetime!(2026-11-27 14:00 +8))
        })
    );
    // National Day: closed until the first working day after the holiday.
    let holiday = offer(
        &data.catalogue,
        &data.calendar,
        &hall,
        datetime!(2026-10-01 10:00 +8),
    );
    assert_eq!(
        reason_for(&holiday, "户籍证明开具"),
        Some(Reason::Closed {
            until: Some(datetime!(2026-10-08 09:00 +8))
        })
    );
    // A 24-hour zone at 03:00: queries are open; payments wait for the nightly batch to end.
    let zone = terminal(&data, "stm-full", "440106", Some("gz-tianhe-24h"));
    let night = offer(
        &data.catalogue,
        &data.calendar,
        &zone,
        datetime!(2026-11-27 00:10 +8),
    );
    assert!(flow_of(&night, "户籍证明开具").is_some());
    assert_eq!(
        reason_for(&night, "交通违法罚款缴纳"),
        Some(Reason::Closed {
            until: Some(datetime!(2026-11-27 00:30 +8))
        })
    );
}

#[test]
fn weekend_duty_and_the_shifted_week_follow_the_site_rules() {
    let data = data();
    let dongguan = terminal(&data, "stm-full", "441900", Some("dg-city-hall"));
    let saturday = offer(
        &data.catalogue,
        &data.calendar,
        &dongguan,
        datetime!(2026-11-28 10:00 +8),
    );
    assert!(
        flow_of(&saturday, "户籍证明开具").is_some(),
        "duty day: always-on items are offered"
    );
    assert!(matches!(
        reason_for(&saturday, "失业登记"),
        Some(Reason::Closed { .. })
    ));
    let futian = terminal(&data, "stm-full", "440304", Some("sz-futian-branch"));
    let monday = offer(
        &data.catalogue,
        &data.calendar,
        &futian,
        datetime!(2026-11-30 10:00 +8),
    );
    assert_eq!(
        reason_for(&monday, "户籍证明开具"),
        Some(Reason::Closed {
            until: Some(datetime!(2026-12-01 09:00 +8))
        })
    );
}

#[test]
fn every_item_appears_once_in_code_order_and_the_answer_is_deterministic() {
    let data = data();
    let t = terminal(
        &data,
        "village-kiosk",
        "440200",
        Some("sg-village-service-point"),
    );
    let a = offer(&data.catalogue, &data.calendar, &t, FRIDAY_10);
    let b = offer(&data.catalogue, &data.calendar, &t, FRIDAY_10);
    assert_eq!(
        a.offered.len() + a.unavailable.len(),
        data.catalogue.items().len()
    );
    let codes = |o: &Offer<'_>| -> Vec<String> {
        o.offered
            .iter()
            .map(|x| x.item.code.to_string())
            .chain(o.unavailable.iter().map(|x| x.item.code.to_string()))
            .collect()
    };
    assert_eq!(codes(&a), codes(&b));
    let offered: Vec<_> = a.offered.iter().map(|x| x.item.code.clone()).collect();
    assert!(offered.windows(2).all(|w| w[0] < w[1]));
}
