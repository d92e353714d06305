//! Wire types of the hub's catalogue feed (`/v1/catalog/...`, `Authorization: Bearer <catalogue
//! token>`) and of the notification report (docs/design.md §11).
//!
//! The retailer's stock system sends items and stock per store in batches. Each batch has an id:
//! the same batch sent again gets the first answer and changes nothing, so a feed that is not
//! sure a batch arrived sends it again. A row may also carry a `version`: a row older than what
//! the hub holds is skipped as `stale`, so batches that overtake each other do no harm. A bad row
//! is reported with its index and reason, and the rest of the batch is applied.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most rows in one feed request: a larger load is sent as several batches.
pub const MAX_CATALOG_ROWS: usize = 10_000;

/// `PUT /v1/catalog/items`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsBatch {
    /// The feed's id for this batch (1 to 64 printable characters).
    pub batch_id: String,
    pub items: Vec<CatalogItem>,
}

/// An item of the retailer's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    /// The retailer's item code (1 to 64 printable characters).
    pub sku: String,
    /// The product's barcode (JAN/EAN-13, EAN-8 or UPC-A, check digit checked), which is what a
    /// till scans.
    #[serde(default)]
    pub jan: Option<String>,
    pub name: ItemName,
    /// The price a customer pays now, tax included, in yen.
    pub price_yen: i64,
    /// An `https` URL of the item's picture.
    #[serde(default)]
    pub image_url: Option<String>,
    /// An `https` URL of the item's page; a notification's link leads there.
    #[serde(default)]
    pub url: Option<String>,
    /// The feed's version of this row; an older one than the hub holds is skipped.
    #[serde(default)]
    pub version: Option<u64>,
}

/// An item's name in the member's languages: Japanese always, English when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemName {
    pub ja: String,
    #[serde(default)]
    pub en: Option<String>,
}

/// `PUT /v1/catalog/stock`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBatch {
    pub batch_id: String,
    pub stock: Vec<StockLevel>,
}

/// How many of an item a store has now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockLevel {
    pub sku: String,
    pub store_id: String,
    pub quantity: i64,
    #[serde(default)]
    pub version: Option<u64>,
}

/// `200` for a feed batch: what the hub did with each row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchReport {
    pub batch_id: String,
    /// `false`: this is the answer given when the batch first arrived; nothing was done now.
    pub first_time: bool,
    /// Rows that changed what the hub holds.
    pub applied: u64,
    /// Rows the hub already held as they are.
    pub unchanged: u64,
    /// Rows older (by `version`) than what the hub holds: skipped.
    pub stale: u64,
    /// Rows refused, each with why: the rest of the batch is applied.
    pub rejected: Vec<RejectedRow>,
    /// Notifications the batch's changes queued (restock, price drop, last one).
    pub notifications: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedRow {
    /// The row's place in the batch, from 0 (for a CSV load: its line).
    pub index: u64,
    pub sku: Option<String>,
    pub reason: String,
}

/// `GET /v1/admin/reports/notifications`: the weeks from the Monday of `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationReportQuery {
    /// First day (YYYY-MM-DD, the hub's time zone).
    pub from: String,
    /// Last day, included.
    pub to: String,
}

/// What the notifications of one week, kind and channel brought in. A notification belongs to
/// the week (Monday to Sunday, the hub's time zone) it was queued in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationReportRow {
    /// The week's Monday.
    pub week: String,
    /// restock | price_drop | last_one
    pub kind: String,
    /// line | email
    pub channel: String,
    /// Queued for the member.
    pub sent: u64,
    /// Taken by LINE or the mail server.
    pub delivered: u64,
    /// Whose link the member opened.
    pub clicked: u64,
    /// Followed by a purchase of the item by the member within the attribution window (the
    /// first notification of the item wins; a refunded line no longer counts).
    pub bought: u64,
    /// The yen of those purchases, less what was refunded.
    pub yen: i64,
    /// `bought / delivered`, 0 when nothing was delivered.
    pub conversion_rate: f64,
}

/// `200` for `GET /v1/admin/reports/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationReport {
    pub from: String,
    pub to: String,
    /// Days after a notification a purchase is attributed to it.
    pub attribution_days: u32,
    pub rows: Vec<NotificationReportRow>,
}

/// An item members wished for that the catalogue does not have: a mistyped barcode, or an item
/// the feed has not sent yet (`GET /v1/admin/wishes/unknown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnknownWishedItem {
    /// As scanned or typed.
    pub item: String,
    pub wishes: u64,
    /// When it was first asked for (RFC 3339).
    pub first_asked_at: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_batch_refuses_fields_it_does_not_know() {
        let ok = r#"{"batch_id":"b1","items":[{"sku":"a","name":{"ja":"お茶"},"price_yen":150}]}"#;
        let batch: ItemsBatch = serde_json::from_str(ok).unwrap();
        assert_eq!(batch.items[0].jan, None);
        let typo = ok.replace("price_yen", "price");
        assert!(serde_json::from_str::<ItemsBatch>(&typo).is_err());
    }
}
