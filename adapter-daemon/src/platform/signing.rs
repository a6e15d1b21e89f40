//! Request and response signatures of the platform contract (docs/platform-api.md, "Signing").
//!
//! A request is signed over its canonical string:
//!
//! ```text
//! METHOD \n PATH \n SORTED-QUERY \n APP-ID \n TIMESTAMP \n NONCE \n IDEMPOTENCY-KEY \n HEX(HASH(BODY))
//! ```
//!
//! and a response over `STATUS \n REQUEST-NONCE \n TIMESTAMP \n HEX(HASH(BODY))`, binding the
//! answer to the question. `HMAC-SHA256` hashes with SHA-256 and signs with the app's shared
//! secret; `SM2-SM3` hashes with SM3 and signs with SM2 (GM/T 0003, distinguishing identifier
//! `1234567812345678`): the bank's key for requests, the platform's for responses. Signatures
//! travel as standard base64.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sm2::dsa::signature::{Signer as _, Verifier as _};

/// The SM2 distinguishing identifier both sides use (the GM/T 0009 default).
pub const SM2_DIST_ID: &str = "1234567812345678";

/// How long a signed timestamp stays acceptable either side of the receiver's clock.
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

pub const HEADER_APP_ID: &str = "x-app-id";
pub const HEADER_TIMESTAMP: &str = "x-timestamp";
pub const HEADER_NONCE: &str = "x-nonce";
pub const HEADER_METHOD: &str = "x-signature-method";
pub const HEADER_SIGNATURE: &str = "x-signature";
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The signature algorithms of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    #[serde(rename = "SM2-SM3")]
    Sm2Sm3,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "HMAC-SHA256",
            Algorithm::Sm2Sm3 => "SM2-SM3",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "HMAC-SHA256" => Some(Algorithm::HmacSha256),
            "SM2-SM3" => Some(Algorithm::Sm2Sm3),
            _ => None,
        }
    }

    /// Lower-case hex of the body's hash under this algorithm.
    pub fn body_hash(self, body: &[u8]) -> String {
        match self {
            Algorithm::HmacSha256 => hex::encode(Sha256::digest(body)),
            Algorithm::Sm2Sm3 => hex::encode(sm3::Sm3::digest(body)),
        }
    }
}

/// What a request signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as sent, percent-encoded, with the base path.
    pub path: &'a str,
    /// The query as sent (without `?`), or empty.
    pub query: &'a str,
    pub app_id: &'a str,
    /// RFC 3339 UTC to the second: `2026-11-28T05:49:20Z`.
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Empty when the request carries none.
    pub idempotency_key: &'a str,
    pub body: &'a [u8],
}

/// The query's `name=value` pairs exactly as sent, sorted bytewise and joined with `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

impl RequestParts<'_> {
    pub fn canonical(&self, algorithm: Algorithm) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            self.path,
            canonical_query(self.query),
            self.app_id,
            self.timestamp,
            self.nonce,
            self.idempotency_key,
            algorithm.body_hash(self.body)
        )
    }
}

/// What a response signature covers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub request_nonce: &'a str,
    pub timestamp: &'a str,
    pub body: &'a [u8],
}

impl ResponseParts<'_> {
    pub fn canonical(&self, algorithm: Algorithm) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.status,
            self.request_nonce,
            self.timestamp,
            algorithm.body_hash(self.body)
        )
    }
}

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the HMAC secret must be at least 16 bytes")]
    ShortSecret,
    #[error("not an SM2 private key (32 bytes, hex, in the curve's range)")]
    BadPrivateKey,
    #[error("not an SM2 public key (SEC1 hex, 04 || x || y)")]
    BadPublicKey,
    #[error("the signature is not base64")]
    NotBase64,
    #[error("the signature does not verify")]
    Mismatch,
}

/// A key that signs: the app's shared secret or an SM2 private key.
#[derive(Clone)]
pub enum SigningKey {
    Hmac(Vec<u8>),
    Sm2(Box<sm2::dsa::SigningKey>),
}

/// A key that checks signatures: the shared secret or an SM2 public key.
#[derive(Clone)]
pub enum VerifyingKey {
    Hmac(Vec<u8>),
    Sm2(Box<sm2::dsa::VerifyingKey>),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Hmac(_) => "SigningKey(HMAC-SHA256, [secret])",
            SigningKey::Sm2(_) => "SigningKey(SM2-SM3, [private key])",
        })
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyingKey::Hmac(_) => "VerifyingKey(HMAC-SHA256, [secret])",
            VerifyingKey::Sm2(_) => "VerifyingKey(SM2-SM3)",
        })
    }
}

