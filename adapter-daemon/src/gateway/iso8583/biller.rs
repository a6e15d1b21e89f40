//! The biller's answers on a gov-bill link: network management, inquiries, and what this version
//! does with payments, reversals and reconciliation (docs/iso8583-binding.md, "Status").

use std::time::Duration;
use tracing::info;

use adapter_core::calendar::CST;
use adapter_core::platform::{ErrorClass, NoticeStatus, PlatformApi};
use adapter_protocols::iso8583::mac::{MacKey, mac_eq, retail_mac};
use adapter_protocols::iso8583::{Dialect, Message, Mti, SubKey, Subfield, Value};
use time::OffsetDateTime;

use super::book::{BillEvent, Payment, PaymentKey};
use super::{HostConfig, HostGateway, Turn};
use crate::journal::{Earlier, Receipt};

/// Response codes (DE39) of the binding.
pub(super) mod code {
    pub(crate) const APPROVED: &str = "00";
    pub(crate) const INVALID_TRANSACTION: &str = "12";
    pub(crate) const INVALID_AMOUNT: &str = "13";
    pub(crate) const ORIGINAL_NOT_FOUND: &str = "25";
    pub(crate) const FORMAT_ERROR: &str = "30";
    pub(crate) const PLATFORM_UNAVAILABLE: &str = "91";
    pub(crate) const RECONCILIATION_ERROR: &str = "95";
    pub(crate) const SYSTEM_MALFUNCTION: &str = "96";
    pub(crate) const MAC_FAILED: &str = "A0";
    pub(crate) const NOTHING_OWED: &str = "B2";
}

/// Elements a response repeats from its request.
const ECHOED: [u8; 13] = [3, 4, 7, 11, 12, 13, 15, 32, 33, 37, 41, 42, 49];

/// What the journal keeps of a message: enough to follow a link, no PAN, no payer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub mti: String,
    pub processing_code: Option<String>,
    pub stan: Option<String>,
    pub transmitted: Option<String>,
    pub terminal: Option<String>,
    pub network_code: Option<String>,
    pub response_code: Option<String>,
    pub notice: Option<String>,
    pub amount_fen: Option<u64>,
}

impl Summary {
    pub(super) fn of(m: &Message<'_>) -> Summary {
        let text = |de: u8| m.text(de).map(str::to_owned);
        // cups-terminal has no DE70 and no TLV: the network code is DE60.3, the notice DE48.
        let cups = m.dialect().name() == super::cups::DIALECT;
        let (network_code, notice) = if cups {
            (
                m.text(60).and_then(|t| t.get(8..11)).map(str::to_owned),
                text(48).filter(|_| !m.mti().as_str().starts_with("05")),
            )
        } else {
            (text(70), tag(m, "PN01"))
        };
        Summary {
            mti: m.mti().as_str().to_owned(),
            processing_code: text(3),
            stan: text(11),
            transmitted: text(7),
            terminal: text(41).map(|t| t.trim_end().to_owned()),
            network_code,
            response_code: text(39),
            notice,
            amount_fen: m.text(4).and_then(|a| a.parse().ok()),
        }
    }
}

/// The value of a DE48 tag.
fn tag(m: &Message<'_>, name: &str) -> Option<String> {
    let subfields = m.subfields(48).ok().flatten()?;
    subfields
        .into_iter()
        .find(|s| s.key == SubKey::Tag(name.to_owned()))
        .and_then(|s| s.value.as_text().map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty())
}

/// A decoded request, detached from its frame.
pub(crate) struct Request {
    pub(super) message: Message<'static>,
}

impl Request {
    /// Decodes a message body; the error names the element and offset, never a value.
    pub(super) fn decode(dialect: &'static Dialect, body: &[u8]) -> Result<Request, String> {
        let decoded = dialect.decode(body).map_err(|e| e.to_string())?;
        let mut message = Message::new(dialect, decoded.mti());
        for (de, value) in decoded.fields() {
            message.set(de, value.clone().into_owned());
        }
        Ok(Request { message })
    }

    pub(super) fn summary(&self) -> Summary {
        Summary::of(&self.message)
    }

    pub(super) fn text(&self, de: u8) -> Option<&str> {
        self.message.text(de)
    }

    /// A financial request that changes nothing anywhere: a notice inquiry (380000) or an
    /// application's status (390000). It is journaled once, with its answer.
    pub(super) fn changes_nothing(&self) -> bool {
        self.message.mti().as_str() == "0200" && matches!(self.text(3), Some("380000" | "390000"))
    }

    pub(super) fn missing(&self, required: &[u8]) -> bool {
        required.iter().any(|de| !self.message.has(*de))
    }
}

/// A message to send, with its journal summary.
pub(super) struct Outgoing {
    pub(super) bytes: Vec<u8>,
    pub(super) summary: Summary,
}

/// What one link remembers.
#[derive(Debug, Default)]
pub(super) struct LinkState {
    pub(super) signed_on: bool,
    stan: u32,
    pending_echo: Option<String>,
    echo_answered: bool,
}

impl LinkState {
    /// A link state that is signed on and nothing else: what a financial request sees when it
    /// runs beside others.
    pub(super) fn signed_on_copy() -> LinkState {
        LinkState {
            signed_on: true,
            ..LinkState::default()
        }
    }

    pub(super) fn signed_on(&self) -> bool {
        self.signed_on
    }

    pub(super) fn echo_pending(&self) -> bool {
        self.pending_echo.is_some()
    }

    /// Whether our echo was answered since the last call.
    pub(super) fn echo_answered(&mut self) -> bool {
        std::mem::take(&mut self.echo_answered)
    }

    fn next_stan(&mut self) -> String {
        self.stan = self.stan % 999_999 + 1;
        format!("{:06}", self.stan)
    }
}

/// The data element that carries the MAC: DE128 when a secondary bitmap is present.
fn mac_element(m: &Message<'_>) -> u8 {
    if m.fields().any(|(de, _)| de > 64 && de != 128) {
        128
    } else {
        64
    }
}

