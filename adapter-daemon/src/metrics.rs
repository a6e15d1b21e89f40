//! Prometheus metrics (`/metrics` on the admin port), all prefixed `stm_adapter_`.
//!
//! Counters come from the journal stream ([`MeteredJournal`] sees every record on its way to
//! the journal: sessions, steps, item outcomes, platform calls with their latency and error
//! class); gauges are read at scrape time (live sessions, journal queue and commit time, open
//! circuit breakers).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use adapter_core::session::JournalEntry;
use async_trait::async_trait;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::journal::{
    Earlier, JournalError, JournalEvent, JournalRecord, JournalSink, JournalStats, Receipt,
};

type Labels = Vec<(String, String)>;

#[derive(Debug, Clone)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        // 5 ms to ~20 s.
        Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
        ])
    }
}

/// The daemon's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sessions_opened: Counter,
    sessions_resumed: Counter,
    sessions_ended: Counter,
    sessions_active: Gauge,
    steps: Family<Labels, Counter>,
    items_started: Counter,
    items_ended: Family<Labels, Counter>,
    payments: Family<Labels, Counter>,
    platform_latency: Family<Labels, Histogram, LatencyBuckets>,
    platform_errors: Family<Labels, Counter>,
    journal_records: Gauge,
    journal_commits: Gauge,
    journal_queued: Gauge,
    journal_last_commit_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    journal_failures: Gauge,
    breakers_open: Gauge,
    iso8583_links: Counter,
    iso8583_messages: Family<Labels, Counter>,
    saf_pending: Gauge,
    saf_stuck: Gauge,
    book_payments: Gauge,
    resident_memory: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stm_adapter");
        let m = Metrics {
            sessions_opened: Counter::default(),
            sessions_resumed: Counter::default(),
            sessions_ended: Counter::default(),
            sessions_active: Gauge::default(),
            steps: Family::default(),
            items_started: Counter::default(),
            items_ended: Family::default(),
            payments: Family::default(),
            platform_latency: Family::new_with_constructor(LatencyBuckets),
            platform_errors: Family::default(),
            journal_records: Gauge::default(),
            journal_commits: Gauge::default(),
            journal_queued: Gauge::default(),
            journal_last_commit_seconds: Gauge::default(),
            journal_failures: Gauge::default(),
            iso8583_links: Counter::default(),
            iso8583_messages: Family::default(),
            saf_pending: Gauge::default(),
            saf_stuck: Gauge::default(),
            book_payments: Gauge::default(),
            resident_memory: Gauge::default(),
            breakers_open: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sessions_opened",
            "TSP sessions opened",
            m.sessions_opened.clone(),
        );
        registry.register(
            "sessions_resumed",
            "TSP sessions resumed after a reconnect",
            m.sessions_resumed.clone(),
        );
        registry.register(
            "sessions_ended",
            "TSP sessions ended",
            m.sessions_ended.clone(),
        );
        registry.register(
            "sessions_active",
            "TSP sessions live now",
            m.sessions_active.clone(),
        );
        registry.register(
            "steps",
            "Flow steps sent to terminals and completed, by step and completion code",
            m.steps.clone(),
        );
        registry.register(
            "items_started",
            "Government service items started",
            m.items_started.clone(),
        );
        registry.register(
            "items_ended",
            "Items ended, by outcome",
            m.items_ended.clone(),
        );
        registry.register("payments", "Payment events, by kind", m.payments.clone());
        registry.register(
            "platform_call_seconds",
            "Platform call latency, retries included, by call",
            m.platform_latency.clone(),
        );
        registry.register(
            "platform_errors",
            "Failed platform calls, by call and error class",
            m.platform_errors.clone(),
        );
        registry.register(
            "journal_records",
            "Records committed to the journal since start",
            m.journal_records.clone(),
        );
        registry.register(
            "journal_commits",
            "Journal transactions committed since start (records share them: group commit)",
            m.journal_commits.clone(),
        );
        registry.register(
            "journal_queued",
            "Records handed to the journal and not yet committed (journal lag)",
            m.journal_queued.clone(),
        );
        registry.register(
            "journal_last_commit_seconds",
            "Duration of the last journal commit",
            m.journal_last_commit_seconds.clone(),
        );
        registry.register(
            "journal_commit_failures",
            "Journal commits that failed since start",
            m.journal_failures.clone(),
        );
        registry.register(
            "platform_breakers_open",
            "Platform operations whose circuit breaker is open",
            m.breakers_open.clone(),
        );
        registry.register(
            "iso8583_links_opened",
            "Bank-switch links opened",
            m.iso8583_links.clone(),
        );
        registry.register(
            "iso8583_messages",
            "ISO 8583 messages, by direction, MTI and response code",
            m.iso8583_messages.clone(),
        );
        registry.register(
            "saf_pending",
            "Bank-switch payments store-and-forward still has to confirm or cancel at the platform",
            m.saf_pending.clone(),
        );
        registry.register(
            "saf_stuck",
            "Bank-switch payments store-and-forward left to an operator (stm-adapter saf list)",
            m.saf_stuck.clone(),
        );
        registry.register(
            "iso8583_book_payments",
            "Bank-switch payments the biller host holds in memory: those within their reversal window, and older ones not yet settled",
            m.book_payments.clone(),
        );
        registry.register(
            "resident_memory_bytes",
            "Resident memory of the daemon's process (Linux: VmRSS), read at each scrape",
            m.resident_memory.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Adds the journal's own histogram of commit durations
    /// (`stm_adapter_journal_commit_seconds`), which its writer fills.
    pub fn with_journal(mut self, journal: &JournalStats) -> Metrics {
        self.registry.register(
            "journal_commit_seconds",
            "Duration of each journal commit, its fsync included (an answer waits for one)",
            journal.commit_seconds.clone(),
        );
        self
    }

    /// Counts what a journal record says happened.
    pub fn observe(&self, record: &JournalRecord) {
        match &record.event {
            JournalEvent::SessionOpened { .. } => {
                self.sessions_opened.inc();
            }
            JournalEvent::SessionResumed => {
                self.sessions_resumed.inc();
            }
            JournalEvent::SessionEnded => {
                self.sessions_ended.inc();
            }
            JournalEvent::LinkOpened { .. } => {
                self.iso8583_links.inc();
            }
            JournalEvent::LinkClosed { .. } => {}
            JournalEvent::Bill(event) => {
                use crate::gateway::iso8583::book::BillEvent as B;
                match event {
                    B::Approved { .. } => self.payment("bill_approved"),
                    B::Confirming { .. } => {}
                    B::Confirmed { .. } => self.payment("bill_confirmed"),
                    B::Failed { fatal: true, .. } => self.payment("bill_stuck"),
                    B::Failed { .. } => self.payment("bill_retry"),
                    B::Reversed { .. } => self.payment("bill_reversed"),
                    B::Cancelled { .. } => self.payment("bill_cancelled"),
                }
            }
            JournalEvent::Iso8583In(m) => self.iso8583_message("in", m),
            JournalEvent::Iso8583Out(m) => self.iso8583_message("out", m),
            JournalEvent::Iso8583Exchange { request, answer } => {
                self.iso8583_message("in", request);
                self.iso8583_message("out", answer);
            }
            JournalEvent::PlatformCall {
                call,
                millis,
                error,
            } => self.platform_call_seconds(
                call,
                *millis as f64 / 1000.0,
                error.as_ref().map(|(class, _)| class.as_str()),
            ),
            JournalEvent::Engine(entry) => match entry {
                JournalEntry::StepSent { step, .. } => {
                    self.steps
                        .get_or_create(&labels(&[
                            ("step", format!("{step:?}")),
                            ("code", "sent".into()),
                        ]))
                        .inc();
                }
                JournalEntry::StepCompleted { step, code, .. } => {
                    self.steps
                        .get_or_create(&labels(&[
                            ("step", format!("{step:?}")),
                            ("code", format!("{code:?}")),
                        ]))
                        .inc();
                }
                JournalEntry::ItemStarted { .. } => {
                    self.items_started.inc();
                }
                JournalEntry::ItemEnded { outcome, .. } => {
                    self.items_ended
                        .get_or_create(&labels(&[("outcome", format!("{outcome:?}"))]))
                        .inc();
                }
                JournalEntry::PaymentTaken { .. } => self.payment("taken"),
                JournalEntry::PaymentConfirmed { .. } => self.payment("confirmed"),
                JournalEntry::ConfirmationDeferred { .. } => self.payment("deferred"),
                JournalEntry::RefundRequired { .. } => self.payment("refund_required"),
                JournalEntry::PaymentReversed { .. } => self.payment("reversed"),
                JournalEntry::PaymentCancelled { .. } => self.payment("cancelled"),
                _ => {}
            },
        }
    }

    fn iso8583_message(&self, direction: &str, m: &crate::gateway::iso8583::Summary) {
        self.iso8583_messages
            .get_or_create(&labels(&[
                ("direction", direction.to_owned()),
                ("mti", m.mti.clone()),
                ("code", m.response_code.clone().unwrap_or_default()),
            ]))
            .inc();
    }

    fn payment(&self, kind: &str) {
        self.payments
            .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
            .inc();
    }

    /// The store-and-forward queue as the next scrape shows it.
    pub fn set_store_and_forward(&self, pending: usize, stuck: usize) {
        self.saf_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.saf_stuck.set(i64::try_from(stuck).unwrap_or(i64::MAX));
    }

    /// One platform call of the biller host (the TSP sessions' are counted from their journal
    /// records): how long it took, retries included, and its error class if it failed.
    pub fn platform_call(
        &self,
        call: &str,
        took: std::time::Duration,
        error: Option<adapter_core::platform::ErrorClass>,
    ) {
        let class = error.map(|c| format!("{c:?}"));
        self.platform_call_seconds(call, took.as_secs_f64(), class.as_deref());
    }

    fn platform_call_seconds(&self, call: &str, seconds: f64, error_class: Option<&str>) {
        self.platform_latency
            .get_or_create(&labels(&[("call", call.to_owned())]))
            .observe(seconds);
        if let Some(class) = error_class {
            self.platform_errors
                .get_or_create(&labels(&[
                    ("call", call.to_owned()),
                    ("class", class.to_owned()),
                ]))
                .inc();
        }
    }

    /// The payments the biller host's book holds, read at a scrape.
    pub fn set_book_payments(&self, payments: usize) {
        self.book_payments
            .set(i64::try_from(payments).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition, with the gauges read now.
    pub fn render(
        &self,
        sessions_active: usize,
        journal: &JournalStats,
        breakers_open: usize,
    ) -> String {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.sessions_active
            .set(i64::try_from(sessions_active).unwrap_or(i64::MAX));
        self.journal_records
            .set(as_i64(journal.records.load(Ordering::Relaxed)));
        self.journal_commits
            .set(as_i64(journal.commits.load(Ordering::Relaxed)));
        self.journal_queued
            .set(journal.queued.load(Ordering::Relaxed).max(0));
        self.journal_failures
            .set(as_i64(journal.failures.load(Ordering::Relaxed)));
        self.journal_last_commit_seconds
            .set(journal.last_commit_micros.load(Ordering::Relaxed) as f64 / 1e6);
        self.breakers_open
            .set(i64::try_from(breakers_open).unwrap_or(i64::MAX));
        self.resident_memory
            .set(i64::try_from(resident_memory_bytes()).unwrap_or(i64::MAX));
        let mut text = String::new();
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// A journal sink that counts what passes through it on the way to the journal.
#[derive(Debug)]
pub struct MeteredJournal<J> {
    inner: J,
    metrics: Arc<Metrics>,
}

impl<J> MeteredJournal<J> {
    pub fn new(inner: J, metrics: Arc<Metrics>) -> MeteredJournal<J> {
        MeteredJournal { inner, metrics }
    }
}

#[async_trait]
impl<J: JournalSink> JournalSink for MeteredJournal<J> {
    async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
        self.metrics.observe(&record);
        self.inner.append(record).await
    }

    // Forwarded, not left to the default (which appends and waits): a wrapper that waited here
    // would take from every request the commit it is meant to overlap with the platform call.
    async fn submit(&self, record: JournalRecord) -> Receipt {
        self.metrics.observe(&record);
        self.inner.submit(record).await
    }

    async fn submit_all(&self, records: Vec<JournalRecord>) -> Receipt {
        for record in &records {
            self.metrics.observe(record);
        }
        self.inner.submit_all(records).await
    }

    async fn submit_all_after(&self, records: Vec<JournalRecord>, earlier: Earlier) -> Receipt {
        for record in &records {
            self.metrics.observe(record);
        }
        self.inner.submit_all_after(records, earlier).await
    }
}

#[async_trait]
impl<J: JournalSink + ?Sized> JournalSink for Arc<J> {
    async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
        self.as_ref().append(record).await
    }

    async fn submit(&self, record: JournalRecord) -> Receipt {
        self.as_ref().submit(record).await
    }

    async fn submit_all(&self, records: Vec<JournalRecord>) -> Receipt {
        self.as_ref().submit_all(records).await
    }

    async fn submit_all_after(&self, records: Vec<JournalRecord>, earlier: Earlier) -> Receipt {
        self.as_ref().submit_all_after(records, earlier).await
    }
}

/// The process's resident memory in bytes (VmRSS of /proc/self/status); 0 where there is none.
pub fn resident_memory_bytes() -> u64 {
    resident_memory_of("self").unwrap_or(0)
}

/// Prometheus labels from name-value pairs.
fn labels(pairs: &[(&str, String)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The resident memory of process `pid` (`self` for this one) in bytes, from /proc.
pub fn resident_memory_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_journal_commit_is_in_the_commit_histogram() {
        let stats = JournalStats::default();
        for seconds in [0.0003, 0.004, 0.15] {
            stats.commit_seconds.observe(seconds);
        }
        let text = Metrics::new().with_journal(&stats).render(0, &stats, 0);
        for line in [
            "stm_adapter_journal_commit_seconds_count 3",
            "stm_adapter_journal_commit_seconds_bucket{le=\"0.0005\"} 1",
            "stm_adapter_journal_commit_seconds_bucket{le=\"0.01\"} 2",
            "stm_adapter_journal_commit_seconds_bucket{le=\"0.1\"} 2",
            "stm_adapter_journal_commit_seconds_bucket{le=\"0.25\"} 3",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn metrics_are_prefixed_and_counted_from_records() {
        let m = Metrics::new();
        let record = |event| JournalRecord {
            session_id: "s".into(),
            terminal_id: "t".into(),
            event,
        };
        m.observe(&record(JournalEvent::SessionOpened {
            profile: "stm-full".into(),
            site: None,
        }));
        m.observe(&record(JournalEvent::PlatformCall {
            call: "confirm_payment",
            millis: 120,
            error: Some(("Retryable".into(), "TIMEOUT".into())),
        }));
        let summary = |mti: &str, code: Option<&str>| crate::gateway::iso8583::Summary {
            mti: mti.into(),
            processing_code: Some("380000".into()),
            stan: Some("000001".into()),
            transmitted: None,
            terminal: None,
            network_code: None,
            response_code: code.map(Into::into),
            notice: None,
            amount_fen: None,
        };
        // An inquiry journaled as one record counts as a message in and a message out.
        m.observe(&record(JournalEvent::Iso8583Exchange {
            request: summary("0200", None),
            answer: summary("0210", Some("00")),
        }));
        let text = m.render(3, &JournalStats::default(), 1);
        for line in [
            "stm_adapter_iso8583_messages_total{direction=\"in\",mti=\"0200\",code=\"\"} 1",
            "stm_adapter_iso8583_messages_total{direction=\"out\",mti=\"0210\",code=\"00\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            text.contains("stm_adapter_sessions_opened_total 1"),
            "{text}"
        );
        assert!(text.contains("stm_adapter_sessions_active 3"), "{text}");
        assert!(
            text.contains(
                "stm_adapter_platform_errors_total{call=\"confirm_payment\",class=\"Retryable\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "stm_adapter_platform_call_seconds_bucket{le=\"0.25\",call=\"confirm_payment\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("stm_adapter_platform_breakers_open 1"),
            "{text}"
        );
    }
}
