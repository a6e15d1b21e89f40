//! `stm-adapter serve`: the daemon put together from its configuration.
//!
//! [`Daemon::start`] makes everything a fresh machine lacks (the data directory, the development
//! PKI with server and terminal certificates, the terminal registry, the journal key, the admin
//! token), opens the journal, starts the platform (the in-process sandbox by default), the TSP
//! gateway and the admin API, and says where everything is. [`Daemon::stop`] drains sessions,
//! flushes the journal and closes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapter_core::session::SessionConfig;
use adapter_core::shipped::{DataFiles, DataSet};
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::config::{Config, PlatformMode};
use crate::gateway::iso8583::book::Book;
use crate::gateway::iso8583::keys::MasterKeys;
use crate::gateway::iso8583::{Binding, HostConfig, HostGateway};
use crate::gateway::tsp::{Clock, TspConfig, TspGateway};
use crate::journal::sqlite::SqliteStore;
use crate::journal::{FieldCipher, Journal, JournalStore};
use crate::metrics::{MeteredJournal, Metrics};
use crate::pki::{DevCa, write_private};
use crate::platform::breaker::BreakerPolicy;
use crate::platform::client::RetryPolicy;
use crate::platform::metered::MeteredPlatform;
use crate::platform::signing::{SigningKey, VerifyingKey};
use crate::platform::{ClientConfig, PlatformClient};
use crate::registry::TerminalRegistry;
use crate::sandbox::{Sandbox, SandboxData, SandboxFiles, SandboxOptions};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration or data: exit 64.
    #[error("{0}")]
    Config(String),
    /// Something else (a port in use, a file that cannot be written).
    #[error("{0}")]
    Io(String),
}

fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> StartError {
    StartError::Io(format!("{what}: {e}"))
}

/// Where the data comes from, so a reload reads it again.
pub struct DataSource {
    pub load: Box<dyn Fn() -> Result<DataFiles, String> + Send + Sync>,
    pub sandbox: SandboxFiles,
    /// What "now" is for offers: the system clock, except in tests and demonstrations.
    pub clock: Clock,
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataSource")
    }
}

/// The demonstration terminals of a fresh installation: id, profile, division, site.
pub const DEMO_TERMINALS: [(&str, &str, &str, &str); 3] = [
    ("STM-DEMO-0001", "stm-full", "440106", "gz-tianhe-24h"),
    ("STM-DEMO-0002", "stm-no-a4", "440304", "sz-futian-branch"),
    (
        "KIOSK-DEMO-0001",
        "village-kiosk",
        "440200",
        "sg-village-service-point",
    ),
];

/// What a running daemon tells its operator.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub tsp: SocketAddr,
    /// The ISO 8583 biller host, when enabled: address, and whether links use TLS.
    pub iso8583: Option<(SocketAddr, bool)>,
    /// Its binding (`gov-bill` or `cups-terminal`).
    pub iso8583_binding: &'static str,
    /// The second, cups-terminal listener, when configured.
    pub iso8583_terminals: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub platform: String,
    pub data_dir: PathBuf,
    pub journal: PathBuf,
    pub pki_dir: PathBuf,
    pub ca: PathBuf,
    pub registry: PathBuf,
    pub admin_token_file: Option<PathBuf>,
    pub development_pki: bool,
}

/// A running daemon.
pub struct Daemon {
    pub endpoints: Endpoints,
    gateway: Arc<TspGateway>,
    host: Option<Arc<HostGateway>>,
    journal: Arc<Journal>,
    store: Arc<SqliteStore>,
    stop_tsp: watch::Sender<bool>,
    stop_admin: watch::Sender<bool>,
    stop_sandbox: Option<tokio::sync::oneshot::Sender<()>>,
    platform: Arc<PlatformClient>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    drain: Duration,
    reload: Arc<dyn Fn() -> Result<usize, String> + Send + Sync>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|e| io(path.display(), e))
}

