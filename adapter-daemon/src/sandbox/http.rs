//! The sandbox's HTTP side: routing, authentication, idempotency, faults and answer signing
//! around [`super::world::World`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::world::{Params, Reply, batch_answer, confirmations};
use super::{Fault, Sandbox, Stored, lock};
use crate::platform::signing::{
    self, HEADER_APP_ID, HEADER_IDEMPOTENCY_KEY, HEADER_METHOD, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, RequestParts, ResponseParts, SigningKey, TIMESTAMP_TOLERANCE_SECONDS,
};
use crate::platform::wire;
use crate::platform::{Operation, Unresolved};

/// The largest request body accepted (a material scan with headroom).
const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

pub(super) fn router(sandbox: Sandbox) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(sandbox)
}

/// Who is calling, once authenticated.
struct Caller {
    app: Option<String>,
    nonce: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(sandbox): State<Sandbox>, request: Request) -> Response {
    sandbox
        .inner
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let headers = parts.headers;
    let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let reply = Reply::error(
                400,
                "BAD_REQUEST",
                format!("the body exceeds {MAX_REQUEST_BYTES} bytes or was cut off"),
            );
            return respond(reply, None, "");
        }
    };
    let (op, path_params) = match Operation::resolve(&method, &path) {
        Ok(found) => found,
        Err(Unresolved::OtherMethod) => {
            return respond(
                Reply::error(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "the path exists under another method",
                ),
                None,
                "",
            );
        }
        Err(Unresolved::NoSuchPath) => return respond(no_such_path(), None, ""),
    };
    let inner = &sandbox.inner;

    // The platform's front door: maintenance, authentication, rate limit.
    if in_maintenance(&sandbox) {
        let reply = Reply::error(
            503,
            "MAINTENANCE",
            "the platform is in its maintenance window",
        )
        .with_header("retry-after", "60".into());
        return respond(reply, None, "");
    }
    let caller = match authenticate(&sandbox, &method, &path, &query, &headers, &bytes) {
        Ok(c) => c,
        Err(reply) => return respond(reply, None, ""),
    };
    let answer_key = caller
        .app
        .as_ref()
        .and_then(|a| inner.apps.get(a))
        .map(|a| a.answer_key.clone());
    let sign = |reply: Reply| respond(reply, answer_key.as_ref(), &caller.nonce);
    if let Some(reply) = rate_limited(&sandbox, caller.app.as_deref().unwrap_or("-")) {
        return sign(reply);
    }
    let latency = sample_latency(&inner.settings.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = next_fault(&sandbox, op);
    if fault == Some(Fault::Absent) {
        // The caller is known by now: the platform signs what it answers it.
        return sign(no_such_path());
    }
    if fault == Some(Fault::Unavailable) {
        return sign(
            Reply::error(
                503,
                "INJECTED_UNAVAILABLE",
                "the sandbox was told to be unavailable",
            )
            .with_header("retry-after", "1".into()),
        );
    }

    // Parameters.
    let params = Params {
        path: path_params,
        query: url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        if_none_match: header(&headers, "if-none-match").map(str::to_owned),
    };
    if params.if_none_match.as_ref().is_some_and(|t| t.len() > 200) {
        return sign(Reply::invalid(&wire::Invalid {
            field: "If-None-Match",
            problem: "too long",
        }));
    }
    let key = header(&headers, HEADER_IDEMPOTENCY_KEY).map(str::to_owned);
    if op.has_effect() {
        match &key {
            None => {
                return sign(Reply::error(
                    400,
                    "IDEMPOTENCY_KEY_MISSING",
                    "every POST carries an Idempotency-Key",
                ));
            }
            Some(k) => {
                if let Err(e) = wire::idempotency_key(k) {
                    return sign(Reply::invalid(&e));
                }
            }
        }
    }

    // Execute, at most once per idempotency key.
    let now = sandbox.now();
    let reply = {
        let app = caller.app.clone().unwrap_or_default();
        let stored_key = key
            .as_ref()
            .filter(|_| op.has_effect())
            .map(|k| (app.clone(), k.clone()));
        let call = Call {
            op,
            method: &method,
            path: &path,
            bytes: &bytes,
        };
        if op == Operation::ConfirmPayments {
            // It takes the lock for one confirmation at a time.
            confirm_each(&inner.core, &call, stored_key, &app, now)
        } else {
            once(&mut lock(&inner.core), &call, stored_key, |core| {
                core.world.handle(op, &params, &bytes, now)
            })
        }
    };

    match fault {
        Some(Fault::LostAnswer) => sign(Reply::error(
            503,
            "INJECTED_LOST_ANSWER",
            "the sandbox lost the answer after acting",
        )),
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            sign(reply)
        }
        Some(Fault::BadSignature) => {
            let mut response = sign(reply);
            response.headers_mut().insert(
                HEADER_SIGNATURE,
                axum::http::HeaderValue::from_static(
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                ),
            );
            response
        }
        Some(Fault::WrongSchema) => sign(Reply {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body: br#"{"unexpected":"shape"}"#.to_vec(),
        }),
        Some(Fault::SlowBody(over)) => slow(sign(reply), over).await,
        Some(Fault::Unavailable | Fault::Absent) | None => sign(reply),
    }
}

