//! Command-line entry: parses arguments and dispatches to one module per command group.
//!
//! Exit codes: 0 success, 1 the input was refused (the command's answer is "no"), 2 a usage
//! error (unknown option, unknown dialect), 64 bad configuration (EX_USAGE, from the daemon
//! issues on).

mod calendar;
mod catalogue;
mod codec;
mod data;
mod sandbox;
mod serve;
mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// stm-adapter: bank smart teller machines and ATMs as endpoints for government services.
#[derive(Debug, Parser)]
#[command(name = "stm-adapter", version, about, long_about = None)]
struct Cli {
    /// A data directory (catalogue/, terminals/, calendars/, sites/) instead of the data shipped
    /// in the binary.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// ISO 8583 codec tools: list dialects, decode hex to JSON, encode JSON to hex.
    #[command(subcommand)]
    Codec(codec::CodecCommand),
    /// Checks an identifier: id-number, credit-code, licence-id, division, card-number,
    /// item-code. Exit 0 when valid, 1 when not.
    Validate {
        #[arg(value_enum)]
        kind: validate::Kind,
        value: String,
    },
    /// Working days, holidays and site opening hours.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// The service catalogue and the offer planner.
    #[command(subcommand)]
    Catalogue(catalogue::CatalogueCommand),
    /// The sandbox government-service platform on its own (docs/platform-api.md): plain HTTP
    /// unless --tls.
    Sandbox(sandbox::SandboxArgs),
    /// The daemon: terminates STM sessions (TSP over TLS), runs them against the platform,
    /// journals everything. With no configuration it runs on embedded defaults (docs/operations.md).
    Serve(serve::ConfigArgs),
    /// The daemon's configuration.
    #[command(subcommand)]
    Config(serve::ConfigCommand),
    /// The daemon's journal.
    #[command(subcommand)]
    Journal(serve::JournalCommand),
    /// Store-and-forward of bank-switch payments to the platform.
    #[command(subcommand)]
    Saf(serve::SafCommand),
    /// Compares the journal's bank-switch payments of a day with the platform's reconciliation
    /// report and lists every difference. Exit 0 when they agree, 1 when they do not.
    Reconcile(serve::ReconcileArgs),
}

#[derive(Debug, Subcommand)]
enum CalendarCommand {
    /// What a date is (weekday, weekend, holiday, make-up working day) and a site's windows.
    Day {
        /// YYYY-MM-DD
        date: String,
        /// A site id: its opening windows that day.
        #[arg(long)]
        site: Option<String>,
    },
}

/// Why a command failed, and with which exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input was refused (exit 1).
    Refused(String),
    /// The command was used wrongly (exit 2).
    Usage(String),
    /// The command printed its answer and exits with this code (validate: 1 for invalid).
    Silent(u8),
    /// The configuration is unusable (exit 64, EX_USAGE).
    Config(String),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let data = cli.data.as_deref();
    let result = match cli.command {
        Command::Codec(command) => codec::run(command),
        Command::Validate { kind, value } => validate::run(kind, &value),
        Command::Calendar(CalendarCommand::Day { date, site }) => {
            calendar::day(data, &date, site.as_deref())
        }
        Command::Catalogue(command) => catalogue::run(data, command),
        Command::Sandbox(args) => sandbox::run(data, args),
        Command::Serve(args) => serve::serve(data, args),
        Command::Config(command) => serve::config(command),
        Command::Journal(command) => serve::journal(command),
        Command::Saf(command) => serve::saf(command),
        Command::Reconcile(args) => serve::reconcile(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, text) = match failure {
                Failure::Refused(text) => (1, Some(text)),
                Failure::Usage(text) => (2, Some(text)),
                Failure::Silent(code) => (code, None),
                Failure::Config(text) => (64, Some(format!("configuration:\n{text}"))),
            };
            if let Some(text) = text {
                let _ = writeln!(std::io::stderr().lock(), "stm-adapter: {text}");
            }
            ExitCode::from(code)
        }
    }
}

/// Writes one line to stdout; a closed pipe is not an error worth a panic.
pub(crate) fn emit(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Refused(format!("cannot write to stdout: {e}")))
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_logging() {
    init_logging_with(crate::config::LogFormat::Pretty, "info");
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` if set, else by `level`.
pub(crate) fn init_logging_with(format: crate::config::LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Pretty => builder.try_init(),
    };
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
