//! Working days, holidays and opening hours, in China Standard Time (UTC+8, no daylight
//! saving).
//!
//! - [`Calendar`]: the State Council's holidays and make-up working days, one data file a year
//!   (`fixtures/calendars/cn-YYYY.toml`).
//! - [`Schedule`]: a rule set of opening windows (working-day hours, extended off-peak hours,
//!   weekend duty days, a week shifted to Tuesday–Saturday, or always open).
//! - [`Site`]: a place terminals stand (a hall, a 24-hour self-service zone, a branch) with its
//!   schedule.
//! - [`opening`]: whether several schedules are open together at an instant, and when they next
//!   open.

mod holidays;
pub mod opening;
mod schedule;
mod site;

pub use holidays::{Calendar, Day, DayKind, Holiday, HolidayYear};
pub use opening::{Openness, open_at};
pub use schedule::{DutyRule, Schedule, ScheduleDef, WeekPattern, Window};
pub use site::{Site, SiteKind, load_sites};

use time::UtcOffset;

/// China Standard Time.
pub const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};
