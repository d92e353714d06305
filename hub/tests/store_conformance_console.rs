//! The console's half of the store (`ConsoleStore`) on both backends (docs/design.md §13):
//! staff accounts, lock-out and sessions; a person's changes to a member, each in the audit
//! log and reaching terminals through the feed; a member's history across tills and changes,
//! page by page; what terminals say of themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::backends::*;
use tenpo_hub::store::console::{
    Actor, ConsoleStore, Found, LockOut, NewSession, Role, TerminalReport,
};
use tenpo_hub::store::{AdminStore, StoreError, TillStore};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::sync::Change;

crate::on_both_backends!(
    staff_sign_in_locks_out_and_sessions_end,
    points_adjusted_by_a_person_reach_the_feed_and_the_history,
    a_lost_card_is_replaced_and_the_old_one_revoked,
    a_members_history_pages_through_tills_and_changes,
    terminals_say_their_version_and_what_is_waiting,
);

const LOCK: LockOut = LockOut {
    after: 5,
    for_ms: 15 * 60_000,
};

fn actor(reason: &str) -> Actor {
    Actor::new("hanako", reason).unwrap()
}

async fn staff_sign_in_locks_out_and_sessions_end<S: ConsoleStore>(store: &S) {
    let now = Utc::now();
    store
        .add_staff("hanako".into(), Role::Crm, "$argon2id$stand-in".into(), now)
        .await
        .unwrap();
    let again = store
        .add_staff("hanako".into(), Role::Admin, "x".into(), now)
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    let account = store.staff_account("hanako".into()).await.unwrap().unwrap();
    assert_eq!((account.role, account.failed_attempts), (Role::Crm, 0));
    assert!(
        store
            .staff_account("nobody".into())
            .await
            .unwrap()
            .is_none()
    );

    for _ in 0..4 {
        let locked = store
            .sign_in_failed("hanako".into(), LOCK, now)
            .await
            .unwrap();
        assert_eq!(locked, None);
    }
    let until = store
        .sign_in_failed("hanako".into(), LOCK, now)
        .await
        .unwrap()
        .expect("the fifth wrong password locks");
    assert_eq!(until, now.timestamp_millis() + LOCK.for_ms);
    let account = store.staff_account("hanako".into()).await.unwrap().unwrap();
    assert_eq!(account.locked_until_ms, Some(until));
    let log = store.staff_actions(None, 10, None).await.unwrap();
    assert_eq!(log[0].action, "sign_in_locked");
    assert_eq!(log[0].staff, "hanako");
    // An unknown name is nobody's count.
    assert_eq!(
        store
            .sign_in_failed("nobody".into(), LOCK, now)
            .await
            .unwrap(),
        None
    );

    let session = NewSession {
        token_hash: [7; 32],
        csrf: "csrf-token".into(),
        expires_ms: (now + Duration::hours(12)).timestamp_millis(),
    };
    store.sign_in("hanako".into(), session, now).await.unwrap();
    let account = store.staff_account("hanako".into()).await.unwrap().unwrap();
    assert_eq!(account.locked_until_ms, None, "a sign-in clears the lock");
    let idle = 30 * 60_000;
    let live = store
        .staff_session([7; 32], idle, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((live.name.as_str(), live.role), ("hanako", Role::Crm));
    assert_eq!(live.csrf, "csrf-token");
    assert!(
        store
            .staff_session([8; 32], idle, now)
            .await
            .unwrap()
            .is_none()
    );
    // Used within the idle time, it lives on; left idle, it is over.
    let later = now + Duration::minutes(20);
    assert!(
        store
            .staff_session([7; 32], idle, later)
            .await
            .unwrap()
            .is_some()
    );
    let idle_after = later + Duration::minutes(31);
    assert!(
        store
            .staff_session([7; 32], idle, idle_after)
            .await
            .unwrap()
            .is_none()
    );
    // Past its absolute end, it is over however busy.
    let past_end = now + Duration::hours(12) + Duration::seconds(1);
    assert!(
        store
            .staff_session([7; 32], i64::MAX / 4, past_end)
            .await
            .unwrap()
            .is_none()
    );
    store.end_session([7; 32]).await.unwrap();
    assert!(
        store
            .staff_session([7; 32], idle, now)
            .await
            .unwrap()
            .is_none()
    );

    // A new password ends every session; a closed account has none.
    let session = NewSession {
        token_hash: [9; 32],
        csrf: "other".into(),
        expires_ms: (now + Duration::hours(12)).timestamp_millis(),
    };
    store.sign_in("hanako".into(), session, now).await.unwrap();
    store
        .update_staff("hanako".into(), Some("$argon2id$new".into()), None, false)
        .await
        .unwrap();
    assert!(
        store
            .staff_session([9; 32], idle, now)
            .await
            .unwrap()
            .is_none()
    );
    let missing = store
        .update_staff("nobody".into(), None, None, true)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
    assert_eq!(store.staff_accounts().await.unwrap().len(), 1);
}

async fn points_adjusted_by_a_person_reach_the_feed_and_the_history<
    S: TillStore + AdminStore + ConsoleStore,
>(
    store: &S,
) {
    let now = Utc::now();
    let today = common::date("2026-11-20");
    store.load_rules(RuleSet::demo(), now).await.unwrap();
    let code = common::card(1);
    let rows = vec![import_row(2, &code, 100, 0, None)];
    store.import_members(rows, today, now).await.unwrap();
    let m = member(store, &code).await;
    let (_, before) = feed_after(store, None).await;

    let done = store
        .adjust_points(
            m.member_id.clone(),
            50,
            actor("goodwill: late delivery"),
            today,
            now,
        )
        .await
        .unwrap();
    assert_eq!((done.balance_before, done.balance_after), (100, 150));
    assert_eq!(balance(&member(store, &code).await), 150);
    let (changes, after) = feed_after(store, Some(before)).await;
    let snapshot = changes.iter().find_map(|c| match c {
        Change::Member { member } => Some(member),
        _ => None,
    });
    assert_eq!(snapshot.map(balance), Some(150), "{changes:?}");

    // Below zero, zero, no reason, an unknown member: refused, nothing changed.
    let below = store
        .adjust_points(m.member_id.clone(), -151, actor("typo"), today, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&below, StoreError::Invalid(m) if m.contains("below zero")),
        "{below}"
    );
    let zero = store
        .adjust_points(m.member_id.clone(), 0, actor("nothing"), today, now)
        .await
        .unwrap_err();
    assert!(matches!(zero, StoreError::Invalid(_)), "{zero}");
    assert!(Actor::new("hanako", "   ").is_err(), "a reason is required");
    let nobody = store
        .adjust_points("no-such-member".into(), 5, actor("x"), today, now)
        .await
        .unwrap_err();
    assert!(matches!(nobody, StoreError::NotFound(_)), "{nobody}");
    assert_eq!(balance(&member(store, &code).await), 150);
    let (changes, _) = feed_after(store, Some(after)).await;
    assert!(
        changes.is_empty(),
        "a refused adjustment reaches nobody: {changes:?}"
    );

    let taken = store
        .adjust_points(m.member_id.clone(), -30, actor("returned gift"), today, now)
        .await
        .unwrap();
    assert_eq!(taken.balance_after, 120);
    let log = store
        .staff_actions(None, 10, Some(m.member_id.clone()))
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = log
        .iter()
        .map(|a| (a.action.as_str(), a.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("adjust_points", "returned gift"),
            ("adjust_points", "goodwill: late delivery")
        ]
    );
    assert_eq!(log[0].detail["points"], -30);
    let history = store.member_history(m, None, 10).await.unwrap();
    let kinds: Vec<&str> = history.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["adjust_points", "adjust_points"]);
    assert_eq!(history.entries[0].staff.as_deref(), Some("hanako"));
}

