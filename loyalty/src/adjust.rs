//! A person's correction of a member's points (the console's "adjust points"): added as a lot
//! that expires as earned points do, or taken from the soonest-expiring lots, never below zero.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Date;
use crate::rules::{Points, RuleSet};
use crate::sale::LotTake;
use crate::state::{MemberState, PointLot};

/// The largest correction one adjustment may make, either way.
pub const MAX_ADJUSTMENT: Points = 1_000_000;

/// What an adjustment did to the member's lots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjusted {
    /// The balance usable on the day, before and after.
    pub balance_before: Points,
    pub balance_after: Points,
    /// The lot the points went into (a positive adjustment).
    pub added: Option<PointLot>,
    /// Lots points were taken from, soonest-expiring first (a negative adjustment).
    pub taken: Vec<LotTake>,
}

/// Why an adjustment was refused; the member's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdjustError {
    Zero,
    TooLarge { points: Points },
    BelowZero { balance: Points, asked: Points },
}

impl fmt::Display for AdjustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdjustError::Zero => write!(
                f,
                "an adjustment of 0 points changes nothing: give the points to add or take"
            ),
            AdjustError::TooLarge { points } => write!(
                f,
                "{points} points is more than one adjustment may change ({MAX_ADJUSTMENT})"
            ),
            AdjustError::BelowZero { balance, asked } => write!(
                f,
                "the member has {balance} points: taking {asked} would leave the balance \
                 below zero"
            ),
        }
    }
}

impl std::error::Error for AdjustError {}

impl MemberState {
    /// Adds `delta` points (as lot `lot_id`, earned `today`, expiring as the rules say) or takes
    /// `-delta` from the lots usable `today`, soonest-expiring first.
    pub fn adjust_points(
        &mut self,
        rules: &RuleSet,
        delta: Points,
        lot_id: &str,
        today: Date,
    ) -> Result<Adjusted, AdjustError> {
        if delta == 0 {
            return Err(AdjustError::Zero);
        }
        if delta.unsigned_abs() > MAX_ADJUSTMENT.unsigned_abs() {
            return Err(AdjustError::TooLarge { points: delta });
        }
        let balance_before = self.balance(today);
        if delta > 0 {
            let lot = PointLot {
                lot_id: lot_id.to_owned(),
                earned_on: today,
                expires_on: rules.expiry_for(today),
                points: delta,
            };
            self.add_to_lot(lot.clone());
            return Ok(Adjusted {
                balance_before,
                balance_after: self.balance(today),
                added: Some(lot),
                taken: Vec::new(),
            });
        }
        let asked = -delta;
        if asked > balance_before {
            return Err(AdjustError::BelowZero {
                balance: balance_before,
                asked,
            });
        }
        let mut left = asked;
        let mut taken = Vec::new();
        for lot in self.live_lots(today) {
            if left == 0 {
                break;
            }
            let points = lot.points.min(left);
            left -= points;
            taken.push(LotTake {
                lot_id: lot.lot_id.clone(),
                earned_on: lot.earned_on,
                expires_on: lot.expires_on,
                points,
            });
        }
        for take in &taken {
            self.take_from_lot(&take.lot_id, take.points);
        }
        Ok(Adjusted {
            balance_before,
            balance_after: self.balance(today),
            added: None,
            taken,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn added_points_expire_as_earned_points_do() {
        let rules = RuleSet::demo();
        let mut state = MemberState::default();
        let done = state
            .adjust_points(&rules, 300, "adj-1", day("2026-12-01"))
            .unwrap();
        assert_eq!((done.balance_before, done.balance_after), (0, 300));
        let lot = done.added.unwrap();
        assert_eq!(lot.expires_on, rules.expiry_for(day("2026-12-01")));
        assert_eq!(state.balance(day("2026-12-01")), 300);
    }

    #[test]
    fn taking_starts_with_the_soonest_expiring_lot_and_never_goes_below_zero() {
        let rules = RuleSet::demo();
        let mut state = MemberState::default();
        state
            .adjust_points(&rules, 100, "early", day("2026-01-10"))
            .unwrap();
        state
            .adjust_points(&rules, 200, "late", day("2026-06-10"))
            .unwrap();
        let today = day("2026-07-01");
        let before = state.clone();
        assert_eq!(
            state.adjust_points(&rules, -301, "x", today),
            Err(AdjustError::BelowZero {
                balance: 300,
                asked: 301
            })
        );
        assert_eq!(state, before, "a refused adjustment changes nothing");
        let done = state.adjust_points(&rules, -150, "x", today).unwrap();
        let taken: Vec<_> = done
            .taken
            .iter()
            .map(|t| (t.lot_id.as_str(), t.points))
            .collect();
        assert_eq!(taken, [("early", 100), ("late", 50)]);
        assert_eq!(state.balance(today), 150);
    }

    #[test]
    fn zero_and_absurd_adjustments_are_refused() {
        let rules = RuleSet::demo();
        let mut state = MemberState::default();
        let today = day("2026-07-01");
        assert_eq!(
            state.adjust_points(&rules, 0, "x", today),
            Err(AdjustError::Zero)
        );
        assert!(matches!(
            state.adjust_points(&rules, Points::MIN, "x", today),
            Err(AdjustError::TooLarge { .. })
        ));
        assert_eq!(state, MemberState::default());
    }
}
