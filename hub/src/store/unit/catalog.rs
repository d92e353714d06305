//! The retailer's catalogue feed and what its changes set off (docs/design.md §11), for both
//! backends: a batch is answered once; each row is checked alone (a bad one is reported, the
//! rest applied), skipped when older than what is held, and written; then the wishes on what
//! changed are looked at, and those whose moment has come notify ([`super::wishes::notify`]).
//!
//! The statements are batch-shaped (the items of a batch in one read, one write), so a backend
//! that pays a round trip per statement pays a few per batch, not a few per row.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tenpo_protocol::catalog::{
    BatchReport, CatalogItem, ItemsBatch, RejectedRow, StockBatch, StockLevel,
};
use tenpo_protocol::events::WishKind;

use super::wishes::{Notifying, WishRow, WishStatements, notify};
use crate::store::{StoreError, to_json};

/// An item as held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemRow {
    pub sku: String,
    pub jan: Option<String>,
    pub name_ja: String,
    pub name_en: Option<String>,
    pub price_yen: i64,
    pub image_url: Option<String>,
    pub url: Option<String>,
    pub version: i64,
}

/// A store's stock of an item as held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StockRow {
    pub sku: String,
    pub store_id: String,
    pub quantity: i64,
    pub version: i64,
}

/// The statements of the catalogue and of wishes.
pub(crate) trait CatalogStatements: WishStatements {
    /// The content hash and answer of a batch taken before.
    async fn batch(&mut self, batch_id: &str) -> Result<Option<(String, String)>, StoreError>;
    async fn save_batch(
        &mut self,
        batch_id: &str,
        kind: &str,
        hash: &str,
        report_json: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The items held of `skus`.
    async fn items(&mut self, skus: &[&str]) -> Result<Vec<ItemRow>, StoreError>;
    /// Which skus hold these barcodes: `(jan, sku)`.
    async fn skus_of_jans(&mut self, jans: &[&str]) -> Result<Vec<(String, String)>, StoreError>;
    async fn upsert_items(
        &mut self,
        rows: &[ItemRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The stock held of these `(sku, store)`.
    async fn stock_levels(&mut self, keys: &[(&str, &str)]) -> Result<Vec<StockRow>, StoreError>;
    async fn upsert_stock(
        &mut self,
        rows: &[StockRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives the wishes asked by `code` (a barcode or sku) that waited for the catalogue their
    /// item, with its price now as the price they were made at.
    async fn resolve_wishes(
        &mut self,
        code: &str,
        sku: &str,
        price_yen: i64,
    ) -> Result<u64, StoreError>;
}

/// Most characters of an id (sku, store, batch), as everywhere on the wire.
const MAX_ID: usize = tenpo_protocol::limits::MAX_ID_LEN;
/// Longest item name.
const MAX_NAME: usize = 200;
/// Longest URL.
const MAX_URL: usize = 2000;
/// The dearest price or the largest stock taken (beyond is a feed's mistake).
const MAX_PRICE_YEN: i64 = 100_000_000;
const MAX_QUANTITY: i64 = 1_000_000_000;

fn check_id(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ID || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{what} must be 1 to {MAX_ID} printable characters"));
    }
    Ok(())
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(format!("{what} must be 1 to {max} characters on one line"));
    }
    Ok(())
}

fn check_url(what: &str, value: &str) -> Result<(), String> {
    match value.parse::<axum::http::Uri>() {
        Ok(u)
            if u.scheme_str() == Some("https") && u.host().is_some() && value.len() <= MAX_URL =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{what} must be an https URL of at most {MAX_URL} characters"
        )),
    }
}

/// A product barcode a till can scan: 8, 12 or 13 digits with a good check digit.
pub(crate) fn check_barcode(value: &str) -> Result<(), String> {
    let digits: Vec<u8> = value.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if digits.iter().any(|d| *d > 9) || ![8, 12, 13].contains(&digits.len()) {
        return Err(format!(
            "jan {value:?} must be 8, 12 or 13 digits (EAN-8, UPC-A, JAN)"
        ));
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    if tenpo_protocol::codes::gtin_check_digit(body) != check[0] {
        return Err(format!("jan {value:?} has a wrong check digit"));
    }
    Ok(())
}

/// One item of a batch checked alone.
fn check_item(item: &CatalogItem) -> Result<(), String> {
    check_id("sku", &item.sku)?;
    if let Some(jan) = &item.jan {
        check_barcode(jan)?;
    }
    check_text("name.ja", &item.name.ja, MAX_NAME)?;
    if let Some(en) = &item.name.en {
        check_text("name.en", en, MAX_NAME)?;
    }
    if !(0..=MAX_PRICE_YEN).contains(&item.price_yen) {
        return Err(format!(
            "price_yen {} must be 0 to {MAX_PRICE_YEN}",
            item.price_yen
        ));
    }
    if let Some(u) = &item.image_url {
        check_url("image_url", u)?;
    }
    if let Some(u) = &item.url {
        check_url("url", u)?;
    }
    version_of(item.version).map(|_| ())
}

fn check_stock(level: &StockLevel) -> Result<(), String> {
    check_id("sku", &level.sku)?;
    check_id("store_id", &level.store_id)?;
    if !(0..=MAX_QUANTITY).contains(&level.quantity) {
        return Err(format!(
            "quantity {} must be 0 to {MAX_QUANTITY}",
            level.quantity
        ));
    }
    version_of(level.version).map(|_| ())
}

/// A feed's version as held (0: the feed sends none).
fn version_of(version: Option<u64>) -> Result<i64, String> {
    i64::try_from(version.unwrap_or(0)).map_err(|_| "version is too large".to_owned())
}

/// What taking a batch began with: its hash, and the answer if it was taken before.
async fn seen(
    db: &mut impl CatalogStatements,
    batch_id: &str,
    hash: &str,
) -> Result<Option<BatchReport>, StoreError> {
    check_id("batch_id", batch_id).map_err(StoreError::Invalid)?;
    let Some((held_hash, report)) = db.batch(batch_id).await? else {
        return Ok(None);
    };
    if held_hash != hash {
        return Err(StoreError::Conflict(format!(
            "batch {batch_id:?} was taken before with other content: give a new batch a new id"
        )));
    }
    let mut report: BatchReport = crate::store::from_json("catalogue batch report", &report)?;
    report.first_time = false;
    Ok(Some(report))
}

fn report(batch_id: &str) -> BatchReport {
    BatchReport {
        batch_id: batch_id.to_owned(),
        first_time: true,
        applied: 0,
        unchanged: 0,
        stale: 0,
        rejected: Vec::new(),
        notifications: 0,
    }
}

fn reject(report: &mut BatchReport, index: usize, sku: Option<&str>, reason: String) {
    report.rejected.push(RejectedRow {
        index: index as u64,
        sku: sku.map(str::to_owned),
        reason,
    });
}

/// Takes a batch of items: new and changed items are written, wishes that waited for an item
/// get it, and a price below the one a member wished at notifies them.
pub(crate) async fn take_items(
    db: &mut impl CatalogStatements,
    ctx: &Notifying<'_>,
    batch: &ItemsBatch,
    hash: &str,
) -> Result<BatchReport, StoreError> {
    if let Some(answer) = seen(db, &batch.batch_id, hash).await? {
        return Ok(answer);
    }
    let mut report = report(&batch.batch_id);
    let mut good: Vec<(usize, &CatalogItem)> = Vec::new();
    let mut skus_seen = HashSet::new();
    for (i, item) in batch.items.iter().enumerate() {
        match check_item(item) {
            Err(reason) => reject(&mut report, i, Some(&item.sku), reason),
            Ok(()) if !skus_seen.insert(item.sku.as_str()) => reject(
                &mut report,
                i,
                Some(&item.sku),
                "the sku is in this batch twice: the first row is taken".into(),
            ),
            Ok(()) => good.push((i, item)),
        }
    }
    let skus: Vec<&str> = good.iter().map(|(_, i)| i.sku.as_str()).collect();
    let held: HashMap<String, ItemRow> = db
        .items(&skus)
        .await?
        .into_iter()
        .map(|r| (r.sku.clone(), r))
        .collect();
    let jans: Vec<&str> = good.iter().filter_map(|(_, i)| i.jan.as_deref()).collect();
    let jan_owner: HashMap<String, String> = db.skus_of_jans(&jans).await?.into_iter().collect();
    let mut jans_taken: HashMap<&str, &str> = HashMap::new();
    let mut writes = Vec::new();
    let mut cheaper = Vec::new();
    for (i, item) in good {
        let mut row = ItemRow {
            sku: item.sku.clone(),
            jan: item.jan.clone(),
            name_ja: item.name.ja.clone(),
            name_en: item.name.en.clone(),
            price_yen: item.price_yen,
            image_url: item.image_url.clone(),
            url: item.url.clone(),
            version: version_of(item.version).unwrap_or(0),
        };
        if let Some(jan) = item.jan.as_deref() {
            let owner = jans_taken
                .get(jan)
                .copied()
                .or_else(|| jan_owner.get(jan).map(String::as_str));
            if owner.is_some_and(|o| o != item.sku) {
                let reason = format!("jan {jan} is another item's ({})", owner.unwrap_or(""));
                reject(&mut report, i, Some(&item.sku), reason);
                continue;
            }
            jans_taken.insert(jan, &item.sku);
        }
        let before = held.get(&item.sku);
        if row.version == 0 {
            // A row without a version (a CSV load) keeps the one held.
            row.version = before.map_or(0, |o| o.version);
        }
        match before {
            Some(old) if row.version < old.version => report.stale += 1,
            Some(old) if *old == row => report.unchanged += 1,
            old => {
                if old.is_some_and(|o| o.price_yen != row.price_yen) {
                    cheaper.push(item.sku.as_str());
                }
                report.applied += 1;
                writes.push(row);
            }
        }
    }
    db.upsert_items(&writes, ctx.now).await?;
    for row in &writes {
        db.resolve_wishes(&row.sku, &row.sku, row.price_yen).await?;
        if let Some(jan) = &row.jan {
            db.resolve_wishes(jan, &row.sku, row.price_yen).await?;
        }
    }
    report.notifications = prices_changed(db, ctx, &cheaper, &writes).await?;
    report.rejected.sort_by_key(|r| r.index);
    db.save_batch(&batch.batch_id, "items", hash, &to_json(&report)?, ctx.now)
        .await?;
    Ok(report)
}

/// The price-drop wishes on items whose price changed: a price below the one wished at
/// notifies (once, until the price is back up); a price at or above it arms the wish again.
async fn prices_changed(
    db: &mut impl CatalogStatements,
    ctx: &Notifying<'_>,
    skus: &[&str],
    items: &[ItemRow],
) -> Result<u64, StoreError> {
    if skus.is_empty() {
        return Ok(0);
    }
    let price: HashMap<&str, i64> = items
        .iter()
        .map(|r| (r.sku.as_str(), r.price_yen))
        .collect();
    let wishes = db.wishes_on(skus).await?;
    let mut fire = Vec::new();
    let mut rearm = Vec::new();
    for w in wishes.iter().filter(|w| w.kind == WishKind::PriceDrop) {
        let (Some(sku), Some(wished)) = (w.sku.as_deref(), w.price_yen) else {
            continue;
        };
        let Some(&now) = price.get(sku) else { continue };
        if now < wished && !w.fired {
            fire.push((w, now));
        } else if now >= wished && w.fired {
            rearm.push(w);
        }
    }
    db.set_fired(&rearm, false).await?;
    let mut queued = 0;
    for (wish, price_now) in fire {
        let item = items
            .iter()
            .find(|i| Some(i.sku.as_str()) == wish.sku.as_deref());
        if let Some(item) = item
            && notify(db, ctx, wish, item, price_now, wish.price_yen).await?
        {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Takes a batch of stock levels: changes are written; a store's stock from 0 to more notifies
/// the restock wishes watching it, and a stock of exactly 1 the last-one wishes. A stock back
/// at 0 (restock) or other than 1 (last one) arms them again.
pub(crate) async fn take_stock(
    db: &mut impl CatalogStatements,
    ctx: &Notifying<'_>,
    batch: &StockBatch,
    hash: &str,
) -> Result<BatchReport, StoreError> {
    if let Some(answer) = seen(db, &batch.batch_id, hash).await? {
        return Ok(answer);
    }
    let mut report = report(&batch.batch_id);
    let mut good: Vec<(usize, &StockLevel)> = Vec::new();
    let mut keys_seen = HashSet::new();
    for (i, level) in batch.stock.iter().enumerate() {
        match check_stock(level) {
            Err(reason) => reject(&mut report, i, Some(&level.sku), reason),
            Ok(()) if !keys_seen.insert((level.sku.as_str(), level.store_id.as_str())) => reject(
                &mut report,
                i,
                Some(&level.sku),
                "the sku and store are in this batch twice: the first row is taken".into(),
            ),
            Ok(()) => good.push((i, level)),
        }
    }
    let skus: Vec<&str> = {
        let mut s: Vec<&str> = good.iter().map(|(_, l)| l.sku.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let known: HashMap<String, ItemRow> = db
        .items(&skus)
        .await?
        .into_iter()
        .map(|r| (r.sku.clone(), r))
        .collect();
    let keys: Vec<(&str, &str)> = good
        .iter()
        .filter(|(_, l)| known.contains_key(&l.sku))
        .map(|(_, l)| (l.sku.as_str(), l.store_id.as_str()))
        .collect();
    let held: HashMap<(String, String), StockRow> = db
        .stock_levels(&keys)
        .await?
        .into_iter()
        .map(|r| ((r.sku.clone(), r.store_id.clone()), r))
        .collect();
    let mut writes = Vec::new();
    // (sku, store, before, after) of every change that could start or end an episode.
    let mut moves: Vec<(usize, i64)> = Vec::new();
    for (i, level) in good {
        if !known.contains_key(&level.sku) {
            let reason = format!(
                "sku {:?} is not in the catalogue: send the item first",
                level.sku
            );
            reject(&mut report, i, Some(&level.sku), reason);
            continue;
        }
        let mut row = StockRow {
            sku: level.sku.clone(),
            store_id: level.store_id.clone(),
            quantity: level.quantity,
            version: version_of(level.version).unwrap_or(0),
        };
        let before = held.get(&(level.sku.clone(), level.store_id.clone()));
        if row.version == 0 {
            row.version = before.map_or(0, |o| o.version);
        }
        match before {
            Some(old) if row.version < old.version => report.stale += 1,
            Some(old) if old.quantity == row.quantity && old.version == row.version => {
                report.unchanged += 1
            }
            old => {
                let was = old.map_or(0, |o| o.quantity);
                report.applied += 1;
                let episode =
                    (was == 0) != (row.quantity == 0) || (was == 1) != (row.quantity == 1);
                if episode {
                    moves.push((writes.len(), was));
                }
                writes.push(row);
            }
        }
    }
    db.upsert_stock(&writes, ctx.now).await?;
    report.notifications = stock_moved(db, ctx, &writes, &moves, &known).await?;
    report.rejected.sort_by_key(|r| r.index);
    db.save_batch(&batch.batch_id, "stock", hash, &to_json(&report)?, ctx.now)
        .await?;
    Ok(report)
}

/// The restock and last-one wishes on stock that moved into or out of 0 or 1.
async fn stock_moved(
    db: &mut impl CatalogStatements,
    ctx: &Notifying<'_>,
    writes: &[StockRow],
    moves: &[(usize, i64)],
    items: &HashMap<String, ItemRow>,
) -> Result<u64, StoreError> {
    if moves.is_empty() {
        return Ok(0);
    }
    let mut skus: Vec<&str> = moves.iter().map(|(i, _)| writes[*i].sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    let wishes = db.wishes_on(&skus).await?;
    let mut fire: Vec<&WishRow> = Vec::new();
    let mut rearm: Vec<&WishRow> = Vec::new();
    for &(i, was) in moves {
        let row = &writes[i];
        let watching = wishes.iter().filter(|w| {
            w.sku.as_deref() == Some(row.sku.as_str())
                && w.store_id.as_deref().is_none_or(|s| s == row.store_id)
        });
        for w in watching {
            let (starts, ends) = match w.kind {
                WishKind::Restock => (was == 0 && row.quantity > 0, row.quantity == 0),
                WishKind::LastOne => (was != 1 && row.quantity == 1, row.quantity != 1),
                WishKind::PriceDrop => (false, false),
            };
            let listed = |v: &Vec<&WishRow>| v.iter().any(|x| std::ptr::eq(*x, w));
            if starts && !w.fired && !listed(&fire) {
                fire.push(w);
            } else if ends && w.fired && !listed(&rearm) {
                rearm.push(w);
            }
        }
    }
    db.set_fired(&rearm, false).await?;
    let mut queued = 0;
    for wish in fire {
        let Some(item) = wish.sku.as_deref().and_then(|s| items.get(s)) else {
            continue;
        };
        if notify(db, ctx, wish, item, item.price_yen, None).await? {
            queued += 1;
        }
    }
    Ok(queued)
}
