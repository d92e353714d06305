//! The member's own page in LINE (docs/design.md §6, §10) over real HTTP: the card answer with
//! lapsing points, the next tier, coupons and the 1D barcode; the profile form, checked (bad
//! input: a clear 422, nothing stored), whose language the messages then use and whose
//! birthday this month brings this month's coupon; "unlink LINE"; and "my data" with "delete my
//! account".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use tenpo_hub::scenarios::{BirthdayCoupon, ScenarioSettings};
use tenpo_hub::store::console::ConsoleStore;
use tenpo_hub::store::{LineStore, TillStore};
use tenpo_loyalty::CouponBenefit;

use common::line::{MENU, World, world};

fn settings() -> ScenarioSettings {
    ScenarioSettings {
        birthday: Some(BirthdayCoupon {
            benefit: CouponBenefit::Discount { value_yen: 500 },
            valid_days: 31,
        }),
        ..ScenarioSettings::default()
    }
}

/// Waits (bounded) until LINE has taken the member's rich menu away: the account's default again.
async fn default_menu_back(w: &World, user: &str) {
    tenpo_e2e::harness::wait_until(
        "the rich menu unlinked at LINE",
        std::time::Duration::from_secs(10),
        || async { !w.standin.record().rich_menus.contains_key(user) },
    )
    .await;
}

async fn card(w: &World, user: &str) -> (u16, Value) {
    w.post("/v1/cards/me", json!({ "id_token": w.id_token(user) }))
        .await
}

