#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! Crash safety of bank-switch payments: a real `stm-adapter serve` process, with the sandbox
//! platform in a process of its own (so the platform outlives every crash), takes payments and
//! reversals from a switch while it is killed with SIGKILL at random moments — 24 times — and
//! restarted. The switch behaves as switches do: a payment it got no answer for is reversed
//! (0420) after the restart, a reversal it got no answer for is repeated (0421).
//!
//! Then, with store-and-forward settled, the platform's reconciliation report must show: every
//! payment the switch saw approved and did not reverse confirmed exactly once; every reversed
//! payment cancelled (or never confirmed); nothing confirmed that the switch did not see
//! approved; the 0500 totals agree; the journal's chain is intact.
//!
//! The random moments come from a fixed seed (`CRASH_SEED` overrides it), so a failure can be
//! replayed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use adapter_core::calendar::CST;
use adapter_core::platform::PlatformApi;
use adapter_daemon::platform::signing::SigningKey;
use adapter_daemon::platform::{ClientConfig, PlatformClient};
use adapter_protocols::iso8583::{Dialect, Message, Mti, SubKey, Subfield, Value, builtin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KILLS: usize = 24;
const APP: &str = "BANK-GD-0001";
const SECRET: &str = "stm-adapter-sandbox-secret";
const ACQUIRER: &str = "01020000";
const TERMINAL: &str = "POS00001";

/// A child process, killed when the test ends either way.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stm-adapter"))
}

/// Reads stdout until a line starting with `prefix`; returns the rest of that line.
fn banner(child: &mut Child, prefix: &str) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            let found = rest.trim().to_owned();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return found;
        }
    }
    panic!("the process ended before printing {prefix:?}");
}

fn start_sandbox(dir: &Path) -> (Proc, String, PathBuf) {
    let pki = dir.join("sandbox-pki");
    let mut child = binary()
        .args(["sandbox", "--listen", "127.0.0.1:0", "--tls", "--pki"])
        .arg(&pki)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = banner(&mut child, "sandbox platform listening on");
    (Proc(child), url, pki.join("ca.pem"))
}

fn start_daemon(dir: &Path, platform: &str, ca: &Path, run: usize) -> (Proc, String) {
    let log = std::fs::File::create(dir.join(format!("daemon-{run:02}.log"))).unwrap();
    let mut child = binary()
        .arg("serve")
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("STM_ADAPTER__LOG__FORMAT", "json")
        .env("STM_ADAPTER__TSP__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ADMIN__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__ISO8583__LISTEN", "127.0.0.1:0")
        .env("STM_ADAPTER__PLATFORM__MODE", "remote")
        .env("STM_ADAPTER__PLATFORM__BASE_URL", platform)
        .env("STM_ADAPTER__PLATFORM__CA_FILE", ca)
        .env("STM_ADAPTER__PLATFORM__APP_ID", APP)
        .env("STM_ADAPTER__PLATFORM__SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let iso = banner(&mut child, "ISO 8583 (switch) tcp://");
    let addr = iso.split_whitespace().next().unwrap().to_owned();
    (Proc(child), addr)
}

/// xorshift64*: random enough for choosing moments, and replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn gov_bill() -> &'static Dialect {
    builtin("gov-bill").unwrap().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Sent; the link broke before the answer.
    Unknown,
    Approved,
    Declined,
}

#[derive(Debug, Clone)]
struct Pay {
    notice: String,
    amount: u64,
    stan: String,
    rrn: String,
    outcome: Known,
    /// A reversal was sent; `Some(true)` once answered 00, `Some(false)` while unanswered.
    reversal: Option<bool>,
    /// The daemon did not know the payment (25): it never existed there.
    unknown_to_daemon: bool,
}

/// The switch's side: every payment it sent and what it knows of it.
struct Ledger {
    pays: Vec<Pay>,
    stan: u32,
    transmitted: String,
    mmdd: String,
}

impl Ledger {
    fn next_stan(&mut self) -> String {
        self.stan += 1;
        format!("{:06}", self.stan)
    }

