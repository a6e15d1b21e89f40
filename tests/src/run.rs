//! Runs scenario cases against a target and says, case by case, what held and what did not.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_protocols::tsp::client::TerminalClient;
use anyhow::{Context, anyhow, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenario::{Case, Certificate, Exchange, Needs, Protocol, Suite};
use crate::sim::cups::CupsTerminal;
use crate::sim::devices::{self, Devices};
use crate::sim::switch::{GovBillSwitch, PaymentRef};
use crate::sim::terminal::{ItemRun, Script, TerminalSim, session_open};
use crate::target::{CUPS_TERMINAL, Target};

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// What did not hold.
    Failed(String),
    /// Why the case could not run against this target.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub suite: String,
    pub name: String,
    pub status: Status,
    pub seconds: f64,
    /// What the case saw (steps, response codes), for the report.
    pub seen: String,
}

/// Where the run puts what the printers print, and the run's number.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub print_dir: PathBuf,
    pub run_number: RunNumber,
}

/// Eight digits that make a run's payment notices, acquirers (DE32) and batches (DE60.2) its
/// own: a run repeated against one daemon finds its notices unpaid and its totals its own.
/// Scenario files write `{run}` where it goes in a notice number (docs/conformance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunNumber(u32);

impl RunNumber {
    /// A number for a new run, from the clock's nanoseconds.
    pub fn fresh() -> RunNumber {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        RunNumber(u32::try_from(nanos % 100_000_000).unwrap_or_default())
    }

    /// `n` if it has at most eight digits.
    pub fn new(n: u32) -> Option<RunNumber> {
        (n < 100_000_000).then_some(RunNumber(n))
    }

    /// `text` with `{run}` replaced by the run's eight digits.
    pub fn fill(self, text: &str) -> String {
        text.replace("{run}", &self.to_string())
    }

    /// The acquirer (DE32, 11 digits) of gov-bill case `index`.
    fn acquirer(self, index: usize) -> String {
        format!("{self}{:03}", index % 1000)
    }

    /// Where the STANs (DE11) of gov-bill case `index` start: the run number's last two digits,
    /// the case's two, then two for the case's own messages. A payment is named by its
    /// terminal, STAN and transmission time (DE7, to the second), so a run repeated within the
    /// same second must not reuse the STANs of the one before.
    fn stan_base(self, index: usize) -> u32 {
        let index = u32::try_from(index % 100).unwrap_or_default();
        ((self.0 % 100) * 100 + index) * 100
    }

    /// Which offered appointment slot this run's citizens pick (see [`Devices::slot_pick`]).
    ///
    /// [`Devices::slot_pick`]: crate::sim::devices::Devices::slot_pick
    pub fn slot_pick(self) -> usize {
        usize::try_from(self.0).unwrap_or_default()
    }

    /// The batch (DE60.2, 6 digits) of cups-terminal case `index`: the run number's last four
    /// digits and the case's two.
    fn batch(self, index: usize) -> String {
        format!("{:04}{:02}", self.0 % 10_000, index % 100)
    }
}

impl std::fmt::Display for RunNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

/// A case that cannot run against this target now, and why (not a failure).
#[derive(Debug)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

/// The longest one case may take.
const CASE_LIMIT: Duration = Duration::from_secs(90);

/// Runs every case of `suites`; `progress` gets a line per case as it ends.
pub async fn run(
    target: &Target,
    suites: &[Suite],
    options: &RunOptions,
    progress: &mut dyn FnMut(&CaseResult, usize, usize),
) -> Vec<CaseResult> {
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let mut results = Vec::with_capacity(total);
    let mut down: Option<Target> = None;
    let mut index = 0;
    for suite in suites {
        for case in &suite.cases {
            index += 1;
            let started = Instant::now();
            let mut seen = Vec::new();
            let status = match skip_reason(target, case) {
                Some(why) => Status::Skipped(why),
                None => {
                    let outcome = if case.needs.contains(&Needs::PlatformDown) {
                        if down.is_none() {
                            down = Target::in_process_platform_down().await.ok();
                        }
                        match &down {
                            Some(d) => run_case(d, case, index, options, &mut seen).await,
                            None => Err(anyhow!("the platform-down daemon did not start")),
                        }
                    } else {
                        run_case(target, case, index, options, &mut seen).await
                    };
                    match outcome {
                        Ok(()) => Status::Passed,
                        Err(e) => match e.downcast_ref::<Skip>() {
                            Some(skip) => Status::Skipped(skip.0.clone()),
                            None => Status::Failed(format!("{e:#}")),
                        },
                    }
                }
            };
            let result = CaseResult {
                suite: suite.name.clone(),
                name: case.name.clone(),
                status,
                seconds: started.elapsed().as_secs_f64(),
                seen: seen.join(" → "),
            };
            progress(&result, index, total);
            results.push(result);
        }
    }
    if let Some(d) = down {
        d.stop().await;
    }
    results
}

