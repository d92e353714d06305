//! The harness shared by the rule tests (`earning.rs`, `tiers.rs`, `refunds.rs` …), which run
//! mostly on the demo program (`RuleSet::demo()`), whose behaviour is the product's
//! specification:
//!
//! - 1 point per ¥100 of eligible spend, per sale, rounded down; `giftcard` earns nothing;
//! - tiers over a rolling 12 months of qualifying spend: `standard` from ¥0 at 1×, `premier`
//!   from ¥50,000 at 2×, the tier held when the sale starts giving the rate;
//! - a stamp per visit of ≥ ¥1,000 eligible spend, one a day; 10 stamps issue a ¥500 coupon;
//! - points usable until the end of the month 12 months after the month they were earned;
//! - 1 point = ¥1 off, soonest-expiring lots first, discounts taken off before earning;
//! - refunds reverse in proportion, rounded down, and record shortfalls.
//!
//! Tables are written one case a line: each line calls a checker of its file, marked
//! `#[track_caller]` like the helpers here, so a failing case is reported at its own line and
//! its message names it. Table functions are `#[rustfmt::skip]` to keep one case a line.

// Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use tenpo_loyalty::{
    Campaign, CampaignBenefit, Coupon, CouponBenefit, Date, Line, MemberState, PointLot, Points,
    Refund, RefundOutcome, RuleSet, Sale, SaleOutcome, Yen, evaluate_refund, evaluate_sale,
};

pub const PREMIER_SPEND: Yen = 50_000;
/// A Sunday.
pub const DAY: &str = "2026-11-22";

#[track_caller]
pub fn d(s: &str) -> Date {
    match s.parse() {
        Ok(date) => date,
        Err(e) => panic!("{s}: {e}"),
    }
}

pub fn line(sku: &str, category: Option<&str>, quantity: i64, amount_yen: Yen) -> Line {
    Line {
        sku: sku.to_owned(),
        category: category.map(str::to_owned),
        quantity,
        amount_yen,
    }
}

/// A one-unit line of an ordinary (earning) category.
pub fn item(sku: &str, amount_yen: Yen) -> Line {
    line(sku, Some("food"), 1, amount_yen)
}

pub fn gift(sku: &str, amount_yen: Yen) -> Line {
    line(sku, Some("giftcard"), 1, amount_yen)
}

#[track_caller]
pub fn sale(id: &str, date: &str, lines: Vec<Line>) -> Sale {
    Sale {
        sale_id: id.to_owned(),
        store_id: "s1".to_owned(),
        business_date: d(date),
        lines,
        redeem_points: 0,
        coupon_ids: Vec::new(),
    }
}

/// Sale `s` of these lines on [`DAY`]: `sale("s", DAY, lines.to_vec())`.
#[track_caller]
pub fn today(lines: &[Line]) -> Sale {
    sale("s", DAY, lines.to_vec())
}

pub fn redeeming(mut s: Sale, points: Points) -> Sale {
    s.redeem_points = points;
    s
}

pub fn with_coupons(mut s: Sale, ids: &[&str]) -> Sale {
    s.coupon_ids = ids.iter().map(|&i| i.to_owned()).collect();
    s
}

pub fn at_store(mut s: Sale, store: &str) -> Sale {
    s.store_id = store.to_owned();
    s
}

#[track_caller]
pub fn refund(id: &str, date: &str, lines: Vec<Line>) -> Refund {
    Refund {
        refund_id: id.to_owned(),
        business_date: d(date),
        lines,
    }
}

#[track_caller]
pub fn lot(id: &str, earned_on: &str, expires_on: &str, points: Points) -> PointLot {
    PointLot {
        lot_id: id.to_owned(),
        earned_on: d(earned_on),
        expires_on: d(expires_on),
        points,
    }
}

#[track_caller]
pub fn coupon(id: &str, benefit: CouponBenefit, from: &str, until: &str) -> Coupon {
    Coupon {
        coupon_id: id.to_owned(),
        benefit,
        valid_from: d(from),
        valid_until: d(until),
    }
}

pub fn discount(value_yen: Yen) -> CouponBenefit {
    CouponBenefit::Discount { value_yen }
}

pub fn points_bonus(points: Points) -> CouponBenefit {
    CouponBenefit::PointsBonus { points }
}

/// A member with this much qualifying spend on one day.
#[track_caller]
pub fn spent(yen: Yen, on: &str) -> MemberState {
    MemberState {
        spend: if yen == 0 {
            BTreeMap::new()
        } else {
            BTreeMap::from([(d(on), yen)])
        },
        ..MemberState::default()
    }
}

/// A member with these lots (given soonest-expiring first, as the state keeps them).
pub fn holding(lots: Vec<PointLot>) -> MemberState {
    MemberState {
        lots,
        ..MemberState::default()
    }
}

pub fn holding_coupons(coupons: Vec<Coupon>) -> MemberState {
    MemberState {
        coupons: coupons
            .into_iter()
            .map(|c| (c.coupon_id.clone(), c))
            .collect(),
        ..MemberState::default()
    }
}

#[track_caller]
pub fn eval(rules: &RuleSet, state: &MemberState, s: &Sale) -> SaleOutcome {
    match evaluate_sale(rules, state, s) {
        Ok(o) => o,
        Err(e) => panic!("sale {}: {e}", s.sale_id),
    }
}

/// Evaluates and applies a sale.
#[track_caller]
pub fn sell(rules: &RuleSet, state: &mut MemberState, s: &Sale) -> SaleOutcome {
    let o = eval(rules, state, s);
    state.apply_sale(&o);
    o
}

/// Evaluates and applies a refund of `s` (whose outcome is `o`), after `earlier` refunded lines.
#[track_caller]
pub fn take_back(
    rules: &RuleSet,
    state: &mut MemberState,
    s: &Sale,
    o: &SaleOutcome,
    earlier: &[Line],
    r: &Refund,
) -> RefundOutcome {
    let out = match evaluate_refund(rules, state, &s.lines, o, earlier, r) {
        Ok(out) => out,
        Err(e) => panic!("refund {}: {e}", r.refund_id),
    };
    state.apply_refund(&out);
    out
}

/// The demo program with `f` applied, checked valid.
#[track_caller]
pub fn demo_with(f: impl FnOnce(&mut RuleSet)) -> RuleSet {
    let mut rules = RuleSet::demo();
    f(&mut rules);
    if let Err(e) = rules.validate() {
        panic!("rule set: {e}");
    }
    rules
}

#[track_caller]
pub fn campaign(id: &str, benefit: CampaignBenefit) -> Campaign {
    Campaign {
        id: id.to_owned(),
        starts_on: d("2026-01-01"),
        ends_on: d("2026-12-31"),
        weekdays: BTreeSet::new(),
        stores: BTreeSet::new(),
        min_spend_yen: 0,
        benefit,
    }
}

#[track_caller]
pub fn multiplier(id: &str, percent: u32) -> Campaign {
    campaign(id, CampaignBenefit::Multiplier { percent })
}

#[track_caller]
pub fn bonus(id: &str, points: Points) -> Campaign {
    campaign(id, CampaignBenefit::Bonus { points })
}