fn in_maintenance(sandbox: &Sandbox) -> bool {
    if let Some(forced) = lock(&sandbox.inner.faults).maintenance {
        return forced;
    }
    let Some(window) = sandbox.inner.settings.maintenance else {
        return false;
    };
    let local = sandbox.now().to_offset(adapter_core::calendar::CST);
    window.contains(u16::from(local.hour()) * 60 + u16::from(local.minute()))
}

fn unauthorised(code: &str, message: &str) -> Reply {
    Reply::error(401, code, message)
}

/// One call as the front door resolved it.
struct Call<'a> {
    op: Operation,
    method: &'a str,
    path: &'a str,
    bytes: &'a [u8],
}

/// What identifies a request under its idempotency key: method, path and body.
fn fingerprint(call: &Call<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(call.method.as_bytes());
    h.update(b"\n");
    h.update(call.path.as_bytes());
    h.update(b"\n");
    h.update(call.bytes);
    h.finalize().into()
}

/// The answer a used idempotency key gets: the first answer again for the same request, a
/// refusal for another. `None`: the key is new.
fn replay(core: &super::Core, key: &(String, String), fingerprint: &[u8; 32]) -> Option<Reply> {
    core.idempotency.get(key).map(|stored| {
        if stored.fingerprint == *fingerprint {
            stored
                .reply
                .clone()
                .with_header("idempotent-replayed", "true".into())
        } else {
            Reply::error(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used for a different request",
            )
        }
    })
}

/// Keeps `reply` to `call` under its idempotency key (successes and definite refusals), and
/// counts the effect.
fn keep(
    core: &mut super::Core,
    call: &Call<'_>,
    key: Option<(String, String)>,
    fingerprint: [u8; 32],
    reply: &Reply,
) {
    let success = (200..300).contains(&reply.status);
    // A batch's effects are its confirmations', counted as each is made.
    if call.op.has_effect() && success && call.op != Operation::ConfirmPayments {
        *core.effects.entry(call.op).or_insert(0) += 1;
    }
    if let Some(k) = key
        && (success || matches!(reply.status, 404 | 409 | 422))
    {
        core.idempotency.insert(
            k,
            Stored {
                fingerprint,
                reply: reply.clone(),
            },
        );
    }
}

/// Runs `execute` for `call` at most once per idempotency key (`stored_key`: the caller's app
/// and key, for operations with an effect): a replay of the same request gets the first answer
/// again, another request under a used key is refused.
fn once(
    core: &mut super::Core,
    call: &Call<'_>,
    stored_key: Option<(String, String)>,
    execute: impl FnOnce(&mut super::Core) -> Reply,
) -> Reply {
    let fingerprint = fingerprint(call);
    if let Some(replayed) = stored_key
        .as_ref()
        .and_then(|k| replay(core, k, &fingerprint))
    {
        return replayed;
    }
    let reply = execute(core);
    keep(core, call, stored_key, fingerprint, &reply);
    reply
}

