//! The production platform client: [`PlatformApi`] over HTTPS (reqwest on rustls, pooled
//! connections).
//!
//! Every call is signed; every answer's signature is verified before anything in it is
//! believed. A call has a deadline; each attempt has its operation's timeout, covering the
//! whole body, so a platform that trickles a body is cut off. Calls are retried with exponential
//! backoff and full jitter only for retryable errors, and every POST carries an idempotency key
//! (the caller's, or one made for the call and kept across its retries), so a retry never doubles
//! an effect. A circuit breaker per operation stops hammering a failing platform, and a semaphore
//! caps the calls in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_core::platform::{self as core, ErrorClass, PlatformApi, PlatformError};
use adapter_protocols::tsp::Sensitive;
use async_trait::async_trait;
use rand::Rng as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::Operation;
use super::breaker::{Admission, BreakerPolicy, Breakers};
use super::signing::{
    self, HEADER_APP_ID, HEADER_IDEMPOTENCY_KEY, HEADER_METHOD, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, RequestParts, ResponseParts, SigningKey, VerifyingKey,
};
use super::wire::{self, Check, Invalid};

/// How calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles each time, up to `max_backoff`, and
    /// the actual wait is drawn uniformly below it (full jitter).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Everything the client needs; [`ClientConfig::new`] gives production defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The contract's base, e.g. `https://gsp.example.gov.cn/gsp/v1`.
    pub base_url: Url,
    pub app_id: String,
    /// Signs requests.
    pub signing_key: SigningKey,
    /// Verifies the platform's answers: the shared secret, or the platform's SM2 public key.
    pub platform_key: VerifyingKey,
    /// TLS for an `https` base URL; `None` only for `http` to a loopback address.
    pub tls: Option<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    /// Each attempt's timeout, body included, unless `timeouts` has one for the operation.
    pub call_timeout: Duration,
    pub timeouts: HashMap<Operation, Duration>,
    /// All attempts of a call, backoffs included.
    pub deadline: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerPolicy,
    /// Calls in flight at once.
    pub max_in_flight: usize,
    /// Answers longer than this are refused.
    pub max_body_bytes: usize,
    /// Connect through this Unix socket instead of TCP (the in-process sandbox; a path that
    /// starts with a NUL byte names a Linux abstract socket). The base URL still gives the path
    /// and the `Host`.
    pub unix_socket: Option<std::path::PathBuf>,
}

impl ClientConfig {
    pub fn new(
        base_url: Url,
        app_id: impl Into<String>,
        signing_key: SigningKey,
        platform_key: VerifyingKey,
    ) -> ClientConfig {
        ClientConfig {
            base_url,
            app_id: app_id.into(),
            signing_key,
            platform_key,
            tls: None,
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(8),
            timeouts: HashMap::from([(Operation::RenderDocument, Duration::from_secs(20))]),
            deadline: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            max_in_flight: 64,
            max_body_bytes: 16 * 1024 * 1024,
            unix_socket: None,
        }
    }
}

/// A configuration the client refuses.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("platform base URL {0}: only https, or http to a loopback address")]
    InsecureUrl(String),
    #[error("platform base URL {0}: https needs a TLS configuration (the platform's CA)")]
    NoTls(String),
    #[error("the signing key is {signing} but the platform key is {platform}")]
    MixedAlgorithms {
        signing: &'static str,
        platform: &'static str,
    },
    #[error("the HTTP client cannot be built: {0}")]
    Http(String),
}

/// The platform client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PlatformClient {
    config: ClientConfig,
    http: reqwest::Client,
    breakers: Breakers,
    in_flight: Semaphore,
}

/// The outcome of catalogue sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueSync {
    NotModified,
    Changed {
        etag: String,
        snapshot: wire::CatalogueSnapshot,
    },
}

/// A request as the client builds it.
struct Request {
    op: Operation,
    /// Path segments under the base path (encoded by `url`).
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
    if_none_match: Option<String>,
}

impl Request {
    fn new(op: Operation, segments: &[&str]) -> Request {
        Request {
            op,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            if_none_match: None,
        }
    }

