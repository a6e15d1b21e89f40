//! The daemon's configuration: a TOML file, then environment overrides
//! (`STM_ADAPTER__SECTION__KEY`, e.g. `STM_ADAPTER__TSP__LISTEN=0.0.0.0:7443`), read with the
//! `config` crate into typed sections, then checked as a whole. Every option has a default that
//! works on a fresh machine (docs/operations.md lists them); a problem names its key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment prefix of overrides.
pub const ENV_PREFIX: &str = "STM_ADAPTER";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Everything the daemon writes (journal, keys, development PKI, registry) lives here
    /// unless a path below is absolute.
    pub data_dir: PathBuf,
    pub log: LogSection,
    pub tsp: TspSection,
    pub iso8583: Iso8583Section,
    pub admin: AdminSection,
    pub pki: PkiSection,
    pub registry: RegistrySection,
    pub journal: JournalSection,
    pub platform: PlatformSection,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            log: LogSection::default(),
            tsp: TspSection::default(),
            iso8583: Iso8583Section::default(),
            admin: AdminSection::default(),
            pki: PkiSection::default(),
            registry: RegistrySection::default(),
            journal: JournalSection::default(),
            platform: PlatformSection::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
    /// A tracing filter: `info`, `adapter_daemon=debug,info` …
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TspSection {
    pub listen: SocketAddr,
    pub max_sessions_per_terminal: usize,
    /// Commands of one session in flight at once.
    pub max_in_flight: usize,
    pub idle_timeout_seconds: u64,
    pub handshake_timeout_seconds: u64,
    /// A platform call a session waits for at most (the client's own deadline is shorter).
    pub platform_timeout_seconds: u64,
    /// On SIGTERM, live sessions get this long to finish.
    pub drain_seconds: u64,
}

