#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The ISO 8583 biller host end to end: a daemon on embedded defaults, and a bank switch that
//! knows nothing but docs/iso8583-binding.md — a plain TCP socket, a 2-byte length, gov-bill
//! messages — signing on, echoing, inquiring, and finding out what this version refuses.

use std::path::Path;
use std::time::Duration;

use adapter_core::shipped::shipped;
use adapter_daemon::config::Config;
use adapter_daemon::daemon::{Daemon, DataSource};
use adapter_daemon::journal::FieldCipher;
use adapter_daemon::journal::sqlite::SqliteStore;
use adapter_daemon::journal::verify::verify;
use adapter_daemon::sandbox;
use adapter_protocols::iso8583::mac::{MacKey, retail_mac};
use adapter_protocols::iso8583::{Dialect, Message, Mti, SubKey, Subfield, Value, builtin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NOTICE: &str = "44010026110000012345"; // 20000 fen to 广州市公安局交通警察支队
const MAC_KEY: &str = "0123456789ABCDEFFEDCBA9876543210";

fn gov_bill() -> &'static Dialect {
    builtin("gov-bill").unwrap().unwrap()
}

async fn start(dir: &Path, tune: impl FnOnce(&mut Config)) -> Daemon {
    let mut config = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    config.tsp.listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.iso8583.listen = "127.0.0.1:0".parse().unwrap();
    config.tsp.drain_seconds = 1;
    tune(&mut config);
    let base = time::macros::datetime!(2026-12-01 10:00 +08:00);
    let started = std::time::Instant::now();
    let source = DataSource {
        load: Box::new(|| Ok(shipped())),
        sandbox: sandbox::shipped(),
        clock: std::sync::Arc::new(move || base + started.elapsed()),
    };
    Daemon::start(config, source).await.unwrap()
}

/// A bank switch on one link.
struct Switch {
    stream: TcpStream,
    stan: u32,
    mac: Option<MacKey>,
}

impl Switch {
    async fn connect(daemon: &Daemon) -> Switch {
        let (addr, tls) = daemon.endpoints.iso8583.unwrap();
        assert!(!tls, "loopback links are plain TCP by default");
        Switch {
            stream: TcpStream::connect(addr).await.unwrap(),
            stan: 0,
            mac: None,
        }
    }

    fn message(&mut self, mti: &str, fields: &[(u8, &str)]) -> Message<'static> {
        self.stan += 1;
        let mut m = Message::new(gov_bill(), mti.parse::<Mti>().unwrap());
        m.set(7, "1201100000");
        m.set(11, format!("{:06}", self.stan));
        for (de, value) in fields {
            m.set(*de, (*value).to_owned());
        }
        m
    }

    fn financial(
        &mut self,
        processing: &str,
        notice: &str,
        amount: Option<&str>,
    ) -> Message<'static> {
        let mut m = self.message(
            "0200",
            &[
                (3, processing),
                (12, "100000"),
                (13, "1201"),
                (32, "01020000"),
                (37, "633510000001"),
                (41, "ATM00001"),
                (42, "102440153990001"),
                (49, "156"),
            ],
        );
        if let Some(a) = amount {
            m.set(4, a.to_owned());
        }
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag("PN01".into()),
                value: Value::from(notice.to_owned()),
            }],
        )
        .unwrap();
        m
    }

    async fn send(&mut self, m: &Message<'_>) {
        let mut body = m.to_bytes().unwrap();
        if let Some(key) = &self.mac {
            // The MAC field is last on the wire and covers everything before it.
            let n = body.len() - 16;
            let mac = retail_mac(key, &body[..n]);
            body.truncate(n);
            body.extend(hex::encode_upper(mac).into_bytes());
        }
        self.send_raw(&body).await;
    }

    async fn send_raw(&mut self, body: &[u8]) {
        let mut frame = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next message, or `None` when the daemon closed the link.
    async fn recv_raw(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut len))
            .await
            .expect("the daemon answers within 10 s");
        read.ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(body)
    }

    async fn recv(&mut self) -> Message<'static> {
        let body = self.recv_raw().await.expect("an answer, not a closed link");
        owned(&body)
    }

    async fn exchange(&mut self, m: &Message<'_>) -> Message<'static> {
        self.send(m).await;
        self.recv().await
    }
}

