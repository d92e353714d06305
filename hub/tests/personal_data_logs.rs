//! No LINE user id, name, birthday or email reaches a log (docs/design.md §10). The hub's whole
//! LINE conversation runs with every log on at `debug` (what IT turns on to look into a
//! problem), captured: a signup with LINE, the follow, the welcome and the rich menu sent, a
//! profile form refused and then saved with a name, an email and a birthday (the birthday
//! coupon and its message), the card page, a block, an unlink. None of the member's personal
//! data is in what was logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tenpo_hub::scenarios::{BirthdayCoupon, ScenarioSettings};
use tenpo_loyalty::CouponBenefit;

use common::line::world;

/// Everything logged in this test binary (it holds this one test, so the global subscriber is
/// its alone).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_members_personal_data_never_reaches_a_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let w = world(
        ScenarioSettings {
            birthday: Some(BirthdayCoupon {
                benefit: CouponBenefit::Discount { value_yen: 500 },
                valid_days: 31,
            }),
            ..ScenarioSettings::default()
        },
        1,
    )
    .await;
    let user = "U0000000000000000000000000a11ce5";
    let (name, email, bad_email) = ("山田花子", "hanako.yamada@example.jp", "hanako.typo@");
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
        .to_string();
    let birthday = format!("1987-{}-01", &today[5..7]);

    let member_id = w.sign_up(user).await;
    w.deliver(vec![common::line_event(
        "follow",
        "01PIIFOLLOW",
        1_000,
        user,
    )])
    .await;
    w.until(&member_id, "welcome and menu sent", |m| {
        m.len() == 2 && m.iter().all(|v| v.state == "sent")
    })
    .await;
    let (status, _) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "ja", "marketing": true,
               "email": bad_email}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, saved) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "ja", "marketing": true,
               "birthday": birthday, "name": name, "email": email}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    w.until(&member_id, "the birthday message sent", |m| {
        m.iter()
            .any(|v| v.scenario == "birthday" && v.state == "sent")
    })
    .await;
    let (status, card) = w
        .post("/v1/cards/me", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["profile"]["email"], email);
    w.deliver(vec![common::line_event(
        "unfollow",
        "01PIIBLOCK",
        2_000,
        user,
    )])
    .await;
    w.deliver(vec![common::line_event("follow", "01PIIBACK", 3_000, user)])
        .await;
    let (status, _) = w
        .post("/v1/cards/me/unlink", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 200);

    let log = captured.text();
    // The log is not empty: requests, the sender and the webhook were all logged.
    assert!(log.lines().count() > 20, "too little was logged:\n{log}");
    for (what, secret) in [
        ("LINE user id", user),
        ("name", name),
        ("email", email),
        ("refused email", bad_email),
        ("birthday", birthday.as_str()),
    ] {
        let leaked: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaked.is_empty(),
            "the member's {what} was logged: {leaked:#?}"
        );
    }
}
