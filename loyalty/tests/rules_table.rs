//! Table-driven tests of every rule of the program, mostly on the demo program
//! (`RuleSet::demo()`), whose behaviour is the product's specification:
//!
//! - 1 point per ¥100 of eligible spend, per sale, rounded down; `giftcard` earns nothing;
//! - tiers over a rolling 12 months of qualifying spend: `standard` from ¥0 at 1×, `premier`
//!   from ¥50,000 at 2×, the tier held when the sale starts giving the rate;
//! - a stamp per visit of ≥ ¥1,000 eligible spend, one a day; 10 stamps issue a ¥500 coupon;
//! - points usable until the end of the month 12 months after the month they were earned;
//! - 1 point = ¥1 off, soonest-expiring lots first, discounts taken off before earning;
//! - refunds reverse in proportion, rounded down, and record shortfalls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use tenpo_loyalty::{
    Campaign, CampaignBenefit, Coupon, CouponBenefit, Date, DateError, ExpiryAt, Line, MemberState,
    PointLot, Points, Refund, RefundError, RefundOutcome, RuleSet, Sale, SaleError, SaleOutcome,
    Stacking, StampCard, StampEarn, Weekday, WeekdayKey, Yen, evaluate_refund, evaluate_sale,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn d(s: &str) -> Date {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn line(sku: &str, category: Option<&str>, quantity: i64, amount_yen: Yen) -> Line {
    Line {
        sku: sku.to_owned(),
        category: category.map(str::to_owned),
        quantity,
        amount_yen,
    }
}

/// A one-unit line of an ordinary (earning) category.
fn item(sku: &str, amount_yen: Yen) -> Line {
    line(sku, Some("food"), 1, amount_yen)
}

fn gift(sku: &str, amount_yen: Yen) -> Line {
    line(sku, Some("giftcard"), 1, amount_yen)
}

fn sale(id: &str, date: &str, lines: Vec<Line>) -> Sale {
    Sale {
        sale_id: id.to_owned(),
        store_id: "s1".to_owned(),
        business_date: d(date),
        lines,
        redeem_points: 0,
        coupon_ids: Vec::new(),
    }
}

fn redeeming(mut s: Sale, points: Points) -> Sale {
    s.redeem_points = points;
    s
}

fn with_coupons(mut s: Sale, ids: &[&str]) -> Sale {
    s.coupon_ids = ids.iter().map(|&i| i.to_owned()).collect();
    s
}

fn at_store(mut s: Sale, store: &str) -> Sale {
    s.store_id = store.to_owned();
    s
}

fn refund(id: &str, date: &str, lines: Vec<Line>) -> Refund {
    Refund {
        refund_id: id.to_owned(),
        business_date: d(date),
        lines,
    }
}

fn lot(id: &str, earned_on: &str, expires_on: &str, points: Points) -> PointLot {
    PointLot {
        lot_id: id.to_owned(),
        earned_on: d(earned_on),
        expires_on: d(expires_on),
        points,
    }
}

fn coupon(id: &str, benefit: CouponBenefit, from: &str, until: &str) -> Coupon {
    Coupon {
        coupon_id: id.to_owned(),
        benefit,
        valid_from: d(from),
        valid_until: d(until),
    }
}

fn discount(value_yen: Yen) -> CouponBenefit {
    CouponBenefit::Discount { value_yen }
}

fn points_bonus(points: Points) -> CouponBenefit {
    CouponBenefit::PointsBonus { points }
}

/// A member with this much qualifying spend on one day.
fn spent(yen: Yen, on: &str) -> MemberState {
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
fn holding(lots: Vec<PointLot>) -> MemberState {
    MemberState {
        lots,
        ..MemberState::default()
    }
}

fn holding_coupons(coupons: Vec<Coupon>) -> MemberState {
    MemberState {
        coupons: coupons
            .into_iter()
            .map(|c| (c.coupon_id.clone(), c))
            .collect(),
        ..MemberState::default()
    }
}

fn eval(rules: &RuleSet, state: &MemberState, s: &Sale) -> SaleOutcome {
    evaluate_sale(rules, state, s).unwrap_or_else(|e| panic!("sale {}: {e}", s.sale_id))
}

/// Evaluates and applies a sale.
fn sell(rules: &RuleSet, state: &mut MemberState, s: &Sale) -> SaleOutcome {
    let o = eval(rules, state, s);
    state.apply_sale(&o);
    o
}

/// Evaluates and applies a refund of `s` (whose outcome is `o`), after `earlier` refunded lines.
fn take_back(
    rules: &RuleSet,
    state: &mut MemberState,
    s: &Sale,
    o: &SaleOutcome,
    earlier: &[Line],
    r: &Refund,
) -> RefundOutcome {
    let out = evaluate_refund(rules, state, &s.lines, o, earlier, r)
        .unwrap_or_else(|e| panic!("refund {}: {e}", r.refund_id));
    state.apply_refund(&out);
    out
}

fn demo_with(f: impl FnOnce(&mut RuleSet)) -> RuleSet {
    let mut rules = RuleSet::demo();
    f(&mut rules);
    rules.validate().unwrap();
    rules
}

fn campaign(id: &str, benefit: CampaignBenefit) -> Campaign {
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

fn multiplier(id: &str, percent: u32) -> Campaign {
    campaign(id, CampaignBenefit::Multiplier { percent })
}

fn bonus(id: &str, points: Points) -> Campaign {
    campaign(id, CampaignBenefit::Bonus { points })
}

/// (qualifying spend, tier, next tier and the yen to it)
type TierCase = (Yen, &'static str, Option<(&'static str, Yen)>);
/// Points by lot id.
type LotPoints = Vec<(&'static str, Points)>;
/// Whether a refund completes the sale, or why it is refused.
type Completes = Result<bool, RefundError>;
/// (gross before, gross after, eligible before, eligible after, refunded)
type ShareYen = (Yen, Yen, Yen, Yen, Yen);

const PREMIER_SPEND: Yen = 50_000;
/// A Sunday.
const DAY: &str = "2026-11-22";

// ---------------------------------------------------------------------------------------------
// Earning
// ---------------------------------------------------------------------------------------------

#[test]
fn earning_table() {
    struct Case {
        name: &'static str,
        lines: Vec<Line>,
        prior_spend: Yen,
        points: Points,
    }
    let cases = [
        Case {
            name: "nothing under ¥100",
            lines: vec![item("a", 99)],
            prior_spend: 0,
            points: 0,
        },
        Case {
            name: "¥100 is one point",
            lines: vec![item("a", 100)],
            prior_spend: 0,
            points: 1,
        },
        Case {
            name: "rounded down",
            lines: vec![item("a", 199)],
            prior_spend: 0,
            points: 1,
        },
        Case {
            name: "large sale",
            lines: vec![item("a", 123_456)],
            prior_spend: 0,
            points: 1_234,
        },
        Case {
            name: "rounding after summing lines, not per line",
            lines: vec![item("a", 50), item("b", 50)],
            prior_spend: 0,
            points: 1,
        },
        Case {
            name: "three lines of ¥150",
            lines: vec![item("a", 150), item("b", 150), item("c", 150)],
            prior_spend: 0,
            points: 4,
        },
        Case {
            name: "a line without a category earns",
            lines: vec![line("a", None, 1, 1_000)],
            prior_spend: 0,
            points: 10,
        },
        Case {
            name: "quantity does not matter, the line's amount does",
            lines: vec![line("a", Some("food"), 7, 700)],
            prior_spend: 0,
            points: 7,
        },
        Case {
            name: "giftcard earns nothing",
            lines: vec![gift("g", 10_000)],
            prior_spend: 0,
            points: 0,
        },
        Case {
            name: "giftcard excluded, the rest earns",
            lines: vec![gift("g", 10_000), item("a", 1_050)],
            prior_spend: 0,
            points: 10,
        },
        Case {
            name: "category names are exact",
            lines: vec![line("g", Some("GiftCard"), 1, 1_000)],
            prior_spend: 0,
            points: 10,
        },
        Case {
            name: "standard just under the threshold",
            lines: vec![item("a", 1_000)],
            prior_spend: PREMIER_SPEND - 1,
            points: 10,
        },
        Case {
            name: "premier earns 2×",
            lines: vec![item("a", 1_000)],
            prior_spend: PREMIER_SPEND,
            points: 20,
        },
        Case {
            name: "premier giftcard still earns nothing",
            lines: vec![gift("g", 1_000)],
            prior_spend: 1_000_000,
            points: 0,
        },
        // Judgement call kept: the multiplier applies to the yen before the one rounding, so
        // ¥150 at 2× is 3 points (not floor(1.5) × 2 = 2).
        Case {
            name: "premier multiplies before rounding",
            lines: vec![item("a", 150)],
            prior_spend: PREMIER_SPEND,
            points: 3,
        },
    ];
    let rules = RuleSet::demo();
    for c in cases {
        let state = spent(c.prior_spend, "2026-11-01");
        let o = eval(&rules, &state, &sale("s", DAY, c.lines));
        assert_eq!(o.earned_points, c.points, "{}", c.name);
        let expected_tier = if c.prior_spend >= PREMIER_SPEND {
            "premier"
        } else {
            "standard"
        };
        assert_eq!(o.tier_at_start, expected_tier, "{}", c.name);
        assert_eq!(
            o.earned_lot.as_ref().map_or(0, |l| l.points),
            c.points,
            "{}",
            c.name
        );
    }
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

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

#[test]
fn campaign_stacking_table() {
    struct Case {
        name: &'static str,
        stacking: Stacking,
        premier: bool,
        campaigns: Vec<Campaign>,
        points: Points,
    }
    use Stacking::{Additive, Best, Multiplicative};
    let cases = [
        Case {
            name: "no campaign",
            stacking: Additive,
            premier: false,
            campaigns: vec![],
            points: 10,
        },
        Case {
            name: "additive standard 150 %",
            stacking: Additive,
            premier: false,
            campaigns: vec![multiplier("x", 150)],
            points: 15,
        },
        Case {
            name: "additive premier 200 % + 150 % = 250 %",
            stacking: Additive,
            premier: true,
            campaigns: vec![multiplier("x", 150)],
            points: 25,
        },
        Case {
            name: "additive two campaigns 100 % + 50 % + 50 %",
            stacking: Additive,
            premier: false,
            campaigns: vec![multiplier("x", 150), multiplier("y", 150)],
            points: 20,
        },
        Case {
            name: "additive campaign below 100 % lowers the rate",
            stacking: Additive,
            premier: true,
            campaigns: vec![multiplier("x", 50)],
            points: 15,
        },
        Case {
            name: "additive sums the extras before any floor at 0 %",
            stacking: Additive,
            premier: false,
            campaigns: vec![multiplier("x", 1), multiplier("y", 1), multiplier("z", 500)],
            points: 30,
        },
        Case {
            name: "additive never goes below 0 %",
            stacking: Additive,
            premier: false,
            campaigns: vec![multiplier("x", 1), multiplier("y", 1)],
            points: 0,
        },
        Case {
            name: "multiplicative standard 150 %",
            stacking: Multiplicative,
            premier: false,
            campaigns: vec![multiplier("x", 150)],
            points: 15,
        },
        Case {
            name: "multiplicative premier 200 % × 150 % = 300 %",
            stacking: Multiplicative,
            premier: true,
            campaigns: vec![multiplier("x", 150)],
            points: 30,
        },
        Case {
            name: "multiplicative two campaigns 150 % × 150 % = 225 %, rounded down",
            stacking: Multiplicative,
            premier: false,
            campaigns: vec![multiplier("x", 150), multiplier("y", 150)],
            points: 22,
        },
        Case {
            name: "best premier 200 % beats 150 %",
            stacking: Best,
            premier: true,
            campaigns: vec![multiplier("x", 150)],
            points: 20,
        },
        Case {
            name: "best 300 % beats premier 200 %",
            stacking: Best,
            premier: true,
            campaigns: vec![multiplier("x", 300), multiplier("y", 150)],
            points: 30,
        },
        Case {
            name: "best standard 150 %",
            stacking: Best,
            premier: false,
            campaigns: vec![multiplier("x", 150), multiplier("y", 120)],
            points: 15,
        },
        Case {
            name: "fixed bonus is added",
            stacking: Additive,
            premier: false,
            campaigns: vec![bonus("b", 50)],
            points: 60,
        },
        Case {
            name: "fixed bonus is not multiplied by the tier",
            stacking: Additive,
            premier: true,
            campaigns: vec![bonus("b", 50)],
            points: 70,
        },
        Case {
            name: "fixed bonus on top of a multiplier, every stacking",
            stacking: Multiplicative,
            premier: true,
            campaigns: vec![bonus("b", 5), multiplier("x", 150), bonus("c", 1)],
            points: 36,
        },
        Case {
            name: "fixed bonus with best stacking",
            stacking: Best,
            premier: false,
            campaigns: vec![multiplier("x", 300), bonus("b", 7)],
            points: 37,
        },
    ];
    for c in cases {
        let rules = demo_with(|r| {
            r.earning.stacking = c.stacking;
            r.campaigns = c.campaigns.clone();
        });
        let state = if c.premier {
            spent(PREMIER_SPEND, "2026-11-01")
        } else {
            MemberState::default()
        };
        let o = eval(&rules, &state, &sale("s", DAY, vec![item("a", 1_000)]));
        assert_eq!(o.earned_points, c.points, "{}", c.name);
        let ids: Vec<String> = c.campaigns.iter().map(|c| c.id.clone()).collect();
        assert_eq!(o.campaigns_applied, ids, "{}", c.name);
    }
}

#[test]
fn campaign_filter_table() {
    struct Case {
        name: &'static str,
        campaign: Campaign,
        sale: Sale,
        applies: bool,
    }
    let base = || bonus("b", 100);
    let plain = |date: &str| sale("s", date, vec![item("a", 1_000)]);
    let cases = [
        Case {
            name: "within the dates",
            campaign: base(),
            sale: plain(DAY),
            applies: true,
        },
        Case {
            name: "the day before it starts",
            campaign: Campaign {
                starts_on: d("2026-11-23"),
                ..base()
            },
            sale: plain(DAY),
            applies: false,
        },
        Case {
            name: "on its first day",
            campaign: Campaign {
                starts_on: d(DAY),
                ..base()
            },
            sale: plain(DAY),
            applies: true,
        },
        Case {
            name: "on its last day",
            campaign: Campaign {
                ends_on: d(DAY),
                ..base()
            },
            sale: plain(DAY),
            applies: true,
        },
        Case {
            name: "the day after it ends",
            campaign: Campaign {
                ends_on: d("2026-11-21"),
                ..base()
            },
            sale: plain(DAY),
            applies: false,
        },
        Case {
            name: "a one-day campaign",
            campaign: Campaign {
                starts_on: d(DAY),
                ends_on: d(DAY),
                ..base()
            },
            sale: plain(DAY),
            applies: true,
        },
        Case {
            name: "weekend campaign on a Sunday",
            campaign: Campaign {
                weekdays: BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun]),
                ..base()
            },
            sale: plain("2026-11-22"),
            applies: true,
        },
        Case {
            name: "weekend campaign on a Monday",
            campaign: Campaign {
                weekdays: BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun]),
                ..base()
            },
            sale: plain("2026-11-23"),
            applies: false,
        },
        Case {
            name: "Wednesday campaign on a Wednesday",
            campaign: Campaign {
                weekdays: BTreeSet::from([WeekdayKey::Wed]),
                ..base()
            },
            sale: plain("2026-11-25"),
            applies: true,
        },
        Case {
            name: "in one of its stores",
            campaign: Campaign {
                stores: BTreeSet::from(["shibuya".to_owned(), "ueno".to_owned()]),
                ..base()
            },
            sale: at_store(plain(DAY), "ueno"),
            applies: true,
        },
        Case {
            name: "in another store",
            campaign: Campaign {
                stores: BTreeSet::from(["shibuya".to_owned()]),
                ..base()
            },
            sale: plain(DAY),
            applies: false,
        },
        Case {
            name: "minimum spend reached exactly",
            campaign: Campaign {
                min_spend_yen: 1_000,
                ..base()
            },
            sale: plain(DAY),
            applies: true,
        },
        Case {
            name: "minimum spend missed by ¥1",
            campaign: Campaign {
                min_spend_yen: 1_001,
                ..base()
            },
            sale: plain(DAY),
            applies: false,
        },
        Case {
            name: "minimum spend counts eligible spend only",
            campaign: Campaign {
                min_spend_yen: 1_000,
                ..base()
            },
            sale: sale("s", DAY, vec![item("a", 999), gift("g", 5_000)]),
            applies: false,
        },
        Case {
            name: "minimum spend counts spend after a points discount",
            campaign: Campaign {
                min_spend_yen: 1_000,
                ..base()
            },
            sale: redeeming(sale("s", DAY, vec![item("a", 1_050)]), 51),
            applies: false,
        },
    ];
    for c in cases {
        let rules = demo_with(|r| r.campaigns = vec![c.campaign.clone()]);
        let state = holding(vec![lot("old", "2026-11-01", "2027-11-30", 1_000)]);
        let without = demo_with(|r| r.campaigns.clear());
        let base_points = eval(&without, &state, &c.sale).earned_points;
        let o = eval(&rules, &state, &c.sale);
        if c.applies {
            assert_eq!(o.campaigns_applied, vec!["b".to_owned()], "{}", c.name);
            assert_eq!(o.earned_points, base_points + 100, "{}", c.name);
        } else {
            assert!(o.campaigns_applied.is_empty(), "{}", c.name);
            assert_eq!(o.earned_points, base_points, "{}", c.name);
        }
    }
}

