//! Applying events to the authoritative member state: outcomes honoured, re-evaluation
//! reported, provisional members created or merged, `applied_through` per terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{card, date, event, import, provisional, sale};
use reqwest::StatusCode;
use tenpo_loyalty::{MemberState, Refund, evaluate_refund};
use tenpo_protocol::events::{EventBody, RefundEvent, SaleEvent};
use tenpo_protocol::sync::MemberSnapshot;

fn snapshot(body: &serde_json::Value) -> MemberSnapshot {
    serde_json::from_value(body.clone()).unwrap()
}

#[tokio::test]
async fn sale_and_refund_outcomes_apply_to_the_member() {
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let code = card(1);
    let report = import(&hub, &[(&code, 500, 10_000, None)]).await;
    assert_eq!(report.imported, 1);
    let till = hub.enroll("s1").await;
    let (status, body) = hub.lookup(&till, &code).await;
    assert_eq!(status, StatusCode::OK);
    let before = snapshot(&body);
    let id = before.member_id.clone();
    assert!(body["hub_time"].is_string());

    // A sale that redeems 200 and earns on the rest, evaluated on the till's view (the hub's
    // snapshot): the hub applies exactly that outcome.
    let (s1, o1) = sale(
        &till,
        1,
        Some(&id),
        &rules,
        &before.state,
        "s-1",
        3_000,
        200,
    );
    let o1 = o1.unwrap();
    hub.push(&till, std::slice::from_ref(&s1)).await;
    let mut expected = before.state.clone();
    expected.apply_sale(&o1);
    let after_sale = hub.state(&code).await;
    assert_eq!(after_sale.lots, expected.lots);
    assert_eq!(after_sale.balance(date("2026-11-20")), 500 - 200 + 28);

    // A refund of the whole sale, as the till evaluates it.
    let EventBody::Sale(SaleEvent { lines, .. }) = &s1.body else {
        unreachable!()
    };
    let refund = evaluate_refund(
        &rules,
        &after_sale,
        lines,
        &o1,
        &[],
        &Refund {
            refund_id: "r-1".into(),
            business_date: date("2026-11-21"),
            lines: lines.clone(),
        },
    )
    .unwrap();
    let r = event(
        &till,
        2,
        EventBody::Refund(RefundEvent {
            refund_id: "r-1".into(),
            sale_id: "s-1".into(),
            member_id: Some(id.clone()),
            occurred_at: chrono::Utc::now().to_rfc3339(),
            business_date: date("2026-11-21"),
            lines: lines.clone(),
            outcome: Some(refund.clone()),
        }),
    );
    hub.push(&till, &[r]).await;
    let after_refund = hub.state(&code).await;
    let mut expected = after_sale.clone();
    expected.apply_refund(&refund);
    assert_eq!(after_refund, expected);
    assert_eq!(after_refund.balance(date("2026-11-21")), 500);
    assert!(hub.admin().discrepancies(0, 10).await.unwrap().is_empty());

    // applied_through names this terminal's last event for the member.
    let (_, body) = hub.lookup(&till, &code).await;
    assert_eq!(snapshot(&body).applied_through[&till.terminal_id], 2);
}

#[tokio::test]
async fn a_till_outcome_that_differs_is_applied_and_reported() {
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let code = card(2);
    import(&hub, &[(&code, 300, 0, None)]).await;
    let a = hub.enroll("s1").await;
    let b = hub.enroll("s2").await;
    let (_, body) = hub.lookup(&a, &code).await;
    let snap = snapshot(&body);

    // A till that promised 50 more points than the rules give.
    let (mut s, o) = sale(
        &a,
        1,
        Some(&snap.member_id),
        &rules,
        &snap.state,
        "s-gen",
        2_000,
        0,
    );
    let mut generous = o.unwrap();
    generous.earned_points += 50;
    if let Some(lot) = generous.earned_lot.as_mut() {
        lot.points += 50;
    }
    if let EventBody::Sale(SaleEvent { outcome, .. }) = &mut s.body {
        *outcome = Some(generous.clone());
    }
    hub.push(&a, &[s]).await;
    // Honoured: the member has what the customer was told.
    assert_eq!(
        hub.state(&code).await.balance(date("2026-11-20")),
        300 + 20 + 50
    );

    // Two tills offline redeem the same 300 points: the second one is reported.
    let (r1, _) = sale(
        &a,
        2,
        Some(&snap.member_id),
        &rules,
        &snap.state,
        "s-a",
        1_000,
        300,
    );
    let (r2, _) = sale(
        &b,
        1,
        Some(&snap.member_id),
        &rules,
        &snap.state,
        "s-b",
        1_000,
        300,
    );
    hub.push(&a, &[r1]).await;
    hub.push(&b, &[r2]).await;

    let found = hub.admin().discrepancies(0, 100).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].sale_id, "s-gen");
    assert_eq!(found[0].terminal_id, a.terminal_id);
    assert_eq!(found[0].rules_version, 1);
    assert!(
        found[0].detail.contains("earned points: till 70, hub 20"),
        "{}",
        found[0].detail
    );
    assert_eq!(found[0].till["earned_points"], 70);
    assert_eq!(found[0].hub["earned_points"], 20);
    assert_eq!(found[1].sale_id, "s-b");
    assert!(
        found[1].detail.contains("fewer than"),
        "{}",
        found[1].detail
    );
    assert!(found[1].hub.is_null());
    // Never below zero.
    // Never below zero: the import lot is spent once; each sale earned on ¥700.
    assert_eq!(
        hub.state(&code).await.balance(date("2026-11-20")),
        70 + 7 + 7
    );
}

