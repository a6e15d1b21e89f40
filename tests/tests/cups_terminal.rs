#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! cups-terminal links end to end: a daemon with a terminal listener, and terminals speaking the
//! UnionPay frame (the conformance kit's simulator, and the sign-on vector of
//! ../shared/domain/terminal-protocols.md byte for byte).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use adapter_conformance::sim::cups::{CupsTerminal, dialect};
use adapter_core::shipped::shipped;
use adapter_daemon::config::Config;
use adapter_daemon::daemon::{Daemon, DataSource};
use adapter_daemon::sandbox;
use adapter_protocols::framing::Tpdu;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TMK: &str = "0123456789ABCDEFFEDCBA9876543210";
const OTHER_TMK: &str = "00112233445566778899AABBCCDDEEFF";
const FINE: &str = "44010026110000012345"; // 20000 fen
const FEE: &str = "44010026120000000001"; // 1100 fen

/// The sign-on request of the domain notes: TPDU 60 0401 0000, header 60 31 00 31 00 01,
/// DE11 000029, DE41 62969002, DE42 301310048990001, DE60 00/000132/003, DE63 001.
const SIGN_ON: &str = "003C600401000060310031000108000020000000C00012\
                       000029\
                       3632393639303032\
                       333031333130303438393930303031\
                       0011000001320030\
                       0003303031";

