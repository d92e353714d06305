//! Coupons: discounts taken off before earning, points bonuses added, validity days, and the
//! coupons a sale cannot use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{Line, Points, RuleSet, SaleError, Yen, evaluate_sale};

/// A sale `lines` using `coupons` gives (coupon discount, points earned) or is refused; when it
/// is accepted, exactly those coupons are used, and used up.
#[track_caller]
fn uses(name: &str, lines: &[Line], coupons: &[&str], result: Result<(Yen, Points), SaleError>) {
    let state = holding_coupons(vec![
        coupon("off500", discount(500), "2026-01-01", "2026-12-31"),
        coupon("off200", discount(200), "2026-01-01", "2026-12-31"),
        coupon("bonus100", points_bonus(100), "2026-01-01", "2026-12-31"),
        coupon("starts-today", discount(100), DAY, "2026-12-31"),
        coupon("ends-today", discount(100), "2026-01-01", DAY),
        coupon("expired", discount(100), "2026-10-01", "2026-11-21"),
        coupon("tomorrow", discount(100), "2026-11-23", "2026-12-31"),
    ]);
    let rules = RuleSet::demo();
    let s = with_coupons(today(lines), coupons);
    let got = evaluate_sale(&rules, &state, &s).map(|o| (o.coupon_discount_yen, o.earned_points));
    assert_eq!(got, result, "{name}");
    if let Ok(o) = evaluate_sale(&rules, &state, &s) {
        let used: Vec<&str> = o
            .coupons_used
            .iter()
            .map(|c| c.coupon_id.as_str())
            .collect();
        assert_eq!(used, coupons, "{name}");
        let mut after = state.clone();
        after.apply_sale(&o);
        for id in coupons {
            assert!(!after.coupons.contains_key(*id), "{name}: {id} is used up");
        }
    }
}

/// The refusal of a coupon used outside its validity.
#[track_caller]
fn not_valid(coupon_id: &str, valid_from: &str, valid_until: &str) -> SaleError {
    SaleError::CouponNotValid {
        coupon_id: coupon_id.into(),
        valid_from: d(valid_from),
        valid_until: d(valid_until),
    }
}

#[test]
#[rustfmt::skip]
fn coupon_table() {
    use SaleError::{DuplicateCoupon, UnknownCoupon};
    // (case, lines, coupons, (coupon discount, points earned) or the error)
    uses("¥500 off is taken before earning", &[item("a", 3_000)], &["off500"], Ok((500, 25)));
    uses("discount is at most the sale's amount", &[item("a", 300)], &["off500"], Ok((300, 0)));
    uses("two discounts", &[item("a", 3_000)], &["off500", "off200"], Ok((700, 23)));
    uses("points bonus is added to what the sale earns", &[item("a", 1_000)], &["bonus100"], Ok((0, 110)));
    uses("points bonus with a discount", &[item("a", 1_000)], &["bonus100", "off500"], Ok((500, 105)));
    uses("valid on its first day", &[item("a", 1_000)], &["starts-today"], Ok((100, 9)));
    uses("valid on its last day", &[item("a", 1_000)], &["ends-today"], Ok((100, 9)));
    uses("unknown", &[item("a", 1_000)], &["nope"], Err(UnknownCoupon { coupon_id: "nope".into() }));
    uses("expired", &[item("a", 1_000)], &["expired"], Err(not_valid("expired", "2026-10-01", "2026-11-21")));
    uses("not yet valid", &[item("a", 1_000)], &["tomorrow"], Err(not_valid("tomorrow", "2026-11-23", "2026-12-31")));
    uses("listed twice", &[item("a", 1_000)], &["off500", "off200", "off500"], Err(DuplicateCoupon { coupon_id: "off500".into() }));
}

#[test]
fn a_coupon_is_used_once() {
    let rules = RuleSet::demo();
    let mut state = holding_coupons(vec![coupon("c", discount(500), "2026-01-01", "2026-12-31")]);
    sell(
        &rules,
        &mut state,
        &with_coupons(sale("s1", DAY, vec![item("a", 1_000)]), &["c"]),
    );
    let again = evaluate_sale(
        &rules,
        &state,
        &with_coupons(sale("s2", DAY, vec![item("a", 1_000)]), &["c"]),
    );
    assert_eq!(
        again,
        Err(SaleError::UnknownCoupon {
            coupon_id: "c".into()
        })
    );
}
