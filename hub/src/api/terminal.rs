//! The terminal endpoints: enrolment, push, change feed, online lookup, health.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use tenpo_protocol::ErrorCode;
use tenpo_protocol::sync::{
    ChangesQuery, ChangesResponse, DEFAULT_CHANGES_LIMIT, EnrollRequest, EnrollResponse, HubHealth,
    MAX_CHANGES_LIMIT, MemberLookup, PushResponse, PushStatus,
};

use super::AppState;
use super::auth::TerminalAuth;
use super::error::ApiError;
use crate::cursor;
use crate::intake;
use crate::store::HubStore;
use tenpo_edge::{Json, Path, Query};

/// `ok` only while the hub can take a write: a hub whose database is stuck answers 503, so
/// terminals and monitoring see it as down rather than as healthy and failing every push.
pub async fn health<S: HubStore>(State(app): State<AppState<S>>) -> Result<Response, ApiError> {
    if let Err(e) = app.store.check_writable().await {
        tracing::error!(error = %e, "health check: the database cannot take a write");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            format!("the hub cannot write to its database: {e}"),
        ));
    }
    Ok(Json(HubHealth {
        status: "ok".into(),
        hub_time: Utc::now(),
    })
    .into_response())
}

pub async fn enroll<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<EnrollRequest>,
) -> Result<Response, ApiError> {
    let name = req.terminal_name.map(|n| n.trim().to_owned());
    if let Some(n) = &name
        && (n.chars().count() > 64 || !tenpo_protocol::agent::is_plain_text(n))
    {
        return Err(ApiError::invalid(
            "terminal_name must be at most 64 characters, without control characters or \
             invisible direction marks",
        ));
    }
    let enrolled = app.store.enroll(req.code, name, Utc::now()).await?;
    tracing::info!(store_id = %enrolled.store_id, terminal_id = %enrolled.terminal_id, "terminal enrolled");
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            store_id: enrolled.store_id,
            terminal_id: enrolled.terminal_id,
            secret: enrolled.secret,
            hub_time: Utc::now(),
        }),
    )
        .into_response())
}

/// The push body, read leniently: one bad event is rejected alone, not the whole push.
/// A push with each item left as the bytes that were sent (they are hashed as received).
#[derive(Debug, Deserialize)]
pub struct RawPush {
    events: Vec<Box<serde_json::value::RawValue>>,
}

pub async fn push<S: HubStore>(
    State(app): State<AppState<S>>,
    TerminalAuth(terminal): TerminalAuth,
    Json(raw): Json<RawPush>,
) -> Result<Response, ApiError> {
    let count = raw.events.len();
    let now = Utc::now();
    let incoming = intake::prepare(&terminal, raw.events, app.business_date(now))?;
    let terminal_id = terminal.terminal_id.clone();
    let outcome = app.store.push(terminal, incoming, app.review, now).await?;
    let tally = |s: PushStatus| outcome.results.iter().filter(|r| r.status == s).count();
    tracing::info!(
        terminal_id = %terminal_id,
        events = count,
        stored = tally(PushStatus::Stored),
        duplicate = tally(PushStatus::Duplicate),
        conflict = tally(PushStatus::Conflict),
        rejected = tally(PushStatus::Rejected),
        acked_through = outcome.acked_through,
        "push"
    );
    Ok(Json(PushResponse {
        acked_through: outcome.acked_through,
        results: outcome.results,
        hub_time: Utc::now(),
    })
    .into_response())
}

pub async fn changes<S: HubStore>(
    State(app): State<AppState<S>>,
    TerminalAuth(terminal): TerminalAuth,
    Query(query): Query<ChangesQuery>,
) -> Result<Response, ApiError> {
    let q = query;
    let limit = q.limit.unwrap_or(DEFAULT_CHANGES_LIMIT);
    if !(1..=MAX_CHANGES_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_CHANGES_LIMIT}"
        )));
    }
    let after = cursor::decode(q.cursor.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(StatusCode::GONE, ErrorCode::CursorReset, e.to_string()))?;
    let page = app.store.changes(after, limit).await.inspect_err(|e| {
        if matches!(e, crate::store::StoreError::CursorReset(_)) {
            tracing::warn!(terminal_id = %terminal.terminal_id, "feed cursor refused: the terminal starts again");
        }
    })?;
    tracing::debug!(terminal_id = %terminal.terminal_id, changes = page.changes.len(), more = page.more, "feed read");
    Ok(Json(ChangesResponse {
        changes: page.changes,
        next_cursor: cursor::encode(&page.next),
        more: page.more,
        acked_through: Some(terminal.acked_through),
        hub_time: Utc::now(),
    })
    .into_response())
}

pub async fn member_by_code<S: HubStore>(
    State(app): State<AppState<S>>,
    TerminalAuth(_terminal): TerminalAuth,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    if code.is_empty() || code.len() > 128 {
        return Err(ApiError::invalid("the code must be 1 to 128 characters"));
    }
    match app.store.member_by_code(code).await? {
        Some(member) => Ok(Json(MemberLookup {
            member,
            hub_time: Utc::now(),
        })
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::MemberNotFound,
            "no member has this code at the hub",
        )),
    }
}
