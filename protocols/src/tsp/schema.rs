//! The JSON Schema of TSP envelopes (draft 2020-12), generated from the payload types and the
//! message table, so that docs/tsp.schema.json cannot drift from the code.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::message::{AckStatus, CompletionCode, VERSION, payload_schemas};

fn header(kind: &str, name: &str, extra: Value, required: &[&str]) -> Value {
    let mut properties = json!({
        "type": { "const": kind },
        "name": { "const": name },
        "version": { "const": VERSION },
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    let mut required: Vec<&str> = required.to_vec();
    required.extend(["type", "name", "version"]);
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn envelope(title: String, header: Value, payload: Value) -> Value {
    json!({
        "title": title,
        "type": "object",
        "properties": { "header": header, "payload": payload },
        "required": ["header", "payload"],
        "additionalProperties": false,
    })
}

/// The schema of every valid TSP envelope.
pub fn envelope_schema() -> Value {
    let mut generator: SchemaGenerator = SchemaSettings::draft2020_12().into_generator();
    let schemas = payload_schemas(&mut generator);
    let request_id = json!({ "type": "integer", "minimum": 1 });
    let failure_codes: Vec<Value> = [
        CompletionCode::CommandErrorCode,
        CompletionCode::Canceled,
        CompletionCode::TimeOut,
        CompletionCode::DeviceNotReady,
        CompletionCode::HardwareError,
        CompletionCode::InternalError,
        CompletionCode::InvalidCommand,
        CompletionCode::InvalidData,
        CompletionCode::UnsupportedCommand,
        CompletionCode::UnsupportedData,
        CompletionCode::UserError,
        CompletionCode::FraudAttempt,
        CompletionCode::SequenceError,
    ]
    .iter()
    .filter_map(|c| serde_json::to_value(c).ok())
    .collect();
    let statuses: Vec<Value> = [
        AckStatus::InvalidMessage,
        AckStatus::InvalidRequestId,
        AckStatus::TooManyRequests,
    ]
    .iter()
    .filter_map(|s| serde_json::to_value(s).ok())
    .chain([Value::Null])
    .collect();

    let mut variants: Vec<Value> = Vec::new();
    for (name, payload, result) in schemas.commands {
        variants.push(envelope(
            format!("{name} command"),
            header(
                "command",
                name,
                json!({ "requestId": request_id, "timeout": { "type": "integer", "minimum": 0 } }),
                &["requestId"],
            ),
            payload.to_value(),
        ));
        variants.push(envelope(
            format!("{name} acknowledge"),
            header(
                "acknowledge",
                name,
                json!({
                    "requestId": request_id,
                    "status": { "enum": statuses },
                    "errorDescription": { "type": "string" },
                }),
                &["requestId"],
            ),
            json!({ "type": "object", "maxProperties": 0 }),
        ));
        variants.push(envelope(
            format!("{name} completion"),
            header(
                "completion",
                name,
                json!({
                    "requestId": request_id,
                    "completionCode": { "const": "success" },
                    "errorDescription": { "type": "string" },
                }),
                &["requestId", "completionCode"],
            ),
            result.to_value(),
        ));
        variants.push(envelope(
            format!("{name} failed completion"),
            header(
                "completion",
                name,
                json!({
                    "requestId": request_id,
                    "completionCode": { "enum": failure_codes },
                    "errorDescription": { "type": "string" },
                }),
                &["requestId", "completionCode"],
            ),
            json!({ "type": "object" }),
        ));
    }
    for (name, payload) in schemas.events {
        variants.push(envelope(
            format!("{name} event"),
            header(
                "event",
                name,
                json!({ "requestId": request_id }),
                &["requestId"],
            ),
            payload.to_value(),
        ));
    }
    for (name, payload) in schemas.unsolicited {
        variants.push(envelope(
            format!("{name} unsolicited"),
            header("unsolicited", name, json!({}), &[]),
            payload.to_value(),
        ));
    }
    let definitions: Map<String, Value> = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://stm-adapter.example/tsp/v1/tsp.schema.json",
        "title": format!("Terminal Session Protocol {VERSION} envelope"),
        "description": "One JSON text frame of the Terminal Session Protocol (docs/tsp.md). Generated from adapter-protocols::tsp; do not edit.",
        "oneOf": variants,
        "$defs": definitions,
    })
}
