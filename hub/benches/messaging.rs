//! Talking to members (docs/design.md §8, §10), measured on this machine:
//!
//! - **a scenario over every member**: the daily scan of N members linked to LINE (default
//!   1,000,000), each with a lot of points about to lapse, selected and queued (one message
//!   each);
//! - **sending**: the hub's sender pushing the first M of those (default 20,000) to the LINE
//!   stand-in on loopback, at the highest rate LINE allows (2,000 a second), then checked:
//!   each accepted once, by retry key.
//!
//! The members are written straight into a fresh SQLite database before the hub's store opens
//! it (a million signups would measure the fixture, not the scan). Run:
//! `cargo bench -p tenpo-hub --bench messaging` (sizes: `TENPO_BENCH_MEMBERS`,
//! `TENPO_BENCH_SEND`; `TENPO_BENCH_PROFILES=1` gives each member a profile, as a member who
//! answered the profile form in LINE has). Prints a Markdown table. On PostgreSQL,
//! `TENPO_BENCH_HUB_DATABASE=postgres`: the same fixture moved as a chain moves its hub
//! (`tenpo-hub migrate --to`, not timed) into a server the bench starts on this machine's disk
//! with `fsync` on, then the same scan and sender; its database is made with the server's
//! locale, `C`, or with `TENPO_BENCH_PG_LOCALE` (e.g. `ja_JP.UTF-8`, as a server set up in
//! Japan often is; the machine must have the locale: `localedef -i ja_JP -f UTF-8
//! ja_JP.UTF-8`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, params};
use tenpo_hub::line::sender::{Sender, SenderSettings};
use tenpo_hub::scenarios::{QuietHours, ScenarioSettings, Scenarios, daily};
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore, move_from_sqlite};
use tenpo_hub::store::{HomeStores, HubStore, SqliteStore};
use tenpo_line::messaging::MessagingClient;
use tenpo_line::standin::{MessagingChannel, StandIn, router};
use tenpo_loyalty::{Date, MemberState, PointLot};
use tenpo_protocol::sync::MemberSnapshot;

use common::env_usize;

const TOKEN: &str = "bench-messaging-token";

