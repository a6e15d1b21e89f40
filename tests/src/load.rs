//! `stm-conformance load`: drives STM sessions and ISO 8583 traffic at a daemon and measures what
//! it sustains — sessions per second, ISO 8583 transactions and payments per second, latency
//! percentiles from an HDR histogram, errors by kind, and the daemon's resident memory.
//!
//! - Each of `terminals` simulated STMs either runs sessions back to back (open, the public
//!   look-up 养老机构信息查询 with no identity, close) or, with `idle`, opens one session and holds
//!   it for the whole run.
//! - Each of `iso_links` gov-bill links signs on and keeps `window` requests in flight: notice
//!   inquiries, and payments of fresh load-test notices (the sandbox's `load_notices` range), in
//!   the proportion `payments`.
//!
//! Latency is request to answer on the ISO 8583 links, or (with no links) a whole session.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adapter_protocols::tsp::client::TerminalClient;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::sim::devices::{self, Devices};
use crate::sim::switch::GovBillSwitch;
use crate::sim::terminal::{Script, TerminalSim, session_open};
use crate::target::Target;

/// The item sessions run: a public look-up with no identity (Form, Confirm, Deliver, Rate).
pub const LOOK_UP: &str = "442004006000";

/// The first load-test notice (fixtures/sandbox/sandbox.toml, `load_notices`).
const LOAD_NOTICES: u128 = 44_010_026_990_000_000_000;

/// What to drive.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub terminals: usize,
    pub idle: bool,
    pub iso_links: usize,
    /// Requests in flight per link.
    pub window: usize,
    /// The share of payments among ISO 8583 requests, 0.0 to 1.0.
    pub payments: f64,
    /// ISO 8583 requests per second over all links; 0: as fast as answers come back.
    pub rate: f64,
    pub duration: Duration,
    /// The daemon's process id, to read its resident memory (when it runs on this machine).
    pub daemon_pid: Option<u32>,
    /// Worker threads of the runtime the generator runs on (for the report).
    pub generator_threads: usize,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// One answer in a thousand is slower: where a stall of the whole process shows first.
    pub p999: f64,
    pub max: f64,
}

/// The one JSON object `load` prints.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub sessions_per_s: f64,
    pub iso8583_tps: f64,
    pub payments_per_s: f64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    pub daemon_rss_mib: Option<f64>,
    /// The daemon's CPU time over the run (user + system, all threads), per ISO 8583 answer and
    /// in cores (when it runs on this machine): steadier than rates on a shared VM.
    pub daemon_cpu: Option<CpuUse>,
    /// The load generator's own CPU time, in cores.
    pub load_generator_cores: Option<f64>,
    /// What the daemon's journal did over the run, per ISO 8583 answer (admin /metrics).
    pub journal: Option<JournalUse>,
    /// What ran: for the record next to the figures.
    pub run: RunFacts,
}

/// A process's CPU time over the run.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    /// Cores busy on average (1.0: one core all the time).
    pub cores: f64,
    /// Microseconds of CPU per ISO 8583 answer (absent without ISO 8583 traffic).
    pub us_per_iso8583_answer: Option<f64>,
}

/// The journal's work over a run, per ISO 8583 answer: records written (store-and-forward's
/// included) and the transactions (each one fsync) they took; and the commits that took over
/// 10 and 100 ms — every answer waiting on such a commit waits that long, so they are where a
/// run's p99 and p999 come from when the disk stalls.
#[derive(Debug, Clone, Serialize)]
pub struct JournalUse {
    pub records_per_answer: f64,
    pub commits_per_answer: f64,
    /// Absent against a daemon without the commit histogram.
    pub commits_over_10ms: Option<f64>,
    pub commits_over_100ms: Option<f64>,
}

/// The journal's counts so far, from the daemon's admin /metrics.
#[derive(Debug, Clone, Copy)]
struct JournalCounts {
    records: f64,
    commits: f64,
    over_10ms: Option<f64>,
    over_100ms: Option<f64>,
}

