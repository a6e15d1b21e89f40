//! The stm-adapter daemon and its operator commands.
//!
//! Today it carries the ISO 8583 codec tools (`stm-adapter codec …`); the daemon proper
//! (`stm-adapter serve`: TSP and ISO 8583 gateways, journal, admin API) arrives with the
//! daemon issues. See README.md and docs/.

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod gateway;
pub mod journal;
pub mod metrics;
pub mod pki;
pub mod platform;
pub mod registry;
pub mod sandbox;
pub mod tls;
