//! Favourites on the member card page in LINE (docs/design.md §11): the member searches the
//! catalogue, hearts an item, and sees and removes their wishes. Each request carries LINE's ID
//! token, checked as the card's are ([`super::card::member_of`]): a member reaches their own
//! wishes only.
//!
//! - `POST /v1/cards/me/catalog/search`: at most [`MAX_SEARCH_RESULTS`] items whose name, sku
//!   or barcode holds the text, named in the member's language, with whether any store has one
//!   and whether the member already wishes for it.
//! - `POST /v1/cards/me/wishes`: the member's wishes, newest first.
//! - `POST /v1/cards/me/wishes/add`: a heart. The item must be in the catalogue; `wants`
//!   absent is all three kinds (a heart means "tell me about this"). The member's home store's
//!   stock is watched (the store's `add_wish`); a second heart changes nothing, and a wish made
//!   at the counter for the same item (by its barcode) takes the new kinds rather than becoming
//!   a second wish.
//! - `POST /v1/cards/me/wishes/remove`: every kind of the member's wish for an item, named as
//!   listed or by its sku.
//!
//! Bad input is a `422` (a `404` for an item the catalogue does not have, or a wish the member
//! does not have) with nothing changed. What a member wishes for is theirs: it is not logged.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenpo_protocol::ErrorCode;
use tenpo_protocol::events::WishKind;
use tenpo_protocol::signup::favourites::{MAX_ITEM_CHARS, MAX_QUERY_CHARS, MAX_SEARCH_RESULTS};
use tenpo_protocol::signup::{
    CatalogHit, CatalogSearchRequest, CatalogSearchResponse, CompleteRequest, MyWish,
    WishAddRequest, WishRemoveRequest, WishesResponse,
};

use super::card::member_of;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::HubStore;
use crate::store::catalog::{ItemView, WishView};
use crate::store::outbox::Language;
use tenpo_edge::Json;

/// The search text, trimmed, or what is wrong with it.
pub fn check_query(text: &str) -> Result<&str, String> {
    let query = text.trim();
    if query.is_empty() {
        return Err("type a name, an item code or a barcode to search for".into());
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(format!(
            "the search text is at most {MAX_QUERY_CHARS} characters"
        ));
    }
    if query.chars().any(char::is_control) {
        return Err("the search text is one line, without control characters".into());
    }
    Ok(query)
}

/// A sku or wished item as sent, or what is wrong with it (`what`: the field's name).
pub fn check_item<'a>(text: &'a str, what: &str) -> Result<&'a str, String> {
    if text.trim().is_empty()
        || text.chars().count() > MAX_ITEM_CHARS
        || text.chars().any(char::is_control)
    {
        return Err(format!(
            "`{what}` is 1 to {MAX_ITEM_CHARS} characters, without control characters"
        ));
    }
    Ok(text)
}

/// The kinds a heart asks for: all three when not said; said, at least one.
pub fn wanted(wants: Option<&[WishKind]>) -> Result<Vec<WishKind>, String> {
    match wants {
        None => Ok(WishKind::ALL.to_vec()),
        Some([]) => Err("choose at least one of restock, price_drop and last_one".into()),
        Some(kinds) => Ok(kinds.to_vec()),
    }
}

/// The name a member reads: English for an English reader when the catalogue has it.
fn name_in(language: Language, ja: &str, en: Option<&str>) -> String {
    match (language, en) {
        (Language::En, Some(en)) if !en.trim().is_empty() => en.to_owned(),
        _ => ja.to_owned(),
    }
}

/// Whether a wish is for the item `sku` (or names it as sent).
fn wish_names(wish: &WishView, sku: &str) -> bool {
    wish.item == sku || wish.sku.as_deref() == Some(sku)
}

/// The catalogue's item `sku`, if it has it.
async fn catalogue_item<S: HubStore>(
    app: &AppState<S>,
    sku: &str,
) -> Result<Option<ItemView>, ApiError> {
    Ok(app.store.catalog_item(sku.to_owned()).await?)
}

/// The member's wishes as the page shows them, named in their language.
fn listed(wishes: Vec<WishView>, language: Language) -> WishesResponse {
    let mut out = Vec::with_capacity(wishes.len());
    for w in wishes {
        let name = w
            .name
            .as_deref()
            .map(|ja| name_in(language, ja, w.name_en.as_deref()));
        out.push(MyWish {
            item: w.item,
            kinds: w.kinds,
            sku: w.sku,
            name,
            price_yen: w.price_yen,
            image_url: w.image_url,
            created_at: w.created_at,
        });
    }
    WishesResponse { wishes: out }
}

