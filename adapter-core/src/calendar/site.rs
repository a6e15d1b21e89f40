//! Sites: where terminals stand, and when they are open.

use serde::{Deserialize, Serialize};

use super::schedule::{Schedule, ScheduleDef};
use crate::ids::DivisionCode;
use crate::problems::Problems;

/// The kind of place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    /// A government service hall (政务服务中心).
    Hall,
    /// A 24-hour self-service zone.
    #[serde(rename = "self-service-24h")]
    SelfService24h,
    /// A bank branch lobby.
    BankBranch,
    /// A village or community service point (粤智助).
    Village,
}

/// A site with its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub division: DivisionCode,
    pub kind: SiteKind,
    pub schedule: Schedule,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    site: Vec<SiteDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteDef {
    id: String,
    name: String,
    division: String,
    kind: SiteKind,
    schedule: ScheduleDef,
}

/// Loads sites from `(file name, TOML text)` pairs (each file a `[[site]]` list); every problem
/// is reported.
pub fn load_sites(files: &[(String, String)]) -> Result<Vec<Site>, Problems> {
    let mut problems = Problems::default();
    let mut sites: Vec<Site> = Vec::new();
    for (file, text) in files {
        let parsed: SitesFile = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                problems.push(file, None, e.message().to_owned());
                continue;
            }
        };
        for def in parsed.site {
            let here = Some(def.id.as_str());
            if sites.iter().any(|s| s.id == def.id) {
                problems.push(file, here, "another site has this id");
            }
            let division = DivisionCode::parse(&def.division);
            if let Err(e) = &division {
                problems.push(file, here, format!("division: {e}"));
            }
            let schedule = def.schedule.compile();
            if let Err(errors) = &schedule {
                for e in errors {
                    problems.push(file, here, format!("schedule: {e}"));
                }
            }
            if def.kind == SiteKind::SelfService24h
                && schedule.as_ref().is_ok_and(|s| !s.always_open)
            {
                problems.push(file, here, "a 24-hour self-service zone is always_open");
            }
            if let (Ok(division), Ok(schedule)) = (division, schedule) {
                sites.push(Site {
                    id: def.id,
                    name: def.name,
                    division,
                    kind: def.kind,
                    schedule,
                });
            }
        }
    }
    problems.into_result(sites)
}
