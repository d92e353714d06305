//! Evaluating a refund of an earlier sale: the refunded lines' cumulative share of what the sale
//! did, rounded down, so refunding in parts reverses exactly what one whole refund would, and
//! never below zero (what cannot be taken back is recorded as a shortfall).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::rules::{Points, RuleSet, Yen};
use crate::sale::{Line, LotTake, SaleOutcome, check_line};
use crate::state::{Coupon, MemberState, PointLot};

/// A refund of some lines of an earlier sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    /// The store's business date of the refund.
    pub business_date: Date,
    /// Lines by `sku`, with the quantity and amount refunded.
    pub lines: Vec<Line>,
}

/// Everything a refund did to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundOutcome {
    pub refund_id: String,
    pub sale_id: String,
    pub rules_version: u32,
    pub business_date: Date,
    pub sale_business_date: Date,
    /// Whether, with this refund, the whole sale has been refunded.
    pub completes_sale: bool,
    /// Earned points to take back, as the refunded lines' share of what the sale earned.
    pub reversed_points: Points,
    /// Where they were taken from: the sale's own lot first, then the soonest-expiring lots.
    pub points_reversed: Vec<LotTake>,
    /// Points that could not be taken back because the member no longer has them.
    pub shortfall_points: Points,
    /// Redeemed points given back, as the refunded lines' share of what was redeemed.
    pub returned_points: Points,
    pub points_returned: Vec<PointLot>,
    pub stamps_reversed: u32,
    pub cards_uncompleted: u32,
    pub stamp_count_after: u32,
    pub last_stamp_on_after: Option<Date>,
    /// The sale's stamp day, when this refund took back all the stamps the sale earned: that
    /// day can earn a stamp again (the one-a-day rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp_day_released: Option<Date>,
    /// Stamps that could not be taken back (the card already had fewer).
    pub shortfall_stamps: u32,
    /// Reward coupons taken back because the card they completed is no longer complete.
    pub coupons_revoked: Vec<String>,
    /// Reward coupons that should be taken back but were already used or gone.
    pub coupons_not_recovered: Vec<String>,
    /// Coupons used on the sale, given back when the whole sale is refunded.
    pub coupons_restored: Vec<Coupon>,
    pub qualifying_spend_reversed_yen: Yen,
}

/// Why a refund cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundError {
    NoLines,
    BadLine {
        sku: String,
        problem: &'static str,
    },
    NotInSale {
        sku: String,
    },
    MoreThanSold {
        sku: String,
        sold_quantity: i64,
        sold_yen: Yen,
        refunded_quantity: i64,
        refunded_yen: Yen,
    },
}

impl fmt::Display for RefundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefundError::NoLines => write!(f, "the refund has no lines"),
            RefundError::BadLine { sku, problem } => write!(f, "line {sku:?}: {problem}"),
            RefundError::NotInSale { sku } => write!(f, "{sku:?} was not sold in this sale"),
            RefundError::MoreThanSold {
                sku,
                sold_quantity,
                sold_yen,
                refunded_quantity,
                refunded_yen,
            } => write!(
                f,
                "{sku:?}: sold {sold_quantity} for ¥{sold_yen}, but refunds would total \
                 {refunded_quantity} for ¥{refunded_yen}"
            ),
        }
    }
}

impl std::error::Error for RefundError {}

/// How much of a sale the refunds so far, and with this one, cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundShare {
    pub gross_before: Yen,
    pub gross_after: Yen,
    pub eligible_before: Yen,
    pub eligible_after: Yen,
    /// Every unit and every yen of the sale is refunded once this refund is taken.
    pub completes_sale: bool,
    /// This refund's own gross amount.
    pub refunded_yen: Yen,
}

#[derive(Default)]
struct SkuTotals {
    quantity: i64,
    amount: Yen,
    eligible: Yen,
}

fn totals_by_sku<'a>(rules: Option<&RuleSet>, lines: &'a [Line]) -> BTreeMap<&'a str, SkuTotals> {
    let mut by_sku: BTreeMap<&str, SkuTotals> = BTreeMap::new();
    for line in lines {
        let t = by_sku.entry(line.sku.as_str()).or_default();
        t.quantity += line.quantity;
        t.amount += line.amount_yen;
        if rules.is_some_and(|r| !r.is_excluded(line.category.as_deref())) {
            t.eligible += line.amount_yen;
        }
    }
    by_sku
}

