//! `stm-adapter catalogue stats|profiles|offer|check`: the catalogue and the offer planner for
//! operators and other tools. stdout is JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adapter_core::catalogue;
use adapter_core::ids::DivisionCode;
use adapter_core::plan::{Terminal, offer};
use adapter_core::problems::Problems;
use adapter_core::shipped::DataSet;
use clap::Subcommand;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Failure, data, emit};

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogueCommand {
    /// Counts of items, implementations, divisions and items per department, and the version.
    Stats,
    /// The terminal profiles: id, model, devices, protocols.
    Profiles,
    /// What a terminal can offer at an instant: flows for the offered items, a reason for each
    /// of the others.
    Offer {
        /// A terminal profile id (see `catalogue profiles`).
        #[arg(long)]
        profile: String,
        /// The terminal's division code (GB/T 2260), such as 440106.
        #[arg(long)]
        division: String,
        /// The instant, RFC 3339 (2026-11-27T10:00:00+08:00).
        #[arg(long)]
        at: String,
        /// The site the terminal stands in; without it, a 24-hour zone (back-end hours only).
        #[arg(long)]
        site: Option<String>,
    },
    /// Checks a data directory (or a catalogue directory) and lists every problem; exit 1 when
    /// there is any. Without DIR, checks the data shipped in the binary (or --data).
    Check { dir: Option<PathBuf> },
}

pub(crate) fn run(data_dir: Option<&Path>, command: CatalogueCommand) -> Result<(), Failure> {
    match command {
        CatalogueCommand::Stats => stats(&data::load(data_dir)?),
        CatalogueCommand::Profiles => profiles(&data::load(data_dir)?),
        CatalogueCommand::Offer {
            profile,
            division,
            at,
            site,
        } => offer_cmd(
            &data::load(data_dir)?,
            &profile,
            &division,
            &at,
            site.as_deref(),
        ),
        CatalogueCommand::Check { dir } => check(dir.as_deref().or(data_dir)),
    }
}

fn stats(data: &DataSet) -> Result<(), Failure> {
    let c = &data.catalogue;
    let mut departments: BTreeMap<&str, usize> = BTreeMap::new();
    for item in c.items() {
        *departments.entry(item.department.id()).or_default() += 1;
    }
    emit(
        &json!({
            "items": c.items().len(),
            "implementations": c.implementations().len(),
            "divisions": c.divisions().len(),
            "departments": departments,
            "version": c.version(),
        })
        .to_string(),
    )
}

fn profiles(data: &DataSet) -> Result<(), Failure> {
    let list: Vec<Value> = data
        .profiles
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "model": p.model,
                "devices": p.devices.iter().map(|d| d.id()).collect::<Vec<_>>(),
                "protocols": p.protocols.iter().map(|p| p.id()).collect::<Vec<_>>(),
                "languages": p.languages,
            })
        })
        .collect();
    emit(&Value::Array(list).to_string())
}

fn offer_cmd(
    data: &DataSet,
    profile: &str,
    division: &str,
    at: &str,
    site: Option<&str>,
) -> Result<(), Failure> {
    let profile = data.profile(profile).ok_or_else(|| {
        Failure::Usage(format!(
            "no profile {profile:?}; the profiles are: {}",
            data.profiles
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let division =
        DivisionCode::parse(division).map_err(|e| Failure::Usage(format!("--division: {e}")))?;
    let instant = OffsetDateTime::parse(at, &Rfc3339).map_err(|e| {
        Failure::Usage(format!("--at is RFC 3339 (2026-11-27T10:00:00+08:00): {e}"))
    })?;
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
    let terminal = Terminal {
        profile,
        division,
        site,
    };
    let result = offer(&data.catalogue, &data.calendar, &terminal, instant);
    let offered: Vec<Value> = result
        .offered
        .iter()
        .map(|o| {
            json!({
                "code": o.item.code.as_str(),
                "name": o.item.name,
                "implementing_code": o.implementation.code.as_str(),
                "steps": o.flow,
            })
        })
        .collect();
    let unavailable: Vec<Value> = result
        .unavailable
        .iter()
        .map(|u| json!({"code": u.item.code.as_str(), "name": u.item.name, "reason": u.reason}))
        .collect();
    emit(
        &json!({
            "profile": profile.id,
            "division": division.to_string(),
            "site": site.map(|s| s.id.as_str()),
            "at": at,
            "catalogue_version": data.catalogue.version(),
            "offered": offered,
            "unavailable": unavailable,
        })
        .to_string(),
    )
}

fn check(dir: Option<&Path>) -> Result<(), Failure> {
    // A directory with a catalogue/ inside is a data directory; any other is a catalogue.
    let result: Result<(usize, usize, String), Problems> = match dir {
        Some(d) if !d.join("catalogue").is_dir() => {
            let files = data::read_toml_dir(d)?;
            catalogue::load(&files).map(|c| {
                (
                    c.items().len(),
                    c.implementations().len(),
                    c.version().to_owned(),
                )
            })
        }
        _ => DataSet::load(&data::files(dir)?).map(|d| {
            (
                d.catalogue.items().len(),
                d.catalogue.implementations().len(),
                d.catalogue.version().to_owned(),
            )
        }),
    };
    match result {
        Ok((items, implementations, version)) => emit(
            &json!({"ok": true, "items": items, "implementations": implementations, "version": version})
                .to_string(),
        ),
        Err(problems) => {
            let list: Vec<Value> = problems
                .iter()
                .map(|p| json!({"file": p.file, "entry": p.entry, "message": p.message}))
                .collect();
            emit(&json!({"ok": false, "problems": list}).to_string())?;
            Err(Failure::Refused(format!("{} problems:\n{problems}", problems.len())))
        }
    }
}
