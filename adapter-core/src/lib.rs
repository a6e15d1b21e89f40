//! The domain of stm-adapter, with no I/O: nothing here opens a socket, reads a clock or a file
//! it was not handed. Callers pass the data (catalogue text, calendars, profiles) and the
//! moment in time.
//!
//! - [`ids`]: validated identifiers (ID numbers, credit codes, e-licence ids, divisions, card
//!   numbers, item codes).

pub mod ids;