async fn journal_counts(admin: Option<SocketAddr>) -> Option<JournalCounts> {
    let text = metrics_text(admin?).await?;
    let commits = metric_in(&text, "journal_commits")?;
    // Within the histogram, so that its count and buckets are of the same commits.
    let timed = metric_in(&text, "journal_commit_seconds_count");
    let over = |le: &str| {
        let within = metric_in(
            &text,
            &format!("journal_commit_seconds_bucket{{le=\"{le}\"}}"),
        )?;
        timed.map(|count| count - within)
    };
    Some(JournalCounts {
        records: metric_in(&text, "journal_records")?,
        commits,
        over_10ms: over("0.01"),
        over_100ms: over("0.1"),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    pub seconds: f64,
    pub terminals: usize,
    pub idle: bool,
    pub sessions_open_at_end: u64,
    pub iso_links: usize,
    pub window: usize,
    pub rate: f64,
    /// Worker threads of the load generator.
    pub generator_threads: usize,
    pub iso8583_answers: u64,
    pub payments_approved: u64,
    pub inquiries_answered: u64,
    /// Paced requests the window held past their time, timed from it (coordinated omission).
    pub requests_held_back: u64,
    /// Payments store-and-forward had still to confirm when the run ended (admin /metrics).
    pub saf_pending_at_end: Option<f64>,
}

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    open: AtomicU64,
    answers: AtomicU64,
    payments: AtomicU64,
    inquiries: AtomicU64,
    held_back: AtomicU64,
}

struct Shared {
    counters: Counters,
    errors: std::sync::Mutex<BTreeMap<String, u64>>,
    /// ISO 8583 request to answer.
    latency: Mutex<Histogram<u64>>,
    /// A whole look-up session.
    session_latency: Mutex<Histogram<u64>>,
    stop: AtomicBool,
}

impl Shared {
    fn error(&self, kind: impl Into<String>) {
        let mut e = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *e.entry(kind.into()).or_default() += 1;
    }

    async fn record(&self, histogram: &Mutex<Histogram<u64>>, since: Instant) {
        let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        histogram.lock().await.saturating_record(micros.max(1));
    }
}

/// The CPU time (user + system, every thread) process `pid` has used, from /proc/PID/stat
/// (`self` for this process). Linux counts it in ticks of 1/100 s (USER_HZ).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// Reads the resident memory of process `pid` (MiB) from /proc.
pub fn rss_mib(pid: u32) -> Option<f64> {
    adapter_daemon::metrics::resident_memory_of(&pid.to_string())
        .map(|bytes| bytes as f64 / 1024.0 / 1024.0)
}

/// A value of the daemon's admin /metrics (`stm_adapter_NAME`).
pub async fn metric(admin: SocketAddr, name: &str) -> Option<f64> {
    metric_in(&metrics_text(admin).await?, name)
}

/// The daemon's admin /metrics, as served.
async fn metrics_text(admin: SocketAddr) -> Option<String> {
    let mut tcp = tokio::net::TcpStream::connect(admin).await.ok()?;
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.ok()?;
    Some(text)
}

/// The value of series `stm_adapter_NAME` (labels included in NAME) in a /metrics text.
fn metric_in(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("stm_adapter_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))?
        .trim()
        .parse()
        .ok()
}

/// The daemon's resident memory from its admin /metrics.
pub async fn rss_from_metrics(admin: SocketAddr) -> Option<f64> {
    metric(admin, "resident_memory_bytes")
        .await
        .map(|b| b / 1024.0 / 1024.0)
}

/// Runs the load; `progress` gets a line a second.
pub async fn run(
    target: &Target,
    options: &LoadOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<LoadReport> {
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        errors: std::sync::Mutex::new(BTreeMap::new()),
        latency: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        session_latency: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        stop: AtomicBool::new(false),
    });
    let mut tasks = Vec::new();
    // Terminals first, so idle sessions are all open before the clock starts on the links.
    for t in 0..options.terminals {
        let config = target.terminal("STM-DEMO-0001")?;
        let shared = Arc::clone(&shared);
        let idle = options.idle;
        tasks.push(tokio::spawn(async move {
            // Spread the TLS handshakes over the first seconds.
            tokio::time::sleep(Duration::from_millis((t % 1000) as u64)).await;
            if idle {
                idle_terminal(config, &shared).await;
            } else {
                busy_terminal(config, &shared).await;
            }
        }));
    }
    if options.idle && options.terminals > 0 {
        let until = Instant::now() + Duration::from_secs(120);
        while shared.counters.open.load(Ordering::Relaxed) + error_count(&shared)
            < options.terminals as u64
            && Instant::now() < until
        {
            progress(&format!(
                "opening idle sessions: {} of {}",
                shared.counters.open.load(Ordering::Relaxed),
                options.terminals
            ));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let switch = target.switch;
    let per_link = if options.iso_links > 0 {
        options.rate / options.iso_links as f64
    } else {
        0.0
    };
    for link in 0..options.iso_links {
        let shared = Arc::clone(&shared);
        let window = options.window.max(1);
        let payments = options.payments;
        let Some(addr) = switch else { break };
        tasks.push(tokio::spawn(iso_link(
            addr, link, window, payments, per_link, shared,
        )));
    }
    let daemon_pid = options.daemon_pid.map(|p| p.to_string());
    let cpu_at_start = (
        daemon_pid.as_deref().and_then(cpu_seconds),
        cpu_seconds("self"),
    );
    let journal_at_start = journal_counts(target.admin).await;
    let started = Instant::now();
    let mut rss_max: Option<f64> = None;
    let mut last = (0u64, 0u64, 0u64);
    let mut tick = Instant::now();
    while started.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = match (options.daemon_pid, target.admin) {
            (Some(pid), _) => rss_mib(pid),
            (None, Some(admin)) => rss_from_metrics(admin).await,
            _ => None,
        };
        if let Some(r) = rss {
            rss_max = Some(rss_max.map_or(r, |m: f64| m.max(r)));
        }
        let c = &shared.counters;
        let now = (
            c.sessions.load(Ordering::Relaxed),
            c.answers.load(Ordering::Relaxed),
            c.payments.load(Ordering::Relaxed),
        );
        let secs = tick.elapsed().as_secs_f64().max(0.001);
        tick = Instant::now();
        let p99 = shared.latency.lock().await.value_at_quantile(0.99) as f64 / 1000.0;
        progress(&format!(
            "[{:>4.0} s] sessions {:.0}/s ({} open) · iso8583 {:.0}/s · payments {:.0}/s · p99 {p99:.1} ms · errors {} · daemon {}",
            started.elapsed().as_secs_f64(),
            (now.0 - last.0) as f64 / secs,
            c.open.load(Ordering::Relaxed),
            (now.1 - last.1) as f64 / secs,
            (now.2 - last.2) as f64 / secs,
            error_count(&shared),
            rss.map_or("?".into(), |r| format!("{r:.0} MiB")),
        ));
        last = now;
    }
    let seconds = started.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::SeqCst);
    let cpu_at_end = (
        daemon_pid.as_deref().and_then(cpu_seconds),
        cpu_seconds("self"),
    );
    let c = &shared.counters;
    let (sessions, answers, payments, inquiries, open) = (
        c.sessions.load(Ordering::Relaxed),
        c.answers.load(Ordering::Relaxed),
        c.payments.load(Ordering::Relaxed),
        c.inquiries.load(Ordering::Relaxed),
        c.open.load(Ordering::Relaxed),
    );
    for t in tasks {
        t.abort();
    }
    let saf_pending_at_end = match target.admin {
        Some(admin) => metric(admin, "saf_pending").await,
        None => None,
    };
    let journal = journal_at_start
        .zip(journal_counts(target.admin).await)
        .filter(|_| answers > 0)
        .map(|(start, end)| JournalUse {
            records_per_answer: hundredths((end.records - start.records) / answers as f64),
            commits_per_answer: hundredths((end.commits - start.commits) / answers as f64),
            commits_over_10ms: end.over_10ms.zip(start.over_10ms).map(|(e, s)| e - s),
            commits_over_100ms: end.over_100ms.zip(start.over_100ms).map(|(e, s)| e - s),
        });
    let iso = shared.latency.lock().await;
    let session = shared.session_latency.lock().await;
    let h = if iso.is_empty() { &*session } else { &*iso };
    // Microseconds to milliseconds with two decimals.
    let millis = |us: u64| (us as f64 / 10.0).round() / 100.0;
    let ms = |q: f64| millis(h.value_at_quantile(q));
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(LoadReport {
        sessions_per_s: round(sessions as f64 / seconds),
        iso8583_tps: round(answers as f64 / seconds),
        payments_per_s: round(payments as f64 / seconds),
        latency_ms: Latency {
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
            p999: ms(0.999),
            max: millis(h.max()),
        },
        errors,
        daemon_rss_mib: rss_max.map(round),
        daemon_cpu: cpu_at_start.0.zip(cpu_at_end.0).map(|(a, b)| CpuUse {
            cores: hundredths((b - a) / seconds),
            us_per_iso8583_answer: (answers > 0).then(|| round((b - a) * 1e6 / answers as f64)),
        }),
        load_generator_cores: cpu_at_start
            .1
            .zip(cpu_at_end.1)
            .map(|(a, b)| hundredths((b - a) / seconds)),
        journal,
        run: RunFacts {
            seconds: round(seconds),
            terminals: options.terminals,
            idle: options.idle,
            sessions_open_at_end: open,
            iso_links: options.iso_links,
            window: options.window,
            rate: options.rate,
            generator_threads: options.generator_threads,
            iso8583_answers: answers,
            payments_approved: payments,
            inquiries_answered: inquiries,
            requests_held_back: c.held_back.load(Ordering::Relaxed),
            saf_pending_at_end,
        },
    })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn error_count(shared: &Shared) -> u64 {
    shared
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .sum()
}

/// A terminal that opens one session and holds it.
async fn idle_terminal(config: adapter_protocols::tsp::client::ClientConfig, shared: &Shared) {
    let mut client = match TerminalClient::connect(config).await {
        Ok(c) => c,
        Err(e) => return shared.error(format!("tsp_connect: {}", kind(&e.to_string()))),
    };
    if let Err(e) = client
        .open(session_open(&crate::sim::terminal::FULL_STM))
        .await
    {
        return shared.error(format!("tsp_open: {}", kind(&e.to_string())));
    }
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    while !shared.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = client.close(None).await;
}

/// A terminal that runs look-up sessions back to back.
async fn busy_terminal(config: adapter_protocols::tsp::client::ClientConfig, shared: &Shared) {
    let Ok(citizen) = devices::citizen("440106198503151014") else {
        return shared.error("fixture citizen");
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let since = Instant::now();
        let mut sim = match TerminalSim::open(config.clone(), Devices::new(citizen.clone())).await {
            Ok(s) => s,
            Err(e) => {
                shared.error(format!("tsp_open: {}", kind(&format!("{e:#}"))));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        shared.counters.open.fetch_add(1, Ordering::Relaxed);
        let run = sim.run_item(LOOK_UP, &Script::default(), |_| {}).await;
        let _ = sim.close().await;
        shared.counters.open.fetch_sub(1, Ordering::Relaxed);
        match run {
            Ok(r) if r.outcome_name() == "Completed" => {
                shared.counters.sessions.fetch_add(1, Ordering::Relaxed);
                shared.record(&shared.session_latency, since).await;
            }
            Ok(r) => shared.error(format!("session_{}", r.outcome_name())),
            Err(e) => shared.error(format!("session: {}", kind(&format!("{e:#}")))),
        }
    }
}

/// An error message to group by: its first line, digits as `#`, at most 100 characters.
fn kind(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or(message)
        .trim()
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .take(100)
        .collect()
}

/// When a paced request's latency starts if the window held it back: at a set rate, a request
/// that waited for a free slot (answers late) past the time it was due is timed from when it
/// was due, not from when it could leave — otherwise a stall would delay the very requests
/// that measure it (coordinated omission). One the window did not hold is timed from its send,
/// so the generator's own timer and scheduling are not counted against the daemon.
fn held_back_since(due: Instant, now: Instant, waited_for_window: bool) -> Option<Instant> {
    (waited_for_window && now > due).then_some(due)
}

/// One gov-bill link with at most `window` requests in flight, sent as fast as answers come
/// back or, with `rate` (requests per second on this link), at that pace. A reading task
/// takes the answers, so latency is never the time a request waited to be read; at a set
/// rate, a request the full window held back is timed from when it was due.
async fn iso_link(
    addr: SocketAddr,
    link: usize,
    window: usize,
    payments: f64,
    rate: f64,
    shared: Arc<Shared>,
) {
    let mut switch = match GovBillSwitch::connect(addr).await {
        Ok(s) => s,
        Err(e) => return shared.error(format!("iso8583_connect: {}", kind(&format!("{e:#}")))),
    };
    switch.terminal = format!("LOAD{link:04}");
    match switch.sign_on().await {
        Ok(a) if a.code() == Some("00") => {}
        _ => return shared.error("iso8583_sign_on"),
    }
    let Some(mut reader) = switch.take_reader() else {
        return shared.error("iso8583_reader");
    };
    let sent: Arc<std::sync::Mutex<HashMap<String, (Instant, bool)>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(window.max(1)));
    let reading = {
        let (sent, slots, shared) = (Arc::clone(&sent), Arc::clone(&slots), Arc::clone(&shared));
        tokio::spawn(async move {
            loop {
                let answer = match reader.recv_within(Duration::from_secs(30)).await {
                    Ok(Some(a)) => a,
                    // The run ending closes the link: not the daemon's error.
                    _ if shared.stop.load(Ordering::Relaxed) => return,
                    Ok(None) => return shared.error("iso8583_closed"),
                    Err(_) => return shared.error("iso8583_timeout"),
                };
                let stan = answer.text(11).unwrap_or_default().to_owned();
                let request = sent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&stan);
                let Some((since, pay)) = request else {
                    shared.error("iso8583_unmatched");
                    continue;
                };
                slots.add_permits(1);
                shared.record(&shared.latency, since).await;
                shared.counters.answers.fetch_add(1, Ordering::Relaxed);
                match answer.code() {
                    Some("00") if pay => {
                        shared.counters.payments.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("00") => {
                        shared.counters.inquiries.fetch_add(1, Ordering::Relaxed);
                    }
                    other => shared.error(format!(
                        "de39_{}_{}",
                        other.unwrap_or("none"),
                        if pay { "payment" } else { "inquiry" }
                    )),
                }
            }
        })
    };
    // Notices: link `link` pays its own slice of a million of the load-test range; inquiries
    // ask about the last million, which nobody pays.
    let mut next_notice = LOAD_NOTICES + (link as u128) * 1_000_000;
    let mut rng_state = 0x9E37_79B9_7F4A_7C15u64 ^ (link as u64);
    let mut draw = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        (rng_state >> 11) as f64 / (1u64 << 53) as f64
    };
    let started = tokio::time::Instant::now();
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) && !reading.is_finished() {
        let (permit, waited) = match slots.try_acquire() {
            Ok(permit) => (permit, false),
            Err(_) => match slots.acquire().await {
                Ok(permit) => (permit, true),
                Err(_) => break,
            },
        };
        permit.forget();
        let mut held_since = None;
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(n as f64 / rate);
            held_since = held_back_since(due.into_std(), Instant::now(), waited);
            tokio::time::sleep_until(due).await;
        }
        n += 1;
        let pay = draw() < payments;
        let notice = if pay {
            next_notice += 1;
            next_notice
        } else {
            LOAD_NOTICES + 99_000_000 + (draw() * 1_000_000.0) as u128
        };
        let m = if pay {
            switch.financial("500000", &notice.to_string(), Some(100))
        } else {
            switch.financial("380000", &notice.to_string(), None)
        };
        let Ok(m) = m else {
            return shared.error("iso8583_build");
        };
        let stan = m.text(11).unwrap_or_default().to_owned();
        sent.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(stan, (held_since.unwrap_or_else(Instant::now), pay));
        if switch.send(&m).await.is_err() && !shared.stop.load(Ordering::Relaxed) {
            return shared.error("iso8583_closed");
        }
    }
    reading.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_the_window_held_past_its_time_is_timed_from_its_time() {
        let due = Instant::now();
        let later = due + Duration::from_millis(40);
        assert_eq!(held_back_since(due, later, true), Some(due));
        // Sent on time, or late for the generator's own reasons: timed from the send.
        assert_eq!(held_back_since(due, later, false), None);
        assert_eq!(held_back_since(later, due, true), None);
    }
}
