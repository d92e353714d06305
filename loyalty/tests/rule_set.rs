//! The rule set as TOML (the shipped example is the demo program; unknown keys and values are
//! refused) and its validation, which names the setting at fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use tenpo_loyalty::{Campaign, ExpiryAt, RuleSet, Stacking, StampEarn, WeekdayKey};

const DEMO_TOML: &str = include_str!("../examples/demo-rules.toml");

#[test]
fn the_shipped_example_is_the_demo_program() {
    let rules: RuleSet = toml::from_str(DEMO_TOML).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules, RuleSet::demo());
    rules.validate().unwrap();
    RuleSet::demo().validate().unwrap();
}

#[test]
fn rule_sets_round_trip_through_toml_and_json() {
    let mut rules = RuleSet::demo();
    rules.campaigns = vec![
        Campaign {
            weekdays: BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun]),
            stores: BTreeSet::from(["shibuya".to_owned()]),
            min_spend_yen: 3_000,
            ..multiplier("weekend", 200)
        },
        bonus("autumn", 100),
    ];
    rules.stamps.earn = StampEarn::Spend { yen_per_stamp: 500 };
    rules.stamps.reward.benefit = points_bonus(50);
    rules.expiry.at = ExpiryAt::SameDay;
    rules.earning.stacking = Stacking::Best;
    let text = toml::to_string(&rules).unwrap();
    assert_eq!(toml::from_str::<RuleSet>(&text).unwrap(), rules, "{text}");
    let json = serde_json::to_string(&rules).unwrap();
    assert_eq!(serde_json::from_str::<RuleSet>(&json).unwrap(), rules);
}

const FULL_TOML: &str = r#"
version = 7
name = "autumn"

[earning]
yen_per_point = 200
excluded_categories = ["giftcard", "tobacco"]
stacking = "multiplicative"

[tiers]
window_months = 6
levels = [
    { name = "bronze", from_yen = 0, multiplier_percent = 100 },
    { name = "silver", from_yen = 30_000, multiplier_percent = 150 },
]

[stamps]
card_size = 5
earn = { per = "spend", yen_per_stamp = 500 }
reward = { valid_days = 30, benefit = { kind = "points_bonus", points = 100 } }

[expiry]
months = 6
at = "same_day"

[redemption]
yen_per_point = 1
unit_points = 100

[[campaigns]]
id = "weekend"
starts_on = "2026-11-01"
ends_on = "2026-11-30"
weekdays = ["sat", "sun"]
stores = ["shibuya", "ueno"]
min_spend_yen = 3_000
benefit = { kind = "multiplier", percent = 200 }

[[campaigns]]
id = "opening"
starts_on = 2026-11-22   # TOML's own date literal, or quoted as above
ends_on = 2026-11-22
benefit = { kind = "bonus", points = 50 }
"#;

#[test]
fn a_full_rule_set_in_toml() {
    let rules: RuleSet = toml::from_str(FULL_TOML).unwrap_or_else(|e| panic!("{e}"));
    rules.validate().unwrap();
    assert_eq!(rules.version, 7);
    assert_eq!(rules.earning.excluded_categories.len(), 2);
    assert_eq!(rules.earning.stacking, Stacking::Multiplicative);
    assert_eq!(rules.stamps.earn, StampEarn::Spend { yen_per_stamp: 500 });
    assert_eq!(rules.stamps.reward.benefit, points_bonus(100));
    assert_eq!(rules.expiry.at, ExpiryAt::SameDay);
    assert_eq!(rules.campaigns.len(), 2);
    assert_eq!(
        rules.campaigns[0].weekdays,
        BTreeSet::from([WeekdayKey::Sat, WeekdayKey::Sun])
    );
    assert_eq!(rules.campaigns[1].min_spend_yen, 0);
    assert!(rules.campaigns[1].weekdays.is_empty() && rules.campaigns[1].stores.is_empty());
    // A silver member's weekend sale in Shibuya on the opening day: 150 % × 200 % = 300 % of
    // 1 point per ¥200, plus 50.
    let state = spent(30_000, "2026-11-01");
    let o = eval(
        &rules,
        &state,
        &at_store(
            sale(
                "s",
                DAY,
                vec![item("a", 4_000), line("t", Some("tobacco"), 1, 600)],
            ),
            "shibuya",
        ),
    );
    assert_eq!(o.tier_at_start, "silver");
    assert_eq!(
        o.campaigns_applied,
        vec!["weekend".to_owned(), "opening".to_owned()]
    );
    assert_eq!(o.earned_points, 60 + 50);
    assert_eq!(o.stamps.added, 8);
    assert_eq!(o.coupons_issued.len(), 1);
    assert_eq!(o.earned_lot.unwrap().expires_on, d("2027-05-21"));
}

