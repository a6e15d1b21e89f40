//! Simulated peers of the daemon: what a bank's terminals and switches would be.
//!
//! - [`cups`]: a terminal (or bank front-end) on a `cups-terminal` link: signs on for working
//!   keys, inquires, pays, reverses and settles its batch, every message with the UnionPay MAC.

pub mod cups;
