//! The hub's PostgreSQL schema on a real server (common/postgres.rs starts one): migrated from
//! empty, once even when two hubs start at once, a newer database refused untouched, and the
//! same tables and columns as the SQLite schema, so neither backend holds what the other lacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use deadpool_postgres::Object;
use tenpo_hub::store::StoreError;
use tenpo_hub::store::postgres::{self, CURRENT_VERSION, DatabaseUrl};

/// A pooled connection to `url`, as the hub will hold them.
async fn client(url: &str) -> Object {
    let url = DatabaseUrl::parse(url).unwrap();
    postgres::pool(&url, 2).unwrap().get().await.unwrap()
}

/// The rows of `sql`, each its first two columns.
async fn pairs<A, B>(c: &Object, sql: &str) -> Vec<(A, B)>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn version(c: &Object) -> i32 {
    c.query_one("SELECT version FROM tenpo_schema", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_empty_database_is_migrated_once_even_by_two_hubs_at_once() {
    let url = common::postgres::cluster().fresh_database().await;
    let (mut a, mut b) = (client(&url).await, client(&url).await);
    let (ra, rb) = tokio::join!(postgres::migrate(&mut a), postgres::migrate(&mut b));
    let (found_a, found_b) = (ra.unwrap(), rb.unwrap());
    assert!(
        found_a == 0 || found_b == 0,
        "one of them found it empty: {found_a}, {found_b}"
    );
    assert_eq!(version(&a).await, CURRENT_VERSION as i32);
    let rows: i64 = a
        .query_one("SELECT count(*) FROM tenpo_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    // Again, at start: nothing to do.
    assert_eq!(postgres::migrate(&mut a).await.unwrap(), CURRENT_VERSION);
}

#[tokio::test]
async fn a_database_newer_than_the_hub_is_refused_untouched() {
    let url = common::postgres::cluster().fresh_database().await;
    let mut c = client(&url).await;
    c.batch_execute(&format!(
        "CREATE TABLE tenpo_schema (version integer NOT NULL);
         INSERT INTO tenpo_schema VALUES ({});
         CREATE TABLE from_the_future (x integer);",
        CURRENT_VERSION + 1
    ))
    .await
    .unwrap();
    let e = postgres::migrate(&mut c).await.unwrap_err();
    assert!(
        matches!(e, StoreError::SchemaTooNew { found, known } if found == CURRENT_VERSION + 1 && known == CURRENT_VERSION),
        "{e}"
    );
    assert!(e.to_string().contains("install the newer tenpo-hub"), "{e}");
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2, "nothing was created");
}

/// Columns only one backend has, and why.
const ONE_SIDED: &[(&str, &str)] = &[
    // The migration runner's own bookkeeping (SQLite keeps it in `user_version`).
    ("tenpo_schema", "version"),
    // How far each run's cursors reach: several hub processes serve one PostgreSQL database
    // at once; on SQLite a run ends where the next one begins.
    ("feed_runs", "reached"),
    // The message counts per state are kept in rows of each server process that changed
    // them, so that several hubs' senders never wait for one another's (schema 7); SQLite
    // has one writer and one row a state.
    ("message_tallies", "shard"),
    // The member count likewise: a row for each server process that added members (schema
    // 8), one row on SQLite.
    ("member_tallies", "shard"),
];

#[tokio::test]
async fn every_earlier_version_migrates_forward_keeping_its_rows() {
    for from in 1..CURRENT_VERSION {
        let url = common::postgres::cluster().fresh_database().await;
        let mut c = client(&url).await;
        assert_eq!(postgres::migrate_to(&mut c, from).await.unwrap(), 0);
        assert_eq!(version(&c).await, from as i32);
        c.batch_execute(
            "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             VALUES ('m1', '2100000000017', '{}', now(), now());
             INSERT INTO feed_runs (run, started_after, started_at) VALUES ('r1', 7, now());",
        )
        .await
        .unwrap();
        assert_eq!(postgres::migrate(&mut c).await.unwrap(), from);
        assert_eq!(version(&c).await, CURRENT_VERSION as i32);
        let members: i64 = c
            .query_one("SELECT COUNT(*) FROM members", &[])
            .await
            .unwrap()
            .get(0);
        let run: i64 = c
            .query_one("SELECT started_after FROM feed_runs WHERE run = 'r1'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!((members, run), (1, 7), "from version {from}");
    }
}

#[tokio::test]
async fn the_schema_holds_what_the_sqlite_schema_holds() {
    let (_dir, _path, sqlite) = common::backends::empty_sqlite_hub();
    let mut lite = BTreeSet::new();
    let tables: Vec<String> = sqlite
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in tables {
        let columns: Vec<String> = sqlite
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap()
            .query_map([&table], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for column in columns {
            lite.insert((table.clone(), column));
        }
    }

    let url = common::postgres::cluster().fresh_database().await;
    let mut c = client(&url).await;
    postgres::migrate(&mut c).await.unwrap();
    let pg: BTreeSet<(String, String)> = pairs(
        &c,
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public'",
    )
    .await
    .into_iter()
    .collect();

    let one_sided: BTreeSet<(String, String)> = ONE_SIDED
        .iter()
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
    let only_sqlite: Vec<_> = lite
        .difference(&pg)
        .filter(|x| !one_sided.contains(*x))
        .collect();
    let only_pg: Vec<_> = pg
        .difference(&lite)
        .filter(|x| !one_sided.contains(*x))
        .collect();
    assert!(
        only_sqlite.is_empty(),
        "missing on PostgreSQL: {only_sqlite:?}"
    );
    assert!(only_pg.is_empty(), "missing on SQLite: {only_pg:?}");
    assert!(
        lite.len() > 100,
        "the SQLite schema was read: {}",
        lite.len()
    );
}

/// Every index compares its text as bytes (`COLLATE "C"`, schema 11), whatever locale the
/// database was made with: ids and keys are codes, and under a locale such as `ja_JP.UTF-8`
/// each comparison in an index goes through the locale's rules (a page of the daily scan a
/// quarter slower to write; docs/benchmarks.md, "Messaging"). A new index on a text column
/// made without it fails here, on the tests' server as on any other.
#[tokio::test]
async fn key_columns_compare_as_bytes() {
    let url = common::postgres::cluster().fresh_database().await;
    let mut c = client(&url).await;
    postgres::migrate(&mut c).await.unwrap();
    let keys: Vec<(String, bool)> = pairs(
        &c,
        "SELECT i.indexrelid::regclass::text || ' #' || k.n,
                k.coll = 'pg_catalog.\"C\"'::regcollation
         FROM pg_index i
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = 'public'
         CROSS JOIN LATERAL unnest(i.indcollation) WITH ORDINALITY AS k(coll, n)
         WHERE k.coll <> 0
         ORDER BY 1",
    )
    .await;
    let by_locale: Vec<&String> = keys.iter().filter(|(_, c)| !c).map(|(k, _)| k).collect();
    assert!(
        by_locale.is_empty(),
        "index columns compared by the database's locale: {by_locale:?}"
    );
    assert!(
        keys.len() > 40,
        "the indexes' text columns were read: {}",
        keys.len()
    );
}

/// Each link's `following` as it stands, by LINE user.
async fn on_links(c: &Object) -> Vec<(String, Option<bool>)> {
    pairs(
        c,
        "SELECT line_user_id, following FROM line_users ORDER BY line_user_id",
    )
    .await
}

/// Schema 9 keeps each link's friendship on the link (for the daily scan): it must be what
/// `line_friends` says, whichever of the two was written first, after a migration from
/// schema 8, and when two hubs write a link and its friendship at the same moment.
#[tokio::test]
async fn a_links_friendship_is_what_line_friends_says_whichever_comes_first() {
    let url = common::postgres::cluster().fresh_database().await;
    let mut c = client(&url).await;
    postgres::migrate_to(&mut c, 8).await.unwrap();
    let members: String = (1..=5)
        .map(|i| {
            format!(
                "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                 VALUES ('m{i}', '{i}', '{{}}', now(), now());"
            )
        })
        .collect();
    c.batch_execute(&members).await.unwrap();
    c.batch_execute(
        "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES ('U1', 'm1', now());
         INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES ('U1', false, 1);",
    )
    .await
    .unwrap();
    postgres::migrate(&mut c).await.unwrap();
    assert_eq!(on_links(&c).await, [("U1".into(), Some(false))]);

    // One after the other, each way round; a friendship changed, forgotten, and a link moved.
    c.batch_execute(
        "INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES ('U2', true, 1);
         INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES ('U2', 'm2', now());
         INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES ('U3', 'm3', now());
         UPDATE line_friends SET following = true WHERE line_user_id = 'U1';
         INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES ('U4', false, 1);",
    )
    .await
    .unwrap();
    assert_eq!(
        on_links(&c).await,
        [
            ("U1".into(), Some(true)),
            ("U2".into(), Some(true)),
            ("U3".into(), None)
        ]
    );
    c.batch_execute(
        "DELETE FROM line_friends WHERE line_user_id = 'U2';
         UPDATE line_users SET line_user_id = 'U4' WHERE line_user_id = 'U3';",
    )
    .await
    .unwrap();
    assert_eq!(
        on_links(&c).await,
        [
            ("U1".into(), Some(true)),
            ("U2".into(), None),
            ("U4".into(), Some(false))
        ]
    );

    // At the same moment, each way round: the second waits for the first and sees it.
    let (mut a, mut b) = (client(&url).await, client(&url).await);
    for (first_friend, user, member) in [(true, "U5", "m5"), (false, "U6", "m4")] {
        let friend = format!(
            "INSERT INTO line_friends (line_user_id, following, changed_at_ms)
             VALUES ('{user}', true, 1)"
        );
        let link = format!(
            "INSERT INTO line_users (line_user_id, member_id, linked_at)
             VALUES ('{user}', '{member}', now())"
        );
        let (first, second) = if first_friend {
            (friend, link)
        } else {
            (link, friend)
        };
        let ta = a.transaction().await.unwrap();
        ta.batch_execute(&first).await.unwrap();
        let tb = b.transaction().await.unwrap();
        let write = async {
            tb.batch_execute(&second).await.unwrap();
            tb.commit().await.unwrap();
        };
        let watch = async {
            assert!(
                common::backends::someone_waits_for_a_line_user(&c).await,
                "the second write did not wait for the first ({user})"
            );
            ta.commit().await.unwrap();
        };
        tokio::join!(write, watch);
        let following: Option<bool> = c
            .query_one(
                "SELECT following FROM line_users WHERE line_user_id = $1",
                &[&user],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(following, Some(true), "{user}");
    }

    // Many at once in one statement, as a DBA might: the locks are shared, not one a user
    // (which filled the server's lock table: "out of shared memory").
    c.batch_execute(
        "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             SELECT 'b' || i, 'b' || i, '{}', now(), now() FROM generate_series(1, 100000) i;
         INSERT INTO line_friends (line_user_id, following, changed_at_ms)
             SELECT 'B' || i, i % 2 = 0, 1 FROM generate_series(1, 100000) i;
         INSERT INTO line_users (line_user_id, member_id, linked_at)
             SELECT 'B' || i, 'b' || i, now() FROM generate_series(1, 100000) i;",
    )
    .await
    .unwrap();
    let following: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM line_users WHERE line_user_id LIKE 'B%' AND following",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(following, 50_000);
}
