//! Wire formats of stm-adapter, with no I/O and no domain knowledge.
//!
//! - [`iso8583`]: the spec-driven ISO 8583 engine. A dialect is data (TOML); the shipped
//!   dialects live in `fixtures/dialects/` and are embedded here ([`iso8583::builtin`]).
//! - [`framing`]: length prefixes, TPDU and header; check-then-parse; a tokio-util codec behind
//!   the `tokio-codec` feature.
//! - [`tsp`]: the Terminal Session Protocol's messages, codec and JSON Schema.
//!
//! Nothing here opens a socket, reads a clock or a file: callers hand bytes in and get bytes
//! out, which is what lets terminal software link this crate and tests run without a network.

pub mod framing;
pub mod iso8583;
pub mod tsp;