#[tokio::test]
async fn the_card_shows_what_a_member_asks_about_at_the_till() {
    let w = world(settings(), 1).await;
    let user = "U00000000000000000000000000c4a7d";
    let member_id = w.sign_up(user).await;
    let m = w
        .hub
        .store
        .member_by_line_user(user.into())
        .await
        .unwrap()
        .unwrap();
    let rules = w.hub.store.current_rules().await.unwrap().unwrap();
    let (sale, _) = common::sale(
        &w.till,
        1,
        Some(&member_id),
        &rules,
        &m.state,
        "c1",
        45_000,
        0,
    );
    w.hub.push(&w.till, &[sale]).await;

    let (status, c) = card(&w, user).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["points"], 450);
    assert_eq!(c["expiring"][0]["points"], 450);
    assert!(
        c["expiring"][0]["expires_on"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    assert_eq!(
        c["next_tier"],
        json!({"name": "プレミア", "remaining_yen": 5000, "progress_percent": 90})
    );
    // Tiers by the names the rule set gives them, in the member's language (Japanese first).
    assert_eq!(c["tier"], "スタンダード");
    let svg = c["barcode_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(&format!("member barcode {}", m.number)));
    assert_eq!(c["profile"]["language"], "ja");
    assert_eq!(c["profile"]["marketing"], true);
    assert!(c["coupons"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_profile_form_is_checked_saved_and_used() {
    let w = world(settings(), 1).await;
    let user = "U00000000000000000000000000f0a11";
    let member_id = w.sign_up(user).await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let future = (today + chrono::Days::new(2)).to_string();
    for (body, words) in [
        (
            json!({"language": "ja", "marketing": true, "birthday": future}),
            "in the future",
        ),
        (
            json!({"language": "ja", "marketing": true, "email": "hanako@"}),
            "not an email",
        ),
        (json!({"language": "fr", "marketing": true}), "ja or en"),
        (
            json!({"language": "ja", "marketing": true, "birthday": "1990-13-01"}),
            "not a date",
        ),
        (
            json!({"language": "ja", "marketing": true, "channel": "email"}),
            "give an email address",
        ),
    ] {
        let mut body = body;
        body["id_token"] = json!(w.id_token(user));
        let (status, answer) = w.post("/v1/cards/me/profile", body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
    }
    let kept = w.hub.store.member_profile(member_id.clone()).await.unwrap();
    assert_eq!((kept.birthday, kept.email), (None, None), "nothing stored");

    // A birthday this month (years ago), English, no store news.
    // The first of this month (any year has it, unlike a 29 February).
    let birthday = format!("1990-{}-01", &today.to_string()[5..7]);
    let (status, saved) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "en", "marketing": false,
               "birthday": birthday, "name": "Hanako", "email": "hanako@example.jp",
               "channel": "email"}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["language"], "en");
    assert_eq!(saved["email"], "hanako@example.jp");
    assert_eq!(saved["channel"], "email");
    let (_, c) = card(&w, user).await;
    assert_eq!(
        c["tier"], "Standard",
        "the tier in the member's language now"
    );
    assert_eq!(c["next_tier"]["name"], "Premier");
    assert_eq!(c["profile"]["birthday"], json!(birthday));
    let coupons = c["coupons"].as_array().unwrap();
    assert_eq!(
        coupons.len(),
        1,
        "this month's birthday coupon at once: {c}"
    );
    assert_eq!(coupons[0]["title_en"], "¥500 off");
    let messages = w.messages(&member_id).await;
    assert!(
        messages.iter().any(|m| m.scenario == "birthday"),
        "{messages:?}"
    );
    // A birthday is given once: another month would bring another coupon.
    let (status, answer) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "en", "marketing": false,
               "birthday": format!("1990-{}-02", &today.to_string()[5..7])}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("ask at a store"), "{message}");
    // The member's language is the messages' language now.
    let p = w
        .hub
        .admin()
        .preview_message(c["member_number"].as_str().unwrap(), "welcome")
        .await
        .unwrap();
    assert_eq!(p.language, "en");
    assert!(
        p.messages[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Welcome")
    );
}

#[tokio::test]
async fn a_member_unlinks_their_line_account_and_keeps_their_card() {
    let w = world(settings(), 1).await;
    let user = "U00000000000000000000000000d1e5e";
    let member_id = w.sign_up(user).await;
    w.deliver(vec![common::line_event("follow", "01UNLINKF", 1_000, user)])
        .await;
    w.until(&member_id, "menu linked", |m| {
        m.iter().all(|v| v.state == "sent") && m.len() == 2
    })
    .await;
    assert_eq!(
        w.standin.record().rich_menus.get(user).map(String::as_str),
        Some(MENU)
    );

    let (status, answer) = w
        .post("/v1/cards/me/unlink", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let number = answer["member_number"].as_str().unwrap().to_owned();
    assert!(
        w.hub
            .store
            .member_by_line_user(user.into())
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = card(&w, user).await;
    assert_eq!(status, 404, "the LINE account has no card now");
    // The card itself still works at the till, and the default menu is back.
    let (status, _) = w.hub.lookup(&w.till, &number).await;
    assert_eq!(status, 200);
    default_menu_back(&w, user).await;
    let (status, _) = w
        .post("/v1/cards/me/unlink", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 404, "a second unlink: nothing to unlink");
}

#[tokio::test]
async fn a_birthday_given_brings_the_coupon_to_its_own_time_zone_only() {
    use chrono::Datelike;
    use chrono_tz::{Asia::Tokyo, Pacific::Honolulu};
    let w = common::line::world_with(settings(), 1, |sender, _| {
        let stores = std::collections::BTreeMap::from([("waikiki".to_owned(), Honolulu)]);
        sender.zones = tenpo_hub::scenarios::zones::Zones::new(Tokyo, &stores);
    })
    .await;
    let waikiki = w.hub.enroll("waikiki").await;
    // Erin joins in Waikiki: Honolulu's time is hers.
    let erin = "U00000000000000000000000000e4140";
    let erin_id = common::link_with_line(
        &w.hub,
        &waikiki,
        &w.standin,
        common::line::CHANNEL,
        erin,
        None,
    )
    .await;
    // Dave, imported with a birthday in Honolulu's month, has no home store: he is Tokyo's,
    // and his coupon comes with Tokyo's daily scan, not with Erin's form.
    let month = chrono::Utc::now().with_timezone(&Honolulu).month();
    let card = common::card(79);
    common::import(
        &w.hub,
        &[(&card, 0, 0, Some(&format!("1990-{month:02}-15")))],
    )
    .await;

    let (status, saved) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(erin), "language": "ja", "marketing": true,
                   "birthday": format!("1991-{month:02}-01")}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let coupons = |id: String| {
        let store = w.hub.store.clone();
        async move {
            store
                .member_by_code(id)
                .await
                .unwrap()
                .unwrap()
                .state
                .coupons
                .len()
        }
    };
    let erins = w
        .hub
        .store
        .member_by_line_user(erin.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(erins.member_id, erin_id);
    assert_eq!(erins.state.coupons.len(), 1, "Erin's birthday coupon");
    assert_eq!(coupons(card).await, 0, "not Dave's: Tokyo's scan gives it");
}

/// "My data" in LINE (docs/design.md §7): the member sees and downloads what the hub holds, then
/// deletes their account: without `confirm` nothing happens; with it the LINE link, profile and
/// card go, the card is refused at the till, the rich menu goes back, and asking again finds no
/// member.
#[tokio::test]
async fn a_member_sees_their_data_and_deletes_their_account_in_line() {
    let w = world(settings(), 1).await;
    let user = "U00000000000000000000000000da7a1";
    let member_id = w.sign_up(user).await;
    w.deliver(vec![common::line_event("follow", "01MYDATAF", 1_000, user)])
        .await;
    w.until(&member_id, "menu linked", |m| {
        m.iter().all(|v| v.state == "sent") && m.len() == 2
    })
    .await;
    let (status, _) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "ja", "marketing": true,
               "name": "佐藤 一郎", "email": "ichiro@example.jp"}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, data) = w
        .post("/v1/cards/me/data", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 200, "{data}");
    assert_eq!(data["member_id"], member_id.as_str());
    assert_eq!(
        data["tables"]["member_profiles"][0]["email"],
        "ichiro@example.jp"
    );
    assert_eq!(data["tables"]["line_users"][0]["line_user_id"], user);
    assert!(!data["tables"]["messages"].as_array().unwrap().is_empty());
    let number = data["tables"]["members"][0]["number"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not confirmed, or a forged token: nothing erased.
    let (status, answer) = w
        .post(
            "/v1/cards/me/erase",
            json!({"id_token": w.id_token(user), "confirm": false}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let (status, _) = w
        .post(
            "/v1/cards/me/erase",
            json!({"id_token": "forged.token.here", "confirm": true}),
        )
        .await;
    assert!(status == 401 || status == 422, "{status}");
    let (status, _) = card(&w, user).await;
    assert_eq!(status, 200, "still a member");

    let (status, answer) = w
        .post(
            "/v1/cards/me/erase",
            json!({"id_token": w.id_token(user), "confirm": true}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["member_number"], number.as_str());
    let (status, _) = card(&w, user).await;
    assert_eq!(status, 404, "no member for this LINE account now");
    let (status, _) = w.hub.lookup(&w.till, &number).await;
    assert_eq!(status, 404, "the card finds nobody at the till");
    default_menu_back(&w, user).await;
    let (status, _) = w
        .post(
            "/v1/cards/me/erase",
            json!({"id_token": w.id_token(user), "confirm": true}),
        )
        .await;
    assert_eq!(status, 404, "asked again: no member");
    let export = w
        .hub
        .store
        .member_export(member_id.clone(), None, chrono::Utc::now())
        .await
        .unwrap();
    for personal in [user, "ichiro@example.jp", "佐藤"] {
        assert!(
            !export.to_string().contains(personal),
            "{personal} is still held"
        );
    }
    let log = w.hub.store.staff_actions(None, 1, None).await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].staff.as_str()),
        ("erase_member", "member (LINE)")
    );
}
