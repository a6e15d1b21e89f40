//! The ISO 8583 host gateway: the daemon as biller host on bank-switch links
//! (docs/iso8583-binding.md). One task per link reads frames of the link's dialect, answers
//! each request in order, and echoes an idle link.
//!
//! Every message in and out is journaled (its MTI, processing code, STAN, terminal and response
//! code; never a PAN) before the answer leaves: a request that changes something before it is
//! acted on, one that changes nothing (an inquiry) together with its answer. A frame that cannot
//! be decoded closes the link: without its STAN there is nothing a switch could match an answer
//! to. Nothing a link does disturbs another link or the rest of the daemon.

mod biller;
pub mod book;
mod cups;
pub mod keys;
pub mod reconcile;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_core::platform::{
    ErrorClass, PaymentCancellation, PaymentConfirmation, PaymentMethod, PlatformApi, PlatformError,
};
use adapter_protocols::framing::codec::{FrameCodec, OwnedFrame};
use adapter_protocols::iso8583::Dialect;
use adapter_protocols::iso8583::mac::MacKey;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use crate::gateway::tsp::Clock;
use crate::journal::JournalSink;
use crate::journal::record::{JournalEvent, JournalRecord};

pub use biller::Summary;
use book::{BillEvent, Book, Payment, PaymentKey, Totals, Work};

/// The wire binding a listener speaks (docs/iso8583-binding.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// Bank switches: ISO 8583:1987 ASCII, DE48 TLV, DE7 on every message.
    GovBill,
    /// Terminals that speak the UnionPay terminal frame: TPDU and header, BCD, sign-on with
    /// working keys, the UnionPay MAC.
    CupsTerminal,
}

impl Binding {
    pub fn from_dialect(name: &str) -> Option<Binding> {
        match name {
            "gov-bill" => Some(Binding::GovBill),
            "cups-terminal" => Some(Binding::CupsTerminal),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Binding::GovBill => "gov-bill",
            Binding::CupsTerminal => cups::DIALECT,
        }
    }
}

/// How the host gateway behaves.
pub struct HostConfig {
    /// The dialect of gov-bill links.
    pub gov_bill: &'static Dialect,
    /// The dialect of cups-terminal links.
    pub cups: &'static Dialect,
    /// The X9.19 MAC key, when gov-bill links carry a MAC.
    pub mac: Option<MacKey>,
    /// The master keys of the terminals allowed on cups-terminal links.
    pub master_keys: Arc<keys::MasterKeys>,
    /// A link silent this long gets an echo (0800, DE70 301).
    pub idle_echo: Duration,
    /// A link that does not answer the echo within this is closed.
    pub echo_timeout: Duration,
    /// The longest an answer waits for the platform (then DE39 91).
    pub platform_timeout: Duration,
    /// Store-and-forward stops retrying a payment this long after its approval and leaves it
    /// to an operator (`stm-adapter saf list`).
    pub saf_expiry: Duration,
    /// A reversal this long after its payment's approval is answered 25 (no such original); a
    /// settled payment leaves the book once it is past this.
    pub reversal_window: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("mac", &self.mac.is_some())
            .field("master_keys", &self.master_keys)
            .field("idle_echo", &self.idle_echo)
            .field("echo_timeout", &self.echo_timeout)
            .field("platform_timeout", &self.platform_timeout)
            .field("saf_expiry", &self.saf_expiry)
            .field("reversal_window", &self.reversal_window)
            .finish_non_exhaustive()
    }
}

/// A link as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub link_id: String,
    pub binding: Binding,
    pub peer: String,
    pub tls: bool,
    pub signed_on: bool,
}

/// The biller host on bank-switch links.
pub struct HostGateway {
    config: HostConfig,
    platform: Arc<dyn PlatformApi>,
    journal: Arc<dyn JournalSink>,
    links: Mutex<HashMap<String, LinkView>>,
    next_link: AtomicU64,
    accepting: AtomicBool,
    /// Every payment and its state; changed only after the change is journaled.
    book: Mutex<Book>,
    /// Wakes the store-and-forward worker.
    saf: Notify,
    /// Signed-on cups-terminal terminals, by DE41: they may reconnect for every transaction.
    terminals: Mutex<HashMap<String, cups::TerminalSession>>,
    /// Requests run side by side; those about the same payment or the same notice take turns.
    serial: Arc<Serial>,
}