/// Whether the request's MAC is present and right. The MAC field is the last on the wire (16 hex
/// characters); it covers everything before it.
fn mac_ok(key: &MacKey, request: &Request, raw: &[u8]) -> bool {
    let de = mac_element(&request.message);
    let Some(given) = request.message.binary(de) else {
        return false;
    };
    let Some(covered) = raw.len().checked_sub(16).and_then(|n| raw.get(..n)) else {
        return false;
    };
    mac_eq(given, &retail_mac(key, covered))
}

/// Encodes `m`, with its MAC when the link has a key.
fn finish(config: &HostConfig, mut m: Message<'static>) -> Option<Outgoing> {
    if let Some(key) = &config.mac {
        let de = mac_element(&m);
        m.set(de, [0u8; 8]);
        let mut bytes = m.to_bytes().ok()?;
        let n = bytes.len().checked_sub(16)?;
        let mac = retail_mac(key, bytes.get(..n)?);
        bytes.truncate(n);
        bytes.extend(hex::encode_upper(mac).into_bytes());
        m.set(de, mac);
        return Some(Outgoing {
            summary: Summary::of(&m),
            bytes,
        });
    }
    let bytes = m.to_bytes().ok()?;
    Some(Outgoing {
        summary: Summary::of(&m),
        bytes,
    })
}

/// A response to `request` with `code`, repeating what the binding says it repeats.
fn response(config: &HostConfig, request: &Request, code: &str) -> Message<'static> {
    let mti = request
        .message
        .mti()
        .response()
        .unwrap_or_else(|| request.message.mti());
    let mut m = Message::new(config.gov_bill, mti);
    for de in ECHOED {
        if let Some(v) = request.message.get(de) {
            m.set(de, v.clone().into_owned());
        }
    }
    if let Some(v) = request.message.get(70) {
        m.set(70, v.clone().into_owned());
    }
    m.set(39, code.to_owned());
    m
}

/// DE48 from tags, each value cut to its maximum at a character boundary.
fn set_tags(m: &mut Message<'static>, tags: &[(&str, String, usize)]) {
    let parts: Vec<Subfield<'static>> = tags
        .iter()
        .map(|(name, value, max)| Subfield {
            key: SubKey::Tag((*name).to_owned()),
            value: Value::from(cut(value, *max)),
        })
        .collect();
    // Values come from the platform and are cut to size, so composing cannot fail on length; a
    // value the dialect still refuses leaves DE48 out rather than sending a wrong one.
    let _ = m.set_subfields(48, &parts);
}

fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// Where a request came from, for the records its answer makes, and the changes it makes:
/// staged until its answer is journaled with them ([`HostGateway::conclude`]).
pub(super) struct Origin<'a> {
    pub(super) link: &'a str,
    pub(super) peer: &'a str,
    /// The commit of the request's own record.
    pub(super) received: &'a Received,
    staged: std::sync::Mutex<Staged>,
}

/// A request's changes to the book, not yet journaled, and the turns it holds until they are
/// applied: a duplicate, or another payment of the notice, waits for them.
#[derive(Default)]
pub(super) struct Staged {
    pub(super) events: Vec<BillEvent>,
    turns: Vec<Turn>,
}

impl<'a> Origin<'a> {
    pub(super) fn new(link: &'a str, peer: &'a str, received: &'a Received) -> Origin<'a> {
        Origin {
            link,
            peer,
            received,
            staged: std::sync::Mutex::default(),
        }
    }

    /// Stages a change the request makes. It is journaled with the answer, stored only if the
    /// request's own record is, and applied after that commit.
    pub(super) fn stage(&self, event: BillEvent) {
        super::lock(&self.staged).events.push(event);
    }

    /// Keeps `turn` until the staged changes are applied (or dropped).
    fn hold(&self, turn: Turn) {
        super::lock(&self.staged).turns.push(turn);
    }

    /// The staged changes and held turns, leaving none.
    pub(super) fn take_staged(&self) -> Staged {
        std::mem::take(&mut *super::lock(&self.staged))
    }
}

/// The commit of a request's record, handed to the journal when the request arrived and
/// waited for only when its answer is journaled (with the changes it makes, on condition that
/// this record is stored): the commit and the platform's look-up overlap, and the answer's
/// commit need not wait for this one to begin.
pub(super) struct Received {
    earlier: Earlier,
    receipt: std::sync::Mutex<Option<Receipt>>,
    committed: tokio::sync::OnceCell<bool>,
}

impl Received {
    pub(super) fn pending(receipt: Receipt) -> Received {
        Received {
            earlier: receipt.earlier(),
            receipt: std::sync::Mutex::new(Some(receipt)),
            committed: tokio::sync::OnceCell::new(),
        }
    }

    /// A request committed already (or one with no record of its own).
    pub(super) fn settled() -> Received {
        Received {
            earlier: Earlier::Stored,
            receipt: std::sync::Mutex::new(None),
            committed: tokio::sync::OnceCell::new_with(Some(true)),
        }
    }

    /// The request's record, as what the records of its answer follow from.
    pub(super) fn earlier(&self) -> Earlier {
        self.earlier
    }

    /// Whether the request's record is committed; waits for it the first time.
    pub(super) async fn committed(&self) -> bool {
        *self
            .committed
            .get_or_init(|| async {
                let receipt = super::lock(&self.receipt).take();
                match receipt {
                    Some(receipt) => receipt.committed().await.is_ok(),
                    None => false,
                }
            })
            .await
    }
}

/// The answer to one request (`None` for a response, which is matched instead).
pub(super) async fn answer(
    host: &HostGateway,
    state: &mut LinkState,
    request: &Request,
    raw: &[u8],
    origin: &Origin<'_>,
) -> Option<Outgoing> {
    let config = &host.config;
    let mti = request.message.mti();
    if mti.is_response() {
        if mti.as_str() == "0810" && state.pending_echo.as_deref() == request.text(11) {
            state.pending_echo = None;
            state.echo_answered = true;
        }
        return None;
    }
    mti.response()?;
    if let Some(key) = &config.mac
        && !mac_ok(key, request, raw)
    {
        return finish(config, response(config, request, code::MAC_FAILED));
    }
    let reply = match mti.as_str() {
        "0800" => network(state, request),
        _ if !state.signed_on => Reply::code(code::INVALID_TRANSACTION),
        "0200" => financial(host, request, origin).await,
        "0420" | "0421" => reversal(host, request, origin).await,
        "0500" => reconciliation(host, request),
        _ => Reply::code(code::INVALID_TRANSACTION),
    };
    let mut m = response(config, request, reply.code);
    if let Some(auth) = reply.auth_code {
        m.set(38, auth);
    }
    if !reply.tags.is_empty() {
        set_tags(&mut m, &reply.tags);
    }
    finish(config, m)
}

/// DE39, and what goes with it.
struct Reply {
    code: &'static str,
    tags: Vec<(&'static str, String, usize)>,
    auth_code: Option<String>,
}

impl Reply {
    fn code(code: &'static str) -> Reply {
        Reply {
            code,
            tags: Vec::new(),
            auth_code: None,
        }
    }

