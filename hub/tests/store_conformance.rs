//! One suite, both backends (docs/design.md §12): every check here runs against the SQLite
//! store and against a real PostgreSQL server the tests start, through the store's traits
//! only. This file: what tills need (`TillStore`). The admin API's half is
//! `store_conformance_admin.rs` and `store_conformance_review.rs`, members in LINE
//! `store_conformance_line.rs`; what holds of one backend alone (several hub processes on one
//! PostgreSQL database, a SQLite file reopened) is `store_backends.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::Till;
use common::backends::*;
use tenpo_hub::cursor::FeedPosition;
use tenpo_hub::intake;
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::{StoreError, TillStore};
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::{Change, MemberSnapshot, PushStatus};

crate::on_both_backends!(
    enrolment_codes_work_once_and_only_for_their_store,
    a_replay_is_a_duplicate_and_other_content_is_a_conflict,
    one_push_holding_an_event_twice_takes_it_once,
    a_slot_applies_its_first_content_never_a_rival,
    events_apply_in_seq_order_across_a_gap,
    a_sale_is_evaluated_again_and_a_forged_outcome_is_held,
    the_feed_pages_and_refuses_cursors_from_elsewhere,
    rule_sets_only_go_forward,
    bad_events_are_refused_and_change_nothing,
);

async fn enrolment_codes_work_once_and_only_for_their_store<S: TillStore>(store: &S) {
    let now = Utc::now();
    let hour = Duration::hours(1);
    let (_, terminal) = till(store, "shibuya").await;
    assert_eq!(terminal.store_id, "shibuya");
    assert_eq!(terminal.acked_through, 0);
    assert!(store.terminal("t-nobody".into()).await.unwrap().is_none());

    let code = store
        .create_enrollment_code("shibuya".into(), None, now + hour, now)
        .await
        .unwrap();
    store.enroll(code.clone(), None, now).await.unwrap();
    for (code, why) in [(code, "already used"), ("ZZZZ-ZZZZ-ZZZZ".into(), "unknown")] {
        let e = store.enroll(code, None, now).await.unwrap_err();
        assert!(matches!(e, StoreError::EnrollmentCode(_)), "{why}: {e}");
    }
    let late = store
        .create_enrollment_code("shibuya".into(), None, now + hour, now)
        .await
        .unwrap();
    let e = store.enroll(late, None, now + hour * 2).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");

    // A code for a known terminal gives it new credentials and keeps its place.
    let event = common::provisional(
        &Till {
            terminal_id: terminal.terminal_id.clone(),
            store_id: "shibuya".into(),
            secret: String::new(),
        },
        1,
        "p-1",
        &common::card(1),
    );
    push(store, &terminal, &[&event]).await;
    let again = store
        .create_enrollment_code(
            "shibuya".into(),
            Some(terminal.terminal_id.clone()),
            now + hour,
            now,
        )
        .await
        .unwrap();
    let renewed = store.enroll(again, None, now).await.unwrap();
    assert_eq!(renewed.terminal_id, terminal.terminal_id);
    let now_held = store
        .terminal(terminal.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_held.acked_through, 1);
    assert_ne!(now_held.secret_hash, terminal.secret_hash);
    // … but not for a terminal of another store.
    let e = store
        .create_enrollment_code(
            "umeda".into(),
            Some(terminal.terminal_id.clone()),
            now + hour,
            now,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");
}

async fn a_replay_is_a_duplicate_and_other_content_is_a_conflict<S: TillStore>(store: &S) {
    let (till, terminal) = till(store, "shibuya").await;
    let first = common::provisional(&till, 1, "p-1", &common::card(1));
    let outcome = push(store, &terminal, &[&first]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Stored]);
    assert_eq!(outcome.acked_through, 1);

    let replay = push(store, &terminal, &[&first]).await;
    assert_eq!(statuses(&replay), [PushStatus::Duplicate]);

    // Other content in a held slot: the first stays, the second is kept as a conflict, once.
    let other = common::provisional(&till, 1, "p-2", &common::card(2));
    for _ in 0..2 {
        let outcome = push(store, &terminal, &[&other]).await;
        assert_eq!(statuses(&outcome), [PushStatus::Conflict]);
    }
    // The same event id in another slot: refused, and the slot is taken as a conflict.
    let mut same_id = common::provisional(&till, 2, "p-3", &common::card(3));
    same_id.event_id = first.event_id.clone();
    let outcome = push(store, &terminal, &[&same_id]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Conflict]);
    assert_eq!(outcome.acked_through, 2, "a conflict still fills its slot");

    let counts = store.counts().await.unwrap();
    assert_eq!(counts.conflicts, 2);
    assert_eq!(counts.events, 2);
    assert_eq!(counts.members, 1);
    assert!(
        store
            .member_by_code(common::card(2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .member_by_code(common::card(3))
            .await
            .unwrap()
            .is_none()
    );
}

/// What one push holds twice is judged as if it had come in two: the second is a duplicate or
/// a conflict, seen within the push.
async fn one_push_holding_an_event_twice_takes_it_once<S: TillStore>(store: &S) {
    let (till, terminal) = till(store, "shibuya").await;
    let first = common::provisional(&till, 1, "p-1", &common::card(1));
    let mut again = common::provisional(&till, 2, "p-2", &common::card(2));
    again.event_id = first.event_id.clone();
    let third = common::provisional(&till, 3, "p-3", &common::card(3));
    let outcome = push(store, &terminal, &[&first, &again, &third]).await;
    assert_eq!(
        statuses(&outcome),
        [PushStatus::Stored, PushStatus::Conflict, PushStatus::Stored]
    );
    assert_eq!(outcome.acked_through, 3);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.members, counts.conflicts), (3, 2, 1));
    // The provisional member of seq 1, made in the push, is known to seq 3's sale in the next.
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), Utc::now()).await.unwrap();
    let (sale, _) = common::sale(
        &till,
        4,
        Some("p-1"),
        &rules,
        &MemberState::default(),
        "s",
        1_000,
        0,
    );
    let outcome = push(store, &terminal, &[&sale]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Stored]);
    assert_eq!(balance(&member(store, &common::card(1)).await), 10);
}

