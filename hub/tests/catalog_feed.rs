//! The catalogue feed over HTTP (`PUT /v1/catalog/items`, `PUT /v1/catalog/stock`, docs/hub.md
//! "Catalogue feed"), on SQLite and on PostgreSQL: a batch is taken once, bad rows are reported
//! with their place while the rest apply, versions skip what is older, and only the feed's own
//! token is let in. Then the admin API's report of what the notifications brought in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{ADMIN_TOKEN, Hub};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_hub::store::catalog::{EmailClaim, EmailOutcome};
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, HubStore, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_protocol::catalog::{BatchReport, MAX_CATALOG_ROWS, NotificationReport};
use tenpo_protocol::events::WishKind;

crate::on_both_backends!(
    a_batch_is_applied_once_and_other_content_under_its_id_is_a_conflict,
    bad_rows_are_reported_with_their_place_and_the_rest_apply,
    a_row_older_than_what_the_hub_holds_is_stale,
    only_the_feeds_own_token_is_let_in,
    a_batch_of_too_many_rows_is_refused_whole,
);

const CATALOG_TOKEN: &str = "test-catalog-token-fedcba9876543210";
const TEA_JAN: &str = "4901234567894";

/// A hub serving `store` with the catalogue feed on.
async fn feed_hub<S: HubStore + Clone>(store: &S) -> Hub<S> {
    let dir = tempfile::tempdir().unwrap();
    common::start_on(dir, Arc::new(store.clone()), |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    })
    .await
}

