//! Identifiers arrive from terminals (ID-card chip text, QR codes) and operators: any text parses
//! or is refused, never panics.
#![no_main]

use adapter_core::ids::{CardNumber, CitizenId, CreditCode, DivisionCode, ItemCode, LicenceId};
use libfuzzer_sys::fuzz_target;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = CitizenId::parse(text, date!(2026 - 11 - 28)).map(|id| (id.birth_date(), id.masked()));
    let _ = CreditCode::parse(text).map(|c| c.organisation_code().len());
    let _ = LicenceId::parse(text).map(|l| l.version());
    let _ = DivisionCode::parse(text).map(|d| d.ancestry().count());
    let _ = CardNumber::parse(text).map(|c| c.masked());
    let _ = ItemCode::parse(text);
});
