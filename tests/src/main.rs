//! `stm-conformance`: the conformance kit. All the work is in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use adapter_conformance::load::LoadOptions;
use adapter_conformance::report;
use adapter_conformance::run::{RunNumber, RunOptions, Status};
use adapter_conformance::scenario;
use adapter_conformance::target::Target;
use clap::{Parser, Subcommand};

/// The daemon's allocator (docs/decisions/0005-allocator.md): the load generator shares the box
/// with the daemon it measures, so it should take as little of it as it can.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Conformance kit for stm-adapter deployments and terminal implementations.
#[derive(Debug, Parser)]
#[command(name = "stm-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which daemon to run against.
#[derive(Debug, Clone, clap::Args)]
struct TargetArgs {
    /// `local`: the daemon `stm-adapter serve` runs in this directory (./data/pki, TSP on
    /// 127.0.0.1:7443, ISO 8583 on 127.0.0.1:7583); `wss://HOST:PORT`: a daemon there (with
    /// --pki and --switch). Without it, a daemon is started in-process on the embedded defaults.
    #[arg(long)]
    target: Option<String>,
    /// The deployment's PKI directory (ca.pem, terminals/ID.pem, terminals/ID-key.pem).
    #[arg(long)]
    pki: Option<PathBuf>,
    /// The deployment's gov-bill listener, for a wss:// target (default: its host, 7583).
    #[arg(long)]
    switch: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Certifies a deployment: plays its terminals and its bank switch through the scenario
    /// suites (fixtures/conformance), prints each case as it ends, writes a Markdown report and
    /// JUnit XML, and exits non-zero if any case failed.
    Run {
        #[command(flatten)]
        target: TargetArgs,
        /// Only this suite (stm, security, gov-bill, cups-terminal).
        #[arg(long)]
        suite: Option<String>,
        /// Run the suites of these files (TOML, docs/conformance.md) instead of the shipped ones.
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write the Markdown report here.
        #[arg(long, default_value = "stm-conformance-report.md")]
        report: PathBuf,
        /// Where the simulated printers save what they print.
        #[arg(long, default_value = "stm-conformance-prints")]
        prints: PathBuf,
    },
    /// Certifies a terminal implementation: the kit plays the daemon (an in-process daemon behind
    /// it), the terminal under test connects and walks through the checklist it prints, and the
    /// report says what the terminal covered and every message it got wrong.
    CertifyTerminal {
        /// Where the terminal under test connects (TLS + WebSocket, /tsp/v1).
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: std::net::SocketAddr,
        /// Where the daemon keeps its PKI and journal: the terminal's certificates stay the same
        /// from one run to the next.
        #[arg(long, default_value = "stm-conformance-daemon")]
        dir: PathBuf,
        /// The terminal id the terminal under test presents (its certificate is in DIR).
        #[arg(long, default_value = "STM-DEMO-0001")]
        terminal: String,
        /// The run ends when the terminal has closed this many sessions …
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        /// … or after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write the Markdown report here.
        #[arg(long, default_value = "stm-conformance-terminal-report.md")]
        report: PathBuf,
    },
    /// One end-to-end run a person can follow: an STM session (a certificate printed on A4, a
    /// certificate item with a fee paid by card) and a bank switch's payment and reversal.
    Demo {
        #[command(flatten)]
        target: TargetArgs,
        /// Where the simulated printers save what they print.
        #[arg(long, default_value = "stm-conformance-prints")]
        prints: PathBuf,
    },
    /// Drives STM sessions and ISO 8583 traffic at a daemon with a progress line on stderr, then
    /// prints one JSON object on stdout: sessions_per_s, iso8583_tps, payments_per_s,
    /// latency_ms {p50, p95, p99, p999, max}, errors {KIND: count}, daemon_rss_mib. Without
    /// --target it starts `stm-adapter serve` (the binary beside this one) in a temporary
    /// directory.
    Load {
        #[command(flatten)]
        target: TargetArgs,
        /// Simulated STMs.
        #[arg(long, default_value_t = 0)]
        terminals: usize,
        /// The terminals open one session each and hold it (instead of running sessions).
        #[arg(long)]
        idle: bool,
        /// Bank-switch links.
        #[arg(long, default_value_t = 0)]
        iso_links: usize,
        /// Requests in flight per link.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Share of payments among ISO 8583 requests (the rest are notice inquiries).
        #[arg(long, default_value_t = 0.5)]
        payments: f64,
        /// ISO 8583 requests per second over all links (0: as fast as answers come back).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Seconds to run.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Threads of the load generator. One by default: on a box shared with the daemon,
        /// every thread of ours is one more to wait for a core beside the daemon's.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
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
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Vectors { dir } => vectors(&dir),
        Command::Run {
            target,
            suite,
            files,
            junit,
            report,
            prints,
        } => match runtime() {
            Ok(r) => r.block_on(run(RunArgs {
                target,
                suite,
                files,
                junit,
                report,
                prints,
            })),
            Err(e) => fail(&format!("cannot start the runtime: {e}")),
        },
        Command::Load {
            target,
            terminals,
            idle,
            iso_links,
            window,
            payments,
            rate,
            duration,
            threads,
        } => {
            let options = LoadOptions {
                terminals,
                idle,
                iso_links,
                window,
                payments: payments.clamp(0.0, 1.0),
                rate: rate.max(0.0),
                duration: std::time::Duration::from_secs(duration.max(1)),
                daemon_pid: None,
                generator_threads: threads.max(1),
            };
            let generator = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.generator_threads)
                .enable_all()
                .build();
            match generator {
                Ok(r) => r.block_on(load(&target, options)),
                Err(e) => fail(&format!("cannot start the runtime: {e}")),
            }
        }
        Command::CertifyTerminal {
            listen,
            dir,
            terminal,
            sessions,
            timeout,
            junit,
            report,
        } => match runtime() {
            Ok(r) => r.block_on(certify_terminal(
                listen, &dir, &terminal, sessions, timeout, junit, report,
            )),
            Err(e) => fail(&format!("cannot start the runtime: {e}")),
        },
        Command::Demo { target, prints } => match runtime() {
            Ok(r) => r.block_on(demo(&target, &prints)),
            Err(e) => fail(&format!("cannot start the runtime: {e}")),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "stm-conformance: {message}");
    ExitCode::from(2)
}

