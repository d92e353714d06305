//! The statements of the catalogue, wishes and notifications on a PostgreSQL transaction
//! (`unit::catalog::CatalogStatements`, `unit::wishes::WishStatements`,
//! `unit::email::EmailStatements`; schema migration 4).
//!
//! A batch's rows are read and written in one statement each (`unnest`), so a batch of ten
//! thousand rows is a few round trips. Several hubs may take batches at once: the wishes a
//! change looks at are read `FOR UPDATE`, so a wish is notified once whichever hub saw its
//! moment first.

use chrono::{DateTime, Utc};
use tenpo_protocol::events::WishKind;
use tokio_postgres::Row;

use super::transaction::{PgUnit, storable};
use crate::store::StoreError;
use crate::store::outbox::Channel;
use crate::store::unit::catalog::{CatalogStatements, ItemRow, StockRow};
use crate::store::unit::email::{DueEmail, EmailStatements};
use crate::store::unit::wishes::{
    NOTICE_REACH_MS, NewAttribution, NewNotification, Reach, SentNotice, WishRow, WishStatements,
};

pub(super) const ITEM_COLUMNS: &str =
    "sku, jan, name_ja, name_en, price_yen, image_url, url, version";

pub(super) fn item_row(r: &Row) -> Result<ItemRow, StoreError> {
    Ok(ItemRow {
        sku: r.try_get(0)?,
        jan: r.try_get(1)?,
        name_ja: r.try_get(2)?,
        name_en: r.try_get(3)?,
        price_yen: r.try_get(4)?,
        image_url: r.try_get(5)?,
        url: r.try_get(6)?,
        version: r.try_get(7)?,
    })
}

pub(super) fn kind(text: String) -> Result<WishKind, StoreError> {
    WishKind::parse(&text).ok_or(StoreError::Corrupt {
        what: "wish kind",
        detail: text,
    })
}

fn count(n: i32) -> u32 {
    n.unsigned_abs()
}

