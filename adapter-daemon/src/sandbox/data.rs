//! The sandbox's data and settings (fixtures/sandbox/), loaded and checked: every identifier
//! passes its check, every reference resolves, every knob is in range. All problems of all files
//! are reported together, like the catalogue's.

use std::collections::{BTreeMap, HashSet};

use adapter_core::calendar::Window;
use adapter_core::ids::{CitizenId, DivisionCode, LicenceId};
use adapter_core::problems::{Problem, Problems};
use serde::Deserialize;
use time::{Date, PrimitiveDateTime};

use crate::platform::Operation;
use crate::platform::signing::{SigningKey, VerifyingKey};
use crate::platform::wire;

/// The sandbox's files as `(file name, TOML text)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFiles {
    pub citizens: (String, String),
    pub licences: (String, String),
    pub notices: (String, String),
    pub halls: (String, String),
    pub settings: (String, String),
}

/// The file names under a data directory's `sandbox/`.
pub const FILE_NAMES: [&str; 5] = [
    "citizens.toml",
    "licences.toml",
    "notices.toml",
    "halls.toml",
    "sandbox.toml",
];

macro_rules! embed {
    ($file:literal) => {
        (
            concat!("sandbox/", $file).to_owned(),
            include_str!(concat!("../../../fixtures/sandbox/", $file)).to_owned(),
        )
    };
}

/// The sandbox data embedded in this build.
pub fn shipped() -> SandboxFiles {
    SandboxFiles {
        citizens: embed!("citizens.toml"),
        licences: embed!("licences.toml"),
        notices: embed!("notices.toml"),
        halls: embed!("halls.toml"),
        settings: embed!("sandbox.toml"),
    }
}

/// A synthetic citizen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    pub subject: String,
    pub id_number: String,
    pub name: String,
    pub qr_code: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    pub subject: String,
    pub licence_type: String,
    pub name: String,
    pub licence_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeSeed {
    pub notice_number: String,
    pub amount_fen: u64,
    pub payee: String,
    pub due_date: Option<String>,
    /// China Standard Time, `YYYY-MM-DDTHH:MM:SS`.
    pub paid_at: Option<String>,
    pub receipt_number: Option<String>,
    pub bank_reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HallDef {
    id: String,
    name: String,
    division: String,
    sessions: Vec<String>,
    slot_minutes: u16,
    capacity: u32,
}

/// A hall that takes appointments.
#[derive(Debug, Clone)]
pub struct Hall {
    pub id: String,
    pub name: String,
    pub division: DivisionCode,
    pub sessions: Vec<Window>,
    pub slot_minutes: u16,
    pub capacity: u32,
}

/// How a bank app authenticates.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    /// Checks the app's requests.
    pub request_key: VerifyingKey,
    /// Signs the answers to it.
    pub answer_key: SigningKey,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub median_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Fault probabilities of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRates {
    #[serde(default)]
    pub unavailable: f64,
    #[serde(default)]
    pub lost_answer: f64,
    #[serde(default)]
    pub hang: f64,
}

/// The sandbox's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub application_step_seconds: u64,
    pub default_promised_days: u16,
    pub rate_limit_per_second: u32,
    pub apps: Vec<App>,
    pub latency: Latency,
    /// Minutes of the day (CST).
    pub maintenance: Option<Window>,
    pub faults: BTreeMap<Operation, FaultRates>,
    pub hang_seconds: u64,
    pub load_notices: Option<NoticeRange>,
    pub certification_notices: Option<NoticeRange>,
}

/// A range of synthetic payment notices, each owed until paid: `first` to `first + count - 1`
/// (20 digits). `load_notices` are for load tests; `certification_notices` for the conformance
/// kit, which numbers each run's notices afresh so that a run repeated against one daemon finds
/// them unpaid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRange {
    pub first: u128,
    pub count: u64,
    pub amount_fen: u64,
    /// Added to `amount_fen` for each unit of the number's last two digits, so that notices
    /// of one range owe different amounts.
    pub amount_step_fen: u64,
    pub payee: String,
}

