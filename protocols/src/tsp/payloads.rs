//! The payloads of every TSP message, as serde types. Field names are camelCase on the wire;
//! unknown fields are refused. docs/tsp.md describes each with an example.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

use super::sensitive::Sensitive;

/// Largest image accepted in a payload (face capture, scan, signature, ID photo), decoded.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// Largest document carried in a Step.Deliver (a PDF), decoded.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// Base64 data (standard alphabet, padded) of at most `MAX` decoded bytes.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Base64Data<const MAX: usize>(String);

/// An image: JPEG, PNG or BMP, base64.
pub type Image = Base64Data<MAX_IMAGE_BYTES>;
/// A document: PDF, base64.
pub type DocumentData = Base64Data<MAX_DOCUMENT_BYTES>;

impl<const MAX: usize> Base64Data<MAX> {
    pub fn encode(bytes: &[u8]) -> Option<Self> {
        use base64::Engine;
        (bytes.len() <= MAX)
            .then(|| Base64Data(base64::engine::general_purpose::STANDARD.encode(bytes)))
    }

    /// The decoded bytes.
    pub fn decode(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.0)
            .ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn max_chars() -> usize {
        MAX.div_ceil(3) * 4
    }
}

impl<const MAX: usize> std::fmt::Debug for Base64Data<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64Data({} chars)", self.0.len())
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Base64Data<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() > Self::max_chars() {
            return Err(serde::de::Error::custom(format!(
                "base64 data exceeds the limit of {MAX} bytes"
            )));
        }
        let valid = text.len() % 4 == 0
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !valid {
            return Err(serde::de::Error::custom("not standard padded base64"));
        }
        Ok(Base64Data(text))
    }
}

impl<const MAX: usize> JsonSchema for Base64Data<MAX> {
    fn schema_name() -> Cow<'static, str> {
        format!("Base64Max{MAX}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "contentEncoding": "base64",
            "maxLength": Self::max_chars(),
            "pattern": "^[A-Za-z0-9+/]*={0,2}$"
        })
    }
}

/// An empty payload: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// ----- Session -----------------------------------------------------------------------------

/// Session.Open (terminal → daemon): who the terminal is and what it can do. Its identity comes
/// from its client certificate, not from this payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionOpen {
    /// Protocol versions the terminal speaks, e.g. `["1.0"]`.
    pub versions: Vec<String>,
    pub terminal: TerminalInfo,
    pub capabilities: TerminalCapabilities,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerminalInfo {
    pub model: String,
    pub software_version: String,
    /// The language the citizen chose (BCP 47, e.g. `zh-CN`).
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerminalCapabilities {
    /// Device ids working now (`id-card-reader`, `a4-printer`, …).
    pub devices: Vec<String>,
}

/// Session.Open completion (daemon → terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionOpened {
    pub session_id: String,
    /// Present it in Session.Resume after a dropped connection.
    pub resume_token: Sensitive<String>,
    /// The version chosen for this session.
    pub version: String,
    /// The session ends after this many seconds without a message.
    pub idle_timeout_seconds: u32,
    /// A dropped session can be resumed within this many seconds.
    pub resume_window_seconds: u32,
}

/// Session.Resume (terminal → daemon), on a new connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionResume {
    pub resume_token: Sensitive<String>,
}

/// Session.Resume completion: the session continues; the pending step (if any) is sent again
/// with its original requestId.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionResumed {
    pub session_id: String,
    /// A new token; the old one is spent.
    pub resume_token: Sensitive<String>,
    /// The requestId of the step command that will be sent again, if one is pending.
    pub pending_request_id: Option<u64>,
}

/// Session.Close (terminal → daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionClose {
    pub reason: Option<String>,
}

// ----- Catalogue and items -------------------------------------------------------------------

/// Catalogue.GetOffer (terminal → daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetOffer {}

/// Catalogue.GetOffer completion: what the terminal can offer now, and why not the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferList {
    pub catalogue_version: String,
    pub offered: Vec<OfferedItem>,
    pub unavailable: Vec<UnavailableItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferedItem {
    /// Basic code (12).
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub department: String,
    /// The steps in order: identify, form, materials, sign, confirm, appointment, pay, submit,
    /// deliver, rate.
    pub steps: Vec<String>,
    /// A fixed fee in fen, if any.
    pub fee_fen: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnavailableItem {
    pub code: String,
    pub name: String,
    /// `missing-device`, `protocol`, `not-implemented`, `closed` or `disabled`.
    pub reason: String,
    /// The missing device, for `missing-device`.
    pub device: Option<String>,
    /// The step that cannot run, for `missing-device` and `protocol`.
    pub step: Option<String>,
    /// Next opening (RFC 3339), for `closed`.
    pub until: Option<String>,
}

/// Item.Start (terminal → daemon): run an item. The completion arrives when the flow ends;
/// meanwhile the daemon sends the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemStart {
    pub code: String,
}