fn skip_reason(target: &Target, case: &Case) -> Option<String> {
    if case.needs.contains(&Needs::PlatformDown) && !target.in_process {
        return Some("needs a daemon whose platform is down: in-process target only".into());
    }
    if case.needs.contains(&Needs::CaKey) && !target.pki.join("ca-key.pem").is_file() {
        return Some("needs the deployment CA's key (ca-key.pem) to issue a certificate".into());
    }
    match case.protocol {
        Protocol::GovBill if target.switch.is_none() => {
            Some("the target has no gov-bill listener".into())
        }
        Protocol::CupsTerminal if target.cups.is_none() => Some(format!(
            "the target has no cups-terminal listener with terminal {} registered",
            CUPS_TERMINAL.0
        )),
        _ => None,
    }
}

async fn run_case(
    target: &Target,
    case: &Case,
    index: usize,
    options: &RunOptions,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    let work = async {
        match case.protocol {
            Protocol::Tsp => tsp_case(target, case, index, options, seen).await,
            Protocol::GovBill => gov_bill_case(target, case, index, options.run_number, seen).await,
            Protocol::CupsTerminal => {
                cups_case(target, case, index, options.run_number, seen).await
            }
        }
    };
    tokio::time::timeout(CASE_LIMIT, work)
        .await
        .map_err(|_| anyhow!("the case did not finish within {CASE_LIMIT:?}"))?
}

// ----- TSP ------------------------------------------------------------------------------------

/// Whether the offer to `case.terminal` is what the case expects (an item closed now by its
/// calendar skips the case).
async fn check_offer(
    client: &mut TerminalClient,
    case: &Case,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    let offer = client.get_offer().await?;
    seen.push(format!(
        "{} offered, {} not",
        offer.offered.len(),
        offer.unavailable.len()
    ));
    for code in &case.offered {
        if let Some(u) = offer.unavailable.iter().find(|u| &u.code == code)
            && u.reason == "closed"
        {
            return Err(Skip(format!(
                "{code} is closed at {} now (until {})",
                case.terminal,
                u.until.as_deref().unwrap_or("?")
            ))
            .into());
        }
        ensure!(
            offer.offered.iter().any(|o| &o.code == code),
            "{code} is not offered"
        );
    }
    for (code, reason) in &case.not_offered {
        let Some(u) = offer.unavailable.iter().find(|u| &u.code == code) else {
            bail!("{code} should not be offered (reason {reason})");
        };
        ensure!(
            &u.reason == reason,
            "{code} is not offered because {}, not {reason}",
            u.reason
        );
    }
    Ok(())
}

