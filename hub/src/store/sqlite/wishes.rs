//! The statements of the catalogue, wishes and notifications on a SQLite transaction
//! (`unit::catalog::CatalogStatements`, `unit::wishes::WishStatements`; schema migration 13).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use tenpo_protocol::events::WishKind;

use super::statements::SqliteUnit;
use crate::store::StoreError;
use crate::store::unit::catalog::{CatalogStatements, ItemRow, StockRow};
use crate::store::unit::wishes::{
    NOTICE_REACH_MS, NewAttribution, NewNotification, Reach, SentNotice, WishRow, WishStatements,
};

const ITEM_COLUMNS: &str = "sku, jan, name_ja, name_en, price_yen, image_url, url, version";

pub(crate) fn item_row(r: &Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        sku: r.get(0)?,
        jan: r.get(1)?,
        name_ja: r.get(2)?,
        name_en: r.get(3)?,
        price_yen: r.get(4)?,
        image_url: r.get(5)?,
        url: r.get(6)?,
        version: r.get(7)?,
    })
}

fn kind(text: String) -> Result<WishKind, StoreError> {
    WishKind::parse(&text).ok_or(StoreError::Corrupt {
        what: "wish kind",
        detail: text,
    })
}

fn wish_row(r: &Row<'_>) -> rusqlite::Result<(WishRow, String)> {
    let kind: String = r.get(2)?;
    Ok((
        WishRow {
            member_id: r.get(0)?,
            item: r.get(1)?,
            kind: WishKind::Restock,
            sku: r.get(3)?,
            store_id: r.get(4)?,
            price_yen: r.get(5)?,
            fired: r.get(6)?,
        },
        kind,
    ))
}

