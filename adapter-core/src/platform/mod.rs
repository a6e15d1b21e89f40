//! The seam to the provincial government-service platform: the [`PlatformApi`] trait, its
//! request and reply types, and its error classes.
//!
//! The daemon's HTTPS client and the embedded sandbox implement the trait (docs/platform-api.md
//! is the HTTP contract). The session engine never calls it: it emits [`PlatformCall`]s, the
//! shell runs them with [`execute`] and hands the [`PlatformReply`] back. With the `mock`
//! feature (and in this crate's tests) `MockPlatformApi` is a mockall mock of the trait.

use std::collections::BTreeMap;
use std::fmt;

use adapter_protocols::tsp::Sensitive;
use async_trait::async_trait;

/// An opaque reference to a verified citizen, issued by the platform. Not personal data by
/// itself; calls that act for the citizen carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef(pub String);

/// How strongly the citizen was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assurance {
    /// ID card chip read and a live face matched to its photo (人证核验).
    ChipAndFace,
    /// The provincial app's QR code (粤省事), itself backed by a verified account.
    AppQrCode,
}

/// Identity verification from an ID card read and a face capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCheck {
    pub terminal_id: String,
    pub id_number: Sensitive<String>,
    pub name: Sensitive<String>,
    /// The chip photo (BMP).
    pub chip_photo: Sensitive<Vec<u8>>,
    /// The live capture (JPEG).
    pub face: Sensitive<Vec<u8>>,
}

/// Identity from a QR code of the provincial app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrIdentityCheck {
    pub terminal_id: String,
    pub code: Sensitive<String>,
}

/// A verified citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub subject: SubjectRef,
    pub id_number: Sensitive<String>,
    pub name: Sensitive<String>,
    pub assurance: Assurance,
}

/// E-licences of a citizen, by licence type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceQuery {
    pub subject: SubjectRef,
    pub licence_types: Vec<String>,
}

/// An e-licence held by the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ELicence {
    pub licence_id: String,
    pub licence_type: String,
    pub name: String,
}

/// A new application (办件) for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub idempotency_key: String,
    pub subject: SubjectRef,
    pub implementing_code: String,
    pub terminal_id: String,
    pub form: BTreeMap<String, Sensitive<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRef {
    pub application_id: String,
}

/// What a material upload carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaterialContent {
    /// A scan or signature taken on the terminal.
    Image {
        media_type: String,
        data: Sensitive<Vec<u8>>,
    },
    /// A reference to an e-licence: the platform fetches it itself.
    ELicence { licence_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialUpload {
    pub idempotency_key: String,
    pub application_id: String,
    pub name: String,
    pub content: MaterialContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub idempotency_key: String,
    pub application_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub case_number: String,
    /// YYYY-MM-DD.
    pub promised_date: Option<String>,
}

/// A payment-notice's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeStatus {
    Unpaid,
    Paid,
    Cancelled,
}

/// A payment notice (缴款书).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNotice {
    pub notice_number: String,
    pub amount_fen: u64,
    pub payee: String,
    /// YYYY-MM-DD.
    pub due_date: Option<String>,
    pub status: NoticeStatus,
    /// The QR code to pay it on a phone.
    pub qr_payload: Option<String>,
    /// Set once paid.
    pub receipt_number: Option<String>,
}

/// A request for a payment notice for an application's fixed fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRequest {
    pub idempotency_key: String,
    pub application_id: String,
    pub amount_fen: u64,
}

/// How a payment was made on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    Card,
    Qr,
    Cash,
}

/// Confirmation of a payment the bank approved: the platform records the notice as paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConfirmation {
    pub idempotency_key: String,
    pub notice_number: String,
    pub amount_fen: u64,
    pub method: PaymentMethod,
    /// The bank's reference (RRN) for a card payment.
    pub bank_reference: Option<String>,
    pub terminal_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedPayment {
    pub receipt_number: String,
}

/// Cancellation of a confirmed payment: the platform refunds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCancellation {
    pub idempotency_key: String,
    pub notice_number: String,
    pub receipt_number: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledPayment {
    pub refund_reference: String,
}

/// A result document to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRequest {
    /// The case, application or notice the result belongs to (the implementing code for a
    /// look-up that has none).
    pub reference: String,
    pub result: String,
    pub subject: Option<SubjectRef>,
    /// The values the citizen entered (a certificate's purpose, a query's period).
    pub form: BTreeMap<String, Sensitive<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub media_type: String,
    pub data: Sensitive<Vec<u8>>,
    pub pages: u32,
}