async fn a_lost_card_is_replaced_and_the_old_one_revoked<
    S: TillStore + AdminStore + ConsoleStore,
>(
    store: &S,
) {
    let now = Utc::now();
    let today = common::date("2026-11-20");
    store.load_rules(RuleSet::demo(), now).await.unwrap();
    let (old, new, other) = (common::card(1), common::card(2), common::card(3));
    let rows = vec![
        import_row(2, &old, 300, 0, None),
        import_row(3, &other, 0, 0, None),
    ];
    store.import_members(rows, today, now).await.unwrap();
    let m = member(store, &old).await;
    let (_, before) = feed_after(store, None).await;

    let last = new.as_bytes()[12] - b'0';
    let wrong_digit = format!("{}{}", &new[..12], (last + 1) % 10);
    let refused = [
        (other.clone(), "another member's"),
        (old.clone(), "this member's already"),
        (wrong_digit, "check digit"),
    ];
    for (code, why) in refused {
        let e = store
            .replace_card(m.member_id.clone(), old.clone(), code, actor("lost"), now)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Invalid(m) if m.contains(why)),
            "{why}: {e}"
        );
    }
    let not_theirs = store
        .replace_card(
            m.member_id.clone(),
            other.clone(),
            new.clone(),
            actor("lost"),
            now,
        )
        .await
        .unwrap_err();
    assert!(matches!(not_theirs, StoreError::Invalid(_)), "{not_theirs}");

    store
        .replace_card(
            m.member_id.clone(),
            old.clone(),
            new.clone(),
            actor("lost on the train"),
            now,
        )
        .await
        .unwrap();
    let moved = member(store, &new).await;
    assert_eq!(moved.member_id, m.member_id);
    assert_eq!(balance(&moved), 300, "the new card takes everything");
    assert_eq!(moved.codes, std::slice::from_ref(&new));
    assert_eq!(moved.number, new, "the paper card's number was its code");
    assert!(store.member_by_code(old.clone()).await.unwrap().is_none());
    match store.find_member(old.clone()).await.unwrap() {
        Found::Revoked { member_id, .. } => assert_eq!(member_id, Some(m.member_id.clone())),
        other => panic!("the old card is revoked: {other:?}"),
    }
    match store.find_member(new.clone()).await.unwrap() {
        Found::Member(file) => {
            assert_eq!(file.member.member_id, m.member_id);
            assert_eq!(file.revoked.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let (changes, _) = feed_after(store, Some(before)).await;
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::CodeRevoked { code } if *code == old)),
        "{changes:?}"
    );
    // A revoked card cannot come back.
    let e = store
        .replace_card(
            m.member_id.clone(),
            new.clone(),
            old.clone(),
            actor("found it"),
            now,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("revoked")),
        "{e}"
    );
    assert!(matches!(
        store
            .find_member("nothing-like-a-card".into())
            .await
            .unwrap(),
        Found::Nobody
    ));
}

