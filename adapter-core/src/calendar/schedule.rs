//! Opening schedules as rule sets: working-day windows, extended off-peak windows, weekend duty
//! days, the week shifted to Tuesday–Saturday, or always open.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Weekday};

use super::holidays::Calendar;

/// A window of one day, in minutes from midnight: `from` inclusive, `to` exclusive (1440 =
/// 24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub from: u16,
    pub to: u16,
}

impl Window {
    pub const WHOLE_DAY: Window = Window { from: 0, to: 1440 };

    /// Parses `HH:MM-HH:MM` (24:00 allowed as an end).
    pub fn parse(text: &str) -> Result<Window, String> {
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not HH:MM-HH:MM"))?;
        let minutes = |t: &str| -> Result<u16, String> {
            let (h, m) = t
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("{t:?} is not HH:MM"))?;
            let h: u16 = h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
            let m: u16 = m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
            if m > 59 || h > 24 || (h == 24 && m > 0) {
                return Err(format!("{t:?} is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let window = Window {
            from: minutes(a)?,
            to: minutes(b)?,
        };
        if window.from >= window.to {
            return Err(format!("{text:?} ends before it starts"));
        }
        Ok(window)
    }

    pub fn contains(&self, minute: u16) -> bool {
        (self.from..self.to).contains(&minute)
    }

    pub fn intersect(&self, other: &Window) -> Option<Window> {
        let w = Window {
            from: self.from.max(other.from),
            to: self.to.min(other.to),
        };
        (w.from < w.to).then_some(w)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.from / 60,
            self.from % 60,
            self.to / 60,
            self.to % 60
        )
    }
}

impl Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which days are regular working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeekPattern {
    /// The national week: Monday to Friday, with the State Council's holidays and make-up days.
    #[default]
    MonFri,
    /// The week shifted back one day: Tuesday to Saturday (Monday closed); holidays still close,
    /// make-up days still open.
    TueSat,
}

/// Extra opening on non-working days that are not holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyRule {
    pub days: Vec<Weekday>,
    pub windows: Vec<Window>,
}

/// A checked schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    pub always_open: bool,
    pub week: WeekPattern,
    pub working_day: Vec<Window>,
    /// Extended hours on working days (错时延时服务).
    pub off_peak: Vec<Window>,
    pub duty: Vec<DutyRule>,
    /// Open every day, holidays included (online systems with a nightly maintenance break).
    pub every_day: Vec<Window>,
}

