//! A terminal on a `cups-terminal` link (docs/iso8583-binding.md, "cups-terminal"), written
//! from the binding: the UnionPay frame (2-byte length, TPDU, 6-byte header), sign-on with
//! DE60.3 for working keys in DE62, the UnionPay MAC in DE64 under the MAC working key.

use std::net::SocketAddr;
use std::time::Duration;

use adapter_protocols::framing::{FrameHeader, Tpdu};
use adapter_protocols::iso8583::mac::{MacKey, mac_eq, unionpay_mac};
use adapter_protocols::iso8583::{Dialect, Message, Mti, builtin};
use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The cups-terminal dialect.
pub fn dialect() -> &'static Dialect {
    match builtin("cups-terminal") {
        Some(Ok(d)) => d,
        // The dialect is compiled in and checked by the protocols crate's tests.
        _ => unreachable!("the cups-terminal dialect is built in"),
    }
}

/// The TPDU a terminal sends (id 0x60, destination 0x0401, source 0x0000), as in the binding's
/// sign-on example.
pub const TPDU: Tpdu = Tpdu {
    id: 0x60,
    destination: 0x0401,
    source: 0x0000,
};

/// The header: application type 0x60, software version 0x31, status 0x00, version 0x31 0x00 0x01.
pub const HEADER: [u8; 6] = [0x60, 0x31, 0x00, 0x31, 0x00, 0x01];

/// An answer from the daemon.
#[derive(Debug)]
pub struct Answer {
    pub message: Message<'static>,
    pub tpdu: Option<Tpdu>,
    pub header: Vec<u8>,
    /// Whether DE64 was right under our MAC key (`None`: no key yet, or no DE64).
    pub mac_valid: Option<bool>,
}

impl Answer {
    pub fn code(&self) -> Option<&str> {
        self.message.text(39)
    }

    pub fn text(&self, de: u8) -> Option<&str> {
        self.message.text(de)
    }
}

/// One terminal on one connection.
#[derive(Debug)]
pub struct CupsTerminal {
    stream: TcpStream,
    /// DE41.
    pub terminal: String,
    /// DE42.
    pub merchant: String,
    /// DE60.2, six digits.
    pub batch: String,
    stan: u32,
    master: MacKey,
    mac: Option<MacKey>,
}

