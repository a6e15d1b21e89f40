//! The sandbox platform's business: citizens, e-licences, applications, payment notices,
//! documents, appointments and reconciliation, as plain state and one function per operation.
//! No I/O here: the HTTP layer (`super::http`) authenticates, keeps idempotency, injects faults
//! and signs; this answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use adapter_core::calendar::CST;
use adapter_core::catalogue::TimeUnit;
use adapter_core::ids::{CitizenId, DivisionCode, ImplementingCode};
use adapter_core::shipped::DataSet;
use adapter_protocols::tsp::Sensitive;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use super::data::{Citizen, Hall, SandboxData, parse_cst};
use super::pdf::{self, DocumentText};
use super::portrait::portrait;
use crate::platform::Operation;
use crate::platform::wire::{self, Check, Invalid};

/// An answer before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &wire::ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                retryable: status == 429 || status >= 500,
            },
        )
    }

    pub fn invalid(e: &Invalid) -> Reply {
        Reply::error(400, "BAD_REQUEST", e.to_string())
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// A request's operation inputs, decoded.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// The path parameters in template order, percent-decoded.
    pub path: Vec<String>,
    /// The query pairs, decoded.
    pub query: Vec<(String, String)>,
    pub if_none_match: Option<String>,
}

impl Params {
    fn path(&self, i: usize) -> &str {
        self.path.get(i).map_or("", String::as_str)
    }

    fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn query_one(&self, name: &'static str) -> Result<&str, Reply> {
        match self.query_all(name).as_slice() {
            [one] => Ok(one),
            [] => Err(Reply::invalid(&Invalid {
                field: name,
                problem: "is missing",
            })),
            _ => Err(Reply::invalid(&Invalid {
                field: name,
                problem: "is given more than once",
            })),
        }
    }
}

/// Parses and checks a JSON body. The error names the field or the position, never a value.
/// One confirmation of a `confirmPayments` call, as `confirmPayment` would take it alone.
#[derive(Debug, Clone)]
pub struct Single {
    pub params: Params,
    /// `confirmPayment`'s path, with the base path.
    pub path: String,
    pub body: Vec<u8>,
    pub idempotency_key: String,
}

/// A `confirmPayments` body taken apart into its confirmations (the world answers each as
/// `confirmPayment`; the HTTP layer first looks each up under its own idempotency key).
pub fn confirmations(bytes: &[u8]) -> Result<Vec<Single>, Reply> {
    let batch: wire::PaymentConfirmations = body(bytes)?;
    Ok(batch
        .confirmations
        .iter()
        .map(|c| Single {
            params: Params {
                path: vec![c.notice_number.clone()],
                query: Vec::new(),
                if_none_match: None,
            },
            path: format!("{}/notices/{}/payments", wire::BASE_PATH, c.notice_number),
            body: serde_json::to_vec(&c.body()).unwrap_or_default(),
            idempotency_key: c.idempotency_key.clone(),
        })
        .collect())
}

/// The answer to `confirmPayments` from its confirmations' own answers, in order.
pub fn batch_answer(replies: &[Reply]) -> Reply {
    let results = replies
        .iter()
        .map(|reply| {
            if (200..300).contains(&reply.status)
                && let Ok(confirmed) = serde_json::from_slice::<wire::ConfirmedPayment>(&reply.body)
            {
                return wire::ConfirmationResult {
                    status: reply.status,
                    receipt_number: Some(confirmed.receipt_number),
                    error: None,
                };
            }
            let error =
                serde_json::from_slice::<wire::ErrorBody>(&reply.body).unwrap_or(wire::ErrorBody {
                    code: "INTERNAL".into(),
                    message: "the sandbox could not answer this confirmation".into(),
                    retryable: true,
                });
            wire::ConfirmationResult {
                status: reply.status.max(400),
                receipt_number: None,
                error: Some(error),
            }
        })
        .collect();
    Reply::json(200, &wire::ConfirmationResults { results })
}

pub fn body<T: DeserializeOwned + Check>(bytes: &[u8]) -> Result<T, Reply> {
    let value: T = serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let what = if text.starts_with("missing field") || text.starts_with("unknown field") {
            text.split(',').next().unwrap_or_default().to_owned()
        } else {
            format!("{:?} error", e.classify()).to_lowercase()
        };
        Reply::error(
            400,
            "BAD_REQUEST",
            format!(
                "the body breaks the contract: {what} at line {} column {}",
                e.line(),
                e.column()
            ),
        )
    })?;
    value.check().map_err(|e| Reply::invalid(&e))?;
    Ok(value)
}

