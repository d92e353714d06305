//! The outbox's counts per state, kept by triggers on `messages` (docs/design.md §8) instead of
//! counted from every message at each scrape: after each kind of change (queued, claimed, sent,
//! tried again, refused, a user blocking the account, a member erased) what `/metrics` and the
//! console read must equal a count of the rows themselves, on both backends; on PostgreSQL also
//! with two hub processes changing states, and after a hub folds the rows of ended processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::backends::{open_postgres, sql_client};
use common::line_store::*;
use tenpo_hub::store::console::{Actor, ConsoleStore};
use tenpo_hub::store::{
    Finished, Greeting, LineStore, MessageOutcome, OutboxCounts, SqliteStore, TillStore,
};
use tenpo_loyalty::{Date, RuleSet};

/// Where to count the rows themselves.
enum Rows {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Rows {
    /// `SELECT state, COUNT(*) FROM messages GROUP BY state`, on its own connection.
    async fn count(&self) -> BTreeMap<String, u64> {
        const SQL: &str = "SELECT state, COUNT(*) FROM messages GROUP BY state";
        match self {
            Rows::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(SQL).unwrap();
                stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.unsigned_abs()))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Rows::Postgres(url) => {
                let client = sql_client(url).await;
                client
                    .query(SQL, &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get::<_, i64>(1).unsigned_abs()))
                    .collect()
            }
        }
    }
}

fn as_map(c: OutboxCounts) -> BTreeMap<String, u64> {
    [
        ("pending", c.pending),
        ("sending", c.sending),
        ("sent", c.sent),
        ("failed", c.failed),
        ("unreachable", c.unreachable),
        ("expired", c.expired),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| (s.to_owned(), n))
    .collect()
}

/// The store's counts, both ways it gives them, equal the rows' own count; returns it.
async fn agree<S: TillStore + LineStore>(
    store: &S,
    rows: &Rows,
    step: &str,
) -> BTreeMap<String, u64> {
    let counted = rows.count().await;
    assert_eq!(
        as_map(store.outbox_counts().await.unwrap()),
        counted,
        "{step}: the console's counts"
    );
    assert_eq!(
        as_map(store.counts().await.unwrap().messages),
        counted,
        "{step}: /metrics"
    );
    counted
}

fn actor() -> Actor {
    Actor::new("hanako", "the member asked at the store; ID checked").unwrap()
}

/// Changes of every kind, the counts checked after each.
async fn every_change<S: TillStore + LineStore + ConsoleStore>(store: &S, rows: &Rows) {
    // An erasure forfeits the balance under the rules.
    store
        .load_rules(RuleSet::demo(), chrono::Utc::now())
        .await
        .unwrap();
    let alice = linked_member(store, "U1").await;
    let greeted = agree(store, rows, "greeted").await;
    assert_eq!(greeted["pending"], 2, "the rich menu and the welcome");
    queue_news(store, &alice, "U1", 3, at(2)).await;
    agree(store, rows, "news queued").await;

    let claimed = store.claim_messages(claim(3), at(3)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    agree(store, rows, "claimed").await;
    let outcomes = vec![
        Finished::of(&claimed[0], MessageOutcome::Sent { request_id: None }),
        Finished::of(
            &claimed[1],
            MessageOutcome::Retry {
                not_before: at(60),
                error: "429".into(),
            },
        ),
        Finished::of(
            &claimed[2],
            MessageOutcome::Failed {
                error: "400".into(),
            },
        ),
    ];
    store.finish_messages(outcomes, at(4)).await.unwrap();
    let finished = agree(store, rows, "sent, retried, refused").await;
    assert_eq!((finished["sent"], finished["failed"]), (1, 1));

    // Alice blocks the account: what waits for her is unreachable.
    store
        .line_events(
            vec![event("u-U1", "U1", false, 5_000)],
            Greeting::default(),
            at(5),
        )
        .await
        .unwrap();
    let blocked = agree(store, rows, "blocked").await;
    assert!(blocked["unreachable"] > 0, "{blocked:?}");

    // Bob, with news waiting, is erased: what waited for him expires.
    let bob = linked_member(store, "U2").await;
    queue_news(store, &bob, "U2", 2, at(6)).await;
    agree(store, rows, "bob's news queued").await;
    let today: Date = "2027-01-15".parse().unwrap();
    store
        .erase_member(bob, None, true, actor(), today, at(7))
        .await
        .unwrap();
    let erased = agree(store, rows, "bob erased").await;
    assert!(erased["expired"] > 0, "{erased:?}");
}

#[tokio::test]
async fn sqlite_counts_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path, chrono::Utc::now()).unwrap();
    every_change(&store, &Rows::Sqlite(path)).await;
}

#[tokio::test]
async fn postgres_counts_follow_every_change_from_two_hubs_and_a_fold() {
    let url = common::postgres::cluster().fresh_database().await;
    let rows = Rows::Postgres(url.clone());
    let first = open_postgres(&url).await;
    every_change(&first, &rows).await;

    // A second hub (its own connections, so its own rows of counts) greets a new member and
    // sends the greeting.
    let second = open_postgres(&url).await;
    linked_member(&second, "U3").await;
    let claimed = second.claim_messages(claim(10), at(120)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    sent(&second, &claimed, at(121)).await;
    let both = agree(&second, &rows, "sent by the second hub").await;
    assert_eq!(agree(&first, &rows, "read by the first").await, both);

    // Rows of a process that has ended (pid 1 is never a server process) are folded into
    // shard 0 when a hub opens the database; the counts stay what they were.
    let client = sql_client(&url).await;
    client
        .batch_execute(
            "INSERT INTO message_tallies (state, shard, n) VALUES ('sent', 1, 5);
             INSERT INTO message_tallies (state, shard, n) VALUES ('sent', 0, -5)
                 ON CONFLICT (state, shard) DO UPDATE SET n = message_tallies.n - 5;",
        )
        .await
        .unwrap();
    let third = open_postgres(&url).await;
    let ended: i64 = client
        .query_one("SELECT COUNT(*) FROM message_tallies WHERE shard = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 0, "the ended process's rows are folded");
    assert_eq!(agree(&third, &rows, "after the fold").await, both);
}
