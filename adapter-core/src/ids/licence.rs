//! E-licence identifiers (电子证照标识):
//! `1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>`, where the type code is
//! the defining body's credit code plus 3 digits, the version is 3 digits, and the check
//! character is ISO 7064 MOD 37,36 over type + issuer + serial + version.

use std::fmt;
use std::str::FromStr;

use super::credit_code::{CreditCode, CreditCodeError};

const PREFIX: &str = "1.2.156.3005.2.";
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// An e-licence identifier that passed every check.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LicenceId {
    text: String,
    /// Defining body's credit code (18) + licence type sequence (3).
    type_code: String,
    issuer: CreditCode,
    serial: String,
    version: u16,
}

/// Why an e-licence identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LicenceIdError {
    #[error("an e-licence identifier starts with 1.2.156.3005.2.")]
    Prefix,
    #[error(
        "after the prefix come five parts separated by dots: type, issuer, serial, version, check"
    )]
    Parts,
    #[error(
        "the licence type code is the defining body's credit code and 3 digits (21 characters)"
    )]
    TypeCode,
    #[error("the type code's credit code: {0}")]
    TypeCodeCredit(CreditCodeError),
    #[error("the issuer's credit code: {0}")]
    Issuer(CreditCodeError),
    #[error("the serial number is 1 to 64 digits and capital letters")]
    Serial,
    #[error("the version is 3 digits")]
    Version,
    #[error("the check character does not match (expected {expected})")]
    CheckCharacter { expected: char },
}

/// The ISO 7064 MOD 37,36 (hybrid) check character over `text` (digits and capitals).
pub fn mod37_36_check(text: &str) -> Option<char> {
    let mut p: u32 = 36;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        let mut t = (p + v) % 36;
        if t == 0 {
            t = 36;
        }
        p = (2 * t) % 37;
    }
    ALPHABET
        .get(((37 - p) % 36) as usize)
        .map(|c| char::from(*c))
}

fn is_code_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

impl LicenceId {
    pub fn parse(text: &str) -> Result<LicenceId, LicenceIdError> {
        let text = text.trim();
        let rest = text.strip_prefix(PREFIX).ok_or(LicenceIdError::Prefix)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer, serial, version, check] = parts.as_slice() else {
            return Err(LicenceIdError::Parts);
        };
        if type_code.len() != 21 || !is_code_text(type_code) {
            return Err(LicenceIdError::TypeCode);
        }
        let (definer, sequence) = type_code.split_at(18);
        CreditCode::parse(definer).map_err(LicenceIdError::TypeCodeCredit)?;
        if !sequence.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LicenceIdError::TypeCode);
        }
        let issuer = CreditCode::parse(issuer).map_err(LicenceIdError::Issuer)?;
        if serial.is_empty() || serial.len() > 64 || !is_code_text(serial) {
            return Err(LicenceIdError::Serial);
        }
        if version.len() != 3 {
            return Err(LicenceIdError::Version);
        }
        let version_number: u16 = version.parse().map_err(|_| LicenceIdError::Version)?;
        let body = format!("{type_code}{}{serial}{version}", issuer.as_str());
        let expected = mod37_36_check(&body).ok_or(LicenceIdError::Serial)?;
        if check.len() != 1 || !check.starts_with(expected) {
            return Err(LicenceIdError::CheckCharacter { expected });
        }
        Ok(LicenceId {
            text: text.to_owned(),
            type_code: (*type_code).to_owned(),
            issuer,
            serial: (*serial).to_owned(),
            version: version_number,
        })
    }

    /// Builds a valid identifier from its parts, computing the check character.
    pub fn build(
        type_code: &str,
        issuer: &CreditCode,
        serial: &str,
        version: u16,
    ) -> Result<LicenceId, LicenceIdError> {
        let body = format!("{type_code}{}{serial}{version:03}", issuer.as_str());
        let check = mod37_36_check(&body).ok_or(LicenceIdError::Serial)?;
        LicenceId::parse(&format!(
            "{PREFIX}{type_code}.{}.{serial}.{version:03}.{check}",
            issuer.as_str()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The licence type code (defining body's credit code + 3 digits).
    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    pub fn issuer(&self) -> &CreditCode {
        &self.issuer
    }

    pub fn serial(&self) -> &str {
        &self.serial
    }

    pub fn version(&self) -> u16 {
        self.version
    }
}

impl FromStr for LicenceId {
    type Err = LicenceIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LicenceId::parse(s)
    }
}

impl fmt::Display for LicenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for LicenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenceId({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str =
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

    #[test]
    fn the_public_example_is_valid() {
        let id = LicenceId::parse(EXAMPLE);
        assert_eq!(id.as_ref().map(|i| i.version()).ok(), Some(1));
        assert_eq!(
            id.as_ref().map(|i| i.issuer().as_str()).ok(),
            Some("11430000006122244L")
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        let p = |s: &str| LicenceId::parse(s).err();
        assert_eq!(p("1.2.156.3005.3.x"), Some(LicenceIdError::Prefix));
        assert_eq!(p("1.2.156.3005.2.a.b"), Some(LicenceIdError::Parts));
        assert_eq!(
            p(&EXAMPLE.replace(".U", ".V")),
            Some(LicenceIdError::CheckCharacter { expected: 'U' })
        );
        assert_eq!(
            p(&EXAMPLE.replace(".001.", ".01.")),
            Some(LicenceIdError::Version)
        );
        assert!(matches!(
            p(&EXAMPLE.replace("44L", "44M")),
            Some(LicenceIdError::Issuer(_))
        ));
    }

    #[test]
    fn build_computes_the_check_character() {
        let issuer = CreditCode::parse("11430000006122244L");
        let id = issuer.map(|i| LicenceId::build("11100000000013338W011", &i, "20230000403", 1));
        assert_eq!(
            id.ok()
                .and_then(|r| r.ok())
                .map(|i| i.to_string())
                .as_deref(),
            Some(EXAMPLE)
        );
    }
}
