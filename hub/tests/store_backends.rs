//! What holds of one backend alone (docs/design.md §12), beside the suite both backends pass
//! (`store_conformance*.rs`): several hub processes on one PostgreSQL database (one push
//! reaching two at once, one event id from two terminals, a cursor from one good at the other,
//! a cursor from after a backup reset by the restored database, a webhook delivery that takes
//! its users' locks in one order), a PostgreSQL server that cannot be reached, and a SQLite
//! file reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::backends::*;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};
use tenpo_hub::store::{SqliteStore, StoreError, TillStore};
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::{Change, PushStatus};

#[tokio::test]
async fn one_push_reaching_two_hubs_at_once_is_taken_once() {
    let (a, b) = two_hubs().await;
    a.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rules = RuleSet::demo();
    let (till, terminal) = till(&a, "shibuya").await;
    let card = common::card(9);
    let made = common::provisional(&till, 1, "p-9", &card);
    push(&a, &terminal, &[&made]).await;
    // The same batch of sales, sent to both hubs at the same moment (a retry after a cut).
    let mut state = MemberState::default();
    let mut sales = Vec::new();
    for n in 0..20u64 {
        let (e, outcome) = common::sale(
            &till,
            n + 2,
            Some("p-9"),
            &rules,
            &state,
            &format!("s-{n}"),
            1_000,
            0,
        );
        state.take_sale(&outcome.unwrap(), Some(&rules));
        sales.push(e);
    }
    let batch: Vec<&Event> = sales.iter().collect();
    let (one, two) = tokio::join!(push(&a, &terminal, &batch), push(&b, &terminal, &batch));
    assert_eq!(one.acked_through, 21);
    assert_eq!(two.acked_through, 21);
    let stored = |o: &tenpo_hub::store::PushOutcome| {
        statuses(o)
            .iter()
            .filter(|s| **s == PushStatus::Stored)
            .count()
    };
    assert_eq!(stored(&one) + stored(&two), 20, "each sale stored once");
    let (at_a, at_b) = (member(&a, &card).await, member(&b, &card).await);
    assert_eq!(at_a, at_b);
    assert_eq!(
        balance(&at_a),
        200,
        "1% of twenty ¥1,000 sales, applied once"
    );
    assert_eq!(a.counts().await.unwrap().discrepancies, 0);
}

#[tokio::test]
async fn one_event_id_from_two_terminals_at_two_hubs_is_stored_once() {
    let (a, b) = two_hubs().await;
    let (one, t1) = till(&a, "shibuya").await;
    let (two, t2) = till(&b, "umeda").await;
    for round in 0..5u64 {
        let first = common::provisional(
            &one,
            round + 1,
            &format!("p1-{round}"),
            &common::card(round),
        );
        let mut second = common::provisional(
            &two,
            round + 1,
            &format!("p2-{round}"),
            &common::card(round + 50),
        );
        second.event_id = first.event_id.clone();
        let (at_one, at_two) = ([&first], [&second]);
        let (x, y) = tokio::join!(push(&a, &t1, &at_one), push(&b, &t2, &at_two));
        let mut got = [statuses(&x)[0], statuses(&y)[0]];
        got.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(
            got,
            [PushStatus::Conflict, PushStatus::Stored],
            "round {round}"
        );
    }
    assert_eq!(a.counts().await.unwrap().conflicts, 5);
}