#[test]
fn optional_settings_take_their_defaults() {
    let minimal = DEMO_TOML
        .lines()
        .filter(|l| {
            !l.starts_with("excluded_categories")
                && !l.starts_with("stacking")
                && !l.starts_with("at =")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rules: RuleSet = toml::from_str(&minimal).unwrap();
    assert!(rules.earning.excluded_categories.is_empty());
    assert_eq!(rules.earning.stacking, Stacking::Additive);
    assert_eq!(rules.expiry.at, ExpiryAt::EndOfMonth);
    assert!(rules.campaigns.is_empty());
}

/// The demo TOML with the line `extra` added after `after` is refused, naming the key.
#[track_caller]
fn unknown_key(after: &str, extra: &str) {
    assert!(DEMO_TOML.contains(after), "{after}");
    let text = DEMO_TOML.replacen(after, &format!("{after}\n{extra}"), 1);
    let err = toml::from_str::<RuleSet>(&text).expect_err(extra);
    let key = extra.split(' ').next().unwrap();
    assert!(err.to_string().contains(key), "{extra}: {err}");
}

/// The demo TOML with `from` replaced by `to` is refused.
#[track_caller]
fn unknown_value(from: &str, to: &str) {
    assert!(
        toml::from_str::<RuleSet>(&DEMO_TOML.replace(from, to)).is_err(),
        "{to}"
    );
}

#[test]
#[rustfmt::skip]
fn unknown_keys_are_rejected() {
    // (where to add the key, the line added)
    unknown_key("name = \"demo\"", "colour = \"red\"");
    unknown_key("yen_per_point = 100", "yen_per_pont = 100");
    unknown_key("window_months = 12", "window = 12");
    unknown_key("multiplier_percent = 200", "multiplier = 2");
    unknown_key("card_size = 10", "cards = 1");
    unknown_key("min_spend_yen = 1_000", "max_spend_yen = 1");
    unknown_key("valid_days = 180", "valid_weeks = 1");
    unknown_key("value_yen = 500", "value = 500");
    unknown_key("\nmonths = 12", "days = 1");
    unknown_key("unit_points = 1", "minimum = 1");
    let bad_campaign = FULL_TOML.replace(
        "min_spend_yen = 3_000",
        "min_spend_yen = 3_000\nmin_items = 2",
    );
    assert!(toml::from_str::<RuleSet>(&bad_campaign).is_err());
    let bad_benefit = FULL_TOML.replace("percent = 200 }", "percent = 200, cap = 1 }");
    assert!(toml::from_str::<RuleSet>(&bad_benefit).is_err());
    // Unknown values are rejected too.
    // (the demo's value, an unknown one)
    unknown_value("stacking = \"additive\"", "stacking = \"sum\"");
    unknown_value("per = \"visit\"", "per = \"day\"");
    unknown_value("kind = \"discount\"", "kind = \"gift\"");
    unknown_value("at = \"end_of_month\"", "at = \"end_of_year\"");
    let bad_weekday = FULL_TOML.replace("[\"sat\", \"sun\"]", "[\"sat\", \"sunday\"]");
    assert!(toml::from_str::<RuleSet>(&bad_weekday).is_err());
    let bad_date = FULL_TOML.replace("2026-11-30", "2026-11-31");
    assert!(toml::from_str::<RuleSet>(&bad_date).is_err());
    // A missing required setting is an error, naming it.
    let missing = DEMO_TOML.replace("card_size = 10", "");
    let err = toml::from_str::<RuleSet>(&missing).unwrap_err();
    assert!(err.to_string().contains("card_size"), "{err}");
}

/// Validating the demo program changed by `edit` fails, naming `setting`.
#[track_caller]
fn refused(setting: &str, edit: impl FnOnce(&mut RuleSet)) {
    let mut rules = RuleSet::demo();
    edit(&mut rules);
    let err = rules.validate().expect_err(setting);
    assert_eq!(err.setting, setting);
    assert!(err.to_string().contains(&format!("`{setting}`")), "{err}");
}

#[test]
#[rustfmt::skip]
fn validation_names_the_setting_at_fault() {
    use tenpo_loyalty::MAX_YEN;
    // (the setting at fault, the change to the demo program)
    refused("name", |r| r.name = " ".into());
    refused("earning.yen_per_point", |r| r.earning.yen_per_point = 0);
    refused("earning.yen_per_point", |r| r.earning.yen_per_point = -100);
    refused("tiers.levels", |r| r.tiers.levels.clear());
    refused("tiers.levels[0].from_yen", |r| r.tiers.levels[0].from_yen = 1);
    refused("tiers.levels[1].from_yen", |r| r.tiers.levels[1].from_yen = 0);
    refused("tiers.levels[1].from_yen", |r| r.tiers.levels[1].from_yen = -5);
    refused("tiers.levels[1].from_yen", |r| r.tiers.levels[1].from_yen = MAX_YEN + 1);
    refused("tiers.levels[1].name", |r| r.tiers.levels[1].name = "standard".into());
    refused("tiers.levels[0].name", |r| r.tiers.levels[0].name = String::new());
    refused("tiers.levels[1].multiplier_percent", |r| r.tiers.levels[1].multiplier_percent = 0);
    refused("tiers.levels[0].multiplier_percent", |r| r.tiers.levels[0].multiplier_percent = 10_001);
    refused("tiers.window_months", |r| r.tiers.window_months = 0);
    refused("tiers.window_months", |r| r.tiers.window_months = 121);
    refused("stamps.card_size", |r| r.stamps.card_size = 0);
    refused("stamps.earn.min_spend_yen", |r| r.stamps.earn = StampEarn::Visit { min_spend_yen: -1 });
    refused("stamps.earn.yen_per_stamp", |r| r.stamps.earn = StampEarn::Spend { yen_per_stamp: 0 });
    refused("stamps.reward.valid_days", |r| r.stamps.reward.valid_days = 0);
    refused("stamps.reward.benefit.value_yen", |r| r.stamps.reward.benefit = discount(0));
    refused("stamps.reward.benefit.points", |r| r.stamps.reward.benefit = points_bonus(0));
    refused("expiry.months", |r| r.expiry.months = 0);
    refused("redemption.yen_per_point", |r| r.redemption.yen_per_point = 0);
    refused("redemption.unit_points", |r| r.redemption.unit_points = 0);
    refused("campaigns[0].id", |r| r.campaigns = vec![bonus("", 1)]);
    refused("campaigns[1].id", |r| r.campaigns = vec![bonus("a", 1), bonus("a", 2)]);
    refused("campaigns[0].ends_on", |r| r.campaigns = vec![Campaign { ends_on: d("2025-12-31"), ..bonus("a", 1) }]);
    refused("campaigns[1].min_spend_yen", |r| r.campaigns = vec![bonus("a", 1), Campaign { min_spend_yen: -1, ..bonus("b", 1) }]);
    refused("campaigns[0].benefit.percent", |r| r.campaigns = vec![multiplier("a", 0)]);
    refused("campaigns[0].benefit.points", |r| r.campaigns = vec![bonus("a", -1)]);
    refused("tiers.levels[1].labels.ja", |r| { r.tiers.levels[1].labels.insert("ja".into(), " ".into()); });
    refused("tiers.levels[1].labels.ja", |r| { r.tiers.levels[1].labels.insert("ja".into(), "プ".repeat(41)); });
    refused("tiers.levels[0].labels.en", |r| { r.tiers.levels[0].labels.insert("en".into(), "Pre\nmier".into()); });
    refused("tiers.levels[0].labels.JA", |r| { r.tiers.levels[0].labels.insert("JA".into(), "プレミア".into()); });
    refused("tiers.levels[0].labels.japanese", |r| { r.tiers.levels[0].labels.insert("japanese".into(), "x".into()); });
    // Values at the edges of their ranges are fine.
    let mut rules = RuleSet::demo();
    rules.campaigns = vec![Campaign {
        starts_on: d(DAY),
        ends_on: d(DAY),
        ..bonus("a", 0)
    }];
    rules.stamps.earn = StampEarn::Visit { min_spend_yen: 0 };
    rules.stamps.card_size = 1;
    rules.tiers.levels.truncate(1);
    rules.validate().unwrap();
}

#[test]
fn tier_labels_name_the_tier_for_members_and_stay_off_the_tills_rule_set() {
    let rules = RuleSet::demo();
    assert_eq!(rules.tier_label("premier", "ja"), "プレミア");
    assert_eq!(rules.tier_label("premier", "en"), "Premier");
    // A language without a label, or a tier the rule set no longer has: the id.
    assert_eq!(rules.tier_label("premier", "fr"), "premier");
    assert_eq!(rules.tier_label("gold", "ja"), "gold");

    // Tills are sent the rule set without labels; it is the same program otherwise, and its
    // JSON is the shape tills read before labels existed.
    let tills = rules.clone().for_tills();
    assert!(tills.tiers.levels.iter().all(|l| l.labels.is_empty()));
    let json = serde_json::to_string(&tills).unwrap();
    assert!(!json.contains("labels"), "{json}");
    let mut unlabelled = rules;
    unlabelled
        .tiers
        .levels
        .iter_mut()
        .for_each(|l| l.labels.clear());
    assert_eq!(tills, unlabelled);
    assert_eq!(tills.tier_label("premier", "ja"), "premier");
}
