//! The biller's answers on a `cups-terminal` link (docs/iso8583-binding.md, "cups-terminal"):
//! bank terminals, or the bank front-end processors behind them, that speak the UnionPay
//! terminal frame. The bank has taken the money; the biller answers inquiries, takes payments,
//! reversals and batch settlement exactly as on gov-bill links, through the same book.
//!
//! What differs from gov-bill: a terminal signs on with 0800 and DE60.3 (001, 003, 004) and
//! receives working keys under its master key in DE62; every later request carries the UnionPay
//! MAC (DE64) under its MAC working key; there is no DE7, so a payment is named by DE41, DE11 and
//! the batch DE60.2; the notice number is DE48 (numeric); reversals are 0400 carrying the
//! original's STAN; settlement is 0500 with batch totals in DE48. Working keys live in memory:
//! after a restart a terminal signs on again (its requests are answered 12 until it does).

use std::sync::Arc;

use adapter_core::calendar::CST;
use adapter_protocols::iso8583::Message;
use adapter_protocols::iso8583::mac::{MacKey, mac_eq, unionpay_mac};

use super::HostGateway;
use super::biller::{self, LinkState, Order, Origin, Outgoing, Refusal, Request, Summary, code};
use super::book::PaymentKey;
use super::keys::{self, KeyScheme};

/// The dialect of these links.
pub(super) const DIALECT: &str = "cups-terminal";

/// UnionPay codes used only here.
const NOT_REGISTERED: &str = "97";

/// Elements an answer repeats from its request (never card data).
const ECHOED: [u8; 9] = [3, 4, 11, 22, 25, 41, 42, 49, 60];

/// A signed-on terminal: its MAC working key.
#[derive(Debug, Clone)]
pub(super) struct TerminalSession {
    mac: Arc<MacKey>,
}

/// The answer to one request (`None` for anything that is not a request).
pub(super) async fn answer(
    host: &HostGateway,
    state: &mut LinkState,
    request: &Request,
    raw: &[u8],
    origin: &Origin<'_>,
) -> Option<Outgoing> {
    let mti = request.message.mti();
    if mti.is_response() || mti.response().is_none() {
        return None;
    }
    let terminal = request.text(41).unwrap_or_default().to_owned();
    let Some(master) = host.config.master_keys.get(&terminal) else {
        return finish(response(host, request, NOT_REGISTERED), None);
    };
    let network = request.text(60).and_then(|t| t.get(8..11));
    match mti.as_str() {
        "0800" => return sign_on(host, state, request, master, network),
        "0820" if network == Some("002") => {
            host.end_terminal_session(&terminal);
            state.signed_on = false;
            return finish(response(host, request, code::APPROVED), None);
        }
        _ => {}
    }
    let Some(session) = host.terminal_session(&terminal) else {
        return finish(response(host, request, code::INVALID_TRANSACTION), None);
    };
    let mac = Some(session.mac.as_ref());
    if !mac_ok(&session.mac, request, raw) {
        return finish(response(host, request, code::MAC_FAILED), mac);
    }
    let m = match mti.as_str() {
        "0200" => financial(host, request, origin).await,
        "0400" => reversal(host, request, origin).await,
        "0500" => settlement(host, request),
        _ => response(host, request, code::INVALID_TRANSACTION),
    };
    finish(m, mac)
}

/// 0800 → 0810 with working keys in DE62, wrapped under the terminal's master key.
fn sign_on(
    host: &HostGateway,
    state: &mut LinkState,
    request: &Request,
    master: &MacKey,
    network: Option<&str>,
) -> Option<Outgoing> {
    if request.missing(&[11, 41, 60]) {
        return finish(response(host, request, code::FORMAT_ERROR), None);
    }
    let Some(scheme) = network.and_then(KeyScheme::from_code) else {
        return finish(response(host, request, code::INVALID_TRANSACTION), None);
    };
    let Some(keys) = keys::issue(master, scheme) else {
        return finish(response(host, request, code::SYSTEM_MALFUNCTION), None);
    };
    let terminal = request.text(41).unwrap_or_default().to_owned();
    host.begin_terminal_session(terminal, TerminalSession { mac: keys.mac });
    state.signed_on = true;
    let mut m = response(host, request, code::APPROVED);
    m.set(62, keys.de62);
    finish(m, None)
}

/// Whether DE64 is present and is the UnionPay MAC of everything before it.
fn mac_ok(key: &MacKey, request: &Request, raw: &[u8]) -> bool {
    let Some(given) = request.message.binary(64) else {
        return false;
    };
    let Some(covered) = raw.len().checked_sub(8).and_then(|n| raw.get(..n)) else {
        return false;
    };
    mac_eq(given, &unionpay_mac(key, covered))
}

/// Encodes `m`, with its MAC when the terminal has a MAC key.
fn finish(mut m: Message<'static>, mac: Option<&MacKey>) -> Option<Outgoing> {
    if let Some(key) = mac {
        m.set(64, [0u8; 8]);
        let mut bytes = m.to_bytes().ok()?;
        let n = bytes.len().checked_sub(8)?;
        let code = unionpay_mac(key, bytes.get(..n)?);
        bytes.truncate(n);
        bytes.extend_from_slice(&code);
        m.set(64, code);
        return Some(Outgoing {
            summary: Summary::of(&m),
            bytes,
        });
    }
    Some(Outgoing {
        bytes: m.to_bytes().ok()?,
        summary: Summary::of(&m),
    })
}

