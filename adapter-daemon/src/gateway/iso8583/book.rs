//! The payment book: every payment the biller host approved on a bank-switch link and what became
//! of it. The journal is the only truth: each change is a [`BillEvent`] journaled durably before
//! anyone acts on it, and the book is rebuilt from those records at start. What the book says is
//! still to do (confirm at the platform, cancel there after a reversal) is the store-and-forward
//! worker's queue.
//!
//! A payment leaves the book (is *retired*) once it is settled — confirmed, withdrawn or
//! cancelled, with nothing left to do — and its reversal window has closed: the host answers a
//! reversal arriving later 25 whether or not the payment is still here, so nothing can happen to
//! a retired payment any more, and a book rebuilt from the journal retires the same payments.
//! The day's and batches' totals keep counting retired payments.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::journal::{JournalStore, StoreError};

/// How a link names a payment: on gov-bill links terminal (DE41), STAN (DE11) and transmission
/// time (DE7); on cups-terminal links, which have no DE7, terminal, STAN and batch (DE60.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentKey {
    pub terminal: String,
    pub stan: String,
    /// DE7 (gov-bill); empty on cups-terminal links.
    pub transmitted: String,
    /// DE60.2 (cups-terminal); empty on gov-bill links.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub batch: String,
}

impl PaymentKey {
    /// The idempotency key of the payment's confirmation at the platform: visible ASCII.
    pub fn idempotency_key(&self) -> String {
        let terminal = hex::encode(self.terminal.as_bytes());
        if self.batch.is_empty() {
            format!("bill/{terminal}/{}/{}", self.stan, self.transmitted)
        } else {
            format!("bill/{terminal}/{}/b{}", self.stan, self.batch)
        }
    }
}

/// A change to the book, as journaled (kind `Bill`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BillEvent {
    /// The payment was approved: journaled before the 0210 leaves.
    Approved {
        key: PaymentKey,
        /// DE32.
        acquirer: String,
        notice: String,
        amount_fen: u64,
        /// DE37.
        rrn: String,
        /// DE38 as answered.
        auth_code: String,
        /// YYYY-MM-DD, China Standard Time.
        business_date: String,
        /// RFC 3339: store-and-forward gives up on it (an operator settles it) after the
        /// configured expiry.
        approved_at: String,
        payee: String,
    },
    /// A confirmation is about to be sent for the first time: from here on the platform may
    /// hold it, so a reversal must cancel rather than merely withdraw.
    Confirming {
        key: PaymentKey,
    },
    Confirmed {
        key: PaymentKey,
        receipt: String,
    },
    /// A confirmation or cancellation failed; `fatal` when the platform refused for good and an
    /// operator must settle the payment.
    Failed {
        key: PaymentKey,
        call: String,
        class: String,
        code: String,
        fatal: bool,
    },
    /// The switch reversed the payment (0420/0421).
    Reversed {
        key: PaymentKey,
    },
    Cancelled {
        key: PaymentKey,
        refund_reference: String,
    },
}

impl BillEvent {
    pub fn key(&self) -> &PaymentKey {
        match self {
            BillEvent::Approved { key, .. }
            | BillEvent::Confirming { key }
            | BillEvent::Confirmed { key, .. }
            | BillEvent::Failed { key, .. }
            | BillEvent::Reversed { key }
            | BillEvent::Cancelled { key, .. } => key,
        }
    }
}

/// One payment and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub key: PaymentKey,
    pub acquirer: String,
    pub notice: String,
    pub amount_fen: u64,
    pub rrn: String,
    pub auth_code: String,
    pub business_date: String,
    pub approved_at: String,
    pub payee: String,
    pub confirming: bool,
    pub receipt: Option<String>,
    pub reversed: bool,
    pub refund_reference: Option<String>,
    /// Failed attempts since the last success.
    pub failures: u32,
    pub last_error: Option<String>,
    /// The platform refused for good: an operator settles it.
    pub stuck: bool,
}

/// What the store-and-forward worker still has to do for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Work {
    /// Confirm at the platform (again, with the same idempotency key, if it was attempted).
    Confirm,
    /// Cancel the confirmed payment at the platform: the switch reversed it.
    Cancel,
}