async fn tsp_case(
    target: &Target,
    case: &Case,
    index: usize,
    options: &RunOptions,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    if case.certificate != Certificate::Own {
        return certificate_case(target, case, seen).await;
    }
    let config = target.terminal(&case.terminal)?;
    if !case.offered.is_empty() || !case.not_offered.is_empty() {
        let mut client = TerminalClient::connect(config.clone()).await?;
        client
            .open(session_open(&crate::sim::terminal::FULL_STM))
            .await?;
        // The session is closed however the check ends: one left open holds one of the
        // terminal's sessions at the daemon until it times out, and a run repeated within
        // that time finds the terminal full.
        let checked = check_offer(&mut client, case, seen).await;
        let closed = client.close(None).await;
        checked?;
        closed?;
        if case.item.is_none() {
            return Ok(());
        }
    }
    let Some(item) = &case.item else {
        return Ok(());
    };
    let mut devices = Devices::new(devices::citizen(&case.citizen)?);
    devices.identify_with = case.identify;
    devices.face = case.face;
    devices.notice = case.notice.as_deref().map(|n| options.run_number.fill(n));
    devices.card_approved = case.card_approved;
    devices.slot_pick = options.run_number.slot_pick();
    devices.print_dir = Some(options.print_dir.join(format!("{index:03}")));
    let mut sim = TerminalSim::open(config, devices).await?;
    // A deployment plans its offer on its own clock: an item closed now is not a failure.
    if case.expect.outcome.as_deref() != Some("refused") {
        let offer = match sim.client.get_offer().await {
            Ok(offer) => offer,
            Err(e) => {
                let _ = sim.close().await;
                return Err(e.into());
            }
        };
        if let Some(u) = offer.unavailable.iter().find(|u| &u.code == item) {
            sim.close().await?;
            return Err(Skip(format!(
                "{item} is not offered at {} now ({}{})",
                case.terminal,
                u.reason,
                u.until
                    .as_deref()
                    .map(|t| format!(" until {t}"))
                    .unwrap_or_default()
            ))
            .into());
        }
    }
    let script = Script {
        cancel_at: case.cancel_at.clone(),
        drop_at: case.drop_at.clone(),
        time_out_at: case.time_out_at.clone(),
    };
    let run = sim.run_item(item, &script, |_| {}).await;
    let printed = sim.devices.printed.len();
    // Closed even when the run went wrong, as above.
    let closed = sim.close().await;
    let run = run?;
    closed?;
    seen.extend(run.steps.iter().cloned());
    seen.push(run.outcome_name());
    check_run(case, &run, printed)
}

fn check_run(case: &Case, run: &ItemRun, printed: usize) -> anyhow::Result<()> {
    let e = &case.expect;
    if let Some(outcome) = &e.outcome {
        ensure!(
            &run.outcome_name() == outcome,
            "outcome {} ({}), expected {outcome}",
            run.outcome_name(),
            run.outcome
                .as_ref()
                .and_then(|o| o.message.clone())
                .or_else(|| run.refused.clone())
                .unwrap_or_default()
        );
    }
    if let Some(steps) = &e.steps {
        ensure!(
            &run.steps == steps,
            "steps {:?}, expected {steps:?}",
            run.steps
        );
    }
    for s in &e.includes {
        ensure!(run.steps.contains(s), "no {s} step in {:?}", run.steps);
    }
    for s in &e.excludes {
        ensure!(!run.steps.contains(s), "a {s} step in {:?}", run.steps);
    }
    if let Some(n) = e.printed {
        ensure!(printed == n, "{printed} documents printed, expected {n}");
    }
    let outcome = run.outcome.as_ref();
    for (what, want, got) in [
        (
            "a case number",
            e.case_number,
            outcome.and_then(|o| o.case_number.as_ref()).is_some(),
        ),
        (
            "a receipt number",
            e.receipt_number,
            outcome.and_then(|o| o.receipt_number.as_ref()).is_some(),
        ),
        (
            "a booking number",
            e.booking_number,
            outcome.and_then(|o| o.booking_number.as_ref()).is_some(),
        ),
        ("a resumed session", e.resumed, run.resumed),
        (
            "a repeated step with a prompt",
            e.prompted,
            !run.prompts.is_empty(),
        ),
    ] {
        if let Some(want) = want {
            ensure!(
                want == got,
                "{} {what}",
                if want { "expected" } else { "did not expect" }
            );
        }
    }
    Ok(())
}

