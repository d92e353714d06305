//! One suite, both backends (docs/design.md §12): every check here runs against the SQLite
//! store and against a real PostgreSQL server the tests start, through the store's traits
//! only. What holds only with several hub processes on one database is at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::Till;
use tenpo_hub::admin::{CouponRequest, HeldAction, ImportRow};
use tenpo_hub::cursor::FeedPosition;
use tenpo_hub::intake;
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};
use tenpo_hub::store::{
    AdminStore, HomeStores, Incoming, SqliteStore, StoreError, Terminal, TillStore,
};
use tenpo_loyalty::{CouponBenefit, MemberState, RuleSet};
use tenpo_protocol::events::{Event, EventBody, SaleEvent};
use tenpo_protocol::sync::{Change, MemberSnapshot, PushStatus};

/// Runs each named check against both backends.
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
                    let store = super::postgres_store().await;
                    super::$check(&store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    enrolment_codes_work_once_and_only_for_their_store,
    a_replay_is_a_duplicate_and_other_content_is_a_conflict,
    events_apply_in_seq_order_across_a_gap,
    a_sale_is_evaluated_again_and_a_forged_outcome_is_held,
    the_feed_pages_and_refuses_cursors_from_elsewhere,
    rule_sets_only_go_forward,
    bad_events_are_refused_and_change_nothing,
    members_imported_with_each_refused_row_reported,
    coupons_reach_each_member_once,
    a_revoked_code_names_nobody_and_reaches_the_feed,
    conflicts_are_listed_a_page_at_a_time,
    discrepancies_are_listed_by_class_a_page_at_a_time,
    held_outcomes_are_released_or_dismissed_once,
    the_audit_path_follows_each_terminal_and_sale,
    a_sale_id_written_with_escapes_is_found,
);

async fn postgres_store() -> PgStore {
    let url = common::postgres::cluster().fresh_database().await;
    open_postgres(&url).await
}

async fn open_postgres(url: &str) -> PgStore {
    PgStore::open(&DatabaseUrl::parse(url).unwrap(), 4, Utc::now())
        .await
        .unwrap()
}

