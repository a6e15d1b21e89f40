//! Bank card numbers: 13 to 19 digits with a Luhn check digit.

use std::fmt;

/// A card number that passed the Luhn check. Display and Debug show only the first 6 and last 4
/// digits; it is card data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber(String);

/// Why a card number was refused. Never carries the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardNumberError {
    #[error("a card number is 13 to 19 digits, not {0}")]
    Length(usize),
    #[error("character {0} is not a digit")]
    NotDigit(usize),
    #[error("the Luhn check digit does not match")]
    Luhn,
}

/// Whether `digits` (ASCII digits) pass the Luhn check.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

impl CardNumber {
    pub fn parse(text: &str) -> Result<CardNumber, CardNumberError> {
        let digits: String = text.chars().filter(|c| *c != ' ').collect();
        if let Some(i) = digits.chars().position(|c| !c.is_ascii_digit()) {
            return Err(CardNumberError::NotDigit(i + 1));
        }
        if !(13..=19).contains(&digits.len()) {
            return Err(CardNumberError::Length(digits.len()));
        }
        if !luhn_valid(digits.as_bytes()) {
            return Err(CardNumberError::Luhn);
        }
        Ok(CardNumber(digits))
    }

    /// The full number, for the calls that need it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The issuer identification number (first six digits).
    pub fn bin(&self) -> &str {
        self.0.get(..6).unwrap_or_default()
    }

    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!(
            "{}{}{}",
            self.0.get(..6).unwrap_or_default(),
            "*".repeat(n.saturating_sub(10)),
            self.0.get(n.saturating_sub(4)..).unwrap_or_default()
        )
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(CardNumber::parse("4111111111111111").is_ok());
        assert!(CardNumber::parse("6222 0212 3456 7890 128").is_ok());
        assert_eq!(
            CardNumber::parse("4111111111111112"),
            Err(CardNumberError::Luhn)
        );
        assert_eq!(
            CardNumber::parse("411111111111"),
            Err(CardNumberError::Length(12))
        );
        assert_eq!(
            CardNumber::parse("41111111111111a1"),
            Err(CardNumberError::NotDigit(15))
        );
        let card = CardNumber::parse("4111111111111111").ok();
        assert_eq!(
            card.map(|c| c.to_string()).as_deref(),
            Some("411111******1111")
        );
    }
}
