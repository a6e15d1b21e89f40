//! The journal: every session event and platform call, durably, in order, hash-chained, with
//! personal fields encrypted (AES-256-GCM), written before the terminal is answered.
//!
//! [`Journal`] is the writer: sessions hand it records and wait for the commit; a single task,
//! on a thread and runtime of its own, numbers, seals and chains them and commits whatever has
//! queued up in one transaction (group commit), so many sessions share one fsync; records
//! handed over together stay in one transaction. Storage is behind [`JournalStore`]: SQLite in
//! WAL mode today ([`sqlite::SqliteStore`], on rusqlite), PostgreSQL later.
//! [`verify::verify`] walks the chain.

pub mod cipher;
pub mod record;
pub mod sqlite;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

pub use cipher::FieldCipher;
pub use record::{GENESIS, JournalEvent, JournalRecord, Sealed};

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
}

/// A record handed to the journal: [`Receipt::committed`] waits until it is stored.
#[derive(Debug)]
pub struct Receipt(Settled);

#[derive(Debug)]
enum Settled {
    Now(Result<(), JournalError>),
    Later(oneshot::Receiver<Result<(), JournalError>>),
}

impl Receipt {
    /// A receipt settled already: what a sink without a queue returns.
    pub fn settled(result: Result<(), JournalError>) -> Receipt {
        Receipt(Settled::Now(result))
    }

    /// Waits for the commit of the record.
    pub async fn committed(self) -> Result<(), JournalError> {
        match self.0 {
            Settled::Now(result) => result,
            Settled::Later(done) => done
                .await
                .unwrap_or_else(|_| Err(JournalError("the journal writer has stopped".into()))),
        }
    }
}

/// Figures for /metrics.
#[derive(Debug, Default)]
pub struct JournalStats {
    pub records: AtomicU64,
    pub commits: AtomicU64,
    pub failures: AtomicU64,
    /// Records handed over and not yet committed.
    pub queued: AtomicI64,
    /// Microseconds of the last commit.
    pub last_commit_micros: AtomicU64,
}

type Ack = oneshot::Sender<Result<(), JournalError>>;

/// The journal writer. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Journal {
    tx: mpsc::Sender<(Vec<JournalRecord>, Ack)>,
    stats: Arc<JournalStats>,
    store: Arc<dyn JournalStore>,
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
        let work = writer(Arc::clone(&store), cipher, head, rx, Arc::clone(&stats));
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || runtime.block_on(work))
            .map_err(|e| StoreError(format!("the journal writer's thread: {e}")))?;
        Ok(Journal { tx, stats, store })
    }

    pub fn stats(&self) -> &JournalStats {
        &self.stats
    }

    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.store
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
        let (ack, done) = oneshot::channel();
        let n = i64::try_from(records.len()).unwrap_or(i64::MAX);
        self.stats.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send((records, ack)).await.is_err() {
            self.stats.queued.fetch_sub(n, Ordering::Relaxed);
            return Receipt::settled(Err(JournalError("the journal writer has stopped".into())));
        }
        Receipt(Settled::Later(done))
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
    cipher: FieldCipher,
    head: Option<Head>,
    mut rx: mpsc::Receiver<(Vec<JournalRecord>, Ack)>,
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
        let records = pending.iter().map(|(unit, _)| unit.len()).sum::<usize>();
        let mut batch = Vec::with_capacity(records);
        let (mut next_seq, mut prev) = (seq, hash.clone());
        for record in pending.iter().flat_map(|(unit, _)| unit) {
            next_seq += 1;
            let (kind, body) = record::body(&record.event, &cipher);
            let mut sealed = Sealed {
                seq: next_seq,
                at: now_rfc3339(),
                session_id: record.session_id.clone(),
                terminal_id: record.terminal_id.clone(),
                kind: kind.to_owned(),
                body: body.to_string(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            sealed.hash = sealed.compute_hash(cipher.chain_key());
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
                stats.records.fetch_add(records as u64, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.last_commit_micros.store(
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                for (_, ack) in pending.drain(..) {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, records, "journal commit failed");
                // The chain continues from what is stored.
                if let Ok(Some(h)) = store.head().await {
                    (seq, hash) = (h.seq, h.hash);
                }
                for (_, ack) in pending.drain(..) {
                    let _ = ack.send(Err(JournalError(e.to_string())));
                }
            }
        }
    }
}
