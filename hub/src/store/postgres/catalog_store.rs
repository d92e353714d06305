//! [`CatalogStore`] on PostgreSQL: the catalogue feed, wishes, the counted link, email's
//! outbox and what the report counts (docs/design.md §11).

use chrono::{DateTime, Utc};
use tenpo_protocol::catalog::{BatchReport, ItemsBatch, StockBatch, UnknownWishedItem};
use tenpo_protocol::events::WishKind;

use super::store::PgStore;
use super::transaction::{PgUnit, storable};
use crate::store::StoreError;
use crate::store::catalog::{
    CatalogStore, EmailClaim, EmailJob, EmailOutcome, ItemView, NoticeFacts, WishView,
};
use crate::store::unit::{self, wishes::Notifying};
use crate::wishes::WishSettings;

const ITEM_VIEW: &str = "SELECT i.sku, i.jan, i.name_ja, i.name_en, i.price_yen, i.image_url,
        (SELECT COUNT(*) FROM catalog_stock s WHERE s.sku = i.sku AND s.quantity > 0)
     FROM catalog_items i";

fn item_view(r: &tokio_postgres::Row) -> Result<ItemView, StoreError> {
    Ok(ItemView {
        sku: r.try_get(0)?,
        jan: r.try_get(1)?,
        name_ja: r.try_get(2)?,
        name_en: r.try_get(3)?,
        price_yen: r.try_get(4)?,
        image_url: r.try_get(5)?,
        in_stock_at: r.try_get::<_, i64>(6)?.unsigned_abs(),
    })
}

impl CatalogStore for PgStore {
    fn set_wish_settings(&self, settings: WishSettings) {
        self.put_wishes(settings);
    }

    async fn take_items(
        &self,
        batch: ItemsBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<BatchReport, StoreError> {
        let settings = self.wishes();
        self.retrying(|mut client| {
            let (batch, hash, settings) = (&batch, &hash, &*settings);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let ctx = Notifying { settings, now };
                let report = unit::catalog::take_items(&mut db, &ctx, batch, hash).await?;
                tx.commit().await?;
                Ok(report)
            }
        })
        .await
    }

    async fn take_stock(
        &self,
        batch: StockBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<BatchReport, StoreError> {
        let settings = self.wishes();
        self.retrying(|mut client| {
            let (batch, hash, settings) = (&batch, &hash, &*settings);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let ctx = Notifying { settings, now };
                let report = unit::catalog::take_stock(&mut db, &ctx, batch, hash).await?;
                tx.commit().await?;
                Ok(report)
            }
        })
        .await
    }