impl SigningKey {
    pub fn hmac(secret: &[u8]) -> Result<SigningKey, SigningError> {
        if secret.len() < 16 {
            return Err(SigningError::ShortSecret);
        }
        Ok(SigningKey::Hmac(secret.to_vec()))
    }

    /// An SM2 key from its 32-byte private scalar in hex.
    pub fn sm2_hex(private_hex: &str) -> Result<SigningKey, SigningError> {
        let bytes = hex::decode(private_hex.trim()).map_err(|_| SigningError::BadPrivateKey)?;
        sm2::dsa::SigningKey::from_slice(SM2_DIST_ID, &bytes)
            .map(|k| SigningKey::Sm2(Box::new(k)))
            .map_err(|_| SigningError::BadPrivateKey)
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Hmac(_) => Algorithm::HmacSha256,
            SigningKey::Sm2(_) => Algorithm::Sm2Sm3,
        }
    }

    /// The key that checks this key's signatures.
    pub fn verifier(&self) -> VerifyingKey {
        match self {
            SigningKey::Hmac(s) => VerifyingKey::Hmac(s.clone()),
            SigningKey::Sm2(k) => VerifyingKey::Sm2(Box::new(k.verifying_key().clone())),
        }
    }

    /// The base64 signature of `canonical`. SM2 signatures are deterministic (RFC 6979 nonce).
    pub fn sign(&self, canonical: &str) -> Result<String, SigningError> {
        let raw = match self {
            SigningKey::Hmac(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret)
                    .map_err(|_| SigningError::ShortSecret)?;
                mac.update(canonical.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            SigningKey::Sm2(key) => {
                let signature: sm2::dsa::Signature = key
                    .try_sign(canonical.as_bytes())
                    .map_err(|_| SigningError::BadPrivateKey)?;
                signature.to_vec()
            }
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

impl VerifyingKey {
    /// An SM2 public key from SEC1 hex (uncompressed `04…` or compressed).
    pub fn sm2_hex(public_hex: &str) -> Result<VerifyingKey, SigningError> {
        let bytes = hex::decode(public_hex.trim()).map_err(|_| SigningError::BadPublicKey)?;
        sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DIST_ID, &bytes)
            .map(|k| VerifyingKey::Sm2(Box::new(k)))
            .map_err(|_| SigningError::BadPublicKey)
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::Hmac(_) => Algorithm::HmacSha256,
            VerifyingKey::Sm2(_) => Algorithm::Sm2Sm3,
        }
    }

    /// Uncompressed SEC1 hex of an SM2 key; `None` for a shared secret.
    pub fn public_hex(&self) -> Option<String> {
        match self {
            VerifyingKey::Hmac(_) => None,
            VerifyingKey::Sm2(k) => Some(hex::encode(k.to_sec1_bytes())),
        }
    }

    pub fn verify(&self, canonical: &str, signature_b64: &str) -> Result<(), SigningError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_err(|_| SigningError::NotBase64)?;
        match self {
            VerifyingKey::Hmac(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret)
                    .map_err(|_| SigningError::ShortSecret)?;
                mac.update(canonical.as_bytes());
                // Constant-time comparison.
                mac.verify_slice(&raw).map_err(|_| SigningError::Mismatch)
            }
            VerifyingKey::Sm2(key) => {
                let signature =
                    sm2::dsa::Signature::from_slice(&raw).map_err(|_| SigningError::Mismatch)?;
                key.verify(canonical.as_bytes(), &signature)
                    .map_err(|_| SigningError::Mismatch)
            }
        }
    }
}

/// A fresh random SM2 private key, hex (for `stm-adapter sandbox` and tests).
pub fn generate_sm2_private_hex() -> String {
    loop {
        let bytes: [u8; 32] = rand::random();
        if sm2::dsa::SigningKey::from_slice(SM2_DIST_ID, &bytes).is_ok() {
            return hex::encode(bytes);
        }
    }
}

/// The current time as the contract writes timestamps.
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let utc = now.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc.format(format).unwrap_or_default()
}

/// Parses a contract timestamp.
pub fn parse_timestamp(text: &str) -> Option<time::OffsetDateTime> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(|t| t.assume_utc())
}

/// A fresh nonce: 32 hex characters from the OS generator.
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A nonce is 16 to 64 characters of `[A-Za-z0-9_-]`.
pub fn valid_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