    fn with_tags(code: &'static str, tags: Vec<(&'static str, String, usize)>) -> Reply {
        Reply {
            code,
            tags,
            auth_code: None,
        }
    }
}

fn network(state: &mut LinkState, request: &Request) -> Reply {
    if request.missing(&[7, 11, 70]) {
        return Reply::code(code::FORMAT_ERROR);
    }
    match request.text(70) {
        Some("001") => state.signed_on = true,
        Some("002") => state.signed_on = false,
        Some("301") => {}
        _ => return Reply::code(code::INVALID_TRANSACTION),
    }
    Reply::code(code::APPROVED)
}

async fn financial(host: &HostGateway, request: &Request, origin: &Origin<'_>) -> Reply {
    if request.missing(&[3, 7, 11, 41, 48]) {
        return Reply::code(code::FORMAT_ERROR);
    }
    let limit = host.config.platform_timeout;
    if request.text(3) == Some("390000") {
        return match tag(&request.message, "AP01") {
            Some(case) => case_status(host.platform.as_ref(), case, limit).await,
            None => Reply::code(code::FORMAT_ERROR),
        };
    }
    let Some(notice) = tag(&request.message, "PN01") else {
        return Reply::code(code::FORMAT_ERROR);
    };
    match request.text(3) {
        Some("380000") => inquiry(host.platform.as_ref(), notice, limit).await,
        Some("500000") => payment(host, request, notice, origin).await,
        _ => Reply::code(code::INVALID_TRANSACTION),
    }
}

/// Where an application stands, by its case number (AP01).
async fn case_status(platform: &dyn PlatformApi, case: String, limit: Duration) -> Reply {
    use adapter_core::platform::CaseStage;
    let ap = ("AP01", case.clone(), 50);
    match tokio::time::timeout(limit, platform.case_status(case)).await {
        Err(_) => Reply::with_tags(code::PLATFORM_UNAVAILABLE, vec![ap]),
        Ok(Err(e)) => match e.class {
            ErrorClass::NotFound | ErrorClass::Final => {
                Reply::with_tags(code::NOTHING_OWED, vec![ap])
            }
            _ => Reply::with_tags(code::PLATFORM_UNAVAILABLE, vec![ap]),
        },
        Ok(Ok(status)) => {
            let (stage, text) = match status.stage {
                CaseStage::Submitted => ("SUBM", "已提交，待受理"),
                CaseStage::Accepted => ("ACPT", "已受理，办理中"),
                CaseStage::Approved => ("APPR", "已审批，待出证"),
                CaseStage::Completed => ("CMPL", "已办结"),
            };
            Reply::with_tags(
                code::APPROVED,
                vec![
                    ap,
                    ("AS01", stage.to_owned(), 4),
                    ("AS02", text.to_owned(), 120),
                    ("IC01", status.implementing_code, 31),
                ],
            )
        }
    }
}

/// Why a notice cannot be paid (or inquired) now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Paid, cancelled or unknown at the platform, or a payment of it stands here already (B2).
    NothingOwed,
    /// The platform did not answer in time or failed (91).
    Unavailable,
    /// The amount is not the amount due (13).
    Amount { due_fen: u64 },
}

impl Refusal {
    pub(super) fn code(self) -> &'static str {
        match self {
            Refusal::NothingOwed => code::NOTHING_OWED,
            Refusal::Unavailable => code::PLATFORM_UNAVAILABLE,
            Refusal::Amount { .. } => code::INVALID_AMOUNT,
        }
    }

    /// The gov-bill reply: the code with PN01 (and AD01, the amount due, for a wrong amount).
    fn reply(self, notice: &str) -> Reply {
        let mut reply = Reply::with_tags(self.code(), vec![("PN01", notice.to_owned(), 50)]);
        if let Refusal::Amount { due_fen } = self {
            reply.tags.push(("AD01", due_fen.to_string(), 12));
        }
        reply
    }
}

/// The notice, if it is owed now.
pub(super) async fn owed_notice(
    platform: &dyn PlatformApi,
    notice: &str,
    limit: Duration,
) -> Result<adapter_core::platform::PaymentNotice, Refusal> {
    match tokio::time::timeout(limit, platform.query_notice(notice.to_owned())).await {
        Err(_) => Err(Refusal::Unavailable),
        Ok(Err(e)) => Err(match e.class {
            ErrorClass::NotFound | ErrorClass::Final => Refusal::NothingOwed,
            _ => Refusal::Unavailable,
        }),
        Ok(Ok(n)) if n.status != NoticeStatus::Unpaid => Err(Refusal::NothingOwed),
        Ok(Ok(n)) => Ok(n),
    }
}

/// The amount due on a payment notice, from the platform.
async fn inquiry(platform: &dyn PlatformApi, notice: String, limit: Duration) -> Reply {
    match owed_notice(platform, &notice, limit).await {
        Err(refusal) => refusal.reply(&notice),
        Ok(n) => {
            let mut tags = vec![("PN01", notice, 50), ("AD01", n.amount_fen.to_string(), 12)];
            if let Some(due) = n.due_date.as_deref() {
                tags.push(("DD01", due.replace('-', ""), 8));
            }
            tags.push(("PY01", n.payee, 120));
            Reply::with_tags(code::APPROVED, tags)
        }
    }
}

