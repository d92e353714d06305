//! Moving a SQLite hub to PostgreSQL (`tenpo-hub migrate --to`, docs/hub.md): everything it
//! holds arrives, checked by counts and content hashes, and its terminals carry on at the new
//! hub with the credentials and feed cursors they have.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::backends::open_postgres;
use reqwest::StatusCode;
use tenpo_hub::store::postgres::{DatabaseUrl, move_from_sqlite};
use tenpo_hub::store::{StoreError, TillStore};
use tenpo_loyalty::MemberState;

#[tokio::test]
async fn a_sqlite_hub_moves_whole_and_its_terminals_carry_on() {
    // A SQLite hub with a bit of everything: rules, imported members, a terminal's sales, a
    // conflict, a revoked card.
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let imported = common::card(100);
    common::import(&hub, &[(&imported, 500, 0, Some("1990-04-02"))]).await;
    let till = hub.enroll("shibuya").await;
    let card = common::card(1);
    let made = common::provisional(&till, 1, "p-1", &card);
    let (sale, outcome) = common::sale(
        &till,
        2,
        Some("p-1"),
        &rules,
        &MemberState::default(),
        "s-1",
        1_000,
        0,
    );
    hub.push(&till, &[made, sale]).await;
    let other = common::provisional(&till, 2, "p-x", &common::card(2));
    hub.push(&till, &[other]).await; // a conflict: seq 2 held other content
    hub.admin().revoke_code(&common::card(3)).await.unwrap();
    let (_, cursor) = hub.drain(&till, "").await;
    let before = hub.store.counts().await.unwrap();
    let dir = hub.stop().await;

    let url = common::postgres::cluster().fresh_database().await;
    let target = DatabaseUrl::parse(&url).unwrap();
    let moved = move_from_sqlite(&dir.path().join("hub.db"), &target, Utc::now())
        .await
        .unwrap();
    let rows = |table: &str| {
        moved
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows)
            .unwrap_or_else(|| panic!("{table} not moved"))
    };
    assert_eq!(rows("events"), 2);
    assert_eq!(rows("members"), 2);
    assert_eq!(rows("terminals"), 1);
    assert_eq!(rows("conflicts"), 1);
    assert_eq!(rows("revoked_codes"), 1);
    assert_eq!(rows("rule_sets"), 1);
    assert!(moved.iter().all(|t| t.hash.len() == 64));
    // Not twice: the target must be empty.
    let e = move_from_sqlite(&dir.path().join("hub.db"), &target, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("not empty")),
        "{e}"
    );

    // The PostgreSQL hub: the same counts, and the terminal carries on as it was.
    let store = Arc::new(open_postgres(&url).await);
    let after = store.counts().await.unwrap();
    assert_eq!(
        (
            after.terminals,
            after.events,
            after.members,
            after.conflicts
        ),
        (
            before.terminals,
            before.events,
            before.members,
            before.conflicts
        )
    );
    let moved_hub = common::start_on(tempfile::tempdir().unwrap(), store, |_| {}).await;
    // Its feed cursor is good (no reset), and its credentials work.
    let (status, body) = moved_hub.changes(&till, &cursor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut state = MemberState::default();
    state.take_sale(&outcome.unwrap(), Some(&rules));
    let (next, _) = common::sale(&till, 3, Some("p-1"), &rules, &state, "s-2", 2_000, 0);
    let body = moved_hub.push(&till, &[next]).await;
    assert_eq!(body["acked_through"], 3, "{body}");
    let (later, _) = moved_hub.drain(&till, &cursor).await;
    assert_eq!(later.len(), 1, "the member's new balance: {later:?}");
    assert_eq!(
        moved_hub
            .state(&card)
            .await
            .balance(common::date("2026-11-20")),
        30
    );
    assert_eq!(
        moved_hub
            .state(&imported)
            .await
            .balance(common::date("2026-11-20")),
        500
    );
    let (status, _) = moved_hub.lookup(&till, &common::card(3)).await;
    assert_ne!(status, StatusCode::OK, "the revoked card stays revoked");
}
