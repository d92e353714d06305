//! Evaluating sales and refunds: pure functions from (rules, member state, sale, business date)
//! to an outcome that records everything the sale changed, so it can be applied, replayed,
//! re-evaluated at the hub, and reversed by a refund.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::rules::{
    CampaignBenefit, CouponBenefit, MAX_YEN, Points, RuleSet, Stacking, StampEarn, Yen,
};
use crate::state::{Coupon, MemberState, PointLot};

/// One line of a sale (or of a refund): `amount_yen` is the line's total, tax included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    #[serde(default)]
    pub category: Option<String>,
    pub quantity: i64,
    pub amount_yen: Yen,
}

/// A sale to a member, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub sale_id: String,
    pub store_id: String,
    /// The store's business date of the sale, in the store's time zone.
    pub business_date: Date,
    pub lines: Vec<Line>,
    pub redeem_points: Points,
    pub coupon_ids: Vec<String>,
}

/// Points taken from (or given back to) a lot.
pub type LotTake = PointLot;

/// How a sale changed the stamp card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampChange {
    pub added: u32,
    pub cards_completed: u32,
    pub count_before: u32,
    pub count_after: u32,
    pub last_stamp_on_before: Option<Date>,
}

/// Everything a sale did to a member: what the customer was told, and what a refund reverses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleOutcome {
    pub sale_id: String,
    pub rules_version: u32,
    pub business_date: Date,
    /// The tier held when the sale started; its multiplier is the one applied.
    pub tier_at_start: String,
    pub gross_yen: Yen,
    pub eligible_gross_yen: Yen,
    pub coupon_discount_yen: Yen,
    pub points_discount_yen: Yen,
    /// Eligible spend after discounts: what points and stamps are earned on, and what counts
    /// towards the tier.
    pub eligible_net_yen: Yen,
    /// All points the sale earned (rate × multipliers, campaign and coupon bonuses).
    pub earned_points: Points,
    pub redeemed_points: Points,
    pub campaigns_applied: Vec<String>,
    /// Lots redemption took points from, in the order taken (soonest-expiring first).
    pub lots_consumed: Vec<LotTake>,
    /// The lot the earned points went into (`lot_id` = sale id).
    pub earned_lot: Option<PointLot>,
    pub stamps: StampChange,
    pub coupons_used: Vec<Coupon>,
    pub coupons_issued: Vec<Coupon>,
    pub qualifying_spend_yen: Yen,
}

impl SaleOutcome {
    /// Yen taken off the sale (coupons and points together).
    pub fn discount_yen(&self) -> Yen {
        self.coupon_discount_yen + self.points_discount_yen
    }
}

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

/// Why a sale cannot be evaluated. Each message tells the cashier what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleError {
    NoLines,
    BadLine {
        sku: String,
        problem: &'static str,
    },
    TooLarge,
    NegativeRedemption,
    RedemptionNotInUnits {
        unit: Points,
    },
    InsufficientPoints {
        requested: Points,
        balance: Points,
    },
    RedemptionExceedsSale {
        requested: Points,
        max: Points,
    },
    UnknownCoupon {
        coupon_id: String,
    },
    CouponNotValid {
        coupon_id: String,
        valid_from: Date,
        valid_until: Date,
    },
    DuplicateCoupon {
        coupon_id: String,
    },
}

impl fmt::Display for SaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaleError::NoLines => write!(f, "the sale has no lines"),
            SaleError::BadLine { sku, problem } => write!(f, "line {sku:?}: {problem}"),
            SaleError::TooLarge => write!(f, "the sale's total is beyond any real purchase"),
            SaleError::NegativeRedemption => write!(f, "points to redeem cannot be negative"),
            SaleError::RedemptionNotInUnits { unit } => {
                write!(f, "points are redeemed in multiples of {unit}")
            }
            SaleError::InsufficientPoints { requested, balance } => write!(
                f,
                "the member has {balance} points, fewer than the {requested} asked to redeem"
            ),
            SaleError::RedemptionExceedsSale { requested, max } => write!(
                f,
                "{requested} points is more than the sale's amount: at most {max} can be redeemed"
            ),
            SaleError::UnknownCoupon { coupon_id } => {
                write!(
                    f,
                    "coupon {coupon_id:?} is not held by this member, or was already used"
                )
            }
            SaleError::CouponNotValid {
                coupon_id,
                valid_from,
                valid_until,
            } => write!(
                f,
                "coupon {coupon_id:?} is valid only from {valid_from} to {valid_until}"
            ),
            SaleError::DuplicateCoupon { coupon_id } => {
                write!(
                    f,
                    "coupon {coupon_id:?} is listed twice; a coupon is used once"
                )
            }
        }
    }
}