    fn json(
        mut self,
        body: &impl Serialize,
        key: Option<String>,
    ) -> Result<Request, PlatformError> {
        self.body = Some(serde_json::to_vec(body).map_err(|e| {
            PlatformError::new(ErrorClass::Final, "ENCODE", format!("request body: {e}"))
        })?);
        self.idempotency_key = key;
        Ok(self)
    }
}

/// An answer whose signature verified.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn error(class: ErrorClass, code: &str, message: impl Into<String>) -> PlatformError {
    PlatformError::new(class, code, message)
}

fn bad_response(op: Operation, code: &str, what: impl std::fmt::Display) -> PlatformError {
    error(ErrorClass::BadResponse, code, format!("{op}: {what}"))
}

impl PlatformClient {
    pub fn new(config: ClientConfig) -> Result<PlatformClient, ClientConfigError> {
        let url = config.base_url.to_string();
        match config.base_url.scheme() {
            "https" if config.tls.is_none() => return Err(ClientConfigError::NoTls(url)),
            "https" => {}
            "http" if is_loopback(&config.base_url) => {}
            _ => return Err(ClientConfigError::InsecureUrl(url)),
        }
        if config.signing_key.algorithm() != config.platform_key.algorithm() {
            return Err(ClientConfigError::MixedAlgorithms {
                signing: config.signing_key.algorithm().name(),
                platform: config.platform_key.algorithm().name(),
            });
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.max_in_flight)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            // Retries are this client's, by error class and within the deadline (`call`).
            .retry(reqwest::retry::never())
            .no_proxy()
            .user_agent(concat!("stm-adapter/", env!("CARGO_PKG_VERSION")));
        // reqwest needs a TLS configuration even for plain HTTP (it has no provider of its
        // own here): one that trusts nothing will do for the loopback sandbox.
        let tls = match config.tls.clone() {
            Some(tls) => tls,
            None => crate::tls::trust_nothing_client_config()
                .map_err(|e| ClientConfigError::Http(e.to_string()))?,
        };
        builder = builder.tls_backend_preconfigured(tls);
        if let Some(path) = &config.unix_socket {
            #[cfg(unix)]
            {
                // One HTTP/2 connection carries every call in flight: under load their frames
                // share writes and reads, where HTTP/1 takes a connection, a write and a read
                // per call (the sandbox answers both; nothing else can reach the socket).
                builder = builder.unix_socket(path.as_path()).http2_prior_knowledge();
            }
            #[cfg(not(unix))]
            return Err(ClientConfigError::Http(format!(
                "a Unix socket ({}) needs a Unix system",
                path.display()
            )));
        }
        let http = builder
            .build()
            .map_err(|e| ClientConfigError::Http(e.to_string()))?;
        Ok(PlatformClient {
            breakers: Breakers::new(config.breaker),
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            http,
            config,
        })
    }

