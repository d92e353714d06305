//! Wishes to what they bring in, end to end over loopback (docs/design.md §11): the catalogue
//! fed over HTTP with its own token; wishes made at two tills and in LINE; stock and price
//! changes that notify three members, one in LINE (the stand-in) and two by email (a real SMTP
//! server, aiosmtpd); clicks on their links; purchases at both tills; an unsubscribe; and the
//! report's numbers, checked exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_e2e::smtp::{Received, SmtpServer};
use tenpo_hub::email::sender::{EmailSender, EmailSenderSettings};
use tenpo_hub::email::{EmailSettings, Mailer, TlsMode};
use tenpo_hub::scenarios::zones::Zones;
use tenpo_hub::scenarios::{QuietHours, ScenarioSettings};
use tenpo_hub::store::outbox::{Channel, Language, Profile};
use tenpo_hub::store::{CatalogStore, LineStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_loyalty::{Line, MemberState, RuleSet, Sale, evaluate_sale};
use tenpo_protocol::events::{EventBody, SaleEvent, WishEvent, WishKind};

const FEED_TOKEN: &str = "catalogue-feed-token-0123456789abcdef";
const KEY: [u8; 32] = [7; 32];
const TEA_JAN: &str = "4901234567894";
const AIKO: &str = "U4af4980629000000000000000000a1c0";
const BEN: &str = "U4af4980629000000000000000000be00";
const CHIE: &str = "U4af4980629000000000000000000c41e";

async fn put(w: &common::line::World, path: &str, body: Value) -> Value {
    let r = w
        .hub
        .http
        .put(w.hub.url(path))
        .bearer_auth(FEED_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["rejected"], json!([]), "{report}");
    report
}

fn item(sku: &str, jan: Option<&str>, ja: &str, en: &str, price: i64) -> Value {
    json!({
        "sku": sku, "jan": jan, "name": {"ja": ja, "en": en}, "price_yen": price,
        "url": format!("https://shop.example.jp/{sku}"),
    })
}

/// A member's sale of `sku` at `till`, as the till evaluates it on a new member's state.
fn sale(
    till: &common::Till,
    seq: u64,
    member: &str,
    rules: &RuleSet,
    sku: &str,
    yen: i64,
) -> tenpo_protocol::events::Event {
    let day = Utc::now().date_naive();
    let day: tenpo_loyalty::Date = day.to_string().parse().unwrap();
    let lines = vec![Line {
        sku: sku.into(),
        category: None,
        quantity: 1,
        amount_yen: yen,
    }];
    let sale_id = format!("s-{sku}-{seq}");
    let evaluated = Sale {
        sale_id: sale_id.clone(),
        store_id: till.store_id.clone(),
        business_date: day,
        lines: lines.clone(),
        redeem_points: 0,
        coupon_ids: vec![],
    };
    let outcome = evaluate_sale(rules, &MemberState::default(), &evaluated).unwrap();
    let mut e = common::event(
        till,
        seq,
        EventBody::Sale(SaleEvent {
            sale_id,
            member_id: Some(member.into()),
            occurred_at: Utc::now().to_rfc3339(),
            business_date: day,
            lines,
            redeem_points: 0,
            coupon_ids: vec![],
            outcome: Some(outcome),
        }),
    );
    e.recorded_at = Utc::now().to_rfc3339();
    e
}

/// The `/r/{id}` link a message holds (its text, or LINE's JSON).
fn link_in(text: &str, base: &str) -> String {
    let at = text.find(&format!("{base}/r/")).expect("a counted link");
    text[at..at + base.len() + 3 + 32].to_owned()
}

fn text_of(m: &Received) -> String {
    m.parsed().body_text(0).unwrap().into_owned()
}

#[tokio::test]
async fn wishes_notify_in_each_members_channel_and_the_report_counts_what_they_brought() {
    let smtp = SmtpServer::start();
    // No welcome: the only LINE messages are the wishes'.
    let scenarios = ScenarioSettings {
        welcome: false,
        ..ScenarioSettings::default()
    };
    let w = common::line::world_with_state(scenarios, 0, |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(FEED_TOKEN.as_bytes()));
        state.unsubscribe_key = Some(KEY);
    })
    .await;
    let hub = &w.hub;
    hub.store.set_wish_settings(WishSettings {
        line: true,
        email: true,
        public_url: Some(hub.base.clone()),
        per_week: 10,
        attribution_days: 14,
    });
    let mailer = Mailer::new(
        &EmailSettings::new(smtp.host(), smtp.port(), TlsMode::None, "shop@example.jp").unwrap(),
    )
    .unwrap();
    let sender = EmailSender::new(
        hub.store.clone(),
        mailer,
        EmailSenderSettings {
            batch: 16,
            lease: Duration::from_secs(60),
            quiet_hours: QuietHours { start: 0, end: 0 },
            zones: Zones::single(chrono_tz::Asia::Tokyo),
            public_url: hub.base.clone(),
        },
        KEY,
        Arc::new(tokio::sync::Notify::new()),
    );
    tokio::spawn(sender.run());
    let rules = RuleSet::demo();

    // Three members who joined with LINE at shibuya: Aiko reads LINE; Ben chose email (in
    // English); Chie blocked the account, and gave an address.
    let aiko = w.sign_up(AIKO).await;
    let ben = w.sign_up(BEN).await;
    let chie = w.sign_up(CHIE).await;
    w.deliver(vec![
        common::line_event("follow", "01F-A", 1_000, AIKO),
        common::line_event("follow", "01F-B", 1_000, BEN),
        common::line_event("follow", "01F-C", 1_000, CHIE),
        common::line_event("unfollow", "01U-C", 2_000, CHIE),
    ])
    .await;
    let email_of = |address: &str, channel: Channel, language: Language| Profile {
        language,
        channel,
        email: Some(address.into()),
        ..Profile::default()
    };
    let now = Utc::now();
    hub.store
        .save_profile(
            ben.clone(),
            email_of("ben@example.jp", Channel::Email, Language::En),
            now,
        )
        .await
        .unwrap();
    hub.store
        .save_profile(
            chie.clone(),
            email_of("chie@example.jp", Channel::Line, Language::Ja),
            now,
        )
        .await
        .unwrap();

    // The stock system's first load: tea and a cup, out of stock at shibuya.
    let shibuya = w.till.store_id.clone();
    put(
        &w,
        "/v1/catalog/items",
        json!({"batch_id": "items-1", "items": [
            item("tea", Some(TEA_JAN), "緑茶", "Green tea", 300),
            item("cup", None, "湯呑み", "Tea cup", 900),
        ]}),
    )
    .await;
    put(
        &w,
        "/v1/catalog/stock",
        json!({"batch_id": "stock-1", "stock": [
            {"sku": "tea", "store_id": shibuya, "quantity": 0},
            {"sku": "cup", "store_id": shibuya, "quantity": 0},
        ]}),
    )
    .await;

    // Wishes: Aiko at the counter at shibuya (the tea's barcode, back in stock); Chie at the
    // second till, at ueno (the tea, cheaper); Ben in LINE (a heart on the cup: every kind).
    let ueno = hub.enroll("ueno").await;
    let wish = |till: &common::Till, member: &str, item: &str, wants: Vec<WishKind>| {
        let mut e = common::event(
            till,
            1,
            EventBody::Wish(WishEvent {
                member_id: member.into(),
                item: item.into(),
                wants,
                occurred_at: Utc::now().to_rfc3339(),
            }),
        );
        e.recorded_at = Utc::now().to_rfc3339();
        e
    };
    hub.push(
        &w.till,
        &[wish(&w.till, &aiko, TEA_JAN, vec![WishKind::Restock])],
    )
    .await;
    hub.push(
        &ueno,
        &[wish(&ueno, &chie, "tea", vec![WishKind::PriceDrop])],
    )
    .await;
    let (status, body) = w
        .post(
            "/v1/cards/me/wishes/add",
            json!({"id_token": w.id_token(BEN), "sku": "cup"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The tea is back at shibuya; one cup is left there; the tea is cheaper.
    let r = put(
        &w,
        "/v1/catalog/stock",
        json!({"batch_id": "stock-2", "stock": [
            {"sku": "tea", "store_id": shibuya, "quantity": 6},
            {"sku": "cup", "store_id": shibuya, "quantity": 1},
        ]}),
    )
    .await;
    assert_eq!(
        r["notifications"], 3,
        "Aiko's restock, Ben's restock and last one"
    );
    let r = put(
        &w,
        "/v1/catalog/items",
        json!({"batch_id": "items-2", "items": [
            item("tea", Some(TEA_JAN), "緑茶", "Green tea", 250),
        ]}),
    )
    .await;
    assert_eq!(r["notifications"], 1, "Chie's price drop");

    // Aiko hears in LINE; Ben and Chie by email.
    let mut aiko_pushes = Vec::new();
    for _ in 0..200 {
        aiko_pushes = w.pushes_to(AIKO);
        if !aiko_pushes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(aiko_pushes.len(), 1);
    let line_json = serde_json::to_string(&aiko_pushes[0].messages).unwrap();
    assert!(line_json.contains("緑茶"), "{line_json}");
    let mail = smtp.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(mail.len(), 3);
    assert!(w.pushes_to(BEN).is_empty() && w.pushes_to(CHIE).is_empty());
    let to = |m: &Received| m.rcpt_to[0].clone();
    let ben_mail: Vec<&Received> = mail.iter().filter(|m| to(m) == "ben@example.jp").collect();
    let chie_mail: Vec<&Received> = mail.iter().filter(|m| to(m) == "chie@example.jp").collect();
    assert_eq!((ben_mail.len(), chie_mail.len()), (2, 1));
    assert!(
        text_of(chie_mail[0]).contains("¥250"),
        "{}",
        text_of(chie_mail[0])
    );
    let ben_restock = ben_mail
        .iter()
        .find(|m| {
            let subject = m.parsed().subject().unwrap_or_default().to_owned();
            subject.to_lowercase().contains("back")
        })
        .expect("Ben's back-in-stock email, in English");

    // Aiko opens her message's link; Ben his back-in-stock email's.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for link in [
        link_in(&line_json, &hub.base),
        link_in(&text_of(ben_restock), &hub.base),
    ] {
        let r = http.get(&link).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{link}");
    }

    // Purchases: Aiko's tea at shibuya; Ben's cup and a tea (never notified) at ueno.
    hub.push(&w.till, &[sale(&w.till, 2, &aiko, &rules, "tea", 300)])
        .await;
    hub.push(
        &ueno,
        &[
            sale(&ueno, 2, &ben, &rules, "cup", 900),
            sale(&ueno, 3, &ben, &rules, "tea", 250),
        ],
    )
    .await;

    // Chie unsubscribes from her email (one click); her next price drop reaches nobody.
    let unsubscribe = chie_mail[0]
        .parsed()
        .header_raw("List-Unsubscribe")
        .unwrap()
        .trim()
        .trim_matches(['<', '>'])
        .to_owned();
    let r = http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (batch, price) in [("items-3", 300), ("items-4", 200)] {
        let r = put(
            &w,
            "/v1/catalog/items",
            json!({"batch_id": batch, "items": [
                item("tea", Some(TEA_JAN), "緑茶", "Green tea", price),
            ]}),
        )
        .await;
        assert_eq!(r["notifications"], 0, "{batch}");
    }

    // What the report says, once every message is delivered.
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let week = monday.to_string();
    let query = format!(
        "/v1/admin/reports/notifications?from={}&to={}",
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(1)
    );
    let expected = json!([
        {"week": week, "kind": "last_one", "channel": "email", "sent": 1, "delivered": 1,
         "clicked": 0, "bought": 1, "yen": 900, "conversion_rate": 1.0},
        {"week": week, "kind": "price_drop", "channel": "email", "sent": 1, "delivered": 1,
         "clicked": 0, "bought": 0, "yen": 0, "conversion_rate": 0.0},
        {"week": week, "kind": "restock", "channel": "email", "sent": 1, "delivered": 1,
         "clicked": 1, "bought": 0, "yen": 0, "conversion_rate": 0.0},
        {"week": week, "kind": "restock", "channel": "line", "sent": 1, "delivered": 1,
         "clicked": 1, "bought": 1, "yen": 300, "conversion_rate": 1.0},
    ]);
    let mut report = Value::Null;
    for _ in 0..100 {
        let r = hub
            .http
            .get(hub.url(&query))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        report = r.json().await.unwrap();
        if report["rows"] == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["rows"], expected, "{report:#}");
    assert_eq!(report["attribution_days"], 14);
}