/// `confirmPayments`: each confirmation exactly as `confirmPayment` would take it alone, under
/// its own idempotency key (so a confirmation sent alone and then in a batch, or the other way
/// round, is recorded once), its answer's status and body as its result. The sandbox's lock is
/// taken for one confirmation at a time, so that the other calls in flight are not held up
/// for a whole batch; a batch sent twice at once is answered the same twice, its confirmations
/// being each kept under its own key.
fn confirm_each(
    core: &std::sync::Mutex<super::Core>,
    call: &Call<'_>,
    stored_key: Option<(String, String)>,
    app: &str,
    now: time::OffsetDateTime,
) -> Reply {
    let fingerprint = fingerprint(call);
    if let Some(replayed) = stored_key
        .as_ref()
        .and_then(|k| replay(&lock(core), k, &fingerprint))
    {
        return replayed;
    }
    let singles = match confirmations(call.bytes) {
        Ok(singles) => singles,
        Err(reply) => return reply,
    };
    let replies: Vec<Reply> = singles
        .iter()
        .map(|c| {
            let single = Call {
                op: Operation::ConfirmPayment,
                method: "POST",
                path: &c.path,
                bytes: &c.body,
            };
            let key = Some((app.to_owned(), c.idempotency_key.clone()));
            once(&mut lock(core), &single, key, |core| {
                core.world
                    .handle(Operation::ConfirmPayment, &c.params, &c.body, now)
            })
        })
        .collect();
    let reply = batch_answer(&replies);
    keep(&mut lock(core), call, stored_key, fingerprint, &reply);
    reply
}

