//! The journal: every session event and platform call, durably, in order, hash-chained, with
//! personal fields encrypted (AES-256-GCM), written before the terminal is answered.
//!
//! [`Journal`] is the writer: sessions hand it records and wait for the commit; a single task,
//! on a thread and runtime of its own, numbers, seals and chains them and commits whatever has
//! queued up in one transaction (group commit), so many sessions share one fsync; records
//! handed over together stay in one transaction, and a unit handed over after a record it
//! depends on is stored only if that record is ([`JournalSink::submit_all_after`]). Storage is
//! behind [`JournalStore`]: SQLite in WAL mode today ([`sqlite::SqliteStore`], on rusqlite),
//! PostgreSQL later.
//! [`verify::verify`] walks the chain.

pub mod cipher;
pub mod record;
pub mod sqlite;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

pub use cipher::FieldCipher;
pub use record::{GENESIS, JournalEvent, JournalRecord, Rendered, Sealed};

/// Storage failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("journal storage: {0}")]
pub struct StoreError(pub String);

/// The journal could not take a record: the session must stop rather than act unrecorded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("journal: {0}")]
pub struct JournalError(pub String);

/// The last record: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Where sealed records are kept.
#[async_trait]
pub trait JournalStore: Send + Sync + std::fmt::Debug {
    /// The head as last committed, from the head anchor (not from the records).
    async fn head(&self) -> Result<Option<Head>, StoreError>;
    /// Appends `batch` (consecutive, chained) and moves the head, in one transaction.
    async fn append(&self, batch: Vec<Sealed>) -> Result<(), StoreError>;
    /// Up to `limit` records with `seq > after`, by stored order.
    async fn scan(&self, after: i64, limit: u32) -> Result<Vec<Sealed>, StoreError>;
    /// The number and body of up to `limit` records of `kind` with `seq > after`, by stored
    /// order; none when there are no more. The default filters [`JournalStore::scan`]; a store
    /// that can select by kind itself saves reading the others.
    async fn scan_kind(
        &self,
        after: i64,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut found = Vec::new();
        let mut after = after;
        loop {
            let batch = self.scan(after, limit).await?;
            let Some(last) = batch.last() else {
                return Ok(found);
            };
            after = last.seq;
            found.extend(
                batch
                    .into_iter()
                    .filter(|r| r.kind == kind)
                    .map(|r| (r.seq, r.body)),
            );
            if found.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Ok(found);
            }
        }
    }
    /// Whether a write would succeed now (for /readyz).
    async fn writable(&self) -> Result<(), StoreError>;
}

/// Where session records go, durably and in order: the seam between the gateway and the
/// journal, so gateway tests can use a plain vector.
#[async_trait]
pub trait JournalSink: Send + Sync {
    /// Appends `record` and waits until it is committed.
    async fn append(&self, record: JournalRecord) -> Result<(), JournalError>;

    /// Hands `record` over and returns its receipt without waiting for the commit, so the
    /// caller can work meanwhile; it must wait on the receipt before acting on anything the
    /// record is meant to precede. Records handed over by one task keep their order. Sinks
    /// without a queue append at once.
    async fn submit(&self, record: JournalRecord) -> Receipt {
        Receipt::settled(self.append(record).await)
    }

    /// Hands `records` over as one unit: stored together, in one transaction, after every
    /// record handed over before them, or not at all; the receipt resolves when they are. Sinks
    /// without a queue append them in turn.
    async fn submit_all(&self, records: Vec<JournalRecord>) -> Receipt {
        for record in records {
            if let Err(e) = self.append(record).await {
                return Receipt::settled(Err(e));
            }
        }
        Receipt::settled(Ok(()))
    }

    /// Hands `records` over as one unit, as [`JournalSink::submit_all`] does, to be stored only
    /// if the record `earlier` describes is: one handed over before them by the same task (a
    /// request's own record, say, and the changes it makes with its answer). The caller need
    /// not wait for the earlier commit before handing the unit over; nothing is ever on record
    /// without what it follows from. Sinks with a queue must override this; the others know
    /// the earlier outcome already.
    async fn submit_all_after(&self, records: Vec<JournalRecord>, earlier: Earlier) -> Receipt {
        match earlier {
            Earlier::Refused => Receipt::settled(Err(earlier_refused())),
            Earlier::Stored | Earlier::Queued { .. } => self.submit_all(records).await,
        }
    }
}

fn earlier_refused() -> JournalError {
    JournalError("a record handed over before these was not stored".into())
}

/// What a unit handed over later needs to know of an earlier record
/// ([`JournalSink::submit_all_after`]), from its [`Receipt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// Stored already.
    Stored,
    /// Refused.
    Refused,
    /// Queued when the writer had seen `failures` failed commits: a unit handed over after it
    /// is refused if any commit has failed since (the earlier record's among them, perhaps).
    Queued { failures: u64 },
}

