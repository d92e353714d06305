//! The message outbox and its LINE sender (docs/design.md §10), over real HTTP with the LINE
//! stand-in on its own port: a signup's welcome waits for the follow and goes once; a follow by
//! a member links the member rich menu; nobody who blocked the account is sent to; LINE's 5xx
//! and 429 are retried, another 4xx kept with LINE's reason; a used-up quota stops sending.
//! `line_outbox_kill.rs` SIGKILLs a hub mid-send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tenpo_hub::line::sender::{Sender, SenderSettings};
use tenpo_hub::line::{MessagingSettings, OfficialAccount};
use tenpo_hub::signup::{LineSettings, SignupService};
use tenpo_hub::store::{HubStore, MessageView};
use tenpo_line::standin::{MessagingChannel, Record, StandIn, router};

use common::{Hub, Till};

const CHANNEL: &str = "1234567890";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "messaging-access-token";
const MENU: &str = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7";

struct World {
    hub: Hub,
    till: Till,
    standin: Arc<StandIn>,
    standin_url: String,
}

async fn world() -> World {
    let standin = Arc::new(
        StandIn::new([(CHANNEL.to_owned(), "login-secret".to_owned())]).with_messaging(
            MessagingChannel {
                access_token: TOKEN.into(),
                channel_secret: SECRET.into(),
                bot_user_id: "U00000000000000000000000000000b07".into(),
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(standin.clone())).into_future());
    let settings = MessagingSettings {
        channel_secret: Some(SECRET.into()),
        access_token: Some(TOKEN.into()),
        member_rich_menu_id: Some(MENU.into()),
        sender: SenderSettings {
            rate_per_second: NonZeroU32::new(1000).unwrap(),
            ..SenderSettings::default()
        },
    };
    let account = Arc::new(OfficialAccount::new(settings.clone(), &standin_url).unwrap());
    let (api, line) = (standin_url.clone(), account.clone());
    let hub = common::start_with(tempfile::tempdir().unwrap(), move |state| {
        state.signup = Arc::new(
            SignupService::new(LineSettings {
                channel_id: Some(CHANNEL.into()),
                liff_id: Some("1234567890-AbCdEfGh".into()),
                api_base: api,
                welcome_stamps: 1,
            })
            .unwrap(),
        );
        state.line = line;
    })
    .await;
    let sender = Sender::new(
        hub.store.clone(),
        account.client.clone().unwrap(),
        settings.sender,
        account.outbox_written.clone(),
    );
    tokio::spawn(sender.run());
    hub.load_demo_rules().await;
    let till = hub.enroll("shibuya-01").await;
    World {
        hub,
        till,
        standin,
        standin_url,
    }
}

impl World {
    /// `user` signs up at the kiosk with LINE; their member id.
    async fn sign_up(&self, user: &str) -> String {
        common::sign_up_with_line(&self.hub, &self.till, &self.standin, CHANNEL, user).await
    }

    /// LINE delivers these events (follow and unfollow also change the stand-in's friends).
    async fn deliver(&self, events: Vec<Value>) {
        let status = common::deliver_webhook(&self.standin_url, &self.hub, events).await;
        assert_eq!(status, 200);
    }

    async fn fail_next(&self, status: u16, count: usize) {
        let r = reqwest::Client::new()
            .post(format!("{}/standin/fail", self.standin_url))
            .json(&json!({"status": status, "count": count}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    async fn messages(&self, member_id: &str) -> Vec<MessageView> {
        self.hub
            .store
            .member_messages(member_id.into())
            .await
            .unwrap()
    }

    /// Waits (bounded) until `done` holds of the member's messages; they are answered.
    async fn until(
        &self,
        member_id: &str,
        what: &str,
        done: impl Fn(&[MessageView]) -> bool,
    ) -> Vec<MessageView> {
        for _ in 0..200 {
            let m = self.messages(member_id).await;
            if done(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: {:#?}", self.messages(member_id).await);
    }

    fn pushes_to(&self, user: &str) -> Vec<tenpo_line::standin::RecordedPush> {
        let record: Record = self.standin.record();
        record.pushes.into_iter().filter(|p| p.to == user).collect()
    }
}

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
    let w = world().await;
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
        Some(welcome.message_id.as_str()),
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
    let w = world().await;
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
    let w = world().await;
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
    let w = world().await;
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
}
