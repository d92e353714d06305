//! The admin API's reports on wishes (docs/design.md §11): what notifications brought in, per
//! week, kind and channel, and the items members wished for that the catalogue lacks.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tenpo_protocol::catalog::{NotificationReport, NotificationReportQuery};

use crate::api::AppState;
use crate::api::auth::AdminAuth;
use crate::api::error::ApiError;
use crate::store::HubStore;
use crate::wishes::report;
use tenpo_edge::{Json, Query};

/// `GET /v1/admin/reports/notifications?from=YYYY-MM-DD&to=YYYY-MM-DD`: the weeks from the
/// Monday of `from` to `to`, in the hub's time zone.
pub async fn notifications<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
    Query(query): Query<NotificationReportQuery>,
) -> Result<Response, ApiError> {
    let window =
        report::window(&query, app.time_zone).map_err(|e| ApiError::invalid(e.to_string()))?;
    let facts = app.store.notice_facts(window.start, window.end).await?;
    Ok(Json(NotificationReport {
        from: window.first_day.to_string(),
        to: window.last_day.to_string(),
        attribution_days: app.attribution_days,
        rows: report::aggregate(&facts, app.time_zone),
    })
    .into_response())
}

/// `GET /v1/admin/wishes/unknown`: items asked for that the catalogue does not have (a mistyped
/// barcode, or an item the feed has not sent yet), the most wished first.
pub async fn unknown_wishes<S: HubStore>(
    State(app): State<AppState<S>>,
    _: AdminAuth,
) -> Result<Response, ApiError> {
    Ok(Json(app.store.unknown_wished_items().await?).into_response())
}
