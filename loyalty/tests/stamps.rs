//! Stamps: one per visit of ≥ ¥1,000 eligible spend, one a day, or per spend; a full card issues
//! the reward coupon and starts a new card.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use tenpo_loyalty::{MemberState, RuleSet, Sale, StampCard, StampEarn, Yen};

/// A member with 3 stamps (last on `last_stamp_on`), points and a ¥500 coupon `c500` makes
/// `sale`, which adds `added` stamps.
#[track_caller]
fn stamp(name: &str, sale: Sale, last_stamp_on: Option<&str>, added: u32) {
    let rules = RuleSet::demo();
    let mut state = MemberState {
        lots: vec![lot("old", "2026-11-01", "2027-11-30", 1_000)],
        stamps: StampCard {
            count: 3,
            last_stamp_on: last_stamp_on.map(d),
            ..Default::default()
        },
        ..holding_coupons(vec![coupon(
            "c500",
            discount(500),
            "2026-01-01",
            "2026-12-31",
        )])
    };
    let o = sell(&rules, &mut state, &sale);
    assert_eq!(o.stamps.added, added, "{name}");
    assert_eq!(o.stamps.count_before, 3, "{name}");
    assert_eq!(o.stamps.count_after, 3 + added, "{name}");
    assert_eq!(state.stamps.count, 3 + added, "{name}");
    let last = if added > 0 {
        Some(d(DAY))
    } else {
        last_stamp_on.map(d)
    };
    assert_eq!(state.stamps.last_stamp_on, last, "{name}");
}

#[test]
#[rustfmt::skip]
fn stamp_table() {
    // (case, sale, last stamp on, stamps added)
    stamp("¥999 is not enough", today(&[item("a", 999)]), None, 0);
    stamp("¥1,000 earns a stamp", today(&[item("a", 1_000)]), None, 1);
    stamp("lines are summed", today(&[item("a", 400), item("b", 600)]), None, 1);
    stamp("one stamp however large", today(&[item("a", 99_000)]), None, 1);
    stamp("giftcards do not count", today(&[gift("g", 5_000), item("a", 999)]), None, 0);
    stamp("spend after a points discount", redeeming(today(&[item("a", 1_500)]), 501), Some("2026-11-21"), 0);
    stamp("spend after a coupon discount", with_coupons(today(&[item("a", 1_499)]), &["c500"]), None, 0);
    stamp("already stamped today", today(&[item("a", 5_000)]), Some(DAY), 0);
    stamp("stamped yesterday", today(&[item("a", 5_000)]), Some("2026-11-21"), 1);
}

/// Sells `id`, a ¥2,000 visit on `day`, which adds `added` stamps.
#[track_caller]
fn visit(rules: &RuleSet, state: &mut MemberState, id: &str, day: &str, added: u32) {
    let o = sell(rules, state, &sale(id, day, vec![item("x", 2_000)]));
    assert_eq!(o.stamps.added, added, "visit {id}");
}

#[test]
#[rustfmt::skip]
fn one_stamp_a_day_then_again_the_next_day() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    // (rules, state, visit, day, stamps added)
    visit(&rules, &mut state, "a", DAY, 1);
    visit(&rules, &mut state, "b", DAY, 0);
    visit(&rules, &mut state, "c", DAY, 0);
    visit(&rules, &mut state, "d", "2026-11-23", 1);
    visit(&rules, &mut state, "e", "2026-11-23", 0);
    assert_eq!(state.stamps.count, 2);
    // A visit too small for a stamp does not use up the day's stamp.
    let mut state = MemberState::default();
    sell(
        &rules,
        &mut state,
        &sale("small", DAY, vec![item("x", 500)]),
    );
    let o = sell(
        &rules,
        &mut state,
        &sale("big", DAY, vec![item("x", 1_000)]),
    );
    assert_eq!(o.stamps.added, 1);
}

#[test]
fn a_full_card_issues_the_reward_and_starts_a_new_card() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    let start = d("2026-11-13");
    for n in 0..9 {
        let day = start.add_days(n).to_string();
        let o = sell(
            &rules,
            &mut state,
            &sale(&format!("v{n}"), &day, vec![item("x", 1_000)]),
        );
        assert!(o.coupons_issued.is_empty());
    }
    assert_eq!(state.stamps.count, 9);
    let tenth = sell(&rules, &mut state, &sale("v9", DAY, vec![item("x", 1_000)]));
    assert_eq!(tenth.stamps.added, 1);
    assert_eq!(tenth.stamps.cards_completed, 1);
    assert_eq!(tenth.stamps.count_before, 9);
    assert_eq!(tenth.stamps.count_after, 0);
    let reward = coupon("v9/card-1", discount(500), DAY, "2027-05-20");
    assert_eq!(tenth.coupons_issued, vec![reward.clone()]);
    assert_eq!(
        state.stamps,
        StampCard {
            count: 0,
            last_stamp_on: Some(d(DAY)),
            // Each day that earned a stamp, remembered for sales recorded late.
            days: (0..10).map(|n| start.add_days(n)).collect(),
        }
    );
    assert_eq!(
        state.coupons,
        BTreeMap::from([(reward.coupon_id.clone(), reward.clone())])
    );
    // 180 days, the day of issue counting.
    assert_eq!(
        reward.valid_until.days_since_epoch() - reward.valid_from.days_since_epoch(),
        179
    );
    let summary = state.summary(&rules, d(DAY));
    assert_eq!((summary.stamps, summary.card_size), (0, 10));
    assert_eq!(summary.coupons, vec![reward.clone()]);

    // The eleventh visit starts the new card.
    let eleventh = sell(
        &rules,
        &mut state,
        &sale("v10", "2026-11-23", vec![item("x", 1_000)]),
    );
    assert_eq!(
        (eleventh.stamps.count_before, eleventh.stamps.count_after),
        (0, 1)
    );
    assert!(eleventh.coupons_issued.is_empty());

    // The reward takes ¥500 off a later sale, within its validity.
    let used = sell(
        &rules,
        &mut state,
        &with_coupons(
            sale("use", "2027-05-20", vec![item("x", 2_000)]),
            &["v9/card-1"],
        ),
    );
    assert_eq!(used.coupon_discount_yen, 500);
    assert_eq!(used.earned_points, 15);
    assert!(state.coupons.is_empty());
}