/// A schedule as written in a data file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    #[serde(default)]
    pub always_open: bool,
    #[serde(default)]
    pub week: WeekPattern,
    #[serde(default)]
    pub working_day: Vec<String>,
    #[serde(default)]
    pub off_peak: Vec<String>,
    #[serde(default)]
    pub duty: Vec<DutyDef>,
    #[serde(default)]
    pub every_day: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutyDef {
    pub days: Vec<String>,
    pub windows: Vec<String>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

impl ScheduleDef {
    /// Checks the definition; problems are returned as messages.
    pub fn compile(&self) -> Result<Schedule, Vec<String>> {
        let mut problems = Vec::new();
        let mut windows = |texts: &[String], what: &str| -> Vec<Window> {
            let mut out: Vec<Window> = Vec::new();
            for t in texts {
                match Window::parse(t) {
                    Ok(w) => {
                        if out.iter().any(|o| o.intersect(&w).is_some()) {
                            problems.push(format!("{what}: {t} overlaps another window"));
                        }
                        out.push(w);
                    }
                    Err(e) => problems.push(format!("{what}: {e}")),
                }
            }
            out.sort();
            out
        };
        let working_day = windows(&self.working_day, "working_day");
        let off_peak = windows(&self.off_peak, "off_peak");
        let every_day = windows(&self.every_day, "every_day");
        let mut duty = Vec::new();
        for d in &self.duty {
            let days: Vec<Weekday> = d.days.iter().filter_map(|n| weekday(n)).collect();
            let dw = windows(&d.windows, "duty");
            duty.push(DutyRule { days, windows: dw });
        }
        for d in &self.duty {
            for n in &d.days {
                if weekday(n).is_none() {
                    problems.push(format!("duty: {n:?} is not a day of the week"));
                }
            }
        }
        if let Some(w) = off_peak
            .iter()
            .find(|o| working_day.iter().any(|w| w.intersect(o).is_some()))
        {
            problems.push(format!("off_peak: {w} overlaps the working-day hours"));
        }
        if !self.always_open
            && working_day.is_empty()
            && off_peak.is_empty()
            && duty.is_empty()
            && every_day.is_empty()
        {
            problems.push("a schedule that is not always open needs some windows".to_owned());
        }
        if problems.is_empty() {
            Ok(Schedule {
                always_open: self.always_open,
                week: self.week,
                working_day,
                off_peak,
                duty,
                every_day,
            })
        } else {
            Err(problems)
        }
    }
}

impl Schedule {
    /// Open round the clock, every day.
    pub fn always() -> Schedule {
        Schedule {
            always_open: true,
            ..Schedule::default()
        }
    }

    /// Whether `date` is a regular working day under this schedule's week.
    pub fn is_working_day(&self, calendar: &Calendar, date: Date) -> bool {
        let day = calendar.day(date);
        match self.week {
            WeekPattern::MonFri => day.is_working_day(),
            WeekPattern::TueSat => {
                if day.is_holiday() {
                    false
                } else if matches!(day.kind, super::DayKind::MakeUp(_)) {
                    true
                } else {
                    !matches!(date.weekday(), Weekday::Monday | Weekday::Sunday)
                }
            }
        }
    }

    /// The windows open on `date`, sorted, overlapping ones merged.
    pub fn windows_on(&self, calendar: &Calendar, date: Date) -> Vec<Window> {
        if self.always_open {
            return vec![Window::WHOLE_DAY];
        }
        let mut w: Vec<Window> = self.every_day.clone();
        if self.is_working_day(calendar, date) {
            w.extend(self.working_day.iter().chain(&self.off_peak));
        } else if !calendar.day(date).is_holiday() {
            w.extend(
                self.duty
                    .iter()
                    .filter(|d| d.days.contains(&date.weekday()))
                    .flat_map(|d| d.windows.iter().copied()),
            );
        }
        merge(w)
    }
}

/// Sorts windows and merges those that overlap or touch.
fn merge(mut windows: Vec<Window>) -> Vec<Window> {
    windows.sort();
    let mut out: Vec<Window> = Vec::with_capacity(windows.len());
    for w in windows {
        match out.last_mut() {
            Some(last) if w.from <= last.to => last.to = last.to.max(w.to),
            _ => out.push(w),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn def(text: &str) -> ScheduleDef {
        toml::from_str(text).unwrap_or_default()
    }

    #[test]
    fn windows_parse_and_refuse() {
        assert_eq!(
            Window::parse("09:00-12:00"),
            Ok(Window { from: 540, to: 720 })
        );
        assert_eq!(Window::parse("00:00-24:00"), Ok(Window::WHOLE_DAY));
        assert!(Window::parse("12:00-09:00").is_err());
        assert!(Window::parse("9-12").is_err());
        assert!(Window::parse("09:60-12:00").is_err());
    }

    #[test]
    fn hall_hours_duty_and_shifted_week() {
        let calendar = Calendar::default();
        let hall = def(r#"
            working_day = ["09:00-12:00", "13:00-17:00"]
            off_peak = ["17:00-20:00"]
            [[duty]]
            days = ["saturday"]
            windows = ["09:00-12:00"]
        "#)
        .compile()
        .unwrap_or_default();
        // Friday 2026-11-27: working day with extended hours (13:00-17:00 and 17:00-20:00 merge).
        assert_eq!(
            hall.windows_on(&calendar, date!(2026 - 11 - 27)),
            vec![
                Window { from: 540, to: 720 },
                Window {
                    from: 780,
                    to: 1200
                }
            ]
        );
        // Saturday: duty morning only; Sunday: closed.
        assert_eq!(
            hall.windows_on(&calendar, date!(2026 - 11 - 28)),
            vec![Window { from: 540, to: 720 }]
        );
        assert!(hall.windows_on(&calendar, date!(2026 - 11 - 29)).is_empty());

        let shifted = def(r#"
            week = "tue-sat"
            working_day = ["09:00-17:00"]
        "#)
        .compile()
        .unwrap_or_default();
        assert!(
            shifted
                .windows_on(&calendar, date!(2026 - 11 - 23))
                .is_empty()
        ); // Monday
        assert!(
            !shifted
                .windows_on(&calendar, date!(2026 - 11 - 28))
                .is_empty()
        ); // Saturday
    }

    #[test]
    fn every_day_windows_hold_on_holidays_and_merge() {
        let calendar = Calendar::default();
        let payment = def(r#"
            every_day = ["00:30-23:30"]
            working_day = ["08:00-09:00"]
        "#)
        .compile()
        .unwrap_or_default();
        assert_eq!(
            payment.windows_on(&calendar, date!(2026 - 11 - 29)),
            vec![Window { from: 30, to: 1410 }]
        );
        assert_eq!(
            payment.windows_on(&calendar, date!(2026 - 11 - 27)).len(),
            1
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        let problems = def(r#"
            working_day = ["09:00-12:00", "11:00-13:00"]
            off_peak = ["12:30-14:00"]
            [[duty]]
            days = ["caturday"]
            windows = ["09:00-12:00"]
        "#)
        .compile()
        .err()
        .unwrap_or_default();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(def("").compile().is_err());
    }
}
