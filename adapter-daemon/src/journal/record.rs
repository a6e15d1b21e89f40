//! What the journal holds: events of sessions and platform calls, turned into sealed, chained
//! records. Each record's hash covers the previous record's hash and every field of its own,
//! so editing, deleting or reordering any record breaks the chain (`stm-adapter journal verify`).

use adapter_core::session::JournalEntry;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::cipher::FieldCipher;

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to journal.
#[derive(Debug, Clone)]
pub enum JournalEvent {
    /// An entry of the session engine.
    Engine(JournalEntry),
    /// A platform call finished (or failed) after `millis`.
    PlatformCall {
        call: &'static str,
        millis: u64,
        /// `None` on success, else the error class and code.
        error: Option<(String, String)>,
    },
    SessionOpened {
        profile: String,
        site: Option<String>,
    },
    SessionResumed,
    SessionEnded,
    /// A bank-switch link opened (`session_id` is the link id, `terminal_id` the peer).
    LinkOpened {
        tls: bool,
    },
    LinkClosed {
        reason: String,
    },
    /// An ISO 8583 message received on a link, and one sent.
    Iso8583In(crate::gateway::iso8583::Summary),
    Iso8583Out(crate::gateway::iso8583::Summary),
    /// A request that changes nothing (a notice inquiry, an application's status) and its
    /// answer, in one record written before the answer leaves
    /// (docs/decisions/0006-journal-throughput.md).
    Iso8583Exchange {
        request: crate::gateway::iso8583::Summary,
        answer: crate::gateway::iso8583::Summary,
    },
    /// A change to the payment book of the biller host.
    Bill(crate::gateway::iso8583::book::BillEvent),
}

/// One event of one session.
#[derive(Debug, Clone)]
pub struct JournalRecord {
    pub session_id: String,
    pub terminal_id: String,
    pub event: JournalEvent,
}

/// A record as stored: numbered, timed, sealed and chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub seq: i64,
    /// RFC 3339 UTC with microseconds.
    pub at: String,
    pub session_id: String,
    pub terminal_id: String,
    pub kind: String,
    /// JSON; personal fields sealed with the journal key.
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Sealed {
    /// The hash this record must carry: HMAC-SHA256 under the chain key of every field and
    /// the previous hash.
    pub fn compute_hash(&self, chain_key: &[u8; 32]) -> String {
        self.hash_as(self.seq, chain_key)
    }

    /// The hash the record would carry with sequence number `seq`.
    pub fn hash_as(&self, seq: i64, chain_key: &[u8; 32]) -> String {
        let Ok(mut h) = Hmac::<Sha256>::new_from_slice(chain_key) else {
            return String::new();
        };
        for part in [
            self.prev_hash.as_str(),
            &seq.to_string(),
            &self.at,
            &self.session_id,
            &self.terminal_id,
            &self.kind,
            &self.body,
        ] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        // Into a buffer rather than `hex::encode`'s char by char: the writer hashes every
        // record on its one thread.
        let mut text = [0u8; 64];
        match hex::encode_to_slice(h.finalize().into_bytes(), &mut text) {
            Ok(()) => String::from_utf8_lossy(&text).into_owned(),
            Err(_) => String::new(),
        }
    }
}

/// A record with its body rendered, ready for the writer to number, time and chain.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub session_id: String,
    pub terminal_id: String,
    pub kind: &'static str,
    pub body: String,
}

impl Rendered {
    /// Renders `record`'s body, its personal values sealed with `cipher`.
    pub fn new(record: JournalRecord, cipher: &FieldCipher) -> Rendered {
        let (kind, body) = body(&record.event, cipher);
        Rendered {
            session_id: record.session_id,
            terminal_id: record.terminal_id,
            kind,
            body,
        }
    }
}

fn debug_name(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}")
}

/// The JSON text of `value`, written directly: the bank-switch events are most of a busy
/// journal, and a `Value` built first cost as much again.
fn text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| json!({ "unencodable": e.to_string() }).to_string())
}

/// A request and its answer, as [`JournalEvent::Iso8583Exchange`] stores them.
#[derive(serde::Serialize)]
struct Exchange<'a> {
    request: &'a crate::gateway::iso8583::Summary,
    answer: &'a crate::gateway::iso8583::Summary,
}

