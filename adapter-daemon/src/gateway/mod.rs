//! The daemon's listeners: [`tsp`] for smart teller machines (WebSocket over TLS).

pub mod tsp;
