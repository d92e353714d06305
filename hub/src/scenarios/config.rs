//! The `[scenarios]` table of the hub's config file: each scenario on or off, its thresholds,
//! and the care rules (docs/design.md §10). Every key is optional:
//!
//! ```toml
//! [scenarios]
//! card_url = "https://liff.line.me/1234567890-AbCdEfGh/card"  # every message's button
//! marketing_per_week = 2          # store news a member gets in any 7 days, at most
//! quiet_hours = [21, 9]           # no store news from 21:00 to 09:00 store time (delayed)
//! [scenarios.welcome]
//! enabled = true
//! [scenarios.tier_progress]
//! enabled = true
//! within_yen = 10000              # "あと¥X で premier" when a sale leaves a member this close
//! [scenarios.points_expiring]
//! enabled = true
//! days_before = 14
//! min_points = 100
//! [scenarios.stamp_card_full]
//! enabled = true
//! [scenarios.birthday]
//! enabled = false                 # on: the month's birthday coupon is issued each month
//! coupon_yen = 500
//! valid_days = 31
//! ```

use serde::Deserialize;
use tenpo_loyalty::CouponBenefit;
use tenpo_support::config::{ConfigError, invalid};

use super::{BirthdayCoupon, PointsExpiring, QuietHours, ScenarioSettings};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenariosSection {
    pub card_url: Option<String>,
    pub marketing_per_week: Option<u32>,
    pub quiet_hours: Option<[u32; 2]>,
    #[serde(default)]
    pub welcome: Switch,
    #[serde(default)]
    pub tier_progress: TierProgressSection,
    #[serde(default)]
    pub points_expiring: PointsExpiringSection,
    #[serde(default)]
    pub stamp_card_full: Switch,
    #[serde(default)]
    pub birthday: BirthdaySection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierProgressSection {
    pub enabled: Option<bool>,
    pub within_yen: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsExpiringSection {
    pub enabled: Option<bool>,
    pub days_before: Option<u32>,
    pub min_points: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthdaySection {
    pub enabled: Option<bool>,
    pub coupon_yen: Option<i64>,
    pub valid_days: Option<u32>,
}

/// The settings of `section`, each missing key at its default; a value that cannot work is an
/// error naming its key.
pub fn resolve(section: ScenariosSection) -> Result<ScenarioSettings, ConfigError> {
    let d = ScenarioSettings::default();
    if let Some(url) = &section.card_url
        && !url.starts_with("https://")
    {
        return Err(invalid(
            "scenarios.card_url",
            "must be an https:// URL (LINE opens it)",
        ));
    }
    let marketing_per_week = section.marketing_per_week.unwrap_or(d.marketing_per_week);
    if marketing_per_week > 50 {
        return Err(invalid("scenarios.marketing_per_week", "must be 0 to 50"));
    }
    let quiet_hours = match section.quiet_hours {
        None => d.quiet_hours,
        Some([start, end]) if start < 24 && end < 24 => QuietHours { start, end },
        Some(_) => {
            return Err(invalid(
                "scenarios.quiet_hours",
                "must be [start, end] hours 0 to 23, e.g. [21, 9]",
            ));
        }
    };
    let tier_progress = match (
        section.tier_progress.enabled,
        section.tier_progress.within_yen,
    ) {
        (Some(false), _) => None,
        (_, Some(y)) if !(1..=10_000_000).contains(&y) => {
            return Err(invalid(
                "scenarios.tier_progress.within_yen",
                "must be 1 to 10000000",
            ));
        }
        (_, Some(y)) => Some(y),
        (_, None) => d.tier_progress,
    };
    let p = section.points_expiring;
    let points_expiring = if p.enabled == Some(false) {
        None
    } else {
        let days_before = p.days_before.unwrap_or(14);
        let min_points = p.min_points.unwrap_or(100);
        if !(1..=365).contains(&days_before) {
            return Err(invalid(
                "scenarios.points_expiring.days_before",
                "must be 1 to 365",
            ));
        }
        if min_points < 1 {
            return Err(invalid(
                "scenarios.points_expiring.min_points",
                "must be 1 or more",
            ));
        }
        Some(PointsExpiring {
            days_before,
            min_points,
        })
    };
    let b = section.birthday;
    // Off unless enabled: it gives every member with a birthday a coupon each month.
    let birthday = if b.enabled == Some(true) {
        let value_yen = b.coupon_yen.unwrap_or(500);
        let valid_days = b.valid_days.unwrap_or(31);
        if !(1..=100_000).contains(&value_yen) {
            return Err(invalid(
                "scenarios.birthday.coupon_yen",
                "must be 1 to 100000",
            ));
        }
        if !(1..=366).contains(&valid_days) {
            return Err(invalid("scenarios.birthday.valid_days", "must be 1 to 366"));
        }
        Some(BirthdayCoupon {
            benefit: CouponBenefit::Discount { value_yen },
            valid_days,
        })
    } else {
        None
    };
    Ok(ScenarioSettings {
        welcome: section.welcome.enabled.unwrap_or(d.welcome),
        tier_progress,
        points_expiring,
        birthday,
        stamp_card_full: section.stamp_card_full.enabled.unwrap_or(d.stamp_card_full),
        marketing_per_week,
        quiet_hours,
        card_url: section.card_url,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<ScenarioSettings, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            scenarios: ScenariosSection,
        }
        let f: File = toml::from_str(text).unwrap();
        resolve(f.scenarios)
    }

    #[test]
    fn the_documented_example_reads_and_defaults_fill_the_rest() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let s = parse(&example).unwrap();
        assert_eq!(s.tier_progress, Some(10_000));
        assert_eq!(s.birthday, None);
        assert_eq!(s.quiet_hours, QuietHours { start: 21, end: 9 });
        let defaults = parse("[scenarios]\n").unwrap();
        assert_eq!(defaults, ScenarioSettings::default());
    }

    #[test]
    fn the_example_in_docs_hub_md_reads() {
        let doc = include_str!("../../../docs/hub.md");
        let start = doc.find("```toml\n[scenarios]").unwrap() + "```toml\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let s = parse(&doc[start..end]).unwrap();
        assert_eq!(s.marketing_per_week, 2);
        assert_eq!(
            s.birthday.unwrap().benefit,
            CouponBenefit::Discount { value_yen: 500 }
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (
                "[scenarios]\nquiet_hours = [25, 9]",
                "scenarios.quiet_hours",
            ),
            ("[scenarios]\ncard_url = \"http://x\"", "scenarios.card_url"),
            (
                "[scenarios.tier_progress]\nwithin_yen = -5",
                "scenarios.tier_progress.within_yen",
            ),
            (
                "[scenarios.birthday]\nenabled = true\ncoupon_yen = 0",
                "scenarios.birthday.coupon_yen",
            ),
            (
                "[scenarios.points_expiring]\ndays_before = 0",
                "scenarios.points_expiring.days_before",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