fn authenticate(
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Reply> {
    let inner = &sandbox.inner;
    let app_id = header(headers, HEADER_APP_ID);
    let nonce = header(headers, HEADER_NONCE).unwrap_or_default().to_owned();
    if !inner.options.require_signature {
        // Contract testing: nothing is checked; answers are signed when the app is known.
        return Ok(Caller {
            app: app_id
                .filter(|a| inner.apps.contains_key(*a))
                .map(str::to_owned),
            nonce,
        });
    }
    let (Some(app_id), Some(timestamp), Some(method_name), Some(signature)) = (
        app_id,
        header(headers, HEADER_TIMESTAMP),
        header(headers, HEADER_METHOD),
        header(headers, HEADER_SIGNATURE),
    ) else {
        return Err(unauthorised(
            "SIGNATURE_MISSING",
            "the request is not signed (X-App-Id, X-Timestamp, X-Nonce, X-Signature-Method, X-Signature)",
        ));
    };
    let app = inner
        .apps
        .get(app_id)
        .ok_or_else(|| unauthorised("APP_UNKNOWN", "the app id is not registered"))?;
    let algorithm = app.request_key.algorithm();
    if signing::Algorithm::from_name(method_name) != Some(algorithm) {
        return Err(unauthorised(
            "SIGNATURE_METHOD",
            "the app is registered for another signature method",
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let skew_ok = signing::parse_timestamp(timestamp)
        .is_some_and(|t| (now - t).whole_seconds().abs() <= TIMESTAMP_TOLERANCE_SECONDS);
    if !skew_ok {
        return Err(unauthorised(
            "TIMESTAMP_SKEW",
            "X-Timestamp is malformed or more than 300 s from the platform's clock",
        ));
    }
    if !signing::valid_nonce(&nonce) {
        return Err(unauthorised(
            "NONCE_INVALID",
            "X-Nonce must be 16 to 64 characters of [A-Za-z0-9_-]",
        ));
    }
    let parts = RequestParts {
        method,
        path,
        query,
        app_id,
        timestamp,
        nonce: &nonce,
        idempotency_key: header(headers, HEADER_IDEMPOTENCY_KEY).unwrap_or_default(),
        body,
    };
    app.request_key
        .verify(&parts.canonical(algorithm), signature)
        .map_err(|_| unauthorised("SIGNATURE_INVALID", "the signature does not verify"))?;
    // Only a verified request may spend a nonce.
    let expiry = now + time::Duration::seconds(2 * TIMESTAMP_TOLERANCE_SECONDS);
    let key = super::NonceKey::of(app_id, &nonce);
    if lock(&inner.nonces).spend(key, now, expiry) {
        Ok(Caller {
            app: Some(app_id.to_owned()),
            nonce,
        })
    } else {
        Err(unauthorised("NONCE_REPLAYED", "this nonce was used before"))
    }
}

fn rate_limited(sandbox: &Sandbox, app: &str) -> Option<Reply> {
    let limit = sandbox.inner.settings.rate_limit_per_second;
    if limit == 0 {
        return None;
    }
    let second = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut rate = lock(&sandbox.inner.rate);
    let entry = rate.entry(app.to_owned()).or_insert((second, 0));
    if entry.0 != second {
        *entry = (second, 0);
    }
    entry.1 += 1;
    (entry.1 > limit).then(|| {
        Reply::error(
            429,
            "RATE_LIMITED",
            format!("more than {limit} requests per second"),
        )
        .with_header("retry-after", "1".into())
    })
}

/// Log-normal latency with the configured median and 99th percentile.
fn sample_latency(l: &super::data::Latency) -> Duration {
    if l.median_ms == 0 {
        return Duration::ZERO;
    }
    let mut rng = rand::rng();
    let sigma = if l.p99_ms > l.median_ms {
        (l.p99_ms as f64 / l.median_ms as f64).ln() / 2.326
    } else {
        0.0
    };
    // Box-Muller.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let mut ms = l.median_ms as f64 * (sigma * z).exp();
    if l.max_ms > 0 {
        ms = ms.min(l.max_ms as f64);
    }
    Duration::from_secs_f64(ms / 1000.0)
}

/// What a path of no operation gets; an [`Fault::Absent`] operation the same.
fn no_such_path() -> Reply {
    Reply::error(
        404,
        "NO_SUCH_PATH",
        "no operation of the contract has this path",
    )
}

fn next_fault(sandbox: &Sandbox, op: Operation) -> Option<Fault> {
    let mut faults = lock(&sandbox.inner.faults);
    if let Some(f) = faults
        .scripted
        .get_mut(&op)
        .and_then(std::collections::VecDeque::pop_front)
    {
        return Some(f);
    }
    let rates = faults.rates.get(&op).copied()?;
    let roll: f64 = rand::rng().random();
    let hang = Duration::from_secs(sandbox.inner.settings.hang_seconds);
    if roll < rates.unavailable {
        Some(Fault::Unavailable)
    } else if roll < rates.unavailable + rates.lost_answer {
        Some(Fault::LostAnswer)
    } else if roll < rates.unavailable + rates.lost_answer + rates.hang {
        Some(Fault::Hang(hang))
    } else {
        None
    }
}

/// The HTTP response of `reply`, signed with `key` over the request's nonce when there is a key.
fn respond(reply: Reply, key: Option<&SigningKey>, nonce: &str) -> Response {
    let timestamp = signing::timestamp(time::OffsetDateTime::now_utc());
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(HEADER_TIMESTAMP, &timestamp);
    if !reply.content_type.is_empty() {
        builder = builder.header("content-type", reply.content_type);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    if let Some(key) = key {
        let parts = ResponseParts {
            status: reply.status,
            request_nonce: nonce,
            timestamp: &timestamp,
            body: &reply.body,
        };
        if let Ok(signature) = key.sign(&parts.canonical(key.algorithm())) {
            builder = builder.header(HEADER_SIGNATURE, signature);
        }
    }
    builder
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// `response` with its body trickled out a byte at a time over `over`.
async fn slow(response: Response, over: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let step = over / u32::try_from(bytes.len().max(1)).unwrap_or(u32::MAX);
    let stream = futures_util::stream::unfold((bytes, 0usize), move |(bytes, i)| async move {
        if i >= bytes.len() {
            return None;
        }
        tokio::time::sleep(step).await;
        let chunk = bytes.slice(i..i + 1);
        Some((Ok::<_, std::io::Error>(chunk), (bytes, i + 1)))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A TLS listener for axum: handshakes run in their own tasks, so a slow client never holds
/// up the others; failed handshakes are logged and dropped.
#[derive(Debug)]
pub struct TlsListener {
    accepted: mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "sandbox: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "sandbox: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            accepted: rx,
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves HTTP (HTTPS with `tls`) on a TCP listener until `shutdown`, then lets calls in flight
/// finish (up to 5 s).
pub(super) async fn serve(
    router: axum::Router,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, graceful) = graceful_stop();
    let server = async move {
        match tls {
            Some(tls) => {
                axum::serve(TlsListener::new(listener, tls)?, router)
                    .with_graceful_shutdown(graceful)
                    .await
            }
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(graceful)
                    .await
            }
        }
    };
    until_shutdown(server, stop, shutdown).await
}

/// Serves plain HTTP on a Unix socket until `shutdown`, then lets calls in flight finish (up to
/// 5 s).
#[cfg(unix)]
pub(super) async fn serve_unix(
    router: axum::Router,
    listener: tokio::net::UnixListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, graceful) = graceful_stop();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(graceful)
        .into_future();
    until_shutdown(server, stop, shutdown).await
}

/// A switch and the future axum's graceful shutdown waits on.
fn graceful_stop() -> (
    tokio::sync::watch::Sender<bool>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    (stop_tx, graceful)
}

/// Runs `server` until it ends or `shutdown` resolves; then flips `stop` and gives the calls in
/// flight up to 5 s.
async fn until_shutdown(
    server: impl Future<Output = std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