/// A record handed to the journal: [`Receipt::committed`] waits until it is stored.
#[derive(Debug)]
pub struct Receipt(Settled);

#[derive(Debug)]
enum Settled {
    Now(Result<(), JournalError>),
    /// In the writer's queue, handed over when it had seen `.1` failed commits.
    Later(oneshot::Receiver<Result<(), JournalError>>, u64),
}

impl Receipt {
    /// A receipt settled already: what a sink without a queue returns.
    pub fn settled(result: Result<(), JournalError>) -> Receipt {
        Receipt(Settled::Now(result))
    }

    /// What a unit handed over after this record needs to know of it.
    pub fn earlier(&self) -> Earlier {
        match &self.0 {
            Settled::Now(Ok(())) => Earlier::Stored,
            Settled::Now(Err(_)) => Earlier::Refused,
            Settled::Later(_, failures) => Earlier::Queued {
                failures: *failures,
            },
        }
    }

    /// Waits for the commit of the record.
    pub async fn committed(self) -> Result<(), JournalError> {
        match self.0 {
            Settled::Now(result) => result,
            Settled::Later(done, _) => done
                .await
                .unwrap_or_else(|_| Err(JournalError("the journal writer has stopped".into()))),
        }
    }
}

/// Figures for /metrics.
#[derive(Debug)]
pub struct JournalStats {
    pub records: AtomicU64,
    pub commits: AtomicU64,
    pub failures: AtomicU64,
    /// Records handed over and not yet committed.
    pub queued: AtomicI64,
    /// Microseconds of the last commit.
    pub last_commit_micros: AtomicU64,
    /// Every commit's duration, its fsync included: a payment's answer waits for one, so the
    /// disk's slowest flushes are the payments' slowest answers (docs/operations.md).
    pub commit_seconds: Histogram,
}

/// Commit durations from 0.25 ms (a fast disk's fsync) to 2.5 s (a stalled one).
pub const COMMIT_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 2.5,
];

impl Default for JournalStats {
    fn default() -> Self {
        JournalStats {
            records: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            queued: AtomicI64::new(0),
            last_commit_micros: AtomicU64::new(0),
            commit_seconds: Histogram::new(COMMIT_BUCKETS),
        }
    }
}

type Ack = oneshot::Sender<Result<(), JournalError>>;

/// Records handed over together, with the receipt's sender.
#[derive(Debug)]
struct Unit {
    records: Vec<Rendered>,
    /// Stored only if no commit has failed beyond this many ([`Earlier::Queued`]).
    unless_failed_beyond: Option<u64>,
    ack: Ack,
}

/// The journal writer. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Journal {
    tx: mpsc::Sender<Unit>,
    stats: Arc<JournalStats>,
    store: Arc<dyn JournalStore>,
    /// Seals personal values as each record's body is rendered, on the submitter's task.
    cipher: FieldCipher,
}

/// Units (a record, or records handed over together) committed together at most.
const MAX_BATCH: usize = 512;

/// Under load, a batch of fewer units than this waits [`WINDOW`] for more before its commit.
const FILL: usize = 16;
const WINDOW: std::time::Duration = std::time::Duration::from_micros(250);

impl Journal {
    /// Starts the writer over `store`, continuing its chain.
    pub async fn open(
        store: Arc<dyn JournalStore>,
        cipher: FieldCipher,
    ) -> Result<Journal, StoreError> {
        let head = store.head().await?;
        let (tx, rx) = mpsc::channel(4096);
        let stats = Arc::new(JournalStats::default());
        // Every request waits for the writer, so it does not queue behind other tasks for a
        // worker: a thread and runtime of its own, which ends when the last sender is dropped.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("the journal writer's runtime: {e}")))?;
        let work = writer(
            Arc::clone(&store),
            *cipher.chain_key(),
            head,
            rx,
            Arc::clone(&stats),
        );
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || runtime.block_on(work))
            .map_err(|e| StoreError(format!("the journal writer's thread: {e}")))?;
        Ok(Journal {
            tx,
            stats,
            store,
            cipher,
        })
    }

    pub fn stats(&self) -> &JournalStats {
        &self.stats
    }

    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.store
    }

    async fn hand_over(
        &self,
        records: Vec<JournalRecord>,
        unless_failed_beyond: Option<u64>,
    ) -> Receipt {
        // Read before the unit is queued: a commit failing later cannot be counted here.
        let failures = self.stats.failures.load(Ordering::Relaxed);
        let (ack, done) = oneshot::channel();
        let n = i64::try_from(records.len()).unwrap_or(i64::MAX);
        // Bodies are rendered here, on the submitting tasks side by side, so that the writer's
        // one thread only numbers, times and chains them between commits.
        let records = records
            .into_iter()
            .map(|r| Rendered::new(r, &self.cipher))
            .collect();
        self.stats.queued.fetch_add(n, Ordering::Relaxed);
        let unit = Unit {
            records,
            unless_failed_beyond,
            ack,
        };
        if self.tx.send(unit).await.is_err() {
            self.stats.queued.fetch_sub(n, Ordering::Relaxed);
            return Receipt::settled(Err(JournalError("the journal writer has stopped".into())));
        }
        Receipt(Settled::Later(done, failures))
    }
}

