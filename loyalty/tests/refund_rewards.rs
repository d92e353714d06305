//! What a refund does to stamps and coupons: the stamps a sale earned taken back, the reward of a
//! card it completed revoked (or listed as not recovered), and the coupons it used given back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{MemberState, RuleSet, StampCard, StampEarn};

#[test]
fn refunding_a_card_completing_sale_revokes_the_reward() {
    let rules = RuleSet::demo();
    let before = MemberState {
        stamps: StampCard {
            count: 9,
            last_stamp_on: Some(d("2026-11-21")),
            ..Default::default()
        },
        ..MemberState::default()
    };
    let mut state = before.clone();
    let s = sale("s", DAY, vec![item("a", 1_000)]);
    let o = sell(&rules, &mut state, &s);
    assert_eq!(o.coupons_issued.len(), 1);
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", DAY, vec![item("a", 1_000)]),
    );
    assert_eq!(
        (r.stamps_reversed, r.cards_uncompleted, r.shortfall_stamps),
        (1, 1, 0)
    );
    assert_eq!(r.coupons_revoked, vec!["s/card-1".to_owned()]);
    assert!(r.coupons_not_recovered.is_empty());
    assert_eq!(r.stamp_count_after, 9);
    assert_eq!(r.last_stamp_on_after, Some(d("2026-11-21")));
    assert_eq!(state, before);
    // The day's stamp is free again.
    let again = sell(&rules, &mut state, &sale("s2", DAY, vec![item("a", 1_000)]));
    assert_eq!(again.stamps.added, 1);
}

#[test]
fn a_used_reward_is_listed_as_not_recovered() {
    let rules = RuleSet::demo();
    let mut state = MemberState {
        stamps: StampCard {
            count: 9,
            last_stamp_on: None,
            ..Default::default()
        },
        ..MemberState::default()
    };
    let s = sale("s", DAY, vec![item("a", 1_000)]);
    let o = sell(&rules, &mut state, &s);
    // The reward is used the next day on a sale too small for a stamp.
    let used = sell(
        &rules,
        &mut state,
        &with_coupons(
            sale("s2", "2026-11-23", vec![item("b", 600)]),
            &["s/card-1"],
        ),
    );
    assert_eq!((used.coupon_discount_yen, used.stamps.added), (500, 0));
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", "2026-11-24", vec![item("a", 1_000)]),
    );
    assert_eq!(r.cards_uncompleted, 1);
    assert!(r.coupons_revoked.is_empty());
    assert_eq!(r.coupons_not_recovered, vec!["s/card-1".to_owned()]);
    assert_eq!(state.stamps.count, 9);
}

#[test]
fn stamps_taken_back_from_a_later_card() {
    let rules = RuleSet::demo();
    let mut state = MemberState {
        stamps: StampCard {
            count: 9,
            last_stamp_on: None,
            ..Default::default()
        },
        ..MemberState::default()
    };
    let s = sale("s", DAY, vec![item("a", 1_000)]);
    let o = sell(&rules, &mut state, &s);
    sell(
        &rules,
        &mut state,
        &sale("s2", "2026-11-23", vec![item("a", 1_000)]),
    );
    assert_eq!(state.stamps.count, 1);
    // The member has a stamp on the new card: it is taken, the completed card stands.
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", "2026-11-24", vec![item("a", 1_000)]),
    );
    assert_eq!(
        (r.stamps_reversed, r.cards_uncompleted, r.shortfall_stamps),
        (1, 0, 0)
    );
    assert!(r.coupons_revoked.is_empty() && r.coupons_not_recovered.is_empty());
    assert_eq!(
        state.stamps,
        StampCard {
            count: 0,
            last_stamp_on: Some(d("2026-11-23")),
            // The refunded sale's day is free again; the later one stays.
            days: [d("2026-11-23")].into(),
        }
    );
    assert!(state.coupons.contains_key("s/card-1"));
}

#[test]
fn a_stamp_that_is_no_longer_on_the_card_is_a_shortfall() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    let s = sale("s", DAY, vec![item("a", 1_000)]);
    let o = sell(&rules, &mut state, &s);
    // The hub's snapshot says the card is empty (stamps were taken back elsewhere, say).
    state.stamps.count = 0;
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", DAY, vec![item("a", 1_000)]),
    );
    assert_eq!(
        (r.stamps_reversed, r.shortfall_stamps, r.stamp_count_after),
        (1, 1, 0)
    );
    assert_eq!(state.stamps.count, 0);
}

#[test]
fn refunding_in_parts_revokes_each_reward_of_a_sale_that_completed_several_cards() {
    let rules = demo_with(|r| {
        r.stamps.card_size = 3;
        r.stamps.earn = StampEarn::Spend { yen_per_stamp: 100 };
    });
    let before = MemberState {
        stamps: StampCard {
            count: 2,
            last_stamp_on: None,
            ..Default::default()
        },
        ..MemberState::default()
    };
    let mut state = before.clone();
    let s = sale("s", DAY, vec![item("a", 400), item("b", 400)]);
    let o = sell(&rules, &mut state, &s);
    assert_eq!(
        (
            o.stamps.added,
            o.stamps.cards_completed,
            o.stamps.count_after
        ),
        (8, 3, 1)
    );
    let r1 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r1", DAY, vec![item("a", 400)]),
    );
    assert_eq!((r1.stamps_reversed, r1.cards_uncompleted), (4, 1));
    assert_eq!(r1.coupons_revoked.len(), 1);
    let r2 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[item("a", 400)],
        &refund("r2", DAY, vec![item("b", 400)]),
    );
    assert_eq!((r2.stamps_reversed, r2.cards_uncompleted), (4, 2));
    assert_eq!(r2.coupons_revoked.len(), 2, "{r2:?}");
    assert!(r2.coupons_not_recovered.is_empty(), "{r2:?}");
    assert_eq!(state, before);
}

#[test]
fn a_whole_refund_gives_back_the_coupons_the_sale_used() {
    let rules = RuleSet::demo();
    let c = coupon("off100", discount(100), "2026-01-01", "2026-12-31");
    let before = holding_coupons(vec![c.clone()]);
    let mut state = before.clone();
    let s = with_coupons(
        sale("s", DAY, vec![item("a", 500), item("b", 500)]),
        &["off100"],
    );
    let o = sell(&rules, &mut state, &s);
    let r1 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r1", DAY, vec![item("a", 500)]),
    );
    assert!(
        r1.coupons_restored.is_empty(),
        "a partial refund keeps the coupon used"
    );
    assert!(state.coupons.is_empty());
    let r2 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[item("a", 500)],
        &refund("r2", DAY, vec![item("b", 500)]),
    );
    assert_eq!(r2.coupons_restored, vec![c]);
    assert_eq!(state, before);
}
