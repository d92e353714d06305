//! The hub on PostgreSQL as terminals and IT meet it (docs/hub.md, "PostgreSQL"): two hubs on
//! one database answering the same terminal over HTTP on loopback, a database that drops its
//! connections answered 503 and then served again, `tenpo-hub doctor` on the database, and the
//! password kept out of `ps` and the logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::backends::open_postgres;
use reqwest::StatusCode;
use tenpo_hub::store::postgres::PgStore;
use tenpo_loyalty::MemberState;

async fn hub_on(url: &str) -> common::Hub<PgStore> {
    let store = Arc::new(open_postgres(url).await);
    common::start_on(tempfile::tempdir().unwrap(), store, |_| {}).await
}

#[tokio::test]
async fn two_hubs_on_one_database_serve_one_terminal_through_either() {
    let url = common::postgres::cluster().fresh_database().await;
    let (a, b) = (hub_on(&url).await, hub_on(&url).await);
    let rules = a.load_demo_rules().await;
    // Enrolled through one hub, it is known at the other.
    let till = b.enroll("shibuya").await;
    let card = common::card(5);
    let made = common::provisional(&till, 1, "p-5", &card);
    let (first, outcome) = common::sale(
        &till,
        2,
        Some("p-5"),
        &rules,
        &MemberState::default(),
        "s-1",
        1_000,
        0,
    );
    let body = a.push(&till, &[made.clone(), first.clone()]).await;
    assert_eq!(body["acked_through"], 2, "{body}");
    // The same push retried at the other hub (the answer was lost): nothing twice.
    let body = b.push(&till, &[made, first]).await;
    assert_eq!(common::statuses(&body), ["duplicate", "duplicate"]);
    let mut state = MemberState::default();
    state.take_sale(&outcome.unwrap(), Some(&rules));
    let (second, _) = common::sale(&till, 3, Some("p-5"), &rules, &state, "s-2", 2_000, 0);
    assert_eq!(b.push(&till, &[second]).await["acked_through"], 3);

    // A cursor from one hub reads on at the other.
    let (all, cursor) = a.drain(&till, "").await;
    assert!(all.iter().any(|c| c["kind"] == "member"), "{all:?}");
    let (_, next) = b.drain(&till, &cursor).await;
    let another = common::provisional(&till, 4, "p-6", &common::card(6));
    a.push(&till, &[another]).await;
    let (later, _) = b.drain(&till, &next).await;
    assert_eq!(later.len(), 1, "{later:?}");

    // Both answer the lookup alike: 1% of ¥3,000.
    let (status, mut at_a) = a.lookup(&till, &card).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mut at_b) = b.lookup(&till, &card).await;
    // Each hub's own clock aside.
    at_a["hub_time"].take();
    at_b["hub_time"].take();
    assert_eq!(at_a, at_b);
    assert_eq!(a.state(&card).await.balance(common::date("2026-11-20")), 30);
}

#[tokio::test]
async fn a_database_that_drops_its_connections_is_503_then_served_again() {
    let cluster = common::postgres::cluster();
    let url = cluster.fresh_database().await;
    let hub = hub_on(&url).await;
    let till = hub.enroll("shibuya").await;
    // The server ends every connection of the hub's database (a restart, a failover).
    let (admin, conn) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let database = url.rsplit('/').next().unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .unwrap();
    // Each request fails alone and says so (503, never a 500), until the pool reconnects.
    let mut served = false;
    for n in 1..=20 {
        let event = common::provisional(&till, 1, "p-1", &common::card(1));
        let items = serde_json::json!([common::item(&event)]);
        let (status, body) = hub.push_items(&till, items).await;
        match status {
            StatusCode::OK => {
                served = true;
                break;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains("nothing was written"), "{body}");
            }
            other => panic!("request {n}: {other} {body}"),
        }
    }
    assert!(served, "the hub never reconnected");
    let health = hub.http.get(hub.url("/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

fn doctor_on(url: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenpo-hub"))
        .args(["doctor", "--listen", "127.0.0.1:9", "--data-dir"])
        .arg(dir.path())
        .env("TENPO_HUB_DATABASE_URL", url)
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .env_remove("TENPO_HUB_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test]
async fn doctor_reads_the_database_it_would_serve() {
    let url = common::postgres::cluster().fresh_database().await;
    let (_, text) = doctor_on(&url);
    assert!(text.contains("reachable (PostgreSQL"), "{text}");
    assert!(text.contains("WARN no hub tables in"), "{text}");
    let hub = hub_on(&url).await;
    hub.enroll("shibuya").await;
    let (_, text) = doctor_on(&url);
    assert!(
        text.contains(&format!(
            "ok   database schema version {}: 1 terminal(s)",
            tenpo_hub::store::postgres::CURRENT_VERSION
        )),
        "{text}"
    );
    assert!(text.contains("ok   clock: within"), "{text}");
    // Nothing listens on the hub's port here: that is the one failure.
    assert!(text.trim_end().ends_with("1 problem(s) found"), "{text}");
    // A server that is not there is a failure with its fix.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, text) = doctor_on(&format!("postgres://tenpo@127.0.0.1:{port}/nowhere"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL database postgres://tenpo@127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("fix: check that the server is up"), "{text}");
}

#[tokio::test]
async fn the_password_stays_out_of_ps_and_the_logs() {
    let url = common::postgres::cluster().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    // On the command line: refused before anything starts.
    let with_password = url.replacen("tenpo@", "tenpo:s3cret-pw@", 1);
    let out = Command::new(env!("CARGO_BIN_EXE_tenpo-hub"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &with_password,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("TENPO_HUB_DATABASE_URL")
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("--database-password-file"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // From a file: used, and never shown (the test cluster trusts loopback, so any works).
    let secret = dir.path().join("database-password");
    std::fs::write(&secret, "s3cret-pw\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenpo-hub"))
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--database-password-file")
        .arg(&secret)
        .env("TENPO_HUB_DATABASE_URL", &url)
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .env_remove("TENPO_HUB_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = None;
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .take(50)
    {
        let line = line.unwrap();
        assert!(!line.contains("s3cret"), "password logged: {line}");
        if line.contains("tenpo-hub ready") {
            ready = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let ready = ready.expect("the hub never said it was ready");
    assert!(ready.contains(":***@127.0.0.1"), "{ready}");
}
