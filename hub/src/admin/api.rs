//! The admin endpoints (`/v1/admin/...`), behind the admin token.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenpo_loyalty::RuleSet;

use crate::admin::{
    CouponRequest, EnrollmentCodeRequest, EnrollmentCodeResponse, ImportRequest, ListQuery,
    MAX_IMPORT_ROWS, ResolveHeldRequest, RevokeRequest, RulesLoaded, TerminalsQuery,
};
use crate::api::AppState;
use crate::api::auth::AdminAuth;
use crate::api::error::ApiError;
use crate::store::{HomeStores, HubStore};
use tenpo_edge::{Json, Path, Query, parse_json};

pub async fn enrollment_code<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Json(req): Json<EnrollmentCodeRequest>,
) -> Result<Response, ApiError> {
    tenpo_protocol::agent::check_id("store_id", &req.store_id)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if let Some(terminal) = &req.terminal_id {
        tenpo_protocol::agent::check_id("terminal_id", terminal)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let hours = req.valid_hours.unwrap_or(app.enrollment_code_hours);
    if !(1..=24 * 30).contains(&hours) {
        return Err(ApiError::invalid("valid_hours must be between 1 and 720"));
    }
    let now = Utc::now();
    let expires_at = now + chrono::Duration::hours(i64::from(hours));
    let code = app
        .store
        .create_enrollment_code(
            req.store_id.clone(),
            req.terminal_id.clone(),
            expires_at,
            now,
        )
        .await?;
    tracing::info!(store_id = %req.store_id, terminal_id = ?req.terminal_id, %expires_at, "enrolment code made");
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentCodeResponse {
            code,
            store_id: req.store_id,
            terminal_id: req.terminal_id,
            expires_at,
        }),
    )
        .into_response())
}

/// The body is the rule set as TOML, or as JSON with `Content-Type: application/json`.
pub async fn load_rules<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // TOML or JSON: the raw bytes, not the JSON extractor.
    let body = body?;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let rules: RuleSet = if is_json {
        parse_json(&body)?
    } else {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::invalid("the rule set is not UTF-8 text"))?;
        toml::from_str(text).map_err(|e| ApiError::invalid(format!("the rule set: {e}")))?
    };
    rules
        .validate()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let loaded = RulesLoaded {
        version: rules.version,
        name: rules.name.clone(),
    };
    app.store.load_rules(rules, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(loaded)).into_response())
}

pub async fn import_members<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Json(req): Json<ImportRequest>,
) -> Result<Response, ApiError> {
    if let Some(row) = req.rows.iter().find(|r| i64::try_from(r.line).is_err()) {
        return Err(ApiError::invalid(format!(
            "line {} is not a line number of any file",
            row.line
        )));
    }
    if req.rows.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::invalid(format!(
            "{} rows in one request; at most {MAX_IMPORT_ROWS}",
            req.rows.len()
        )));
    }
    let now = Utc::now();
    let rows = req.rows.len();
    let report = app
        .store
        .import_members(req.rows, app.business_date(now), now)
        .await?;
    tracing::info!(
        rows,
        imported = report.imported,
        rejected = report.rejected.len(),
        "members imported"
    );
    Ok(Json(report).into_response())
}

pub async fn issue_coupons<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Json(req): Json<CouponRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let report = app
        .store
        .issue_coupons(req, HomeStores::All, app.business_date(now), now)
        .await?;
    Ok(Json(report).into_response())
}

pub async fn revoke_code<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Json(req): Json<RevokeRequest>,
) -> Result<Response, ApiError> {
    let revoked = app.store.revoke_code(req.code, Utc::now()).await?;
    Ok(Json(revoked).into_response())
}

fn list_query(q: ListQuery) -> Result<ListQuery, ApiError> {
    if !(1..=1000).contains(&q.limit.unwrap_or(100)) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    Ok(q)
}

