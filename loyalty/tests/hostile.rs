//! Property tests at the edges: no engine function panics on any input (dates across the whole
//! calendar, amounts and points at and beyond their limits, damaged rule sets, absurd states),
//! and the order sales are recorded in does not change what they earn (a POS flushing its own
//! offline queue records them out of date order).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tenpo_loyalty::{
    Coupon, CouponBenefit, Date, LATE_RECORDING_DAYS, Line, MAX_YEN, MemberState, PointLot, Refund,
    RuleSet, Sale, SaleOutcome, StampCard, StampEarn, evaluate_refund, evaluate_sale,
};

// ---------------------------------------------------------------------------------------------
// Anything at all: every function must answer, never panic.
// ---------------------------------------------------------------------------------------------

fn any_date() -> impl Strategy<Value = Date> {
    let (lo, hi) = (Date::MIN.days_since_epoch(), Date::MAX.days_since_epoch());
    prop_oneof![
        Just(Date::MIN),
        Just(Date::MAX),
        (lo..=hi).prop_map(|d| Date::from_days_since_epoch(d).unwrap()),
        (lo..lo + 800).prop_map(|d| Date::from_days_since_epoch(d).unwrap()),
        (hi - 800..=hi).prop_map(|d| Date::from_days_since_epoch(d).unwrap()),
    ]
}

fn any_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(MAX_YEN),
        Just(MAX_YEN + 1),
        Just(i64::MAX),
        Just(i64::MIN),
        0i64..100_000,
        any::<i64>(),
    ]
}

fn any_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(12), Just(u32::MAX), any::<u32>()]
}