    /// The breakers, for the admin API and tests.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    fn url(&self, request: &Request) -> Url {
        let mut url = self.config.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(&request.segments);
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &request.query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    /// Makes `request` with retries, breaker and deadline; the answer is a verified 2xx or 304.
    async fn call(&self, mut request: Request) -> Result<Answer, PlatformError> {
        let op = request.op;
        if op.has_effect() && request.idempotency_key.is_none() {
            request.idempotency_key = Some(format!("{}-{}", op.id(), signing::nonce()));
        }
        if let Some(key) = &request.idempotency_key
            && let Err(e) = wire::idempotency_key(key)
        {
            return Err(error(
                ErrorClass::Final,
                "BAD_IDEMPOTENCY_KEY",
                format!("{op}: the caller's {e}"),
            ));
        }
        let deadline = Instant::now() + self.config.deadline;
        let url = self.url(&request);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.attempt(&request, &url, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            if !error.is_retryable() || attempt >= self.config.retry.max_attempts {
                return Err(error);
            }
            let backoff = self.backoff(attempt).max(retry_after.unwrap_or_default());
            if Instant::now() + backoff >= deadline {
                return Err(error);
            }
            tracing::debug!(
                operation = op.id(),
                attempt,
                code = %error.code,
                backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "platform call will be retried"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let policy = self.config.retry;
        let ceiling = policy
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(policy.max_backoff);
        let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }

    /// One attempt. A retryable error may come with the platform's `Retry-After`.
    async fn attempt(
        &self,
        request: &Request,
        url: &Url,
        deadline: Instant,
    ) -> Result<Answer, (PlatformError, Option<Duration>)> {
        let op = request.op;
        let now = Instant::now();
        if let Admission::Refused { retry_at } = self.breakers.admit(op, now) {
            let wait = retry_at.saturating_duration_since(now);
            return Err((
                error(
                    ErrorClass::Retryable,
                    "CIRCUIT_OPEN",
                    format!(
                        "{op}: the platform failed repeatedly; calls resume in {} ms",
                        wait.as_millis()
                    ),
                ),
                None,
            ));
        }
        let remaining = deadline.saturating_duration_since(now);
        let timeout = self
            .config
            .timeouts
            .get(&op)
            .copied()
            .unwrap_or(self.config.call_timeout)
            .min(remaining);
        let outcome = tokio::time::timeout(timeout, async {
            let _permit = self.in_flight.acquire().await.map_err(|_| {
                error(
                    ErrorClass::Retryable,
                    "CLIENT_CLOSED",
                    "the client is shutting down",
                )
            })?;
            self.exchange(request, url).await
        })
        .await
        .unwrap_or_else(|_| {
            Err(error(
                ErrorClass::Retryable,
                "TIMEOUT",
                format!("{op}: no complete answer within {} ms", timeout.as_millis()),
            ))
        });
        let (result, retry_after) = match outcome {
            Ok(answer) => classify(op, answer),
            Err(e) => (Err(e), None),
        };
        let platform_failed =
            matches!(&result, Err(e) if e.is_retryable() && e.code != "RATE_LIMITED");
        if self.breakers.record(op, platform_failed, Instant::now()) {
            tracing::warn!(operation = op.id(), "platform circuit breaker opened");
        }
        result.map_err(|e| (e, retry_after))
    }

    /// Sends a signed request and reads and verifies the whole answer.
    async fn exchange(&self, request: &Request, url: &Url) -> Result<Answer, PlatformError> {
        let op = request.op;
        let method = op.method();
        let body = request.body.as_deref().unwrap_or_default();
        let timestamp = signing::timestamp(time::OffsetDateTime::now_utc());
        let nonce = signing::nonce();
        let key = request.idempotency_key.as_deref().unwrap_or_default();
        let algorithm = self.config.signing_key.algorithm();
        let parts = RequestParts {
            method,
            path: url.path(),
            query: url.query().unwrap_or_default(),
            app_id: &self.config.app_id,
            timestamp: &timestamp,
            nonce: &nonce,
            idempotency_key: key,
            body,
        };
        let signature = self
            .config
            .signing_key
            .sign(&parts.canonical(algorithm))
            .map_err(|e| error(ErrorClass::Unauthorised, "SIGNING", e.to_string()))?;
        let http_method = if method == "GET" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut builder = self
            .http
            .request(http_method, url.clone())
            .header(HEADER_APP_ID, &self.config.app_id)
            .header(HEADER_TIMESTAMP, &timestamp)
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_METHOD, algorithm.name())
            .header(HEADER_SIGNATURE, signature);
        if !key.is_empty() {
            builder = builder.header(HEADER_IDEMPOTENCY_KEY, key);
        }
        if let Some(tag) = &request.if_none_match {
            builder = builder.header(IF_NONE_MATCH, tag.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| transport(op, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(op, &e))? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(bad_response(
                    op,
                    "BODY_TOO_LARGE",
                    format!("the answer exceeds {} bytes", self.config.max_body_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let answer = Answer {
            status,
            headers,
            body,
        };
        // A gateway in front of the platform may answer 429/5xx itself, unsigned, and the
        // platform cannot sign a 401 for a caller whose key it does not know. None of these
        // says anything we act on beyond "not now" (a confirmation is deferred, never reversed),
        // so they need no signature. Everything else must verify.
        if status == 401 || status == 429 || status >= 500 {
            return Ok(answer);
        }
        self.verify(&answer, &nonce)
            .map_err(|e| bad_response(op, "BAD_SIGNATURE", e))?;
        Ok(answer)
    }

    /// Up to [`wire::MAX_CONFIRMATIONS`] confirmations in one `confirmPayments` call. One that
    /// breaks the contract is refused here, as the platform would refuse it alone (400, for
    /// good), so that it does not have the whole call refused; a platform without the operation
    /// (404 to the call) gets them one by one.
    async fn confirm_chunk(
        &self,
        chunk: &[core::PaymentConfirmation],
    ) -> Result<Vec<Result<core::ConfirmedPayment, PlatformError>>, PlatformError> {
        let op = Operation::ConfirmPayments;
        let items: Vec<Result<wire::BatchedConfirmation, PlatformError>> = chunk
            .iter()
            .map(|c| {
                let item = wire::BatchedConfirmation {
                    notice_number: c.notice_number.clone(),
                    idempotency_key: c.idempotency_key.clone(),
                    amount_fen: c.amount_fen,
                    method: method(c.method),
                    bank_reference: c.bank_reference.clone(),
                    terminal_id: c.terminal_id.clone(),
                };
                item.check().map(|()| item).map_err(|e| {
                    error(
                        ErrorClass::Final,
                        "BAD_REQUEST",
                        format!("{}: {e}", Operation::ConfirmPayment),
                    )
                })
            })
            .collect();
        let valid: Vec<&core::PaymentConfirmation> = chunk
            .iter()
            .zip(&items)
            .filter_map(|(c, item)| item.is_ok().then_some(c))
            .collect();
        let body = wire::PaymentConfirmations {
            confirmations: items
                .iter()
                .filter_map(|i| i.as_ref().ok().cloned())
                .collect(),
        };
        let sent = body.confirmations.len();
        let mut answers: Vec<Result<core::ConfirmedPayment, PlatformError>> = Vec::new();
        if sent > 0 {
            // The call's own key only makes a retried call the same call: each confirmation is
            // kept by its own.
            let request = Request::new(op, &["payments", "confirmations"]).json(&body, None)?;
            match self.get::<wire::ConfirmationResults>(request).await {
                Ok(results) => {
                    let results = checked(op, results)?.results;
                    if results.len() != sent {
                        return Err(bad_response(
                            op,
                            "BAD_SCHEMA",
                            format!("{} results for {sent} confirmations", results.len()),
                        ));
                    }
                    answers = results
                        .into_iter()
                        .map(|r| match r.receipt_number {
                            Some(receipt_number) => Ok(core::ConfirmedPayment { receipt_number }),
                            None => Err(item_error(r)),
                        })
                        .collect();
                }
                Err(e) if e.class == ErrorClass::NotFound => {
                    tracing::debug!(code = %e.code, "confirmPayments unknown to the platform: one by one");
                    for c in valid {
                        answers.push(self.confirm_payment(c.clone()).await);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let mut answers = answers.into_iter();
        Ok(items
            .into_iter()
            .map(|item| match item {
                Ok(_) => answers.next().unwrap_or_else(|| {
                    Err(bad_response(
                        op,
                        "BAD_SCHEMA",
                        "a confirmation without its answer",
                    ))
                }),
                Err(refused) => Err(refused),
            })
            .collect())
    }

    fn verify(&self, answer: &Answer, nonce: &str) -> Result<(), String> {
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("the answer has no {name} header"))
        };
        let timestamp = header(HEADER_TIMESTAMP)?;
        let signature = header(HEADER_SIGNATURE)?;
        let parts = ResponseParts {
            status: answer.status,
            request_nonce: nonce,
            timestamp,
            body: &answer.body,
        };
        self.config
            .platform_key
            .verify(
                &parts.canonical(self.config.platform_key.algorithm()),
                signature,
            )
            .map_err(|e| format!("response signature: {e}"))
    }

    async fn get<T: DeserializeOwned + std::fmt::Debug>(
        &self,
        request: Request,
    ) -> Result<T, PlatformError> {
        let op = request.op;
        let answer = self.call(request).await?;
        parse(op, &answer)
    }

    /// Catalogue sync: the platform's implementing items, unless unchanged since `etag`.
    pub async fn sync_catalogue(&self, etag: Option<&str>) -> Result<CatalogueSync, PlatformError> {
        let op = Operation::SyncCatalogue;
        let mut request = Request::new(op, &["catalogue"]);
        request.if_none_match = etag.map(str::to_owned);
        let answer = self.call(request).await?;
        if answer.status == 304 {
            return Ok(CatalogueSync::NotModified);
        }
        let etag = answer
            .headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad_response(op, "BAD_SCHEMA", "the answer has no ETag"))?
            .to_owned();
        Ok(CatalogueSync::Changed {
            etag,
            snapshot: parse(op, &answer)?,
        })
    }

    /// An application's status.
    pub async fn application_status(
        &self,
        application_id: &str,
    ) -> Result<wire::Application, PlatformError> {
        let op = Operation::ApplicationStatus;
        let application: wire::Application = self
            .get(Request::new(op, &["applications", application_id]))
            .await?;
        application
            .check()
            .map_err(|e| bad_response(op, "BAD_SCHEMA", e))?;
        Ok(application)
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

fn transport(op: Operation, e: &reqwest::Error) -> PlatformError {
    let code = if e.is_timeout() {
        "TIMEOUT"
    } else if e.is_connect() {
        "CONNECT"
    } else {
        "TRANSPORT"
    };
    // reqwest's text names the URL, which carries no personal data (see the contract).
    error(ErrorClass::Retryable, code, format!("{op}: {e}"))
}

/// Sorts an answer into success or a typed platform error.
fn classify(op: Operation, answer: Answer) -> (Result<Answer, PlatformError>, Option<Duration>) {
    let status = answer.status;
    if (200..300).contains(&status) || status == 304 {
        return (Ok(answer), None);
    }
    let retry_after = answer
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Option<wire::ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let (code, message) = match &body {
        Some(b) => (b.code.clone(), b.message.chars().take(200).collect()),
        None => (format!("HTTP_{status}"), format!("{op}: HTTP {status}")),
    };
    let class = match status {
        429 | 500..=599 => ErrorClass::Retryable,
        401 | 403 => ErrorClass::Unauthorised,
        404 => ErrorClass::NotFound,
        400 | 409 | 422 => ErrorClass::Final,
        _ => {
            return (
                Err(bad_response(
                    op,
                    "UNEXPECTED_STATUS",
                    format!("HTTP {status}"),
                )),
                None,
            );
        }
    };
    if class != ErrorClass::Retryable && body.is_none() {
        return (
            Err(bad_response(
                op,
                "BAD_SCHEMA",
                format!("HTTP {status} without the contract's error body"),
            )),
            None,
        );
    }
    let code = if status == 429 && body.is_none() {
        "RATE_LIMITED".to_owned()
    } else {
        code
    };
    (Err(PlatformError::new(class, code, message)), retry_after)
}

fn method(m: core::PaymentMethod) -> wire::PaymentMethod {
    match m {
        core::PaymentMethod::Card => wire::PaymentMethod::Card,
        core::PaymentMethod::Qr => wire::PaymentMethod::Qr,
        core::PaymentMethod::Cash => wire::PaymentMethod::Cash,
    }
}

/// A batch's refused confirmation, classed as `confirmPayment`'s answer with its status and
/// error body would be.
fn item_error(result: wire::ConfirmationResult) -> PlatformError {
    let answer = Answer {
        status: result.status,
        headers: reqwest::header::HeaderMap::new(),
        body: result
            .error
            .and_then(|e| serde_json::to_vec(&e).ok())
            .unwrap_or_default(),
    };
    match classify(Operation::ConfirmPayment, answer) {
        (Err(e), _) => e,
        (Ok(_), _) => bad_response(
            Operation::ConfirmPayment,
            "BAD_SCHEMA",
            format!("HTTP {} without a receipt", result.status),
        ),
    }
}

fn parse<T: DeserializeOwned>(op: Operation, answer: &Answer) -> Result<T, PlatformError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        // serde_json's message names the field and position, never the value.
        bad_response(
            op,
            "BAD_SCHEMA",
            format!("the answer breaks the contract: {e}"),
        )
    })
}

fn checked<T: Check>(op: Operation, value: T) -> Result<T, PlatformError> {
    value
        .check()
        .map_err(|e| bad_response(op, "BAD_SCHEMA", e))?;
    Ok(value)
}

fn assurance(a: wire::Assurance) -> core::Assurance {
    match a {
        wire::Assurance::ChipAndFace => core::Assurance::ChipAndFace,
        wire::Assurance::AppQrCode => core::Assurance::AppQrCode,
    }
}

fn identity(v: wire::VerifiedIdentity) -> core::VerifiedIdentity {
    core::VerifiedIdentity {
        subject: core::SubjectRef(v.subject),
        id_number: v.id_number,
        name: v.name,
        assurance: assurance(v.assurance),
    }
}

fn notice(n: wire::PaymentNotice) -> core::PaymentNotice {
    core::PaymentNotice {
        notice_number: n.notice_number,
        amount_fen: n.amount_fen,
        payee: n.payee,
        due_date: n.due_date,
        status: match n.status {
            wire::NoticeStatus::Unpaid => core::NoticeStatus::Unpaid,
            wire::NoticeStatus::Paid => core::NoticeStatus::Paid,
            wire::NoticeStatus::Cancelled => core::NoticeStatus::Cancelled,
        },
        qr_payload: n.qr_payload,
        receipt_number: n.receipt_number,
    }
}

#[async_trait]
impl PlatformApi for PlatformClient {
    async fn verify_identity(
        &self,
        check: core::IdentityCheck,
    ) -> Result<core::VerifiedIdentity, PlatformError> {
        let op = Operation::VerifyIdentity;
        let body = wire::IdentityCheck {
            terminal_id: check.terminal_id,
            id_number: check.id_number,
            name: check.name,
            chip_photo: wire::ImageData::encode(check.chip_photo.expose()),
            face: wire::ImageData::encode(check.face.expose()),
        };
        let request = Request::new(op, &["identity", "verifications"]).json(&body, None)?;
        let v: wire::VerifiedIdentity = self.get(request).await?;
        Ok(identity(checked(op, v)?))
    }

    async fn qr_identity(
        &self,
        check: core::QrIdentityCheck,
    ) -> Result<core::VerifiedIdentity, PlatformError> {
        let op = Operation::QrIdentity;
        let body = wire::QrIdentityCheck {
            terminal_id: check.terminal_id,
            code: check.code,
        };
        let request = Request::new(op, &["identity", "qr"]).json(&body, None)?;
        let v: wire::VerifiedIdentity = self.get(request).await?;
        Ok(identity(checked(op, v)?))
    }

    async fn lookup_licences(
        &self,
        query: core::LicenceQuery,
    ) -> Result<Vec<core::ELicence>, PlatformError> {
        let op = Operation::LookupLicences;
        if query.licence_types.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = Request::new(op, &["subjects", &query.subject.0, "licences"]);
        request.query = query
            .licence_types
            .into_iter()
            .map(|t| ("type", t))
            .collect();
        let list: wire::LicenceList = self.get(request).await?;
        Ok(list
            .licences
            .into_iter()
            .map(|l| core::ELicence {
                licence_id: l.licence_id,
                licence_type: l.licence_type,
                name: l.name,
            })
            .collect())
    }

    async fn create_application(
        &self,
        application: core::NewApplication,
    ) -> Result<core::ApplicationRef, PlatformError> {
        let op = Operation::CreateApplication;
        let body = wire::NewApplication {
            subject: application.subject.0,
            implementing_code: application.implementing_code,
            terminal_id: application.terminal_id,
            form: application.form,
        };
        let request =
            Request::new(op, &["applications"]).json(&body, Some(application.idempotency_key))?;
        let created: wire::Application = self.get(request).await?;
        let created = checked(op, created)?;
        Ok(core::ApplicationRef {
            application_id: created.application_id,
        })
    }

    async fn upload_material(&self, upload: core::MaterialUpload) -> Result<(), PlatformError> {
        let op = Operation::UploadMaterial;
        let content = match upload.content {
            core::MaterialContent::Image { media_type, data } => wire::MaterialContent::Image {
                media_type,
                data: wire::ImageData::encode(data.expose()),
            },
            core::MaterialContent::ELicence { licence_id } => {
                wire::MaterialContent::ELicence { licence_id }
            }
        };
        let body = wire::MaterialUpload {
            name: upload.name,
            content,
        };
        let request = Request::new(op, &["applications", &upload.application_id, "materials"])
            .json(&body, Some(upload.idempotency_key))?;
        let _: wire::MaterialReceipt = self.get(request).await?;
        Ok(())
    }

    async fn submit_application(
        &self,
        submission: core::Submission,
    ) -> Result<core::Submitted, PlatformError> {
        let op = Operation::SubmitApplication;
        let request = Request::new(
            op,
            &["applications", &submission.application_id, "submission"],
        )
        .json(
            &wire::SubmissionRequest {},
            Some(submission.idempotency_key),
        )?;
        let submitted: wire::Submitted = self.get(request).await?;
        let submitted = checked(op, submitted)?;
        Ok(core::Submitted {
            case_number: submitted.case_number,
            promised_date: submitted.promised_date,
        })
    }

    async fn query_notice(
        &self,
        notice_number: String,
    ) -> Result<core::PaymentNotice, PlatformError> {
        let op = Operation::QueryNotice;
        let n: wire::PaymentNotice = self
            .get(Request::new(op, &["notices", &notice_number]))
            .await?;
        Ok(notice(checked(op, n)?))
    }

    async fn issue_notice(
        &self,
        request: core::NoticeRequest,
    ) -> Result<core::PaymentNotice, PlatformError> {
        let op = Operation::IssueNotice;
        let body = wire::NoticeRequest {
            application_id: request.application_id,
            amount_fen: request.amount_fen,
        };
        let request = Request::new(op, &["notices"]).json(&body, Some(request.idempotency_key))?;
        let n: wire::PaymentNotice = self.get(request).await?;
        Ok(notice(checked(op, n)?))
    }

    async fn confirm_payment(
        &self,
        confirmation: core::PaymentConfirmation,
    ) -> Result<core::ConfirmedPayment, PlatformError> {
        let op = Operation::ConfirmPayment;
        let body = wire::PaymentConfirmation {
            amount_fen: confirmation.amount_fen,
            method: method(confirmation.method),
            bank_reference: confirmation.bank_reference,
            terminal_id: confirmation.terminal_id,
        };
        let request = Request::new(op, &["notices", &confirmation.notice_number, "payments"])
            .json(&body, Some(confirmation.idempotency_key))?;
        let confirmed: wire::ConfirmedPayment = self.get(request).await?;
        let confirmed = checked(op, confirmed)?;
        Ok(core::ConfirmedPayment {
            receipt_number: confirmed.receipt_number,
        })
    }

    async fn confirm_payments(
        &self,
        confirmations: Vec<core::PaymentConfirmation>,
    ) -> Result<Vec<Result<core::ConfirmedPayment, PlatformError>>, PlatformError> {
        let mut answers = Vec::with_capacity(confirmations.len());
        for chunk in confirmations.chunks(wire::MAX_CONFIRMATIONS) {
            answers.extend(self.confirm_chunk(chunk).await?);
        }
        Ok(answers)
    }

    async fn cancel_payment(
        &self,
        cancellation: core::PaymentCancellation,
    ) -> Result<core::CancelledPayment, PlatformError> {
        let op = Operation::CancelPayment;
        let request = Request::new(
            op,
            &[
                "notices",
                &cancellation.notice_number,
                "payments",
                &cancellation.receipt_number,
                "cancellation",
            ],
        )
        .json(
            &wire::PaymentCancellation {
                reason: cancellation.reason,
            },
            Some(cancellation.idempotency_key),
        )?;
        let cancelled: wire::CancelledPayment = self.get(request).await?;
        Ok(core::CancelledPayment {
            refund_reference: cancelled.refund_reference,
        })
    }

    async fn fetch_document(
        &self,
        request: core::DocumentRequest,
    ) -> Result<core::Document, PlatformError> {
        let op = Operation::RenderDocument;
        let body = wire::DocumentRequest {
            reference: request.reference,
            result: request.result,
            subject: request.subject.map(|s| s.0),
            form: request.form,
        };
        let answer = self
            .call(Request::new(op, &["documents"]).json(&body, None)?)
            .await?;
        let media_type = answer
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if media_type != "application/pdf" || !answer.body.starts_with(b"%PDF-") {
            return Err(bad_response(op, "BAD_SCHEMA", "the document is not a PDF"));
        }
        let pages = answer
            .headers
            .get("x-document-pages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|p| *p >= 1)
            .ok_or_else(|| bad_response(op, "BAD_SCHEMA", "no valid X-Document-Pages header"))?;
        Ok(core::Document {
            media_type,
            data: Sensitive::new(answer.body),
            pages,
        })
    }

    async fn evaluate(&self, evaluation: core::Evaluation) -> Result<(), PlatformError> {
        let op = Operation::Evaluate;
        let body = wire::Evaluation {
            reference: evaluation.reference,
            score: evaluation.score,
            text: evaluation.text,
            terminal_id: evaluation.terminal_id,
        };
        let _: wire::EvaluationReceipt = self
            .get(Request::new(op, &["evaluations"]).json(&body, None)?)
            .await?;
        Ok(())
    }

    async fn appointment_slots(
        &self,
        query: core::SlotQuery,
    ) -> Result<Vec<core::AppointmentSlot>, PlatformError> {
        let op = Operation::AppointmentSlots;
        let mut request = Request::new(op, &["appointments", "slots"]);
        request.query = vec![
            ("implementingCode", query.implementing_code),
            ("division", query.division),
            ("from", query.from),
            ("days", query.days.to_string()),
        ];
        let list: wire::SlotList = self.get(request).await?;
        Ok(list
            .slots
            .into_iter()
            .map(|s| core::AppointmentSlot {
                slot_id: s.slot_id,
                hall: s.hall,
                start: s.start,
                end: s.end,
                remaining: s.remaining,
            })
            .collect())
    }

    async fn book_appointment(
        &self,
        booking: core::BookingRequest,
    ) -> Result<core::Booking, PlatformError> {
        let op = Operation::BookAppointment;
        let body = wire::BookingRequest {
            slot_id: booking.slot_id,
            subject: booking.subject.0,
        };
        let booked: wire::Booking = self
            .get(Request::new(op, &["appointments"]).json(&body, Some(booking.idempotency_key))?)
            .await?;
        Ok(core::Booking {
            booking_number: booked.booking_number,
        })
    }

    async fn reconciliation_report(
        &self,
        date: String,
    ) -> Result<core::ReconciliationReport, PlatformError> {
        let op = Operation::ReconciliationReport;
        let report: wire::ReconciliationReport = self
            .get(Request::new(op, &["reconciliation", &date]))
            .await?;
        Ok(core::ReconciliationReport {
            date: report.date,
            payments: report
                .payments
                .into_iter()
                .map(|p| core::ReportedPayment {
                    notice_number: p.notice_number,
                    receipt_number: p.receipt_number,
                    amount_fen: p.amount_fen,
                    bank_reference: p.bank_reference,
                    cancelled: p.cancelled,
                })
                .collect(),
        })
    }

    async fn case_status(&self, case_number: String) -> Result<core::CaseStatus, PlatformError> {
        let op = Operation::CaseStatus;
        let application: wire::Application =
            self.get(Request::new(op, &["cases", &case_number])).await?;
        application
            .check()
            .map_err(|e| bad_response(op, "BAD_SCHEMA", e))?;
        let stage = match application.status {
            wire::ApplicationStatus::Draft => {
                return Err(bad_response(
                    op,
                    "BAD_SCHEMA",
                    Invalid {
                        field: "status",
                        problem: "a case number was given to a draft",
                    },
                ));
            }
            wire::ApplicationStatus::Submitted => core::CaseStage::Submitted,
            wire::ApplicationStatus::Accepted => core::CaseStage::Accepted,
            wire::ApplicationStatus::Approved => core::CaseStage::Approved,
            wire::ApplicationStatus::Completed => core::CaseStage::Completed,
        };
        Ok(core::CaseStatus {
            case_number: application.case_number.unwrap_or(case_number),
            implementing_code: application.implementing_code,
            stage,
            promised_date: application.promised_date,
        })
    }
}

/// Shares one client between the gateway's sessions.
pub type SharedClient = Arc<PlatformClient>;
