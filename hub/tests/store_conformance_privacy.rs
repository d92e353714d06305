//! A member's own data on both backends (docs/design.md §7): the export holds every table
//! that names them; erasure removes the personal data, the LINE link and the cards in one
//! transaction, tells terminals through the feed, keeps the ledger anonymous, and is done once.
//! And the list of tables itself: a table that names a member without being on it fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::backends::*;
use common::line_store::*;
use tenpo_hub::store::console::{Actor, ConsoleStore};
use tenpo_hub::store::outbox::Profile;
use tenpo_hub::store::privacy::{Erase, HOLDINGS};
use tenpo_hub::store::{AdminStore, LineStore, StoreError, TillStore};
use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::sync::Change;

crate::on_both_backends!(a_members_data_is_exported_whole_and_erased_for_good);

const USER: &str = "U5b4e0b7a1c000000000000000000e2a5";

fn actor() -> Actor {
    Actor::new(
        "hanako",
        "the member asked at the Shibuya store; ID checked",
    )
    .unwrap()
}

async fn a_members_data_is_exported_whole_and_erased_for_good<
    S: TillStore + AdminStore + LineStore + ConsoleStore,
>(
    store: &S,
) {
    let now = Utc::now();
    let today = common::date("2026-11-20");
    store.load_rules(RuleSet::demo(), now).await.unwrap();
    let member = linked_member(store, USER).await;
    let profile = Profile {
        birthday: Some(Date::from_ymd(1990, 4, 2).unwrap()),
        name: Some("山田 花子".into()),
        email: Some("hanako@example.com".into()),
        ..Profile::default()
    };
    store
        .save_profile(member.clone(), profile, at(2))
        .await
        .unwrap();
    queue_news(store, &member, USER, 2, at(3)).await;
    store
        .adjust_points(member.clone(), 300, actor(), today, now)
        .await
        .unwrap();

    // The export: every table on the list, the member's rows in each.
    let export = store
        .member_export(member.clone(), Some(actor()), now)
        .await
        .unwrap();
    assert_eq!(
        store.staff_actions(None, 1, None).await.unwrap()[0].action,
        "export_member",
        "a handover by staff is in the audit log"
    );
    let tables = export["tables"].as_object().unwrap();
    for h in HOLDINGS {
        assert!(tables.contains_key(h.table), "{} missing", h.table);
    }
    let rows = |export: &serde_json::Value, table: &str| export["tables"][table].clone();
    assert_eq!(
        rows(&export, "member_profiles")[0]["email"],
        "hanako@example.com"
    );
    assert_eq!(rows(&export, "line_users")[0]["line_user_id"], USER);
    assert_eq!(rows(&export, "line_friends")[0]["line_user_id"], USER);
    assert!(
        rows(&export, "messages").as_array().unwrap().len() >= 3,
        "the welcome and the news"
    );
    assert_eq!(rows(&export, "members")[0]["birthday"], "1990-04-02");
    assert_eq!(export["erased_at"], serde_json::Value::Null);
    let codes: Vec<String> = rows(&export, "member_codes")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(!codes.is_empty());
    let (_, before) = feed_after(store, None).await;

    // Erased: forfeited, unlinked, every card revoked, the personal data gone.
    let erased = store
        .erase_member(member.clone(), None, true, actor(), today, now)
        .await
        .unwrap();
    assert!(!erased.already);
    assert!(erased.forfeited_points >= 300, "{erased:?}");
    assert!(erased.line_unlinked);
    assert_eq!(erased.codes_revoked, codes);
    let after = store
        .member_export(member.clone(), None, now)
        .await
        .unwrap();
    let text = after.to_string();
    for personal in [USER, "hanako@example.com", "山田", "1990-04-02"] {
        assert!(!text.contains(personal), "{personal} is still held: {text}");
    }
    assert!(after["erased_at"].is_string());
    for table in ["member_profiles", "line_users", "member_codes", "wishes"] {
        assert_eq!(rows(&after, table), serde_json::json!([]), "{table}");
    }
    let messages = rows(&after, "messages");
    assert!(
        messages
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] != "pending" && m["line_user_id"] == ""),
        "{messages}"
    );
    // The ledger stays, anonymous: the audit log has the erasure with what was forfeited.
    let log = store.staff_actions(None, 10, None).await.unwrap();
    assert_eq!(log[0].action, "erase_member");
    assert!(log[0].detail.to_string().contains("forfeited_points"));

    // Terminals drop the member and refuse the codes; the member is never sent again.
    let (changes, _) = feed_after(store, Some(before)).await;
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::MemberRemoved { member_id } if *member_id == member)),
        "{changes:?}"
    );
    for code in &codes {
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::CodeRevoked { code: c } if c == code)),
            "{code}: {changes:?}"
        );
    }
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::Member { member: m } if m.member_id == member))
    );
    let (all, _) = feed_after(store, None).await;
    assert!(
        !all.iter()
            .any(|c| matches!(c, Change::Member { member: m } if m.member_id == member))
    );

    let file = store.member_file(member.clone()).await.unwrap().unwrap();
    assert!(file.erased_at.is_some() && file.line.is_none() && file.member.codes.is_empty());

    // A sale still waiting at a till when the member was erased arrives later: kept, on the
    // anonymous member, and the person is not brought back.
    let (late_till, terminal) = till(store, "ebisu").await;
    let (sale, _) = common::sale(
        &late_till,
        1,
        Some(&member),
        &RuleSet::demo(),
        &tenpo_loyalty::MemberState::default(),
        "late-1",
        1_000,
        0,
    );
    let outcome = push(store, &terminal, &[&sale]).await;
    assert_eq!(
        statuses(&outcome),
        [tenpo_protocol::sync::PushStatus::Stored]
    );
    let later = store
        .member_export(member.clone(), None, now)
        .await
        .unwrap();
    assert!(later["erased_at"].is_string());
    assert_eq!(
        rows(&later, "events").as_array().unwrap().len(),
        1,
        "the ledger keeps it"
    );
    for personal in [USER, "hanako@example.com", "山田", "1990-04-02"] {
        assert!(
            !later.to_string().contains(personal),
            "{personal} came back"
        );
    }
    let (all, _) = feed_after(store, None).await;
    assert!(
        !all.iter()
            .any(|c| matches!(c, Change::Member { member: m } if m.member_id == member))
    );

    // Again: already erased, nothing changed. An unknown member: not found.
    let again = store
        .erase_member(member.clone(), None, true, actor(), today, now)
        .await
        .unwrap();
    assert!(again.already);
    assert_eq!(
        store.staff_actions(None, 10, None).await.unwrap()[0].id,
        log[0].id
    );
    let unknown = store
        .erase_member("nobody".into(), None, true, actor(), today, now)
        .await
        .unwrap_err();
    assert!(matches!(unknown, StoreError::NotFound(_)), "{unknown}");
    assert!(matches!(
        store
            .member_export("nobody".into(), None, now)
            .await
            .unwrap_err(),
        StoreError::NotFound(_)
    ));
}

