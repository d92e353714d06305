//! Wishes and notifications through the store's traits, one suite for both backends
//! (docs/design.md §11): the catalogue feed's batches, wishes from a till and from LINE, a
//! notification once per episode in the member's channel and within their weekly number, a
//! purchase counted for the first notification of its item and taken back by a refund, and
//! email's outbox with unsubscribing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::backends::{push, till};
use tenpo_hub::store::catalog::{EmailClaim, EmailOutcome, NoticeFacts};
use tenpo_hub::store::outbox::{Channel, Language, MessageClass, Profile};
use tenpo_hub::store::{
    CatalogStore, Claim, CompleteSignup, Greeting, HomeStores, LineEvent, LineStore, StoreError,
    TillStore,
};
use tenpo_hub::wishes::{NoticeBody, WishSettings};
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::catalog::{CatalogItem, ItemName, ItemsBatch, StockBatch, StockLevel};
use tenpo_protocol::events::{EventBody, RefundEvent, WishEvent, WishKind};
use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};

crate::on_both_backends!(
    a_feed_batch_is_taken_once_and_its_bad_rows_are_reported,
    a_wish_notifies_once_per_episode_of_each_kind,
    a_wish_for_an_item_not_in_the_catalogue_waits_for_it,
    a_purchase_counts_for_the_first_notification_and_a_refund_takes_it_back,
    email_goes_to_members_who_chose_it_until_they_unsubscribe,
    no_more_than_the_weekly_number_go_and_the_rest_wait_their_turn,
);

const TEA_JAN: &str = "4901234567894";

