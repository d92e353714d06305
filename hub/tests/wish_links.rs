//! A notification's link over HTTP (`GET /r/{id}`, docs/design.md §11): counted, then on to the
//! item's page; a link the hub never made leads nowhere and counts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use tenpo_hub::store::catalog::EmailClaim;
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_protocol::catalog::{ItemsBatch, StockBatch};
use tenpo_protocol::events::WishKind;

#[tokio::test]
async fn a_link_counts_its_click_and_leads_to_the_item() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let code = common::card(7);
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
        public_url: Some(hub.base.replace("http://", "https://")),
        ..WishSettings::default()
    });
    let profile = Profile {
        channel: Channel::Email,
        email: Some("taro@example.jp".into()),
        ..Profile::default()
    };
    hub.store
        .save_profile(member.clone(), profile, Utc::now())
        .await
        .unwrap();
    let items: ItemsBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "i-1",
        "items": [
            {"sku": "tea", "name": {"ja": "お茶"}, "price_yen": 150,
             "url": "https://shop.example.jp/tea"},
            {"sku": "cup", "name": {"ja": "湯呑み"}, "price_yen": 900}
        ]
    }))
    .unwrap();
    hub.store
        .take_items(items, "h-1".into(), Utc::now())
        .await
        .unwrap();
    for sku in ["tea", "cup"] {
        hub.store
            .add_wish(
                member.clone(),
                sku.into(),
                vec![WishKind::Restock],
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let stock: StockBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "s-1",
        "stock": [
            {"sku": "tea", "store_id": "shibuya", "quantity": 3},
            {"sku": "cup", "store_id": "shibuya", "quantity": 3}
        ]
    }))
    .unwrap();
    let r = hub
        .store
        .take_stock(stock, "h-2".into(), Utc::now())
        .await
        .unwrap();
    assert_eq!(r.notifications, 2);
    let claim = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: Utc::now(),
    };
    let jobs = hub.store.claim_emails(claim, Utc::now()).await.unwrap();
    let link = |sku_name: &str| {
        let job = jobs.iter().find(|j| j.notice.item_ja == sku_name).unwrap();
        let link = job.notice.link.clone().unwrap();
        assert!(link.ends_with(&format!("/r/{}", job.link_id)), "{link}");
        job.link_id.clone()
    };
    let (tea, cup) = (link("お茶"), link("湯呑み"));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| http.get(hub.url(&path)).send();
    let r = get(format!("/r/{tea}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://shop.example.jp/tea");
    // An item without a page of its own: a short page, still counted.
    let r = get(format!("/r/{cup}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("店頭"));
    // Links the hub never made.
    for bad in ["nothing", "0123456789abcdef0123456789abcdef", "%00"] {
        let r = get(format!("/r/{bad}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }
    let facts = hub
        .store
        .notice_facts(
            Utc::now() - Duration::days(1),
            Utc::now() + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(facts.iter().filter(|f| f.clicked).count(), 2);
}