fn owned(body: &[u8]) -> Message<'static> {
    let decoded = gov_bill().decode(body).unwrap();
    let mut m = Message::new(gov_bill(), decoded.mti());
    for (de, v) in decoded.fields() {
        m.set(de, v.clone().into_owned());
    }
    m
}

fn tag(m: &Message<'_>, name: &str) -> Option<String> {
    m.subfields(48)
        .unwrap()?
        .into_iter()
        .find(|s| s.key == SubKey::Tag(name.into()))
        .and_then(|s| s.value.as_text().map(str::to_owned))
}

fn code<'m>(m: &'m Message<'_>) -> &'m str {
    m.text(39).unwrap_or("--")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_signs_on_echoes_inquires_and_signs_off() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |_| {}).await;
    let mut switch = Switch::connect(&daemon).await;

    // Before sign-on a financial request is refused, never executed.
    let inquiry = switch.financial("380000", NOTICE, None);
    let answer = switch.exchange(&inquiry).await;
    assert_eq!(answer.mti().as_str(), "0210");
    assert_eq!(code(&answer), "12");
    assert_eq!(answer.text(11), inquiry.text(11));

    // Sign-on: 0810 echoes DE7, DE11 and DE70.
    let sign_on = switch.message("0800", &[(70, "001")]);
    let answer = switch.exchange(&sign_on).await;
    assert_eq!(answer.mti().as_str(), "0810");
    assert_eq!(code(&answer), "00");
    for de in [7, 11, 70] {
        assert_eq!(answer.text(de), sign_on.text(de), "DE{de} is echoed");
    }
    let echo = switch.message("0800", &[(70, "301")]);
    assert_eq!(code(&switch.exchange(&echo).await), "00");

    // The amount due on a notice, from the platform.
    let inquiry = switch.financial("380000", NOTICE, None);
    let answer = switch.exchange(&inquiry).await;
    assert_eq!(code(&answer), "00");
    for de in [3, 7, 11, 12, 13, 32, 37, 41, 42, 49] {
        assert_eq!(answer.text(de), inquiry.text(de), "DE{de} is echoed");
    }
    assert_eq!(tag(&answer, "PN01").as_deref(), Some(NOTICE));
    assert_eq!(tag(&answer, "AD01").as_deref(), Some("20000"));
    assert_eq!(tag(&answer, "DD01").as_deref(), Some("20261231"));
    assert_eq!(
        tag(&answer, "PY01").as_deref(),
        Some("广州市公安局交通警察支队")
    );

    // An unknown notice: nothing owed.
    let unknown = switch.financial("380000", "44010099999999999999", None);
    assert_eq!(code(&switch.exchange(&unknown).await), "B2");

    // A request without its mandatory elements: format error.
    let bare = switch.message("0200", &[(3, "380000")]);
    assert_eq!(code(&switch.exchange(&bare).await), "30");

    // Sign-off: financial requests are refused again.
    let sign_off = switch.message("0800", &[(70, "002")]);
    assert_eq!(code(&switch.exchange(&sign_off).await), "00");
    let inquiry = switch.financial("380000", NOTICE, None);
    assert_eq!(code(&switch.exchange(&inquiry).await), "12");

    // The admin API and the metrics saw the link; the journal holds every message, intact.
    let links = daemon.host().unwrap().links();
    assert_eq!(links.len(), 1);
    assert!(!links[0].signed_on);
    drop(switch);
    daemon.stop().await;
    let key = std::fs::read_to_string(dir.path().join("data/journal.key")).unwrap();
    let cipher = FieldCipher::from_hex(key.trim()).unwrap();
    let store = SqliteStore::open(&dir.path().join("data/journal.sqlite"))
        .await
        .unwrap();
    let report = verify(&store, cipher.chain_key()).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    // The link's opening, each of the 8 requests with its answer, and its closing: a request
    // and its answer in two records, except the three signed-on inquiries (they change
    // nothing), each one record with its answer.
    assert_eq!(
        report.records,
        1 + 2 * 5 + 3 + 1,
        "{} records",
        report.records
    );
}

/// The payment of notice `NOTICE`, 20000 fen, and its reversal advice.
fn pay(switch: &mut Switch, notice: &str, amount: &str) -> Message<'static> {
    switch.financial("500000", notice, Some(amount))
}

