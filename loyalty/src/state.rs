//! A member's loyalty state, and how recorded outcomes change it.
//!
//! State is plain data in a normal form (sorted, no empty entries), so two states that mean the
//! same are equal. Applying an outcome is total and saturating: it never fails and never takes a
//! balance below zero, so the agent can replay local outcomes on top of any snapshot the hub sends.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::refund::RefundOutcome;
use crate::rules::{CouponBenefit, Points, RuleSet, Yen};
use crate::sale::SaleOutcome;

/// Points earned together, expiring together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointLot {
    /// The sale (or import) that earned it.
    pub lot_id: String,
    pub earned_on: Date,
    /// The last business day the points can be used.
    pub expires_on: Date,
    /// Points still in the lot.
    pub points: Points,
}

/// The order lots are used in: soonest-expiring first, then earliest earned, then by id. The
/// till and the hub take points in this order, so both must sort alike.
fn lot_order(a: &PointLot, b: &PointLot) -> std::cmp::Ordering {
    (a.expires_on, a.earned_on, a.lot_id.as_str()).cmp(&(
        b.expires_on,
        b.earned_on,
        b.lot_id.as_str(),
    ))
}

/// A single-use coupon held by a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub coupon_id: String,
    pub benefit: CouponBenefit,
    pub valid_from: Date,
    pub valid_until: Date,
}

impl Coupon {
    pub fn is_valid_on(&self, date: Date) -> bool {
        self.valid_from <= date && date <= self.valid_until
    }
}

/// The member's current stamp card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampCard {
    /// Stamps on the current card (always below the card size).
    pub count: u32,
    /// The latest business day that earned a stamp.
    pub last_stamp_on: Option<Date>,
    /// Every business day that earned a stamp, back to the late-recording window
    /// ([`LATE_RECORDING_DAYS`]): a POS that flushes its own queue records sales out of date
    /// order, and the one-stamp-a-day rule must hold whatever the order (docs/design.md §3).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub days: BTreeSet<Date>,
}

impl StampCard {
    /// Whether a stamp was already earned on `date`.
    pub fn stamped_on(&self, date: Date) -> bool {
        self.last_stamp_on == Some(date) || self.days.contains(&date)
    }
}

/// How many days after its business date a sale or refund may still be recorded. A member's
/// state remembers this much history (spend, stamp days, expired lots) behind the latest event,
/// so a late event is evaluated exactly as it would have been on its own day; anything older is
/// refused at the till and at the hub (docs/design.md §4).
pub const LATE_RECORDING_DAYS: i64 = 62;

/// Everything the engine needs to know about a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// Point lots, soonest-expiring first; no empty lots.
    #[serde(default)]
    pub lots: Vec<PointLot>,
    #[serde(default)]
    pub stamps: StampCard,
    /// Unused coupons by id.
    #[serde(default)]
    pub coupons: BTreeMap<String, Coupon>,
    /// Qualifying spend per business day (net of refunds); no zero days.
    #[serde(default)]
    pub spend: BTreeMap<Date, Yen>,
}

/// Points expiring on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring {
    pub points: Points,
    pub expires_on: Date,
}

/// What a cashier sees of a member on a given business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tier: String,
    pub balance: Points,
    /// Live points grouped by expiry day, soonest first.
    pub expiring: Vec<Expiring>,
    pub stamps: u32,
    pub card_size: u32,
    /// Coupons valid on or after the day, by id.
    pub coupons: Vec<Coupon>,
    pub qualifying_spend: Yen,
    /// The next tier's name and the yen to go; `None` at the top.
    pub next_tier: Option<(String, Yen)>,
}

impl MemberState {
    /// Points usable on `date` (lots not yet expired).
    pub fn balance(&self, date: Date) -> Points {
        self.live_lots(date)
            .fold(0, |sum: Points, l| sum.saturating_add(l.points))
    }