#[tokio::test]
async fn provisional_members_are_created_or_merged_into_the_card() {
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let imported = card(3);
    import(&hub, &[(&imported, 100, 0, None)]).await;
    let a = hub.enroll("s1").await;
    let b = hub.enroll("s2").await;

    // Till A met the imported card offline, before its cache had it: a provisional member.
    let p = provisional(&a, 1, "prov-a", &imported);
    let (s, _) = sale(
        &a,
        2,
        Some("prov-a"),
        &rules,
        &MemberState::default(),
        "s-1",
        1_000,
        0,
    );
    hub.push(&a, &[p, s]).await;
    let (_, body) = hub.lookup(&a, &imported).await;
    let snap = snapshot(&body);
    assert_ne!(snap.member_id, "prov-a");
    assert_eq!(snap.merged_ids, ["prov-a"]);
    assert!(!snap.provisional);
    assert_eq!(snap.state.balance(date("2026-11-20")), 110);
    assert_eq!(snap.applied_through[&a.terminal_id], 2);

    // A brand-new card seen at two tills: one member, the second id merged into it.
    let fresh = card(4);
    hub.push(&a, &[provisional(&a, 3, "prov-a2", &fresh)]).await;
    hub.push(&b, &[provisional(&b, 1, "prov-b", &fresh)]).await;
    let (_, body) = hub.lookup(&b, &fresh).await;
    let snap = snapshot(&body);
    assert_eq!(snap.member_id, "prov-a2");
    assert_eq!(snap.number, fresh);
    assert_eq!(snap.codes, std::slice::from_ref(&fresh));
    assert_eq!(snap.merged_ids, ["prov-b"]);
    assert!(!snap.provisional);
    // B's sale under its own provisional id lands on the same member.
    let (s, _) = sale(
        &b,
        2,
        Some("prov-b"),
        &rules,
        &MemberState::default(),
        "s-2",
        2_000,
        0,
    );
    hub.push(&b, &[s]).await;
    let (_, body) = hub.lookup(&a, &fresh).await;
    let snap = snapshot(&body);
    assert_eq!(snap.state.balance(date("2026-11-20")), 20);
    assert_eq!(snap.applied_through[&a.terminal_id], 3);
    assert_eq!(snap.applied_through[&b.terminal_id], 2);
}

#[tokio::test]
async fn events_wait_behind_a_gap_and_apply_in_order() {
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let code = card(5);
    import(&hub, &[(&code, 0, 0, None)]).await;
    let till = hub.enroll("s1").await;
    let (_, body) = hub.lookup(&till, &code).await;
    let snap = snapshot(&body);
    let mut view = snap.state.clone();
    let mut events = Vec::new();
    for seq in 1..=3 {
        let (e, o) = sale(
            &till,
            seq,
            Some(&snap.member_id),
            &rules,
            &view,
            &format!("s-{seq}"),
            1_000,
            0,
        );
        view.apply_sale(&o.unwrap());
        events.push(e);
    }
    hub.push(&till, &events[1..3]).await;
    // 2 and 3 are held, not applied.
    let (_, body) = hub.lookup(&till, &code).await;
    let held = snapshot(&body);
    assert_eq!(held.state.balance(date("2026-11-20")), 0);
    assert!(!held.applied_through.contains_key(&till.terminal_id));
    hub.push(&till, &events[0..1]).await;
    let (_, body) = hub.lookup(&till, &code).await;
    let done = snapshot(&body);
    assert_eq!(done.state, view);
    assert_eq!(done.applied_through[&till.terminal_id], 3);
    assert!(hub.admin().discrepancies(0, 10).await.unwrap().is_empty());
}