/// The demo program with any of its numbers replaced, including by values validation refuses.
fn any_rules() -> impl Strategy<Value = RuleSet> {
    (
        any_amount(),
        any_u32(),
        any_u32(),
        any_u32(),
        any_amount(),
        any_amount(),
        any_amount(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(ypp, window, expiry, card, red_ypp, unit, stamp, per_visit, no_levels)| {
                let mut r = RuleSet::demo();
                r.earning.yen_per_point = ypp;
                r.tiers.window_months = window;
                r.expiry.months = expiry;
                r.stamps.card_size = card;
                r.redemption.yen_per_point = red_ypp;
                r.redemption.unit_points = unit;
                r.stamps.earn = if per_visit {
                    StampEarn::Visit {
                        min_spend_yen: stamp,
                    }
                } else {
                    StampEarn::Spend {
                        yen_per_stamp: stamp,
                    }
                };
                if no_levels {
                    r.tiers.levels.clear();
                }
                r
            },
        )
}

fn any_state() -> impl Strategy<Value = MemberState> {
    (
        proptest::collection::vec((any_date(), any_date(), any_amount()), 0..4),
        proptest::collection::vec((any_date(), any_amount()), 0..4),
        any_u32(),
        proptest::option::of(any_date()),
        proptest::collection::btree_set(any_date(), 0..3),
        proptest::collection::vec((any_date(), any_date(), any_amount()), 0..3),
    )
        .prop_map(|(lots, spend, count, last, days, coupons)| MemberState {
            lots: lots
                .into_iter()
                .enumerate()
                .map(|(i, (earned_on, expires_on, points))| PointLot {
                    lot_id: format!("lot-{i}"),
                    earned_on,
                    expires_on,
                    points,
                })
                .collect(),
            stamps: StampCard {
                count,
                last_stamp_on: last,
                days,
            },
            coupons: coupons
                .into_iter()
                .enumerate()
                .map(|(i, (from, until, value))| {
                    let c = Coupon {
                        coupon_id: format!("c{i}"),
                        benefit: if i % 2 == 0 {
                            CouponBenefit::Discount { value_yen: value }
                        } else {
                            CouponBenefit::PointsBonus { points: value }
                        },
                        valid_from: from,
                        valid_until: until,
                    };
                    (c.coupon_id.clone(), c)
                })
                .collect(),
            spend: spend.into_iter().collect::<BTreeMap<_, _>>(),
        })
}

fn any_lines() -> impl Strategy<Value = Vec<Line>> {
    proptest::collection::vec(
        (0usize..3, any_amount(), any_amount()).prop_map(|(sku, quantity, amount_yen)| Line {
            sku: ["tea", "bento", ""][sku].to_owned(),
            category: None,
            quantity,
            amount_yen,
        }),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Every entry point, on anything: an answer (often a refusal), never a panic.
    #[test]
    fn nothing_panics(
        rules in any_rules(),
        state in any_state(),
        date in any_date(),
        refund_date in any_date(),
        lines in any_lines(),
        refund_lines in any_lines(),
        redeem in any_amount(),
        use_coupons in any::<bool>(),
    ) {
        let _ = state.summary(&rules, date);
        let _ = state.qualifying_spend(&rules, date);
        let _ = state.balance(date);
        let _ = rules.expiry_for(date);
        let mut compacted = state.clone();
        compacted.compact(&rules, date);
        compacted.settle(&rules, date);
        let sale = Sale {
            sale_id: "s1".into(),
            store_id: "st".into(),
            business_date: date,
            lines: lines.clone(),
            redeem_points: redeem,
            coupon_ids: if use_coupons { state.coupons.keys().cloned().collect() } else { vec![] },
        };
        if let Ok(outcome) = evaluate_sale(&rules, &state, &sale) {
            let mut after = state.clone();
            after.apply_sale(&outcome);
            after.settle(&rules, date);
            let _ = after.summary(&rules, date);
            let refund = Refund {
                refund_id: "r1".into(),
                business_date: refund_date,
                lines: refund_lines,
            };
            if let Ok(r) = evaluate_refund(&rules, &after, &lines, &outcome, &[], &refund) {
                after.apply_refund(&r);
                let _ = after.summary(&rules, refund_date);
            }
        }
    }

    /// Outcomes from elsewhere (a hub applies what a till sends) cannot make a state panic,
    /// whatever numbers they carry.
    #[test]
    fn applying_any_outcome_never_panics(
        state in any_state(),
        date in any_date(),
        earned in any_amount(),
        taken in any_amount(),
        spend in any_amount(),
        count in any_u32(),
    ) {
        let rules = RuleSet::demo();
        let mut outcome = evaluate_sale(&rules, &MemberState::default(), &Sale {
            sale_id: "lot-0".into(),
            store_id: "st".into(),
            business_date: Date::from_ymd(2026, 11, 30).unwrap(),
            lines: vec![line(5_000)],
            redeem_points: 0,
            coupon_ids: vec![],
        }).unwrap();
        outcome.business_date = date;
        outcome.qualifying_spend_yen = spend;
        outcome.stamps.count_after = count;
        if let Some(lot) = &mut outcome.earned_lot {
            lot.points = earned;
        }
        outcome.lots_consumed = vec![PointLot {
            lot_id: "lot-0".into(),
            earned_on: date,
            expires_on: date,
            points: taken,
        }];
        outcome.coupon_discount_yen = spend;
        outcome.points_discount_yen = earned;
        let _ = outcome.discount_yen();
        let mut after = state;
        after.apply_sale(&outcome);
        after.apply_sale(&outcome);
        let _ = after.summary(&rules, date);
        after.settle(&rules, date);
    }
}

// ---------------------------------------------------------------------------------------------
// Order does not matter: the same sales recorded in any order earn the same.
// ---------------------------------------------------------------------------------------------

fn line(amount_yen: i64) -> Line {
    Line {
        sku: "tea".into(),
        category: None,
        quantity: 1,
        amount_yen,
    }
}

/// What a set of sales earned, whatever order they were recorded in.
#[derive(Debug, PartialEq, Eq)]
struct Earned {
    points: i64,
    stamps: u32,
    cards: u32,
    stamp_count: u32,
    balance: i64,
    stamp_days: Vec<Date>,
    last_stamp_on: Option<Date>,
}

/// Records the sales in the given order as the till does: evaluate on the state so far, apply,
/// settle.
fn record(rules: &RuleSet, sales: &[(String, Date, i64)]) -> (Earned, Vec<SaleOutcome>) {
    let mut state = MemberState::default();
    let mut outcomes = Vec::new();
    for (id, date, amount) in sales {
        let sale = Sale {
            sale_id: id.clone(),
            store_id: "st".into(),
            business_date: *date,
            lines: vec![line(*amount)],
            redeem_points: 0,
            coupon_ids: vec![],
        };
        let o = evaluate_sale(rules, &state, &sale).unwrap();
        state.apply_sale(&o);
        state.settle(rules, *date);
        outcomes.push(o);
    }
    let later = Date::from_ymd(2026, 12, 31).unwrap();
    let earned = Earned {
        points: outcomes.iter().map(|o| o.earned_points).sum(),
        stamps: outcomes.iter().map(|o| o.stamps.added).sum(),
        cards: outcomes.iter().map(|o| o.stamps.cards_completed).sum(),
        stamp_count: state.stamps.count,
        balance: state.balance(later),
        stamp_days: state.stamps.days.iter().copied().collect(),
        last_stamp_on: state.stamps.last_stamp_on,
    };
    (earned, outcomes)
}

/// Up to 9 sales over 20 days before 2026-12-01, none old enough to be refused, with a
/// permutation of them. Amounts stay under the premier threshold (¥50,000 a year) in total, so
/// every sale is at the same tier whatever the order; stamps do not depend on the tier.
fn sales_and_order() -> impl Strategy<Value = (Vec<(String, Date, i64)>, Vec<usize>)> {
    proptest::collection::vec((0i64..20, 0i64..5_500), 1..9).prop_flat_map(|specs| {
        let today = Date::from_ymd(2026, 12, 1).unwrap();
        let sales: Vec<(String, Date, i64)> = specs
            .iter()
            .enumerate()
            .map(|(i, (back, amount))| (format!("s{i}"), today.add_days(-back), *amount))
            .collect();
        let n = sales.len();
        (Just(sales), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_order_earns_the_same((sales, order) in sales_and_order()) {
        let rules = RuleSet::demo();
        let by_date = {
            let mut s = sales.clone();
            s.sort_by_key(|(id, d, _)| (*d, id.clone()));
            s
        };
        let shuffled: Vec<_> = order.iter().map(|i| sales[*i].clone()).collect();
        let (in_order, _) = record(&rules, &by_date);
        let (any_order, _) = record(&rules, &shuffled);
        prop_assert_eq!(in_order, any_order);
    }
}

#[test]
fn a_back_dated_sale_earns_no_second_stamp_on_a_stamped_day() {
    // The finding: 11-30 (stamp), 12-01 (stamp), then another 11-30 sale gave a second stamp.
    let rules = RuleSet::demo();
    let d30 = Date::from_ymd(2026, 11, 30).unwrap();
    let d01 = Date::from_ymd(2026, 12, 1).unwrap();
    let sales = [
        ("a".to_owned(), d30, 1_500),
        ("b".to_owned(), d01, 1_500),
        ("c".to_owned(), d30, 1_500),
    ];
    let (earned, outcomes) = record(&rules, &sales);
    assert_eq!(
        outcomes.iter().map(|o| o.stamps.added).collect::<Vec<_>>(),
        [1, 1, 0]
    );
    assert_eq!(earned.stamp_days, [d30, d01]);
    assert_eq!(earned.last_stamp_on, Some(d01));
}

#[test]
fn a_refund_that_takes_the_stamp_back_frees_its_day_and_keeps_the_latest() {
    let rules = RuleSet::demo();
    let d30 = Date::from_ymd(2026, 11, 30).unwrap();
    let d01 = Date::from_ymd(2026, 12, 1).unwrap();
    let sales = [("a".to_owned(), d01, 1_500), ("b".to_owned(), d30, 1_500)];
    let mut state = MemberState::default();
    let mut outcomes = Vec::new();
    for (id, date, amount) in &sales {
        let o = evaluate_sale(
            &rules,
            &state,
            &Sale {
                sale_id: id.clone(),
                store_id: "st".into(),
                business_date: *date,
                lines: vec![line(*amount)],
                redeem_points: 0,
                coupon_ids: vec![],
            },
        )
        .unwrap();
        state.apply_sale(&o);
        outcomes.push(o);
    }
    // Refund the back-dated 11-30 sale whole: 11-30 can earn a stamp again, 12-01 stays latest.
    let r = evaluate_refund(
        &rules,
        &state,
        &[line(1_500)],
        &outcomes[1],
        &[],
        &Refund {
            refund_id: "r".into(),
            business_date: d01,
            lines: vec![line(1_500)],
        },
    )
    .unwrap();
    assert_eq!(r.stamp_day_released, Some(d30));
    state.apply_refund(&r);
    assert!(!state.stamps.stamped_on(d30));
    assert!(state.stamps.stamped_on(d01));
    assert_eq!(state.stamps.last_stamp_on, Some(d01));
}

#[test]
fn settling_keeps_the_late_recording_window() {
    let rules = RuleSet::demo();
    let today = Date::from_ymd(2026, 12, 1).unwrap();
    let mut state = MemberState::default();
    state
        .stamps
        .days
        .insert(today.add_days(-LATE_RECORDING_DAYS));
    state
        .stamps
        .days
        .insert(today.add_days(-LATE_RECORDING_DAYS - 1));
    state.settle(&rules, today);
    assert_eq!(
        state.stamps.days.iter().copied().collect::<Vec<_>>(),
        [today.add_days(-LATE_RECORDING_DAYS)]
    );
}

#[test]
fn tier_window_at_the_start_of_the_calendar_is_empty_not_a_panic() {
    // The finding: a sale dated 0001-01-01 panicked the hub in `qualifying_spend`.
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    state.spend.insert(Date::MIN, 1_000);
    assert_eq!(state.qualifying_spend(&rules, Date::MIN), 0);
    let o = evaluate_sale(
        &rules,
        &state,
        &Sale {
            sale_id: "s".into(),
            store_id: "st".into(),
            business_date: Date::MIN,
            lines: vec![line(1_000)],
            redeem_points: 0,
            coupon_ids: vec![],
        },
    )
    .unwrap();
    assert_eq!(o.earned_points, 10);
}
