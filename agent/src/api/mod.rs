//! The local API (axum): JSON over HTTP on loopback, for the POS and the counter screen.
//!
//! Handlers only translate: they parse, call the [`Ledger`] off the async tasks (SQLite is
//! synchronous: on the blocking pool, or in place for the writes the POS waits on), and map its
//! answer or error to HTTP.

pub mod auth;
mod error;
pub mod metrics;
mod signup;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use chrono::Utc;
use tenpo_edge::{Json, Path};
use tenpo_protocol::agent::{Health, RefundRequest, SaleRequest, WishRequest};
use tenpo_protocol::limits::MAX_BODY_BYTES;
use tenpo_protocol::{ErrorCode, openapi};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

pub use error::ApiError;

use crate::ledger::{Ledger, LedgerError, Recorded};
use crate::scan::Pipeline;
use crate::sync::{Engine, Shared};
use crate::wish::WishError;

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
    /// Sales being recorded now, by `sale_id`: one attempt at a time per id.
    pub in_flight: Arc<InFlight>,
}

/// One attempt at a time per sale id: a POS that gives up waiting and sends the same sale
/// again while the first attempt is still deciding (asking the hub whether it is online, say)
/// waits for that attempt and gets its answer, refusal or not. The idempotency check and the
/// offline guard are thus one step per sale id: concurrent attempts get one answer. Once no
/// attempt is in flight the id is forgotten here (the ledger's own record answers replays).
#[derive(Debug, Default)]
pub struct InFlight {
    ids: std::sync::Mutex<
        std::collections::HashMap<String, Arc<tokio::sync::Mutex<Option<Answer>>>>,
    >,
}

/// An answer given to one attempt: what the request was, and the status and body sent back.
#[derive(Debug, Clone)]
pub struct Answer {
    request: String,
    status: StatusCode,
    body: axum::body::Bytes,
}

impl InFlight {
    /// Waits for any other attempt of `id`; the guard ends this attempt's turn when dropped.
    pub async fn enter(self: &Arc<Self>, id: &str) -> InFlightGuard {
        let slot = {
            let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.entry(id.to_owned()).or_default().clone()
        };
        let turn = slot.clone().lock_owned().await;
        InFlightGuard {
            owner: self.clone(),
            id: id.to_owned(),
            slot,
            turn: Some(turn),
        }
    }
}

/// One attempt's turn at a sale id.
#[derive(Debug)]
pub struct InFlightGuard {
    owner: Arc<InFlight>,
    id: String,
    slot: Arc<tokio::sync::Mutex<Option<Answer>>>,
    turn: Option<tokio::sync::OwnedMutexGuard<Option<Answer>>>,
}

impl InFlightGuard {
    /// The answer an attempt before this one gave to the same request, if it was in flight
    /// when this one arrived.
    fn earlier_answer(&self, request: &str) -> Option<Response> {
        let answer = self.turn.as_ref()?.as_ref()?;
        (answer.request == request).then(|| (answer.status, answer.body.clone()).into_response())
    }

    /// Keeps this attempt's answer for the attempts waiting behind it, and returns it.
    async fn answer(&mut self, request: String, response: Response) -> Response {
        let status = response.status();
        let headers = response.headers().clone();
        let body = match axum::body::to_bytes(response.into_body(), MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot keep a sale's answer for its retries");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "the agent failed while answering: send the sale again",
                )
                .into_response();
            }
        };
        if let Some(turn) = self.turn.as_mut() {
            **turn = Some(Answer {
                request,
                status,
                body: body.clone(),
            });
        }
        (status, headers, body).into_response()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.turn.take();
        let mut ids = self.owner.ids.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the id once no other attempt holds or waits for its slot (the map holds one
        // reference, this guard another).
        if Arc::strong_count(&self.slot) <= 2 {
            ids.remove(&self.id);
        }
    }
}

impl AppState {
    fn engine(&self) -> Option<&Engine> {
        self.sync.as_deref().map(|link| &link.engine)
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
        .route("/v1/wishes", post(record_wish))
        .route("/v1/sync", post(sync_now))
        // Scans name members and cards: only the counter screen and the kiosk, which hold the
        // token, follow them.
        .route("/v1/scans/stream", get(scan_stream))
        .route("/v1/signups", post(signup::open))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/members/{code}", get(member))
        .route("/v1/signups/{token}", get(signup::status))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics::metrics))
        .merge(writes)
        .fallback(tenpo_edge::not_found)
        .method_not_allowed_fallback(tenpo_edge::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Loopback names only: a web page cannot reach member data through DNS rebinding.
        .layer(middleware::from_fn(tenpo_edge::loopback_host_only))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Bounded: header-read and request timeouts, a connection limit, panics answered 500.
    tenpo_edge::serve(listener, router(state), tenpo_edge::Limits::AGENT, shutdown).await
}

/// Runs a ledger call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "a request's worker thread failed");
            Err(failed_here())
        }
    }
}

/// The answer to a request whose call hit a bug (a panic): a 500 for it alone.
fn failed_here() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "the agent failed while handling this request: see its log",
    )
}