impl Default for TspSection {
    fn default() -> Self {
        TspSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            max_sessions_per_terminal: 2,
            max_in_flight: 8,
            idle_timeout_seconds: 300,
            handshake_timeout_seconds: 10,
            platform_timeout_seconds: 40,
            drain_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Iso8583Section {
    /// Whether the biller host listens for bank-switch links at all.
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The binding of `listen` (docs/iso8583-binding.md): `gov-bill` for bank switches, or
    /// `cups-terminal` for terminals that speak the UnionPay terminal frame.
    pub dialect: String,
    /// A second listener, in `cups-terminal`, for terminals beside the switch's gov-bill links.
    pub terminal_listen: Option<SocketAddr>,
    /// The master keys of the terminals allowed on cups-terminal links (TOML `[terminals]`:
    /// terminal id = 32 hexadecimal characters). Read at start when a listener speaks
    /// cups-terminal.
    pub terminal_keys_file: PathBuf,
    /// TLS with client certificates issued by this CA (PEM); the daemon presents its server
    /// certificate. Required on a non-loopback address unless `insecure_plaintext`.
    pub client_ca: Option<PathBuf>,
    /// Plain TCP on a non-loopback address: only behind a network that encrypts the link.
    pub insecure_plaintext: bool,
    /// A file with the X9.19 MAC key (32 hex characters, double-length DES); every message then
    /// carries a MAC.
    pub mac_key_file: Option<PathBuf>,
    /// An idle link gets an echo after this long, and is closed when it does not answer within
    /// `echo_timeout_seconds`.
    pub idle_echo_seconds: u64,
    pub echo_timeout_seconds: u64,
    /// Store-and-forward retries a payment's confirmation this long after its approval, then
    /// leaves it to an operator (`stm-adapter saf list`).
    pub saf_expiry_hours: u64,
    /// A reversal this long after its payment's approval is answered 25; a settled payment
    /// leaves the daemon's memory once past it.
    pub reversal_window_hours: u64,
}

impl Iso8583Section {
    /// Whether a listener speaks cups-terminal (and so needs the terminal master keys).
    pub fn speaks_cups_terminal(&self) -> bool {
        self.dialect == "cups-terminal" || self.terminal_listen.is_some()
    }
}

impl Default for Iso8583Section {
    fn default() -> Self {
        Iso8583Section {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7583)),
            dialect: "gov-bill".into(),
            terminal_listen: None,
            terminal_keys_file: PathBuf::from("keys/terminal-master-keys.toml"),
            client_ca: None,
            insecure_plaintext: false,
            mac_key_file: None,
            idle_echo_seconds: 60,
            echo_timeout_seconds: 10,
            saf_expiry_hours: 72,
            reversal_window_hours: 72,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    pub listen: SocketAddr,
    /// The bearer token of /v1; else read from `token_file`, created on first start.
    pub token: Option<String>,
    pub token_file: PathBuf,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            token: None,
            token_file: PathBuf::from("admin.token"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiSection {
    /// The development PKI, created on first start when no certificate is configured.
    pub dir: PathBuf,
    /// The daemon's TLS certificate chain and key (PEM); both or neither.
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    /// The CA that issues terminal certificates (PEM); default: the development CA.
    pub terminal_ca: Option<PathBuf>,
    /// Names the development server certificate is issued for.
    pub server_names: Vec<String>,
}

impl Default for PkiSection {
    fn default() -> Self {
        PkiSection {
            dir: PathBuf::from("pki"),
            server_cert: None,
            server_key: None,
            terminal_ca: None,
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySection {
    /// The terminal registry (docs/operations.md); created with demonstration terminals on first
    /// start when it is the default and missing.
    pub file: PathBuf,
}

impl Default for RegistrySection {
    fn default() -> Self {
        RegistrySection {
            file: PathBuf::from("terminals.toml"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    pub path: PathBuf,
    /// The field key, 64 hex characters; else read from `key_file`, created on first start.
    pub key: Option<String>,
    pub key_file: PathBuf,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            path: PathBuf::from("journal.sqlite"),
            key: None,
            key_file: PathBuf::from("journal.key"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformMode {
    /// The sandbox platform, in-process on a loopback port.
    Sandbox,
    /// A platform at `base_url`.
    Remote,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSection {
    pub mode: PlatformMode,
    pub base_url: Option<String>,
    pub app_id: Option<String>,
    /// `HMAC-SHA256` or `SM2-SM3`.
    pub signature: String,
    /// HMAC: the shared secret, or a file holding it.
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// SM2: a file with the bank's private key (64 hex), and the platform's public key (SEC1 hex).
    pub sm2_private_key_file: Option<PathBuf>,
    pub platform_public_key: Option<String>,
    /// The CA that issued the platform's certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key when the platform wants mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub call_timeout_ms: u64,
    pub deadline_ms: u64,
    pub max_attempts: u32,
    pub breaker_failures: u32,
    pub breaker_open_seconds: u64,
    pub max_in_flight: usize,
}

impl Default for PlatformSection {
    fn default() -> Self {
        PlatformSection {
            mode: PlatformMode::Sandbox,
            base_url: None,
            app_id: None,
            signature: "HMAC-SHA256".into(),
            secret: None,
            secret_file: None,
            sm2_private_key_file: None,
            platform_public_key: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            call_timeout_ms: 8_000,
            deadline_ms: 30_000,
            max_attempts: 3,
            breaker_failures: 5,
            breaker_open_seconds: 30,
            max_in_flight: 64,
        }
    }
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, dotted: `tsp.listen`.
    pub key: String,
    pub problem: String,
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| format!("{}: {}", p.key, p.problem)).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<ConfigProblem>);

fn problem(key: &str, text: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: key.to_owned(),
        problem: text.into(),
    }
}

impl Config {
    /// Reads `file` (if given) and the environment (`env`, or the process's when `None`).
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(vec![problem(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                )]));
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("pki.server_names")
            .source(env.map(|m| m.into_iter().collect()));
        builder = builder.add_source(environment);
        let config: Config = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError(vec![from_config_error(&e)]))?;
        config.check()?;
        Ok(config)
    }

    fn check_iso8583(&self, p: &mut Vec<ConfigProblem>) {
        let i = &self.iso8583;
        if !i.enabled {
            return;
        }
        if !matches!(i.dialect.as_str(), "gov-bill" | "cups-terminal") {
            p.push(problem(
                "iso8583.dialect",
                format!(
                    "{:?} is not served: the biller host speaks gov-bill or cups-terminal",
                    i.dialect
                ),
            ));
        }
        let mut listeners = vec![("iso8583.listen", i.listen)];
        listeners.extend(i.terminal_listen.map(|a| ("iso8583.terminal_listen", a)));
        let mut taken = vec![
            ("tsp.listen", self.tsp.listen),
            ("admin.listen", self.admin.listen),
        ];
        for (name, addr) in listeners {
            for (key, other) in &taken {
                if addr == *other && other.port() != 0 {
                    p.push(problem(name, format!("is the same address as {key}")));
                }
            }
            if !addr.ip().is_loopback() && i.client_ca.is_none() && !i.insecure_plaintext {
                p.push(problem(
                    name,
                    "is not a loopback address: set iso8583.client_ca for TLS, or \
                     iso8583.insecure_plaintext = true behind a network that encrypts the link",
                ));
            }
            taken.push((name, addr));
        }
        if i.idle_echo_seconds < 5 {
            p.push(problem("iso8583.idle_echo_seconds", "must be at least 5"));
        }
        if !(1..=8760).contains(&i.reversal_window_hours) {
            p.push(problem(
                "iso8583.reversal_window_hours",
                "must be 1 to 8760 (a year)",
            ));
        }
        if i.echo_timeout_seconds == 0 {
            p.push(problem(
                "iso8583.echo_timeout_seconds",
                "must be at least 1",
            ));
        }
    }

    /// Checks the configuration as a whole; every problem is reported.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            p.push(problem("data_dir", "must not be empty"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            p.push(problem(
                "log.level",
                "is not a tracing filter (try info or debug)",
            ));
        }
        let t = &self.tsp;
        for (key, value) in [
            (
                "tsp.max_sessions_per_terminal",
                t.max_sessions_per_terminal as u64,
            ),
            ("tsp.max_in_flight", t.max_in_flight as u64),
            ("tsp.idle_timeout_seconds", t.idle_timeout_seconds),
            ("tsp.handshake_timeout_seconds", t.handshake_timeout_seconds),
            ("tsp.platform_timeout_seconds", t.platform_timeout_seconds),
        ] {
            if value == 0 {
                p.push(problem(key, "must be at least 1"));
            }
        }
        if t.idle_timeout_seconds > 0 && t.idle_timeout_seconds < 10 {
            p.push(problem("tsp.idle_timeout_seconds", "must be at least 10"));
        }
        // Port 0 asks the system for a free port: two of them never collide.
        if t.listen == self.admin.listen && t.listen.port() != 0 {
            p.push(problem("admin.listen", "is the same address as tsp.listen"));
        }
        self.check_iso8583(&mut p);
        if let Some(token) = &self.admin.token
            && token.len() < 16
        {
            p.push(problem("admin.token", "must be at least 16 characters"));
        }
        if self.pki.server_cert.is_some() != self.pki.server_key.is_some() {
            p.push(problem(
                "pki.server_key",
                "give pki.server_cert and pki.server_key together",
            ));
        }
        if self.pki.server_names.is_empty() {
            p.push(problem("pki.server_names", "needs at least one name"));
        }
        for (key, path) in [
            ("pki.server_cert", &self.pki.server_cert),
            ("pki.server_key", &self.pki.server_key),
            ("pki.terminal_ca", &self.pki.terminal_ca),
            ("iso8583.client_ca", &self.iso8583.client_ca),
            ("iso8583.mac_key_file", &self.iso8583.mac_key_file),
            (
                "iso8583.terminal_keys_file",
                &(self.iso8583.enabled && self.iso8583.speaks_cups_terminal())
                    .then(|| self.iso8583.terminal_keys_file.clone()),
            ),
            ("platform.ca_file", &self.platform.ca_file),
            ("platform.client_cert", &self.platform.client_cert),
            ("platform.client_key", &self.platform.client_key),
            ("platform.secret_file", &self.platform.secret_file),
            (
                "platform.sm2_private_key_file",
                &self.platform.sm2_private_key_file,
            ),
        ] {
            if let Some(path) = path
                && !self.resolve(path).is_file()
            {
                p.push(problem(
                    key,
                    format!("{} is not a readable file", self.resolve(path).display()),
                ));
            }
        }
        if let Some(key) = &self.journal.key
            && crate::journal::FieldCipher::from_hex(key).is_err()
        {
            p.push(problem(
                "journal.key",
                "must be 64 hex characters (32 bytes)",
            ));
        }
        self.check_platform(&mut p);
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(p))
        }
    }

    fn check_platform(&self, p: &mut Vec<ConfigProblem>) {
        let pl = &self.platform;
        if pl.call_timeout_ms == 0 || pl.deadline_ms < pl.call_timeout_ms {
            p.push(problem(
                "platform.deadline_ms",
                "must be at least platform.call_timeout_ms, which must be above 0",
            ));
        }
        if pl.max_attempts == 0 || pl.max_attempts > 10 {
            p.push(problem("platform.max_attempts", "must be 1 to 10"));
        }
        if pl.breaker_failures == 0 || pl.max_in_flight == 0 {
            p.push(problem(
                "platform.breaker_failures",
                "breaker_failures and max_in_flight must be at least 1",
            ));
        }
        if pl.mode == PlatformMode::Sandbox {
            return;
        }
        match pl.base_url.as_deref().map(url::Url::parse) {
            None => p.push(problem(
                "platform.base_url",
                "is required when platform.mode = \"remote\"",
            )),
            Some(Err(e)) => p.push(problem("platform.base_url", format!("is not a URL: {e}"))),
            Some(Ok(u)) if u.scheme() != "https" => {
                p.push(problem(
                    "platform.base_url",
                    "must be https for a remote platform",
                ));
            }
            Some(Ok(_)) => {}
        }
        if pl.ca_file.is_none() {
            p.push(problem(
                "platform.ca_file",
                "is required when platform.mode = \"remote\"",
            ));
        }
        if pl.app_id.as_deref().is_none_or(str::is_empty) {
            p.push(problem(
                "platform.app_id",
                "is required when platform.mode = \"remote\"",
            ));
        }
        match pl.signature.as_str() {
            "HMAC-SHA256" => {
                if pl.secret.is_none() && pl.secret_file.is_none() {
                    p.push(problem(
                        "platform.secret",
                        "HMAC-SHA256 needs platform.secret or platform.secret_file",
                    ));
                }
                if let Some(s) = &pl.secret
                    && s.len() < 16
                {
                    p.push(problem("platform.secret", "must be at least 16 bytes"));
                }
            }
            "SM2-SM3" => {
                if pl.sm2_private_key_file.is_none() {
                    p.push(problem(
                        "platform.sm2_private_key_file",
                        "SM2-SM3 needs the bank's private key file",
                    ));
                }
                match &pl.platform_public_key {
                    None => p.push(problem(
                        "platform.platform_public_key",
                        "SM2-SM3 needs the platform's public key",
                    )),
                    Some(k) if crate::platform::signing::VerifyingKey::sm2_hex(k).is_err() => {
                        p.push(problem(
                            "platform.platform_public_key",
                            "is not an SM2 public key (SEC1 hex)",
                        ));
                    }
                    Some(_) => {}
                }
            }
            _ => p.push(problem(
                "platform.signature",
                "must be HMAC-SHA256 or SM2-SM3",
            )),
        }
    }

    /// `path` under `data_dir` unless absolute.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.data_dir.join(path)
        }
    }