fn list_args(query: ListQuery) -> Result<(i64, u32), ApiError> {
    let q = list_query(query)?;
    Ok((q.after.unwrap_or(0), q.limit.unwrap_or(100)))
}

pub async fn conflicts<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = list_args(query)?;
    Ok(Json(app.store.conflicts(after, limit).await?).into_response())
}

pub async fn discrepancies<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let q = list_query(query)?;
    const CLASSES: [&str; 6] = [
        "stamps",
        "tier",
        "balance",
        "rules_unknown",
        "amount",
        "unclassified",
    ];
    if let Some(class) = &q.class
        && !CLASSES.contains(&class.as_str())
    {
        return Err(ApiError::invalid(format!(
            "class must be one of {}",
            CLASSES.join(", ")
        )));
    }
    let (after, limit) = (q.after.unwrap_or(0), q.limit.unwrap_or(100));
    Ok(Json(app.store.discrepancies(after, limit, q.class).await?).into_response())
}

/// `GET /v1/admin/held`: outcomes held for review (`?open=true`: those still waiting).
pub async fn held<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let q = list_query(query)?;
    let (after, limit) = (q.after.unwrap_or(0), q.limit.unwrap_or(100));
    let open = q.open.unwrap_or(false);
    Ok(Json(app.store.held(after, limit, open).await?).into_response())
}

/// `POST /v1/admin/held/{terminal_id}/{seq}`: release or dismiss a held outcome, with a reason.
pub async fn resolve_held<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Path((terminal_id, seq)): Path<(String, u64)>,
    Json(req): Json<ResolveHeldRequest>,
) -> Result<Response, ApiError> {
    let view = app
        .store
        .resolve_held(terminal_id, seq, req.action, req.reason, Utc::now())
        .await?;
    Ok(Json(view).into_response())
}

/// `GET /v1/admin/terminals/{terminal_id}/events?after=SEQ&limit=N`: the audit path.
/// `GET /v1/admin/terminals`: the enrolled terminals, a page at a time.
pub async fn terminals<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Query(query): Query<TerminalsQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let after = query.after.unwrap_or_default();
    // Characters, as the document's `maxLength` counts them (not bytes).
    if after.chars().count() > 64 {
        return Err(ApiError::invalid(
            "after is a terminal id: at most 64 characters",
        ));
    }
    Ok(Json(app.store.terminals(after, limit).await?).into_response())
}

pub async fn terminal_events<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Path(terminal_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let q = list_query(query)?;
    let after = u64::try_from(q.after.unwrap_or(0).max(0)).unwrap_or(0);
    let events = app
        .store
        .terminal_events(terminal_id, after, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(events).into_response())
}

/// `GET /v1/admin/terminals/{terminal_id}/sales/{sale_id}`: did the sale arrive, what was
/// applied.
pub async fn terminal_sale<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Path((terminal_id, sale_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(app.store.terminal_sale(terminal_id, sale_id).await?).into_response())
}

/// `GET /v1/admin/members/{code}/messages/{scenario}/preview`: what a scenario would send the
/// member now, in their language. Nothing is written or sent.
pub async fn preview_message<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Path((code, scenario)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    use super::preview::{PreviewRefused, preview};
    use crate::scenarios::PreviewError;
    use axum::http::StatusCode;
    use tenpo_protocol::ErrorCode;
    let shown = match preview(&app, &code, &scenario).await {
        Ok(p) => p,
        Err(e @ PreviewRefused::Scenario(PreviewError::Unknown(_))) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                e.to_string(),
            ));
        }
        Err(e @ PreviewRefused::NoMember) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::MemberNotFound,
                e.to_string(),
            ));
        }
        Err(PreviewRefused::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::invalid(e.to_string())),
    };
    let messages = shown
        .messages
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid(format!("the message cannot be shown: {e}")))?;
    Ok(Json(tenpo_protocol::admin::MessagePreview {
        scenario,
        class: shown.class.as_str().to_owned(),
        language: shown.language.as_str().to_owned(),
        messages,
    })
    .into_response())
}