/// Named turns: a second holder of a name waits until the first is done. Names nobody holds
/// or waits for are forgotten.
#[derive(Debug, Default)]
struct Serial {
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A turn; the next in line goes when it is dropped.
struct Turn {
    serial: Arc<Serial>,
    name: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Serial {
    async fn turn(self: &Arc<Self>, name: String) -> Turn {
        let mutex = Arc::clone(lock(&self.held).entry(name.clone()).or_default());
        let guard = mutex.lock_owned().await;
        Turn {
            serial: Arc::clone(self),
            name,
            guard: Some(guard),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.guard = None;
        let mut held = lock(&self.serial.held);
        if held
            .get(&self.name)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            held.remove(&self.name);
        }
    }
}

impl std::fmt::Debug for HostGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostGateway")
            .field("config", &self.config)
            .field("links", &lock(&self.links).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A financial request's end, handed back to its link's writer.
enum Answered {
    /// The answer (journaled already), or nothing to send (a response, matched).
    Send(Option<Vec<u8>>, Envelope),
    /// The journal refused a record: the link stops rather than answer unrecorded.
    Unrecorded,
}

/// Whether a request runs beside others: financial requests once the link may send them.
/// Network management, responses, and anything refused before sign-on stay in order.
fn concurrent(binding: Binding, request: &biller::Request, state: &biller::LinkState) -> bool {
    let mti = request.message.mti();
    match binding {
        Binding::GovBill => {
            state.signed_on() && matches!(mti.as_str(), "0200" | "0420" | "0421" | "0500")
        }
        Binding::CupsTerminal => matches!(mti.as_str(), "0200" | "0400" | "0500"),
    }
}

/// Writes a message (nothing for `None`).
async fn write<S>(
    framed: &mut Framed<S, FrameCodec>,
    bytes: Option<Vec<u8>>,
    envelope: Envelope,
) -> Result<(), LinkEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    feed(framed, bytes, envelope).await?;
    framed.flush().await.map_err(|e| LinkEnd::Io(e.to_string()))
}

/// Queues a message on the link without flushing it (the codec writes out when its buffer
/// fills; [`write`] and the answer loop flush).
async fn feed<S>(
    framed: &mut Framed<S, FrameCodec>,
    bytes: Option<Vec<u8>>,
    envelope: Envelope,
) -> Result<(), LinkEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(bytes) = bytes else {
        return Ok(());
    };
    framed
        .feed(OwnedFrame {
            tpdu: envelope.tpdu,
            header: envelope.header,
            body: bytes.into(),
        })
        .await
        .map_err(|e| LinkEnd::Io(e.to_string()))
}

/// What goes around a message body on the wire (cups-terminal: TPDU and header).
#[derive(Debug, Default)]
struct Envelope {
    tpdu: Option<adapter_protocols::framing::Tpdu>,
    header: Option<bytes::Bytes>,
}

/// Why a link ended.
#[derive(Debug)]
enum LinkEnd {
    PeerClosed,
    Malformed(String),
    EchoUnanswered,
    Idle,
    Journal,
    Io(String),
    Shutdown,
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEnd::PeerClosed => f.write_str("the switch closed the link"),
            LinkEnd::Malformed(e) => write!(f, "a frame could not be decoded: {e}"),
            LinkEnd::EchoUnanswered => f.write_str("the echo was not answered"),
            LinkEnd::Idle => f.write_str("the terminal was idle"),
            LinkEnd::Journal => f.write_str("the journal refused a record"),
            LinkEnd::Io(e) => write!(f, "transport: {e}"),
            LinkEnd::Shutdown => f.write_str("the daemon is stopping"),
        }
    }
}

impl HostGateway {
    /// A host over `book` (rebuilt from the journal with [`Book::load`]).
    pub fn new(
        config: HostConfig,
        platform: Arc<dyn PlatformApi>,
        journal: Arc<dyn JournalSink>,
        book: Book,
    ) -> HostGateway {
        HostGateway {
            config,
            platform,
            journal,
            links: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(1),
            accepting: AtomicBool::new(true),
            book: Mutex::new(book),
            saf: Notify::new(),
            terminals: Mutex::new(HashMap::new()),
            serial: Arc::default(),
        }
    }

    fn begin_terminal_session(&self, terminal: String, session: cups::TerminalSession) {
        lock(&self.terminals).insert(terminal, session);
    }

