//! The local API (axum): JSON over HTTP on loopback, for the POS and the counter screen.
//!
//! Handlers only translate: they parse, call the [`Ledger`] on a blocking thread (SQLite is
//! synchronous), and map its answer or error to HTTP.

pub mod auth;
mod error;
pub mod metrics;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chrono::Utc;
use tenpo_protocol::agent::{Health, RefundRequest, SaleRequest};
use tenpo_protocol::limits::MAX_BODY_BYTES;
use tenpo_protocol::{ErrorCode, openapi};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

pub use error::ApiError;

use crate::ledger::{Ledger, LedgerError, Recorded};
use crate::scan::Pipeline;
use crate::sync::{Engine, Shared};

/// The sync engine as the API sees it (present once the terminal is enrolled).
#[derive(Debug)]
pub struct SyncLink {
    pub shared: Arc<Shared>,
    pub engine: Engine,
    /// The kiosk's signup sessions (signup needs the hub).
    pub signups: Arc<crate::signup::Signups>,
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub token: Arc<str>,
    pub scans: Arc<Pipeline>,
    pub sync: Option<Arc<SyncLink>>,
}

impl AppState {
    /// When a code is not cached and the hub is reachable, asks the hub (briefly) and caches
    /// what it knows, so a member enrolled elsewhere is recognised here at once.
    async fn cache_from_hub(&self, raw_code: &str) {
        let Some(link) = &self.sync else { return };
        if !link.shared.online.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let ledger = self.ledger.clone();
        let code = raw_code.to_owned();
        let missing = tokio::task::spawn_blocking(move || {
            matches!(
                ledger.lookup(&code, Utc::now()),
                Err(LedgerError::MemberNotFound(_))
            )
        })
        .await
        .unwrap_or(false);
        if !missing {
            return;
        }
        let key = match self.ledger.code_key(raw_code, Utc::now()) {
            Ok(k) => k,
            Err(_) => return,
        };
        if let Err(e) = link.engine.lookup_online(&key).await {
            tracing::warn!(error = %e, "online member lookup failed");
        }
    }

    fn wake_sync(&self) {
        if let Some(link) = &self.sync {
            link.shared.sync_now();
        }
    }
}

/// The local API's routes.
pub fn router(state: AppState) -> Router {
    let writes = Router::new()
        .route("/v1/sales", post(record_sale))
        .route("/v1/sales/{sale_id}/refunds", post(record_refund))
        .route("/v1/sync", post(sync_now))
        .route("/v1/signups", post(crate::signup::open))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/members/{code}", get(member))
        .route("/v1/scans/stream", get(scan_stream))
        .route("/v1/signups/{token}", get(crate::signup::status))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics::metrics))
        .merge(writes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs a ledger call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "a request's worker thread failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "the agent failed while handling this request: see its log",
            ))
        }
    }
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let link = state.sync.clone();
    let mut status = blocking(move || {
        let mut status = ledger.status(Utc::now())?;
        if let Some(link) = link {
            let store = ledger.store();
            let counts = store.outbox_counts()?;
            status.mode = tenpo_protocol::agent::Mode::Online;
            status.sync = Some(link.shared.status(
                counts.acked_through,
                store.members_cached()?,
                counts.quarantined,
            ));
        }
        Ok(status)
    })
    .await?;
    status.scanners = state.scans.scanners().snapshot();
    Ok(Json(status).into_response())
}

async fn member(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let view = blocking(move || ledger.lookup(&code, Utc::now())).await?;
    Ok(Json(view).into_response())
}

fn created_or_replayed(recorded: Recorded) -> StatusCode {
    match recorded {
        Recorded::New => StatusCode::CREATED,
        Recorded::Replay => StatusCode::OK,
    }
}

async fn record_sale(
    State(state): State<AppState>,
    body: Result<Json<SaleRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    if req.redeem_points.unwrap_or(0) > 0
        && let Some(link) = &state.sync
    {
        // Decides whether the offline redemption cap applies: only a hub that answers now
        // counts as online.
        link.engine.confirm_online().await;
    }
    if let Some(code) = &req.member_code {
        state.cache_from_hub(code).await;
    }
    let ledger = state.ledger.clone();
    let (recorded, response) = blocking(move || ledger.record_sale(&req, Utc::now())).await?;
    state.wake_sync();
    tracing::info!(
        sale_id = %response.sale_id,
        replay = recorded == Recorded::Replay,
        earned = response.earned_points,
        redeemed = response.redeemed_points,
        "sale"
    );
    Ok((created_or_replayed(recorded), Json(response)).into_response())
}

async fn record_refund(
    State(state): State<AppState>,
    Path(sale_id): Path<String>,
    body: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let ledger = state.ledger.clone();
    let (recorded, response) =
        blocking(move || ledger.record_refund(&sale_id, &req, Utc::now())).await?;
    tracing::info!(
        refund_id = %response.refund_id,
        sale_id = %response.sale_id,
        replay = recorded == Recorded::Replay,
        reversed = response.reversed_points,
        "refund"
    );
    Ok((created_or_replayed(recorded), Json(response)).into_response())
}

/// Server-sent events: one `scan` event per scan. A subscriber that falls behind is told how
/// many events it missed (`event: lagged`) and goes on; it never slows the scanners.
async fn scan_stream(
    State(state): State<AppState>,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.scans.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(scan) => Event::default()
                .event("scan")
                .id(scan.scan_id.to_string())
                .json_data(&scan)
                .unwrap_or_else(|_| Event::default().event("error").data("unencodable scan")),
            Err(RecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(missed.to_string())
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Starts a push and a pull now (`tenpo-agent sync --now`).
async fn sync_now(State(state): State<AppState>) -> Result<Response, ApiError> {
    match &state.sync {
        Some(link) => {
            link.shared.sync_now();
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"status": "syncing"})),
            )
                .into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidRequest,
            "this terminal is not enrolled with a hub: run `tenpo-agent enroll --hub URL --code CODE`",
        )),
    }
}

async fn openapi_json() -> Response {
    Json(openapi::agent_api()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint: see /v1/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method: see /v1/openapi.json",
    )
}
