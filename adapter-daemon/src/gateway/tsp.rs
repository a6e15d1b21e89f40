//! The TSP gateway: WebSocket over TLS with client certificates, one task per session running
//! an `adapter_core::session::Session`.
//!
//! A connection is accepted when its certificate was issued by the configured CA and names a
//! registered terminal; its first command is Session.Open or Session.Resume. Each session is an
//! actor task that owns its engine, its timers and its platform calls; connections come and go
//! (a resume attaches a new one). Journal entries are written, in order, before the actions that
//! follow them; if the journal refuses a write, the session stops rather than act unrecorded.
//! Personal data never reaches the logs: messages are logged by name and request id only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_core::calendar::CST;
use adapter_core::plan::{Reason, Terminal, offer};
use adapter_core::platform::{ErrorClass, PlatformApi, PlatformError, execute};
use adapter_core::session::{Action, Input, ItemPlan, Session, SessionConfig, TimerId};
use adapter_core::shipped::DataSet;
use adapter_core::terminal::{Device, DeviceSet, TerminalProfile};
use adapter_protocols::tsp::{
    self, AckStatus, Command, CompletionCode, CompletionPayload, MAX_FRAME_BYTES, Message,
    Sensitive, Unsolicited, VERSION,
};
use futures_util::{SinkExt, StreamExt};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{debug, info, warn};

pub use crate::journal::{JournalError, JournalEvent, JournalRecord, JournalSink};
use crate::registry::{RegisteredTerminal, TerminalRegistry};
use crate::tls::peer_common_name;

/// The WebSocket path of TSP 1.
pub const PATH: &str = "/tsp/v1";

/// The time the gateway plans offers at (opening hours, holidays).
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// Gateway limits and timing.
#[derive(Clone)]
pub struct TspConfig {
    pub session: SessionConfig,
    pub max_sessions_per_terminal: usize,
    /// Commands from the terminal in flight at once.
    pub max_in_flight: usize,
    /// A session without any message for this long ends.
    pub idle_timeout: Duration,
    /// Each platform call is abandoned (as retryable) after this long.
    pub platform_timeout: Duration,
    /// TLS handshake plus the first command must arrive within this.
    pub handshake_timeout: Duration,
    /// What "now" is for offers; the system clock except in tests and demonstrations.
    pub clock: Clock,
}

