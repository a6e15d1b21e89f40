//! The biller's answers on a gov-bill link: network management, inquiries, and what this version
//! does with payments, reversals and reconciliation (docs/iso8583-binding.md, "Status").

use std::time::Duration;

use adapter_core::calendar::CST;
use adapter_core::platform::{ErrorClass, NoticeStatus, PlatformApi};
use adapter_protocols::iso8583::mac::{MacKey, mac_eq, retail_mac};
use adapter_protocols::iso8583::{Dialect, Message, Mti, SubKey, Subfield, Value};
use time::OffsetDateTime;

use super::HostConfig;

/// Response codes (DE39) of the binding.
pub(super) mod code {
    pub(crate) const APPROVED: &str = "00";
    pub(crate) const INVALID_TRANSACTION: &str = "12";
    pub(crate) const ORIGINAL_NOT_FOUND: &str = "25";
    pub(crate) const FORMAT_ERROR: &str = "30";
    pub(crate) const PLATFORM_UNAVAILABLE: &str = "91";
    pub(crate) const RECONCILIATION_ERROR: &str = "95";
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
    fn of(m: &Message<'_>) -> Summary {
        let text = |de: u8| m.text(de).map(str::to_owned);
        Summary {
            mti: m.mti().as_str().to_owned(),
            processing_code: text(3),
            stan: text(11),
            transmitted: text(7),
            terminal: text(41).map(|t| t.trim_end().to_owned()),
            network_code: text(70),
            response_code: text(39),
            notice: tag(m, "PN01"),
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
pub(super) struct Request {
    message: Message<'static>,
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

    fn text(&self, de: u8) -> Option<&str> {
        self.message.text(de)
    }

    fn missing(&self, required: &[u8]) -> bool {
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
    signed_on: bool,
    stan: u32,
    pending_echo: Option<String>,
    echo_answered: bool,
}

impl LinkState {
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
    let mut m = Message::new(config.dialect, mti);
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

/// The answer to one request (`None` for a response, which is matched instead).
pub(super) async fn answer(
    config: &HostConfig,
    platform: &dyn PlatformApi,
    state: &mut LinkState,
    request: &Request,
    raw: &[u8],
) -> Option<Outgoing> {
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
    let code_and_extra = match mti.as_str() {
        "0800" => network(state, request),
        _ if !state.signed_on => (code::INVALID_TRANSACTION, Vec::new()),
        "0200" => financial(config, platform, request).await,
        "0420" | "0421" => reversal(request),
        "0500" => reconciliation(request),
        _ => (code::INVALID_TRANSACTION, Vec::new()),
    };
    let (code, tags) = code_and_extra;
    let mut m = response(config, request, code);
    if !tags.is_empty() {
        set_tags(&mut m, &tags);
    }
    finish(config, m)
}

type Answer = (&'static str, Vec<(&'static str, String, usize)>);

fn network(state: &mut LinkState, request: &Request) -> Answer {
    if request.missing(&[7, 11, 70]) {
        return (code::FORMAT_ERROR, Vec::new());
    }
    match request.text(70) {
        Some("001") => state.signed_on = true,
        Some("002") => state.signed_on = false,
        Some("301") => {}
        _ => return (code::INVALID_TRANSACTION, Vec::new()),
    }
    (code::APPROVED, Vec::new())
}

async fn financial(config: &HostConfig, platform: &dyn PlatformApi, request: &Request) -> Answer {
    if request.missing(&[3, 7, 11, 41, 48]) {
        return (code::FORMAT_ERROR, Vec::new());
    }
    match request.text(3) {
        Some("380000") => match tag(&request.message, "PN01") {
            Some(notice) => inquiry(platform, notice, config.platform_timeout).await,
            None => (code::FORMAT_ERROR, Vec::new()),
        },
        // Application status (390000) is not in the platform contract yet, and payments
        // (500000) are taken once the store-and-forward journal lands: both are refused and
        // never executed (docs/iso8583-binding.md, "Status").
        _ => (code::INVALID_TRANSACTION, Vec::new()),
    }
}

/// The amount due on a payment notice, from the platform.
async fn inquiry(platform: &dyn PlatformApi, notice: String, limit: Duration) -> Answer {
    let pn = ("PN01", notice.clone(), 50);
    match tokio::time::timeout(limit, platform.query_notice(notice)).await {
        Err(_) => (code::PLATFORM_UNAVAILABLE, vec![pn]),
        Ok(Err(e)) => match e.class {
            ErrorClass::NotFound | ErrorClass::Final => (code::NOTHING_OWED, vec![pn]),
            _ => (code::PLATFORM_UNAVAILABLE, vec![pn]),
        },
        Ok(Ok(n)) if n.status != NoticeStatus::Unpaid => (code::NOTHING_OWED, vec![pn]),
        Ok(Ok(n)) => {
            let mut tags = vec![pn, ("AD01", n.amount_fen.to_string(), 12)];
            if let Some(due) = n.due_date.as_deref() {
                tags.push(("DD01", due.replace('-', ""), 8));
            }
            tags.push(("PY01", n.payee, 120));
            (code::APPROVED, tags)
        }
    }
}

/// This version approves no payment, so every original is unknown.
fn reversal(request: &Request) -> Answer {
    if request.missing(&[3, 4, 7, 11, 41, 90]) {
        return (code::FORMAT_ERROR, Vec::new());
    }
    (code::ORIGINAL_NOT_FOUND, Vec::new())
}

/// The switch's totals against ours: this version approves no payment, so ours are zero.
fn reconciliation(request: &Request) -> Answer {
    if request.missing(&[7, 11, 15]) {
        return (code::FORMAT_ERROR, Vec::new());
    }
    let zero = [74u8, 75, 76, 77, 86, 87, 88, 89].iter().all(|de| {
        request
            .text(*de)
            .is_none_or(|v| v.bytes().all(|b| b == b'0'))
    });
    if zero {
        (code::APPROVED, Vec::new())
    } else {
        (code::RECONCILIATION_ERROR, Vec::new())
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
    let mut m = Message::new(config.dialect, Mti::from_digits(*b"0800").ok()?);
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