fn payment_key(request: &Request) -> PaymentKey {
    PaymentKey {
        terminal: request.text(41).unwrap_or_default().to_owned(),
        stan: request.text(11).unwrap_or_default().to_owned(),
        transmitted: request.text(7).unwrap_or_default().to_owned(),
        batch: String::new(),
    }
}

/// The answer an approved payment gets, the first time and for every duplicate.
fn approved(p: &Payment) -> Reply {
    Reply {
        code: code::APPROVED,
        tags: vec![
            ("PN01", p.notice.clone(), 50),
            ("BD01", p.business_date.replace('-', ""), 8),
            ("PL01", format!("缴款识别码：{}", p.notice), 80),
            (
                "PL02",
                format!("金额：{}.{:02} 元", p.amount_fen / 100, p.amount_fen % 100),
                80,
            ),
            ("PL03", format!("收款单位：{}", p.payee), 80),
        ],
        auth_code: Some(p.auth_code.clone()),
    }
}

/// A payment as a link's binding reads it from a request.
pub(super) struct Order {
    pub(super) key: PaymentKey,
    /// DE32, where the binding has it.
    pub(super) acquirer: String,
    pub(super) notice: String,
    pub(super) amount_fen: u64,
    /// DE37: the switch's, or the one the biller assigns (cups-terminal).
    pub(super) rrn: String,
}

/// Takes a payment: a duplicate gets the payment it repeats; otherwise the notice is checked at
/// the platform and the approval staged, to be journaled with the answer and then applied
/// (store-and-forward is woken then to confirm it). Both bindings take payments here.
pub(super) async fn take_payment(
    host: &HostGateway,
    order: Order,
    origin: &Origin<'_>,
) -> Result<Payment, Refusal> {
    // A duplicate waits for its original; two payments of one notice take turns, so the
    // second sees the first standing (always the payment's turn first, then the notice's).
    let payment_turn = host.serial.turn(super::payment_turn(&order.key)).await;
    let notice_turn = host.serial.turn(format!("notice/{}", order.notice)).await;
    if let Some(p) = host.payment(&order.key) {
        return Ok(p);
    }
    // A payment of this notice stands already, its confirmation perhaps still on its way to
    // the platform: a second one would be taken twice.
    if host.notice_paid(&order.notice) {
        return Err(Refusal::NothingOwed);
    }
    let limit = host.config.platform_timeout;
    let due = owed_notice(host.platform.as_ref(), &order.notice, limit).await?;
    if due.amount_fen != order.amount_fen {
        return Err(Refusal::Amount {
            due_fen: due.amount_fen,
        });
    }
    let now = (host.config.clock)();
    let local = now.to_offset(CST);
    let key = order.key;
    let event = BillEvent::Approved {
        key: key.clone(),
        acquirer: order.acquirer,
        notice: order.notice,
        amount_fen: order.amount_fen,
        rrn: order.rrn,
        auth_code: auth_code(&key),
        business_date: format!(
            "{:04}-{:02}-{:02}",
            local.year(),
            u8::from(local.month()),
            local.day()
        ),
        approved_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        payee: due.payee,
    };
    let payment = Payment::approved(&event);
    origin.stage(event);
    // Until the approval is journaled and in the book.
    origin.hold(payment_turn);
    origin.hold(notice_turn);
    payment.ok_or(Refusal::Unavailable)
}

/// A gov-bill payment: DE4, DE32, DE37 and PN01 make the order.
async fn payment(
    host: &HostGateway,
    request: &Request,
    notice: String,
    origin: &Origin<'_>,
) -> Reply {
    if request.missing(&[4, 32, 37]) {
        return Reply::code(code::FORMAT_ERROR);
    }
    let Some(amount_fen) = request.text(4).and_then(|a| a.parse::<u64>().ok()) else {
        return Reply::code(code::FORMAT_ERROR);
    };
    let order = Order {
        key: payment_key(request),
        acquirer: request.text(32).unwrap_or_default().to_owned(),
        notice: notice.clone(),
        amount_fen,
        rrn: request.text(37).unwrap_or_default().to_owned(),
    };
    match take_payment(host, order, origin).await {
        Ok(p) => approved(&p),
        Err(refusal) => refusal.reply(&notice),
    }
}

/// Six characters, the same for every duplicate of a payment.
fn auth_code(key: &PaymentKey) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.idempotency_key().as_bytes());
    hex::encode_upper(digest.get(..3).unwrap_or_default())
}

/// Reverses the payment `key` names if its amount is `amount_fen`: its confirmation is
/// withdrawn, or cancelled at the platform by store-and-forward. The answer's DE39: 00, 25 for
/// an unknown original or one past its reversal window, 13 for another amount. A repeat changes
/// nothing.
pub(super) async fn reverse_payment(
    host: &HostGateway,
    key: PaymentKey,
    amount_fen: Option<u64>,
    origin: &Origin<'_>,
) -> &'static str {
    let turn = host.serial.turn(super::payment_turn(&key)).await;
    let Some(p) = host.payment(&key) else {
        return code::ORIGINAL_NOT_FOUND;
    };
    if host.past_reversal_window(&p) {
        info!(notice = %p.notice, approved_at = %p.approved_at, "a reversal after the payment's reversal window: answered 25");
        return code::ORIGINAL_NOT_FOUND;
    }
    if amount_fen != Some(p.amount_fen) {
        return code::INVALID_AMOUNT;
    }
    if !p.reversed {
        origin.stage(BillEvent::Reversed { key });
        origin.hold(turn);
    }
    code::APPROVED
}

/// A reversal advice (or its repeat): the original is found by DE41 and DE90's STAN and
/// transmission time.
async fn reversal(host: &HostGateway, request: &Request, origin: &Origin<'_>) -> Reply {
    if request.missing(&[3, 4, 7, 11, 41, 90]) {
        return Reply::code(code::FORMAT_ERROR);
    }
    let original = request.text(90).unwrap_or_default();
    let (Some(stan), Some(transmitted)) = (original.get(4..10), original.get(10..20)) else {
        return Reply::code(code::FORMAT_ERROR);
    };
    let key = PaymentKey {
        terminal: request.text(41).unwrap_or_default().to_owned(),
        stan: stan.to_owned(),
        transmitted: transmitted.to_owned(),
        batch: String::new(),
    };
    let amount = request.text(4).and_then(|a| a.parse::<u64>().ok());
    Reply::code(reverse_payment(host, key, amount, origin).await)
}

