//! Certifying a **terminal implementation**: the kit plays the daemon. A bank's terminal
//! software connects to the kit (TLS with its terminal certificate, WebSocket, TSP); the kit
//! passes every message on to a real daemon it runs in-process, watches both directions, and
//! reports what the terminal got wrong — frames that are not TSP, commands only the daemon may
//! send, completions for steps never sent or already answered, answers after a step's timeout,
//! requests the daemon refused — and which parts of a checklist the terminal covered: open a
//! session, list the offer, identify, pay, print, cancel, resume after a dropped connection,
//! complete an item, close.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_protocols::tsp::{CommandName, CompletionCode, Message, Outcome};
use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::run::{CaseResult, Status};
use crate::target::Target;

/// What a terminal must show it can do, in the order the report lists it.
pub const CHECKLIST: [(&str, &str); 9] = [
    ("open", "opens a session (Session.Open with its devices)"),
    ("offer", "lists the offer (Catalogue.GetOffer)"),
    (
        "identify",
        "answers Step.Identify (ID card and face, or QR code)",
    ),
    ("pay", "answers Step.Pay"),
    (
        "deliver",
        "answers Step.Deliver (prints or shows the results)",
    ),
    ("complete", "runs an item to Completed"),
    (
        "cancel",
        "cancels an item (a step answered `canceled`, or Item.Cancel)",
    ),
    (
        "resume",
        "resumes its session on a new connection (Session.Resume)",
    ),
    ("close", "closes its session (Session.Close)"),
];

/// A step the daemon sent.
#[derive(Debug)]
struct OpenStep {
    name: CommandName,
    sent: Instant,
    timeout_ms: Option<u64>,
    acknowledged: bool,
}

/// What the kit saw of the terminal.
#[derive(Debug, Default)]
pub struct Observation {
    covered: HashMap<&'static str, bool>,
    /// What the terminal got wrong, in order.
    pub violations: Vec<String>,
    /// Steps the daemon sent and the terminal has not answered: request id → the step.
    open_steps: HashMap<u64, OpenStep>,
    /// The terminal's last request id in this session (they increase by one).
    last_request: u64,
    /// The terminal's own commands awaiting their completion.
    own: HashMap<u64, CommandName>,
    pub sessions_closed: usize,
    pub messages: usize,
}

impl Observation {
    fn cover(&mut self, what: &'static str) {
        self.covered.insert(what, true);
    }

    fn wrong(&mut self, what: String) {
        if self.violations.len() < 200 {
            self.violations.push(what);
        }
    }

    /// A frame from the terminal.
    fn terminal_sent(&mut self, text: &str, first: bool) {
        self.messages += 1;
        let message = match Message::decode(text) {
            Ok(m) => m,
            Err(e) => {
                return self.wrong(format!(
                    "sent a frame that is not TSP{}: {e}",
                    e.command
                        .map(|c| format!(" (naming {})", c.as_str()))
                        .unwrap_or_default()
                ));
            }
        };
        match &message {
            Message::Command {
                request_id,
                command,
                ..
            } => {
                let name = command.name();
                if name.as_str().starts_with("Step.") {
                    return self.wrong(format!(
                        "sent {} as a command: only the daemon sends steps",
                        name.as_str()
                    ));
                }
                if first && !matches!(name, CommandName::SessionOpen | CommandName::SessionResume) {
                    self.wrong(format!(
                        "began a connection with {} instead of Session.Open or Session.Resume",
                        name.as_str()
                    ));
                }
                if name == CommandName::SessionOpen {
                    self.last_request = 0;
                }
                if self.own.insert(*request_id, name).is_some() || *request_id <= self.last_request
                {
                    self.wrong(format!(
                        "numbered {} {request_id} after {}: request ids increase and are not reused",
                        name.as_str(),
                        self.last_request
                    ));
                }
                self.last_request = self.last_request.max(*request_id);
                match name {
                    CommandName::SessionOpen => self.cover("open"),
                    CommandName::GetOffer => self.cover("offer"),
                    CommandName::SessionResume => self.cover("resume"),
                    CommandName::ItemCancel => self.cover("cancel"),
                    CommandName::SessionClose => {
                        self.cover("close");
                        self.sessions_closed += 1;
                    }
                    _ => {}
                }
            }
            Message::Completion {
                request_id,
                name,
                code,
                ..
            } => {
                let Some(step) = self.open_steps.remove(request_id) else {
                    return self.wrong(format!(
                        "answered {} with request id {request_id}, which is no open step",
                        name.as_str()
                    ));
                };
                let sent = step.name;
                if sent != *name {
                    self.wrong(format!(
                        "answered {} (request {request_id}) as {}",
                        sent.as_str(),
                        name.as_str()
                    ));
                }
                if !step.acknowledged {
                    self.wrong(format!(
                        "completed {} (request {request_id}) without acknowledging it first",
                        sent.as_str()
                    ));
                }
                if let Some(ms) = step.timeout_ms.filter(|ms| *ms > 0)
                    && step.sent.elapsed() > Duration::from_millis(ms) + Duration::from_secs(1)
                {
                    self.wrong(format!(
                        "answered {} after {} ms; its timeout was {ms} ms",
                        sent.as_str(),
                        step.sent.elapsed().as_millis()
                    ));
                }
                match (sent, code) {
                    (_, CompletionCode::Canceled) => self.cover("cancel"),
                    (CommandName::Identify, CompletionCode::Success) => self.cover("identify"),
                    (CommandName::Pay, CompletionCode::Success) => self.cover("pay"),
                    (CommandName::Deliver, CompletionCode::Success) => self.cover("deliver"),
                    _ => {}
                }
            }
            Message::Acknowledge {
                request_id, name, ..
            } => match self.open_steps.get_mut(request_id) {
                Some(step) if step.name == *name && !step.acknowledged => step.acknowledged = true,
                Some(step) if step.acknowledged => self.wrong(format!(
                    "acknowledged {} (request {request_id}) twice",
                    name.as_str()
                )),
                _ => self.wrong(format!(
                    "acknowledged {} with request id {request_id}, which is no open step",
                    name.as_str()
                )),
            },
            Message::Event { .. } | Message::Unsolicited(_) => {}
        }
    }

