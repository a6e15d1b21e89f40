//! `stm-adapter calendar day YYYY-MM-DD [--site SITE]`: what a date is, and when a site opens.
//!
//! stdout: `{"date", "working_day", "reason", "open": [windows], "site", "calendar"}`. `reason`
//! is `weekday`, `weekend`, `holiday: NAME` or `make-up working day`; `open` lists the site's
//! windows that day (empty without `--site`); `calendar` says which year file was used, or that
//! there is none and the weekday rule applied.

use std::path::Path;

use serde_json::json;
use time::Date;
use time::macros::format_description;

use super::{Failure, data, emit};

pub(crate) fn day(data_dir: Option<&Path>, date: &str, site: Option<&str>) -> Result<(), Failure> {
    let date = Date::parse(date, format_description!("[year]-[month]-[day]"))
        .map_err(|_| Failure::Usage(format!("{date:?} is not a date (YYYY-MM-DD)")))?;
    let data = data::load(data_dir)?;
    let site = match site {
        Some(id) => Some(data.site(id).ok_or_else(|| {
            Failure::Usage(format!(
                "no site {id:?}; the sites are: {}",
                data.sites
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
        None => None,
    };
    let day = data.calendar.day(date);
    let (working_day, open) = match site {
        Some(s) => (
            s.schedule.is_working_day(&data.calendar, date),
            s.schedule.windows_on(&data.calendar, date),
        ),
        None => (day.is_working_day(), Vec::new()),
    };
    let calendar = if day.known_year {
        json!(format!("cn-{}", date.year()))
    } else {
        json!(format!(
            "no holiday file for {}: weekday rule applied",
            date.year()
        ))
    };
    let out = json!({
        "date": date.to_string(),
        "working_day": working_day,
        "reason": day.reason(),
        "open": open,
        "site": site.map(|s| s.id.as_str()),
        "calendar": calendar,
    });
    emit(&out.to_string())
}
