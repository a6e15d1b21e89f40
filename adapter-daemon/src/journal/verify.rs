//! Walks the journal's chain and says what is wrong, and where: a record edited, deleted,
//! reordered, or records cut from the end.

use super::{GENESIS, JournalStore, Sealed, StoreError};

/// What is wrong with a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The record's hash does not match its contents.
    Edited { seq: i64 },
    /// Records are missing between two that are present.
    Deleted { from: i64, to: i64 },
    /// The record stored under `seq` was written as record `written_as`.
    Moved { seq: i64, written_as: i64 },
    /// The record does not chain to the one before it.
    Unchained { seq: i64 },
    /// The head anchor says there were records up to `head`, the journal ends at `last`.
    Truncated { last: i64, head: i64 },
    /// The head anchor does not match the last record.
    HeadMismatch { last: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Edited { seq } => write!(
                f,
                "record {seq} was edited: its hash does not match its contents"
            ),
            Problem::Deleted { from, to } if from == to => write!(f, "record {from} was deleted"),
            Problem::Deleted { from, to } => write!(f, "records {from} to {to} were deleted"),
            Problem::Moved { seq, written_as } => write!(
                f,
                "record {seq} was written as record {written_as}: records were reordered"
            ),
            Problem::Unchained { seq } => write!(
                f,
                "record {seq} does not follow the record before it: a record was replaced or removed"
            ),
            Problem::Truncated { last, head } => write!(
                f,
                "records {} to {head} were deleted from the end",
                last + 1
            ),
            Problem::HeadMismatch { last } => {
                write!(f, "the head anchor does not match the last record ({last})")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub records: u64,
    pub last_seq: i64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the whole chain of `store` under `chain_key`.
pub async fn verify(store: &dyn JournalStore, chain_key: &[u8; 32]) -> Result<Report, StoreError> {
    let mut problems = Vec::new();
    let mut records = 0u64;
    let mut prev_seq = 0i64;
    let mut prev_hash = GENESIS.to_owned();
    let mut cursor = i64::MIN;
    let mut prev_bad = false;
    loop {
        let page = store.scan(cursor, 1000).await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        for r in &page {
            records += 1;
            let before = problems.len();
            check(r, prev_seq, &prev_hash, chain_key, prev_bad, &mut problems);
            prev_bad = problems.len() > before;
            prev_seq = r.seq;
            prev_hash = r.hash.clone();
        }
    }
    match store.head().await? {
        Some(head) if head.seq > prev_seq => problems.push(Problem::Truncated {
            last: prev_seq,
            head: head.seq,
        }),
        Some(head) if head.seq != prev_seq || head.hash != prev_hash => {
            problems.push(Problem::HeadMismatch { last: prev_seq });
        }
        None if records > 0 => problems.push(Problem::HeadMismatch { last: prev_seq }),
        _ => {}
    }
    Ok(Report {
        records,
        last_seq: prev_seq,
        problems,
    })
}

/// Checks one record against the one before it. After a bad record, a broken link to it is
/// its consequence, not news.
fn check(
    r: &Sealed,
    prev_seq: i64,
    prev_hash: &str,
    key: &[u8; 32],
    prev_bad: bool,
    problems: &mut Vec<Problem>,
) {
    if r.seq > prev_seq + 1 {
        problems.push(Problem::Deleted {
            from: prev_seq + 1,
            to: r.seq - 1,
        });
    }
    if r.hash != r.compute_hash(key) {
        // Written under another number? Then it was moved, not edited.
        let moved = (r.seq - 16..=r.seq + 16)
            .filter(|s| *s != r.seq && *s > 0)
            .find(|s| r.hash == r.hash_as(*s, key));
        problems.push(match moved {
            Some(written_as) => Problem::Moved {
                seq: r.seq,
                written_as,
            },
            None => Problem::Edited { seq: r.seq },
        });
    } else if r.prev_hash != prev_hash && r.seq == prev_seq + 1 && !prev_bad {
        problems.push(Problem::Unchained { seq: r.seq });
    }
}
