//! What the wishes' conformance suites share: catalogue rows and batches, a member linked to
//! LINE, and what the outbox and the report hold.

#![allow(dead_code, clippy::unwrap_used)]

use super::backends::till;
use chrono::{DateTime, Duration, Utc};
use tenpo_hub::store::catalog::NoticeFacts;
use tenpo_hub::store::outbox::MessageClass;
use tenpo_hub::store::{
    CatalogStore, Claim, CompleteSignup, Greeting, HomeStores, LineEvent, LineStore, TillStore,
};
use tenpo_hub::wishes::{NoticeBody, WishSettings};
use tenpo_protocol::catalog::{CatalogItem, ItemName, ItemsBatch, StockBatch, StockLevel};
use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};

pub const TEA_JAN: &str = "4901234567894";

pub fn item(sku: &str, jan: Option<&str>, price_yen: i64) -> CatalogItem {
    CatalogItem {
        sku: sku.into(),
        jan: jan.map(str::to_owned),
        name: ItemName {
            ja: format!("{sku}の名前"),
            en: Some(format!("{sku} name")),
        },
        price_yen,
        image_url: None,
        url: Some(format!("https://shop.example.jp/items/{sku}")),
        version: None,
    }
}

/// Coffee at version 4, older than the 5 the tests feed first.
pub fn v4_again() -> CatalogItem {
    CatalogItem {
        version: Some(4),
        ..item("coffee", None, 270)
    }
}

pub fn items(id: &str, items: Vec<CatalogItem>) -> ItemsBatch {
    ItemsBatch {
        batch_id: id.into(),
        items,
    }
}

pub fn level(sku: &str, store: &str, quantity: i64) -> StockLevel {
    StockLevel {
        sku: sku.into(),
        store_id: store.into(),
        quantity,
        version: None,
    }
}

pub fn hash<T: serde::Serialize>(batch: &T) -> String {
    tenpo_protocol::events::content_hash_of(&serde_json::to_vec(batch).unwrap())
}

pub async fn feed_items<S: CatalogStore>(store: &S, id: &str, rows: Vec<CatalogItem>) -> u64 {
    let batch = items(id, rows);
    let h = hash(&batch);
    let r = store.take_items(batch, h, earlier()).await.unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    r.notifications
}

pub async fn feed_stock<S: CatalogStore>(store: &S, id: &str, rows: Vec<StockLevel>) -> u64 {
    let batch = StockBatch {
        batch_id: id.into(),
        stock: rows,
    };
    let h = hash(&batch);
    let r = store.take_stock(batch, h, earlier()).await.unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    r.notifications
}

/// Notifications are queued a minute before now, so the tests' sales (recorded now) follow.
pub fn earlier() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(1)
}

pub fn line_on() -> WishSettings {
    WishSettings {
        line: true,
        email: true,
        public_url: Some("https://hub.example.jp".into()),
        ..WishSettings::default()
    }
}

/// A member signed up with LINE as `user` at shibuya, following the account.
pub async fn linked_member<S: TillStore + LineStore>(store: &S, user: &str) -> String {
    let (till, _) = till(store, "shibuya").await;
    let mut nonce = [0u8; wire::NONCE_LEN];
    getrandom::fill(&mut nonce).unwrap();
    let token = SignupToken {
        kind: SignupKind::Signup,
        store_id: till.store_id.clone(),
        terminal_id: till.terminal_id.clone(),
        expires_at: Utc::now().timestamp() + 600,
        nonce,
        card_code: None,
    };
    let request = CompleteSignup {
        token,
        line_user_id: user.into(),
        today: "2026-11-20".parse().unwrap(),
        welcome_stamps: 0,
        greeting: Greeting::default(),
    };
    let record = store.complete_signup(request, Utc::now()).await.unwrap();
    let follow = LineEvent {
        webhook_event_id: format!("f-{user}"),
        kind: "follow".into(),
        occurred_at_ms: 1,
        user_id: Some(user.into()),
        following: Some(true),
    };
    store
        .line_events(vec![follow], Greeting::default(), Utc::now())
        .await
        .unwrap();
    record.member.member_id
}

/// The wish notifications waiting in LINE's outbox (claimed, so each is seen once).
pub async fn line_notices<S: LineStore>(store: &S) -> Vec<NoticeBody> {
    let claim = Claim {
        limit: 100,
        lease: Duration::seconds(60),
        transactional_only: false,
        marketing_to: HomeStores::All,
        quiet_until: Utc::now(),
        marketing_per_week: 2,
    };
    let claimed = store.claim_messages(claim, Utc::now()).await.unwrap();
    claimed
        .into_iter()
        .filter(|m| m.class == MessageClass::Requested)
        .map(|m| match m.action {
            tenpo_hub::store::outbox::MessageAction::Compose { said_json } => {
                serde_json::from_str(&said_json).unwrap()
            }
            other => panic!("a notification is composed when sent, not {other:?}"),
        })
        .collect()
}

pub async fn facts<S: CatalogStore>(store: &S) -> Vec<NoticeFacts> {
    let from = Utc::now() - Duration::days(1);
    store
        .notice_facts(from, Utc::now() + Duration::days(1))
        .await
        .unwrap()
}