/// The columns that name a member or their LINE account, or hold what only a person has (a
/// table with an `email` or a `birthday` is about someone, whatever it is keyed by).
const NAMING: [&str; 4] = ["member_id", "line_user_id", "email", "birthday"];

fn check_covered(naming: &[(String, String)]) {
    let mut missing = Vec::new();
    // A table is read by one key; its rows go whole into the export, and erasure scrubs every
    // column of them that names the person (a message's LINE user with its member's rows).
    for (table, column) in naming {
        if !HOLDINGS.iter().any(|h| h.table == table) {
            missing.push(format!("{table}.{column}"));
        }
    }
    for h in HOLDINGS {
        assert!(
            naming.iter().any(|(t, c)| t == h.table && c == h.column),
            "{}.{} is on the list but not in the schema",
            h.table,
            h.column
        );
    }
    assert!(
        missing.is_empty(),
        "tables naming a member that the export and erasure do not cover: {missing:?}; add \
         each to HOLDINGS (hub/src/store/unit/privacy.rs) with what erasure does with it"
    );
    for h in HOLDINGS {
        if let Erase::Keep(why) = h.erase {
            assert!(!why.is_empty(), "{}: say why it is kept", h.table);
        }
    }
}

#[test]
fn every_sqlite_table_naming_a_member_is_covered() {
    let (_dir, _path, conn) = empty_sqlite_hub();
    let mut stmt = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' ORDER BY 1, 2",
        )
        .unwrap();
    let naming: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, c): &(String, String)| NAMING.contains(&c.as_str()))
        .collect();
    assert!(naming.len() >= HOLDINGS.len(), "{naming:?}");
    check_covered(&naming);
}

#[tokio::test]
async fn every_postgres_table_naming_a_member_is_covered() {
    let url = common::postgres::cluster().fresh_database().await;
    let _store = open_postgres(&url).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let naming: Vec<(String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND column_name = ANY($1)
             ORDER BY 1, 2",
            &[&NAMING.as_slice()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(naming.len() >= HOLDINGS.len(), "{naming:?}");
    check_covered(&naming);
}
