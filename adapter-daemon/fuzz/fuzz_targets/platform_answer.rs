//! The platform's answers are peer input to the client: any bytes parse into a contract body
//! or are refused, and signature headers of any shape are refused, never a panic.
#![no_main]

use adapter_daemon::platform::signing::{self, ResponseParts, SigningKey};
use adapter_daemon::platform::wire::{self, Check};
use libfuzzer_sys::fuzz_target;

fn parse<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

fuzz_target!(|data: &[u8]| {
    if let Some(v) = parse::<wire::VerifiedIdentity>(data) { let _ = v.check(); }
    if let Some(v) = parse::<wire::Application>(data) { let _ = v.check(); }
    if let Some(v) = parse::<wire::Submitted>(data) { let _ = v.check(); }
    if let Some(v) = parse::<wire::PaymentNotice>(data) { let _ = v.check(); }
    if let Some(v) = parse::<wire::ConfirmedPayment>(data) { let _ = v.check(); }
    if let Some(v) = parse::<wire::ConfirmationResults>(data) { let _ = v.check(); }
    let _ = parse::<wire::ErrorBody>(data);
    let _ = parse::<wire::CatalogueSnapshot>(data);
    let _ = parse::<wire::LicenceList>(data);
    let _ = parse::<wire::SlotList>(data);
    let _ = parse::<wire::ReconciliationReport>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signing::parse_timestamp(text);
        let key = SigningKey::hmac(b"stm-adapter-sandbox-secret").map(|k| k.verifier());
        if let Ok(key) = key {
            let canonical = ResponseParts { status: 200, request_nonce: "n", timestamp: text, body: data }
                .canonical(key.algorithm());
            let _ = key.verify(&canonical, text);
        }
    }
});
