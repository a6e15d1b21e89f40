//! The ISO 8583 host gateway: the daemon as biller host on bank-switch links
//! (docs/iso8583-binding.md). One task per link reads frames of the link's dialect, answers
//! each request in order, and echoes an idle link.
//!
//! Every message in and out is journaled (its MTI, processing code, STAN, terminal and response
//! code; never a PAN) before the answer leaves. A frame that cannot be decoded closes the link:
//! without its STAN there is nothing a switch could match an answer to. Nothing a link does
//! disturbs another link or the rest of the daemon.

mod biller;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_core::platform::PlatformApi;
use adapter_protocols::framing::codec::{FrameCodec, OwnedFrame};
use adapter_protocols::iso8583::Dialect;
use adapter_protocols::iso8583::mac::MacKey;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use crate::gateway::tsp::Clock;
use crate::journal::JournalSink;
use crate::journal::record::{JournalEvent, JournalRecord};

pub use biller::Summary;

/// How the host gateway behaves.
pub struct HostConfig {
    /// The dialect of every link (`gov-bill`).
    pub dialect: &'static Dialect,
    /// The X9.19 MAC key, when links carry a MAC.
    pub mac: Option<MacKey>,
    /// A link silent this long gets an echo (0800, DE70 301).
    pub idle_echo: Duration,
    /// A link that does not answer the echo within this is closed.
    pub echo_timeout: Duration,
    /// The longest an answer waits for the platform (then DE39 91).
    pub platform_timeout: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("dialect", &self.dialect.name())
            .field("mac", &self.mac.is_some())
            .field("idle_echo", &self.idle_echo)
            .field("echo_timeout", &self.echo_timeout)
            .field("platform_timeout", &self.platform_timeout)
            .finish_non_exhaustive()
    }
}

/// A link as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub link_id: String,
    pub peer: String,
    pub tls: bool,
    pub signed_on: bool,
}

/// The biller host on bank-switch links.
pub struct HostGateway {
    config: HostConfig,
    platform: Arc<dyn PlatformApi>,
    journal: Arc<dyn JournalSink>,
    links: Mutex<HashMap<String, LinkView>>,
    next_link: AtomicU64,
    accepting: AtomicBool,
}

impl std::fmt::Debug for HostGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostGateway")
            .field("config", &self.config)
            .field("links", &lock(&self.links).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a link ended.
#[derive(Debug)]
enum LinkEnd {
    PeerClosed,
    Malformed(String),
    EchoUnanswered,
    Journal,
    Io(String),
    Shutdown,
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEnd::PeerClosed => f.write_str("the switch closed the link"),
            LinkEnd::Malformed(e) => write!(f, "a frame could not be decoded: {e}"),
            LinkEnd::EchoUnanswered => f.write_str("the echo was not answered"),
            LinkEnd::Journal => f.write_str("the journal refused a record"),
            LinkEnd::Io(e) => write!(f, "transport: {e}"),
            LinkEnd::Shutdown => f.write_str("the daemon is stopping"),
        }
    }
}

impl HostGateway {
    pub fn new(
        config: HostConfig,
        platform: Arc<dyn PlatformApi>,
        journal: Arc<dyn JournalSink>,
    ) -> HostGateway {
        HostGateway {
            config,
            platform,
            journal,
            links: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(1),
            accepting: AtomicBool::new(true),
        }
    }

    /// Live links, for the admin API.
    pub fn links(&self) -> Vec<LinkView> {
        let mut list: Vec<LinkView> = lock(&self.links).values().cloned().collect();
        list.sort_by(|a, b| a.link_id.cmp(&b.link_id));
        list
    }

