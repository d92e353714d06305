//! What the catalogue store reads, and its small writes, on SQLite (schema migration 13): a
//! member's wishes, catalogue search, a notification's counted link, unsubscribing from email,
//! and what the report counts.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_protocol::catalog::UnknownWishedItem;
use tenpo_protocol::events::WishKind;

use crate::store::StoreError;
use crate::store::catalog::{ItemView, NoticeFacts, WishView};

pub(crate) fn remove_wish(
    tx: &Transaction<'_>,
    member_id: &str,
    item: &str,
) -> Result<u64, StoreError> {
    let n = tx
        .prepare_cached("DELETE FROM wishes WHERE member_id = ?1 AND item = ?2")?
        .execute([member_id, item])?;
    Ok(n as u64)
}

/// A member's wishes, one per item with its kinds, newest first.
pub(crate) fn member_wishes(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Vec<WishView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT w.item, w.kind, w.sku, i.name_ja, i.price_yen, i.image_url, w.created_at,
                i.name_en
         FROM wishes w LEFT JOIN catalog_items i ON i.sku = w.sku
         WHERE w.member_id = ?1 ORDER BY w.created_at DESC, w.item",
    )?;
    let rows = stmt.query_map([member_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            WishView {
                item: String::new(),
                kinds: Vec::new(),
                sku: r.get(2)?,
                name: r.get(3)?,
                name_en: r.get(7)?,
                price_yen: r.get(4)?,
                image_url: r.get(5)?,
                created_at: r.get(6)?,
            },
        ))
    })?;
    let mut views: Vec<WishView> = Vec::new();
    for row in rows {
        let (item, kind, view) = row?;
        let kind = WishKind::parse(&kind).ok_or(StoreError::Corrupt {
            what: "wish kind",
            detail: kind.clone(),
        })?;
        match views.iter_mut().find(|v| v.item == item) {
            Some(v) => v.kinds.push(kind),
            None => views.push(WishView {
                item,
                kinds: vec![kind],
                ..view
            }),
        }
    }
    for v in &mut views {
        v.kinds.sort_unstable();
    }
    Ok(views)
}

const ITEM_VIEW: &str = "SELECT i.sku, i.jan, i.name_ja, i.name_en, i.price_yen, i.image_url,
        (SELECT COUNT(*) FROM catalog_stock s WHERE s.sku = i.sku AND s.quantity > 0)
     FROM catalog_items i";

fn item_view(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemView> {
    Ok(ItemView {
        sku: r.get(0)?,
        jan: r.get(1)?,
        name_ja: r.get(2)?,
        name_en: r.get(3)?,
        price_yen: r.get(4)?,
        image_url: r.get(5)?,
        in_stock_at: r.get::<_, i64>(6)?.unsigned_abs(),
    })
}

pub(crate) fn item(tx: &Transaction<'_>, sku: &str) -> Result<Option<ItemView>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("{ITEM_VIEW} WHERE i.sku = ?1"))?
        .query_row([sku], item_view)
        .optional()?)
}

/// Items whose name, sku or barcode holds `query` (case-insensitive for ASCII), with the
/// number of stores that have one.
pub(crate) fn search(
    tx: &Transaction<'_>,
    query: &str,
    limit: u32,
) -> Result<Vec<ItemView>, StoreError> {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    let mut stmt = tx.prepare_cached(&format!(
        "{ITEM_VIEW}
         WHERE i.sku = ?1 OR i.jan = ?1 OR i.name_ja LIKE ?2 ESCAPE '\\'
            OR i.name_en LIKE ?2 ESCAPE '\\'
         ORDER BY i.sku = ?1 DESC, i.name_ja, i.sku LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![query, pattern, limit], item_view)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts a click on a link; `None` for a link the hub never made, else the item's page.
pub(crate) fn follow_link(
    tx: &Transaction<'_>,
    link_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Option<String>>, StoreError> {
    let clicked = tx
        .prepare_cached(
            "UPDATE notifications SET clicks = clicks + 1,
                 first_click_at = COALESCE(first_click_at, ?2)
             WHERE link_id = ?1 RETURNING sku",
        )?
        .query_row(params![link_id, now.to_rfc3339()], |r| {
            r.get::<_, String>(0)
        })
        .optional()?;
    let Some(sku) = clicked else { return Ok(None) };
    let url: Option<String> = tx
        .prepare_cached("SELECT url FROM catalog_items WHERE sku = ?1")?
        .query_row([sku], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(Some(url))
}

pub(crate) fn unknown_wished_items(
    tx: &Transaction<'_>,
) -> Result<Vec<UnknownWishedItem>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT item, COUNT(*), MIN(created_at) FROM wishes WHERE sku IS NULL
         GROUP BY item ORDER BY COUNT(*) DESC, item LIMIT 1000",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(UnknownWishedItem {
            item: r.get(0)?,
            wishes: r.get::<_, i64>(1)?.unsigned_abs(),
            first_asked_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The notifications queued in `[from, to)` with what became of them.
pub(crate) fn notice_facts(
    tx: &Transaction<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<NoticeFacts>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT n.id, n.kind, n.channel, n.created_ms,
                CASE WHEN n.channel = 'email' THEN n.email_state = 'sent'
                     ELSE COALESCE(m.state = 'sent', 0) END,
                n.clicks > 0,
                COALESCE(SUM(a.yen - a.refunded_yen), 0),
                COALESCE(MAX(a.yen - a.refunded_yen > 0), 0)
         FROM notifications n
         LEFT JOIN messages m ON m.id = n.message_row
         LEFT JOIN attributions a ON a.notification_id = n.id
         WHERE n.created_ms >= ?1 AND n.created_ms < ?2
         GROUP BY n.id ORDER BY n.id",
    )?;
    let rows = stmt.query_map(
        params![from.timestamp_millis(), to.timestamp_millis()],
        |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, bool>(7)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, channel, ms, delivered, clicked, yen, bought) = row?;
        let created_at = DateTime::from_timestamp_millis(ms).ok_or(StoreError::Corrupt {
            what: "notification time",
            detail: ms.to_string(),
        })?;
        out.push(NoticeFacts {
            kind,
            channel,
            created_at,
            delivered,
            clicked,
            yen,
            bought,
        });
    }
    Ok(out)
}

/// Stops email to a member; answers whether they were subscribed.
pub(crate) fn unsubscribe_email(
    tx: &Transaction<'_>,
    member_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE member_profiles SET email_unsubscribed = 1, updated_at = ?2
             WHERE member_id = ?1 AND email_unsubscribed = 0",
        )?
        .execute(params![member_id, now.to_rfc3339()])?;
    // Email already waiting goes nowhere now.
    tx.prepare_cached(
        "UPDATE notifications SET email_state = 'unreachable',
             last_error = 'the member unsubscribed from email'
         WHERE member_id = ?1 AND email_state = 'pending'",
    )?
    .execute([member_id])?;
    Ok(n == 1)
}

/// The unsubscribe links' key, made on first use.
pub(crate) fn unsubscribe_key(tx: &Transaction<'_>) -> Result<[u8; 32], StoreError> {
    let made = hex::encode(crate::secrets::random_bytes::<32>()?);
    tx.prepare_cached("INSERT OR IGNORE INTO meta (key, value) VALUES ('unsubscribe_key', ?1)")?
        .execute([made])?;
    let held: String = tx
        .prepare_cached("SELECT value FROM meta WHERE key = 'unsubscribe_key'")?
        .query_row([], |r| r.get(0))?;
    crate::store::unit::email::key_from_hex(&held)
}