impl Payment {
    /// The payment an approval makes (`None` for any other event).
    pub fn approved(event: &BillEvent) -> Option<Payment> {
        let BillEvent::Approved {
            key,
            acquirer,
            notice,
            amount_fen,
            rrn,
            auth_code,
            business_date,
            approved_at,
            payee,
        } = event
        else {
            return None;
        };
        Some(Payment {
            key: key.clone(),
            acquirer: acquirer.clone(),
            notice: notice.clone(),
            amount_fen: *amount_fen,
            rrn: rrn.clone(),
            auth_code: auth_code.clone(),
            business_date: business_date.clone(),
            approved_at: approved_at.clone(),
            payee: payee.clone(),
            confirming: false,
            receipt: None,
            reversed: false,
            refund_reference: None,
            failures: 0,
            last_error: None,
            stuck: false,
        })
    }

    /// When the payment was approved (`None` if its record says something unreadable).
    pub fn approval_time(&self) -> Option<time::OffsetDateTime> {
        parse_time(&self.approved_at)
    }

    /// Whether nothing is left to do for the payment: confirmed, withdrawn or cancelled.
    pub fn settled(&self) -> bool {
        !self.stuck && self.work().is_none()
    }

    /// Whether the payment stands: approved, not reversed, not left to an operator.
    pub fn stands(&self) -> bool {
        !self.reversed && !self.stuck
    }

    pub fn work(&self) -> Option<Work> {
        if self.stuck {
            return None;
        }
        match (self.reversed, &self.receipt, &self.refund_reference) {
            (false, None, _) => Some(Work::Confirm),
            // Reversed before any confirmation was sent: withdrawn, nothing to undo.
            (true, None, _) if !self.confirming => None,
            // Reversed while a confirmation may have arrived: confirm (idempotent, so the
            // platform answers with the receipt it holds or makes one), then cancel it.
            (true, None, _) => Some(Work::Confirm),
            (true, Some(_), None) => Some(Work::Cancel),
            _ => None,
        }
    }

    /// Where the payment stands, in one word.
    pub fn state(&self) -> &'static str {
        match (
            self.stuck,
            self.reversed,
            &self.receipt,
            &self.refund_reference,
        ) {
            (true, ..) => "stuck",
            (false, false, None, _) => "approved",
            (false, false, Some(_), _) => "confirmed",
            (false, true, None, _) if !self.confirming => "withdrawn",
            (false, true, _, None) => "reversing",
            (false, true, _, Some(_)) => "cancelled",
        }
    }
}

/// Counts and amounts of one acquirer's payments on one business date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub payments: u64,
    pub payments_fen: u64,
    pub reversals: u64,
    pub reversals_fen: u64,
}

/// Every payment, by key, and the indexes the biller asks at every request — kept as each
/// event is applied, so that no request, scrape or reconciliation walks every payment. Ordered
/// maps throughout: a hash map of a day's payments doubles in one step under the book's lock,
/// which stalled every link for 100 ms and more (docs/performance.md).
#[derive(Debug, Default)]
pub struct Book {
    payments: BTreeMap<PaymentKey, Payment>,
    /// Payments that stand (approved, not reversed, not stuck), by notice: what
    /// [`Book::notice_paid`] asks at every payment.
    standing: BTreeMap<String, u32>,
    /// Payments store-and-forward still has work for, in key order.
    work: BTreeSet<PaymentKey>,
    /// Payments an operator must settle.
    stuck: BTreeSet<PaymentKey>,
    /// gov-bill totals by acquirer (DE32) and business date as MMDD (DE15).
    days: BTreeMap<(String, String), Totals>,
    /// cups-terminal totals by terminal (DE41) and batch (DE60.2).
    batches: BTreeMap<(String, String), Totals>,
    /// Payments by approval (Unix seconds), oldest first: the order they leave in. A B-tree,
    /// like the maps above, so that it never moves a whole day's entries at once.
    by_approval: BTreeSet<(i64, PaymentKey)>,
    /// Payments past their window that were not settled when their turn came: retired once
    /// they are.
    lingering: BTreeSet<PaymentKey>,
    /// The latest approval applied (Unix seconds): the book's own clock when it is rebuilt.
    latest_approval: i64,
}