/// The switch's totals for its acquirer (DE32) and settlement date (DE15) against the book.
fn reconciliation(host: &HostGateway, request: &Request) -> Reply {
    if request.missing(&[7, 11, 15, 32]) {
        return Reply::code(code::FORMAT_ERROR);
    }
    let ours = host.totals(
        request.text(32).unwrap_or_default(),
        request.text(15).unwrap_or_default(),
    );
    let number = |de: u8| {
        request
            .text(de)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let theirs = (
        number(74) + number(75) + number(86) + number(87),
        number(76),
        number(77),
        number(88),
        number(89),
    );
    let expected = (
        0,
        ours.payments,
        ours.reversals,
        ours.payments_fen,
        ours.reversals_fen,
    );
    if theirs == expected {
        Reply::code(code::APPROVED)
    } else {
        Reply::code(code::RECONCILIATION_ERROR)
    }
}

/// An echo (0800, DE70 301) to see that an idle link still answers.
pub(super) fn echo_request(
    config: &HostConfig,
    state: &mut LinkState,
    now: OffsetDateTime,
) -> Option<Outgoing> {
    let local = now.to_offset(CST);
    let stan = state.next_stan();
    let mut m = Message::new(config.gov_bill, Mti::from_digits(*b"0800").ok()?);
    m.set(
        7,
        format!(
            "{:02}{:02}{:02}{:02}{:02}",
            u8::from(local.month()),
            local.day(),
            local.hour(),
            local.minute(),
            local.second()
        ),
    );
    m.set(11, stan.clone());
    m.set(70, "301");
    state.pending_echo = Some(stan);
    finish(config, m)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use adapter_core::platform::{MockPlatformApi, NoticeStatus, PaymentNotice, PlatformError};
    use adapter_protocols::iso8583::{LengthKind, builtin};
    use proptest::prelude::*;

    use super::*;
    use crate::journal::{JournalError, JournalRecord, JournalSink};

    struct Discard;

    #[async_trait::async_trait]
    impl JournalSink for Discard {
        async fn append(&self, _: JournalRecord) -> Result<(), JournalError> {
            Ok(())
        }
    }

    /// Refuses the records of requests; keeps every other event.
    #[derive(Default)]
    struct RefuseRequests {
        kept: std::sync::Mutex<Vec<crate::journal::JournalEvent>>,
    }

    #[async_trait::async_trait]
    impl JournalSink for RefuseRequests {
        async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
            if matches!(record.event, crate::journal::JournalEvent::Iso8583In(_)) {
                return Err(JournalError("disk full".into()));
            }
            super::super::lock(&self.kept).push(record.event);
            Ok(())
        }
    }

    /// A gov-bill payment request of notice 44010026120000000001 for 11.00 yuan.
    fn payment_request(dialect: &'static Dialect) -> (Request, Vec<u8>) {
        let mut m = Message::new(
            dialect,
            Mti::from_digits(*b"0200").unwrap_or_else(|_| unreachable!()),
        );
        for (de, v) in [
            (3, "500000"),
            (4, "000000001100"),
            (7, "1128101500"),
            (11, "000123"),
            (32, "12345678"),
            (37, "123456789012"),
            (41, "TERM0001"),
        ] {
            m.set(de, v);
        }
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag("PN01".into()),
                value: Value::from("44010026120000000001".to_owned()),
            }],
        )
        .unwrap_or_else(|_| unreachable!());
        let bytes = m.to_bytes().unwrap_or_else(|_| unreachable!());
        let request = Request::decode(dialect, &bytes).unwrap_or_else(|_| unreachable!());
        (request, bytes)
    }

    /// Handles a financial request as a gov-bill link's task does.
    async fn on_link(
        host: &HostGateway,
        request: Request,
        bytes: Vec<u8>,
    ) -> super::super::Answered {
        host.handle(
            super::super::Binding::GovBill,
            request,
            bytes::Bytes::from(bytes),
            super::super::Envelope::default(),
            "L-1",
            "test",
        )
        .await
    }

    /// A payment whose own record the journal refuses is neither approved nor answered, although
    /// the platform was asked while the record was on its way.
    #[test]
    fn a_payment_not_on_record_is_not_approved() {
        let journal = Arc::new(RefuseRequests::default());
        let host = host_with(Arc::clone(&journal) as Arc<dyn JournalSink>);
        let (request, bytes) = payment_request(host.config.gov_bill);
        let done = block_on(on_link(&host, request, bytes));
        assert!(matches!(done, super::super::Answered::Unrecorded));
        assert!(super::super::lock(&journal.kept).is_empty());
        assert!(host.payments().is_empty());
    }

    /// Keeps what it is handed unit by unit; a unit that changes the book waits until the
    /// test lets it through.
    struct HeldChanges {
        units: std::sync::Mutex<Vec<Vec<&'static str>>>,
        open: tokio::sync::Semaphore,
    }

    #[async_trait::async_trait]
    impl JournalSink for HeldChanges {
        async fn append(&self, record: JournalRecord) -> Result<(), JournalError> {
            self.submit_all(vec![record]).await.committed().await
        }

        async fn submit_all(&self, records: Vec<JournalRecord>) -> Receipt {
            use crate::journal::JournalEvent;
            let kinds: Vec<&'static str> = records
                .iter()
                .map(|r| match &r.event {
                    JournalEvent::Iso8583In(_) => "in",
                    JournalEvent::Iso8583Out(_) => "out",
                    JournalEvent::Bill(BillEvent::Approved { .. }) => "approved",
                    _ => "other",
                })
                .collect();
            if kinds.contains(&"approved") {
                let Ok(permit) = self.open.acquire().await else {
                    return Receipt::settled(Err(JournalError("closed".into())));
                };
                permit.forget();
            }
            super::super::lock(&self.units).push(kinds);
            Receipt::settled(Ok(()))
        }
    }

    /// A payment's approval is journaled in one unit with its answer, and only then is it in
    /// the book: until that commit, nothing is approved and a duplicate waits; after it, the
    /// duplicate gets the same approval and nothing is approved twice.
    #[test]
    fn an_approval_is_journaled_with_its_answer_and_a_duplicate_waits_for_it() {
        let journal = Arc::new(HeldChanges {
            units: std::sync::Mutex::default(),
            open: tokio::sync::Semaphore::new(0),
        });
        let host = Arc::new(host_with(Arc::clone(&journal) as Arc<dyn JournalSink>));
        let pay = |host: Arc<HostGateway>| async move {
            let (request, bytes) = payment_request(host.config.gov_bill);
            let done = on_link(&host, request, bytes).await;
            let super::super::Answered::Send(Some(out), _) = done else {
                panic!("the payment was not answered");
            };
            let answer = host
                .config
                .gov_bill
                .decode(&out)
                .unwrap_or_else(|_| unreachable!());
            (
                answer.text(39).map(str::to_owned),
                answer.text(38).map(str::to_owned),
            )
        };
        block_on(async {
            let first = tokio::spawn(pay(Arc::clone(&host)));
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                host.payments().is_empty(),
                "approved before it was journaled"
            );
            let duplicate = tokio::spawn(pay(Arc::clone(&host)));
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!duplicate.is_finished(), "the duplicate did not wait");

            journal.open.add_permits(1);
            let first = first.await.unwrap_or_else(|_| unreachable!());
            let duplicate = duplicate.await.unwrap_or_else(|_| unreachable!());
            assert_eq!(first.0.as_deref(), Some(code::APPROVED));
            assert!(first.1.is_some());
            assert_eq!(duplicate, first);
        });
        assert_eq!(host.payments().len(), 1);
        let units = super::super::lock(&journal.units).clone();
        assert_eq!(
            units,
            vec![vec!["in"], vec!["in"], vec!["approved", "out"], vec!["out"]]
        );
    }

    /// Store-and-forward confirms what is still to be confirmed when it gets to a payment: one
    /// the switch reversed after the round was taken, before a confirmation went out, is
    /// withdrawn, and is neither confirmed nor then cancelled at the platform. (The mock
    /// platform has no confirmation to give: a call would fail the test.)
    #[test]
    fn a_payment_reversed_after_its_round_was_taken_is_not_confirmed() {
        let host = Arc::new(host());
        block_on(async {
            let (request, bytes) = payment_request(host.config.gov_bill);
            let done = on_link(&host, request, bytes).await;
            assert!(matches!(done, super::super::Answered::Send(Some(_), _)));
            let (pending, _) = host.store_and_forward_queue();
            let [(taken, work)] = pending.as_slice() else {
                panic!("one approved payment to confirm, found {}", pending.len());
            };
            assert!(matches!(work, super::super::Work::Confirm));
            // The reversal, journaled and applied while the round is under way.
            super::super::lock(&host.book).apply(&BillEvent::Reversed {
                key: taken.key.clone(),
            });
            assert_eq!(
                host.forward(taken, super::super::Work::Confirm).await,
                Ok(())
            );
            let now = host.payment(&taken.key).unwrap_or_else(|| unreachable!());
            assert!(now.reversed && !now.confirming && now.receipt.is_none());
            assert_eq!(now.work(), None, "withdrawn: nothing left to do");
        });
    }

    /// An approved payment of notice `n`, in the book.
    fn approve(host: &HostGateway, n: u8) -> super::super::Payment {
        let event = BillEvent::Approved {
            key: PaymentKey {
                terminal: "TERM0001".into(),
                stan: format!("{n:06}"),
                transmitted: "1128101500".into(),
                batch: String::new(),
            },
            acquirer: "12345678".into(),
            notice: format!("4401002612000000000{n}"),
            amount_fen: 1100,
            rrn: "123456789012".into(),
            auth_code: "A1B2C3".into(),
            business_date: "2026-11-28".into(),
            approved_at: "2026-11-28T02:15:00Z".into(),
            payee: "广州市财政局".into(),
        };
        super::super::lock(&host.book).apply(&event);
        host.payment(event.key()).unwrap_or_else(|| unreachable!())
    }

    /// The key of payment `stan` of terminal TERM0001.
    fn term_key(stan: &str) -> PaymentKey {
        PaymentKey {
            terminal: "TERM0001".into(),
            stan: stan.into(),
            transmitted: "1128101500".into(),
            batch: String::new(),
        }
    }

    /// The approval of payment `stan`, `hours` ago by the wall clock (the test host's clock).
    fn approved_hours_ago(stan: &str, hours: u64) -> BillEvent {
        BillEvent::Approved {
            key: term_key(stan),
            acquirer: "12345678".into(),
            notice: format!("44010026120000{stan}"),
            amount_fen: 1100,
            rrn: "123456789012".into(),
            auth_code: "A1B2C3".into(),
            business_date: "2026-11-28".into(),
            approved_at: (OffsetDateTime::now_utc() - Duration::from_secs(hours * 3600))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            payee: "广州市财政局".into(),
        }
    }

    /// A reversal within the payment's reversal window reverses it; one after the window is
    /// answered 25 although the payment is still in the book, so that a book rebuilt from the
    /// journal (which retires by the approvals' times) agrees with the running one.
    #[test]
    fn a_reversal_after_the_payment_s_window_is_answered_25() {
        let host = Arc::new(host());
        for (stan, hours) in [("000001", 73), ("000002", 71)] {
            super::super::lock(&host.book).apply(&approved_hours_ago(stan, hours));
        }
        let reverse = |stan: &'static str| {
            let host = Arc::clone(&host);
            async move {
                let dialect = host.config.gov_bill;
                let mut m = Message::new(
                    dialect,
                    Mti::from_digits(*b"0420").unwrap_or_else(|_| unreachable!()),
                );
                let original = format!("0200{stan}11281015000000123456700000000000");
                for (de, v) in [
                    (3, "500000"),
                    (4, "000000001100"),
                    (7, "1128103000"),
                    (11, "000777"),
                    (41, "TERM0001"),
                    (90, original.as_str()),
                ] {
                    m.set(de, v);
                }
                let bytes = m.to_bytes().unwrap_or_else(|_| unreachable!());
                let request = Request::decode(dialect, &bytes).unwrap_or_else(|_| unreachable!());
                let super::super::Answered::Send(Some(out), _) =
                    on_link(&host, request, bytes).await
                else {
                    panic!("the reversal was not answered");
                };
                let answer = dialect.decode(&out).unwrap_or_else(|_| unreachable!());
                answer.text(39).map(str::to_owned)
            }
        };
        block_on(async {
            assert_eq!(reverse("000001").await.as_deref(), Some("25"));
            assert_eq!(reverse("000002").await.as_deref(), Some("00"));
        });
        let late = host
            .payment(&term_key("000001"))
            .unwrap_or_else(|| unreachable!());
        assert!(!late.reversed, "past its window: not reversed");
        let within = host
            .payment(&term_key("000002"))
            .unwrap_or_else(|| unreachable!());
        assert!(within.reversed);
    }

    /// The host's retiring task takes settled payments past their window out of the book as
    /// soon as it starts, and leaves the others.
    #[test]
    fn the_host_retires_settled_payments_past_their_window() {
        let host = Arc::new(host());
        for (stan, hours, confirm) in [
            ("000001", 73, true),
            ("000002", 73, false),
            ("000003", 1, true),
        ] {
            let mut book = super::super::lock(&host.book);
            book.apply(&approved_hours_ago(stan, hours));
            if confirm {
                book.apply(&BillEvent::Confirmed {
                    key: term_key(stan),
                    receipt: format!("RC-{stan}"),
                });
            }
        }
        block_on(async {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(Arc::clone(&host).retire_settled(stopped));
            for _ in 0..100 {
                if host.book_len() == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = stop.send(true);
            let _ = task.await;
        });
        let stans: Vec<String> = host.payments().into_iter().map(|p| p.key.stan).collect();
        assert_eq!(
            stans,
            ["000002", "000003"],
            "the unconfirmed and the recent stay"
        );
    }

    /// Store-and-forward confirms a round's payments in one call, each settled by its own
    /// answer: confirmed with its receipt, or left to an operator when refused for good.
    #[test]
    fn a_round_confirms_its_payments_in_one_call_each_by_its_own_answer() {
        let mut platform = MockPlatformApi::new();
        platform
            .expect_confirm_payments()
            .times(1)
            .returning(|confirmations| {
                Ok(confirmations
                    .iter()
                    .map(|c| {
                        if c.notice_number.ends_with('2') {
                            Err(PlatformError::new(
                                ErrorClass::Final,
                                "NOTICE_CANCELLED",
                                "the notice was cancelled",
                            ))
                        } else {
                            Ok(adapter_core::platform::ConfirmedPayment {
                                receipt_number: format!("R-{}", c.notice_number),
                            })
                        }
                    })
                    .collect())
            });
        let host = host_on(Arc::new(Discard), platform);
        block_on(async {
            let payments: Vec<_> = (1..=3).map(|n| approve(&host, n)).collect();
            let outcomes = host.confirm_all(payments.clone()).await;
            assert_eq!(outcomes.len(), 3);
            assert!(outcomes.iter().all(|(_, outcome)| outcome.is_ok()));
            let now: Vec<_> = payments
                .iter()
                .map(|p| host.payment(&p.key).unwrap_or_else(|| unreachable!()))
                .collect();
            assert_eq!(now[0].receipt.as_deref(), Some("R-44010026120000000001"));
            assert_eq!(now[2].receipt.as_deref(), Some("R-44010026120000000003"));
            assert!(now[1].stuck && now[1].receipt.is_none());
            assert!(now.iter().all(|p| p.confirming));
        });
    }

    /// A call that fails as a whole fails each of its payments, to be tried again: none is
    /// left to an operator for it.
    #[test]
    fn a_confirmation_call_that_fails_as_a_whole_is_tried_again_for_each() {
        let mut platform = MockPlatformApi::new();
        platform.expect_confirm_payments().times(1).returning(|_| {
            Err(PlatformError::new(
                ErrorClass::Retryable,
                "TIMEOUT",
                "no answer",
            ))
        });
        let host = host_on(Arc::new(Discard), platform);
        block_on(async {
            let payments: Vec<_> = (1..=2).map(|n| approve(&host, n)).collect();
            let outcomes = host.confirm_all(payments.clone()).await;
            assert!(
                outcomes
                    .iter()
                    .all(|(_, outcome)| *outcome == Err(Duration::from_secs(1)))
            );
            for p in &payments {
                let now = host.payment(&p.key).unwrap_or_else(|| unreachable!());
                assert!(now.confirming && !now.stuck && now.failures == 1);
                assert_eq!(now.work(), Some(super::super::Work::Confirm));
            }
        });
    }

    /// Runs a test's future on a runtime of its own.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|_| unreachable!())
            .block_on(future)
    }

    fn host() -> HostGateway {
        host_with(Arc::new(Discard))
    }

    fn host_with(journal: Arc<dyn JournalSink>) -> HostGateway {
        host_on(journal, MockPlatformApi::new())
    }

    fn host_on(journal: Arc<dyn JournalSink>, mut platform: MockPlatformApi) -> HostGateway {
        platform.expect_query_notice().returning(|n| {
            Ok(PaymentNotice {
                notice_number: n,
                amount_fen: 1100,
                payee: "广州市财政局".into(),
                due_date: Some("2027-03-31".into()),
                status: NoticeStatus::Unpaid,
                qr_payload: None,
                receipt_number: None,
            })
        });
        platform.expect_case_status().returning(|_| {
            Err(PlatformError::new(
                ErrorClass::NotFound,
                "CASE_NOT_FOUND",
                "no",
            ))
        });
        HostGateway::new(
            HostConfig {
                gov_bill: builtin("gov-bill")
                    .and_then(Result::ok)
                    .unwrap_or_else(|| unreachable!()),
                cups: builtin("cups-terminal")
                    .and_then(Result::ok)
                    .unwrap_or_else(|| unreachable!()),
                master_keys: Arc::new(master_keys()),
                mac: None,
                idle_echo: Duration::from_secs(60),
                echo_timeout: Duration::from_secs(10),
                platform_timeout: Duration::from_secs(1),
                saf_expiry: Duration::from_secs(3600),
                reversal_window: Duration::from_secs(72 * 3600),
                clock: Arc::new(OffsetDateTime::now_utc),
            },
            Arc::new(platform),
            journal,
            super::super::book::Book::default(),
        )
    }

    fn master_keys() -> super::super::keys::MasterKeys {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("tmk.toml");
        std::fs::write(
            &path,
            "[terminals]\n62969002 = \"0123456789ABCDEFFEDCBA9876543210\"\n",
        )
        .unwrap_or_else(|_| unreachable!());
        super::super::keys::MasterKeys::load(&path).unwrap_or_else(|_| unreachable!())
    }

    /// A value of the right shape for `de`, made from `digits`.
    fn value(dialect: &Dialect, de: u8, digits: &str) -> Option<String> {
        let spec = dialect.field(de)?;
        let len = match spec.length {
            LengthKind::Fixed => spec.max,
            _ => digits.len().clamp(1, spec.max),
        };
        Some(digits.chars().cycle().take(len).collect())
    }

    const ELEMENTS: [u8; 20] = [
        3, 4, 7, 11, 12, 13, 15, 32, 37, 39, 41, 42, 49, 70, 74, 76, 77, 88, 89, 90,
    ];

    const CUPS_ELEMENTS: [u8; 12] = [3, 4, 11, 12, 13, 22, 25, 39, 42, 49, 61, 63];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The same for a cups-terminal link: registered or not, signed on or not, any decodable
        /// message is answered or ignored, never a panic; an answer repeats DE11 and has a DE39.
        #[test]
        fn any_decodable_cups_message_is_answered_or_ignored(
            mti in prop::sample::select(vec!["0800", "0820", "0200", "0400", "0500", "0100", "0810", "0210"]),
            elements in prop::collection::btree_map(prop::sample::select(CUPS_ELEMENTS.to_vec()), "[0-9]{1,12}", 0..10),
            terminal in prop::sample::select(vec!["62969002", "POS00001"]),
            de60 in prop_oneof![Just(String::new()), "[0-9]{8}", "(00|01|22)[0-9]{6}(000|001|002|003|004|201|[0-9]{3})", "[0-9]{14}", "[0-9]{17}"],
            notice in "[0-9]{0,30}",
            signed_on in any::<bool>(),
        ) {
            let host = host();
            let dialect = host.config.cups;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let received = Received::settled();
            let origin = Origin::new("L-1", "test", &received);
            if signed_on {
                let mut on = Message::new(dialect, Mti::from_digits(*b"0800").map_err(|_| TestCaseError::fail("mti"))?);
                on.set(11, "000001");
                on.set(41, terminal);
                on.set(60, "00000001003");
                let bytes = on.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
                let request = Request::decode(dialect, &bytes).map_err(TestCaseError::fail)?;
                let _ = runtime.block_on(super::super::cups::answer(&host, &mut LinkState::default(), &request, &bytes, &origin));
            }
            let mut m = Message::new(dialect, mti.parse::<Mti>().map_err(|_| TestCaseError::fail("mti"))?);
            for (de, digits) in &elements {
                if let Some(v) = value(dialect, *de, digits) {
                    m.set(*de, v);
                }
            }
            m.set(41, terminal);
            if !de60.is_empty() {
                m.set(60, de60.clone());
            }
            if !notice.is_empty() {
                m.set(48, notice.clone());
            }
            let Ok(bytes) = m.to_bytes() else { return Ok(()) };
            let request = Request::decode(dialect, &bytes).map_err(TestCaseError::fail)?;
            let answer = runtime
                .block_on(super::super::cups::answer(&host, &mut LinkState::default(), &request, &bytes, &origin));
            let is_request = !m.mti().is_response() && m.mti().response().is_some();
            prop_assert_eq!(answer.is_some(), is_request);
            if let Some(out) = answer {
                let back = dialect.decode(&out.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back.text(11), m.text(11));
                prop_assert!(back.text(39).is_some());
            }
        }

        /// Whatever a switch sends that decodes, the biller answers it (a request) or matches it
        /// (a response) without panicking; an answer repeats DE11 and carries a DE39.
        #[test]
        fn any_decodable_message_is_answered_or_matched(
            mti in prop::sample::select(vec!["0800", "0200", "0420", "0421", "0500", "0100", "0810", "0210", "0400"]),
            elements in prop::collection::btree_map(prop::sample::select(ELEMENTS.to_vec()), "[0-9]{1,12}", 0..12),
            code in prop::sample::select(vec!["380000", "390000", "500000", "000000"]),
            tag in prop::sample::select(vec!["PN01", "AP01", "XX99"]),
            signed_on in any::<bool>(),
        ) {
            let host = host();
            let dialect = host.config.gov_bill;
            let mut m = Message::new(dialect, mti.parse::<Mti>().map_err(|_| TestCaseError::fail("mti"))?);
            for (de, digits) in &elements {
                if let Some(v) = value(dialect, *de, digits) {
                    m.set(*de, v);
                }
            }
            if elements.contains_key(&3) {
                m.set(3, code.to_owned());
            }
            let _ = m.set_subfields(48, &[Subfield { key: SubKey::Tag(tag.into()), value: Value::from("44010026120000000001".to_owned()) }]);
            let Ok(bytes) = m.to_bytes() else { return Ok(()) };
            let request = Request::decode(dialect, &bytes).map_err(TestCaseError::fail)?;
            let mut state = LinkState { signed_on, ..LinkState::default() };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let received = Received::settled();
            let origin = Origin::new("L-1", "test", &received);
            let answer = runtime
                .block_on(answer(&host, &mut state, &request, &bytes, &origin));
            let is_request = !m.mti().is_response() && m.mti().response().is_some();
            prop_assert_eq!(answer.is_some(), is_request);
            if let Some(out) = answer {
                let back = dialect.decode(&out.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back.text(11), m.text(11));
                prop_assert!(back.text(39).is_some());
                prop_assert_eq!(Some(back.mti()), m.mti().response());
            }
        }
    }
}