    /// Lots usable on `date`, soonest-expiring first (then earliest earned, then by id), whatever
    /// order they are stored in: a snapshot from the hub need not be sorted.
    ///
    /// Every change this type makes keeps the lots in that order, so the usual call only checks
    /// it and skips the expired ones, with nothing allocated: a regular customer holds a lot for
    /// each sale that earned, and a sale reads its lots (docs/benchmarks.md, "A member years in").
    pub fn live_lots(&self, date: Date) -> impl Iterator<Item = &PointLot> {
        let (in_order, sorted) = if self.lots.is_sorted_by(|a, b| lot_order(a, b).is_le()) {
            // Sorted by expiry first, so the expired lots are the ones before this.
            let first_live = self.lots.partition_point(|l| l.expires_on < date);
            (Some(self.lots[first_live..].iter()), None)
        } else {
            let mut live: Vec<&PointLot> =
                self.lots.iter().filter(|l| l.expires_on >= date).collect();
            live.sort_by(|a, b| lot_order(a, b));
            (None, Some(live.into_iter()))
        };
        in_order
            .into_iter()
            .flatten()
            .chain(sorted.into_iter().flatten())
    }

    /// Qualifying spend in the rolling window that ends on `date` (inclusive).
    pub fn qualifying_spend(&self, rules: &RuleSet, date: Date) -> Yen {
        let window = i32::try_from(rules.tiers.window_months).unwrap_or(i32::MAX);
        let from = date.add_months(-window).add_days(1);
        // At the start of the calendar the window is clamped, and can start after `date`:
        // an empty window, not a range that panics.
        if from > date {
            return 0;
        }
        self.spend
            .range(from..=date)
            .fold(0, |sum: Yen, (_, yen)| sum.saturating_add(*yen))
            .max(0)
    }

    /// The cashier's view on `date`.
    pub fn summary(&self, rules: &RuleSet, date: Date) -> Summary {
        let spend = self.qualifying_spend(rules, date);
        let mut expiring: Vec<Expiring> = Vec::new();
        // The balance as [`Self::balance`] sums it, in the same pass over the lots.
        let mut balance: Points = 0;
        for lot in self.live_lots(date) {
            balance = balance.saturating_add(lot.points);
            match expiring.last_mut() {
                Some(e) if e.expires_on == lot.expires_on => {
                    e.points = e.points.saturating_add(lot.points);
                }
                _ => expiring.push(Expiring {
                    points: lot.points,
                    expires_on: lot.expires_on,
                }),
            }
        }
        Summary {
            tier: rules.tier_for(spend).name.clone(),
            balance,
            expiring,
            stamps: self.stamps.count,
            card_size: rules.stamps.card_size,
            coupons: self
                .coupons
                .values()
                .filter(|c| c.valid_until >= date)
                .cloned()
                .collect(),
            qualifying_spend: spend,
            next_tier: rules
                .next_tier(spend)
                .map(|(level, remaining)| (level.name.clone(), remaining)),
        }
    }

    /// Drops what can no longer matter on `date`: lots expired, coupons past their last day,
    /// stamp days before it, spend older than the tier window. Keeps a long-lived state small.
    pub fn compact(&mut self, rules: &RuleSet, date: Date) {
        self.lots.retain(|l| l.expires_on >= date && l.points > 0);
        self.coupons.retain(|_, c| c.valid_until >= date);
        self.stamps.days.retain(|day| *day >= date);
        let window = i32::try_from(rules.tiers.window_months).unwrap_or(i32::MAX);
        let keep_from = date.add_months(-window);
        self.spend.retain(|day, _| *day > keep_from);
    }

    /// Compacts after an event of business date `latest`, keeping the late-recording window
    /// behind it, so an event recorded late still finds what it needs. The till and the hub
    /// call this after every outcome they apply.
    pub fn settle(&mut self, rules: &RuleSet, latest: Date) {
        self.compact(rules, latest.add_days(-LATE_RECORDING_DAYS));
    }

