//! The sandbox platform: the platform contract (docs/openapi.yaml) served in-process from
//! synthetic data (fixtures/sandbox/), so `stm-adapter serve` works on a fresh machine and the
//! client, the gateways and the conformance kit have a platform to talk to.
//!
//! It behaves like the platform we assume: it verifies request signatures (HMAC-SHA256 or
//! SM2-SM3), refuses stale timestamps and replayed nonces, keeps idempotency keys (a retried
//! confirmation has one effect), signs its answers, and can misbehave on purpose: latency,
//! faults per operation, a maintenance window, a rate limit (fixtures/sandbox/sandbox.toml), and
//! scripted faults for tests ([`Sandbox::inject`]).
//!
//! It is a test double with real behaviour, never a production platform: its data is synthetic
//! and its documents say so on every page.

pub mod data;
mod http;
pub mod pdf;
pub mod portrait;
pub mod world;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use adapter_core::shipped::DataSet;

pub use data::{SandboxData, SandboxFiles, shipped};
pub use http::TlsListener;
pub use portrait::portrait;

use crate::platform::Operation;
use data::{App, FaultRates, Settings};
use world::{Reply, World};

/// A fault to inject into the next call of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 before anything happens.
    Unavailable,
    /// The operation takes effect; the answer is a 503.
    LostAnswer,
    /// The operation takes effect; the answer is held back this long.
    Hang(Duration),
    /// The answer's signature is wrong.
    BadSignature,
    /// The answer is a 200 with a body against the contract (correctly signed).
    WrongSchema,
    /// The answer's headers come at once, its body a byte at a time over this long.
    SlowBody(Duration),
    /// The operation is not there, as on a platform of an earlier contract version: the 404
    /// `NO_SUCH_PATH` of an unknown path (signed, the caller being known), before anything
    /// happens.
    Absent,
}

/// How the sandbox is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Refuse unsigned requests (the default). Off only for contract testing.
    pub require_signature: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            require_signature: true,
        }
    }
}

/// A stored answer to an idempotency key.
#[derive(Debug, Clone)]
struct Stored {
    fingerprint: [u8; 32],
    reply: Reply,
}

#[derive(Debug)]
struct Core {
    world: World,
    /// Ordered maps here and in [`Nonces`]: a hash map of every key doubles in one step under
    /// the sandbox's lock, holding up every call in flight.
    idempotency: BTreeMap<(String, String), Stored>,
    effects: BTreeMap<Operation, u64>,
}

#[derive(Debug, Default)]
struct Faults {
    scripted: HashMap<Operation, VecDeque<Fault>>,
    rates: BTreeMap<Operation, FaultRates>,
    maintenance: Option<bool>,
}

#[derive(Debug)]
struct Inner {
    core: Mutex<Core>,
    settings: Settings,
    apps: HashMap<String, App>,
    options: SandboxOptions,
    faults: Mutex<Faults>,
    nonces: Mutex<Nonces>,
    rate: Mutex<HashMap<String, (i64, u32)>>,
    clock_offset: Mutex<time::Duration>,
    requests: std::sync::atomic::AtomicU64,
}

/// Nonces seen and until when they count, forgotten in the order they expire: a replay within
/// the timestamp tolerance is refused, and memory stays bounded by the traffic of that window.
///
/// A nonce is kept as [`NonceKey`], 128 bits, not as its app's and its own text: the window
/// holds every call of ten minutes (millions under load), and two strings compared byte by
/// byte at each level of the tree were 4 % of the daemon's CPU at 6,400 payments a second.
#[derive(Debug, Default)]
struct Nonces {
    seen: BTreeMap<NonceKey, time::OffsetDateTime>,
    by_expiry: std::collections::VecDeque<(time::OffsetDateTime, NonceKey)>,
}

/// The first 128 bits of SHA-256 over an app id and a nonce: two calls share one only if they
/// share both (a collision is as likely as 2^-128 per pair, and would refuse a call, never
/// admit a replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct NonceKey(u128);

impl NonceKey {
    fn of(app_id: &str, nonce: &str) -> NonceKey {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(app_id.as_bytes())
            .chain_update([0u8])
            .chain_update(nonce.as_bytes())
            .finalize();
        let mut first = [0u8; 16];
        for (to, from) in first.iter_mut().zip(digest.iter()) {
            *to = *from;
        }
        NonceKey(u128::from_be_bytes(first))
    }
}