fn item(sku: &str, jan: Option<&str>, price_yen: i64) -> CatalogItem {
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
fn v4_again() -> CatalogItem {
    CatalogItem {
        version: Some(4),
        ..item("coffee", None, 270)
    }
}

fn items(id: &str, items: Vec<CatalogItem>) -> ItemsBatch {
    ItemsBatch {
        batch_id: id.into(),
        items,
    }
}

fn level(sku: &str, store: &str, quantity: i64) -> StockLevel {
    StockLevel {
        sku: sku.into(),
        store_id: store.into(),
        quantity,
        version: None,
    }
}

fn hash<T: serde::Serialize>(batch: &T) -> String {
    tenpo_protocol::events::content_hash_of(&serde_json::to_vec(batch).unwrap())
}

async fn feed_items<S: CatalogStore>(store: &S, id: &str, rows: Vec<CatalogItem>) -> u64 {
    let batch = items(id, rows);
    let h = hash(&batch);
    let r = store.take_items(batch, h, earlier()).await.unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    r.notifications
}

async fn feed_stock<S: CatalogStore>(store: &S, id: &str, rows: Vec<StockLevel>) -> u64 {
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
fn earlier() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(1)
}

fn line_on() -> WishSettings {
    WishSettings {
        line: true,
        email: true,
        public_url: Some("https://hub.example.jp".into()),
        ..WishSettings::default()
    }
}

/// A member signed up with LINE as `user` at shibuya, following the account.
async fn linked_member<S: TillStore + LineStore>(store: &S, user: &str) -> String {
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
async fn line_notices<S: LineStore>(store: &S) -> Vec<NoticeBody> {
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

async fn facts<S: CatalogStore>(store: &S) -> Vec<NoticeFacts> {
    let from = Utc::now() - Duration::days(1);
    store
        .notice_facts(from, Utc::now() + Duration::days(1))
        .await
        .unwrap()
}

async fn a_feed_batch_is_taken_once_and_its_bad_rows_are_reported<S: CatalogStore>(store: &S) {
    let mut bad_price = item("minus", None, 100);
    bad_price.price_yen = -1;
    let mut bad_image = item("picture", None, 100);
    bad_image.image_url = Some("http://cdn.example.jp/a.png".into());
    let rows = vec![
        item("tea", Some(TEA_JAN), 150),
        bad_price,
        item("bad-jan", Some("4901234567890"), 100),
        bad_image,
        item("tea", None, 999),
        item("coffee", None, 300),
    ];
    let batch = items("b-1", rows);
    let h = hash(&batch);
    let first = store
        .take_items(batch.clone(), h.clone(), earlier())
        .await
        .unwrap();
    assert!(first.first_time);
    assert_eq!((first.applied, first.unchanged, first.stale), (2, 0, 0));
    let rejected: Vec<(u64, &str)> = first
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    assert!(rejected[0].1.contains("price_yen"), "{rejected:?}");
    assert!(rejected[1].1.contains("check digit"), "{rejected:?}");
    assert!(rejected[2].1.contains("https"), "{rejected:?}");
    assert_eq!(rejected[3].0, 4);
    assert!(rejected[3].1.contains("twice"), "{rejected:?}");

    // The same batch again: the first answer, nothing done.
    let again = store
        .take_items(batch.clone(), h, Utc::now())
        .await
        .unwrap();
    assert!(!again.first_time);
    assert_eq!(again.applied, first.applied);
    // The same id with other content is refused.
    let mut other = batch;
    other.items.truncate(1);
    let h = hash(&other);
    let e = store.take_items(other, h, Utc::now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");

    // A row older than the one held is skipped; the same row is unchanged.
    let mut v5 = item("coffee", None, 310);
    v5.version = Some(5);
    feed_items(store, "b-2", vec![v5.clone()]).await;
    let mut v4 = item("coffee", None, 280);
    v4.version = Some(4);
    let b = items("b-3", vec![v4, v5]);
    let h = hash(&b);
    let r = store.take_items(b, h, Utc::now()).await.unwrap();
    assert!(r.rejected.iter().any(|x| x.reason.contains("twice")));
    assert_eq!(r.stale, 1);
    let found = store.search_catalog("coffee".into(), 10).await.unwrap();
    assert_eq!(found[0].price_yen, 310);
    // A row without a version (a CSV load) keeps the version held: the feed's next older row
    // is still stale.
    feed_items(store, "b-4", vec![item("coffee", None, 320)]).await;
    let b = items("b-5", vec![v4_again()]);
    let h = hash(&b);
    let r = store.take_items(b, h, Utc::now()).await.unwrap();
    assert_eq!(r.stale, 1, "{r:?}");

    // Stock: an unknown sku and a negative quantity are refused, the rest applied.
    let stock = StockBatch {
        batch_id: "s-1".into(),
        stock: vec![
            level("tea", "shibuya", 3),
            level("nothing", "shibuya", 1),
            level("tea", "ueno", -2),
        ],
    };
    let h = hash(&stock);
    let r = store.take_stock(stock, h, Utc::now()).await.unwrap();
    assert_eq!(r.applied, 1);
    assert_eq!(r.rejected.len(), 2);
    assert!(
        r.rejected[0].reason.contains("not in the catalogue"),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].reason.contains("quantity"),
        "{:?}",
        r.rejected
    );
    let tea = store.search_catalog(TEA_JAN.into(), 10).await.unwrap();
    assert_eq!((tea[0].sku.as_str(), tea[0].in_stock_at), ("tea", 1));
    let exact = store.catalog_item("tea".into()).await.unwrap().unwrap();
    assert_eq!(exact, tea[0]);
    assert!(store.catalog_item("te".into()).await.unwrap().is_none());
}

fn wish_event(
    till: &common::Till,
    seq: u64,
    member: &str,
    item: &str,
    wants: &[WishKind],
) -> tenpo_protocol::events::Event {
    common::event(
        till,
        seq,
        EventBody::Wish(WishEvent {
            member_id: member.into(),
            item: item.into(),
            wants: wants.to_vec(),
            // The tests' hub's business date is 2026-11-20 (`common::backends::prepared`).
            occurred_at: "2026-11-20T03:00:00+00:00".into(),
        }),
    )
}

async fn a_wish_notifies_once_per_episode_of_each_kind<S: TillStore + LineStore + CatalogStore>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let member = linked_member(store, "U-wish").await;
    feed_items(store, "i-1", vec![item("tea", Some(TEA_JAN), 300)]).await;
    feed_stock(store, "s-0", vec![level("tea", "shibuya", 0)]).await;
    // The cashier scans the tea's barcode for the member at shibuya.
    let (t, terminal) = till(store, "shibuya").await;
    let wish = wish_event(&t, 1, &member, TEA_JAN, &WishKind::ALL);
    let pushed = push(store, &terminal, &[&wish]).await;
    assert_eq!(pushed.acked_through, 1);
    let listed = store.member_wishes(member.clone()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kinds, WishKind::ALL.to_vec());
    assert_eq!(listed[0].sku.as_deref(), Some("tea"));
    assert_eq!(listed[0].name_en.as_deref(), Some("tea name"));

    // Back in stock at another store: not the member's.
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "ueno", 4)]).await,
        0
    );
    // Back at shibuya: restock; 5 more is the same episode; sold out and back is a new one.
    assert_eq!(
        feed_stock(store, "s-2", vec![level("tea", "shibuya", 4)]).await,
        1
    );
    assert_eq!(
        feed_stock(store, "s-3", vec![level("tea", "shibuya", 9)]).await,
        0
    );
    assert_eq!(
        feed_stock(store, "s-4", vec![level("tea", "shibuya", 0)]).await,
        0
    );
    // 0 → 1 is both back in stock and the last one.
    assert_eq!(
        feed_stock(store, "s-5", vec![level("tea", "shibuya", 1)]).await,
        2
    );
    assert_eq!(
        feed_stock(store, "s-6", vec![level("tea", "shibuya", 1)]).await,
        0
    );
    // Cheaper than when wished: once, until the price is back up.
    assert_eq!(
        feed_items(store, "i-2", vec![item("tea", Some(TEA_JAN), 250)]).await,
        1
    );
    assert_eq!(
        feed_items(store, "i-3", vec![item("tea", Some(TEA_JAN), 240)]).await,
        0
    );
    assert_eq!(
        feed_items(store, "i-4", vec![item("tea", Some(TEA_JAN), 300)]).await,
        0
    );
    // Quiet everywhere (or the quota short): only transactional rows go; the notices wait.
    let quiet = Claim {
        limit: 100,
        lease: Duration::seconds(60),
        transactional_only: true,
        marketing_to: HomeStores::All,
        quiet_until: Utc::now(),
        marketing_per_week: 2,
    };
    assert!(
        store
            .claim_messages(quiet, Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let sent = line_notices(store).await;
    let mut kinds: Vec<WishKind> = sent.iter().map(|n| n.wish.kind).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [WishKind::Restock, WishKind::Restock, WishKind::LastOne],
        "three a week: the price drop waits for next week"
    );
    let first = &sent[0].wish;
    assert_eq!(
        (first.item_ja.as_str(), first.price_yen),
        ("teaの名前", 300)
    );
    assert_eq!(first.store_id.as_deref(), Some("shibuya"));
    assert_eq!(first.language, Language::Ja);
    let link = first.link.as_deref().unwrap();
    assert!(link.starts_with("https://hub.example.jp/r/"), "{link}");
    // The link counts a click and leads to the item's page; a made-up one leads nowhere.
    let link_id = link.rsplit('/').next().unwrap().to_owned();
    let page = store.follow_link(link_id, Utc::now()).await.unwrap();
    assert_eq!(page, Some(Some("https://shop.example.jp/items/tea".into())));
    assert_eq!(
        store.follow_link("f00".into(), Utc::now()).await.unwrap(),
        None
    );
    let f = facts(store).await;
    assert_eq!(f.len(), 4);
    assert_eq!(f.iter().filter(|x| x.clicked).count(), 1);
    assert!(f.iter().all(|x| x.channel == "line" && !x.delivered));

    // The same wish again (another till, or LINE) is still one; removing it stops it.
    assert_eq!(
        store
            .add_wish(
                member.clone(),
                "tea".into(),
                vec![WishKind::Restock],
                Utc::now()
            )
            .await
            .unwrap(),
        1,
        "asked by sku, a wish of its own"
    );
    assert_eq!(
        store
            .remove_wish(member.clone(), "tea".into())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .remove_wish(member.clone(), TEA_JAN.into())
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        feed_stock(store, "s-7", vec![level("tea", "shibuya", 0)]).await,
        0
    );
    assert_eq!(
        feed_stock(store, "s-8", vec![level("tea", "shibuya", 5)]).await,
        0
    );
}

