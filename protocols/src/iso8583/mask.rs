//! Masking of sensitive values for Display and Debug: card numbers keep their first 6 and last
//! 4 characters; wiped values show only their length.

use std::fmt;

use super::field::Sensitivity;
use super::message::plain;
use super::value::Value;

/// Writes `value` as its sensitivity allows.
pub(crate) fn write(
    f: &mut fmt::Formatter<'_>,
    value: &Value<'_>,
    sensitivity: Sensitivity,
) -> fmt::Result {
    match sensitivity {
        Sensitivity::None => f.write_str(&plain(value)),
        Sensitivity::Mask => f.write_str(&mask_pan(&plain(value))),
        Sensitivity::Wipe => write!(f, "[wiped, {} bytes]", value.as_bytes().len()),
    }
}

/// `6222021234567890123` → `622202*********0123`. Values of 10 characters or fewer are masked
/// whole.
pub fn mask_pan(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n <= 10 {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_keeps_first_six_and_last_four() {
        assert_eq!(mask_pan("6222021234567890123"), "622202*********0123");
        assert_eq!(mask_pan("1234567890"), "**********");
        assert_eq!(mask_pan(""), "");
    }
}
