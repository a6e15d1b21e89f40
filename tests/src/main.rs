//! `stm-conformance`: the conformance kit. All the work is in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Conformance kit for stm-adapter deployments and terminal implementations.
#[derive(Debug, Parser)]
#[command(name = "stm-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks the ISO 8583 engine against golden vectors: each file's bytes must decode to its
    /// expected fields and encode back to the same bytes; each error vector must fail exactly as
    /// it says. Point --dir at your own captured frames to check a dialect against them.
    Vectors {
        /// Directory of vector files (errors/ inside it holds the error vectors).
        #[arg(long, default_value = "fixtures/vectors/iso8583")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Vectors { dir } => vectors(&dir),
    }
}

fn vectors(dir: &std::path::Path) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let outcomes = match adapter_conformance::vectors::run_dir(dir) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "stm-conformance: cannot read {}: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    for outcome in &outcomes {
        let _ = writeln!(out, "{outcome}");
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let _ = writeln!(
        out,
        "{} vectors, {} passed, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    );
    if failed == 0 && !outcomes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