/// `PUT path` with `body` and `Authorization: Bearer token` (none when `None`).
async fn put<S: HubStore>(
    hub: &Hub<S>,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = hub.http.put(hub.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn items<S: HubStore>(hub: &Hub<S>, body: Value) -> (StatusCode, Value) {
    put(hub, "/v1/catalog/items", Some(CATALOG_TOKEN), &body).await
}

async fn stock<S: HubStore>(hub: &Hub<S>, body: Value) -> (StatusCode, Value) {
    put(hub, "/v1/catalog/stock", Some(CATALOG_TOKEN), &body).await
}

fn report(status: StatusCode, body: Value) -> BatchReport {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

fn counts(r: &BatchReport) -> (u64, u64, u64, usize) {
    (r.applied, r.unchanged, r.stale, r.rejected.len())
}

/// The price the hub holds for `sku` (the catalogue's search finds it by sku).
async fn price<S: CatalogStore>(store: &S, sku: &str) -> Option<i64> {
    let found = store.search_catalog(sku.into(), 10).await.unwrap();
    found
        .into_iter()
        .find(|i| i.sku == sku)
        .map(|i| i.price_yen)
}

async fn a_batch_is_applied_once_and_other_content_under_its_id_is_a_conflict<
    S: HubStore + Clone,
>(
    store: &S,
) {
    let hub = feed_hub(store).await;
    let first = json!({"batch_id": "items-1", "items": [
        {"sku": "tea", "jan": TEA_JAN, "name": {"ja": "緑茶", "en": "Green tea"}, "price_yen": 150,
         "image_url": "https://img.example.jp/tea.jpg", "url": "https://shop.example.jp/tea"},
        {"sku": "rice", "name": {"ja": "米 5kg"}, "price_yen": 2400},
    ]});
    let (status, body) = items(&hub, first.clone()).await;
    let r = report(status, body);
    assert!(r.first_time);
    assert_eq!(counts(&r), (2, 0, 0, 0));
    assert_eq!(price(store, "tea").await, Some(150));
    // A later batch changes the price.
    let later = json!({"batch_id": "items-2", "items": [
        {"sku": "tea", "jan": TEA_JAN, "name": {"ja": "緑茶", "en": "Green tea"}, "price_yen": 130,
         "image_url": "https://img.example.jp/tea.jpg", "url": "https://shop.example.jp/tea"},
    ]});
    let (status, body) = items(&hub, later).await;
    assert_eq!(counts(&report(status, body)), (1, 0, 0, 0));
    // The first batch again, as the feed resends what it is not sure arrived: its first
    // answer, and nothing changed (the price stays the later batch's).
    let (status, body) = items(&hub, first.clone()).await;
    let again = report(status, body);
    assert!(!again.first_time);
    assert_eq!(counts(&again), (2, 0, 0, 0));
    assert_eq!(price(store, "tea").await, Some(130));
    // Other content under a batch id taken: 409, nothing applied.
    let mut other = first.clone();
    other["items"][1]["price_yen"] = json!(1);
    let (status, body) = items(&hub, other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items-1")
    );
    assert_eq!(price(store, "rice").await, Some(2400));
    // Stock batches are answered once too.
    let levels = json!({"batch_id": "stock-1", "stock": [
        {"sku": "tea", "store_id": "shibuya", "quantity": 12},
    ]});
    let (status, body) = stock(&hub, levels.clone()).await;
    assert_eq!(counts(&report(status, body)), (1, 0, 0, 0));
    let (status, body) = stock(&hub, levels).await;
    let again = report(status, body);
    assert!(!again.first_time);
    assert_eq!(counts(&again), (1, 0, 0, 0));
    hub.stop().await;
}

async fn bad_rows_are_reported_with_their_place_and_the_rest_apply<S: HubStore + Clone>(store: &S) {
    let hub = feed_hub(store).await;
    let bad_jan = format!("{}0", &TEA_JAN[..12]);
    let (status, body) = items(
        &hub,
        json!({"batch_id": "items-bad", "items": [
            {"sku": "tea", "jan": TEA_JAN, "name": {"ja": "緑茶"}, "price_yen": 150},
            {"sku": "minus", "name": {"ja": "値引き"}, "price_yen": -10},
            {"sku": "typo", "jan": bad_jan, "name": {"ja": "誤記"}, "price_yen": 100},
            {"sku": "plain", "name": {"ja": "写真"}, "price_yen": 100,
             "image_url": "http://img.example.jp/plain.jpg"},
            {"sku": "tea", "name": {"ja": "緑茶 二度目"}, "price_yen": 999},
            {"sku": "rice", "name": {"ja": "米"}, "price_yen": 2400},
        ]}),
    )
    .await;
    let r = report(status, body);
    assert_eq!((r.applied, r.rejected.len()), (2, 4), "{:?}", r.rejected);
    let why = |index: u64| {
        let row = r.rejected.iter().find(|x| x.index == index).unwrap();
        row.reason.clone()
    };
    assert!(why(1).contains("price_yen -10"), "{}", why(1));
    assert!(why(2).contains("check digit"), "{}", why(2));
    assert!(why(3).contains("https"), "{}", why(3));
    assert!(why(4).contains("twice"), "{}", why(4));
    assert_eq!(r.rejected[0].sku.as_deref(), Some("minus"));
    // The good rows are in; the bad ones are not, and the first `tea` row won.
    assert_eq!(price(store, "tea").await, Some(150));
    assert_eq!(price(store, "rice").await, Some(2400));
    assert_eq!(price(store, "minus").await, None);
    assert_eq!(price(store, "plain").await, None);

    let (status, body) = stock(
        &hub,
        json!({"batch_id": "stock-bad", "stock": [
            {"sku": "tea", "store_id": "shibuya", "quantity": 3},
            {"sku": "ghost", "store_id": "shibuya", "quantity": 1},
            {"sku": "rice", "store_id": "shibuya", "quantity": -1},
            {"sku": "rice", "store_id": "ginza", "quantity": 0},
        ]}),
    )
    .await;
    let r = report(status, body);
    assert_eq!(counts(&r), (2, 0, 0, 2), "{:?}", r.rejected);
    assert_eq!(r.rejected[0].index, 1);
    assert!(r.rejected[0].reason.contains("not in the catalogue"));
    assert_eq!(r.rejected[1].index, 2);
    assert!(r.rejected[1].reason.contains("quantity -1"));
    hub.stop().await;
}

async fn a_row_older_than_what_the_hub_holds_is_stale<S: HubStore + Clone>(store: &S) {
    let hub = feed_hub(store).await;
    let row = |price: i64, version: u64| json!({"sku": "tea", "name": {"ja": "緑茶"}, "price_yen": price, "version": version});
    let (status, body) = items(&hub, json!({"batch_id": "v5", "items": [row(150, 5)]})).await;
    assert_eq!(counts(&report(status, body)), (1, 0, 0, 0));
    // A batch that was overtaken arrives late: its older row is skipped.
    let (status, body) = items(&hub, json!({"batch_id": "v3", "items": [row(170, 3)]})).await;
    assert_eq!(counts(&report(status, body)), (0, 0, 1, 0));
    assert_eq!(price(store, "tea").await, Some(150));
    let (status, body) = items(&hub, json!({"batch_id": "v5b", "items": [row(150, 5)]})).await;
    assert_eq!(counts(&report(status, body)), (0, 1, 0, 0));
    let (status, body) = items(&hub, json!({"batch_id": "v6", "items": [row(140, 6)]})).await;
    assert_eq!(counts(&report(status, body)), (1, 0, 0, 0));
    assert_eq!(price(store, "tea").await, Some(140));
    let level = |quantity: i64, version: u64| json!({"sku": "tea", "store_id": "shibuya", "quantity": quantity, "version": version});
    let (status, body) = stock(&hub, json!({"batch_id": "s9", "stock": [level(4, 9)]})).await;
    assert_eq!(counts(&report(status, body)), (1, 0, 0, 0));
    let (status, body) = stock(&hub, json!({"batch_id": "s8", "stock": [level(7, 8)]})).await;
    assert_eq!(counts(&report(status, body)), (0, 0, 1, 0));
    hub.stop().await;
}

async fn only_the_feeds_own_token_is_let_in<S: HubStore + Clone>(store: &S) {
    let hub = feed_hub(store).await;
    let till = hub.enroll("shibuya").await;
    let body =
        json!({"batch_id": "b", "items": [{"sku": "tea", "name": {"ja": "緑茶"}, "price_yen": 1}]});
    for path in ["/v1/catalog/items", "/v1/catalog/stock"] {
        let terminal = format!("{}.{}", till.terminal_id, till.secret);
        for token in [
            None,
            Some("wrong-token-0123456789abcdef"),
            Some(ADMIN_TOKEN),
            Some(terminal.as_str()),
        ] {
            let (status, answer) = put(&hub, path, token, &body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} {token:?}: {answer}"
            );
            assert_eq!(answer["error"]["code"], "unauthorized");
        }
    }
    assert_eq!(price(store, "tea").await, None);
    // Nor does the feed's token open the admin API.
    let r = hub
        .http
        .get(hub.url("/v1/admin/wishes/unknown"))
        .bearer_auth(CATALOG_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    hub.stop().await;
}

async fn a_batch_of_too_many_rows_is_refused_whole<S: HubStore + Clone>(store: &S) {
    let hub = feed_hub(store).await;
    let rows: Vec<Value> = (0..=MAX_CATALOG_ROWS)
        .map(|i| json!({"sku": format!("sku-{i}"), "name": {"ja": "品"}, "price_yen": 100}))
        .collect();
    let (status, body) = items(&hub, json!({"batch_id": "huge", "items": rows})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10001 rows") && message.contains("at most 10000"),
        "{message}"
    );
    assert_eq!(price(store, "sku-0").await, None);
    let levels: Vec<Value> = (0..=MAX_CATALOG_ROWS)
        .map(|i| json!({"sku": "tea", "store_id": format!("store-{i}"), "quantity": 1}))
        .collect();
    let (status, body) = stock(&hub, json!({"batch_id": "huge", "stock": levels})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The id was not used up: a batch of the right size under it is taken.
    let (status, body) = items(
        &hub,
        json!({"batch_id": "huge", "items": [{"sku": "sku-0", "name": {"ja": "品"}, "price_yen": 100}]}),
    )
    .await;
    assert!(report(status, body).first_time);
    hub.stop().await;
}

/// The largest batch is within the feed's body limit and applied, even with rows longer than
/// most (names in both languages, both URLs with tracking queries: 12 MB in all, beyond 8 MiB);
/// a body beyond the limit is 413, and what is not JSON is refused.
#[tokio::test]
async fn a_batch_of_ten_thousand_rows_fits_and_a_larger_body_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::start_with(dir, |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    })
    .await;
    let tracking =
        "&utm_campaign=restock-notification-2026-winter-sale-hokkaido-dairy-fair".repeat(4);
    let rows: Vec<Value> = (0..MAX_CATALOG_ROWS)
        .map(|i| {
            json!({
                "sku": format!("4901234-{i:06}"),
                "name": {"ja": format!("北海道産 牛乳 1000ml 低温殺菌 ノンホモジナイズド 第{i}号"),
                         "en": format!("Hokkaido milk 1000 ml, low-temperature pasteurised, no. {i}")},
                "price_yen": 298,
                "image_url": format!("https://img.example.jp/catalog/items/dairy/milk/4901234-{i:06}/main-800x800.jpg?v=1{tracking}"),
                "url": format!("https://shop.example.jp/products/dairy/milk/4901234-{i:06}?utm_source=line&utm_medium=wish{tracking}"),
                "version": 1,
            })
        })
        .collect();
    let body = json!({"batch_id": "full", "items": rows});
    let bytes = serde_json::to_vec(&body).unwrap();
    let mib = 1024 * 1024;
    assert!(
        (8 * mib..16 * mib).contains(&bytes.len()),
        "{} bytes",
        bytes.len()
    );
    let (status, answer) = items(&hub, body).await;
    let r = report(status, answer);
    assert_eq!(counts(&r), (MAX_CATALOG_ROWS as u64, 0, 0, 0));

    let send = |body: Vec<u8>, content_type: &'static str| {
        hub.http
            .put(hub.url("/v1/catalog/items"))
            .bearer_auth(CATALOG_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let r = send(vec![b' '; 17 * 1024 * 1024], "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = send(b"{not json".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = send(b"{}".to_vec(), "text/csv").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = send(
        br#"{"batch_id": "x", "rows": []}"#.to_vec(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    hub.stop().await;
}

/// Without `catalog_token_file` the feed is off, and says which setting turns it on.
#[tokio::test]
async fn the_feed_is_off_until_its_token_is_set() {
    let hub = common::start().await;
    let body = json!({"batch_id": "b", "stock": []});
    for token in [Some(CATALOG_TOKEN), Some(ADMIN_TOKEN), None] {
        let (status, answer) = put(&hub, "/v1/catalog/stock", token, &body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("catalog_token_file"), "{message}");
    }
    hub.stop().await;
}

/// A wish, a restock through the feed, an email delivered: the admin API's report counts it in
/// this week (the hub's time zone), and refuses dates it cannot read.
#[tokio::test]
async fn the_report_counts_what_the_feeds_changes_sent() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::start_with(dir, |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    })
    .await;
    hub.load_demo_rules().await;
    let code = common::card(21);
    common::import(&hub, &[(&code, 0, 0, None)]).await;
    let member = hub
        .store
        .member_by_code(code)
        .await
        .unwrap()
        .unwrap()
        .member_id;
    hub.store.set_wish_settings(WishSettings {
        email: true,
        ..WishSettings::default()
    });
    let profile = Profile {
        channel: Channel::Email,
        email: Some("hanako@example.jp".into()),
        ..Profile::default()
    };
    hub.store
        .save_profile(member.clone(), profile, Utc::now())
        .await
        .unwrap();
    hub.store
        .add_wish(
            member.clone(),
            TEA_JAN.into(),
            vec![WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap();
    hub.store
        .add_wish(
            member,
            "4900000000001".into(),
            vec![WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap();
    let admin = hub.admin();
    let unknown = admin.unknown_wished_items().await.unwrap();
    assert_eq!(unknown.len(), 2, "{unknown:?}");

    let (status, body) = items(
        &hub,
        json!({"batch_id": "i", "items": [{"sku": "tea", "jan": TEA_JAN, "name": {"ja": "緑茶"}, "price_yen": 150}]}),
    )
    .await;
    report(status, body);
    let (status, body) = stock(
        &hub,
        json!({"batch_id": "s", "stock": [{"sku": "tea", "store_id": "shibuya", "quantity": 5}]}),
    )
    .await;
    assert_eq!(report(status, body).notifications, 1);
    let unknown = admin.unknown_wished_items().await.unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].item.as_str(), unknown[0].wishes),
        ("4900000000001", 1)
    );
    let claim = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: Utc::now(),
    };
    let jobs = hub.store.claim_emails(claim, Utc::now()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    hub.store
        .finish_email(jobs[0].id, jobs[0].attempts, EmailOutcome::Sent, Utc::now())
        .await
        .unwrap();

    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let (from, to) = (today.to_string(), today.to_string());
    let made: NotificationReport = admin.notification_report(&from, &to).await.unwrap();
    assert_eq!(made.to, to);
    assert_eq!(made.attribution_days, 14);
    assert_eq!(made.rows.len(), 1, "{:?}", made.rows);
    let row = &made.rows[0];
    assert_eq!(row.week, made.from);
    assert_eq!(
        (row.kind.as_str(), row.channel.as_str()),
        ("restock", "email")
    );
    assert_eq!(
        (row.sent, row.delivered, row.clicked, row.bought),
        (1, 1, 0, 0)
    );
    assert_eq!(row.conversion_rate, 0.0);
    // A week before there is nothing.
    let before = (today - chrono::Days::new(7)).to_string();
    let made = admin.notification_report(&before, &before).await.unwrap();
    assert!(made.rows.is_empty());

    for (from, to, says) in [
        ("2026-11-31", "2026-12-01", "not a date"),
        ("2026/11/01", "2026-12-01", "YYYY-MM-DD"),
        ("2026-12-01", "2026-11-01", "after"),
        ("2020-01-01", "2026-01-01", "3 years"),
    ] {
        let err = admin.notification_report(from, to).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("422") && text.contains(says),
            "{from} {to}: {text}"
        );
    }
    let r = hub
        .http
        .get(hub.url("/v1/admin/reports/notifications?from=2026-11-01"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = hub
        .http
        .get(hub.url("/v1/admin/reports/notifications?from=2026-11-01&to=2026-11-02"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    hub.stop().await;
}
