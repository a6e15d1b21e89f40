//! The dialects shipped with stm-adapter, embedded from `fixtures/dialects/`.

use std::sync::OnceLock;

use super::dialect::{Dialect, DialectError};

/// Name and TOML text of every shipped dialect.
pub const SOURCES: [(&str, &str); 5] = [
    (
        "iso87-ascii",
        include_str!("../../../fixtures/dialects/iso87-ascii.toml"),
    ),
    (
        "iso87-binary",
        include_str!("../../../fixtures/dialects/iso87-binary.toml"),
    ),
    (
        "iso93-ascii",
        include_str!("../../../fixtures/dialects/iso93-ascii.toml"),
    ),
    (
        "cups-terminal",
        include_str!("../../../fixtures/dialects/cups-terminal.toml"),
    ),
    (
        "gov-bill",
        include_str!("../../../fixtures/dialects/gov-bill.toml"),
    ),
];

/// Names of the shipped dialects.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(name, _)| *name)
}

fn loaded() -> &'static [Result<Dialect, DialectError>] {
    static LOADED: OnceLock<Vec<Result<Dialect, DialectError>>> = OnceLock::new();
    LOADED.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| Dialect::from_toml(&format!("{name}.toml"), text))
            .collect()
    })
}

/// A shipped dialect by name: `None` if there is no such dialect, `Some(Err)` if its embedded
/// file does not load (a test guards against that ever shipping).
pub fn builtin(name: &str) -> Option<Result<&'static Dialect, &'static DialectError>> {
    SOURCES
        .iter()
        .zip(loaded())
        .find(|((n, _), _)| *n == name)
        .map(|(_, d)| d.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_dialect_loads() {
        for name in builtin_names() {
            let dialect = builtin(name);
            assert!(
                matches!(dialect, Some(Ok(d)) if d.name() == name),
                "{name}: {dialect:?}"
            );
        }
        assert!(builtin("nope").is_none());
    }
}
