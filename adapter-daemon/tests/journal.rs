#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The journal on SQLite: group commit under concurrent sessions, encryption at rest, a chain
//! that survives restarts, and `verify` naming each kind of tampering.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use adapter_core::session::JournalEntry;
use adapter_daemon::journal::sqlite::SqliteStore;
use adapter_daemon::journal::verify::{Problem, verify};
use adapter_daemon::journal::{
    Earlier, FieldCipher, Head, Journal, JournalEvent, JournalRecord, JournalSink, JournalStore,
    Sealed, StoreError,
};
use adapter_daemon::metrics::{MeteredJournal, Metrics};
use adapter_protocols::tsp::Sensitive;

const ID: &str = "440106198503151014";

fn record(session: usize, n: usize) -> JournalRecord {
    JournalRecord {
        session_id: format!("s-{session}"),
        terminal_id: "STM-GZ-0001".into(),
        event: if n % 3 == 0 {
            JournalEvent::Engine(JournalEntry::IdentityVerified {
                subject: "SUBJ-0001".into(),
                id_number: Sensitive::new(ID.into()),
            })
        } else {
            JournalEvent::PlatformCall {
                call: "query_notice",
                millis: 3,
                error: None,
            }
        },
    }
}

async fn journal(dir: &tempfile::TempDir, key: &str) -> (Journal, Arc<SqliteStore>) {
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("journal.sqlite"))
            .await
            .unwrap(),
    );
    let journal = Journal::open(store.clone(), FieldCipher::from_hex(key).unwrap())
        .await
        .unwrap();
    (journal, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_share_commits_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    let (journal, store) = journal(&dir, &key).await;
    let journal = Arc::new(journal);
    let mut tasks = Vec::new();
    for session in 0..20 {
        let journal = Arc::clone(&journal);
        tasks.push(tokio::spawn(async move {
            for n in 0..30 {
                journal.append(record(session, n)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = journal.stats();
    let records = stats.records.load(std::sync::atomic::Ordering::Relaxed);
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(records, 600);
    assert!(
        commits < records,
        "group commit: {commits} commits for {records} records"
    );
    // Each commit's duration is in the histogram /metrics serves.
    let metrics = adapter_daemon::metrics::Metrics::new().with_journal(stats);
    let count = format!("stm_adapter_journal_commit_seconds_count {commits}\n");
    assert!(metrics.render(0, stats, 0).contains(&count), "{count}");

    let cipher = FieldCipher::from_hex(&key).unwrap();
    let report = verify(store.as_ref(), cipher.chain_key()).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.records, report.last_seq), (600, 600));

    // Within a session, records keep their order.
    let all = store.scan(0, 1000).await.unwrap();
    let seqs: Vec<i64> = all
        .iter()
        .filter(|r| r.session_id == "s-7")
        .map(|r| r.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // The ID number is sealed: not in the database file, recoverable with the key only.
    store.close().await;
    let mut bytes = std::fs::read(dir.path().join("journal.sqlite")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("journal.sqlite-wal")) {
        bytes.extend(wal);
    }
    assert!(!bytes.windows(ID.len()).any(|w| w == ID.as_bytes()));
    let identity = all.iter().find(|r| r.kind == "IdentityVerified").unwrap();
    let body: serde_json::Value = serde_json::from_str(&identity.body).unwrap();
    assert_eq!(cipher.open(body["idNumber"].as_str().unwrap()).unwrap(), ID);
}

/// Records handed over without waiting are stored in the order they were handed over, and each
/// receipt resolves once its record is committed; a closed store fails the receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_records_keep_their_order_and_their_receipts_say_when_committed() {
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    let (journal, store) = journal(&dir, &key).await;
    let mut receipts = Vec::new();
    for n in 0..50 {
        receipts.push(journal.submit(record(n, 1)).await);
    }
    for receipt in receipts {
        receipt.committed().await.unwrap();
    }
    let stored = store.scan(0, 100).await.unwrap();
    let sessions: Vec<String> = stored.iter().map(|r| r.session_id.clone()).collect();
    let expected: Vec<String> = (0..50).map(|n| format!("s-{n}")).collect();
    assert_eq!(sessions, expected);

    store.close().await;
    let refused = journal.submit(record(99, 1)).await;
    assert!(refused.committed().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    {
        let (journal, store) = journal(&dir, &key).await;
        for n in 0..5 {
            journal.append(record(1, n)).await.unwrap();
        }
        store.close().await;
    }
    let (journal, store) = journal(&dir, &key).await;
    for n in 5..9 {
        journal.append(record(1, n)).await.unwrap();
    }
    let report = verify(
        store.as_ref(),
        FieldCipher::from_hex(&key).unwrap().chain_key(),
    )
    .await
    .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.last_seq, 9);

    // Verified with another key, nothing holds.
    let other = FieldCipher::from_hex(&FieldCipher::generate_hex()).unwrap();
    assert!(
        !verify(store.as_ref(), other.chain_key())
            .await
            .unwrap()
            .is_intact()
    );
}

/// A journal of 10 records, tampered with by `sql`, and what verify says.
async fn tampered(sql: &[&str]) -> Vec<Problem> {
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    let (journal, store) = journal(&dir, &key).await;
    for n in 0..10 {
        journal.append(record(1, n)).await.unwrap();
    }
    store.close().await;
    let path = dir.path().join("journal.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    for statement in sql {
        conn.execute_batch(statement).unwrap();
    }
    conn.close().unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let report = verify(&store, FieldCipher::from_hex(&key).unwrap().chain_key())
        .await
        .unwrap();
    report.problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_kind_of_tampering() {
    assert_eq!(
        tampered(&[
            "UPDATE journal SET body = replace(body, '\"millis\":3', '\"millis\":4') WHERE seq = 5"
        ])
        .await,
        [Problem::Edited { seq: 5 }]
    );
    assert_eq!(
        tampered(&["DELETE FROM journal WHERE seq = 4"]).await,
        [Problem::Deleted { from: 4, to: 4 }]
    );
    assert_eq!(
        tampered(&[
            "UPDATE journal SET seq = -6 WHERE seq = 6",
            "UPDATE journal SET seq = 6 WHERE seq = 7",
            "UPDATE journal SET seq = 7 WHERE seq = -6",
        ])
        .await,
        [
            Problem::Moved {
                seq: 6,
                written_as: 7
            },
            Problem::Moved {
                seq: 7,
                written_as: 6
            },
        ]
    );
    assert_eq!(
        tampered(&["DELETE FROM journal WHERE seq > 8"]).await,
        [Problem::Truncated { last: 8, head: 10 }]
    );
    // A record replaced by one chained elsewhere (its hash recomputed without the key fails).
    assert_eq!(
        tampered(&["UPDATE journal SET prev_hash = hash WHERE seq = 3"]).await,
        [Problem::Edited { seq: 3 }]
    );
    assert_eq!(tampered(&[]).await, []);
}

/// The key of ATM00001's payment `stan`.
fn atm_payment(stan: &str) -> adapter_daemon::gateway::iso8583::book::PaymentKey {
    adapter_daemon::gateway::iso8583::book::PaymentKey {
        terminal: "ATM00001".into(),
        stan: stan.into(),
        transmitted: "1201100000".into(),
        batch: String::new(),
    }
}

/// Journals `events` as a bank-switch link's records, each committed.
async fn journal_bills(
    journal: &Journal,
    events: impl IntoIterator<Item = adapter_daemon::gateway::iso8583::book::BillEvent>,
) {
    for event in events {
        journal
            .append(JournalRecord {
                session_id: "L-000001".into(),
                terminal_id: "tcp:127.0.0.1:50000".into(),
                event: JournalEvent::Bill(event),
            })
            .await
            .unwrap();
    }
}

/// `stm-adapter saf list` reads the payment book out of the journal: what store-and-forward
/// still owes the platform, and what it left to an operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saf_list_shows_what_store_and_forward_still_owes() {
    use adapter_daemon::gateway::iso8583::book::BillEvent;
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    let (journal, store) = journal(&dir, &key).await;
    let payment = atm_payment;
    let events = [
        BillEvent::Approved {
            key: payment("000001"),
            acquirer: "01020000".into(),
            notice: "44010026110000012345".into(),
            amount_fen: 20000,
            rrn: "633510000001".into(),
            auth_code: "A1B2C3".into(),
            business_date: "2026-12-01".into(),
            approved_at: "2026-12-01T02:00:00Z".into(),
            payee: "广州市公安局交通警察支队".into(),
        },
        BillEvent::Approved {
            key: payment("000002"),
            acquirer: "01020000".into(),
            notice: "44010026110000012346".into(),
            amount_fen: 5000,
            rrn: "633510000002".into(),
            auth_code: "D4E5F6".into(),
            business_date: "2026-12-01".into(),
            approved_at: "2026-12-01T02:01:00Z".into(),
            payee: "广州市公安局交通警察支队".into(),
        },
        BillEvent::Confirmed {
            key: payment("000002"),
            receipt: "RC-2".into(),
        },
    ];
    journal_bills(&journal, events).await;
    drop(journal);
    store.close().await;

    let run = |all: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stm-adapter"));
        command.args(["saf", "list", "--data-dir"]).arg(dir.path());
        if all {
            command.arg("--all");
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run(false);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["key"]["stan"], "000001");
    assert_eq!(lines[0]["state"], "approved");
    assert_eq!(lines[0]["work"], "confirm");
    assert_eq!(lines[1]["payments"], 2);
    assert_eq!(lines[1]["pending"], 1);
    assert_eq!(run(true).lines().count(), 3);
}

/// The book a starting daemon rebuilds leaves out settled payments past their reversal window
/// (by the latest approval it reads, not the wall clock), keeps those still to be confirmed, and
/// the operator's tools still read every payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_book_retires_settled_payments_past_their_window() {
    use adapter_daemon::gateway::iso8583::book::{BillEvent, Book};
    let dir = tempfile::tempdir().unwrap();
    let key = FieldCipher::generate_hex();
    let (journal, store) = journal(&dir, &key).await;
    let payment = atm_payment;
    let approved = |stan: &str, at: &str| BillEvent::Approved {
        key: payment(stan),
        acquirer: "01020000".into(),
        notice: format!("44010026110000{stan}"),
        amount_fen: 20000,
        rrn: "633510000001".into(),
        auth_code: "A1B2C3".into(),
        business_date: at.get(..10).unwrap().into(),
        approved_at: at.into(),
        payee: "广州市公安局交通警察支队".into(),
    };
    let confirmed = |stan: &str| BillEvent::Confirmed {
        key: payment(stan),
        receipt: format!("RC-{stan}"),
    };
    let events = [
        approved("000001", "2026-12-01T02:00:00Z"),
        confirmed("000001"),
        approved("000002", "2026-12-01T02:01:00Z"),
        approved("000003", "2026-12-05T02:00:00Z"),
        confirmed("000003"),
    ];
    journal_bills(&journal, events).await;
    let window = std::time::Duration::from_secs(72 * 3600);
    let kept = Book::load_within(store.as_ref(), window).await.unwrap();
    let stans: Vec<String> = kept.all().into_iter().map(|p| p.key.stan).collect();
    assert_eq!(stans, ["000002", "000003"]);
    // SQLite selects the bill records itself; a store that cannot (the trait's default)
    // finds the same ones, page by page.
    let plain = Plain(Arc::clone(&store));
    for after in [0, 2, 4] {
        assert_eq!(
            store.scan_kind(after, "Bill", 2).await.unwrap(),
            plain.scan_kind(after, "Bill", 2).await.unwrap(),
            "after {after}"
        );
    }
    let rebuilt = Book::load_within(&plain, window).await.unwrap();
    assert_eq!(rebuilt.all(), kept.all());
    assert_eq!(kept.pending_count(), 1);
    assert_eq!(
        kept.totals("01020000", "1201").payments,
        2,
        "totals count every payment"
    );
    assert_eq!(Book::load(store.as_ref()).await.unwrap().len(), 3);
    drop(journal);
    store.close().await;
}

/// A store that only scans: the trait's own `scan_kind`.
#[derive(Debug)]
struct Plain(Arc<SqliteStore>);

#[async_trait::async_trait]
impl JournalStore for Plain {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        self.0.head().await
    }
    async fn append(&self, batch: Vec<Sealed>) -> Result<(), StoreError> {
        self.0.append(batch).await
    }
    async fn scan(&self, after: i64, limit: u32) -> Result<Vec<Sealed>, StoreError> {
        self.0.scan(after, limit).await
    }
    async fn writable(&self) -> Result<(), StoreError> {
        self.0.writable().await
    }
}

/// A store whose commits wait until the test lets them through, noting which sessions each
/// commit held, and failing as many commits as the test asks.
#[derive(Debug)]
struct Gated {
    inner: Arc<SqliteStore>,
    open: Arc<tokio::sync::Semaphore>,
    /// Notified as a commit begins, before the gate.
    began: tokio::sync::Notify,
    seen: std::sync::Mutex<Vec<Vec<String>>>,
    /// Commits still to fail (after the gate).
    failing: std::sync::atomic::AtomicUsize,
}

impl Gated {
    fn new(inner: &Arc<SqliteStore>, open: &Arc<tokio::sync::Semaphore>) -> Gated {
        Gated {
            inner: Arc::clone(inner),
            open: Arc::clone(open),
            began: tokio::sync::Notify::new(),
            seen: std::sync::Mutex::default(),
            failing: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl JournalStore for Gated {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head().await
    }
    async fn append(&self, batch: Vec<Sealed>) -> Result<(), StoreError> {
        let sessions = batch.iter().map(|r| r.session_id.clone()).collect();
        self.began.notify_one();
        let _pass = self.open.acquire().await.unwrap();
        let failing = &self.failing;
        if failing
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError("disk I/O error".into()));
        }
        self.inner.append(batch).await?;
        self.seen.lock().unwrap().push(sessions);
        Ok(())
    }
    async fn scan(&self, after: i64, limit: u32) -> Result<Vec<Sealed>, StoreError> {
        self.inner.scan(after, limit).await
    }
    async fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable().await
    }
}

/// A journal over a gated store, reached as the daemon reaches its journal: through the
/// metrics wrapper, behind an `Arc`.
struct GatedJournal {
    store: Arc<SqliteStore>,
    open: Arc<tokio::sync::Semaphore>,
    gated: Arc<Gated>,
    sink: Arc<dyn JournalSink>,
}

async fn gated_journal(dir: &tempfile::TempDir) -> GatedJournal {
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("journal.sqlite"))
            .await
            .unwrap(),
    );
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let gated = Arc::new(Gated::new(&store, &open));
    let journal = Journal::open(
        Arc::clone(&gated) as Arc<dyn JournalStore>,
        FieldCipher::from_hex(&FieldCipher::generate_hex()).unwrap(),
    )
    .await
    .unwrap();
    let sink: Arc<dyn JournalSink> = Arc::new(MeteredJournal::new(
        Arc::new(journal),
        Arc::new(Metrics::new()),
    ));
    GatedJournal {
        store,
        open,
        gated,
        sink,
    }
}

