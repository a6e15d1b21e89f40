//! Resident identity card numbers (GB 11643): 6-digit division + birth date + 3-digit sequence
//! (odd male, even female) + check character.

use std::fmt;

use time::{Date, Month};

use super::division::is_province_prefix;

/// A citizen identity number that passed every check. Display and Debug mask it
/// (`440104********1234` keeps the division and the last four): it is personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CitizenId(String);

/// Sex as the sequence number encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// Why an identity number was refused. Never carries the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CitizenIdError {
    #[error("an identity number is 18 characters, not {0}")]
    Length(usize),
    #[error("character {0} must be a digit (only the last may be X)")]
    NotDigit(usize),
    #[error("the first two digits are not a province code")]
    UnknownProvince,
    #[error("the birth date is not a real date")]
    BadBirthDate,
    #[error("the birth date is in the future")]
    FutureBirthDate,
    #[error("the check character does not match (expected {expected})")]
    CheckCharacter { expected: char },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECKS: &[u8; 11] = b"10X98765432";

/// The check character for the first 17 digits.
fn check_char(digits: &[u8]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECKS
        .get((sum % 11) as usize)
        .map_or('?', |c| char::from(*c))
}

impl CitizenId {
    /// Parses and checks `text`; `today` (China Standard Time) bounds the birth date. A lower-case
    /// `x` is accepted and normalised to `X`.
    pub fn parse(text: &str, today: Date) -> Result<CitizenId, CitizenIdError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 18 {
            return Err(CitizenIdError::Length(text.chars().count()));
        }
        let mut normalised = [0u8; 18];
        for (i, (slot, &b)) in normalised.iter_mut().zip(bytes).enumerate() {
            *slot = match b {
                b'0'..=b'9' => b,
                b'x' | b'X' if i == 17 => b'X',
                _ => return Err(CitizenIdError::NotDigit(i + 1)),
            };
        }
        let number = |range: std::ops::Range<usize>| -> u32 {
            normalised
                .get(range)
                .unwrap_or_default()
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        if !is_province_prefix(number(0..6)) {
            return Err(CitizenIdError::UnknownProvince);
        }
        let month =
            Month::try_from(number(10..12) as u8).map_err(|_| CitizenIdError::BadBirthDate)?;
        let birth = Date::from_calendar_date(number(6..10) as i32, month, number(12..14) as u8)
            .map_err(|_| CitizenIdError::BadBirthDate)?;
        if birth.year() < 1900 {
            return Err(CitizenIdError::BadBirthDate);
        }
        if birth > today {
            return Err(CitizenIdError::FutureBirthDate);
        }
        let expected = check_char(normalised.get(..17).unwrap_or_default());
        if normalised.get(17).map(|c| char::from(*c)) != Some(expected) {
            return Err(CitizenIdError::CheckCharacter { expected });
        }
        Ok(CitizenId(String::from_utf8_lossy(&normalised).into_owned()))
    }

    /// The full number, for the platform calls that need it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The 6-digit division of first registration.
    pub fn division_prefix(&self) -> &str {
        self.0.get(..6).unwrap_or_default()
    }

    pub fn birth_date(&self) -> Option<Date> {
        let n = |r: std::ops::Range<usize>| self.0.get(r).and_then(|s| s.parse::<u32>().ok());
        let month = Month::try_from(n(10..12)? as u8).ok()?;
        Date::from_calendar_date(n(6..10)? as i32, month, n(12..14)? as u8).ok()
    }

    pub fn sex(&self) -> Sex {
        let sequence_last = self.0.as_bytes().get(16).copied().unwrap_or(b'0');
        if (sequence_last - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The number with its birth date and sequence hidden.
    pub fn masked(&self) -> String {
        format!(
            "{}********{}",
            self.0.get(..6).unwrap_or_default(),
            self.0.get(14..).unwrap_or_default()
        )
    }
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 28);

    #[test]
    fn the_public_example_is_valid() {
        let id = CitizenId::parse("11010519491231002X", TODAY);
        let id = id.as_ref().ok();
        assert_eq!(id.and_then(|i| i.birth_date()), Some(date!(1949 - 12 - 31)));
        assert_eq!(id.map(|i| i.sex()), Some(Sex::Female));
        assert_eq!(
            id.map(|i| i.to_string()).as_deref(),
            Some("110105********002X")
        );
    }

    #[test]
    fn lower_case_x_is_normalised() {
        let id = CitizenId::parse("11010519491231002x", TODAY);
        assert_eq!(
            id.map(|i| i.expose().to_owned()).ok().as_deref(),
            Some("11010519491231002X")
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        let p = |s| CitizenId::parse(s, TODAY).err();
        assert_eq!(p("1101051949123100"), Some(CitizenIdError::Length(16)));
        assert_eq!(p("1101051949123100XX"), Some(CitizenIdError::NotDigit(17)));
        assert_eq!(
            p("99010519491231002X"),
            Some(CitizenIdError::UnknownProvince)
        );
        assert_eq!(p("110105194902300021"), Some(CitizenIdError::BadBirthDate));
        assert_eq!(
            p("110105203001010021").map(|e| matches!(e, CitizenIdError::FutureBirthDate)),
            Some(true)
        );
        assert_eq!(
            p("110105194912310021"),
            Some(CitizenIdError::CheckCharacter { expected: 'X' })
        );
    }

    #[test]
    fn errors_never_contain_the_number() {
        let err = CitizenId::parse("110105194912310021", TODAY).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(!text.contains("1101051949"));
    }
}