#[test]
fn a_bonus_campaign_on_a_sale_without_eligible_spend() {
    let rules = demo_with(|r| r.campaigns = vec![bonus("b", 30)]);
    let mut state = MemberState::default();
    let o = sell(&rules, &mut state, &sale("s", DAY, vec![gift("g", 3_000)]));
    assert_eq!(o.earned_points, 30);
    assert_eq!(state.balance(d(DAY)), 30);
}

// ---------------------------------------------------------------------------------------------
// Tiers and the rolling window
// ---------------------------------------------------------------------------------------------

#[test]
fn tier_table() {
    let rules = RuleSet::demo();
    let cases: [TierCase; 6] = [
        (0, "standard", Some(("premier", 50_000))),
        (1, "standard", Some(("premier", 49_999))),
        (12_345, "standard", Some(("premier", 37_655))),
        (49_999, "standard", Some(("premier", 1))),
        (50_000, "premier", None),
        (10_000_000, "premier", None),
    ];
    for (spend, tier, next) in cases {
        assert_eq!(rules.tier_for(spend).name, tier, "¥{spend}");
        let got = rules
            .next_tier(spend)
            .map(|(l, yen)| (l.name.as_str(), yen));
        assert_eq!(got, next, "¥{spend}");
        let summary = spent(spend, "2026-11-01").summary(&rules, d(DAY));
        assert_eq!(summary.tier, tier, "¥{spend}");
        assert_eq!(summary.qualifying_spend, spend);
        assert_eq!(
            summary.next_tier,
            next.map(|(n, y)| (n.to_owned(), y)),
            "¥{spend}"
        );
    }
}

#[test]
fn three_tiers_next_tier() {
    let rules = demo_with(|r| {
        r.tiers.levels.push(tenpo_loyalty::TierLevel {
            name: "gold".into(),
            from_yen: 200_000,
            multiplier_percent: 300,
        });
    });
    let cases: [TierCase; 4] = [
        (0, "standard", Some(("premier", 50_000))),
        (50_000, "premier", Some(("gold", 150_000))),
        (199_999, "premier", Some(("gold", 1))),
        (200_000, "gold", None),
    ];
    for (spend, tier, next) in cases {
        assert_eq!(rules.tier_for(spend).name, tier);
        assert_eq!(
            rules.next_tier(spend).map(|(l, y)| (l.name.as_str(), y)),
            next
        );
    }
    let o = eval(
        &rules,
        &spent(200_000, "2026-11-01"),
        &sale("s", DAY, vec![item("a", 1_000)]),
    );
    assert_eq!((o.tier_at_start.as_str(), o.earned_points), ("gold", 30));
}