/// A terminal with a wrong or missing certificate must not get a session.
async fn certificate_case(
    target: &Target,
    case: &Case,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    ensure!(
        case.expect.connection_refused,
        "a certificate case expects connection_refused = true"
    );
    let mut config = target.terminal(&case.terminal)?;
    let attempt = match case.certificate {
        Certificate::None => return no_certificate(target, seen).await,
        Certificate::Foreign => {
            let stranger = adapter_daemon::pki::DevCa::generate().map_err(|e| anyhow!("{e}"))?;
            stranger
                .terminal(&case.terminal)
                .map_err(|e| anyhow!("{e}"))?
        }
        Certificate::Unregistered => target
            .ca()?
            .terminal("STM-UNKNOWN-9999")
            .map_err(|e| anyhow!("{e}"))?,
        Certificate::Own => unreachable!("handled by the caller"),
    };
    config.certificate_pem = attempt.certificate_pem.into_bytes();
    config.key_pem = attempt.key_pem.into_bytes();
    config.reconnect_attempts = 1;
    let tried = async {
        let mut c = TerminalClient::connect(config).await?;
        c.open(session_open(&crate::sim::terminal::FULL_STM)).await
    };
    match tokio::time::timeout(Duration::from_secs(15), tried).await {
        Err(_) => bail!("neither refused nor accepted within 15 s"),
        Ok(Ok(_)) => bail!("the daemon opened a session"),
        Ok(Err(e)) => {
            seen.push(format!("refused: {e}"));
            Ok(())
        }
    }
}

/// TLS without a client certificate: the handshake or the first read must fail.
async fn no_certificate(target: &Target, seen: &mut Vec<String>) -> anyhow::Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(target.pki.join("ca.pem"))?;
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(target.tsp).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    let attempt = async {
        let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await?;
        stream
            .write_all(b"GET /tsp/v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            .await?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await?;
        Ok::<usize, std::io::Error>(n)
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Err(_) => bail!("neither refused nor answered within 10 s"),
        Ok(Ok(0)) | Ok(Err(_)) => {
            seen.push("refused at the TLS handshake".into());
            Ok(())
        }
        Ok(Ok(_)) => bail!("the daemon answered a terminal without a certificate"),
    }
}

// ----- gov-bill -------------------------------------------------------------------------------

/// What a link case did, to reconcile and to refer back to.
#[derive(Default)]
struct Book {
    payments: HashMap<String, PaymentRef>,
    paid: (u64, u64),
    reversed: (u64, u64),
}

fn business_mmdd(target: &Target) -> String {
    let now = match target.daemon() {
        Some(_) => crate::target::working_day_clock()(),
        None => time::OffsetDateTime::now_utc(),
    }
    .to_offset(time::macros::offset!(+8));
    format!("{:02}{:02}", u8::from(now.month()), now.day())
}

async fn gov_bill_case(
    target: &Target,
    case: &Case,
    index: usize,
    run: RunNumber,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    let addr = target
        .switch
        .ok_or_else(|| anyhow!("no gov-bill listener"))?;
    let connect = || async move {
        GovBillSwitch::connect(addr).await.map(|mut s| {
            // Each case of each run is its own acquirer, so its 0500 totals are its own.
            s.acquirer = run.acquirer(index);
            s.with_stan(run.stan_base(index))
        })
    };
    let mut switch = connect().await?;
    let mut book = Book::default();
    for (n, x) in case.exchange.iter().enumerate() {
        let step = n + 1;
        let answer = match x.send.as_str() {
            "sign-on" => Some(switch.sign_on().await?),
            "echo" => Some(switch.echo().await?),
            "sign-off" => Some(switch.sign_off().await?),
            "inquiry" => Some(switch.inquire(&notice(x, run)?).await?),
            "case-status" => {
                let case_number = x.case.as_deref().ok_or_else(|| anyhow!("no case"))?;
                Some(switch.case_status(case_number).await?)
            }
            "payment" => {
                let (answer, p) = switch.pay(&notice(x, run)?, amount(x)?).await?;
                if answer.code() == Some("00") {
                    book.paid.0 += 1;
                    book.paid.1 += p.amount_fen;
                }
                if let Some(label) = &x.payment {
                    book.payments.insert(label.clone(), p);
                }
                Some(answer)
            }
            "repeat-payment" => {
                let p = payment(&book, x, run)?;
                Some(switch.repeat_payment(&p).await?)
            }
            "reversal" | "repeat-reversal" => {
                let p = payment(&book, x, run)?;
                let answer = switch.reverse(&p, x.send == "repeat-reversal").await?;
                if answer.code() == Some("00") && x.send == "reversal" {
                    book.reversed.0 += 1;
                    book.reversed.1 += p.amount_fen;
                }
                Some(answer)
            }
            "reconcile" => {
                let (paid, reversed) = match x.declare {
                    Some(d) => (d, (0, 0)),
                    None => (book.paid, book.reversed),
                };
                Some(
                    switch
                        .reconcile(&business_mmdd(target), paid, reversed)
                        .await?,
                )
            }
            "raw" => {
                let bytes = raw_bytes(x)?;
                switch.send_raw(&bytes).await?;
                match switch.recv_within(Duration::from_secs(10)).await {
                    Ok(None) | Err(_) if x.expect_closed => {
                        seen.push(format!("{step}: raw → closed"));
                        continue;
                    }
                    Ok(a) => a,
                    Err(e) => return Err(e),
                }
            }
            "new-link" => {
                switch = connect().await?;
                seen.push(format!("{step}: new link"));
                continue;
            }
            other => bail!("exchange {step}: unknown `send = {other:?}`"),
        };
        let Some(answer) = answer else {
            ensure!(
                x.expect_closed,
                "exchange {step} ({}): the biller closed the link",
                x.send
            );
            seen.push(format!("{step}: {} → closed", x.send));
            continue;
        };
        let code = answer.code().unwrap_or("--").to_owned();
        seen.push(format!(
            "{step}: {} → {} {code}",
            x.send,
            answer.mti().as_str()
        ));
        check_code(step, x, &code)?;
        for (tag, want) in &x.expect_tags {
            let want = run.fill(want);
            let got = answer.tag(tag);
            ensure!(
                got.as_deref() == Some(want.as_str()) || (want == "*" && got.is_some()),
                "exchange {step} ({}): {tag} is {got:?}, expected {want}",
                x.send
            );
        }
    }
    Ok(())
}

