//! The journal in SQLite: WAL mode, `synchronous = FULL` (a committed record survives a power
//! cut), one table of records and a one-row head anchor updated in the same transaction.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Head, JournalStore, Sealed, StoreError};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// A journal file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        session_id TEXT NOT NULL,
        terminal_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS journal_session ON journal (session_id)",
    "CREATE TABLE IF NOT EXISTS journal_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )",
];

impl SqliteStore {
    /// Opens (creating if needed) the journal at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await.map_err(err)?;
        }
        Ok(SqliteStore { pool })
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl JournalStore for SqliteStore {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM journal_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.map(|r| Head {
            seq: r.get::<i64, _>(0),
            hash: r.get::<String, _>(1),
        }))
    }

    async fn append(&self, batch: &[Sealed]) -> Result<(), StoreError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        /// Rows per INSERT: one statement (one trip to SQLite's worker thread) for many records,
        /// well inside SQLite's limit of 32,766 bound values (8 a row).
        const ROWS: usize = 256;
        let mut tx = self.pool.begin().await.map_err(err)?;
        for rows in batch.chunks(ROWS) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO journal (seq, at, session_id, terminal_id, kind, body, prev_hash, hash) ",
            );
            insert.push_values(rows, |mut row, r| {
                row.push_bind(r.seq)
                    .push_bind(&r.at)
                    .push_bind(&r.session_id)
                    .push_bind(&r.terminal_id)
                    .push_bind(&r.kind)
                    .push_bind(&r.body)
                    .push_bind(&r.prev_hash)
                    .push_bind(&r.hash);
            });
            insert.build().execute(&mut *tx).await.map_err(err)?;
        }
        sqlx::query(
            "INSERT INTO journal_head (id, seq, hash) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(last.seq)
        .bind(&last.hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn scan(&self, after: i64, limit: u32) -> Result<Vec<Sealed>, StoreError> {
        // By rowid, the order records were stored in: a reordering shows.
        let rows = sqlx::query(
            "SELECT seq, at, session_id, terminal_id, kind, body, prev_hash, hash
             FROM journal WHERE seq > ? ORDER BY rowid LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|r| Sealed {
                seq: r.get(0),
                at: r.get(1),
                session_id: r.get(2),
                terminal_id: r.get(3),
                kind: r.get(4),
                body: r.get(5),
                prev_hash: r.get(6),
                hash: r.get(7),
            })
            .collect())
    }

    async fn writable(&self) -> Result<(), StoreError> {
        sqlx::query("BEGIN IMMEDIATE; ROLLBACK;")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(err)
    }
}
