//! A program's rule set: versioned serde data, authored as TOML at the hub.
//!
//! Every effect the engine produces records the version of the rule set that produced it, so a
//! sale evaluated at the till and re-evaluated at the hub uses the same rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::{Date, Weekday};

/// Yen, tax included. Never a float.
pub type Yen = i64;
/// Loyalty points.
pub type Points = i64;

/// The largest amount of money any rule or sale may carry (¥10 billion): far above any real
/// purchase, far below where the engine's arithmetic could overflow.
pub const MAX_YEN: Yen = 10_000_000_000;

/// The tier of a rule set without levels (which validation refuses), so a view never panics.
static NO_TIER: TierLevel = TierLevel {
    name: String::new(),
    from_yen: 0,
    multiplier_percent: 100,
    labels: BTreeMap::new(),
};

/// The longest tier label a member is shown, in characters.
const MAX_LABEL_CHARS: usize = 40;

/// A complete program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Increases with every published change; recorded on every effect.
    pub version: u32,
    pub name: String,
    pub earning: Earning,
    pub tiers: Tiers,
    pub stamps: Stamps,
    pub expiry: Expiry,
    pub redemption: Redemption,
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Earning {
    /// One point per this many yen of eligible spend (at 100 % multiplier).
    pub yen_per_point: Yen,
    /// Lines in these categories earn nothing and do not count as qualifying spend.
    #[serde(default)]
    pub excluded_categories: BTreeSet<String>,
    /// How the tier's multiplier and multiplier campaigns combine.
    #[serde(default)]
    pub stacking: Stacking,
}

/// How multipliers combine. Fixed-bonus campaigns are always added on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stacking {
    /// Each campaign adds its extra over 100 % to the tier's multiplier (200 % + 150 % = 250 %).
    #[default]
    Additive,
    /// Multipliers multiply (200 % × 150 % = 300 %).
    Multiplicative,
    /// Only the largest of the tier's and the campaigns' multipliers applies.
    Best,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// Qualifying spend counts over this many months up to the sale's business date.
    pub window_months: u32,
    /// Ordered by `from_yen`; the first must start at ¥0.
    pub levels: Vec<TierLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    /// The tier's id: recorded on events and shown to the cashier.
    pub name: String,
    pub from_yen: Yen,
    /// Earning multiplier in percent: 100 is 1×, 200 is 2×.
    pub multiplier_percent: u32,
    /// What members are told the tier is called, by language (`ja = "プレミア"`); `name`
    /// where a language has none. The hub keeps these: tills are sent rule sets without them,
    /// so a till from before labels reads every rule set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl TierLevel {
    /// The tier's name in `language` (`"ja"`, `"en"`), or its id.
    pub fn label(&self, language: &str) -> &str {
        self.labels.get(language).map_or(&self.name, String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamps {
    /// Stamps on a full card.
    pub card_size: u32,
    pub earn: StampEarn,
    /// What a full card issues.
    pub reward: CouponTemplate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "per", rename_all = "snake_case", deny_unknown_fields)]
pub enum StampEarn {
    /// One stamp for a visit whose eligible spend (after discounts) reaches `min_spend_yen`,
    /// at most one per member per business day.
    Visit { min_spend_yen: Yen },
    /// One stamp per `yen_per_stamp` of eligible spend (after discounts), rounded down.
    Spend { yen_per_stamp: Yen },
}

/// The coupon a full stamp card (or a campaign) issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponTemplate {
    pub benefit: CouponBenefit,
    /// Valid from the day of issue for this many days (the day of issue counts).
    pub valid_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CouponBenefit {
    /// Yen off the sale.
    Discount { value_yen: Yen },
    /// Points added to what the sale earns.
    PointsBonus { points: Points },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// A lot earned in month M expires this many months later ...
    pub months: u32,
    /// ... at the end of that month, or on the same day of the month.
    #[serde(default)]
    pub at: ExpiryAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryAt {
    #[default]
    EndOfMonth,
    SameDay,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    /// Yen off per point redeemed.
    pub yen_per_point: Yen,
    /// Points are redeemed in multiples of this.
    pub unit_points: Points,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub id: String,
    /// First and last business day it applies (inclusive).
    pub starts_on: Date,
    pub ends_on: Date,
    /// Only on these days of the week; empty means every day.
    #[serde(default)]
    pub weekdays: BTreeSet<WeekdayKey>,
    /// Only in these stores; empty means every store.
    #[serde(default)]
    pub stores: BTreeSet<String>,
    /// Only for sales whose eligible spend (after discounts) reaches this.
    #[serde(default)]
    pub min_spend_yen: Yen,
    pub benefit: CampaignBenefit,
}

/// A weekday as written in TOML (`"mon"` … `"sun"`), orderable for sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayKey {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Weekday> for WeekdayKey {
    fn from(w: Weekday) -> WeekdayKey {
        match w {
            Weekday::Mon => WeekdayKey::Mon,
            Weekday::Tue => WeekdayKey::Tue,
            Weekday::Wed => WeekdayKey::Wed,
            Weekday::Thu => WeekdayKey::Thu,
            Weekday::Fri => WeekdayKey::Fri,
            Weekday::Sat => WeekdayKey::Sat,
            Weekday::Sun => WeekdayKey::Sun,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CampaignBenefit {
    /// Multiplies earning, combined with the tier by the program's stacking rule.
    Multiplier { percent: u32 },
    /// Fixed points added to the sale's earning.
    Bonus { points: Points },
}

/// A rule set that cannot be used, with the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetError {
    pub setting: String,
    pub problem: String,
}

impl fmt::Display for RuleSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule set setting `{}`: {}", self.setting, self.problem)
    }
}

impl std::error::Error for RuleSetError {}

/// A tier's labels in Japanese and English.
fn labels(ja: &str, en: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ja".to_owned(), ja.to_owned()),
        ("en".to_owned(), en.to_owned()),
    ])
}