/// Sells `id`, `yen` on `day`, which gives (stamps added, cards completed, count after), with a
/// coupon per card.
#[track_caller]
fn by_spend(
    rules: &RuleSet,
    state: &mut MemberState,
    id: &str,
    day: &str,
    yen: Yen,
    expect: (u32, u32, u32),
) {
    let o = sell(rules, state, &sale(id, day, vec![item("x", yen)]));
    let got = (
        o.stamps.added,
        o.stamps.cards_completed,
        o.stamps.count_after,
    );
    assert_eq!(got, expect, "{id}");
    assert_eq!(o.coupons_issued.len(), expect.1 as usize, "{id}");
}

#[test]
#[rustfmt::skip]
fn stamps_per_spend_can_complete_several_cards() {
    let rules = demo_with(|r| {
        r.stamps.card_size = 3;
        r.stamps.earn = StampEarn::Spend { yen_per_stamp: 500 };
    });
    let mut state = MemberState::default();
    // (rules, state, sale, day, yen, (added, cards completed, count after))
    by_spend(&rules, &mut state, "a", DAY, 499, (0, 0, 0));
    by_spend(&rules, &mut state, "b", DAY, 1_499, (2, 0, 2));
    by_spend(&rules, &mut state, "c", DAY, 500, (1, 1, 0)); // several a day are fine when stamps are per spend
    by_spend(&rules, &mut state, "d", DAY, 5_200, (10, 3, 1));
    by_spend(&rules, &mut state, "e", "2026-11-23", 999, (1, 0, 2));
    let ids: Vec<&str> = state.coupons.keys().map(String::as_str).collect();
    assert_eq!(ids, ["c/card-1", "d/card-1", "d/card-2", "d/card-3"]);
}

/// Each card a sale fills is a reward coupon made and kept, so a sale that would fill more
/// than any purchase does is refused before one is made: a valid program of a stamp per ¥1 on
/// cards of one turned a ¥10,000,000 sale into ten million coupons, and a damaged stamp count
/// from elsewhere (u32::MAX) into 429 million on the demo program, gigabytes either way.
#[test]
fn a_sale_that_would_fill_more_cards_than_any_purchase_is_refused() {
    use tenpo_loyalty::{MAX_CARDS_PER_SALE, SaleError, evaluate_sale};
    let rules = demo_with(|r| {
        r.stamps.card_size = 1;
        r.stamps.earn = StampEarn::Spend { yen_per_stamp: 1 };
    });
    let mut state = MemberState::default();
    by_spend(&rules, &mut state, "most", DAY, 1_000, (1_000, 1_000, 0));
    let refused = evaluate_sale(&rules, &state, &sale("more", DAY, vec![item("x", 1_001)]));
    assert_eq!(
        refused.unwrap_err(),
        SaleError::TooManyCards {
            cards: 1_001,
            max: MAX_CARDS_PER_SALE
        }
    );
    let refused = evaluate_sale(
        &rules,
        &state,
        &sale("huge", DAY, vec![item("x", 10_000_000)]),
    );
    assert!(
        matches!(
            refused,
            Err(SaleError::TooManyCards {
                cards: 10_000_000,
                ..
            })
        ),
        "{refused:?}"
    );

    let damaged = MemberState {
        stamps: StampCard {
            count: u32::MAX,
            ..Default::default()
        },
        ..Default::default()
    };
    let refused = evaluate_sale(
        &RuleSet::demo(),
        &damaged,
        &sale("any", DAY, vec![item("x", 2_000)]),
    );
    assert!(
        matches!(refused, Err(SaleError::TooManyCards { .. })),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("stamp settings"), "{message}");
}

/// A refund un-fills as many of the sale's cards as bring the count back to zero, counted from
/// the outcome it is given, whatever that outcome claims (an outcome from elsewhere may claim
/// every card there is).
#[test]
fn a_refund_unfills_the_cards_it_needs_whatever_the_outcome_claims() {
    use tenpo_loyalty::{RefundOutcome, evaluate_refund};
    let rules = demo_with(|r| {
        r.stamps.card_size = 3;
        r.stamps.earn = StampEarn::Spend { yen_per_stamp: 500 };
    });
    let mut state = MemberState::default();
    let sold = sale("d", DAY, vec![item("x", 5_200)]);
    let mut outcome = sell(&rules, &mut state, &sold); // 10 stamps: 3 cards, 1 after
    let refund_all = refund("r", DAY, vec![item("x", 5_200)]);
    let honest: RefundOutcome =
        evaluate_refund(&rules, &state, &sold.lines, &outcome, &[], &refund_all).unwrap();
    assert_eq!(
        (honest.cards_uncompleted, honest.coupons_revoked.len()),
        (3, 3)
    );
    // The same outcome claiming u32::MAX cards: the three needed, no more.
    outcome.stamps.cards_completed = u32::MAX;
    let claimed = evaluate_refund(&rules, &state, &sold.lines, &outcome, &[], &refund_all).unwrap();
    assert_eq!(claimed, honest);
}
