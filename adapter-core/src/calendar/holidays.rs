//! Statutory holidays and make-up working days, one file a year.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::{Date, Weekday};

use crate::problems::Problems;

/// A holiday period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub name_en: String,
    pub from: Date,
    pub to: Date,
    /// Weekend days worked to make up for it.
    pub make_up_days: Vec<Date>,
}

/// The holidays of one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayYear {
    pub year: i32,
    pub source: String,
    pub holidays: Vec<Holiday>,
}

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    Weekday,
    Weekend,
    /// A statutory holiday (its Chinese name).
    Holiday(String),
    /// A weekend day worked to make up for a holiday.
    MakeUp(String),
}

/// A date as the calendar sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub kind: DayKind,
    /// Whether the calendar holds a file for this date's year. Without one the weekday rule
    /// applies and holidays are not known.
    pub known_year: bool,
}

impl Day {
    pub fn is_working_day(&self) -> bool {
        matches!(self.kind, DayKind::Weekday | DayKind::MakeUp(_))
    }

    pub fn is_holiday(&self) -> bool {
        matches!(self.kind, DayKind::Holiday(_))
    }

    /// `weekday`, `weekend`, `holiday: NAME` or `make-up working day`.
    pub fn reason(&self) -> String {
        match &self.kind {
            DayKind::Weekday => "weekday".to_owned(),
            DayKind::Weekend => "weekend".to_owned(),
            DayKind::Holiday(name) => format!("holiday: {name}"),
            DayKind::MakeUp(_) => "make-up working day".to_owned(),
        }
    }
}

/// Holidays of every year loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, HolidayYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearDef {
    year: i32,
    source: String,
    #[serde(rename = "holiday")]
    holidays: Vec<HolidayDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayDef {
    name: String,
    name_en: String,
    from: toml::value::Datetime,
    to: toml::value::Datetime,
    #[serde(default)]
    make_up_days: Vec<toml::value::Datetime>,
}

fn date_of(value: &toml::value::Datetime) -> Option<Date> {
    let d = value.date?;
    if value.time.is_some() {
        return None;
    }
    let month = time::Month::try_from(d.month).ok()?;
    Date::from_calendar_date(i32::from(d.year), month, d.day).ok()
}

impl Calendar {
    /// Loads year files given as `(file name, TOML text)`; every problem is reported.
    pub fn load(files: &[(String, String)]) -> Result<Calendar, Problems> {
        let mut problems = Problems::default();
        let mut years = BTreeMap::new();
        for (file, text) in files {
            let def: YearDef = match toml::from_str(text) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(file, None, e.message().to_owned());
                    continue;
                }
            };
            let year = check_year(file, def, &mut problems);
            if years.contains_key(&year.year) {
                problems.push(
                    file,
                    None,
                    format!("another file already gives {}", year.year),
                );
            }
            years.insert(year.year, year);
        }
        problems.into_result(Calendar { years })
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    pub fn year(&self, year: i32) -> Option<&HolidayYear> {
        self.years.get(&year)
    }

    /// What `date` is: weekday, weekend, holiday or make-up working day.
    pub fn day(&self, date: Date) -> Day {
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        let plain = if weekend {
            DayKind::Weekend
        } else {
            DayKind::Weekday
        };
        let Some(year) = self.years.get(&date.year()) else {
            return Day {
                date,
                kind: plain,
                known_year: false,
            };
        };
        let mut kind = plain;
        for h in &year.holidays {
            if (h.from..=h.to).contains(&date) {
                kind = DayKind::Holiday(h.name.clone());
                break;
            }
            if h.make_up_days.contains(&date) {
                kind = DayKind::MakeUp(h.name.clone());
                break;
            }
        }
        Day {
            date,
            kind,
            known_year: true,
        }
    }
}

fn check_year(file: &str, def: YearDef, problems: &mut Problems) -> HolidayYear {
    let mut holidays: Vec<Holiday> = Vec::new();
    for h in def.holidays {
        let here = Some(h.name.as_str());
        let (Some(from), Some(to)) = (date_of(&h.from), date_of(&h.to)) else {
            problems.push(
                file,
                here,
                "from and to are dates (YYYY-MM-DD) without a time",
            );
            continue;
        };
        if from > to {
            problems.push(file, here, "from is after to");
        }
        if from.year() != def.year || to.year() != def.year {
            problems.push(file, here, format!("the holiday lies outside {}", def.year));
        }
        let mut make_up_days = Vec::new();
        for m in &h.make_up_days {
            match date_of(m) {
                None => problems.push(file, here, "a make-up day is a date without a time"),
                Some(d) if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) => {
                    problems.push(
                        file,
                        here,
                        format!("make-up day {d} is not a Saturday or Sunday"),
                    );
                }
                Some(d) if (from..=to).contains(&d) => {
                    problems.push(
                        file,
                        here,
                        format!("make-up day {d} lies inside the holiday"),
                    );
                }
                Some(d) => make_up_days.push(d),
            }
        }
        if let Some(other) = holidays.iter().find(|o| o.from <= to && from <= o.to) {
            problems.push(file, here, format!("overlaps {}", other.name));
        }
        holidays.push(Holiday {
            name: h.name,
            name_en: h.name_en,
            from,
            to,
            make_up_days,
        });
    }
    HolidayYear {
        year: def.year,
        source: def.source,
        holidays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn calendar() -> Calendar {
        let text = r#"
            year = 2026
            source = "test"
            [[holiday]]
            name = "元旦"
            name_en = "New Year's Day"
            from = 2026-01-01
            to = 2026-01-03
            make_up_days = [2026-01-04]
        "#;
        Calendar::load(&[("cn-2026.toml".into(), text.into())]).unwrap_or_default()
    }

    #[test]
    fn holidays_make_up_days_weekends() {
        let c = calendar();
        assert_eq!(c.day(date!(2026 - 01 - 01)).reason(), "holiday: 元旦");
        assert!(!c.day(date!(2026 - 01 - 02)).is_working_day()); // a Friday, but a holiday
        assert!(c.day(date!(2026 - 01 - 04)).is_working_day()); // a Sunday, made up
        assert_eq!(c.day(date!(2026 - 01 - 04)).reason(), "make-up working day");
        assert_eq!(c.day(date!(2026 - 01 - 10)).reason(), "weekend");
        assert_eq!(c.day(date!(2026 - 01 - 05)).reason(), "weekday");
        let unknown = c.day(date!(2027 - 01 - 01));
        assert!(!unknown.known_year && unknown.is_working_day());
    }

    #[test]
    fn bad_files_report_every_problem() {
        let text = r#"
            year = 2026
            source = "test"
            [[holiday]]
            name = "A"
            name_en = "A"
            from = 2026-01-05
            to = 2026-01-03
            make_up_days = [2026-01-07, 2026-01-04]
            [[holiday]]
            name = "B"
            name_en = "B"
            from = 2025-12-31
            to = 2026-01-06
        "#;
        let err = Calendar::load(&[("cn-2026.toml".into(), text.into())])
            .err()
            .unwrap_or_default();
        let text = err.to_string();
        assert!(text.contains("A: from is after to"), "{text}");
        assert!(
            text.contains("make-up day 2026-01-07 is not a Saturday or Sunday"),
            "{text}"
        );
        assert!(text.contains("B: the holiday lies outside 2026"), "{text}");
        assert!(text.contains("B: overlaps A"), "{text}");
    }
}