impl NoticeRange {
    /// What `number` owes, if it is one of them.
    pub fn owed(&self, number: &str) -> Option<u64> {
        if number.len() != 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = number.parse::<u128>().ok()?;
        if n < self.first || n - self.first >= u128::from(self.count) {
            return None;
        }
        let last_two = u64::try_from(n % 100).ok()?;
        Some(
            self.amount_fen
                .saturating_add(last_two.saturating_mul(self.amount_step_fen)),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeRangeDef {
    first: String,
    count: u64,
    amount_fen: u64,
    #[serde(default)]
    amount_step_fen: u64,
    payee: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsDef {
    application_step_seconds: u64,
    default_promised_days: u16,
    #[serde(default)]
    rate_limit_per_second: u32,
    platform_sm2_private_hex: String,
    #[serde(default)]
    app: Vec<AppDef>,
    #[serde(default)]
    latency: LatencyDef,
    #[serde(default)]
    maintenance: MaintenanceDef,
    #[serde(default)]
    faults: toml::Table,
    load_notices: Option<NoticeRangeDef>,
    certification_notices: Option<NoticeRangeDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDef {
    id: String,
    algorithm: String,
    secret: Option<String>,
    public_key_hex: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LatencyDef {
    #[serde(default)]
    median_ms: u64,
    #[serde(default)]
    p99_ms: u64,
    #[serde(default)]
    max_ms: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MaintenanceDef {
    #[serde(default)]
    daily: String,
}

/// Everything the sandbox serves from, checked.
#[derive(Debug, Clone)]
pub struct SandboxData {
    pub citizens: Vec<Citizen>,
    pub licences: Vec<Licence>,
    pub notices: Vec<NoticeSeed>,
    pub halls: Vec<Hall>,
    pub settings: Settings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitizensFile {
    citizen: Vec<Citizen>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicencesFile {
    licence: Vec<Licence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticesFile {
    notice: Vec<NoticeSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HallsFile {
    hall: Vec<HallDef>,
}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn add(&mut self, file: &str, entry: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_owned(),
            entry: entry.map(str::to_owned),
            message: message.into(),
        });
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &mut self,
        (file, text): &(String, String),
    ) -> Option<T> {
        match toml::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(file, None, e.to_string().trim_end().to_owned());
                None
            }
        }
    }
}

/// A CST date-time `YYYY-MM-DDTHH:MM:SS`.
pub fn parse_cst(text: &str) -> Option<PrimitiveDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, format).ok()
}

impl SandboxData {
    /// Loads and checks the files; `today` bounds the citizens' birth dates.
    pub fn load(files: &SandboxFiles, today: Date) -> Result<SandboxData, Problems> {
        let mut c = Collector {
            problems: Vec::new(),
        };
        let citizens: Option<CitizensFile> = c.parse(&files.citizens);
        let licences: Option<LicencesFile> = c.parse(&files.licences);
        let notices: Option<NoticesFile> = c.parse(&files.notices);
        let halls: Option<HallsFile> = c.parse(&files.halls);
        let settings: Option<SettingsDef> = c.parse(&files.settings);

        let mut subjects = HashSet::new();
        if let Some(f) = &citizens {
            let file = &files.citizens.0;
            let mut ids = HashSet::new();
            let mut codes = HashSet::new();
            for p in &f.citizen {
                let entry = Some(p.subject.as_str());
                if wire::subject("subject", &p.subject).is_err()
                    || !subjects.insert(p.subject.clone())
                {
                    c.add(
                        file,
                        entry,
                        "the subject is not [A-Za-z0-9-]{1,64} or is not unique",
                    );
                }
                // The error names the rule, never the number.
                if let Err(e) = CitizenId::parse(&p.id_number, today) {
                    c.add(file, entry, format!("id_number: {e}"));
                }
                if !ids.insert(p.id_number.clone()) {
                    c.add(file, entry, "id_number is not unique");
                }
                if wire::short_text("name", &p.name, 64).is_err() {
                    c.add(
                        file,
                        entry,
                        "name must be 1 to 64 characters without outer spaces",
                    );
                }
                if p.qr_code.is_empty()
                    || !p.qr_code.bytes().all(|b| b.is_ascii_graphic())
                    || !codes.insert(p.qr_code.clone())
                {
                    c.add(file, entry, "qr_code must be unique visible ASCII");
                }
            }
        }
        if let Some(f) = &licences {
            let file = &files.licences.0;
            for l in &f.licence {
                let entry = Some(l.licence_id.as_str());
                if !subjects.contains(&l.subject) {
                    c.add(file, entry, format!("no citizen has subject {}", l.subject));
                }
                match LicenceId::parse(&l.licence_id) {
                    Ok(id) if id.type_code() != l.licence_type => {
                        c.add(
                            file,
                            entry,
                            "the identifier's type code is not licence_type",
                        );
                    }
                    Ok(_) => {}
                    Err(e) => c.add(file, entry, format!("licence_id: {e}")),
                }
            }
        }
        if let Some(f) = &notices {
            let file = &files.notices.0;
            let mut numbers = HashSet::new();
            for n in &f.notice {
                let entry = Some(n.notice_number.as_str());
                if wire::notice_number(&n.notice_number).is_err()
                    || !numbers.insert(&n.notice_number)
                {
                    c.add(
                        file,
                        entry,
                        "notice_number must be 1 to 50 letters or digits, unique",
                    );
                }
                if !(1..=100_000_000_000).contains(&n.amount_fen) {
                    c.add(file, entry, "amount_fen out of range 1..=100000000000");
                }
                if let Some(d) = &n.due_date
                    && wire::date("due_date", d).is_err()
                {
                    c.add(file, entry, "due_date is not YYYY-MM-DD");
                }
                match (&n.paid_at, &n.receipt_number) {
                    (None, None) => {}
                    (Some(at), Some(r)) => {
                        if parse_cst(at).is_none() {
                            c.add(file, entry, "paid_at is not YYYY-MM-DDTHH:MM:SS");
                        }
                        if wire::receipt_number(r).is_err() {
                            c.add(file, entry, "receipt_number must be letters, digits and -");
                        }
                    }
                    _ => c.add(
                        file,
                        entry,
                        "a paid notice has both paid_at and receipt_number",
                    ),
                }
            }
        }
        let mut hall_list = Vec::new();
        if let Some(f) = &halls {
            let file = &files.halls.0;
            for h in &f.hall {
                let entry = Some(h.id.as_str());
                let division = DivisionCode::parse(&h.division)
                    .map_err(|e| c.add(file, entry, format!("division: {e}")))
                    .ok();
                let mut sessions = Vec::new();
                for s in &h.sessions {
                    match Window::parse(s) {
                        Ok(w) => sessions.push(w),
                        Err(e) => c.add(file, entry, format!("session {s}: {e}")),
                    }
                }
                if !(5..=240).contains(&h.slot_minutes) || h.capacity == 0 {
                    c.add(
                        file,
                        entry,
                        "slot_minutes must be 5..=240 and capacity at least 1",
                    );
                }
                if wire::token("id", &h.id, 1, 16, |ch| ch.is_ascii_alphanumeric()).is_err() {
                    c.add(file, entry, "id must be 1 to 16 letters or digits");
                }
                if let Some(division) = division {
                    hall_list.push(Hall {
                        id: h.id.clone(),
                        name: h.name.clone(),
                        division,
                        sessions,
                        slot_minutes: h.slot_minutes,
                        capacity: h.capacity,
                    });
                }
            }
        }
        let settings = settings.and_then(|s| load_settings(&mut c, &files.settings.0, s));
        if !c.problems.is_empty() {
            return Err(Problems(c.problems));
        }
        match (citizens, licences, notices, settings) {
            (Some(citizens), Some(licences), Some(notices), Some(settings)) => Ok(SandboxData {
                citizens: citizens.citizen,
                licences: licences.licence,
                notices: notices.notice,
                halls: hall_list,
                settings,
            }),
            _ => Err(Problems(c.problems)),
        }
    }
}

fn load_settings(c: &mut Collector, file: &str, s: SettingsDef) -> Option<Settings> {
    let before = c.problems.len();
    let platform_key = SigningKey::sm2_hex(&s.platform_sm2_private_hex)
        .map_err(|e| c.add(file, None, format!("platform_sm2_private_hex: {e}")))
        .ok();
    let mut apps = Vec::new();
    for a in s.app {
        let entry = Some(a.id.as_str());
        if wire::token("id", &a.id, 1, 64, wire::alnum_dash).is_err() {
            c.add(file, entry, "an app id is 1 to 64 letters, digits and -");
        }
        match (a.algorithm.as_str(), a.secret, a.public_key_hex) {
            ("HMAC-SHA256", Some(secret), None) => match SigningKey::hmac(secret.as_bytes()) {
                Ok(key) => apps.push(App {
                    id: a.id,
                    request_key: key.verifier(),
                    answer_key: key,
                }),
                Err(e) => c.add(file, entry, e.to_string()),
            },
            ("SM2-SM3", None, Some(public)) => {
                match (VerifyingKey::sm2_hex(&public), &platform_key) {
                    (Ok(request_key), Some(answer_key)) => apps.push(App {
                        id: a.id,
                        request_key,
                        answer_key: answer_key.clone(),
                    }),
                    (Err(e), _) => c.add(file, entry, e.to_string()),
                    (Ok(_), None) => {}
                }
            }
            _ => c.add(
                file,
                entry,
                "an app is HMAC-SHA256 with a secret, or SM2-SM3 with a public_key_hex",
            ),
        }
    }
    let latency = Latency {
        median_ms: s.latency.median_ms,
        p99_ms: s.latency.p99_ms,
        max_ms: s.latency.max_ms,
    };
    if latency.p99_ms < latency.median_ms || latency.max_ms > 600_000 {
        c.add(
            file,
            Some("latency"),
            "p99_ms must be at least median_ms, max_ms at most 600000",
        );
    }
    let maintenance = if s.maintenance.daily.is_empty() {
        None
    } else {
        Window::parse(&s.maintenance.daily)
            .map_err(|e| c.add(file, Some("maintenance"), e))
            .ok()
    };
    let mut faults = BTreeMap::new();
    let mut hang_seconds = 60;
    for (name, value) in s.faults {
        if name == "hang_seconds" {
            match value.as_integer().and_then(|v| u64::try_from(v).ok()) {
                Some(v) if v <= 3600 => hang_seconds = v,
                _ => c.add(file, Some("faults"), "hang_seconds must be 0..=3600"),
            }
            continue;
        }
        let Some(op) = Operation::from_id(&name) else {
            c.add(
                file,
                Some("faults"),
                format!("{name} is not an operationId of docs/openapi.yaml"),
            );
            continue;
        };
        match value.try_into::<FaultRates>() {
            Ok(rates)
                if [rates.unavailable, rates.lost_answer, rates.hang]
                    .iter()
                    .all(|r| (0.0..=1.0).contains(r)) =>
            {
                faults.insert(op, rates);
            }
            Ok(_) => c.add(
                file,
                Some(&name),
                "fault rates are probabilities, 0.0..=1.0",
            ),
            Err(e) => c.add(file, Some(&name), e.to_string()),
        }
    }
    if s.default_promised_days == 0 || s.default_promised_days > 365 {
        c.add(file, None, "default_promised_days must be 1..=365");
    }
    let load_notices = notice_range(c, file, "load_notices", s.load_notices.as_ref());
    let certification_notices = notice_range(
        c,
        file,
        "certification_notices",
        s.certification_notices.as_ref(),
    );
    if c.problems.len() > before {
        return None;
    }
    Some(Settings {
        application_step_seconds: s.application_step_seconds,
        default_promised_days: s.default_promised_days,
        rate_limit_per_second: s.rate_limit_per_second,
        apps,
        latency,
        maintenance,
        faults,
        hang_seconds,
        load_notices,
        certification_notices,
    })
}

/// A range of synthetic notices (`count = 0`: none).
fn notice_range(
    c: &mut Collector,
    file: &str,
    entry: &str,
    def: Option<&NoticeRangeDef>,
) -> Option<NoticeRange> {
    let l = def.filter(|l| l.count > 0)?;
    let first = (l.first.len() == 20 && l.first.bytes().all(|b| b.is_ascii_digit()))
        .then(|| l.first.parse::<u128>().ok())
        .flatten();
    match first {
        Some(first) if l.amount_fen > 0 => Some(NoticeRange {
            first,
            count: l.count,
            amount_fen: l.amount_fen,
            amount_step_fen: l.amount_step_fen,
            payee: l.payee.clone(),
        }),
        Some(_) => {
            c.add(file, Some(entry), "amount_fen must be at least 1");
            None
        }
        None => {
            c.add(file, Some(entry), "first must be a 20-digit notice number");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        time::macros::date!(2026 - 11 - 28)
    }

    #[test]
    fn the_shipped_sandbox_data_loads() {
        let data = SandboxData::load(&shipped(), today()).unwrap();
        assert_eq!(data.citizens.len(), 12);
        assert!(data.licences.len() >= 10);
        assert!(data.halls.len() >= 4);
        assert_eq!(data.settings.apps.len(), 2);
    }

    #[test]
    fn every_problem_is_reported_without_the_personal_data() {
        let mut files = shipped();
        files.citizens.1 = files
            .citizens
            .1
            .replace("440106198503151014", "440106198503151015");
        files.licences.1 = files.licences.1.replace("SUBJ-0003", "SUBJ-9999");
        files.settings.1 = files
            .settings
            .1
            .replace("[faults]", "[faults.payEverything]\nhang = 2.0\n[faults]");
        let problems = SandboxData::load(&files, today()).unwrap_err().to_string();
        assert!(
            problems.contains("sandbox/citizens.toml: SUBJ-0001: id_number"),
            "{problems}"
        );
        assert!(!problems.contains("44010619850315101"), "{problems}");
        assert!(
            problems.contains("no citizen has subject SUBJ-9999"),
            "{problems}"
        );
        assert!(
            problems.contains("payEverything is not an operationId"),
            "{problems}"
        );
    }

    /// The shipped certification range owes by its last two digits, like the fixed notices;
    /// the load-test range a flat amount; numbers outside either owe nothing of them.
    #[test]
    fn synthetic_notices_owe_by_their_range() {
        let data = SandboxData::load(&shipped(), today()).unwrap();
        let cert = data.settings.certification_notices.clone().unwrap();
        assert_eq!(cert.owed("44010026131234567824"), Some(3400));
        assert_eq!(cert.owed("44010026139999999900"), Some(1000));
        assert_eq!(cert.owed("44010026120000000024"), None);
        assert_eq!(cert.owed("4401002613123456782"), None);
        assert_eq!(cert.owed("4401002613123456782x"), None);
        let load = data.settings.load_notices.clone().unwrap();
        assert_eq!(load.owed("44010026990000000042"), Some(100));
        assert_eq!(load.owed("44010026131234567824"), None);
    }
}
