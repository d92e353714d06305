//! The message outbox and its LINE sender (docs/design.md §10), over real HTTP with the LINE
//! stand-in on its own port: a signup's welcome waits for the follow and goes once; a follow by
//! a member links the member rich menu; nobody who blocked the account is sent to; LINE's 5xx
//! and 429 are retried, another 4xx kept with LINE's reason; a used-up quota stops sending.
//! `line_outbox_kill.rs` SIGKILLs a hub mid-send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::json;
use tenpo_hub::scenarios::ScenarioSettings;
use tenpo_hub::store::{LineStore, MessageView};

use common::line::{MENU, world};

fn states(m: &[MessageView]) -> Vec<(&str, &str)> {
    m.iter()
        .map(|v| (v.scenario.as_str(), v.state.as_str()))
        .collect()
}

fn all_done(m: &[MessageView]) -> bool {
    !m.is_empty()
        && m.iter()
            .all(|v| v.state != "pending" && v.state != "sending")
}

#[tokio::test]
async fn a_signup_is_welcomed_once_it_follows_and_never_twice() {
    let w = world(ScenarioSettings::default(), 1).await;
    let alice = "U4af4980629000000000000000000a11c";
    let member = w.sign_up(alice).await;
    // Written with the signup; held until LINE says Alice follows the account.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        states(&w.messages(&member).await),
        [("rich_menu", "pending"), ("welcome", "pending")]
    );
    assert!(w.pushes_to(alice).is_empty());

    w.deliver(vec![common::line_event(
        "follow",
        "01FOLLOW1",
        1_000,
        alice,
    )])
    .await;
    let sent = w.until(&member, "welcome and menu sent", all_done).await;
    assert_eq!(states(&sent), [("rich_menu", "sent"), ("welcome", "sent")]);
    let pushes = w.pushes_to(alice);
    assert_eq!(pushes.len(), 1);
    let welcome = sent.iter().find(|v| v.scenario == "welcome").unwrap();
    assert_eq!(
        pushes[0].retry_key.as_deref(),
        welcome.message_id.as_deref(),
        "the message's id is LINE's retry key"
    );
    assert!(
        pushes[0].messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("会員カード")
    );
    assert_eq!(
        w.standin.record().rich_menus.get(alice).map(String::as_str),
        Some(MENU)
    );

    // Blocked, then back (LINE keeps a user's menu), and a redelivered follow: nothing is
    // written or sent again.
    w.deliver(vec![
        common::line_event("unfollow", "01UNFOLLOW", 2_000, alice),
        common::line_event("follow", "01FOLLOW2", 3_000, alice),
        common::line_event("follow", "01FOLLOW1", 1_000, alice),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        states(&w.messages(&member).await),
        [("rich_menu", "sent"), ("welcome", "sent")]
    );
    assert_eq!(w.pushes_to(alice).len(), 1, "welcomed once");

    // A LINE user who is not a member gets nothing from tenpo.
    let stranger = "U4af4980629000000000000000000beef";
    w.deliver(vec![common::line_event(
        "follow",
        "01STRANGER",
        4_000,
        stranger,
    )])
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.pushes_to(stranger).is_empty());
    assert_eq!(w.hub.store.outbox_counts().await.unwrap().pending, 0);
}

#[tokio::test]
async fn nobody_who_blocked_the_account_is_sent_to() {
    let w = world(ScenarioSettings::default(), 1).await;
    let bob = "U4af4980629000000000000000000b0b0";
    let member = w.sign_up(bob).await;
    // Bob followed and blocked before the hub sent anything.
    w.deliver(vec![
        common::line_event("follow", "01BOBFOLLOW", 1_000, bob),
        common::line_event("unfollow", "01BOBBLOCK", 1_001, bob),
    ])
    .await;
    let m = w.until(&member, "unreachable", all_done).await;
    assert!(m.iter().all(|v| v.state == "unreachable"), "{m:#?}");
    assert!(
        m[0].last_error.as_deref().unwrap().contains("blocked"),
        "{m:#?}"
    );
    assert!(w.pushes_to(bob).is_empty());
    assert!(!w.standin.record().rich_menus.contains_key(bob));
}

#[tokio::test]
async fn lines_failures_are_retried_or_kept_with_its_reason() {
    let w = world(ScenarioSettings::default(), 1).await;
    // 500, then 429: both retried, and the welcome arrives once.
    w.fail_next(500, 1).await;
    w.fail_next(429, 1).await;
    let carol = "U4af4980629000000000000000000ca01";
    let member = w.sign_up(carol).await;
    w.deliver(vec![common::line_event("follow", "01CAROL", 1_000, carol)])
        .await;
    let m = w
        .until(&member, "sent after a 500 and a 429", |m| {
            m.iter()
                .any(|v| v.scenario == "welcome" && v.state == "sent")
        })
        .await;
    let welcome = m.iter().find(|v| v.scenario == "welcome").unwrap();
    assert!(welcome.attempts >= 2, "{welcome:?}");
    assert_eq!(w.pushes_to(carol).len(), 1);

    // 400: LINE will not take it; kept with LINE's words, never sent again.
    w.fail_next(400, 1).await;
    let dave = "U4af4980629000000000000000000da7e";
    let member = w.sign_up(dave).await;
    w.deliver(vec![common::line_event("follow", "01DAVE", 1_000, dave)])
        .await;
    let m = w
        .until(&member, "the refused welcome", |m| {
            m.iter()
                .any(|v| v.scenario == "welcome" && v.state == "failed")
        })
        .await;
    let welcome = m.iter().find(|v| v.scenario == "welcome").unwrap();
    let reason = welcome.last_error.as_deref().unwrap();
    assert!(
        reason.contains("LINE refused the request (400)"),
        "{reason}"
    );
    assert!(reason.contains("x-line-request-id"), "{reason}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.pushes_to(dave).is_empty());
}

#[tokio::test]
async fn a_used_up_quota_sends_nothing_and_keeps_the_message() {
    let w = world(ScenarioSettings::default(), 1).await;
    let set_quota = |limit: Option<u64>| {
        let url = format!("{}/standin/quota", w.standin_url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({ "limit": limit }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    };
    // Nothing left this month (the sender reads the quota when it starts and every minute;
    // a 429 makes it read again).
    set_quota(Some(0)).await;
    let erin = "U4af4980629000000000000000000e714";
    let member = w.sign_up(erin).await;
    w.deliver(vec![common::line_event("follow", "01ERIN", 1_000, erin)])
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(w.pushes_to(erin).is_empty());
    let welcome = w
        .messages(&member)
        .await
        .into_iter()
        .find(|v| v.scenario == "welcome")
        .unwrap();
    assert_eq!(welcome.state, "pending", "{welcome:?}");
    // What the sender read is posted for the console's messaging page.
    let read = *w.account.quota.lock().unwrap();
    assert_eq!(
        read.map(|r| r.left),
        Some(tenpo_hub::line::sender::Left::Limited { left: 0, limit: 0 })
    );
}
