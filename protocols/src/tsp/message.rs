//! TSP messages: the envelope (`header` + `payload`), every message the protocol knows, and the
//! codec between them and JSON text.
//!
//! One table (the `messages!` invocation below) lists every message with its payload type; the
//! codec and the JSON Schema are both generated from it, so they cannot disagree.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::payloads::*;

/// The protocol version this build speaks.
pub const VERSION: &str = "1.0";
/// Largest text frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Which side sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    TerminalToDaemon,
    DaemonToTerminal,
}

/// The envelope's message types (XFS4IoT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MessageType {
    Command,
    Acknowledge,
    Event,
    Completion,
    Unsolicited,
}

/// Why a command was not accepted (acknowledge `status`; `null` when accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AckStatus {
    InvalidMessage,
    InvalidRequestId,
    TooManyRequests,
}

/// How a command ended (completion `completionCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CompletionCode {
    Success,
    /// The command failed for a reason the errorDescription gives.
    CommandErrorCode,
    /// The citizen pressed cancel, or the other side cancelled.
    Canceled,
    /// Nobody acted within the command's timeout.
    TimeOut,
    DeviceNotReady,
    HardwareError,
    InternalError,
    InvalidCommand,
    InvalidData,
    UnsupportedCommand,
    UnsupportedData,
    UserError,
    FraudAttempt,
    /// The command does not fit the session's state.
    SequenceError,
}

macro_rules! messages {
    (
        commands { $( $cv:ident = $cname:literal: $cpayload:ty => $cresult:ty, $cdir:ident; )* }
        events { $( $ev:ident = $ename:literal: $epayload:ty, $edir:ident; )* }
        unsolicited { $( $uv:ident = $uname:literal: $upayload:ty, $udir:ident; )* }
    ) => {
        /// Every command, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CommandName { $($cv),* }

        impl CommandName {
            pub const ALL: &'static [CommandName] = &[$(CommandName::$cv),*];

            pub fn as_str(self) -> &'static str {
                match self { $(CommandName::$cv => $cname),* }
            }

            pub fn parse(name: &str) -> Option<CommandName> {
                match name { $($cname => Some(CommandName::$cv),)* _ => None }
            }

            /// Who sends this command.
            pub fn direction(self) -> Direction {
                match self { $(CommandName::$cv => Direction::$cdir),* }
            }
        }

        /// A command and its payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Command { $($cv($cpayload)),* }

        impl Command {
            pub fn name(&self) -> CommandName {
                match self { $(Command::$cv(_) => CommandName::$cv),* }
            }

            fn to_json(&self) -> Result<Value, serde_json::Error> {
                match self { $(Command::$cv(p) => serde_json::to_value(p)),* }
            }

            fn from_json(name: CommandName, payload: Value) -> Result<Command, serde_json::Error> {
                match name { $(CommandName::$cv => serde_json::from_value(payload).map(Command::$cv)),* }
            }
        }

        /// The payload of a successful completion, by command.
        #[derive(Debug, Clone, PartialEq)]
        pub enum CompletionPayload { $($cv($cresult)),* }

        impl CompletionPayload {
            pub fn name(&self) -> CommandName {
                match self { $(CompletionPayload::$cv(_) => CommandName::$cv),* }
            }

            fn to_json(&self) -> Result<Value, serde_json::Error> {
                match self { $(CompletionPayload::$cv(p) => serde_json::to_value(p)),* }
            }

            fn from_json(name: CommandName, payload: Value) -> Result<CompletionPayload, serde_json::Error> {
                match name { $(CommandName::$cv => serde_json::from_value(payload).map(CompletionPayload::$cv)),* }
            }
        }

        /// Every event, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventName { $($ev),* }

        impl EventName {
            pub const ALL: &'static [EventName] = &[$(EventName::$ev),*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventName::$ev => $ename),* }
            }

            pub fn parse(name: &str) -> Option<EventName> {
                match name { $($ename => Some(EventName::$ev),)* _ => None }
            }

            pub fn direction(self) -> Direction {
                match self { $(EventName::$ev => Direction::$edir),* }
            }
        }

        /// An intermediate event of a pending command.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event { $($ev($epayload)),* }

        impl Event {
            pub fn name(&self) -> EventName {
                match self { $(Event::$ev(_) => EventName::$ev),* }
            }

            fn to_json(&self) -> Result<Value, serde_json::Error> {
                match self { $(Event::$ev(p) => serde_json::to_value(p)),* }
            }

            fn from_json(name: EventName, payload: Value) -> Result<Event, serde_json::Error> {
                match name { $(EventName::$ev => serde_json::from_value(payload).map(Event::$ev)),* }
            }
        }

        /// Every unsolicited message, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum UnsolicitedName { $($uv),* }

        impl UnsolicitedName {
            pub const ALL: &'static [UnsolicitedName] = &[$(UnsolicitedName::$uv),*];

            pub fn as_str(self) -> &'static str {
                match self { $(UnsolicitedName::$uv => $uname),* }
            }

            pub fn parse(name: &str) -> Option<UnsolicitedName> {
                match name { $($uname => Some(UnsolicitedName::$uv),)* _ => None }
            }

            pub fn direction(self) -> Direction {
                match self { $(UnsolicitedName::$uv => Direction::$udir),* }
            }
        }

        /// A message outside any command.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Unsolicited { $($uv($upayload)),* }

        impl Unsolicited {
            pub fn name(&self) -> UnsolicitedName {
                match self { $(Unsolicited::$uv(_) => UnsolicitedName::$uv),* }
            }

            fn to_json(&self) -> Result<Value, serde_json::Error> {
                match self { $(Unsolicited::$uv(p) => serde_json::to_value(p)),* }
            }

            fn from_json(name: UnsolicitedName, payload: Value) -> Result<Unsolicited, serde_json::Error> {
                match name { $(UnsolicitedName::$uv => serde_json::from_value(payload).map(Unsolicited::$uv)),* }
            }
        }

        /// Payload schemas by message, for the JSON Schema.
        pub(crate) fn payload_schemas(generator: &mut SchemaGenerator) -> PayloadSchemas {
            PayloadSchemas {
                commands: vec![$(($cname, generator.subschema_for::<$cpayload>(), generator.subschema_for::<$cresult>())),*],
                events: vec![$(($ename, generator.subschema_for::<$epayload>())),*],
                unsolicited: vec![$(($uname, generator.subschema_for::<$upayload>())),*],
            }
        }
    };
}