/// A slot keeps its first content, and that is what applies: never the other content a push
/// brought for it (in the same push, or after a gap).
async fn a_slot_applies_its_first_content_never_a_rival<S: TillStore>(store: &S) {
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), Utc::now()).await.unwrap();
    let (till, terminal) = till(store, "shibuya").await;
    let card = common::card(1);
    let made = common::provisional(&till, 1, "p-1", &card);
    let none = MemberState::default();
    let (small, _) = common::sale(&till, 2, Some("p-1"), &rules, &none, "s-small", 1_000, 0);
    let (big, _) = common::sale(&till, 2, Some("p-1"), &rules, &none, "s-big", 90_000, 0);
    // The same seq twice in one push: the first stays and applies.
    let outcome = push(store, &terminal, &[&made, &small, &big]).await;
    assert_eq!(
        statuses(&outcome),
        [PushStatus::Stored, PushStatus::Stored, PushStatus::Conflict]
    );
    assert_eq!(
        balance(&member(store, &card).await),
        10,
        "¥1,000's points, not ¥90,000's"
    );
    // Behind a gap: seq 4 stored first, then a push of seq 3 with other content for seq 4.
    let after = member(store, &card).await.state;
    let (third, outcome3) = common::sale(&till, 3, Some("p-1"), &rules, &after, "s-3", 1_000, 0);
    let mut later = after.clone();
    later.take_sale(&outcome3.unwrap(), Some(&rules));
    let (fourth, _) = common::sale(&till, 4, Some("p-1"), &rules, &later, "s-4", 1_000, 0);
    let (rival, _) = common::sale(&till, 4, Some("p-1"), &rules, &later, "s-4b", 90_000, 0);
    assert_eq!(push(store, &terminal, &[&fourth]).await.acked_through, 2);
    let outcome = push(store, &terminal, &[&third, &rival]).await;
    assert_eq!(
        statuses(&outcome),
        [PushStatus::Stored, PushStatus::Conflict]
    );
    assert_eq!(outcome.acked_through, 4);
    assert_eq!(balance(&member(store, &card).await), 30);
}

