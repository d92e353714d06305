//! Moving a SQLite hub to PostgreSQL (`tenpo-hub migrate --to`, docs/hub.md): everything it
//! holds arrives, checked by counts and content hashes, and its terminals carry on at the new
//! hub with the credentials and feed cursors they have.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::backends::open_postgres;
use reqwest::StatusCode;
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::postgres::{DatabaseUrl, move_from_sqlite};
use tenpo_hub::store::{CatalogStore, LineStore, StoreError, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_loyalty::MemberState;
use tenpo_protocol::catalog::{ItemsBatch, StockBatch};
use tenpo_protocol::events::WishKind;

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
    hub.push(&till, &[made]).await;
    // Wishes move too: an item, a member's wish, its email notification, and the sale that
    // follows counted for it.
    let member_id = hub
        .store
        .member_by_code(card.clone())
        .await
        .unwrap()
        .unwrap()
        .member_id;
    hub.store.set_wish_settings(WishSettings {
        email: true,
        ..WishSettings::default()
    });
    let profile = Profile {
        channel: Channel::Email,
        email: Some("hanako@example.jp".into()),
        ..Profile::default()
    };
    let earlier = Utc::now() - chrono::Duration::minutes(1);
    hub.store
        .save_profile(member_id.clone(), profile, earlier)
        .await
        .unwrap();
    let items: ItemsBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "i-1",
        "items": [{"sku": "tea", "name": {"ja": "お茶"}, "price_yen": 1000}]
    }))
    .unwrap();
    hub.store
        .take_items(items, "h-1".into(), earlier)
        .await
        .unwrap();
    hub.store
        .add_wish(
            member_id.clone(),
            "tea".into(),
            vec![WishKind::Restock],
            earlier,
        )
        .await
        .unwrap();
    let stock: StockBatch = serde_json::from_value(serde_json::json!({
        "batch_id": "s-1",
        "stock": [{"sku": "tea", "store_id": "shibuya", "quantity": 2}]
    }))
    .unwrap();
    let queued = hub
        .store
        .take_stock(stock, "h-2".into(), earlier)
        .await
        .unwrap();
    assert_eq!(queued.notifications, 1);
    hub.push(&till, &[sale]).await;
    let facts_before = hub
        .store
        .notice_facts(earlier - chrono::Duration::days(1), Utc::now())
        .await
        .unwrap();
    assert!(facts_before[0].bought);
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
    for (table, n) in [
        ("catalog_items", 1),
        ("catalog_stock", 1),
        ("catalog_batches", 2),
        ("wishes", 1),
        ("notifications", 1),
        ("attributions", 1),
    ] {
        assert_eq!(rows(table), n, "{table}");
    }
    assert!(moved.iter().all(|t| t.hash.len() == 64));
    // Analysed as any bulk load is: the planner knows the rows moved, not the empty tables the
    // schema made (a sender's claim planned for an empty outbox read every waiting message).
    let sql = common::backends::sql_client(&url).await;
    for m in &moved {
        let planned: f32 = sql
            .query_one(
                "SELECT reltuples FROM pg_class WHERE oid = $1::text::regclass",
                &[&m.table],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(planned, m.rows as f32, "{}: the planner's rows", m.table);
    }
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
    let facts_after = store
        .notice_facts(Utc::now() - chrono::Duration::days(2), Utc::now())
        .await
        .unwrap();
    assert_eq!(facts_after, facts_before);
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

/// A member's rich menu is linked once per link: a hub moved to PostgreSQL knows it was, and a
/// block and unblock after the move sends nothing again.
#[tokio::test]
async fn a_moved_hub_knows_which_menus_it_linked() {
    use tenpo_hub::store::outbox::{MessageAction, MessageClass, NewMessage};
    use tenpo_hub::store::{
        Claim, CompleteSignup, Finished, Greeting, HomeStores, LineEvent, LineStore,
        MessageOutcome, SqliteStore,
    };
    use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};

    let greeting = Greeting {
        rich_menu: Some(NewMessage {
            scenario: "rich_menu".into(),
            class: MessageClass::Transactional,
            action: MessageAction::LinkRichMenu {
                rich_menu_id: "richmenu-member".into(),
            },
            expires_after: None,
        }),
        welcome: None,
    };
    let event = |id: &str, following: bool, at_ms: i64| LineEvent {
        webhook_event_id: id.into(),
        kind: if following { "follow" } else { "unfollow" }.into(),
        occurred_at_ms: at_ms,
        user_id: Some("U1".into()),
        following: Some(following),
    };
    let claim = Claim {
        limit: 10,
        lease: chrono::Duration::seconds(60),
        transactional_only: false,
        marketing_to: HomeStores::All,
        quiet_until: Utc::now(),
        marketing_per_week: 2,
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let lite = SqliteStore::open(&db, Utc::now()).unwrap();
    let (till, _) = common::backends::till(&lite, "shibuya").await;
    let mut nonce = [0u8; wire::NONCE_LEN];
    getrandom::fill(&mut nonce).unwrap();
    let token = SignupToken {
        kind: SignupKind::Signup,
        store_id: till.store_id.clone(),
        terminal_id: till.terminal_id.clone(),
        expires_at: Utc::now().timestamp() + 600,
        nonce,
        card_code: None,
    };
    let request = CompleteSignup {
        token,
        line_user_id: "U1".into(),
        today: common::date("2026-11-20"),
        welcome_stamps: 0,
        greeting: greeting.clone(),
    };
    let member = lite
        .complete_signup(request, Utc::now())
        .await
        .unwrap()
        .member;
    lite.line_events(vec![event("e1", true, 1_000)], greeting.clone(), Utc::now())
        .await
        .unwrap();
    let sent = lite
        .claim_messages(claim.clone(), Utc::now())
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    let done = sent
        .iter()
        .map(|m| Finished::of(m, MessageOutcome::Sent { request_id: None }))
        .collect();
    lite.finish_messages(done, Utc::now()).await.unwrap();
    let counts = lite.outbox_counts().await.unwrap();
    assert_eq!(counts.sent, 1);
    drop(lite);

    let url = common::postgres::cluster().fresh_database().await;
    move_from_sqlite(&db, &DatabaseUrl::parse(&url).unwrap(), Utc::now())
        .await
        .unwrap();
    let pg = open_postgres(&url).await;
    // The counts per state moved too (made from the messages moved, as no trigger counts a
    // message written by the copy).
    assert_eq!(pg.outbox_counts().await.unwrap(), counts);
    pg.line_events(
        vec![event("e2", false, 2_000), event("e3", true, 3_000)],
        greeting,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        pg.claim_messages(claim, Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(pg.member_messages(member.member_id).await.unwrap().len(), 1);
    // The link's friendship moved with it, and follows the webhook's events after the move.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let following: Option<bool> = client
        .query_one(
            "SELECT following FROM line_users WHERE line_user_id = 'U1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(following, Some(true));
}

/// A SQLite hub whose link says a friendship its `line_friends` does not (which its triggers
/// never let happen) is refused whole: the link's friendship is what the daily scan reads.
#[tokio::test]
async fn a_link_whose_friendship_disagrees_is_not_moved() {
    let (_dir, db, conn) = common::backends::empty_sqlite_hub();
    conn.execute_batch(
        "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             VALUES ('m1', '2100000000017', '{}', '2026-11-20T00:00:00Z', '2026-11-20T00:00:00Z');
         INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES ('U1', 0, 1);
         INSERT INTO line_users (line_user_id, member_id, linked_at)
             VALUES ('U1', 'm1', '2026-11-20T00:00:00Z');
         UPDATE line_users SET following = 1;",
    )
    .unwrap();
    drop(conn);
    let url = common::postgres::cluster().fresh_database().await;
    let e = move_from_sqlite(&db, &DatabaseUrl::parse(&url).unwrap(), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Corrupt { what: "moved links", detail } if detail.contains("1 LINE link")),
        "{e}"
    );
    let pg = open_postgres(&url).await;
    assert_eq!(pg.counts().await.unwrap().members, 0, "nothing was written");
}