/// A response to `request` with `code`: the echoed elements and the host's local time.
fn response(host: &HostGateway, request: &Request, code: &str) -> Message<'static> {
    let mti = request
        .message
        .mti()
        .response()
        .unwrap_or_else(|| request.message.mti());
    let mut m = Message::new(host.config.cups, mti);
    for de in ECHOED {
        if let Some(v) = request.message.get(de) {
            m.set(de, v.clone().into_owned());
        }
    }
    let local = (host.config.clock)().to_offset(CST);
    m.set(
        12,
        format!(
            "{:02}{:02}{:02}",
            local.hour(),
            local.minute(),
            local.second()
        ),
    );
    m.set(
        13,
        format!("{:02}{:02}", u8::from(local.month()), local.day()),
    );
    m.set(39, code.to_owned());
    m
}

/// The batch number (DE60.2).
fn batch(request: &Request) -> Option<&str> {
    request.text(60).and_then(|t| t.get(2..8))
}

/// 0200: inquiry (380000) or payment (500000) of the notice in DE48.
async fn financial(host: &HostGateway, request: &Request, origin: &Origin<'_>) -> Message<'static> {
    if request.missing(&[3, 11, 41, 48, 60]) {
        return response(host, request, code::FORMAT_ERROR);
    }
    let notice = request.text(48).unwrap_or_default().to_owned();
    match request.text(3) {
        Some("380000") => {
            let limit = host.config.platform_timeout;
            match biller::owed_notice(host.platform.as_ref(), &notice, limit).await {
                Ok(n) => {
                    let mut m = response(host, request, code::APPROVED);
                    m.set(4, format!("{:012}", n.amount_fen));
                    m.set(48, notice);
                    m
                }
                Err(refusal) => refused(host, request, refusal),
            }
        }
        Some("500000") => payment(host, request, notice, origin).await,
        _ => response(host, request, code::INVALID_TRANSACTION),
    }
}

fn refused(host: &HostGateway, request: &Request, refusal: Refusal) -> Message<'static> {
    let mut m = response(host, request, refusal.code());
    if let Refusal::Amount { due_fen } = refusal {
        // The amount due, where the terminal reads amounts.
        m.set(4, format!("{due_fen:012}"));
    }
    m
}

async fn payment(
    host: &HostGateway,
    request: &Request,
    notice: String,
    origin: &Origin<'_>,
) -> Message<'static> {
    let (Some(amount_fen), Some(batch)) = (
        request.text(4).and_then(|a| a.parse::<u64>().ok()),
        batch(request),
    ) else {
        return response(host, request, code::FORMAT_ERROR);
    };
    let key = PaymentKey {
        terminal: request.text(41).unwrap_or_default().to_owned(),
        stan: request.text(11).unwrap_or_default().to_owned(),
        transmitted: String::new(),
        batch: batch.to_owned(),
    };
    let order = Order {
        rrn: retrieval_reference(&key),
        key,
        acquirer: request.text(32).unwrap_or_default().to_owned(),
        notice,
        amount_fen,
    };
    match biller::take_payment(host, order, origin).await {
        Ok(p) => {
            let mut m = response(host, request, code::APPROVED);
            m.set(37, p.rrn.clone());
            m.set(38, p.auth_code.clone());
            m.set(
                15,
                p.business_date
                    .get(5..)
                    .unwrap_or_default()
                    .replace('-', ""),
            );
            m.set(48, p.notice);
            m
        }
        Err(refusal) => refused(host, request, refusal),
    }
}

/// Terminals send no RRN: the biller makes one, 12 digits, the same for every duplicate.
fn retrieval_reference(key: &PaymentKey) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.idempotency_key().as_bytes());
    let mut n = [0u8; 8];
    for (a, b) in n.iter_mut().zip(digest.iter()) {
        *a = *b;
    }
    format!("{:012}", u64::from_be_bytes(n) % 1_000_000_000_000)
}

/// 0400: the original is named by DE61 (batch n6, STAN n6) or, as UnionPay terminals send it,
/// by the reversal's own DE11 and DE60.2.
async fn reversal(host: &HostGateway, request: &Request, origin: &Origin<'_>) -> Message<'static> {
    if request.missing(&[4, 11, 41, 60]) {
        return response(host, request, code::FORMAT_ERROR);
    }
    let (batch, stan) = match request.text(61) {
        Some(original) => (original.get(..6), original.get(6..12)),
        None => (batch(request), request.text(11)),
    };
    let (Some(batch), Some(stan)) = (batch, stan) else {
        return response(host, request, code::FORMAT_ERROR);
    };
    let key = PaymentKey {
        terminal: request.text(41).unwrap_or_default().to_owned(),
        stan: stan.to_owned(),
        transmitted: String::new(),
        batch: batch.to_owned(),
    };
    let amount = request.text(4).and_then(|a| a.parse::<u64>().ok());
    let code = biller::reverse_payment(host, key, amount, origin).await;
    response(host, request, code)
}

/// 0500: the terminal's batch totals (DE48: debit amount n12, debit count n3, credit amount
/// n12, credit count n3) against the book; the answer repeats them and adds the result digit
/// (1 balanced, 2 not balanced).
fn settlement(host: &HostGateway, request: &Request) -> Message<'static> {
    let (Some(totals), Some(batch)) = (request.text(48), batch(request)) else {
        return response(host, request, code::FORMAT_ERROR);
    };
    let number = |range: std::ops::Range<usize>| {
        totals
            .get(range)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    let theirs = (
        number(0..12),
        number(12..15),
        number(15..27),
        number(27..30),
    );
    let ours = host.batch_totals(request.text(41).unwrap_or_default(), batch);
    let balanced = theirs == (ours.payments_fen, ours.payments, 0, 0);
    let mut m = response(host, request, code::APPROVED);
    m.set(
        48,
        format!(
            "{}{}",
            totals.get(..30).unwrap_or(totals),
            if balanced { '1' } else { '2' }
        ),
    );
    m
}
