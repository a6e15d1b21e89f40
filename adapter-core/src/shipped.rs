//! The data shipped with stm-adapter, embedded from `fixtures/`: the catalogue, terminal
//! profiles, holiday calendars and sites. A deployment may replace it with a directory of the
//! same layout (`--data DIR`), read by the caller and handed over as [`DataFiles`].

use crate::calendar::{Calendar, Site, load_sites};
use crate::catalogue::{self, Catalogue};
use crate::problems::Problems;
use crate::terminal::{TerminalProfile, load_profiles};

/// Data files as `(file name, TOML text)`, by kind: the subdirectories of a data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFiles {
    pub catalogue: Vec<(String, String)>,
    pub terminals: Vec<(String, String)>,
    pub calendars: Vec<(String, String)>,
    pub sites: Vec<(String, String)>,
}

/// The subdirectories of a data directory, in the order [`DataFiles`] holds them.
pub const SUBDIRECTORIES: [&str; 4] = ["catalogue", "terminals", "calendars", "sites"];

macro_rules! embed {
    ($dir:literal: $($file:literal),* $(,)?) => {
        vec![$((
            concat!($dir, "/", $file).to_owned(),
            include_str!(concat!("../../fixtures/", $dir, "/", $file)).to_owned(),
        )),*]
    };
}

/// The data embedded in this build.
pub fn shipped() -> DataFiles {
    DataFiles {
        catalogue: embed!("catalogue": "backends.toml", "civil-affairs.toml", "disabled-persons.toml", "health.toml", "housing-fund.toml", "hr-social-security.toml", "implementations.toml", "justice.toml", "natural-resources.toml", "public-security.toml", "taxation.toml"),
        terminals: embed!("terminals": "atm-iso8583.toml", "stm-full.toml", "stm-no-a4.toml", "village-kiosk.toml"),
        calendars: embed!("calendars": "cn-2025.toml", "cn-2026.toml"),
        sites: embed!("sites": "guangdong.toml"),
    }
}

fn keep<T>(problems: &mut Problems, result: Result<T, Problems>) -> Option<T> {
    result.map_err(|p| problems.0.extend(p.0)).ok()
}

/// Everything the planner needs, loaded and checked.
#[derive(Debug, Clone)]
pub struct DataSet {
    pub catalogue: Catalogue,
    pub profiles: Vec<TerminalProfile>,
    pub calendar: Calendar,
    pub sites: Vec<Site>,
}

impl DataSet {
    /// Loads every part; the problems of all parts are reported together.
    pub fn load(files: &DataFiles) -> Result<DataSet, Problems> {
        let mut problems = Problems::default();
        let catalogue = keep(&mut problems, catalogue::load(&files.catalogue));
        let profiles = keep(&mut problems, load_profiles(&files.terminals));
        let calendar = keep(&mut problems, Calendar::load(&files.calendars));
        let sites = keep(&mut problems, load_sites(&files.sites));
        match (catalogue, profiles, calendar, sites) {
            (Some(catalogue), Some(profiles), Some(calendar), Some(sites)) => Ok(DataSet {
                catalogue,
                profiles,
                calendar,
                sites,
            }),
            _ => Err(problems),
        }
    }

    pub fn profile(&self, id: &str) -> Option<&TerminalProfile> {
        self.profiles.iter().find(|p| p.id == id)
    }

    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Department;

    #[test]
    fn the_shipped_data_loads_and_is_as_promised() {
        let data = DataSet::load(&shipped());
        let data = match data {
            Ok(d) => d,
            Err(p) => panic!("shipped data does not load:\n{p}"),
        };
        let items = data.catalogue.items();
        assert!(items.len() >= 131, "{} items", items.len());
        for d in Department::ALL {
            let n = items.iter().filter(|i| i.department == d).count();
            assert!(n >= 8, "{d}: {n} items");
        }
        assert!(items.iter().all(|i| i.synthetic));
        let cities = crate::ids::guangdong_cities();
        let divisions = data.catalogue.divisions();
        for c in cities {
            assert!(
                divisions.iter().any(|d| d.code() == c.code),
                "no implementation in {}",
                c.name_en
            );
        }
        assert!(data.profile("stm-full").is_some() && data.profile("atm-iso8583").is_some());
        assert!(data.profile("stm-no-a4").is_some() && data.profile("village-kiosk").is_some());
        assert_eq!(data.calendar.years().collect::<Vec<_>>(), vec![2025, 2026]);
    }
}
