//! Government service item codes (GB/T 39554.1-2020, Guangdong layout):
//!
//! - basic code (基本编码), 12: region (2: `00` national, or a province) + item type (2) + main
//!   item (5: guiding department 2 + sequence 3) + sub-item (3, `000` for none);
//! - implementing code (实施编码), 31: implementing body's credit code (18) + exercise level (1) +
//!   basic code (12);
//! - handling-item code (业务办理项编码), 33: implementing code + 2 digits (01–99).

use std::fmt;
use std::str::FromStr;

use super::credit_code::{CreditCode, CreditCodeError};
use super::division::is_province_prefix;

/// Item type (GB/T 39046-2020 Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemType(u8);

impl ItemType {
    pub fn from_code(code: u8) -> Option<ItemType> {
        (code <= 29).then_some(ItemType(code))
    }

    pub fn code(self) -> u8 {
        self.0
    }

    /// The name of the type in English, and in Chinese where the standard's table gives it.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "administrative power",
            1 => "licensing (行政许可)",
            2 => "penalty (行政处罚)",
            3 => "enforcement (行政强制)",
            4 => "levy (行政征收)",
            5 => "benefit payment (行政给付)",
            6 => "inspection (行政检查)",
            7 => "confirmation (行政确认)",
            8 => "award (行政奖励)",
            9 => "adjudication (行政裁决)",
            10 => "other administrative power",
            20 => "public service (公共服务)",
            11..=19 => "other administrative power (extension)",
            _ => "public service (extension)",
        }
    }
}

/// Exercise level of an implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExerciseLevel {
    National = 1,
    Provincial = 2,
    City = 3,
    County = 4,
    Town = 5,
    Village = 6,
    Tiered = 7,
}

impl ExerciseLevel {
    pub fn from_digit(d: u8) -> Option<ExerciseLevel> {
        Some(match d {
            1 => ExerciseLevel::National,
            2 => ExerciseLevel::Provincial,
            3 => ExerciseLevel::City,
            4 => ExerciseLevel::County,
            5 => ExerciseLevel::Town,
            6 => ExerciseLevel::Village,
            7 => ExerciseLevel::Tiered,
            _ => return None,
        })
    }

    pub fn digit(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExerciseLevel::National => "national",
            ExerciseLevel::Provincial => "provincial",
            ExerciseLevel::City => "city",
            ExerciseLevel::County => "county",
            ExerciseLevel::Town => "town",
            ExerciseLevel::Village => "village",
            ExerciseLevel::Tiered => "tiered",
        }
    }
}

/// Why an item code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemCodeError {
    #[error(
        "an item code is 12 (basic), 31 (implementing) or 33 (handling-item) characters, not {0}"
    )]
    Length(usize),
    #[error("the region (characters 1–2) is neither 00 nor a province code")]
    Region,
    #[error("the item type (characters 3–4) is not a code of the item-type table (00–29)")]
    ItemType,
    #[error("the guiding department (characters 5–6) must be two digits")]
    Department,
    #[error(
        "the main-item sequence (characters 7–9) must be 001–999, letters allowed except I, O, Z, S, V"
    )]
    Sequence,
    #[error(
        "the sub-item (characters 10–12) must be three digits or capitals except I, O, Z, S, V"
    )]
    SubItem,
    #[error("the implementing body's credit code: {0}")]
    Body(CreditCodeError),
    #[error("the exercise level (character 19) must be 1–7")]
    Level,
    #[error("the handling-item number (characters 32–33) must be 01–99")]
    HandlingNumber,
}

fn is_code_char(b: u8) -> bool {
    b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOZSV".contains(&b))
}

/// A basic code (12).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BasicCode(String);