    fn end_terminal_session(&self, terminal: &str) {
        lock(&self.terminals).remove(terminal);
    }

    fn terminal_session(&self, terminal: &str) -> Option<cups::TerminalSession> {
        lock(&self.terminals).get(terminal).cloned()
    }

    fn batch_totals(&self, terminal: &str, batch: &str) -> Totals {
        lock(&self.book).batch_totals(terminal, batch)
    }

    /// Journals a change to the book, then applies it. `false`: the journal refused it and
    /// nothing changed.
    async fn record(&self, link: &str, peer: &str, event: BillEvent) -> bool {
        if !self
            .journal(link, peer, JournalEvent::Bill(event.clone()))
            .await
        {
            return false;
        }
        lock(&self.book).apply(&event);
        true
    }

    /// Journals a request's answer (`None`: nothing to record) together with the changes the
    /// request staged, as one unit in one commit, stored only if the request's own record is
    /// (the unit is handed over without waiting for that commit); then applies the changes to
    /// the book and lets the next request about the same payment or notice go. `false`: the
    /// journal refused the request's record or the unit, and nothing changed.
    async fn conclude(&self, origin: &biller::Origin<'_>, answer: Option<JournalEvent>) -> bool {
        let staged = origin.take_staged();
        let records: Vec<JournalRecord> = staged
            .events
            .iter()
            .map(|e| JournalEvent::Bill(e.clone()))
            .chain(answer)
            .map(|event| JournalRecord {
                session_id: origin.link.to_owned(),
                terminal_id: origin.peer.to_owned(),
                event,
            })
            .collect();
        let unit = if records.is_empty() {
            None
        } else {
            let earlier = origin.received.earlier();
            Some(self.journal.submit_all_after(records, earlier).await)
        };
        // The request's record is committed before the unit, and the unit only if it was.
        if !origin.received.committed().await {
            warn!(
                link = origin.link,
                "journal refused an ISO 8583 request's record"
            );
            return false;
        }
        if let Some(unit) = unit
            && let Err(e) = unit.committed().await
        {
            warn!(link = origin.link, error = %e, "journal refused an ISO 8583 record");
            return false;
        }
        if !staged.events.is_empty() {
            let mut book = lock(&self.book);
            for event in &staged.events {
                book.apply(event);
            }
            drop(book);
            self.wake_store_and_forward();
        }
        true
    }

    fn payment(&self, key: &PaymentKey) -> Option<Payment> {
        lock(&self.book).get(key).cloned()
    }

    fn notice_paid(&self, notice: &str) -> bool {
        lock(&self.book).notice_paid(notice)
    }

    fn totals(&self, acquirer: &str, mmdd: &str) -> Totals {
        lock(&self.book).totals(acquirer, mmdd)
    }

    fn wake_store_and_forward(&self) {
        self.saf.notify_one();
    }

    /// Every payment of the book, by key.
    pub fn payments(&self) -> Vec<Payment> {
        lock(&self.book).all()
    }

    /// How many payments store-and-forward works on, and how many are left to an operator
    /// (for /metrics: counted, not copied).
    pub fn store_and_forward_counts(&self) -> (usize, usize) {
        let book = lock(&self.book);
        (book.pending_count(), book.stuck_count())
    }

    /// Payments store-and-forward still works on, and those left to an operator.
    pub fn store_and_forward_queue(&self) -> (Vec<(Payment, Work)>, Vec<Payment>) {
        let book = lock(&self.book);
        (book.pending(), book.stuck())
    }