pub(crate) struct PayloadSchemas {
    pub commands: Vec<(&'static str, Schema, Schema)>,
    pub events: Vec<(&'static str, Schema)>,
    pub unsolicited: Vec<(&'static str, Schema)>,
}

messages! {
    commands {
        SessionOpen = "Session.Open": SessionOpen => SessionOpened, TerminalToDaemon;
        SessionResume = "Session.Resume": SessionResume => SessionResumed, TerminalToDaemon;
        SessionClose = "Session.Close": SessionClose => Empty, TerminalToDaemon;
        GetOffer = "Catalogue.GetOffer": GetOffer => OfferList, TerminalToDaemon;
        ItemStart = "Item.Start": ItemStart => ItemOutcome, TerminalToDaemon;
        ItemCancel = "Item.Cancel": ItemCancel => Empty, TerminalToDaemon;
        Identify = "Step.Identify": StepIdentify => IdentifyResult, DaemonToTerminal;
        Form = "Step.Form": StepForm => FormResult, DaemonToTerminal;
        Materials = "Step.Materials": StepMaterials => MaterialsResult, DaemonToTerminal;
        Sign = "Step.Sign": StepSign => SignResult, DaemonToTerminal;
        Confirm = "Step.Confirm": StepConfirm => ConfirmResult, DaemonToTerminal;
        Appointment = "Step.Appointment": StepAppointment => AppointmentChoice, DaemonToTerminal;
        Pay = "Step.Pay": StepPay => PayResult, DaemonToTerminal;
        Reverse = "Step.Reverse": StepReverse => ReverseResult, DaemonToTerminal;
        Submit = "Step.Submit": StepSubmit => Empty, DaemonToTerminal;
        Deliver = "Step.Deliver": StepDeliver => DeliverResult, DaemonToTerminal;
        Rate = "Step.Rate": StepRate => RateResult, DaemonToTerminal;
        Notice = "Step.Notice": StepNotice => Empty, DaemonToTerminal;
    }
    events {
        IdentifyCardRead = "Identify.CardRead": Empty, TerminalToDaemon;
        IdentifyFaceCaptured = "Identify.FaceCaptured": Empty, TerminalToDaemon;
        PayWaiting = "Pay.Waiting": PayWaiting, TerminalToDaemon;
        DeliverPrinting = "Deliver.Printing": DeliverPrinting, TerminalToDaemon;
    }
    unsolicited {
        SessionExpiring = "Session.Expiring": SessionExpiring, DaemonToTerminal;
        ServiceClosing = "Service.Closing": ServiceClosing, DaemonToTerminal;
        CatalogueChanged = "Catalogue.Changed": CatalogueChanged, DaemonToTerminal;
        DeviceStatusChanged = "Device.StatusChanged": DeviceStatusChanged, TerminalToDaemon;
    }
}

/// A decoded TSP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Command {
        request_id: u64,
        /// Milliseconds the sender waits for the completion.
        timeout_ms: Option<u64>,
        command: Command,
    },
    Acknowledge {
        request_id: u64,
        name: CommandName,
        /// `None` when the command was accepted.
        status: Option<AckStatus>,
        error_description: Option<String>,
    },
    Event {
        request_id: u64,
        event: Event,
    },
    Completion {
        request_id: u64,
        name: CommandName,
        code: CompletionCode,
        error_description: Option<String>,
        /// Present exactly when `code` is `Success`.
        payload: Option<CompletionPayload>,
    },
    Unsolicited(Unsolicited),
}

/// A frame that is not a valid TSP message. `request_id` is set when the header could be read
/// that far, so the receiver can answer with an acknowledge naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ProtocolError {
    pub request_id: Option<u64>,
    /// The command the frame named, when it named one this protocol knows.
    pub command: Option<CommandName>,
    pub kind: ProtocolErrorKind,
}

