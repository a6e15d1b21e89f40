//! The message type indicator: four digits (version, class, function, origin).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// How a dialect writes the MTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtiEncoding {
    /// Four ASCII digits.
    Ascii,
    /// Two bytes of packed BCD.
    Bcd,
}

/// A message type indicator such as `0200`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

/// The text is not four decimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an MTI is four decimal digits")]
pub struct BadMti;

impl Mti {
    pub fn from_digits(digits: [u8; 4]) -> Result<Mti, BadMti> {
        if digits.iter().all(u8::is_ascii_digit) {
            Ok(Mti(digits))
        } else {
            Err(BadMti)
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed from ASCII digits only.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    fn digit(&self, i: usize) -> u8 {
        self.0.get(i).map_or(0, |d| d - b'0')
    }

    /// 0 = 1987, 1 = 1993, 2 = 2003.
    pub fn version(&self) -> u8 {
        self.digit(0)
    }

    /// 1 authorisation, 2 financial, 4 reversal, 5 reconciliation, 8 network management.
    pub fn class(&self) -> u8 {
        self.digit(1)
    }

    /// 0 request, 1 response, 2 advice, 3 advice response.
    pub fn function(&self) -> u8 {
        self.digit(2)
    }

    /// 0 acquirer, 1 acquirer repeat, 2 issuer, 3 issuer repeat, …
    pub fn origin(&self) -> u8 {
        self.digit(3)
    }

    /// Whether this is a response (function 1 or 3).
    pub fn is_response(&self) -> bool {
        self.function() % 2 == 1
    }

    /// The MTI of the response to this request or advice: 0200 → 0210, 0420 and 0421 → 0430.
    /// `None` for a message that is already a response.
    pub fn response(&self) -> Option<Mti> {
        if self.is_response() || self.function() > 8 {
            return None;
        }
        let [v, c, f, o] = self.0;
        // A repeat (odd origin) is answered as the original.
        let origin = b'0' + ((o - b'0') & !1);
        Some(Mti([v, c, f + 1, origin]))
    }

    pub(crate) fn digits(&self) -> [u8; 4] {
        self.0
    }
}

impl FromStr for Mti {
    type Err = BadMti;

    fn from_str(s: &str) -> Result<Mti, BadMti> {
        let digits: [u8; 4] = s.as_bytes().try_into().map_err(|_| BadMti)?;
        Mti::from_digits(digits)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let r = |s: &str| {
            s.parse::<Mti>()
                .ok()
                .and_then(|m| m.response())
                .map(|m| m.to_string())
        };
        assert_eq!(r("0200").as_deref(), Some("0210"));
        assert_eq!(r("0420").as_deref(), Some("0430"));
        assert_eq!(r("0421").as_deref(), Some("0430"));
        assert_eq!(r("0800").as_deref(), Some("0810"));
        assert_eq!(r("0810"), None);
        assert!("02a0".parse::<Mti>().is_err());
        assert!("020".parse::<Mti>().is_err());
    }
}