impl WishStatements for PgUnit<'_> {
    async fn insert_wish(
        &mut self,
        w: &WishRow,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "INSERT INTO wishes
                     (member_id, item, kind, sku, store_id, source, price_yen, fired, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8)
                 ON CONFLICT DO NOTHING",
                &[
                    &w.member_id,
                    &w.item,
                    &w.kind.as_str(),
                    &w.sku,
                    &w.store_id,
                    &source,
                    &w.price_yen,
                    &now,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn item_for(&mut self, code: &str) -> Result<Option<ItemRow>, StoreError> {
        if !storable(code) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM catalog_items WHERE sku = $1
             UNION ALL SELECT {ITEM_COLUMNS} FROM catalog_items WHERE jan = $1 LIMIT 1"
        );
        self.query_opt(&sql, &[&code])
            .await?
            .map(|r| item_row(&r))
            .transpose()
    }

    async fn wishes_on(&mut self, skus: &[&str]) -> Result<Vec<WishRow>, StoreError> {
        let rows = self
            .query(
                "SELECT member_id, item, kind, sku, store_id, price_yen, fired FROM wishes
                 WHERE sku = ANY($1)
                 ORDER BY member_id, item, kind
                 FOR UPDATE",
                &[&skus],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(WishRow {
                    member_id: r.try_get(0)?,
                    item: r.try_get(1)?,
                    kind: kind(r.try_get(2)?)?,
                    sku: r.try_get(3)?,
                    store_id: r.try_get(4)?,
                    price_yen: r.try_get(5)?,
                    fired: r.try_get(6)?,
                })
            })
            .collect()
    }

    async fn set_fired(&mut self, wishes: &[&WishRow], fired: bool) -> Result<(), StoreError> {
        if wishes.is_empty() {
            return Ok(());
        }
        let members: Vec<&str> = wishes.iter().map(|w| w.member_id.as_str()).collect();
        let items: Vec<&str> = wishes.iter().map(|w| w.item.as_str()).collect();
        let kinds: Vec<&str> = wishes.iter().map(|w| w.kind.as_str()).collect();
        self.execute(
            "UPDATE wishes w SET fired = $4
             FROM unnest($1::text[], $2::text[], $3::text[]) AS x(member_id, item, kind)
             WHERE w.member_id = x.member_id AND w.item = x.item AND w.kind = x.kind",
            &[&members, &items, &kinds, &fired],
        )
        .await?;
        Ok(())
    }

    async fn reach(&mut self, member_id: &str) -> Result<Reach, StoreError> {
        let row = self
            .query_opt(
                "SELECT (SELECT line_user_id FROM line_users WHERE member_id = $1 LIMIT 1),
                        (SELECT f.following FROM line_users u
                         JOIN line_friends f ON f.line_user_id = u.line_user_id
                         WHERE u.member_id = $1 LIMIT 1),
                        COALESCE((SELECT email_unsubscribed FROM member_profiles
                                  WHERE member_id = $1), false)",
                &[&member_id],
            )
            .await?;
        let Some(r) = row else {
            return Ok(Reach::default());
        };
        Ok(Reach {
            line_user: r.try_get(0)?,
            following: r.try_get(1)?,
            email_unsubscribed: r.try_get(2)?,
        })
    }

    async fn scheduled_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        // The member's row holds their notifications' turn: two hubs notifying one member at
        // once count each other's.
        self.execute(
            "SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE",
            &[&member_id],
        )
        .await?;
        let rows = self
            .query(
                "SELECT not_before_ms FROM notifications
                 WHERE member_id = $1 AND not_before_ms >= $2",
                &[&member_id, &since_ms],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn message_row(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = self
            .query_opt(
                "SELECT id FROM messages WHERE member_id = $1 AND dedupe_key = $2",
                &[&member_id, &dedupe_key],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn insert_notification(
        &mut self,
        n: &NewNotification<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let email_state = (n.channel == Channel::Email).then_some("pending");
        let row = self
            .query_one(
                "INSERT INTO notifications
                     (link_id, member_id, sku, kind, channel, store_id, price_yen, was_price_yen,
                      message_row, email_state, not_before_ms, created_at, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id",
                &[
                    &n.link_id,
                    &n.member_id,
                    &n.sku,
                    &n.kind.as_str(),
                    &n.channel.as_str(),
                    &n.store_id,
                    &n.price_yen,
                    &n.was_price_yen,
                    &n.message_row,
                    &email_state,
                    &n.not_before_ms,
                    &now,
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        let until = now.timestamp_millis().saturating_add(NOTICE_REACH_MS);
        self.execute(
            "UPDATE members SET notified_until_ms = GREATEST(COALESCE(notified_until_ms, 0), $2)
             WHERE member_id = $1",
            &[&n.member_id, &until],
        )
        .await?;
        Ok(row.try_get(0)?)
    }

    async fn notifications_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<SentNotice>, StoreError> {
        if let Some(read) = self.notices_ahead(member_id, since_ms) {
            return Ok(read);
        }
        let rows = self
            .query(
                "SELECT id, sku, created_ms FROM notifications
                 WHERE member_id = $1 AND created_ms >= $2 ORDER BY created_ms, id",
                &[&member_id, &since_ms],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SentNotice {
                    id: r.try_get(0)?,
                    sku: r.try_get(1)?,
                    created_ms: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn attribute(&mut self, a: &NewAttribution<'_>) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO attributions
                 (terminal_id, sale_id, sku, notification_id, quantity, yen, occurred_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
            &[
                &a.terminal_id,
                &a.sale_id,
                &a.sku,
                &a.notification_id,
                &a.quantity,
                &a.yen,
                &a.occurred_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn refund_attributed(
        &mut self,
        terminal_id: &str,
        sale_id: &str,
        sku: &str,
        yen: i64,
    ) -> Result<(), StoreError> {
        if !storable(sale_id) || !storable(sku) {
            return Ok(());
        }
        self.execute(
            "UPDATE attributions SET refunded_yen = LEAST(yen, refunded_yen + GREATEST($4::bigint, 0))
             WHERE terminal_id = $1 AND sale_id = $2 AND sku = $3",
            &[&terminal_id, &sale_id, &sku, &yen],
        )
        .await?;
        Ok(())
    }
}

impl CatalogStatements for PgUnit<'_> {
    async fn batch(&mut self, batch_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .query_opt(
                "SELECT content_hash, report FROM catalog_batches WHERE batch_id = $1",
                &[&batch_id],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    async fn save_batch(
        &mut self,
        batch_id: &str,
        kind: &str,
        hash: &str,
        report_json: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO catalog_batches (batch_id, kind, content_hash, report, received_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&batch_id, &kind, &hash, &report_json, &now],
        )
        .await?;
        Ok(())
    }

    async fn items(&mut self, skus: &[&str]) -> Result<Vec<ItemRow>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM catalog_items WHERE sku = ANY($1)");
        let rows = self.query(&sql, &[&skus]).await?;
        rows.iter().map(item_row).collect()
    }

    async fn skus_of_jans(&mut self, jans: &[&str]) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .query(
                "SELECT jan, sku FROM catalog_items WHERE jan = ANY($1)",
                &[&jans],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn upsert_items(
        &mut self,
        rows: &[ItemRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&ItemRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        let skus = col(|r| Some(&r.sku));
        let jans = col(|r| r.jan.as_deref());
        let ja = col(|r| Some(&r.name_ja));
        let en = col(|r| r.name_en.as_deref());
        let images = col(|r| r.image_url.as_deref());
        let urls = col(|r| r.url.as_deref());
        let prices: Vec<i64> = rows.iter().map(|r| r.price_yen).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
        self.execute(
            "INSERT INTO catalog_items
                 (sku, jan, name_ja, name_en, price_yen, image_url, url, version, updated_at)
             SELECT x.sku, x.jan, x.ja, x.en, x.price, x.image, x.url, x.version, $9
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::text[], $7::text[], $8::bigint[])
                  AS x(sku, jan, ja, en, price, image, url, version)
             ON CONFLICT (sku) DO UPDATE SET
                 jan = excluded.jan, name_ja = excluded.name_ja, name_en = excluded.name_en,
                 price_yen = excluded.price_yen, image_url = excluded.image_url,
                 url = excluded.url, version = excluded.version,
                 updated_at = excluded.updated_at",
            &[
                &skus, &jans, &ja, &en, &prices, &images, &urls, &versions, &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn stock_levels(&mut self, keys: &[(&str, &str)]) -> Result<Vec<StockRow>, StoreError> {
        let skus: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let stores: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let rows = self
            .query(
                "SELECT s.sku, s.store_id, s.quantity, s.version
                 FROM catalog_stock s
                 JOIN unnest($1::text[], $2::text[]) AS x(sku, store_id)
                   ON s.sku = x.sku AND s.store_id = x.store_id
                 ORDER BY s.sku, s.store_id
                 FOR UPDATE OF s",
                &[&skus, &stores],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StockRow {
                    sku: r.try_get(0)?,
                    store_id: r.try_get(1)?,
                    quantity: r.try_get(2)?,
                    version: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn upsert_stock(
        &mut self,
        rows: &[StockRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let skus: Vec<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
        let stores: Vec<&str> = rows.iter().map(|r| r.store_id.as_str()).collect();
        let quantities: Vec<i64> = rows.iter().map(|r| r.quantity).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
        self.execute(
            "INSERT INTO catalog_stock (sku, store_id, quantity, version, updated_at)
             SELECT x.sku, x.store_id, x.quantity, x.version, $5
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                  AS x(sku, store_id, quantity, version)
             ON CONFLICT (sku, store_id) DO UPDATE SET
                 quantity = excluded.quantity, version = excluded.version,
                 updated_at = excluded.updated_at",
            &[&skus, &stores, &quantities, &versions, &now],
        )
        .await?;
        Ok(())
    }

    async fn resolve_wishes(
        &mut self,
        code: &str,
        sku: &str,
        price_yen: i64,
    ) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE wishes SET sku = $2, price_yen = COALESCE(price_yen, $3)
             WHERE item = $1 AND sku IS NULL",
            &[&code, &sku, &price_yen],
        )
        .await
    }
}

impl EmailStatements for PgUnit<'_> {
    async fn due_emails(&mut self, now_ms: i64, limit: u32) -> Result<Vec<DueEmail>, StoreError> {
        let rows = self
            .query(
                "SELECT id, link_id, member_id, sku, kind, store_id, price_yen, was_price_yen
                 FROM notifications
                 WHERE (email_state = 'pending' AND not_before_ms <= $1)
                    OR (email_state = 'sending' AND lease_until_ms <= $1)
                 ORDER BY not_before_ms, id LIMIT $2
                 FOR UPDATE SKIP LOCKED",
                &[&now_ms, &i64::from(limit)],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DueEmail {
                    id: r.try_get(0)?,
                    link_id: r.try_get(1)?,
                    member_id: r.try_get(2)?,
                    sku: r.try_get(3)?,
                    kind: kind(r.try_get(4)?)?,
                    store_id: r.try_get(5)?,
                    price_yen: r.try_get(6)?,
                    was_price_yen: r.try_get(7)?,
                })
            })
            .collect()
    }

    async fn lease_email(&mut self, id: i64, until_ms: i64) -> Result<u32, StoreError> {
        let row = self
            .query_one(
                "UPDATE notifications
                 SET email_state = 'sending', lease_until_ms = $2, attempts = attempts + 1
                 WHERE id = $1 RETURNING attempts",
                &[&id, &until_ms],
            )
            .await?;
        Ok(count(row.try_get(0)?))
    }

    async fn set_email_state(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        not_before_ms: Option<i64>,
        delivered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE notifications
             SET email_state = $2, last_error = COALESCE($3, last_error),
                 not_before_ms = COALESCE($4, not_before_ms), lease_until_ms = NULL,
                 delivered_at = COALESCE($5, delivered_at)
             WHERE id = $1",
            &[&id, &state, &error, &not_before_ms, &delivered_at],
        )
        .await?;
        Ok(())
    }

    async fn email_state(&mut self, id: i64) -> Result<Option<(String, u32)>, StoreError> {
        let row = self
            .query_opt(
                "SELECT email_state, attempts FROM notifications
                 WHERE id = $1 AND email_state IS NOT NULL FOR UPDATE",
                &[&id],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, count(r.try_get(1)?))))
            .transpose()
    }
}
