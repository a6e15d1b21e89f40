//! The domain of stm-adapter, with no I/O: nothing here opens a socket, reads a clock or a file
//! it was not handed. Callers pass the data (catalogue text, calendars, profiles) and the
//! moment in time.
//!
//! - [`ids`]: validated identifiers (ID numbers, credit codes, e-licence ids, divisions, card
//!   numbers, item codes).
//! - [`catalogue`]: service items and their implementations per division, loaded and checked.
//! - [`terminal`]: devices, protocols and terminal profiles.
//! - [`calendar`]: holidays, make-up days, schedules, sites, next opening (China Standard Time).
//! - [`plan`]: which items a terminal can offer now, with which flow, and why not the others.
//! - [`platform`]: the PlatformApi seam to the government-service platform, and its types.
//! - [`session`]: the sans-IO session engine that runs an item's flow with a terminal.
//! - [`shipped`]: the data embedded in the build, and [`shipped::DataSet`], all of it loaded.
//! - [`problems`]: every problem found while loading data, with its file and entry.

pub mod calendar;
pub mod catalogue;
pub mod ids;
pub mod plan;
pub mod platform;
pub mod problems;
pub mod session;
pub mod shipped;
pub mod terminal;
