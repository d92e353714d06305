//! Authentication: terminals by `Bearer {terminal_id}.{secret}` (the hub keeps only the
//! secret's SHA-256), the admin API by `Bearer <admin token>`, the catalogue feed by `Bearer
//! <catalogue token>`. Each compared in constant time; none is ever logged.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenpo_protocol::sync::split_credential;

use axum::http::HeaderMap;

use super::error::ApiError;
use super::{AppState, terminal_reports};
use crate::secrets::{same, sha256};
use crate::store::{HubStore, Terminal};

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// An authenticated terminal.
#[derive(Debug, Clone)]
pub struct TerminalAuth(pub Terminal);

impl<S: HubStore> FromRequestParts<AppState<S>> for TerminalAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let Some(credential) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "terminal calls need `Authorization: Bearer {terminal_id}.{secret}` from enrolment",
            ));
        };
        let wrong = || {
            ApiError::unauthorized(
                "unknown terminal or wrong secret: enrol the terminal again if its secret was lost",
            )
        };
        let (terminal_id, secret) = split_credential(credential).ok_or_else(wrong)?;
        let presented = sha256(secret.as_bytes());
        match state.store.terminal(terminal_id.to_owned()).await? {
            Some(t) if same(&presented, &t.secret_hash) => {
                note_report(state, &t.terminal_id, &parts.headers);
                Ok(TerminalAuth(t))
            }
            Some(_) => Err(wrong()),
            None => {
                // Same work as a wrong secret, so timing does not tell which ids exist.
                let _ = same(&presented, &[0u8; 32]);
                Err(wrong())
            }
        }
    }
}

/// Keeps what an authenticated terminal said of itself (`api::terminal_reports`): written in
/// the background when due, so the call never waits for it or fails by it.
fn note_report<S: HubStore>(state: &AppState<S>, terminal_id: &str, headers: &HeaderMap) {
    let now = chrono::Utc::now();
    let Some(report) = terminal_reports::read(headers, now) else {
        return;
    };
    if !state
        .terminal_reports
        .due(terminal_id, &report, std::time::Instant::now())
    {
        return;
    }
    let (store, terminal_id) = (state.store.clone(), terminal_id.to_owned());
    tokio::spawn(async move {
        if let Err(e) = store
            .record_terminal_report(terminal_id.clone(), report, now)
            .await
        {
            tracing::warn!(%terminal_id, error = %e, "what the terminal said of itself was not kept");
        }
    });
}

/// An authenticated admin call.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl<S: HubStore> FromRequestParts<AppState<S>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "admin calls need `Authorization: Bearer <admin token>`",
            ));
        };
        if same(&sha256(token.as_bytes()), &state.admin_token_hash) {
            Ok(AdminAuth)
        } else {
            tracing::warn!("admin call with a wrong token refused");
            Err(ApiError::unauthorized("wrong admin token"))
        }
    }
}

/// An authenticated call of the catalogue feed: the retailer's stock system, with the token
/// of `catalog_token_file` (not a terminal's, not the admin's).
#[derive(Debug, Clone, Copy)]
pub struct CatalogAuth;

impl<S: HubStore> FromRequestParts<AppState<S>> for CatalogAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.catalog_token_hash else {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                tenpo_protocol::ErrorCode::NotFound,
                "the catalogue feed is off at this hub: the administrator turns it on with \
                 catalog_token_file (or --catalog-token-file)",
            ));
        };
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "catalogue feed calls need `Authorization: Bearer <catalogue token>`",
            ));
        };
        if same(&sha256(token.as_bytes()), &expected) {
            Ok(CatalogAuth)
        } else {
            tracing::warn!("catalogue feed call with a wrong token refused");
            Err(ApiError::unauthorized(
                "wrong catalogue token (the feed has a token of its own: not a terminal's, not \
                 the admin token)",
            ))
        }
    }
}