/// The bytes a `raw` exchange sends.
fn raw_bytes(x: &Exchange) -> anyhow::Result<Vec<u8>> {
    hex::decode(x.hex.as_deref().unwrap_or_default()).context("`hex` is not hexadecimal")
}

/// An answer came: the link was not to close, and DE39 is what the exchange expects.
fn check_code(step: usize, x: &Exchange, code: &str) -> anyhow::Result<()> {
    ensure!(
        !x.expect_closed,
        "exchange {step} ({}): answered, expected the link closed",
        x.send
    );
    if let Some(want) = &x.expect {
        ensure!(
            code == want,
            "exchange {step} ({}): DE39 {code}, expected {want}",
            x.send
        );
    }
    Ok(())
}

/// The exchange's notice number, `{run}` filled in.
fn notice(x: &Exchange, run: RunNumber) -> anyhow::Result<String> {
    x.notice
        .as_deref()
        .map(|n| run.fill(n))
        .ok_or_else(|| anyhow!("`{}` needs `notice`", x.send))
}

fn amount(x: &Exchange) -> anyhow::Result<u64> {
    x.amount
        .ok_or_else(|| anyhow!("`{}` needs `amount`", x.send))
}

/// The payment an exchange refers to; `unknown` is one the biller never saw.
fn payment(book: &Book, x: &Exchange, run: RunNumber) -> anyhow::Result<PaymentRef> {
    let label = x
        .payment
        .as_deref()
        .ok_or_else(|| anyhow!("`{}` needs `payment`", x.send))?;
    if label == "unknown" {
        return Ok(PaymentRef {
            stan: "999999".into(),
            transmitted: "0101000000".into(),
            amount_fen: x.amount.unwrap_or(100),
            notice: run.fill(x.notice.as_deref().unwrap_or_default()),
        });
    }
    book.payments
        .get(label)
        .cloned()
        .ok_or_else(|| anyhow!("no payment labelled {label:?} earlier in the case"))
}

// ----- cups-terminal --------------------------------------------------------------------------

