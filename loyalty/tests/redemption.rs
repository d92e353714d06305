//! Redemption: 1 point = ¥1 off, taken before earning, in units, soonest-expiring lots first;
//! and the sale lines the engine refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{Line, MemberState, Points, RuleSet, SaleError, Yen, evaluate_sale};

fn in_tens() -> RuleSet {
    demo_with(|r| r.redemption.unit_points = 10)
}

fn two_yen() -> RuleSet {
    demo_with(|r| r.redemption.yen_per_point = 2)
}

/// A member with 2,000 points and a ¥500 coupon `off500` makes a sale `lines` using `coupons`
/// and redeeming `redeem` points: it gives (points discount in yen, eligible net, earned), or is
/// refused.
#[track_caller]
fn redeems(
    name: &str,
    rules: RuleSet,
    lines: &[Line],
    coupons: &[&str],
    redeem: Points,
    result: Result<(Yen, Yen, Points), SaleError>,
) {
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
    let s = redeeming(with_coupons(today(lines), coupons), redeem);
    let got = evaluate_sale(&rules, &state, &s);
    let summary = got
        .as_ref()
        .map(|o| (o.points_discount_yen, o.eligible_net_yen, o.earned_points))
        .map_err(Clone::clone);
    assert_eq!(summary, result, "{name}");
    if let Ok(o) = got {
        assert_eq!(o.redeemed_points, redeem, "{name}");
        assert_eq!(
            o.lots_consumed.iter().map(|l| l.points).sum::<Points>(),
            redeem,
            "{name}"
        );
        assert_eq!(o.qualifying_spend_yen, o.eligible_net_yen, "{name}");
        assert_eq!(
            o.discount_yen(),
            o.coupon_discount_yen + o.points_discount_yen,
            "{name}"
        );
        let mut after = state.clone();
        after.apply_sale(&o);
        assert_eq!(
            after.balance(d(DAY)),
            2_000 - redeem + o.earned_points,
            "{name}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn redemption_table() {
    use SaleError::{
        InsufficientPoints, NegativeRedemption, RedemptionExceedsSale, RedemptionNotInUnits,
    };
    let demo = RuleSet::demo;
    // (case, rules, lines, coupons, points redeemed,
    //  (points discount in yen, eligible net, earned) or the error)
    redeems("nothing redeemed", demo(), &[item("a", 1_000)], &[], 0, Ok((0, 1_000, 10)));
    redeems("1 point is ¥1 off, taken before earning", demo(), &[item("a", 1_000)], &[], 100, Ok((100, 900, 9)));
    redeems("the discount rounds earning down", demo(), &[item("a", 1_000)], &[], 1, Ok((1, 999, 9)));
    redeems("the whole sale", demo(), &[item("a", 1_000)], &[], 1_000, Ok((1_000, 0, 0)));
    redeems("more than the sale", demo(), &[item("a", 1_000)], &[], 1_001, Err(RedemptionExceedsSale { requested: 1_001, max: 1_000 }));
    redeems("more than the sale after a coupon", demo(), &[item("a", 1_000)], &["off500"], 501, Err(RedemptionExceedsSale { requested: 501, max: 500 }));
    redeems("coupon and points together", demo(), &[item("a", 1_000)], &["off500"], 300, Ok((300, 200, 2)));
    redeems("more than the balance", demo(), &[item("a", 10_000)], &[], 2_001, Err(InsufficientPoints { requested: 2_001, balance: 2_000 }));
    redeems("negative", demo(), &[item("a", 1_000)], &[], -1, Err(NegativeRedemption));
    redeems("in units of 10", in_tens(), &[item("a", 1_000)], &[], 20, Ok((20, 980, 9)));
    redeems("not in units of 10", in_tens(), &[item("a", 1_000)], &[], 15, Err(RedemptionNotInUnits { unit: 10 }));
    redeems("the most in units is rounded down to a unit", in_tens(), &[item("a", 995)], &[], 995, Err(RedemptionNotInUnits { unit: 10 }));
    redeems("the most in units", in_tens(), &[item("a", 995)], &[], 1_000, Err(RedemptionExceedsSale { requested: 1_000, max: 990 }));
    redeems("¥2 a point", two_yen(), &[item("a", 1_001)], &[], 500, Ok((1_000, 1, 0)));
    redeems("¥2 a point, at most the sale", two_yen(), &[item("a", 1_001)], &[], 501, Err(RedemptionExceedsSale { requested: 501, max: 500 }));
    // Judgement call kept: discounts come off the eligible spend first, so redeeming on a
    // sale with a giftcard reduces the eligible spend, not the giftcard's.
    redeems("points may pay for a giftcard, but come off the eligible spend", demo(), &[gift("g", 5_000), item("a", 1_000)], &[], 1_500, Ok((1_500, 0, 0)));
    redeems("a partial discount on a mixed sale", demo(), &[gift("g", 5_000), item("a", 1_000)], &[], 500, Ok((500, 500, 5)));
}

/// Four lots, 260 points, expiring in December, January (two) and June.
fn four_lots() -> MemberState {
    holding(vec![
        lot("dec", "2025-12-05", "2026-12-31", 50),
        lot("jan-a", "2026-01-03", "2027-01-31", 100),
        lot("jan-b", "2026-01-20", "2027-01-31", 10),
        lot("jun", "2026-06-01", "2027-06-30", 100),
    ])
}

/// Redeeming `points` from [`four_lots`] takes `taken` (lot, points) and leaves `left`.
#[track_caller]
fn takes(points: Points, taken: &[(&str, Points)], left: &[(&str, Points)]) {
    let rules = RuleSet::demo();
    let mut after = four_lots();
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
    assert_eq!(
        after.balance(d(DAY)),
        260 - points + o.earned_points,
        "redeem {points}"
    );
}

#[test]
#[rustfmt::skip]
fn redemption_takes_the_soonest_expiring_lots_first() {
    // (points redeemed, lots taken as (id, points), what is left)
    takes(0, &[], &[("dec", 50), ("jan-a", 100), ("jan-b", 10), ("jun", 100)]);
    takes(30, &[("dec", 30)], &[("dec", 20), ("jan-a", 100), ("jan-b", 10), ("jun", 100)]);
    takes(50, &[("dec", 50)], &[("jan-a", 100), ("jan-b", 10), ("jun", 100)]);
    takes(120, &[("dec", 50), ("jan-a", 70)], &[("jan-a", 30), ("jan-b", 10), ("jun", 100)]);
    takes(260, &[("dec", 50), ("jan-a", 100), ("jan-b", 10), ("jun", 100)], &[]);
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

// ---------------------------------------------------------------------------------------------
// Sale lines
// ---------------------------------------------------------------------------------------------

/// A sale of `lines` is refused with `err`, by the engine and by the till's own check.
#[track_caller]
fn refuses(lines: &[Line], err: SaleError) {
    let rules = RuleSet::demo();
    let state = MemberState::default();
    assert_eq!(
        evaluate_sale(&rules, &state, &today(lines)),
        Err(err.clone()),
        "{lines:?}"
    );
    assert_eq!(
        tenpo_loyalty::check_sale_lines(lines),
        Err(err.clone()),
        "{lines:?}"
    );
    assert!(!err.to_string().is_empty(), "{lines:?}");
}

#[test]
#[rustfmt::skip]
fn sale_line_errors() {
    use SaleError::{BadLine, NoLines, TooLarge};
    use tenpo_loyalty::MAX_YEN;
    // (lines, error)
    refuses(&[], NoLines);
    refuses(&[item("a", 100), line("b", None, 0, 100)], BadLine { sku: "b".into(), problem: "quantity must be at least 1" });
    refuses(&[line("b", None, 1, -1)], BadLine { sku: "b".into(), problem: "amount cannot be negative (record returns as refunds)" });
    refuses(&[line("", None, 1, 1)], BadLine { sku: "".into(), problem: "the sku is empty" });
    refuses(&[line("b", None, 1, MAX_YEN + 1)], BadLine { sku: "b".into(), problem: "amount is beyond any real purchase" });
    refuses(&[item("a", MAX_YEN), item("b", 1)], TooLarge);
    let rules = RuleSet::demo();
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
