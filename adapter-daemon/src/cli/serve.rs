//! `stm-adapter serve`, `stm-adapter config check`, `stm-adapter journal verify` and
//! `stm-adapter saf list`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::data::files;
use super::sandbox::sandbox_files;
use super::{Failure, emit};
use crate::config::Config;
use crate::daemon::{Daemon, DataSource, StartError};
use crate::journal::FieldCipher;
use crate::journal::sqlite::SqliteStore;

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The configuration file (TOML); environment overrides apply on top
    /// (STM_ADAPTER__SECTION__KEY).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the daemon keeps its state (journal, keys, development PKI); overrides data_dir.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Reads the configuration and the environment, checks everything, and prints the effective
    /// configuration with secrets redacted. Exit 64 on a problem, naming the key.
    Check(ConfigArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
    /// Walks the journal's hash chain: exit 0 when intact, 1 naming each edited, deleted or
    /// reordered record.
    Verify(ConfigArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SafCommand {
    /// The bank-switch payments store-and-forward still has to confirm or cancel at the
    /// platform, and those it left to an operator, read from the journal (the daemon may be
    /// running). One JSON object a line, then a summary line.
    List {
        #[command(flatten)]
        args: ConfigArgs,
        /// Every payment of the journal, settled ones too.
        #[arg(long)]
        all: bool,
    },
}

/// The journal's store, opened for reading beside a running daemon.
fn open_journal(config: &Config) -> Result<(PathBuf, tokio::runtime::Runtime), Failure> {
    let path = config.resolve(&config.journal.path);
    if !path.is_file() {
        return Err(Failure::Refused(format!(
            "no journal at {}",
            path.display()
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Refused(e.to_string()))?;
    Ok((path, runtime))
}

pub(crate) fn saf(command: SafCommand) -> Result<(), Failure> {
    let SafCommand::List { args, all } = command;
    let config = load_config(&args)?;
    let (path, runtime) = open_journal(&config)?;
    let book = runtime.block_on(async {
        let store = SqliteStore::open(&path)
            .await
            .map_err(|e| Failure::Refused(e.to_string()))?;
        use crate::gateway::iso8583::book::Book;
        // What is still to do is within the book a running daemon keeps; only `--all` needs
        // every payment ever approved.
        let window = std::time::Duration::from_secs(
            config.iso8583.reversal_window_hours.saturating_mul(3600),
        );
        let book = if all {
            Book::load(&store).await
        } else {
            Book::load_within(&store, window).await
        }
        .map_err(|e| Failure::Refused(e.to_string()));
        store.close().await;
        book
    })?;
    let payments = book.all();
    let (mut pending, mut stuck) = (0, 0);
    for p in &payments {
        let work = p.work();
        pending += usize::from(work.is_some());
        stuck += usize::from(p.stuck);
        if all || work.is_some() || p.stuck {
            let mut line = serde_json::to_value(p).unwrap_or_default();
            if let Some(o) = line.as_object_mut() {
                o.insert("state".into(), p.state().into());
                o.insert(
                    "work".into(),
                    serde_json::to_value(work).unwrap_or_default(),
                );
            }
            emit(&line.to_string())?;
        }
    }
    emit(
        &serde_json::json!({
            "journal": path.display().to_string(),
            "payments": payments.len(),
            "pending": pending,
            "stuck": stuck,
        })
        .to_string(),
    )
}

#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    #[command(flatten)]
    args: ConfigArgs,
    /// The business date, YYYY-MM-DD (China Standard Time).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: String,
}

/// `stm-adapter reconcile --date`: the journal's bank-switch payments of a day against the
/// platform's reconciliation report; every difference a JSON line, then a summary. Exit 0 when
/// they agree, 1 when they do not.
pub(crate) fn reconcile(command: ReconcileArgs) -> Result<(), Failure> {
    use crate::gateway::iso8583::{book::Book, reconcile};
    let date = time::Date::parse(
        &command.date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| Failure::Usage(format!("--date {:?} is not YYYY-MM-DD", command.date)))?;
    let date = date.to_string();
    let config = load_config(&command.args)?;
    if config.platform.mode == crate::config::PlatformMode::Sandbox {
        return Err(Failure::Refused(
            "platform.mode is \"sandbox\": the in-process sandbox lives and dies with the daemon, \
             so there is no report to reconcile against; configure platform.* for the platform \
             (docs/operations.md)"
                .into(),
        ));
    }
    let client = crate::daemon::remote_client(&config).map_err(|e| match e {
        StartError::Config(t) => Failure::Config(t),
        StartError::Io(t) => Failure::Refused(t),
    })?;
    let (path, runtime) = open_journal(&config)?;
    let (book, receipts, report) = runtime.block_on(async {
        let store = SqliteStore::open(&path)
            .await
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let book = Book::load(&store).await;
        let receipts = reconcile::terminal_receipts(&store).await;
        store.close().await;
        let book = book.map_err(|e| Failure::Refused(e.to_string()))?;
        let receipts = receipts.map_err(|e| Failure::Refused(e.to_string()))?;
        let report =
            adapter_core::platform::PlatformApi::reconciliation_report(&client, date.clone())
                .await
                .map_err(|e| Failure::Refused(format!("the platform's report: {e}")))?;
        Ok::<_, Failure>((book, receipts, report))
    })?;
    let payments = book.all();
    let differences = reconcile::compare(&date, &payments, &receipts, &report);
    for d in &differences {
        emit(&serde_json::to_string(d).unwrap_or_default())?;
    }
    emit(
        &serde_json::json!({
            "date": date,
            "journalPayments": payments.iter().filter(|p| p.business_date == date).count(),
            "platformPayments": report.payments.len(),
            "differences": differences.len(),
        })
        .to_string(),
    )?;
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Failure::Silent(1))
    }
}

fn load_config(args: &ConfigArgs) -> Result<Config, Failure> {
    let mut config =
        Config::load(args.config.as_deref(), None).map_err(|e| Failure::Config(e.to_string()))?;
    if let Some(dir) = &args.data_dir {
        config.data_dir.clone_from(dir);
    }
    Ok(config)
}

pub(crate) fn config(command: ConfigCommand) -> Result<(), Failure> {
    let ConfigCommand::Check(args) = command;
    let config = load_config(&args)?;
    for line in config.redacted().lines() {
        emit(line)?;
    }
    emit("# configuration OK")
}

pub(crate) fn journal(command: JournalCommand) -> Result<(), Failure> {
    let JournalCommand::Verify(args) = command;
    let config = load_config(&args)?;
    let (path, runtime) = open_journal(&config)?;
    let key = match &config.journal.key {
        Some(k) => k.clone(),
        None => {
            let file = config.resolve(&config.journal.key_file);
            std::fs::read_to_string(&file)
                .map_err(|e| Failure::Refused(format!("the journal key {}: {e}", file.display())))?
                .trim()
                .to_owned()
        }
    };
    let cipher =
        FieldCipher::from_hex(&key).map_err(|e| Failure::Config(format!("journal.key: {e}")))?;
    let report = runtime.block_on(async {
        let store = SqliteStore::open(&path)
            .await
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let report = crate::journal::verify::verify(&store, cipher.chain_key())
            .await
            .map_err(|e| Failure::Refused(e.to_string()));
        store.close().await;
        report
    })?;
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    emit(
        &serde_json::json!({
            "journal": path.display().to_string(),
            "records": report.records,
            "lastSeq": report.last_seq,
            "intact": report.is_intact(),
            "problems": problems,
        })
        .to_string(),
    )?;
    if report.is_intact() {
        Ok(())
    } else {
        Err(Failure::Silent(1))
    }
}

pub(crate) fn serve(data: Option<&Path>, args: ConfigArgs) -> Result<(), Failure> {
    let config = load_config(&args)?;
    super::init_logging_with(config.log.format, &config.log.level);
    let data_dir = data.map(Path::to_path_buf);
    let sandbox = sandbox_files(data)?;
    let source = DataSource {
        load: Box::new(move || {
            files(data_dir.as_deref()).map_err(|f| match f {
                Failure::Usage(t) | Failure::Refused(t) | Failure::Config(t) => t,
                Failure::Silent(_) => "data".to_owned(),
            })
        }),
        sandbox,
        clock: crate::gateway::tsp::system_clock(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Refused(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let daemon = Daemon::start(config, source).await.map_err(|e| match e {
            StartError::Config(t) => Failure::Config(t),
            StartError::Io(t) => Failure::Refused(t),
        })?;
        // The banner is for whoever started the daemon; a closed stdout does not stop it.
        for line in daemon.describe() {
            if emit(&line).is_err() {
                tracing::warn!("stdout is closed: the start-up banner was not printed");
                break;
            }
        }
        run_until_stopped(&daemon).await;
        daemon.stop().await;
        Ok(())
    })
}

/// Reloads on SIGHUP; returns on SIGTERM or Ctrl-C.
async fn run_until_stopped(daemon: &Daemon) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut hup), Ok(mut term)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
        ) else {
            super::shutdown_signal().await;
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => match daemon.reload() {
                    Ok(items) => tracing::info!(items, "SIGHUP: catalogue reloaded"),
                    Err(problems) => tracing::error!(%problems, "SIGHUP: reload refused, the old catalogue stays"),
                },
                _ = term.recv() => { tracing::info!("SIGTERM"); return; }
                _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted"); return; }
            }
        }
    }
    #[cfg(not(unix))]
    super::shutdown_signal().await;
}
