//! Whether schedules are open together at an instant, and when they next open.

use time::{Date, Duration, OffsetDateTime, Time};

use super::CST;
use super::holidays::Calendar;
use super::schedule::{Schedule, Window};

/// How far ahead the next opening is looked for.
pub const HORIZON_DAYS: i64 = 62;

/// The answer at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    Open,
    /// Closed; `next_opening` is the next instant all schedules are open together (in CST), if
    /// there is one within [`HORIZON_DAYS`].
    Closed {
        next_opening: Option<OffsetDateTime>,
    },
}

/// The windows on `date` in which every schedule is open.
pub fn common_windows(schedules: &[&Schedule], calendar: &Calendar, date: Date) -> Vec<Window> {
    let mut common = vec![Window::WHOLE_DAY];
    for schedule in schedules {
        let theirs = schedule.windows_on(calendar, date);
        common = common
            .iter()
            .flat_map(|a| theirs.iter().filter_map(move |b| a.intersect(b)))
            .collect();
        if common.is_empty() {
            break;
        }
    }
    common.sort();
    common
}

fn at(date: Date, minute: u16) -> OffsetDateTime {
    let time = Time::from_hms(
        u8::try_from(minute / 60).unwrap_or(0),
        (minute % 60) as u8,
        0,
    )
    .unwrap_or(Time::MIDNIGHT);
    date.with_time(time).assume_offset(CST)
}

/// Whether all `schedules` are open at `instant`, and if not, when they next are.
pub fn open_at(schedules: &[&Schedule], calendar: &Calendar, instant: OffsetDateTime) -> Openness {
    let local = instant.to_offset(CST);
    let today = local.date();
    let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
    for offset in 0..=HORIZON_DAYS {
        let Some(date) = today.checked_add(Duration::days(offset)) else {
            break;
        };
        let windows = common_windows(schedules, calendar, date);
        if offset == 0 {
            if windows.iter().any(|w| w.contains(minute)) {
                return Openness::Open;
            }
            if let Some(w) = windows.iter().find(|w| w.from > minute) {
                return Openness::Closed {
                    next_opening: Some(at(date, w.from)),
                };
            }
        } else if let Some(w) = windows.first() {
            return Openness::Closed {
                next_opening: Some(at(date, w.from)),
            };
        }
    }
    Openness::Closed { next_opening: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::ScheduleDef;
    use time::macros::datetime;

    fn hall() -> Schedule {
        let def: ScheduleDef =
            toml::from_str(r#"working_day = ["09:00-12:00", "13:00-17:00"]"#).unwrap_or_default();
        def.compile().unwrap_or_default()
    }

    #[test]
    fn open_closed_and_next_opening() {
        let calendar = Calendar::default();
        let hall = hall();
        let always = Schedule::always();
        // Friday 10:00 CST: open.
        assert_eq!(
            open_at(&[&hall], &calendar, datetime!(2026-11-27 10:00 +8)),
            Openness::Open
        );
        // Friday 12:30 CST: lunch, opens again at 13:00.
        assert_eq!(
            open_at(&[&hall, &always], &calendar, datetime!(2026-11-27 12:30 +8)),
            Openness::Closed {
                next_opening: Some(datetime!(2026-11-27 13:00 +8))
            }
        );
        // Friday 18:00 CST given in UTC: next Monday 09:00.
        assert_eq!(
            open_at(&[&hall], &calendar, datetime!(2026-11-27 10:00 UTC)),
            Openness::Closed {
                next_opening: Some(datetime!(2026-11-30 09:00 +8))
            }
        );
        // A schedule that is never open with the other.
        let night: ScheduleDef =
            toml::from_str(r#"working_day = ["20:00-22:00"]"#).unwrap_or_default();
        let night = night.compile().unwrap_or_default();
        assert_eq!(
            open_at(&[&hall, &night], &calendar, datetime!(2026-11-27 10:00 +8)),
            Openness::Closed { next_opening: None }
        );
    }
}
