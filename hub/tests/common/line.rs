//! A hub that talks to members in LINE, for the messaging tests: the LINE stand-in on its own
//! port, the hub's sender running against it, signups with LINE, webhook deliveries.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tenpo_hub::line::sender::{Sender, SenderSettings};
use tenpo_hub::line::{MessagingSettings, OfficialAccount};
use tenpo_hub::scenarios::{QuietHours, ScenarioSettings, Scenarios};
use tenpo_hub::signup::{LineSettings, SignupService};
use tenpo_hub::store::{LineStore, MessageView};
use tenpo_line::standin::{MessagingChannel, Record, StandIn, router};

use super::{Hub, Till};

pub const CHANNEL: &str = "1234567890";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "messaging-access-token";
pub const MENU: &str = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7";

pub struct World {
    pub hub: Hub,
    pub till: Till,
    pub standin: Arc<StandIn>,
    pub standin_url: String,
    /// The official account the hub serves (its sender posts the quota it reads here).
    pub account: Arc<OfficialAccount>,
}

/// A hub with LINE messaging and the given scenarios, its sender running, a stand-in for
/// LINE, an enrolled till; new members start with `welcome_stamps`.
pub async fn world(scenarios: ScenarioSettings, welcome_stamps: u32) -> World {
    world_with(scenarios, welcome_stamps, |_, _| {}).await
}

/// [`world`], with the sender's settings (their `zones` are the hub's too) and the stand-in
/// set by `before` before the sender starts (it reads the month's quota first thing).
pub async fn world_with(
    scenarios: ScenarioSettings,
    welcome_stamps: u32,
    before: impl FnOnce(&mut SenderSettings, &StandIn),
) -> World {
    world_full(scenarios, welcome_stamps, before, |_| {}).await
}

/// [`world`], with more of the hub's state set by `state` (the catalogue feed's token, the
/// unsubscribe key …) before it starts.
pub async fn world_with_state(
    scenarios: ScenarioSettings,
    welcome_stamps: u32,
    state: impl FnOnce(&mut tenpo_hub::api::AppState<tenpo_hub::store::SqliteStore>) + Send + 'static,
) -> World {
    world_full(scenarios, welcome_stamps, |_, _| {}, state).await
}

async fn world_full(
    scenarios: ScenarioSettings,
    welcome_stamps: u32,
    before: impl FnOnce(&mut SenderSettings, &StandIn),
    more_state: impl FnOnce(&mut tenpo_hub::api::AppState<tenpo_hub::store::SqliteStore>)
    + Send
    + 'static,
) -> World {
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
    let mut sender = SenderSettings {
        rate_per_second: NonZeroU32::new(1000).unwrap(),
        marketing_per_week: scenarios.marketing_per_week,
        // Tests run at any hour: none is quiet unless a test says so.
        quiet_hours: QuietHours { start: 0, end: 0 },
        ..SenderSettings::default()
    };
    before(&mut sender, &standin);
    let settings = MessagingSettings {
        channel_secret: Some(SECRET.into()),
        access_token: Some(TOKEN.into()),
        member_rich_menu_id: Some(MENU.into()),
        sender,
    };
    let mut account = OfficialAccount::new(settings.clone(), &standin_url).unwrap();
    let planner = Arc::new(Scenarios {
        settings: scenarios,
    });
    account.scenarios = planner.clone();
    let account = Arc::new(account);
    let (api, line, zones) = (
        standin_url.clone(),
        account.clone(),
        settings.sender.zones.clone(),
    );
    let hub = super::start_with(tempfile::tempdir().unwrap(), move |state| {
        state.signup = Arc::new(
            SignupService::new(LineSettings {
                channel_id: Some(CHANNEL.into()),
                liff_id: Some("1234567890-AbCdEfGh".into()),
                api_base: api,
                welcome_stamps,
                ..LineSettings::default()
            })
            .unwrap(),
        );
        state.line = line;
        state.zones = zones;
        more_state(state);
    })
    .await;
    let sender = Sender::new(
        hub.store.clone(),
        account.client.clone().unwrap(),
        planner.clone(),
        settings.sender.clone(),
        account.outbox_written.clone(),
    )
    .with_board(account.quota.clone());
    tokio::spawn(sender.run());
    hub.store.set_planner(planner);
    hub.load_demo_rules().await;
    let till = hub.enroll("shibuya-01").await;
    World {
        hub,
        till,
        standin,
        standin_url,
        account,
    }
}

impl World {
    /// A LINE ID token for `user`, valid ten minutes, as LIFF would give the card page.
    pub fn id_token(&self, user: &str) -> String {
        self.standin
            .id_token(&tenpo_line::standin::IdTokenClaims::new(CHANNEL, user, 600))
            .unwrap()
    }

    /// POSTs `body` as JSON to the hub's `path`: the status and the JSON answer (null if none).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .hub
            .http
            .post(self.hub.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// `user` signs up at the kiosk with LINE; their member id.
    pub async fn sign_up(&self, user: &str) -> String {
        super::sign_up_with_line(&self.hub, &self.till, &self.standin, CHANNEL, user).await
    }

    /// LINE delivers these events (follow and unfollow also change the stand-in's friends).
    pub async fn deliver(&self, events: Vec<Value>) {
        let status = super::deliver_webhook(&self.standin_url, &self.hub, events).await;
        assert_eq!(status, 200);
    }

    pub async fn fail_next(&self, status: u16, count: usize) {
        let r = reqwest::Client::new()
            .post(format!("{}/standin/fail", self.standin_url))
            .json(&json!({"status": status, "count": count}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    pub async fn messages(&self, member_id: &str) -> Vec<MessageView> {
        self.hub
            .store
            .member_messages(member_id.into())
            .await
            .unwrap()
    }

    /// Waits (bounded) until `done` holds of the member's messages; they are answered.
    pub async fn until(
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

    pub fn pushes_to(&self, user: &str) -> Vec<tenpo_line::standin::RecordedPush> {
        let record: Record = self.standin.record();
        record.pushes.into_iter().filter(|p| p.to == user).collect()
    }
}
