//! The JSON bodies of the platform contract (docs/openapi.yaml), shared by the client and the
//! sandbox so the two cannot drift apart.
//!
//! Requests check themselves ([`Check`]) against the same constraints the OpenAPI document
//! states; the sandbox refuses what fails with `400 BAD_REQUEST` naming the field, never its
//! value. Personal data is wrapped in [`Sensitive`] so a `Debug` of any body is safe to log.

use std::collections::BTreeMap;

use adapter_protocols::tsp::Sensitive;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The path every operation hangs under.
pub const BASE_PATH: &str = "/gsp/v1";

/// The error body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// A request that breaks the contract: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    pub field: &'static str,
    pub problem: &'static str,
}

/// A request body's own contract check.
pub trait Check {
    fn check(&self) -> Result<(), Invalid>;
}

fn invalid(field: &'static str, problem: &'static str) -> Result<(), Invalid> {
    Err(Invalid { field, problem })
}

/// `value` is `min..=max` characters, each allowed by `allowed`.
pub fn token(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
) -> Result<(), Invalid> {
    let n = value.chars().count();
    if n < min {
        return invalid(field, "too short");
    }
    if n > max {
        return invalid(field, "too long");
    }
    if !value.chars().all(allowed) {
        return invalid(field, "has a character the contract does not allow");
    }
    Ok(())
}

pub fn alnum_dash(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn visible_ascii(c: char) -> bool {
    c.is_ascii_graphic()
}

fn terminal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn code_char(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

/// Free text: 1..=max characters, no leading or trailing white space, no line breaks.
pub fn short_text(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    let n = value.chars().count();
    if n == 0 {
        return invalid(field, "is empty");
    }
    if n > max {
        return invalid(field, "too long");
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return invalid(field, "starts or ends with white space");
    }
    if value.chars().any(|c| matches!(c, '\n' | '\r')) {
        return invalid(field, "has a line break");
    }
    Ok(())
}

pub fn idempotency_key(value: &str) -> Result<(), Invalid> {
    token("Idempotency-Key", value, 8, 128, visible_ascii)
}

pub fn subject(field: &'static str, value: &str) -> Result<(), Invalid> {
    token(field, value, 1, 64, alnum_dash)
}

pub fn notice_number(value: &str) -> Result<(), Invalid> {
    token("noticeNumber", value, 1, 50, alnum)
}

pub fn receipt_number(value: &str) -> Result<(), Invalid> {
    token("receiptNumber", value, 1, 64, alnum_dash)
}

pub fn implementing_code(value: &str) -> Result<(), Invalid> {
    token("implementingCode", value, 1, 64, code_char)
}

pub fn division(value: &str) -> Result<(), Invalid> {
    token("division", value, 6, 6, |c| c.is_ascii_digit())
}

fn terminal_id(value: &str) -> Result<(), Invalid> {
    token("terminalId", value, 1, 64, terminal_char)
}

fn id_number(value: &str) -> Result<(), Invalid> {
    let digits = value.get(..17).unwrap_or_default();
    let last = value.get(17..).unwrap_or_default();
    if value.len() != 18
        || !digits.chars().all(|c| c.is_ascii_digit())
        || !(last.len() == 1 && last.chars().all(|c| c.is_ascii_digit() || c == 'X'))
    {
        return invalid("idNumber", "is not 17 digits and a check character");
    }
    Ok(())
}

fn amount(field: &'static str, fen: u64) -> Result<(), Invalid> {
    if !(1..=100_000_000_000).contains(&fen) {
        return invalid(field, "out of range 1..=100000000000 fen");
    }
    Ok(())
}

/// A JSON integer as JSON Schema means it: `2` and `2.0` alike (the contract's `integer`).
fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9_007_199_254_740_992.0)
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom("not a whole number in range"))
}

const MAX_IMAGE_BASE64: usize = 4_000_000;

/// Base64 (standard alphabet, padded) of image bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageData(pub Sensitive<String>);