struct RunArgs {
    target: TargetArgs,
    suite: Option<String>,
    files: Vec<PathBuf>,
    junit: Option<PathBuf>,
    report: PathBuf,
    prints: PathBuf,
}

/// Resolves `--target` into a [`Target`].
async fn target(args: &TargetArgs) -> anyhow::Result<Target> {
    use anyhow::Context as _;
    let here = std::env::current_dir()?;
    match args.target.as_deref() {
        None => Target::in_process().await,
        Some("local") => {
            let mut t = Target::deployment(
                &format!("local: stm-adapter serve in {}", here.display()),
                &here,
                "127.0.0.1:7443".parse()?,
                "127.0.0.1:7583".parse()?,
            );
            if let Some(pki) = &args.pki {
                t.pki.clone_from(pki);
            }
            Ok(t)
        }
        Some(url) => {
            let rest = url
                .strip_prefix("wss://")
                .with_context(|| format!("--target {url:?}: give `local` or wss://HOST:PORT"))?;
            let authority = rest.split('/').next().unwrap_or(rest);
            let tsp = tokio::net::lookup_host(authority)
                .await?
                .next()
                .with_context(|| format!("{authority}: no address"))?;
            let switch = match &args.switch {
                Some(s) => tokio::net::lookup_host(s.as_str())
                    .await?
                    .next()
                    .with_context(|| format!("{s}: no address"))?,
                None => std::net::SocketAddr::new(tsp.ip(), 7583),
            };
            let mut t = Target::deployment(url, &here, tsp, switch);
            t.pki = args.pki.clone().unwrap_or_else(|| here.join("data/pki"));
            Ok(t)
        }
    }
}

