//! The stm-adapter conformance kit (binary `stm-conformance`, docs/conformance.md).
//!
//! - [`sim`]: the simulated peers — an STM with virtual devices, a bank switch (gov-bill), a
//!   terminal in the UnionPay frame (cups-terminal).
//! - [`scenario`]: the suites as data (fixtures/conformance/*.toml).
//! - [`target`]: what a run is against — a daemon started in-process, or a deployment's.
//! - [`run`] and [`report`]: running the cases; JUnit XML and Markdown.
//! - [`certify`]: certifying a terminal implementation (the kit plays the daemon).
//! - [`demo`]: one end-to-end run a person can follow.
//! - [`load`] and [`spawn`]: the load generator, and a daemon in its own process to measure.
//! - [`vectors`]: the golden-vector runner for the ISO 8583 engine.

pub mod certify;
pub mod demo;
pub mod load;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod spawn;
pub mod target;
pub mod vectors;