fn reversal_of(switch: &mut Switch, payment: &Message<'_>, mti: &str) -> Message<'static> {
    let mut m = switch.message(
        mti,
        &[
            (3, "500000"),
            (4, payment.text(4).unwrap()),
            (32, "01020000"),
            (37, payment.text(37).unwrap()),
            (39, "98"),
            (41, payment.text(41).unwrap()),
            (42, "102440153990001"),
            (49, "156"),
        ],
    );
    m.set(
        90,
        format!(
            "0200{}{}{:0>11}{:0>11}",
            payment.text(11).unwrap(),
            payment.text(7).unwrap(),
            "1020000",
            "0"
        ),
    );
    m
}

/// Waits until store-and-forward has nothing left to do.
async fn settled(daemon: &Daemon) -> Vec<adapter_daemon::gateway::iso8583::book::Payment> {
    let host = daemon.host().unwrap();
    // Empty for a quarter of a second, not once: store-and-forward works from the payments it
    // read at the start of a round, so a payment withdrawn by a reversal (no work left) can
    // come back as it records the confirmation it had begun, and is then cancelled.
    let mut empty_since = 0;
    for _ in 0..200 {
        if host.store_and_forward_queue().0.is_empty() {
            empty_since += 1;
            if empty_since == 5 {
                return host.payments();
            }
        } else {
            empty_since = 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "store-and-forward did not settle: {:?}",
        host.store_and_forward_queue()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_confirmed_once_and_reversals_cancelled_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |_| {}).await;
    let mut switch = Switch::connect(&daemon).await;
    let sign_on = switch.message("0800", &[(70, "001")]);
    assert_eq!(code(&switch.exchange(&sign_on).await), "00");

    // A payment: approved with an authorisation code and the receipt lines.
    let payment = pay(&mut switch, NOTICE, "000000020000");
    let first = switch.exchange(&payment).await;
    assert_eq!(code(&first), "00");
    let auth = first.text(38).unwrap().to_owned();
    assert_eq!(auth.len(), 6);
    assert_eq!(tag(&first, "BD01").as_deref(), Some("20261201"));
    assert_eq!(tag(&first, "PL02").as_deref(), Some("金额：200.00 元"));
    // The same request again: the same answer, not a second payment.
    let again = switch.exchange(&payment).await;
    assert_eq!((code(&again), again.text(38)), ("00", Some(auth.as_str())));
    // The wrong amount for another notice: 13, with the amount due.
    let wrong = pay(&mut switch, "44010026110000012346", "000000004000");
    let answer = switch.exchange(&wrong).await;
    assert_eq!(code(&answer), "13");
    assert_eq!(tag(&answer, "AD01").as_deref(), Some("5000"));

    // Store-and-forward confirms it at the platform: the notice is paid.
    let book = settled(&daemon).await;
    assert_eq!(book.len(), 1);
    assert_eq!(book[0].state(), "confirmed");
    let inquiry = switch.financial("380000", NOTICE, None);
    assert_eq!(code(&switch.exchange(&inquiry).await), "B2");

    // Reversed: answered at once, cancelled at the platform after; the repeat changes nothing.
    let reversal = reversal_of(&mut switch, &payment, "0420");
    let answer = switch.exchange(&reversal).await;
    assert_eq!((answer.mti().as_str(), code(&answer)), ("0430", "00"));
    let repeat = reversal_of(&mut switch, &payment, "0421");
    assert_eq!(code(&switch.exchange(&repeat).await), "00");
    let book = settled(&daemon).await;
    assert_eq!(book[0].state(), "cancelled");
    assert!(book[0].refund_reference.is_some());
    let inquiry = switch.financial("380000", NOTICE, None);
    assert_eq!(code(&switch.exchange(&inquiry).await), "00", "owed again");

    // A reversal whose original nobody approved: 25.
    let stranger = pay(&mut switch, NOTICE, "000000020000");
    let unknown = reversal_of(&mut switch, &stranger, "0420");
    assert_eq!(code(&switch.exchange(&unknown).await), "25");

    // A second payment, reversed at once: withdrawn or cancelled, never left confirmed.
    let second = pay(&mut switch, "44010026110000012346", "000000005000");
    assert_eq!(code(&switch.exchange(&second).await), "00");
    let reversal = reversal_of(&mut switch, &second, "0420");
    assert_eq!(code(&switch.exchange(&reversal).await), "00");
    let book = settled(&daemon).await;
    assert!(
        book.iter()
            .all(|p| matches!(p.state(), "cancelled" | "withdrawn")),
        "{book:?}"
    );

    // The day's totals: two payments (25000 fen), both reversed.
    let totals = switch.message(
        "0500",
        &[
            (15, "1201"),
            (32, "01020000"),
            (74, "0000000000"),
            (75, "0000000000"),
            (76, "0000000002"),
            (77, "0000000002"),
            (86, "0000000000000000"),
            (87, "0000000000000000"),
            (88, "0000000000025000"),
            (89, "0000000000025000"),
            (97, "C0000000000000000"),
        ],
    );
    assert_eq!(code(&switch.exchange(&totals).await), "00");
    let short = switch.message(
        "0500",
        &[
            (15, "1201"),
            (32, "01020000"),
            (76, "0000000001"),
            (88, "0000000000020000"),
        ],
    );

    // /metrics shows the queue empty and the day's payments.
    let tls = adapter_daemon::tls::trust_nothing_client_config().unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let metrics = http
        .get(format!("http://{}/metrics", daemon.endpoints.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "stm_adapter_saf_pending 0",
        "stm_adapter_saf_stuck 0",
        "stm_adapter_payments_total{kind=\"bill_approved\"} 2",
        "stm_adapter_payments_total{kind=\"bill_reversed\"} 2",
        "stm_adapter_iso8583_links_opened_total 1",
        "stm_adapter_iso8583_book_payments 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    // The host's platform calls are timed too (the TSP sessions' come from their records).
    let calls = |call: &str| -> u64 {
        let series = format!("stm_adapter_platform_call_seconds_count{{call=\"{call}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        calls("query_notice") >= 1,
        "query_notice timed in\n{metrics}"
    );
    assert_eq!(code(&switch.exchange(&short).await), "95");
    drop(switch);
    daemon.stop().await;

    // After a restart the book comes back from the journal: the first payment's duplicate is
    // still answered as before, and nothing is approved or confirmed again.
    let daemon = start(dir.path(), |_| {}).await;
    assert_eq!(daemon.host().unwrap().payments().len(), 2);
    let mut switch = Switch::connect(&daemon).await;
    let sign_on = switch.message("0800", &[(70, "001")]);
    assert_eq!(code(&switch.exchange(&sign_on).await), "00");
    let again = switch.exchange(&payment).await;
    assert_eq!((code(&again), again.text(38)), ("00", Some(auth.as_str())));
    let book = settled(&daemon).await;
    assert_eq!(book.len(), 2);
    drop(switch);
    daemon.stop().await;

    let key = std::fs::read_to_string(dir.path().join("data/journal.key")).unwrap();
    let cipher = FieldCipher::from_hex(key.trim()).unwrap();
    let store = SqliteStore::open(&dir.path().join("data/journal.sqlite"))
        .await
        .unwrap();
    let report = verify(&store, cipher.chain_key()).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    let book = adapter_daemon::gateway::iso8583::book::Book::load(&store)
        .await
        .unwrap();
    let confirmations = book.all().iter().filter(|p| p.receipt.is_some()).count();
    assert!((1..=2).contains(&confirmations), "{book:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_its_link_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |_| {}).await;
    let mut bad = Switch::connect(&daemon).await;
    let mut good = Switch::connect(&daemon).await;
    let sign_on = good.message("0800", &[(70, "001")]);
    assert_eq!(code(&good.exchange(&sign_on).await), "00");

    bad.send_raw(b"0800ZZZZ not a bitmap").await;
    assert!(bad.recv_raw().await.is_none(), "the daemon closes the link");
    // A length prefix beyond the dialect's largest frame closes it too.
    let mut huge = Switch::connect(&daemon).await;
    huge.stream.write_all(&[0xFF, 0xFF]).await.unwrap();
    assert!(huge.recv_raw().await.is_none());

    let echo = good.message("0800", &[(70, "301")]);
    assert_eq!(
        code(&good.exchange(&echo).await),
        "00",
        "the other link carries on"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_mac_key_every_message_is_checked_and_signed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/mac.key"), MAC_KEY).unwrap();
    let daemon = start(dir.path(), |c| {
        c.iso8583.mac_key_file = Some("mac.key".into())
    })
    .await;
    let mut switch = Switch::connect(&daemon).await;

    // Without a MAC: A0, and not executed (still not signed on).
    let mut sign_on = switch.message("0800", &[(70, "001")]);
    sign_on.set(128, [0u8; 8]);
    assert_eq!(code(&switch.exchange(&sign_on).await), "A0");
    assert!(!daemon.host().unwrap().links()[0].signed_on);

    // With the right MAC: executed, and the answer's MAC verifies.
    switch.mac = Some(MacKey::from_hex(MAC_KEY).unwrap());
    let mut sign_on = switch.message("0800", &[(70, "001")]);
    sign_on.set(128, [0u8; 8]);
    switch.send(&sign_on).await;
    let raw = switch.recv_raw().await.unwrap();
    let answer = owned(&raw);
    assert_eq!(code(&answer), "00");
    let key = MacKey::from_hex(MAC_KEY).unwrap();
    let mac = retail_mac(&key, &raw[..raw.len() - 16]);
    assert_eq!(answer.binary(128), Some(&mac[..]));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_link_is_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |c| {
        c.iso8583.idle_echo_seconds = 5;
        c.iso8583.echo_timeout_seconds = 2;
    })
    .await;
    let mut switch = Switch::connect(&daemon).await;
    let echo = switch.recv().await;
    assert_eq!((echo.mti().as_str(), echo.text(70)), ("0800", Some("301")));
    let mut answer = Message::new(gov_bill(), "0810".parse::<Mti>().unwrap());
    for de in [7, 11, 70] {
        answer.set(de, echo.text(de).unwrap().to_owned());
    }
    answer.set(39, "00");
    switch.send(&answer).await;
    // Answered: the link stays. Unanswered: the next echo's timeout closes it.
    let second = switch.recv().await;
    assert_eq!(second.text(70), Some("301"));
    assert_ne!(second.text(11), echo.text(11), "each echo has its own STAN");
    assert!(
        switch.recv_raw().await.is_none(),
        "closed when the echo goes unanswered"
    );
    daemon.stop().await;
}

/// With `iso8583.client_ca`, links are TLS and the switch must present a certificate of that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_links_want_the_switch_s_certificate() {
    use tokio_rustls::TlsConnector;
    let dir = tempfile::tempdir().unwrap();
    // A first start creates the development PKI; the switch's certificate here is one the
    // development CA issued (a demonstration terminal's).
    start(dir.path(), |_| {}).await.stop().await;
    let daemon = start(dir.path(), |c| {
        c.iso8583.client_ca = Some("pki/ca.pem".into())
    })
    .await;
    let (addr, tls) = daemon.endpoints.iso8583.unwrap();
    assert!(tls);
    let pki = dir.path().join("data/pki");
    let read = |p: &str| std::fs::read(pki.join(p)).unwrap();
    let ca = read("ca.pem");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    // With a certificate: the link works.
    let with_cert = adapter_daemon::tls::client_config(
        &ca,
        Some((
            &read("terminals/STM-DEMO-0001.pem"),
            &read("terminals/STM-DEMO-0001-key.pem"),
        )),
    )
    .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = TlsConnector::from(std::sync::Arc::new(with_cert))
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let mut sign_on = Message::new(gov_bill(), "0800".parse::<Mti>().unwrap());
    sign_on.set(7, "1201100000");
    sign_on.set(11, "000001");
    sign_on.set(70, "001");
    let body = sign_on.to_bytes().unwrap();
    let mut frame = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(code(&owned(&answer)), "00");
    let links = daemon.host().unwrap().links();
    assert!(
        links[0].tls && links[0].peer.starts_with("STM-DEMO-0001@"),
        "{links:?}"
    );

    // Without one: no link.
    let without = adapter_daemon::tls::client_config(&ca, None).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let refused = async {
        let mut s = TlsConnector::from(std::sync::Arc::new(without))
            .connect(name, tcp)
            .await?;
        s.write_all(&frame).await?;
        s.read_exact(&mut len).await
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .unwrap()
            .is_err()
    );
    daemon.stop().await;
}

/// 390000: where an application stands, by its case number (AP01), from the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_s_status_by_its_case_number() {
    use adapter_core::platform::{IdentityCheck, NewApplication, PlatformApi, Submission};
    use adapter_protocols::tsp::Sensitive;

    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |_| {}).await;

    // A citizen's application, submitted at the (in-process) sandbox platform.
    let platform = daemon.platform();
    let id = "440106198503151014";
    let citizen = platform
        .verify_identity(IdentityCheck {
            terminal_id: "STM-DEMO-0001".into(),
            id_number: Sensitive::new(id.into()),
            name: Sensitive::new("张伟".into()),
            chip_photo: Sensitive::new(sandbox::portrait(id)),
            face: Sensitive::new(sandbox::portrait(id)),
        })
        .await
        .unwrap();
    let data = adapter_core::shipped::DataSet::load(&shipped()).unwrap();
    let implementing = data
        .catalogue
        .implementations()
        .iter()
        .find(|i| i.division.to_string().starts_with("4401"))
        .map(|i| i.code.as_str().to_owned())
        .unwrap();
    let application = platform
        .create_application(NewApplication {
            idempotency_key: "t/1/create".into(),
            subject: citizen.subject,
            implementing_code: implementing.clone(),
            terminal_id: "STM-DEMO-0001".into(),
            form: Default::default(),
        })
        .await
        .unwrap();
    let submitted = platform
        .submit_application(Submission {
            idempotency_key: "t/1/submit".into(),
            application_id: application.application_id,
        })
        .await
        .unwrap();

    let mut switch = Switch::connect(&daemon).await;
    let sign_on = switch.message("0800", &[(70, "001")]);
    assert_eq!(code(&switch.exchange(&sign_on).await), "00");
    let inquiry = |switch: &mut Switch, case: &str| {
        let mut m = switch.message(
            "0200",
            &[
                (3, "390000"),
                (32, "01020000"),
                (37, "633510000009"),
                (41, "ATM00001"),
            ],
        );
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag("AP01".into()),
                value: Value::from(case.to_owned()),
            }],
        )
        .unwrap();
        m
    };
    let m = inquiry(&mut switch, &submitted.case_number);
    let answer = switch.exchange(&m).await;
    assert_eq!(code(&answer), "00");
    assert_eq!(tag(&answer, "AP01"), Some(submitted.case_number.clone()));
    assert!(
        matches!(
            tag(&answer, "AS01").as_deref(),
            Some("SUBM" | "ACPT" | "APPR" | "CMPL")
        ),
        "{:?}",
        tag(&answer, "AS01")
    );
    assert!(tag(&answer, "AS02").is_some());
    assert_eq!(tag(&answer, "IC01"), Some(implementing));
    let m = inquiry(&mut switch, "GD19990101000000");
    assert_eq!(code(&switch.exchange(&m).await), "B2");
    daemon.stop().await;
}

