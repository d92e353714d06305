//! Random programs (rule sets with campaigns, coupons, stamps) and histories (sales, refunds,
//! days passing, hub coupons, compaction), and a small deterministic generator for choices
//! made inside a case.

use std::collections::BTreeSet;

use proptest::prelude::*;
use tenpo_loyalty::{
    Campaign, CampaignBenefit, CouponBenefit, CouponTemplate, Date, ExpiryAt, MAX_CARDS_PER_SALE,
    RuleSet, Stacking, StampEarn, WeekdayKey, Yen,
};

/// The most lines a generated sale has, and the most a line costs.
const MAX_LINES: usize = 4;
const MAX_LINE_YEN: Yen = 60_000;

/// The least a spend-based stamp costs in a generated program: a sale of the most a sale costs,
/// on cards of one stamp, fills no more cards than one sale may (`MAX_CARDS_PER_SALE`; a sale
/// over it is refused, which `tests/stamps.rs` checks). Below it, a valid history could hold a
/// sale the engine rightly refuses.
const LEAST_YEN_PER_STAMP: Yen = (MAX_LINES as Yen * MAX_LINE_YEN) / MAX_CARDS_PER_SALE as Yen + 1;

pub fn start() -> Date {
    Date::from_ymd(2026, 1, 5).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A small deterministic generator for choices made inside a case (how to split a refund).
// ---------------------------------------------------------------------------------------------

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

pub fn campaign_strategy(i: usize) -> impl Strategy<Value = Campaign> {
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

pub fn rules_strategy() -> impl Strategy<Value = RuleSet> {
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
            (LEAST_YEN_PER_STAMP..=1_000)
                .prop_map(|yen_per_stamp| StampEarn::Spend { yen_per_stamp }),
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
pub struct LineSpec {
    pub category: u8,
    pub quantity: i64,
    pub amount: Yen,
}

#[derive(Debug, Clone)]
pub struct SaleSpec {
    pub lines: Vec<LineSpec>,
    /// Share of the most that may be redeemed, in thousandths.
    pub redeem_permille: u32,
    pub coupon_mask: u8,
    pub store: u8,
}

#[derive(Debug, Clone)]
pub enum Op {
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

pub fn line_strategy() -> impl Strategy<Value = LineSpec> {
    (
        0u8..6,
        prop_oneof![Just(1i64), 1i64..=4],
        prop_oneof![
            3 => 0i64..=3_000,
            2 => 0i64..=20_000,
            1 => 20_000i64..=MAX_LINE_YEN,
        ],
    )
        .prop_map(|(category, quantity, amount)| LineSpec {
            category,
            quantity,
            amount,
        })
}

pub fn sale_strategy() -> impl Strategy<Value = SaleSpec> {
    (
        prop::collection::vec(line_strategy(), 1..=MAX_LINES),
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

pub fn op_strategy(compact: bool) -> impl Strategy<Value = Op> {
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
