//! A member and a store's till following a history, with every invariant checked after each
//! step.

use std::collections::{BTreeMap, BTreeSet};

use tenpo_loyalty::{
    Coupon, Date, Line, MemberState, Points, Refund, RefundError, RefundOutcome, RuleSet, Sale,
    SaleOutcome, Yen, evaluate_refund, evaluate_sale,
};

use super::strategies::*;

/// A sale the member made, and what has been refunded of it so far.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub sale: Sale,
    pub outcome: SaleOutcome,
    pub refunded: Vec<Line>,
    pub reversed: Points,
    pub returned: Points,
    pub stamps_reversed: u32,
    pub spend_reversed: Yen,
    pub complete: bool,
}

/// A member and a store's till, following a history.
#[derive(Debug, Clone)]
pub struct World {
    pub rules: RuleSet,
    pub state: MemberState,
    pub date: Date,
    pub next_id: u32,
    pub sales: Vec<Recorded>,
    /// Points that should be in the lots (live or expired): earned − redeemed + given back −
    /// taken back − dropped by compaction.
    pub ledger: Points,
}

pub fn sum(lots: &[tenpo_loyalty::PointLot]) -> Points {
    lots.iter().map(|l| l.points).sum()
}

impl World {
    pub fn new(rules: RuleSet) -> World {
        World {
            rules,
            state: MemberState::default(),
            date: start(),
            next_id: 0,
            sales: Vec::new(),
            ledger: 0,
        }
    }