async fn events_apply_in_seq_order_across_a_gap<S: TillStore>(store: &S) {
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rules = RuleSet::demo();
    let (till, terminal) = till(store, "shibuya").await;
    let card = common::card(7);
    let made = common::provisional(&till, 1, "p-7", &card);
    let state = MemberState::default();
    let (first, _) = common::sale(&till, 2, Some("p-7"), &rules, &state, "s-1", 1_000, 0);
    let after_first = {
        let mut m = MemberSnapshot {
            member_id: "p-7".into(),
            number: card.clone(),
            codes: vec![card.clone()],
            provisional: false,
            state: state.clone(),
            applied_through: Default::default(),
            merged_ids: vec![],
        };
        if let tenpo_protocol::events::EventBody::Sale(s) = &first.body {
            m.state.take_sale(s.outcome.as_ref().unwrap(), Some(&rules));
        }
        m.state
    };
    let (second, _) = common::sale(&till, 3, Some("p-7"), &rules, &after_first, "s-2", 2_000, 0);

    // Seq 3 before 2: held, not applied (the member exists: seq 1 is applied).
    let outcome = push(store, &terminal, &[&made, &second]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Stored, PushStatus::Stored]);
    assert_eq!(outcome.acked_through, 1);
    assert_eq!(balance(&member(store, &card).await), 0);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.events_waiting), (2, 1));

    // The gap filled: both apply, in order.
    let outcome = push(store, &terminal, &[&first]).await;
    assert_eq!(outcome.acked_through, 3);
    let m = member(store, &card).await;
    assert_eq!(m.applied_through.get(&till.terminal_id), Some(&3));
    assert_eq!(balance(&m), 30, "1% of ¥1,000 and of ¥2,000");
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.events_waiting), (3, 0));
    assert_eq!(store.counts().await.unwrap().discrepancies, 0);
}

async fn a_sale_is_evaluated_again_and_a_forged_outcome_is_held<S: TillStore>(store: &S) {
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rules = RuleSet::demo();
    let (till, terminal) = till(store, "shibuya").await;
    let card = common::card(8);
    let made = common::provisional(&till, 1, "p-8", &card);
    let (mut forged, _) = common::sale(
        &till,
        2,
        Some("p-8"),
        &rules,
        &MemberState::default(),
        "s-forged",
        1_000,
        0,
    );
    if let tenpo_protocol::events::EventBody::Sale(s) = &mut forged.body {
        let outcome = s.outcome.as_mut().unwrap();
        outcome.earned_points += 50_000;
        if let Some(lot) = outcome.earned_lot.as_mut() {
            lot.points += 50_000;
        }
    }
    let outcome = push(store, &terminal, &[&made, &forged]).await;
    assert_eq!(outcome.acked_through, 2);
    let m = member(store, &card).await;
    assert_eq!(balance(&m), 0, "the forged outcome is not applied");
    assert_eq!(
        m.applied_through.get(&till.terminal_id),
        Some(&2),
        "seen, so the till stops adding it"
    );
    assert_eq!(store.counts().await.unwrap().discrepancies, 1);
}

