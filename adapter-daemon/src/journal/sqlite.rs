//! The journal in SQLite: WAL mode, `synchronous = FULL` (a committed record survives a power
//! cut), one table of records and a one-row head anchor updated in the same transaction. The
//! bundled SQLite syncs with fdatasync(2) when built in this workspace (.cargo/config.toml;
//! docs/decisions/0007-fdatasync.md).
//!
//! The records have no index beside their sequence number: everything the daemon reads, it
//! reads in order. An index on `session_id` (which journals made before 2026-11-28 have, and
//! keep) cost a quarter of the write volume and was used by no query
//! (docs/decisions/0006-journal-throughput.md).
//!
//! SQLite is synchronous, and the journal has one writer: the store keeps one connection for
//! writing and one for reading, each used on tokio's blocking pool, so a batch of records costs
//! one hand-over to a blocking thread and back (docs/decisions/0006-journal-throughput.md).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, params};

use super::{Head, JournalStore, Sealed, StoreError};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// A connection that [`SqliteStore::close`] can take away.
type Slot = Arc<Mutex<Option<Connection>>>;

/// A journal file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: Slot,
    read: Slot,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        session_id TEXT NOT NULL,
        terminal_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS journal_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );";

const INSERT: &str =
    "INSERT INTO journal (seq, at, session_id, terminal_id, kind, body, prev_hash, hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const MOVE_HEAD: &str = "INSERT INTO journal_head (id, seq, hash) VALUES (1, ?1, ?2)
     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash";

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let named = |e: rusqlite::Error| StoreError(format!("{}: {e}", path.display()));
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(named)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(named)?;
    // `journal_mode` answers with the mode it set: a row, so it is queried, not executed.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(named)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!(
            "{}: SQLite kept journal mode {mode}, not WAL",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(named)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the journal at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let write = connect(&path)?;
            write
                .execute_batch(SCHEMA)
                .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
            let read = connect(&path)?;
            Ok(SqliteStore {
                write: Arc::new(Mutex::new(Some(write))),
                read: Arc::new(Mutex::new(Some(read))),
            })
        })
        .await
        .map_err(err)?
    }

    /// Closes both connections; the last one out checkpoints the WAL into the database file.
    /// Later calls fail.
    pub async fn close(&self) {
        let slots = [Arc::clone(&self.read), Arc::clone(&self.write)];
        let _ = tokio::task::spawn_blocking(move || {
            for slot in slots {
                let conn = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some(conn) = conn {
                    let _ = conn.close();
                }
            }
        })
        .await;
    }
}

/// Runs `work` with the connection in `slot`, on the blocking pool.
async fn with<T, F>(slot: &Slot, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
{
    let slot = Arc::clone(slot);
    tokio::task::spawn_blocking(move || {
        let mut guard = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = guard
            .as_mut()
            .ok_or_else(|| StoreError("the journal is closed".into()))?;
        work(conn).map_err(err)
    })
    .await
    .map_err(err)?
}

#[async_trait]
impl JournalStore for SqliteStore {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        with(&self.read, |conn| {
            let mut statement =
                conn.prepare_cached("SELECT seq, hash FROM journal_head WHERE id = 1")?;
            let mut rows = statement.query([])?;
            rows.next()?
                .map(|r| {
                    Ok(Head {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn append(&self, batch: Vec<Sealed>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        with(&self.write, move |conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(INSERT)?;
                for r in &batch {
                    insert.execute(params![
                        r.seq,
                        r.at,
                        r.session_id,
                        r.terminal_id,
                        r.kind,
                        r.body,
                        r.prev_hash,
                        r.hash
                    ])?;
                }
                if let Some(last) = batch.last() {
                    tx.prepare_cached(MOVE_HEAD)?
                        .execute(params![last.seq, last.hash])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn scan(&self, after: i64, limit: u32) -> Result<Vec<Sealed>, StoreError> {
        with(&self.read, move |conn| {
            // By rowid, the order records were stored in: a reordering shows.
            let mut statement = conn.prepare_cached(
                "SELECT seq, at, session_id, terminal_id, kind, body, prev_hash, hash
                 FROM journal WHERE seq > ?1 ORDER BY rowid LIMIT ?2",
            )?;
            let rows = statement.query_map(params![after, i64::from(limit)], |r| {
                Ok(Sealed {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    session_id: r.get(2)?,
                    terminal_id: r.get(3)?,
                    kind: r.get(4)?,
                    body: r.get(5)?,
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                })
            })?;
            sized(rows, limit)
        })
        .await
    }

    async fn scan_kind(
        &self,
        after: i64,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let kind = kind.to_owned();
        with(&self.read, move |conn| {
            // Only the records of `kind` are read out (the others are passed over inside
            // SQLite): the payment book, rebuilt at start, is a small share of the journal.
            let mut statement = conn.prepare_cached(
                "SELECT seq, body FROM journal WHERE seq > ?1 AND kind = ?2
                 ORDER BY rowid LIMIT ?3",
            )?;
            let rows = statement.query_map(params![after, kind, i64::from(limit)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            sized(rows, limit)
        })
        .await
    }

    async fn writable(&self) -> Result<(), StoreError> {
        with(&self.read, |conn| {
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
        })
        .await
    }
}

/// The rows of a scan of at most `limit`, in a vector sized once: grown by doubling, a batch's
/// vector took fresh pages from the system at each step (a quarter of a start's time on a big
/// journal was the kernel zeroing them).
fn sized<T>(
    rows: impl Iterator<Item = rusqlite::Result<T>>,
    limit: u32,
) -> rusqlite::Result<Vec<T>> {
    let mut records = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(4096));
    for row in rows {
        records.push(row?);
    }
    Ok(records)
}