async fn a_members_history_pages_through_tills_and_changes<
    S: TillStore + AdminStore + ConsoleStore,
>(
    store: &S,
) {
    let now = Utc::now();
    let today = common::date("2026-11-20");
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let code = common::card(1);
    store
        .import_members(vec![import_row(2, &code, 0, 0, None)], today, now)
        .await
        .unwrap();
    let m = member(store, &code).await;
    let (till_a, terminal_a) = till(store, "shibuya").await;
    let (till_b, terminal_b) = till(store, "umeda").await;
    // Three sales at one store in one push (one time of arrival), two at another, and a
    // change between.
    let mut state = m.state.clone();
    let mut events = Vec::new();
    for seq in 1..=3 {
        let (e, outcome) = common::sale(
            &till_a,
            seq,
            Some(&m.member_id),
            &rules,
            &state,
            &format!("a-{seq}"),
            1_000,
            0,
        );
        state.apply_sale(&outcome.unwrap());
        events.push(e);
    }
    push(store, &terminal_a, &events.iter().collect::<Vec<_>>()).await;
    store
        .adjust_points(m.member_id.clone(), 5, actor("sorry"), today, Utc::now())
        .await
        .unwrap();
    for seq in 1..=2 {
        let state = member(store, &code).await.state;
        let (e, _) = common::sale(
            &till_b,
            seq,
            Some(&m.member_id),
            &rules,
            &state,
            &format!("b-{seq}"),
            500,
            0,
        );
        push(store, &terminal_b, &[&e]).await;
    }

    let member_now = member(store, &code).await;
    let mut seen = Vec::new();
    let mut older = None;
    for _ in 0..10 {
        let page = store
            .member_history(member_now.clone(), older.clone(), 2)
            .await
            .unwrap();
        assert!(page.entries.len() <= 2);
        for e in &page.entries {
            let sale = e.detail["body"]["sale_id"].as_str().map(str::to_owned);
            seen.push((e.kind.clone(), e.store_id.clone(), sale));
        }
        older = page.older;
        if older.is_none() {
            break;
        }
    }
    let expected: Vec<(String, Option<String>, Option<String>)> = vec![
        ("sale".into(), Some("umeda".into()), Some("b-2".into())),
        ("sale".into(), Some("umeda".into()), Some("b-1".into())),
        ("adjust_points".into(), None, None),
        ("sale".into(), Some("shibuya".into()), Some("a-3".into())),
        ("sale".into(), Some("shibuya".into()), Some("a-2".into())),
        ("sale".into(), Some("shibuya".into()), Some("a-1".into())),
    ];
    assert_eq!(seen, expected, "newest first, each once, across pages");
    let forged = store
        .member_history(member_now, Some("yesterday~e/x".into()), 2)
        .await
        .unwrap_err();
    assert!(matches!(forged, StoreError::Invalid(_)), "{forged}");
}

async fn terminals_say_their_version_and_what_is_waiting<
    S: TillStore + AdminStore + ConsoleStore,
>(
    store: &S,
) {
    let now = Utc::now();
    let (_, quiet) = till(store, "shibuya").await;
    let (till_b, terminal_b) = till(store, "umeda").await;
    let member = uuid::Uuid::now_v7().to_string();
    let e = common::provisional(&till_b, 1, &member, &common::card(4));
    push(store, &terminal_b, &[&e]).await;
    let report = TerminalReport {
        agent_version: "0.1.0".into(),
        outbox_seq: 7,
        clock_skew_ms: -2_500,
    };
    store
        .record_terminal_report(till_b.terminal_id.clone(), report, now)
        .await
        .unwrap();
    let health = store.terminal_health().await.unwrap();
    assert_eq!(health.len(), 2);
    let (a, b) = (&health[0], &health[1]);
    assert_eq!(
        (a.store_id.as_str(), b.store_id.as_str()),
        ("shibuya", "umeda")
    );
    assert_eq!(a.terminal_id, quiet.terminal_id);
    assert_eq!(
        (a.agent_version.as_deref(), a.reported_at.as_deref()),
        (None, None)
    );
    assert_eq!(b.agent_version.as_deref(), Some("0.1.0"));
    assert_eq!(
        (b.acked_through, b.outbox_seq, b.waiting()),
        (1, Some(7), 6)
    );
    assert_eq!(b.clock_skew_ms, Some(-2_500));
    assert!(b.last_received_at.is_some() && b.reported_at.is_some());
    assert_eq!(b.quarantined, 0);
}
