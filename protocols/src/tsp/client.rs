//! The terminal side of TSP, for terminal software to link (feature `tsp-client`).
//!
//! [`TerminalClient::connect`] opens WebSocket over TLS with the terminal's client certificate;
//! [`TerminalClient::open`] starts a session (or [`TerminalClient::resume`] continues one);
//! [`TerminalClient::next`] hands over what the daemon sends — step commands as the typed
//! [`StepCommand`], the end of an item, unsolicited messages — and [`TerminalClient::complete`]
//! answers a step. When the connection drops, `next` says so; [`TerminalClient::reconnect`]
//! reconnects with exponential backoff and resumes the session, after which the daemon sends the
//! pending step again. Step commands are acknowledged on arrival.
//!
//! This is the one module of the crate that does I/O; it is opt-in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::message::{
    Command, CommandName, CompletionCode, CompletionPayload, MAX_FRAME_BYTES, Message,
    ProtocolError, Unsolicited,
};
use super::payloads::*;
use super::sensitive::Sensitive;

/// How to reach the daemon and who the terminal is.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` of the daemon's TSP listener.
    pub address: String,
    /// The name in the daemon's certificate (`localhost` for the development CA).
    pub server_name: String,
    /// PEM of the CA that issued the daemon's certificate.
    pub ca_pem: Vec<u8>,
    /// PEM of the terminal's certificate (chain) and private key.
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// How long to wait for the answer to a command of the terminal.
    pub request_timeout: Duration,
    /// Reconnection: first wait, doubled each attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts before `reconnect` gives up.
    pub reconnect_attempts: u32,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field("server_name", &self.server_name)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration with defaults for timing (10 s requests; backoff 0.5 s doubling to 30 s,
    /// 10 attempts).
    pub fn new(
        address: impl Into<String>,
        server_name: impl Into<String>,
        ca_pem: Vec<u8>,
        certificate_pem: Vec<u8>,
        key_pem: Vec<u8>,
    ) -> ClientConfig {
        ClientConfig {
            address: address.into(),
            server_name: server_name.into(),
            ca_pem,
            certificate_pem,
            key_pem,
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            reconnect_attempts: 10,
        }
    }
}

/// Why the client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("the connection is closed")]
    Closed,
    #[error("the daemon sent an invalid message: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{name} was refused: {status}")]
    Refused { name: CommandName, status: String },
    #[error("{name} failed with {code:?}: {description}")]
    Failed {
        name: CommandName,
        code: CompletionCode,
        description: String,
    },
    #[error("no answer to {0} in time")]
    Timeout(CommandName),
    #[error("there is no session to resume")]
    NoSession,
    #[error("WebSocket: {0}")]
    WebSocket(String),
}

/// A step the daemon asks the terminal to render.
#[derive(Debug, Clone, PartialEq)]
pub enum StepCommand {
    Identify(StepIdentify),
    Form(StepForm),
    Materials(StepMaterials),
    Sign(StepSign),
    Confirm(StepConfirm),
    Appointment(StepAppointment),
    Pay(StepPay),
    Reverse(StepReverse),
    Submit(StepSubmit),
    Deliver(StepDeliver),
    Rate(StepRate),
    Notice(StepNotice),
}

impl StepCommand {
    fn from_command(command: Command) -> Option<StepCommand> {
        Some(match command {
            Command::Identify(p) => StepCommand::Identify(p),
            Command::Form(p) => StepCommand::Form(p),
            Command::Materials(p) => StepCommand::Materials(p),
            Command::Sign(p) => StepCommand::Sign(p),
            Command::Confirm(p) => StepCommand::Confirm(p),
            Command::Appointment(p) => StepCommand::Appointment(p),
            Command::Pay(p) => StepCommand::Pay(p),
            Command::Reverse(p) => StepCommand::Reverse(p),
            Command::Submit(p) => StepCommand::Submit(p),
            Command::Deliver(p) => StepCommand::Deliver(p),
            Command::Rate(p) => StepCommand::Rate(p),
            Command::Notice(p) => StepCommand::Notice(p),
            _ => return None,
        })
    }