    /// Confirms approved payments at the platform and cancels reversed ones, each with its
    /// idempotency key, retrying with backoff until the platform acknowledges, refuses for good
    /// or the payment expires. Runs until `stop`.
    pub async fn store_and_forward(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        /// Payments taken up per round; single calls (cancellations) in flight at once;
        /// confirmations per `confirmPayments` call, and such calls in flight at once.
        const ROUND: usize = 512;
        const IN_FLIGHT: usize = 32;
        const BATCH: usize = 64;
        const BATCHES_IN_FLIGHT: usize = 4;
        const GATHER: Duration = Duration::from_millis(5);
        let mut retry_at: HashMap<PaymentKey, tokio::time::Instant> = HashMap::new();
        loop {
            let now = tokio::time::Instant::now();
            let round = lock(&self.book)
                .pending_batch(ROUND, |k| retry_at.get(k).is_none_or(|at| *at <= now));
            let full = round.len() == ROUND;
            // Each payment's calls stay in order; different payments go to the platform side
            // by side, confirmations many to a call, and their journal records share commits.
            let (confirms, singles): (Vec<_>, Vec<_>) = round
                .into_iter()
                .partition(|(p, work)| matches!(work, Work::Confirm) && !self.expired(p));
            let confirms: Vec<Vec<Payment>> = confirms
                .chunks(BATCH)
                .map(|chunk| chunk.iter().map(|(p, _)| p.clone()).collect())
                .collect();
            let singles = futures_util::stream::iter(singles)
                .map(|(payment, work)| {
                    let host = &self;
                    async move { vec![(payment.key.clone(), host.forward(&payment, work).await)] }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<_>>();
            let batches = futures_util::stream::iter(confirms)
                .map(|payments| self.confirm_all(payments))
                .buffer_unordered(BATCHES_IN_FLIGHT)
                .collect::<Vec<_>>();
            let (singles, batches) = tokio::join!(singles, batches);
            for (key, outcome) in singles.into_iter().chain(batches).flatten() {
                match outcome {
                    Ok(()) => {
                        retry_at.remove(&key);
                    }
                    Err(after) => {
                        retry_at.insert(key, tokio::time::Instant::now() + after);
                    }
                }
            }
            if *stop.borrow() {
                return;
            }
            // A payment that failed once and was finished another way (withdrawn by a
            // reversal) leaves its retry time behind: forget those now and then.
            if retry_at.len() > 1024 {
                let book = lock(&self.book);
                retry_at.retain(|key, _| book.has_work(key));
            }
            if full {
                continue;
            }
            let now = tokio::time::Instant::now();
            let sleep = retry_at
                .values()
                .filter(|at| **at > now)
                .min()
                .map_or(Duration::from_secs(30), |at| {
                    at.saturating_duration_since(now)
                });
            tokio::select! {
                () = self.saf.notified() => {
                    // Let the approvals of the next few milliseconds join this round's call.
                    tokio::time::sleep(GATHER).await;
                }
                () = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One step for one payment; `Err` says when to try again.
    async fn forward(&self, p: &Payment, work: Work) -> Result<(), Duration> {
        if self.expired(p) {
            let event = BillEvent::Failed {
                key: p.key.clone(),
                call: "store-and-forward".into(),
                class: "Expired".into(),
                code: "EXPIRED".into(),
                fatal: true,
            };
            warn!(notice = %p.notice, "store-and-forward gave up: an operator settles this payment");
            return if self.record(SAF, &p.key.terminal, event).await {
                Ok(())
            } else {
                Err(backoff(p))
            };
        }
        match work {
            Work::Confirm => self
                .confirm_all(vec![p.clone()])
                .await
                .pop()
                .map_or(Ok(()), |(_, outcome)| outcome),
            Work::Cancel => {
                let cancellation = PaymentCancellation {
                    idempotency_key: format!("{}/cancel", p.key.idempotency_key()),
                    notice_number: p.notice.clone(),
                    receipt_number: p.receipt.clone().unwrap_or_default(),
                    reason: "reversed by the bank switch".into(),
                };
                let result = tokio::time::timeout(
                    self.config.platform_timeout,
                    self.platform.cancel_payment(cancellation),
                )
                .await
                .unwrap_or_else(|_| Err(timed_out()))
                .map(|c| BillEvent::Cancelled {
                    key: p.key.clone(),
                    refund_reference: c.refund_reference,
                });
                self.settle(p, "cancel_payment", result).await
            }
        }
    }

    /// Confirms `payments` at the platform in one call: each first recorded `confirming` (the
    /// platform may hold it from then on), then its answer recorded. Each payment's outcome;
    /// `Err` says when to try it again.
    async fn confirm_all(&self, payments: Vec<Payment>) -> Vec<(PaymentKey, Result<(), Duration>)> {
        let ready =
            futures_util::future::join_all(payments.iter().map(|p| self.confirming(p))).await;
        let mut outcomes = Vec::with_capacity(payments.len());
        let mut sending = Vec::with_capacity(payments.len());
        for (p, ready) in payments.into_iter().zip(ready) {
            match ready {
                Ok(true) => sending.push(p),
                // Withdrawn, or taken further: the next round sees what is left.
                Ok(false) => outcomes.push((p.key.clone(), Ok(()))),
                Err(after) => outcomes.push((p.key.clone(), Err(after))),
            }
        }
        if sending.is_empty() {
            return outcomes;
        }
        let confirmations = sending
            .iter()
            .map(|p| PaymentConfirmation {
                idempotency_key: p.key.idempotency_key(),
                notice_number: p.notice.clone(),
                amount_fen: p.amount_fen,
                method: PaymentMethod::Card,
                bank_reference: Some(p.rrn.clone()),
                terminal_id: p.key.terminal.clone(),
            })
            .collect();
        let answers = tokio::time::timeout(
            self.config.platform_timeout,
            self.platform.confirm_payments(confirmations),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out()))
        .and_then(|answers| {
            if answers.len() == sending.len() {
                Ok(answers)
            } else {
                // Which answer is whose is unknown: as if the call had failed (each may be
                // confirmed; its key makes the next attempt the same confirmation).
                Err(PlatformError::new(
                    ErrorClass::BadResponse,
                    "BAD_SCHEMA",
                    format!(
                        "{} answers to {} confirmations",
                        answers.len(),
                        sending.len()
                    ),
                ))
            }
        });
        let answers: Vec<Result<BillEvent, PlatformError>> = match answers {
            Ok(answers) => sending
                .iter()
                .zip(answers)
                .map(|(p, answer)| {
                    answer.map(|c| BillEvent::Confirmed {
                        key: p.key.clone(),
                        receipt: c.receipt_number,
                    })
                })
                .collect(),
            Err(e) => sending.iter().map(|_| Err(e.clone())).collect(),
        };
        let settled = futures_util::future::join_all(sending.iter().zip(answers).map(
            |(p, answer)| async move {
                (
                    p.key.clone(),
                    self.settle(p, "confirm_payment", answer).await,
                )
            },
        ))
        .await;
        outcomes.extend(settled);
        outcomes
    }

    /// Records that `p`'s confirmation is about to go out, unless it was recorded already.
    /// `Ok(false)`: nothing is to be confirmed any more.
    ///
    /// `p` is as the round found it. A reversal since then has withdrawn the payment if no
    /// confirmation was on its way: read it again under its turn, which a reversal holds until
    /// it is journaled, and confirm only what is still to be confirmed (once `Confirming` is
    /// stored, a reversal cancels).
    async fn confirming(&self, p: &Payment) -> Result<bool, Duration> {
        if p.confirming {
            return Ok(true);
        }
        let _turn = self.serial.turn(payment_turn(&p.key)).await;
        let still_to_confirm = lock(&self.book)
            .get(&p.key)
            .is_some_and(|now| matches!(now.work(), Some(Work::Confirm)) && !now.confirming);
        if !still_to_confirm {
            return Ok(false);
        }
        if self
            .record(
                SAF,
                &p.key.terminal,
                BillEvent::Confirming { key: p.key.clone() },
            )
            .await
        {
            Ok(true)
        } else {
            Err(backoff(p))
        }
    }

    /// Records the platform's answer to `call` for `p`: the event its success makes, or its
    /// failure (for good when the platform refused for good).
    async fn settle(
        &self,
        p: &Payment,
        call: &str,
        result: Result<BillEvent, PlatformError>,
    ) -> Result<(), Duration> {
        match result {
            Ok(event) => {
                if self.record(SAF, &p.key.terminal, event).await {
                    Ok(())
                } else {
                    Err(backoff(p))
                }
            }
            Err(e) => {
                let fatal = matches!(e.class, ErrorClass::Final | ErrorClass::NotFound);
                warn!(call, notice = %p.notice, class = ?e.class, code = %e.code, fatal, "store-and-forward call failed");
                let event = BillEvent::Failed {
                    key: p.key.clone(),
                    call: call.into(),
                    class: format!("{:?}", e.class),
                    code: e.code,
                    fatal,
                };
                let _ = self.record(SAF, &p.key.terminal, event).await;
                if fatal { Ok(()) } else { Err(backoff(p)) }
            }
        }
    }

    /// Whether `p`'s reversal window has closed: a reversal now is answered as for an unknown
    /// original, whether or not the payment is still in the book, so that a book rebuilt from
    /// the journal (which retires by the approvals' times) never misses a reversal.
    fn past_reversal_window(&self, p: &Payment) -> bool {
        p.approval_time()
            .is_some_and(|at| (self.config.clock)() - at > self.config.reversal_window)
    }

    /// How many payments the book holds (for /metrics).
    pub fn book_len(&self) -> usize {
        lock(&self.book).len()
    }

    /// Retires settled payments past their reversal window from the book, now and every
    /// minute, until `stop`: without it the book would keep every payment ever approved.
    pub async fn retire_settled(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        /// Payments looked at under one hold of the book's lock.
        const ROUND: usize = 512;
        const EVERY: Duration = Duration::from_secs(60);
        loop {
            // A window too long to subtract retires nothing.
            let cutoff = time::Duration::try_from(self.config.reversal_window)
                .ok()
                .and_then(|window| (self.config.clock)().checked_sub(window))
                .map_or(i64::MIN, time::OffsetDateTime::unix_timestamp);
            let mut retired = lock(&self.book).retire_lingering();
            loop {
                let round = lock(&self.book).retire(cutoff, ROUND);
                retired += round.retired;
                if !round.more {
                    break;
                }
                tokio::task::yield_now().await;
            }
            if retired > 0 {
                info!(
                    retired,
                    kept = self.book_len(),
                    "settled payments past their reversal window left the book"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn expired(&self, p: &Payment) -> bool {
        p.failures > 0
            && p.approval_time()
                .is_some_and(|at| (self.config.clock)() - at > self.config.saf_expiry)
    }

    /// Live links, for the admin API.
    pub fn links(&self) -> Vec<LinkView> {
        let mut list: Vec<LinkView> = lock(&self.links).values().cloned().collect();
        list.sort_by(|a, b| a.link_id.cmp(&b.link_id));
        list
    }

    /// Accepts links until `shutdown` turns true; live links end at their next frame boundary.
    /// With `tls`, a switch must present a client certificate of the configured CA.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        binding: Binding,
        tls: Option<Arc<rustls::ServerConfig>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let acceptor = tls.map(TlsAcceptor::from);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let host = Arc::clone(&self);
                        let acceptor = acceptor.clone();
                        let stop = shutdown.clone();
                        tokio::spawn(async move {
                            match acceptor {
                                None => host.link(tcp, binding, format!("tcp:{peer}"), false, stop).await,
                                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => {
                                        let name = stream
                                            .get_ref()
                                            .1
                                            .peer_certificates()
                                            .and_then(|c| c.first())
                                            .and_then(crate::tls::peer_common_name)
                                            .unwrap_or_else(|| "unnamed".into());
                                        host.link(stream, binding, format!("{name}@{peer}"), true, stop).await;
                                    }
                                    Ok(Err(e)) => debug!(%peer, error = %e, "ISO 8583 TLS handshake refused"),
                                    Err(_) => debug!(%peer, "ISO 8583 TLS handshake timed out"),
                                },
                            }
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "ISO 8583 accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        self.accepting.store(false, Ordering::SeqCst);
                        break;
                    }
                }
            }
        }
    }

    /// Journals a record and waits for its commit.
    async fn journal(&self, link: &str, peer: &str, event: JournalEvent) -> bool {
        match self.submit(link, peer, event).await.committed().await {
            Ok(()) => true,
            Err(e) => {
                warn!(link, error = %e, "journal refused an ISO 8583 record");
                false
            }
        }
    }

    /// Hands a record to the journal without waiting for its commit.
    async fn submit(&self, link: &str, peer: &str, event: JournalEvent) -> crate::journal::Receipt {
        self.journal
            .submit(JournalRecord {
                session_id: link.to_owned(),
                terminal_id: peer.to_owned(),
                event,
            })
            .await
    }

    /// Runs one link until it ends.
    async fn link<S>(
        self: Arc<Self>,
        stream: S,
        binding: Binding,
        peer: String,
        tls: bool,
        mut stop: watch::Receiver<bool>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let link_id = format!("L-{:06}", self.next_link.fetch_add(1, Ordering::Relaxed));
        lock(&self.links).insert(
            link_id.clone(),
            LinkView {
                link_id: link_id.clone(),
                binding,
                peer: peer.clone(),
                tls,
                signed_on: false,
            },
        );
        info!(link = %link_id, binding = binding.name(), %peer, tls, "ISO 8583 link opened");
        let end = if self
            .journal(&link_id, &peer, JournalEvent::LinkOpened { tls })
            .await
        {
            self.run_link(stream, binding, &link_id, &peer, &mut stop)
                .await
        } else {
            LinkEnd::Journal
        };
        info!(link = %link_id, reason = %end, "ISO 8583 link closed");
        self.journal(
            &link_id,
            &peer,
            JournalEvent::LinkClosed {
                reason: end.to_string(),
            },
        )
        .await;
        lock(&self.links).remove(&link_id);
    }

    async fn run_link<S>(
        self: &Arc<Self>,
        stream: S,
        binding: Binding,
        link_id: &str,
        peer: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> LinkEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        /// Requests of one link handled at once; the next frame is read when one finishes.
        const IN_FLIGHT: usize = 64;
        let dialect = match binding {
            Binding::GovBill => self.config.gov_bill,
            Binding::CupsTerminal => self.config.cups,
        };
        let mut framed = Framed::new(stream, FrameCodec::new(*dialect.frame()));
        let mut state = biller::LinkState::default();
        let mut echo_sent: Option<tokio::time::Instant> = None;
        // Financial requests run side by side (the switch matches answers by DE11, as the
        // binding says); their answers, journaled already, come back here to be written.
        let (answers, mut answered) = tokio::sync::mpsc::channel::<Answered>(IN_FLIGHT);
        let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        loop {
            let wait = match echo_sent {
                Some(at) => (at + self.config.echo_timeout)
                    .saturating_duration_since(tokio::time::Instant::now()),
                None => self.config.idle_echo,
            };
            let frame = tokio::select! {
                f = framed.next() => f,
                Some(done) = answered.recv() => {
                    // Answers finished meanwhile leave in the same write: under load one
                    // system call carries several.
                    let mut next = Some(done);
                    while let Some(done) = next.take() {
                        match done {
                            Answered::Send(out, envelope) => {
                                if let Err(end) = feed(&mut framed, out, envelope).await {
                                    return end;
                                }
                            }
                            Answered::Unrecorded => {
                                // Answers fed before it are journaled: they still leave.
                                let _ = framed.flush().await;
                                return LinkEnd::Journal;
                            }
                        }
                        next = answered.try_recv().ok();
                    }
                    if let Err(e) = framed.flush().await {
                        return LinkEnd::Io(e.to_string());
                    }
                    continue;
                }
                () = tokio::time::sleep(wait) => {
                    if echo_sent.is_some() && state.echo_pending() {
                        return LinkEnd::EchoUnanswered;
                    }
                    // Terminals open a connection per transaction and have no echo.
                    if binding == Binding::CupsTerminal {
                        return LinkEnd::Idle;
                    }
                    let Some(echo) = biller::echo_request(&self.config, &mut state, (self.config.clock)()) else {
                        warn!(link = link_id, "ISO 8583 echo could not be encoded");
                        continue;
                    };
                    if let Err(end) = self.send(&mut framed, link_id, peer, echo, Envelope::default()).await {
                        return end;
                    }
                    echo_sent = Some(tokio::time::Instant::now());
                    continue;
                }
                _ = stop.changed() => return LinkEnd::Shutdown,
            };
            let frame = match frame {
                None => return LinkEnd::PeerClosed,
                Some(Err(e)) => return LinkEnd::Malformed(e.to_string()),
                Some(Ok(frame)) => frame,
            };
            let request = match biller::Request::decode(dialect, &frame.body) {
                Ok(r) => r,
                Err(e) => {
                    warn!(link = link_id, error = %e, "ISO 8583 frame refused");
                    return LinkEnd::Malformed(e);
                }
            };
            // A UnionPay reply swaps the TPDU's addresses and repeats the header.
            let envelope = Envelope {
                tpdu: frame.tpdu.map(|t| t.reply()),
                header: frame.header.clone(),
            };
            if concurrent(binding, &request, &state) {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return LinkEnd::Shutdown;
                };
                let host = Arc::clone(self);
                let answers = answers.clone();
                let (link, peer) = (link_id.to_owned(), peer.to_owned());
                tokio::spawn(async move {
                    let done = host
                        .handle(binding, request, frame.body, envelope, &link, &peer)
                        .await;
                    let _ = answers.send(done).await;
                    drop(permit);
                });
                continue;
            }
            // Network management and responses: in order, on the link's own state.
            if !self
                .journal(link_id, peer, JournalEvent::Iso8583In(request.summary()))
                .await
            {
                return LinkEnd::Journal;
            }
            let received = biller::Received::settled();
            let origin = biller::Origin::new(link_id, peer, &received);
            let answer = match binding {
                Binding::GovBill => {
                    biller::answer(self, &mut state, &request, &frame.body, &origin).await
                }
                Binding::CupsTerminal => {
                    cups::answer(self, &mut state, &request, &frame.body, &origin).await
                }
            };
            if state.echo_answered() {
                echo_sent = None;
            }
            if let Some(link) = lock(&self.links).get_mut(link_id) {
                link.signed_on = state.signed_on();
            }
            let (event, bytes) = match answer {
                Some(out) => (Some(JournalEvent::Iso8583Out(out.summary)), Some(out.bytes)),
                None => (None, None),
            };
            if !self.conclude(&origin, event).await {
                return LinkEnd::Journal;
            }
            if let Err(end) = write(&mut framed, bytes, envelope).await {
                return end;
            }
        }
    }

    /// One financial request, off the link's reader: journaled in, answered, journaled out.
    /// The request's record is committed while the platform is asked. The changes it makes (an
    /// approval, a reversal) are journaled in one unit with its answer, handed over without
    /// waiting for the request's commit and stored only if that record is; both commits are
    /// waited for before the changes are applied to the book and the answer leaves
    /// ([`HostGateway::conclude`]). A request that changes nothing is journaled once, with its
    /// answer, before the answer leaves (docs/decisions/0006-journal-throughput.md).
    async fn handle(
        &self,
        binding: Binding,
        request: biller::Request,
        raw: bytes::Bytes,
        envelope: Envelope,
        link: &str,
        peer: &str,
    ) -> Answered {
        let read_only = request.changes_nothing();
        let received = if read_only {
            biller::Received::settled()
        } else {
            biller::Received::pending(
                self.submit(link, peer, JournalEvent::Iso8583In(request.summary()))
                    .await,
            )
        };
        let origin = biller::Origin::new(link, peer, &received);
        // These requests never change the link's state; a signed-on copy answers them.
        let mut state = biller::LinkState::signed_on_copy();
        let answer = match binding {
            Binding::GovBill => biller::answer(self, &mut state, &request, &raw, &origin).await,
            Binding::CupsTerminal => cups::answer(self, &mut state, &request, &raw, &origin).await,
        };
        let (event, bytes) = match answer {
            None if read_only => (Some(JournalEvent::Iso8583In(request.summary())), None),
            None => (None, None),
            Some(out) if read_only => (
                Some(JournalEvent::Iso8583Exchange {
                    request: request.summary(),
                    answer: out.summary,
                }),
                Some(out.bytes),
            ),
            Some(out) => (Some(JournalEvent::Iso8583Out(out.summary)), Some(out.bytes)),
        };
        if self.conclude(&origin, event).await {
            Answered::Send(bytes, envelope)
        } else {
            Answered::Unrecorded
        }
    }

    /// Journals an outgoing message, then writes it.
    async fn send<S>(
        &self,
        framed: &mut Framed<S, FrameCodec>,
        link_id: &str,
        peer: &str,
        out: biller::Outgoing,
        envelope: Envelope,
    ) -> Result<(), LinkEnd>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if !self
            .journal(link_id, peer, JournalEvent::Iso8583Out(out.summary))
            .await
        {
            return Err(LinkEnd::Journal);
        }
        write(framed, Some(out.bytes), envelope).await
    }

    /// Waits (up to `deadline`) until every link has ended and journaled its closing: call it
    /// after the stop signal, before the journal closes.
    pub async fn closed(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        while !lock(&self.links).is_empty() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether new links are accepted.
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }
}

/// The name of a payment's turn: the requests about one payment, and store-and-forward's
/// confirmation of it, take it in turn.
/// Store-and-forward's name in the journal.
const SAF: &str = "store-and-forward";

/// When to try a payment again after a failure: 1, 2, 4 … 60 seconds.
fn backoff(p: &Payment) -> Duration {
    Duration::from_secs(1 << p.failures.min(6)).min(Duration::from_secs(60))
}

fn payment_turn(key: &PaymentKey) -> String {
    format!("payment/{}", key.idempotency_key())
}

fn timed_out() -> PlatformError {
    PlatformError::new(
        ErrorClass::Retryable,
        "TIMEOUT",
        "the platform did not answer in time",
    )
}