/// The kind and JSON body of an event; personal values sealed.
pub fn body(event: &JournalEvent, cipher: &FieldCipher) -> (&'static str, String) {
    match event {
        JournalEvent::Iso8583In(summary) => ("Iso8583In", text(summary)),
        JournalEvent::Iso8583Out(summary) => ("Iso8583Out", text(summary)),
        JournalEvent::Iso8583Exchange { request, answer } => {
            ("Iso8583Exchange", text(&Exchange { request, answer }))
        }
        JournalEvent::Bill(event) => ("Bill", text(event)),
        other => {
            let (kind, value) = value_body(other, cipher);
            (kind, value.to_string())
        }
    }
}

/// The body of any event built as a JSON value: what [`body`] writes for the events it does not
/// write directly, and the reference its direct text is tested against.
fn value_body(event: &JournalEvent, cipher: &FieldCipher) -> (&'static str, Value) {
    match event {
        JournalEvent::Engine(entry) => engine_body(entry, cipher),
        JournalEvent::PlatformCall {
            call,
            millis,
            error,
        } => (
            "PlatformCall",
            json!({
                "call": call,
                "millis": millis,
                "class": error.as_ref().map(|e| &e.0),
                "code": error.as_ref().map(|e| &e.1),
            }),
        ),
        JournalEvent::SessionOpened { profile, site } => {
            ("SessionOpened", json!({ "profile": profile, "site": site }))
        }
        JournalEvent::SessionResumed => ("SessionResumed", json!({})),
        JournalEvent::SessionEnded => ("SessionEnded", json!({})),
        JournalEvent::LinkOpened { tls } => ("LinkOpened", json!({ "tls": tls })),
        JournalEvent::LinkClosed { reason } => ("LinkClosed", json!({ "reason": reason })),
        JournalEvent::Iso8583In(summary) => ("Iso8583In", json!(summary)),
        JournalEvent::Iso8583Out(summary) => ("Iso8583Out", json!(summary)),
        JournalEvent::Iso8583Exchange { request, answer } => (
            "Iso8583Exchange",
            json!({ "request": request, "answer": answer }),
        ),
        JournalEvent::Bill(event) => ("Bill", json!(event)),
    }
}