    fn header(&mut self, mti: &str) -> Message<'static> {
        let mut m = Message::new(gov_bill(), mti.parse::<Mti>().unwrap());
        m.set(7, self.transmitted.clone());
        m.set(11, self.next_stan());
        m
    }

    fn sign_on(&mut self) -> Message<'static> {
        let mut m = self.header("0800");
        m.set(70, "001");
        m
    }

    fn payment(&mut self, notice: &str, amount: u64) -> (Message<'static>, Pay) {
        let mut m = self.header("0200");
        let stan = m.text(11).unwrap().to_owned();
        let rrn = format!("9{:011}", self.stan);
        for (de, v) in [
            (3, "500000".to_owned()),
            (4, format!("{amount:012}")),
            (12, "100000".into()),
            (13, self.mmdd.clone()),
            (32, ACQUIRER.into()),
            (37, rrn.clone()),
            (41, TERMINAL.into()),
            (42, "102440153990001".into()),
            (49, "156".into()),
        ] {
            m.set(de, v);
        }
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag("PN01".into()),
                value: Value::from(notice.to_owned()),
            }],
        )
        .unwrap();
        let pay = Pay {
            notice: notice.into(),
            amount,
            stan,
            rrn,
            outcome: Known::Unknown,
            reversal: None,
            unknown_to_daemon: false,
        };
        (m, pay)
    }

    fn reversal(&mut self, pay: &Pay, repeat: bool) -> Message<'static> {
        let mut m = self.header(if repeat { "0421" } else { "0420" });
        for (de, v) in [
            (3, "500000".to_owned()),
            (4, format!("{:012}", pay.amount)),
            (32, ACQUIRER.into()),
            (37, pay.rrn.clone()),
            (39, "98".into()),
            (41, TERMINAL.into()),
            (42, "102440153990001".into()),
            (49, "156".into()),
        ] {
            m.set(de, v);
        }
        m.set(
            90,
            format!(
                "0200{}{}{:0>11}{:0>11}",
                pay.stan, self.transmitted, ACQUIRER, "0"
            ),
        );
        m
    }

    /// Notices free to pay: none of their payments is approved (or maybe approved) and standing.
    fn free_notices(&self, all: &[(String, u64)]) -> Vec<(String, u64)> {
        all.iter()
            .filter(|(n, _)| {
                !self.pays.iter().any(|p| {
                    &p.notice == n
                        && p.outcome != Known::Declined
                        && p.reversal != Some(true)
                        && !p.unknown_to_daemon
                })
            })
            .cloned()
            .collect()
    }
}

async fn exchange(link: &mut TcpStream, m: &Message<'_>) -> Option<String> {
    let body = m.to_bytes().unwrap();
    let mut frame = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    link.write_all(&frame).await.ok()?;
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(20), link.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    link.read_exact(&mut answer).await.ok()?;
    let decoded = gov_bill().decode(&answer).ok()?;
    decoded.text(39).map(str::to_owned)
}

/// A fresh link, signed on.
async fn link(addr: &str, ledger: &mut Ledger) -> TcpStream {
    let mut link = TcpStream::connect(addr).await.unwrap();
    let sign_on = ledger.sign_on();
    assert_eq!(exchange(&mut link, &sign_on).await.as_deref(), Some("00"));
    link
}

/// After a restart: reverse what got no answer, repeat reversals that got none.
async fn resolve(link: &mut TcpStream, ledger: &mut Ledger) {
    for i in 0..ledger.pays.len() {
        let pay = ledger.pays[i].clone();
        let needs = pay.reversal == Some(false)
            || (pay.outcome == Known::Unknown && pay.reversal.is_none());
        if !needs || pay.unknown_to_daemon {
            continue;
        }
        let repeat = pay.reversal == Some(false);
        let m = ledger.reversal(&pay, repeat);
        match exchange(link, &m).await.as_deref() {
            Some("00") => ledger.pays[i].reversal = Some(true),
            Some("25") => {
                assert_eq!(
                    pay.outcome,
                    Known::Unknown,
                    "an approved payment is always found"
                );
                ledger.pays[i].unknown_to_daemon = true;
            }
            other => panic!("reversal of {pay:?} answered {other:?}"),
        }
    }
}