/// `n` members, each linked to a LINE user who follows the account, each with 500 points
/// lapsing 10 days after `today`; with `profiles`, each with a profile too (Japanese, store
/// news on).
fn populate(db: &std::path::Path, n: usize, today: Date, profiles: bool) {
    let mut conn = Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let now = Utc::now().to_rfc3339();
    {
        let mut member = tx
            .prepare(
                "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .unwrap();
        let mut code = tx
            .prepare("INSERT INTO member_codes (code, member_id) VALUES (?1, ?2)")
            .unwrap();
        let mut link = tx
            .prepare(
                "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES (?1, ?2, ?3)",
            )
            .unwrap();
        let mut profile = tx
            .prepare(
                "INSERT INTO member_profiles (member_id, language, marketing, updated_at)
                 VALUES (?1, 'ja', 1, ?2)",
            )
            .unwrap();
        let mut users = Vec::with_capacity(n);
        for i in 0..n {
            let number = tenpo_protocol::codes::with_check_digit(&format!("23{i:010}")).unwrap();
            let member_id = format!("m{i:09}");
            // LINE user ids are random: scattered, as they are, through every index on them.
            let user = format!(
                "U{:032x}",
                (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            );
            let snapshot = MemberSnapshot {
                member_id: member_id.clone(),
                number: number.clone(),
                codes: vec![number.clone()],
                provisional: false,
                state: MemberState {
                    lots: vec![PointLot {
                        lot_id: format!("import-{i}"),
                        earned_on: today.add_days(-300),
                        expires_on: today.add_days(10),
                        points: 500,
                    }],
                    ..MemberState::default()
                },
                applied_through: Default::default(),
                merged_ids: Vec::new(),
            };
            let json = serde_json::to_string(&snapshot).unwrap();
            member
                .execute(params![member_id, number, json, now])
                .unwrap();
            code.execute(params![number, member_id]).unwrap();
            link.execute(params![user, member_id, now]).unwrap();
            if profiles {
                profile.execute(params![member_id, now]).unwrap();
            }
            users.push(user);
        }
        // Each follows; written in id order, as the triggers that copy it to the link (schema
        // migration 10) read and write by LINE user id.
        users.sort_unstable();
        let mut friend = tx
            .prepare(
                "INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES (?1, 1, 1)",
            )
            .unwrap();
        for user in users {
            friend.execute(params![user]).unwrap();
        }
    }
    tx.commit().unwrap();
    // The fixture in the file, as a day's data would be: the scan does not pay for copying it.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// What the scan and the sender did on one backend.
struct Measured {
    scan: Duration,
    send: Duration,
    pushes: usize,
    twice: usize,
}

#[tokio::main]
async fn main() {
    let members = env_usize("TENPO_BENCH_MEMBERS", 1_000_000);
    let to_send = env_usize("TENPO_BENCH_SEND", 20_000).min(members);
    let postgres = std::env::var("TENPO_BENCH_HUB_DATABASE").is_ok_and(|v| v == "postgres");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let today: Date = "2026-12-01".parse().unwrap();

    // The schema, then the members, then the store as the hub opens it.
    drop(SqliteStore::open(&db, Utc::now()).unwrap());
    let t = Instant::now();
    let profiles = std::env::var("TENPO_BENCH_PROFILES").is_ok_and(|v| v == "1");
    populate(&db, members, today, profiles);
    eprintln!(
        "fixture: {members} members{} in {:.1} s",
        if profiles { " with profiles" } else { "" },
        t.elapsed().as_secs_f64()
    );
    if let Ok(keep) = std::env::var("TENPO_BENCH_KEEP") {
        std::fs::copy(&db, keep).unwrap();
    }
    let (backend, m) = if postgres {
        // The same members moved as a chain moves its hub (`tenpo-hub migrate --to`), into a
        // server on this machine's disk with `fsync` on.
        let locale = std::env::var("TENPO_BENCH_PG_LOCALE").ok();
        let url = tenpo_e2e::postgres::durable_cluster()
            .fresh_database_in(locale.as_deref())
            .await;
        let url = DatabaseUrl::parse(&url).unwrap();
        let t = Instant::now();
        move_from_sqlite(&db, &url, Utc::now()).await.unwrap();
        eprintln!(
            "fixture moved to PostgreSQL in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // The pool a hub opens by default: the scan writes as many pages at once as it allows.
        let store = Arc::new(
            PgStore::open(
                &url,
                tenpo_hub::config::DEFAULT_CONNECTIONS as usize,
                Utc::now(),
            )
            .await
            .unwrap(),
        );
        let backend = match locale {
            Some(l) => format!("PostgreSQL, a database in {l}"),
            None => "PostgreSQL".to_string(),
        };
        (backend, measure(store, members, to_send, today).await)
    } else {
        let store = Arc::new(SqliteStore::open(&db, Utc::now()).unwrap());
        (
            "SQLite".to_string(),
            measure(store, members, to_send, today).await,
        )
    };

    println!("| what ({backend}) | figure | budget (docs/design.md §8) |");
    println!("|---|---|---|");
    println!(
        "| points-expiring scan of {members} linked members, each queued a message | {:.1} s ({:.0} members/s) | ≤ 10 s for 1,000,000 |",
        m.scan.as_secs_f64(),
        members as f64 / m.scan.as_secs_f64()
    );
    println!(
        "| sending {} messages to the LINE stand-in at a configured 2,000/s | {:.0} messages/s ({:.1} s) | ≥ 1,000/s per hub process |",
        m.pushes,
        m.pushes as f64 / m.send.as_secs_f64(),
        m.send.as_secs_f64()
    );
    println!(
        "| messages accepted twice (by retry key) | {} | 0 |",
        m.twice
    );
    assert_eq!(m.twice, 0, "a message accepted twice");
}

/// The daily scan over every member of `store` (each queued a message), then the sender
/// pushing the first `to_send` of them to the LINE stand-in on loopback.
async fn measure<S: HubStore + 'static>(
    store: Arc<S>,
    members: usize,
    to_send: usize,
    today: Date,
) -> Measured {
    let rules: tenpo_loyalty::RuleSet =
        toml::from_str(include_str!("../../loyalty/examples/demo-rules.toml")).unwrap();
    store.load_rules(rules, Utc::now()).await.unwrap();
    let settings = ScenarioSettings {
        card_url: Some("https://liff.line.me/1234567890-AbCdEfGh/card".into()),
        ..ScenarioSettings::default()
    };
    let scenarios = Arc::new(Scenarios {
        settings: settings.clone(),
    });
    store.set_planner(scenarios.clone());

    let t = Instant::now();
    let report = daily::run_day(store.as_ref(), &settings, &HomeStores::All, today)
        .await
        .unwrap();
    let scan = t.elapsed();
    assert_eq!(report.messages, members as u64);
    let pending = store.outbox_counts().await.unwrap().pending;
    assert_eq!(pending, members as u64);

    // Sending: the stand-in on loopback, the sender at LINE's own limit.
    let standin = Arc::new(StandIn::new([]).with_messaging(MessagingChannel {
        access_token: TOKEN.into(),
        channel_secret: "bench-secret".into(),
        bot_user_id: "U00000000000000000000000000000b07".into(),
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(standin.clone())).into_future());
    let client = MessagingClient::new(&base, TOKEN).unwrap();
    let sender = Sender::new(
        store.clone(),
        client,
        scenarios,
        SenderSettings {
            rate_per_second: NonZeroU32::new(2000).unwrap(),
            batch: 256,
            quiet_hours: QuietHours { start: 0, end: 0 },
            marketing_per_week: u32::MAX,
            ..SenderSettings::default()
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let t = Instant::now();
    let task = tokio::spawn(sender.run());
    while standin.accepted() < to_send {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let send = t.elapsed();
    task.abort();
    let record = standin.record();
    let keys: BTreeSet<_> = record.pushes.iter().map(|p| &p.retry_key).collect();
    Measured {
        scan,
        send,
        pushes: record.pushes.len(),
        twice: record.pushes.len() - keys.len(),
    }
}