/// What was wrong. Never carries payload values (they may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolErrorKind {
    #[error("the frame is {0} bytes; the limit is {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("the frame is not a JSON object with header and payload: {0}")]
    Malformed(String),
    #[error("unsupported version {0:?}; this daemon speaks {VERSION}")]
    UnsupportedVersion(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("unknown {kind} name {name:?}")]
    UnknownName { kind: &'static str, name: String },
    #[error("header field {0} is required for this message type")]
    MissingHeaderField(&'static str),
    #[error("header field {0} does not belong to this message type")]
    UnexpectedHeaderField(&'static str),
    #[error("the payload of {name} does not match its schema: {detail}")]
    BadPayload { name: &'static str, detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    header: RawHeader,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHeader {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<u64>,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    status: Option<Option<AckStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_code: Option<CompletionCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

/// Tells an explicit `"status": null` (present) from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<AckStatus>>, D::Error> {
    Option::<AckStatus>::deserialize(d).map(Some)
}

fn error(request_id: Option<u64>, kind: ProtocolErrorKind) -> ProtocolError {
    ProtocolError {
        request_id,
        command: None,
        kind,
    }
}

fn bad_payload(request_id: Option<u64>, name: &'static str, e: serde_json::Error) -> ProtocolError {
    error(
        request_id,
        ProtocolErrorKind::BadPayload {
            name,
            detail: sanitized(&e),
        },
    )
}

/// serde's message without any value it quotes (`invalid type: string "…"` could be an ID
/// number): the kind of problem, the expected type, field names and the position.
fn sanitized(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let (body, position) = match text.find(" at line ") {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let value_bearing = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ];
    match value_bearing.iter().find(|p| body.starts_with(*p)) {
        Some(problem) => {
            let expected = body
                .split_once(", expected ")
                .map(|(_, x)| format!(", expected {x}"))
                .unwrap_or_default();
            format!("{problem}{expected}{position}")
        }
        None => text,
    }
}

impl Message {
    /// Decodes one text frame. Whatever the text, the answer is a message or a
    /// [`ProtocolError`]; it never panics.
    pub fn decode(text: &str) -> Result<Message, ProtocolError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(error(None, ProtocolErrorKind::TooLarge(text.len())));
        }
        let raw: RawEnvelope = serde_json::from_str(text).map_err(|e| {
            let detail = match e.classify() {
                serde_json::error::Category::Data => sanitized(&e),
                _ => format!(
                    "{} at line {} column {}",
                    category(&e),
                    e.line(),
                    e.column()
                ),
            };
            error(None, ProtocolErrorKind::Malformed(detail))
        })?;
        let h = raw.header;
        let named = CommandName::parse(&h.name);
        Self::decode_header(h, raw.payload).map_err(|mut e| {
            if e.command.is_none() && e.request_id.is_some() {
                e.command = named;
            }
            e
        })
    }

    fn decode_header(h: RawHeader, payload: Option<Value>) -> Result<Message, ProtocolError> {
        let id = h.request_id;
        if h.version != VERSION {
            return Err(error(id, ProtocolErrorKind::UnsupportedVersion(h.version)));
        }
        let payload = payload.unwrap_or_else(|| Value::Object(Map::new()));
        let kind = match h.kind.as_str() {
            "command" => MessageType::Command,
            "acknowledge" => MessageType::Acknowledge,
            "event" => MessageType::Event,
            "completion" => MessageType::Completion,
            "unsolicited" => MessageType::Unsolicited,
            other => return Err(error(id, ProtocolErrorKind::UnknownType(other.to_owned()))),
        };
        let refuse = |field: &'static str, present: bool| {
            if present {
                Err(error(id, ProtocolErrorKind::UnexpectedHeaderField(field)))
            } else {
                Ok(())
            }
        };
        let require_id = || {
            id.ok_or(error(
                None,
                ProtocolErrorKind::MissingHeaderField("requestId"),
            ))
        };
        let command_name = |name: &str| {
            CommandName::parse(name).ok_or_else(|| {
                error(
                    id,
                    ProtocolErrorKind::UnknownName {
                        kind: "command",
                        name: name.to_owned(),
                    },
                )
            })
        };
        match kind {
            MessageType::Command => {
                refuse("status", h.status.is_some())?;
                refuse("completionCode", h.completion_code.is_some())?;
                refuse("errorDescription", h.error_description.is_some())?;
                let request_id = require_id()?;
                let name = command_name(&h.name)?;
                let command = Command::from_json(name, payload)
                    .map_err(|e| bad_payload(id, name.as_str(), e))?;
                Ok(Message::Command {
                    request_id,
                    timeout_ms: h.timeout,
                    command,
                })
            }
            MessageType::Acknowledge => {
                refuse("timeout", h.timeout.is_some())?;
                refuse("completionCode", h.completion_code.is_some())?;
                let request_id = require_id()?;
                let name = command_name(&h.name)?;
                Ok(Message::Acknowledge {
                    request_id,
                    name,
                    status: h.status.flatten(),
                    error_description: h.error_description,
                })
            }
            MessageType::Event => {
                refuse("timeout", h.timeout.is_some())?;
                refuse("status", h.status.is_some())?;
                refuse("completionCode", h.completion_code.is_some())?;
                refuse("errorDescription", h.error_description.is_some())?;
                let request_id = require_id()?;
                let name = EventName::parse(&h.name).ok_or_else(|| {
                    error(
                        id,
                        ProtocolErrorKind::UnknownName {
                            kind: "event",
                            name: h.name.clone(),
                        },
                    )
                })?;
                let event = Event::from_json(name, payload)
                    .map_err(|e| bad_payload(id, name.as_str(), e))?;
                Ok(Message::Event { request_id, event })
            }
            MessageType::Completion => {
                refuse("timeout", h.timeout.is_some())?;
                refuse("status", h.status.is_some())?;
                let request_id = require_id()?;
                let name = command_name(&h.name)?;
                let code = h.completion_code.ok_or(error(
                    id,
                    ProtocolErrorKind::MissingHeaderField("completionCode"),
                ))?;
                let payload = if code == CompletionCode::Success {
                    Some(
                        CompletionPayload::from_json(name, payload)
                            .map_err(|e| bad_payload(id, name.as_str(), e))?,
                    )
                } else {
                    None
                };
                Ok(Message::Completion {
                    request_id,
                    name,
                    code,
                    error_description: h.error_description,
                    payload,
                })
            }
            MessageType::Unsolicited => {
                refuse("requestId", id.is_some())?;
                refuse("timeout", h.timeout.is_some())?;
                refuse("status", h.status.is_some())?;
                refuse("completionCode", h.completion_code.is_some())?;
                refuse("errorDescription", h.error_description.is_some())?;
                let name = UnsolicitedName::parse(&h.name).ok_or_else(|| {
                    error(
                        None,
                        ProtocolErrorKind::UnknownName {
                            kind: "unsolicited",
                            name: h.name.clone(),
                        },
                    )
                })?;
                let message = Unsolicited::from_json(name, payload)
                    .map_err(|e| bad_payload(None, name.as_str(), e))?;
                Ok(Message::Unsolicited(message))
            }
        }
    }

    /// Encodes the message as one JSON text frame.
    pub fn encode(&self) -> String {
        let (header, payload) = self.parts();
        let mut object = Map::new();
        object.insert(
            "header".into(),
            serde_json::to_value(header).unwrap_or(Value::Null),
        );
        object.insert("payload".into(), payload);
        Value::Object(object).to_string()
    }

    fn parts(&self) -> (RawHeader, Value) {
        let header = |kind: &str, name: &str, request_id: Option<u64>| RawHeader {
            kind: kind.to_owned(),
            name: name.to_owned(),
            request_id,
            version: VERSION.to_owned(),
            timeout: None,
            status: None,
            completion_code: None,
            error_description: None,
        };
        let empty = || Value::Object(Map::new());
        // Payload types serialise infallibly (plain structs of strings, numbers and maps).
        match self {
            Message::Command {
                request_id,
                timeout_ms,
                command,
            } => {
                let mut h = header("command", command.name().as_str(), Some(*request_id));
                h.timeout = *timeout_ms;
                (h, command.to_json().unwrap_or_else(|_| empty()))
            }
            Message::Acknowledge {
                request_id,
                name,
                status,
                error_description,
            } => {
                let mut h = header("acknowledge", name.as_str(), Some(*request_id));
                h.status = Some(*status);
                h.error_description = error_description.clone();
                (h, empty())
            }
            Message::Event { request_id, event } => (
                header("event", event.name().as_str(), Some(*request_id)),
                event.to_json().unwrap_or_else(|_| empty()),
            ),
            Message::Completion {
                request_id,
                name,
                code,
                error_description,
                payload,
            } => {
                let mut h = header("completion", name.as_str(), Some(*request_id));
                h.completion_code = Some(*code);
                h.error_description = error_description.clone();
                let p = payload
                    .as_ref()
                    .and_then(|p| p.to_json().ok())
                    .unwrap_or_else(empty);
                (h, p)
            }
            Message::Unsolicited(u) => (
                header("unsolicited", u.name().as_str(), None),
                u.to_json().unwrap_or_else(|_| empty()),
            ),
        }
    }

    /// The message's type.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Command { .. } => MessageType::Command,
            Message::Acknowledge { .. } => MessageType::Acknowledge,
            Message::Event { .. } => MessageType::Event,
            Message::Completion { .. } => MessageType::Completion,
            Message::Unsolicited(_) => MessageType::Unsolicited,
        }
    }

    /// The accepting acknowledge of a command.
    pub fn accepted(request_id: u64, name: CommandName) -> Message {
        Message::Acknowledge {
            request_id,
            name,
            status: None,
            error_description: None,
        }
    }

    /// A successful completion.
    pub fn success(request_id: u64, payload: CompletionPayload) -> Message {
        Message::Completion {
            request_id,
            name: payload.name(),
            code: CompletionCode::Success,
            error_description: None,
            payload: Some(payload),
        }
    }

    /// A completion that is not a success.
    pub fn failure(
        request_id: u64,
        name: CommandName,
        code: CompletionCode,
        description: impl Into<String>,
    ) -> Message {
        Message::Completion {
            request_id,
            name,
            code,
            error_description: Some(description.into()),
            payload: None,
        }
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "JSON syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end of JSON",
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
