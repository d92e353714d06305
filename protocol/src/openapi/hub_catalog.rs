//! The hub document's part on wishes (docs/design.md §11): the retailer's catalogue feed (tag
//! `catalog`, its own token) and the admin API's reports on wishes (tag `admin`). Merged into
//! [`super::hub_api`].

use utoipa::OpenApi;

use crate::catalog::{
    BatchReport, CatalogItem, ItemName, ItemsBatch, NotificationReport, NotificationReportRow,
    RejectedRow, StockBatch, StockLevel, UnknownWishedItem,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    paths(
        catalog_items,
        catalog_stock,
        admin_notification_report,
        admin_unknown_wishes
    ),
    components(schemas(
        ItemsBatch,
        CatalogItem,
        ItemName,
        StockBatch,
        StockLevel,
        BatchReport,
        RejectedRow,
        NotificationReport,
        NotificationReportRow,
        UnknownWishedItem
    ))
)]
pub(super) struct CatalogApi;

#[utoipa::path(
    put,
    path = "/v1/catalog/items",
    tag = "catalog",
    description = "Items of the retailer's catalogue, in a batch of at most 10,000. The same \
                   batch (same `batch_id`, same bytes) sent again gets its first answer with \
                   `first_time: false` and changes nothing; a row older by `version` than what \
                   the hub holds is `stale`; a bad row is reported with its index and reason and \
                   the rest of the batch is applied.",
    security(("catalog" = [])),
    request_body = ItemsBatch,
    responses(
        (status = 200, body = BatchReport, description = "applied, unchanged, stale, each rejected row, notifications queued"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "no catalogue token, or another one (a terminal's, the admin token)"),
        (status = 404, body = ErrorBody, description = "the catalogue feed is off at this hub (`catalog_token_file` turns it on)"),
        (status = 409, body = ErrorBody, description = "this batch_id was taken before with other content"),
        (status = 413, body = ErrorBody, description = "the body is larger than 16 MiB"),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "more than 10,000 rows, a bad batch_id, or not a JSON object of this shape: nothing taken"),
        (status = 503, body = ErrorBody, description = "the database is away; nothing was written: send again later"),
    )
)]
#[allow(dead_code)]
fn catalog_items() {}

#[utoipa::path(
    put,
    path = "/v1/catalog/stock",
    tag = "catalog",
    description = "How many of each item each store has, in a batch of at most 10,000 (the item \
                   must be in the catalogue first). Batches and versions as for items. Stock \
                   from 0 to more, or of exactly 1, notifies the members who wished for it.",
    security(("catalog" = [])),
    request_body = StockBatch,
    responses(
        (status = 200, body = BatchReport, description = "applied, unchanged, stale, each rejected row, notifications queued"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "no catalogue token, or another one (a terminal's, the admin token)"),
        (status = 404, body = ErrorBody, description = "the catalogue feed is off at this hub (`catalog_token_file` turns it on)"),
        (status = 409, body = ErrorBody, description = "this batch_id was taken before with other content"),
        (status = 413, body = ErrorBody, description = "the body is larger than 16 MiB"),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "more than 10,000 rows, a bad batch_id, or not a JSON object of this shape: nothing taken"),
        (status = 503, body = ErrorBody, description = "the database is away; nothing was written: send again later"),
    )
)]
#[allow(dead_code)]
fn catalog_stock() {}

#[utoipa::path(
    get,
    path = "/v1/admin/reports/notifications",
    tag = "admin",
    security(("admin" = [])),
    params(
        ("from" = String, Query, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            description = "the first day (YYYY-MM-DD, the hub's time zone); the report starts on its week's Monday"),
        ("to" = String, Query, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            description = "the last day, included; at most 3 years after `from`"),
    ),
    responses(
        (status = 200, body = NotificationReport, description = "per week (Monday to Sunday in the hub's time zone), kind and channel: sent, delivered, clicked, bought, yen and bought / delivered; from the Monday of `from`"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a date that is not YYYY-MM-DD, `from` after `to`, or more than 3 years"),
        (status = 503, body = ErrorBody, description = "the database is away: ask again later"),
    )
)]
#[allow(dead_code)]
fn admin_notification_report() {}

#[utoipa::path(
    get,
    path = "/v1/admin/wishes/unknown",
    tag = "admin",
    security(("admin" = [])),
    responses(
        (status = 200, body = Vec<UnknownWishedItem>, description = "items wished for that the catalogue lacks (a mistyped barcode, an item not sent yet), the most wished first, at most 1000"),
        (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the database is away: ask again later"),
    )
)]
#[allow(dead_code)]
fn admin_unknown_wishes() {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_hub_document_has_the_feed_and_the_reports() {
        let doc = serde_json::to_value(super::super::hub_api()).unwrap();
        for (path, method, tag, security) in [
            ("/v1/catalog/items", "put", "catalog", "catalog"),
            ("/v1/catalog/stock", "put", "catalog", "catalog"),
            ("/v1/admin/reports/notifications", "get", "admin", "admin"),
            ("/v1/admin/wishes/unknown", "get", "admin", "admin"),
        ] {
            let op = &doc["paths"][path][method];
            assert_eq!(op["tags"][0], tag, "{path}");
            assert!(op["security"][0][security].is_array(), "{path}");
            // What any request can get is added here too.
            for status in ["200", "401", "408", "500"] {
                assert!(op["responses"][status].is_object(), "{path} lacks {status}");
            }
        }
        assert!(doc["components"]["securitySchemes"]["catalog"].is_object());
        for schema in [
            "ItemsBatch",
            "StockBatch",
            "BatchReport",
            "NotificationReport",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        let report = &doc["paths"]["/v1/admin/reports/notifications"]["get"];
        let params: Vec<&str> = report["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(params, ["from", "to"]);
        for p in report["parameters"].as_array().unwrap() {
            assert_eq!(p["in"], "query", "{p}");
            assert_eq!(p["required"], true, "{p}");
        }
    }
}