/// The daemon hands its records to the journal through the metrics wrapper, behind an `Arc`:
/// handing a record over through them returns before the commit, as the journal's own
/// `submit` does (were it to wait, no request's record would be committed while the platform
/// is asked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metered_journal_hands_records_over_without_waiting_for_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let GatedJournal {
        store, open, sink, ..
    } = gated_journal(&dir).await;

    let receipt = tokio::time::timeout(Duration::from_secs(5), sink.submit(record(1, 1)))
        .await
        .expect("submit waited for a commit the store holds back");
    assert!(store.scan(0, 10).await.unwrap().is_empty());

    open.add_permits(1);
    receipt.committed().await.unwrap();
    assert_eq!(store.scan(0, 10).await.unwrap().len(), 1);
}

/// Records handed over together (a payment's approval and its answer) are committed in one
/// transaction, never split between two, however many queue up behind a slow commit; through
/// the metrics wrapper too, which must hand them over as they are and not wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_handed_over_together_are_committed_together() {
    let dir = tempfile::tempdir().unwrap();
    let GatedJournal {
        store,
        open,
        gated: commits,
        sink,
    } = gated_journal(&dir).await;

    // The first commit is held back while 700 units of three queue up behind it: more units
    // than one commit takes.
    let first = sink.submit(record(0, 1)).await;
    commits.began.notified().await;
    let mut receipts = Vec::new();
    for unit in 1..=700 {
        let records = (1..=3).map(|_| record(unit, 1)).collect();
        let receipt = tokio::time::timeout(Duration::from_secs(5), sink.submit_all(records))
            .await
            .expect("submit_all waited for a commit the store holds back");
        receipts.push(receipt);
    }
    open.add_permits(1_000);
    first.committed().await.unwrap();
    for receipt in receipts {
        receipt.committed().await.unwrap();
    }

    let seen = commits.seen.lock().unwrap().clone();
    // The held record, then the units: more than one commit takes.
    assert_eq!(seen.len(), 3);
    for sessions in &seen {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for s in sessions {
            *counts.entry(s).or_default() += 1;
        }
        for (session, n) in counts {
            let whole = if session == "s-0" { 1 } else { 3 };
            assert_eq!(n, whole, "{session} split between commits");
        }
    }
    let stored = store.scan(0, 5_000).await.unwrap();
    assert_eq!(stored.len(), 1 + 700 * 3);
}