/// Enrols a terminal of `store_id`.
async fn till<S: TillStore>(store: &S, store_id: &str) -> (Till, Terminal) {
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

fn prepared(terminal: &Terminal, events: &[&Event]) -> Vec<Incoming> {
    let items = events
        .iter()
        .map(|e| serde_json::value::to_raw_value(&common::item(e)).unwrap())
        .collect();
    intake::prepare(terminal, items, common::date("2026-11-20")).unwrap()
}

async fn push<S: TillStore>(
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

fn statuses(outcome: &tenpo_hub::store::PushOutcome) -> Vec<PushStatus> {
    outcome.results.iter().map(|r| r.status).collect()
}

async fn member<S: TillStore>(store: &S, code: &str) -> MemberSnapshot {
    store.member_by_code(code.into()).await.unwrap().unwrap()
}

fn balance(member: &MemberSnapshot) -> i64 {
    member.state.balance(common::date("2026-11-20"))
}

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
    assert_eq!(store.counts().await.unwrap().events_waiting, 1);

    // The gap filled: both apply, in order.
    let outcome = push(store, &terminal, &[&first]).await;
    assert_eq!(outcome.acked_through, 3);
    let m = member(store, &card).await;
    assert_eq!(m.applied_through.get(&till.terminal_id), Some(&3));
    assert_eq!(balance(&m), 30, "1% of ¥1,000 and of ¥2,000");
    assert_eq!(store.counts().await.unwrap().events_waiting, 0);
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

// ---- The admin API's half (AdminStore) -----------------------------------------------------

/// Every change the feed holds after `after`, and the cursor at its end.
async fn feed_after<S: TillStore>(
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

fn import_row(line: u64, code: &str, points: i64, spend: i64, birthday: Option<&str>) -> ImportRow {
    ImportRow {
        line,
        card_code: code.into(),
        points,
        qualifying_spend_yen: spend,
        birthday: birthday.map(str::to_owned),
    }
}

/// Imports members that must all be taken (code, points, birthday); answers their member ids.
async fn imported<S: TillStore + AdminStore>(
    store: &S,
    rows: &[(&str, i64, Option<&str>)],
) -> Vec<String> {
    let import = rows
        .iter()
        .enumerate()
        .map(|(i, (code, points, birthday))| import_row(i as u64 + 2, code, *points, 0, *birthday))
        .collect();
    let report = store
        .import_members(import, common::date("2026-05-01"), Utc::now())
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

fn coupon_request(benefit: CouponBenefit, valid_days: u32) -> CouponRequest {
    CouponRequest {
        coupon_id: None,
        member_ids: vec![],
        card_codes: vec![],
        birthday_month: None,
        benefit,
        valid_days,
    }
}

async fn members_imported_with_each_refused_row_reported<S: TillStore + AdminStore>(store: &S) {
    let today = common::date("2026-05-01");
    let now = Utc::now();
    // Before any rule set: nothing to give the points an expiry by.
    let e = store
        .import_members(
            vec![import_row(2, &common::card(1), 10, 0, None)],
            today,
            now,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NoRuleSet), "{e}");
    assert_eq!(store.counts().await.unwrap().members, 0);
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let revoked = store.revoke_code(common::card(9), now).await.unwrap();
    assert_eq!(revoked.member_id, None);
    let (_, before) = feed_after(store, None).await;

    let good = common::card(1);
    let mut bad_digit = common::card(2);
    bad_digit.pop();
    bad_digit.push(if common::card(2).ends_with('0') {
        '1'
    } else {
        '0'
    });
    let rows = vec![
        import_row(2, &good, 100, 20_000, Some("1990-05-17")),
        import_row(3, &bad_digit, 1, 0, None),
        import_row(4, &good, 5, 0, None),
        import_row(5, &common::card(3), -5, 0, None),
        import_row(6, &common::card(4), 0, -1, None),
        import_row(7, &common::card(5), 1_000_000_001, 0, None),
        import_row(8, &common::card(6), 0, 0, Some("1990-02-30")),
        import_row(9, &common::card(9), 10, 0, None),
        import_row(10, &common::card(7), 0, 0, None),
    ];
    let report = store.import_members(rows, today, now).await.unwrap();
    assert_eq!(report.imported, 2);
    let refused: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    let expected = [
        (3, "check digit"),
        (4, "duplicate"),
        (5, "negative points (-5)"),
        (6, "negative qualifying spend (-1)"),
        (7, "1000000001 points is beyond any real balance"),
        (8, "birthday"),
        (9, "the card code is revoked"),
    ];
    assert_eq!(refused.len(), expected.len(), "{refused:?}");
    for ((line, reason), (want_line, want)) in refused.iter().zip(expected) {
        assert_eq!(*line, want_line, "{refused:?}");
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert_eq!(report.rejected[0].card_code, bad_digit);

    // The members made: a lot expiring by the rules, the spend on the import date.
    let m = member(store, &good).await;
    assert_eq!(
        (m.number.as_str(), m.codes.as_slice()),
        (good.as_str(), [good.clone()].as_slice())
    );
    assert!(!m.provisional);
    assert_eq!(m.state.lots.len(), 1);
    let lot = &m.state.lots[0];
    assert_eq!(lot.lot_id, format!("import-{good}"));
    assert_eq!((lot.points, lot.earned_on), (100, today));
    assert_eq!(lot.expires_on, rules.expiry_for(today));
    assert_eq!(m.state.spend.get(&today), Some(&20_000));
    assert_eq!(m.state.spend.len(), 1);
    let zero = member(store, &common::card(7)).await;
    assert!(zero.state.lots.is_empty() && zero.state.spend.is_empty());
    // Nothing of a refused row was written.
    for n in [3, 4, 5, 6, 9] {
        assert!(
            store
                .member_by_code(common::card(n))
                .await
                .unwrap()
                .is_none(),
            "card {n}"
        );
    }
    assert_eq!(store.counts().await.unwrap().members, 2);
    let (changes, _) = feed_after(store, Some(before)).await;
    let mut numbers: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Member { member } => member.number.clone(),
            other => panic!("only the new members: {other:?}"),
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, [good.clone(), common::card(7)]);

    // A later file naming the card again: refused, naming the member who has it.
    let again = store
        .import_members(vec![import_row(2, &good, 1, 0, None)], today, now)
        .await
        .unwrap();
    assert_eq!(again.imported, 0);
    assert!(
        again.rejected[0].reason.contains(&m.member_id),
        "{:?}",
        again.rejected
    );
    assert_eq!(balance(&member(store, &good).await), 100);
}

async fn coupons_reach_each_member_once<S: TillStore + AdminStore>(store: &S) {
    let today = common::date("2026-05-01");
    let now = Utc::now();
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let (home, away, unknown, june, plain) = (
        common::card(11),
        common::card(12),
        common::card(13),
        common::card(14),
        common::card(15),
    );
    let ids = imported(
        store,
        &[
            (&home, 0, Some("1990-05-17")),
            (&away, 0, Some("1985-05-02")),
            (&unknown, 0, Some("2000-05-31")),
            (&june, 0, Some("1990-06-01")),
            (&plain, 0, None),
        ],
    )
    .await;
    // Their home stores: the first store that sent a sale of theirs (none for `unknown`).
    for (store_id, member_id, sale_id) in [("waikiki", &ids[0], "s-w"), ("shibuya", &ids[1], "s-s")]
    {
        let (till, terminal) = till(store, store_id).await;
        let state = MemberState::default();
        let (e, _) = common::sale(&till, 1, Some(member_id), &rules, &state, sale_id, 500, 0);
        assert_eq!(
            statuses(&push(store, &terminal, &[&e]).await),
            [PushStatus::Stored]
        );
    }
    let coupons = |m: &MemberSnapshot| m.state.coupons.keys().cloned().collect::<Vec<_>>();

    // May's birthdays whose home store is Waikiki's time zone, then the rest of May.
    let mut may = coupon_request(CouponBenefit::Discount { value_yen: 500 }, 31);
    may.birthday_month = Some(5);
    let only = HomeStores::Only(vec!["waikiki".into()]);
    let first = store
        .issue_coupons(may.clone(), only, today, now)
        .await
        .unwrap();
    let id = first.coupon_id.clone();
    let opaque = id
        .strip_prefix("coupon-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(opaque, "{id}");
    assert_eq!((first.issued, first.already_issued), (1, 0));
    assert_eq!(
        (first.valid_from, first.valid_until),
        (today, common::date("2026-05-31"))
    );
    let got = member(store, &home).await;
    assert_eq!(coupons(&got), std::slice::from_ref(&id));
    let coupon = &got.state.coupons[&id];
    assert_eq!(coupon.benefit, CouponBenefit::Discount { value_yen: 500 });
    assert_eq!(
        (coupon.valid_from, coupon.valid_until),
        (today, common::date("2026-05-31"))
    );
    assert!(coupons(&member(store, &away).await).is_empty());

    let except = HomeStores::Except(vec!["waikiki".into()]);
    let rest = store
        .issue_coupons(may.clone(), except, today, now)
        .await
        .unwrap();
    assert_eq!(
        rest.coupon_id, id,
        "the same month and year: the same coupon"
    );
    assert_eq!((rest.issued, rest.already_issued), (2, 0));
    for code in [&away, &unknown] {
        assert_eq!(
            coupons(&member(store, code).await),
            std::slice::from_ref(&id),
            "{code}"
        );
    }
    // Everyone's month again: nobody gets a second one.
    let all = store
        .issue_coupons(may, HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!((all.issued, all.already_issued), (0, 3));
    for code in [&june, &plain] {
        assert!(coupons(&member(store, code).await).is_empty(), "{code}");
    }

    // Named members, by id or by card as staff have it; unknown ones are reported.
    let mut named = coupon_request(CouponBenefit::PointsBonus { points: 50 }, 10);
    named.coupon_id = Some("welcome".into());
    named.member_ids = vec![ids[4].clone(), "nobody".into()];
    named.card_codes = vec![format!(" {june} "), common::card(99)];
    let report = store
        .issue_coupons(named.clone(), HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!(report.coupon_id, "welcome");
    assert_eq!((report.issued, report.already_issued), (2, 0));
    assert_eq!(report.unknown_members, ["nobody"]);
    assert_eq!(report.unknown_cards, [common::card(99)]);
    assert_eq!(report.valid_until, common::date("2026-05-10"));
    let welcomed = member(store, &plain).await;
    assert_eq!(
        welcomed.state.coupons["welcome"].benefit,
        CouponBenefit::PointsBonus { points: 50 }
    );
    assert_eq!(coupons(&member(store, &june).await), ["welcome"]);
    let again = store
        .issue_coupons(named, HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!((again.issued, again.already_issued), (0, 2));

    // Requests that cannot be right: refused, and nobody gets anything.
    let (_, cursor) = feed_after(store, None).await;
    let mut bad = Vec::new();
    bad.push(coupon_request(
        CouponBenefit::Discount { value_yen: 100 },
        7,
    ));
    let mut both = coupon_request(CouponBenefit::Discount { value_yen: 100 }, 7);
    both.member_ids = vec![ids[4].clone()];
    both.birthday_month = Some(5);
    bad.push(both);
    let mut month = coupon_request(CouponBenefit::Discount { value_yen: 100 }, 7);
    month.birthday_month = Some(13);
    bad.push(month);
    let named = |benefit, days, id: Option<&str>| {
        let mut r = coupon_request(benefit, days);
        r.member_ids = vec![ids[4].clone()];
        r.coupon_id = id.map(str::to_owned);
        r
    };
    bad.push(named(CouponBenefit::Discount { value_yen: 100 }, 0, None));
    bad.push(named(
        CouponBenefit::Discount { value_yen: 100 },
        3661,
        None,
    ));
    bad.push(named(CouponBenefit::Discount { value_yen: 0 }, 7, None));
    bad.push(named(CouponBenefit::Discount { value_yen: -500 }, 7, None));
    bad.push(named(
        CouponBenefit::PointsBonus { points: 1_000_001 },
        7,
        None,
    ));
    bad.push(named(
        CouponBenefit::PointsBonus { points: 10 },
        7,
        Some("two words"),
    ));
    for request in bad {
        let e = store
            .issue_coupons(request.clone(), HomeStores::All, today, now)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{request:?}: {e}");
    }
    let (changes, _) = feed_after(store, Some(cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(coupons(&member(store, &plain).await), ["welcome"]);
}

async fn a_revoked_code_names_nobody_and_reaches_the_feed<S: TillStore + AdminStore>(store: &S) {
    let now = Utc::now();
    store.load_rules(RuleSet::demo(), now).await.unwrap();
    let (gone, kept) = (common::card(21), common::card(22));
    let ids = imported(store, &[(&gone, 300, None), (&kept, 50, None)]).await;
    let (_, cursor) = feed_after(store, None).await;

    let revoked = store.revoke_code(format!(" {gone} "), now).await.unwrap();
    assert_eq!(revoked.code, gone);
    assert_eq!(revoked.member_id.as_deref(), Some(ids[0].as_str()));
    assert!(store.member_by_code(gone.clone()).await.unwrap().is_none());
    // The member keeps their points; the other member keeps their card.
    let (changes, cursor) = feed_after(store, Some(cursor)).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let Change::Member { member: was } = &changes[0] else {
        panic!("{changes:?}");
    };
    assert_eq!(was.member_id, ids[0]);
    assert!(was.codes.is_empty());
    assert_eq!(balance(was), 300);
    assert_eq!(changes[1], Change::CodeRevoked { code: gone.clone() });
    let other = member(store, &kept).await;
    assert_eq!(
        (other.member_id.as_str(), other.codes.as_slice()),
        (ids[1].as_str(), [kept.clone()].as_slice())
    );
    assert_eq!(balance(&other), 50);

    // The code is never a member again: not by import, not by a till's new card.
    let report = store
        .import_members(
            vec![import_row(2, &gone, 1, 0, None)],
            common::date("2026-05-01"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(report.imported, 0);
    assert!(
        report.rejected[0].reason.contains("revoked"),
        "{:?}",
        report.rejected
    );
    let (till, terminal) = till(store, "shibuya").await;
    let made = common::provisional(&till, 1, "p-gone", &gone);
    let outcome = push(store, &terminal, &[&made]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Rejected]);
    assert_eq!(store.counts().await.unwrap().members, 2);

    // Revoked again: nobody to name now; a code nobody had is revoked all the same.
    let twice = store.revoke_code(gone.clone(), now).await.unwrap();
    assert_eq!(twice.member_id, None);
    let never = store
        .revoke_code("4901234567894".into(), now)
        .await
        .unwrap();
    assert_eq!(never.member_id, None);
    let (changes, cursor) = feed_after(store, Some(cursor)).await;
    let revoked_codes: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::CodeRevoked { code } => code.clone(),
            other => panic!("only revocations: {other:?}"),
        })
        .collect();
    assert_eq!(revoked_codes, [gone.clone(), "4901234567894".to_owned()]);

    // Not a code: refused, and nothing changes.
    for bad in [
        "",
        "   ",
        "two words",
        "\u{200f}2100000000229",
        &"9".repeat(129),
    ] {
        let e = store.revoke_code(bad.into(), now).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{bad:?}: {e}");
    }
    let (changes, _) = feed_after(store, Some(cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        member(store, &kept).await.codes,
        std::slice::from_ref(&kept)
    );
}

async fn conflicts_are_listed_a_page_at_a_time<S: TillStore + AdminStore>(store: &S) {
    assert!(store.conflicts(0, 10).await.unwrap().is_empty());
    let (till, terminal) = till(store, "shibuya").await;
    let first = common::provisional(&till, 1, "p-1", &common::card(1));
    push(store, &terminal, &[&first]).await;
    let other = common::provisional(&till, 1, "p-2", &common::card(2));
    let third = common::provisional(&till, 1, "p-3", &common::card(3));
    let mut same_id = common::provisional(&till, 2, "p-4", &common::card(4));
    same_id.event_id = first.event_id.clone();
    for e in [&other, &third, &other, &same_id] {
        assert_eq!(
            statuses(&push(store, &terminal, &[e]).await),
            [PushStatus::Conflict]
        );
    }
    let page = store.conflicts(0, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let rest = store.conflicts(page[1].id, 2).await.unwrap();
    assert_eq!(rest.len(), 1, "the same content again is one conflict");
    assert!(store.conflicts(rest[0].id, 2).await.unwrap().is_empty());
    let all: Vec<_> = page.into_iter().chain(rest).collect();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let seen: Vec<(u64, &str, Option<&str>)> = all
        .iter()
        .map(|c| (c.seq, c.kind.as_str(), c.event_id.as_deref()))
        .collect();
    let first_id = Some(first.event_id.as_str());
    assert_eq!(
        seen,
        [
            (1, "seq", first_id),
            (1, "seq", first_id),
            (2, "event_id", first_id)
        ]
    );
    for (c, second) in all.iter().zip([&other, &third, &same_id]) {
        assert_eq!(c.terminal_id, till.terminal_id);
        assert_eq!(c.first["event_id"], first.event_id.as_str(), "{c:?}");
        assert_eq!(c.second["event_id"], second.event_id.as_str(), "{c:?}");
        assert_eq!(c.second["seq"], second.seq, "{c:?}");
        chrono::DateTime::parse_from_rfc3339(&c.detected_at).unwrap();
    }
    // Past the last id, or a page of one from an id that was never given out.
    assert!(store.conflicts(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(store.conflicts(-5, 1).await.unwrap()[0].id, all[0].id);
}

/// Two tills of two stores and one member, with each kind of thing an administrator reviews:
/// an honest sale, two outcomes held for review (points minted), a second stamp for the day
/// from an offline till (an expected difference), and a refund.
struct Reviewed {
    a: Till,
    b: Till,
    card: String,
}

async fn reviewed<S: TillStore + AdminStore>(store: &S) -> Reviewed {
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rules = RuleSet::demo();
    let (a, terminal_a) = till(store, "shibuya").await;
    let (b, terminal_b) = till(store, "umeda").await;
    let card = common::card(40);
    let made = common::provisional(&a, 1, "p-r", &card);
    let fresh = MemberState::default();
    let (honest, o1) = common::sale(&a, 2, Some("p-r"), &rules, &fresh, "s-1", 1_000, 0);
    let o1 = o1.unwrap();
    let mut seen_by_a = fresh.clone();
    seen_by_a.take_sale(&o1, Some(&rules));
    let minted = |seq, sale_id: &str, extra: i64| {
        let (mut e, _) = common::sale(&a, seq, Some("p-r"), &rules, &seen_by_a, sale_id, 1_000, 0);
        if let EventBody::Sale(s) = &mut e.body {
            let outcome = s.outcome.as_mut().unwrap();
            outcome.earned_points += extra;
            outcome.earned_lot.as_mut().unwrap().points += extra;
        }
        e
    };
    let big = minted(3, "s-big", 5_000);
    let mint = minted(4, "s-mint", 50_000);
    let outcome = push(store, &terminal_a, &[&made, &honest, &big, &mint]).await;
    assert_eq!(outcome.acked_through, 4);
    // Till b, offline, gave the day's stamp again.
    let (stamp, _) = common::sale(&b, 1, Some("p-r"), &rules, &fresh, "s-2", 1_200, 0);
    assert_eq!(
        statuses(&push(store, &terminal_b, &[&stamp]).await),
        [PushStatus::Stored]
    );
    // A refund of the honest sale, as till a evaluates it.
    let EventBody::Sale(SaleEvent { lines, .. }) = &honest.body else {
        unreachable!()
    };
    let day = common::date("2026-11-20");
    let refund = tenpo_loyalty::evaluate_refund(
        &rules,
        &seen_by_a,
        lines,
        &o1,
        &[],
        &tenpo_loyalty::Refund {
            refund_id: "r-1".into(),
            business_date: day,
            lines: lines.clone(),
        },
    )
    .unwrap();
    let back = common::event(
        &a,
        5,
        EventBody::Refund(tenpo_protocol::events::RefundEvent {
            refund_id: "r-1".into(),
            sale_id: "s-1".into(),
            member_id: Some("p-r".into()),
            occurred_at: Utc::now().to_rfc3339(),
            business_date: day,
            lines: lines.clone(),
            outcome: Some(refund),
        }),
    );
    assert_eq!(
        statuses(&push(store, &terminal_a, &[&back]).await),
        [PushStatus::Stored]
    );
    Reviewed { a, b, card }
}

async fn discrepancies_are_listed_by_class_a_page_at_a_time<S: TillStore + AdminStore>(store: &S) {
    assert!(store.discrepancies(0, 10, None).await.unwrap().is_empty());
    let r = reviewed(store).await;
    let page = store.discrepancies(0, 2, None).await.unwrap();
    let rest = store.discrepancies(page[1].id, 2, None).await.unwrap();
    assert!(
        store
            .discrepancies(rest[0].id, 2, None)
            .await
            .unwrap()
            .is_empty()
    );
    let all: Vec<_> = page.into_iter().chain(rest).collect();
    let seen: Vec<(&str, &str, u64, &str)> = all
        .iter()
        .map(|d| {
            (
                d.sale_id.as_str(),
                d.terminal_id.as_str(),
                d.seq,
                d.class.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("s-big", r.a.terminal_id.as_str(), 3, "amount"),
            ("s-mint", r.a.terminal_id.as_str(), 4, "amount"),
            ("s-2", r.b.terminal_id.as_str(), 1, "stamps"),
        ]
    );
    for d in &all {
        assert_eq!((d.member_id.as_str(), d.rules_version), ("p-r", 1));
        assert!(d.till.is_object() && d.hub.is_object(), "{d:?}");
        chrono::DateTime::parse_from_rfc3339(&d.detected_at).unwrap();
    }
    assert_eq!(all[0].till["earned_points"], 5_010);
    assert_eq!(all[0].hub["earned_points"], 10);
    let stamps = store
        .discrepancies(0, 10, Some("stamps".into()))
        .await
        .unwrap();
    assert_eq!(stamps, all[2..]);
    let amount = store
        .discrepancies(all[0].id, 10, Some("amount".into()))
        .await
        .unwrap();
    assert_eq!(amount, all[1..2]);
    for class in ["tier", "no such class", "st\0amps"] {
        let none = store
            .discrepancies(0, 10, Some(class.into()))
            .await
            .unwrap();
        assert!(none.is_empty(), "{class:?}");
    }
}

async fn held_outcomes_are_released_or_dismissed_once<S: TillStore + AdminStore>(store: &S) {
    assert!(store.held(0, 10, false).await.unwrap().is_empty());
    let r = reviewed(store).await;
    let tid = r.a.terminal_id.clone();
    // Honest sale 10 points, till b's 12, the refund takes the 10 back; nothing minted.
    assert_eq!(balance(&member(store, &r.card).await), 12);
    let first = store.held(0, 1, false).await.unwrap();
    let second = store.held(first[0].id, 10, true).await.unwrap();
    let held: Vec<_> = first.into_iter().chain(second).collect();
    let seen: Vec<(&str, u64, &str)> = held
        .iter()
        .map(|h| (h.terminal_id.as_str(), h.seq, h.sale_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [(tid.as_str(), 3, "s-big"), (tid.as_str(), 4, "s-mint")]
    );
    for h in &held {
        assert_eq!(h.member_id, "p-r");
        assert!(h.reason.contains("points more"), "{}", h.reason);
        assert_eq!(h.resolution, None);
        assert_eq!(
            h.till["earned_points"],
            if h.seq == 3 { 5_010 } else { 50_010 }
        );
        chrono::DateTime::parse_from_rfc3339(&h.held_at).unwrap();
    }

    // Asked about something not held, or asked wrongly: refused, and nothing changes.
    let decide = |terminal: &str, seq: u64, action: HeldAction, reason: &str| {
        store.resolve_held(terminal.into(), seq, action, reason.into(), Utc::now())
    };
    let release = HeldAction::Release;
    for (terminal, seq) in [
        ("t-nobody", 3),
        (tid.as_str(), 2),
        (tid.as_str(), 99),
        (tid.as_str(), u64::MAX),
        ("t\0", 3),
        (r.b.terminal_id.as_str(), 1),
    ] {
        let e = decide(terminal, seq, release, "checked").await.unwrap_err();
        assert!(
            matches!(e, StoreError::NotFound(_)),
            "{terminal:?} {seq}: {e}"
        );
    }
    let long = "x".repeat(501);
    for reason in ["", "   ", "bell \u{7}", long.as_str()] {
        let e = decide(&tid, 3, release, reason).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{reason:?}: {e}");
    }
    assert_eq!(store.held(0, 10, true).await.unwrap().len(), 2);
    assert_eq!(balance(&member(store, &r.card).await), 12);

    // Released: the till's outcome is the member's now, and the terminals hear of it.
    let (_, cursor) = feed_after(store, None).await;
    let view = decide(&tid, 3, release, "  campaign the hub did not know  ")
        .await
        .unwrap();
    assert_eq!(view.resolution.as_deref(), Some("released"));
    assert_eq!(
        view.resolution_reason.as_deref(),
        Some("campaign the hub did not know")
    );
    chrono::DateTime::parse_from_rfc3339(view.resolved_at.as_deref().unwrap()).unwrap();
    assert_eq!((view.id, view.sale_id.as_str()), (held[0].id, "s-big"));
    assert_eq!(balance(&member(store, &r.card).await), 12 + 5_010);
    let (changes, cursor) = feed_after(store, Some(cursor)).await;
    let [Change::Member { member: m }] = changes.as_slice() else {
        panic!("{changes:?}");
    };
    assert_eq!((m.member_id.as_str(), balance(m)), ("p-r", 5_022));
    // Dismissed: never applied.
    let view = decide(&tid, 4, HeldAction::Dismiss, "till tampered with")
        .await
        .unwrap();
    assert_eq!(view.resolution.as_deref(), Some("dismissed"));
    assert_eq!(balance(&member(store, &r.card).await), 5_022);
    // Each is decided once.
    for (seq, action) in [(3, HeldAction::Dismiss), (3, release), (4, release)] {
        let e = decide(&tid, seq, action, "again").await.unwrap_err();
        assert!(matches!(e, StoreError::Decided(_)), "{seq}: {e}");
    }
    assert_eq!(balance(&member(store, &r.card).await), 5_022);
    let (changes, _) = feed_after(store, Some(cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert!(store.held(0, 10, true).await.unwrap().is_empty());
    let all = store.held(0, 10, false).await.unwrap();
    let decided: Vec<Option<&str>> = all.iter().map(|h| h.resolution.as_deref()).collect();
    assert_eq!(decided, [Some("released"), Some("dismissed")]);
}

async fn the_audit_path_follows_each_terminal_and_sale<S: TillStore + AdminStore>(store: &S) {
    assert!(store.terminals(String::new(), 10).await.unwrap().is_empty());
    let r = reviewed(store).await;
    let (quiet, _) = till(store, "namba").await;
    let (a, b) = (r.a.terminal_id.as_str(), r.b.terminal_id.as_str());

    // The terminals, in id order, a page at a time.
    let mut ids = vec![a.to_owned(), b.to_owned(), quiet.terminal_id.clone()];
    ids.sort();
    let first = store.terminals(String::new(), 2).await.unwrap();
    let rest = store
        .terminals(first[1].terminal_id.clone(), 2)
        .await
        .unwrap();
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    let listed: Vec<&str> = all.iter().map(|t| t.terminal_id.as_str()).collect();
    assert_eq!(listed, ids);
    let view = |id: &str| all.iter().find(|t| t.terminal_id == id).unwrap();
    let seen = |id: &str| {
        let t = view(id);
        (
            t.store_id.as_str(),
            t.acked_through,
            t.events_held,
            t.last_received_at.is_some(),
        )
    };
    assert_eq!(seen(a), ("shibuya", 5, 5, true));
    assert_eq!(seen(b), ("umeda", 1, 1, true));
    assert_eq!(seen(&quiet.terminal_id), ("namba", 0, 0, false));
    chrono::DateTime::parse_from_rfc3339(&view(a).enrolled_at).unwrap();
    chrono::DateTime::parse_from_rfc3339(view(a).last_received_at.as_deref().unwrap()).unwrap();
    let last = ids.last().unwrap().clone();
    assert!(store.terminals(last, 10).await.unwrap().is_empty());
    // An `after` with a NUL pages as the text before it does.
    let after_t = store.terminals("t\0zz".into(), 10).await.unwrap();
    assert_eq!(after_t.len(), 3);

    // A terminal's events, a page at a time: what arrived, and whether it is applied.
    let events = store.terminal_events(a.into(), 0, 100).await.unwrap();
    assert_eq!(
        (events.store_id.as_str(), events.acked_through),
        ("shibuya", 5)
    );
    let audit = |e: &tenpo_hub::admin::EventAudit| {
        (
            e.seq,
            e.kind.clone().unwrap(),
            e.status.clone(),
            e.applied,
            e.held.clone(),
            e.discrepancies.clone(),
        )
    };
    let waiting = Some("waiting".to_owned());
    let amount = vec!["amount".to_owned()];
    let want = [
        (
            1,
            "member_provisional".into(),
            "stored".into(),
            true,
            None,
            vec![],
        ),
        (2, "sale".into(), "stored".into(), true, None, vec![]),
        (
            3,
            "sale".into(),
            "stored".into(),
            false,
            waiting.clone(),
            amount.clone(),
        ),
        (
            4,
            "sale".into(),
            "stored".into(),
            false,
            waiting.clone(),
            amount.clone(),
        ),
        (5, "refund".into(), "stored".into(), true, None, vec![]),
    ];
    assert_eq!(events.events.iter().map(audit).collect::<Vec<_>>(), want);
    for e in &events.events {
        assert_eq!(e.event["seq"], e.seq, "the event as received: {e:?}");
        assert_eq!(e.content_hash.len(), 64);
        chrono::DateTime::parse_from_rfc3339(&e.received_at).unwrap();
    }
    let page = store.terminal_events(a.into(), 1, 2).await.unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 3]);
    assert!(
        store
            .terminal_events(a.into(), u64::MAX, 10)
            .await
            .unwrap()
            .events
            .is_empty()
    );
    let on_b = store.terminal_events(b.into(), 0, 10).await.unwrap();
    assert_eq!(
        on_b.events.iter().map(audit).collect::<Vec<_>>(),
        [(
            1,
            "sale".into(),
            "stored".into(),
            true,
            None,
            vec!["stamps".to_owned()]
        ),]
    );

    // One sale: the sale and its refund, and what became of it once decided.
    let sale = store.terminal_sale(a.into(), "s-1".into()).await.unwrap();
    let kinds: Vec<(u64, Option<&str>, bool)> = sale
        .events
        .iter()
        .map(|e| (e.seq, e.kind.as_deref(), e.applied))
        .collect();
    assert_eq!(kinds, [(2, Some("sale"), true), (5, Some("refund"), true)]);
    store
        .resolve_held(
            a.into(),
            3,
            HeldAction::Release,
            "checked".into(),
            Utc::now(),
        )
        .await
        .unwrap();
    let big = store.terminal_sale(a.into(), "s-big".into()).await.unwrap();
    assert_eq!(
        big.events.iter().map(audit).collect::<Vec<_>>(),
        [(
            3,
            "sale".into(),
            "stored".into(),
            true,
            Some("released".into()),
            amount.clone()
        ),]
    );
    assert_eq!(big.events[0].event["body"]["sale_id"], "s-big");

    // Nothing there: a clear answer, not an empty page.
    for (terminal, sale_id) in [
        (a, "never-sent"),
        (a, "s"),
        (b, "s-1"),
        ("t-nobody", "s-1"),
        ("t\0", "s-1"),
        (a, "s-\0"),
    ] {
        let e = store
            .terminal_sale(terminal.into(), sale_id.into())
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::NotFound(_)),
            "{terminal:?} {sale_id:?}: {e}"
        );
    }
    for terminal in ["t-nobody", "t\0"] {
        let e = store
            .terminal_events(terminal.into(), 0, 10)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no terminal"), "{e}");
    }
}

async fn a_sale_id_written_with_escapes_is_found<S: TillStore + AdminStore>(store: &S) {
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rules = RuleSet::demo();
    let (till, terminal) = till(store, "shibuya").await;
    let (quoted, _) = common::sale(
        &till,
        1,
        None,
        &rules,
        &MemberState::default(),
        "s\"1\\",
        800,
        0,
    );
    let (plain, _) = common::sale(
        &till,
        2,
        None,
        &rules,
        &MemberState::default(),
        "s1",
        800,
        0,
    );
    let outcome = push(store, &terminal, &[&quoted, &plain]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Stored, PushStatus::Stored]);
    let found = store
        .terminal_sale(till.terminal_id.clone(), "s\"1\\".into())
        .await
        .unwrap();
    let seqs: Vec<u64> = found.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1]);
    let found = store
        .terminal_sale(till.terminal_id.clone(), "s1".into())
        .await
        .unwrap();
    let seqs: Vec<u64> = found.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2]);
}

// ---- Several hub processes on one PostgreSQL database --------------------------------------

/// Two hubs on one database, as two processes would be: their own pools, runs and caches.
async fn two_hubs() -> (PgStore, PgStore) {
    let url = common::postgres::cluster().fresh_database().await;
    let a = open_postgres(&url).await;
    let b = open_postgres(&url).await;
    (a, b)
}

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
async fn one_held_outcome_decided_at_two_hubs_at_once_is_decided_once() {
    let (a, b) = two_hubs().await;
    let r = reviewed(&a).await;
    let tid = r.a.terminal_id.clone();
    let (one, two) = tokio::join!(
        a.resolve_held(
            tid.clone(),
            3,
            HeldAction::Release,
            "at a".into(),
            Utc::now()
        ),
        b.resolve_held(
            tid.clone(),
            3,
            HeldAction::Release,
            "at b".into(),
            Utc::now()
        ),
    );
    assert_eq!(
        [&one, &two].iter().filter(|r| r.is_ok()).count(),
        1,
        "{one:?} {two:?}"
    );
    let refused = if one.is_ok() { two } else { one };
    assert!(
        matches!(refused, Err(StoreError::Decided(_))),
        "{refused:?}"
    );
    assert_eq!(balance(&member(&b, &r.card).await), 5_022, "released once");
}

#[tokio::test]
async fn one_coupon_issued_at_two_hubs_at_once_is_given_once() {
    let (a, b) = two_hubs().await;
    a.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let codes: Vec<String> = (1..=20).map(common::card).collect();
    let rows: Vec<(&str, i64, Option<&str>)> = codes
        .iter()
        .map(|c| (c.as_str(), 0, Some("1990-05-17")))
        .collect();
    imported(&a, &rows).await;
    let mut may = coupon_request(CouponBenefit::Discount { value_yen: 500 }, 31);
    may.birthday_month = Some(5);
    let today = common::date("2026-05-01");
    let (one, two) = tokio::join!(
        a.issue_coupons(may.clone(), HomeStores::All, today, Utc::now()),
        b.issue_coupons(may.clone(), HomeStores::All, today, Utc::now()),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.coupon_id, two.coupon_id);
    assert_eq!(one.issued + two.issued, 20, "{one:?} {two:?}");
    assert_eq!(one.already_issued + two.already_issued, 20);
    for code in &codes {
        let m = member(&b, code).await;
        assert_eq!(m.state.coupons.len(), 1, "{code}");
    }
}

#[tokio::test]
async fn one_file_imported_at_two_hubs_at_once_makes_each_member_once() {
    let (a, b) = two_hubs().await;
    a.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rows: Vec<ImportRow> = (1..=20)
        .map(|n| import_row(n + 1, &common::card(n), 10, 0, None))
        .collect();
    let today = common::date("2026-05-01");
    let (one, two) = tokio::join!(
        a.import_members(rows.clone(), today, Utc::now()),
        b.import_members(rows.clone(), today, Utc::now()),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.imported + two.imported, 20, "{one:?} {two:?}");
    assert_eq!(one.rejected.len() + two.rejected.len(), 20);
    assert_eq!(a.counts().await.unwrap().members, 20);
    assert_eq!(balance(&member(&b, &common::card(7)).await), 10);
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
