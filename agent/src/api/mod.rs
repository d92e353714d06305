//! The local API (axum): JSON over HTTP on loopback, for the POS and the counter screen.
//!
//! Handlers only translate: they parse, call the [`Ledger`] on a blocking thread (SQLite is
//! synchronous), and map its answer or error to HTTP.

pub mod auth;
mod error;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chrono::Utc;
use tenpo_protocol::agent::{Health, RefundRequest, SaleRequest};
use tenpo_protocol::limits::MAX_BODY_BYTES;
use tenpo_protocol::{ErrorCode, openapi};
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::ledger::{Ledger, LedgerError, Recorded};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub token: Arc<str>,
}

/// The local API's routes.
pub fn router(state: AppState) -> Router {
    let writes = Router::new()
        .route("/v1/sales", post(record_sale))
        .route("/v1/sales/{sale_id}/refunds", post(record_refund))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/members/{code}", get(member))
        .route("/v1/openapi.json", get(openapi_json))
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
    let status = blocking(move || ledger.status(Utc::now())).await?;
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
    let ledger = state.ledger.clone();
    let (recorded, response) = blocking(move || ledger.record_sale(&req, Utc::now())).await?;
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
