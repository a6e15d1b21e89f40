//! Properties of the identifier parsers: whatever the input, no panic; generated valid
//! identifiers parse; and every single-character substitution of a valid identifier is caught
//! (which the check-character schemes guarantee).

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use adapter_core::ids::{
    CardNumber, CitizenId, CreditCode, DivisionCode, ItemCode, LicenceId, guangdong_cities,
};
use proptest::prelude::*;
use time::macros::date;
use time::{Date, Duration};

const TODAY: Date = date!(2026 - 11 - 28);
const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

fn id_check(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn valid_id() -> impl Strategy<Value = String> {
    let cities: Vec<u32> = guangdong_cities().iter().map(|c| c.code + 3).collect();
    (prop::sample::select(cities), 0i64..38_000, 1u32..999).prop_map(|(division, days, seq)| {
        let birth = date!(1920 - 01 - 01) + Duration::days(days);
        let first17 = format!(
            "{division:06}{:04}{:02}{:02}{seq:03}",
            birth.year(),
            birth.month() as u8,
            birth.day()
        );
        format!("{first17}{}", id_check(&first17))
    })
}

fn substitute(s: &str, at: usize, with: char) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    let slot = chars.get_mut(at)?;
    if *slot == with {
        return None;
    }
    *slot = with;
    Some(chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_input_panics(s in "\\PC{0,64}") {
        let _ = CitizenId::parse(&s, TODAY);
        let _ = CreditCode::parse(&s);
        let _ = LicenceId::parse(&s);
        let _ = DivisionCode::parse(&s);
        let _ = CardNumber::parse(&s);
        let _ = ItemCode::parse(&s);
    }

    #[test]
    fn near_miss_inputs_never_panic(s in "[0-9Xx]{17,19}", c in "[0-9A-Z.]{10,80}") {
        let _ = CitizenId::parse(&s, TODAY);
        let _ = CardNumber::parse(&s);
        let _ = CreditCode::parse(&c);
        let _ = LicenceId::parse(&format!("1.2.156.3005.2.{c}"));
        let _ = ItemCode::parse(&c);
    }

    #[test]
    fn generated_id_numbers_parse_and_every_digit_substitution_is_caught(
        id in valid_id(), at in 0usize..18, d in 0u8..11,
    ) {
        prop_assert!(CitizenId::parse(&id, TODAY).is_ok(), "{} should parse", id);
        let with = if d == 10 { 'X' } else { char::from(b'0' + d) };
        if let Some(changed) = substitute(&id, at, with) {
            prop_assert!(CitizenId::parse(&changed, TODAY).is_err(), "{} should not parse", changed);
        }
    }

    #[test]
    fn completed_credit_codes_parse_and_substitutions_are_caught(
        authority in prop::sample::select(vec!['1', '5', '9', 'Y']),
        category in prop::sample::select(vec!['1', '2', '3']),
        city in prop::sample::select(guangdong_cities().iter().map(|c| c.code).collect::<Vec<_>>()),
        org in "[0-9A-HJ-NP-RT-UW-Y]{8}",
        at in 0usize..18,
        with in 0usize..31,
    ) {
        let first16 = format!("{authority}{category}{city:06}{org}");
        let code = CreditCode::complete(&first16);
        prop_assert!(code.is_ok(), "{:?}", code);
        let code = code.unwrap().to_string();
        let c = CREDIT_ALPHABET.chars().nth(with).unwrap();
        if let Some(changed) = substitute(&code, at, c) {
            prop_assert!(CreditCode::parse(&changed).is_err(), "{} should not parse", changed);
        }
    }

    #[test]
    fn built_licence_ids_parse_and_serial_substitutions_are_caught(
        serial in "[0-9A-Z]{6,20}", version in 1u16..999, at in 0usize..6, with in "[0-9A-Z]",
    ) {
        let issuer = CreditCode::parse("11430000006122244L").unwrap();
        let id = LicenceId::build("11100000000013338W011", &issuer, &serial, version).unwrap();
        prop_assert!(LicenceId::parse(id.as_str()).is_ok());
        let text = id.as_str().to_owned();
        let serial_start = text.len() - serial.len() - 6;
        let c = with.chars().next().unwrap();
        if let Some(changed) = substitute(&text, serial_start + at, c) {
            prop_assert!(LicenceId::parse(&changed).is_err(), "{} should not parse", changed);
        }
    }

    #[test]
    fn luhn_catches_every_single_digit_substitution(body in "[0-9]{15}", at in 0usize..16, d in 0u8..10) {
        let valid = (0..10u8)
            .map(|c| format!("{body}{c}"))
            .find(|n| CardNumber::parse(n).is_ok())
            .unwrap();
        if let Some(changed) = substitute(&valid, at, char::from(b'0' + d)) {
            prop_assert!(CardNumber::parse(&changed).is_err());
        }
    }
}