/// How an item's flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Completed,
    Cancelled,
    TimedOut,
    Failed,
}

/// Item.Start completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemOutcome {
    pub outcome: Outcome,
    /// The platform's case number (办件编号), once submitted.
    pub case_number: Option<String>,
    /// The platform's receipt for a payment.
    pub receipt_number: Option<String>,
    /// The booking number (预约号) of an appointment.
    pub booking_number: Option<String>,
    /// Set when money was taken and is being given back.
    pub refund: Option<Refund>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Refund {
    /// `reversed` (the card authorisation was reversed) or `pending` (the refund is on its way).
    pub status: String,
    pub amount_fen: u64,
    pub reference: String,
}

/// Item.Cancel (terminal → daemon): the citizen pressed cancel outside a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemCancel {}

// ----- Steps (daemon → terminal) --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IdentifyMethod {
    /// Resident ID card chip read plus a live face capture.
    IdCardFace,
    /// The provincial app's QR code (粤省事).
    QrCode,
}

/// Step.Identify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepIdentify {
    pub methods: Vec<IdentifyMethod>,
    /// What to tell the citizen, if a previous attempt failed.
    pub prompt: Option<String>,
}

/// The text block of a resident ID card chip, as readers decode it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdCardData {
    pub name: Sensitive<String>,
    /// `1` male, `2` female (the chip's code).
    pub sex: String,
    /// Ethnicity code (2 digits).
    pub ethnicity: String,
    /// YYYYMMDD.
    pub birth_date: Sensitive<String>,
    pub address: Sensitive<String>,
    pub id_number: Sensitive<String>,
    pub issuing_authority: String,
    /// YYYYMMDD.
    pub valid_from: String,
    /// YYYYMMDD or `长期` (no expiry).
    pub valid_to: String,
    /// The chip photo as decoded by the reader (BMP, 102×126).
    pub photo: Sensitive<Image>,
}

/// Step.Identify completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentifyResult {
    pub method: IdentifyMethod,
    /// For `idCardFace`.
    pub id_card: Option<IdCardData>,
    /// For `idCardFace`: the live capture (JPEG).
    pub face: Option<Sensitive<Image>>,
    /// For `qrCode`: the code's text.
    pub qr_code: Option<Sensitive<String>>,
}

/// A form field to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FormField {
    pub id: String,
    pub label: String,
    /// text, number, amount, date, month, month-range, choice, phone, address, payment-notice,
    /// plate.
    pub kind: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Step.Form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepForm {
    pub fields: Vec<FormField>,
    /// Errors of a previous submission, by field id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// Step.Form completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FormResult {
    pub values: BTreeMap<String, Sensitive<String>>,
}

/// A material to collect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterialRequest {
    pub name: String,
    pub mandatory: bool,
    /// `scan` (scan it now), `eLicence` (already pulled from the e-licence library: show it),
    /// or `none`.
    pub source: String,
}

/// Step.Materials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepMaterials {
    pub materials: Vec<MaterialRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScannedMaterial {
    pub name: String,
    pub image: Sensitive<Image>,
}

/// Step.Materials completion: the scans taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterialsResult {
    pub scans: Vec<ScannedMaterial>,
}

/// Step.Sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSign {
    pub title: String,
    /// The declaration the citizen signs.
    pub text: String,
}

/// Step.Sign completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignResult {
    /// The signature (PNG).
    pub signature: Sensitive<Image>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SummaryLine {
    pub label: String,
    pub value: String,
}

/// Step.Confirm: the summary the citizen confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepConfirm {
    pub summary: Vec<SummaryLine>,
}

/// Step.Confirm completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmResult {
    pub confirmed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PayMethod {
    /// Bank card and PIN on the terminal, authorised by the bank's own host.
    Card,
    /// The payment QR code shown on screen, paid on the citizen's phone.
    Qr,
    Cash,
}