async fn language_of<S: HubStore>(
    app: &AppState<S>,
    member_id: &str,
) -> Result<Language, ApiError> {
    Ok(app
        .store
        .member_profile(member_id.to_owned())
        .await?
        .language)
}

pub async fn search<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CatalogSearchRequest>,
) -> Result<Response, ApiError> {
    let (_, member) = member_of(&app, &req.id_token, Utc::now()).await?;
    let query = check_query(&req.query).map_err(ApiError::invalid)?;
    let language = language_of(&app, &member.member_id).await?;
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    let items = app
        .store
        .search_catalog(query.to_owned(), MAX_SEARCH_RESULTS)
        .await?;
    let items = items
        .into_iter()
        .map(|i| CatalogHit {
            wished: wishes.iter().any(|w| wish_names(w, &i.sku)),
            name: name_in(language, &i.name_ja, i.name_en.as_deref()),
            sku: i.sku,
            price_yen: i.price_yen,
            image_url: i.image_url,
            in_stock: i.in_stock_at > 0,
        })
        .collect();
    Ok(Json(CatalogSearchResponse { items }).into_response())
}

pub async fn list<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let (_, member) = member_of(&app, &req.id_token, Utc::now()).await?;
    let language = language_of(&app, &member.member_id).await?;
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    Ok(Json(listed(wishes, language)).into_response())
}

pub async fn add<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<WishAddRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (_, member) = member_of(&app, &req.id_token, now).await?;
    let sku = check_item(&req.sku, "sku").map_err(ApiError::invalid)?;
    let wants = wanted(req.wants.as_deref()).map_err(ApiError::invalid)?;
    let Some(found) = catalogue_item(&app, sku).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{sku:?} is not in the catalogue: search for the item again"),
        ));
    };
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    // One wish per item: one made at the counter (by its barcode) takes the new kinds.
    let key = wishes
        .iter()
        .find(|w| wish_names(w, &found.sku))
        .map_or_else(|| found.sku.clone(), |w| w.item.clone());
    let new = app
        .store
        .add_wish(member.member_id.clone(), key, wants, now)
        .await?;
    tracing::info!(member_id = %member.member_id, new_kinds = new, "wish made in LINE");
    let language = language_of(&app, &member.member_id).await?;
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    Ok(Json(listed(wishes, language)).into_response())
}

pub async fn remove<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<WishRemoveRequest>,
) -> Result<Response, ApiError> {
    let (_, member) = member_of(&app, &req.id_token, Utc::now()).await?;
    let item = check_item(&req.item, "item").map_err(ApiError::invalid)?;
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    let gone: BTreeSet<String> = wishes
        .iter()
        .filter(|w| wish_names(w, item))
        .map(|w| w.item.clone())
        .collect();
    if gone.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{item:?} is not among your favourites"),
        ));
    }
    let mut removed = 0;
    for wished in gone {
        removed += app
            .store
            .remove_wish(member.member_id.clone(), wished)
            .await?;
    }
    tracing::info!(member_id = %member.member_id, removed, "wish removed in LINE");
    let language = language_of(&app, &member.member_id).await?;
    let wishes = app.store.member_wishes(member.member_id.clone()).await?;
    Ok(Json(listed(wishes, language)).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn search_text_and_items_are_checked() {
        assert_eq!(check_query("  お茶 ").unwrap(), "お茶");
        assert_eq!(check_query(&"茶".repeat(100)).unwrap().chars().count(), 100);
        for (bad, words) in [
            ("", "type a name"),
            ("   ", "type a name"),
            (&*"茶".repeat(101), "at most 100"),
            ("tea\0", "control characters"),
            ("tea\nleaf", "control characters"),
        ] {
            assert!(check_query(bad).unwrap_err().contains(words), "{bad:?}");
        }
        assert_eq!(check_item("tea-500", "sku").unwrap(), "tea-500");
        for bad in ["", " ", "a\0b", &"x".repeat(65)] {
            assert!(
                check_item(bad, "sku")
                    .unwrap_err()
                    .contains("`sku` is 1 to 64")
            );
        }
        assert_eq!(wanted(None).unwrap(), WishKind::ALL.to_vec());
        assert_eq!(
            wanted(Some(&[WishKind::Restock])).unwrap(),
            [WishKind::Restock]
        );
        assert!(wanted(Some(&[])).unwrap_err().contains("at least one"));
        assert_eq!(
            name_in(Language::En, "緑茶", Some("Green tea")),
            "Green tea"
        );
        assert_eq!(name_in(Language::En, "緑茶", None), "緑茶");
        assert_eq!(name_in(Language::Ja, "緑茶", Some("Green tea")), "緑茶");
    }
}