#[derive(Debug, Clone)]
struct Notice {
    number: String,
    amount_fen: u64,
    payee: String,
    due_date: Option<String>,
    status: wire::NoticeStatus,
    receipt: Option<String>,
}

#[derive(Debug, Clone)]
struct Payment {
    notice_number: String,
    receipt_number: String,
    amount_fen: u64,
    bank_reference: Option<String>,
    paid_at: PrimitiveDateTime,
    cancelled: bool,
}

#[derive(Debug, Clone)]
struct Application {
    id: String,
    implementing_code: String,
    subject: String,
    submitted_at: Option<OffsetDateTime>,
    case_number: Option<String>,
    promised_date: Option<String>,
    materials: Vec<String>,
}

/// The sandbox platform's state.
#[derive(Debug)]
pub struct World {
    data: Arc<DataSet>,
    citizens: Vec<Citizen>,
    licences: HashMap<String, Vec<wire::ELicence>>,
    halls: Vec<Hall>,
    notices: BTreeMap<String, Notice>,
    /// Synthetic notices, the load tests' range then the conformance kit's: made real the
    /// first time they are paid.
    notice_ranges: Vec<super::data::NoticeRange>,
    /// Payments by receipt number (an ordered map: a list doubling under the sandbox's lock
    /// stalled every call in flight).
    payments: BTreeMap<String, Payment>,
    applications: BTreeMap<String, Application>,
    bookings: HashMap<String, Vec<String>>,
    evaluations: u64,
    sequence: u64,
    application_step: Duration,
    default_promised_days: u16,
}

fn cst(now: OffsetDateTime) -> PrimitiveDateTime {
    let local = now.to_offset(CST);
    PrimitiveDateTime::new(local.date(), local.time())
}

