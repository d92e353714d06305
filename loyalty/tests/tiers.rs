//! Tiers over a rolling window of qualifying spend: the tier and the next one for a spend, the
//! window's edges, and what compacting a state may drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use tenpo_loyalty::{MemberState, RuleSet, TierLevel, Yen};

/// The tier `rules` give a qualifying spend, and the next tier with the yen to it.
#[track_caller]
fn levels(rules: &RuleSet, spend: Yen, tier: &str, next: Option<(&str, Yen)>) {
    assert_eq!(rules.tier_for(spend).name, tier, "¥{spend}");
    let got = rules
        .next_tier(spend)
        .map(|(l, yen)| (l.name.as_str(), yen));
    assert_eq!(got, next, "¥{spend}");
}

/// [`levels`] on the demo program, and the cashier's summary of a member with that spend.
#[track_caller]
fn tier(spend: Yen, tier: &str, next: Option<(&str, Yen)>) {
    let rules = RuleSet::demo();
    levels(&rules, spend, tier, next);
    let summary = spent(spend, "2026-11-01").summary(&rules, d(DAY));
    assert_eq!(summary.tier, tier, "¥{spend}");
    assert_eq!(summary.qualifying_spend, spend, "¥{spend}");
    assert_eq!(
        summary.next_tier,
        next.map(|(n, y)| (n.to_owned(), y)),
        "¥{spend}"
    );
}

#[test]
#[rustfmt::skip]
fn tier_table() {
    // (qualifying spend, tier, next tier and the yen to it)
    tier(0, "standard", Some(("premier", 50_000)));
    tier(1, "standard", Some(("premier", 49_999)));
    tier(12_345, "standard", Some(("premier", 37_655)));
    tier(49_999, "standard", Some(("premier", 1)));
    tier(50_000, "premier", None);
    tier(10_000_000, "premier", None);
}

/// The demo program with a third tier, `gold`, from ¥200,000 at 3×.
fn three_tiers() -> RuleSet {
    demo_with(|r| {
        r.tiers.levels.push(TierLevel {
            name: "gold".into(),
            from_yen: 200_000,
            multiplier_percent: 300,
            labels: Default::default(),
        });
    })
}

#[test]
#[rustfmt::skip]
fn three_tiers_next_tier() {
    let rules = three_tiers();
    // (rules, qualifying spend, tier, next tier and the yen to it)
    levels(&rules, 0, "standard", Some(("premier", 50_000)));
    levels(&rules, 50_000, "premier", Some(("gold", 150_000)));
    levels(&rules, 199_999, "premier", Some(("gold", 1)));
    levels(&rules, 200_000, "gold", None);
    let state = spent(200_000, "2026-11-01");
    let o = eval(&rules, &state, &today(&[item("a", 1_000)]));
    assert_eq!((o.tier_at_start.as_str(), o.earned_points), ("gold", 30));
}

/// Whether ¥60,000 spent `on` a day counts (and gives premier) in the window ending `at`.
#[track_caller]
fn counts(on: &str, at: &str, counts: bool) {
    let rules = RuleSet::demo();
    let state = spent(60_000, on);
    let got = state.qualifying_spend(&rules, d(at));
    let (spend, tier) = if counts {
        (60_000, "premier")
    } else {
        (0, "standard")
    };
    assert_eq!(got, spend, "spent {on}, seen {at}");
    assert_eq!(
        state.summary(&rules, d(at)).tier,
        tier,
        "spent {on}, seen {at}"
    );
}

#[test]
#[rustfmt::skip]
fn rolling_window_table() {
    // (spent on, looked at on, counts)
    counts("2026-11-22", "2026-11-22", true);
    counts("2025-11-23", "2026-11-22", true);
    counts("2025-11-22", "2026-11-22", false);
    counts("2025-11-21", "2026-11-22", false);
    counts("2026-11-23", "2026-11-22", false); // not yet
    counts("2025-03-01", "2026-02-28", true);
    counts("2025-02-28", "2026-02-28", false);
    counts("2024-02-29", "2025-02-28", true);
    counts("2024-03-01", "2025-03-01", false);
    counts("2024-03-02", "2025-03-01", true);
    counts("2025-01-01", "2025-12-31", true);
    counts("2024-12-31", "2025-12-31", false);
}

#[test]
fn spend_older_than_the_window_no_longer_gives_the_tier() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    sell(
        &rules,
        &mut state,
        &sale("big", "2025-11-30", vec![item("a", 50_000)]),
    );
    sell(
        &rules,
        &mut state,
        &sale("small", "2026-06-01", vec![item("a", 10_000)]),
    );
    // The window ending 2026-11-29 starts 2025-11-30; the one ending 2026-11-30 does not.
    let still = eval(
        &rules,
        &state,
        &sale("x", "2026-11-29", vec![item("a", 1_000)]),
    );
    assert_eq!(
        (still.tier_at_start.as_str(), still.earned_points),
        ("premier", 20)
    );
    let dropped = eval(
        &rules,
        &state,
        &sale("x", "2026-11-30", vec![item("a", 1_000)]),
    );
    assert_eq!(
        (dropped.tier_at_start.as_str(), dropped.earned_points),
        ("standard", 10)
    );
    let summary = state.summary(&rules, d("2026-11-30"));
    assert_eq!(summary.qualifying_spend, 10_000);
    assert_eq!(summary.next_tier, Some(("premier".to_owned(), 40_000)));

    let window_of_one = demo_with(|r| r.tiers.window_months = 1);
    assert_eq!(
        state.qualifying_spend(&window_of_one, d("2026-06-30")),
        10_000
    );
    assert_eq!(state.qualifying_spend(&window_of_one, d("2026-07-01")), 0);
}

#[test]
fn compact_drops_only_what_can_no_longer_matter() {
    let rules = RuleSet::demo();
    let mut state = MemberState {
        lots: vec![
            lot("dead", "2025-10-01", "2026-10-31", 5),
            lot("live", "2025-11-01", "2026-11-30", 7),
        ],
        coupons: [
            coupon("gone", discount(100), "2026-01-01", "2026-11-21"),
            coupon("last-day", discount(100), "2026-01-01", DAY),
            coupon("future", discount(100), "2026-12-01", "2026-12-31"),
        ]
        .into_iter()
        .map(|c| (c.coupon_id.clone(), c))
        .collect(),
        spend: BTreeMap::from([(d("2025-11-22"), 100), (d("2025-11-23"), 200)]),
        ..MemberState::default()
    };
    let before = state.summary(&rules, d(DAY));
    state.compact(&rules, d(DAY));
    assert_eq!(
        state.summary(&rules, d(DAY)),
        before,
        "compacting changes nothing visible"
    );
    assert_eq!(state.lots, vec![lot("live", "2025-11-01", "2026-11-30", 7)]);
    assert_eq!(
        state.coupons.keys().cloned().collect::<Vec<_>>(),
        vec!["future".to_owned(), "last-day".to_owned()]
    );
    assert_eq!(state.spend, BTreeMap::from([(d("2025-11-23"), 200)]));
}