/// What one [`Book::retire`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retirement {
    /// Payments that left the book.
    pub retired: usize,
    /// Whether payments past the cut-off are still to be looked at (the limit was reached).
    pub more: bool,
}

/// A rebuilt book retires with its own clock (the latest approval it has read) this much later
/// than a running one would: a reversal is decided a moment before it is journaled, and payments
/// approved meanwhile may already be in the journal before it.
const REPLAY_MARGIN: Duration = Duration::from_secs(600);

/// An RFC 3339 time.
fn parse_time(rfc3339: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()
}

/// Unix seconds of an RFC 3339 time.
fn unix_seconds(rfc3339: &str) -> Option<i64> {
    parse_time(rfc3339).map(time::OffsetDateTime::unix_timestamp)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What of one payment the book's indexes count.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    exists: bool,
    stands: bool,
    reversed: bool,
    stuck: bool,
}

impl Marks {
    fn of(p: &Payment) -> Marks {
        Marks {
            exists: true,
            stands: p.stands(),
            reversed: p.reversed,
            stuck: p.stuck,
        }
    }
}

/// `n` added when `up`, taken away otherwise.
fn shift(value: &mut u64, n: u64, up: bool) {
    *value = if up {
        value.saturating_add(n)
    } else {
        value.saturating_sub(n)
    };
}

/// MMDD of a business date written YYYY-MM-DD.
fn month_day(business_date: &str) -> String {
    business_date
        .get(5..)
        .map(|d| d.replace('-', ""))
        .unwrap_or_default()
}

impl Book {
    /// Rebuilds the book from the journal's `Bill` records: every payment ever approved (for
    /// the operator's tools, which list and reconcile them).
    pub async fn load(store: &dyn JournalStore) -> Result<Book, StoreError> {
        Book::replay(store, None).await
    }

    /// Rebuilds the book a running host keeps: payments settled and past `reversal_window`
    /// retired as the journal is read, so that the book never holds more than a running one
    /// would (plus [`REPLAY_MARGIN`]). The host retires by its clock afterwards.
    pub async fn load_within(
        store: &dyn JournalStore,
        reversal_window: Duration,
    ) -> Result<Book, StoreError> {
        Book::replay(store, Some(reversal_window)).await
    }

    async fn replay(
        store: &dyn JournalStore,
        reversal_window: Option<Duration>,
    ) -> Result<Book, StoreError> {
        let mut book = Book::default();
        let mut after = 0;
        loop {
            let batch = store.scan_kind(after, "Bill", 2048).await?;
            let Some((last, _)) = batch.last() else { break };
            after = *last;
            for (seq, body) in &batch {
                let event: BillEvent = serde_json::from_str(body).map_err(|e| {
                    StoreError(format!("journal record {seq}: not a bill event: {e}"))
                })?;
                book.apply(&event);
            }
            if let Some(window) = reversal_window {
                let cutoff = book
                    .latest_approval
                    .saturating_sub(seconds(window))
                    .saturating_sub(seconds(REPLAY_MARGIN));
                book.retire(cutoff, usize::MAX);
            }
        }
        // Those past their window that were still unsettled when their turn came, and have
        // been settled since: once, at the end, rather than after every batch.
        book.retire_lingering();
        Ok(book)
    }

    /// Retires settled payments approved before `approved_before` (Unix seconds), looking at
    /// most at `limit` of them (so that a caller holding the book's lock can let go between
    /// rounds). Payments past the cut-off that still have work, or are left to an operator,
    /// stay until they are settled (then [`Book::retire_lingering`] retires them).
    pub fn retire(&mut self, approved_before: i64, limit: usize) -> Retirement {
        let mut retirement = Retirement::default();
        let mut looked = 0;
        while let Some((at, _)) = self.by_approval.first() {
            if *at >= approved_before {
                break;
            }
            if looked == limit {
                retirement.more = true;
                break;
            }
            looked += 1;
            let Some((_, key)) = self.by_approval.pop_first() else {
                break;
            };
            match self.payments.get(&key) {
                Some(p) if p.settled() => retirement.retired += usize::from(self.remove(&key)),
                Some(_) => {
                    self.lingering.insert(key);
                }
                None => {}
            }
        }
        retirement
    }