fn engine_body(entry: &JournalEntry, cipher: &FieldCipher) -> (&'static str, Value) {
    use JournalEntry as E;
    match entry {
        E::ItemStarted {
            code,
            implementing_code,
        } => (
            "ItemStarted",
            json!({ "code": code, "implementingCode": implementing_code }),
        ),
        E::StepSent { request_id, step } => (
            "StepSent",
            json!({ "requestId": request_id, "step": debug_name(step) }),
        ),
        E::StepCompleted {
            request_id,
            step,
            code,
        } => (
            "StepCompleted",
            json!({ "requestId": request_id, "step": debug_name(step), "code": debug_name(code) }),
        ),
        E::TerminalIgnored { request_id, reason } => (
            "TerminalIgnored",
            json!({ "requestId": request_id, "reason": reason }),
        ),
        E::IdentityVerified { subject, id_number } => (
            "IdentityVerified",
            json!({ "subject": subject, "idNumber": cipher.seal(id_number.expose()) }),
        ),
        E::IdentityRefused { attempt, code } => (
            "IdentityRefused",
            json!({ "attempt": attempt, "code": code }),
        ),
        E::ApplicationCreated { application_id } => (
            "ApplicationCreated",
            json!({ "applicationId": application_id }),
        ),
        E::MaterialUploaded {
            application_id,
            name,
        } => (
            "MaterialUploaded",
            json!({ "applicationId": application_id, "name": name }),
        ),
        E::ApplicationSubmitted {
            application_id,
            case_number,
        } => (
            "ApplicationSubmitted",
            json!({ "applicationId": application_id, "caseNumber": case_number }),
        ),
        E::NoticeFound {
            notice_number,
            amount_fen,
        } => (
            "NoticeFound",
            json!({ "noticeNumber": notice_number, "amountFen": amount_fen }),
        ),
        E::PaymentTaken {
            method,
            notice_number,
            amount_fen,
            bank_reference,
            masked_pan,
            idempotency_key,
        } => (
            "PaymentTaken",
            json!({
                "method": debug_name(method),
                "noticeNumber": notice_number,
                "amountFen": amount_fen,
                "bankReference": bank_reference,
                "maskedPan": masked_pan,
                "idempotencyKey": idempotency_key,
            }),
        ),
        E::PaymentConfirmed {
            notice_number,
            receipt_number,
        } => (
            "PaymentConfirmed",
            json!({ "noticeNumber": notice_number, "receiptNumber": receipt_number }),
        ),
        E::ConfirmationDeferred {
            notice_number,
            amount_fen,
            bank_reference,
            idempotency_key,
        } => (
            "ConfirmationDeferred",
            json!({
                "noticeNumber": notice_number,
                "amountFen": amount_fen,
                "bankReference": bank_reference,
                "idempotencyKey": idempotency_key,
            }),
        ),
        E::RefundRequired {
            notice_number,
            amount_fen,
            bank_reference,
            reason,
        } => (
            "RefundRequired",
            json!({
                "noticeNumber": notice_number,
                "amountFen": amount_fen,
                "bankReference": bank_reference,
                "reason": reason,
            }),
        ),
        E::PaymentReversed { bank_reference } => (
            "PaymentReversed",
            json!({ "bankReference": bank_reference }),
        ),
        E::PaymentCancelled {
            notice_number,
            refund_reference,
        } => (
            "PaymentCancelled",
            json!({ "noticeNumber": notice_number, "refundReference": refund_reference }),
        ),
        E::AppointmentBooked {
            booking_number,
            slot_id,
            start,
        } => (
            "AppointmentBooked",
            json!({ "bookingNumber": booking_number, "slotId": slot_id, "start": start }),
        ),
        E::Delivered {
            result,
            delivery,
            status,
        } => (
            "Delivered",
            json!({ "result": result, "delivery": delivery, "status": status }),
        ),
        E::Rated { score } => ("Rated", json!({ "score": score })),
        E::PlatformFailed {
            call,
            class,
            code,
            attempt,
        } => (
            "PlatformFailed",
            json!({ "call": call, "class": debug_name(class), "code": code, "attempt": attempt }),
        ),
        E::ItemEnded {
            outcome,
            case_number,
            receipt_number,
            refund,
        } => (
            "ItemEnded",
            json!({
                "outcome": debug_name(outcome),
                "caseNumber": case_number,
                "receiptNumber": receipt_number,
                "refund": refund,
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::iso8583::Summary;
    use crate::gateway::iso8583::book::{BillEvent, PaymentKey};

    fn summary(mti: &str, code: Option<&str>) -> Summary {
        Summary {
            mti: mti.into(),
            processing_code: Some("500000".into()),
            stan: Some("000042".into()),
            transmitted: Some("1128093000".into()),
            terminal: Some("BANK0001".into()),
            network_code: None,
            response_code: code.map(Into::into),
            notice: Some("44010020261128000001".into()),
            amount_fen: Some(12_345),
        }
    }

    /// The bank-switch bodies are written without a `Value` in between; the text is what the
    /// `Value` gives, so journals before and after read and verify alike.
    #[test]
    fn bank_switch_bodies_are_the_text_a_json_value_gives() {
        let cipher = FieldCipher::from_hex(&"11".repeat(32)).unwrap_or_else(|e| panic!("{e}"));
        let (request, answer) = (summary("0200", None), summary("0210", Some("00")));
        let key = PaymentKey {
            terminal: "BANK0001".into(),
            stan: "000042".into(),
            transmitted: "1128093000".into(),
            batch: String::new(),
        };
        for event in [
            JournalEvent::Iso8583In(request.clone()),
            JournalEvent::Iso8583Out(answer.clone()),
            JournalEvent::Iso8583Exchange { request, answer },
            JournalEvent::Bill(BillEvent::Confirming { key }),
        ] {
            let (kind, value) = value_body(&event, &cipher);
            assert_eq!(body(&event, &cipher), (kind, value.to_string()));
        }
    }

    #[test]
    fn a_hash_is_64_lower_case_hex_digits() {
        let sealed = Sealed {
            seq: 1,
            at: "2026-11-29T02:00:00.000000Z".into(),
            session_id: "L-1".into(),
            terminal_id: "BANK0001".into(),
            kind: "Iso8583In".into(),
            body: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let hash = sealed.compute_hash(&[7; 32]);
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        for part in [
            GENESIS,
            "1",
            &sealed.at,
            "L-1",
            "BANK0001",
            "Iso8583In",
            "{}",
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        assert_eq!(hash, hex::encode(mac.finalize().into_bytes()));
    }
}
