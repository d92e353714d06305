//! The handlers' view of storage: everything through the `HubStore` trait, generically, so a
//! second backend can run the same checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use tenpo_hub::admin::ImportRow;
use tenpo_hub::intake;
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::{HubStore, SqliteStore, StoreError};
use tenpo_protocol::sync::{Change, PushStatus};

/// A round of enrol, import, push and feed against any backend.
async fn exercise<S: HubStore>(store: &S) {
    let now = Utc::now();
    let code = store
        .create_enrollment_code("s1".into(), None, now + Duration::hours(1), now)
        .await
        .unwrap();
    let enrolled = store.enroll(code.clone(), None, now).await.unwrap();
    assert!(matches!(
        store.enroll(code, None, now).await,
        Err(StoreError::EnrollmentCode(_))
    ));
    let terminal = store
        .terminal(enrolled.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(store.terminal("nobody".into()).await.unwrap().is_none());

    assert!(matches!(
        store
            .import_members(vec![], "2026-11-20".parse().unwrap(), now)
            .await,
        Err(StoreError::NoRuleSet)
    ));
    store
        .load_rules(tenpo_loyalty::RuleSet::demo(), now)
        .await
        .unwrap();
    assert_eq!(store.current_rules().await.unwrap().unwrap().version, 1);
    let card = common::card(1);
    let report = store
        .import_members(
            vec![ImportRow {
                line: 2,
                card_code: card.clone(),
                points: 40,
                qualifying_spend_yen: 0,
                birthday: None,
            }],
            "2026-11-20".parse().unwrap(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(report.imported, 1);

    let till = common::Till {
        terminal_id: terminal.terminal_id.clone(),
        store_id: terminal.store_id.clone(),
        secret: enrolled.secret.clone(),
    };
    let event = common::provisional(&till, 1, "p1", &card);
    let items = vec![serde_json::value::to_raw_value(&common::item(&event)).unwrap()];
    let prepared = intake::prepare(&terminal, items, common::date("2026-12-01")).unwrap();
    let outcome = store
        .push(terminal.clone(), prepared, ReviewLimits::default(), now)
        .await
        .unwrap();
    assert_eq!(outcome.acked_through, 1);
    assert_eq!(outcome.results[0].status, PushStatus::Stored);

    let page = store.changes(None, 100).await.unwrap();
    assert!(!page.more);
    let member = page
        .changes
        .iter()
        .find_map(|c| match c {
            Change::Member { member } => Some(member),
            _ => None,
        })
        .unwrap();
    assert_eq!(member.merged_ids, ["p1"]);
    let again = store.changes(Some(page.next.clone()), 100).await.unwrap();
    assert!(again.changes.is_empty());
    let found = store.member_by_code(card).await.unwrap().unwrap();
    assert_eq!(found.member_id, member.member_id);
}

#[tokio::test]
async fn the_sqlite_store_through_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
    exercise(&store).await;
    // Reopened: the same epoch and key (cursors still valid), nothing lost.
    let page = store.changes(None, 1000).await.unwrap();
    drop(store);
    let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
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

#[tokio::test]
async fn a_newer_database_is_refused_untouched_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    drop(SqliteStore::open(&path, Utc::now()).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, Utc::now()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer tenpo-hub"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}