impl CupsTerminal {
    /// Connects as `terminal` holding `master` (its TMK, 32 hex characters).
    pub async fn connect(
        addr: SocketAddr,
        terminal: &str,
        master: &str,
    ) -> anyhow::Result<CupsTerminal> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(CupsTerminal {
            stream,
            terminal: terminal.to_owned(),
            merchant: "301310048990001".to_owned(),
            batch: "000132".to_owned(),
            stan: 0,
            master: MacKey::from_hex(master).map_err(|e| anyhow!("master key: {e}"))?,
            mac: None,
        })
    }

    /// Opens a new connection, keeping the terminal's keys, STAN and batch: UnionPay terminals
    /// connect once per transaction.
    pub async fn reconnect(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        self.stream = stream;
        Ok(())
    }

    /// The next STAN.
    pub fn next_stan(&mut self) -> String {
        self.stan = self.stan % 999_999 + 1;
        format!("{:06}", self.stan)
    }

    /// A request with DE11, DE41, DE42 and DE60 (type, batch, network code).
    pub fn request(
        &mut self,
        mti: &str,
        kind: &str,
        network: &str,
    ) -> anyhow::Result<Message<'static>> {
        let mti = mti
            .parse::<Mti>()
            .map_err(|e| anyhow!("MTI {mti:?}: {e}"))?;
        let mut m = Message::new(dialect(), mti);
        m.set(11, self.next_stan());
        m.set(41, self.terminal.clone());
        m.set(42, self.merchant.clone());
        m.set(60, format!("{kind}{}{network}", self.batch));
        Ok(m)
    }

    /// Signs on (DE60.3 003: double-length keys) and takes the MAC working key from DE62.
    pub async fn sign_on(&mut self) -> anyhow::Result<Answer> {
        let mut m = self.request("0800", "00", "003")?;
        m.set(63, "001");
        let answer = self.exchange(m).await?;
        if answer.code() == Some("00") {
            let de62 = answer
                .message
                .binary(62)
                .ok_or_else(|| anyhow!("the sign-on reply has no DE62"))?;
            self.mac = Some(unwrap_mac_key(&self.master, de62)?);
        }
        Ok(answer)
    }

    /// Inquires the amount due on `notice` (DE3 380000).
    pub async fn inquire(&mut self, notice: &str) -> anyhow::Result<Answer> {
        let mut m = self.request("0200", "01", "000")?;
        m.set(3, "380000");
        m.set(48, notice.to_owned());
        self.exchange(m).await
    }

    /// Pays `amount_fen` on `notice` (DE3 500000); the answer's DE11 is the payment's STAN.
    pub async fn pay(&mut self, notice: &str, amount_fen: u64) -> anyhow::Result<Answer> {
        let mut m = self.request("0200", "22", "000")?;
        m.set(3, "500000");
        m.set(4, format!("{amount_fen:012}"));
        m.set(25, "00");
        m.set(49, "156");
        m.set(48, notice.to_owned());
        self.exchange(m).await
    }

    /// Reverses the payment with STAN `stan` in this batch (0400 with DE61 naming it).
    pub async fn reverse(&mut self, stan: &str, amount_fen: u64) -> anyhow::Result<Answer> {
        let mut m = self.request("0400", "22", "000")?;
        m.set(3, "500000");
        m.set(4, format!("{amount_fen:012}"));
        m.set(39, "98");
        m.set(61, format!("{}{stan}", self.batch));
        self.exchange(m).await
    }

    /// Settles the batch: `count` payments for `amount_fen` in all.
    pub async fn settle(&mut self, count: u64, amount_fen: u64) -> anyhow::Result<Answer> {
        let mut m = self.request("0500", "00", "201")?;
        m.set(48, format!("{amount_fen:012}{count:03}{:012}{:03}", 0, 0));
        self.exchange(m).await
    }

    /// Sends `m` (with a MAC once signed on, except a sign-on) and reads the answer.
    pub async fn exchange(&mut self, mut m: Message<'static>) -> anyhow::Result<Answer> {
        let signed = self.mac.is_some() && m.mti().as_str() != "0800";
        let mut body;
        if signed {
            m.set(64, [0u8; 8]);
            body = m.to_bytes()?;
            let n = body.len() - 8;
            let key = self.mac.as_ref().ok_or_else(|| anyhow!("no MAC key"))?;
            let code = unionpay_mac(key, body.get(..n).unwrap_or_default());
            body.truncate(n);
            body.extend_from_slice(&code);
        } else {
            body = m.to_bytes()?;
        }
        self.send_body(&body).await?;
        self.recv().await
    }

    /// Frames `body` (TPDU, header) and writes it.
    pub async fn send_body(&mut self, body: &[u8]) -> anyhow::Result<()> {
        let mut frame = Vec::with_capacity(body.len() + 13);
        let len = u16::try_from(body.len() + 11)?;
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&TPDU.to_bytes());
        frame.extend_from_slice(&HEADER);
        frame.extend_from_slice(body);
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// Writes raw bytes (for malformed-frame checks).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads the next frame, within 10 seconds.
    pub async fn recv(&mut self) -> anyhow::Result<Answer> {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut len))
            .await
            .context("no answer within 10 s")?
            .context("the daemon closed the connection")?;
        let mut frame = len.to_vec();
        frame.resize(2 + usize::from(u16::from_be_bytes(len)), 0);
        self.stream
            .read_exact(frame.get_mut(2..).unwrap_or_default())
            .await?;
        let (head, message) = dialect()
            .decode_frame(&frame)
            .map_err(|e| anyhow!("the answer does not decode: {e}"))?;
        let FrameHeader { tpdu, header } = head;
        let mut owned = Message::new(dialect(), message.mti());
        for (de, value) in message.fields() {
            owned.set(de, value.clone().into_owned());
        }
        let mac_valid = match (&self.mac, owned.binary(64)) {
            (Some(key), Some(given)) => {
                // The MAC covers the message from its MTI to the byte before DE64.
                let body_start = 2 + Tpdu::LEN + header.map_or(0, <[u8]>::len);
                let covered = frame.get(body_start..frame.len() - 8).unwrap_or_default();
                Some(mac_eq(given, &unionpay_mac(key, covered)))
            }
            _ => None,
        };
        Ok(Answer {
            message: owned,
            tpdu,
            header: header.map(<[u8]>::to_vec).unwrap_or_default(),
            mac_valid,
        })
    }
}

/// DE62 of a double-length sign-on: PIN key 16 + check 4, MAC key 8 (+ 8 zeros) + check 4.
pub fn unwrap_mac_key(master: &MacKey, de62: &[u8]) -> anyhow::Result<MacKey> {
    let wrapped = de62
        .get(20..28)
        .ok_or_else(|| anyhow!("DE62 is too short"))?;
    let check = de62
        .get(36..40)
        .ok_or_else(|| anyhow!("DE62 is too short"))?;
    let clear = master
        .decrypt_ecb(wrapped)
        .ok_or_else(|| anyhow!("the MAC key is not whole blocks"))?;
    let key = MacKey::from_bytes(&clear).map_err(|e| anyhow!("MAC key: {e}"))?;
    if key.check_value().get(..4) != Some(check) {
        bail!("the MAC key's check value does not match: wrong master key?");
    }
    Ok(key)
}
