//! What the kit runs against: a daemon it starts in-process on the embedded defaults, or a
//! deployment's daemon (`--target local`: `stm-adapter serve` in the current directory, its
//! ./data/pki and default ports; or an address).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapter_core::shipped::shipped;
use adapter_daemon::config::{Config, PlatformMode};
use adapter_daemon::daemon::{Daemon, DataSource};
use adapter_daemon::pki::DevCa;
use adapter_protocols::tsp::client::ClientConfig;
use anyhow::{Context, anyhow};

/// The terminal id and master key of the cups-terminal terminal an in-process daemon knows.
pub const CUPS_TERMINAL: (&str, &str) = ("CUPS0001", "0123456789ABCDEFFEDCBA9876543210");

/// A daemon to run cases against.
pub struct Target {
    /// Shown in reports: `in-process`, `local`, or the address.
    pub label: String,
    pub tsp: SocketAddr,
    /// The gov-bill listener, if the daemon has one.
    pub switch: Option<SocketAddr>,
    /// The cups-terminal listener and the key of [`CUPS_TERMINAL`] (in-process only).
    pub cups: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    /// The deployment's PKI directory: ca.pem, terminals/ID.pem and ID-key.pem, ca-key.pem.
    pub pki: PathBuf,
    /// Whether the kit started this daemon (and so may start more, e.g. with the platform down).
    pub in_process: bool,
    daemon: Option<Daemon>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("tsp", &self.tsp)
            .field("switch", &self.switch)
            .finish_non_exhaustive()
    }
}

/// Offers are planned as on Tuesday 2026-12-01 at 10:00 China Standard Time — a working day
/// with every hall open — and the clock runs on from there, so an in-process run is the same
/// whenever and wherever it runs.
pub fn working_day_clock() -> adapter_daemon::gateway::tsp::Clock {
    let base = time::macros::datetime!(2026-12-01 10:00 +08:00);
    let started = std::time::Instant::now();
    Arc::new(move || base + started.elapsed())
}

impl Target {
    /// A daemon on the embedded defaults in a temporary directory, every listener on a free
    /// loopback port, with a cups-terminal listener for [`CUPS_TERMINAL`].
    pub async fn in_process() -> anyhow::Result<Target> {
        Self::start(None, |_, _| Ok(())).await
    }

    /// As [`Target::in_process`], with its data (PKI, journal) kept in `dir`: a terminal under
    /// test keeps the same certificates from one run to the next.
    pub async fn in_process_at(dir: &Path) -> anyhow::Result<Target> {
        Self::start(Some(dir), |_, _| Ok(())).await
    }

    /// As [`Target::in_process`], but the platform never answers (a closed port).
    pub async fn in_process_platform_down() -> anyhow::Result<Target> {
        Self::start(None, |config, dir| {
            let ca = dir.join("nobody-ca.pem");
            let nobody = DevCa::generate().map_err(|e| anyhow!("{e}"))?;
            std::fs::write(&ca, &nobody.ca.certificate_pem)?;
            let p = &mut config.platform;
            p.mode = PlatformMode::Remote;
            // Port 9 (discard) on loopback: nothing listens, every call is refused at once.
            p.base_url = Some("https://127.0.0.1:9".into());
            p.app_id = Some("BANK-GD-0001".into());
            p.secret = Some("conformance-platform-down-secret".into());
            p.ca_file = Some(ca);
            p.call_timeout_ms = 500;
            p.deadline_ms = 1_000;
            p.max_attempts = 1;
            config.tsp.platform_timeout_seconds = 2;
            Ok(())
        })
        .await
    }

    async fn start(
        at: Option<&Path>,
        tune: impl FnOnce(&mut Config, &Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Target> {
        let temporary = tempfile::tempdir()?;
        let base = match at {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                dir.to_path_buf()
            }
            None => temporary.path().to_path_buf(),
        };
        let keys = base.join("terminal-master-keys.toml");
        std::fs::write(
            &keys,
            format!(
                "[terminals]\n{} = \"{}\"\n",
                CUPS_TERMINAL.0, CUPS_TERMINAL.1
            ),
        )?;
        let mut config = Config {
            data_dir: base.join("data"),
            ..Config::default()
        };
        let any = "127.0.0.1:0".parse::<SocketAddr>()?;
        config.tsp.listen = any;
        config.admin.listen = any;
        config.iso8583.listen = any;
        config.iso8583.terminal_listen = Some(any);
        config.iso8583.terminal_keys_file = keys;
        config.tsp.drain_seconds = 1;
        tune(&mut config, &base)?;
        let source = DataSource {
            load: Box::new(|| Ok(shipped())),
            sandbox: adapter_daemon::sandbox::shipped(),
            clock: working_day_clock(),
        };
        let daemon = Daemon::start(config, source)
            .await
            .map_err(|e| anyhow!("the in-process daemon did not start: {e}"))?;
        let e = daemon.endpoints.clone();
        Ok(Target {
            label: "in-process daemon (embedded defaults, as on Tuesday 2026-12-01 10:00 CST)"
                .into(),
            tsp: e.tsp,
            switch: e.iso8583.map(|(a, _)| a),
            cups: e.iso8583_terminals,
            admin: Some(e.admin),
            pki: e.pki_dir.clone(),
            in_process: true,
            daemon: Some(daemon),
            _dir: Some(temporary),
        })
    }

    /// A daemon started by `stm-adapter serve` in `dir` (its ./data/pki), at `tsp` and `switch`.
    pub fn deployment(label: &str, dir: &Path, tsp: SocketAddr, switch: SocketAddr) -> Target {
        Target {
            label: label.into(),
            tsp,
            switch: Some(switch),
            cups: None,
            admin: None,
            pki: dir.join("data/pki"),
            in_process: false,
            daemon: None,
            _dir: None,
        }
    }

    /// The running daemon, when the kit started it.
    pub fn daemon(&self) -> Option<&Daemon> {
        self.daemon.as_ref()
    }

    /// A TSP client configuration for terminal `id` with the deployment's certificates.
    pub fn terminal(&self, id: &str) -> anyhow::Result<ClientConfig> {
        let read = |p: PathBuf| {
            std::fs::read(&p).with_context(|| {
                format!(
                    "{} (is the daemon's PKI directory {}?)",
                    p.display(),
                    self.pki.display()
                )
            })
        };
        let mut config = ClientConfig::new(
            self.tsp.to_string(),
            "localhost",
            read(self.pki.join("ca.pem"))?,
            read(self.pki.join(format!("terminals/{id}.pem")))?,
            read(self.pki.join(format!("terminals/{id}-key.pem")))?,
        );
        config.initial_backoff = Duration::from_millis(50);
        config.reconnect_attempts = 5;
        Ok(config)
    }

    /// The deployment's CA with its key (to issue a certificate the registry does not know).
    pub fn ca(&self) -> anyhow::Result<DevCa> {
        let cert = std::fs::read_to_string(self.pki.join("ca.pem"))?;
        let key = std::fs::read_to_string(self.pki.join("ca-key.pem"))
            .context("the CA's key is not in the PKI directory")?;
        DevCa::load(&cert, &key).map_err(|e| anyhow!("{e}"))
    }

    /// Stops a daemon the kit started.
    pub async fn stop(self) {
        if let Some(d) = self.daemon {
            d.stop().await;
        }
    }
}