/// Requests of a link run side by side: a duplicate sent before its original was answered, and
/// two payments of one notice sent back to back, must still pay each notice once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_duplicates_and_rival_payments_pay_once() {
    use adapter_conformance::sim::switch::GovBillSwitch;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), |_| {}).await;
    let (addr, _) = daemon.endpoints.iso8583.unwrap();
    let mut switch = GovBillSwitch::connect(addr).await.unwrap();
    assert_eq!(switch.sign_on().await.unwrap().code(), Some("00"));

    // The same payment twice, the second sent before the first is answered.
    let original = switch
        .financial("500000", "44010026120000000051", Some(6100))
        .unwrap();
    switch.send(&original).await.unwrap();
    switch.send(&original).await.unwrap();
    let a = switch.recv().await.unwrap();
    let b = switch.recv().await.unwrap();
    assert_eq!((a.code(), b.code()), (Some("00"), Some("00")));
    assert_eq!(
        a.text(38),
        b.text(38),
        "the duplicate gets the original's answer"
    );

    // Two payments (different STANs) of one notice, back to back: one is approved, one is B2.
    let first = switch
        .financial("500000", "44010026120000000052", Some(6200))
        .unwrap();
    let second = switch
        .financial("500000", "44010026120000000052", Some(6200))
        .unwrap();
    switch.send(&first).await.unwrap();
    switch.send(&second).await.unwrap();
    let mut codes = vec![
        switch.recv().await.unwrap().code().unwrap().to_owned(),
        switch.recv().await.unwrap().code().unwrap().to_owned(),
    ];
    codes.sort();
    assert_eq!(codes, ["00", "B2"]);

    let payments = settled(&daemon).await;
    let by_notice = |n: &str| payments.iter().filter(|p| p.notice == n).count();
    assert_eq!(by_notice("44010026120000000051"), 1);
    assert_eq!(by_notice("44010026120000000052"), 1);
    assert!(
        payments.iter().all(|p| p.state() == "confirmed"),
        "{payments:?}"
    );
    daemon.stop().await;
}