#[async_trait]
impl JournalSink for Journal {
    async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
        self.submit(record).await.committed().await
    }

    async fn submit(&self, record: JournalRecord) -> Receipt {
        self.submit_all(vec![record]).await
    }

    async fn submit_all(&self, records: Vec<JournalRecord>) -> Receipt {
        self.hand_over(records, None).await
    }

    async fn submit_all_after(&self, records: Vec<JournalRecord>, earlier: Earlier) -> Receipt {
        match earlier {
            Earlier::Refused => Receipt::settled(Err(earlier_refused())),
            Earlier::Stored => self.hand_over(records, None).await,
            Earlier::Queued { failures } => self.hand_over(records, Some(failures)).await,
        }
    }
}

fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

async fn writer(
    store: Arc<dyn JournalStore>,
    chain_key: [u8; 32],
    head: Option<Head>,
    mut rx: mpsc::Receiver<Unit>,
    stats: Arc<JournalStats>,
) {
    let (mut seq, mut hash) = head.map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash));
    // Taken over from batch to batch: a buffer grown afresh for every commit cost page faults
    // under load.
    let mut pending = Vec::with_capacity(MAX_BATCH);
    let mut busy = false;
    while rx.recv_many(&mut pending, MAX_BATCH).await > 0 {
        // Under load, a short wait lets a small batch fill: fewer commits, each an fsync. The
        // writer has its thread to itself, so a thread sleep (microsecond timers) is its wait.
        if busy && pending.len() < FILL {
            std::thread::sleep(WINDOW);
            while pending.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(unit) => pending.push(unit),
                    Err(_) => break,
                }
            }
        }
        busy = pending.len() > 1;
        // A unit whose earlier record may be among the commits that failed since it was
        // handed over is not stored: it follows from that record.
        let failed = stats.failures.load(Ordering::Relaxed);
        let follows_a_failure = |u: &Unit| u.unless_failed_beyond.is_some_and(|f| failed > f);
        if pending.iter().any(follows_a_failure) {
            let (refused, kept): (Vec<Unit>, Vec<Unit>) =
                pending.drain(..).partition(follows_a_failure);
            pending.extend(kept);
            for unit in refused {
                let n = i64::try_from(unit.records.len()).unwrap_or(i64::MAX);
                stats.queued.fetch_sub(n, Ordering::Relaxed);
                let _ = unit.ack.send(Err(earlier_refused()));
            }
            if pending.is_empty() {
                continue;
            }
        }
        let records = pending.iter().map(|u| u.records.len()).sum::<usize>();
        let mut batch = Vec::with_capacity(records);
        let (mut next_seq, mut prev) = (seq, hash.clone());
        // The units keep only their acks from here: what they held moves into the batch.
        for record in pending.iter_mut().flat_map(|u| u.records.drain(..)) {
            next_seq += 1;
            let mut sealed = Sealed {
                seq: next_seq,
                at: now_rfc3339(),
                session_id: record.session_id,
                terminal_id: record.terminal_id,
                kind: record.kind.to_owned(),
                body: record.body,
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            sealed.hash = sealed.compute_hash(&chain_key);
            prev = sealed.hash.clone();
            batch.push(sealed);
        }
        let started = std::time::Instant::now();
        let result = store.append(batch).await;
        let n = i64::try_from(records).unwrap_or(i64::MAX);
        stats.queued.fetch_sub(n, Ordering::Relaxed);
        match result {
            Ok(()) => {
                seq = next_seq;
                hash = prev;
                let took = started.elapsed();
                stats.records.fetch_add(records as u64, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.last_commit_micros.store(
                    u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                stats.commit_seconds.observe(took.as_secs_f64());
                for unit in pending.drain(..) {
                    let _ = unit.ack.send(Ok(()));
                }
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, records, "journal commit failed");
                // The chain continues from what is stored.
                if let Ok(Some(h)) = store.head().await {
                    (seq, hash) = (h.seq, h.hash);
                }
                for unit in pending.drain(..) {
                    let _ = unit.ack.send(Err(JournalError(e.to_string())));
                }
            }
        }
    }
}