    pub fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// The sale a spec describes, on the current day: coupons the member holds and can use
    /// today, and a redemption within the balance and the sale.
    pub fn make_sale(&mut self, spec: &SaleSpec) -> Sale {
        let sale_id = self.id("sale-");
        let lines: Vec<Line> = spec
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| Line {
                sku: format!("sku{i}"),
                category: match l.category {
                    0 | 1 => Some("food".to_owned()),
                    2 => None,
                    3 => Some("giftcard".to_owned()),
                    _ => Some("drink".to_owned()),
                },
                quantity: l.quantity,
                amount_yen: l.amount,
            })
            .collect();
        let usable: Vec<String> = self
            .state
            .coupons
            .values()
            .filter(|c| c.is_valid_on(self.date))
            .map(|c| c.coupon_id.clone())
            .collect();
        let coupon_ids: Vec<String> = usable
            .into_iter()
            .take(8)
            .enumerate()
            .filter(|(n, _)| spec.coupon_mask & (1 << n) != 0)
            .map(|(_, id)| id)
            .collect();
        let mut sale = Sale {
            sale_id,
            store_id: format!("s{}", spec.store + 1),
            business_date: self.date,
            lines,
            redeem_points: 0,
            coupon_ids,
        };
        let probe = evaluate_sale(&self.rules, &self.state, &sale)
            .unwrap_or_else(|e| panic!("a valid sale was refused: {e}"));
        let r = &self.rules.redemption;
        let by_sale = (probe.gross_yen - probe.coupon_discount_yen) / r.yen_per_point;
        let most = self.state.balance(self.date).min(by_sale);
        let most = most - most % r.unit_points;
        let redeem = most * i64::from(spec.redeem_permille) / 1_000;
        sale.redeem_points = redeem - redeem % r.unit_points;
        sale
    }

    pub fn sell(&mut self, spec: &SaleSpec) -> (Sale, SaleOutcome) {
        let sale = self.make_sale(spec);
        let o = self.record(&sale);
        (sale, o)
    }

    /// Evaluates and applies a sale, and keeps it for refunds.
    pub fn record(&mut self, sale: &Sale) -> SaleOutcome {
        let o = evaluate_sale(&self.rules, &self.state, sale)
            .unwrap_or_else(|e| panic!("a valid sale was refused: {e}"));
        assert_eq!(sum(&o.lots_consumed), o.redeemed_points);
        assert!(o.earned_points >= 0);
        assert!(
            o.lots_consumed.iter().all(|l| l.expires_on >= self.date),
            "only live lots are redeemed"
        );
        self.state.apply_sale(&o);
        self.ledger += o.earned_points - o.redeemed_points;
        self.sales.push(Recorded {
            sale: sale.clone(),
            outcome: o.clone(),
            refunded: Vec::new(),
            reversed: 0,
            returned: 0,
            stamps_reversed: 0,
            spend_reversed: 0,
            complete: false,
        });
        o
    }

    /// What is left to refund of a sale, by sku: (quantity, yen).
    pub fn left(&self, n: usize) -> BTreeMap<String, (i64, Yen)> {
        let mut left: BTreeMap<String, (i64, Yen)> = BTreeMap::new();
        let rec = &self.sales[n];
        for l in &rec.sale.lines {
            let e = left.entry(l.sku.clone()).or_default();
            e.0 += l.quantity;
            e.1 += l.amount_yen;
        }
        for l in &rec.refunded {
            let e = left.get_mut(&l.sku).unwrap();
            e.0 -= l.quantity;
            e.1 -= l.amount_yen;
        }
        left
    }

    /// Some of what is left of a sale, or all of it.
    pub fn partial(&self, n: usize, rng: &mut Rng) -> Option<Vec<Line>> {
        let left: Vec<(String, (i64, Yen))> = self
            .left(n)
            .into_iter()
            .filter(|(_, (q, _))| *q > 0)
            .collect();
        if left.is_empty() {
            return None;
        }
        let everything = rng.chance(4);
        let mut lines = Vec::new();
        for (sku, (q, a)) in &left {
            if !everything && !rng.chance(2) {
                continue;
            }
            let quantity = if everything { *q } else { rng.range(1, *q) };
            let amount = if quantity == *q && (everything || !rng.chance(4)) {
                *a
            } else {
                rng.range(0, *a)
            };
            lines.push(line(sku, quantity, amount));
        }
        if lines.is_empty() {
            let (sku, (q, a)) = &left[0];
            lines.push(line(sku, rng.range(1, *q), rng.range(0, *a)));
        }
        Some(lines)
    }

    pub fn refund(&mut self, n: usize, lines: Vec<Line>) -> RefundOutcome {
        let refund = Refund {
            refund_id: self.id("refund-"),
            business_date: self.date,
            lines: lines.clone(),
        };
        let rec = &self.sales[n];
        let out = evaluate_refund(
            &self.rules,
            &self.state,
            &rec.sale.lines,
            &rec.outcome,
            &rec.refunded,
            &refund,
        )
        .unwrap_or_else(|e| panic!("a valid refund was refused: {e}"));
        // The outcome accounts for itself.
        assert!(out.shortfall_points >= 0 && out.shortfall_points <= out.reversed_points);
        assert_eq!(
            sum(&out.points_reversed),
            out.reversed_points - out.shortfall_points
        );
        assert_eq!(sum(&out.points_returned), out.returned_points);
        assert!(out.points_reversed.iter().all(|l| l.points > 0));
        assert!(out.points_returned.iter().all(|l| l.points > 0));
        assert_eq!(out.sale_id, rec.outcome.sale_id);
        let before = self.state.clone();
        self.state.apply_refund(&out);
        self.ledger += out.returned_points - (out.reversed_points - out.shortfall_points);
        // A coupon is revoked only if the member held it.
        for id in &out.coupons_revoked {
            assert!(before.coupons.contains_key(id));
            assert!(!self.state.coupons.contains_key(id));
        }
        for id in &out.coupons_not_recovered {
            assert!(!before.coupons.contains_key(id));
        }

        let rec = &mut self.sales[n];
        rec.refunded.extend(lines);
        rec.reversed += out.reversed_points;
        rec.returned += out.returned_points;
        rec.stamps_reversed += out.stamps_reversed;
        rec.spend_reversed += out.qualifying_spend_reversed_yen;
        assert!(!rec.complete, "a completed sale cannot be refunded again");
        rec.complete = out.completes_sale;
        // Never more than the sale did; exactly what it did once it is all refunded.
        let o = &rec.outcome;
        assert!(rec.reversed <= o.earned_points);
        assert!(rec.returned <= o.redeemed_points);
        assert!(rec.stamps_reversed <= o.stamps.added);
        assert!(rec.spend_reversed <= o.qualifying_spend_yen);
        if rec.complete {
            assert_eq!(rec.reversed, o.earned_points);
            assert_eq!(rec.returned, o.redeemed_points);
            assert_eq!(rec.stamps_reversed, o.stamps.added);
            assert_eq!(rec.spend_reversed, o.qualifying_spend_yen);
        }
        out
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Sale(spec) => {
                self.sell(spec);
            }
            Op::Refund { pick, seed } => {
                if self.sales.is_empty() {
                    return;
                }
                let n = pick % self.sales.len();
                let mut rng = Rng(*seed);
                if rng.chance(5) {
                    self.refuse_too_much(n, &mut rng);
                }
                if let Some(lines) = self.partial(n, &mut rng) {
                    self.refund(n, lines);
                }
            }
            Op::Advance(days) => self.date = self.date.add_days(*days),
            Op::HubCoupon {
                benefit,
                starts_in,
                days,
            } => {
                let coupon_id = self.id("hub-");
                let valid_from = self.date.add_days(*starts_in);
                self.state.coupons.insert(
                    coupon_id.clone(),
                    Coupon {
                        coupon_id,
                        benefit: *benefit,
                        valid_from,
                        valid_until: valid_from.add_days(days - 1),
                    },
                );
            }
            Op::Compact => {
                let before = sum(&self.state.lots);
                let summary = self.state.summary(&self.rules, self.date);
                self.state.compact(&self.rules, self.date);
                assert_eq!(self.state.summary(&self.rules, self.date), summary);
                self.ledger -= before - sum(&self.state.lots);
            }
        }
    }

    /// Refunding more than is left of a sale is refused, and changes nothing.
    pub fn refuse_too_much(&self, n: usize, rng: &mut Rng) {
        let left = self.left(n);
        let Some((sku, (q, a))) = left
            .iter()
            .nth(rng.range(0, left.len() as i64 - 1) as usize)
        else {
            return;
        };
        let (quantity, amount) = if rng.chance(2) || *q < 1 {
            (q + 1, *a)
        } else {
            (*q, a + 1)
        };
        let refund = Refund {
            refund_id: "too-much".into(),
            business_date: self.date,
            lines: vec![line(sku, quantity.max(1), amount)],
        };
        let rec = &self.sales[n];
        let got = evaluate_refund(
            &self.rules,
            &self.state,
            &rec.sale.lines,
            &rec.outcome,
            &rec.refunded,
            &refund,
        );
        assert!(
            matches!(got, Err(RefundError::MoreThanSold { .. })),
            "{got:?}"
        );
    }

    pub fn check(&self) {
        let (rules, state, date) = (&self.rules, &self.state, self.date);
        // Lots: no empty or negative lots, one per id, soonest-expiring first.
        assert!(state.lots.iter().all(|l| l.points > 0), "{:?}", state.lots);
        let ids: BTreeSet<&str> = state.lots.iter().map(|l| l.lot_id.as_str()).collect();
        assert_eq!(ids.len(), state.lots.len(), "one lot per id");
        assert!(
            state
                .lots
                .windows(2)
                .all(|w| w[0].expires_on <= w[1].expires_on),
            "lots are kept soonest-expiring first: {:?}",
            state.lots
        );
        // Every point is accounted for.
        assert_eq!(sum(&state.lots), self.ledger);
        // The balance is the sum of the live lots, and never negative.
        let balance = state.balance(date);
        let live: Points = state
            .lots
            .iter()
            .filter(|l| l.expires_on >= date)
            .map(|l| l.points)
            .sum();
        assert_eq!(balance, live);
        assert!(balance >= 0);
        let summary = state.summary(rules, date);
        assert_eq!(summary.balance, balance);
        assert_eq!(
            summary.expiring.iter().map(|e| e.points).sum::<Points>(),
            balance
        );
        assert!(
            summary
                .expiring
                .windows(2)
                .all(|w| w[0].expires_on < w[1].expires_on)
        );
        assert!(summary.expiring.iter().all(|e| e.expires_on >= date));
        // Tier progress.
        let spend = state.qualifying_spend(rules, date);
        assert!(spend >= 0);
        assert_eq!(summary.tier, rules.tier_for(spend).name);
        match &summary.next_tier {
            Some((_, yen)) => assert!(*yen > 0),
            None => assert_eq!(summary.tier, rules.tiers.levels.last().unwrap().name),
        }
        // Spend in the window is positive, day by day. (Outside it, a refund of a sale whose
        // day compaction dropped leaves a negative day, which can no longer count.)
        let from = date.add_months(-(rules.tiers.window_months as i32));
        for (day, yen) in &state.spend {
            assert!(*yen != 0);
            if *day > from {
                assert!(*yen > 0, "{day}: {yen}");
            }
        }
        // Stamps stay on the card.
        assert!(state.stamps.count < rules.stamps.card_size);
    }
}