fn saf_pending(dir: &Path) -> (u64, u64) {
    let out = binary()
        .args(["saf", "list", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    (
        summary["pending"].as_u64().unwrap(),
        summary["stuck"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_survive_kill_9_exactly_once() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2026_1128_u64);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let (_sandbox, platform, ca) = start_sandbox(dir.path());

    let today = time::OffsetDateTime::now_utc().to_offset(CST);
    let mmdd = format!("{:02}{:02}", u8::from(today.month()), today.day());
    let mut ledger = Ledger {
        pays: Vec::new(),
        stan: 0,
        transmitted: format!("{mmdd}100000"),
        mmdd,
    };
    let notices: Vec<(String, u64)> = (1..=60)
        .map(|n| (format!("44010026120000{n:06}"), 1000 + n * 100))
        .collect();

    for run in 0..KILLS {
        let (mut daemon, addr) = start_daemon(dir.path(), &platform, &ca, run);
        let mut link = link(&addr, &mut ledger).await;
        resolve(&mut link, &mut ledger).await;

        // Kill it at a random moment while payments and reversals stream in.
        let pid = daemon.0.id();
        let after = Duration::from_millis(5 + rng.below(250));
        let killer = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        });
        loop {
            let standing: Vec<usize> = (0..ledger.pays.len())
                .filter(|i| {
                    let p = &ledger.pays[*i];
                    p.outcome == Known::Approved && p.reversal.is_none()
                })
                .collect();
            let free = ledger.free_notices(&notices);
            let reverse = !standing.is_empty() && (free.is_empty() || rng.below(3) == 0);
            if reverse {
                let i = standing[usize::try_from(rng.below(standing.len() as u64)).unwrap()];
                let m = ledger.reversal(&ledger.pays[i].clone(), false);
                ledger.pays[i].reversal = Some(false);
                match exchange(&mut link, &m).await.as_deref() {
                    Some("00") => ledger.pays[i].reversal = Some(true),
                    Some(other) => panic!("reversal answered {other}"),
                    None => break,
                }
            } else if let Some((notice, amount)) = free
                .get(usize::try_from(rng.below(free.len().max(1) as u64)).unwrap())
                .cloned()
            {
                let (m, pay) = ledger.payment(&notice, amount);
                ledger.pays.push(pay);
                let last = ledger.pays.len() - 1;
                match exchange(&mut link, &m).await.as_deref() {
                    Some("00") => ledger.pays[last].outcome = Known::Approved,
                    // B2 while a cancellation is still on its way, 91 while the platform is
                    // slow: declined, nothing taken.
                    Some("B2" | "91") => ledger.pays[last].outcome = Known::Declined,
                    Some(other) => panic!("payment answered {other}"),
                    None => break,
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        killer.await.unwrap();
        let status = daemon.0.wait().unwrap();
        assert!(!status.success(), "run {run}: the daemon was killed");
    }

    // The last start: settle everything.
    let (_daemon, addr) = start_daemon(dir.path(), &platform, &ca, KILLS);
    let mut link = link(&addr, &mut ledger).await;
    resolve(&mut link, &mut ledger).await;
    let mut settled = false;
    for _ in 0..600 {
        let (pending, stuck) = saf_pending(dir.path());
        assert_eq!(stuck, 0, "no payment is left to an operator");
        if pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "store-and-forward settles");

    // The day's totals as the switch counts them: every payment the daemon knew, approved or
    // answered too late, and the reversals among them.
    let mut totals = ledger.header("0500");
    let known: Vec<&Pay> = ledger
        .pays
        .iter()
        .filter(|p| {
            p.outcome == Known::Approved || (p.outcome == Known::Unknown && !p.unknown_to_daemon)
        })
        .collect();
    let reversed: Vec<&&Pay> = known.iter().filter(|p| p.reversal == Some(true)).collect();
    for (de, v) in [
        (15, ledger.mmdd.clone()),
        (32, ACQUIRER.into()),
        (74, format!("{:010}", 0)),
        (75, format!("{:010}", 0)),
        (76, format!("{:010}", known.len())),
        (77, format!("{:010}", reversed.len())),
        (86, format!("{:016}", 0)),
        (87, format!("{:016}", 0)),
        (
            88,
            format!("{:016}", known.iter().map(|p| p.amount).sum::<u64>()),
        ),
        (
            89,
            format!("{:016}", reversed.iter().map(|p| p.amount).sum::<u64>()),
        ),
    ] {
        totals.set(de, v);
    }
    assert_eq!(
        exchange(&mut link, &totals).await.as_deref(),
        Some("00"),
        "0500 agrees"
    );

    // The platform's view.
    let report_date = format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let key = SigningKey::hmac(SECRET.as_bytes()).unwrap();
    let mut config = ClientConfig::new(platform.parse().unwrap(), APP, key.clone(), key.verifier());
    config.tls = Some(
        adapter_daemon::tls::client_config(std::fs::read(&ca).unwrap().as_slice(), None).unwrap(),
    );
    let client = PlatformClient::new(config).unwrap();
    let report = client
        .reconciliation_report(report_date.clone())
        .await
        .unwrap();
    let mut by_rrn: HashMap<String, Vec<bool>> = HashMap::new();
    for p in &report.payments {
        if let Some(rrn) = &p.bank_reference
            && rrn.starts_with('9')
        {
            by_rrn.entry(rrn.clone()).or_default().push(p.cancelled);
        }
    }
    let approved = ledger
        .pays
        .iter()
        .filter(|p| p.outcome == Known::Approved)
        .count();
    let unanswered = ledger
        .pays
        .iter()
        .filter(|p| p.outcome == Known::Unknown)
        .count();
    let lost = ledger.pays.iter().filter(|p| p.unknown_to_daemon).count();
    eprintln!(
        "crash safety (seed {seed:#x}): {KILLS} kills, {} payments sent, {approved} approved, \
         {unanswered} unanswered ({lost} never journaled), {} reversed, {} platform entries",
        ledger.pays.len(),
        ledger
            .pays
            .iter()
            .filter(|p| p.reversal == Some(true))
            .count(),
        report.payments.len()
    );
    assert!(
        approved >= 10,
        "the test took payments: {approved} approved"
    );
    assert!(
        unanswered >= 1,
        "some kills fell between a payment and its answer"
    );
    for pay in &ledger.pays {
        let entries = by_rrn.remove(&pay.rrn).unwrap_or_default();
        let standing = pay.outcome == Known::Approved && pay.reversal != Some(true);
        if standing {
            assert_eq!(
                entries,
                [false],
                "{pay:?}: confirmed exactly once, not cancelled"
            );
        } else {
            assert!(
                entries.len() <= 1 && entries.iter().all(|cancelled| *cancelled),
                "{pay:?}: never confirmed, or cancelled: {entries:?}"
            );
        }
    }
    assert!(
        by_rrn.is_empty(),
        "confirmed without the switch's payment: {by_rrn:?}"
    );

    // `stm-adapter reconcile` agrees: the journal and the platform's report have no difference.
    let out = binary()
        .args(["reconcile", "--date", &report_date, "--data-dir"])
        .arg(dir.path().join("data"))
        .env("STM_ADAPTER__PLATFORM__MODE", "remote")
        .env("STM_ADAPTER__PLATFORM__BASE_URL", &platform)
        .env("STM_ADAPTER__PLATFORM__CA_FILE", &ca)
        .env("STM_ADAPTER__PLATFORM__APP_ID", APP)
        .env("STM_ADAPTER__PLATFORM__SECRET", SECRET)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reconcile: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["differences"], 0, "{text}");
    assert_eq!(
        summary["journalPayments"].as_u64(),
        Some(known.len() as u64),
        "{text}"
    );
    drop(link);
    drop(_daemon);

    let out = binary()
        .args(["journal", "verify", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the journal's chain survived {KILLS} kills: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