/// A secret from `value`, else from `file`, created there (random, owner-only) when missing.
fn secret_or_file(
    value: Option<&str>,
    file: &Path,
    make: impl FnOnce() -> String,
) -> Result<(String, Option<PathBuf>), StartError> {
    if let Some(v) = value {
        return Ok((v.to_owned(), None));
    }
    if file.exists() {
        return Ok((read(file)?.trim().to_owned(), Some(file.to_path_buf())));
    }
    let secret = make();
    write_private(file, &format!("{secret}\n")).map_err(|e| io(file.display(), e))?;
    Ok((secret, Some(file.to_path_buf())))
}

impl Daemon {
    /// Starts everything; returns once every listener is bound.
    pub async fn start(config: Config, source: DataSource) -> Result<Daemon, StartError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| io(data_dir.display(), e))?;
        let files = (source.load)().map_err(StartError::Config)?;
        let data =
            Arc::new(DataSet::load(&files).map_err(|p| StartError::Config(format!("data:\n{p}")))?);

        // Terminal registry: the configured file, or demonstration terminals on a fresh install.
        let registry_path = config.resolve(&config.registry.file);
        let fresh_registry = !registry_path.exists()
            && config.registry.file == crate::config::RegistrySection::default().file;
        if fresh_registry {
            std::fs::write(&registry_path, demo_registry())
                .map_err(|e| io(registry_path.display(), e))?;
        }
        let registry_text =
            read(&registry_path).map_err(|e| StartError::Config(format!("registry.file: {e}")))?;
        let registry = Arc::new(
            TerminalRegistry::load(&registry_path.display().to_string(), &registry_text, &data)
                .map_err(|e| StartError::Config(e.to_string()))?,
        );

        // TLS: configured certificates, or the development PKI.
        let pki_dir = config.resolve(&config.pki.dir);
        let development_pki = config.pki.server_cert.is_none();
        let (server_cert, server_key) = match (&config.pki.server_cert, &config.pki.server_key) {
            (Some(c), Some(k)) => (config.resolve(c), config.resolve(k)),
            _ => (pki_dir.join("server.pem"), pki_dir.join("server-key.pem")),
        };
        let ca_path = config
            .pki
            .terminal_ca
            .as_ref()
            .map_or_else(|| pki_dir.join("ca.pem"), |p| config.resolve(p));
        if development_pki || config.pki.terminal_ca.is_none() {
            let ca = DevCa::open_or_create(&pki_dir).map_err(|e| io("development PKI", e))?;
            if development_pki {
                let names: Vec<&str> = config.pki.server_names.iter().map(String::as_str).collect();
                ca.ensure(&server_cert, &server_key, |ca| ca.server(&names))
                    .map_err(|e| io("server certificate", e))?;
            }
            for terminal in registry.iter() {
                let dir = pki_dir.join("terminals");
                ca.ensure(
                    &dir.join(format!("{}.pem", terminal.id)),
                    &dir.join(format!("{}-key.pem", terminal.id)),
                    |ca| ca.terminal(&terminal.id),
                )
                .map_err(|e| io("terminal certificate", e))?;
            }
        }
        let tls = crate::tls::server_config(
            read(&server_cert)?.as_bytes(),
            read(&server_key)?.as_bytes(),
            read(&ca_path)?.as_bytes(),
        )
        .map_err(|e| StartError::Config(format!("pki: {e}")))?;

        // The journal.
        let (journal_key, _) = secret_or_file(
            config.journal.key.as_deref(),
            &config.resolve(&config.journal.key_file),
            FieldCipher::generate_hex,
        )?;
        let cipher = FieldCipher::from_hex(&journal_key)
            .map_err(|e| StartError::Config(format!("journal.key_file: {e}")))?;
        let journal_path = config.resolve(&config.journal.path);
        let store = Arc::new(
            SqliteStore::open(&journal_path)
                .await
                .map_err(|e| io("journal", e))?,
        );
        let journal = Arc::new(
            Journal::open(Arc::clone(&store) as Arc<dyn JournalStore>, cipher)
                .await
                .map_err(|e| io("journal", e))?,
        );

        // The platform.
        let mut tasks = Vec::new();
        let (client, platform, stop_sandbox) = match config.platform.mode {
            PlatformMode::Sandbox => {
                let (client, url, stop, task) =
                    start_sandbox(&config, Arc::clone(&data), &source.sandbox).await?;
                tasks.push(task);
                (client, format!("sandbox (in-process) at {url}"), Some(stop))
            }
            PlatformMode::Remote => {
                let client = remote_client(&config)?;
                let url = config.platform.base_url.clone().unwrap_or_default();
                (client, url, None)
            }
        };
        let client = Arc::new(client);

        // The TSP gateway.
        let metrics = Arc::new(Metrics::new().with_journal(journal.stats()));
        let sink = MeteredJournal::new(Arc::clone(&journal), Arc::clone(&metrics));
        let tsp_config = TspConfig {
            session: SessionConfig::default(),
            max_sessions_per_terminal: config.tsp.max_sessions_per_terminal,
            max_in_flight: config.tsp.max_in_flight,
            idle_timeout: Duration::from_secs(config.tsp.idle_timeout_seconds),
            platform_timeout: Duration::from_secs(config.tsp.platform_timeout_seconds),
            handshake_timeout: Duration::from_secs(config.tsp.handshake_timeout_seconds),
            clock: source.clock.clone(),
        };
        let gateway = TspGateway::new(
            Arc::clone(&data),
            Arc::clone(&registry),
            Arc::clone(&client) as Arc<dyn adapter_core::platform::PlatformApi>,
            Arc::new(sink),
            tsp_config,
        );
        let tsp_listener = tokio::net::TcpListener::bind(config.tsp.listen)
            .await
            .map_err(|e| io(format!("tsp.listen {}", config.tsp.listen), e))?;
        let tsp_addr = tsp_listener.local_addr().map_err(|e| io("tsp.listen", e))?;
        let (stop_tsp, tsp_stopped) = watch::channel(false);
        tasks.push(tokio::spawn(Arc::clone(&gateway).serve(
            tsp_listener,
            tls,
            tsp_stopped,
        )));

        // The ISO 8583 biller host, on the same journal and platform.
        let (host, iso8583, iso8583_terminals) = if config.iso8583.enabled {
            let (host, addr, tls, terminals) = start_host(
                &config,
                &server_cert,
                &server_key,
                Arc::new(MeteredPlatform::new(
                    Arc::clone(&client) as Arc<dyn adapter_core::platform::PlatformApi>,
                    Arc::clone(&metrics),
                )),
                Arc::new(MeteredJournal::new(
                    Arc::clone(&journal),
                    Arc::clone(&metrics),
                )),
                source.clock.clone(),
                store.as_ref(),
                stop_tsp.subscribe(),
                &mut tasks,
            )
            .await?;
            (Some(host), Some((addr, tls)), terminals)
        } else {
            (None, None, None)
        };

        // Reload: the same sources again, checked before anything is replaced.
        let reload_gateway = Arc::clone(&gateway);
        let load = source.load;
        let reload: Arc<dyn Fn() -> Result<usize, String> + Send + Sync> = Arc::new(move || {
            let files = load()?;
            let data = DataSet::load(&files).map_err(|p| p.to_string())?;
            let items = data.catalogue.items().len();
            reload_gateway.reload(Arc::new(data));
            Ok(items)
        });

        // The admin API.
        let token_file = config.resolve(&config.admin.token_file);
        let (token, admin_token_file) =
            secret_or_file(config.admin.token.as_deref(), &token_file, || {
                hex::encode(rand::random::<[u8; 24]>())
            })?;
        let admin_listener = tokio::net::TcpListener::bind(config.admin.listen)
            .await
            .map_err(|e| io(format!("admin.listen {}", config.admin.listen), e))?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|e| io("admin.listen", e))?;
        let (stop_admin, admin_stopped) = watch::channel(false);
        let state = AdminState::new(
            Arc::clone(&gateway),
            Arc::clone(&registry),
            Arc::clone(&journal),
            Arc::clone(&metrics),
            Arc::clone(&client),
            token,
            Arc::clone(&reload),
        );
        let state = match &host {
            Some(h) => state.with_host(Arc::clone(h)),
            None => state,
        };
        tasks.push(tokio::spawn(admin::serve(
            admin_listener,
            state,
            admin_stopped,
        )));

        let endpoints = Endpoints {
            tsp: tsp_addr,
            iso8583,
            iso8583_binding: Binding::from_dialect(&config.iso8583.dialect)
                .unwrap_or(Binding::GovBill)
                .name(),
            iso8583_terminals,
            admin: admin_addr,
            platform,
            data_dir,
            journal: journal_path,
            pki_dir,
            ca: ca_path,
            registry: registry_path,
            admin_token_file,
            development_pki,
        };
        tracing::info!(
            tsp = %endpoints.tsp,
            admin = %endpoints.admin,
            terminals = registry.len(),
            items = data.catalogue.items().len(),
            "stm-adapter started"
        );
        Ok(Daemon {
            endpoints,
            gateway,
            host,
            journal,
            store,
            stop_tsp,
            stop_admin,
            stop_sandbox,
            platform: Arc::clone(&client),
            tasks,
            drain: Duration::from_secs(config.tsp.drain_seconds),
            reload,
        })
    }

    /// The lines `serve` prints at start: where everything is.
    pub fn describe(&self) -> Vec<String> {
        let e = &self.endpoints;
        let terminals = e.iso8583_terminals.map(|addr| {
            let scheme = if matches!(e.iso8583, Some((_, true))) {
                "tls"
            } else {
                "tcp"
            };
            format!("  ISO 8583 (terminals) {scheme}://{addr}  (cups-terminal)")
        });
        let mut lines = vec![
            format!("stm-adapter {} serving", env!("CARGO_PKG_VERSION")),
            format!(
                "  TSP (terminals)   wss://{}{}",
                e.tsp,
                crate::gateway::tsp::PATH
            ),
            match e.iso8583 {
                Some((addr, true)) => {
                    format!("  ISO 8583 (switch) tls://{addr}  ({})", e.iso8583_binding)
                }
                Some((addr, false)) => format!(
                    "  ISO 8583 (switch) tcp://{addr}  ({}, plain TCP)",
                    e.iso8583_binding
                ),
                None => "  ISO 8583 (switch) disabled (iso8583.enabled = false)".to_owned(),
            },
        ];
        lines.extend(terminals);
        lines.extend([
            format!(
                "  admin             http://{}  (/healthz /readyz /metrics /v1/…)",
                e.admin
            ),
            format!("  platform          {}", e.platform),
            format!("  data directory    {}", e.data_dir.display()),
            format!("  journal           {}", e.journal.display()),
            format!("  terminal registry {}", e.registry.display()),
            format!("  terminal CA       {}", e.ca.display()),
        ]);
        if let Some(t) = &e.admin_token_file {
            lines.push(format!("  admin token       {}", t.display()));
        }
        if e.development_pki {
            lines.push(format!(
                "  DEVELOPMENT certificates in {} (terminal certificates in {}/terminals): \
                 replace them with your CA's via pki.server_cert, pki.server_key and \
                 pki.terminal_ca (docs/operations.md)",
                e.pki_dir.display(),
                e.pki_dir.display()
            ));
        }
        lines
    }

    /// Reloads the catalogue and the other data; sessions carry on.
    pub fn reload(&self) -> Result<usize, String> {
        (self.reload)()
    }

    /// The ISO 8583 biller host, when enabled.
    pub fn host(&self) -> Option<&Arc<HostGateway>> {
        self.host.as_ref()
    }

    pub fn gateway(&self) -> &Arc<TspGateway> {
        &self.gateway
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The client of the government platform the daemon calls (the in-process sandbox on the
    /// embedded defaults), for tests and tools that act at the platform beside the terminals.
    pub fn platform(&self) -> &Arc<PlatformClient> {
        &self.platform
    }

    /// Stops accepting, drains sessions up to the configured deadline, stops the admin API and
    /// the platform, and closes the journal with everything committed.
    pub async fn stop(mut self) {
        tracing::info!(
            sessions = self.gateway.session_count(),
            "stopping: draining sessions"
        );
        let _ = self.stop_tsp.send(true);
        self.gateway.drain(self.drain).await;
        if let Some(host) = &self.host {
            host.closed(Duration::from_secs(5)).await;
        }
        let _ = self.stop_admin.send(true);
        if let Some(stop) = self.stop_sandbox.take() {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(6), task).await;
        }
        // Every session has ended and its last records were acknowledged, hence committed.
        let records = self
            .journal
            .stats()
            .records
            .load(std::sync::atomic::Ordering::SeqCst);
        self.store.close().await;
        tracing::info!(records, "stm-adapter stopped; journal closed");
    }
}

