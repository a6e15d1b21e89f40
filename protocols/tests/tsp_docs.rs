//! docs/tsp.md and docs/tsp.schema.json against the code: every example in the document is a
//! valid message for both the schema and the codec, the schema file is the one the code
//! generates, and malformed envelopes are refused by both.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use adapter_protocols::tsp::{Message, envelope_schema};
use serde_json::Value;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn examples() -> Vec<String> {
    let text = std::fs::read_to_string(docs().join("tsp.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```json\n") {
        let after = &rest[start + 8..];
        let end = after.find("```").unwrap();
        out.push(after[..end].to_owned());
        rest = &after[end + 3..];
    }
    out
}

/// The envelope schema, compiled (boon: JSON Schema 2020-12, the whole official test suite).
struct Validator {
    schemas: boon::Schemas,
    envelope: boon::SchemaIndex,
}

impl Validator {
    fn errors(&self, json: &Value) -> Option<String> {
        self.schemas
            .validate(json, self.envelope)
            .err()
            .map(|e| format!("{e:#}"))
    }

    fn is_valid(&self, json: &Value) -> bool {
        self.errors(json).is_none()
    }
}

fn validator() -> Validator {
    let location = "https://stm-adapter.example/tsp/v1/tsp.schema.json";
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(location, envelope_schema()).unwrap();
    let envelope = compiler.compile(location, &mut schemas).unwrap();
    Validator { schemas, envelope }
}

#[test]
fn every_example_validates_against_the_schema_and_decodes() {
    let examples = examples();
    assert!(
        examples.len() >= 20,
        "docs/tsp.md has {} examples, at least 20 are promised",
        examples.len()
    );
    let validator = validator();
    for example in &examples {
        let json: Value =
            serde_json::from_str(example).unwrap_or_else(|e| panic!("{e}:\n{example}"));
        if let Some(errors) = validator.errors(&json) {
            panic!("schema refuses:\n{example}\n{errors}");
        }
        let message =
            Message::decode(example).unwrap_or_else(|e| panic!("codec refuses: {e}\n{example}"));
        let again = Message::decode(&message.encode()).unwrap();
        assert_eq!(again, message, "encode then decode changed:\n{example}");
        let reencoded: Value = serde_json::from_str(&message.encode()).unwrap();
        assert!(
            validator.is_valid(&reencoded),
            "the codec's own encoding fails the schema:\n{reencoded}"
        );
    }
}

#[test]
fn the_schema_file_is_the_generated_one() {
    let path = docs().join("tsp.schema.json");
    let generated = serde_json::to_string_pretty(&envelope_schema()).unwrap() + "\n";
    if std::env::var_os("STM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/tsp.schema.json is out of date: run `STM_UPDATE_SCHEMA=1 cargo test -p adapter-protocols --test tsp_docs`"
    );
}

#[test]
fn malformed_envelopes_are_refused_by_the_schema_and_the_codec() {
    let ok = r#"{"header":{"type":"command","name":"Step.Rate","requestId":10,"version":"1.0"},"payload":{"caseNumber":null}}"#;
    assert!(Message::decode(ok).is_ok());
    let malformed = [
        // another version
        r#"{"header":{"type":"command","name":"Step.Rate","requestId":10,"version":"2.0"},"payload":{"caseNumber":null}}"#,
        // unknown type
        r#"{"header":{"type":"request","name":"Step.Rate","requestId":10,"version":"1.0"},"payload":{"caseNumber":null}}"#,
        // unknown name
        r#"{"header":{"type":"command","name":"Step.Dance","requestId":10,"version":"1.0"},"payload":{}}"#,
        // a command without requestId
        r#"{"header":{"type":"command","name":"Step.Rate","version":"1.0"},"payload":{"caseNumber":null}}"#,
        // an unknown header field
        r#"{"header":{"type":"command","name":"Step.Rate","requestId":10,"version":"1.0","priority":1},"payload":{"caseNumber":null}}"#,
        // an unknown payload field
        r#"{"header":{"type":"command","name":"Step.Rate","requestId":10,"version":"1.0"},"payload":{"caseNumber":null,"extra":1}}"#,
        // a payload field of the wrong type
        r#"{"header":{"type":"command","name":"Step.Rate","requestId":10,"version":"1.0"},"payload":{"caseNumber":7}}"#,
        // a completion without completionCode
        r#"{"header":{"type":"completion","name":"Step.Rate","requestId":10,"version":"1.0"},"payload":{"score":1,"text":null}}"#,
        // a score out of range
        r#"{"header":{"type":"completion","name":"Step.Rate","requestId":10,"version":"1.0","completionCode":"success"},"payload":{"score":9,"text":null}}"#,
        // an unsolicited message with a requestId
        r#"{"header":{"type":"unsolicited","name":"Session.Expiring","requestId":3,"version":"1.0"},"payload":{"secondsLeft":30}}"#,
        // a timeout on an acknowledge
        r#"{"header":{"type":"acknowledge","name":"Step.Rate","requestId":10,"version":"1.0","timeout":5},"payload":{}}"#,
        // an image that is not base64
        r#"{"header":{"type":"completion","name":"Step.Sign","requestId":5,"version":"1.0","completionCode":"success"},"payload":{"signature":"not base64!"}}"#,
        // requestId zero
        r#"{"header":{"type":"command","name":"Step.Rate","requestId":0,"version":"1.0"},"payload":{"caseNumber":null}}"#,
        // no header
        r#"{"payload":{}}"#,
        // not an object
        r#"["header"]"#,
    ];
    let validator = validator();
    for text in malformed {
        let json: Value = serde_json::from_str(text).unwrap();
        assert!(!validator.is_valid(&json), "the schema accepts:\n{text}");
        let refused = Message::decode(text);
        // requestId 0 is a schema rule only; the codec leaves it to the session (invalidRequestId).
        if !text.contains("\"requestId\":0") {
            assert!(refused.is_err(), "the codec accepts:\n{text}");
        }
    }
    for garbage in ["", "{", "null", "{\"header\":1,\"payload\":{}}", "\u{0}"] {
        assert!(Message::decode(garbage).is_err());
    }
}

#[test]
fn errors_never_repeat_personal_values() {
    // An ID number sent as a JSON number: the error names the field's type, not the value.
    let text = r#"{"header":{"type":"completion","name":"Step.Form","requestId":2,"version":"1.0","completionCode":"success"},"payload":{"values":{"id":440106199001011234}}}"#;
    let err = Message::decode(text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.is_empty());
    assert!(!err.contains("440106199001011234"), "{err}");
}

#[test]
fn sensitive_values_do_not_show_in_debug() {
    let examples = examples();
    let identify = examples
        .iter()
        .find(|e| e.contains("\"idNumber\""))
        .unwrap();
    let message = Message::decode(identify).unwrap();
    let shown = format!("{message:?}");
    assert!(
        !shown.contains("440106199001011234") && !shown.contains("张三"),
        "{shown}"
    );
}