impl Nonces {
    /// Records `key` until `expiry`; `false` when it was seen and has not expired.
    fn spend(
        &mut self,
        key: NonceKey,
        now: time::OffsetDateTime,
        expiry: time::OffsetDateTime,
    ) -> bool {
        while let Some((at, _)) = self.by_expiry.front()
            && *at <= now
        {
            if let Some((at, old)) = self.by_expiry.pop_front()
                && self.seen.get(&old) == Some(&at)
            {
                self.seen.remove(&old);
            }
        }
        if self.seen.get(&key).is_some_and(|at| *at > now) {
            return false;
        }
        self.seen.insert(key, expiry);
        self.by_expiry.push_back((expiry, key));
        true
    }
}

/// The sandbox platform. Clones share one state.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    pub fn new(data: Arc<DataSet>, sandbox: &SandboxData, options: SandboxOptions) -> Sandbox {
        let apps = sandbox
            .settings
            .apps
            .iter()
            .map(|a| (a.id.clone(), a.clone()))
            .collect();
        Sandbox {
            inner: Arc::new(Inner {
                core: Mutex::new(Core {
                    world: World::new(sandbox, data),
                    idempotency: BTreeMap::new(),
                    effects: BTreeMap::new(),
                }),
                settings: sandbox.settings.clone(),
                apps,
                options,
                faults: Mutex::new(Faults {
                    rates: sandbox.settings.faults.clone(),
                    ..Faults::default()
                }),
                nonces: Mutex::new(Nonces::default()),
                rate: Mutex::new(HashMap::new()),
                clock_offset: Mutex::new(time::Duration::ZERO),
                requests: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The axum router serving the contract under [`crate::platform::wire::BASE_PATH`].
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// The platform's business clock: real time plus what [`Sandbox::advance_clock`] added.
    pub fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + *lock(&self.inner.clock_offset)
    }

    /// Moves the business clock forward (applications advance, slots pass). Signatures keep
    /// real time.
    pub fn advance_clock(&self, by: time::Duration) {
        *lock(&self.inner.clock_offset) += by;
    }

    /// Queues `fault` for the next call of `op`; queued faults come before the configured rates.
    pub fn inject(&self, op: Operation, fault: Fault) {
        lock(&self.inner.faults)
            .scripted
            .entry(op)
            .or_default()
            .push_back(fault);
    }

    /// Sets the fault rates of `op`.
    pub fn set_fault_rates(&self, op: Operation, rates: FaultRates) {
        lock(&self.inner.faults).rates.insert(op, rates);
    }

    /// Forces the maintenance window open or shut; `None` follows the settings.
    pub fn force_maintenance(&self, on: Option<bool>) {
        lock(&self.inner.faults).maintenance = on;
    }

    /// How many times `op` took effect (first executions that succeeded; replays of an
    /// idempotency key do not count).
    pub fn effects(&self, op: Operation) -> u64 {
        lock(&self.inner.core)
            .effects
            .get(&op)
            .copied()
            .unwrap_or(0)
    }

    /// Payments recorded and not cancelled.
    pub fn payments_recorded(&self) -> usize {
        lock(&self.inner.core).world.payments_recorded()
    }

    /// Requests received, of any kind.
    pub fn requests_seen(&self) -> u64 {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves on `listener` (TLS when `tls` is given) until `shutdown` completes; connections
    /// still open five seconds later are dropped.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        http::serve(self.router(), listener, tls, shutdown).await
    }

    /// Serves plain HTTP on a Unix socket (the daemon's in-process platform) until `shutdown`.
    #[cfg(unix)]
    pub async fn serve_unix(
        &self,
        listener: tokio::net::UnixListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        http::serve_unix(self.router(), listener, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::{NonceKey, Nonces};

    /// A nonce counts once per app until it expires; the same nonce of another app is another.
    #[test]
    fn a_nonce_is_spent_once_per_app_until_it_expires() {
        let t0 = time::OffsetDateTime::UNIX_EPOCH;
        let later = |s: i64| t0 + time::Duration::seconds(s);
        let mut nonces = Nonces::default();
        let key = NonceKey::of("gz-bank-stm", "0123456789abcdef");
        assert!(nonces.spend(key, t0, later(600)));
        assert!(!nonces.spend(key, later(599), later(1_199)));
        assert!(nonces.spend(
            NonceKey::of("gz-bank-atm", "0123456789abcdef"),
            later(1),
            later(601)
        ));
        // The app and the nonce are kept apart: moving a character across is another key.
        assert_ne!(
            NonceKey::of("gz-bank-stm0", "123456789abcdef"),
            NonceKey::of("gz-bank-stm", "0123456789abcdef")
        );
        // Expired at 600: spent anew; the other app's, until 601, is still kept.
        assert!(nonces.spend(key, later(600), later(1_200)));
        assert_eq!(nonces.seen.len(), 2);
    }
}
