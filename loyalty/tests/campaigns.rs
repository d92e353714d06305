//! Campaigns: how multipliers stack with the tier, fixed bonuses on top, and when a campaign
//! applies (dates, weekdays, stores, minimum spend).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use tenpo_loyalty::{Campaign, MemberState, Points, Sale, Stacking, WeekdayKey};

const STANDARD: bool = false;
const PREMIER: bool = true;

/// A ¥1,000 sale by a standard or premier member earns `points` under `campaigns`, combined by
/// `stacking`, and every campaign is listed as applied.
#[track_caller]
fn stacks(name: &str, stacking: Stacking, premier: bool, campaigns: &[Campaign], points: Points) {
    let rules = demo_with(|r| {
        r.earning.stacking = stacking;
        r.campaigns = campaigns.to_vec();
    });
    let state = if premier {
        spent(PREMIER_SPEND, "2026-11-01")
    } else {
        MemberState::default()
    };
    let o = eval(&rules, &state, &today(&[item("a", 1_000)]));
    assert_eq!(o.earned_points, points, "{name}");
    let ids: Vec<String> = campaigns.iter().map(|c| c.id.clone()).collect();
    assert_eq!(o.campaigns_applied, ids, "{name}");
}

#[test]
#[rustfmt::skip]
fn campaign_stacking_table() {
    use Stacking::{Additive, Best, Multiplicative};
    // (case, stacking, tier, campaigns, points on ¥1,000)
    stacks("no campaign", Additive, STANDARD, &[], 10);
    stacks("additive standard 150 %", Additive, STANDARD, &[multiplier("x", 150)], 15);
    stacks("additive premier 200 % + 150 % = 250 %", Additive, PREMIER, &[multiplier("x", 150)], 25);
    stacks("additive two campaigns 100 % + 50 % + 50 %", Additive, STANDARD, &[multiplier("x", 150), multiplier("y", 150)], 20);
    stacks("additive campaign below 100 % lowers the rate", Additive, PREMIER, &[multiplier("x", 50)], 15);
    stacks("additive sums the extras before any floor at 0 %", Additive, STANDARD, &[multiplier("x", 1), multiplier("y", 1), multiplier("z", 500)], 30);
    stacks("additive never goes below 0 %", Additive, STANDARD, &[multiplier("x", 1), multiplier("y", 1)], 0);
    stacks("multiplicative standard 150 %", Multiplicative, STANDARD, &[multiplier("x", 150)], 15);
    stacks("multiplicative premier 200 % × 150 % = 300 %", Multiplicative, PREMIER, &[multiplier("x", 150)], 30);
    stacks("multiplicative two campaigns 150 % × 150 % = 225 %, rounded down", Multiplicative, STANDARD, &[multiplier("x", 150), multiplier("y", 150)], 22);
    stacks("best premier 200 % beats 150 %", Best, PREMIER, &[multiplier("x", 150)], 20);
    stacks("best 300 % beats premier 200 %", Best, PREMIER, &[multiplier("x", 300), multiplier("y", 150)], 30);
    stacks("best standard 150 %", Best, STANDARD, &[multiplier("x", 150), multiplier("y", 120)], 15);
    stacks("fixed bonus is added", Additive, STANDARD, &[bonus("b", 50)], 60);
    stacks("fixed bonus is not multiplied by the tier", Additive, PREMIER, &[bonus("b", 50)], 70);
    stacks("fixed bonus on top of a multiplier, every stacking", Multiplicative, PREMIER, &[bonus("b", 5), multiplier("x", 150), bonus("c", 1)], 36);
    stacks("fixed bonus with best stacking", Best, STANDARD, &[multiplier("x", 300), bonus("b", 7)], 37);
}

/// The campaign of the filter table: a 100-point bonus all through 2026.
fn base() -> Campaign {
    bonus("b", 100)
}

/// A ¥1,000 sale on `date`.
fn plain(date: &str) -> Sale {
    sale("s", date, vec![item("a", 1_000)])
}

fn stores(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

/// Whether `campaign` (id `b`, a 100-point bonus) applies to `sale` by a member holding points.
#[track_caller]
fn applies(name: &str, campaign: Campaign, sale: Sale, applies: bool) {
    let rules = demo_with(|r| r.campaigns = vec![campaign.clone()]);
    let state = holding(vec![lot("old", "2026-11-01", "2027-11-30", 1_000)]);
    let without = demo_with(|r| r.campaigns.clear());
    let base_points = eval(&without, &state, &sale).earned_points;
    let o = eval(&rules, &state, &sale);
    if applies {
        assert_eq!(o.campaigns_applied, vec!["b".to_owned()], "{name}");
        assert_eq!(o.earned_points, base_points + 100, "{name}");
    } else {
        assert!(o.campaigns_applied.is_empty(), "{name}");
        assert_eq!(o.earned_points, base_points, "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn campaign_filter_table() {
    use WeekdayKey::{Sat, Sun, Wed};
    // (case, campaign, sale, applies)
    applies("within the dates", base(), plain(DAY), true);
    applies("the day before it starts", Campaign { starts_on: d("2026-11-23"), ..base() }, plain(DAY), false);
    applies("on its first day", Campaign { starts_on: d(DAY), ..base() }, plain(DAY), true);
    applies("on its last day", Campaign { ends_on: d(DAY), ..base() }, plain(DAY), true);
    applies("the day after it ends", Campaign { ends_on: d("2026-11-21"), ..base() }, plain(DAY), false);
    applies("a one-day campaign", Campaign { starts_on: d(DAY), ends_on: d(DAY), ..base() }, plain(DAY), true);
    applies("weekend campaign on a Sunday", Campaign { weekdays: BTreeSet::from([Sat, Sun]), ..base() }, plain("2026-11-22"), true);
    applies("weekend campaign on a Monday", Campaign { weekdays: BTreeSet::from([Sat, Sun]), ..base() }, plain("2026-11-23"), false);
    applies("Wednesday campaign on a Wednesday", Campaign { weekdays: BTreeSet::from([Wed]), ..base() }, plain("2026-11-25"), true);
    applies("in one of its stores", Campaign { stores: stores(&["shibuya", "ueno"]), ..base() }, at_store(plain(DAY), "ueno"), true);
    applies("in another store", Campaign { stores: stores(&["shibuya"]), ..base() }, plain(DAY), false);
    applies("minimum spend reached exactly", Campaign { min_spend_yen: 1_000, ..base() }, plain(DAY), true);
    applies("minimum spend missed by ¥1", Campaign { min_spend_yen: 1_001, ..base() }, plain(DAY), false);
    applies("minimum spend counts eligible spend only", Campaign { min_spend_yen: 1_000, ..base() }, today(&[item("a", 999), gift("g", 5_000)]), false);
    applies("minimum spend counts spend after a points discount", Campaign { min_spend_yen: 1_000, ..base() }, redeeming(today(&[item("a", 1_050)]), 51), false);
}

#[test]
fn a_bonus_campaign_on_a_sale_without_eligible_spend() {
    let rules = demo_with(|r| r.campaigns = vec![bonus("b", 30)]);
    let mut state = MemberState::default();
    let o = sell(&rules, &mut state, &sale("s", DAY, vec![gift("g", 3_000)]));
    assert_eq!(o.earned_points, 30);
    assert_eq!(state.balance(d(DAY)), 30);
}