/// Checks a refund against the sale and the refunds already taken, and works out its share of
/// the sale. Needs no member: a sale without a member is refunded too.
pub fn check_refund_lines(
    rules: &RuleSet,
    sold: &[Line],
    earlier_refunds: &[Line],
    refund: &[Line],
) -> Result<RefundShare, RefundError> {
    if refund.is_empty() {
        return Err(RefundError::NoLines);
    }
    for line in refund {
        check_line(line).map_err(|problem| RefundError::BadLine {
            sku: line.sku.clone(),
            problem,
        })?;
    }
    let sold_by = totals_by_sku(Some(rules), sold);
    let before_by = totals_by_sku(None, earlier_refunds);
    let now_by = totals_by_sku(None, refund);
    let mut share = RefundShare {
        gross_before: 0,
        gross_after: 0,
        eligible_before: 0,
        eligible_after: 0,
        completes_sale: true,
        refunded_yen: 0,
    };
    for (sku, now) in &now_by {
        if !sold_by.contains_key(sku) {
            return Err(RefundError::NotInSale {
                sku: (*sku).to_owned(),
            });
        }
        share.refunded_yen += now.amount;
    }
    for (sku, s) in &sold_by {
        let before = before_by.get(sku);
        let (q0, a0) = before.map_or((0, 0), |b| (b.quantity, b.amount));
        let (q1, a1) = now_by.get(sku).map_or((0, 0), |n| (n.quantity, n.amount));
        let (q, a) = (q0 + q1, a0 + a1);
        if q > s.quantity || a > s.amount {
            return Err(RefundError::MoreThanSold {
                sku: (*sku).to_owned(),
                sold_quantity: s.quantity,
                sold_yen: s.amount,
                refunded_quantity: q,
                refunded_yen: a,
            });
        }
        // The eligible part of a refunded amount is its share of the sku's eligible amount.
        let eligible_of = |amount: Yen| {
            if s.amount == 0 {
                0
            } else {
                (i128::from(amount) * i128::from(s.eligible) / i128::from(s.amount)) as Yen
            }
        };
        share.gross_before += a0;
        share.gross_after += a;
        share.eligible_before += eligible_of(a0);
        share.eligible_after += eligible_of(a);
        if q < s.quantity || a < s.amount {
            share.completes_sale = false;
        }
    }
    Ok(share)
}

/// `total × part ÷ whole`, rounded down; all of `total` when the whole is refunded.
fn share_of(total: i64, part: Yen, whole: Yen, complete: bool) -> i64 {
    if complete {
        return total;
    }
    if whole <= 0 {
        return 0;
    }
    (i128::from(total) * i128::from(part) / i128::from(whole)) as i64
}