impl WishStatements for SqliteUnit<'_> {
    async fn insert_wish(
        &mut self,
        w: &WishRow,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO wishes
                     (member_id, item, kind, sku, store_id, source, price_yen, fired, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
            )?
            .execute(params![
                w.member_id,
                w.item,
                w.kind.as_str(),
                w.sku,
                w.store_id,
                source,
                w.price_yen,
                now.to_rfc3339()
            ])?;
        Ok(n == 1)
    }

    async fn item_for(&mut self, code: &str) -> Result<Option<ItemRow>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM catalog_items WHERE sku = ?1
             UNION ALL SELECT {ITEM_COLUMNS} FROM catalog_items WHERE jan = ?1 LIMIT 1"
        );
        Ok(self
            .tx()
            .prepare_cached(&sql)?
            .query_row([code], item_row)
            .optional()?)
    }

    async fn wishes_on(&mut self, skus: &[&str]) -> Result<Vec<WishRow>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT member_id, item, kind, sku, store_id, price_yen, fired FROM wishes
             WHERE sku = ?1",
        )?;
        let mut out = Vec::new();
        for sku in skus {
            for row in stmt.query_map([sku], wish_row)? {
                let (mut w, k) = row?;
                w.kind = kind(k)?;
                out.push(w);
            }
        }
        Ok(out)
    }

    async fn set_fired(&mut self, wishes: &[&WishRow], fired: bool) -> Result<(), StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "UPDATE wishes SET fired = ?4 WHERE member_id = ?1 AND item = ?2 AND kind = ?3",
        )?;
        for w in wishes {
            stmt.execute(params![w.member_id, w.item, w.kind.as_str(), fired])?;
        }
        Ok(())
    }

    async fn reach(&mut self, member_id: &str) -> Result<Reach, StoreError> {
        let line = self
            .tx()
            .prepare_cached("SELECT line_user_id, following FROM line_users WHERE member_id = ?1")?
            .query_row([member_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let unsubscribed = self
            .tx()
            .prepare_cached("SELECT email_unsubscribed FROM member_profiles WHERE member_id = ?1")?
            .query_row([member_id], |r| r.get(0))
            .optional()?
            .unwrap_or(false);
        let (line_user, following) = line.unwrap_or((None, None));
        Ok(Reach {
            line_user,
            following,
            email_unsubscribed: unsubscribed,
        })
    }

    async fn scheduled_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT not_before_ms FROM notifications
             WHERE member_id = ?1 AND created_ms >= ?2 - 604800000 AND not_before_ms >= ?2",
        )?;
        let rows = stmt.query_map(params![member_id, since_ms], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn message_row(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT id FROM messages WHERE member_id = ?1 AND dedupe_key = ?2")?
            .query_row([member_id, dedupe_key], |r| r.get(0))
            .optional()?)
    }

    async fn insert_notification(
        &mut self,
        n: &NewNotification<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let email_state = (n.channel == crate::store::outbox::Channel::Email).then_some("pending");
        self.tx()
            .prepare_cached(
                "INSERT INTO notifications
                     (link_id, member_id, sku, kind, channel, store_id, price_yen, was_price_yen,
                      message_row, email_state, not_before_ms, created_at, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                n.link_id,
                n.member_id,
                n.sku,
                n.kind.as_str(),
                n.channel.as_str(),
                n.store_id,
                n.price_yen,
                n.was_price_yen,
                n.message_row,
                email_state,
                n.not_before_ms,
                now.to_rfc3339(),
                now.timestamp_millis(),
            ])?;
        let id = self.tx().last_insert_rowid();
        let until = now.timestamp_millis().saturating_add(NOTICE_REACH_MS);
        self.tx()
            .prepare_cached(
                "UPDATE members SET notified_until_ms = MAX(COALESCE(notified_until_ms, 0), ?2)
                 WHERE member_id = ?1",
            )?
            .execute(params![n.member_id, until])?;
        Ok(id)
    }

    async fn notifications_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<SentNotice>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT id, sku, created_ms FROM notifications
             WHERE member_id = ?1 AND created_ms >= ?2 ORDER BY created_ms, id",
        )?;
        let rows = stmt.query_map(params![member_id, since_ms], |r| {
            Ok(SentNotice {
                id: r.get(0)?,
                sku: r.get(1)?,
                created_ms: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn attribute(&mut self, a: &NewAttribution<'_>) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO attributions
                     (terminal_id, sale_id, sku, notification_id, quantity, yen, occurred_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                a.terminal_id,
                a.sale_id,
                a.sku,
                a.notification_id,
                a.quantity,
                a.yen,
                a.occurred_at
            ])?;
        Ok(())
    }

    async fn refund_attributed(
        &mut self,
        terminal_id: &str,
        sale_id: &str,
        sku: &str,
        yen: i64,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "UPDATE attributions SET refunded_yen = MIN(yen, refunded_yen + MAX(?4, 0))
                 WHERE terminal_id = ?1 AND sale_id = ?2 AND sku = ?3",
            )?
            .execute(params![terminal_id, sale_id, sku, yen])?;
        Ok(())
    }
}

impl CatalogStatements for SqliteUnit<'_> {
    async fn batch(&mut self, batch_id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT content_hash, report FROM catalog_batches WHERE batch_id = ?1")?
            .query_row([batch_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    async fn save_batch(
        &mut self,
        batch_id: &str,
        kind: &str,
        hash: &str,
        report_json: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT INTO catalog_batches (batch_id, kind, content_hash, report, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![batch_id, kind, hash, report_json, now.to_rfc3339()])?;
        Ok(())
    }

    async fn items(&mut self, skus: &[&str]) -> Result<Vec<ItemRow>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM catalog_items WHERE sku = ?1");
        let mut stmt = self.tx().prepare_cached(&sql)?;
        let mut out = Vec::new();
        for sku in skus {
            if let Some(row) = stmt.query_row([sku], item_row).optional()? {
                out.push(row);
            }
        }
        Ok(out)
    }

    async fn skus_of_jans(&mut self, jans: &[&str]) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .tx()
            .prepare_cached("SELECT sku FROM catalog_items WHERE jan = ?1")?;
        let mut out = Vec::new();
        for jan in jans {
            if let Some(sku) = stmt.query_row([jan], |r| r.get(0)).optional()? {
                out.push(((*jan).to_owned(), sku));
            }
        }
        Ok(out)
    }

    async fn upsert_items(
        &mut self,
        rows: &[ItemRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "INSERT INTO catalog_items
                 (sku, jan, name_ja, name_en, price_yen, image_url, url, version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (sku) DO UPDATE SET
                 jan = excluded.jan, name_ja = excluded.name_ja, name_en = excluded.name_en,
                 price_yen = excluded.price_yen, image_url = excluded.image_url,
                 url = excluded.url, version = excluded.version,
                 updated_at = excluded.updated_at",
        )?;
        let at = now.to_rfc3339();
        for r in rows {
            stmt.execute(params![
                r.sku,
                r.jan,
                r.name_ja,
                r.name_en,
                r.price_yen,
                r.image_url,
                r.url,
                r.version,
                at
            ])?;
        }
        Ok(())
    }

    async fn stock_levels(&mut self, keys: &[(&str, &str)]) -> Result<Vec<StockRow>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT quantity, version FROM catalog_stock WHERE sku = ?1 AND store_id = ?2",
        )?;
        let mut out = Vec::new();
        for (sku, store) in keys {
            let held = stmt
                .query_row([sku, store], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((quantity, version)) = held {
                out.push(StockRow {
                    sku: (*sku).to_owned(),
                    store_id: (*store).to_owned(),
                    quantity,
                    version,
                });
            }
        }
        Ok(out)
    }

    async fn upsert_stock(
        &mut self,
        rows: &[StockRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "INSERT INTO catalog_stock (sku, store_id, quantity, version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (sku, store_id) DO UPDATE SET
                 quantity = excluded.quantity, version = excluded.version,
                 updated_at = excluded.updated_at",
        )?;
        let at = now.to_rfc3339();
        for r in rows {
            stmt.execute(params![r.sku, r.store_id, r.quantity, r.version, at])?;
        }
        Ok(())
    }

    async fn resolve_wishes(
        &mut self,
        code: &str,
        sku: &str,
        price_yen: i64,
    ) -> Result<u64, StoreError> {
        let n = self
            .tx()
            .prepare_cached(
                "UPDATE wishes SET sku = ?2, price_yen = COALESCE(price_yen, ?3)
                 WHERE item = ?1 AND sku IS NULL",
            )?
            .execute(params![code, sku, price_yen])?;
        Ok(n as u64)
    }
}

impl crate::store::unit::email::EmailStatements for SqliteUnit<'_> {
    async fn due_emails(
        &mut self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::store::unit::email::DueEmail>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT id, link_id, member_id, sku, kind, store_id, price_yen, was_price_yen
             FROM notifications
             WHERE (email_state = 'pending' AND not_before_ms <= ?1)
                OR (email_state = 'sending' AND lease_until_ms <= ?1)
             ORDER BY not_before_ms, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms, limit], |r| {
            Ok((
                crate::store::unit::email::DueEmail {
                    id: r.get(0)?,
                    link_id: r.get(1)?,
                    member_id: r.get(2)?,
                    sku: r.get(3)?,
                    kind: WishKind::Restock,
                    store_id: r.get(5)?,
                    price_yen: r.get(6)?,
                    was_price_yen: r.get(7)?,
                },
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut due, k) = row?;
            due.kind = kind(k)?;
            out.push(due);
        }
        Ok(out)
    }

    async fn lease_email(&mut self, id: i64, until_ms: i64) -> Result<u32, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "UPDATE notifications
                 SET email_state = 'sending', lease_until_ms = ?2, attempts = attempts + 1
                 WHERE id = ?1 RETURNING attempts",
            )?
            .query_row(params![id, until_ms], |r| r.get(0))?)
    }

    async fn set_email_state(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        not_before_ms: Option<i64>,
        delivered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "UPDATE notifications
                 SET email_state = ?2, last_error = COALESCE(?3, last_error),
                     not_before_ms = COALESCE(?4, not_before_ms), lease_until_ms = NULL,
                     delivered_at = COALESCE(?5, delivered_at)
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                state,
                error,
                not_before_ms,
                delivered_at.map(|t| t.to_rfc3339())
            ])?;
        Ok(())
    }

    async fn email_state(&mut self, id: i64) -> Result<Option<(String, u32)>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT email_state, attempts FROM notifications
                 WHERE id = ?1 AND email_state IS NOT NULL",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}
