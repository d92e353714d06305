//! Property tests: random programs, random members built by random histories of sales,
//! redemptions, coupons and refunds, and the engine's invariants over them.
//!
//! - a whole refund, in one part or several, returns the member to the state before the sale;
//! - a balance is the sum of its live lots and never negative, and every point is accounted for;
//! - evaluation is deterministic, and outcomes and states survive a serde round trip;
//! - lots stored in any order are read as the same lots in order.
//!
//! `strategies.rs` makes the random programs and histories, `world.rs` is the member and till that
//! follow a history and check the invariants after each step; this file states the properties.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tenpo_loyalty::{
    Date, MemberState, Points, Refund, RefundOutcome, RuleSet, SaleOutcome, WeekdayKey, Yen,
    evaluate_refund, evaluate_sale,
};

mod strategies;
mod world;

use strategies::*;
use world::*;

const CASES: u32 = 256;

/// `CASES` random cases, after every case that failed once: proptest keeps their seeds in
/// `regressions.txt` beside this file and runs them first each time (commit the file when it
/// gains a line).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/properties/regressions.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (a) A whole refund, in one part or several, returns the member to the state before the
    /// sale: points (earned taken back, redeemed given back to their lots), stamps and the
    /// day's stamp, reward coupons, coupons used, and tier progress.
    #[test]
    fn a_whole_refund_restores_the_member(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(false), 0..16),
        spec in sale_strategy(),
        parts in 1usize..=4,
        seed in any::<u64>(),
        later in prop::collection::vec(prop_oneof![Just(0i64), 0i64..=40], 4),
    ) {
        let mut world = world_after(rules, &history);
        let before = world.state.clone();
        let (sale, outcome) = world.sell(&spec);
        world.check();
        let n = world.sales.len() - 1;
        let totals = |outs: &[RefundOutcome]| {
            let mut revoked: Vec<String> =
                outs.iter().flat_map(|o| o.coupons_revoked.iter().cloned()).collect();
            revoked.sort();
            (
                outs.iter().map(|o| o.reversed_points).sum::<Points>(),
                outs.iter().map(|o| o.returned_points).sum::<Points>(),
                outs.iter().map(|o| o.stamps_reversed).sum::<u32>(),
                outs.iter().map(|o| o.cards_uncompleted).sum::<u32>(),
                outs.iter().map(|o| o.qualifying_spend_reversed_yen).sum::<Yen>(),
                revoked,
            )
        };
        // One whole refund, for comparison.
        let mut whole = world.clone();
        let all = whole.left(n).into_iter().map(|(sku, (q, a))| line(&sku, q, a)).collect();
        let one = whole.refund(n, all);
        prop_assert_eq!(&whole.state, &before);

        let mut rng = Rng(seed);
        let refunds = split_whole(&world.left(n), parts, &mut rng);
        let count = refunds.len();
        let mut outs = Vec::new();
        for (i, lines) in refunds.into_iter().enumerate() {
            world.date = world.date.add_days(later[i]);
            let out = world.refund(n, lines);
            world.check();
            prop_assert_eq!(out.completes_sale, i + 1 == count);
            prop_assert_eq!(out.shortfall_points, 0);
            prop_assert_eq!(out.shortfall_stamps, 0);
            prop_assert!(out.coupons_not_recovered.is_empty());
            outs.push(out);
        }
        prop_assert!(world.sales[n].complete, "{:?} {:?}", sale, outcome);
        prop_assert_eq!(&world.state, &before);
        prop_assert_eq!(totals(&outs), totals(&[one]));
    }

    /// (b) Across random histories of sales, redemptions, coupons, partial refunds and
    /// compaction, a balance is the sum of its live lots and never negative, and every point is
    /// accounted for (see `World::check`).
    #[test]
    fn balances_are_live_lots_and_never_negative(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(true), 1..40),
    ) {
        let world = world_after(rules, &history);
        // Refunding whatever is left of every sale, latest first, keeps the invariants too.
        let mut world = world;
        for n in (0..world.sales.len()).rev() {
            let left: BTreeMap<String, (i64, Yen)> =
                world.left(n).into_iter().filter(|(_, (q, _))| *q > 0).collect();
            if !left.is_empty() {
                let lines = left.into_iter().map(|(sku, (q, a))| line(&sku, q, a)).collect();
                world.refund(n, lines);
                world.check();
            }
        }
    }

    /// (c) Evaluation is deterministic, and outcomes and states survive a serde round trip.
    #[test]
    fn evaluation_is_deterministic_and_round_trips(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(false), 0..16),
        spec in sale_strategy(),
        seed in any::<u64>(),
    ) {
        let world = world_after(rules.clone(), &history);
        let replayed = world_after(rules.clone(), &history);
        prop_assert_eq!(&world.state, &replayed.state);

        // Rule sets.
        let toml_text = toml::to_string(&rules).unwrap();
        prop_assert_eq!(&toml::from_str::<RuleSet>(&toml_text).unwrap(), &rules);
        let json = serde_json::to_string(&rules).unwrap();
        prop_assert_eq!(&serde_json::from_str::<RuleSet>(&json).unwrap(), &rules);

        // States.
        let json = serde_json::to_string(&world.state).unwrap();
        let state: MemberState = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&state, &world.state);
        prop_assert_eq!(serde_json::to_string(&state).unwrap(), json);

        // Sales.
        let mut w = world.clone();
        let sale = w.make_sale(&spec);
        let a = evaluate_sale(&rules, &world.state, &sale).unwrap();
        let b = evaluate_sale(&rules, &state, &sale).unwrap();
        prop_assert_eq!(&a, &b);
        let json = serde_json::to_string(&a).unwrap();
        let back: SaleOutcome = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &a);
        let mut applied = world.state.clone();
        applied.apply_sale(&a);
        let mut applied_back = state.clone();
        applied_back.apply_sale(&back);
        prop_assert_eq!(&applied, &applied_back);

        // Refunds.
        let o = w.record(&sale);
        let n = w.sales.len() - 1;
        prop_assert_eq!(&o, &a);
        let mut rng = Rng(seed);
        if let Some(lines) = w.partial(n, &mut rng) {
            let refund = Refund { refund_id: "r".into(), business_date: w.date, lines };
            let rec = &w.sales[n];
            let x = evaluate_refund(&rules, &w.state, &rec.sale.lines, &o, &[], &refund).unwrap();
            let y = evaluate_refund(&rules, &w.state.clone(), &rec.sale.lines, &back, &[], &refund)
                .unwrap();
            prop_assert_eq!(&x, &y);
            let json = serde_json::to_string(&x).unwrap();
            prop_assert_eq!(&serde_json::from_str::<RefundOutcome>(&json).unwrap(), &x);
        }
    }

    /// (d) Lots stored in any order (a snapshot from elsewhere need not be sorted) are read as
    /// the state kept in order reads them: the same live lots in the same order on every day
    /// around their expiries, the same balance and summary, the same sale outcome.
    #[test]
    fn lots_in_any_order_read_the_same(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(false), 1..24),
        spec in sale_strategy(),
        seed in any::<u64>(),
    ) {
        let world = world_after(rules.clone(), &history);
        let mut shuffled = world.state.clone();
        let mut rng = Rng(seed);
        for i in (1..shuffled.lots.len()).rev() {
            let j = rng.range(0, i as i64) as usize;
            shuffled.lots.swap(i, j);
        }
        let mut days = vec![world.date];
        for lot in &world.state.lots {
            days.extend([lot.expires_on.add_days(-1), lot.expires_on, lot.expires_on.add_days(1)]);
        }
        for day in days {
            let ids = |s: &MemberState| {
                s.live_lots(day).map(|l| l.lot_id.clone()).collect::<Vec<_>>()
            };
            prop_assert_eq!(ids(&shuffled), ids(&world.state));
            prop_assert_eq!(shuffled.balance(day), world.state.balance(day));
            let summary = world.state.summary(&rules, day);
            prop_assert_eq!(summary.balance, world.state.balance(day));
            prop_assert_eq!(&shuffled.summary(&rules, day), &summary);
        }
        let sale = world.clone().make_sale(&spec);
        prop_assert_eq!(
            evaluate_sale(&rules, &shuffled, &sale).ok(),
            evaluate_sale(&rules, &world.state, &sale).ok()
        );
    }

    /// Dates: day numbers, day and month arithmetic, weekdays and text agree.
    #[test]
    fn date_arithmetic_agrees(
        n in Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch(),
        a in -5_000i64..=5_000,
        b in -5_000i64..=5_000,
        months in -2_400i32..=2_400,
    ) {
        let date = Date::from_days_since_epoch(n).unwrap();
        prop_assert_eq!(date.days_since_epoch(), n);
        prop_assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
        prop_assert_eq!(
            Date::from_ymd(date.year(), date.month(), date.day()).unwrap(),
            date
        );
        let in_range =
            |days: i64| (Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch()).contains(&days);
        let weekday = |d: Date| WeekdayKey::from(d.weekday()) as i64;
        let moved = date.add_days(a);
        if in_range(n + a) {
            prop_assert_eq!(moved.days_since_epoch(), n + a);
            prop_assert_eq!(moved.cmp(&date), a.cmp(&0));
            prop_assert_eq!(weekday(moved), (weekday(date) + a).rem_euclid(7));
            if in_range(n + a + b) {
                prop_assert_eq!(moved.add_days(b), date.add_days(a + b));
            }
        } else {
            prop_assert_eq!(moved, if a < 0 { Date::MIN } else { Date::MAX });
        }
        let later = date.add_months(months);
        if later != Date::MIN && later != Date::MAX {
            prop_assert!(later.day() <= date.day());
            prop_assert!(later.day() == date.day() || later == later.end_of_month());
            if later.end_of_month() != Date::MAX {
                prop_assert_eq!(later.end_of_month().add_days(1).day(), 1);
            }
            let index = |d: Date| i64::from(d.year()) * 12 + i64::from(d.month());
            prop_assert_eq!(index(later) - index(date), i64::from(months));
        }
    }
}
