//! Earning on the demo program: 1 point per ¥100 of eligible spend, per sale, rounded down,
//! `giftcard` excluded, at the rate of the tier held when the sale starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use tenpo_loyalty::{Line, MemberState, Points, RuleSet, Yen};

/// A sale `lines` by a member with `prior_spend` earns `points`, at the tier that spend gives.
#[track_caller]
fn earns(name: &str, lines: &[Line], prior_spend: Yen, points: Points) {
    let rules = RuleSet::demo();
    let state = spent(prior_spend, "2026-11-01");
    let o = eval(&rules, &state, &today(lines));
    assert_eq!(o.earned_points, points, "{name}");
    let expected_tier = if prior_spend >= PREMIER_SPEND {
        "premier"
    } else {
        "standard"
    };
    assert_eq!(o.tier_at_start, expected_tier, "{name}");
    let lot_points = o.earned_lot.as_ref().map_or(0, |l| l.points);
    assert_eq!(lot_points, points, "{name}");
}

#[test]
#[rustfmt::skip]
fn earning_table() {
    // (case, lines, prior spend, points)
    earns("nothing under ¥100", &[item("a", 99)], 0, 0);
    earns("¥100 is one point", &[item("a", 100)], 0, 1);
    earns("rounded down", &[item("a", 199)], 0, 1);
    earns("large sale", &[item("a", 123_456)], 0, 1_234);
    earns("rounding after summing lines, not per line", &[item("a", 50), item("b", 50)], 0, 1);
    earns("three lines of ¥150", &[item("a", 150), item("b", 150), item("c", 150)], 0, 4);
    earns("a line without a category earns", &[line("a", None, 1, 1_000)], 0, 10);
    earns("quantity does not matter, the line's amount does", &[line("a", Some("food"), 7, 700)], 0, 7);
    earns("giftcard earns nothing", &[gift("g", 10_000)], 0, 0);
    earns("giftcard excluded, the rest earns", &[gift("g", 10_000), item("a", 1_050)], 0, 10);
    earns("category names are exact", &[line("g", Some("GiftCard"), 1, 1_000)], 0, 10);
    earns("standard just under the threshold", &[item("a", 1_000)], PREMIER_SPEND - 1, 10);
    earns("premier earns 2×", &[item("a", 1_000)], PREMIER_SPEND, 20);
    earns("premier giftcard still earns nothing", &[gift("g", 1_000)], 1_000_000, 0);
    // Judgement call kept: the multiplier applies to the yen before the one rounding, so
    // ¥150 at 2× is 3 points (not floor(1.5) × 2 = 2).
    earns("premier multiplies before rounding", &[item("a", 150)], PREMIER_SPEND, 3);
}

#[test]
fn earned_points_go_into_a_lot_named_after_the_sale() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    let o = sell(
        &rules,
        &mut state,
        &sale("s-1", DAY, vec![item("a", 1_234), gift("g", 5_000)]),
    );
    assert_eq!(o.gross_yen, 6_234);
    assert_eq!(o.eligible_gross_yen, 1_234);
    assert_eq!(o.eligible_net_yen, 1_234);
    assert_eq!(o.qualifying_spend_yen, 1_234);
    assert_eq!(o.rules_version, 1);
    assert_eq!(o.earned_lot, Some(lot("s-1", DAY, "2027-11-30", 12)));
    assert_eq!(state.lots, vec![lot("s-1", DAY, "2027-11-30", 12)]);
    assert_eq!(state.balance(d(DAY)), 12);
    assert_eq!(state.spend, BTreeMap::from([(d(DAY), 1_234)]));
}

#[test]
fn a_sale_that_earns_nothing_leaves_no_lot() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    let o = sell(&rules, &mut state, &sale("s", DAY, vec![item("a", 99)]));
    assert_eq!(o.earned_lot, None);
    assert!(state.lots.is_empty());
    let o = sell(&rules, &mut state, &sale("g", DAY, vec![gift("g", 9_999)]));
    assert_eq!(o.earned_lot, None);
    assert_eq!(
        o.qualifying_spend_yen, 0,
        "a giftcard does not count towards the tier"
    );
    assert_eq!(state.spend, BTreeMap::from([(d(DAY), 99)]));
}

#[test]
fn the_tier_held_when_the_sale_starts_gives_the_rate() {
    let rules = RuleSet::demo();
    let mut state = spent(49_000, "2026-11-01");
    // This sale takes the member over ¥50,000, but earns at the standard rate.
    let first = sell(&rules, &mut state, &sale("s1", DAY, vec![item("a", 5_000)]));
    assert_eq!(first.tier_at_start, "standard");
    assert_eq!(first.earned_points, 50);
    // The next sale, the same day, earns at the premier rate.
    let second = sell(&rules, &mut state, &sale("s2", DAY, vec![item("a", 1_000)]));
    assert_eq!(second.tier_at_start, "premier");
    assert_eq!(second.earned_points, 20);
    let summary = state.summary(&rules, d(DAY));
    assert_eq!(summary.tier, "premier");
    assert_eq!(summary.qualifying_spend, 55_000);
    assert_eq!(summary.next_tier, None);
}
