//! The scenarios (docs/design.md §10) end to end: a till's sale reaches the hub and brings its
//! messages (tier progress, stamp card full) through the outbox to the LINE stand-in; the daily
//! scan brings points-expiring reminders and the birthday month's coupon, announced; running a
//! day again sends nothing twice; the marketing cap holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use tenpo_hub::scenarios::{BirthdayCoupon, QuietHours, ScenarioSettings, daily};
use tenpo_hub::store::{HomeStores, LineStore, MessageView, TillStore};
use tenpo_loyalty::{CouponBenefit, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use common::line::{CHANNEL, World, world};

const CARD_URL: &str = "https://liff.line.me/1234567890-AbCdEfGh/card";

fn settings() -> ScenarioSettings {
    ScenarioSettings {
        card_url: Some(CARD_URL.into()),
        birthday: Some(BirthdayCoupon {
            benefit: CouponBenefit::Discount { value_yen: 500 },
            valid_days: 31,
        }),
        ..ScenarioSettings::default()
    }
}

fn user(n: u32) -> String {
    format!("U{n:032x}")
}

/// `user` follows the account and has been welcomed.
async fn follows(w: &World, user: &str, member: &str) {
    let id = format!("01FOLLOW{}", &user[24..]);
    w.deliver(vec![common::line_event("follow", &id, 1_000, user)])
        .await;
    w.until(member, "welcomed", |m| {
        m.iter()
            .any(|v| v.scenario == "welcome" && v.state == "sent")
    })
    .await;
}

async fn member(w: &World, user: &str) -> MemberSnapshot {
    w.hub
        .store
        .member_by_line_user(user.into())
        .await
        .unwrap()
        .unwrap()
}

async fn rules(w: &World) -> RuleSet {
    w.hub.store.current_rules().await.unwrap().unwrap()
}

/// The title of each message pushed to `user` (a Flex bubble's first text).
fn titles(w: &World, user: &str) -> Vec<String> {
    w.pushes_to(user)
        .iter()
        .map(|p| {
            let m = &p.messages[0];
            m["contents"]["body"]["contents"][0]["text"]
                .as_str()
                .or(m["text"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn of<'a>(m: &'a [MessageView], scenario: &str) -> Vec<&'a MessageView> {
    m.iter().filter(|v| v.scenario == scenario).collect()
}

/// The member's sale of `yen` at the till, pushed to the hub.
async fn sale(w: &World, user: &str, seq: u64, yen: i64) {
    sale_at(w, &w.till, user, seq, yen).await;
}

/// The member's sale of `yen` at `till`, pushed to the hub.
async fn sale_at(w: &World, till: &common::Till, user: &str, seq: u64, yen: i64) {
    let m = member(w, user).await;
    let (event, _) = common::sale(
        till,
        seq,
        Some(&m.member_id),
        &rules(w).await,
        &m.state,
        &format!("sale-{user}-{seq}"),
        yen,
        0,
    );
    w.hub.push(till, &[event]).await;
}

#[tokio::test]
async fn a_sale_near_the_next_tier_says_how_far_once_a_month() {
    let w = world(settings(), 1).await;
    let alice = user(0xa11c);
    let id = w.sign_up(&alice).await;
    follows(&w, &alice, &id).await;
    // The demo program's premier tier starts at ¥50,000 a year.
    sale(&w, &alice, 1, 45_000).await;
    let m = w
        .until(&id, "tier progress sent", |m| {
            of(m, "tier_progress").iter().any(|v| v.state == "sent")
        })
        .await;
    assert_eq!(of(&m, "tier_progress")[0].class, "marketing");
    assert_eq!(titles(&w, &alice)[1], "あと¥5,000で プレミア");
    let pushed = w.pushes_to(&alice);
    let button = &pushed[1].messages[0]["contents"]["footer"]["contents"][0]["action"];
    assert_eq!(button["uri"], CARD_URL);

    // Closer still the same month: nothing more.
    sale(&w, &alice, 2, 1_000).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(of(&w.messages(&id).await, "tier_progress").len(), 1);
    assert_eq!(w.pushes_to(&alice).len(), 2);
}

#[tokio::test]
async fn a_full_stamp_card_announces_its_reward_coupon() {
    // Members start with 9 of the demo card's 10 stamps: the next ¥1,000 visit fills it.
    let w = world(settings(), 9).await;
    let bob = user(0xb0b);
    let id = w.sign_up(&bob).await;
    follows(&w, &bob, &id).await;
    sale(&w, &bob, 1, 1_200).await;
    let m = w
        .until(&id, "stamp card full sent", |m| {
            of(m, "stamp_card_full").iter().any(|v| v.state == "sent")
        })
        .await;
    assert_eq!(of(&m, "stamp_card_full")[0].class, "transactional");
    assert!(titles(&w, &bob).contains(&"スタンプカードがいっぱいになりました".to_owned()));
    let coupons = member(&w, &bob).await.state.coupons;
    assert_eq!(
        coupons.len(),
        1,
        "the reward the message announces is on the card"
    );
}

#[tokio::test]
async fn the_daily_scan_reminds_of_lapsing_points_and_announces_birthday_coupons_once() {
    let w = world(settings(), 1).await;
    // Carol earns points; the day's scan runs 3 days before they lapse.
    let carol = user(0xca401);
    let carol_id = w.sign_up(&carol).await;
    follows(&w, &carol, &carol_id).await;
    sale(&w, &carol, 1, 20_000).await;
    let lot = member(&w, &carol).await.state.lots[0].clone();
    let day = lot.expires_on.add_days(-3);
    // Dave, a paper-card member with a birthday in that month, links his card to LINE.
    let card = common::card(77);
    let birthday = format!("1990-{:02}-15", day.month());
    common::import(&w.hub, &[(&card, 0, 0, Some(&birthday))]).await;
    let dave = user(0xdabe);
    let dave_id =
        common::link_with_line(&w.hub, &w.till, &w.standin, CHANNEL, &dave, Some(&card)).await;
    follows(&w, &dave, &dave_id).await;
    // Eve earns points too, then blocks the account: she is not written to in LINE.
    let eve = user(0xe7e);
    let eve_id = w.sign_up(&eve).await;
    follows(&w, &eve, &eve_id).await;
    sale(&w, &eve, 2, 20_000).await;
    w.deliver(vec![common::line_event(
        "unfollow",
        "01UNFOLLOWEVE",
        2_000,
        &eve,
    )])
    .await;

    for _ in 0..2 {
        let report = daily::run_day(w.hub.store.as_ref(), &settings(), &HomeStores::All, day)
            .await
            .unwrap();
        assert!(report.members >= 2, "{report:?}");
    }
    let carols = w
        .until(&carol_id, "points reminder sent", |m| {
            of(m, "points_expiring").iter().any(|v| v.state == "sent")
        })
        .await;
    assert_eq!(of(&carols, "points_expiring").len(), 1, "the day ran twice");
    let points = lot.points;
    let expected = format!(
        "{} pt が {}年{}月{}日 に失効します",
        tenpo_protocol::display::group(points),
        lot.expires_on.year(),
        lot.expires_on.month(),
        lot.expires_on.day()
    );
    assert!(
        titles(&w, &carol).contains(&expected),
        "{:?}",
        titles(&w, &carol)
    );

    let daves = w
        .until(&dave_id, "birthday coupon announced", |m| {
            of(m, "birthday").iter().any(|v| v.state == "sent")
        })
        .await;
    assert_eq!(of(&daves, "birthday").len(), 1);
    assert!(titles(&w, &dave).contains(&"お誕生月おめでとうございます".to_owned()));
    let coupons = member(&w, &dave).await.state.coupons;
    assert_eq!(
        coupons.len(),
        1,
        "one birthday coupon, though the day ran twice"
    );
    assert!(of(&w.messages(&carol_id).await, "birthday").is_empty());

    let eves = w.messages(&eve_id).await;
    let reminder = of(&eves, "points_expiring");
    assert_eq!(reminder.len(), 1, "{eves:#?}");
    assert_eq!(reminder[0].state, "unreachable");
    assert_eq!(
        reminder[0].last_error.as_deref(),
        Some("the LINE user has blocked the official account")
    );
    assert!(
        !titles(&w, &eve).iter().any(|t| t.contains("失効")),
        "{:?}",
        titles(&w, &eve)
    );
}

#[tokio::test]
async fn each_time_zones_day_covers_the_members_of_its_stores() {
    let w = world(settings(), 1).await;
    let waikiki = w.hub.enroll("waikiki").await;
    let hawaii = HomeStores::Only(vec!["waikiki".into()]);
    let japan = HomeStores::Except(vec!["waikiki".into()]);
    // Carol joins at the world's store, then shops in Waikiki too: her home store stays hers.
    let carol = user(0xca401);
    let carol_id = w.sign_up(&carol).await;
    follows(&w, &carol, &carol_id).await;
    sale(&w, &carol, 1, 20_000).await;
    sale_at(&w, &waikiki, &carol, 1, 3_000).await;
    // Erin joins in Waikiki and shops there.
    let erin = user(0xe414);
    let erin_id = common::link_with_line(&w.hub, &waikiki, &w.standin, CHANNEL, &erin, None).await;
    follows(&w, &erin, &erin_id).await;
    sale_at(&w, &waikiki, &erin, 2, 20_000).await;
    let day = member(&w, &erin).await.state.lots[0]
        .expires_on
        .add_days(-3);
    // Dave, a paper-card member imported with a birthday that month, has no home store yet:
    // he is the hub's time zone's.
    let card = common::card(78);
    let birthday = format!("1990-{:02}-15", day.month());
    common::import(&w.hub, &[(&card, 0, 0, Some(&birthday))]).await;
    let dave = || async {
        w.hub
            .store
            .member_by_code(card.clone())
            .await
            .unwrap()
            .unwrap()
    };

    // Honolulu's day: Erin's reminder alone.
    let report = daily::run_day(w.hub.store.as_ref(), &settings(), &hawaii, day)
        .await
        .unwrap();
    assert_eq!(
        (report.messages, report.birthday_coupons),
        (1, 0),
        "{report:?}"
    );
    w.until(&erin_id, "Erin's reminder sent", |m| {
        of(m, "points_expiring").iter().any(|v| v.state == "sent")
    })
    .await;
    assert!(of(&w.messages(&carol_id).await, "points_expiring").is_empty());
    assert!(dave().await.state.coupons.is_empty());

    // Tokyo's day: Carol's reminder and Dave's coupon; nothing more for Erin.
    let report = daily::run_day(w.hub.store.as_ref(), &settings(), &japan, day)
        .await
        .unwrap();
    assert_eq!(
        (report.messages, report.birthday_coupons),
        (1, 1),
        "{report:?}"
    );
    w.until(&carol_id, "Carol's reminder sent", |m| {
        of(m, "points_expiring").iter().any(|v| v.state == "sent")
    })
    .await;
    assert_eq!(dave().await.state.coupons.len(), 1);
    assert_eq!(of(&w.messages(&erin_id).await, "points_expiring").len(), 1);

    // Home stores as the database has them: Carol's where she joined, though she shopped in
    // Waikiki after; Erin's Waikiki; Dave's the first store he shops at, Waikiki, from then on.
    let dave_id = dave().await.member_id;
    let m = w
        .hub
        .store
        .member_by_code(card.clone())
        .await
        .unwrap()
        .unwrap();
    let (event, _) = common::sale(
        &waikiki,
        3,
        Some(&dave_id),
        &rules(&w).await,
        &m.state,
        "dave-1",
        1_000,
        0,
    );
    w.hub.push(&waikiki, &[event]).await;
    let (event, _) = common::sale(
        &w.till,
        2,
        Some(&dave_id),
        &rules(&w).await,
        &dave().await.state,
        "dave-2",
        1_000,
        0,
    );
    w.hub.push(&w.till, &[event]).await;
    let db = rusqlite::Connection::open(w.hub.dir.path().join("hub.db")).unwrap();
    let home = |id: &str| -> Option<String> {
        db.query_row(
            "SELECT home_store FROM members WHERE member_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(home(&carol_id).as_deref(), Some(w.till.store_id.as_str()));
    assert_eq!(home(&erin_id).as_deref(), Some("waikiki"));
    assert_eq!(home(&dave_id).as_deref(), Some("waikiki"));
}

#[tokio::test]
async fn store_news_stays_under_the_weekly_cap() {
    let w = world(
        ScenarioSettings {
            marketing_per_week: 1,
            ..settings()
        },
        1,
    )
    .await;
    let erin = user(0xe714);
    let id = w.sign_up(&erin).await;
    follows(&w, &erin, &id).await;
    sale(&w, &erin, 1, 45_000).await; // tier progress: this week's one
    w.until(&id, "tier progress sent", |m| {
        of(m, "tier_progress").iter().any(|v| v.state == "sent")
    })
    .await;
    let lot = member(&w, &erin).await.state.lots[0].clone();
    daily::run_day(
        w.hub.store.as_ref(),
        &settings(),
        &HomeStores::All,
        lot.expires_on.add_days(-1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let m = w.messages(&id).await;
    assert_eq!(of(&m, "points_expiring")[0].state, "pending", "{m:#?}");
    assert_eq!(
        w.pushes_to(&erin).len(),
        2,
        "the welcome and one piece of news"
    );
}

#[tokio::test]
async fn a_members_messages_arrive_in_the_order_they_were_written() {
    let w = world(settings(), 1).await;
    // LINE answers each push late: a sender that sent a user's messages side by side would
    // have two of theirs in flight at once.
    let r = reqwest::Client::new()
        .post(format!("{}/standin/latency", w.standin_url))
        .json(&serde_json::json!({"ms": 150}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Bob joins and shops before he follows the account: his welcome and his tier progress
    // wait for the follow, then go in one claim.
    let bob = user(0xb0b);
    let id = w.sign_up(&bob).await;
    sale(&w, &bob, 1, 45_000).await;
    w.until(&id, "tier progress written", |m| {
        !of(m, "tier_progress").is_empty()
    })
    .await;
    w.deliver(vec![common::line_event(
        "follow",
        "01FOLLOWBOB",
        1_000,
        &bob,
    )])
    .await;
    w.until(&id, "both sent", |m| {
        ["welcome", "tier_progress"]
            .iter()
            .all(|s| of(m, s).iter().any(|v| v.state == "sent"))
    })
    .await;
    let titles = titles(&w, &bob);
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert_eq!(titles[0], "ご入会ありがとうございます", "the welcome first");
    assert_eq!(titles[1], "あと¥5,000で プレミア");
    assert_eq!(w.standin.record().overlapping, 0);
}

#[tokio::test]
async fn a_welcome_line_must_be_asked_again_for_still_comes_first() {
    let w = world(settings(), 1).await;
    let dan = user(0xd4a);
    let id = w.sign_up(&dan).await;
    sale(&w, &dan, 1, 45_000).await;
    w.until(&id, "tier progress written", |m| {
        !of(m, "tier_progress").is_empty()
    })
    .await;
    // LINE fails the first push (the welcome) with a 500: it is tried again in a moment, and
    // the news claimed with it waits for it.
    w.fail_next(500, 1).await;
    w.deliver(vec![common::line_event(
        "follow",
        "01FOLLOWDAN",
        1_000,
        &dan,
    )])
    .await;
    let m = w
        .until(&id, "both sent", |m| {
            ["welcome", "tier_progress"]
                .iter()
                .all(|s| of(m, s).iter().any(|v| v.state == "sent"))
        })
        .await;
    let titles = titles(&w, &dan);
    assert_eq!(
        titles,
        ["ご入会ありがとうございます", "あと¥5,000で プレミア"],
        "{m:#?}"
    );
}

/// Bob joins and shops within reach of the next tier before he follows the account: his
/// welcome (transactional) and his tier progress (marketing) wait for the follow, then are due
/// together. What the sender did with each once the welcome went: a claim that could take the
/// news took it with the welcome (it was leased before the welcome was sent).
async fn welcome_and_news_after_a_follow(w: &World) -> (String, String) {
    let bob = user(0xb0b2);
    let id = w.sign_up(&bob).await;
    sale(w, &bob, 1, 45_000).await;
    w.until(&id, "tier progress written", |m| {
        !of(m, "tier_progress").is_empty()
    })
    .await;
    w.deliver(vec![common::line_event(
        "follow",
        "01FOLLOWB2",
        1_000,
        &bob,
    )])
    .await;
    let m = w
        .until(&id, "welcome sent", |m| {
            of(m, "welcome").iter().any(|v| v.state == "sent")
        })
        .await;
    assert_eq!(of(&m, "welcome").len(), 1);
    (
        of(&m, "welcome")[0].state.clone(),
        of(&m, "tier_progress")[0].state.clone(),
    )
}

#[tokio::test]
async fn a_short_quota_keeps_store_news_back_and_lets_the_welcome_through() {
    // 95 of the month's 100 messages used: under the 10 % reserve.
    let w = common::line::world_with(settings(), 1, |_, standin| standin.set_month(Some(100), 95))
        .await;
    let (welcome, news) = welcome_and_news_after_a_follow(&w).await;
    assert_eq!((welcome.as_str(), news.as_str()), ("sent", "pending"));
}

#[tokio::test]
async fn quiet_hours_keep_store_news_back_and_let_the_welcome_through() {
    // Quiet all day, in the hub's time zone (every member's, here).
    let w = common::line::world_with(settings(), 1, |sender, _| {
        sender.quiet_hours = QuietHours { start: 0, end: 24 };
    })
    .await;
    let (welcome, news) = welcome_and_news_after_a_follow(&w).await;
    assert_eq!((welcome.as_str(), news.as_str()), ("sent", "pending"));
}

#[tokio::test]
async fn the_crm_team_previews_a_scenario_for_a_member() {
    let w = world(settings(), 1).await;
    let frank = user(0xf4a7c);
    w.sign_up(&frank).await;
    sale(&w, &frank, 1, 30_000).await;
    let number = member(&w, &frank).await.number;
    let admin = w.hub.admin();
    let p = admin
        .preview_message(&number, "tier_progress")
        .await
        .unwrap();
    assert_eq!((p.class.as_str(), p.language.as_str()), ("marketing", "ja"));
    assert_eq!(
        p.messages[0]["contents"]["body"]["contents"][0]["text"],
        "あと¥20,000で プレミア"
    );
    // The same from the command line, as the CRM team runs it.
    // (tokio's: the hub answering it runs on this test's thread.)
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenpo-hub"))
        .args(["preview-message", "points_expiring", "--member", &number])
        .args(["--hub", &w.hub.base])
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("points_expiring (marketing, in ja):"),
        "{text}"
    );
    assert!(text.contains("pt が"), "{text}");
    assert!(
        text.contains(&format!("[会員カードを開く] → {CARD_URL}")),
        "{text}"
    );

    // Nothing is sent by a preview; a bad scenario or code says so.
    assert!(w.pushes_to(&frank).is_empty());
    let e = admin.preview_message(&number, "spam").await.unwrap_err();
    assert!(
        e.to_string().contains("no scenario is called \"spam\""),
        "{e}"
    );
    let e = admin
        .preview_message("2999999999999", "welcome")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no member has this card code"),
        "{e}"
    );
}