/// A rating (好差评).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub reference: String,
    pub score: u8,
    pub text: Option<Sensitive<String>>,
    pub terminal_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotQuery {
    pub implementing_code: String,
    pub division: String,
    /// YYYY-MM-DD.
    pub from: String,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentSlot {
    pub slot_id: String,
    pub hall: String,
    /// RFC 3339.
    pub start: String,
    pub end: String,
    pub remaining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub idempotency_key: String,
    pub slot_id: String,
    pub subject: SubjectRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub booking_number: String,
}

/// Where a submitted application (办件) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStage {
    /// Handed to the department, not yet taken up.
    Submitted,
    /// Taken up (受理).
    Accepted,
    /// Decided in the citizen's favour, the result being prepared.
    Approved,
    /// Done (办结): the result is ready or delivered.
    Completed,
}

/// A submitted application, found by its case number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseStatus {
    pub case_number: String,
    pub implementing_code: String,
    pub stage: CaseStage,
    /// YYYY-MM-DD.
    pub promised_date: Option<String>,
}

/// A payment as the platform's daily report has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPayment {
    pub notice_number: String,
    pub receipt_number: String,
    pub amount_fen: u64,
    pub bank_reference: Option<String>,
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationReport {
    /// YYYY-MM-DD.
    pub date: String,
    pub payments: Vec<ReportedPayment>,
}

/// How a platform error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again later (network, timeout, 5xx, rate limit): only calls with an idempotency key
    /// or without effect may be retried.
    Retryable,
    /// The platform refused (business rule); retrying gives the same answer.
    Final,
    /// The daemon's credentials or signature were refused: an operator must act.
    Unauthorised,
    /// What was asked for does not exist (a notice, an application).
    NotFound,
    /// The platform's answer could not be trusted: malformed, against the contract, or its
    /// signature did not verify. Whether the platform acted is unknown, so an effect (a payment
    /// confirmation) is treated as possibly made; retrying would most likely get the same answer.
    BadResponse,
}

/// An error from the platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class:?} platform error {code}: {message}")]
pub struct PlatformError {
    pub class: ErrorClass,
    /// The platform's error code.
    pub code: String,
    /// The platform's text; never personal data.
    pub message: String,
}