    /// Accepts links until `shutdown` turns true; live links end at their next frame boundary.
    /// With `tls`, a switch must present a client certificate of the configured CA.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let acceptor = tls.map(TlsAcceptor::from);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let host = Arc::clone(&self);
                        let acceptor = acceptor.clone();
                        let stop = shutdown.clone();
                        tokio::spawn(async move {
                            match acceptor {
                                None => host.link(tcp, format!("tcp:{peer}"), false, stop).await,
                                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => {
                                        let name = stream
                                            .get_ref()
                                            .1
                                            .peer_certificates()
                                            .and_then(|c| c.first())
                                            .and_then(crate::tls::peer_common_name)
                                            .unwrap_or_else(|| "unnamed".into());
                                        host.link(stream, format!("{name}@{peer}"), true, stop).await;
                                    }
                                    Ok(Err(e)) => debug!(%peer, error = %e, "ISO 8583 TLS handshake refused"),
                                    Err(_) => debug!(%peer, "ISO 8583 TLS handshake timed out"),
                                },
                            }
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "ISO 8583 accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        self.accepting.store(false, Ordering::SeqCst);
                        break;
                    }
                }
            }
        }
    }

    async fn journal(&self, link: &str, peer: &str, event: JournalEvent) -> bool {
        let record = JournalRecord {
            session_id: link.to_owned(),
            terminal_id: peer.to_owned(),
            event,
        };
        match self.journal.append(record).await {
            Ok(()) => true,
            Err(e) => {
                warn!(link, error = %e, "journal refused an ISO 8583 record");
                false
            }
        }
    }

    /// Runs one link until it ends.
    async fn link<S>(
        self: Arc<Self>,
        stream: S,
        peer: String,
        tls: bool,
        mut stop: watch::Receiver<bool>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let link_id = format!("L-{:06}", self.next_link.fetch_add(1, Ordering::Relaxed));
        lock(&self.links).insert(
            link_id.clone(),
            LinkView {
                link_id: link_id.clone(),
                peer: peer.clone(),
                tls,
                signed_on: false,
            },
        );
        info!(link = %link_id, %peer, tls, "ISO 8583 link opened");
        let end = if self
            .journal(&link_id, &peer, JournalEvent::LinkOpened { tls })
            .await
        {
            self.run_link(stream, &link_id, &peer, &mut stop).await
        } else {
            LinkEnd::Journal
        };
        info!(link = %link_id, reason = %end, "ISO 8583 link closed");
        self.journal(
            &link_id,
            &peer,
            JournalEvent::LinkClosed {
                reason: end.to_string(),
            },
        )
        .await;
        lock(&self.links).remove(&link_id);
    }

    async fn run_link<S>(
        &self,
        stream: S,
        link_id: &str,
        peer: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> LinkEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut framed = Framed::new(stream, FrameCodec::new(*self.config.dialect.frame()));
        let mut state = biller::LinkState::default();
        let mut echo_sent: Option<tokio::time::Instant> = None;
        loop {
            let wait = match echo_sent {
                Some(at) => (at + self.config.echo_timeout)
                    .saturating_duration_since(tokio::time::Instant::now()),
                None => self.config.idle_echo,
            };
            let frame = tokio::select! {
                f = framed.next() => f,
                () = tokio::time::sleep(wait) => {
                    if echo_sent.is_some() && state.echo_pending() {
                        return LinkEnd::EchoUnanswered;
                    }
                    let Some(echo) = biller::echo_request(&self.config, &mut state, (self.config.clock)()) else {
                        warn!(link = link_id, "ISO 8583 echo could not be encoded");
                        continue;
                    };
                    if let Err(end) = self.send(&mut framed, link_id, peer, echo).await {
                        return end;
                    }
                    echo_sent = Some(tokio::time::Instant::now());
                    continue;
                }
                _ = stop.changed() => return LinkEnd::Shutdown,
            };
            let frame = match frame {
                None => return LinkEnd::PeerClosed,
                Some(Err(e)) => return LinkEnd::Malformed(e.to_string()),
                Some(Ok(frame)) => frame,
            };
            let request = match biller::Request::decode(self.config.dialect, &frame.body) {
                Ok(r) => r,
                Err(e) => {
                    warn!(link = link_id, error = %e, "ISO 8583 frame refused");
                    return LinkEnd::Malformed(e);
                }
            };
            if !self
                .journal(link_id, peer, JournalEvent::Iso8583In(request.summary()))
                .await
            {
                return LinkEnd::Journal;
            }
            let answer = biller::answer(
                &self.config,
                self.platform.as_ref(),
                &mut state,
                &request,
                &frame.body,
            )
            .await;
            if state.echo_answered() {
                echo_sent = None;
            }
            if let Some(link) = lock(&self.links).get_mut(link_id) {
                link.signed_on = state.signed_on();
            }
            if let Some(answer) = answer
                && let Err(end) = self.send(&mut framed, link_id, peer, answer).await
            {
                return end;
            }
        }
    }

    /// Journals an outgoing message, then writes it.
    async fn send<S>(
        &self,
        framed: &mut Framed<S, FrameCodec>,
        link_id: &str,
        peer: &str,
        out: biller::Outgoing,
    ) -> Result<(), LinkEnd>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if !self
            .journal(link_id, peer, JournalEvent::Iso8583Out(out.summary))
            .await
        {
            return Err(LinkEnd::Journal);
        }
        framed
            .send(OwnedFrame {
                tpdu: None,
                header: None,
                body: out.bytes.into(),
            })
            .await
            .map_err(|e| LinkEnd::Io(e.to_string()))
    }

    /// Whether new links are accepted.
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }
}