impl std::fmt::Debug for TspConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TspConfig")
            .field("session", &self.session)
            .field("max_sessions_per_terminal", &self.max_sessions_per_terminal)
            .field("max_in_flight", &self.max_in_flight)
            .field("idle_timeout", &self.idle_timeout)
            .field("platform_timeout", &self.platform_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for TspConfig {
    fn default() -> Self {
        TspConfig {
            session: SessionConfig::default(),
            max_sessions_per_terminal: 2,
            max_in_flight: 8,
            idle_timeout: Duration::from_secs(300),
            platform_timeout: Duration::from_secs(15),
            handshake_timeout: Duration::from_secs(10),
            clock: system_clock(),
        }
    }
}

struct SessionEntry {
    session_id: String,
    terminal_id: String,
    tx: mpsc::Sender<SessionMsg>,
}

/// The TSP gateway, shared by its connections and sessions.
pub struct TspGateway {
    /// The catalogue and the rest; replaced whole on reload, sessions keep the plans they made.
    data: std::sync::RwLock<Arc<DataSet>>,
    /// Cleared when the daemon stops: no new sessions, live ones may finish.
    accepting: std::sync::atomic::AtomicBool,
    /// Numbers connections, so a session tells its current one from one it was resumed away from.
    connections: std::sync::atomic::AtomicU64,
    registry: Arc<TerminalRegistry>,
    platform: Arc<dyn PlatformApi>,
    journal: Arc<dyn JournalSink>,
    config: TspConfig,
    clock: Clock,
    /// Live sessions by resume token.
    sessions: Mutex<HashMap<String, SessionEntry>>,
}

impl std::fmt::Debug for TspGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TspGateway")
            .field("terminals", &self.registry.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Messages to a session's actor. `conn` numbers the connection a message came from: after a
/// resume, what the old connection still says (its last frames, its drop) is stale and ignored.
enum SessionMsg {
    FromTerminal {
        conn: u64,
        message: Message,
    },
    Attach {
        conn: u64,
        writer: mpsc::Sender<String>,
        resume_request: u64,
        token: String,
    },
    Detach {
        conn: u64,
    },
    Platform {
        call: adapter_core::session::CallId,
        name: &'static str,
        millis: u64,
        result: Result<adapter_core::platform::PlatformReply, PlatformError>,
    },
    Timer(TimerId),
    Shutdown,
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TspGateway {
    pub fn new(
        data: Arc<DataSet>,
        registry: Arc<TerminalRegistry>,
        platform: Arc<dyn PlatformApi>,
        journal: Arc<dyn JournalSink>,
        config: TspConfig,
    ) -> Arc<TspGateway> {
        Arc::new(TspGateway {
            data: std::sync::RwLock::new(data),
            accepting: std::sync::atomic::AtomicBool::new(true),
            connections: std::sync::atomic::AtomicU64::new(1),
            registry,
            platform,
            journal,
            clock: config.clock.clone(),
            config,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The data sessions plan with now.
    pub fn data(&self) -> Arc<DataSet> {
        Arc::clone(
            &self
                .data
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Replaces the catalogue, profiles, calendar and sites. Live sessions keep the flows they
    /// planned; the next offer and the next item use the new data.
    pub fn reload(&self, data: Arc<DataSet>) {
        *self
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = data;
        info!("catalogue reloaded");
    }

    /// Waits up to `deadline` for live sessions to end on their own, then asks the rest to end
    /// and gives them a few seconds to journal their last records. Call after `serve` returned.
    pub async fn drain(&self, deadline: Duration) {
        self.accepting
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let until = tokio::time::Instant::now() + deadline;
        while self.session_count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<mpsc::Sender<SessionMsg>> = lock(&self.sessions)
            .values()
            .map(|s| s.tx.clone())
            .collect();
        if !left.is_empty() {
            info!(
                sessions = left.len(),
                "drain deadline passed: closing the remaining sessions"
            );
        }
        for tx in left {
            let _ = tx.send(SessionMsg::Shutdown).await;
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.session_count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether new sessions are accepted (false once the daemon is stopping).
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The number of live sessions.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Live sessions as (session id, terminal id), for the admin API.
    pub fn sessions(&self) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = lock(&self.sessions)
            .values()
            .map(|s| (s.session_id.clone(), s.terminal_id.clone()))
            .collect();
        list.sort();
        list
    }

    /// Accepts connections until `shutdown` turns true; then no new session opens (resumes
    /// still do) and [`TspGateway::drain`] ends the live ones.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let acceptor = TlsAcceptor::from(tls);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let gateway = Arc::clone(&self);
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            if let Err(reason) = gateway.connection(tcp, acceptor).await {
                                debug!(%peer, reason, "TSP connection ended");
                            }
                        });
                    }
                    Err(e) => warn!(error = %e, "TSP accept failed"),
                },
                _ = shutdown.changed() => break,
            }
        }
        self.accepting
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    async fn connection(
        self: Arc<Self>,
        tcp: TcpStream,
        acceptor: TlsAcceptor,
    ) -> Result<(), String> {
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(self.config.handshake_timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_owned())?
            .map_err(|e| format!("TLS handshake refused: {e}"))?;
        let terminal_id = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(peer_common_name)
            .ok_or("the client certificate names no terminal")?;
        let Some(terminal) = self.registry.get(&terminal_id).cloned() else {
            warn!(terminal = %terminal_id, "certificate of an unregistered terminal");
            return Err("unregistered terminal".into());
        };
        // Small buffers: TSP messages are small and a daemon holds thousands of idle sessions
        // (tungstenite's default is 128 KiB read + 128 KiB write per connection).
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(4 * MAX_FRAME_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let ws = tokio_tungstenite::accept_hdr_async_with_config(tls, check_path, Some(ws_config))
            .await
            .map_err(|e| format!("WebSocket upgrade refused: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let (writer, mut outgoing) = mpsc::channel::<String>(64);
        let writer_task = tokio::spawn(async move {
            while let Some(text) = outgoing.recv().await {
                if sink.send(Frame::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let conn = self
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The first command opens or resumes a session.
        let first = tokio::time::timeout(
            self.config.handshake_timeout,
            next_message(&mut stream, &writer),
        )
        .await;
        let session = match first {
            Ok(Some(message)) => self.attach(&terminal, message, conn, &writer).await,
            _ => None,
        };
        let Some(tx) = session else {
            drop(writer);
            let _ = writer_task.await;
            return Err("no session opened".into());
        };
        loop {
            let message = tokio::select! {
                m = next_message(&mut stream, &writer) => m,
                // The session ended (closed, idle, shut down): close the connection too.
                () = tx.closed() => None,
            };
            let Some(message) = message else { break };
            if tx
                .send(SessionMsg::FromTerminal { conn, message })
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = tx.send(SessionMsg::Detach { conn }).await;
        drop(writer);
        let _ = writer_task.await;
        Ok(())
    }

    /// Opens or resumes the session a first command asks for.
    async fn attach(
        self: &Arc<Self>,
        terminal: &RegisteredTerminal,
        message: Message,
        conn: u64,
        writer: &mpsc::Sender<String>,
    ) -> Option<mpsc::Sender<SessionMsg>> {
        let send = |m: Message| {
            let writer = writer.clone();
            async move {
                let _ = writer.send(m.encode()).await;
            }
        };
        let Message::Command {
            request_id,
            command,
            ..
        } = message
        else {
            return None;
        };
        let name = command.name();
        match command {
            Command::SessionOpen(open) => {
                send(Message::accepted(request_id, name)).await;
                if !open.versions.iter().any(|v| v == VERSION) {
                    send(Message::failure(
                        request_id,
                        name,
                        CompletionCode::UnsupportedData,
                        format!("this daemon speaks TSP {VERSION}"),
                    ))
                    .await;
                    return None;
                }
                let open_for_terminal = lock(&self.sessions)
                    .values()
                    .filter(|s| s.terminal_id == terminal.id)
                    .count();
                if open_for_terminal >= self.config.max_sessions_per_terminal {
                    send(Message::failure(
                        request_id,
                        name,
                        CompletionCode::SequenceError,
                        "too many sessions for this terminal",
                    ))
                    .await;
                    return None;
                }
                if !self.accepting.load(std::sync::atomic::Ordering::SeqCst) {
                    send(Message::failure(
                        request_id,
                        name,
                        CompletionCode::SequenceError,
                        "the service is closing: try again shortly",
                    ))
                    .await;
                    return None;
                }
                let Some(profile) = self.data().profile(&terminal.profile).cloned() else {
                    send(Message::failure(
                        request_id,
                        name,
                        CompletionCode::InternalError,
                        "the terminal's profile is not loaded",
                    ))
                    .await;
                    return None;
                };
                let reported: Vec<Device> = open
                    .capabilities
                    .devices
                    .iter()
                    .filter_map(|d| {
                        serde_json::from_value(serde_json::Value::String(d.clone())).ok()
                    })
                    .collect();
                let devices: Vec<Device> = profile
                    .devices
                    .iter()
                    .filter(|d| reported.contains(d))
                    .collect();
                let session_id = random_id("s-");
                let token = random_id("rt-");
                let (tx, rx) = mpsc::channel(64);
                lock(&self.sessions).insert(
                    token.clone(),
                    SessionEntry {
                        session_id: session_id.clone(),
                        terminal_id: terminal.id.clone(),
                        tx: tx.clone(),
                    },
                );
                info!(session = %session_id, terminal = %terminal.id, "TSP session opened");
                send(Message::success(
                    request_id,
                    CompletionPayload::SessionOpen(tsp::SessionOpened {
                        session_id: session_id.clone(),
                        resume_token: Sensitive::new(token.clone()),
                        version: VERSION.to_owned(),
                        idle_timeout_seconds: u32::try_from(self.config.idle_timeout.as_secs())
                            .unwrap_or(u32::MAX),
                        resume_window_seconds: u32::try_from(
                            self.config.session.resume_window.as_secs(),
                        )
                        .unwrap_or(u32::MAX),
                    }),
                ))
                .await;
                let actor = Actor {
                    gateway: Arc::clone(self),
                    engine: Session::new(
                        session_id.clone(),
                        terminal.id.clone(),
                        self.config.session.clone(),
                    ),
                    session_id,
                    token,
                    terminal: terminal.clone(),
                    profile: TerminalProfile {
                        devices: DeviceSet::of(&devices),
                        ..profile
                    },
                    writer: Some(writer.clone()),
                    conn,
                    tx: tx.clone(),
                    timers: HashMap::new(),
                    last_request: request_id,
                    in_flight: Vec::new(),
                };
                tokio::spawn(actor.run(rx));
                Some(tx)
            }
            Command::SessionResume(resume) => {
                send(Message::accepted(request_id, name)).await;
                let token = resume.resume_token.expose().clone();
                let found = lock(&self.sessions)
                    .get(&token)
                    .filter(|s| s.terminal_id == terminal.id)
                    .map(|s| s.tx.clone());
                let Some(tx) = found else {
                    send(Message::failure(
                        request_id,
                        name,
                        CompletionCode::InvalidData,
                        "no session to resume with this token",
                    ))
                    .await;
                    return None;
                };
                // Spend the token: the session continues under a new one.
                let new_token = random_id("rt-");
                {
                    let mut sessions = lock(&self.sessions);
                    if let Some(entry) = sessions.remove(&token) {
                        sessions.insert(new_token.clone(), entry);
                    }
                }
                let attached = tx
                    .send(SessionMsg::Attach {
                        conn,
                        writer: writer.clone(),
                        resume_request: request_id,
                        token: new_token,
                    })
                    .await;
                attached.ok().map(|()| tx)
            }
            _ => {
                send(Message::accepted(request_id, name)).await;
                send(Message::failure(
                    request_id,
                    name,
                    CompletionCode::SequenceError,
                    "open or resume a session first",
                ))
                .await;
                None
            }
        }
    }

    fn forget(&self, token: &str) {
        lock(&self.sessions).remove(token);
    }
}

/// Accepts the WebSocket upgrade only on [`PATH`].
// The signature is tungstenite's callback; its error is an HTTP response.
#[allow(clippy::result_large_err)]
fn check_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == PATH {
        Ok(response)
    } else {
        let mut refusal = ErrorResponse::new(Some(format!("TSP is served at {PATH}")));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

/// The next TSP message of a connection; answers malformed frames; `None` at the end.
async fn next_message<S>(stream: &mut S, writer: &mpsc::Sender<String>) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await? {
            Ok(Frame::Text(text)) => match Message::decode(text.as_str()) {
                Ok(message) => return Some(message),
                Err(error) => {
                    warn!(error = %error, "invalid TSP frame");
                    if let (Some(request_id), Some(name)) = (error.request_id, error.command) {
                        let ack = Message::Acknowledge {
                            request_id,
                            name,
                            status: Some(AckStatus::InvalidMessage),
                            error_description: Some(error.to_string()),
                        };
                        let _ = writer.send(ack.encode()).await;
                    }
                }
            },
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// One session: its engine, timers and platform calls.
struct Actor {
    gateway: Arc<TspGateway>,
    engine: Session,
    session_id: String,
    token: String,
    terminal: RegisteredTerminal,
    profile: TerminalProfile,
    writer: Option<mpsc::Sender<String>>,
    /// The connection attached now.
    conn: u64,
    tx: mpsc::Sender<SessionMsg>,
    timers: HashMap<TimerId, JoinHandle<()>>,
    last_request: u64,
    /// Terminal commands accepted and not yet completed (Item.Start runs long).
    in_flight: Vec<u64>,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<SessionMsg>) {
        let opened = JournalEvent::SessionOpened {
            profile: self.terminal.profile.clone(),
            site: self.terminal.site.clone(),
        };
        if !self.journal(opened).await {
            self.gateway.forget(&self.token);
            return;
        }
        let idle = self.gateway.config.idle_timeout;
        let warning = Duration::from_secs(30).min(idle / 2);
        let mut last_activity = tokio::time::Instant::now();
        let mut warned = false;
        loop {
            let deadline = if warned {
                last_activity + idle
            } else {
                last_activity + idle - warning
            };
            let message = tokio::select! {
                m = rx.recv() => m,
                () = tokio::time::sleep_until(deadline) => {
                    if warned {
                        info!(session = %self.session_id, "TSP session idle");
                        Some(SessionMsg::Shutdown)
                    } else {
                        warned = true;
                        self.send(Message::Unsolicited(Unsolicited::SessionExpiring(tsp::SessionExpiring {
                            seconds_left: u32::try_from(warning.as_secs()).unwrap_or(30),
                        })))
                        .await;
                        continue;
                    }
                }
            };
            let Some(message) = message else { break };
            match &message {
                SessionMsg::FromTerminal { conn, .. } | SessionMsg::Detach { conn }
                    if *conn != self.conn =>
                {
                    debug!(session = %self.session_id, conn, "ignored: from a connection the session was resumed away from");
                    continue;
                }
                _ => {}
            }
            if matches!(
                message,
                SessionMsg::FromTerminal { .. } | SessionMsg::Attach { .. }
            ) {
                last_activity = tokio::time::Instant::now();
                warned = false;
            }
            let actions = match message {
                SessionMsg::FromTerminal { message, .. } => self.on_terminal(message).await,
                SessionMsg::Attach {
                    conn,
                    writer,
                    resume_request,
                    token,
                } => {
                    self.writer = Some(writer);
                    self.conn = conn;
                    self.token = token.clone();
                    self.send(Message::success(
                        resume_request,
                        CompletionPayload::SessionResume(tsp::SessionResumed {
                            session_id: self.session_id.clone(),
                            resume_token: Sensitive::new(token),
                            pending_request_id: self.engine.pending_request_id(),
                        }),
                    ))
                    .await;
                    self.last_request = self.last_request.max(resume_request);
                    info!(session = %self.session_id, "TSP session resumed");
                    if !self.journal(JournalEvent::SessionResumed).await {
                        break;
                    }
                    self.engine.handle(Input::Resumed)
                }
                SessionMsg::Detach { .. } => {
                    self.writer = None;
                    debug!(session = %self.session_id, "TSP connection dropped");
                    self.engine.handle(Input::Disconnected)
                }
                SessionMsg::Platform {
                    call,
                    name,
                    millis,
                    result,
                } => {
                    let error = result
                        .as_ref()
                        .err()
                        .map(|e| (format!("{:?}", e.class), e.code.clone()));
                    if let Err(e) = &result {
                        // The platform's text is for operators and never personal data.
                        warn!(session = %self.session_id, call = name, class = ?e.class, code = %e.code, message = %e.message, millis, "platform call failed");
                    }
                    let event = JournalEvent::PlatformCall {
                        call: name,
                        millis,
                        error,
                    };
                    if !self.journal(event).await {
                        break;
                    }
                    self.engine.handle(Input::Platform { call, result })
                }
                SessionMsg::Timer(id) => {
                    self.timers.remove(&id);
                    self.engine.handle(Input::Timer(id))
                }
                SessionMsg::Shutdown => {
                    self.send(Message::Unsolicited(Unsolicited::ServiceClosing(
                        tsp::ServiceClosing {
                            at: (self.gateway.clock)()
                                .to_offset(CST)
                                .format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default(),
                            reason: "the session ends".to_owned(),
                        },
                    )))
                    .await;
                    self.engine.handle(Input::Close)
                }
            };
            if !self.perform(actions).await || self.engine.is_ended() {
                break;
            }
        }
        for (_, timer) in self.timers.drain() {
            timer.abort();
        }
        let _ = self.journal(JournalEvent::SessionEnded).await;
        self.gateway.forget(&self.token);
        info!(session = %self.session_id, "TSP session ended");
    }

    async fn send(&self, message: Message) {
        if let Some(writer) = &self.writer {
            let _ = writer.send(message.encode()).await;
        }
    }

    /// Journals `event` before anything that follows it; `false` (and the terminal told the
    /// service is closing) when the journal refused it: the session must stop rather than act
    /// unrecorded.
    async fn journal(&mut self, event: JournalEvent) -> bool {
        let record = JournalRecord {
            session_id: self.session_id.clone(),
            terminal_id: self.terminal.id.clone(),
            event,
        };
        match self.gateway.journal.append(record).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(session = %self.session_id, error = %e, "journal write failed: stopping the session");
                self.send(Message::Unsolicited(Unsolicited::ServiceClosing(
                    tsp::ServiceClosing {
                        at: String::new(),
                        reason: "service temporarily unavailable".to_owned(),
                    },
                )))
                .await;
                false
            }
        }
    }

    /// Carries out the engine's actions in order; `false` if the session must stop.
    async fn perform(&mut self, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::Journal(entry) => {
                    if !self.journal(JournalEvent::Engine(entry)).await {
                        return false;
                    }
                }
                Action::Send(message) => {
                    if let Message::Completion { request_id, .. } = &message {
                        self.in_flight.retain(|id| id != request_id);
                    }
                    self.send(message).await;
                }
                Action::Call { id, call } => {
                    let platform = Arc::clone(&self.gateway.platform);
                    let tx = self.tx.clone();
                    let limit = self.gateway.config.platform_timeout;
                    let name = call.name();
                    tokio::spawn(async move {
                        let started = std::time::Instant::now();
                        let result =
                            match tokio::time::timeout(limit, execute(platform.as_ref(), call))
                                .await
                            {
                                Ok(result) => result,
                                Err(_) => Err(PlatformError::new(
                                    ErrorClass::Retryable,
                                    "timeout",
                                    format!("{name} took longer than {limit:?}"),
                                )),
                            };
                        let millis =
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                        let _ = tx
                            .send(SessionMsg::Platform {
                                call: id,
                                name,
                                millis,
                                result,
                            })
                            .await;
                    });
                }
                Action::SetTimer { id, after } => {
                    let tx = self.tx.clone();
                    let handle = tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(SessionMsg::Timer(id)).await;
                    });
                    self.timers.insert(id, handle);
                }
                Action::CancelTimer(id) => {
                    if let Some(handle) = self.timers.remove(&id) {
                        handle.abort();
                    }
                }
                Action::Ended => return false,
            }
        }
        true
    }

    async fn on_terminal(&mut self, message: Message) -> Vec<Action> {
        let Message::Command {
            request_id,
            command,
            ..
        } = message
        else {
            if let Message::Unsolicited(Unsolicited::DeviceStatusChanged(change)) = &message {
                self.device_changed(&change.device, &change.status);
                return Vec::new();
            }
            return self.engine.handle(Input::Terminal(message));
        };
        let name = command.name();
        if request_id <= self.last_request || self.in_flight.contains(&request_id) {
            self.send(Message::Acknowledge {
                request_id,
                name,
                status: Some(AckStatus::InvalidRequestId),
                error_description: Some(format!("requestId {request_id} was already used")),
            })
            .await;
            return Vec::new();
        }
        if self.in_flight.len() >= self.gateway.config.max_in_flight {
            self.send(Message::Acknowledge {
                request_id,
                name,
                status: Some(AckStatus::TooManyRequests),
                error_description: Some(format!(
                    "at most {} commands may be in flight",
                    self.gateway.config.max_in_flight
                )),
            })
            .await;
            return Vec::new();
        }
        self.last_request = request_id;
        self.send(Message::accepted(request_id, name)).await;
        match command {
            Command::GetOffer(_) => {
                let list = self.offer_list();
                self.send(Message::success(
                    request_id,
                    CompletionPayload::GetOffer(list),
                ))
                .await;
                Vec::new()
            }
            Command::ItemStart(start) => match self.plan_item(&start.code) {
                Ok(plan) => {
                    self.in_flight.push(request_id);
                    self.engine.handle(Input::StartItem { request_id, plan })
                }
                Err((code, description)) => {
                    self.send(Message::failure(request_id, name, code, description))
                        .await;
                    Vec::new()
                }
            },
            Command::ItemCancel(_) => self.engine.handle(Input::Terminal(Message::Command {
                request_id,
                timeout_ms: None,
                command,
            })),
            Command::SessionClose(_) => {
                self.send(Message::success(
                    request_id,
                    CompletionPayload::SessionClose(tsp::Empty {}),
                ))
                .await;
                self.engine.handle(Input::Close)
            }
            Command::SessionOpen(_) | Command::SessionResume(_) => {
                self.send(Message::failure(
                    request_id,
                    name,
                    CompletionCode::SequenceError,
                    "the session is already open",
                ))
                .await;
                Vec::new()
            }
            _ => {
                self.send(Message::failure(
                    request_id,
                    name,
                    CompletionCode::UnsupportedCommand,
                    "the daemon does not accept this command",
                ))
                .await;
                Vec::new()
            }
        }
    }

    fn device_changed(&mut self, device: &str, status: &str) {
        let Ok(device) =
            serde_json::from_value::<Device>(serde_json::Value::String(device.to_owned()))
        else {
            return;
        };
        let data = self.gateway.data();
        let Some(registered) = data.profile(&self.terminal.profile) else {
            return;
        };
        let mut devices: Vec<Device> = self
            .profile
            .devices
            .iter()
            .filter(|d| *d != device)
            .collect();
        if status == "ok" && registered.devices.contains(device) {
            devices.push(device);
        }
        self.profile.devices = DeviceSet::of(&devices);
        info!(session = %self.session_id, device = device.id(), status, "device status changed");
    }

    fn terminal_view<'a>(&'a self, data: &'a DataSet) -> Terminal<'a> {
        Terminal {
            profile: &self.profile,
            division: self.terminal.division,
            site: self.terminal.site.as_deref().and_then(|s| data.site(s)),
        }
    }

    fn offer_list(&self) -> tsp::OfferList {
        let data = self.gateway.data();
        let result = offer(
            &data.catalogue,
            &data.calendar,
            &self.terminal_view(&data),
            (self.gateway.clock)(),
        );
        tsp::OfferList {
            catalogue_version: data.catalogue.version().to_owned(),
            offered: result
                .offered
                .iter()
                .map(|o| tsp::OfferedItem {
                    code: o.item.code.to_string(),
                    name: o.item.name.clone(),
                    name_en: o.item.name_en.clone(),
                    department: o.item.department.id().to_owned(),
                    steps: o.flow.steps.iter().map(|s| wire(&s.kind())).collect(),
                    fee_fen: match o.item.fee {
                        adapter_core::catalogue::Fee::Fixed { fen } => Some(fen),
                        _ => None,
                    },
                })
                .collect(),
            unavailable: result
                .unavailable
                .iter()
                .map(|u| {
                    let (reason, device, step, until) = match u.reason {
                        Reason::MissingDevice { device, step } => (
                            "missing-device",
                            Some(device.id().to_owned()),
                            Some(wire(&step)),
                            None,
                        ),
                        Reason::Protocol { step } => ("protocol", None, Some(wire(&step)), None),
                        Reason::NotImplemented { .. } => ("not-implemented", None, None, None),
                        Reason::Disabled { .. } => ("disabled", None, None, None),
                        Reason::Closed { until } => (
                            "closed",
                            None,
                            None,
                            until.and_then(|t| {
                                t.format(&time::format_description::well_known::Rfc3339)
                                    .ok()
                            }),
                        ),
                    };
                    tsp::UnavailableItem {
                        code: u.item.code.to_string(),
                        name: u.item.name.clone(),
                        reason: reason.to_owned(),
                        device,
                        step,
                        until,
                    }
                })
                .collect(),
        }
    }

    fn plan_item(&self, code: &str) -> Result<ItemPlan, (CompletionCode, String)> {
        let data = self.gateway.data();
        let terminal = self.terminal_view(&data);
        let now = (self.gateway.clock)();
        let result = offer(&data.catalogue, &data.calendar, &terminal, now);
        if let Some(o) = result.offered.iter().find(|o| o.item.code.as_str() == code) {
            return Ok(ItemPlan::from_offered(o, terminal.division, now));
        }
        match result
            .unavailable
            .iter()
            .find(|u| u.item.code.as_str() == code)
        {
            Some(u) => Err((
                CompletionCode::UnsupportedData,
                format!(
                    "item {code} is not offered here: {}",
                    serde_json::to_string(&u.reason).unwrap_or_default()
                ),
            )),
            None => Err((
                CompletionCode::InvalidData,
                format!("no item {code} in the catalogue"),
            )),
        }
    }
}

fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
