//! The stm-adapter conformance kit (binary `stm-conformance`).
//!
//! Today: [`vectors`], the golden-vector runner for the ISO 8583 engine, which a bank can also
//! point at its own captured frames. The terminal and bank-switch simulators, scenario suites,
//! reports, demo and load generator arrive with the daemon issues.

pub mod sim;
pub mod vectors;