/// Evaluates a refund of an earlier member sale.
///
/// Every reversal is the refunded lines' cumulative share of what the sale did, rounded down,
/// minus what earlier refunds already reversed, so refunding in parts reverses exactly what one
/// whole refund would.
pub fn evaluate_refund(
    rules: &RuleSet,
    state: &MemberState,
    sold: &[Line],
    sale: &SaleOutcome,
    earlier_refunds: &[Line],
    refund: &Refund,
) -> Result<RefundOutcome, RefundError> {
    let share = check_refund_lines(rules, sold, earlier_refunds, &refund.lines)?;
    let was_complete = !earlier_refunds.is_empty()
        && check_refund_lines(rules, sold, &[], earlier_refunds).is_ok_and(|s| s.completes_sale);
    let complete = share.completes_sale;
    // Points, stamps and spend follow the eligible share when the sale had eligible spend, and
    // the gross share otherwise (a campaign bonus on a sale of excluded lines, say).
    let (part_before, part_after, whole) = if sale.eligible_gross_yen > 0 {
        (
            share.eligible_before,
            share.eligible_after,
            sale.eligible_gross_yen,
        )
    } else {
        (share.gross_before, share.gross_after, sale.gross_yen)
    };
    let step = |total: i64| {
        share_of(total, part_after, whole, complete)
            - share_of(total, part_before, whole, was_complete)
    };
    let reversed_points = step(sale.earned_points).max(0);
    let stamps_reversed = u32::try_from(step(i64::from(sale.stamps.added)).max(0)).unwrap_or(0);
    let spend_reversed = step(sale.qualifying_spend_yen).max(0);
    let returned_points = (share_of(
        sale.redeemed_points,
        share.gross_after,
        sale.gross_yen,
        complete,
    ) - share_of(
        sale.redeemed_points,
        share.gross_before,
        sale.gross_yen,
        was_complete,
    ))
    .max(0);

    // Redeemed points go back to the lots they came from, latest-expiring first; the part
    // earlier refunds gave back is skipped.
    let mut skip = share_of(
        sale.redeemed_points,
        share.gross_before,
        sale.gross_yen,
        was_complete,
    );
    let mut to_return = returned_points;
    let mut points_returned = Vec::new();
    for lot in sale.lots_consumed.iter().rev() {
        let mut available = lot.points;
        let skipped = available.min(skip);
        skip -= skipped;
        available -= skipped;
        let give = available.min(to_return);
        if give > 0 {
            to_return -= give;
            points_returned.push(PointLot {
                points: give,
                ..lot.clone()
            });
        }
    }
    let mut after_return = state.clone();
    let returned_outcome = RefundOutcome {
        points_returned: points_returned.clone(),
        ..empty_refund_outcome(rules, sale, refund, complete)
    };
    after_return.apply_refund(&returned_outcome);

    // Earned points come back from the sale's own lot first, then the soonest-expiring lots;
    // what the member no longer has is a recorded shortfall, never a negative balance.
    let mut to_reverse = reversed_points;
    let mut points_reversed = Vec::new();
    let own = after_return
        .lots
        .iter()
        .filter(|l| l.lot_id == sale.sale_id);
    let others = after_return
        .live_lots(refund.business_date)
        .filter(|l| l.lot_id != sale.sale_id);
    for lot in own.chain(others) {
        if to_reverse == 0 {
            break;
        }
        let take = lot.points.min(to_reverse);
        to_reverse -= take;
        points_reversed.push(PointLot {
            points: take,
            ..lot.clone()
        });
    }

    // Stamps: taking back stamps below zero un-completes the cards this sale completed, and
    // takes back their reward coupons where the member still holds them.
    let size = i64::from(rules.stamps.card_size);
    let mut count = i64::from(state.stamps.count) - i64::from(stamps_reversed);
    let mut coupons_revoked = Vec::new();
    let mut coupons_not_recovered = Vec::new();
    // The cards this sale completed are un-completed latest first, with their coupons. The
    // reward coupons of one sale are alike (one template, one day of issue), so the ones the
    // member still holds are taken back first: a refund in parts cannot tell a coupon an
    // earlier part already revoked from one the member used, and taking them strictly latest
    // first would name the revoked one again and leave a held one with the member.
    let (held, gone): (Vec<&Coupon>, Vec<&Coupon>) = sale
        .coupons_issued
        .iter()
        .rev()
        .partition(|c| state.coupons.contains_key(&c.coupon_id));
    // As many cards as bring the count back to zero or above, at most those the sale filled
    // (counted, not looped: an outcome from elsewhere may claim any number).
    let needed = match (count < 0, size > 0) {
        (false, _) => 0,
        (true, true) => (-count + size - 1) / size,
        (true, false) => i64::MAX,
    };
    let cards_uncompleted = u32::try_from(needed).map_or(sale.stamps.cards_completed, |n| {
        n.min(sale.stamps.cards_completed)
    });
    count = count.saturating_add(i64::from(cards_uncompleted).saturating_mul(size));
    for c in held
        .into_iter()
        .chain(gone)
        .take(cards_uncompleted as usize)
    {
        if state.coupons.contains_key(&c.coupon_id) {
            coupons_revoked.push(c.coupon_id.clone());
        } else {
            coupons_not_recovered.push(c.coupon_id.clone());
        }
    }
    let shortfall_stamps = u32::try_from((-count).max(0)).unwrap_or(u32::MAX);
    let stamp_count_after = u32::try_from(count.max(0)).unwrap_or(0);
    let all_stamps_back = share_of(i64::from(sale.stamps.added), part_after, whole, complete)
        == i64::from(sale.stamps.added);
    let all_back = stamps_reversed > 0 && all_stamps_back;
    // The sale's stamp day can earn a stamp again once all its stamps are back.
    let stamp_day_released = sale.stamps.day.filter(|_| all_back);
    // The latest stamp day after: unchanged unless it was this sale's day, which then goes
    // back to the latest other day this state knows, or what the sale found.
    let last_stamp_on_after = if all_back && state.stamps.last_stamp_on == Some(sale.business_date)
    {
        let other = state
            .stamps
            .days
            .iter()
            .copied()
            .filter(|d| *d != sale.business_date)
            .max();
        other.max(sale.stamps.last_stamp_on_before)
    } else {
        state.stamps.last_stamp_on
    };

    let coupons_restored = if complete && !was_complete {
        sale.coupons_used.clone()
    } else {
        Vec::new()
    };

    Ok(RefundOutcome {
        reversed_points,
        points_reversed,
        shortfall_points: to_reverse,
        returned_points,
        points_returned,
        stamps_reversed,
        cards_uncompleted,
        stamp_count_after,
        last_stamp_on_after,
        stamp_day_released,
        shortfall_stamps,
        coupons_revoked,
        coupons_not_recovered,
        coupons_restored,
        qualifying_spend_reversed_yen: spend_reversed,
        ..empty_refund_outcome(rules, sale, refund, complete)
    })
}

fn empty_refund_outcome(
    rules: &RuleSet,
    sale: &SaleOutcome,
    refund: &Refund,
    complete: bool,
) -> RefundOutcome {
    RefundOutcome {
        refund_id: refund.refund_id.clone(),
        sale_id: sale.sale_id.clone(),
        rules_version: rules.version,
        business_date: refund.business_date,
        sale_business_date: sale.business_date,
        completes_sale: complete,
        reversed_points: 0,
        points_reversed: Vec::new(),
        shortfall_points: 0,
        returned_points: 0,
        points_returned: Vec::new(),
        stamps_reversed: 0,
        cards_uncompleted: 0,
        stamp_count_after: 0,
        last_stamp_on_after: None,
        stamp_day_released: None,
        shortfall_stamps: 0,
        coupons_revoked: Vec::new(),
        coupons_not_recovered: Vec::new(),
        coupons_restored: Vec::new(),
        qualifying_spend_reversed_yen: 0,
    }
}
