//! The admin API's review and audit (`AdminStore`) on both backends: conflicts, discrepancies
//! and held outcomes, and the audit path through terminals and sales (docs/design.md §7, §12);
//! then a held outcome decided at two hubs at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::Till;
use common::backends::*;
use tenpo_hub::admin::HeldAction;
use tenpo_hub::store::{AdminStore, StoreError, TillStore};
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::events::{EventBody, SaleEvent};
use tenpo_protocol::sync::{Change, PushStatus};

crate::on_both_backends!(
    conflicts_are_listed_a_page_at_a_time,
    discrepancies_are_listed_by_class_a_page_at_a_time,
    held_outcomes_are_released_or_dismissed_once,
    the_audit_path_follows_each_terminal_and_sale,
    a_sale_id_written_with_escapes_is_found,
);

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
