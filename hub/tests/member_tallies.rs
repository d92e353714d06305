//! The member count `/metrics` reports, kept by triggers on `members` (docs/design.md §8)
//! instead of counted from every member at each scrape: after each way a member arrives (a
//! LINE signup, an import) and an erasure (which keeps the row blanked), it must equal a count
//! of the rows themselves, on both backends; on PostgreSQL also with two hub processes adding
//! members, after a hub folds the rows of ended processes, and from a database whose members
//! were there before the count was kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::backends::{imported, open_postgres, sql_client};
use common::card;
use common::line_store::*;
use tenpo_hub::store::console::{Actor, ConsoleStore};
use tenpo_hub::store::postgres::{self, DatabaseUrl};
use tenpo_hub::store::{AdminStore, LineStore, SqliteStore, TillStore};
use tenpo_loyalty::{Date, RuleSet};

/// Where to count the rows themselves.
enum Rows {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Rows {
    /// `SELECT COUNT(*) FROM members`, on its own connection.
    async fn count(&self) -> u64 {
        const SQL: &str = "SELECT COUNT(*) FROM members";
        match self {
            Rows::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(SQL, [], |r| r.get::<_, i64>(0))
                .unwrap()
                .unsigned_abs(),
            Rows::Postgres(url) => {
                let client = sql_client(url).await;
                client
                    .query_one(SQL, &[])
                    .await
                    .unwrap()
                    .get::<_, i64>(0)
                    .unsigned_abs()
            }
        }
    }
}

/// What `/metrics` reports equals the rows' own count; returns it.
async fn agree<S: TillStore>(store: &S, rows: &Rows, step: &str) -> u64 {
    let counted = rows.count().await;
    assert_eq!(
        store.counts().await.unwrap().members,
        counted,
        "{step}: /metrics' members"
    );
    counted
}

/// Members arriving every way, and one erased, the count checked after each.
async fn every_change<S: TillStore + LineStore + AdminStore + ConsoleStore>(
    store: &S,
    rows: &Rows,
) -> u64 {
    assert_eq!(agree(store, rows, "a new hub").await, 0);
    store
        .load_rules(RuleSet::demo(), chrono::Utc::now())
        .await
        .unwrap();
    let alice = linked_member(store, "U1").await;
    assert_eq!(agree(store, rows, "a LINE signup").await, 1);
    imported(
        store,
        &[(&card(1), 100, None), (&card(2), 0, Some("1990-05-01"))],
    )
    .await;
    assert_eq!(agree(store, rows, "two imported").await, 3);
    let today: Date = "2027-01-15".parse().unwrap();
    let actor = Actor::new("hanako", "the member asked at the store; ID checked").unwrap();
    store
        .erase_member(alice, None, true, actor, today, at(7))
        .await
        .unwrap();
    assert_eq!(agree(store, rows, "alice erased").await, 3);
    3
}

#[tokio::test]
async fn sqlite_count_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path, chrono::Utc::now()).unwrap();
    every_change(&store, &Rows::Sqlite(path)).await;
}

#[tokio::test]
async fn postgres_count_follows_every_change_from_two_hubs_and_a_fold() {
    let url = common::postgres::cluster().fresh_database().await;
    let rows = Rows::Postgres(url.clone());
    let first = open_postgres(&url).await;
    let before = every_change(&first, &rows).await;

    // A second hub (its own connections, so its own row of the count) signs a member up.
    let second = open_postgres(&url).await;
    linked_member(&second, "U3").await;
    let both = agree(&second, &rows, "a signup at the second hub").await;
    assert_eq!(both, before + 1);
    assert_eq!(agree(&first, &rows, "read by the first").await, both);

    // A row of a process that has ended (pid 1 is never a server process) is folded into
    // shard 0 when a hub opens the database; the count stays what it was.
    let client = sql_client(&url).await;
    client
        .batch_execute(
            "INSERT INTO member_tallies (shard, n) VALUES (1, 5);
             INSERT INTO member_tallies (shard, n) VALUES (0, -5)
                 ON CONFLICT (shard) DO UPDATE SET n = member_tallies.n - 5;",
        )
        .await
        .unwrap();
    let third = open_postgres(&url).await;
    let ended: i64 = client
        .query_one("SELECT COUNT(*) FROM member_tallies WHERE shard = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 0, "the ended process's row is folded");
    assert_eq!(agree(&third, &rows, "after the fold").await, both);
}

/// A database from before schema 8 already holds members: the migration counts them.
#[tokio::test]
async fn postgres_members_from_before_the_count_are_counted() {
    let url = common::postgres::cluster().fresh_database().await;
    let pool = postgres::pool(&DatabaseUrl::parse(&url).unwrap(), 1).unwrap();
    let mut client = pool.get().await.unwrap();
    postgres::migrate_to(&mut client, 7).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             SELECT 'm-' || i, 'n-' || i, '{}', now(), now() FROM generate_series(1, 3) i",
        )
        .await
        .unwrap();
    drop(client);
    let store = open_postgres(&url).await;
    assert_eq!(agree(&store, &Rows::Postgres(url), "migrated").await, 3);
}
