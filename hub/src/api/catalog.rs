//! The catalogue feed (docs/design.md §11): `PUT /v1/catalog/items` and `PUT /v1/catalog/stock`,
//! behind the catalogue token ([`CatalogAuth`]). Handlers check the batch's size, hash the body
//! as it arrived (a resend of the same bytes is recognised by the store and answered as the
//! first time) and hand the batch to the store, which checks each row.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::de::DeserializeOwned;
use tenpo_protocol::ErrorCode;
use tenpo_protocol::catalog::{BatchReport, ItemsBatch, MAX_CATALOG_ROWS, StockBatch};
use tenpo_protocol::events::content_hash_of;

use super::AppState;
use super::auth::CatalogAuth;
use super::error::ApiError;
use crate::store::HubStore;
use tenpo_edge::{Json, is_json, parse_json};

/// Body limit of the feed: a batch of [`MAX_CATALOG_ROWS`] items with long names and both URLs
/// (about 1.6 KiB a row) fits, as a push's largest does.
pub const CATALOG_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A JSON body, and the hex SHA-256 of its bytes as they arrived (refused as the edge's
/// `Json` refuses: `415` for another content type, `400` not JSON, `422` the wrong shape).
fn hashed_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, String), ApiError> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE)
        && !is_json(kind.to_str().unwrap_or_default())
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the batch as JSON with `Content-Type: application/json`",
        ));
    }
    let body = body?;
    let value = parse_json(&body)?;
    Ok((value, content_hash_of(&body)))
}

/// A batch of more rows than the feed takes at once is refused whole (`422`, as a push of too
/// many events is).
fn check_rows(rows: usize) -> Result<(), ApiError> {
    if rows > MAX_CATALOG_ROWS {
        return Err(ApiError::invalid(format!(
            "{rows} rows in one batch; at most {MAX_CATALOG_ROWS}: send the rest as further \
                 batches, each with its own batch_id (nothing of this one was taken)"
        )));
    }
    Ok(())
}

fn answer(what: &str, rows: usize, report: BatchReport) -> Response {
    tracing::info!(
        batch_id = %report.batch_id,
        rows,
        first_time = report.first_time,
        applied = report.applied,
        unchanged = report.unchanged,
        stale = report.stale,
        rejected = report.rejected.len(),
        notifications = report.notifications,
        "catalogue {what} batch taken"
    );
    Json(report).into_response()
}

/// `PUT /v1/catalog/items`: items of the retailer's catalogue.
pub async fn put_items<S: HubStore>(
    State(app): State<AppState<S>>,
    _: CatalogAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (batch, hash): (ItemsBatch, String) = hashed_json(&headers, body)?;
    let rows = batch.items.len();
    check_rows(rows)?;
    let report = app.store.take_items(batch, hash, Utc::now()).await?;
    Ok(answer("items", rows, report))
}

/// `PUT /v1/catalog/stock`: how many of each item each store has.
pub async fn put_stock<S: HubStore>(
    State(app): State<AppState<S>>,
    _: CatalogAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (batch, hash): (StockBatch, String) = hashed_json(&headers, body)?;
    let rows = batch.stock.len();
    check_rows(rows)?;
    let report = app.store.take_stock(batch, hash, Utc::now()).await?;
    Ok(answer("stock", rows, report))
}