    /// A frame from the daemon.
    fn daemon_sent(&mut self, text: &str) {
        let Ok(message) = Message::decode(text) else {
            return;
        };
        match message {
            Message::Command {
                request_id,
                timeout_ms,
                command,
            } => {
                self.open_steps.insert(
                    request_id,
                    OpenStep {
                        name: command.name(),
                        sent: Instant::now(),
                        timeout_ms,
                        acknowledged: false,
                    },
                );
            }
            Message::Acknowledge {
                request_id,
                name,
                status: Some(status),
                error_description,
            } => {
                self.own.remove(&request_id);
                self.wrong(format!(
                    "sent {} (request {request_id}) that the daemon refused: {status:?}{}",
                    name.as_str(),
                    error_description
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default()
                ));
            }
            Message::Completion {
                request_id,
                name,
                code,
                error_description,
                payload,
            } => {
                self.own.remove(&request_id);
                if matches!(
                    code,
                    CompletionCode::SequenceError
                        | CompletionCode::InvalidData
                        | CompletionCode::InvalidCommand
                        | CompletionCode::UnsupportedCommand
                ) {
                    self.wrong(format!(
                        "sent {} (request {request_id}) that the daemon answered {code:?}{}",
                        name.as_str(),
                        error_description
                            .map(|d| format!(" — {d}"))
                            .unwrap_or_default()
                    ));
                }
                if let Some(adapter_protocols::tsp::CompletionPayload::ItemStart(outcome)) =
                    &payload
                    && outcome.outcome == Outcome::Completed
                {
                    self.cover("complete");
                }
            }
            Message::Acknowledge { status: None, .. }
            | Message::Event { .. }
            | Message::Unsolicited(_) => {}
        }
    }

    /// The report: a case per checklist entry, and one for the protocol.
    pub fn results(&self, seconds: f64) -> Vec<CaseResult> {
        let mut results: Vec<CaseResult> = CHECKLIST
            .iter()
            .map(|(key, what)| CaseResult {
                suite: "terminal".into(),
                name: format!("the terminal {what}"),
                status: if self.covered.get(key).copied().unwrap_or(false) {
                    Status::Passed
                } else {
                    Status::Failed("not seen during the run".into())
                },
                seconds: 0.0,
                seen: String::new(),
            })
            .collect();
        results.push(CaseResult {
            suite: "terminal".into(),
            name: "every message the terminal sent was valid TSP in its place".into(),
            status: if self.violations.is_empty() {
                Status::Passed
            } else {
                Status::Failed(format!(
                    "{} problems: {}",
                    self.violations.len(),
                    self.violations.join("; ")
                ))
            },
            seconds,
            seen: format!("{} messages from the terminal", self.messages),
        });
        results
    }
}

/// A running certification: the kit's listener in front of an in-process daemon.
pub struct Certification {
    pub listen: SocketAddr,
    pub pki: std::path::PathBuf,
    target: Target,
    pub observation: Arc<Mutex<Observation>>,
    task: tokio::task::JoinHandle<()>,
    started: Instant,
}