#[tokio::test]
async fn a_cursor_from_one_hub_is_good_at_the_other() {
    let (a, b) = two_hubs().await;
    b.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let (till, terminal) = till(&a, "shibuya").await;
    let first = common::provisional(&till, 1, "p-1", &common::card(1));
    push(&a, &terminal, &[&first]).await;
    let page = a.changes(None, 100).await.unwrap();
    assert_eq!(
        page.changes.len(),
        3,
        "key, rules, member: {:?}",
        page.changes
    );
    // Hub b takes the cursor hub a made, and sees what hub a took since.
    let second = common::provisional(&till, 2, "p-2", &common::card(2));
    push(&a, &terminal, &[&second]).await;
    let next = b.changes(Some(page.next.clone()), 100).await.unwrap();
    assert_eq!(next.changes.len(), 1);
    // And the other way round.
    let third = common::provisional(&till, 3, "p-3", &common::card(3));
    push(&b, &terminal, &[&third]).await;
    let last = a.changes(Some(next.next), 100).await.unwrap();
    assert_eq!(last.changes.len(), 1);
    // A rule set loaded at one hub is the other's too.
    assert_eq!(a.current_rules().await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_cursor_handed_out_after_a_backup_is_reset_by_the_restored_database() {
    let cluster = common::postgres::cluster();
    let url = cluster.fresh_database().await;
    let hub = open_postgres(&url).await;
    let (till, terminal) = till(&hub, "shibuya").await;
    let first = common::provisional(&till, 1, "p-1", &common::card(1));
    push(&hub, &terminal, &[&first]).await;
    hub.changes(None, 100).await.unwrap();
    // The backup, taken now (a database made from this one as its template).
    let backup = cluster.copy_database(&url).await;
    // After it, more changes and a cursor past what the backup holds.
    let second = common::provisional(&till, 2, "p-2", &common::card(2));
    push(&hub, &terminal, &[&second]).await;
    let later = hub.changes(None, 100).await.unwrap().next;
    drop(hub);
    // Restored: the run is known, but the cursor is ahead of what the run had reached then,
    // even once the restored hub's log has grown past it (the terminal sends seq 2 again).
    let restored = open_postgres(&backup).await;
    let terminal = restored
        .terminal(terminal.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    let resent: Vec<Event> = (2..=6)
        .map(|n| common::provisional(&till, n, &format!("p-{n}"), &common::card(n)))
        .collect();
    push(&restored, &terminal, &resent.iter().collect::<Vec<_>>()).await;
    let end = restored.changes(None, 100).await.unwrap().next.position;
    assert!(end > later.position, "{end} > {}", later.position);
    match restored.changes(Some(later), 100).await {
        Err(StoreError::CursorReset(why)) => assert!(why.contains("ahead"), "{why}"),
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_unavailable_not_a_crash() {
    // A loopback port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = DatabaseUrl::parse(&format!("postgres://tenpo@127.0.0.1:{port}/hub")).unwrap();
    let e = PgStore::open(&url, 2, Utc::now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("database server is up"), "{e}");
}

#[tokio::test]
async fn the_sqlite_store_keeps_its_cursors_and_key_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path, Utc::now()).unwrap();
    let page = store.changes(None, 1000).await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path, Utc::now()).unwrap();
    let after = store.changes(Some(page.next.clone()), 10).await.unwrap();
    assert!(after.changes.is_empty());
    let keys = store
        .changes(None, 1000)
        .await
        .unwrap()
        .changes
        .into_iter()
        .filter(|c| matches!(c, Change::SigningKey { .. }))
        .count();
    assert_eq!(keys, 1);
}

/// A webhook delivery takes the locks that keep its users' friendships on their links (schema
/// 9; one of 256 a user) at its start, in the order of their keys, whatever the order of its
/// events: taken one by one, two hubs' deliveries could each hold one the other waits for.
/// While it waits for its first, it holds none after it.
#[tokio::test]
async fn a_webhook_delivery_takes_its_users_locks_in_one_order() {
    use tenpo_hub::store::{Greeting, LineEvent, LineStore};

    let url = common::postgres::cluster().fresh_database().await;
    let hub = std::sync::Arc::new(open_postgres(&url).await);
    let sql = sql_client(&url).await;
    // Two LINE users whose locks differ, the first's key the lower.
    let keyed = sql
        .query(
            "SELECT u, line_user_lock_key(u) FROM (SELECT 'U' || i AS u FROM generate_series(1, 64) i) s
             ORDER BY line_user_lock_key(u)",
            &[],
        )
        .await
        .unwrap();
    let (low, high): (String, String) = {
        let first = &keyed[0];
        let last = keyed.last().unwrap();
        assert_ne!(first.get::<_, i32>(1), last.get::<_, i32>(1));
        (first.get(0), last.get(0))
    };
    let high_key: i32 = keyed.last().unwrap().get(1);

    // Another session holds the lower lock.
    let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tx = other.transaction().await.unwrap();
    tx.execute("SELECT line_user_lock($1)", &[&low])
        .await
        .unwrap();

    // A delivery whose events name the higher user first.
    let follow = |id: &str, user: &str| LineEvent {
        webhook_event_id: id.into(),
        kind: "follow".into(),
        occurred_at_ms: 1_000,
        user_id: Some(user.into()),
        following: Some(true),
    };
    let events = vec![follow("e1", &high), follow("e2", &low)];
    let delivery = tokio::spawn({
        let hub = hub.clone();
        async move {
            hub.line_events(events, Greeting::default(), Utc::now())
                .await
        }
    });
    assert!(
        someone_waits_for_a_line_user(&sql).await,
        "the delivery did not wait for the lower lock"
    );
    let free: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(1279870533, $1)",
            &[&high_key],
        )
        .await
        .unwrap()
        .get(0);
    assert!(free, "the delivery took the higher lock before the lower");
    tx.commit().await.unwrap();
    let intake = delivery.await.unwrap().unwrap();
    assert_eq!(intake.new, 2);
}