impl ImageData {
    pub fn encode(bytes: &[u8]) -> ImageData {
        ImageData(Sensitive::new(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    }

    pub fn decode(&self, field: &'static str) -> Result<Vec<u8>, Invalid> {
        let text = self.0.expose();
        if text.len() < 4 {
            return Err(Invalid {
                field,
                problem: "too short",
            });
        }
        if text.len() > MAX_IMAGE_BASE64 {
            return Err(Invalid {
                field,
                problem: "too long",
            });
        }
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| Invalid {
                field,
                problem: "is not base64",
            })
    }
}

/// Form values by field id.
pub type Form = BTreeMap<String, Sensitive<String>>;

fn form(value: &Form) -> Result<(), Invalid> {
    if value.len() > 50 {
        return invalid("form", "more than 50 fields");
    }
    for (key, text) in value {
        let mut chars = key.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !first_ok
            || key.len() > 64
            || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return invalid("form", "a field id breaks ^[a-z][a-z0-9_-]{0,63}$");
        }
        if text.expose().chars().count() > 500 {
            return invalid("form", "a value is longer than 500 characters");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityCheck {
    pub terminal_id: String,
    pub id_number: Sensitive<String>,
    pub name: Sensitive<String>,
    pub chip_photo: ImageData,
    pub face: ImageData,
}

impl Check for IdentityCheck {
    fn check(&self) -> Result<(), Invalid> {
        terminal_id(&self.terminal_id)?;
        id_number(self.id_number.expose())?;
        short_text("name", self.name.expose(), 64)?;
        self.chip_photo.decode("chipPhoto")?;
        self.face.decode("face")?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QrIdentityCheck {
    pub terminal_id: String,
    pub code: Sensitive<String>,
}

impl Check for QrIdentityCheck {
    fn check(&self) -> Result<(), Invalid> {
        terminal_id(&self.terminal_id)?;
        token("code", self.code.expose(), 1, 512, visible_ascii)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Assurance {
    ChipAndFace,
    AppQrCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifiedIdentity {
    pub subject: String,
    pub id_number: Sensitive<String>,
    pub name: Sensitive<String>,
    pub assurance: Assurance,
}

impl Check for VerifiedIdentity {
    fn check(&self) -> Result<(), Invalid> {
        subject("subject", &self.subject)?;
        id_number(self.id_number.expose())?;
        short_text("name", self.name.expose(), 64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogueEntry {
    pub implementing_code: String,
    pub basic_code: String,
    pub name: String,
    pub division: String,
    pub body: String,
    pub self_service: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogueSnapshot {
    pub version: String,
    pub items: Vec<CatalogueEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ELicence {
    pub licence_id: String,
    pub licence_type: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LicenceList {
    pub licences: Vec<ELicence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApplication {
    pub subject: String,
    pub implementing_code: String,
    pub terminal_id: String,
    pub form: Form,
}

impl Check for NewApplication {
    fn check(&self) -> Result<(), Invalid> {
        subject("subject", &self.subject)?;
        implementing_code(&self.implementing_code)?;
        terminal_id(&self.terminal_id)?;
        form(&self.form)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApplicationStatus {
    Draft,
    Submitted,
    Accepted,
    Approved,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    pub application_id: String,
    pub implementing_code: String,
    pub status: ApplicationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_date: Option<String>,
    pub materials: Vec<String>,
}

impl Check for Application {
    fn check(&self) -> Result<(), Invalid> {
        subject("applicationId", &self.application_id)?;
        implementing_code(&self.implementing_code)?;
        date_opt("promisedDate", self.promised_date.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MaterialContent {
    #[serde(rename_all = "camelCase")]
    Image { media_type: String, data: ImageData },
    #[serde(rename = "eLicence", rename_all = "camelCase")]
    ELicence { licence_id: String },
}

/// The media types a scanned material may have.
pub const MATERIAL_MEDIA_TYPES: [&str; 4] =
    ["image/jpeg", "image/png", "image/bmp", "application/pdf"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterialUpload {
    pub name: String,
    pub content: MaterialContent,
}

impl Check for MaterialUpload {
    fn check(&self) -> Result<(), Invalid> {
        short_text("name", &self.name, 200)?;
        match &self.content {
            MaterialContent::Image { media_type, data } => {
                if !MATERIAL_MEDIA_TYPES.contains(&media_type.as_str()) {
                    return invalid("content.mediaType", "not an accepted media type");
                }
                data.decode("content.data")?;
            }
            MaterialContent::ELicence { licence_id } => {
                short_text("content.licenceId", licence_id, 200)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterialReceipt {
    pub material_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {}

impl Check for SubmissionRequest {
    fn check(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Submitted {
    pub case_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_date: Option<String>,
}

impl Check for Submitted {
    fn check(&self) -> Result<(), Invalid> {
        short_text("caseNumber", &self.case_number, 64)?;
        date_opt("promisedDate", self.promised_date.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoticeRequest {
    pub application_id: String,
    #[serde(deserialize_with = "integer")]
    pub amount_fen: u64,
}

impl Check for NoticeRequest {
    fn check(&self) -> Result<(), Invalid> {
        subject("applicationId", &self.application_id)?;
        amount("amountFen", self.amount_fen)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeStatus {
    Unpaid,
    Paid,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentNotice {
    pub notice_number: String,
    pub amount_fen: u64,
    pub payee: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    pub status: NoticeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_number: Option<String>,
}

impl Check for PaymentNotice {
    fn check(&self) -> Result<(), Invalid> {
        notice_number(&self.notice_number)?;
        amount("amountFen", self.amount_fen)?;
        date_opt("dueDate", self.due_date.as_deref())?;
        if let Some(r) = &self.receipt_number {
            receipt_number(r)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentMethod {
    Card,
    Qr,
    Cash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentConfirmation {
    #[serde(deserialize_with = "integer")]
    pub amount_fen: u64,
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
    pub terminal_id: String,
}

impl Check for PaymentConfirmation {
    fn check(&self) -> Result<(), Invalid> {
        amount("amountFen", self.amount_fen)?;
        if let Some(r) = &self.bank_reference {
            token("bankReference", r, 1, 32, alnum)?;
        }
        terminal_id(&self.terminal_id)
    }
}

/// Most confirmations one `confirmPayments` call carries.
pub const MAX_CONFIRMATIONS: usize = 100;

/// `confirmPayments`: several confirmations, each with its notice and its own idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentConfirmations {
    pub confirmations: Vec<BatchedConfirmation>,
}

/// One confirmation of a batch: what `confirmPayment` takes in its path, header and body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchedConfirmation {
    pub notice_number: String,
    pub idempotency_key: String,
    #[serde(deserialize_with = "integer")]
    pub amount_fen: u64,
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
    pub terminal_id: String,
}

impl BatchedConfirmation {
    /// The body `confirmPayment` would carry.
    pub fn body(&self) -> PaymentConfirmation {
        PaymentConfirmation {
            amount_fen: self.amount_fen,
            method: self.method,
            bank_reference: self.bank_reference.clone(),
            terminal_id: self.terminal_id.clone(),
        }
    }
}

impl Check for BatchedConfirmation {
    fn check(&self) -> Result<(), Invalid> {
        notice_number(&self.notice_number)?;
        idempotency_key(&self.idempotency_key)?;
        self.body().check()
    }
}

impl Check for PaymentConfirmations {
    fn check(&self) -> Result<(), Invalid> {
        if self.confirmations.is_empty() || self.confirmations.len() > MAX_CONFIRMATIONS {
            return invalid("confirmations", "from 1 to 100 items");
        }
        self.confirmations.iter().try_for_each(Check::check)
    }
}

/// The answer to `confirmPayments`: one result per confirmation, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationResults {
    pub results: Vec<ConfirmationResult>,
}

/// What `confirmPayment` would have answered: its status, and the receipt (2xx) or the error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationResult {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Check for ConfirmationResults {
    fn check(&self) -> Result<(), Invalid> {
        for r in &self.results {
            match (&r.receipt_number, &r.error) {
                (Some(receipt), None) if (200..300).contains(&r.status) => {
                    receipt_number(receipt)?;
                }
                (None, Some(_)) if r.status >= 400 => {}
                _ => return invalid("results", "a receipt with a 2xx status or an error"),
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmedPayment {
    pub receipt_number: String,
}

impl Check for ConfirmedPayment {
    fn check(&self) -> Result<(), Invalid> {
        receipt_number(&self.receipt_number)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentCancellation {
    pub reason: String,
}

impl Check for PaymentCancellation {
    fn check(&self) -> Result<(), Invalid> {
        short_text("reason", &self.reason, 200)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelledPayment {
    pub refund_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentRequest {
    pub reference: String,
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub form: Form,
}

impl Check for DocumentRequest {
    fn check(&self) -> Result<(), Invalid> {
        short_text("reference", &self.reference, 200)?;
        short_text("result", &self.result, 200)?;
        if let Some(s) = &self.subject {
            subject("subject", s)?;
        }
        form(&self.form)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evaluation {
    pub reference: String,
    #[serde(deserialize_with = "integer")]
    pub score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Sensitive<String>>,
    pub terminal_id: String,
}

impl Check for Evaluation {
    fn check(&self) -> Result<(), Invalid> {
        short_text("reference", &self.reference, 200)?;
        if !(1..=5).contains(&self.score) {
            return invalid("score", "out of range 1..=5");
        }
        if let Some(t) = &self.text
            && t.expose().chars().count() > 500
        {
            return invalid("text", "too long");
        }
        terminal_id(&self.terminal_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluationReceipt {
    pub evaluation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentSlot {
    pub slot_id: String,
    pub hall: String,
    pub start: String,
    pub end: String,
    pub remaining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlotList {
    pub slots: Vec<AppointmentSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BookingRequest {
    pub slot_id: String,
    pub subject: String,
}

impl Check for BookingRequest {
    fn check(&self) -> Result<(), Invalid> {
        subject("slotId", &self.slot_id)?;
        subject("subject", &self.subject)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Booking {
    pub booking_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportedPayment {
    pub notice_number: String,
    pub receipt_number: String,
    pub amount_fen: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconciliationReport {
    pub date: String,
    pub payments: Vec<ReportedPayment>,
}

/// A `YYYY-MM-DD` calendar date.
pub fn date(field: &'static str, value: &str) -> Result<time::Date, Invalid> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format).map_err(|_| Invalid {
        field,
        problem: "is not a YYYY-MM-DD date",
    })
}

fn date_opt(field: &'static str, value: Option<&str>) -> Result<(), Invalid> {
    match value {
        Some(v) => date(field, v).map(|_| ()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_content_is_tagged_by_kind() {
        let upload: MaterialUpload = serde_json::from_str(
            r#"{"name":"户口簿","content":{"kind":"eLicence","licenceId":"1.2.156"}}"#,
        )
        .unwrap();
        assert!(matches!(upload.content, MaterialContent::ELicence { .. }));
        let json = serde_json::to_string(&MaterialUpload {
            name: "照片".into(),
            content: MaterialContent::Image {
                media_type: "image/jpeg".into(),
                data: ImageData::encode(b"abc"),
            },
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"name":"照片","content":{"kind":"image","mediaType":"image/jpeg","data":"YWJj"}}"#
        );
    }

    #[test]
    fn checks_name_the_field_and_never_the_value() {
        let mut check = IdentityCheck {
            terminal_id: "STM-1".into(),
            id_number: Sensitive::new("44010619900307123".into()),
            name: Sensitive::new("张三".into()),
            chip_photo: ImageData::encode(b"bmp"),
            face: ImageData::encode(b"jpg"),
        };
        let error = check.check().unwrap_err();
        assert_eq!(error.field, "idNumber");
        assert!(!error.to_string().contains("4401061990"));
        check.id_number = Sensitive::new("44010619900307123X".into());
        check.check().unwrap();
        check.name = Sensitive::new(" 张三".into());
        assert_eq!(check.check().unwrap_err().field, "name");
    }

    #[test]
    fn integers_may_be_written_as_whole_floats() {
        let e: Evaluation =
            serde_json::from_str(r#"{"reference":"R","score":4.0,"terminalId":"T"}"#).unwrap();
        assert_eq!(e.score, 4);
        assert!(
            serde_json::from_str::<Evaluation>(r#"{"reference":"R","score":4.5,"terminalId":"T"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Evaluation>(r#"{"reference":"R","score":300,"terminalId":"T"}"#)
                .is_err()
        );
    }

    #[test]
    fn debug_of_a_body_hides_personal_data() {
        let v = VerifiedIdentity {
            subject: "S-1".into(),
            id_number: Sensitive::new("44010619900307123X".into()),
            name: Sensitive::new("张三".into()),
            assurance: Assurance::ChipAndFace,
        };
        let text = format!("{v:?}");
        assert!(!text.contains("440106") && !text.contains("张三"));
    }
}