async fn load(args: &TargetArgs, mut options: LoadOptions) -> ExitCode {
    // Without a target, a daemon of its own: every terminal uses the demonstration terminal's
    // certificate, so it may hold as many sessions as the run opens.
    let sessions = (options.terminals * 4 + 16).to_string();
    let spawned = if args.target.is_none() {
        let started = adapter_conformance::spawn::daemon_binary().and_then(|bin| {
            adapter_conformance::spawn::SpawnedDaemon::start(
                &bin,
                &[
                    (
                        "STM_ADAPTER__TSP__MAX_SESSIONS_PER_TERMINAL",
                        sessions.as_str(),
                    ),
                    ("STM_ADAPTER__TSP__IDLE_TIMEOUT_SECONDS", "3600"),
                ],
            )
        });
        match started {
            Ok(d) => Some(d),
            Err(e) => return fail(&format!("{e:#}")),
        }
    } else {
        None
    };
    let target = match &spawned {
        Some(d) => {
            options.daemon_pid = Some(d.pid());
            d.target()
        }
        None => match target(args).await {
            Ok(t) => t,
            Err(e) => return fail(&format!("target: {e:#}")),
        },
    };
    let _ = writeln!(
        std::io::stderr(),
        "stm-conformance load against {}: {} terminals{}, {} links × {} in flight, {:.0} % payments, {} s",
        target.label,
        options.terminals,
        if options.idle { " (idle)" } else { "" },
        options.iso_links,
        options.window,
        options.payments * 100.0,
        options.duration.as_secs()
    );
    let result = adapter_conformance::load::run(&target, &options, &mut |line| {
        let _ = writeln!(std::io::stderr(), "{line}");
    })
    .await;
    drop(spawned);
    match result {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                let _ = writeln!(std::io::stdout(), "{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Err(e) => fail(&format!("{e:#}")),
    }
}

async fn certify_terminal(
    listen: std::net::SocketAddr,
    dir: &std::path::Path,
    terminal: &str,
    sessions: usize,
    timeout: u64,
    junit: Option<PathBuf>,
    report_file: PathBuf,
) -> ExitCode {
    use adapter_conformance::certify::{Certification, instructions};
    let started = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let run = match Certification::start(listen, dir).await {
        Ok(c) => c,
        Err(e) => return fail(&format!("{e:#}")),
    };
    for line in instructions(&run, terminal) {
        let _ = writeln!(std::io::stdout(), "{line}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut last = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let closed = run.sessions_closed();
        if closed != last {
            let _ = writeln!(std::io::stdout(), "sessions closed: {closed} of {sessions}");
            last = closed;
        }
        if closed >= sessions || std::time::Instant::now() >= deadline {
            break;
        }
    }
    let listen = run.listen;
    let results = run.finish().await;
    let t = report::totals(&results);
    for r in &results {
        let (word, why) = match &r.status {
            Status::Passed => ("pass", String::new()),
            Status::Failed(why) => ("FAIL", format!(" — {why}")),
            Status::Skipped(why) => ("skip", format!(" — {why}")),
        };
        let _ = writeln!(std::io::stdout(), "{word} {}{why}", r.name);
    }
    let label = format!("terminal {terminal} against the kit at wss://{listen}/tsp/v1");
    if let Err(e) = std::fs::write(&report_file, report::markdown(&label, &started, &results)) {
        return fail(&format!("{}: {e}", report_file.display()));
    }
    if let Some(junit) = &junit
        && let Err(e) = std::fs::write(junit, report::junit(&results))
    {
        return fail(&format!("{}: {e}", junit.display()));
    }
    let _ = writeln!(
        std::io::stdout(),
        "{} passed, {} failed; report {}",
        t.passed,
        t.failed,
        report_file.display()
    );
    if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn demo(args: &TargetArgs, prints: &std::path::Path) -> ExitCode {
    let target = match target(args).await {
        Ok(t) => t,
        Err(e) => return fail(&format!("target: {e:#}")),
    };
    let result = {
        let mut out = std::io::stdout().lock();
        adapter_conformance::demo::demo(&target, &mut out, prints).await
    };
    target.stop().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "stm-conformance demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let suites = if args.files.is_empty() {
        scenario::shipped(args.suite.as_deref())
    } else {
        args.files.iter().map(|f| scenario::load(f)).collect()
    };
    let suites = match suites {
        Ok(s) => s,
        Err(e) => return fail(&format!("{e:#}")),
    };
    let target = match target(&args.target).await {
        Ok(t) => t,
        Err(e) => return fail(&format!("target: {e:#}")),
    };
    let started = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let options = RunOptions {
        print_dir: args.prints.clone(),
        run_number: RunNumber::fresh(),
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "stm-conformance: {total} cases against {}, run {}",
            target.label, options.run_number
        );
    }
    let results = adapter_conformance::run::run(&target, &suites, &options, &mut |r, i, n| {
        let (word, why) = match &r.status {
            Status::Passed => ("pass", String::new()),
            Status::Failed(why) => ("FAIL", format!("\n          {why}")),
            Status::Skipped(why) => ("skip", format!(" ({why})")),
        };
        let _ = writeln!(
            std::io::stdout().lock(),
            "[{i:>3}/{n}] {word} {:<14} {} ({:.2} s){why}",
            r.suite,
            r.name,
            r.seconds
        );
    })
    .await;
    let label = format!("{}, run {}", target.label, options.run_number);
    target.stop().await;
    let t = report::totals(&results);
    let markdown = report::markdown(&label, &started, &results);
    if let Err(e) = std::fs::write(&args.report, markdown) {
        return fail(&format!("{}: {e}", args.report.display()));
    }
    if let Some(junit) = &args.junit
        && let Err(e) = std::fs::write(junit, report::junit(&results))
    {
        return fail(&format!("{}: {e}", junit.display()));
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "{} passed, {} failed, {} skipped; report {}{}",
        t.passed,
        t.failed,
        t.skipped,
        args.report.display(),
        args.junit
            .as_ref()
            .map(|j| format!(", JUnit {}", j.display()))
            .unwrap_or_default()
    );
    if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