impl PlatformError {
    pub fn new(
        class: ErrorClass,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> PlatformError {
        PlatformError {
            class,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

/// The government-service platform, as the daemon needs it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PlatformApi: Send + Sync {
    async fn verify_identity(
        &self,
        check: IdentityCheck,
    ) -> Result<VerifiedIdentity, PlatformError>;
    async fn qr_identity(&self, check: QrIdentityCheck) -> Result<VerifiedIdentity, PlatformError>;
    async fn lookup_licences(&self, query: LicenceQuery) -> Result<Vec<ELicence>, PlatformError>;
    async fn create_application(
        &self,
        application: NewApplication,
    ) -> Result<ApplicationRef, PlatformError>;
    async fn upload_material(&self, upload: MaterialUpload) -> Result<(), PlatformError>;
    async fn submit_application(&self, submission: Submission) -> Result<Submitted, PlatformError>;
    async fn query_notice(&self, notice_number: String) -> Result<PaymentNotice, PlatformError>;
    async fn issue_notice(&self, request: NoticeRequest) -> Result<PaymentNotice, PlatformError>;
    async fn confirm_payment(
        &self,
        confirmation: PaymentConfirmation,
    ) -> Result<ConfirmedPayment, PlatformError>;
    /// Several confirmations in one call, each under its own idempotency key and answered as
    /// [`PlatformApi::confirm_payment`] would answer it alone, in order. `Err` when the call as
    /// a whole failed (nothing is known of any item; each may be sent again under its key).
    /// The default confirms them one by one.
    async fn confirm_payments(
        &self,
        confirmations: Vec<PaymentConfirmation>,
    ) -> Result<Vec<Result<ConfirmedPayment, PlatformError>>, PlatformError> {
        let mut answers = Vec::with_capacity(confirmations.len());
        for confirmation in confirmations {
            answers.push(self.confirm_payment(confirmation).await);
        }
        Ok(answers)
    }
    async fn cancel_payment(
        &self,
        cancellation: PaymentCancellation,
    ) -> Result<CancelledPayment, PlatformError>;
    async fn fetch_document(&self, request: DocumentRequest) -> Result<Document, PlatformError>;
    async fn evaluate(&self, evaluation: Evaluation) -> Result<(), PlatformError>;
    async fn appointment_slots(
        &self,
        query: SlotQuery,
    ) -> Result<Vec<AppointmentSlot>, PlatformError>;
    async fn book_appointment(&self, booking: BookingRequest) -> Result<Booking, PlatformError>;
    async fn reconciliation_report(
        &self,
        date: String,
    ) -> Result<ReconciliationReport, PlatformError>;
    /// A submitted application's status by its case number.
    async fn case_status(&self, case_number: String) -> Result<CaseStatus, PlatformError>;
}

/// A platform call the session engine asks its shell to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformCall {
    VerifyIdentity(IdentityCheck),
    QrIdentity(QrIdentityCheck),
    LookupLicences(LicenceQuery),
    CreateApplication(NewApplication),
    UploadMaterial(MaterialUpload),
    SubmitApplication(Submission),
    QueryNotice(String),
    IssueNotice(NoticeRequest),
    ConfirmPayment(PaymentConfirmation),
    CancelPayment(PaymentCancellation),
    FetchDocument(DocumentRequest),
    Evaluate(Evaluation),
    AppointmentSlots(SlotQuery),
    BookAppointment(BookingRequest),
}

impl PlatformCall {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            PlatformCall::VerifyIdentity(_) => "verify_identity",
            PlatformCall::QrIdentity(_) => "qr_identity",
            PlatformCall::LookupLicences(_) => "lookup_licences",
            PlatformCall::CreateApplication(_) => "create_application",
            PlatformCall::UploadMaterial(_) => "upload_material",
            PlatformCall::SubmitApplication(_) => "submit_application",
            PlatformCall::QueryNotice(_) => "query_notice",
            PlatformCall::IssueNotice(_) => "issue_notice",
            PlatformCall::ConfirmPayment(_) => "confirm_payment",
            PlatformCall::CancelPayment(_) => "cancel_payment",
            PlatformCall::FetchDocument(_) => "fetch_document",
            PlatformCall::Evaluate(_) => "evaluate",
            PlatformCall::AppointmentSlots(_) => "appointment_slots",
            PlatformCall::BookAppointment(_) => "book_appointment",
        }
    }
}

/// The platform's answer to a [`PlatformCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformReply {
    Identity(VerifiedIdentity),
    Licences(Vec<ELicence>),
    Application(ApplicationRef),
    Uploaded,
    Submitted(Submitted),
    Notice(PaymentNotice),
    Confirmed(ConfirmedPayment),
    Cancelled(CancelledPayment),
    Document(Document),
    Evaluated,
    Slots(Vec<AppointmentSlot>),
    Booked(Booking),
}

/// Runs `call` against `api`.
pub async fn execute(
    api: &dyn PlatformApi,
    call: PlatformCall,
) -> Result<PlatformReply, PlatformError> {
    Ok(match call {
        PlatformCall::VerifyIdentity(c) => PlatformReply::Identity(api.verify_identity(c).await?),
        PlatformCall::QrIdentity(c) => PlatformReply::Identity(api.qr_identity(c).await?),
        PlatformCall::LookupLicences(q) => PlatformReply::Licences(api.lookup_licences(q).await?),
        PlatformCall::CreateApplication(a) => {
            PlatformReply::Application(api.create_application(a).await?)
        }
        PlatformCall::UploadMaterial(u) => {
            api.upload_material(u).await?;
            PlatformReply::Uploaded
        }
        PlatformCall::SubmitApplication(s) => {
            PlatformReply::Submitted(api.submit_application(s).await?)
        }
        PlatformCall::QueryNotice(n) => PlatformReply::Notice(api.query_notice(n).await?),
        PlatformCall::IssueNotice(r) => PlatformReply::Notice(api.issue_notice(r).await?),
        PlatformCall::ConfirmPayment(c) => PlatformReply::Confirmed(api.confirm_payment(c).await?),
        PlatformCall::CancelPayment(c) => PlatformReply::Cancelled(api.cancel_payment(c).await?),
        PlatformCall::FetchDocument(r) => PlatformReply::Document(api.fetch_document(r).await?),
        PlatformCall::Evaluate(e) => {
            api.evaluate(e).await?;
            PlatformReply::Evaluated
        }
        PlatformCall::AppointmentSlots(q) => PlatformReply::Slots(api.appointment_slots(q).await?),
        PlatformCall::BookAppointment(b) => PlatformReply::Booked(api.book_appointment(b).await?),
    })
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
