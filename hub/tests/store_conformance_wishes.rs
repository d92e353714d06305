//! Wishes through the store's traits, one suite for both backends (docs/design.md §11): the
//! catalogue feed's batches, wishes from a till and from LINE, a notification once per episode
//! of each kind, and a wish for an item the catalogue does not have yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::backends::{push, till};
use common::wishes::*;
use tenpo_hub::store::outbox::Language;
use tenpo_hub::store::{CatalogStore, Claim, HomeStores, LineStore, StoreError, TillStore};
use tenpo_protocol::catalog::StockBatch;
use tenpo_protocol::events::{EventBody, WishEvent, WishKind};

crate::on_both_backends!(
    a_feed_batch_is_taken_once_and_its_bad_rows_are_reported,
    a_wish_notifies_once_per_episode_of_each_kind,
    a_wish_for_an_item_not_in_the_catalogue_waits_for_it,
);

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