async fn start(dir: &Path) -> (Daemon, SocketAddr) {
    let keys = dir.join("tmk.toml");
    std::fs::write(
        &keys,
        format!("[terminals]\n62969002 = \"{TMK}\"\nATM00002 = \"{OTHER_TMK}\"\n"),
    )
    .unwrap();
    let mut config = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    config.tsp.listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.iso8583.listen = "127.0.0.1:0".parse().unwrap();
    config.iso8583.terminal_listen = Some("127.0.0.1:0".parse().unwrap());
    config.iso8583.terminal_keys_file = keys;
    config.tsp.drain_seconds = 1;
    let base = time::macros::datetime!(2026-12-01 10:00 +08:00);
    let started = std::time::Instant::now();
    let source = DataSource {
        load: Box::new(|| Ok(shipped())),
        sandbox: sandbox::shipped(),
        clock: std::sync::Arc::new(move || base + started.elapsed()),
    };
    let daemon = Daemon::start(config, source).await.unwrap();
    let addr = daemon.endpoints.iso8583_terminals.unwrap();
    assert!(
        daemon
            .describe()
            .iter()
            .any(|l| l.contains("ISO 8583 (terminals) tcp://")),
        "{:?}",
        daemon.describe()
    );
    (daemon, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_sign_on_vector_gets_working_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = start(dir.path()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&hex::decode(SIGN_ON).unwrap()).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut frame = len.to_vec();
    frame.resize(2 + usize::from(u16::from_be_bytes(len)), 0);
    tcp.read_exact(&mut frame[2..]).await.unwrap();
    let (head, reply) = dialect().decode_frame(&frame).unwrap();
    // The reply swaps the TPDU's addresses and repeats the header.
    assert_eq!(
        head.tpdu,
        Some(Tpdu {
            id: 0x60,
            destination: 0x0000,
            source: 0x0401
        })
    );
    assert_eq!(head.header, Some(&[0x60, 0x31, 0x00, 0x31, 0x00, 0x01][..]));
    assert_eq!(reply.mti().as_str(), "0810");
    assert_eq!(reply.text(39), Some("00"));
    assert_eq!(reply.text(11), Some("000029"));
    assert_eq!(reply.text(41), Some("62969002"));
    assert_eq!(reply.text(60), Some("00000132003"));
    // 003: PIN key 16 + check 4, MAC key 8 + 8 zeros + check 4.
    let de62 = reply.binary(62).unwrap();
    assert_eq!(de62.len(), 40);
    assert_eq!(&de62[28..36], &[0u8; 8]);
    assert!(!reply.has(64), "a sign-on reply carries no MAC");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_signs_on_inquires_pays_reverses_and_settles() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = start(dir.path()).await;

    // Not registered: 97, whatever it asks.
    let mut stranger = CupsTerminal::connect(addr, "POS99999", TMK).await.unwrap();
    assert_eq!(stranger.sign_on().await.unwrap().code(), Some("97"));

    let mut t = CupsTerminal::connect(addr, "62969002", TMK).await.unwrap();
    // Before sign-on: refused (12), never executed.
    assert_eq!(t.inquire(FINE).await.unwrap().code(), Some("12"));
    let on = t.sign_on().await.unwrap();
    assert_eq!(on.code(), Some("00"));

    let inquiry = t.inquire(FINE).await.unwrap();
    assert_eq!(inquiry.code(), Some("00"));
    assert_eq!(inquiry.text(4), Some("000000020000"));
    assert_eq!(inquiry.text(48), Some(FINE));
    assert_eq!(inquiry.mac_valid, Some(true), "answers carry the MAC");

    // The wrong amount: 13 with the amount due in DE4.
    let wrong = t.pay(FINE, 100).await.unwrap();
    assert_eq!(
        (wrong.code(), wrong.text(4)),
        (Some("13"), Some("000000020000"))
    );

    // Terminals connect per transaction: the keys outlive the connection.
    t.reconnect(addr).await.unwrap();
    let paid = t.pay(FINE, 20000).await.unwrap();
    assert_eq!(paid.code(), Some("00"), "{:?}", paid.message);
    assert_eq!(paid.mac_valid, Some(true));
    let rrn = paid.text(37).unwrap().to_owned();
    let auth = paid.text(38).unwrap().to_owned();
    assert_eq!(rrn.len(), 12);
    assert_eq!(auth.len(), 6);
    let stan = paid.text(11).unwrap().to_owned();

    // A duplicate (same terminal, STAN, batch) gets the same answer and pays nothing twice.
    let mut again = t.request("0200", "22", "000").unwrap();
    again.set(11, stan.clone());
    again.set(3, "500000");
    again.set(4, "000000020000");
    again.set(48, FINE);
    let dup = t.exchange(again).await.unwrap();
    assert_eq!(
        (dup.code(), dup.text(37), dup.text(38)),
        (Some("00"), Some(rrn.as_str()), Some(auth.as_str()))
    );
    assert_eq!(daemon.host().unwrap().payments().len(), 1);

    // A wrong MAC: A0, nothing done.
    let mut forged = t.request("0200", "22", "000").unwrap();
    forged.set(3, "500000");
    forged.set(4, "000000001100");
    forged.set(48, FEE);
    forged.set(64, *b"00000000");
    t.send_body(&forged.to_bytes().unwrap()).await.unwrap();
    assert_eq!(t.recv().await.unwrap().code(), Some("A0"));

    // Store-and-forward confirms the fine first, so that its reversal cancels it at the
    // platform (a reversal before the confirmation goes out withdraws it instead; both are
    // covered in iso8583_host.rs).
    let host = daemon.host().unwrap();
    for _ in 0..200 {
        if host.payments().iter().all(|p| p.state() == "confirmed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Reversal of an unknown original: 25; of the payment: 00, and its repeat too.
    assert_eq!(t.reverse("999999", 20000).await.unwrap().code(), Some("25"));
    assert_eq!(t.reverse(&stan, 20000).await.unwrap().code(), Some("00"));
    assert_eq!(t.reverse(&stan, 20000).await.unwrap().code(), Some("00"));

    let fee = t.pay(FEE, 1100).await.unwrap();
    assert_eq!(fee.code(), Some("00"));

    // Settlement: what stands in the batch is one payment of 1100 fen.
    let wrong = t.settle(2, 21100).await.unwrap();
    assert_eq!(
        (wrong.code(), wrong.text(48).map(|t| t.ends_with('2'))),
        (Some("00"), Some(true))
    );
    let right = t.settle(1, 1100).await.unwrap();
    assert_eq!(right.text(48).map(|t| t.ends_with('1')), Some(true));

    // Store-and-forward confirms the fee and cancels the reversed fine at the platform.
    let host = daemon.host().unwrap();
    let mut states = Vec::new();
    for _ in 0..200 {
        states = host
            .payments()
            .iter()
            .map(|p| (p.notice.clone(), p.state()))
            .collect::<Vec<_>>();
        states.sort();
        if host.store_and_forward_queue().0.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        states,
        [
            (FINE.to_owned(), "cancelled"),
            (FEE.to_owned(), "confirmed")
        ]
    );

    // Sign-off (0820, 003 → 002): later requests are refused until the next sign-on.
    let off = t.request("0820", "00", "002").unwrap();
    assert_eq!(t.exchange(off).await.unwrap().code(), Some("00"));
    assert_eq!(t.inquire(FEE).await.unwrap().code(), Some("12"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_with_another_master_key_cannot_use_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = start(dir.path()).await;
    // ATM00002 is registered with OTHER_TMK; a terminal holding TMK cannot unwrap its keys.
    let mut t = CupsTerminal::connect(addr, "ATM00002", TMK).await.unwrap();
    let e = t.sign_on().await.unwrap_err().to_string();
    assert!(e.contains("check value"), "{e}");
    // A malformed frame closes only that connection.
    let mut bad = CupsTerminal::connect(addr, "62969002", TMK).await.unwrap();
    bad.send_raw(&[
        0x00, 0x0D, 0x60, 0x04, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 0x08, 0x00,
    ])
    .await
    .unwrap();
    assert!(bad.recv().await.is_err());
    let mut good = CupsTerminal::connect(addr, "62969002", TMK).await.unwrap();
    assert_eq!(good.sign_on().await.unwrap().code(), Some("00"));
    daemon.stop().await;
}
