//! A bank switch on a `gov-bill` link (docs/iso8583-binding.md): signs on, echoes, inquires,
//! pays, reverses, reconciles and signs off; optionally with the X9.19 MAC. Requests can be
//! pipelined ([`GovBillSwitch::send`] then [`GovBillSwitch::recv`]), as the load generator does.

use std::net::SocketAddr;
use std::time::Duration;

use adapter_protocols::iso8583::mac::{MacKey, retail_mac};
use adapter_protocols::iso8583::{Dialect, Message, Mti, SubKey, Subfield, Value, builtin};
use anyhow::{Context, anyhow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The gov-bill dialect.
pub fn dialect() -> &'static Dialect {
    match builtin("gov-bill") {
        Some(Ok(d)) => d,
        // Compiled in and checked by the protocols crate's tests.
        _ => unreachable!("the gov-bill dialect is built in"),
    }
}

/// An answer from the biller.
#[derive(Debug)]
pub struct Answer {
    pub message: Message<'static>,
}

impl Answer {
    pub fn code(&self) -> Option<&str> {
        self.message.text(39)
    }

    pub fn mti(&self) -> Mti {
        self.message.mti()
    }

    pub fn text(&self, de: u8) -> Option<&str> {
        self.message.text(de)
    }

    /// The value of a DE48 tag.
    pub fn tag(&self, name: &str) -> Option<String> {
        self.message
            .subfields(48)
            .ok()
            .flatten()?
            .into_iter()
            .find(|s| s.key == SubKey::Tag(name.to_owned()))
            .and_then(|s| s.value.as_text().map(str::to_owned))
    }
}

/// A payment as the switch remembers it, to reverse it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRef {
    pub stan: String,
    pub transmitted: String,
    pub amount_fen: u64,
    pub notice: String,
}

/// One link.
#[derive(Debug)]
pub struct GovBillSwitch {
    writer: OwnedWriteHalf,
    /// `None` once [`GovBillSwitch::take_reader`] handed it to a reading task.
    reader: Option<SwitchReader>,
    stan: u32,
    /// DE41 of the ATM the payments come from.
    pub terminal: String,
    /// DE32.
    pub acquirer: String,
    mac: Option<MacKey>,
    rrn: u64,
}

