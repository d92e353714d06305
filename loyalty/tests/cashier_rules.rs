//! The answers docs/cashier.md gives a cashier are the engine's: each worked example there is
//! computed here on the demo program, and the page must say what the engine does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tenpo_loyalty::{
    Date, Line, MemberState, Refund, RuleSet, Sale, SaleOutcome, evaluate_refund, evaluate_sale,
};

fn day(d: u32) -> Date {
    Date::from_ymd(2026, 12, d).unwrap()
}

fn line(sku: &str, amount_yen: i64) -> Line {
    Line {
        sku: sku.into(),
        category: None,
        quantity: 1,
        amount_yen,
    }
}

fn sell(
    rules: &RuleSet,
    state: &mut MemberState,
    id: &str,
    date: Date,
    lines: &[Line],
) -> SaleOutcome {
    let outcome = evaluate_sale(
        rules,
        state,
        &Sale {
            sale_id: id.into(),
            store_id: "st".into(),
            business_date: date,
            lines: lines.to_vec(),
            redeem_points: 0,
            coupon_ids: vec![],
        },
    )
    .unwrap();
    state.apply_sale(&outcome);
    outcome
}

fn page() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cashier.md")).unwrap()
}

/// The row must be in the page, spaces between the cells aside.
fn says(page: &str, cells: &[&str]) {
    let found = page.lines().any(|l| {
        let row: Vec<&str> = l
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        row == cells
    });
    assert!(
        found,
        "docs/cashier.md has no row | {} |",
        cells.join(" | ")
    );
}

#[test]
fn the_multiplier_comes_before_rounding_down() {
    let rules = RuleSet::demo();
    let page = page();
    for (amount, text) in [(2_750, "¥2,750"), (199, "¥199"), (99, "¥99")] {
        let mut standard = MemberState::default();
        let s = sell(&rules, &mut standard, "s", day(2), &[line("tea", amount)]);
        assert_eq!(s.tier_at_start, "standard");
        // A premier member: ¥50,000 this year.
        let mut premier = MemberState::default();
        sell(&rules, &mut premier, "big", day(1), &[line("tv", 50_000)]);
        let p = sell(&rules, &mut premier, "s", day(2), &[line("tea", amount)]);
        assert_eq!(p.tier_at_start, "premier");
        says(
            &page,
            &[
                text,
                &s.earned_points.to_string(),
                &p.earned_points.to_string(),
            ],
        );
    }
}

#[test]
fn a_partial_refund_keeps_the_stamp_until_the_visit_is_refunded_whole() {
    let rules = RuleSet::demo();
    let page = page();
    let mut state = MemberState::default();
    let sold = [line("bento", 800), line("tea", 400)];
    let sale = sell(&rules, &mut state, "s1", day(3), &sold);
    assert_eq!((sale.earned_points, sale.stamps.added), (12, 1));
    says(&page, &["Sale: bento ¥800 + tea ¥400", "12", "1"]);

    let refund = |state: &MemberState, earlier: &[Line], lines: Vec<Line>, id: &str| {
        evaluate_refund(
            &rules,
            state,
            &sold,
            &sale,
            earlier,
            &Refund {
                refund_id: id.into(),
                business_date: day(4),
                lines,
            },
        )
        .unwrap()
    };
    let tea = refund(&state, &[], vec![line("tea", 400)], "r1");
    assert_eq!(tea.stamps_reversed, 0);
    assert_eq!(tea.stamp_day_released, None);
    says(
        &page,
        &[
            "Refund the tea (¥400)",
            &format!("−{}", tea.reversed_points),
            "none",
        ],
    );
    state.apply_refund(&tea);

    let bento = refund(&state, &[line("tea", 400)], vec![line("bento", 800)], "r2");
    assert_eq!(bento.stamps_reversed, 1);
    assert_eq!(bento.stamp_day_released, Some(day(3)));
    assert_eq!(tea.reversed_points + bento.reversed_points, 12);
    says(
        &page,
        &[
            "Then refund the bento (¥800)",
            &format!("−{}", bento.reversed_points),
            "−1",
        ],
    );
    state.apply_refund(&bento);

    // The day is free again: the customer's next visit that day earns its stamp.
    let again = sell(&rules, &mut state, "s2", day(3), &[line("bento", 1_000)]);
    assert_eq!(again.stamps.added, 1);
}

#[test]
fn one_stamp_a_day_and_only_from_the_minimum_spend() {
    let rules = RuleSet::demo();
    let page = page();
    let mut state = MemberState::default();
    let first = sell(&rules, &mut state, "a", day(5), &[line("bento", 1_000)]);
    let second = sell(&rules, &mut state, "b", day(5), &[line("bento", 1_500)]);
    let small = sell(&rules, &mut state, "c", day(6), &[line("tea", 999)]);
    assert_eq!(
        (first.stamps.added, second.stamps.added, small.stamps.added),
        (1, 0, 0)
    );
    assert!(
        page.contains("at most one stamp a day"),
        "the page states the one-a-day rule"
    );
    assert!(page.contains("¥1,000"), "the page states the minimum spend");
}