/// Step.Pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepPay {
    pub amount_fen: u64,
    /// `CNY`.
    pub currency: String,
    pub payee: String,
    pub methods: Vec<PayMethod>,
    /// The payment-notice number, when paying a notice.
    pub notice_number: Option<String>,
    /// For `qr`: the code to show.
    pub qr_payload: Option<String>,
    /// Why the step is sent again (e.g. the QR payment has not arrived yet).
    pub prompt: Option<String>,
}

/// A card authorisation, as the terminal's bank host approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardPayment {
    /// First 6 and last 4 digits only.
    pub masked_pan: String,
    pub approval_code: String,
    /// Retrieval reference number (DE37).
    pub rrn: String,
    /// STAN (DE11).
    pub stan: String,
    pub amount_fen: u64,
}

/// Step.Pay completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayResult {
    pub method: PayMethod,
    /// For `card`.
    pub card: Option<CardPayment>,
    /// For `cash`: the amount taken in, in fen.
    pub cash_fen: Option<u64>,
}

/// Step.Reverse: reverse a card authorisation with the bank host (the payment could not be
/// completed at the platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepReverse {
    pub rrn: String,
    pub amount_fen: u64,
    pub reason: String,
}

/// Step.Reverse completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReverseResult {
    pub reversed: bool,
}

/// Step.Submit: the application has been submitted; show its case number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSubmit {
    pub case_number: String,
    /// YYYY-MM-DD.
    pub promised_date: Option<String>,
    pub message: String,
}

/// A time a hall can receive the citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentSlot {
    pub slot_id: String,
    /// The hall (政务服务大厅) the citizen goes to.
    pub hall: String,
    /// RFC 3339, China Standard Time.
    pub start: String,
    pub end: String,
    /// Places left.
    pub remaining: u32,
}

/// Step.Appointment: choose one of these slots; the daemon books it when the step completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepAppointment {
    /// In time order; never empty.
    pub slots: Vec<AppointmentSlot>,
    /// Why the step is sent again (the chosen slot filled up meanwhile).
    pub prompt: Option<String>,
}

/// Step.Appointment completion: the slot the citizen chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentChoice {
    pub slot_id: String,
}

/// A result to hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryOrder {
    pub result: String,
    /// `certificate`, `receipt`, `decision` or `e-licence`.
    pub kind: String,
    /// `a4-print`, `receipt-print`, `e-licence`, `post`, `counter` or `screen`.
    pub delivery: String,
    /// For prints: the document (PDF).
    pub document: Option<Sensitive<DocumentData>>,
    /// For `e-licence`: the licence identifier sent to the citizen's app.
    pub licence_id: Option<String>,
    /// For `screen`, `post` and `counter`: the text to show.
    pub text: Option<String>,
}

/// Step.Deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepDeliver {
    pub outputs: Vec<DeliveryOrder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryReport {
    pub result: String,
    /// `delivered` or `failed`.
    pub status: String,
    pub detail: Option<String>,
}

/// Step.Deliver completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliverResult {
    pub results: Vec<DeliveryReport>,
}

/// Step.Rate (好差评).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepRate {
    pub case_number: Option<String>,
}

/// Step.Rate completion: 1 very satisfied … 5 very dissatisfied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateResult {
    #[schemars(range(min = 1, max = 5))]
    #[serde(deserialize_with = "score")]
    pub score: u8,
    pub text: Option<String>,
}

fn score<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let score = u8::deserialize(d)?;
    if (1..=5).contains(&score) {
        Ok(score)
    } else {
        Err(serde::de::Error::custom(
            "a score is 1 (very satisfied) to 5 (very dissatisfied)",
        ))
    }
}

/// Step.Notice: a message to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepNotice {
    /// `info`, `warning` or `error`.
    pub level: String,
    pub text: String,
}

// ----- Events and unsolicited messages -------------------------------------------------------

/// Pay.Waiting (terminal → daemon, during Step.Pay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayWaiting {
    pub method: PayMethod,
}

/// Deliver.Printing (terminal → daemon, during Step.Deliver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliverPrinting {
    pub result: String,
}

/// Session.Expiring (daemon → terminal): the session ends soon without activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionExpiring {
    pub seconds_left: u32,
}

/// Service.Closing (daemon → terminal): the daemon is shutting down or the service closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceClosing {
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

/// Catalogue.Changed (daemon → terminal): the offer may have changed; ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogueChanged {
    pub version: String,
}

/// Device.StatusChanged (terminal → daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceStatusChanged {
    pub device: String,
    /// `ok`, `fault`, `paperLow`, `paperOut`, `busy`.
    pub status: String,
}
