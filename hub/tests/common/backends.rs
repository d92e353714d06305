//! Both store backends for the conformance suites: `on_both_backends!` runs each named check
//! against a SQLite file and against a fresh database on the tests' PostgreSQL server.

#![allow(dead_code)]

use chrono::{Duration, Utc};
use tenpo_hub::admin::{CouponRequest, ImportRow};
use tenpo_hub::cursor::FeedPosition;
use tenpo_hub::intake;
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};
use tenpo_hub::store::{AdminStore, Incoming, Terminal, TillStore};
use tenpo_loyalty::CouponBenefit;
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::{Change, MemberSnapshot, PushStatus};

use super::Till;

/// Runs each named check (`async fn check<S>(store: &S)`) against both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = tenpo_hub::store::SqliteStore::open(
                        &dir.path().join("hub.db"),
                        chrono::Utc::now(),
                    )
                    .unwrap();
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let store = super::common::backends::postgres_store().await;
                    super::$check(&store).await;
                }
            )*
        }
    };
}

/// A PostgreSQL store on a database of its own, with the pool a hub opens by default (its
/// connections opened as they are needed), so that a daily scan writes as many pages at once as
/// a hub's does.
pub async fn postgres_store() -> PgStore {
    let url = super::postgres::cluster().fresh_database().await;
    open_postgres_with(&url, tenpo_hub::config::DEFAULT_CONNECTIONS as usize).await
}

/// A hub process's store on the database at `url` (its own pool of 4, run and caches).
pub async fn open_postgres(url: &str) -> PgStore {
    open_postgres_with(url, 4).await
}

/// A hub process's store on the database at `url` with a pool of `connections`.
async fn open_postgres_with(url: &str, connections: usize) -> PgStore {
    PgStore::open(&DatabaseUrl::parse(url).unwrap(), connections, Utc::now())
        .await
        .unwrap()
}

/// A plain connection to the database at `url`, beside the hub's, to look at its rows.
pub async fn sql_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Waits, a bounded while (5 s), until a session of `client`'s database waits for one of the
/// locks that keep LINE users' friendships on their links (PostgreSQL's schema 9); answers
/// whether one did.
pub async fn someone_waits_for_a_line_user(client: &tokio_postgres::Client) -> bool {
    until_someone_waits(
        client,
        "SELECT COUNT(*) FROM pg_locks
         WHERE locktype = 'advisory' AND NOT granted AND classid = 1279870533
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await
}

/// Waits, a bounded while (5 s), until a session of `client`'s database waits for another's
/// transaction to end (a row or key it wrote); answers whether one did.
pub async fn someone_waits_for_a_transaction(client: &tokio_postgres::Client) -> bool {
    until_someone_waits(
        client,
        "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'transactionid' AND NOT l.granted
           AND a.datname = current_database()",
    )
    .await
}

/// Asks `waiting` (a count of sessions waiting for a lock) until it counts one, a bounded
/// while (5 s); answers whether it did.
async fn until_someone_waits(client: &tokio_postgres::Client, waiting: &str) -> bool {
    for _ in 0..250 {
        let n: i64 = client.query_one(waiting, &[]).await.unwrap().get(0);
        if n > 0 {
            return true;
        }
        // No notice comes of a lock waited for: looked at again in a moment.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// An empty SQLite hub at the current schema, in a directory that goes with the answer: its
/// path, and a plain connection to it for fixtures written as SQL or for reading its schema.
pub fn empty_sqlite_hub() -> (tempfile::TempDir, std::path::PathBuf, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    drop(tenpo_hub::store::SqliteStore::open(&path, Utc::now()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    (dir, path, conn)
}

/// Enrols a terminal of `store_id`.
pub async fn till<S: TillStore>(store: &S, store_id: &str) -> (Till, Terminal) {
    let now = Utc::now();
    let code = store
        .create_enrollment_code(store_id.into(), None, now + Duration::hours(1), now)
        .await
        .unwrap();
    let enrolled = store.enroll(code, Some("till".into()), now).await.unwrap();
    let terminal = store
        .terminal(enrolled.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    let till = Till {
        terminal_id: enrolled.terminal_id,
        store_id: enrolled.store_id,
        secret: enrolled.secret,
    };
    (till, terminal)
}

pub fn prepared(terminal: &Terminal, events: &[&Event]) -> Vec<Incoming> {
    let items = events
        .iter()
        .map(|e| serde_json::value::to_raw_value(&super::item(e)).unwrap())
        .collect();
    intake::prepare(terminal, items, super::date("2026-11-20")).unwrap()
}

pub async fn push<S: TillStore>(
    store: &S,
    terminal: &Terminal,
    events: &[&Event],
) -> tenpo_hub::store::PushOutcome {
    store
        .push(
            terminal.clone(),
            prepared(terminal, events),
            ReviewLimits::default(),
            Utc::now(),
        )
        .await
        .unwrap()
}

pub fn statuses(outcome: &tenpo_hub::store::PushOutcome) -> Vec<PushStatus> {
    outcome.results.iter().map(|r| r.status).collect()
}

pub async fn member<S: TillStore>(store: &S, code: &str) -> MemberSnapshot {
    store.member_by_code(code.into()).await.unwrap().unwrap()
}

pub fn balance(member: &MemberSnapshot) -> i64 {
    member.state.balance(super::date("2026-11-20"))
}

pub async fn feed_after<S: TillStore>(
    store: &S,
    after: Option<FeedPosition>,
) -> (Vec<Change>, FeedPosition) {
    let mut cursor = after;
    let mut all = Vec::new();
    loop {
        let page = store.changes(cursor.clone(), 100).await.unwrap();
        all.extend(page.changes);
        cursor = Some(page.next);
        if !page.more {
            return (all, cursor.unwrap());
        }
    }
}

pub fn import_row(
    line: u64,
    code: &str,
    points: i64,
    spend: i64,
    birthday: Option<&str>,
) -> ImportRow {
    ImportRow {
        line,
        card_code: code.into(),
        points,
        qualifying_spend_yen: spend,
        birthday: birthday.map(str::to_owned),
    }
}

/// Imports members that must all be taken (code, points, birthday); answers their member ids.
pub async fn imported<S: TillStore + AdminStore>(
    store: &S,
    rows: &[(&str, i64, Option<&str>)],
) -> Vec<String> {
    let import = rows
        .iter()
        .enumerate()
        .map(|(i, (code, points, birthday))| import_row(i as u64 + 2, code, *points, 0, *birthday))
        .collect();
    let report = store
        .import_members(import, super::date("2026-05-01"), Utc::now())
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.imported, rows.len() as u64);
    let mut ids = Vec::new();
    for (code, _, _) in rows {
        ids.push(member(store, code).await.member_id);
    }
    ids
}

pub fn coupon_request(benefit: CouponBenefit, valid_days: u32) -> CouponRequest {
    CouponRequest {
        coupon_id: None,
        member_ids: vec![],
        card_codes: vec![],
        birthday_month: None,
        benefit,
        valid_days,
    }
}

pub async fn two_hubs() -> (PgStore, PgStore) {
    let url = super::postgres::cluster().fresh_database().await;
    let a = open_postgres(&url).await;
    let b = open_postgres(&url).await;
    (a, b)
}
