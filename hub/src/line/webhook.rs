//! `POST /line/webhook` (docs/design.md §10): LINE posts the official account's events here.
//!
//! The signature is checked on the raw body before anything reads it (a bad or missing one is
//! `401`, nothing parsed, nothing stored); events are stored once by `webhookEventId` (LINE
//! redelivers), and `follow`/`unfollow` keep each LINE user's friendship in the order the
//! events happened at LINE, not the order they arrive. The answer is `200` as soon as that is
//! committed; what the hub says back (a welcome, the member rich menu) goes through the message
//! outbox, never from inside this request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use tenpo_line::signature::{self, SIGNATURE_HEADER};
use tenpo_line::webhook::{EventKind, WebhookEvent};
use tenpo_protocol::ErrorCode;

use crate::api::{ApiError, AppState};
use crate::store::HubStore;
use crate::store::model::LineEvent;

/// Largest webhook body accepted. LINE batches events; this is far above what it sends.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// What the store keeps of one event: its key, kind, time and (for follow and unfollow) the
/// friendship it sets.
fn for_store(e: WebhookEvent) -> LineEvent {
    let user_id = e
        .source
        .as_ref()
        .and_then(|s| s.user_id())
        .map(str::to_owned);
    let following = match e.kind {
        EventKind::Follow { .. } => Some(true),
        EventKind::Unfollow => Some(false),
        _ => None,
    };
    LineEvent {
        webhook_event_id: e.webhook_event_id,
        kind: e.kind.name().to_owned(),
        occurred_at_ms: e.timestamp,
        user_id,
        following,
    }
}

pub async fn webhook<S: HubStore>(
    State(app): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = app.line.settings.channel_secret.as_deref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::LineUnavailable,
            "the LINE webhook is not set up at this hub: the administrator sets [line] \
             channel_secret_file",
        ));
    };
    signature::verify(
        secret.as_bytes(),
        &body,
        headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes()),
    )
    .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let hook = tenpo_line::webhook::parse(&body).map_err(|e| ApiError::malformed(e.to_string()))?;
    let received = hook.events.len();
    let events: Vec<LineEvent> = hook.events.into_iter().map(for_store).collect();
    let tally = app
        .store
        .line_events(events, app.line.greeting(), Utc::now())
        .await?;
    app.line.outbox_written.notify_one();
    // Counts only: the events name LINE users, who are never logged.
    tracing::info!(
        received,
        new = tally.new,
        duplicate = tally.duplicate,
        "LINE webhook"
    );
    Ok((StatusCode::OK, axum::Json(json!({}))).into_response())
}
