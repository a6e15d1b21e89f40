//! A circuit breaker per platform operation.
//!
//! Closed: calls go through; `failure_threshold` consecutive failures (transport errors,
//! timeouts, 5xx) open it. Open: calls fail at once for `open_for`, sparing the platform and the
//! citizens waiting at terminals. Then half-open: one probe goes through; its success closes the
//! breaker, its failure opens it again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Operation;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub failure_threshold: u32,
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// A breaker's state, as the admin API and the logs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// The breakers of every operation.
#[derive(Debug)]
pub struct Breakers {
    policy: BreakerPolicy,
    states: Mutex<HashMap<Operation, BreakerState>>,
}

/// Whether a call may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The breaker is open; it half-opens at `retry_at`.
    Refused {
        retry_at: Instant,
    },
}

impl Breakers {
    pub fn new(policy: BreakerPolicy) -> Breakers {
        Breakers {
            policy,
            states: Mutex::new(HashMap::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<Operation, BreakerState>) -> R) -> R {
        let mut guard = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    pub fn state(&self, op: Operation) -> BreakerState {
        self.with(|s| {
            s.get(&op).copied().unwrap_or(BreakerState::Closed {
                consecutive_failures: 0,
            })
        })
    }

    /// Asks to make a call of `op` at `now`.
    pub fn admit(&self, op: Operation, now: Instant) -> Admission {
        self.with(|states| {
            let state = states.entry(op).or_insert(BreakerState::Closed {
                consecutive_failures: 0,
            });
            match *state {
                BreakerState::Closed { .. } => Admission::Allowed,
                BreakerState::Open { until } if now < until => {
                    Admission::Refused { retry_at: until }
                }
                BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                    *state = BreakerState::HalfOpen { probing: true };
                    Admission::Allowed
                }
                BreakerState::HalfOpen { probing: true } => Admission::Refused {
                    retry_at: now + self.policy.open_for,
                },
            }
        })
    }

    /// Records the outcome of an admitted call. `failed` is a failure of the platform (not a
    /// business refusal); the result tells whether this opened the breaker.
    pub fn record(&self, op: Operation, failed: bool, now: Instant) -> bool {
        self.with(|states| {
            let state = states.entry(op).or_insert(BreakerState::Closed {
                consecutive_failures: 0,
            });
            let next = match (*state, failed) {
                (_, false) => BreakerState::Closed {
                    consecutive_failures: 0,
                },
                (
                    BreakerState::Closed {
                        consecutive_failures,
                    },
                    true,
                ) if consecutive_failures + 1 < self.policy.failure_threshold => {
                    BreakerState::Closed {
                        consecutive_failures: consecutive_failures + 1,
                    }
                }
                (BreakerState::Open { until }, true) => BreakerState::Open { until },
                (_, true) => BreakerState::Open {
                    until: now + self.policy.open_for,
                },
            };
            let opened = matches!(next, BreakerState::Open { .. })
                && !matches!(*state, BreakerState::Open { .. });
            *state = next;
            opened
        })
    }

    /// Every operation whose breaker is not closed.
    pub fn open_operations(&self) -> Vec<(Operation, BreakerState)> {
        self.with(|s| {
            let mut open: Vec<_> = s
                .iter()
                .filter(|(_, st)| !matches!(st, BreakerState::Closed { .. }))
                .map(|(o, st)| (*o, *st))
                .collect();
            open.sort_by_key(|(o, _)| *o);
            open
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_once() {
        let b = Breakers::new(BreakerPolicy {
            failure_threshold: 3,
            open_for: Duration::from_secs(10),
        });
        let op = Operation::ConfirmPayment;
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.admit(op, t0), Admission::Allowed);
            assert!(!b.record(op, true, t0));
        }
        assert_eq!(b.admit(op, t0), Admission::Allowed);
        assert!(b.record(op, true, t0), "the third failure opens it");
        assert!(matches!(b.admit(op, t0), Admission::Refused { .. }));
        // Other operations are not affected.
        assert_eq!(b.admit(Operation::QueryNotice, t0), Admission::Allowed);

        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(op, later), Admission::Allowed, "the probe");
        assert!(
            matches!(b.admit(op, later), Admission::Refused { .. }),
            "one probe at a time"
        );
        b.record(op, true, later);
        assert!(matches!(
            b.admit(op, later + Duration::from_secs(1)),
            Admission::Refused { .. }
        ));

        let again = later + Duration::from_secs(11);
        assert_eq!(b.admit(op, again), Admission::Allowed);
        b.record(op, false, again);
        assert_eq!(
            b.state(op),
            BreakerState::Closed {
                consecutive_failures: 0
            }
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breakers::new(BreakerPolicy {
            failure_threshold: 2,
            open_for: Duration::from_secs(10),
        });
        let op = Operation::QueryNotice;
        let t = Instant::now();
        b.record(op, true, t);
        b.record(op, false, t);
        assert!(!b.record(op, true, t));
        assert_eq!(b.admit(op, t), Admission::Allowed);
    }
}