impl BasicCode {
    pub fn parse(text: &str) -> Result<BasicCode, ItemCodeError> {
        let text = text.trim();
        if text.len() != 12 || !text.is_ascii() {
            return Err(ItemCodeError::Length(text.chars().count()));
        }
        let part = |r: std::ops::Range<usize>| text.get(r).unwrap_or_default();
        let region: u32 = part(0..2).parse().map_err(|_| ItemCodeError::Region)?;
        if region != 0 && !is_province_prefix(region * 10000) {
            return Err(ItemCodeError::Region);
        }
        let item_type: u8 = part(2..4).parse().map_err(|_| ItemCodeError::ItemType)?;
        ItemType::from_code(item_type).ok_or(ItemCodeError::ItemType)?;
        if !part(4..6).bytes().all(|b| b.is_ascii_digit()) {
            return Err(ItemCodeError::Department);
        }
        let sequence = part(6..9);
        if !sequence.bytes().all(is_code_char) || sequence == "000" {
            return Err(ItemCodeError::Sequence);
        }
        if !part(9..12).bytes().all(is_code_char) {
            return Err(ItemCodeError::SubItem);
        }
        Ok(BasicCode(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `00` for a national item, the province's two digits for a provincial one.
    pub fn region(&self) -> &str {
        self.0.get(0..2).unwrap_or_default()
    }

    pub fn item_type(&self) -> ItemType {
        let code = self.0.get(2..4).and_then(|t| t.parse().ok()).unwrap_or(0);
        ItemType(code)
    }

    pub fn department(&self) -> &str {
        self.0.get(4..6).unwrap_or_default()
    }

    /// The main item (department + sequence), 5 characters.
    pub fn main_item(&self) -> &str {
        self.0.get(4..9).unwrap_or_default()
    }

    pub fn sub_item(&self) -> &str {
        self.0.get(9..12).unwrap_or_default()
    }
}

/// An implementing code (31).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImplementingCode {
    text: String,
    body: CreditCode,
    level: ExerciseLevel,
    basic: BasicCode,
}

impl ImplementingCode {
    pub fn parse(text: &str) -> Result<ImplementingCode, ItemCodeError> {
        let text = text.trim();
        if text.len() != 31 || !text.is_ascii() {
            return Err(ItemCodeError::Length(text.chars().count()));
        }
        let body =
            CreditCode::parse(text.get(..18).unwrap_or_default()).map_err(ItemCodeError::Body)?;
        let level = text
            .get(18..19)
            .and_then(|d| d.parse::<u8>().ok())
            .and_then(ExerciseLevel::from_digit)
            .ok_or(ItemCodeError::Level)?;
        let basic = BasicCode::parse(text.get(19..).unwrap_or_default())?;
        Ok(ImplementingCode {
            text: text.to_owned(),
            body,
            level,
            basic,
        })
    }

    pub fn new(body: &CreditCode, level: ExerciseLevel, basic: &BasicCode) -> ImplementingCode {
        ImplementingCode {
            text: format!("{}{}{}", body.as_str(), level.digit(), basic.as_str()),
            body: body.clone(),
            level,
            basic: basic.clone(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn body(&self) -> &CreditCode {
        &self.body
    }

    pub fn level(&self) -> ExerciseLevel {
        self.level
    }

    pub fn basic(&self) -> &BasicCode {
        &self.basic
    }
}

/// A handling-item code (33).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlingItemCode {
    implementing: ImplementingCode,
    number: u8,
}

impl HandlingItemCode {
    pub fn parse(text: &str) -> Result<HandlingItemCode, ItemCodeError> {
        let text = text.trim();
        if text.len() != 33 || !text.is_ascii() {
            return Err(ItemCodeError::Length(text.chars().count()));
        }
        let implementing = ImplementingCode::parse(text.get(..31).unwrap_or_default())?;
        let number = text
            .get(31..)
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=99).contains(n))
            .ok_or(ItemCodeError::HandlingNumber)?;
        Ok(HandlingItemCode {
            implementing,
            number,
        })
    }

    pub fn implementing(&self) -> &ImplementingCode {
        &self.implementing
    }

    /// 01 enterprise application, 02 individual application, …
    pub fn number(&self) -> u8 {
        self.number
    }
}

/// Any of the three codes, told apart by length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemCode {
    Basic(BasicCode),
    Implementing(ImplementingCode),
    Handling(HandlingItemCode),
}

impl ItemCode {
    pub fn parse(text: &str) -> Result<ItemCode, ItemCodeError> {
        match text.trim().len() {
            12 => BasicCode::parse(text).map(ItemCode::Basic),
            31 => ImplementingCode::parse(text).map(ItemCode::Implementing),
            33 => HandlingItemCode::parse(text).map(ItemCode::Handling),
            n => Err(ItemCodeError::Length(n)),
        }
    }
}

macro_rules! text_traits {
    ($t:ty, $name:literal, $parse:path) => {
        impl FromStr for $t {
            type Err = ItemCodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $parse(s)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($name, "({})"), self)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_traits!(BasicCode, "BasicCode", BasicCode::parse);
text_traits!(
    ImplementingCode,
    "ImplementingCode",
    ImplementingCode::parse
);
text_traits!(
    HandlingItemCode,
    "HandlingItemCode",
    HandlingItemCode::parse
);

impl fmt::Display for BasicCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ImplementingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for HandlingItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:02}", self.implementing, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_guangdong_codes() {
        let city = ImplementingCode::parse("11440100007482575H3440118009000");
        let city = city.as_ref().ok();
        assert_eq!(city.map(|c| c.level()), Some(ExerciseLevel::City));
        assert_eq!(city.map(|c| c.basic().item_type().code()), Some(1));
        assert_eq!(city.map(|c| c.basic().main_item()), Some("18009"));
        let province = ImplementingCode::parse("11440000MB2D0164XH2440289876000");
        assert_eq!(
            province.map(|c| c.level()).ok(),
            Some(ExerciseLevel::Provincial)
        );
        let handling = HandlingItemCode::parse("114403006939513773344201505200802");
        assert_eq!(handling.as_ref().map(|h| h.number()).ok(), Some(2));
        assert_eq!(
            handling.map(|h| h.to_string()).ok().as_deref(),
            Some("114403006939513773344201505200802")
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        let b = |s: &str| BasicCode::parse(s).err();
        assert_eq!(b("44011800900"), Some(ItemCodeError::Length(11)));
        assert_eq!(b("990118009000"), Some(ItemCodeError::Region));
        assert_eq!(b("443018009000"), Some(ItemCodeError::ItemType));
        assert_eq!(b("4401A8009000"), Some(ItemCodeError::Department));
        assert_eq!(b("440118000000"), Some(ItemCodeError::Sequence));
        assert_eq!(b("44011800I000"), Some(ItemCodeError::Sequence));
        assert_eq!(b("4401180090O0"), Some(ItemCodeError::SubItem));
        assert!(b("44011800A000").is_none());
        let i = |s: &str| ImplementingCode::parse(s).err();
        assert_eq!(
            i("11440100007482575H8440118009000"),
            Some(ItemCodeError::Level)
        );
        assert!(matches!(
            i("11440100007482575X3440118009000"),
            Some(ItemCodeError::Body(_))
        ));
        let h = |s: &str| HandlingItemCode::parse(s).err();
        assert_eq!(
            h("114403006939513773344201505200800"),
            Some(ItemCodeError::HandlingNumber)
        );
        assert_eq!(
            ItemCode::parse("1234").err(),
            Some(ItemCodeError::Length(4))
        );
    }
}