fn bad(setting: impl Into<String>, problem: impl Into<String>) -> RuleSetError {
    RuleSetError {
        setting: setting.into(),
        problem: problem.into(),
    }
}

impl RuleSet {
    /// The built-in demonstration program (`tenpo-agent run --demo`, and the tests).
    pub fn demo() -> RuleSet {
        RuleSet {
            version: 1,
            name: "demo".into(),
            earning: Earning {
                yen_per_point: 100,
                excluded_categories: BTreeSet::from(["giftcard".to_owned()]),
                stacking: Stacking::Additive,
            },
            tiers: Tiers {
                window_months: 12,
                levels: vec![
                    TierLevel {
                        name: "standard".into(),
                        from_yen: 0,
                        multiplier_percent: 100,
                        labels: labels("スタンダード", "Standard"),
                    },
                    TierLevel {
                        name: "premier".into(),
                        from_yen: 50_000,
                        multiplier_percent: 200,
                        labels: labels("プレミア", "Premier"),
                    },
                ],
            },
            stamps: Stamps {
                card_size: 10,
                earn: StampEarn::Visit {
                    min_spend_yen: 1_000,
                },
                reward: CouponTemplate {
                    benefit: CouponBenefit::Discount { value_yen: 500 },
                    valid_days: 180,
                },
            },
            expiry: Expiry {
                months: 12,
                at: ExpiryAt::EndOfMonth,
            },
            redemption: Redemption {
                yen_per_point: 1,
                unit_points: 1,
            },
            campaigns: Vec::new(),
        }
    }

