//! Day-end reconciliation of bank-switch payments: the journal's payment book against the
//! platform's reconciliation report for a date (`stm-adapter reconcile --date`).
//!
//! Payments are matched by the bank's reference (DE37, the RRN) the confirmation carried.
//! Platform payments whose receipt the journal holds from a terminal session are the terminals'
//! and not compared here.

use std::collections::{HashMap, HashSet};

use adapter_core::platform::{ReconciliationReport, ReportedPayment};
use serde::Serialize;

use super::book::{Payment, PaymentKey};

/// The receipts of payments taken in terminal sessions, from the journal.
pub async fn terminal_receipts(
    store: &dyn crate::journal::JournalStore,
) -> Result<HashSet<String>, crate::journal::StoreError> {
    let mut receipts = HashSet::new();
    let mut after = 0;
    loop {
        let batch = store.scan(after, 2048).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for record in batch.iter().filter(|r| r.kind == "PaymentConfirmed") {
            let body: serde_json::Value = serde_json::from_str(&record.body).unwrap_or_default();
            if let Some(receipt) = body.get("receiptNumber").and_then(|r| r.as_str()) {
                receipts.insert(receipt.to_owned());
            }
        }
    }
    Ok(receipts)
}

/// One way the journal and the platform disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "difference",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Difference {
    /// Approved and standing here, not (or not yet) confirmed at the platform.
    NotConfirmed {
        key: PaymentKey,
        notice: String,
        amount_fen: u64,
        rrn: String,
        /// Store-and-forward still works on it.
        pending: bool,
    },
    /// Reversed here, still standing at the platform.
    NotCancelled {
        key: PaymentKey,
        notice: String,
        amount_fen: u64,
        rrn: String,
        receipt: String,
    },
    /// Standing here, cancelled at the platform.
    CancelledOnlyAtPlatform {
        key: PaymentKey,
        notice: String,
        rrn: String,
        receipt: String,
    },
    /// The amounts differ.
    Amount {
        key: PaymentKey,
        rrn: String,
        journal_fen: u64,
        platform_fen: u64,
    },
    /// The platform has a standing payment of this bank the journal does not know.
    OnlyAtPlatform {
        notice: String,
        receipt: String,
        amount_fen: u64,
        rrn: Option<String>,
    },
    /// The platform holds the same bank reference more than once, standing.
    Duplicate { rrn: String, receipts: Vec<String> },
}