    async fn add_wish(
        &self,
        member_id: String,
        item: String,
        wants: Vec<WishKind>,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        self.retrying(|mut client| {
            let (member_id, item, wants) = (&member_id, &item, &wants);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let n = unit::wishes::take_in_line(&mut db, member_id, item, wants, now).await?;
                tx.commit().await?;
                Ok(n)
            }
        })
        .await
    }

    async fn remove_wish(&self, member_id: String, item: String) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM wishes WHERE member_id = $1 AND item = $2")
            .await?;
        Ok(client.execute(&stmt, &[&member_id, &item]).await?)
    }

    async fn member_wishes(&self, member_id: String) -> Result<Vec<WishView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT w.item, w.kind, w.sku, i.name_ja, i.price_yen, i.image_url, w.created_at,
                        i.name_en
                 FROM wishes w LEFT JOIN catalog_items i ON i.sku = w.sku
                 WHERE w.member_id = $1 ORDER BY w.created_at DESC, w.item, w.kind",
            )
            .await?;
        let mut views: Vec<WishView> = Vec::new();
        for r in client.query(&stmt, &[&member_id]).await? {
            let item: String = r.try_get(0)?;
            let kind = super::wishes::kind(r.try_get(1)?)?;
            match views.iter_mut().find(|v| v.item == item) {
                Some(v) => v.kinds.push(kind),
                None => views.push(WishView {
                    item,
                    kinds: vec![kind],
                    sku: r.try_get(2)?,
                    name: r.try_get(3)?,
                    name_en: r.try_get(7)?,
                    price_yen: r.try_get(4)?,
                    image_url: r.try_get(5)?,
                    created_at: r.try_get::<_, DateTime<Utc>>(6)?.to_rfc3339(),
                }),
            }
        }
        for v in &mut views {
            v.kinds.sort_unstable();
        }
        Ok(views)
    }

    async fn catalog_item(&self, sku: String) -> Result<Option<ItemView>, StoreError> {
        if !storable(&sku) {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("{ITEM_VIEW} WHERE i.sku = $1"))
            .await?;
        client
            .query_opt(&stmt, &[&sku])
            .await?
            .map(|r| item_view(&r))
            .transpose()
    }

    async fn search_catalog(&self, query: String, limit: u32) -> Result<Vec<ItemView>, StoreError> {
        if !storable(&query) {
            return Ok(Vec::new());
        }
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{ITEM_VIEW}
                 WHERE i.sku = $1 OR i.jan = $1 OR i.name_ja ILIKE $2 OR i.name_en ILIKE $2
                 ORDER BY i.sku = $1 DESC, i.name_ja, i.sku LIMIT $3"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&query, &pattern, &i64::from(limit)])
            .await?;
        rows.iter().map(item_view).collect()
    }

    async fn follow_link(
        &self,
        link_id: String,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<String>>, StoreError> {
        if !storable(&link_id) {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH clicked AS (
                     UPDATE notifications SET clicks = clicks + 1,
                         first_click_at = COALESCE(first_click_at, $2)
                     WHERE link_id = $1 RETURNING sku)
                 SELECT i.url FROM clicked c LEFT JOIN catalog_items i ON i.sku = c.sku",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&link_id, &now]).await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    async fn unknown_wished_items(&self) -> Result<Vec<UnknownWishedItem>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT item, COUNT(*), MIN(created_at) FROM wishes WHERE sku IS NULL
                 GROUP BY item ORDER BY COUNT(*) DESC, item LIMIT 1000",
            )
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|r| {
                Ok(UnknownWishedItem {
                    item: r.try_get(0)?,
                    wishes: r.try_get::<_, i64>(1)?.unsigned_abs(),
                    first_asked_at: r.try_get::<_, DateTime<Utc>>(2)?.to_rfc3339(),
                })
            })
            .collect()
    }

    async fn notice_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<NoticeFacts>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT n.kind, n.channel, n.created_ms,
                        CASE WHEN n.channel = 'email' THEN COALESCE(n.email_state = 'sent', false)
                             ELSE COALESCE(m.state = 'sent', false) END,
                        n.clicks > 0,
                        COALESCE(SUM(a.yen - a.refunded_yen), 0)::bigint,
                        COALESCE(bool_or(a.yen - a.refunded_yen > 0), false)
                 FROM notifications n
                 LEFT JOIN messages m ON m.id = n.message_row
                 LEFT JOIN attributions a ON a.notification_id = n.id
                 WHERE n.created_ms >= $1 AND n.created_ms < $2
                 GROUP BY n.id, m.state ORDER BY n.id",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&from.timestamp_millis(), &to.timestamp_millis()])
            .await?;
        rows.iter()
            .map(|r| {
                let ms: i64 = r.try_get(2)?;
                let created_at =
                    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Corrupt {
                        what: "notification time",
                        detail: ms.to_string(),
                    })?;
                Ok(NoticeFacts {
                    kind: r.try_get(0)?,
                    channel: r.try_get(1)?,
                    created_at,
                    delivered: r.try_get(3)?,
                    clicked: r.try_get(4)?,
                    yen: r.try_get(5)?,
                    bought: r.try_get(6)?,
                })
            })
            .collect()
    }

    async fn claim_emails(
        &self,
        claim: EmailClaim,
        now: DateTime<Utc>,
    ) -> Result<Vec<EmailJob>, StoreError> {
        let settings = self.wishes();
        self.retrying(|mut client| {
            let (claim, settings) = (&claim, &*settings);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let jobs = unit::email::claim(&mut db, settings, claim, now).await?;
                tx.commit().await?;
                Ok(jobs)
            }
        })
        .await
    }

    async fn finish_email(
        &self,
        id: i64,
        attempt: u32,
        outcome: EmailOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying(|mut client| {
            let outcome = &outcome;
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                unit::email::finish(&mut db, id, attempt, outcome, now).await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await
    }

    async fn unsubscribe_key(&self) -> Result<[u8; 32], StoreError> {
        let made = hex::encode(crate::secrets::random_bytes::<32>()?);
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ('unsubscribe_key', $1)
                 ON CONFLICT (key) DO NOTHING",
                &[&made],
            )
            .await?;
        let held: String = client
            .query_one("SELECT value FROM meta WHERE key = 'unsubscribe_key'", &[])
            .await?
            .try_get(0)?;
        unit::email::key_from_hex(&held)
    }

    async fn unsubscribe_email(
        &self,
        member_id: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.retrying(|mut client| {
            let member_id = &member_id;
            async move {
                let tx = client.transaction().await?;
                let n = tx
                    .execute(
                        "UPDATE member_profiles SET email_unsubscribed = true, updated_at = $2
                         WHERE member_id = $1 AND NOT email_unsubscribed",
                        &[member_id, &now],
                    )
                    .await?;
                tx.execute(
                    "UPDATE notifications SET email_state = 'unreachable',
                         last_error = 'the member unsubscribed from email'
                     WHERE member_id = $1 AND email_state = 'pending'",
                    &[member_id],
                )
                .await?;
                tx.commit().await?;
                Ok(n == 1)
            }
        })
        .await
    }
}