fn demo_registry() -> String {
    let mut text = String::from(
        "# Terminals allowed to connect: the common name of a terminal's certificate is its id.\n\
         # Created by stm-adapter on first start with demonstration terminals, whose certificates\n\
         # are in pki/terminals/. Replace them with your own (docs/operations.md).\n",
    );
    for (id, profile, division, site) in DEMO_TERMINALS {
        text.push_str(&format!(
            "\n[[terminal]]\nid = \"{id}\"\nprofile = \"{profile}\"\ndivision = \"{division}\"\nsite = \"{site}\"\n"
        ));
    }
    text
}

async fn start_sandbox(
    config: &Config,
    data: Arc<DataSet>,
    files: &SandboxFiles,
) -> Result<
    (
        PlatformClient,
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ),
    StartError,
> {
    let today = time::OffsetDateTime::now_utc()
        .to_offset(adapter_core::calendar::CST)
        .date();
    let sandbox_data = SandboxData::load(files, today)
        .map_err(|p| StartError::Config(format!("sandbox data:\n{p}")))?;
    let app = sandbox_data
        .settings
        .apps
        .iter()
        .find(|a| a.answer_key.algorithm() == crate::platform::signing::Algorithm::HmacSha256)
        .cloned()
        .ok_or_else(|| StartError::Config("sandbox.toml registers no HMAC-SHA256 app".into()))?;
    let sandbox = Sandbox::new(data, &sandbox_data, SandboxOptions::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let (task, base, socket, shown) = match bind_sandbox().await? {
        #[cfg(target_os = "linux")]
        SandboxListener::Abstract { listener, path } => {
            let task = tokio::spawn(async move {
                let _ = sandbox.serve_unix(listener, shutdown).await;
            });
            let base = format!("http://localhost{}", crate::platform::wire::BASE_PATH);
            let name = path.to_string_lossy().trim_start_matches('\0').to_owned();
            let shown = format!("{base} on the abstract Unix socket @{name}");
            (task, base, Some(path), shown)
        }
        #[cfg(not(target_os = "linux"))]
        SandboxListener::Tcp(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|e| io("sandbox platform", e))?;
            let task = tokio::spawn(async move {
                let _ = sandbox.serve(listener, None, shutdown).await;
            });
            let base = format!("http://{addr}{}", crate::platform::wire::BASE_PATH);
            (task, base.clone(), None, base)
        }
    };
    let url = url::Url::parse(&base).map_err(|e| io("sandbox platform", e))?;
    let mut client_config = ClientConfig::new(
        url,
        app.id.clone(),
        app.answer_key.clone(),
        app.answer_key.verifier(),
    );
    client_config.unix_socket = socket;
    apply_client_settings(config, &mut client_config);
    let client =
        PlatformClient::new(client_config).map_err(|e| StartError::Config(e.to_string()))?;
    Ok((client, shown, stop, task))
}