async fn a_wish_for_an_item_not_in_the_catalogue_waits_for_it<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let member = linked_member(store, "U-early").await;
    let (t, terminal) = till(store, "shibuya").await;
    let wish = wish_event(&t, 1, &member, TEA_JAN, &[WishKind::Restock]);
    push(store, &terminal, &[&wish]).await;
    let unknown = store.unknown_wished_items().await.unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!((unknown[0].item.as_str(), unknown[0].wishes), (TEA_JAN, 1));
    // The feed brings the item: the wish has it, and its restock notifies.
    feed_items(store, "i-1", vec![item("tea", Some(TEA_JAN), 300)]).await;
    assert!(store.unknown_wished_items().await.unwrap().is_empty());
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "shibuya", 2)]).await,
        1
    );
    // A wish made in LINE watches the member's home store (shibuya, where they joined).
    store
        .add_wish(
            member.clone(),
            "coffee".into(),
            vec![WishKind::LastOne],
            Utc::now(),
        )
        .await
        .unwrap();
    feed_items(store, "i-2", vec![item("coffee", None, 500)]).await;
    assert_eq!(
        feed_stock(store, "s-2", vec![level("coffee", "ueno", 1)]).await,
        0
    );
    assert_eq!(
        feed_stock(store, "s-3", vec![level("coffee", "shibuya", 1)]).await,
        1
    );
    let e = store
        .add_wish(
            "nobody".into(),
            "tea".into(),
            vec![WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
}

async fn a_purchase_counts_for_the_first_notification_and_a_refund_takes_it_back<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), Utc::now()).await.unwrap();
    let member = linked_member(store, "U-buyer").await;
    feed_items(store, "i-1", vec![item("tea", None, 300)]).await;
    store
        .add_wish(
            member.clone(),
            "tea".into(),
            WishKind::ALL.to_vec(),
            Utc::now(),
        )
        .await
        .unwrap();
    // Back in stock, then the last one: two notifications of the tea.
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "shibuya", 3)]).await,
        1
    );
    assert_eq!(
        feed_stock(store, "s-2", vec![level("tea", "shibuya", 1)]).await,
        1
    );

    // The member buys tea at another store's till: the first notification has it.
    let (t, terminal) = till(store, "ueno").await;
    let none = MemberState::default();
    let (sale, outcome) = common::sale(&t, 1, Some(&member), &rules, &none, "s-tea", 1_200, 0);
    push(store, &terminal, &[&sale]).await;
    let f = facts(store).await;
    let bought: Vec<(bool, i64)> = f.iter().map(|x| (x.bought, x.yen)).collect();
    assert_eq!(bought, [(true, 1_200), (false, 0)]);
    // The line comes back: nothing was bought.
    let outcome = outcome.unwrap();
    let mut after = none.clone();
    after.apply_sale(&outcome);
    let sold = common::lines(1_200);
    let half = common::lines(1_200);
    let refund = |id: &str, seq: u64, earlier: &[tenpo_loyalty::Line]| {
        let day = "2026-11-20".parse().unwrap();
        let evaluated = tenpo_loyalty::evaluate_refund(
            &rules,
            &after,
            &sold,
            &outcome,
            earlier,
            &tenpo_loyalty::Refund {
                refund_id: id.into(),
                business_date: day,
                lines: half.clone(),
            },
        )
        .unwrap();
        common::event(
            &t,
            seq,
            EventBody::Refund(RefundEvent {
                refund_id: id.into(),
                sale_id: "s-tea".into(),
                member_id: Some(member.clone()),
                occurred_at: Utc::now().to_rfc3339(),
                business_date: day,
                lines: half.clone(),
                outcome: Some(evaluated),
            }),
        )
    };
    push(store, &terminal, &[&refund("r-1", 2, &[])]).await;
    let f = facts(store).await;
    assert_eq!((f[0].bought, f[0].yen), (false, 0));
    // Another member's tea counts for nobody.
    let (other_sale, _) = common::sale(&t, 4, None, &rules, &none, "s-anon", 300, 0);
    push(store, &terminal, &[&other_sale]).await;
    assert!(facts(store).await.iter().all(|x| !x.bought));
}