/// Runs a ledger call the POS is waiting on (a sale, a refund, a wish) where the request is:
/// on this worker thread, which it holds for the call (a commit, well under a millisecond on a
/// till's disk), while the runtime's other worker runs everything else and takes this one's
/// queued tasks. Handing the call to another thread cost a sale more than the call itself saves
/// the runtime: the blocking pool two hand-offs (~90 µs of a sale's p50), and `block_in_place`,
/// which hands this worker's run queue to a pool thread woken for it, 3–6 % of a member's sale
/// at p50 and about 5 % of the agent's CPU a sale (A/B runs of the till bench,
/// docs/benchmarks.md). The price: two such calls at once (two lanes) hold both workers until
/// the first commit ends, for the second waits on the one writer connection, as it would on
/// any thread. A runtime with one thread (the tests') has no other worker, and there the call
/// goes to the blocking pool.
async fn in_place<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
        return blocking(f).await;
    }
    match tenpo_support::panic::contained(f) {
        Ok(result) => result.map_err(ApiError::from),
        Err(what) => {
            tracing::error!(panic = %what, "a request hit a bug in the agent");
            Err(failed_here())
        }
    }
}

/// `ok` only while a sale could be written now (the database takes a write lock): a till
/// whose database is stuck answers 503, so the POS and monitoring see it as down.
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let store = state.ledger.store().clone();
    let checked = tokio::task::spawn_blocking(move || store.check_writable()).await;
    let problem = match checked {
        Ok(Ok(())) => {
            return Ok(Json(Health {
                status: "ok".into(),
            }));
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!(error = %problem, "health check: the database cannot take a write");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal,
        format!("the agent cannot write to its database: {problem}"),
    ))
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let link = state.sync.clone();
    let mut status = blocking(move || {
        let mut status = ledger.status(Utc::now())?;
        if let Some(link) = link {
            let store = ledger.store();
            let counts = store.outbox_counts()?;
            status.mode = tenpo_protocol::agent::Mode::Enrolled;
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
    let view = crate::lookup::view(&state.ledger, state.engine(), &code, Utc::now()).await?;
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
    Json(req): Json<SaleRequest>,
) -> Result<Response, ApiError> {
    let mut turn = state.in_flight.enter(&req.sale_id).await;
    let request = serde_json::to_string(&req).unwrap_or_default();
    if let Some(answer) = turn.earlier_answer(&request) {
        return Ok(answer);
    }
    let response = match sale_now(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    Ok(turn.answer(request, response).await)
}

/// Records a sale (the caller holds the sale id's turn).
async fn sale_now(state: &AppState, req: SaleRequest) -> Result<Response, ApiError> {
    let req = Arc::new(req);
    // A sale that needs nothing from the hub first (no member or a cached one, no points to
    // redeem) is recorded in one call: a call of its own to check the cache cost every sale
    // two more thread wake-ups (docs/benchmarks.md).
    let quick = match state.engine() {
        Some(_) if req.redeem_points.unwrap_or(0) == 0 => {
            let (ledger, req) = (state.ledger.clone(), req.clone());
            in_place(move || ledger.record_sale_if_cached(&req, Utc::now())).await?
        }
        _ => None,
    };
    let (recorded, response) = match quick {
        Some(done) => done,
        None => {
            crate::lookup::before_sale(&state.ledger, state.engine(), &req, Utc::now()).await?;
            let ledger = state.ledger.clone();
            in_place(move || ledger.record_sale(&req, Utc::now())).await?
        }
    };
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
    Json(req): Json<RefundRequest>,
) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let (recorded, response) =
        in_place(move || ledger.record_refund(&sale_id, &req, Utc::now())).await?;
    tracing::info!(
        refund_id = %response.refund_id,
        sale_id = %response.sale_id,
        replay = recorded == Recorded::Replay,
        reversed = response.reversed_points,
        "refund"
    );
    Ok((created_or_replayed(recorded), Json(response)).into_response())
}

/// A member's wish (docs/design.md §11): a card this till has not cached is asked of the hub
/// first, as for a sale; then the ledger checks and records it (its own idempotency check, in
/// its transaction, makes concurrent attempts of one wish id one wish).
async fn record_wish(
    State(state): State<AppState>,
    Json(req): Json<WishRequest>,
) -> Result<Response, ApiError> {
    let unreachable =
        crate::lookup::before_wish(&state.ledger, state.engine(), &req.member_code, Utc::now())
            .await?;
    let ledger = state.ledger.clone();
    let (recorded, response) = in_place(move || {
        ledger.record_wish(&req, Utc::now()).map_err(|e| match e {
            LedgerError::Wish(WishError::NoMember(code)) if unreachable => {
                WishError::NotKnownHere(code).into()
            }
            e => e,
        })
    })
    .await?;
    state.wake_sync();
    tracing::info!(
        wish_id = %response.wish_id,
        replay = recorded == Recorded::Replay,
        barcode = response.barcode,
        "wish"
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The thread a call in place ran on.
    async fn thread_of_a_call() -> std::thread::ThreadId {
        in_place(|| Ok(std::thread::current().id())).await.unwrap()
    }

    /// The call runs on the request's own worker thread where the runtime has another worker
    /// (the agent's), and a panic in it is a 500 for that call alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_in_place_runs_on_the_requests_thread_and_a_panic_fails_it_alone() {
        assert_eq!(thread_of_a_call().await, std::thread::current().id());
        let failed = in_place(|| -> Result<(), LedgerError> { panic!("a bug") })
            .await
            .unwrap_err();
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(in_place(|| Ok(7)).await.unwrap(), 7);
    }

    /// A runtime with one thread has no worker to take over: the call goes to the blocking pool.
    #[tokio::test(flavor = "current_thread")]
    async fn on_one_thread_the_call_goes_to_the_blocking_pool() {
        assert_ne!(thread_of_a_call().await, std::thread::current().id());
    }
}
