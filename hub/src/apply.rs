//! What applying a terminal's event means, independent of storage: the pure part shared by
//! every [`crate::store::HubStore`] backend.
//!
//! The hub applies the OUTCOME the till recorded (what the customer was told is honoured,
//! docs/design.md §4) and, separately, re-evaluates each member sale with the rule-set version
//! recorded on it against the hub's own state before the event. A difference is reported as a
//! [`Discrepancy`], never applied.

use serde::Serialize;
use tenpo_loyalty::{MemberState, Points, RuleSet, Sale, SaleError, SaleOutcome, Yen};
use tenpo_protocol::sync::MemberSnapshot;

/// The figures of a sale a customer sees and a discrepancy compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub earned_points: Points,
    pub redeemed_points: Points,
    pub discount_yen: Yen,
    pub stamps_added: u32,
    pub cards_completed: u32,
    pub coupons_used: Vec<String>,
    pub coupons_issued: Vec<String>,
}

impl Figures {
    pub fn of(o: &SaleOutcome) -> Figures {
        Figures {
            earned_points: o.earned_points,
            redeemed_points: o.redeemed_points,
            discount_yen: o.discount_yen(),
            stamps_added: o.stamps.added,
            cards_completed: o.stamps.cards_completed,
            coupons_used: o.coupons_used.iter().map(|c| c.coupon_id.clone()).collect(),
            coupons_issued: o
                .coupons_issued
                .iter()
                .map(|c| c.coupon_id.clone())
                .collect(),
        }
    }

    /// The names of the figures that differ, for the log and the report.
    fn differences(&self, hub: &Figures) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |name: &str, till: String, hubv: String| {
            if till != hubv {
                out.push(format!("{name}: till {till}, hub {hubv}"));
            }
        };
        cmp(
            "earned points",
            self.earned_points.to_string(),
            hub.earned_points.to_string(),
        );
        cmp(
            "redeemed points",
            self.redeemed_points.to_string(),
            hub.redeemed_points.to_string(),
        );
        cmp(
            "discount yen",
            self.discount_yen.to_string(),
            hub.discount_yen.to_string(),
        );
        cmp(
            "stamps",
            self.stamps_added.to_string(),
            hub.stamps_added.to_string(),
        );
        cmp(
            "cards completed",
            self.cards_completed.to_string(),
            hub.cards_completed.to_string(),
        );
        cmp(
            "coupons used",
            format!("{:?}", self.coupons_used),
            format!("{:?}", hub.coupons_used),
        );
        cmp(
            "coupons issued",
            format!("{:?}", self.coupons_issued),
            format!("{:?}", hub.coupons_issued),
        );
        out
    }
}

/// A sale the hub would have evaluated differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub till: Figures,
    /// `None` when the hub could not evaluate the sale at all (unknown rules, refused).
    pub hub: Option<Figures>,
    /// Why the hub refused the sale on its own state, when it did.
    pub refusal: Option<SaleError>,
    /// The tier the hub held the member at when the sale started, when it evaluated it.
    pub hub_tier: Option<String>,
    pub detail: String,
}

/// Re-evaluates a till's `sale` with `rules` (the version recorded on its `outcome`, if the
/// hub has it) against `before`, the hub's state of the member before the event.
pub fn reevaluate(
    rules: Option<&RuleSet>,
    before: &MemberState,
    sale: &Sale,
    outcome: &SaleOutcome,
) -> Option<Discrepancy> {
    let till = Figures::of(outcome);
    let Some(rules) = rules else {
        return Some(Discrepancy {
            till,
            hub: None,
            refusal: None,
            hub_tier: None,
            detail: format!(
                "rule set version {} is unknown to the hub: load it with `tenpo-hub load-rules`",
                outcome.rules_version
            ),
        });
    };
    match tenpo_loyalty::evaluate_sale(rules, before, sale) {
        Ok(hub_outcome) => {
            let hub = Figures::of(&hub_outcome);
            let diffs = till.differences(&hub);
            (!diffs.is_empty()).then(|| Discrepancy {
                till,
                hub: Some(hub),
                refusal: None,
                hub_tier: Some(hub_outcome.tier_at_start),
                detail: diffs.join("; "),
            })
        }
        Err(e) => Some(Discrepancy {
            till,
            hub: None,
            detail: format!("the hub refuses this sale on its own state: {e}"),
            refusal: Some(e),
            hub_tier: None,
        }),
    }
}

/// Applies a recorded sale outcome to a member snapshot, for terminal `terminal_id`'s event
/// `seq`; compaction uses the rules in force when they are known.
pub fn apply_sale(
    member: &mut MemberSnapshot,
    outcome: &SaleOutcome,
    rules: Option<&RuleSet>,
    terminal_id: &str,
    seq: u64,
) {
    member.state.take_sale(outcome, rules);
    mark_applied(member, terminal_id, seq);
}

/// Records that terminal `terminal_id`'s events through `seq` that name this member are in the
/// snapshot.
pub fn mark_applied(member: &mut MemberSnapshot, terminal_id: &str, seq: u64) {
    let at = member
        .applied_through
        .entry(terminal_id.to_owned())
        .or_insert(0);
    *at = (*at).max(seq);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tenpo_loyalty::{Line, PointLot, evaluate_sale};

    fn sale(redeem: Points) -> Sale {
        Sale {
            sale_id: "s1".into(),
            store_id: "st".into(),
            business_date: "2026-11-22".parse().unwrap(),
            lines: vec![Line {
                sku: "tea".into(),
                category: None,
                quantity: 1,
                amount_yen: 2_000,
            }],
            redeem_points: redeem,
            coupon_ids: vec![],
        }
    }

    #[test]
    fn same_state_same_rules_no_discrepancy_and_other_state_one() {
        let rules = RuleSet::demo();
        let mut state = MemberState::default();
        state.lots.push(PointLot {
            lot_id: "import".into(),
            earned_on: "2026-11-01".parse().unwrap(),
            expires_on: "2027-11-30".parse().unwrap(),
            points: 500,
        });
        let s = sale(300);
        let o = evaluate_sale(&rules, &state, &s).unwrap();
        assert_eq!(reevaluate(Some(&rules), &state, &s, &o), None);
        // The hub's member has fewer points (another till spent them): reported.
        let d = reevaluate(Some(&rules), &MemberState::default(), &s, &o).unwrap();
        assert!(d.hub.is_none());
        assert!(d.detail.contains("refuses"), "{}", d.detail);
        // Unknown rules: reported, named.
        let d = reevaluate(None, &state, &s, &o).unwrap();
        assert!(d.detail.contains("version 1"), "{}", d.detail);
    }
}