    pub fn name(&self) -> CommandName {
        match self {
            StepCommand::Identify(_) => CommandName::Identify,
            StepCommand::Form(_) => CommandName::Form,
            StepCommand::Materials(_) => CommandName::Materials,
            StepCommand::Sign(_) => CommandName::Sign,
            StepCommand::Confirm(_) => CommandName::Confirm,
            StepCommand::Appointment(_) => CommandName::Appointment,
            StepCommand::Pay(_) => CommandName::Pay,
            StepCommand::Reverse(_) => CommandName::Reverse,
            StepCommand::Submit(_) => CommandName::Submit,
            StepCommand::Deliver(_) => CommandName::Deliver,
            StepCommand::Rate(_) => CommandName::Rate,
            StepCommand::Notice(_) => CommandName::Notice,
        }
    }
}

/// A step with the request id its completion must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub request_id: u64,
    pub timeout_ms: Option<u64>,
    pub command: StepCommand,
}

/// What the daemon sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Render this step and answer with [`TerminalClient::complete`].
    Step(Step),
    /// The item started with `request_id` ended (successfully or not: see the outcome).
    ItemEnded {
        request_id: u64,
        outcome: ItemOutcome,
    },
    /// The item could not start or was refused (`sequenceError`, `unsupportedData` …).
    ItemRefused {
        request_id: u64,
        code: CompletionCode,
        description: String,
    },
    Unsolicited(Unsolicited),
    /// The connection dropped: call [`TerminalClient::reconnect`].
    Disconnected,
}

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// A TSP connection from a terminal.
pub struct TerminalClient {
    config: ClientConfig,
    connector: TlsConnector,
    ws: Option<Ws>,
    next_request: u64,
    resume_token: Option<Sensitive<String>>,
    session_id: Option<String>,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for TerminalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalClient")
            .field("address", &self.config.address)
            .field("session_id", &self.session_id)
            .field("connected", &self.ws.is_some())
            .finish_non_exhaustive()
    }
}

fn tls_connector(config: &ClientConfig) -> Result<TlsConnector, ClientError> {
    let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&config.ca_pem) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&config.certificate_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&config.key_pem).map_err(|e| tls(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls(&e))?;
    Ok(TlsConnector::from(Arc::new(tls_config)))
}

impl TerminalClient {
    /// Connects (TCP, TLS with the client certificate, WebSocket upgrade on `/tsp/v1`).
    pub async fn connect(config: ClientConfig) -> Result<TerminalClient, ClientError> {
        let connector = tls_connector(&config)?;
        let mut client = TerminalClient {
            config,
            connector,
            ws: None,
            next_request: 1,
            resume_token: None,
            session_id: None,
            events: VecDeque::new(),
        };
        client.ws = Some(client.dial().await?);
        Ok(client)
    }