/// MMDDhhmmss, China Standard Time.
fn transmission_time() -> String {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

impl GovBillSwitch {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<GovBillSwitch> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(GovBillSwitch {
            writer,
            reader: Some(SwitchReader { reader }),
            stan: 0,
            terminal: "ATM00001".into(),
            acquirer: "01020000".into(),
            mac: None,
            rrn: 0,
        })
    }

    /// Every message from now on carries the X9.19 MAC under `key`.
    pub fn with_mac(mut self, key: MacKey) -> GovBillSwitch {
        self.mac = Some(key);
        self
    }

    /// Starts STANs after `stan` (several links of one load run must not share keys).
    pub fn with_stan(mut self, stan: u32) -> GovBillSwitch {
        self.stan = stan;
        self
    }

    fn next_stan(&mut self) -> String {
        self.stan = self.stan % 999_999 + 1;
        format!("{:06}", self.stan)
    }

    /// A message with DE7 (now) and the next STAN.
    pub fn message(&mut self, mti: &str) -> anyhow::Result<Message<'static>> {
        let mti: Mti = mti.parse().map_err(|e| anyhow!("MTI {mti:?}: {e}"))?;
        let mut m = Message::new(dialect(), mti);
        m.set(7, transmission_time());
        m.set(11, self.next_stan());
        Ok(m)
    }

    fn network(&mut self, code: &str) -> anyhow::Result<Message<'static>> {
        let mut m = self.message("0800")?;
        m.set(70, code.to_owned());
        Ok(m)
    }

    pub async fn sign_on(&mut self) -> anyhow::Result<Answer> {
        let m = self.network("001")?;
        self.exchange(&m).await
    }

    pub async fn echo(&mut self) -> anyhow::Result<Answer> {
        let m = self.network("301")?;
        self.exchange(&m).await
    }

    pub async fn sign_off(&mut self) -> anyhow::Result<Answer> {
        let m = self.network("002")?;
        self.exchange(&m).await
    }

    /// A 0200 for `notice` with processing code `processing`.
    pub fn financial(
        &mut self,
        processing: &str,
        notice: &str,
        amount_fen: Option<u64>,
    ) -> anyhow::Result<Message<'static>> {
        let mut m = self.message("0200")?;
        self.rrn += 1;
        let local = m.text(7).unwrap_or("0000000000").to_owned();
        m.set(3, processing.to_owned());
        m.set(12, local.get(4..).unwrap_or("000000").to_owned());
        m.set(13, local.get(..4).unwrap_or("0000").to_owned());
        m.set(32, self.acquirer.clone());
        m.set(
            37,
            format!("{:012}", u64::from(self.stan) * 1000 + self.rrn % 1000),
        );
        m.set(41, self.terminal.clone());
        m.set(42, "102440153990001");
        m.set(49, "156");
        if let Some(a) = amount_fen {
            m.set(4, format!("{a:012}"));
        }
        let tag = if processing == "390000" {
            "AP01"
        } else {
            "PN01"
        };
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag(tag.into()),
                value: Value::from(notice.to_owned()),
            }],
        )
        .map_err(|e| anyhow!("DE48: {e}"))?;
        Ok(m)
    }

    /// The amount due on `notice` (380000).
    pub async fn inquire(&mut self, notice: &str) -> anyhow::Result<Answer> {
        let m = self.financial("380000", notice, None)?;
        self.exchange(&m).await
    }

    /// An application's status by its case number (390000).
    pub async fn case_status(&mut self, case: &str) -> anyhow::Result<Answer> {
        let m = self.financial("390000", case, None)?;
        self.exchange(&m).await
    }

    /// Pays `amount_fen` on `notice` (500000).
    pub async fn pay(
        &mut self,
        notice: &str,
        amount_fen: u64,
    ) -> anyhow::Result<(Answer, PaymentRef)> {
        let m = self.financial("500000", notice, Some(amount_fen))?;
        let payment = PaymentRef {
            stan: m.text(11).unwrap_or_default().to_owned(),
            transmitted: m.text(7).unwrap_or_default().to_owned(),
            amount_fen,
            notice: notice.to_owned(),
        };
        Ok((self.exchange(&m).await?, payment))
    }

    /// The same 0200 again (a duplicate): same DE7, DE11, DE41.
    pub async fn repeat_payment(&mut self, p: &PaymentRef) -> anyhow::Result<Answer> {
        let mut m = self.financial("500000", &p.notice, Some(p.amount_fen))?;
        m.set(7, p.transmitted.clone());
        m.set(11, p.stan.clone());
        self.exchange(&m).await
    }

    /// A reversal advice (0420, or its repeat 0421) for `p`.
    pub fn reversal(&mut self, p: &PaymentRef, repeat: bool) -> anyhow::Result<Message<'static>> {
        let mut m = self.message(if repeat { "0421" } else { "0420" })?;
        m.set(3, "500000");
        m.set(4, format!("{:012}", p.amount_fen));
        m.set(32, self.acquirer.clone());
        m.set(37, format!("{:012}", self.stan));
        m.set(39, "98");
        m.set(41, self.terminal.clone());
        m.set(42, "102440153990001");
        m.set(49, "156");
        m.set(
            90,
            format!(
                "0200{}{}{:0>11}{:0>11}",
                p.stan, p.transmitted, self.acquirer, 0
            ),
        );
        m.set_subfields(
            48,
            &[Subfield {
                key: SubKey::Tag("PN01".into()),
                value: Value::from(p.notice.clone()),
            }],
        )
        .map_err(|e| anyhow!("DE48: {e}"))?;
        Ok(m)
    }

    pub async fn reverse(&mut self, p: &PaymentRef, repeat: bool) -> anyhow::Result<Answer> {
        let m = self.reversal(p, repeat)?;
        self.exchange(&m).await
    }

    /// End-of-day totals (0500) for settlement date `mmdd`: payments (count, fen) and reversals.
    pub async fn reconcile(
        &mut self,
        mmdd: &str,
        payments: (u64, u64),
        reversals: (u64, u64),
    ) -> anyhow::Result<Answer> {
        let mut m = self.message("0500")?;
        m.set(15, mmdd.to_owned());
        m.set(32, self.acquirer.clone());
        for (de, v) in [(74, 0), (75, 0), (76, payments.0), (77, reversals.0)] {
            m.set(de, format!("{v:010}"));
        }
        for (de, v) in [(86, 0), (87, 0), (88, payments.1), (89, reversals.1)] {
            m.set(de, format!("{v:016}"));
        }
        let net = payments.1.saturating_sub(reversals.1);
        m.set(97, format!("D{net:016}"));
        self.exchange(&m).await
    }

    /// Sends `m` (with its MAC when the link has a key) without waiting for the answer.
    pub async fn send(&mut self, m: &Message<'_>) -> anyhow::Result<()> {
        let mut body = m.to_bytes()?;
        if let Some(key) = &self.mac {
            let mut signed = m.clone();
            let de = if m.fields().any(|(de, _)| de > 64) {
                128
            } else {
                64
            };
            signed.set(de, [0u8; 8]);
            body = signed.to_bytes()?;
            // The MAC field is last on the wire and covers everything before it.
            let n = body.len() - 16;
            let mac = retail_mac(key, body.get(..n).unwrap_or_default());
            body.truncate(n);
            body.extend(hex::encode_upper(mac).into_bytes());
        }
        self.send_raw_body(&body).await
    }

    /// Frames `body` with the 2-byte length and writes it.
    pub async fn send_raw_body(&mut self, body: &[u8]) -> anyhow::Result<()> {
        let mut frame = u16::try_from(body.len())?.to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.writer.write_all(&frame).await?;
        Ok(())
    }

    /// Writes bytes as they are (malformed frames).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// The next message within `wait`; `Ok(None)` when the biller closed the link.
    pub async fn recv_within(&mut self, wait: Duration) -> anyhow::Result<Option<Answer>> {
        match &mut self.reader {
            Some(r) => r.recv_within(wait).await,
            None => Err(anyhow!("the link's reader was handed to another task")),
        }
    }

    /// The reading half, for a task that reads answers while another sends (pipelining at a
    /// set rate); [`GovBillSwitch::recv`] fails from then on.
    pub fn take_reader(&mut self) -> Option<SwitchReader> {
        self.reader.take()
    }

    /// The next message, within 10 seconds.
    pub async fn recv(&mut self) -> anyhow::Result<Answer> {
        self.recv_within(Duration::from_secs(10))
            .await?
            .ok_or_else(|| anyhow!("the biller closed the link"))
    }

    /// Sends `m` and reads its answer, answering any echo the biller sends in between.
    pub async fn exchange(&mut self, m: &Message<'_>) -> anyhow::Result<Answer> {
        self.send(m).await?;
        loop {
            let answer = self.recv().await?;
            if answer.mti().as_str() == "0800" {
                let mut reply = Message::new(dialect(), Mti::from_digits(*b"0810")?);
                for de in [7, 11, 70] {
                    if let Some(v) = answer.message.get(de) {
                        reply.set(de, v.clone());
                    }
                }
                reply.set(39, "00");
                self.send(&reply).await?;
                continue;
            }
            return Ok(answer);
        }
    }
}

/// The reading half of a link.
#[derive(Debug)]
pub struct SwitchReader {
    reader: OwnedReadHalf,
}

impl SwitchReader {
    /// The next message within `wait`; `Ok(None)` when the biller closed the link.
    pub async fn recv_within(&mut self, wait: Duration) -> anyhow::Result<Option<Answer>> {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(wait, self.reader.read_exact(&mut len))
            .await
            .map_err(|_| anyhow!("no answer within {wait:?}"))?;
        if read.is_err() {
            return Ok(None);
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if self.reader.read_exact(&mut body).await.is_err() {
            return Ok(None);
        }
        let decoded = dialect()
            .decode(&body)
            .map_err(|e| anyhow!("the answer does not decode: {e}"))?;
        let mut message = Message::new(dialect(), decoded.mti());
        for (de, v) in decoded.fields() {
            message.set(de, v.clone().into_owned());
        }
        Ok(Some(Answer { message }))
    }
}