#[test]
fn rolling_window_table() {
    let rules = RuleSet::demo();
    // (spent on, looked at on, counts)
    let cases = [
        ("2026-11-22", "2026-11-22", true),
        ("2025-11-23", "2026-11-22", true),
        ("2025-11-22", "2026-11-22", false),
        ("2025-11-21", "2026-11-22", false),
        ("2026-11-23", "2026-11-22", false), // not yet
        ("2025-03-01", "2026-02-28", true),
        ("2025-02-28", "2026-02-28", false),
        ("2024-02-29", "2025-02-28", true),
        ("2024-03-01", "2025-03-01", false),
        ("2024-03-02", "2025-03-01", true),
        ("2025-01-01", "2025-12-31", true),
        ("2024-12-31", "2025-12-31", false),
    ];
    for (on, at, counts) in cases {
        let state = spent(60_000, on);
        let got = state.qualifying_spend(&rules, d(at));
        assert_eq!(
            got,
            if counts { 60_000 } else { 0 },
            "spent {on}, seen {at}"
        );
        assert_eq!(
            state.summary(&rules, d(at)).tier,
            if counts { "premier" } else { "standard" }
        );
    }
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

// ---------------------------------------------------------------------------------------------
// Stamps
// ---------------------------------------------------------------------------------------------

#[test]
fn stamp_table() {
    struct Case {
        name: &'static str,
        sale: Sale,
        last_stamp_on: Option<&'static str>,
        added: u32,
    }
    let cases = [
        Case {
            name: "¥999 is not enough",
            sale: sale("s", DAY, vec![item("a", 999)]),
            last_stamp_on: None,
            added: 0,
        },
        Case {
            name: "¥1,000 earns a stamp",
            sale: sale("s", DAY, vec![item("a", 1_000)]),
            last_stamp_on: None,
            added: 1,
        },
        Case {
            name: "lines are summed",
            sale: sale("s", DAY, vec![item("a", 400), item("b", 600)]),
            last_stamp_on: None,
            added: 1,
        },
        Case {
            name: "one stamp however large",
            sale: sale("s", DAY, vec![item("a", 99_000)]),
            last_stamp_on: None,
            added: 1,
        },
        Case {
            name: "giftcards do not count",
            sale: sale("s", DAY, vec![gift("g", 5_000), item("a", 999)]),
            last_stamp_on: None,
            added: 0,
        },
        Case {
            name: "spend after a points discount",
            sale: redeeming(sale("s", DAY, vec![item("a", 1_500)]), 501),
            last_stamp_on: Some("2026-11-21"),
            added: 0,
        },
        Case {
            name: "spend after a coupon discount",
            sale: with_coupons(sale("s", DAY, vec![item("a", 1_499)]), &["c500"]),
            last_stamp_on: None,
            added: 0,
        },
        Case {
            name: "already stamped today",
            sale: sale("s", DAY, vec![item("a", 5_000)]),
            last_stamp_on: Some(DAY),
            added: 0,
        },
        Case {
            name: "stamped yesterday",
            sale: sale("s", DAY, vec![item("a", 5_000)]),
            last_stamp_on: Some("2026-11-21"),
            added: 1,
        },
    ];
    let rules = RuleSet::demo();
    for c in cases {
        let mut state = MemberState {
            lots: vec![lot("old", "2026-11-01", "2027-11-30", 1_000)],
            stamps: StampCard {
                count: 3,
                last_stamp_on: c.last_stamp_on.map(d),
                ..Default::default()
            },
            ..holding_coupons(vec![coupon(
                "c500",
                discount(500),
                "2026-01-01",
                "2026-12-31",
            )])
        };
        let o = sell(&rules, &mut state, &c.sale);
        assert_eq!(o.stamps.added, c.added, "{}", c.name);
        assert_eq!(o.stamps.count_before, 3, "{}", c.name);
        assert_eq!(o.stamps.count_after, 3 + c.added, "{}", c.name);
        assert_eq!(state.stamps.count, 3 + c.added, "{}", c.name);
        let last = if c.added > 0 {
            Some(d(DAY))
        } else {
            c.last_stamp_on.map(d)
        };
        assert_eq!(state.stamps.last_stamp_on, last, "{}", c.name);
    }
}

#[test]
fn one_stamp_a_day_then_again_the_next_day() {
    let rules = RuleSet::demo();
    let mut state = MemberState::default();
    let visits = [
        ("a", DAY, 1),
        ("b", DAY, 0),
        ("c", DAY, 0),
        ("d", "2026-11-23", 1),
        ("e", "2026-11-23", 0),
    ];
    for (id, day, added) in visits {
        let o = sell(&rules, &mut state, &sale(id, day, vec![item("x", 2_000)]));
        assert_eq!(o.stamps.added, added, "visit {id}");
    }
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

#[test]
fn stamps_per_spend_can_complete_several_cards() {
    let rules = demo_with(|r| {
        r.stamps.card_size = 3;
        r.stamps.earn = StampEarn::Spend { yen_per_stamp: 500 };
    });
    let mut state = MemberState::default();
    let cases: [(&str, &str, Yen, u32, u32, u32); 5] = [
        // (sale, day, yen, added, cards completed, count after)
        ("a", DAY, 499, 0, 0, 0),
        ("b", DAY, 1_499, 2, 0, 2),
        ("c", DAY, 500, 1, 1, 0), // several a day are fine when stamps are per spend
        ("d", DAY, 5_200, 10, 3, 1),
        ("e", "2026-11-23", 999, 1, 0, 2),
    ];
    for (id, day, yen, added, cards, after) in cases {
        let o = sell(&rules, &mut state, &sale(id, day, vec![item("x", yen)]));
        assert_eq!(
            (
                o.stamps.added,
                o.stamps.cards_completed,
                o.stamps.count_after
            ),
            (added, cards, after),
            "{id}"
        );
        assert_eq!(o.coupons_issued.len(), cards as usize, "{id}");
    }
    let ids: Vec<&str> = state.coupons.keys().map(String::as_str).collect();
    assert_eq!(ids, ["c/card-1", "d/card-1", "d/card-2", "d/card-3"]);
}

// ---------------------------------------------------------------------------------------------
// Coupons
// ---------------------------------------------------------------------------------------------

#[test]
fn coupon_table() {
    struct Case {
        name: &'static str,
        lines: Vec<Line>,
        coupons: Vec<&'static str>,
        result: Result<(Yen, Points), SaleError>,
    }
    let cases = [
        Case {
            name: "¥500 off is taken before earning",
            lines: vec![item("a", 3_000)],
            coupons: vec!["off500"],
            result: Ok((500, 25)),
        },
        Case {
            name: "discount is at most the sale's amount",
            lines: vec![item("a", 300)],
            coupons: vec!["off500"],
            result: Ok((300, 0)),
        },
        Case {
            name: "two discounts",
            lines: vec![item("a", 3_000)],
            coupons: vec!["off500", "off200"],
            result: Ok((700, 23)),
        },
        Case {
            name: "points bonus is added to what the sale earns",
            lines: vec![item("a", 1_000)],
            coupons: vec!["bonus100"],
            result: Ok((0, 110)),
        },
        Case {
            name: "points bonus with a discount",
            lines: vec![item("a", 1_000)],
            coupons: vec!["bonus100", "off500"],
            result: Ok((500, 105)),
        },
        Case {
            name: "valid on its first day",
            lines: vec![item("a", 1_000)],
            coupons: vec!["starts-today"],
            result: Ok((100, 9)),
        },
        Case {
            name: "valid on its last day",
            lines: vec![item("a", 1_000)],
            coupons: vec!["ends-today"],
            result: Ok((100, 9)),
        },
        Case {
            name: "unknown",
            lines: vec![item("a", 1_000)],
            coupons: vec!["nope"],
            result: Err(SaleError::UnknownCoupon {
                coupon_id: "nope".into(),
            }),
        },
        Case {
            name: "expired",
            lines: vec![item("a", 1_000)],
            coupons: vec!["expired"],
            result: Err(SaleError::CouponNotValid {
                coupon_id: "expired".into(),
                valid_from: d("2026-10-01"),
                valid_until: d("2026-11-21"),
            }),
        },
        Case {
            name: "not yet valid",
            lines: vec![item("a", 1_000)],
            coupons: vec!["tomorrow"],
            result: Err(SaleError::CouponNotValid {
                coupon_id: "tomorrow".into(),
                valid_from: d("2026-11-23"),
                valid_until: d("2026-12-31"),
            }),
        },
        Case {
            name: "listed twice",
            lines: vec![item("a", 1_000)],
            coupons: vec!["off500", "off200", "off500"],
            result: Err(SaleError::DuplicateCoupon {
                coupon_id: "off500".into(),
            }),
        },
    ];
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
    for c in cases {
        let s = with_coupons(sale("s", DAY, c.lines), &c.coupons);
        let got =
            evaluate_sale(&rules, &state, &s).map(|o| (o.coupon_discount_yen, o.earned_points));
        assert_eq!(got, c.result, "{}", c.name);
        if let Ok(o) = evaluate_sale(&rules, &state, &s) {
            let used: Vec<&str> = o
                .coupons_used
                .iter()
                .map(|c| c.coupon_id.as_str())
                .collect();
            assert_eq!(used, c.coupons, "{}", c.name);
            let mut after = state.clone();
            after.apply_sale(&o);
            for id in &c.coupons {
                assert!(
                    !after.coupons.contains_key(*id),
                    "{}: {id} is used up",
                    c.name
                );
            }
        }
    }
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

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

#[test]
fn expiry_table() {
    let end_of_month = RuleSet::demo();
    let same_day = demo_with(|r| r.expiry.at = ExpiryAt::SameDay);
    let one_month_eom = demo_with(|r| r.expiry.months = 1);
    // (rules, earned on, last usable day)
    let cases = [
        (&end_of_month, "2026-11-22", "2027-11-30"),
        (&end_of_month, "2026-11-01", "2027-11-30"),
        (&end_of_month, "2026-11-30", "2027-11-30"),
        (&end_of_month, "2026-12-01", "2027-12-31"),
        (&end_of_month, "2026-01-31", "2027-01-31"),
        (&end_of_month, "2027-02-15", "2028-02-29"),
        (&end_of_month, "2024-02-29", "2025-02-28"),
        (&one_month_eom, "2026-01-31", "2026-02-28"),
        (&one_month_eom, "2026-12-10", "2027-01-31"),
        // Same day: usable up to the day before the same day of the month, 12 months later.
        (&same_day, "2026-11-22", "2027-11-21"),
        (&same_day, "2026-03-01", "2027-02-28"),
        (&same_day, "2026-12-31", "2027-12-30"),
        // The same day clamps to a shorter month before the day is taken off.
        (&same_day, "2024-02-29", "2025-02-27"),
    ];
    for (rules, earned, last) in cases {
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
}

#[test]
fn expired_points_cannot_be_used() {
    let rules = RuleSet::demo();
    let state = holding(vec![
        lot("old", "2025-11-22", "2026-11-30", 100),
        lot("new", "2026-11-22", "2027-11-30", 50),
    ]);
    // (day, balance)
    for (day, balance) in [
        ("2026-11-30", 150),
        ("2026-12-01", 50),
        ("2027-11-30", 50),
        ("2027-12-01", 0),
    ] {
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
    let summary = state.summary(&rules, d("2026-12-01"));
    assert_eq!(summary.balance, 50);
    assert_eq!(summary.expiring.len(), 1);
}

#[test]
fn redemption_takes_the_soonest_expiring_lots_first() {
    let rules = RuleSet::demo();
    let state = holding(vec![
        lot("dec", "2025-12-05", "2026-12-31", 50),
        lot("jan-a", "2026-01-03", "2027-01-31", 100),
        lot("jan-b", "2026-01-20", "2027-01-31", 10),
        lot("jun", "2026-06-01", "2027-06-30", 100),
    ]);
    // (points redeemed, lots taken as (id, points), what is left)
    let cases: [(Points, LotPoints, LotPoints); 5] = [
        (
            0,
            vec![],
            vec![("dec", 50), ("jan-a", 100), ("jan-b", 10), ("jun", 100)],
        ),
        (
            30,
            vec![("dec", 30)],
            vec![("dec", 20), ("jan-a", 100), ("jan-b", 10), ("jun", 100)],
        ),
        (
            50,
            vec![("dec", 50)],
            vec![("jan-a", 100), ("jan-b", 10), ("jun", 100)],
        ),
        (
            120,
            vec![("dec", 50), ("jan-a", 70)],
            vec![("jan-a", 30), ("jan-b", 10), ("jun", 100)],
        ),
        (
            260,
            vec![("dec", 50), ("jan-a", 100), ("jan-b", 10), ("jun", 100)],
            vec![],
        ),
    ];
    for (points, taken, left) in cases {
        let mut after = state.clone();
        let o = sell(
            &rules,
            &mut after,
            &redeeming(sale("s", DAY, vec![item("a", 5_000)]), points),
        );
        let got: Vec<(&str, Points)> = o
            .lots_consumed
            .iter()
            .map(|l| (l.lot_id.as_str(), l.points))
            .collect();
        assert_eq!(got, taken, "redeem {points}");
        let rest: Vec<(&str, Points)> = after
            .lots
            .iter()
            .filter(|l| l.lot_id != "s")
            .map(|l| (l.lot_id.as_str(), l.points))
            .collect();
        assert_eq!(rest, left, "redeem {points}");
        assert_eq!(after.balance(d(DAY)), 260 - points + o.earned_points);
    }
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

// ---------------------------------------------------------------------------------------------
// Redemption
// ---------------------------------------------------------------------------------------------

#[test]
fn redemption_table() {
    struct Case {
        name: &'static str,
        rules: RuleSet,
        lines: Vec<Line>,
        coupons: Vec<&'static str>,
        redeem: Points,
        /// (points discount in yen, eligible net, earned)
        result: Result<(Yen, Yen, Points), SaleError>,
    }
    let demo = RuleSet::demo;
    let in_tens = || demo_with(|r| r.redemption.unit_points = 10);
    let two_yen = || demo_with(|r| r.redemption.yen_per_point = 2);
    let cases = [
        Case {
            name: "nothing redeemed",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 0,
            result: Ok((0, 1_000, 10)),
        },
        Case {
            name: "1 point is ¥1 off, taken before earning",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 100,
            result: Ok((100, 900, 9)),
        },
        Case {
            name: "the discount rounds earning down",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 1,
            result: Ok((1, 999, 9)),
        },
        Case {
            name: "the whole sale",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 1_000,
            result: Ok((1_000, 0, 0)),
        },
        Case {
            name: "more than the sale",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 1_001,
            result: Err(SaleError::RedemptionExceedsSale {
                requested: 1_001,
                max: 1_000,
            }),
        },
        Case {
            name: "more than the sale after a coupon",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec!["off500"],
            redeem: 501,
            result: Err(SaleError::RedemptionExceedsSale {
                requested: 501,
                max: 500,
            }),
        },
        Case {
            name: "coupon and points together",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec!["off500"],
            redeem: 300,
            result: Ok((300, 200, 2)),
        },
        Case {
            name: "more than the balance",
            rules: demo(),
            lines: vec![item("a", 10_000)],
            coupons: vec![],
            redeem: 2_001,
            result: Err(SaleError::InsufficientPoints {
                requested: 2_001,
                balance: 2_000,
            }),
        },
        Case {
            name: "negative",
            rules: demo(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: -1,
            result: Err(SaleError::NegativeRedemption),
        },
        Case {
            name: "in units of 10",
            rules: in_tens(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 20,
            result: Ok((20, 980, 9)),
        },
        Case {
            name: "not in units of 10",
            rules: in_tens(),
            lines: vec![item("a", 1_000)],
            coupons: vec![],
            redeem: 15,
            result: Err(SaleError::RedemptionNotInUnits { unit: 10 }),
        },
        Case {
            name: "the most in units is rounded down to a unit",
            rules: in_tens(),
            lines: vec![item("a", 995)],
            coupons: vec![],
            redeem: 995,
            result: Err(SaleError::RedemptionNotInUnits { unit: 10 }),
        },
        Case {
            name: "the most in units",
            rules: in_tens(),
            lines: vec![item("a", 995)],
            coupons: vec![],
            redeem: 1_000,
            result: Err(SaleError::RedemptionExceedsSale {
                requested: 1_000,
                max: 990,
            }),
        },
        Case {
            name: "¥2 a point",
            rules: two_yen(),
            lines: vec![item("a", 1_001)],
            coupons: vec![],
            redeem: 500,
            result: Ok((1_000, 1, 0)),
        },
        Case {
            name: "¥2 a point, at most the sale",
            rules: two_yen(),
            lines: vec![item("a", 1_001)],
            coupons: vec![],
            redeem: 501,
            result: Err(SaleError::RedemptionExceedsSale {
                requested: 501,
                max: 500,
            }),
        },
        // Judgement call kept: discounts come off the eligible spend first, so redeeming on a
        // sale with a giftcard reduces the eligible spend, not the giftcard's.
        Case {
            name: "points may pay for a giftcard, but come off the eligible spend",
            rules: demo(),
            lines: vec![gift("g", 5_000), item("a", 1_000)],
            coupons: vec![],
            redeem: 1_500,
            result: Ok((1_500, 0, 0)),
        },
        Case {
            name: "a partial discount on a mixed sale",
            rules: demo(),
            lines: vec![gift("g", 5_000), item("a", 1_000)],
            coupons: vec![],
            redeem: 500,
            result: Ok((500, 500, 5)),
        },
    ];
    for c in cases {
        let state = MemberState {
            lots: vec![
                lot("l1", "2026-01-01", "2027-01-31", 1_500),
                lot("l2", "2026-02-01", "2027-02-28", 500),
            ],
            ..holding_coupons(vec![coupon(
                "off500",
                discount(500),
                "2026-01-01",
                "2026-12-31",
            )])
        };
        let s = redeeming(with_coupons(sale("s", DAY, c.lines), &c.coupons), c.redeem);
        let got = evaluate_sale(&c.rules, &state, &s);
        let summary = got
            .as_ref()
            .map(|o| (o.points_discount_yen, o.eligible_net_yen, o.earned_points))
            .map_err(Clone::clone);
        assert_eq!(summary, c.result, "{}", c.name);
        if let Ok(o) = got {
            assert_eq!(o.redeemed_points, c.redeem, "{}", c.name);
            assert_eq!(
                o.lots_consumed.iter().map(|l| l.points).sum::<Points>(),
                c.redeem,
                "{}",
                c.name
            );
            assert_eq!(o.qualifying_spend_yen, o.eligible_net_yen, "{}", c.name);
            assert_eq!(
                o.discount_yen(),
                o.coupon_discount_yen + o.points_discount_yen
            );
            let mut after = state.clone();
            after.apply_sale(&o);
            assert_eq!(
                after.balance(d(DAY)),
                2_000 - c.redeem + o.earned_points,
                "{}",
                c.name
            );
        }
    }
}

#[test]
fn sale_line_errors() {
    let rules = RuleSet::demo();
    let state = MemberState::default();
    let cases: [(Vec<Line>, SaleError); 6] = [
        (vec![], SaleError::NoLines),
        (
            vec![item("a", 100), line("b", None, 0, 100)],
            SaleError::BadLine {
                sku: "b".into(),
                problem: "quantity must be at least 1",
            },
        ),
        (
            vec![line("b", None, 1, -1)],
            SaleError::BadLine {
                sku: "b".into(),
                problem: "amount cannot be negative (record returns as refunds)",
            },
        ),
        (
            vec![line("", None, 1, 1)],
            SaleError::BadLine {
                sku: "".into(),
                problem: "the sku is empty",
            },
        ),
        (
            vec![line("b", None, 1, tenpo_loyalty::MAX_YEN + 1)],
            SaleError::BadLine {
                sku: "b".into(),
                problem: "amount is beyond any real purchase",
            },
        ),
        (
            vec![item("a", tenpo_loyalty::MAX_YEN), item("b", 1)],
            SaleError::TooLarge,
        ),
    ];
    for (lines, err) in cases {
        assert_eq!(
            evaluate_sale(&rules, &state, &sale("s", DAY, lines.clone())),
            Err(err.clone())
        );
        assert_eq!(tenpo_loyalty::check_sale_lines(&lines), Err(err.clone()));
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        tenpo_loyalty::check_sale_lines(&[item("a", 10), gift("g", 5)]),
        Ok(15)
    );
    // A sale at the largest amount is fine and does not overflow.
    let big = eval(
        &rules,
        &spent(PREMIER_SPEND, "2026-11-01"),
        &sale("s", DAY, vec![item("a", tenpo_loyalty::MAX_YEN)]),
    );
    assert_eq!(big.earned_points, tenpo_loyalty::MAX_YEN / 50);
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

#[test]
fn partial_refunds_reverse_in_proportion_rounded_down() {
    struct Case {
        name: &'static str,
        prior_spend: Yen,
        sold: Vec<Line>,
        refunded: Vec<Line>,
        /// (earned by the sale, points reversed, stamps reversed, spend reversed)
        expect: (Points, Points, u32, Yen),
    }
    let cases = [
        Case {
            name: "one of two lines",
            prior_spend: 0,
            sold: vec![item("a", 1_000), item("b", 550)],
            refunded: vec![item("b", 550)],
            expect: (15, 5, 0, 550),
        },
        Case {
            name: "the other line",
            prior_spend: 0,
            sold: vec![item("a", 1_000), item("b", 550)],
            refunded: vec![item("a", 1_000)],
            expect: (15, 9, 0, 1_000),
        },
        Case {
            name: "one unit of two",
            prior_spend: 0,
            sold: vec![line("a", Some("food"), 2, 1_999)],
            refunded: vec![line("a", Some("food"), 1, 999)],
            expect: (19, 9, 0, 999),
        },
        Case {
            name: "premier",
            prior_spend: PREMIER_SPEND,
            sold: vec![line("a", Some("food"), 3, 1_000)],
            refunded: vec![line("a", Some("food"), 1, 333)],
            expect: (20, 6, 0, 333),
        },
        Case {
            name: "a giftcard line reverses nothing",
            prior_spend: 0,
            sold: vec![gift("g", 5_000), item("a", 2_000)],
            refunded: vec![gift("g", 5_000)],
            expect: (20, 0, 0, 0),
        },
        Case {
            name: "the eligible line of a sale with a giftcard",
            prior_spend: 0,
            sold: vec![gift("g", 5_000), item("a", 2_000)],
            refunded: vec![item("a", 2_000)],
            expect: (20, 20, 1, 2_000),
        },
        Case {
            name: "the whole sale",
            prior_spend: 0,
            sold: vec![item("a", 1_000), item("b", 550)],
            refunded: vec![item("a", 1_000), item("b", 550)],
            expect: (15, 15, 1, 1_550),
        },
        Case {
            name: "the refund's category is ignored: the sale's counts",
            prior_spend: 0,
            sold: vec![item("a", 1_000), item("b", 1_000)],
            refunded: vec![line("b", Some("giftcard"), 1, 1_000)],
            expect: (20, 10, 0, 1_000),
        },
    ];
    let rules = RuleSet::demo();
    for c in cases {
        let mut state = spent(c.prior_spend, "2026-11-01");
        let s = sale("s", DAY, c.sold);
        let o = sell(&rules, &mut state, &s);
        assert_eq!(o.earned_points, c.expect.0, "{}", c.name);
        let before = state.clone();
        let r = take_back(
            &rules,
            &mut state,
            &s,
            &o,
            &[],
            &refund("r", DAY, c.refunded),
        );
        assert_eq!(
            (
                r.reversed_points,
                r.stamps_reversed,
                r.qualifying_spend_reversed_yen
            ),
            (c.expect.1, c.expect.2, c.expect.3),
            "{}",
            c.name
        );
        assert_eq!(r.shortfall_points, 0, "{}", c.name);
        assert_eq!(r.sale_id, "s");
        assert_eq!(r.refund_id, "r");
        assert_eq!(r.sale_business_date, d(DAY));
        assert_eq!(
            state.balance(d(DAY)),
            before.balance(d(DAY)) - c.expect.1,
            "{}",
            c.name
        );
        assert_eq!(
            state.qualifying_spend(&rules, d(DAY)),
            before.qualifying_spend(&rules, d(DAY)) - c.expect.3,
            "{}",
            c.name
        );
    }
}

/// A member with two lots, a coupon and a stamp card, who buys three units of `x` and one of
/// `y`, redeeming points and using a coupon.
fn refund_fixture() -> (RuleSet, MemberState, Sale) {
    let rules = demo_with(|r| r.campaigns = vec![bonus("b", 7)]);
    let state = MemberState {
        lots: vec![
            lot("l1", "2025-12-01", "2026-12-31", 300),
            lot("l2", "2026-03-01", "2027-03-31", 300),
        ],
        stamps: StampCard {
            count: 9,
            last_stamp_on: Some(d("2026-11-20")),
            ..Default::default()
        },
        ..holding_coupons(vec![coupon(
            "off100",
            discount(100),
            "2026-01-01",
            "2026-12-31",
        )])
    };
    let s = with_coupons(
        redeeming(
            sale(
                "s",
                DAY,
                vec![line("x", Some("food"), 3, 3_000), line("y", None, 1, 1_001)],
            ),
            437,
        ),
        &["off100"],
    );
    (rules, state, s)
}

#[test]
fn refunds_in_parts_reverse_exactly_what_one_whole_refund_would() {
    let (rules, before, s) = refund_fixture();
    let mut state = before.clone();
    let o = sell(&rules, &mut state, &s);
    // (4,001 − 100 − 437) / 100 = 34, plus the campaign's 7.
    assert_eq!(o.earned_points, 41);
    assert_eq!(o.stamps.cards_completed, 1);
    let after_sale = state.clone();

    // One whole refund.
    let mut whole = after_sale.clone();
    let all = vec![line("x", Some("food"), 3, 3_000), line("y", None, 1, 1_001)];
    let one = take_back(&rules, &mut whole, &s, &o, &[], &refund("r", DAY, all));
    assert!(one.completes_sale);
    assert_eq!(whole, before, "a whole refund restores the member");

    // Several partial refunds, in several orders and splits.
    let splits: Vec<Vec<Vec<Line>>> = vec![
        vec![
            vec![line("x", None, 1, 1_000)],
            vec![line("x", None, 1, 1_000)],
            vec![line("x", None, 1, 1_000), line("y", None, 1, 1_001)],
        ],
        vec![
            vec![line("y", None, 1, 1_001)],
            vec![line("x", None, 3, 3_000)],
        ],
        vec![
            vec![line("x", None, 2, 1_999)],
            vec![line("x", None, 1, 1_001), line("y", None, 1, 1_001)],
        ],
        vec![
            vec![line("x", None, 1, 7)],
            vec![line("x", None, 2, 2_993), line("y", None, 1, 1_001)],
        ],
    ];
    for (n, parts) in splits.into_iter().enumerate() {
        // Make the parts add up to the sale: the last part takes whatever is left.
        let parts = complete_parts(&s.lines, parts);
        let mut state = after_sale.clone();
        let mut earlier: Vec<Line> = Vec::new();
        let mut totals = (0, 0, 0, 0, 0);
        for (i, part) in parts.iter().enumerate() {
            let r = take_back(
                &rules,
                &mut state,
                &s,
                &o,
                &earlier,
                &refund(&format!("r{i}"), DAY, part.clone()),
            );
            assert_eq!(r.completes_sale, i + 1 == parts.len(), "split {n} part {i}");
            assert_eq!(r.shortfall_points, 0);
            totals.0 += r.reversed_points;
            totals.1 += r.returned_points;
            totals.2 += r.stamps_reversed;
            totals.3 += r.qualifying_spend_reversed_yen;
            totals.4 += r.cards_uncompleted;
            earlier.extend(part.iter().cloned());
        }
        assert_eq!(
            totals,
            (
                one.reversed_points,
                one.returned_points,
                one.stamps_reversed,
                one.qualifying_spend_reversed_yen,
                one.cards_uncompleted
            ),
            "split {n}"
        );
        assert_eq!(
            state, before,
            "split {n}: the parts together restore the member"
        );
    }
}

/// Appends to the last part what the parts leave unrefunded of the sale.
fn complete_parts(sold: &[Line], mut parts: Vec<Vec<Line>>) -> Vec<Vec<Line>> {
    let mut left: BTreeMap<String, (i64, Yen)> = BTreeMap::new();
    for l in sold {
        let e = left.entry(l.sku.clone()).or_default();
        e.0 += l.quantity;
        e.1 += l.amount_yen;
    }
    for l in parts.iter().flatten() {
        let e = left.get_mut(&l.sku).unwrap();
        e.0 -= l.quantity;
        e.1 -= l.amount_yen;
    }
    let last = parts.last_mut().unwrap();
    for (sku, (q, a)) in left {
        if q > 0 {
            last.push(line(&sku, None, q, a));
        } else {
            assert_eq!((q, a), (0, 0), "the parts overshoot {sku}");
        }
    }
    parts
}

#[test]
fn a_refund_gives_back_redeemed_points_latest_expiring_first() {
    let rules = RuleSet::demo();
    let mut state = holding(vec![
        lot("l1", "2025-12-01", "2026-12-31", 300),
        lot("l2", "2026-03-01", "2027-03-31", 300),
    ]);
    let s = redeeming(
        sale("s", DAY, vec![item("a", 1_000), item("b", 1_000)]),
        400,
    );
    let o = sell(&rules, &mut state, &s);
    assert_eq!(
        o.lots_consumed,
        vec![
            lot("l1", "2025-12-01", "2026-12-31", 300),
            lot("l2", "2026-03-01", "2027-03-31", 100)
        ]
    );
    assert_eq!(o.earned_points, 16);
    assert_eq!(
        state.lots,
        vec![
            lot("l2", "2026-03-01", "2027-03-31", 200),
            lot("s", DAY, "2027-11-30", 16)
        ]
    );

    let r1 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r1", DAY, vec![item("a", 1_000)]),
    );
    assert_eq!((r1.returned_points, r1.reversed_points), (200, 8));
    assert_eq!(
        r1.points_returned,
        vec![
            lot("l2", "2026-03-01", "2027-03-31", 100),
            lot("l1", "2025-12-01", "2026-12-31", 100)
        ]
    );
    assert_eq!(r1.points_reversed, vec![lot("s", DAY, "2027-11-30", 8)]);
    assert_eq!(
        state.lots,
        vec![
            lot("l1", "2025-12-01", "2026-12-31", 100),
            lot("l2", "2026-03-01", "2027-03-31", 300),
            lot("s", DAY, "2027-11-30", 8),
        ]
    );
    let r2 = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[item("a", 1_000)],
        &refund("r2", "2026-11-25", vec![item("b", 1_000)]),
    );
    assert_eq!((r2.returned_points, r2.reversed_points), (200, 8));
    assert_eq!(
        r2.points_returned,
        vec![lot("l1", "2025-12-01", "2026-12-31", 200)]
    );
    assert_eq!(
        state.lots,
        vec![
            lot("l1", "2025-12-01", "2026-12-31", 300),
            lot("l2", "2026-03-01", "2027-03-31", 300)
        ]
    );
    assert!(state.spend.is_empty());
}

#[test]
fn a_refund_after_the_points_were_spent_records_a_shortfall() {
    let rules = RuleSet::demo();
    let mut state = holding(vec![lot("old", "2026-10-01", "2027-10-31", 100)]);
    let s1 = sale("s1", DAY, vec![item("a", 2_000)]);
    let o1 = sell(&rules, &mut state, &s1);
    assert_eq!(o1.earned_points, 20);
    // Spends every point, including the 20 just earned.
    let s2 = redeeming(sale("s2", DAY, vec![item("b", 1_000)]), 120);
    let o2 = sell(&rules, &mut state, &s2);
    assert_eq!(o2.earned_points, 8);
    assert_eq!(state.balance(d(DAY)), 8);

    let r = take_back(
        &rules,
        &mut state,
        &s1,
        &o1,
        &[],
        &refund("r", "2026-11-23", vec![item("a", 2_000)]),
    );
    assert_eq!(r.reversed_points, 20);
    assert_eq!(r.points_reversed, vec![lot("s2", DAY, "2027-11-30", 8)]);
    assert_eq!(r.shortfall_points, 12);
    assert_eq!(state.balance(d("2026-11-23")), 0);
    assert!(state.lots.is_empty());

    // Another refund with nothing left to take: all shortfall, still never negative.
    let r2 = take_back(
        &rules,
        &mut state,
        &s2,
        &o2,
        &[],
        &refund("r2", "2026-11-23", vec![item("b", 1_000)]),
    );
    assert_eq!((r2.reversed_points, r2.shortfall_points), (8, 0));
    assert_eq!(r2.returned_points, 120);
    // Judgement call kept: the earlier shortfall is recorded, not recovered from the points
    // given back later, so the member ends 12 above where they started (100).
    assert_eq!(
        r2.points_reversed,
        vec![lot("old", "2026-10-01", "2027-10-31", 8)]
    );
    assert_eq!(state.balance(d("2026-11-23")), 112);
    assert!(state.lots.iter().all(|l| l.points > 0));
}

#[test]
fn a_refund_takes_back_what_the_own_lot_still_holds_first() {
    let rules = RuleSet::demo();
    let mut state = holding(vec![lot("soon", "2026-01-01", "2027-01-31", 5)]);
    let s1 = sale("s1", DAY, vec![item("a", 2_000)]);
    let o1 = sell(&rules, &mut state, &s1);
    // Uses the 5 soonest-expiring points, then 10 of s1's.
    sell(
        &rules,
        &mut state,
        &redeeming(sale("s2", DAY, vec![item("b", 99)]), 15),
    );
    assert_eq!(state.lots, vec![lot("s1", DAY, "2027-11-30", 10)]);
    let r = take_back(
        &rules,
        &mut state,
        &s1,
        &o1,
        &[],
        &refund("r", DAY, vec![item("a", 2_000)]),
    );
    assert_eq!(r.points_reversed, vec![lot("s1", DAY, "2027-11-30", 10)]);
    assert_eq!(r.shortfall_points, 10);
}

#[test]
fn a_refund_recomputes_tier_progress() {
    let rules = RuleSet::demo();
    let mut state = spent(49_000, "2026-11-01");
    let s = sale("s", DAY, vec![item("a", 1_500), item("b", 500)]);
    let o = sell(&rules, &mut state, &s);
    assert_eq!(state.summary(&rules, d(DAY)).tier, "premier");
    take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", "2026-11-24", vec![item("a", 1_500)]),
    );
    let summary = state.summary(&rules, d("2026-11-24"));
    assert_eq!(summary.tier, "standard");
    assert_eq!(summary.qualifying_spend, 49_500);
    assert_eq!(summary.next_tier, Some(("premier".to_owned(), 500)));
    // The spend is taken off the sale's day, so it leaves the window when the sale would have.
    assert_eq!(
        state.spend,
        BTreeMap::from([(d("2026-11-01"), 49_000), (d(DAY), 500)])
    );
}

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

#[test]
fn refund_errors() {
    let rules = RuleSet::demo();
    let state = MemberState::default();
    let sold = vec![line("x", Some("food"), 2, 1_000), item("y", 10)];
    let s = sale("s", DAY, sold.clone());
    let o = eval(&rules, &state, &s);
    let more = |q: i64, a: Yen| RefundError::MoreThanSold {
        sku: "x".into(),
        sold_quantity: 2,
        sold_yen: 1_000,
        refunded_quantity: q,
        refunded_yen: a,
    };
    let x = |q: i64, a: Yen| line("x", None, q, a);
    let cases: [(Vec<Line>, Vec<Line>, Completes); 12] = [
        (vec![], vec![x(1, 500)], Ok(false)),
        (vec![], vec![x(2, 1_000), item("y", 10)], Ok(true)),
        (vec![x(1, 600)], vec![x(1, 400), item("y", 10)], Ok(true)),
        (vec![x(1, 600)], vec![x(1, 399), item("y", 10)], Ok(false)),
        (vec![], vec![x(3, 1_000)], Err(more(3, 1_000))),
        (vec![], vec![x(1, 1_001)], Err(more(1, 1_001))),
        (vec![x(1, 500)], vec![x(2, 500)], Err(more(3, 1_000))),
        (vec![x(2, 1_000)], vec![x(1, 0)], Err(more(3, 1_000))),
        (
            vec![],
            vec![x(1, 400), x(1, 400), x(1, 1)],
            Err(more(3, 801)),
        ),
        (
            vec![],
            vec![item("z", 1)],
            Err(RefundError::NotInSale { sku: "z".into() }),
        ),
        (vec![], vec![], Err(RefundError::NoLines)),
        (
            vec![],
            vec![x(0, 1)],
            Err(RefundError::BadLine {
                sku: "x".into(),
                problem: "quantity must be at least 1",
            }),
        ),
    ];
    for (earlier, now, expected) in cases {
        let got = evaluate_refund(
            &rules,
            &state,
            &sold,
            &o,
            &earlier,
            &refund("r", DAY, now.clone()),
        )
        .map(|r| r.completes_sale);
        assert_eq!(got, expected, "earlier {earlier:?}, now {now:?}");
        let share = tenpo_loyalty::check_refund_lines(&rules, &sold, &earlier, &now)
            .map(|s| s.completes_sale);
        assert_eq!(share, expected);
        if let Err(e) = got {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn refund_share_table() {
    let rules = RuleSet::demo();
    let sold = vec![
        line("g", Some("giftcard"), 2, 3_000),
        line("x", Some("food"), 2, 1_001),
    ];
    // (earlier, now, (gross before, gross after, eligible before, eligible after, refunded))
    let cases: [(Vec<Line>, Vec<Line>, ShareYen); 4] = [
        (vec![], vec![gift("g", 3_000)], (0, 3_000, 0, 0, 3_000)),
        (vec![], vec![line("x", None, 1, 500)], (0, 500, 0, 500, 500)),
        (
            vec![line("x", None, 1, 500)],
            vec![line("x", None, 1, 501)],
            (500, 1_001, 500, 1_001, 501),
        ),
        (
            vec![gift("g", 1_000)],
            vec![gift("g", 2_000), line("x", None, 2, 1_001)],
            (1_000, 4_001, 0, 1_001, 3_001),
        ),
    ];
    for (earlier, now, e) in cases {
        let s = tenpo_loyalty::check_refund_lines(&rules, &sold, &earlier, &now).unwrap();
        assert_eq!(
            (
                s.gross_before,
                s.gross_after,
                s.eligible_before,
                s.eligible_after,
                s.refunded_yen
            ),
            e
        );
    }
}

#[test]
fn a_sale_without_eligible_spend_is_reversed_in_proportion_of_its_gross() {
    // A campaign bonus on a giftcard-only sale: the sale's points follow its gross amount.
    let rules = demo_with(|r| r.campaigns = vec![bonus("b", 10)]);
    let mut state = MemberState::default();
    let s = sale("s", DAY, vec![gift("g1", 3_000), gift("g2", 1_000)]);
    let o = sell(&rules, &mut state, &s);
    assert_eq!(o.earned_points, 10);
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[],
        &refund("r", DAY, vec![gift("g2", 1_000)]),
    );
    assert_eq!(r.reversed_points, 2);
    let r = take_back(
        &rules,
        &mut state,
        &s,
        &o,
        &[gift("g2", 1_000)],
        &refund("r2", DAY, vec![gift("g1", 3_000)]),
    );
    assert_eq!(r.reversed_points, 8);
    assert_eq!(state, MemberState::default());
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

#[test]
fn date_construction_table() {
    let ok = [
        (2026, 11, 22),
        (2024, 2, 29),
        (2000, 2, 29),
        (1, 1, 1),
        (9999, 12, 31),
        (2026, 4, 30),
        (2026, 12, 31),
    ];
    for (y, m, day) in ok {
        let date = Date::from_ymd(y, m, day).unwrap();
        assert_eq!((date.year(), date.month(), date.day()), (y, m, day));
        assert_eq!(date.to_string().parse::<Date>(), Ok(date));
    }
    let bad = [
        (2026, 2, 29),
        (1900, 2, 29),
        (2100, 2, 29),
        (2026, 4, 31),
        (2026, 1, 32),
        (2026, 1, 0),
        (2026, 0, 1),
        (2026, 13, 1),
        (0, 1, 1),
        (10_000, 1, 1),
        (-1, 1, 1),
        // Days and months beyond 255 must not wrap around to a valid day.
        (2026, 1, 257),
        (2026, 1, 256 + 31),
        (2026, 257, 1),
        (2026, 1, u32::MAX),
    ];
    for (y, m, day) in bad {
        assert_eq!(
            Date::from_ymd(y, m, day),
            Err(DateError::OutOfRange {
                year: y,
                month: m,
                day
            }),
            "{y}-{m}-{day}"
        );
    }
}

#[test]
fn date_parsing_table() {
    let bad = [
        "",
        "2026-11-2",
        "2026-11-222",
        "2026-11-22 ",
        " 2026-11-22",
        "2026-11-22T00:00",
        "2026_11_22",
        "20261122xx",
        "abcd-ef-gh",
        "2026-+1-22",
        "2026--1-22",
        "-026-11-22",
        "0000-01-01",
        "2026-02-30",
        "2026-ab-01",
        "２０２６-11-22",
        "2026-11-2\u{00e9}",
    ];
    for s in bad {
        let err = s.parse::<Date>().unwrap_err();
        assert!(!err.to_string().is_empty(), "{s:?}");
    }
    assert_eq!("0001-01-01".parse(), Ok(Date::MIN));
    assert_eq!("9999-12-31".parse(), Ok(Date::MAX));
    assert_eq!(Date::MIN.to_string(), "0001-01-01");
}

#[test]
fn date_arithmetic_table() {
    // (date, days added, result)
    let days = [
        ("2026-11-22", 0, "2026-11-22"),
        ("2026-11-22", 9, "2026-12-01"),
        ("2026-12-31", 1, "2027-01-01"),
        ("2024-02-28", 1, "2024-02-29"),
        ("2023-02-28", 1, "2023-03-01"),
        ("2024-03-01", -1, "2024-02-29"),
        ("2000-02-28", 1, "2000-02-29"),
        ("1900-02-28", 1, "1900-03-01"),
        ("2026-11-22", 365, "2027-11-22"),
        ("2026-11-22", 179, "2027-05-20"),
        ("1970-01-01", -1, "1969-12-31"),
        ("0001-01-01", -1, "0001-01-01"),
        ("9999-12-31", 1, "9999-12-31"),
        ("2026-11-22", i64::MAX, "9999-12-31"),
        ("2026-11-22", i64::MIN, "0001-01-01"),
        ("2026-11-22", i64::MAX - 1_000_000, "9999-12-31"),
        ("9999-12-31", i64::MAX, "9999-12-31"),
        ("0001-01-01", i64::MIN, "0001-01-01"),
        ("0001-01-01", 3_652_058, "9999-12-31"),
    ];
    for (from, n, to) in days {
        assert_eq!(d(from).add_days(n), d(to), "{from} + {n} days");
    }
    // (date, months added, result)
    let months = [
        ("2026-11-22", 12, "2027-11-22"),
        ("2026-11-22", -12, "2025-11-22"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-12-15", 1, "2027-01-15"),
        ("2026-01-15", -1, "2025-12-15"),
        ("2026-05-31", -13, "2025-04-30"),
        ("0001-01-15", -1, "0001-01-01"),
        ("9999-12-15", 1, "9999-12-31"),
        ("2026-11-22", i32::MAX, "9999-12-31"),
        ("2026-11-22", i32::MIN, "0001-01-01"),
    ];
    for (from, n, to) in months {
        assert_eq!(d(from).add_months(n), d(to), "{from} + {n} months");
    }
    let ends = [
        ("2026-02-01", "2026-02-28"),
        ("2024-02-10", "2024-02-29"),
        ("2026-04-30", "2026-04-30"),
        ("2026-12-01", "2026-12-31"),
        ("2100-02-01", "2100-02-28"),
    ];
    for (from, to) in ends {
        assert_eq!(d(from).end_of_month(), d(to));
    }
}

#[test]
fn date_epoch_days_and_weekdays() {
    let cases = [
        ("1970-01-01", 0, Weekday::Thu),
        ("1969-12-31", -1, Weekday::Wed),
        ("2000-01-01", 10_957, Weekday::Sat),
        ("2026-11-22", 20_779, Weekday::Sun),
        ("2026-11-23", 20_780, Weekday::Mon),
        ("2026-11-24", 20_781, Weekday::Tue),
        ("2026-11-25", 20_782, Weekday::Wed),
        ("2026-11-27", 20_784, Weekday::Fri),
        ("0001-01-01", -719_162, Weekday::Mon),
        ("9999-12-31", 2_932_896, Weekday::Fri),
    ];
    for (s, n, w) in cases {
        assert_eq!(d(s).days_since_epoch(), n, "{s}");
        assert_eq!(Date::from_days_since_epoch(n), Some(d(s)), "{s}");
        assert_eq!(d(s).weekday(), w, "{s}");
    }
    for n in [
        -719_163,
        2_932_897,
        i64::MAX,
        i64::MIN,
        i64::MAX - 719_468,
        i64::MIN + 1,
    ] {
        assert_eq!(Date::from_days_since_epoch(n), None, "{n}");
    }
    assert!(d("2026-11-22") < d("2026-11-23"));
    assert!(d("2026-11-30") < d("2026-12-01"));
    assert!(d("2025-12-31") < d("2026-01-01"));
}

#[test]
fn dates_serialise_as_text() {
    let date = d("2026-11-22");
    assert_eq!(serde_json::to_string(&date).unwrap(), "\"2026-11-22\"");
    assert_eq!(
        serde_json::from_str::<Date>("\"2026-11-22\"").unwrap(),
        date
    );
    assert!(serde_json::from_str::<Date>("\"2026-02-29\"").is_err());
    assert!(serde_json::from_str::<Date>("20261122").is_err());
    // As map keys (the member's spend per day).
    let state = spent(100, "2026-11-22");
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.contains("\"2026-11-22\":100"), "{json}");
    assert_eq!(serde_json::from_str::<MemberState>(&json).unwrap(), state);
    // Quoted in TOML.
    #[derive(serde::Deserialize)]
    struct OnlyDate {
        on: Date,
    }
    let parsed: OnlyDate = toml::from_str("on = \"2026-11-22\"").unwrap();
    assert_eq!(parsed.on, date);
    // And as TOML's own date literal.
    let parsed: OnlyDate = toml::from_str("on = 2026-11-22").unwrap();
    assert_eq!(parsed.on, date);
    for not_a_date in [
        "on = 2026-11-22T10:00:00",
        "on = 2026-11-22T10:00:00+09:00",
        "on = 10:00:00",
        "on = 20261122",
        "on = { year = 2026 }",
        "on = \"2026-11-31\"",
    ] {
        let err = toml::from_str::<OnlyDate>(not_a_date)
            .map(|d| d.on)
            .unwrap_err();
        assert!(!err.to_string().is_empty(), "{not_a_date}");
    }
    assert!(
        serde_json::from_str::<Date>(r#"{"$__toml_private_datetime": "2026-11-22", "x": 1}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<Date>(r#"{"on": "2026-11-22"}"#).is_err());
}

// ---------------------------------------------------------------------------------------------
// The rule set as TOML, and its validation
// ---------------------------------------------------------------------------------------------

const DEMO_TOML: &str = include_str!("../examples/demo-rules.toml");

#[test]
fn the_shipped_example_is_the_demo_program() {
    let rules: RuleSet = toml::from_str(DEMO_TOML).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules, RuleSet::demo());
    rules.validate().unwrap();
    RuleSet::demo().validate().unwrap();
}

#[test]
fn rule_sets_round_trip_through_toml_and_json() {
    let mut rules = RuleSet::demo();
    rules.campaigns = vec![
        Campaign {
            weekdays: BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun]),
            stores: BTreeSet::from(["shibuya".to_owned()]),
            min_spend_yen: 3_000,
            ..multiplier("weekend", 200)
        },
        bonus("autumn", 100),
    ];
    rules.stamps.earn = StampEarn::Spend { yen_per_stamp: 500 };
    rules.stamps.reward.benefit = points_bonus(50);
    rules.expiry.at = ExpiryAt::SameDay;
    rules.earning.stacking = Stacking::Best;
    let text = toml::to_string(&rules).unwrap();
    assert_eq!(toml::from_str::<RuleSet>(&text).unwrap(), rules, "{text}");
    let json = serde_json::to_string(&rules).unwrap();
    assert_eq!(serde_json::from_str::<RuleSet>(&json).unwrap(), rules);
}

const FULL_TOML: &str = r#"
version = 7
name = "autumn"

[earning]
yen_per_point = 200
excluded_categories = ["giftcard", "tobacco"]
stacking = "multiplicative"

[tiers]
window_months = 6
levels = [
    { name = "bronze", from_yen = 0, multiplier_percent = 100 },
    { name = "silver", from_yen = 30_000, multiplier_percent = 150 },
]

[stamps]
card_size = 5
earn = { per = "spend", yen_per_stamp = 500 }
reward = { valid_days = 30, benefit = { kind = "points_bonus", points = 100 } }

[expiry]
months = 6
at = "same_day"

[redemption]
yen_per_point = 1
unit_points = 100

[[campaigns]]
id = "weekend"
starts_on = "2026-11-01"
ends_on = "2026-11-30"
weekdays = ["sat", "sun"]
stores = ["shibuya", "ueno"]
min_spend_yen = 3_000
benefit = { kind = "multiplier", percent = 200 }

[[campaigns]]
id = "opening"
starts_on = 2026-11-22   # TOML's own date literal, or quoted as above
ends_on = 2026-11-22
benefit = { kind = "bonus", points = 50 }
"#;

#[test]
fn a_full_rule_set_in_toml() {
    let rules: RuleSet = toml::from_str(FULL_TOML).unwrap_or_else(|e| panic!("{e}"));
    rules.validate().unwrap();
    assert_eq!(rules.version, 7);
    assert_eq!(rules.earning.excluded_categories.len(), 2);
    assert_eq!(rules.earning.stacking, Stacking::Multiplicative);
    assert_eq!(rules.stamps.earn, StampEarn::Spend { yen_per_stamp: 500 });
    assert_eq!(rules.stamps.reward.benefit, points_bonus(100));
    assert_eq!(rules.expiry.at, ExpiryAt::SameDay);
    assert_eq!(rules.campaigns.len(), 2);
    assert_eq!(
        rules.campaigns[0].weekdays,
        BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun])
    );
    assert_eq!(rules.campaigns[1].min_spend_yen, 0);
    assert!(rules.campaigns[1].weekdays.is_empty() && rules.campaigns[1].stores.is_empty());
    // A silver member's weekend sale in Shibuya on the opening day: 150 % × 200 % = 300 % of
    // 1 point per ¥200, plus 50.
    let state = spent(30_000, "2026-11-01");
    let o = eval(
        &rules,
        &state,
        &at_store(
            sale(
                "s",
                DAY,
                vec![item("a", 4_000), line("t", Some("tobacco"), 1, 600)],
            ),
            "shibuya",
        ),
    );
    assert_eq!(o.tier_at_start, "silver");
    assert_eq!(
        o.campaigns_applied,
        vec!["weekend".to_owned(), "opening".to_owned()]
    );
    assert_eq!(o.earned_points, 60 + 50);
    assert_eq!(o.stamps.added, 8);
    assert_eq!(o.coupons_issued.len(), 1);
    assert_eq!(o.earned_lot.unwrap().expires_on, d("2027-05-21"));
}

#[test]
fn optional_settings_take_their_defaults() {
    let minimal = DEMO_TOML
        .lines()
        .filter(|l| {
            !l.starts_with("excluded_categories")
                && !l.starts_with("stacking")
                && !l.starts_with("at =")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rules: RuleSet = toml::from_str(&minimal).unwrap();
    assert!(rules.earning.excluded_categories.is_empty());
    assert_eq!(rules.earning.stacking, Stacking::Additive);
    assert_eq!(rules.expiry.at, ExpiryAt::EndOfMonth);
    assert!(rules.campaigns.is_empty());
}

#[test]
fn unknown_keys_are_rejected() {
    // (where to add the key, the line added)
    let cases = [
        ("name = \"demo\"", "colour = \"red\""),
        ("yen_per_point = 100", "yen_per_pont = 100"),
        ("window_months = 12", "window = 12"),
        ("multiplier_percent = 200", "multiplier = 2"),
        ("card_size = 10", "cards = 1"),
        ("min_spend_yen = 1_000", "max_spend_yen = 1"),
        ("valid_days = 180", "valid_weeks = 1"),
        ("value_yen = 500", "value = 500"),
        ("\nmonths = 12", "days = 1"),
        ("unit_points = 1", "minimum = 1"),
    ];
    for (after, extra) in cases {
        assert!(DEMO_TOML.contains(after), "{after}");
        let text = DEMO_TOML.replacen(after, &format!("{after}\n{extra}"), 1);
        let err = toml::from_str::<RuleSet>(&text).expect_err(extra);
        let key = extra.split(' ').next().unwrap();
        assert!(err.to_string().contains(key), "{extra}: {err}");
    }
    let bad_campaign = FULL_TOML.replace(
        "min_spend_yen = 3_000",
        "min_spend_yen = 3_000\nmin_items = 2",
    );
    assert!(toml::from_str::<RuleSet>(&bad_campaign).is_err());
    let bad_benefit = FULL_TOML.replace("percent = 200 }", "percent = 200, cap = 1 }");
    assert!(toml::from_str::<RuleSet>(&bad_benefit).is_err());
    // Unknown values are rejected too.
    for (from, to) in [
        ("stacking = \"additive\"", "stacking = \"sum\""),
        ("per = \"visit\"", "per = \"day\""),
        ("kind = \"discount\"", "kind = \"gift\""),
        ("at = \"end_of_month\"", "at = \"end_of_year\""),
    ] {
        assert!(
            toml::from_str::<RuleSet>(&DEMO_TOML.replace(from, to)).is_err(),
            "{to}"
        );
    }
    let bad_weekday = FULL_TOML.replace("[\"sat\", \"sun\"]", "[\"sat\", \"sunday\"]");
    assert!(toml::from_str::<RuleSet>(&bad_weekday).is_err());
    let bad_date = FULL_TOML.replace("2026-11-30", "2026-11-31");
    assert!(toml::from_str::<RuleSet>(&bad_date).is_err());
    // A missing required setting is an error, naming it.
    let missing = DEMO_TOML.replace("card_size = 10", "");
    let err = toml::from_str::<RuleSet>(&missing).unwrap_err();
    assert!(err.to_string().contains("card_size"), "{err}");
}

#[test]
fn validation_names_the_setting_at_fault() {
    type Edit = Box<dyn Fn(&mut RuleSet)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("name", Box::new(|r| r.name = " ".into())),
        (
            "earning.yen_per_point",
            Box::new(|r| r.earning.yen_per_point = 0),
        ),
        (
            "earning.yen_per_point",
            Box::new(|r| r.earning.yen_per_point = -100),
        ),
        ("tiers.levels", Box::new(|r| r.tiers.levels.clear())),
        (
            "tiers.levels[0].from_yen",
            Box::new(|r| r.tiers.levels[0].from_yen = 1),
        ),
        (
            "tiers.levels[1].from_yen",
            Box::new(|r| r.tiers.levels[1].from_yen = 0),
        ),
        (
            "tiers.levels[1].from_yen",
            Box::new(|r| r.tiers.levels[1].from_yen = -5),
        ),
        (
            "tiers.levels[1].from_yen",
            Box::new(|r| r.tiers.levels[1].from_yen = tenpo_loyalty::MAX_YEN + 1),
        ),
        (
            "tiers.levels[1].name",
            Box::new(|r| r.tiers.levels[1].name = "standard".into()),
        ),
        (
            "tiers.levels[0].name",
            Box::new(|r| r.tiers.levels[0].name = String::new()),
        ),
        (
            "tiers.levels[1].multiplier_percent",
            Box::new(|r| r.tiers.levels[1].multiplier_percent = 0),
        ),
        (
            "tiers.levels[0].multiplier_percent",
            Box::new(|r| r.tiers.levels[0].multiplier_percent = 10_001),
        ),
        (
            "tiers.window_months",
            Box::new(|r| r.tiers.window_months = 0),
        ),
        (
            "tiers.window_months",
            Box::new(|r| r.tiers.window_months = 121),
        ),
        ("stamps.card_size", Box::new(|r| r.stamps.card_size = 0)),
        (
            "stamps.earn.min_spend_yen",
            Box::new(|r| r.stamps.earn = StampEarn::Visit { min_spend_yen: -1 }),
        ),
        (
            "stamps.earn.yen_per_stamp",
            Box::new(|r| r.stamps.earn = StampEarn::Spend { yen_per_stamp: 0 }),
        ),
        (
            "stamps.reward.valid_days",
            Box::new(|r| r.stamps.reward.valid_days = 0),
        ),
        (
            "stamps.reward.benefit.value_yen",
            Box::new(|r| r.stamps.reward.benefit = discount(0)),
        ),
        (
            "stamps.reward.benefit.points",
            Box::new(|r| r.stamps.reward.benefit = points_bonus(0)),
        ),
        ("expiry.months", Box::new(|r| r.expiry.months = 0)),
        (
            "redemption.yen_per_point",
            Box::new(|r| r.redemption.yen_per_point = 0),
        ),
        (
            "redemption.unit_points",
            Box::new(|r| r.redemption.unit_points = 0),
        ),
        (
            "campaigns[0].id",
            Box::new(|r| r.campaigns = vec![bonus("", 1)]),
        ),
        (
            "campaigns[1].id",
            Box::new(|r| r.campaigns = vec![bonus("a", 1), bonus("a", 2)]),
        ),
        (
            "campaigns[0].ends_on",
            Box::new(|r| {
                r.campaigns = vec![Campaign {
                    ends_on: d("2025-12-31"),
                    ..bonus("a", 1)
                }]
            }),
        ),
        (
            "campaigns[1].min_spend_yen",
            Box::new(|r| {
                r.campaigns = vec![
                    bonus("a", 1),
                    Campaign {
                        min_spend_yen: -1,
                        ..bonus("b", 1)
                    },
                ]
            }),
        ),
        (
            "campaigns[0].benefit.percent",
            Box::new(|r| r.campaigns = vec![multiplier("a", 0)]),
        ),
        (
            "campaigns[0].benefit.points",
            Box::new(|r| r.campaigns = vec![bonus("a", -1)]),
        ),
    ];
    for (setting, edit) in cases {
        let mut rules = RuleSet::demo();
        edit(&mut rules);
        let err = rules.validate().expect_err(setting);
        assert_eq!(err.setting, setting);
        assert!(err.to_string().contains(&format!("`{setting}`")), "{err}");
    }
    // Values at the edges of their ranges are fine.
    let mut rules = RuleSet::demo();
    rules.campaigns = vec![Campaign {
        starts_on: d(DAY),
        ends_on: d(DAY),
        ..bonus("a", 0)
    }];
    rules.stamps.earn = StampEarn::Visit { min_spend_yen: 0 };
    rules.stamps.card_size = 1;
    rules.tiers.levels.truncate(1);
    rules.validate().unwrap();
}

/// Redemption takes the soonest-expiring lots first even when a snapshot lists them in another
/// order.
#[test]
fn redemption_does_not_trust_the_stored_lot_order() {
    let rules = tenpo_loyalty::RuleSet::demo();
    let day: tenpo_loyalty::Date = "2026-11-22".parse().unwrap();
    let lot = |id: &str, expires: &str, points| tenpo_loyalty::PointLot {
        lot_id: id.into(),
        earned_on: "2026-01-10".parse().unwrap(),
        expires_on: expires.parse().unwrap(),
        points,
    };
    let state = tenpo_loyalty::MemberState {
        lots: vec![
            lot("late", "2027-10-31", 100),
            lot("soon", "2026-12-31", 30),
        ],
        ..Default::default()
    };
    let sale = tenpo_loyalty::Sale {
        sale_id: "s".into(),
        store_id: "st".into(),
        business_date: day,
        lines: vec![tenpo_loyalty::Line {
            sku: "a".into(),
            category: None,
            quantity: 1,
            amount_yen: 1000,
        }],
        redeem_points: 50,
        coupon_ids: vec![],
    };
    let o = tenpo_loyalty::evaluate_sale(&rules, &state, &sale).unwrap();
    let taken: Vec<(&str, i64)> = o
        .lots_consumed
        .iter()
        .map(|l| (l.lot_id.as_str(), l.points))
        .collect();
    assert_eq!(taken, vec![("soon", 30), ("late", 20)]);
    let summary = state.summary(&rules, day);
    assert_eq!(
        summary.expiring[0].expires_on,
        "2026-12-31".parse().unwrap()
    );
}
