//! Command-line entry: parses arguments and dispatches to one module per command group.
//!
//! Exit codes: 0 success, 1 the input was refused (the command's answer is "no"), 2 a usage
//! error (unknown option, unknown dialect), 64 bad configuration (EX_USAGE, from the daemon
//! issues on).

mod codec;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// stm-adapter: bank smart teller machines and ATMs as endpoints for government services.
#[derive(Debug, Parser)]
#[command(name = "stm-adapter", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// ISO 8583 codec tools: list dialects, decode hex to JSON, encode JSON to hex.
    #[command(subcommand)]
    Codec(codec::CodecCommand),
}

/// Why a command failed, and with which exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input was refused (exit 1).
    Refused(String),
    /// The command was used wrongly (exit 2).
    Usage(String),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Codec(command) => codec::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, text) = match failure {
                Failure::Refused(text) => (1, text),
                Failure::Usage(text) => (2, text),
            };
            let _ = writeln!(std::io::stderr().lock(), "stm-adapter: {text}");
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
