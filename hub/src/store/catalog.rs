//! What wishes and notifications need of the hub's storage (docs/design.md §11): the
//! catalogue feed, members' wishes, the counted link, email's own outbox and the report.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tenpo_protocol::catalog::{BatchReport, ItemsBatch, StockBatch, UnknownWishedItem};
use tenpo_protocol::events::WishKind;

use super::StoreError;
use super::outbox::HomeStores;
use crate::wishes::{WishNotice, WishSettings};

/// One of a member's wishes, as they see it in LINE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WishView {
    /// As asked (a barcode or sku): what removing it names.
    pub item: String,
    pub kinds: Vec<WishKind>,
    /// The catalogue's item, once it has it.
    pub sku: Option<String>,
    /// The item's name in Japanese, and in English when it has one.
    pub name: Option<String>,
    pub name_en: Option<String>,
    pub price_yen: Option<i64>,
    pub image_url: Option<String>,
    pub created_at: String,
}

/// An item found in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemView {
    pub sku: String,
    pub jan: Option<String>,
    pub name_ja: String,
    pub name_en: Option<String>,
    pub price_yen: i64,
    pub image_url: Option<String>,
    /// Stores with at least one.
    pub in_stock_at: u64,
}

/// An email notification a sender has claimed: what to write, and to whom (personal data:
/// never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailJob {
    pub id: i64,
    /// The message's id (`Message-ID`): the same on every attempt.
    pub link_id: String,
    pub member_id: String,
    pub address: String,
    pub notice: WishNotice,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl std::fmt::Debug for EmailJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailJob")
            .field("id", &self.id)
            .field("kind", &self.notice.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How one email attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    /// The mail server took it.
    Sent,
    /// Try again from `not_before` (the server was away, busy, or said "later").
    Retry {
        not_before: DateTime<Utc>,
        error: String,
    },
    /// Refused for good (the address does not exist): kept with the server's reason.
    Failed { error: String },
}

/// What the email sender asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailClaim {
    pub limit: u32,
    pub lease: Duration,
    /// Members who may be written to now (out of their store's quiet hours).
    pub awake: HomeStores,
    /// When the first time zone in quiet hours wakes.
    pub quiet_until: DateTime<Utc>,
}

/// One notification as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFacts {
    pub kind: String,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub delivered: bool,
    pub clicked: bool,
    /// Purchases counted for it, less refunds.
    pub yen: i64,
    pub bought: bool,
}

/// The part of the hub's storage wishes and notifications use.
pub trait CatalogStore: Send + Sync + 'static {
    /// How wishes notify (`tenpo-hub serve` sets it from `[wishes]`); defaults until then.
    fn set_wish_settings(&self, settings: WishSettings);

    /// Takes a batch of items (`hash`: its content's, to tell a resend from other content).
    fn take_items(
        &self,
        batch: ItemsBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send;

    /// Takes a batch of stock levels.
    fn take_stock(
        &self,
        batch: StockBatch,
        hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send;

    /// A member's wish made in LINE (their home store's stock is watched); answers how many
    /// kinds were new.
    fn add_wish(
        &self,
        member_id: String,
        item: String,
        wants: Vec<WishKind>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Removes a member's wishes for `item` (every kind); answers how many there were.
    fn remove_wish(
        &self,
        member_id: String,
        item: String,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn member_wishes(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Vec<WishView>, StoreError>> + Send;

    /// The catalogue's item `sku`.
    fn catalog_item(
        &self,
        sku: String,
    ) -> impl Future<Output = Result<Option<ItemView>, StoreError>> + Send;

    /// Items whose name, sku or barcode holds `query`.
    fn search_catalog(
        &self,
        query: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ItemView>, StoreError>> + Send;

    /// Counts a click on a notification's link; answers where it leads (the item's page), or
    /// `None` for a link the hub never made. `Some(None)`: a real link to an item with no page.
    fn follow_link(
        &self,
        link_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Option<String>>, StoreError>> + Send;

    /// Items asked for that the catalogue does not have.
    fn unknown_wished_items(
        &self,
    ) -> impl Future<Output = Result<Vec<UnknownWishedItem>, StoreError>> + Send;

    /// The notifications queued in `[from, to)`, as the report counts them.
    fn notice_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<NoticeFacts>, StoreError>> + Send;

    /// Claims due email notifications, each leased and its attempt counted; one whose member
    /// has no address or unsubscribed since is set `unreachable` instead.
    fn claim_emails(
        &self,
        claim: EmailClaim,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<EmailJob>, StoreError>> + Send;

    /// Records how an attempt ended (`attempt`: the claim's, so a sender whose lease ran out
    /// cannot undo another's).
    fn finish_email(
        &self,
        id: i64,
        attempt: u32,
        outcome: EmailOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The key that signs email's unsubscribe links: 32 random bytes, made on first use and
    /// kept with the hub's data, so links sent before a restart still work.
    fn unsubscribe_key(&self) -> impl Future<Output = Result<[u8; 32], StoreError>> + Send;

    /// The member followed an email's unsubscribe link: no more email; answers whether they
    /// were subscribed.
    fn unsubscribe_email(
        &self,
        member_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