    /// Checks what serde cannot: ordering, ranges and references.
    pub fn validate(&self) -> Result<(), RuleSetError> {
        if self.name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        if !(1..=MAX_YEN).contains(&self.earning.yen_per_point) {
            return Err(bad("earning.yen_per_point", "must be at least 1"));
        }
        let levels = &self.tiers.levels;
        if levels.is_empty() {
            return Err(bad("tiers.levels", "needs at least one tier"));
        }
        if levels[0].from_yen != 0 {
            return Err(bad(
                "tiers.levels[0].from_yen",
                "the first tier must start at 0",
            ));
        }
        for (i, pair) in levels.windows(2).enumerate() {
            if pair[1].from_yen <= pair[0].from_yen {
                return Err(bad(
                    format!("tiers.levels[{}].from_yen", i + 1),
                    "tiers must be in increasing order of from_yen",
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, level) in levels.iter().enumerate() {
            if level.name.trim().is_empty() || !names.insert(level.name.as_str()) {
                return Err(bad(
                    format!("tiers.levels[{i}].name"),
                    "must be non-empty and unique",
                ));
            }
            if level.from_yen > MAX_YEN {
                return Err(bad(
                    format!("tiers.levels[{i}].from_yen"),
                    "is beyond any real spend",
                ));
            }
            if !(1..=10_000).contains(&level.multiplier_percent) {
                return Err(bad(
                    format!("tiers.levels[{i}].multiplier_percent"),
                    "must be between 1 and 10000",
                ));
            }
            for (language, label) in &level.labels {
                let code = (2..=3).contains(&language.len())
                    && language.bytes().all(|b| b.is_ascii_lowercase());
                if !code {
                    return Err(bad(
                        format!("tiers.levels[{i}].labels.{language}"),
                        "the key must be a language code such as ja or en",
                    ));
                }
                let chars = label.trim().chars().count();
                if chars == 0 || chars > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                    return Err(bad(
                        format!("tiers.levels[{i}].labels.{language}"),
                        format!("must be 1 to {MAX_LABEL_CHARS} characters on one line"),
                    ));
                }
            }
        }
        if !(1..=120).contains(&self.tiers.window_months) {
            return Err(bad("tiers.window_months", "must be between 1 and 120"));
        }
        if !(1..=1_000).contains(&self.stamps.card_size) {
            return Err(bad("stamps.card_size", "must be between 1 and 1000"));
        }
        match self.stamps.earn {
            StampEarn::Visit { min_spend_yen } if !(0..=MAX_YEN).contains(&min_spend_yen) => {
                return Err(bad("stamps.earn.min_spend_yen", "must be 0 or more"));
            }
            StampEarn::Spend { yen_per_stamp } if !(1..=MAX_YEN).contains(&yen_per_stamp) => {
                return Err(bad("stamps.earn.yen_per_stamp", "must be at least 1"));
            }
            _ => {}
        }
        validate_template(&self.stamps.reward, "stamps.reward")?;
        if !(1..=120).contains(&self.expiry.months) {
            return Err(bad("expiry.months", "must be between 1 and 120"));
        }
        if !(1..=MAX_YEN).contains(&self.redemption.yen_per_point) {
            return Err(bad("redemption.yen_per_point", "must be at least 1"));
        }
        if !(1..=1_000_000).contains(&self.redemption.unit_points) {
            return Err(bad(
                "redemption.unit_points",
                "must be between 1 and 1000000",
            ));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in self.campaigns.iter().enumerate() {
            let at = |field: &str| format!("campaigns[{i}].{field}");
            if c.id.trim().is_empty() || !ids.insert(c.id.as_str()) {
                return Err(bad(at("id"), "must be non-empty and unique"));
            }
            if c.ends_on < c.starts_on {
                return Err(bad(at("ends_on"), "is before starts_on"));
            }
            if !(0..=MAX_YEN).contains(&c.min_spend_yen) {
                return Err(bad(at("min_spend_yen"), "must be 0 or more"));
            }
            match c.benefit {
                CampaignBenefit::Multiplier { percent } if !(1..=10_000).contains(&percent) => {
                    return Err(bad(at("benefit.percent"), "must be between 1 and 10000"));
                }
                CampaignBenefit::Bonus { points } if !(0..=1_000_000).contains(&points) => {
                    return Err(bad(at("benefit.points"), "must be between 0 and 1000000"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// What members reading `language` call the tier with id `name`; the id itself when the
    /// rule set gives no label (or no longer has the tier).
    pub fn tier_label<'a>(&'a self, name: &'a str, language: &str) -> &'a str {
        self.tiers
            .levels
            .iter()
            .find(|l| l.name == name)
            .map_or(name, |l| l.label(language))
    }

    /// The rule set as tills are sent it: without what only members are shown (tier labels),
    /// which a till from before those fields would refuse.
    pub fn for_tills(mut self) -> RuleSet {
        for level in &mut self.tiers.levels {
            level.labels.clear();
        }
        self
    }

    /// The tier for a qualifying spend.
    pub fn tier_for(&self, qualifying_spend: Yen) -> &TierLevel {
        let levels = &self.tiers.levels;
        levels
            .iter()
            .rev()
            .find(|l| qualifying_spend >= l.from_yen)
            .or(levels.first())
            // Only a rule set that fails validation has no levels; `evaluate_sale` refuses it.
            .unwrap_or(&NO_TIER)
    }

    /// The next tier up and the yen still to spend to reach it; `None` at the top.
    pub fn next_tier(&self, qualifying_spend: Yen) -> Option<(&TierLevel, Yen)> {
        self.tiers
            .levels
            .iter()
            .find(|l| l.from_yen > qualifying_spend)
            .map(|l| (l, l.from_yen.saturating_sub(qualifying_spend)))
    }

    /// When points earned on `earned_on` expire (the last day they can be used).
    pub fn expiry_for(&self, earned_on: Date) -> Date {
        let later = earned_on.add_months(i32::try_from(self.expiry.months).unwrap_or(i32::MAX));
        match self.expiry.at {
            ExpiryAt::EndOfMonth => later.end_of_month(),
            ExpiryAt::SameDay => later.add_days(-1),
        }
    }

    /// Whether a category earns nothing.
    pub fn is_excluded(&self, category: Option<&str>) -> bool {
        category.is_some_and(|c| self.earning.excluded_categories.contains(c))
    }
}

fn validate_template(t: &CouponTemplate, at: &str) -> Result<(), RuleSetError> {
    if !(1..=3_660).contains(&t.valid_days) {
        return Err(bad(
            format!("{at}.valid_days"),
            "must be between 1 and 3660",
        ));
    }
    match t.benefit {
        CouponBenefit::Discount { value_yen } if !(1..=MAX_YEN).contains(&value_yen) => {
            Err(bad(format!("{at}.benefit.value_yen"), "must be at least 1"))
        }
        CouponBenefit::PointsBonus { points } if !(1..=1_000_000).contains(&points) => Err(bad(
            format!("{at}.benefit.points"),
            "must be between 1 and 1000000",
        )),
        _ => Ok(()),
    }
}