    /// Retires the payments that were past their window but unsettled when [`Book::retire`]
    /// came to them, and are settled now; how many.
    pub fn retire_lingering(&mut self) -> usize {
        let settled: Vec<PaymentKey> = self
            .lingering
            .iter()
            .filter(|k| self.payments.get(k).is_none_or(Payment::settled))
            .cloned()
            .collect();
        let mut retired = 0;
        for key in settled {
            self.lingering.remove(&key);
            retired += usize::from(self.remove(&key));
        }
        retired
    }

    /// Takes a settled payment out of the book and of the notices that stand.
    fn remove(&mut self, key: &PaymentKey) -> bool {
        let Some(p) = self.payments.remove(key) else {
            return false;
        };
        if p.stands()
            && let Some(n) = self.standing.get_mut(&p.notice)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.standing.remove(&p.notice);
            }
        }
        true
    }

    /// How many payments the book holds.
    pub fn len(&self) -> usize {
        self.payments.len()
    }

    /// Whether the book holds no payment.
    pub fn is_empty(&self) -> bool {
        self.payments.is_empty()
    }

    pub fn apply(&mut self, event: &BillEvent) {
        let key = event.key();
        let before = self.payments.get(key).map(Marks::of).unwrap_or_default();
        self.change(event);
        let Book {
            payments,
            standing,
            work,
            stuck,
            days,
            batches,
            ..
        } = self;
        let Some(p) = payments.get(key) else {
            return;
        };
        let after = Marks::of(p);
        if before.stands && !after.stands {
            if let Some(n) = standing.get_mut(&p.notice) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    standing.remove(&p.notice);
                }
            }
        } else if !before.stands && after.stands {
            *standing.entry(p.notice.clone()).or_default() += 1;
        }
        if p.work().is_some() {
            if !work.contains(key) {
                work.insert(key.clone());
            }
        } else {
            work.remove(key);
        }
        if after.stuck && !before.stuck {
            stuck.insert(key.clone());
        } else if before.stuck && !after.stuck {
            stuck.remove(key);
        }
        if p.key.batch.is_empty() {
            if before.exists && before.reversed == after.reversed {
                return;
            }
            let t = days
                .entry((p.acquirer.clone(), month_day(&p.business_date)))
                .or_default();
            if !before.exists {
                shift(&mut t.payments, 1, true);
                shift(&mut t.payments_fen, p.amount_fen, true);
            }
            if before.reversed != after.reversed {
                shift(&mut t.reversals, 1, after.reversed);
                shift(&mut t.reversals_fen, p.amount_fen, after.reversed);
            }
        } else {
            // A reversed payment counts nowhere in a batch, as UnionPay terminals settle.
            let counted = |m: Marks| m.exists && !m.reversed;
            if counted(before) == counted(after) {
                return;
            }
            let t = batches
                .entry((p.key.terminal.clone(), p.key.batch.clone()))
                .or_default();
            shift(&mut t.payments, 1, counted(after));
            shift(&mut t.payments_fen, p.amount_fen, counted(after));
        }
    }

    fn change(&mut self, event: &BillEvent) {
        if let BillEvent::Approved { key, .. } = event {
            if let std::collections::btree_map::Entry::Vacant(entry) =
                self.payments.entry(key.clone())
                && let Some(p) = Payment::approved(event)
            {
                if let Some(at) = unix_seconds(&p.approved_at) {
                    self.by_approval.insert((at, key.clone()));
                    self.latest_approval = self.latest_approval.max(at);
                }
                entry.insert(p);
            }
            return;
        }
        let Some(p) = self.payments.get_mut(event.key()) else {
            return;
        };
        match event {
            BillEvent::Approved { .. } => {}
            BillEvent::Confirming { .. } => p.confirming = true,
            BillEvent::Confirmed { receipt, .. } => {
                p.receipt = Some(receipt.clone());
                p.failures = 0;
                p.last_error = None;
            }
            BillEvent::Failed {
                call,
                class,
                code,
                fatal,
                ..
            } => {
                p.failures += 1;
                p.last_error = Some(format!("{call}: {class} {code}"));
                p.stuck |= *fatal;
            }
            BillEvent::Reversed { .. } => p.reversed = true,
            BillEvent::Cancelled {
                refund_reference, ..
            } => {
                p.refund_reference = Some(refund_reference.clone());
                p.failures = 0;
                p.last_error = None;
            }
        }
    }

    pub fn get(&self, key: &PaymentKey) -> Option<&Payment> {
        self.payments.get(key)
    }

    /// Whether a payment of `notice` stands (approved and not reversed): the notice is paid,
    /// whether or not the platform has heard yet.
    pub fn notice_paid(&self, notice: &str) -> bool {
        self.standing.get(notice).is_some_and(|n| *n > 0)
    }

    /// Payments with work left, oldest key first.
    pub fn pending(&self) -> Vec<(Payment, Work)> {
        self.work
            .iter()
            .filter_map(|k| self.payments.get(k))
            .filter_map(|p| p.work().map(|w| (p.clone(), w)))
            .collect()
    }

    /// Up to `limit` payments with work left that `ready` admits, oldest key first.
    pub fn pending_batch(
        &self,
        limit: usize,
        ready: impl Fn(&PaymentKey) -> bool,
    ) -> Vec<(Payment, Work)> {
        let mut batch = Vec::with_capacity(limit.min(self.work.len()));
        batch.extend(
            self.work
                .iter()
                .filter(|k| ready(k))
                .filter_map(|k| self.payments.get(k))
                .filter_map(|p| p.work().map(|w| (p.clone(), w)))
                .take(limit),
        );
        batch
    }

    /// Whether store-and-forward still has work for `key`.
    pub fn has_work(&self, key: &PaymentKey) -> bool {
        self.work.contains(key)
    }

    /// How many payments have work left.
    pub fn pending_count(&self) -> usize {
        self.work.len()
    }

    /// How many payments an operator must settle.
    pub fn stuck_count(&self) -> usize {
        self.stuck.len()
    }

    /// Payments an operator must settle, by key.
    pub fn stuck(&self) -> Vec<Payment> {
        self.stuck
            .iter()
            .filter_map(|k| self.payments.get(k))
            .cloned()
            .collect()
    }

    /// Every payment, by key.
    pub fn all(&self) -> Vec<Payment> {
        self.payments.values().cloned().collect()
    }

    /// The totals of a cups-terminal terminal's batch: its payments that stand (a reversed one
    /// counts nowhere, as UnionPay terminals settle).
    pub fn batch_totals(&self, terminal: &str, batch: &str) -> Totals {
        self.batches
            .get(&(terminal.to_owned(), batch.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// The totals of `acquirer` on the business date whose month and day are `mmdd`.
    pub fn totals(&self, acquirer: &str, mmdd: &str) -> Totals {
        self.days
            .get(&(acquirer.to_owned(), mmdd.to_owned()))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stan: &str) -> PaymentKey {
        PaymentKey {
            terminal: "ATM00001".into(),
            stan: stan.into(),
            transmitted: "1201100000".into(),
            batch: String::new(),
        }
    }

    fn approved(stan: &str) -> BillEvent {
        approved_as(key(stan))
    }

    fn approved_as(key: PaymentKey) -> BillEvent {
        BillEvent::Approved {
            key,
            acquirer: "01020000".into(),
            notice: "44010026110000012345".into(),
            amount_fen: 20000,
            rrn: "633510000001".into(),
            auth_code: "A1B2C3".into(),
            business_date: "2026-12-01".into(),
            approved_at: "2026-12-01T02:00:00Z".into(),
            payee: "广州市公安局交通警察支队".into(),
        }
    }

    #[test]
    fn the_work_follows_the_state() {
        let mut book = Book::default();
        book.apply(&approved("000001"));
        assert_eq!(book.pending().first().map(|p| p.1), Some(Work::Confirm));

        // Reversed before any confirmation went out: withdrawn, nothing to do.
        book.apply(&BillEvent::Reversed { key: key("000001") });
        assert!(book.pending().is_empty());
        assert_eq!(
            book.get(&key("000001")).map(Payment::state),
            Some("withdrawn")
        );

        // Reversed after a confirmation was sent: confirm (idempotent) then cancel.
        book.apply(&approved("000002"));
        book.apply(&BillEvent::Confirming { key: key("000002") });
        book.apply(&BillEvent::Reversed { key: key("000002") });
        assert_eq!(book.pending().first().map(|p| p.1), Some(Work::Confirm));
        book.apply(&BillEvent::Confirmed {
            key: key("000002"),
            receipt: "RC-1".into(),
        });
        assert_eq!(book.pending().first().map(|p| p.1), Some(Work::Cancel));
        book.apply(&BillEvent::Cancelled {
            key: key("000002"),
            refund_reference: "RF-1".into(),
        });
        assert!(book.pending().is_empty());
        assert_eq!(
            book.get(&key("000002")).map(Payment::state),
            Some("cancelled")
        );

        // A fatal refusal takes it out of the queue and onto the operator's list.
        book.apply(&approved("000003"));
        book.apply(&BillEvent::Failed {
            key: key("000003"),
            call: "confirm_payment".into(),
            class: "Final".into(),
            code: "NOTICE_PAID".into(),
            fatal: true,
        });
        assert!(book.pending().is_empty());
        assert_eq!(book.stuck().len(), 1);

        let t = book.totals("01020000", "1201");
        assert_eq!(
            t,
            Totals {
                payments: 3,
                payments_fen: 60000,
                reversals: 2,
                reversals_fen: 40000
            }
        );
        assert_eq!(book.totals("01020000", "1202"), Totals::default());
        assert_eq!(book.stuck_count(), 1);
    }

    #[test]
    fn a_batch_counts_the_payments_that_stand() {
        let in_batch = |stan: &str| PaymentKey {
            batch: "000007".into(),
            transmitted: String::new(),
            ..key(stan)
        };
        let mut book = Book::default();
        for stan in ["000001", "000002", "000003"] {
            book.apply(&approved_as(in_batch(stan)));
        }
        book.apply(&BillEvent::Reversed {
            key: in_batch("000002"),
        });
        // A second reversal of the same payment changes nothing.
        book.apply(&BillEvent::Reversed {
            key: in_batch("000002"),
        });
        assert_eq!(
            book.batch_totals("ATM00001", "000007"),
            Totals {
                payments: 2,
                payments_fen: 40000,
                reversals: 0,
                reversals_fen: 0
            }
        );
        assert_eq!(book.batch_totals("ATM00001", "000008"), Totals::default());
        // cups-terminal payments are not in any acquirer's gov-bill totals.
        assert_eq!(book.totals("01020000", "1201"), Totals::default());
    }

    /// The kept indexes equal what a walk over every payment computes, for any events in any
    /// order: repeats, events of unknown payments, reversals before or after confirmation.
    mod indexes {
        use super::*;
        use proptest::prelude::*;

        fn key_of(terminal: u8, stan: u8, cups: bool) -> PaymentKey {
            PaymentKey {
                terminal: format!("ATM0000{terminal}"),
                stan: format!("00000{stan}"),
                transmitted: if cups {
                    String::new()
                } else {
                    "1201100000".into()
                },
                batch: if cups { "000001".into() } else { String::new() },
            }
        }

        fn event() -> impl Strategy<Value = BillEvent> {
            (0u8..2, 0u8..4, any::<bool>(), 0u8..7, 0u8..3, 1u64..5).prop_map(
                |(terminal, stan, cups, kind, notice, amount)| {
                    let key = key_of(terminal, stan, cups);
                    match kind {
                        0 | 1 => BillEvent::Approved {
                            key,
                            acquirer: format!("0102000{notice}"),
                            notice: format!("4401002611000001234{notice}"),
                            amount_fen: amount * 100,
                            rrn: "633510000001".into(),
                            auth_code: "A1B2C3".into(),
                            business_date: format!("2026-12-0{}", 1 + notice % 2),
                            approved_at: "2026-12-01T02:00:00Z".into(),
                            payee: "payee".into(),
                        },
                        2 => BillEvent::Confirming { key },
                        3 => BillEvent::Confirmed {
                            key,
                            receipt: "RC-1".into(),
                        },
                        4 => BillEvent::Reversed { key },
                        5 => BillEvent::Cancelled {
                            key,
                            refund_reference: "RF-1".into(),
                        },
                        _ => BillEvent::Failed {
                            key,
                            call: "confirm_payment".into(),
                            class: "Final".into(),
                            code: "X".into(),
                            fatal: amount % 2 == 0,
                        },
                    }
                },
            )
        }

        proptest! {
            #[test]
            fn the_kept_indexes_equal_a_walk_over_every_payment(
                events in proptest::collection::vec(event(), 0..60)
            ) {
                let mut book = Book::default();
                for e in &events {
                    book.apply(e);
                }
                let all = book.all();
                prop_assert_eq!(
                    book.stuck_count(),
                    all.iter().filter(|p| p.stuck).count()
                );
                prop_assert_eq!(
                    book.pending_count(),
                    all.iter().filter(|p| p.work().is_some()).count()
                );
                for p in &all {
                    let standing = all
                        .iter()
                        .filter(|q| q.notice == p.notice && q.stands())
                        .count();
                    prop_assert_eq!(book.notice_paid(&p.notice), standing > 0);
                    let mut day = Totals::default();
                    let mut batch = Totals::default();
                    for q in &all {
                        if q.key.batch.is_empty()
                            && q.acquirer == p.acquirer
                            && q.business_date == p.business_date
                        {
                            day.payments += 1;
                            day.payments_fen += q.amount_fen;
                            if q.reversed {
                                day.reversals += 1;
                                day.reversals_fen += q.amount_fen;
                            }
                        }
                        if !q.key.batch.is_empty()
                            && q.key.terminal == p.key.terminal
                            && q.key.batch == p.key.batch
                            && !q.reversed
                        {
                            batch.payments += 1;
                            batch.payments_fen += q.amount_fen;
                        }
                    }
                    let mmdd = p.business_date.get(5..).unwrap_or_default().replace('-', "");
                    prop_assert_eq!(book.totals(&p.acquirer, &mmdd), day);
                    prop_assert_eq!(book.batch_totals(&p.key.terminal, &p.key.batch), batch);
                }
            }

            /// Retiring keeps every payment with work or left to an operator, and the indexes
            /// of what is left still equal a walk over it; events after it change what is left
            /// as they would have.
            #[test]
            fn retiring_keeps_the_work_and_the_indexes(
                before in proptest::collection::vec(event(), 0..40),
                after in proptest::collection::vec(event(), 0..20),
                past in any::<bool>(),
            ) {
                let mut book = Book::default();
                for e in &before {
                    book.apply(e);
                }
                let (pending, stuck) = (book.pending_count(), book.stuck_count());
                let cutoff = unix_seconds(if past {
                    "2026-12-02T00:00:00Z"
                } else {
                    "2026-11-30T00:00:00Z"
                })
                .unwrap_or_default();
                let done = book.retire(cutoff, usize::MAX);
                prop_assert!(!done.more);
                prop_assert_eq!((book.pending_count(), book.stuck_count()), (pending, stuck));
                if past {
                    prop_assert!(book.all().iter().all(|p| !p.settled()));
                } else {
                    prop_assert_eq!(done.retired, 0);
                }
                for e in &after {
                    book.apply(e);
                }
                book.retire_lingering();
                book.retire(cutoff, usize::MAX);
                let all = book.all();
                prop_assert_eq!(book.pending_count(), all.iter().filter(|p| p.work().is_some()).count());
                prop_assert_eq!(book.stuck_count(), all.iter().filter(|p| p.stuck).count());
                prop_assert_eq!(book.len(), all.len());
                for p in &all {
                    let standing = all.iter().filter(|q| q.notice == p.notice && q.stands()).count();
                    prop_assert_eq!(book.notice_paid(&p.notice), standing > 0);
                }
            }
        }
    }

    /// A payment approved at `at` (RFC 3339) for notice `notice`.
    fn approved_at(stan: &str, notice: &str, at: &str) -> BillEvent {
        let BillEvent::Approved {
            key,
            acquirer,
            amount_fen,
            rrn,
            auth_code,
            business_date,
            payee,
            ..
        } = approved(stan)
        else {
            unreachable!()
        };
        BillEvent::Approved {
            key,
            acquirer,
            notice: notice.into(),
            amount_fen,
            rrn,
            auth_code,
            business_date,
            approved_at: at.into(),
            payee,
        }
    }

    fn confirmed(stan: &str) -> BillEvent {
        BillEvent::Confirmed {
            key: key(stan),
            receipt: format!("RC-{stan}"),
        }
    }

    fn unix(at: &str) -> i64 {
        unix_seconds(at).unwrap_or_else(|| unreachable!())
    }

    /// Settled payments past the cut-off leave; one past it with work left stays until it is
    /// settled; newer ones stay; the day's totals still count every payment.
    #[test]
    fn settled_payments_past_the_cut_off_leave_the_book() {
        let mut book = Book::default();
        book.apply(&approved_at("000001", "N1", "2026-12-01T02:00:00Z"));
        book.apply(&confirmed("000001"));
        book.apply(&approved_at("000002", "N2", "2026-12-01T02:00:01Z"));
        book.apply(&approved_at("000003", "N3", "2026-12-01T02:00:02Z"));
        book.apply(&BillEvent::Reversed { key: key("000003") });
        book.apply(&approved_at("000004", "N4", "2026-12-04T02:00:00Z"));
        book.apply(&confirmed("000004"));
        let totals = book.totals("01020000", "1201");
        assert!(book.notice_paid("N1"));

        let done = book.retire(unix("2026-12-02T00:00:00Z"), usize::MAX);
        assert_eq!(
            done,
            Retirement {
                retired: 2,
                more: false
            }
        );
        assert!(book.get(&key("000001")).is_none(), "confirmed: left");
        assert!(book.get(&key("000003")).is_none(), "withdrawn: left");
        assert!(book.get(&key("000002")).is_some(), "still to confirm");
        assert!(book.get(&key("000004")).is_some(), "within its window");
        assert!(!book.notice_paid("N1"), "the platform knows it is paid");
        assert!(book.notice_paid("N2") && book.notice_paid("N4"));
        assert_eq!(book.totals("01020000", "1201"), totals);
        assert_eq!(book.pending_count(), 1);
        assert_eq!(book.len(), 2);

        // Once confirmed, the lingering payment leaves at the next look at those.
        book.apply(&confirmed("000002"));
        assert_eq!(
            book.retire(unix("2026-12-02T00:00:00Z"), usize::MAX)
                .retired,
            0
        );
        assert_eq!(book.retire_lingering(), 1);
        assert_eq!(book.len(), 1);
        assert!(book.get(&key("000004")).is_some());
    }

    /// A round looks at no more payments than asked, and says when more are waiting.
    #[test]
    fn a_round_stops_at_its_limit() {
        let mut book = Book::default();
        for n in 1..=5 {
            let stan = format!("{n:06}");
            book.apply(&approved_at(
                &stan,
                &format!("N{n}"),
                "2026-12-01T02:00:00Z",
            ));
            book.apply(&confirmed(&stan));
        }
        let cutoff = unix("2026-12-02T00:00:00Z");
        assert_eq!(
            book.retire(cutoff, 2),
            Retirement {
                retired: 2,
                more: true
            }
        );
        assert_eq!(book.retire(cutoff, 2).retired, 2);
        assert_eq!(
            book.retire(cutoff, 2),
            Retirement {
                retired: 1,
                more: false
            }
        );
        assert!(book.is_empty());
    }

    /// A payment retired, then approved again under the same key (a late retransmission of a
    /// withdrawn payment), is a new payment, in a running book and a rebuilt one alike.
    #[test]
    fn a_key_approved_again_after_it_left_is_a_new_payment() {
        let mut book = Book::default();
        book.apply(&approved_at("000001", "N1", "2026-12-01T02:00:00Z"));
        book.apply(&BillEvent::Reversed { key: key("000001") });
        book.retire(unix("2026-12-02T00:00:00Z"), usize::MAX);
        book.apply(&approved_at("000001", "N1", "2026-12-05T02:00:00Z"));
        let p = book
            .get(&key("000001"))
            .cloned()
            .unwrap_or_else(|| unreachable!());
        assert_eq!(p.state(), "approved");
        assert_eq!(p.approved_at, "2026-12-05T02:00:00Z");
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = approved("000009");
        let text = serde_json::to_string(&e).unwrap_or_default();
        assert!(
            text.contains("\"event\":\"approved\"") && text.contains("\"amountFen\":20000"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<BillEvent>(&text).ok(), Some(e));
        assert!(key("000009").idempotency_key().is_ascii());
    }
}