    /// What the till, its feed replay and the hub all do with a sale's outcome: apply it, then,
    /// with the rules when they are known, compact behind its business date ([`Self::settle`]).
    /// One place, so the till and the hub keep the same history behind each member.
    pub fn take_sale(&mut self, o: &SaleOutcome, rules: Option<&RuleSet>) {
        self.apply_sale(o);
        if let Some(rules) = rules {
            self.settle(rules, o.business_date);
        }
    }

    /// [`Self::take_sale`] for a refund's outcome.
    pub fn take_refund(&mut self, o: &RefundOutcome, rules: Option<&RuleSet>) {
        self.apply_refund(o);
        if let Some(rules) = rules {
            self.settle(rules, o.business_date);
        }
    }

    /// Applies a sale's outcome (computed by [`crate::evaluate_sale`] on this or an earlier
    /// state).
    pub fn apply_sale(&mut self, o: &SaleOutcome) {
        for coupon in &o.coupons_used {
            self.coupons.remove(&coupon.coupon_id);
        }
        for take in &o.lots_consumed {
            self.take_from_lot(&take.lot_id, take.points);
        }
        if let Some(lot) = &o.earned_lot {
            self.add_to_lot(lot.clone());
        }
        if o.stamps.added > 0 || o.stamps.cards_completed > 0 {
            self.stamps.count = o.stamps.count_after;
            // A sale recorded late does not move the latest stamp day back.
            self.stamps.last_stamp_on = self.stamps.last_stamp_on.max(Some(o.business_date));
        }
        if let Some(day) = o.stamps.day {
            self.stamps.days.insert(day);
        }
        for coupon in &o.coupons_issued {
            self.coupons
                .insert(coupon.coupon_id.clone(), coupon.clone());
        }
        self.add_spend(o.business_date, o.qualifying_spend_yen);
    }

    /// Applies a refund's outcome (computed by [`crate::evaluate_refund`]).
    pub fn apply_refund(&mut self, o: &RefundOutcome) {
        // Returned first: evaluation takes reversals from the state with returns in it.
        for lot in &o.points_returned {
            self.add_to_lot(lot.clone());
        }
        for take in &o.points_reversed {
            self.take_from_lot(&take.lot_id, take.points);
        }
        for id in &o.coupons_revoked {
            self.coupons.remove(id);
        }
        for coupon in &o.coupons_restored {
            self.coupons
                .insert(coupon.coupon_id.clone(), coupon.clone());
        }
        if o.stamps_reversed > 0 || o.cards_uncompleted > 0 {
            self.stamps.count = o.stamp_count_after;
            self.stamps.last_stamp_on = o.last_stamp_on_after;
        }
        if let Some(day) = o.stamp_day_released {
            self.stamps.days.remove(&day);
        }
        self.add_spend(
            o.sale_business_date,
            o.qualifying_spend_reversed_yen.saturating_neg(),
        );
    }

    pub(crate) fn take_from_lot(&mut self, lot_id: &str, points: Points) {
        if let Some(i) = self.lots.iter().position(|l| l.lot_id == lot_id) {
            let lot = &mut self.lots[i];
            lot.points = lot.points.saturating_sub(points).max(0);
            if lot.points == 0 {
                self.lots.remove(i);
            }
        }
    }

    pub(crate) fn add_to_lot(&mut self, lot: PointLot) {
        if lot.points <= 0 {
            return;
        }
        if let Some(existing) = self.lots.iter_mut().find(|l| l.lot_id == lot.lot_id) {
            existing.points = existing.points.saturating_add(lot.points);
            return;
        }
        let at = self.lots.partition_point(|l| lot_order(l, &lot).is_lt());
        self.lots.insert(at, lot);
    }

    fn add_spend(&mut self, date: Date, yen: Yen) {
        if yen == 0 {
            return;
        }
        let day = self.spend.entry(date).or_insert(0);
        *day = day.saturating_add(yen);
        if *day == 0 {
            self.spend.remove(&date);
        }
    }
}
