//! Unified social credit codes (GB 32100): registering authority + category + 6-digit division +
//! 9-character organisation code (GB 11714, with its own check) + check character.

use std::fmt;
use std::str::FromStr;

use super::division::is_province_prefix;

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A unified social credit code that passed every check.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

/// Why a credit code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreditCodeError {
    #[error("a unified social credit code is 18 characters, not {0}")]
    Length(usize),
    #[error(
        "character {0} is not in the code alphabet (digits and capitals without I, O, S, V, Z)"
    )]
    BadCharacter(usize),
    #[error("the registering authority {0:?} is not one GB 32100 assigns")]
    UnknownAuthority(char),
    #[error("characters 3 to 8 are not a division code of a province (or 100000, national)")]
    BadDivision,
    #[error(
        "the organisation code's check character (position 17) does not match (expected {expected})"
    )]
    OrganisationCheck { expected: char },
    #[error("the check character does not match (expected {expected})")]
    CheckCharacter { expected: char },
}

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|a| *a == c).map(|p| p as u32)
}

/// The GB 11714 check character of an organisation code's first eight characters.
pub fn organisation_code_check(first8: &str) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first8.bytes().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    if first8.len() != 8 {
        return None;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    })
}

/// The GB 32100 check character of a code's first seventeen characters.
fn check_char(first17: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(WEIGHTS) {
        sum += value(*c)? * w;
    }
    ALPHABET
        .get(((31 - sum % 31) % 31) as usize)
        .map(|c| char::from(*c))
}

impl CreditCode {
    pub fn parse(text: &str) -> Result<CreditCode, CreditCodeError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 18 || !text.is_ascii() {
            return Err(CreditCodeError::Length(text.chars().count()));
        }
        if let Some(i) = bytes.iter().position(|b| value(*b).is_none()) {
            return Err(CreditCodeError::BadCharacter(i + 1));
        }
        let authority = char::from(bytes.first().copied().unwrap_or(b'0'));
        // 1 staffing, 2 foreign affairs, 3 justice, 4 culture, 5 civil affairs, 6 tourism,
        // 7 religion, 8 trade unions, 9 market regulation, A central military commission,
        // N agriculture, Y other.
        if !"123456789ANY".contains(authority) {
            return Err(CreditCodeError::UnknownAuthority(authority));
        }
        let division: u32 = text
            .get(2..8)
            .and_then(|d| d.parse().ok())
            .ok_or(CreditCodeError::BadDivision)?;
        // 100000 is the national level (central bodies).
        if division != 100000 && !is_province_prefix(division) {
            return Err(CreditCodeError::BadDivision);
        }
        let org = text.get(8..16).unwrap_or_default();
        let expected = organisation_code_check(org).ok_or(CreditCodeError::BadCharacter(9))?;
        if bytes.get(16).map(|c| char::from(*c)) != Some(expected) {
            return Err(CreditCodeError::OrganisationCheck { expected });
        }
        let expected = check_char(bytes.get(..17).unwrap_or_default())
            .ok_or(CreditCodeError::BadCharacter(1))?;
        if bytes.get(17).map(|c| char::from(*c)) != Some(expected) {
            return Err(CreditCodeError::CheckCharacter { expected });
        }
        Ok(CreditCode(text.to_owned()))
    }

    /// Builds a valid code from its first 16 characters (authority, category, division,
    /// organisation code without its check) by computing both check characters. For synthetic
    /// fixtures and tests.
    pub fn complete(first16: &str) -> Result<CreditCode, CreditCodeError> {
        let org = first16
            .get(8..16)
            .ok_or(CreditCodeError::Length(first16.len() + 2))?;
        let org_check = organisation_code_check(org).ok_or(CreditCodeError::BadCharacter(9))?;
        let first17 = format!("{first16}{org_check}");
        let check = check_char(first17.as_bytes()).ok_or(CreditCodeError::BadCharacter(1))?;
        CreditCode::parse(&format!("{first17}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit division of the registering body.
    pub fn division(&self) -> &str {
        self.0.get(2..8).unwrap_or_default()
    }

    /// The 9-character organisation code (GB 11714).
    pub fn organisation_code(&self) -> &str {
        self.0.get(8..17).unwrap_or_default()
    }

    pub fn authority(&self) -> char {
        self.0.chars().next().unwrap_or('?')
    }
}

impl FromStr for CreditCode {
    type Err = CreditCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(s)
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_examples() {
        assert!(CreditCode::parse("11440100007482575H").is_ok());
        assert!(CreditCode::parse("91350100M000100Y43").is_ok());
        assert!(CreditCode::parse("11440000MB2D0164XH").is_ok());
        assert!(CreditCode::parse("114403006939513773").is_ok());
        assert_eq!(
            CreditCode::parse("91350100M000100Y4A"),
            Err(CreditCodeError::CheckCharacter { expected: '3' })
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        assert_eq!(
            CreditCode::parse("1144010000748257"),
            Err(CreditCodeError::Length(16))
        );
        assert_eq!(
            CreditCode::parse("11440100007482575I"),
            Err(CreditCodeError::BadCharacter(18))
        );
        assert_eq!(
            CreditCode::parse("Z1440100007482575H"),
            Err(CreditCodeError::BadCharacter(1))
        );
        assert_eq!(
            CreditCode::parse("B1440100007482575H"),
            Err(CreditCodeError::UnknownAuthority('B'))
        );
        assert_eq!(
            CreditCode::parse("11990100007482575H"),
            Err(CreditCodeError::BadDivision)
        );
        assert_eq!(
            CreditCode::parse("11440100007482576H"),
            Err(CreditCodeError::OrganisationCheck { expected: '5' })
        );
    }

    #[test]
    fn complete_computes_both_check_characters() {
        let code = CreditCode::complete("1144010000748257");
        assert_eq!(
            code.map(|c| c.to_string()).ok().as_deref(),
            Some("11440100007482575H")
        );
    }
}
