//! The terminal registry: which profile, division and site each terminal (by the id in its
//! certificate) has. A TOML file of `[[terminal]]` entries, checked against the data set.

use std::collections::HashMap;

use adapter_core::ids::DivisionCode;
use adapter_core::shipped::DataSet;
use serde::Deserialize;

/// One registered terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTerminal {
    pub id: String,
    pub profile: String,
    pub division: DivisionCode,
    pub site: Option<String>,
}

/// Every registered terminal, by id.
#[derive(Debug, Clone, Default)]
pub struct TerminalRegistry {
    terminals: HashMap<String, RegisteredTerminal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default, rename = "terminal")]
    terminals: Vec<TerminalDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminalDef {
    id: String,
    profile: String,
    division: String,
    site: Option<String>,
}

/// The registry file is wrong; every problem is listed.
#[derive(Debug, thiserror::Error)]
#[error("terminal registry {file}: {}", problems.join("; "))]
pub struct RegistryError {
    pub file: String,
    pub problems: Vec<String>,
}

impl TerminalRegistry {
    /// Parses a registry and checks it against `data` (profiles and sites must exist).
    pub fn load(file: &str, text: &str, data: &DataSet) -> Result<TerminalRegistry, RegistryError> {
        let fail = |problems| RegistryError {
            file: file.to_owned(),
            problems,
        };
        let parsed: RegistryFile =
            toml::from_str(text).map_err(|e| fail(vec![e.message().to_owned()]))?;
        let mut problems = Vec::new();
        let mut terminals = HashMap::new();
        for t in parsed.terminals {
            let at = format!("terminal {}", t.id);
            if data.profile(&t.profile).is_none() {
                problems.push(format!("{at}: no profile {:?}", t.profile));
            }
            if let Some(site) = &t.site
                && data.site(site).is_none()
            {
                problems.push(format!("{at}: no site {site:?}"));
            }
            let division = match DivisionCode::parse(&t.division) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{at}: division: {e}"));
                    continue;
                }
            };
            if terminals.contains_key(&t.id) {
                problems.push(format!("{at}: registered twice"));
            }
            terminals.insert(
                t.id.clone(),
                RegisteredTerminal {
                    id: t.id,
                    profile: t.profile,
                    division,
                    site: t.site,
                },
            );
        }
        if problems.is_empty() {
            Ok(TerminalRegistry { terminals })
        } else {
            Err(fail(problems))
        }
    }

    pub fn get(&self, id: &str) -> Option<&RegisteredTerminal> {
        self.terminals.get(id)
    }

    pub fn len(&self) -> usize {
        self.terminals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terminals.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RegisteredTerminal> {
        self.terminals.values()
    }
}
