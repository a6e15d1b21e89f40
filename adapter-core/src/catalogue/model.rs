//! The catalogue's types.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::Schedule;
use crate::ids::{BasicCode, DivisionCode, ImplementingCode, ItemType};

/// The departments of the source letter, and housing fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Department {
    PublicSecurity,
    HrSocialSecurity,
    Justice,
    CivilAffairs,
    Health,
    Taxation,
    DisabledPersons,
    NaturalResources,
    HousingFund,
}

impl Department {
    pub const ALL: [Department; 9] = [
        Department::PublicSecurity,
        Department::HrSocialSecurity,
        Department::Justice,
        Department::CivilAffairs,
        Department::Health,
        Department::Taxation,
        Department::DisabledPersons,
        Department::NaturalResources,
        Department::HousingFund,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Department::PublicSecurity => "public-security",
            Department::HrSocialSecurity => "hr-social-security",
            Department::Justice => "justice",
            Department::CivilAffairs => "civil-affairs",
            Department::Health => "health",
            Department::Taxation => "taxation",
            Department::DisabledPersons => "disabled-persons",
            Department::NaturalResources => "natural-resources",
            Department::HousingFund => "housing-fund",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Department::PublicSecurity => "公安",
            Department::HrSocialSecurity => "人社",
            Department::Justice => "司法",
            Department::CivilAffairs => "民政",
            Department::Health => "卫生健康",
            Department::Taxation => "税务",
            Department::DisabledPersons => "残联",
            Department::NaturalResources => "自然资源",
            Department::HousingFund => "公积金",
        }
    }
}

impl fmt::Display for Department {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Who an item serves (GB/T 39046 code table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceObject {
    NaturalPerson,
    Enterprise,
    PublicInstitution,
    SocialOrganisation,
    AdministrativeOrgan,
    Other,
}

/// 办件类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseType {
    /// 即办件: decided on the spot.
    Instant,
    /// 承诺件: decided by the back office within the promised time.
    Promised,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeUnit {
    WorkingDays,
    NaturalDays,
    Hours,
    Minutes,
}

/// A statutory or promised time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimit {
    pub value: u16,
    pub unit: TimeUnit,
}

/// What an item costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fee {
    None,
    /// A fixed fee, in fen (分).
    Fixed {
        fen: u64,
    },
    /// The amount of a payment notice (缴款书), known only at inquiry.
    PerNotice,
}

/// Where a material comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MaterialSource {
    /// Scanned on the terminal's document camera.
    Scan,
    /// Pulled from the e-licence library by licence type: nothing to scan.
    ELicence { licence_type: String },
    /// Produced by the flow itself (a form, a signature): nothing to collect.
    None,
}

/// A material an application needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Material {
    pub name: String,
    pub mandatory: bool,
    pub source: MaterialSource,
}

/// The kind of result an item gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultKind {
    Certificate,
    Receipt,
    Decision,
    ELicence,
}

/// How a result reaches the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    A4Print,
    ReceiptPrint,
    ELicence,
    Post,
    Counter,
    /// Shown on the terminal's screen (query results).
    Screen,
}

impl Delivery {
    pub const ALL: [Delivery; 6] = [
        Delivery::A4Print,
        Delivery::ReceiptPrint,
        Delivery::ELicence,
        Delivery::Post,
        Delivery::Counter,
        Delivery::Screen,
    ];

    /// Bit of this delivery in a set.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn id(self) -> &'static str {
        match self {
            Delivery::A4Print => "a4-print",
            Delivery::ReceiptPrint => "receipt-print",
            Delivery::ELicence => "e-licence",
            Delivery::Post => "post",
            Delivery::Counter => "counter",
            Delivery::Screen => "screen",
        }
    }
}

/// A result of an item; `delivery` lists the acceptable ways in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ResultSpec {
    pub name: String,
    pub kind: ResultKind,
    pub delivery: Vec<Delivery>,
}

/// How a citizen must prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityRequirement {
    /// Resident ID card chip read and a live face compared with its photo (人证核验).
    IdCardFace,
    /// The provincial app's QR code (粤省事).
    QrCode,
    /// Either of the two.
    Either,
    /// No identity needed (payment by notice number, public look-ups).
    None,
}

/// The kind of a form field, which tells the terminal how to render it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    Text,
    Number,
    Amount,
    Date,
    Month,
    MonthRange,
    Choice,
    Phone,
    Address,
    /// A payment-notice number (缴款识别码): the one field an ISO 8583 terminal can collect.
    PaymentNotice,
    /// A licence plate number.
    Plate,
}

/// A form field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FormField {
    pub id: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A government service item (事项), by its basic code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub code: BasicCode,
    /// The code is built to the standard's structure but is not a published one.
    pub synthetic: bool,
    pub name: String,
    pub name_en: String,
    pub item_type: ItemType,
    pub department: Department,
    pub service_objects: Vec<ServiceObject>,
    pub case_type: CaseType,
    pub statutory_limit: Option<TimeLimit>,
    pub promised_limit: Option<TimeLimit>,
    pub fee: Fee,
    pub identity: IdentityRequirement,
    pub form: Vec<FormField>,
    pub materials: Vec<Material>,
    /// The applicant signs on a signature pad.
    pub signature: bool,
    pub results: Vec<ResultSpec>,
    pub appointment: bool,
}

/// An item as implemented in one division (实施清单).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    pub code: ImplementingCode,
    pub synthetic: bool,
    pub division: DivisionCode,
    /// The implementing body.
    pub body: String,
    /// The back-end schedule (a name in the catalogue's backends).
    pub backend: String,
    /// Offered on self-service terminals at all.
    pub self_service: bool,
    /// Switched on by the operator.
    pub enabled: bool,
}

/// A loaded and checked catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    pub(crate) items: Vec<Item>,
    pub(crate) implementations: Vec<Implementation>,
    pub(crate) backends: BTreeMap<String, Schedule>,
    /// For each item (same index), its implementations as (division code, index), sorted.
    pub(crate) by_item: Vec<Vec<(u32, usize)>>,
    pub(crate) version: String,
}

impl Catalogue {
    /// Items in code order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn implementations(&self) -> &[Implementation] {
        &self.implementations
    }

    pub fn item(&self, code: &str) -> Option<&Item> {
        self.items
            .binary_search_by(|i| i.code.as_str().cmp(code))
            .ok()
            .and_then(|i| self.items.get(i))
    }

    pub fn backend(&self, name: &str) -> Option<&Schedule> {
        self.backends.get(name)
    }

    pub fn backends(&self) -> impl Iterator<Item = (&str, &Schedule)> {
        self.backends.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// `sha256:` and the first 16 hex digits of the hash of the catalogue's files.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The implementation of item number `index` nearest to `division`: the division itself,
    /// then its city, then its province.
    pub fn implementation_for(
        &self,
        index: usize,
        division: &DivisionCode,
    ) -> Option<&Implementation> {
        let list = self.by_item.get(index)?;
        division.ancestry().find_map(|d| {
            list.binary_search_by_key(&d.code(), |(code, _)| *code)
                .ok()
                .and_then(|i| list.get(i))
                .and_then(|(_, idx)| self.implementations.get(*idx))
        })
    }

    /// The distinct divisions with at least one implementation.
    pub fn divisions(&self) -> Vec<DivisionCode> {
        let mut d: Vec<DivisionCode> = self.implementations.iter().map(|i| i.division).collect();
        d.sort();
        d.dedup();
        d
    }
}
