//! The lines of a refund: which the engine (and the till's own check) refuses, whether they
//! complete the sale, and the shares of the sale they take.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{
    Line, MemberState, RefundError, RuleSet, Yen, check_refund_lines, evaluate_refund,
};

/// A line of sku `x`, without a category (a refund's category is ignored).
fn x(quantity: i64, amount_yen: Yen) -> Line {
    line("x", None, quantity, amount_yen)
}

/// The sale the refusal and share tables refund from: two units of `x` (food) for ¥1,000 and
/// one `y` for ¥10.
fn sold_x_y() -> Vec<Line> {
    vec![line("x", Some("food"), 2, 1_000), item("y", 10)]
}

/// Refunding more of `x` than [`sold_x_y`] sold.
fn more(q: i64, a: Yen) -> RefundError {
    RefundError::MoreThanSold {
        sku: "x".into(),
        sold_quantity: 2,
        sold_yen: 1_000,
        refunded_quantity: q,
        refunded_yen: a,
    }
}

/// After `earlier` refunded lines of [`sold_x_y`], refunding `now` completes the sale or not,
/// or is refused: by the engine and by the till's own check alike.
#[track_caller]
fn completes(earlier: &[Line], now: &[Line], expected: Result<bool, RefundError>) {
    let rules = RuleSet::demo();
    let state = MemberState::default();
    let sold = sold_x_y();
    let s = sale("s", DAY, sold.clone());
    let o = eval(&rules, &state, &s);
    let got = evaluate_refund(
        &rules,
        &state,
        &sold,
        &o,
        earlier,
        &refund("r", DAY, now.to_vec()),
    )
    .map(|r| r.completes_sale);
    assert_eq!(got, expected, "earlier {earlier:?}, now {now:?}");
    let share = check_refund_lines(&rules, &sold, earlier, now).map(|s| s.completes_sale);
    assert_eq!(share, expected, "earlier {earlier:?}, now {now:?}");
    if let Err(e) = got {
        assert!(
            !e.to_string().is_empty(),
            "earlier {earlier:?}, now {now:?}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn refund_errors() {
    use RefundError::{BadLine, NoLines, NotInSale};
    // (refunded earlier, refunded now, whether it completes the sale or why it is refused)
    completes(&[], &[x(1, 500)], Ok(false));
    completes(&[], &[x(2, 1_000), item("y", 10)], Ok(true));
    completes(&[x(1, 600)], &[x(1, 400), item("y", 10)], Ok(true));
    completes(&[x(1, 600)], &[x(1, 399), item("y", 10)], Ok(false));
    completes(&[], &[x(3, 1_000)], Err(more(3, 1_000)));
    completes(&[], &[x(1, 1_001)], Err(more(1, 1_001)));
    completes(&[x(1, 500)], &[x(2, 500)], Err(more(3, 1_000)));
    completes(&[x(2, 1_000)], &[x(1, 0)], Err(more(3, 1_000)));
    completes(&[], &[x(1, 400), x(1, 400), x(1, 1)], Err(more(3, 801)));
    completes(&[], &[item("z", 1)], Err(NotInSale { sku: "z".into() }));
    completes(&[], &[], Err(NoLines));
    completes(&[], &[x(0, 1)], Err(BadLine { sku: "x".into(), problem: "quantity must be at least 1" }));
}

/// After `earlier` refunded lines of a sale of two giftcards for ¥3,000 and two of `x` (food)
/// for ¥1,001, refunding `now` gives (gross before, gross after, eligible before, eligible
/// after, refunded).
#[track_caller]
fn share(earlier: &[Line], now: &[Line], expected: (Yen, Yen, Yen, Yen, Yen)) {
    let rules = RuleSet::demo();
    let sold = vec![
        line("g", Some("giftcard"), 2, 3_000),
        line("x", Some("food"), 2, 1_001),
    ];
    let s = check_refund_lines(&rules, &sold, earlier, now).unwrap();
    let got = (
        s.gross_before,
        s.gross_after,
        s.eligible_before,
        s.eligible_after,
        s.refunded_yen,
    );
    assert_eq!(got, expected, "earlier {earlier:?}, now {now:?}");
}

#[test]
#[rustfmt::skip]
fn refund_share_table() {
    // (earlier, now, (gross before, gross after, eligible before, eligible after, refunded))
    share(&[], &[gift("g", 3_000)], (0, 3_000, 0, 0, 3_000));
    share(&[], &[x(1, 500)], (0, 500, 0, 500, 500));
    share(&[x(1, 500)], &[x(1, 501)], (500, 1_001, 500, 1_001, 501));
    share(&[gift("g", 1_000)], &[gift("g", 2_000), x(2, 1_001)], (1_000, 4_001, 0, 1_001, 3_001));
}