/// A unit handed over after a record it follows from (a payment's approval and answer after
/// the request's own record) is stored only if that record is: handed over while the
/// record's commit is still under way, it is refused when that commit fails, although the
/// store takes the next commit; a unit with no such condition, queued beside it, is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_handed_over_after_a_record_is_stored_only_if_that_record_is() {
    let dir = tempfile::tempdir().unwrap();
    let GatedJournal {
        store,
        open,
        gated,
        sink,
    } = gated_journal(&dir).await;

    let request = sink.submit(record(1, 1)).await;
    gated.began.notified().await;
    let earlier = request.earlier();
    assert!(matches!(earlier, Earlier::Queued { .. }));
    let follows = sink
        .submit_all_after(vec![record(1, 2), record(1, 4)], earlier)
        .await;
    let other = sink.submit_all(vec![record(2, 1)]).await;
    gated.failing.store(1, SeqCst);
    open.add_permits(1_000);
    assert!(request.committed().await.is_err());
    let refused = follows.committed().await.unwrap_err();
    assert!(refused.to_string().contains("not stored"), "{refused}");
    other.committed().await.unwrap();
    let stored = store.scan(0, 10).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|r| r.session_id.as_str())
            .collect::<Vec<_>>(),
        ["s-2"]
    );

    // Once the record is stored, what follows from it is too, handed over before its commit
    // or after.
    let request = sink.submit(record(3, 1)).await;
    let follows = sink
        .submit_all_after(vec![record(3, 2)], request.earlier())
        .await;
    request.committed().await.unwrap();
    follows.committed().await.unwrap();
    let stored = sink.submit(record(4, 1)).await;
    let after_commit = stored.earlier();
    stored.committed().await.unwrap();
    let late = sink
        .submit_all_after(vec![record(4, 2)], after_commit)
        .await;
    late.committed().await.unwrap();
    assert_eq!(store.scan(0, 10).await.unwrap().len(), 1 + 2 + 2);

    // A record refused outright (a sink that appends at once) refuses what follows it.
    let refused = sink
        .submit_all_after(vec![record(5, 1)], Earlier::Refused)
        .await;
    assert!(refused.committed().await.is_err());
    assert_eq!(store.scan(0, 10).await.unwrap().len(), 5);

    // When all that queued follows a failed record, nothing is left to commit, and nothing is:
    // the record's commit is held while what follows it queues alone behind it.
    let spare = u32::try_from(open.available_permits()).unwrap();
    open.acquire_many(spare).await.unwrap().forget();
    gated.failing.store(1, SeqCst);
    let request = sink.submit(record(6, 1)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follows = sink
        .submit_all_after(vec![record(6, 2)], request.earlier())
        .await;
    open.add_permits(1_000);
    assert!(request.committed().await.is_err());
    assert!(follows.committed().await.is_err());
    sink.submit(record(7, 1)).await.committed().await.unwrap();
    let seen = gated.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|c| !c.is_empty()),
        "an empty commit: {seen:?}"
    );
    assert_eq!(store.scan(0, 10).await.unwrap().len(), 6);
}