fn ymd(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The masked ID number printed on documents: the first 6 and last 4 characters.
fn masked(id_number: &str) -> String {
    let head = id_number.get(..6).unwrap_or_default();
    let tail = id_number
        .get(id_number.len().saturating_sub(4)..)
        .unwrap_or_default();
    format!("{head}********{tail}")
}

impl World {
    pub fn new(sandbox: &SandboxData, data: Arc<DataSet>) -> World {
        let mut licences: HashMap<String, Vec<wire::ELicence>> = HashMap::new();
        for l in &sandbox.licences {
            licences
                .entry(l.subject.clone())
                .or_default()
                .push(wire::ELicence {
                    licence_id: l.licence_id.clone(),
                    licence_type: l.licence_type.clone(),
                    name: l.name.clone(),
                });
        }
        let mut notices = BTreeMap::new();
        let mut payments = BTreeMap::new();
        for n in &sandbox.notices {
            let paid = n.paid_at.as_deref().and_then(parse_cst);
            notices.insert(
                n.notice_number.clone(),
                Notice {
                    number: n.notice_number.clone(),
                    amount_fen: n.amount_fen,
                    payee: n.payee.clone(),
                    due_date: n.due_date.clone(),
                    status: if paid.is_some() {
                        wire::NoticeStatus::Paid
                    } else {
                        wire::NoticeStatus::Unpaid
                    },
                    receipt: n.receipt_number.clone(),
                },
            );
            if let (Some(paid_at), Some(receipt)) = (paid, &n.receipt_number) {
                payments.insert(
                    receipt.clone(),
                    Payment {
                        notice_number: n.notice_number.clone(),
                        receipt_number: receipt.clone(),
                        amount_fen: n.amount_fen,
                        bank_reference: n.bank_reference.clone(),
                        paid_at,
                        cancelled: false,
                    },
                );
            }
        }
        World {
            data,
            citizens: sandbox.citizens.clone(),
            licences,
            halls: sandbox.halls.clone(),
            notices,
            notice_ranges: sandbox
                .settings
                .load_notices
                .iter()
                .chain(&sandbox.settings.certification_notices)
                .cloned()
                .collect(),
            payments,
            applications: BTreeMap::new(),
            bookings: HashMap::new(),
            evaluations: 0,
            sequence: 0,
            application_step: Duration::seconds(
                i64::try_from(sandbox.settings.application_step_seconds).unwrap_or(i64::MAX),
            ),
            default_promised_days: sandbox.settings.default_promised_days,
        }
    }

    fn next(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn citizen_by_subject(&self, subject: &str) -> Option<&Citizen> {
        self.citizens.iter().find(|c| c.subject == subject)
    }

    fn subject_known(&self, subject: &str) -> Result<(), Reply> {
        match self.citizen_by_subject(subject) {
            Some(_) => Ok(()),
            None => Err(Reply::error(
                404,
                "SUBJECT_NOT_FOUND",
                "no citizen has this subject",
            )),
        }
    }

    /// Answers `op`. `now` is the platform's clock.
    pub fn handle(
        &mut self,
        op: Operation,
        params: &Params,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Reply {
        let result = match op {
            Operation::VerifyIdentity => self.verify_identity(bytes),
            Operation::QrIdentity => self.qr_identity(bytes),
            Operation::SyncCatalogue => Ok(self.sync_catalogue(params)),
            Operation::LookupLicences => self.lookup_licences(params),
            Operation::CreateApplication => self.create_application(bytes, now),
            Operation::ApplicationStatus => self.application_status(params, now),
            Operation::CaseStatus => self.case_status(params, now),
            Operation::UploadMaterial => self.upload_material(params, bytes),
            Operation::SubmitApplication => self.submit_application(params, bytes, now),
            Operation::IssueNotice => self.issue_notice(bytes, now),
            Operation::QueryNotice => self.query_notice(params),
            Operation::ConfirmPayment => self.confirm_payment(params, bytes, now),
            Operation::CancelPayment => self.cancel_payment(params, bytes, now),
            Operation::ConfirmPayments => self.confirm_payments(bytes, now),
            Operation::RenderDocument => self.render_document(bytes, now),
            Operation::Evaluate => self.evaluate(bytes),
            Operation::AppointmentSlots => self.appointment_slots(params, now),
            Operation::BookAppointment => self.book_appointment(bytes, now),
            Operation::ReconciliationReport => self.reconciliation(params),
        };
        result.unwrap_or_else(|reply| reply)
    }

    fn verified(c: &Citizen, assurance: wire::Assurance) -> Reply {
        Reply::json(
            200,
            &wire::VerifiedIdentity {
                subject: c.subject.clone(),
                id_number: Sensitive::new(c.id_number.clone()),
                name: Sensitive::new(c.name.clone()),
                assurance,
            },
        )
    }

    fn verify_identity(&mut self, bytes: &[u8]) -> Result<Reply, Reply> {
        let check: wire::IdentityCheck = body(bytes)?;
        let citizen = self
            .citizens
            .iter()
            .find(|c| c.id_number == *check.id_number.expose())
            .ok_or_else(|| {
                Reply::error(404, "CITIZEN_NOT_FOUND", "no citizen has this ID number")
            })?;
        if citizen.name != *check.name.expose() {
            return Err(Reply::error(
                422,
                "NAME_MISMATCH",
                "the name does not match the ID number",
            ));
        }
        let photo = portrait(&citizen.id_number);
        let chip = check
            .chip_photo
            .decode("chipPhoto")
            .map_err(|e| Reply::invalid(&e))?;
        if chip != photo {
            return Err(Reply::error(
                422,
                "CHIP_PHOTO_MISMATCH",
                "the chip photo is not the registered one",
            ));
        }
        let face = check.face.decode("face").map_err(|e| Reply::invalid(&e))?;
        if face != photo {
            return Err(Reply::error(
                422,
                "FACE_MISMATCH",
                "the live face does not match the photo",
            ));
        }
        Ok(Self::verified(citizen, wire::Assurance::ChipAndFace))
    }

    fn qr_identity(&mut self, bytes: &[u8]) -> Result<Reply, Reply> {
        let check: wire::QrIdentityCheck = body(bytes)?;
        let citizen = self
            .citizens
            .iter()
            .find(|c| c.qr_code == *check.code.expose())
            .ok_or_else(|| {
                Reply::error(404, "QR_CODE_UNKNOWN", "the code is unknown or expired")
            })?;
        Ok(Self::verified(citizen, wire::Assurance::AppQrCode))
    }

    /// The catalogue's ETag: its version, quoted.
    pub fn catalogue_etag(&self) -> String {
        format!("\"{}\"", self.data.catalogue.version())
    }

    fn sync_catalogue(&self, params: &Params) -> Reply {
        let etag = self.catalogue_etag();
        if params.if_none_match.as_deref() == Some(etag.as_str()) {
            return Reply {
                status: 304,
                content_type: "",
                headers: vec![("etag", etag)],
                body: Vec::new(),
            };
        }
        let catalogue = &self.data.catalogue;
        let items = catalogue
            .implementations()
            .iter()
            .filter(|i| i.enabled)
            .filter_map(|i| {
                catalogue
                    .item(i.code.basic().as_str())
                    .map(|item| wire::CatalogueEntry {
                        implementing_code: i.code.as_str().to_owned(),
                        basic_code: item.code.as_str().to_owned(),
                        name: item.name.clone(),
                        division: i.division.to_string(),
                        body: i.body.clone(),
                        self_service: i.self_service,
                    })
            })
            .collect();
        Reply::json(
            200,
            &wire::CatalogueSnapshot {
                version: catalogue.version().to_owned(),
                items,
            },
        )
        .with_header("etag", etag)
    }

    fn lookup_licences(&self, params: &Params) -> Result<Reply, Reply> {
        let subject = params.path(0);
        wire::subject("subject", subject).map_err(|e| Reply::invalid(&e))?;
        let types = params.query_all("type");
        if types.is_empty() || types.len() > 20 {
            return Err(Reply::invalid(&Invalid {
                field: "type",
                problem: "give 1 to 20 licence types",
            }));
        }
        for t in &types {
            wire::short_text("type", t, 200).map_err(|e| Reply::invalid(&e))?;
        }
        self.subject_known(subject)?;
        let licences = self
            .licences
            .get(subject)
            .map(|l| {
                l.iter()
                    .filter(|l| types.contains(&l.licence_type.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Reply::json(200, &wire::LicenceList { licences }))
    }

    fn create_application(&mut self, bytes: &[u8], now: OffsetDateTime) -> Result<Reply, Reply> {
        let new: wire::NewApplication = body(bytes)?;
        self.subject_known(&new.subject)?;
        let implementation = self
            .data
            .catalogue
            .implementations()
            .iter()
            .find(|i| i.code.as_str() == new.implementing_code)
            .ok_or_else(|| Reply::error(404, "ITEM_NOT_FOUND", "no such implementing item"))?;
        if !implementation.self_service || !implementation.enabled {
            return Err(Reply::error(
                422,
                "ITEM_NOT_SELF_SERVICE",
                "the item is not offered on self-service terminals",
            ));
        }
        let id = format!("APP-{}-{:06}", ymd(cst(now).date()), self.next());
        let application = Application {
            id: id.clone(),
            implementing_code: new.implementing_code,
            subject: new.subject,
            submitted_at: None,
            case_number: None,
            promised_date: None,
            materials: Vec::new(),
        };
        let reply = Reply::json(201, &self.application_view(&application, now));
        self.applications.insert(id, application);
        Ok(reply)
    }

    fn application_view(&self, a: &Application, now: OffsetDateTime) -> wire::Application {
        let status = match a.submitted_at {
            None => wire::ApplicationStatus::Draft,
            Some(at) => {
                let steps = if self.application_step <= Duration::ZERO {
                    3
                } else {
                    ((now - at).whole_seconds() / self.application_step.whole_seconds().max(1))
                        .max(0)
                };
                match steps {
                    0 => wire::ApplicationStatus::Submitted,
                    1 => wire::ApplicationStatus::Accepted,
                    2 => wire::ApplicationStatus::Approved,
                    _ => wire::ApplicationStatus::Completed,
                }
            }
        };
        wire::Application {
            application_id: a.id.clone(),
            implementing_code: a.implementing_code.clone(),
            status,
            case_number: a.case_number.clone(),
            promised_date: a.promised_date.clone(),
            materials: a.materials.clone(),
        }
    }

    fn application(&self, id: &str) -> Result<&Application, Reply> {
        wire::subject("applicationId", id).map_err(|e| Reply::invalid(&e))?;
        self.applications
            .get(id)
            .ok_or_else(|| Reply::error(404, "APPLICATION_NOT_FOUND", "no such application"))
    }

    fn application_status(&self, params: &Params, now: OffsetDateTime) -> Result<Reply, Reply> {
        let a = self.application(params.path(0))?;
        Ok(Reply::json(200, &self.application_view(a, now)))
    }

    fn case_status(&self, params: &Params, now: OffsetDateTime) -> Result<Reply, Reply> {
        let case = params.path(0);
        let valid = !case.is_empty()
            && case.len() <= 50
            && case.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(Reply::invalid(&Invalid {
                field: "caseNumber",
                problem: "must be 1 to 50 letters, digits or hyphens",
            }));
        }
        let a = self
            .applications
            .values()
            .find(|a| a.case_number.as_deref() == Some(case))
            .ok_or_else(|| {
                Reply::error(404, "CASE_NOT_FOUND", "no application has this case number")
            })?;
        Ok(Reply::json(200, &self.application_view(a, now)))
    }

    fn upload_material(&mut self, params: &Params, bytes: &[u8]) -> Result<Reply, Reply> {
        let id = params.path(0).to_owned();
        self.application(&id)?;
        let upload: wire::MaterialUpload = body(bytes)?;
        let a = self.application(&id)?;
        if a.submitted_at.is_some() {
            return Err(Reply::error(
                409,
                "APPLICATION_NOT_DRAFT",
                "the application was submitted",
            ));
        }
        if let wire::MaterialContent::ELicence { licence_id } = &upload.content {
            let held = self
                .licences
                .get(&a.subject)
                .is_some_and(|l| l.iter().any(|l| &l.licence_id == licence_id));
            if !held {
                return Err(Reply::error(
                    422,
                    "LICENCE_NOT_HELD",
                    "the applicant holds no such e-licence",
                ));
            }
        }
        let a = self
            .applications
            .get_mut(&id)
            .ok_or_else(|| Reply::error(404, "APPLICATION_NOT_FOUND", "no such application"))?;
        a.materials.push(upload.name);
        let material_id = format!("{}-M{}", a.id, a.materials.len());
        Ok(Reply::json(201, &wire::MaterialReceipt { material_id }))
    }

    fn promised_date(&self, code: &str, from: Date) -> String {
        let limit = basic_code(code)
            .and_then(|b| self.data.catalogue.item(&b))
            .and_then(|i| i.promised_limit);
        let (days, working) = match limit {
            Some(l) if l.unit == TimeUnit::WorkingDays => (l.value, true),
            Some(l) if l.unit == TimeUnit::NaturalDays => (l.value, false),
            _ => (self.default_promised_days, true),
        };
        let mut date = from;
        let mut left = days;
        while left > 0 {
            date = date.next_day().unwrap_or(date);
            if !working || self.data.calendar.day(date).is_working_day() {
                left -= 1;
            }
        }
        iso_date(date)
    }

    fn submit_application(
        &mut self,
        params: &Params,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        let id = params.path(0).to_owned();
        self.application(&id)?;
        let _: wire::SubmissionRequest = body(bytes)?;
        let seq = self.next();
        let today = cst(now).date();
        let code = self.application(&id)?.implementing_code.clone();
        let promised = self.promised_date(&code, today);
        let a = self
            .applications
            .get_mut(&id)
            .ok_or_else(|| Reply::error(404, "APPLICATION_NOT_FOUND", "no such application"))?;
        if a.submitted_at.is_some() {
            return Err(Reply::error(
                409,
                "APPLICATION_ALREADY_SUBMITTED",
                "the application was submitted before",
            ));
        }
        let case_number = format!("GD{}{:06}", ymd(today), seq);
        a.submitted_at = Some(now);
        a.case_number = Some(case_number.clone());
        a.promised_date = Some(promised.clone());
        Ok(Reply::json(
            200,
            &wire::Submitted {
                case_number,
                promised_date: Some(promised),
            },
        ))
    }

    fn notice_view(n: &Notice) -> wire::PaymentNotice {
        wire::PaymentNotice {
            notice_number: n.number.clone(),
            amount_fen: n.amount_fen,
            payee: n.payee.clone(),
            due_date: n.due_date.clone(),
            status: n.status,
            qr_payload: (n.status == wire::NoticeStatus::Unpaid)
                .then(|| format!("https://pay.sandbox.invalid/notice/{}", n.number)),
            receipt_number: n.receipt.clone(),
        }
    }

    fn issue_notice(&mut self, bytes: &[u8], now: OffsetDateTime) -> Result<Reply, Reply> {
        let request: wire::NoticeRequest = body(bytes)?;
        let code = self
            .application(&request.application_id)?
            .implementing_code
            .clone();
        let payee = self
            .data
            .catalogue
            .implementations()
            .iter()
            .find(|i| i.code.as_str() == code)
            .map_or_else(|| "广东省政务服务数据管理局".to_owned(), |i| i.body.clone());
        let today = cst(now).date();
        let number = format!("44{}{:010}", ymd(today), self.next());
        let notice = Notice {
            number: number.clone(),
            amount_fen: request.amount_fen,
            payee,
            due_date: Some(iso_date(today + Duration::days(7))),
            status: wire::NoticeStatus::Unpaid,
            receipt: None,
        };
        let reply = Reply::json(201, &Self::notice_view(&notice));
        self.notices.insert(number, notice);
        Ok(reply)
    }

    fn notice(&self, number: &str) -> Result<&Notice, Reply> {
        wire::notice_number(number).map_err(|e| Reply::invalid(&e))?;
        self.notices
            .get(number)
            .ok_or_else(|| Reply::error(404, "NOTICE_NOT_FOUND", "no such payment notice"))
    }

    /// A synthetic notice (load tests, conformance runs) as it is before anyone paid it.
    fn load_notice(&self, number: &str) -> Option<Notice> {
        self.notice_ranges.iter().find_map(|range| {
            range.owed(number).map(|amount_fen| Notice {
                number: number.to_owned(),
                amount_fen,
                payee: range.payee.clone(),
                due_date: None,
                status: wire::NoticeStatus::Unpaid,
                receipt: None,
            })
        })
    }

    /// Makes a load-test notice real before it changes.
    fn materialise(&mut self, number: &str) {
        if !self.notices.contains_key(number)
            && let Some(n) = self.load_notice(number)
        {
            self.notices.insert(number.to_owned(), n);
        }
    }

    fn query_notice(&self, params: &Params) -> Result<Reply, Reply> {
        let number = params.path(0);
        if !self.notices.contains_key(number)
            && let Some(n) = self.load_notice(number)
        {
            return Ok(Reply::json(200, &Self::notice_view(&n)));
        }
        let n = self.notice(number)?;
        Ok(Reply::json(200, &Self::notice_view(n)))
    }

    fn confirm_payment(
        &mut self,
        params: &Params,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        let number = params.path(0).to_owned();
        self.materialise(&number);
        self.notice(&number)?;
        let confirmation: wire::PaymentConfirmation = body(bytes)?;
        let n = self.notice(&number)?;
        match n.status {
            wire::NoticeStatus::Paid => {
                return Err(Reply::error(
                    409,
                    "NOTICE_ALREADY_PAID",
                    "the notice is paid already",
                ));
            }
            wire::NoticeStatus::Cancelled => {
                return Err(Reply::error(
                    409,
                    "NOTICE_CANCELLED",
                    "the notice was cancelled",
                ));
            }
            wire::NoticeStatus::Unpaid => {}
        }
        if n.amount_fen != confirmation.amount_fen {
            return Err(Reply::error(
                422,
                "AMOUNT_MISMATCH",
                "the amount is not the notice's",
            ));
        }
        let local = cst(now);
        let receipt = format!("R-{}-{:06}", ymd(local.date()), self.next());
        if let Some(n) = self.notices.get_mut(&number) {
            n.status = wire::NoticeStatus::Paid;
            n.receipt = Some(receipt.clone());
        }
        self.payments.insert(
            receipt.clone(),
            Payment {
                notice_number: number,
                receipt_number: receipt.clone(),
                amount_fen: confirmation.amount_fen,
                bank_reference: confirmation.bank_reference,
                paid_at: local,
                cancelled: false,
            },
        );
        Ok(Reply::json(
            200,
            &wire::ConfirmedPayment {
                receipt_number: receipt,
            },
        ))
    }

    /// Each confirmation as `confirmPayment` alone (the world keeps no idempotency keys; the
    /// HTTP layer looks each up under its own first).
    fn confirm_payments(&mut self, bytes: &[u8], now: OffsetDateTime) -> Result<Reply, Reply> {
        let replies: Vec<Reply> = confirmations(bytes)?
            .iter()
            .map(|c| {
                self.confirm_payment(&c.params, &c.body, now)
                    .unwrap_or_else(|reply| reply)
            })
            .collect();
        Ok(batch_answer(&replies))
    }

    fn cancel_payment(
        &mut self,
        params: &Params,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        let number = params.path(0).to_owned();
        let receipt = params.path(1).to_owned();
        self.notice(&number)?;
        wire::receipt_number(&receipt).map_err(|e| Reply::invalid(&e))?;
        let _: wire::PaymentCancellation = body(bytes)?;
        let seq = self.next();
        let payment = self
            .payments
            .get_mut(&receipt)
            .filter(|p| p.notice_number == number)
            .ok_or_else(|| {
                Reply::error(404, "PAYMENT_NOT_FOUND", "no such payment of this notice")
            })?;
        if payment.cancelled {
            return Err(Reply::error(
                409,
                "PAYMENT_ALREADY_CANCELLED",
                "the payment was cancelled before",
            ));
        }
        payment.cancelled = true;
        // The debt remains: the notice can be paid again.
        if let Some(n) = self.notices.get_mut(&number) {
            n.status = wire::NoticeStatus::Unpaid;
            n.receipt = None;
        }
        Ok(Reply::json(
            200,
            &wire::CancelledPayment {
                refund_reference: format!("RF-{}-{:06}", ymd(cst(now).date()), seq),
            },
        ))
    }

    fn render_document(&mut self, bytes: &[u8], now: OffsetDateTime) -> Result<Reply, Reply> {
        let request: wire::DocumentRequest = body(bytes)?;
        let mut lines = vec![("业务编号".to_owned(), request.reference.clone())];
        if let Some(subject) = &request.subject {
            let citizen = self.citizen_by_subject(subject).ok_or_else(|| {
                Reply::error(404, "SUBJECT_NOT_FOUND", "no citizen has this subject")
            })?;
            lines.push(("姓名".to_owned(), citizen.name.clone()));
            lines.push(("公民身份号码".to_owned(), masked(&citizen.id_number)));
            if let Ok(id) = CitizenId::parse(&citizen.id_number, cst(now).date()) {
                lines.push(("户籍地区划".to_owned(), id.division_prefix().to_owned()));
            }
        }
        for (field, value) in &request.form {
            lines.push((field.clone(), value.expose().clone()));
        }
        let local = cst(now);
        lines.push((
            "出具时间".to_owned(),
            format!(
                "{}年{}月{}日 {:02}:{:02}",
                local.year(),
                u8::from(local.month()),
                local.day(),
                local.hour(),
                local.minute()
            ),
        ));
        let doc = DocumentText {
            title: request.result.clone(),
            lines,
            footer: "广东政务服务沙箱平台生成 · 仅供测试 · 不具法律效力".to_owned(),
        };
        let (pdf, pages) =
            pdf::render(&doc).map_err(|e| Reply::error(500, "RENDERING_FAILED", e.to_string()))?;
        Ok(Reply {
            status: 200,
            content_type: "application/pdf",
            headers: vec![("x-document-pages", pages.to_string())],
            body: pdf,
        })
    }

    fn evaluate(&mut self, bytes: &[u8]) -> Result<Reply, Reply> {
        let _: wire::Evaluation = body(bytes)?;
        self.evaluations += 1;
        let seq = self.next();
        Ok(Reply::json(
            201,
            &wire::EvaluationReceipt {
                evaluation_id: format!("EV-{seq:08}"),
            },
        ))
    }

    fn halls_for(&self, division: &DivisionCode) -> impl Iterator<Item = &Hall> {
        let city = division.city();
        self.halls
            .iter()
            .filter(move |h| h.division == *division || Some(h.division) == city)
    }

    fn slots_of(
        &self,
        hall: &Hall,
        date: Date,
    ) -> Vec<(String, PrimitiveDateTime, PrimitiveDateTime)> {
        if !self.data.calendar.day(date).is_working_day() {
            return Vec::new();
        }
        let mut slots = Vec::new();
        for session in &hall.sessions {
            let mut minute = session.from;
            while minute + hall.slot_minutes <= session.to {
                let at = |m: u16| {
                    Time::from_hms(
                        u8::try_from(m / 60).unwrap_or(0),
                        u8::try_from(m % 60).unwrap_or(0),
                        0,
                    )
                    .map(|t| PrimitiveDateTime::new(date, t))
                };
                if let (Ok(start), Ok(end)) = (at(minute), at(minute + hall.slot_minutes)) {
                    let id = format!(
                        "{}-{}-{:02}{:02}",
                        hall.id,
                        ymd(date),
                        minute / 60,
                        minute % 60
                    );
                    slots.push((id, start, end));
                }
                minute += hall.slot_minutes;
            }
        }
        slots
    }

    fn remaining(&self, hall: &Hall, slot_id: &str) -> u32 {
        let booked = self.bookings.get(slot_id).map_or(0, Vec::len);
        hall.capacity
            .saturating_sub(u32::try_from(booked).unwrap_or(u32::MAX))
    }

    fn appointment_slots(&self, params: &Params, now: OffsetDateTime) -> Result<Reply, Reply> {
        let code = params.query_one("implementingCode")?;
        wire::implementing_code(code).map_err(|e| Reply::invalid(&e))?;
        let division = params.query_one("division")?;
        wire::division(division).map_err(|e| Reply::invalid(&e))?;
        let division = DivisionCode::parse(division).map_err(|_| {
            Reply::invalid(&Invalid {
                field: "division",
                problem: "is not a known division code",
            })
        })?;
        let from = wire::date("from", params.query_one("from")?).map_err(|e| Reply::invalid(&e))?;
        let days: i64 = params
            .query_one("days")?
            .parse()
            .ok()
            .filter(|d| (1..=31).contains(d))
            .ok_or_else(|| {
                Reply::invalid(&Invalid {
                    field: "days",
                    problem: "must be 1..=31",
                })
            })?;
        let item_takes_appointments = self
            .data
            .catalogue
            .item(&basic_code(code).unwrap_or_default())
            .is_some_and(|i| i.appointment);
        let local_now = cst(now);
        let mut slots = Vec::new();
        if item_takes_appointments {
            for hall in self.halls_for(&division) {
                for d in 0..days {
                    let Some(date) = from.checked_add(Duration::days(d)) else {
                        break;
                    };
                    for (id, start, end) in self.slots_of(hall, date) {
                        let remaining = self.remaining(hall, &id);
                        if start > local_now && remaining > 0 {
                            slots.push(wire::AppointmentSlot {
                                slot_id: id,
                                hall: hall.name.clone(),
                                start: rfc3339(start),
                                end: rfc3339(end),
                                remaining,
                            });
                        }
                    }
                }
            }
        }
        Ok(Reply::json(200, &wire::SlotList { slots }))
    }

    fn book_appointment(&mut self, bytes: &[u8], now: OffsetDateTime) -> Result<Reply, Reply> {
        let request: wire::BookingRequest = body(bytes)?;
        self.subject_known(&request.subject)?;
        let not_found = || Reply::error(404, "SLOT_NOT_FOUND", "no such appointment slot");
        let (hall_id, rest) = request.slot_id.split_once('-').ok_or_else(not_found)?;
        let date_text = rest.get(..8).ok_or_else(not_found)?;
        let hall = self
            .halls
            .iter()
            .find(|h| h.id == hall_id)
            .ok_or_else(not_found)?;
        let date = Date::parse(
            date_text,
            time::macros::format_description!("[year][month][day]"),
        )
        .map_err(|_| not_found())?;
        let (_, start, _) = self
            .slots_of(hall, date)
            .into_iter()
            .find(|(id, _, _)| *id == request.slot_id)
            .ok_or_else(not_found)?;
        if start <= cst(now) {
            return Err(Reply::error(
                409,
                "SLOT_PASSED",
                "the slot has begun or passed",
            ));
        }
        if self.remaining(hall, &request.slot_id) == 0 {
            return Err(Reply::error(409, "SLOT_FULL", "the slot is fully booked"));
        }
        let booked = self.bookings.entry(request.slot_id.clone()).or_default();
        if booked.contains(&request.subject) {
            return Err(Reply::error(
                409,
                "ALREADY_BOOKED",
                "the citizen holds this slot already",
            ));
        }
        booked.push(request.subject);
        let seq = self.next();
        Ok(Reply::json(
            201,
            &wire::Booking {
                booking_number: format!("BK-{}-{:06}", ymd(date), seq),
            },
        ))
    }

    fn reconciliation(&self, params: &Params) -> Result<Reply, Reply> {
        let date_text = params.path(0);
        let date = wire::date("date", date_text).map_err(|e| Reply::invalid(&e))?;
        let payments = self
            .payments
            .values()
            .filter(|p| p.paid_at.date() == date)
            .map(|p| wire::ReportedPayment {
                notice_number: p.notice_number.clone(),
                receipt_number: p.receipt_number.clone(),
                amount_fen: p.amount_fen,
                bank_reference: p.bank_reference.clone(),
                cancelled: p.cancelled,
            })
            .collect();
        Ok(Reply::json(
            200,
            &wire::ReconciliationReport {
                date: iso_date(date),
                payments,
            },
        ))
    }

    /// Paid notices now (for tests and the admin view).
    pub fn payments_recorded(&self) -> usize {
        self.payments.values().filter(|p| !p.cancelled).count()
    }
}

/// The basic code inside an implementing code.
fn basic_code(implementing: &str) -> Option<String> {
    ImplementingCode::parse(implementing)
        .ok()
        .map(|c| c.basic().as_str().to_owned())
}

fn rfc3339(t: PrimitiveDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:00+08:00",
        iso_date(t.date()),
        t.hour(),
        t.minute()
    )
}