pub fn line(sku: &str, quantity: i64, amount_yen: Yen) -> Line {
    Line {
        sku: sku.to_owned(),
        category: None,
        quantity,
        amount_yen,
    }
}

/// Splits all that is left of a sale into `parts` refunds (fewer if the quantities are too
/// few), each with at least one line.
pub fn split_whole(
    left: &BTreeMap<String, (i64, Yen)>,
    parts: usize,
    rng: &mut Rng,
) -> Vec<Vec<Line>> {
    let mut refunds: Vec<Vec<Line>> = vec![Vec::new(); parts];
    for (sku, &(q, a)) in left {
        if q == 0 {
            continue;
        }
        // This sku goes into k distinct refunds, each with at least one unit.
        let k = rng.range(1, q.min(parts as i64)) as usize;
        let mut slots: Vec<usize> = (0..parts).collect();
        for i in 0..parts {
            let j = rng.range(i as i64, parts as i64 - 1) as usize;
            slots.swap(i, j);
        }
        let mut slots = slots[..k].to_vec();
        slots.sort_unstable();
        let (mut q_left, mut a_left) = (q, a);
        for (n, slot) in slots.iter().enumerate() {
            let last = n + 1 == k;
            let quantity = if last {
                q_left
            } else {
                rng.range(1, q_left - (k - n - 1) as i64)
            };
            let amount = if last { a_left } else { rng.range(0, a_left) };
            q_left -= quantity;
            a_left -= amount;
            refunds[*slot].push(line(sku, quantity, amount));
        }
    }
    refunds.retain(|r| !r.is_empty());
    refunds
}

pub fn world_after(rules: RuleSet, ops: &[Op]) -> World {
    let mut world = World::new(rules);
    for op in ops {
        world.apply(op);
        world.check();
    }
    world
}