async fn the_feed_pages_and_refuses_cursors_from_elsewhere<S: TillStore>(store: &S) {
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let (till, terminal) = till(store, "shibuya").await;
    let events: Vec<Event> = (1..=5)
        .map(|n| common::provisional(&till, n, &format!("p-{n}"), &common::card(n)))
        .collect();
    push(store, &terminal, &events.iter().collect::<Vec<_>>()).await;

    // From the start: the signing key, the rule set and five members, in pages of two.
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = store.changes(cursor.clone(), 2).await.unwrap();
        assert!(page.changes.len() <= 2);
        seen.extend(page.changes);
        cursor = Some(page.next);
        if !page.more {
            break;
        }
    }
    let members = seen
        .iter()
        .filter(|c| matches!(c, Change::Member { .. }))
        .count();
    assert_eq!(members, 5);
    assert!(seen.iter().any(|c| matches!(c, Change::RuleSet { .. })));
    assert!(seen.iter().any(|c| matches!(c, Change::SigningKey { .. })));
    let cursor = cursor.unwrap();
    assert!(
        store
            .changes(Some(cursor.clone()), 10)
            .await
            .unwrap()
            .changes
            .is_empty()
    );

    // A change moves its thing to the head: a cursor after it sees it once more.
    let sale = common::provisional(&till, 6, "p-1b", &common::card(1));
    push(store, &terminal, &[&sale]).await;
    let page = store.changes(Some(cursor.clone()), 10).await.unwrap();
    assert_eq!(page.changes.len(), 1, "{:?}", page.changes);

    let reset = |after: FeedPosition| async move {
        match store.changes(Some(after), 10).await {
            Err(StoreError::CursorReset(why)) => why,
            other => panic!("expected a reset, got {other:?}"),
        }
    };
    let why = reset(FeedPosition {
        epoch: "another-database".into(),
        ..cursor.clone()
    })
    .await;
    assert!(why.contains("another hub database"), "{why}");
    let why = reset(FeedPosition {
        run: Some("a-run-never-seen".into()),
        ..cursor.clone()
    })
    .await;
    assert!(why.contains("never saw"), "{why}");
    let why = reset(FeedPosition {
        position: cursor.position + 1_000,
        ..cursor.clone()
    })
    .await;
    assert!(why.contains("ahead"), "{why}");
}

async fn rule_sets_only_go_forward<S: TillStore>(store: &S) {
    let now = Utc::now();
    assert!(store.current_rules().await.unwrap().is_none());
    let mut rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let e = store.load_rules(rules.clone(), now).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::RulesVersion {
                version: 1,
                latest: 1
            }
        ),
        "{e}"
    );
    rules.version = 2;
    rules.name = "winter".into();
    store.load_rules(rules, now).await.unwrap();
    let current = store.current_rules().await.unwrap().unwrap();
    assert_eq!((current.version, current.name.as_str()), (2, "winter"));
    assert_eq!(store.counts().await.unwrap().rule_set_version, 2);
}

async fn bad_events_are_refused_and_change_nothing<S: TillStore>(store: &S) {
    let (till, terminal) = till(store, "shibuya").await;
    // A sale for a member nobody made: rejected, with the reason, again on a replay.
    let rules = RuleSet::demo();
    let (orphan, _) = common::sale(
        &till,
        1,
        Some("p-ghost"),
        &rules,
        &MemberState::default(),
        "s-ghost",
        500,
        0,
    );
    for _ in 0..2 {
        let outcome = push(store, &terminal, &[&orphan]).await;
        assert_eq!(statuses(&outcome), [PushStatus::Rejected]);
        let reason = outcome.results[0].reason.as_deref().unwrap();
        assert!(reason.contains("unknown to the hub"), "{reason}");
    }
    // A malformed item in the next slot: rejected where it stands, the slot filled.
    let garbage = serde_json::value::to_raw_value(&serde_json::json!({
        "event": {"seq": 2, "terminal_id": till.terminal_id, "body": "nonsense"},
        "content_hash": "0000",
    }))
    .unwrap();
    let prepared = intake::prepare(&terminal, vec![garbage], common::date("2026-11-20")).unwrap();
    let outcome = store
        .push(
            terminal.clone(),
            prepared,
            ReviewLimits::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(statuses(&outcome), [PushStatus::Rejected]);
    assert_eq!(outcome.acked_through, 2);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.members, counts.events), (0, 2));
}
