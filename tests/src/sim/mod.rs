//! Simulated peers of the daemon: what a bank's terminals and switches would be.
//!
//! - [`terminal`]: an STM speaking TSP, its steps answered by [`devices`] (ID-card reader, face
//!   camera, document camera, printers that save what they print, card reader and PIN pad, QR
//!   scanner, signature pad) for a fixture citizen.
//! - [`switch`]: a bank switch on a `gov-bill` link.
//! - [`cups`]: a terminal (or bank front-end) on a `cups-terminal` link.

pub mod cups;
pub mod devices;
pub mod switch;
pub mod terminal;
