#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The signing vectors of fixtures/platform/signing-vectors.toml, both algorithms.

use adapter_daemon::platform::signing::{
    Algorithm, RequestParts, ResponseParts, SigningKey, VerifyingKey,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    keys: Keys,
    request: Vec<RequestVector>,
    response: Vec<ResponseVector>,
}

#[derive(Deserialize)]
struct Keys {
    hmac_secret: String,
    sm2_private_hex: String,
    sm2_public_hex: String,
}

#[derive(Deserialize)]
struct RequestVector {
    name: String,
    algorithm: Algorithm,
    method: String,
    path: String,
    query: String,
    app_id: String,
    timestamp: String,
    nonce: String,
    idempotency_key: String,
    body: String,
    canonical: String,
    signature: String,
}

#[derive(Deserialize)]
struct ResponseVector {
    name: String,
    algorithm: Algorithm,
    status: u16,
    request_nonce: String,
    timestamp: String,
    body: String,
    canonical: String,
    signature: String,
}

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/platform/signing-vectors.toml"
);

fn vectors() -> Vectors {
    let v: Vectors = toml::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    if std::env::var_os("STM_UPDATE_VECTORS").is_some() {
        update(&v);
        return toml::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    }
    v
}

/// `STM_UPDATE_VECTORS=1`: writes the computed canonical strings, signatures and public key
/// into the file, in file order (requests, then responses). Review the diff before committing.
fn update(v: &Vectors) {
    let mut values = Vec::new();
    for r in &v.request {
        let canonical = RequestParts {
            method: &r.method,
            path: &r.path,
            query: &r.query,
            app_id: &r.app_id,
            timestamp: &r.timestamp,
            nonce: &r.nonce,
            idempotency_key: &r.idempotency_key,
            body: r.body.as_bytes(),
        }
        .canonical(r.algorithm);
        let signature = key(&v.keys, r.algorithm).sign(&canonical).unwrap();
        values.push((canonical, signature));
    }
    for r in &v.response {
        let canonical = ResponseParts {
            status: r.status,
            request_nonce: &r.request_nonce,
            timestamp: &r.timestamp,
            body: r.body.as_bytes(),
        }
        .canonical(r.algorithm);
        let signature = key(&v.keys, r.algorithm).sign(&canonical).unwrap();
        values.push((canonical, signature));
    }
    let public = SigningKey::sm2_hex(&v.keys.sm2_private_hex)
        .unwrap()
        .verifier()
        .public_hex()
        .unwrap();
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let text = std::fs::read_to_string(PATH).unwrap();
    let (mut canonicals, mut signatures) = (values.iter(), values.iter());
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("canonical = ") {
            out += &format!("canonical = {}", quote(&canonicals.next().unwrap().0));
        } else if line.starts_with("signature = ") {
            out += &format!("signature = {}", quote(&signatures.next().unwrap().1));
        } else if line.starts_with("sm2_public_hex = ") {
            out += &format!("sm2_public_hex = {}", quote(&public));
        } else {
            out += line;
        }
        out.push('\n');
    }
    std::fs::write(PATH, out).unwrap();
}

fn key(keys: &Keys, algorithm: Algorithm) -> SigningKey {
    match algorithm {
        Algorithm::HmacSha256 => SigningKey::hmac(keys.hmac_secret.as_bytes()).unwrap(),
        Algorithm::Sm2Sm3 => SigningKey::sm2_hex(&keys.sm2_private_hex).unwrap(),
    }
}

#[test]
fn the_sm2_public_key_belongs_to_the_private_key() {
    let v = vectors();
    let signing = SigningKey::sm2_hex(&v.keys.sm2_private_hex).unwrap();
    assert_eq!(
        signing.verifier().public_hex().unwrap(),
        v.keys.sm2_public_hex
    );
    VerifyingKey::sm2_hex(&v.keys.sm2_public_hex).unwrap();
}

#[test]
fn request_vectors() {
    let v = vectors();
    assert!(v.request.len() >= 4);
    for r in &v.request {
        let parts = RequestParts {
            method: &r.method,
            path: &r.path,
            query: &r.query,
            app_id: &r.app_id,
            timestamp: &r.timestamp,
            nonce: &r.nonce,
            idempotency_key: &r.idempotency_key,
            body: r.body.as_bytes(),
        };
        let canonical = parts.canonical(r.algorithm);
        assert_eq!(canonical, r.canonical, "{}: canonical string", r.name);
        let key = key(&v.keys, r.algorithm);
        let signature = key.sign(&canonical).unwrap();
        assert_eq!(signature, r.signature, "{}: signature", r.name);
        key.verifier().verify(&canonical, &r.signature).unwrap();
        // One changed byte anywhere and it no longer verifies.
        let tampered = canonical.replacen("BANK", "BANQ", 1);
        assert!(
            key.verifier().verify(&tampered, &r.signature).is_err(),
            "{}",
            r.name
        );
    }
}

#[test]
fn response_vectors() {
    let v = vectors();
    for r in &v.response {
        let parts = ResponseParts {
            status: r.status,
            request_nonce: &r.request_nonce,
            timestamp: &r.timestamp,
            body: r.body.as_bytes(),
        };
        let canonical = parts.canonical(r.algorithm);
        assert_eq!(canonical, r.canonical, "{}: canonical string", r.name);
        let key = key(&v.keys, r.algorithm);
        assert_eq!(
            key.sign(&canonical).unwrap(),
            r.signature,
            "{}: signature",
            r.name
        );
        let other_status = ResponseParts {
            status: 201,
            ..parts
        }
        .canonical(r.algorithm);
        assert!(key.verifier().verify(&other_status, &r.signature).is_err());
    }
}

#[test]
fn a_query_signs_the_same_in_any_order() {
    let a = RequestParts {
        method: "get",
        path: "/gsp/v1/appointments/slots",
        query: "from=2026-12-01&division=440106&days=7&implementingCode=X",
        app_id: "A",
        timestamp: "2026-11-28T06:00:00Z",
        nonce: "n",
        idempotency_key: "",
        body: b"",
    };
    let b = RequestParts {
        query: "days=7&implementingCode=X&division=440106&from=2026-12-01",
        ..a
    };
    assert_eq!(
        a.canonical(Algorithm::HmacSha256),
        b.canonical(Algorithm::HmacSha256)
    );
    assert!(a.canonical(Algorithm::HmacSha256).starts_with("GET\n"));
}

#[test]
fn keys_are_refused_precisely() {
    assert!(SigningKey::hmac(b"short").is_err());
    assert!(SigningKey::sm2_hex("00").is_err());
    assert!(
        SigningKey::sm2_hex(&"0".repeat(64)).is_err(),
        "zero is not a key"
    );
    assert!(VerifyingKey::sm2_hex("04abcd").is_err());
    let key = SigningKey::hmac(b"0123456789abcdef").unwrap();
    assert!(format!("{key:?}").contains("[secret]"));
    assert!(key.verifier().verify("x", "not base64!").is_err());
}
