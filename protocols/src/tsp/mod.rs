//! The Terminal Session Protocol (TSP): JSON over WebSocket, an envelope modelled on
//! CEN/XFS4IoT (`header {type, name, requestId, version, …}` + `payload`). docs/tsp.md is the
//! specification; docs/tsp.schema.json is generated from these types by [`envelope_schema`].
//!
//! - [`Message::decode`] turns a text frame into a typed message or a [`ProtocolError`]
//!   (unknown versions, types, names, malformed frames — never a panic);
//!   [`Message::encode`] writes one.
//! - [`Sensitive`] marks personal data: it serialises as itself but never shows in Debug.

#[cfg(feature = "tsp-client")]
pub mod client;
mod message;
mod payloads;
mod schema;
mod sensitive;

pub use message::{
    AckStatus, Command, CommandName, CompletionCode, CompletionPayload, Direction, Event,
    EventName, MAX_FRAME_BYTES, Message, MessageType, ProtocolError, ProtocolErrorKind,
    Unsolicited, UnsolicitedName, VERSION,
};
pub use payloads::*;
pub use schema::envelope_schema;
pub use sensitive::Sensitive;
