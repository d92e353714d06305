//! Email's sender against a real SMTP server (aiosmtpd, docs/design.md §11): a server that says
//! "later" gets the email again, once, after a back-off; a refusal for good is kept and never
//! tried again; nothing goes twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tenpo_e2e::smtp::{SmtpServer, Stage};
use tenpo_hub::email::sender::{EmailSender, EmailSenderSettings};
use tenpo_hub::email::{EmailSettings, Mailer, TlsMode};
use tenpo_hub::scenarios::QuietHours;
use tenpo_hub::scenarios::zones::Zones;
use tenpo_hub::store::catalog::EmailClaim;
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_protocol::catalog::{ItemsBatch, StockBatch};
use tenpo_protocol::events::WishKind;

#[tokio::test]
async fn a_busy_server_gets_the_email_again_once_and_a_refusal_is_never_retried() {
    let smtp = SmtpServer::start();
    smtp.refuse("busy@example.jp", Stage::Rcpt, "451 4.3.0 Try again later");
    smtp.refuse("gone@example.jp", Stage::Rcpt, "550 5.1.1 No such user");
    let hub = common::start().await;
    hub.load_demo_rules().await;
    hub.store.set_wish_settings(WishSettings {
        email: true,
        public_url: Some("https://hub.example.jp".into()),
        ..WishSettings::default()
    });
    let addresses = ["ok@example.jp", "busy@example.jp", "gone@example.jp"];
    let codes: Vec<String> = (0..3).map(|n| common::card(40 + n)).collect();
    let rows: Vec<(&str, i64, i64, Option<&str>)> =
        codes.iter().map(|c| (c.as_str(), 0, 0, None)).collect();
    common::import(&hub, &rows).await;
    let items: ItemsBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "i-1",
        "items": [{"sku": "tea", "name": {"ja": "緑茶"}, "price_yen": 300}]
    }))
    .unwrap();
    hub.store
        .take_items(items, "h-1".into(), Utc::now())
        .await
        .unwrap();
    for (code, address) in codes.iter().zip(addresses) {
        let member = hub
            .store
            .member_by_code(code.clone())
            .await
            .unwrap()
            .unwrap()
            .member_id;
        let profile = Profile {
            channel: Channel::Email,
            email: Some(address.into()),
            ..Profile::default()
        };
        hub.store
            .save_profile(member.clone(), profile, Utc::now())
            .await
            .unwrap();
        hub.store
            .add_wish(member, "tea".into(), vec![WishKind::Restock], Utc::now())
            .await
            .unwrap();
    }
    let stock: StockBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "s-1",
        "stock": [{"sku": "tea", "store_id": "shibuya", "quantity": 4}]
    }))
    .unwrap();
    let r = hub
        .store
        .take_stock(stock, "h-2".into(), Utc::now())
        .await
        .unwrap();
    assert_eq!(r.notifications, 3);

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
            public_url: "https://hub.example.jp".into(),
        },
        [9; 32],
        Arc::new(tokio::sync::Notify::new()),
    );
    tokio::spawn(sender.run());

    let first = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(first[0].rcpt_to, ["ok@example.jp"]);
    // The busy server said "later" and the other address does not exist; once the server
    // takes everything again, the busy address gets its email after the back-off.
    let deadline = Instant::now() + Duration::from_secs(15);
    while smtp.refused().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no refusals: {:?}",
            smtp.refused()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    smtp.accept_all();
    let got = smtp.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(got[1].rcpt_to, ["busy@example.jp"]);
    // Both sent are recorded as delivered; then nothing is left to send, now or after any
    // back-off (a claim a day ahead finds nothing): a wrong retry of the refused one, or a
    // second of either, cannot come.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let facts = hub
            .store
            .notice_facts(Utc::now() - chrono::Duration::days(1), Utc::now())
            .await
            .unwrap();
        if facts.iter().filter(|f| f.delivered).count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recorded as delivered: {facts:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let later = Utc::now() + chrono::Duration::days(1);
    let claim = EmailClaim {
        limit: 16,
        lease: chrono::Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: later,
    };
    let left = hub.store.claim_emails(claim, later).await.unwrap();
    assert!(left.is_empty(), "still to send: {left:?}");
    let to: Vec<Vec<String>> = smtp.received().into_iter().map(|m| m.rcpt_to).collect();
    assert_eq!(to, [["ok@example.jp"], ["busy@example.jp"]]);
    let mut refused: Vec<String> = smtp.refused().into_iter().map(|(a, _)| a).collect();
    refused.sort();
    assert_eq!(
        refused,
        ["busy@example.jp", "gone@example.jp"],
        "each refused once"
    );
    let facts = hub
        .store
        .notice_facts(Utc::now() - chrono::Duration::days(1), Utc::now())
        .await
        .unwrap();
    assert_eq!(facts.iter().filter(|f| f.delivered).count(), 2);
}
