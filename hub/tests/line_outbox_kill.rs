//! Exactly once across a crash (docs/design.md §10): the `tenpo-hub` binary sends a queue of
//! welcomes to the LINE stand-in, is SIGKILLed mid-send (LINE has accepted some pushes the hub
//! never heard answered), and is started again: every member has their welcome once, counted by
//! retry key at the stand-in, and the resends of the unanswered ones were answered `409`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tenpo_hub::line::{MessagingSettings, OfficialAccount};
use tenpo_hub::signup::{LineSettings, SignupService};
use tenpo_hub::store::{LineStore, SqliteStore};
use tenpo_line::standin::{MessagingChannel, StandIn, router};

const BIN: &str = env!("CARGO_BIN_EXE_tenpo-hub");
const CHANNEL: &str = "1234567890";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "messaging-access-token";
const MEMBERS: usize = 120;

fn user(i: usize) -> String {
    format!("U{i:032x}")
}

/// The `tenpo-hub` binary on `data`, its settings in `dir`, sending to the stand-in at `line` at
/// 200 requests a second.
fn start_hub(dir: &std::path::Path, data: &std::path::Path, line: &str) -> tokio::process::Child {
    let config = dir.join("hub.toml");
    std::fs::write(dir.join("line-token"), TOKEN).unwrap();
    std::fs::write(dir.join("line-secret"), SECRET).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\
             [line]\n\
             api_base = \"{line}\"\n\
             access_token_file = \"{token}\"\n\
             channel_secret_file = \"{secret}\"\n\
             send_rate_per_second = 200\n",
            token = dir.join("line-token").display(),
            secret = dir.join("line-secret").display(),
        ),
    )
    .unwrap();
    tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data)
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_hub_killed_mid_send_sends_each_message_once() {
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
    let line = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(standin.clone())).into_future());

    // The queue: members who signed up and follow the account, written by an in-process hub
    // that has the access token (so it writes welcomes) and no sender.
    let dir = tempfile::tempdir().unwrap();
    let account = OfficialAccount::new(
        MessagingSettings {
            channel_secret: Some(SECRET.into()),
            access_token: Some(TOKEN.into()),
            ..MessagingSettings::default()
        },
        &line,
    )
    .unwrap();
    let api = line.clone();
    let hub = common::start_with(tempfile::tempdir().unwrap(), move |state| {
        state.signup = Arc::new(
            SignupService::new(LineSettings {
                channel_id: Some(CHANNEL.into()),
                liff_id: Some("1234567890-AbCdEfGh".into()),
                api_base: api,
                welcome_stamps: 1,
                ..LineSettings::default()
            })
            .unwrap(),
        );
        state.line = Arc::new(account);
    })
    .await;
    hub.load_demo_rules().await;
    let till = hub.enroll("shibuya-01").await;
    for i in 0..MEMBERS {
        common::sign_up_with_line(&hub, &till, &standin, CHANNEL, &user(i)).await;
    }
    let follows = (0..MEMBERS)
        .map(|i| common::line_event("follow", &format!("01F{i:08}"), 1_000, &user(i)))
        .collect();
    assert_eq!(common::deliver_webhook(&line, &hub, follows).await, 200);
    let counts = hub.store.outbox_counts().await.unwrap();
    assert_eq!(counts.pending, MEMBERS as u64);
    // The same database, now the binary's.
    let data = hub.stop().await;
    let data = data.path();

    // LINE answers each accepted push 40 ms late: a kill lands while some are accepted and
    // not yet answered.
    let r = reqwest::Client::new()
        .post(format!("{line}/standin/latency"))
        .json(&json!({"ms": 40}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let mut first = start_hub(dir.path(), data, &line);
    let mut accepted = 0;
    for _ in 0..3000 {
        accepted = standin.record().pushes.len();
        if accepted >= MEMBERS / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let at_kill = standin.record().pushes.len();
    assert!(
        (MEMBERS / 3..MEMBERS).contains(&at_kill),
        "killed mid-send: {accepted} then {at_kill} of {MEMBERS} accepted"
    );

    let mut second = start_hub(dir.path(), data, &line);
    for _ in 0..600 {
        if standin.record().pushes.len() >= MEMBERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A moment more: anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.start_kill().unwrap();
    second.wait().await.unwrap();

    let record = standin.record();
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &record.pushes {
        *per_user.entry(p.to.as_str()).or_default() += 1;
    }
    let keys: BTreeSet<_> = record.pushes.iter().map(|p| p.retry_key.clone()).collect();
    assert_eq!(per_user.len(), MEMBERS, "every member was welcomed");
    assert!(per_user.values().all(|&n| n == 1), "{per_user:?}");
    assert_eq!(keys.len(), MEMBERS, "one retry key per message");
    assert!(
        record.replays >= 1,
        "some pushes were accepted but unanswered at the kill, and resent ({} replays)",
        record.replays
    );

    let store = SqliteStore::open(&data.join(tenpo_hub::config::DB_FILE), Utc::now()).unwrap();
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.sent, MEMBERS as u64, "{counts:?}");
    assert_eq!((counts.pending, counts.sending), (0, 0), "{counts:?}");
}
