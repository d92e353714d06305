//! `tenpo-hub doctor` as IT runs it: before the first start, with the hub serving, and on a
//! database it must not trust (a newer schema, a clock gone back). It writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::binary::serve_on;

fn doctor(data: &std::path::Path, listen: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenpo-hub"))
        .args(["doctor", "--listen", listen, "--data-dir"])
        .arg(data)
        .env_remove("TENPO_HUB_ADMIN_TOKEN")
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .env_remove("TENPO_HUB_CONFIG")
        .output()
        .unwrap()
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn free_listen() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn before_the_first_start_it_says_what_is_missing_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listen = free_listen();
    let out = doctor(&data, &listen);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("WARN no database yet at"), "{text}");
    assert!(
        text.contains(&format!(
            "FAIL hub not running (nothing at http://{listen}/v1/health)"
        )),
        "{text}"
    );
    assert!(
        text.contains("fix: start it: `systemctl start tenpo-hub`"),
        "{text}"
    );
    assert!(text.contains("WARN admin token: none yet"), "{text}");
    assert!(text.trim_end().ends_with("1 problem(s) found"), "{text}");
    assert!(!data.exists(), "doctor made the data directory");
}

#[test]
fn a_serving_hub_is_healthy_and_a_database_it_must_not_trust_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listen = free_listen();
    let served = serve_on(&data, &listen);
    let out = doctor(&data, &listen);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "ok   database schema version {}: 0 terminal(s), 0 member(s)",
            tenpo_hub::store::sqlite::CURRENT_VERSION
        )),
        "{text}"
    );
    assert!(
        text.contains("ok   database integrity (quick_check)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ok   hub answering at http://{listen}/v1/health")),
        "{text}"
    );
    assert!(text.contains("admin token:"), "{text}");
    assert!(text.trim_end().ends_with("no problems found"), "{text}");
    drop(served);

    // The clock went back: the hub recorded a run ten minutes from now.
    let db = data.join("hub.db");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO feed_runs (run, started_after, started_at) VALUES ('future', 0, ?1)",
        [&later],
    )
    .unwrap();
    let out = doctor(&data, &listen);
    let text = report(&out);
    assert!(text.contains("FAIL clock: now is"), "{text}");
    assert!(text.contains("the clock went back"), "{text}");

    // A database from a newer hub.
    conn.pragma_update(
        None,
        "user_version",
        tenpo_hub::store::sqlite::CURRENT_VERSION + 1,
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let out = doctor(&data, &listen);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("is newer than this hub knows")
            && text.contains("fix: install the newer tenpo-hub"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "doctor wrote to the database"
    );
}