impl std::error::Error for SaleError {}

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

/// Checks a line's numbers. Quantities are whole units, at least one; amounts are yen, ≥ 0.
fn check_line(line: &Line) -> Result<(), &'static str> {
    if line.sku.is_empty() {
        return Err("the sku is empty");
    }
    if line.quantity < 1 {
        return Err("quantity must be at least 1");
    }
    if line.quantity > 100_000 {
        return Err("quantity is beyond any real purchase");
    }
    if line.amount_yen < 0 {
        return Err("amount cannot be negative (record returns as refunds)");
    }
    if line.amount_yen > MAX_YEN {
        return Err("amount is beyond any real purchase");
    }
    Ok(())
}

/// Checks a sale's lines without a member: a sale without a member is recorded but earns nothing.
pub fn check_sale_lines(lines: &[Line]) -> Result<Yen, SaleError> {
    if lines.is_empty() {
        return Err(SaleError::NoLines);
    }
    let mut gross: Yen = 0;
    for line in lines {
        check_line(line).map_err(|problem| SaleError::BadLine {
            sku: line.sku.clone(),
            problem,
        })?;
        gross += line.amount_yen;
    }
    if gross > MAX_YEN {
        return Err(SaleError::TooLarge);
    }
    Ok(gross)
}

/// Evaluates a member's sale on the rules, the member's state and the sale's business date.
pub fn evaluate_sale(
    rules: &RuleSet,
    state: &MemberState,
    sale: &Sale,
) -> Result<SaleOutcome, SaleError> {
    let date = sale.business_date;
    let gross = check_sale_lines(&sale.lines)?;
    let eligible_gross: Yen = sale
        .lines
        .iter()
        .filter(|l| !rules.is_excluded(l.category.as_deref()))
        .map(|l| l.amount_yen)
        .sum();

    // Coupons first: yen off and points bonuses.
    let mut seen = BTreeSet::new();
    let mut coupons_used = Vec::new();
    let mut coupon_discount: Yen = 0;
    let mut coupon_bonus: Points = 0;
    for id in &sale.coupon_ids {
        if !seen.insert(id.as_str()) {
            return Err(SaleError::DuplicateCoupon {
                coupon_id: id.clone(),
            });
        }
        let coupon = state
            .coupons
            .get(id)
            .ok_or_else(|| SaleError::UnknownCoupon {
                coupon_id: id.clone(),
            })?;
        if !coupon.is_valid_on(date) {
            return Err(SaleError::CouponNotValid {
                coupon_id: id.clone(),
                valid_from: coupon.valid_from,
                valid_until: coupon.valid_until,
            });
        }
        match coupon.benefit {
            CouponBenefit::Discount { value_yen } => {
                coupon_discount += value_yen.min(gross - coupon_discount);
            }
            CouponBenefit::PointsBonus { points } => coupon_bonus += points,
        }
        coupons_used.push(coupon.clone());
    }

    // Then points, in whole units, within the balance and what is left of the sale.
    let redeem = sale.redeem_points;
    if redeem < 0 {
        return Err(SaleError::NegativeRedemption);
    }
    if redeem % rules.redemption.unit_points != 0 {
        return Err(SaleError::RedemptionNotInUnits {
            unit: rules.redemption.unit_points,
        });
    }
    let balance = state.balance(date);
    if redeem > balance {
        return Err(SaleError::InsufficientPoints {
            requested: redeem,
            balance,
        });
    }
    let payable = gross - coupon_discount;
    let max_points = payable / rules.redemption.yen_per_point;
    let max_points = max_points - max_points % rules.redemption.unit_points;
    if redeem > max_points {
        return Err(SaleError::RedemptionExceedsSale {
            requested: redeem,
            max: max_points,
        });
    }
    let points_discount = redeem * rules.redemption.yen_per_point;
    let mut lots_consumed = Vec::new();
    let mut to_take = redeem;
    for lot in state.live_lots(date) {
        if to_take == 0 {
            break;
        }
        let take = lot.points.min(to_take);
        to_take -= take;
        lots_consumed.push(PointLot {
            points: take,
            ..lot.clone()
        });
    }

    // Earning, on eligible spend after discounts, at the tier held when the sale started.
    let eligible_net = (eligible_gross - coupon_discount - points_discount).max(0);
    let tier = rules.tier_for(state.qualifying_spend(rules, date));
    let mut campaigns_applied = Vec::new();
    let mut multiplier_ppm: i128 = i128::from(tier.multiplier_percent) * 10_000;
    let mut bonus: Points = coupon_bonus;
    for c in &rules.campaigns {
        let applies = c.starts_on <= date
            && date <= c.ends_on
            && (c.weekdays.is_empty() || c.weekdays.contains(&date.weekday().into()))
            && (c.stores.is_empty() || c.stores.contains(&sale.store_id))
            && eligible_net >= c.min_spend_yen;
        if !applies {
            continue;
        }
        campaigns_applied.push(c.id.clone());
        match c.benefit {
            CampaignBenefit::Bonus { points } => bonus += points,
            CampaignBenefit::Multiplier { percent } => {
                let ppm = i128::from(percent) * 10_000;
                multiplier_ppm = match rules.earning.stacking {
                    // Floored at 0 % once, after the loop: flooring here would make the
                    // result depend on the campaigns' order (1 % + 1 % + 500 % is 302 %).
                    Stacking::Additive => multiplier_ppm + ppm - 1_000_000,
                    Stacking::Multiplicative => multiplier_ppm.saturating_mul(ppm) / 1_000_000,
                    Stacking::Best => multiplier_ppm.max(ppm),
                };
            }
        }
    }
    let multiplier_ppm = multiplier_ppm.max(0);
    let base = i128::from(eligible_net).saturating_mul(multiplier_ppm)
        / (1_000_000 * i128::from(rules.earning.yen_per_point));
    let earned = Points::try_from(base)
        .unwrap_or(Points::MAX)
        .saturating_add(bonus);
    let earned_lot = (earned > 0).then(|| PointLot {
        lot_id: sale.sale_id.clone(),
        earned_on: date,
        expires_on: rules.expiry_for(date),
        points: earned,
    });

    // Stamps, and the reward coupons of completed cards.
    let added = match rules.stamps.earn {
        StampEarn::Visit { min_spend_yen } => u32::from(
            eligible_net >= min_spend_yen
                && eligible_net > 0
                && state.stamps.last_stamp_on != Some(date),
        ),
        StampEarn::Spend { yen_per_stamp } => {
            u32::try_from(eligible_net / yen_per_stamp).unwrap_or(u32::MAX)
        }
    };
    let size = rules.stamps.card_size;
    let total = u64::from(state.stamps.count) + u64::from(added);
    let cards_completed = u32::try_from(total / u64::from(size)).unwrap_or(u32::MAX);
    let count_after = (total % u64::from(size)) as u32;
    let reward = &rules.stamps.reward;
    let coupons_issued = (1..=cards_completed)
        .map(|n| Coupon {
            coupon_id: format!("{}/card-{n}", sale.sale_id),
            benefit: reward.benefit,
            valid_from: date,
            valid_until: date.add_days(i64::from(reward.valid_days) - 1),
        })
        .collect();

    Ok(SaleOutcome {
        sale_id: sale.sale_id.clone(),
        rules_version: rules.version,
        business_date: date,
        tier_at_start: tier.name.clone(),
        gross_yen: gross,
        eligible_gross_yen: eligible_gross,
        coupon_discount_yen: coupon_discount,
        points_discount_yen: points_discount,
        eligible_net_yen: eligible_net,
        earned_points: earned,
        redeemed_points: redeem,
        campaigns_applied,
        lots_consumed,
        earned_lot,
        stamps: StampChange {
            added,
            cards_completed,
            count_before: state.stamps.count,
            count_after,
            last_stamp_on_before: state.stamps.last_stamp_on,
        },
        coupons_used,
        coupons_issued,
        qualifying_spend_yen: eligible_net,
    })
}

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
    let mut cards_uncompleted = 0u32;
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
    let mut completed = held.into_iter().chain(gone);
    while count < 0 && cards_uncompleted < sale.stamps.cards_completed {
        count += size;
        cards_uncompleted += 1;
        if let Some(c) = completed.next() {
            if state.coupons.contains_key(&c.coupon_id) {
                coupons_revoked.push(c.coupon_id.clone());
            } else {
                coupons_not_recovered.push(c.coupon_id.clone());
            }
        }
    }
    let shortfall_stamps = u32::try_from((-count).max(0)).unwrap_or(u32::MAX);
    let stamp_count_after = u32::try_from(count.max(0)).unwrap_or(0);
    let all_stamps_back = share_of(i64::from(sale.stamps.added), part_after, whole, complete)
        == i64::from(sale.stamps.added);
    let last_stamp_on_after = if stamps_reversed > 0
        && all_stamps_back
        && state.stamps.last_stamp_on == Some(sale.business_date)
    {
        sale.stamps.last_stamp_on_before
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
        shortfall_stamps: 0,
        coupons_revoked: Vec::new(),
        coupons_not_recovered: Vec::new(),
        coupons_restored: Vec::new(),
        qualifying_spend_reversed_yen: 0,
    }
}
