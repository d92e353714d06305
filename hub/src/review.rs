//! One terminal cannot mint value (docs/design.md §7): each member sale a till reports is
//! compared with the hub's own evaluation, and the difference is classified so the expected ones
//! (tills offline at once, rules the hub does not have) do not bury the suspicious ones. An
//! outcome that gives more than the configured points or yen beyond what the hub computes is
//! held for a person to review, not applied. Pure: storage records what this decides.

use serde::{Deserialize, Serialize};
use tenpo_loyalty::{MemberState, Points, RuleSet, Sale, SaleError, SaleOutcome, Yen};

use crate::apply::{Discrepancy, Figures, reevaluate};

/// How far a till's outcome may exceed the hub's evaluation of the same sale before it is held
/// (`[review]` in the hub's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewLimits {
    /// Points earned beyond the hub's figure, per event.
    pub max_extra_points: Points,
    /// Yen of discount (points redeemed and coupons) beyond the hub's figure, per event.
    pub max_extra_yen: Yen,
}

impl Default for ReviewLimits {
    /// A premier member's doubled rate on a ¥100,000 sale is 1,000 points; an offline till
    /// redeems at most its daily limit (1,000 points by default). Honest differences stay under
    /// these; a forged outcome does not.
    fn default() -> ReviewLimits {
        ReviewLimits {
            max_extra_points: 2_000,
            max_extra_yen: 5_000,
        }
    }
}

/// What kind of difference a discrepancy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyClass {
    /// Only stamps, completed cards or their reward coupons differ: two tills offline on the
    /// same day, each giving the day's stamp. Expected.
    Stamps,
    /// The till earned at another tier's rate: its view of the member's spend was behind the
    /// hub's (offline). Expected.
    Tier,
    /// The hub would refuse the redemption or coupon (the member spent it at another till
    /// meanwhile): the offline limit bounds it. Expected.
    Balance,
    /// The hub does not have the rule-set version the till used: load it.
    RulesUnknown,
    /// Points or yen differ for no reason above. Suspicious.
    Amount,
}

impl DiscrepancyClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyClass::Stamps => "stamps",
            DiscrepancyClass::Tier => "tier",
            DiscrepancyClass::Balance => "balance",
            DiscrepancyClass::RulesUnknown => "rules_unknown",
            DiscrepancyClass::Amount => "amount",
        }
    }

    /// Whether a discrepancy of this class is the expected kind.
    pub fn expected(self) -> bool {
        !matches!(self, DiscrepancyClass::Amount)
    }
}

/// The hub's verdict on one till outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub discrepancy: Option<(DiscrepancyClass, Discrepancy)>,
    /// Why the outcome is held for review instead of applied, if it is.
    pub hold: Option<String>,
}

/// Reviews a recorded sale against the hub's state of the member before it.
pub fn review(
    rules: Option<&RuleSet>,
    before: &MemberState,
    sale: &Sale,
    outcome: &SaleOutcome,
    limits: ReviewLimits,
) -> Review {
    let Some(d) = reevaluate(rules, before, sale, outcome) else {
        return Review {
            discrepancy: None,
            hold: None,
        };
    };
    let till = &d.till;
    // What the hub would have given: its own figures, or when it refuses the sale on its state
    // (a redemption the member no longer covers) what the lines earn with nothing redeemed;
    // with unknown rules, nothing.
    let reference = match (&d.hub, rules) {
        (Some(hub), _) => hub.clone(),
        (None, Some(rules)) => earning_only(rules, before, sale),
        (None, None) => Figures::default(),
    };
    let class = classify(rules.is_some(), &d, outcome);
    let extra_points = till.earned_points.saturating_sub(reference.earned_points);
    let extra_yen = till.discount_yen.saturating_sub(reference.discount_yen);
    let hold = if extra_points > limits.max_extra_points {
        Some(format!(
            "the till gave {extra_points} points more than the hub computes (limit {})",
            limits.max_extra_points
        ))
    } else if extra_yen > limits.max_extra_yen {
        Some(format!(
            "the till took ¥{extra_yen} more off than the hub computes (limit ¥{})",
            limits.max_extra_yen
        ))
    } else {
        None
    };
    Review {
        discrepancy: Some((class, d)),
        hold,
    }
}

/// The hub's figures for the sale's lines alone: what they earn with nothing redeemed and no
/// coupon used.
fn earning_only(rules: &RuleSet, before: &MemberState, sale: &Sale) -> Figures {
    let plain = Sale {
        redeem_points: 0,
        coupon_ids: Vec::new(),
        ..sale.clone()
    };
    tenpo_loyalty::evaluate_sale(rules, before, &plain)
        .map(|o| Figures::of(&o))
        .unwrap_or_default()
}

fn classify(rules_known: bool, d: &Discrepancy, outcome: &SaleOutcome) -> DiscrepancyClass {
    if !rules_known {
        return DiscrepancyClass::RulesUnknown;
    }
    let Some(hub) = &d.hub else {
        return if d.refusal.as_ref().is_some_and(is_balance_refusal) {
            DiscrepancyClass::Balance
        } else {
            DiscrepancyClass::Amount
        };
    };
    let till = &d.till;
    let money_same = till.earned_points == hub.earned_points
        && till.redeemed_points == hub.redeemed_points
        && till.discount_yen == hub.discount_yen
        && till.coupons_used == hub.coupons_used;
    if money_same {
        return DiscrepancyClass::Stamps;
    }
    let only_earning_differs = till.redeemed_points == hub.redeemed_points
        && till.discount_yen == hub.discount_yen
        && till.coupons_used == hub.coupons_used;
    if only_earning_differs && d.hub_tier.as_deref() != Some(outcome.tier_at_start.as_str()) {
        return DiscrepancyClass::Tier;
    }
    DiscrepancyClass::Amount
}

fn is_balance_refusal(e: &SaleError) -> bool {
    matches!(
        e,
        SaleError::InsufficientPoints { .. }
            | SaleError::UnknownCoupon { .. }
            | SaleError::CouponNotValid { .. }
    )
}
