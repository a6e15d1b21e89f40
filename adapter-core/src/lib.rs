//! The domain of stm-adapter, with no I/O: nothing here opens a socket, reads a clock or a file
//! it was not handed.
//!
//! This crate is filled by the catalogue issue (catalogue, identifiers, terminal profiles,
//! calendars, the offer planner) and the session issue (session engine, PlatformApi). Until
//! then it holds nothing, rather than something that pretends to work.