/// Compares the book's payments approved on `date` (YYYY-MM-DD) with the platform's report for
/// that date. `terminal_receipts` are the receipts of terminal-session payments in the journal.
pub fn compare(
    date: &str,
    payments: &[Payment],
    terminal_receipts: &HashSet<String>,
    report: &ReconciliationReport,
) -> Vec<Difference> {
    let mut by_rrn: HashMap<&str, Vec<&ReportedPayment>> = HashMap::new();
    for entry in &report.payments {
        if terminal_receipts.contains(&entry.receipt_number) {
            continue;
        }
        by_rrn
            .entry(entry.bank_reference.as_deref().unwrap_or_default())
            .or_default()
            .push(entry);
    }
    let mut differences = Vec::new();
    for p in payments.iter().filter(|p| p.business_date == date) {
        let entries = by_rrn.remove(p.rrn.as_str()).unwrap_or_default();
        let standing: Vec<&&ReportedPayment> = entries.iter().filter(|e| !e.cancelled).collect();
        let withdrawn_or_cancelled = p.reversed;
        match (withdrawn_or_cancelled, standing.as_slice()) {
            (false, []) => {
                if let Some(cancelled) = entries.first() {
                    differences.push(Difference::CancelledOnlyAtPlatform {
                        key: p.key.clone(),
                        notice: p.notice.clone(),
                        rrn: p.rrn.clone(),
                        receipt: cancelled.receipt_number.clone(),
                    });
                } else {
                    differences.push(Difference::NotConfirmed {
                        key: p.key.clone(),
                        notice: p.notice.clone(),
                        amount_fen: p.amount_fen,
                        rrn: p.rrn.clone(),
                        pending: p.work().is_some(),
                    });
                }
            }
            (false, [one]) => {
                if one.amount_fen != p.amount_fen {
                    differences.push(Difference::Amount {
                        key: p.key.clone(),
                        rrn: p.rrn.clone(),
                        journal_fen: p.amount_fen,
                        platform_fen: one.amount_fen,
                    });
                }
            }
            (true, []) => {}
            (true, [one, ..]) => differences.push(Difference::NotCancelled {
                key: p.key.clone(),
                notice: p.notice.clone(),
                amount_fen: p.amount_fen,
                rrn: p.rrn.clone(),
                receipt: one.receipt_number.clone(),
            }),
            (false, many) => differences.push(Difference::Duplicate {
                rrn: p.rrn.clone(),
                receipts: many.iter().map(|e| e.receipt_number.clone()).collect(),
            }),
        }
    }
    let mut rest: Vec<&ReportedPayment> = by_rrn
        .into_values()
        .flatten()
        .filter(|e| !e.cancelled)
        .collect();
    rest.sort_by(|a, b| a.receipt_number.cmp(&b.receipt_number));
    for e in rest {
        differences.push(Difference::OnlyAtPlatform {
            notice: e.notice_number.clone(),
            receipt: e.receipt_number.clone(),
            amount_fen: e.amount_fen,
            rrn: e.bank_reference.clone(),
        });
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::iso8583::book::{BillEvent, Book};

    fn approve(book: &mut Book, stan: &str, rrn: &str, amount: u64) -> PaymentKey {
        let key = PaymentKey {
            terminal: "ATM00001".into(),
            stan: stan.into(),
            transmitted: "1201100000".into(),
            batch: String::new(),
        };
        book.apply(&BillEvent::Approved {
            key: key.clone(),
            acquirer: "01020000".into(),
            notice: format!("N-{stan}"),
            amount_fen: amount,
            rrn: rrn.into(),
            auth_code: "A1B2C3".into(),
            business_date: "2026-12-01".into(),
            approved_at: "2026-12-01T02:00:00Z".into(),
            payee: "payee".into(),
        });
        key
    }

    fn entry(rrn: Option<&str>, receipt: &str, amount: u64, cancelled: bool) -> ReportedPayment {
        ReportedPayment {
            notice_number: "N".into(),
            receipt_number: receipt.into(),
            amount_fen: amount,
            bank_reference: rrn.map(str::to_owned),
            cancelled,
        }
    }

    #[test]
    fn every_kind_of_difference_is_named_and_agreement_is_silent() {
        let mut book = Book::default();
        let agreed = approve(&mut book, "000001", "R1", 100);
        book.apply(&BillEvent::Confirmed {
            key: agreed,
            receipt: "RC1".into(),
        });
        approve(&mut book, "000002", "R2", 200); // not confirmed yet
        let reversed = approve(&mut book, "000003", "R3", 300);
        book.apply(&BillEvent::Reversed { key: reversed });
        approve(&mut book, "000004", "R4", 400); // amount differs at the platform
        let withdrawn = approve(&mut book, "000005", "R5", 500);
        book.apply(&BillEvent::Reversed { key: withdrawn });
        let report = ReconciliationReport {
            date: "2026-12-01".into(),
            payments: vec![
                entry(Some("R1"), "RC1", 100, false),
                entry(Some("R3"), "RC3", 300, false),
                entry(Some("R4"), "RC4", 401, false),
                entry(Some("R9"), "RC9", 900, false),
                entry(Some("T1"), "RC-TERMINAL", 50, false),
                entry(Some("R8"), "RC8", 800, true),
            ],
        };
        let terminal: HashSet<String> = ["RC-TERMINAL".to_owned()].into();
        let found = compare("2026-12-01", &book.all(), &terminal, &report);
        let kinds: Vec<String> = found
            .iter()
            .map(|d| serde_json::to_value(d).unwrap_or_default()["difference"].to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "\"not-confirmed\"",
                "\"not-cancelled\"",
                "\"amount\"",
                "\"only-at-platform\""
            ],
            "{found:?}"
        );
        assert!(matches!(
            &found[0],
            Difference::NotConfirmed { pending: true, .. }
        ));

        // Another day: nothing of the book, only the platform's.
        let none = compare(
            "2026-12-02",
            &book.all(),
            &terminal,
            &ReconciliationReport {
                date: "2026-12-02".into(),
                payments: Vec::new(),
            },
        );
        assert!(none.is_empty());
    }
}
