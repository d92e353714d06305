//! The signup endpoints of the local API (`POST /v1/signups`, `GET /v1/signups/{token}`): they
//! translate HTTP to the kiosk's signup sessions (`crate::signup`), which know no HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use tenpo_edge::{Json, Path, Query};
use tenpo_protocol::ErrorCode;
use tenpo_protocol::signup::SignupRequest;

use super::{ApiError, AppState};
use crate::signup::{MAX_WAIT_SECS, SignupError, Signups};

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> ApiError {
        let (status, code) = match &e {
            SignupError::NotEnrolled | SignupError::NoLiffId => {
                (StatusCode::CONFLICT, ErrorCode::InvalidRequest)
            }
            SignupError::Code(_) | SignupError::AlreadyLine => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidMemberCode,
            ),
            SignupError::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            SignupError::Token(_) | SignupError::Random(_) => {
                tracing::error!(error = %e, "signup session failed");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn signups(state: &AppState) -> Result<Arc<Signups>, ApiError> {
    state
        .sync
        .as_ref()
        .map(|link| link.signups.clone())
        .ok_or_else(|| SignupError::NotEnrolled.into())
}

/// `POST /v1/signups`
pub async fn open(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let session = signups(&state)?.open(req.card_code.as_deref(), Utc::now())?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

/// `GET /v1/signups/{token}?wait=N`
pub async fn status(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let status = signups(&state)?.status(&token, wait).await?;
    Ok(Json(status).into_response())
}
