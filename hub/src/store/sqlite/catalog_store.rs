//! The catalogue, wishes and email notifications on SQLite ([`CatalogStore`]): each call on the
//! blocking pool, each write one transaction through the backend-neutral units (docs/design.md
//! §11).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_protocol::catalog::{BatchReport, ItemsBatch, StockBatch, UnknownWishedItem};
use tenpo_protocol::events::WishKind;

use super::{SqliteStore, catalog, statements};
use crate::store::StoreError;
use crate::store::catalog::{
    CatalogStore, EmailClaim, EmailJob, EmailOutcome, ItemView, NoticeFacts, WishView,
};
use crate::store::unit::{self, wishes::Notifying};
use crate::wishes::WishSettings;

impl CatalogStore for SqliteStore {
    fn set_wish_settings(&self, settings: WishSettings) {
        *self
            .inner
            .wishes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(settings);
    }

    fn take_items(
        &self,
        batch: ItemsBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send {
        self.take_batch(Batch::Items(batch), hash, now)
    }

    fn take_stock(
        &self,
        batch: StockBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send {
        self.take_batch(Batch::Stock(batch), hash, now)
    }

    fn add_wish(
        &self,
        member_id: String,
        item: String,
        wants: Vec<WishKind>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::wishes::take_in_line(
                    &mut db, &member_id, &item, &wants, now,
                ))
            })
        })
    }

    fn remove_wish(
        &self,
        member_id: String,
        item: String,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.blocking(move |inner| inner.write(|tx| catalog::remove_wish(tx, &member_id, &item)))
    }

    fn member_wishes(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Vec<WishView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| catalog::member_wishes(tx, &member_id)))
    }

    fn catalog_item(
        &self,
        sku: String,
    ) -> impl Future<Output = Result<Option<ItemView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| catalog::item(tx, &sku)))
    }

    fn search_catalog(
        &self,
        query: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ItemView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| catalog::search(tx, &query, limit)))
    }

    fn follow_link(
        &self,
        link_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Option<String>>, StoreError>> + Send {
        self.blocking(move |inner| inner.write(|tx| catalog::follow_link(tx, &link_id, now)))
    }

    fn unknown_wished_items(
        &self,
    ) -> impl Future<Output = Result<Vec<UnknownWishedItem>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(catalog::unknown_wished_items))
    }

    fn notice_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<NoticeFacts>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| catalog::notice_facts(tx, from, to)))
    }

    fn claim_emails(
        &self,
        claim: EmailClaim,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<EmailJob>, StoreError>> + Send {
        self.blocking(move |inner| {
            let settings = inner.wishes();
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::email::claim(&mut db, &settings, &claim, now))
            })
        })
    }

    fn finish_email(
        &self,
        id: i64,
        attempt: u32,
        outcome: EmailOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::email::finish(&mut db, id, attempt, &outcome, now))
            })
        })
    }

    fn unsubscribe_key(&self) -> impl Future<Output = Result<[u8; 32], StoreError>> + Send {
        self.blocking(move |inner| inner.write(catalog::unsubscribe_key))
    }

    fn unsubscribe_email(
        &self,
        member_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| catalog::unsubscribe_email(tx, &member_id, now))
        })
    }
}

/// A batch from the catalogue feed: both kinds are taken in one transaction the same way.
enum Batch {
    Items(ItemsBatch),
    Stock(StockBatch),
}

impl SqliteStore {
    fn take_batch(
        &self,
        batch: Batch,
        hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send {
        self.blocking(move |inner| {
            let settings = inner.wishes();
            let ctx = Notifying {
                settings: &settings,
                now,
            };
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(async {
                    match &batch {
                        Batch::Items(items) => {
                            unit::catalog::take_items(&mut db, &ctx, items, &hash).await
                        }
                        Batch::Stock(stock) => {
                            unit::catalog::take_stock(&mut db, &ctx, stock, &hash).await
                        }
                    }
                })
            })
        })
    }
}