impl std::fmt::Debug for Certification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certification")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Certification {
    /// Starts the daemon (its data in `dir`, so the terminal's certificates stay the same from
    /// run to run) and listens on `listen` for the terminal under test.
    pub async fn start(listen: SocketAddr, dir: &std::path::Path) -> anyhow::Result<Certification> {
        let target = Target::in_process_at(dir).await?;
        let pki = target.pki.clone();
        let read = |name: &str| {
            std::fs::read(pki.join(name)).with_context(|| format!("{}", pki.join(name).display()))
        };
        let server = adapter_daemon::tls::server_config(
            &read("server.pem")?,
            &read("server-key.pem")?,
            &read("ca.pem")?,
        )
        .map_err(|e| anyhow!("{e}"))?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let listen = listener.local_addr()?;
        let observation = Arc::new(Mutex::new(Observation::default()));
        let upstream = target.tsp;
        let task = {
            let observation = Arc::clone(&observation);
            let pki = pki.clone();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(server);
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, observation, pki) =
                        (acceptor.clone(), Arc::clone(&observation), pki.clone());
                    tokio::spawn(async move {
                        if let Err(e) = relay(acceptor, tcp, upstream, &pki, &observation).await {
                            lock(&observation).wrong(format!("a connection failed: {e:#}"));
                        }
                    });
                }
            })
        };
        Ok(Certification {
            listen,
            pki,
            target,
            observation,
            task,
            started: Instant::now(),
        })
    }

    /// Sessions the terminal has closed so far.
    pub fn sessions_closed(&self) -> usize {
        lock(&self.observation).sessions_closed
    }

    /// Stops, and the results.
    pub async fn finish(self) -> Vec<CaseResult> {
        self.task.abort();
        let results = lock(&self.observation).results(self.started.elapsed().as_secs_f64());
        self.target.stop().await;
        results
    }
}

/// One terminal connection: TLS and WebSocket from the terminal, the same to the daemon with the
/// terminal's own certificate, every frame passed on and watched.
async fn relay(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    upstream: SocketAddr,
    pki: &std::path::Path,
    observation: &Mutex<Observation>,
) -> anyhow::Result<()> {
    let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
        .await
        .context("TLS handshake timed out")?
        .context("TLS handshake")?;
    let terminal = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(adapter_daemon::tls::peer_common_name)
        .ok_or_else(|| anyhow!("the certificate names no terminal"))?;
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let terminal_ws = tokio_tungstenite::accept_async_with_config(tls, Some(config))
        .await
        .context("WebSocket upgrade")?;
    // To the daemon as the same terminal.
    let read = |name: String| std::fs::read(pki.join(&name)).with_context(|| name);
    let client = adapter_daemon::tls::client_config(
        &read("ca.pem".into())?,
        Some((
            &read(format!("terminals/{terminal}.pem"))?,
            &read(format!("terminals/{terminal}-key.pem"))?,
        )),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let tcp = tokio::net::TcpStream::connect(upstream).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await?;
    let (daemon_ws, _) = tokio_tungstenite::client_async_with_config(
        format!("wss://localhost{}", adapter_daemon::gateway::tsp::PATH),
        tls,
        Some(config),
    )
    .await
    .context("connecting to the daemon")?;
    let (mut to_terminal, mut from_terminal) = terminal_ws.split();
    let (mut to_daemon, mut from_daemon) = daemon_ws.split();
    let mut first = true;
    loop {
        tokio::select! {
            frame = from_terminal.next() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    lock(observation).terminal_sent(text.as_str(), first);
                    first = false;
                    to_daemon.send(Frame::Text(text)).await?;
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => {
                    let _ = to_daemon.close().await;
                    return Ok(());
                }
                Some(Ok(Frame::Binary(_))) => {
                    lock(observation).wrong("sent a binary frame: TSP frames are text".into());
                }
                Some(Ok(_)) => {}
            },
            frame = from_daemon.next() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    lock(observation).daemon_sent(text.as_str());
                    to_terminal.send(Frame::Text(text)).await?;
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => {
                    let _ = to_terminal.close().await;
                    return Ok(());
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The steps a terminal should walk through, printed at the start of a certification.
pub fn instructions(c: &Certification, terminal: &str) -> Vec<String> {
    vec![
        format!("stm-conformance is playing the daemon at wss://{}/tsp/v1", c.listen),
        format!(
            "  server CA {} · terminal {terminal}: certificate {} key {}",
            c.pki.join("ca.pem").display(),
            c.pki.join(format!("terminals/{terminal}.pem")).display(),
            c.pki.join(format!("terminals/{terminal}-key.pem")).display()
        ),
        "  (the daemon behind it runs on the embedded defaults, as on Tuesday 2026-12-01 10:00 CST)".into(),
        "With the terminal under test:".into(),
        "  1. open a session and show the offer".into(),
        "  2. run 户籍证明开具 (442001001000) to the end: ID card and face of a sandbox citizen, print".into(),
        "  3. run 交通违法罚款缴纳 (440201008000) with notice 44010026110000012345 and pay by card".into(),
        "  4. start an item and press cancel at the confirmation".into(),
        "  5. pull the network in the middle of an item, reconnect, finish it".into(),
        "  6. close the session".into(),
        "The run ends when the terminal has closed the sessions asked for, or at the time limit."
            .into(),
    ]
}