/// Where the in-process platform listens.
enum SandboxListener {
    /// A Linux abstract Unix socket (its path is its name after a NUL byte, as tokio and the
    /// HTTP client take it): no file to leave behind when the daemon is killed, and a call
    /// costs the kernel less than over loopback TCP (the daemon's CPU per inquiry fell from
    /// 79 - 92 to 68 - 69 µs; docs/performance.md).
    #[cfg(target_os = "linux")]
    Abstract {
        listener: tokio::net::UnixListener,
        path: std::path::PathBuf,
    },
    /// A loopback port chosen by the system, where there are no abstract sockets.
    #[cfg(not(target_os = "linux"))]
    Tcp(tokio::net::TcpListener),
}

/// Binds the in-process platform's listener. Like the loopback port it replaces, the abstract
/// socket is reachable by local processes; the calls are HMAC-signed either way.
async fn bind_sandbox() -> Result<SandboxListener, StartError> {
    #[cfg(target_os = "linux")]
    {
        let path = std::path::PathBuf::from(format!(
            "\0stm-adapter-sandbox-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let listener =
            tokio::net::UnixListener::bind(&path).map_err(|e| io("sandbox platform socket", e))?;
        Ok(SandboxListener::Abstract { listener, path })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| io("sandbox platform", e))?;
        Ok(SandboxListener::Tcp(listener))
    }
}

fn apply_client_settings(config: &Config, c: &mut ClientConfig) {
    let p = &config.platform;
    c.call_timeout = Duration::from_millis(p.call_timeout_ms);
    c.deadline = Duration::from_millis(p.deadline_ms);
    c.retry = RetryPolicy {
        max_attempts: p.max_attempts,
        ..RetryPolicy::default()
    };
    c.breaker = BreakerPolicy {
        failure_threshold: p.breaker_failures,
        open_for: Duration::from_secs(p.breaker_open_seconds),
    };
    c.max_in_flight = p.max_in_flight;
}

/// The client of the platform at `platform.base_url`.
pub fn remote_client(config: &Config) -> Result<PlatformClient, StartError> {
    let p = &config.platform;
    let bad = |key: &str, e: &dyn std::fmt::Display| StartError::Config(format!("{key}: {e}"));
    let base = url::Url::parse(p.base_url.as_deref().unwrap_or_default())
        .map_err(|e| bad("platform.base_url", &e))?;
    let (signing, platform_key) = match p.signature.as_str() {
        "SM2-SM3" => {
            let file = p
                .sm2_private_key_file
                .as_ref()
                .map(|f| config.resolve(f))
                .unwrap_or_default();
            let key = SigningKey::sm2_hex(&read(&file)?)
                .map_err(|e| bad("platform.sm2_private_key_file", &e))?;
            let platform =
                VerifyingKey::sm2_hex(p.platform_public_key.as_deref().unwrap_or_default())
                    .map_err(|e| bad("platform.platform_public_key", &e))?;
            (key, platform)
        }
        _ => {
            let secret = match (&p.secret, &p.secret_file) {
                (Some(s), _) => s.clone(),
                (None, Some(f)) => read(&config.resolve(f))?.trim().to_owned(),
                (None, None) => String::new(),
            };
            let key =
                SigningKey::hmac(secret.as_bytes()).map_err(|e| bad("platform.secret", &e))?;
            let verifier = key.verifier();
            (key, verifier)
        }
    };
    let ca = read(
        &p.ca_file
            .as_ref()
            .map(|f| config.resolve(f))
            .unwrap_or_default(),
    )?;
    let identity = match (&p.client_cert, &p.client_key) {
        (Some(c), Some(k)) => Some((read(&config.resolve(c))?, read(&config.resolve(k))?)),
        _ => None,
    };
    let tls = crate::tls::client_config(
        ca.as_bytes(),
        identity.as_ref().map(|(c, k)| (c.as_bytes(), k.as_bytes())),
    )
    .map_err(|e| bad("platform.ca_file", &e))?;
    let mut c = ClientConfig::new(
        base,
        p.app_id.clone().unwrap_or_default(),
        signing,
        platform_key,
    );
    c.tls = Some(tls);
    apply_client_settings(config, &mut c);
    PlatformClient::new(c).map_err(|e| bad("platform", &e))
}

/// Binds the biller host's listener and starts it.
#[allow(clippy::too_many_arguments)]
async fn start_host(
    config: &Config,
    server_cert: &Path,
    server_key: &Path,
    platform: Arc<dyn adapter_core::platform::PlatformApi>,
    journal: Arc<dyn crate::journal::JournalSink>,
    clock: Clock,
    store: &dyn JournalStore,
    stop: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(Arc<HostGateway>, SocketAddr, bool, Option<SocketAddr>), StartError> {
    let section = &config.iso8583;
    // The payment book, from the journal: what store-and-forward must still finish.
    let reversal_window = Duration::from_secs(section.reversal_window_hours.saturating_mul(3600));
    let book = Book::load_within(store, reversal_window)
        .await
        .map_err(|e| io("journal", e))?;
    let dialect = |name: &str| match adapter_protocols::iso8583::builtin(name) {
        Some(Ok(d)) => Ok(d),
        _ => Err(StartError::Config(format!(
            "iso8583.dialect: no dialect {name:?}"
        ))),
    };
    let binding = Binding::from_dialect(&section.dialect).ok_or_else(|| {
        StartError::Config(format!(
            "iso8583.dialect: {:?} is not gov-bill or cups-terminal",
            section.dialect
        ))
    })?;
    let master_keys = if section.speaks_cups_terminal() {
        let path = config.resolve(&section.terminal_keys_file);
        let keys = MasterKeys::load(&path)
            .map_err(|e| StartError::Config(format!("iso8583.terminal_keys_file: {e}")))?;
        tracing::info!(terminals = keys.len(), "terminal master keys loaded");
        keys
    } else {
        MasterKeys::default()
    };
    let mac = match &section.mac_key_file {
        Some(file) => {
            let path = config.resolve(file);
            let text = read(&path)?;
            Some(
                adapter_protocols::iso8583::mac::MacKey::from_hex(&text)
                    .map_err(|e| StartError::Config(format!("iso8583.mac_key_file: {e}")))?,
            )
        }
        None => None,
    };
    let tls = match &section.client_ca {
        Some(ca) => Some(
            crate::tls::server_config(
                read(server_cert)?.as_bytes(),
                read(server_key)?.as_bytes(),
                read(&config.resolve(ca))?.as_bytes(),
            )
            .map_err(|e| StartError::Config(format!("iso8583.client_ca: {e}")))?,
        ),
        None => None,
    };
    let host = Arc::new(HostGateway::new(
        HostConfig {
            gov_bill: dialect("gov-bill")?,
            cups: dialect("cups-terminal")?,
            mac,
            master_keys: Arc::new(master_keys),
            idle_echo: Duration::from_secs(section.idle_echo_seconds),
            echo_timeout: Duration::from_secs(section.echo_timeout_seconds),
            platform_timeout: Duration::from_secs(config.tsp.platform_timeout_seconds),
            saf_expiry: Duration::from_secs(section.saf_expiry_hours.saturating_mul(3600)),
            reversal_window,
            clock,
        },
        platform,
        journal,
        book,
    ));
    let listener = tokio::net::TcpListener::bind(section.listen)
        .await
        .map_err(|e| io(format!("iso8583.listen {}", section.listen), e))?;
    let addr = listener.local_addr().map_err(|e| io("iso8583.listen", e))?;
    let with_tls = tls.is_some();
    let terminals = match section.terminal_listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| io(format!("iso8583.terminal_listen {at}"), e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| io("iso8583.terminal_listen", e))?;
            tasks.push(tokio::spawn(Arc::clone(&host).serve(
                listener,
                Binding::CupsTerminal,
                tls.clone(),
                stop.clone(),
            )));
            Some(addr)
        }
        None => None,
    };
    tasks.push(tokio::spawn(
        Arc::clone(&host).store_and_forward(stop.clone()),
    ));
    tasks.push(tokio::spawn(Arc::clone(&host).retire_settled(stop.clone())));
    tasks.push(tokio::spawn(
        Arc::clone(&host).serve(listener, binding, tls, stop),
    ));
    Ok((host, addr, with_tls, terminals))
}
