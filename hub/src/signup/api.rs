//! The signup endpoints:
//! - `GET /liff/signup`: the LIFF page;
//! - `POST /v1/signups/{token}/complete` (from the LIFF page: the signup token is the
//!   credential, LINE's ID token the proof of who the customer is);
//! - `GET /v1/signups/{token}/status?wait=N` (terminal auth): a terminal asks about its own
//!   session, waiting up to N ≤ 30 s for it to complete;
//! - `POST /v1/cards/me` (from the LIFF page, LINE's ID token the credential): the member card,
//!   see [`super::card`].
//! - `POST /v1/cards/me/catalog/search`, `/v1/cards/me/wishes` (`/add`, `/remove`): the
//!   member's favourites, see [`super::favourites`].

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use tenpo_protocol::ErrorCode;
use tenpo_protocol::signup::{
    self as wire, CompleteRequest, CompleteResponse, SignupState, SignupToken,
    TerminalSignupStatus, TokenError,
};

use super::card;
use super::{CompleteSignup, LoginError, Refusal, SignupRecord};
use crate::api::auth::TerminalAuth;
use crate::api::error::ApiError;
use crate::api::{AppState, SMALL_BODY_BYTES};
use crate::store::{HubStore, StoreError};
use tenpo_edge::{Json, Path, Query};

/// Longest wait a terminal may ask for.
const MAX_WAIT_SECS: u64 = 30;

/// The signup routes, merged into the hub's router.
pub fn routes<S: HubStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/liff/signup", get(liff_page::<S>))
        .route("/v1/signups/{token}/complete", post(complete::<S>))
        .route("/v1/signups/{token}/status", get(status::<S>))
        .route("/v1/cards/me", post(card::my_card::<S>))
        .route("/v1/cards/me/profile", post(super::profile::save::<S>))
        .route("/v1/cards/me/unlink", post(super::profile::unlink::<S>))
        .route("/v1/cards/me/data", post(super::my_data::export::<S>))
        .route("/v1/cards/me/erase", post(super::my_data::erase::<S>))
        .route(
            "/v1/cards/me/catalog/search",
            post(super::favourites::search::<S>),
        )
        .route("/v1/cards/me/wishes", post(super::favourites::list::<S>))
        .route("/v1/cards/me/wishes/add", post(super::favourites::add::<S>))
        .route(
            "/v1/cards/me/wishes/remove",
            post(super::favourites::remove::<S>),
        )
        .layer(axum::extract::DefaultBodyLimit::max(SMALL_BODY_BYTES))
}

async fn liff_page<S: HubStore>(State(app): State<AppState<S>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        super::page::html(
            app.signup.settings.liff_id.as_deref(),
            &app.signup.settings.liff_sdk_url,
        ),
    )
        .into_response()
}

fn token_error(e: &TokenError) -> ApiError {
    match e {
        TokenError::Expired => {
            ApiError::new(StatusCode::GONE, ErrorCode::SignupExpired, e.to_string())
        }
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::SignupInvalid,
            format!("{e}: scan the kiosk's code again"),
        ),
    }
}

/// Reads and checks a signup token against the key of the terminal it names.
async fn check_token<S: HubStore>(app: &AppState<S>, text: &str) -> Result<SignupToken, ApiError> {
    let claimed = wire::peek(text).map_err(|e| token_error(&e))?;
    let terminal = app.store.terminal(claimed.terminal_id.clone()).await?;
    let Some(terminal) = terminal else {
        return Err(token_error(&TokenError::Signature));
    };
    let token = wire::verify(text, &terminal.secret_hash, Utc::now()).map_err(|e| {
        tracing::warn!(terminal_id = %claimed.terminal_id, error = %e, "signup token refused");
        token_error(&e)
    })?;
    if token.store_id != terminal.store_id {
        return Err(token_error(&TokenError::Signature));
    }
    Ok(token)
}

pub(super) fn line_error(e: LoginError) -> ApiError {
    match e {
        LoginError::Unavailable(detail) => {
            tracing::warn!(%detail, "LINE's verify endpoint failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::LineUnavailable,
                "LINE cannot be reached right now: try again in a moment",
            )
        }
        rejected => {
            tracing::info!(error = %rejected, "ID token refused");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::LineTokenRejected,
                format!("{rejected}: close this page and open it from LINE again"),
            )
        }
    }
}

fn refusal(e: StoreError) -> ApiError {
    match e {
        StoreError::Signup(r) => {
            let code = match &r {
                Refusal::Used => ErrorCode::SignupUsed,
                Refusal::CardLinkedElsewhere => ErrorCode::CardLinkedElsewhere,
                Refusal::LineAccountTaken { .. } => ErrorCode::LineAccountTaken,
                Refusal::CardRevoked => ErrorCode::InvalidMemberCode,
            };
            ApiError::new(StatusCode::CONFLICT, code, r.to_string())
        }
        other => ApiError::from(other),
    }
}

async fn complete<S: HubStore>(
    State(app): State<AppState<S>>,
    Path(text): Path<String>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let token = check_token(&app, &text).await?;
    let line = card::line_client(&app)?;
    let claims = line
        .verify(card::id_token(&req)?, Utc::now())
        .await
        .map_err(line_error)?;
    let welcome = match app.store.current_rules().await? {
        Some(rules) => app
            .signup
            .settings
            .welcome_stamps
            .min(rules.stamps.card_size.saturating_sub(1)),
        None => 0,
    };
    let now = Utc::now();
    let record = app
        .store
        .complete_signup(
            CompleteSignup {
                token,
                line_user_id: claims.sub,
                today: app.business_date(now),
                welcome_stamps: welcome,
                greeting: app.line.greeting(),
            },
            now,
        )
        .await
        .map_err(refusal)?;
    app.signup.notify();
    app.line.outbox_written.notify_one();
    tracing::info!(
        signup_id = %record.signup_id,
        kind = ?record.kind,
        terminal_id = %record.terminal_id,
        member_id = %record.member.member_id,
        existing = record.existing_member,
        "signup completed"
    );
    let card = card::issue(&app, &record.member.number).await?;
    Ok(Json(CompleteResponse {
        kind: record.kind,
        member_number: record.member.number.clone(),
        existing_member: record.existing_member,
        stamps: record.member.state.stamps.count,
        card,
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

async fn status<S: HubStore>(
    State(app): State<AppState<S>>,
    TerminalAuth(terminal): TerminalAuth,
    Path(text): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let token = wire::peek(&text).map_err(|e| token_error(&e))?;
    if token.terminal_id != terminal.terminal_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "this signup belongs to another terminal",
        ));
    }
    // The terminal's own key: a token it did not make is refused, expiry aside.
    if let Err(e) = wire::verify(&text, &terminal.secret_hash, Utc::now())
        && e != TokenError::Expired
    {
        return Err(token_error(&e));
    }
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = app.signup.subscribe();
    let id = token.id();
    loop {
        changes.borrow_and_update();
        if let Some(record) = app.store.signup(id.clone()).await? {
            return Ok(answer(SignupState::Completed, Some(record)));
        }
        let expired =
            token.expires_at.saturating_add(wire::CLOCK_ALLOWANCE_SECS) < Utc::now().timestamp();
        if expired {
            return Ok(answer(SignupState::Expired, None));
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    Ok(answer(SignupState::Waiting, None))
}

fn answer(state: SignupState, record: Option<SignupRecord>) -> Response {
    Json(TerminalSignupStatus {
        state,
        member: record.map(|r| r.member),
        hub_time: Utc::now(),
    })
    .into_response()
}
