//! The admin API, on its own port: `/healthz`, `/readyz`, `/metrics` for the monitoring
//! system, and `/v1/…` (bearer token) for operators: terminals, sessions, reload.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::gateway::tsp::TspGateway;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::platform::PlatformClient;
use crate::platform::client::CatalogueSync;
use crate::registry::TerminalRegistry;

/// What the admin API reads.
#[derive(Clone)]
pub struct AdminState {
    gateway: Arc<TspGateway>,
    registry: Arc<TerminalRegistry>,
    journal: Arc<Journal>,
    metrics: Arc<Metrics>,
    platform: Arc<PlatformClient>,
    token: Arc<str>,
    reload: Arc<dyn Fn() -> Result<usize, String> + Send + Sync>,
    /// The platform catalogue's ETag from the last readiness check (so the next is a 304).
    etag: Arc<Mutex<Option<String>>>,
    /// The ISO 8583 biller host, when enabled.
    host: Option<Arc<crate::gateway::iso8583::HostGateway>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminState")
    }
}

impl AdminState {
    pub fn new(
        gateway: Arc<TspGateway>,
        registry: Arc<TerminalRegistry>,
        journal: Arc<Journal>,
        metrics: Arc<Metrics>,
        platform: Arc<PlatformClient>,
        token: String,
        reload: Arc<dyn Fn() -> Result<usize, String> + Send + Sync>,
    ) -> AdminState {
        AdminState {
            gateway,
            registry,
            journal,
            metrics,
            platform,
            token: token.into(),
            reload,
            etag: Arc::new(Mutex::new(None)),
            host: None,
        }
    }

    /// Shows the biller host's links at /v1/links.
    pub fn with_host(mut self, host: Arc<crate::gateway::iso8583::HostGateway>) -> AdminState {
        self.host = Some(host);
        self
    }
}

pub fn router(state: AdminState) -> Router {
    let v1 = Router::new()
        .route("/v1/terminals", get(terminals))
        .route("/v1/sessions", get(sessions))
        .route("/v1/links", get(links))
        .route("/v1/saf", get(saf))
        .route("/v1/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorise,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(v1)
        .with_state(state)
}

/// Serves until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    mut stop: watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "admin API stopped");
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorise(
    State(state): State<AdminState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "a valid bearer token is required (admin.token or the admin token file)" })),
        )
            .into_response()
    }
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let journal = state.journal.store().writable().await;
    let etag = state.etag.lock().map(|e| e.clone()).unwrap_or_default();
    let platform = match state.platform.sync_catalogue(etag.as_deref()).await {
        Ok(CatalogueSync::NotModified) => Ok(()),
        Ok(CatalogueSync::Changed { etag, .. }) => {
            if let Ok(mut slot) = state.etag.lock() {
                *slot = Some(etag);
            }
            Ok(())
        }
        Err(e) => Err(format!("{:?} {}", e.class, e.code)),
    };
    let ready = journal.is_ok() && platform.is_ok();
    let body = json!({
        "ready": ready,
        "journal": journal.map(|()| "ok".to_owned()).unwrap_or_else(|e| e.to_string()),
        "platform": platform.clone().map(|()| "ok".to_owned()).unwrap_or_else(|e| e),
        "accepting": state.gateway.is_accepting(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AdminState>) -> Response {
    if let Some(host) = &state.host {
        let (pending, stuck) = host.store_and_forward_counts();
        state.metrics.set_store_and_forward(pending, stuck);
        state.metrics.set_book_payments(host.book_len());
    }
    let text = state.metrics.render(
        state.gateway.session_count(),
        state.journal.stats(),
        state.platform.breakers().open_operations().len(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn terminals(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let sessions = state.gateway.sessions();
    let mut registered: Vec<_> = state.registry.iter().collect();
    registered.sort_by(|a, b| a.id.cmp(&b.id));
    let list: Vec<serde_json::Value> = registered
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "profile": t.profile,
                "division": t.division.to_string(),
                "site": t.site,
                "sessions": sessions.iter().filter(|(_, terminal)| *terminal == t.id).count(),
            })
        })
        .collect();
    Json(json!({ "terminals": list }))
}

async fn links(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let links = state.host.as_ref().map(|h| h.links()).unwrap_or_default();
    Json(json!({ "enabled": state.host.is_some(), "links": links }))
}

async fn saf(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let (pending, stuck) = state
        .host
        .as_ref()
        .map(|h| h.store_and_forward_queue())
        .unwrap_or_default();
    let pending: Vec<serde_json::Value> = pending
        .into_iter()
        .map(|(p, work)| json!({ "payment": p, "state": p.state(), "work": work }))
        .collect();
    Json(json!({ "pending": pending, "stuck": stuck }))
}

async fn sessions(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = state
        .gateway
        .sessions()
        .into_iter()
        .map(|(session, terminal)| json!({ "sessionId": session, "terminalId": terminal }))
        .collect();
    Json(json!({ "sessions": list }))
}

async fn reload(State(state): State<AdminState>) -> Response {
    match (state.reload)() {
        Ok(items) => (
            StatusCode::OK,
            Json(json!({ "reloaded": true, "items": items })),
        )
            .into_response(),
        Err(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "reloaded": false, "problems": problems })),
        )
            .into_response(),
    }
}
