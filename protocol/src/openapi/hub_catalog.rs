//! The hub document's part on wishes (docs/design.md §11): the retailer's catalogue feed (tag
//! `catalog`, its own token), the member's favourites on the card page, the counted link and
//! email's unsubscribe pages, and the admin API's reports on wishes (tag `admin`). Merged into
//! [`super::hub_api`].

use utoipa::OpenApi;

use crate::catalog::{
    BatchReport, CatalogItem, ItemName, ItemsBatch, NotificationReport, NotificationReportRow,
    RejectedRow, StockBatch, StockLevel, UnknownWishedItem,
};
use crate::error::ErrorBody;
use crate::signup::{
    CatalogHit, CatalogSearchRequest, CatalogSearchResponse, CompleteRequest, MyWish,
    WishAddRequest, WishKindName, WishRemoveRequest, WishesResponse,
};

#[derive(OpenApi)]
#[openapi(
    paths(
        catalog_items,
        catalog_stock,
        admin_notification_report,
        admin_unknown_wishes,
        my_catalog_search,
        my_wishes,
        my_wish_add,
        my_wish_remove,
        notification_link,
        unsubscribe_page,
        unsubscribe_one_click
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
        UnknownWishedItem,
        CatalogSearchRequest,
        CatalogSearchResponse,
        CatalogHit,
        WishAddRequest,
        WishRemoveRequest,
        WishesResponse,
        MyWish,
        WishKindName
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

#[utoipa::path(
    get,
    path = "/r/{link_id}",
    tag = "wishes",
    params(("link_id" = String, Path, description = "the 32 hex digits of a notification's link")),
    responses(
        (status = 303, description = "counted; on to the item's page (`Location`)"),
        (status = 200, content_type = "text/html; charset=utf-8", body = String,
            description = "counted; the item has no page of its own"),
        (status = 404, body = ErrorBody, description = "no such link"),
    )
)]
#[allow(dead_code)]
fn notification_link() {}

#[utoipa::path(
    get,
    path = "/u/{token}",
    tag = "wishes",
    params(
        ("token" = String, Path, description = "the signed token of an email's unsubscribe link"),
        ("lang" = Option<String>, Query, description = "`ja` or `en`: the page's language"),
    ),
    responses(
        (status = 200, content_type = "text/html; charset=utf-8", body = String,
            description = "a page asking to confirm (nothing changes until it is sent)"),
        (status = 400, content_type = "text/html; charset=utf-8", body = String,
            description = "not a link the hub made"),
    )
)]
#[allow(dead_code)]
fn unsubscribe_page() {}

#[utoipa::path(
    post,
    path = "/u/{token}",
    tag = "wishes",
    params(("token" = String, Path, description = "the signed token of an email's unsubscribe link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`List-Unsubscribe=One-Click` (RFC 8058), or the confirm page's form"),
    responses(
        (status = 200, content_type = "text/html; charset=utf-8", body = String,
            description = "no more email to this member"),
        (status = 400, content_type = "text/html; charset=utf-8", body = String,
            description = "not a link the hub made, or not a one-click request"),
        (status = 413, body = ErrorBody, description = "a body over 8 KiB"),
        (status = 503, content_type = "text/html; charset=utf-8", body = String,
            description = "the hub cannot record it now; nothing changed, try again"),
    )
)]
#[allow(dead_code)]
fn unsubscribe_one_click() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/catalog/search",
    tag = "signup",
    request_body = CatalogSearchRequest,
    responses(
        (status = 200, body = CatalogSearchResponse, description = "at most 20 items whose name, sku or barcode holds the text, in the member's language, with whether any store has one and whether the member wishes for it"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "the text is empty, longer than 100 characters or has control characters"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_catalog_search() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/wishes",
    tag = "signup",
    request_body = CompleteRequest,
    responses(
        (status = 200, body = WishesResponse, description = "the member's wishes, newest first, with their items' names in the member's language"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_wishes() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/wishes/add",
    tag = "signup",
    request_body = WishAddRequest,
    responses(
        (status = 200, body = WishesResponse, description = "the wish is kept (once per item and kind: a second heart changes nothing); the member's wishes now"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "`not_found`: the item is not in the catalogue; `member_not_found`: this LINE account is not a member; nothing kept"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "a sku that cannot be one (empty, too long, control characters), an empty or unknown kind; nothing kept"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_wish_add() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/wishes/remove",
    tag = "signup",
    request_body = WishRemoveRequest,
    responses(
        (status = 200, body = WishesResponse, description = "the wish is gone (every kind); the member's wishes now"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "`not_found`: the member has no wish for this item; `member_not_found`: this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "an item that cannot be one (empty, too long, control characters)"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_wish_remove() {}
