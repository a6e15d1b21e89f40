//! What the session engine asks to be journaled. The shell writes each entry durably (with the
//! session id, a sequence number and a time) before it acts on the actions that follow it.
//! Personal values are `Sensitive`: the journal encrypts them at rest and logs never show them.

use adapter_protocols::tsp::{CompletionCode, Outcome, Sensitive};

use crate::plan::StepKind;
use crate::platform::{ErrorClass, PaymentMethod};

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    ItemStarted {
        code: String,
        implementing_code: String,
    },
    StepSent {
        request_id: u64,
        step: StepKind,
    },
    StepCompleted {
        request_id: u64,
        step: StepKind,
        code: CompletionCode,
    },
    /// A completion or message from the terminal that was not applied (duplicate, late, unknown).
    TerminalIgnored {
        request_id: u64,
        reason: String,
    },
    IdentityVerified {
        subject: String,
        id_number: Sensitive<String>,
    },
    IdentityRefused {
        attempt: u8,
        code: String,
    },
    ApplicationCreated {
        application_id: String,
    },
    MaterialUploaded {
        application_id: String,
        name: String,
    },
    ApplicationSubmitted {
        application_id: String,
        case_number: String,
    },
    NoticeFound {
        notice_number: String,
        amount_fen: u64,
    },
    /// Money was taken on the terminal. From here on, the payment ends either confirmed at the
    /// platform or refunded, never silently lost.
    PaymentTaken {
        method: PaymentMethod,
        notice_number: String,
        amount_fen: u64,
        bank_reference: Option<String>,
        masked_pan: Option<String>,
        idempotency_key: String,
    },
    PaymentConfirmed {
        notice_number: String,
        receipt_number: String,
    },
    /// The platform could not be reached: store-and-forward delivers the confirmation with this
    /// idempotency key.
    ConfirmationDeferred {
        notice_number: String,
        amount_fen: u64,
        bank_reference: Option<String>,
        idempotency_key: String,
    },
    /// A taken or confirmed payment must be given back; store-and-forward or an operator
    /// finishes what the session could not.
    RefundRequired {
        notice_number: String,
        amount_fen: u64,
        bank_reference: Option<String>,
        reason: String,
    },
    PaymentReversed {
        bank_reference: String,
    },
    PaymentCancelled {
        notice_number: String,
        refund_reference: String,
    },
    AppointmentBooked {
        booking_number: String,
        slot_id: String,
        /// RFC 3339.
        start: String,
    },
    Delivered {
        result: String,
        delivery: String,
        status: String,
    },
    Rated {
        score: u8,
    },
    PlatformFailed {
        call: &'static str,
        class: ErrorClass,
        code: String,
        attempt: u8,
    },
    ItemEnded {
        outcome: Outcome,
        case_number: Option<String>,
        receipt_number: Option<String>,
        refund: Option<String>,
    },
}
