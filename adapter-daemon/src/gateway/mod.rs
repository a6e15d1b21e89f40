//! The daemon's listeners: [`tsp`] for smart teller machines (WebSocket over TLS), [`iso8583`]
//! for bank-switch links (the biller host).

pub mod iso8583;
pub mod tsp;