    /// The configuration as TOML with secrets replaced, for `config check` and logs.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        let hide = |v: &mut Option<String>| {
            if v.is_some() {
                *v = Some("[redacted]".into());
            }
        };
        hide(&mut shown.admin.token);
        hide(&mut shown.journal.key);
        hide(&mut shown.platform.secret);
        toml::to_string(&shown).unwrap_or_default()
    }
}

/// A `config` crate error as a keyed problem.
fn from_config_error(e: &config::ConfigError) -> ConfigProblem {
    match e {
        config::ConfigError::Type { key: Some(key), .. } => problem(key, e.to_string()),
        config::ConfigError::At {
            key: Some(key),
            error,
            ..
        } => {
            let inner = error.to_string();
            // "unknown field `x`, expected one of …": the key is the section's plus x.
            match inner
                .split('`')
                .nth(1)
                .filter(|_| inner.contains("unknown field"))
            {
                Some(field) => problem(&format!("{key}.{field}"), inner.clone()),
                None => problem(key, inner),
            }
        }
        config::ConfigError::NotFound(key) => problem(key, "is required"),
        other => {
            let text = other.to_string();
            // "unknown field `x`, expected one of …" names the key itself.
            let key = text
                .split('`')
                .nth(1)
                .filter(|_| text.contains("unknown field"))
                .unwrap_or("configuration")
                .to_owned();
            problem(&key, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn no_configuration_at_all_is_a_working_one() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.tsp.listen.port(), 7443);
        assert_eq!(c.admin.listen.port(), 7080);
        assert_eq!(
            c.resolve(&c.journal.path),
            PathBuf::from("data/journal.sqlite")
        );
    }

    /// fixtures/config/stm-adapter.toml documents every option with its default: it must load,
    /// and say exactly what the built-in defaults are.
    #[test]
    fn the_commented_example_is_the_defaults() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config/stm-adapter.toml");
        let c = Config::load(Some(&file), env(&[])).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn a_switch_link_off_loopback_needs_tls_or_a_plain_admission() {
        let e = Config::load(
            None,
            env(&[
                ("STM_ADAPTER__ISO8583__LISTEN", "0.0.0.0:7583"),
                ("STM_ADAPTER__ISO8583__DIALECT", "iso87-ascii"),
                ("STM_ADAPTER__ISO8583__IDLE_ECHO_SECONDS", "1"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "iso8583.dialect",
                "iso8583.listen",
                "iso8583.idle_echo_seconds"
            ],
            "{e}"
        );
        // A cups-terminal listener needs the terminals' master keys, and its own address.
        let e = Config::load(
            None,
            env(&[
                ("STM_ADAPTER__ISO8583__TERMINAL_LISTEN", "127.0.0.1:7443"),
                (
                    "STM_ADAPTER__ISO8583__TERMINAL_KEYS_FILE",
                    "/nonexistent/tmk.toml",
                ),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["iso8583.terminal_listen", "iso8583.terminal_keys_file"],
            "{e}"
        );
        let c = Config::load(
            None,
            env(&[
                ("STM_ADAPTER__ISO8583__LISTEN", "0.0.0.0:7583"),
                ("STM_ADAPTER__ISO8583__INSECURE_PLAINTEXT", "true"),
            ]),
        )
        .unwrap();
        assert!(c.iso8583.insecure_plaintext);
        let e = Config::load(
            None,
            env(&[("STM_ADAPTER__ISO8583__LISTEN", "127.0.0.1:7443")]),
        )
        .unwrap_err();
        assert_eq!(e.0[0].problem, "is the same address as tsp.listen");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stm-adapter.toml");
        std::fs::write(
            &file,
            "[tsp]\nlisten = \"127.0.0.1:9443\"\nidle_timeout_seconds = 120\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("STM_ADAPTER__TSP__IDLE_TIMEOUT_SECONDS", "60"),
                ("STM_ADAPTER__LOG__FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(c.tsp.listen.port(), 9443);
        assert_eq!(c.tsp.idle_timeout_seconds, 60);
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn problems_name_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[tsp]\nlisten = \"nowhere\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[])).unwrap_err();
        assert_eq!(e.0[0].key, "tsp.listen", "{e}");

        std::fs::write(&file, "[tsp]\nlisten_on = \"127.0.0.1:1\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[])).unwrap_err();
        assert_eq!(e.0[0].key, "tsp.listen_on", "{e}");

        let e = Config::load(
            None,
            env(&[
                ("STM_ADAPTER__PLATFORM__MODE", "remote"),
                ("STM_ADAPTER__ADMIN__LISTEN", "127.0.0.1:7443"),
                ("STM_ADAPTER__JOURNAL__KEY", "abc"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "admin.listen",
            "journal.key",
            "platform.base_url",
            "platform.ca_file",
            "platform.app_id",
            "platform.secret",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let mut c = Config::default();
        c.admin.token = Some("a-very-secret-admin-token".into());
        c.platform.secret = Some("shared-secret-value".into());
        let text = c.redacted();
        assert!(!text.contains("a-very-secret") && !text.contains("shared-secret-value"));
        assert!(text.contains("[redacted]"));
    }
}
