//! The catalogue of government service items, as the national standard describes them, and
//! their implementations per division.
//!
//! Loaded from `fixtures/catalogue/*.toml` (see docs/catalogue.md): department files hold
//! `[[item]]`s, `implementations.toml` the `[[implementation]]`s, `backends.toml` the named
//! back-end schedules. Loading checks everything and reports every problem with its file and
//! item; the loaded catalogue is versioned by a hash of its files.

mod load;
mod model;

pub use load::load;
pub use model::*;
