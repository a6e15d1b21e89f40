//! Encryption of personal fields at rest: AES-256-GCM with a random 96-bit nonce per value.
//! A sealed value is `v1:` + base64(nonce || ciphertext || tag).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

/// The journal's field key.
#[derive(Clone)]
pub struct FieldCipher {
    cipher: Aes256Gcm,
    /// Keys the hash chain (HMAC-SHA256), so a record cannot be rewritten with a fresh chain
    /// by someone who can write the database but lacks the key.
    chain_key: [u8; 32],
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher([key])")
    }
}

/// A key that cannot be used, or a sealed value that does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("the journal key must be 32 bytes, written as 64 hex characters")]
    BadKey,
    #[error("a sealed field is malformed or was sealed with another key")]
    Unsealable,
}

const PREFIX: &str = "v1:";

impl FieldCipher {
    pub fn from_hex(hex_key: &str) -> Result<FieldCipher, CipherError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CipherError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CipherError::BadKey)?;
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"stm-adapter journal chain\n");
        sha2::Digest::update(&mut h, key);
        Ok(FieldCipher {
            cipher: Aes256Gcm::new(&key.into()),
            chain_key: sha2::Digest::finalize(h).into(),
        })
    }

    /// A fresh random key, hex.
    pub fn generate_hex() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// The key of the hash chain, derived from the field key.
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce: [u8; 12] = rand::random();
        // Encryption with a valid key and a 12-byte nonce does not fail.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<String, CipherError> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or(CipherError::Unsealable)?;
        if raw.len() < 12 + 16 {
            return Err(CipherError::Unsealable);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CipherError::Unsealable)?;
        String::from_utf8(plain).map_err(|_| CipherError::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_same_key_only() {
        let key = FieldCipher::from_hex(&FieldCipher::generate_hex()).unwrap();
        let sealed = key.seal("440106198503151014");
        assert!(sealed.starts_with("v1:") && !sealed.contains("4401061985"));
        assert_ne!(
            sealed,
            key.seal("440106198503151014"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed).unwrap(), "440106198503151014");
        let other = FieldCipher::from_hex(&FieldCipher::generate_hex()).unwrap();
        assert_eq!(other.open(&sealed), Err(CipherError::Unsealable));
        assert!(FieldCipher::from_hex("00").is_err());
        assert!(format!("{key:?}").contains("[key]"));
    }
}
