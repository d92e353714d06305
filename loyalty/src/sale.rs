//! Evaluating a sale: a pure function from (rules, member state, sale, business date) to an
//! outcome that records everything the sale changed, so it can be applied, replayed,
//! re-evaluated at the hub, and reversed by a refund (`refund.rs`).

use std::collections::BTreeSet;
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
    /// The business day this sale's stamp was for, under the one-stamp-a-day rule (per-visit
    /// stamps only): the state remembers it so a sale recorded late on that day earns none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<Date>,
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
        self.coupon_discount_yen
            .saturating_add(self.points_discount_yen)
    }
}

/// The most stamp cards one sale may fill. Each is a reward coupon the member keeps; a ¥1,000,000
/// sale at a stamp per ¥100 on cards of 10 fills 1,000.
pub const MAX_CARDS_PER_SALE: u32 = 1_000;

/// Why a sale cannot be evaluated. Each message tells the cashier what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleError {
    NoLines,
    BadLine {
        sku: String,
        problem: &'static str,
    },
    TooLarge,
    /// The sale would fill more stamp cards than [`MAX_CARDS_PER_SALE`]: each is a reward coupon
    /// kept in the member's state, and no real purchase fills that many.
    TooManyCards {
        cards: u64,
        max: u32,
    },
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
    /// The rule set cannot be computed with (a rate or size of zero); rule sets are validated
    /// when loaded, so this is a bug or a damaged rule set, never the cashier's input.
    InvalidRules {
        setting: &'static str,
    },
}

impl fmt::Display for SaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaleError::NoLines => write!(f, "the sale has no lines"),
            SaleError::BadLine { sku, problem } => write!(f, "line {sku:?}: {problem}"),
            SaleError::TooLarge => write!(f, "the sale's total is beyond any real purchase"),
            SaleError::TooManyCards { cards, max } => write!(
                f,
                "the sale would fill {cards} stamp cards, more than the {max} one sale may: \
                 check the amounts, the member's stamps and the program's stamp settings; \
                 nothing was recorded"
            ),
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
            SaleError::InvalidRules { setting } => write!(
                f,
                "the rule set in force is damaged ({setting} is zero or empty): \
                 load a valid rule set; nothing was recorded"
            ),
        }
    }
}

impl std::error::Error for SaleError {}

/// Checks a line's numbers. Quantities are whole units, at least one; amounts are yen, ≥ 0.
pub(crate) fn check_line(line: &Line) -> Result<(), &'static str> {
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

/// The settings the engine divides by: a validated rule set never has zero there, but the
/// engine must not panic on any input.
fn check_divisors(rules: &RuleSet) -> Result<(), SaleError> {
    let checks = [
        ("earning.yen_per_point", rules.earning.yen_per_point),
        ("redemption.yen_per_point", rules.redemption.yen_per_point),
        ("redemption.unit_points", rules.redemption.unit_points),
        ("stamps.card_size", i64::from(rules.stamps.card_size)),
    ];
    for (setting, value) in checks {
        if value < 1 {
            return Err(SaleError::InvalidRules { setting });
        }
    }
    if rules.tiers.levels.is_empty() {
        return Err(SaleError::InvalidRules {
            setting: "tiers.levels",
        });
    }
    if let StampEarn::Spend { yen_per_stamp } = rules.stamps.earn
        && yen_per_stamp < 1
    {
        return Err(SaleError::InvalidRules {
            setting: "stamps.earn.yen_per_stamp",
        });
    }
    Ok(())
}

/// Evaluates a member's sale on the rules, the member's state and the sale's business date.
pub fn evaluate_sale(
    rules: &RuleSet,
    state: &MemberState,
    sale: &Sale,
) -> Result<SaleOutcome, SaleError> {
    let date = sale.business_date;
    check_divisors(rules)?;
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
            CouponBenefit::PointsBonus { points } => {
                coupon_bonus = coupon_bonus.saturating_add(points);
            }
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
    // Read only for a redemption: a regular customer's balance is a walk over many lots.
    let balance = if redeem > 0 { state.balance(date) } else { 0 };
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
    let lots = (redeem > 0).then(|| state.live_lots(date));
    for lot in lots.into_iter().flatten() {
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
            CampaignBenefit::Bonus { points } => bonus = bonus.saturating_add(points),
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
    let (added, day) = match rules.stamps.earn {
        StampEarn::Visit { min_spend_yen } => {
            let stamp =
                eligible_net >= min_spend_yen && eligible_net > 0 && !state.stamps.stamped_on(date);
            (u32::from(stamp), stamp.then_some(date))
        }
        StampEarn::Spend { yen_per_stamp } => (
            u32::try_from(eligible_net / yen_per_stamp).unwrap_or(u32::MAX),
            None,
        ),
    };
    let size = rules.stamps.card_size;
    let total = u64::from(state.stamps.count) + u64::from(added);
    let cards = total / u64::from(size);
    // Refused before a coupon is made for each: a spend-based stamp at ¥1 on cards of one, or a
    // damaged stamp count, would otherwise make millions of them.
    let cards_completed = match u32::try_from(cards) {
        Ok(n) if n <= MAX_CARDS_PER_SALE => n,
        _ => {
            return Err(SaleError::TooManyCards {
                cards,
                max: MAX_CARDS_PER_SALE,
            });
        }
    };
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
            day,
        },
        coupons_used,
        coupons_issued,
        qualifying_spend_yen: eligible_net,
    })
}
