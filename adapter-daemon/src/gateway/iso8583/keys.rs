//! Keys of `cups-terminal` links: each terminal's master key (TMK), loaded from the operator's
//! key file, and the working keys a sign-on issues under it (docs/iso8583-binding.md,
//! "cups-terminal").
//!
//! Key material never reaches a log, an error message or Debug output: errors name the
//! terminal and the line, keys show only their check value.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use adapter_protocols::iso8583::mac::MacKey;
use zeroize::Zeroizing;

/// Every registered terminal's master key, by terminal id (DE41).
#[derive(Default)]
pub struct MasterKeys {
    keys: HashMap<String, MacKey>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("terminals", &self.keys.len())
            .finish()
    }
}

/// Why the key file was refused; never shows a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("{0}: cannot be read: {1}")]
    Read(String, String),
    #[error("{0}: not a key file: {1}")]
    Syntax(String, String),
    #[error("{file}: terminal {terminal:?}: {problem}")]
    Key {
        file: String,
        terminal: String,
        problem: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    terminals: HashMap<String, String>,
}

impl MasterKeys {
    /// Reads a TOML file of `[terminals]` entries: terminal id (8 characters, DE41) = its master
    /// key (32 hexadecimal characters, double-length DES).
    pub fn load(path: &Path) -> Result<MasterKeys, KeyFileError> {
        let file = path.display().to_string();
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| KeyFileError::Read(file.clone(), e.to_string()))?,
        );
        // toml's messages quote the offending line: say where, not what.
        let parsed: KeyFile = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text.get(..s.start).unwrap_or_default().lines().count();
                    format!("line {}", line.max(1))
                })
                .unwrap_or_else(|| "unknown place".into());
            KeyFileError::Syntax(file.clone(), format!("invalid TOML at {at}"))
        })?;
        let mut keys = HashMap::new();
        for (terminal, hex) in parsed.terminals {
            let hex = Zeroizing::new(hex);
            let problem = |problem: &str| KeyFileError::Key {
                file: file.clone(),
                terminal: terminal.clone(),
                problem: problem.to_owned(),
            };
            if terminal.len() != 8 || !terminal.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(problem("a terminal id is 8 visible characters (DE41)"));
            }
            let key = MacKey::from_hex(&hex).map_err(|_| {
                problem("a master key is 32 hexadecimal characters (double-length DES)")
            })?;
            if !matches!(key, MacKey::Double(_)) {
                return Err(problem(
                    "a master key is 32 hexadecimal characters (double-length DES)",
                ));
            }
            keys.insert(terminal, key);
        }
        Ok(MasterKeys { keys })
    }

    pub fn get(&self, terminal: &str) -> Option<&MacKey> {
        self.keys.get(terminal)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The key layout a terminal asks for in DE60.3 of its sign-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScheme {
    /// 001: single-length PIN and MAC keys; DE62 is 24 bytes.
    Single,
    /// 003: double-length PIN key, single-length MAC key; DE62 is 40 bytes.
    Double,
    /// 004: as 003 with a double-length track key; DE62 is 60 bytes.
    DoubleWithTrack,
}

impl KeyScheme {
    pub fn from_code(code: &str) -> Option<KeyScheme> {
        match code {
            "001" => Some(KeyScheme::Single),
            "003" => Some(KeyScheme::Double),
            "004" => Some(KeyScheme::DoubleWithTrack),
            _ => None,
        }
    }
}

/// The working keys of a signed-on terminal: the MAC key in clear (to check and make MACs) and
/// DE62 of the sign-on reply (every key under the master key, each followed by the first four
/// bytes of its check value).
pub struct WorkingKeys {
    pub mac: Arc<MacKey>,
    pub de62: Vec<u8>,
}

impl std::fmt::Debug for WorkingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkingKeys")
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

/// New random working keys for a terminal, wrapped under its master key. `None` only if a
/// generated key could not be used (it cannot: lengths are fixed).
pub fn issue(master: &MacKey, scheme: KeyScheme) -> Option<WorkingKeys> {
    let pin_len = if scheme == KeyScheme::Single { 8 } else { 16 };
    let pin = Zeroizing::new(random(pin_len));
    let mac = Zeroizing::new(random(8));
    let mut de62 = Vec::with_capacity(60);
    append(&mut de62, master, &pin)?;
    let mac_key = MacKey::from_bytes(&mac).ok()?;
    let wrapped = master.encrypt_ecb(&mac)?;
    de62.extend_from_slice(&wrapped);
    if scheme != KeyScheme::Single {
        // The MAC key stays single length; its slot is padded to 16 bytes with zeros.
        de62.extend_from_slice(&[0u8; 8]);
    }
    de62.extend_from_slice(mac_key.check_value().get(..4)?);
    if scheme == KeyScheme::DoubleWithTrack {
        let track = Zeroizing::new(random(16));
        append(&mut de62, master, &track)?;
    }
    Some(WorkingKeys {
        mac: Arc::new(mac_key),
        de62,
    })
}

fn append(de62: &mut Vec<u8>, master: &MacKey, clear: &[u8]) -> Option<()> {
    let key = MacKey::from_bytes(clear).ok()?;
    de62.extend_from_slice(&master.encrypt_ecb(clear)?);
    de62.extend_from_slice(key.check_value().get(..4)?);
    Some(())
}

/// Random DES key bytes, each with odd parity.
fn random(len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            let b: u8 = rand::random::<u8>() & 0xFE;
            if b.count_ones() % 2 == 0 { b | 1 } else { b }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// What a terminal does with DE62: unwraps the MAC key and checks its check value.
    fn unwrap_mac_key(master: &MacKey, scheme: KeyScheme, de62: &[u8]) -> Option<MacKey> {
        let at = if scheme == KeyScheme::Single { 12 } else { 20 };
        let check_at = if scheme == KeyScheme::Single { 20 } else { 36 };
        let clear = master.decrypt_ecb(de62.get(at..at + 8)?)?;
        let key = MacKey::from_bytes(&clear).ok()?;
        (key.check_value().get(..4)? == de62.get(check_at..check_at + 4)?).then_some(key)
    }

    fn tmk() -> MacKey {
        MacKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap()
    }

    #[test]
    fn sign_on_keys_have_the_unionpay_layout_and_unwrap() {
        for (scheme, len) in [
            (KeyScheme::Single, 24),
            (KeyScheme::Double, 40),
            (KeyScheme::DoubleWithTrack, 60),
        ] {
            let keys = issue(&tmk(), scheme).unwrap();
            assert_eq!(keys.de62.len(), len, "{scheme:?}");
            let mac = unwrap_mac_key(&tmk(), scheme, &keys.de62).unwrap();
            assert_eq!(mac.check_value(), keys.mac.check_value());
            let other = MacKey::from_hex("00112233445566778899AABBCCDDEEFF").unwrap();
            assert!(unwrap_mac_key(&other, scheme, &keys.de62).is_none());
        }
    }

    #[test]
    fn the_key_file_is_checked_without_showing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tmk.toml");
        std::fs::write(
            &path,
            "[terminals]\n62969002 = \"0123456789ABCDEFFEDCBA9876543210\"\n",
        )
        .unwrap();
        let keys = MasterKeys::load(&path).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.get("62969002").is_some());

        std::fs::write(&path, "[terminals]\n62969002 = \"0123456789ABCDEF\"\n").unwrap();
        let e = MasterKeys::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("62969002") && e.contains("32 hexadecimal"),
            "{e}"
        );
        assert!(!e.contains("0123456789ABCDEF"), "{e}");

        std::fs::write(&path, "[terminals]\n62969002 = 0123456789ABCDEF\n").unwrap();
        let e = MasterKeys::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("0123456789ABCDEF"), "{e}");
    }
}
