//! Favourites on the member card page in LINE (docs/design.md §11): the member searches the
//! catalogue, hearts an item (a wish: tell me when it is back, cheaper, or the last one at my
//! store) and sees and removes their wishes. Each request carries LINE's ID token (`id_token`),
//! as the card's own requests do: the hub finds the member from it, never from the body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::WishKind;

/// The longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The most items one search answers.
pub const MAX_SEARCH_RESULTS: u32 = 20;
/// The longest sku or wished item, in characters (the catalogue feed's limit).
pub const MAX_ITEM_CHARS: usize = 64;

/// `POST /v1/cards/me/catalog/search`: items whose name, sku or barcode holds `query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogSearchRequest {
    /// LINE's ID token (`liff.getIDToken()`).
    pub id_token: String,
    /// A name, an item code or a barcode: 1 to 100 characters on one line (trimmed).
    pub query: String,
}

/// `200` for `POST /v1/cards/me/catalog/search`: at most 20 items, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CatalogSearchResponse {
    pub items: Vec<CatalogHit>,
}

/// An item found, as the member reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CatalogHit {
    /// The retailer's item code: what a heart sends (`POST /v1/cards/me/wishes/add`).
    pub sku: String,
    /// In the member's language (the Japanese name when the catalogue has no English one).
    pub name: String,
    /// The price now, tax included.
    pub price_yen: i64,
    /// The item's picture (`https`), when the catalogue has one.
    #[serde(default)]
    pub image_url: Option<String>,
    /// At least one store has one now.
    pub in_stock: bool,
    /// The member already wishes for it (the heart is filled).
    pub wished: bool,
}

/// `POST /v1/cards/me/wishes/add`: a heart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WishAddRequest {
    pub id_token: String,
    /// An item of the catalogue (its sku).
    pub sku: String,
    /// What to hear about; absent: all three (a heart means "tell me about this"). Given, at
    /// least one.
    #[serde(default)]
    #[schema(value_type = Option<Vec<WishKindName>>)]
    pub wants: Option<Vec<WishKind>>,
}

/// `POST /v1/cards/me/wishes/remove`: every kind of the member's wish for `item`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WishRemoveRequest {
    pub id_token: String,
    /// A wish's `item` as listed, or an item's sku.
    pub item: String,
}

/// `200` for the wish endpoints (`POST /v1/cards/me/wishes`, `/add`, `/remove`): the member's
/// wishes now, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WishesResponse {
    pub wishes: Vec<MyWish>,
}

/// One of the member's wishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MyWish {
    /// What the wish names (a sku, or the barcode scanned at the counter): what removing it
    /// takes.
    pub item: String,
    /// What the member will hear about, each once.
    #[schema(value_type = Vec<WishKindName>)]
    pub kinds: Vec<WishKind>,
    /// The catalogue's item, once the catalogue has it.
    #[serde(default)]
    pub sku: Option<String>,
    /// In the member's language; `None` while the catalogue does not have the item.
    #[serde(default)]
    pub name: Option<String>,
    /// The item's price now.
    #[serde(default)]
    pub price_yen: Option<i64>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// When the wish was made (RFC 3339).
    pub created_at: String,
}

/// What a wish waits for, as the API document names it (`tenpo_protocol::events::WishKind`):
/// back in stock, cheaper than when wished, one left at the member's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WishKind)]
pub enum WishKindName {
    Restock,
    PriceDrop,
    LastOne,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_heart_without_wants_is_every_kind_and_unknown_fields_are_refused() {
        let add: WishAddRequest =
            serde_json::from_str(r#"{"id_token":"t","sku":"tea-500"}"#).unwrap();
        assert_eq!(add.wants, None);
        let add: WishAddRequest =
            serde_json::from_str(r#"{"id_token":"t","sku":"a","wants":["price_drop"]}"#).unwrap();
        assert_eq!(add.wants, Some(vec![WishKind::PriceDrop]));
        assert!(
            serde_json::from_str::<WishAddRequest>(
                r#"{"id_token":"t","sku":"a","wants":["soon"]}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<CatalogSearchRequest>(r#"{"id_token":"t","query":"a","n":1}"#)
                .is_err()
        );
        // The document's names are the wire's.
        for (name, kind) in [
            (WishKindName::Restock, WishKind::Restock),
            (WishKindName::PriceDrop, WishKind::PriceDrop),
            (WishKindName::LastOne, WishKind::LastOne),
        ] {
            assert_eq!(
                serde_json::to_value(name).unwrap(),
                serde_json::to_value(kind).unwrap()
            );
        }
    }
}