    async fn dial(&self) -> Result<Ws, ClientError> {
        let address = &self.config.address;
        let fail = |reason: String| ClientError::Connect {
            address: address.clone(),
            reason,
        };
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(self.config.server_name.clone())
            .map_err(|e| fail(e.to_string()))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let url = format!("wss://{}/tsp/v1", self.config.server_name);
        let request = url.into_client_request().map_err(|e| fail(e.to_string()))?;
        // Small buffers: TSP messages are small and a daemon holds thousands of idle sessions
        // (tungstenite's default is 128 KiB read + 128 KiB write per connection).
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(4 * MAX_FRAME_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config))
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(ws)
    }

    /// The session id, once open.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Starts a session.
    pub async fn open(&mut self, open: SessionOpen) -> Result<SessionOpened, ClientError> {
        match self.request(Command::SessionOpen(open)).await? {
            CompletionPayload::SessionOpen(opened) => {
                self.resume_token = Some(opened.resume_token.clone());
                self.session_id = Some(opened.session_id.clone());
                Ok(opened)
            }
            _ => Err(ClientError::WebSocket("unexpected completion".into())),
        }
    }

    /// Resumes the session on the current connection (after [`TerminalClient::reconnect`]
    /// dialled again, which calls this itself).
    pub async fn resume(&mut self) -> Result<SessionResumed, ClientError> {
        let token = self.resume_token.clone().ok_or(ClientError::NoSession)?;
        match self
            .request(Command::SessionResume(SessionResume {
                resume_token: token,
            }))
            .await?
        {
            CompletionPayload::SessionResume(resumed) => {
                self.resume_token = Some(resumed.resume_token.clone());
                Ok(resumed)
            }
            _ => Err(ClientError::WebSocket("unexpected completion".into())),
        }
    }

    /// The token that resumes this session, for a terminal application that keeps it across
    /// its own restart (the session survives for the daemon's resume window).
    pub fn resume_token(&self) -> Option<&Sensitive<String>> {
        self.resume_token.as_ref()
    }

    /// Resumes a session this connection did not open: the terminal application restarted and
    /// kept the token (see [`TerminalClient::resume_token`]).
    pub async fn resume_with(
        &mut self,
        token: Sensitive<String>,
    ) -> Result<SessionResumed, ClientError> {
        self.resume_token = Some(token);
        let resumed = self.resume().await?;
        self.session_id = Some(resumed.session_id.clone());
        Ok(resumed)
    }

    /// What the terminal can offer now.
    pub async fn get_offer(&mut self) -> Result<OfferList, ClientError> {
        match self.request(Command::GetOffer(GetOffer {})).await? {
            CompletionPayload::GetOffer(list) => Ok(list),
            _ => Err(ClientError::WebSocket("unexpected completion".into())),
        }
    }

    /// Starts an item; returns its request id once the daemon accepted it. Steps and the end of
    /// the item then come from [`TerminalClient::next`].
    pub async fn start_item(&mut self, code: &str) -> Result<u64, ClientError> {
        let request_id = self
            .send_command(
                Command::ItemStart(ItemStart {
                    code: code.to_owned(),
                }),
                None,
            )
            .await?;
        self.await_ack(request_id, CommandName::ItemStart).await?;
        Ok(request_id)
    }

    /// Cancels the running item between steps.
    pub async fn cancel_item(&mut self) -> Result<(), ClientError> {
        self.request(Command::ItemCancel(ItemCancel {}))
            .await
            .map(|_| ())
    }

    /// Closes the session.
    pub async fn close(&mut self, reason: Option<String>) -> Result<(), ClientError> {
        self.request(Command::SessionClose(SessionClose { reason }))
            .await?;
        self.resume_token = None;
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
        Ok(())
    }

    /// Answers a step successfully.
    pub async fn complete(
        &mut self,
        request_id: u64,
        payload: CompletionPayload,
    ) -> Result<(), ClientError> {
        self.send(&Message::success(request_id, payload)).await
    }

    /// Answers a step with an error code (`canceled` when the citizen pressed cancel, `timeOut`
    /// when nobody acted, `hardwareError` …).
    pub async fn fail(
        &mut self,
        request_id: u64,
        name: CommandName,
        code: CompletionCode,
        description: &str,
    ) -> Result<(), ClientError> {
        self.send(&Message::failure(request_id, name, code, description))
            .await
    }

    /// Tells the daemon about a device.
    pub async fn device_status(&mut self, device: &str, status: &str) -> Result<(), ClientError> {
        self.send(&Message::Unsolicited(Unsolicited::DeviceStatusChanged(
            DeviceStatusChanged {
                device: device.to_owned(),
                status: status.to_owned(),
            },
        )))
        .await
    }

    /// The next thing the daemon sends.
    pub async fn next(&mut self) -> Result<ClientEvent, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        loop {
            let Some(message) = self.receive().await? else {
                return Ok(ClientEvent::Disconnected);
            };
            if let Some(event) = self.dispatch(message).await? {
                return Ok(event);
            }
        }
    }

    /// Drops the connection without a closing handshake, as a cable pulled out would (for
    /// testing resume).
    pub fn abort_connection(&mut self) {
        self.ws = None;
    }

    /// Reconnects with exponential backoff and resumes the session.
    pub async fn reconnect(&mut self) -> Result<SessionResumed, ClientError> {
        self.ws = None;
        let mut wait = self.config.initial_backoff;
        let mut last = ClientError::Closed;
        for _ in 0..self.config.reconnect_attempts.max(1) {
            match self.dial().await {
                Ok(ws) => {
                    self.ws = Some(ws);
                    return self.resume().await;
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.config.max_backoff);
        }
        Err(last)
    }

    // ----- plumbing ------------------------------------------------------------------------------

    async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        let ws = self.ws.as_mut().ok_or(ClientError::Closed)?;
        ws.send(Frame::text(message.encode()))
            .await
            .map_err(|e| ClientError::WebSocket(e.to_string()))
    }

    async fn send_command(
        &mut self,
        command: Command,
        timeout_ms: Option<u64>,
    ) -> Result<u64, ClientError> {
        let request_id = self.next_request;
        self.next_request += 1;
        self.send(&Message::Command {
            request_id,
            timeout_ms,
            command,
        })
        .await?;
        Ok(request_id)
    }

    /// The next TSP message, or `None` when the connection closed.
    async fn receive(&mut self) -> Result<Option<Message>, ClientError> {
        loop {
            let Some(ws) = self.ws.as_mut() else {
                return Ok(None);
            };
            match ws.next().await {
                None | Some(Err(_)) => {
                    self.ws = None;
                    return Ok(None);
                }
                Some(Ok(Frame::Text(text))) => return Ok(Some(Message::decode(text.as_str())?)),
                Some(Ok(Frame::Close(_))) => {
                    self.ws = None;
                    return Ok(None);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Handles a message that is not the answer awaited; returns an event for the application.
    async fn dispatch(&mut self, message: Message) -> Result<Option<ClientEvent>, ClientError> {
        Ok(match message {
            Message::Command {
                request_id,
                timeout_ms,
                command,
            } => {
                let name = command.name();
                match StepCommand::from_command(command) {
                    Some(command) => {
                        self.send(&Message::accepted(request_id, name)).await?;
                        Some(ClientEvent::Step(Step {
                            request_id,
                            timeout_ms,
                            command,
                        }))
                    }
                    None => {
                        self.send(&Message::failure(
                            request_id,
                            name,
                            CompletionCode::UnsupportedCommand,
                            "a terminal does not accept this command",
                        ))
                        .await?;
                        None
                    }
                }
            }
            Message::Completion {
                request_id,
                name: CommandName::ItemStart,
                code,
                error_description,
                payload,
            } => Some(match payload {
                Some(CompletionPayload::ItemStart(outcome)) => ClientEvent::ItemEnded {
                    request_id,
                    outcome,
                },
                _ => ClientEvent::ItemRefused {
                    request_id,
                    code,
                    description: error_description.unwrap_or_default(),
                },
            }),
            Message::Unsolicited(u) => Some(ClientEvent::Unsolicited(u)),
            // Late acknowledges and completions of our commands, events: nothing to hand over.
            _ => None,
        })
    }

    async fn await_ack(&mut self, request_id: u64, name: CommandName) -> Result<(), ClientError> {
        let timeout = self.config.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = tokio::time::timeout_at(deadline, self.receive())
                .await
                .map_err(|_| ClientError::Timeout(name))??
                .ok_or(ClientError::Closed)?;
            match message {
                Message::Acknowledge {
                    request_id: id,
                    status,
                    error_description,
                    ..
                } if id == request_id => {
                    return match status {
                        None => Ok(()),
                        Some(s) => Err(ClientError::Refused {
                            name,
                            status: format!("{s:?}: {}", error_description.unwrap_or_default()),
                        }),
                    };
                }
                Message::Completion {
                    request_id: id,
                    code,
                    error_description,
                    ..
                } if id == request_id && code != CompletionCode::Success => {
                    return Err(ClientError::Failed {
                        name,
                        code,
                        description: error_description.unwrap_or_default(),
                    });
                }
                other => {
                    if let Some(event) = self.dispatch(other).await? {
                        self.events.push_back(event);
                    }
                }
            }
        }
    }

    /// Sends a command and waits for its completion, keeping whatever else arrives meanwhile.
    async fn request(&mut self, command: Command) -> Result<CompletionPayload, ClientError> {
        let name = command.name();
        let timeout_ms = u64::try_from(self.config.request_timeout.as_millis()).ok();
        let request_id = self.send_command(command, timeout_ms).await?;
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        loop {
            let message = tokio::time::timeout_at(deadline, self.receive())
                .await
                .map_err(|_| ClientError::Timeout(name))??
                .ok_or(ClientError::Closed)?;
            match message {
                Message::Acknowledge {
                    request_id: id,
                    status: Some(s),
                    error_description,
                    ..
                } if id == request_id => {
                    return Err(ClientError::Refused {
                        name,
                        status: format!("{s:?}: {}", error_description.unwrap_or_default()),
                    });
                }
                Message::Acknowledge { request_id: id, .. } if id == request_id => {}
                Message::Completion {
                    request_id: id,
                    code,
                    error_description,
                    payload,
                    ..
                } if id == request_id => {
                    return match (code, payload) {
                        (CompletionCode::Success, Some(p)) => Ok(p),
                        (code, _) => Err(ClientError::Failed {
                            name,
                            code,
                            description: error_description.unwrap_or_default(),
                        }),
                    };
                }
                other => {
                    if let Some(event) = self.dispatch(other).await? {
                        self.events.push_back(event);
                    }
                }
            }
        }
    }
}
