//! Property tests: random programs, random members built by random histories of sales,
//! redemptions, coupons and refunds, and the engine's invariants over them.
//!
//! - a whole refund, in one part or several, returns the member to the state before the sale;
//! - a balance is the sum of its live lots and never negative, and every point is accounted for;
//! - evaluation is deterministic, and outcomes and states survive a serde round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tenpo_loyalty::{
    Campaign, CampaignBenefit, Coupon, CouponBenefit, CouponTemplate, Date, ExpiryAt, Line,
    MemberState, Points, Refund, RefundError, RefundOutcome, RuleSet, Sale, SaleOutcome, Stacking,
    StampEarn, WeekdayKey, Yen, evaluate_refund, evaluate_sale,
};

const CASES: u32 = 256;

fn start() -> Date {
    Date::from_ymd(2026, 1, 5).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A small deterministic generator for choices made inside a case (how to split a refund).
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

fn campaign_strategy(i: usize) -> impl Strategy<Value = Campaign> {
    (
        0i64..200,
        0i64..400,
        any::<u8>(),
        0u8..4,
        prop_oneof![Just(0), 0i64..5_000],
        prop_oneof![
            (1u32..=500).prop_map(|percent| CampaignBenefit::Multiplier { percent }),
            (0i64..=200).prop_map(|points| CampaignBenefit::Bonus { points }),
        ],
    )
        .prop_map(move |(from, len, days, stores, min_spend_yen, benefit)| {
            let all = [
                WeekdayKey::Mon,
                WeekdayKey::Tue,
                WeekdayKey::Wed,
                WeekdayKey::Thu,
                WeekdayKey::Fri,
                WeekdayKey::Sat,
                WeekdayKey::Sun,
            ];
            // Most campaigns run every day; some only on a few.
            let weekdays: BTreeSet<WeekdayKey> = if days < 160 {
                BTreeSet::new()
            } else {
                all.iter()
                    .enumerate()
                    .filter(|(n, _)| days & (1 << n) != 0)
                    .map(|(_, w)| *w)
                    .collect()
            };
            let stores = match stores {
                0 | 1 => BTreeSet::new(),
                2 => BTreeSet::from(["s1".to_owned()]),
                _ => BTreeSet::from(["s2".to_owned()]),
            };
            Campaign {
                id: format!("c{i}"),
                starts_on: start().add_days(from),
                ends_on: start().add_days(from + len),
                weekdays,
                stores,
                min_spend_yen,
                benefit,
            }
        })
}

fn rules_strategy() -> impl Strategy<Value = RuleSet> {
    let shape = (
        prop_oneof![Just(100i64), Just(100), Just(1), Just(250)],
        prop_oneof![
            Just(Stacking::Additive),
            Just(Stacking::Multiplicative),
            Just(Stacking::Best)
        ],
        1u32..=12,
        prop_oneof![Just(100u32), 50u32..=300],
        prop_oneof![
            (1i64..=2_000).prop_map(|min_spend_yen| StampEarn::Visit { min_spend_yen }),
            Just(StampEarn::Visit {
                min_spend_yen: 1_000
            }),
            (100i64..=1_000).prop_map(|yen_per_stamp| StampEarn::Spend { yen_per_stamp }),
        ],
        1u32..=5,
    );
    let rest = (
        prop_oneof![
            (1i64..=1_000).prop_map(|value_yen| CouponBenefit::Discount { value_yen }),
            (1i64..=300).prop_map(|points| CouponBenefit::PointsBonus { points }),
        ],
        1u32..=200,
        1u32..=13,
        any::<bool>(),
        prop_oneof![Just(1i64), Just(1), Just(2)],
        prop_oneof![Just(1i64), Just(1), Just(10)],
        prop_oneof![
            Just(Vec::new()),
            (campaign_strategy(0), campaign_strategy(1)).prop_map(|(a, b)| vec![a, b]),
            campaign_strategy(0).prop_map(|c| vec![c]),
            (
                campaign_strategy(0),
                campaign_strategy(1),
                campaign_strategy(2)
            )
                .prop_map(|(a, b, c)| vec![a, b, c]),
        ],
    );
    (prop_oneof![Just(true), any::<bool>()], shape, rest).prop_map(
        |(
            demo,
            (earn_ypp, stacking, window, top_mult, stamp_earn, card_size),
            (reward, valid_days, expiry_months, same_day, redeem_ypp, unit, campaigns),
        )| {
            let mut rules = RuleSet::demo();
            if !demo {
                rules.earning.yen_per_point = earn_ypp;
                rules.earning.stacking = stacking;
                rules.tiers.window_months = window;
                rules.tiers.levels[1].multiplier_percent = top_mult;
                rules.stamps.earn = stamp_earn;
                rules.stamps.card_size = card_size;
                rules.stamps.reward = CouponTemplate {
                    benefit: reward,
                    valid_days,
                };
                rules.expiry.months = expiry_months;
                rules.expiry.at = if same_day {
                    ExpiryAt::SameDay
                } else {
                    ExpiryAt::EndOfMonth
                };
                rules.redemption.yen_per_point = redeem_ypp;
                rules.redemption.unit_points = unit;
            } else {
                // The demo program, with a smaller stamp card so cards complete often.
                rules.stamps.card_size = card_size.max(2);
            }
            rules.campaigns = campaigns;
            rules.validate().unwrap();
            rules
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Histories
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct LineSpec {
    category: u8,
    quantity: i64,
    amount: Yen,
}

#[derive(Debug, Clone)]
struct SaleSpec {
    lines: Vec<LineSpec>,
    /// Share of the most that may be redeemed, in thousandths.
    redeem_permille: u32,
    coupon_mask: u8,
    store: u8,
}

#[derive(Debug, Clone)]
enum Op {
    Sale(SaleSpec),
    /// A partial (sometimes whole) refund of an earlier sale, chosen and split by the seed.
    Refund {
        pick: usize,
        seed: u64,
    },
    Advance(i64),
    /// A coupon issued by the hub (birthday month, say).
    HubCoupon {
        benefit: CouponBenefit,
        starts_in: i64,
        days: i64,
    },
    Compact,
}

fn line_strategy() -> impl Strategy<Value = LineSpec> {
    (
        0u8..6,
        prop_oneof![Just(1i64), 1i64..=4],
        prop_oneof![
            3 => 0i64..=3_000,
            2 => 0i64..=20_000,
            1 => 20_000i64..=60_000,
        ],
    )
        .prop_map(|(category, quantity, amount)| LineSpec {
            category,
            quantity,
            amount,
        })
}

fn sale_strategy() -> impl Strategy<Value = SaleSpec> {
    (
        prop::collection::vec(line_strategy(), 1..=4),
        prop_oneof![Just(0u32), Just(1_000), 0u32..=1_000],
        any::<u8>(),
        0u8..2,
    )
        .prop_map(|(lines, redeem_permille, coupon_mask, store)| SaleSpec {
            lines,
            redeem_permille,
            coupon_mask,
            store,
        })
}

fn op_strategy(compact: bool) -> impl Strategy<Value = Op> {
    let compact_weight = if compact { 1 } else { 0 };
    prop_oneof![
        6 => sale_strategy().prop_map(Op::Sale),
        3 => (any::<usize>(), any::<u64>()).prop_map(|(pick, seed)| Op::Refund { pick, seed }),
        2 => prop_oneof![Just(0i64), 1i64..=3, 1i64..=90].prop_map(Op::Advance),
        1 => (
            prop_oneof![
                (1i64..=1_500).prop_map(|value_yen| CouponBenefit::Discount { value_yen }),
                (1i64..=500).prop_map(|points| CouponBenefit::PointsBonus { points }),
            ],
            -10i64..=10,
            1i64..=60,
        )
            .prop_map(|(benefit, starts_in, days)| Op::HubCoupon { benefit, starts_in, days }),
        compact_weight => Just(Op::Compact),
    ]
}

/// A sale the member made, and what has been refunded of it so far.
#[derive(Debug, Clone)]
struct Recorded {
    sale: Sale,
    outcome: SaleOutcome,
    refunded: Vec<Line>,
    reversed: Points,
    returned: Points,
    stamps_reversed: u32,
    spend_reversed: Yen,
    complete: bool,
}

/// A member and a store's till, following a history.
#[derive(Debug, Clone)]
struct World {
    rules: RuleSet,
    state: MemberState,
    date: Date,
    next_id: u32,
    sales: Vec<Recorded>,
    /// Points that should be in the lots (live or expired): earned − redeemed + given back −
    /// taken back − dropped by compaction.
    ledger: Points,
}

fn sum(lots: &[tenpo_loyalty::PointLot]) -> Points {
    lots.iter().map(|l| l.points).sum()
}

impl World {
    fn new(rules: RuleSet) -> World {
        World {
            rules,
            state: MemberState::default(),
            date: start(),
            next_id: 0,
            sales: Vec::new(),
            ledger: 0,
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// The sale a spec describes, on the current day: coupons the member holds and can use
    /// today, and a redemption within the balance and the sale.
    fn make_sale(&mut self, spec: &SaleSpec) -> Sale {
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

    fn sell(&mut self, spec: &SaleSpec) -> (Sale, SaleOutcome) {
        let sale = self.make_sale(spec);
        let o = self.record(&sale);
        (sale, o)
    }

    /// Evaluates and applies a sale, and keeps it for refunds.
    fn record(&mut self, sale: &Sale) -> SaleOutcome {
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
    fn left(&self, n: usize) -> BTreeMap<String, (i64, Yen)> {
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
    fn partial(&self, n: usize, rng: &mut Rng) -> Option<Vec<Line>> {
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

    fn refund(&mut self, n: usize, lines: Vec<Line>) -> RefundOutcome {
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

    fn apply(&mut self, op: &Op) {
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
    fn refuse_too_much(&self, n: usize, rng: &mut Rng) {
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

    fn check(&self) {
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

fn line(sku: &str, quantity: i64, amount_yen: Yen) -> Line {
    Line {
        sku: sku.to_owned(),
        category: None,
        quantity,
        amount_yen,
    }
}

/// Splits all that is left of a sale into `parts` refunds (fewer if the quantities are too
/// few), each with at least one line.
fn split_whole(left: &BTreeMap<String, (i64, Yen)>, parts: usize, rng: &mut Rng) -> Vec<Vec<Line>> {
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

fn world_after(rules: RuleSet, ops: &[Op]) -> World {
    let mut world = World::new(rules);
    for op in ops {
        world.apply(op);
        world.check();
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// (a) A whole refund, in one part or several, returns the member to the state before the
    /// sale: points (earned taken back, redeemed given back to their lots), stamps and the
    /// day's stamp, reward coupons, coupons used, and tier progress.
    #[test]
    fn a_whole_refund_restores_the_member(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(false), 0..16),
        spec in sale_strategy(),
        parts in 1usize..=4,
        seed in any::<u64>(),
        later in prop::collection::vec(prop_oneof![Just(0i64), 0i64..=40], 4),
    ) {
        let mut world = world_after(rules, &history);
        let before = world.state.clone();
        let (sale, outcome) = world.sell(&spec);
        world.check();
        let n = world.sales.len() - 1;
        let totals = |outs: &[RefundOutcome]| {
            let mut revoked: Vec<String> =
                outs.iter().flat_map(|o| o.coupons_revoked.iter().cloned()).collect();
            revoked.sort();
            (
                outs.iter().map(|o| o.reversed_points).sum::<Points>(),
                outs.iter().map(|o| o.returned_points).sum::<Points>(),
                outs.iter().map(|o| o.stamps_reversed).sum::<u32>(),
                outs.iter().map(|o| o.cards_uncompleted).sum::<u32>(),
                outs.iter().map(|o| o.qualifying_spend_reversed_yen).sum::<Yen>(),
                revoked,
            )
        };
        // One whole refund, for comparison.
        let mut whole = world.clone();
        let all = whole.left(n).into_iter().map(|(sku, (q, a))| line(&sku, q, a)).collect();
        let one = whole.refund(n, all);
        prop_assert_eq!(&whole.state, &before);

        let mut rng = Rng(seed);
        let refunds = split_whole(&world.left(n), parts, &mut rng);
        let count = refunds.len();
        let mut outs = Vec::new();
        for (i, lines) in refunds.into_iter().enumerate() {
            world.date = world.date.add_days(later[i]);
            let out = world.refund(n, lines);
            world.check();
            prop_assert_eq!(out.completes_sale, i + 1 == count);
            prop_assert_eq!(out.shortfall_points, 0);
            prop_assert_eq!(out.shortfall_stamps, 0);
            prop_assert!(out.coupons_not_recovered.is_empty());
            outs.push(out);
        }
        prop_assert!(world.sales[n].complete, "{:?} {:?}", sale, outcome);
        prop_assert_eq!(&world.state, &before);
        prop_assert_eq!(totals(&outs), totals(&[one]));
    }

    /// (b) Across random histories of sales, redemptions, coupons, partial refunds and
    /// compaction, a balance is the sum of its live lots and never negative, and every point is
    /// accounted for (see `World::check`).
    #[test]
    fn balances_are_live_lots_and_never_negative(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(true), 1..40),
    ) {
        let world = world_after(rules, &history);
        // Refunding whatever is left of every sale, latest first, keeps the invariants too.
        let mut world = world;
        for n in (0..world.sales.len()).rev() {
            let left: BTreeMap<String, (i64, Yen)> =
                world.left(n).into_iter().filter(|(_, (q, _))| *q > 0).collect();
            if !left.is_empty() {
                let lines = left.into_iter().map(|(sku, (q, a))| line(&sku, q, a)).collect();
                world.refund(n, lines);
                world.check();
            }
        }
    }

    /// (c) Evaluation is deterministic, and outcomes and states survive a serde round trip.
    #[test]
    fn evaluation_is_deterministic_and_round_trips(
        rules in rules_strategy(),
        history in prop::collection::vec(op_strategy(false), 0..16),
        spec in sale_strategy(),
        seed in any::<u64>(),
    ) {
        let world = world_after(rules.clone(), &history);
        let replayed = world_after(rules.clone(), &history);
        prop_assert_eq!(&world.state, &replayed.state);

        // Rule sets.
        let toml_text = toml::to_string(&rules).unwrap();
        prop_assert_eq!(&toml::from_str::<RuleSet>(&toml_text).unwrap(), &rules);
        let json = serde_json::to_string(&rules).unwrap();
        prop_assert_eq!(&serde_json::from_str::<RuleSet>(&json).unwrap(), &rules);

        // States.
        let json = serde_json::to_string(&world.state).unwrap();
        let state: MemberState = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&state, &world.state);
        prop_assert_eq!(serde_json::to_string(&state).unwrap(), json);

        // Sales.
        let mut w = world.clone();
        let sale = w.make_sale(&spec);
        let a = evaluate_sale(&rules, &world.state, &sale).unwrap();
        let b = evaluate_sale(&rules, &state, &sale).unwrap();
        prop_assert_eq!(&a, &b);
        let json = serde_json::to_string(&a).unwrap();
        let back: SaleOutcome = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &a);
        let mut applied = world.state.clone();
        applied.apply_sale(&a);
        let mut applied_back = state.clone();
        applied_back.apply_sale(&back);
        prop_assert_eq!(&applied, &applied_back);

        // Refunds.
        let o = w.record(&sale);
        let n = w.sales.len() - 1;
        prop_assert_eq!(&o, &a);
        let mut rng = Rng(seed);
        if let Some(lines) = w.partial(n, &mut rng) {
            let refund = Refund { refund_id: "r".into(), business_date: w.date, lines };
            let rec = &w.sales[n];
            let x = evaluate_refund(&rules, &w.state, &rec.sale.lines, &o, &[], &refund).unwrap();
            let y = evaluate_refund(&rules, &w.state.clone(), &rec.sale.lines, &back, &[], &refund)
                .unwrap();
            prop_assert_eq!(&x, &y);
            let json = serde_json::to_string(&x).unwrap();
            prop_assert_eq!(&serde_json::from_str::<RefundOutcome>(&json).unwrap(), &x);
        }
    }

    /// Dates: day numbers, day and month arithmetic, weekdays and text agree.
    #[test]
    fn date_arithmetic_agrees(
        n in Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch(),
        a in -5_000i64..=5_000,
        b in -5_000i64..=5_000,
        months in -2_400i32..=2_400,
    ) {
        let date = Date::from_days_since_epoch(n).unwrap();
        prop_assert_eq!(date.days_since_epoch(), n);
        prop_assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
        prop_assert_eq!(
            Date::from_ymd(date.year(), date.month(), date.day()).unwrap(),
            date
        );
        let in_range =
            |days: i64| (Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch()).contains(&days);
        let weekday = |d: Date| WeekdayKey::from(d.weekday()) as i64;
        let moved = date.add_days(a);
        if in_range(n + a) {
            prop_assert_eq!(moved.days_since_epoch(), n + a);
            prop_assert_eq!(moved.cmp(&date), a.cmp(&0));
            prop_assert_eq!(weekday(moved), (weekday(date) + a).rem_euclid(7));
            if in_range(n + a + b) {
                prop_assert_eq!(moved.add_days(b), date.add_days(a + b));
            }
        } else {
            prop_assert_eq!(moved, if a < 0 { Date::MIN } else { Date::MAX });
        }
        let later = date.add_months(months);
        if later != Date::MIN && later != Date::MAX {
            prop_assert!(later.day() <= date.day());
            prop_assert!(later.day() == date.day() || later == later.end_of_month());
            if later.end_of_month() != Date::MAX {
                prop_assert_eq!(later.end_of_month().add_days(1).day(), 1);
            }
            let index = |d: Date| i64::from(d.year()) * 12 + i64::from(d.month());
            prop_assert_eq!(index(later) - index(date), i64::from(months));
        }
    }
}