async fn cups_case(
    target: &Target,
    case: &Case,
    index: usize,
    run: RunNumber,
    seen: &mut Vec<String>,
) -> anyhow::Result<()> {
    let addr = target
        .cups
        .ok_or_else(|| anyhow!("no cups-terminal listener"))?;
    let (terminal, master) = CUPS_TERMINAL;
    let mut t = CupsTerminal::connect(addr, terminal, master).await?;
    // Each case of each run settles its own batch.
    t.batch = run.batch(index);
    let mut payments: HashMap<String, (String, u64)> = HashMap::new();
    let mut standing: (u64, u64) = (0, 0);
    for (n, x) in case.exchange.iter().enumerate() {
        let step = n + 1;
        let answer = match x.send.as_str() {
            "sign-on" => t.sign_on().await?,
            "inquiry" => t.inquire(&notice(x, run)?).await?,
            "payment" => {
                let a = t.pay(&notice(x, run)?, amount(x)?).await?;
                if a.code() == Some("00") {
                    standing.0 += 1;
                    standing.1 += amount(x)?;
                }
                if let Some(label) = &x.payment {
                    payments.insert(
                        label.clone(),
                        (a.text(11).unwrap_or_default().to_owned(), amount(x)?),
                    );
                }
                a
            }
            "reversal" => {
                let (stan, fen) = match x.payment.as_deref() {
                    Some("unknown") => ("999999".to_owned(), x.amount.unwrap_or(100)),
                    Some(label) => payments
                        .get(label)
                        .cloned()
                        .ok_or_else(|| anyhow!("no payment labelled {label:?}"))?,
                    None => bail!("`reversal` needs `payment`"),
                };
                let a = t.reverse(&stan, fen).await?;
                if a.code() == Some("00") && x.payment.as_deref() != Some("unknown") {
                    standing.0 = standing.0.saturating_sub(1);
                    standing.1 = standing.1.saturating_sub(fen);
                    if let Some(label) = &x.payment {
                        payments.remove(label);
                    }
                }
                a
            }
            "settle" => {
                let (count, fen) = x.declare.unwrap_or(standing);
                t.settle(count, fen).await?
            }
            "sign-off" => {
                let m = t.request("0820", "00", "002")?;
                t.exchange(m).await?
            }
            "forged-mac" => {
                let mut m = t.request("0200", "01", "000")?;
                m.set(3, "380000");
                m.set(48, notice(x, run)?);
                m.set(64, *b"00000000");
                t.send_body(&m.to_bytes()?).await?;
                t.recv().await?
            }
            "raw" => {
                let bytes = raw_bytes(x)?;
                t.send_raw(&bytes).await?;
                match t.recv().await {
                    Err(_) if x.expect_closed => {
                        seen.push(format!("{step}: raw → closed"));
                        continue;
                    }
                    other => other?,
                }
            }
            "new-link" => {
                t.reconnect(addr).await?;
                seen.push(format!("{step}: new connection"));
                continue;
            }
            other => bail!("exchange {step}: unknown `send = {other:?}`"),
        };
        let code = answer.code().unwrap_or("--").to_owned();
        seen.push(format!(
            "{step}: {} → {} {code}",
            x.send,
            answer.message.mti().as_str()
        ));
        check_code(step, x, &code)?;
        if let Some(want) = x.expect_amount {
            let got = answer.text(4).and_then(|a| a.parse::<u64>().ok());
            ensure!(
                got == Some(want),
                "exchange {step} ({}): DE4 {got:?}, expected {want}",
                x.send
            );
        }
        if let Some(balanced) = x.expect_balanced {
            let digit = answer.text(48).and_then(|d| d.chars().last());
            ensure!(
                digit == Some(if balanced { '1' } else { '2' }),
                "exchange {step} ({}): settlement result {digit:?}, expected {}",
                x.send,
                if balanced {
                    "balanced (1)"
                } else {
                    "not balanced (2)"
                }
            );
        }
        if answer.message.has(64) && code != "97" && code != "12" {
            ensure!(
                answer.mac_valid == Some(true),
                "exchange {step} ({}): the answer's MAC is wrong",
                x.send
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RunNumber;

    /// A run's number fills `{run}` with eight digits, and makes DE32 and DE60.2 of the
    /// lengths the dialects take.
    #[test]
    fn a_run_number_names_notices_acquirers_and_batches() {
        let run = RunNumber::new(1234).unwrap_or_else(|| unreachable!());
        assert_eq!(run.fill("4401002613{run}24"), "44010026130000123424");
        assert_eq!(run.acquirer(31), "00001234031");
        assert_eq!(run.batch(42), "123442");
        assert_eq!(run.stan_base(31), 343_100);
        assert!(RunNumber::new(100_000_000).is_none());
        let fresh = RunNumber::fresh();
        assert_eq!(fresh.to_string().len(), 8);
    }
}