async fn email_goes_to_members_who_chose_it_until_they_unsubscribe<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let member = linked_member(store, "U-mail").await;
    let profile = Profile {
        language: Language::En,
        channel: Channel::Email,
        email: Some("hanako@example.jp".into()),
        ..Profile::default()
    };
    store
        .save_profile(member.clone(), profile, Utc::now())
        .await
        .unwrap();
    feed_items(store, "i-1", vec![item("tea", None, 300)]).await;
    store
        .add_wish(
            member.clone(),
            "tea".into(),
            vec![WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "shibuya", 3)]).await,
        1
    );
    assert!(line_notices(store).await.is_empty(), "by email, not LINE");
    // The member's store (shibuya) sleeps: the email waits until it wakes.
    let wakes = Utc::now() + Duration::hours(2);
    let asleep = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::Except(vec!["shibuya".into()]),
        quiet_until: wakes,
    };
    assert!(
        store
            .claim_emails(asleep, Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let claim = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: Utc::now(),
    };
    assert!(
        store
            .claim_emails(claim.clone(), Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let jobs = store.claim_emails(claim.clone(), wakes).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.address, "hanako@example.jp");
    assert_eq!((job.notice.item_name(), job.attempts), ("tea name", 1));
    // Leased: a second sender gets nothing; a lost lease is claimed again with the same id.
    assert!(
        store
            .claim_emails(claim.clone(), wakes)
            .await
            .unwrap()
            .is_empty()
    );
    let later = wakes + Duration::seconds(61);
    let again = store.claim_emails(claim.clone(), later).await.unwrap();
    assert_eq!(
        (again[0].link_id.as_str(), again[0].attempts),
        (job.link_id.as_str(), 2)
    );
    // The first sender's late retry cannot undo the second's attempt; a send always counts.
    let retry = EmailOutcome::Retry {
        not_before: later,
        error: "451".into(),
    };
    store.finish_email(job.id, 1, retry, later).await.unwrap();
    store
        .finish_email(job.id, 2, EmailOutcome::Sent, later)
        .await
        .unwrap();
    assert!(facts(store).await[0].delivered);

    // The links' key is made once and kept.
    let key = store.unsubscribe_key().await.unwrap();
    assert_ne!(key, [0u8; 32]);
    assert_eq!(store.unsubscribe_key().await.unwrap(), key);

    // Out of stock and back: a second email; the member unsubscribes before it goes.
    feed_stock(store, "s-2", vec![level("tea", "shibuya", 0)]).await;
    assert_eq!(
        feed_stock(store, "s-3", vec![level("tea", "shibuya", 2)]).await,
        1
    );
    assert!(
        store
            .unsubscribe_email(member.clone(), Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .unsubscribe_email(member.clone(), Utc::now())
            .await
            .unwrap()
    );
    let in_a_week = Utc::now() + Duration::days(8);
    assert!(
        store
            .claim_emails(claim, in_a_week)
            .await
            .unwrap()
            .is_empty()
    );
    // Unsubscribed from email, linked to LINE: the next one goes in LINE.
    feed_stock(store, "s-4", vec![level("tea", "shibuya", 0)]).await;
    assert_eq!(
        feed_stock(store, "s-5", vec![level("tea", "shibuya", 2)]).await,
        1
    );
    let f = facts(store).await;
    assert_eq!(f.last().unwrap().channel, "line");
}

async fn no_more_than_the_weekly_number_go_and_the_rest_wait_their_turn<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(WishSettings {
        per_week: 2,
        ..line_on()
    });
    let member = linked_member(store, "U-many").await;
    let skus = ["a", "b", "c"];
    feed_items(
        store,
        "i-1",
        skus.iter().map(|s| item(s, None, 100)).collect(),
    )
    .await;
    for sku in skus {
        store
            .add_wish(
                member.clone(),
                sku.into(),
                vec![WishKind::Restock],
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let stock = skus.iter().map(|s| level(s, "shibuya", 5)).collect();
    assert_eq!(feed_stock(store, "s-1", stock).await, 3);
    let now: Vec<String> = line_notices(store)
        .await
        .into_iter()
        .map(|n| n.wish.item_ja)
        .collect();
    assert_eq!(now.len(), 2, "the third waits a week: {now:?}");
}
