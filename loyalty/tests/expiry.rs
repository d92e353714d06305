//! Expiry: the last day points earned on a day can be used, and that expired points cannot be.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{Date, ExpiryAt, MemberState, Points, RuleSet, SaleError, evaluate_sale};

/// Points earned on `earned` under `rules` can be used until `last`, and a sale's lot says so.
#[track_caller]
fn expires(rules: &RuleSet, earned: &str, last: &str) {
    assert_eq!(rules.expiry_for(d(earned)), d(last), "earned {earned}");
    let o = eval(
        rules,
        &MemberState::default(),
        &sale("s", earned, vec![item("a", 1_000)]),
    );
    assert_eq!(
        o.earned_lot.map(|l| l.expires_on),
        Some(d(last)),
        "earned {earned}"
    );
}

#[test]
#[rustfmt::skip]
fn expiry_table() {
    let end_of_month = RuleSet::demo();
    let same_day = demo_with(|r| r.expiry.at = ExpiryAt::SameDay);
    let one_month_eom = demo_with(|r| r.expiry.months = 1);
    // (rules, earned on, last usable day)
    expires(&end_of_month, "2026-11-22", "2027-11-30");
    expires(&end_of_month, "2026-11-01", "2027-11-30");
    expires(&end_of_month, "2026-11-30", "2027-11-30");
    expires(&end_of_month, "2026-12-01", "2027-12-31");
    expires(&end_of_month, "2026-01-31", "2027-01-31");
    expires(&end_of_month, "2027-02-15", "2028-02-29");
    expires(&end_of_month, "2024-02-29", "2025-02-28");
    expires(&one_month_eom, "2026-01-31", "2026-02-28");
    expires(&one_month_eom, "2026-12-10", "2027-01-31");
    // Same day: usable up to the day before the same day of the month, 12 months later.
    expires(&same_day, "2026-11-22", "2027-11-21");
    expires(&same_day, "2026-03-01", "2027-02-28");
    expires(&same_day, "2026-12-31", "2027-12-30");
    // The same day clamps to a shorter month before the day is taken off.
    expires(&same_day, "2024-02-29", "2025-02-27");
}

/// A member with 100 points usable until 2026-11-30 and 50 until 2027-11-30.
fn two_lots() -> MemberState {
    holding(vec![
        lot("old", "2025-11-22", "2026-11-30", 100),
        lot("new", "2026-11-22", "2027-11-30", 50),
    ])
}

/// On `day`, [`two_lots`] holds `balance` usable points: one more cannot be redeemed, and
/// redeeming them all takes no expired lot.
#[track_caller]
fn usable(day: &str, balance: Points) {
    let rules = RuleSet::demo();
    let state = two_lots();
    assert_eq!(state.balance(d(day)), balance, "{day}");
    let too_many = redeeming(sale("s", day, vec![item("a", 1_000)]), balance + 1);
    assert_eq!(
        evaluate_sale(&rules, &state, &too_many),
        Err(SaleError::InsufficientPoints {
            requested: balance + 1,
            balance
        }),
        "{day}"
    );
    if balance > 0 {
        let o = eval(
            &rules,
            &state,
            &redeeming(sale("s", day, vec![item("a", 1_000)]), balance),
        );
        assert!(
            o.lots_consumed.iter().all(|l| l.expires_on >= d(day)),
            "{day}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn expired_points_cannot_be_used() {
    // (day, balance)
    usable("2026-11-30", 150);
    usable("2026-12-01", 50);
    usable("2027-11-30", 50);
    usable("2027-12-01", 0);
    let summary = two_lots().summary(&RuleSet::demo(), d("2026-12-01"));
    assert_eq!(summary.balance, 50);
    assert_eq!(summary.expiring.len(), 1);
}

#[test]
fn summary_groups_points_by_expiry_day() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    sell(
        &rules,
        &mut state,
        &sale("a", "2026-10-02", vec![item("x", 1_000)]),
    );
    sell(
        &rules,
        &mut state,
        &sale("b", "2026-10-30", vec![item("x", 2_000)]),
    );
    sell(
        &rules,
        &mut state,
        &sale("c", "2026-11-01", vec![item("x", 500)]),
    );
    let summary = state.summary(&rules, d(DAY));
    assert_eq!(summary.balance, 35);
    let expiring: Vec<(Points, Date)> = summary
        .expiring
        .iter()
        .map(|e| (e.points, e.expires_on))
        .collect();
    assert_eq!(expiring, vec![(30, d("2027-10-31")), (5, d("2027-11-30"))]);
    let later = state.summary(&rules, d("2027-11-01"));
    assert_eq!(later.balance, 5);
}

/// What the till and the hub do with an outcome, in one place: `take_sale` applies it and, with
/// the rules, drops what can no longer matter behind its date; without them it only applies.
#[test]
fn taking_an_outcome_applies_it_then_compacts_behind_its_date() {
    let rules = RuleSet::demo();
    let mut state = two_lots();
    let late = Date::from_ymd(2030, 1, 10).unwrap();
    let sale = tenpo_loyalty::Sale {
        sale_id: "late".into(),
        store_id: "st".into(),
        business_date: late,
        lines: vec![tenpo_loyalty::Line {
            sku: "tea".into(),
            category: None,
            quantity: 1,
            amount_yen: 1_000,
        }],
        redeem_points: 0,
        coupon_ids: vec![],
    };
    let outcome = evaluate_sale(&rules, &state, &sale).unwrap();
    let mut applied_only = state.clone();
    applied_only.take_sale(&outcome, None);
    let mut by_hand = state.clone();
    by_hand.apply_sale(&outcome);
    assert_eq!(applied_only, by_hand);
    state.take_sale(&outcome, Some(&rules));
    by_hand.settle(&rules, late);
    assert_eq!(state, by_hand);
    // The lots long expired by 2030 are gone; the balance is what the sale earned.
    assert!(state.lots.len() < applied_only.lots.len(), "{state:?}");
    assert_eq!(state.balance(late), outcome.earned_points);
}
