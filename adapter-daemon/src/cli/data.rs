//! Where the commands' data comes from: the data shipped in the binary, or `--data DIR` with
//! the layout of `fixtures/` (catalogue/, terminals/, calendars/, sites/).

use std::path::Path;

use adapter_core::shipped::{DataFiles, DataSet, SUBDIRECTORIES, shipped};

use super::Failure;

/// Reads the `*.toml` files of `dir`, sorted by name, as `(file name, text)`.
pub(crate) fn read_toml_dir(dir: &Path) -> Result<Vec<(String, String)>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", dir.display())))?
            .path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
            let name = path
                .strip_prefix(dir.parent().unwrap_or(dir))
                .unwrap_or(&path)
                .display()
                .to_string();
            files.push((name, text));
        }
    }
    files.sort();
    Ok(files)
}

/// The data files: shipped, or read from `dir`.
pub(crate) fn files(dir: Option<&Path>) -> Result<DataFiles, Failure> {
    let Some(dir) = dir else {
        return Ok(shipped());
    };
    let mut parts = Vec::new();
    for sub in SUBDIRECTORIES {
        let path = dir.join(sub);
        if !path.is_dir() {
            return Err(Failure::Usage(format!(
                "{} has no {sub}/ directory (a data directory holds {})",
                dir.display(),
                SUBDIRECTORIES.join("/, ")
            )));
        }
        parts.push(read_toml_dir(&path)?);
    }
    let [catalogue, terminals, calendars, sites] =
        <[Vec<(String, String)>; 4]>::try_from(parts).map_err(|_| Failure::Usage("data".into()))?;
    Ok(DataFiles {
        catalogue,
        terminals,
        calendars,
        sites,
    })
}

/// Loads and checks the data set; problems make the command fail with every one listed.
pub(crate) fn load(dir: Option<&Path>) -> Result<DataSet, Failure> {
    DataSet::load(&files(dir)?).map_err(|problems| {
        Failure::Usage(format!(
            "the data does not load ({} problems; `stm-adapter catalogue check` lists them):\n{problems}",
            problems.len()
        ))
    })
}
