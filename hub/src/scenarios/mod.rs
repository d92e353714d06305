//! The scenarios: which messages a member gets, and when (docs/design.md §10). Pure decisions
//! ([`Scenarios`] is the store's [`Planner`]): the store calls them inside the cause's
//! transaction (a sale applied, a birthday coupon granted, the daily scan) and writes what they
//! plan to the outbox, where a dedupe key makes each message once.
//!
//! | scenario | when | class | once per |
//! |---|---|---|---|
//! | `welcome` | a member becomes reachable in LINE ([`crate::line`]) | transactional | member |
//! | `tier_progress` | a sale leaves the member within `within_yen` of the next tier | marketing | member, tier and month |
//! | `points_expiring` | the daily scan, `days_before` a lot of ≥ `min_points` lapses | marketing | member and expiry date |
//! | `birthday` | the month's birthday coupon is granted (the daily scan issues it) | transactional | member and coupon |
//! | `stamp_card_full` | a sale completes a stamp card and its reward coupon is issued | transactional | member and coupon |
//!
//! Marketing is capped per member per 7 days and waits through quiet hours (the sender,
//! [`crate::line::sender`]); a member who turned store news off in their profile gets none.

pub mod config;
pub mod daily;
pub mod templates;
pub mod wish;
pub mod zones;

use chrono::Duration;
use tenpo_loyalty::{Coupon, CouponBenefit, Date, Points, RuleSet, SaleOutcome, Yen};

use crate::store::outbox::{MessageAction, MessageClass, NewMessage, Planned, Planner, Recipient};
use templates::Text;

/// `[scenarios.points_expiring]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsExpiring {
    pub days_before: u32,
    pub min_points: Points,
}

/// `[scenarios.birthday]`: the coupon each member gets in their birthday month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirthdayCoupon {
    pub benefit: CouponBenefit,
    pub valid_days: u32,
}

/// Hours of the day (store time) when no marketing message goes: `start` to `end`, across
/// midnight when `start > end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

impl QuietHours {
    pub fn contains(self, hour: u32) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&hour)
        } else {
            hour >= self.start || hour < self.end
        }
    }
}

/// The `[scenarios]` settings. `None` or `false`: that scenario is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioSettings {
    pub welcome: bool,
    /// Within this many yen of the next tier after a sale.
    pub tier_progress: Option<Yen>,
    pub points_expiring: Option<PointsExpiring>,
    pub birthday: Option<BirthdayCoupon>,
    pub stamp_card_full: bool,
    /// Marketing messages per member in any 7 days, at most.
    pub marketing_per_week: u32,
    pub quiet_hours: QuietHours,
    /// The member card (a LIFF URL): the button of every message.
    pub card_url: Option<String>,
}

impl Default for ScenarioSettings {
    fn default() -> Self {
        ScenarioSettings {
            welcome: true,
            tier_progress: Some(10_000),
            points_expiring: Some(PointsExpiring {
                days_before: 14,
                min_points: 100,
            }),
            // Off unless the program's owner turns it on: it gives coupons away.
            birthday: None,
            stamp_card_full: true,
            marketing_per_week: 2,
            quiet_hours: QuietHours { start: 21, end: 9 },
            card_url: None,
        }
    }
}

/// The scenarios as configured: the hub's [`Planner`].
#[derive(Debug, Clone, Default)]
pub struct Scenarios {
    pub settings: ScenarioSettings,
}

/// How long a message may wait for its member (a blocked account, quiet hours, the cap)
/// before it is no longer worth sending.
fn lifetime(scenario: &str) -> Duration {
    match scenario {
        "points_expiring" | "tier_progress" => Duration::days(7),
        _ => Duration::days(30),
    }
}

impl Scenarios {
    /// The message of `text` for `member`, as the outbox keeps it.
    fn planned(
        &self,
        member: &Recipient<'_>,
        dedupe_key: String,
        class: MessageClass,
        text: &Text,
    ) -> Option<Planned> {
        // What it says, not the LINE messages: composed when sent (`Composer`).
        let said = templates::Said {
            language: member.profile.language,
            text: text.clone(),
        };
        let said_json = serde_json::to_string(&said).ok()?;
        Some(Planned {
            dedupe_key,
            message: NewMessage {
                scenario: text.scenario().to_owned(),
                class,
                action: MessageAction::Compose { said_json },
                expires_after: Some(lifetime(text.scenario())),
            },
        })
    }

    /// The welcome message (also the profile invitation).
    pub fn welcome(&self) -> Option<Vec<tenpo_line::messaging::Message>> {
        self.settings.welcome.then(|| {
            templates::render(
                &Text::Welcome,
                crate::store::outbox::Language::Ja,
                self.settings.card_url.as_deref(),
            )
        })
    }
}

impl crate::line::sender::Composer for Scenarios {
    fn compose(&self, said_json: &str) -> Result<Vec<tenpo_line::messaging::Message>, String> {
        // A wish's notification (docs/design.md §11) is kept under its own key.
        if serde_json::from_str::<serde_json::Value>(said_json)
            .is_ok_and(|v| v.get("wish").is_some())
        {
            return wish::compose(said_json).map_err(|e| e.to_string());
        }
        templates::compose(said_json, self.settings.card_url.as_deref()).map_err(|e| e.to_string())
    }
}

/// The scenarios' names, as previews and reports name them.
pub const SCENARIOS: [&str; 5] = [
    "welcome",
    "tier_progress",
    "points_expiring",
    "birthday",
    "stamp_card_full",
];

/// Why a preview has nothing to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("no scenario is called {0:?}: one of {SCENARIOS:?}")]
    Unknown(String),
    #[error("{0}")]
    NothingToSay(String),
}

impl Scenarios {
    /// What `scenario` would send `member` now (`today`), whatever its switch and thresholds
    /// say: for the CRM team to read before turning it on (`tenpo-hub preview-message`).
    pub fn preview(
        &self,
        scenario: &str,
        member: &Recipient<'_>,
        rules: &RuleSet,
        today: Date,
    ) -> Result<(MessageClass, Vec<tenpo_line::messaging::Message>), PreviewError> {
        let sample_coupon = |benefit: CouponBenefit, days: u32| Coupon {
            coupon_id: "preview".into(),
            benefit,
            valid_from: today,
            valid_until: today.add_days(i64::from(days.max(1)) - 1),
        };
        let (class, text) = match scenario {
            "welcome" => (MessageClass::Transactional, Text::Welcome),
            "tier_progress" => {
                let summary = member.state.summary(rules, today);
                let Some((tier, remaining)) = summary.next_tier else {
                    return Err(PreviewError::NothingToSay(
                        "the member is in the top tier: there is no next tier".into(),
                    ));
                };
                let tier = rules.tier_label(&tier, member.profile.language.as_str());
                (
                    MessageClass::Marketing,
                    Text::TierProgress {
                        tier: tier.to_owned(),
                        remaining,
                    },
                )
            }
            "points_expiring" => {
                let summary = member.state.summary(rules, today);
                let Some(first) = summary.expiring.first() else {
                    return Err(PreviewError::NothingToSay(
                        "the member has no points that can lapse".into(),
                    ));
                };
                (
                    MessageClass::Marketing,
                    Text::PointsExpiring {
                        points: first.points,
                        expires_on: first.expires_on,
                    },
                )
            }
            "birthday" => {
                let b = self.settings.birthday.clone().unwrap_or(BirthdayCoupon {
                    benefit: CouponBenefit::Discount { value_yen: 500 },
                    valid_days: 31,
                });
                (
                    MessageClass::Transactional,
                    Text::Birthday {
                        coupon: sample_coupon(b.benefit, b.valid_days),
                    },
                )
            }
            "stamp_card_full" => (
                MessageClass::Transactional,
                Text::StampCardFull {
                    coupon: sample_coupon(
                        rules.stamps.reward.benefit,
                        rules.stamps.reward.valid_days,
                    ),
                },
            ),
            other => return Err(PreviewError::Unknown(other.to_owned())),
        };
        let messages = templates::render(
            &text,
            member.profile.language,
            self.settings.card_url.as_deref(),
        );
        Ok((class, messages))
    }
}

impl Planner for Scenarios {
    fn after_sale(
        &self,
        member: &Recipient<'_>,
        outcome: &SaleOutcome,
        rules: Option<&RuleSet>,
    ) -> Vec<Planned> {
        let mut planned = Vec::new();
        if self.settings.stamp_card_full && outcome.stamps.cards_completed > 0 {
            for coupon in &outcome.coupons_issued {
                let key = format!("stamp_card_full:{}:{}", member.member_id, coupon.coupon_id);
                let text = Text::StampCardFull {
                    coupon: coupon.clone(),
                };
                planned.extend(self.planned(member, key, MessageClass::Transactional, &text));
            }
        }
        if let (Some(within), Some(rules), true) =
            (self.settings.tier_progress, rules, member.profile.marketing)
        {
            let summary = member.state.summary(rules, outcome.business_date);
            if let Some((tier, remaining)) = summary.next_tier
                && remaining > 0
                && remaining <= within
            {
                let month = &outcome.business_date.to_string()[..7];
                let key = format!("tier_progress:{}:{tier}:{month}", member.member_id);
                // The key names the tier by its id; the member reads its label.
                let text = Text::TierProgress {
                    tier: rules
                        .tier_label(&tier, member.profile.language.as_str())
                        .to_owned(),
                    remaining,
                };
                planned.extend(self.planned(member, key, MessageClass::Marketing, &text));
            }
        }
        planned
    }

    fn daily(&self, member: &Recipient<'_>, _rules: &RuleSet, today: Date) -> Vec<Planned> {
        let Some(rule) = self.settings.points_expiring else {
            return Vec::new();
        };
        if !member.profile.marketing {
            return Vec::new();
        }
        let horizon = today.add_days(i64::from(rule.days_before));
        // The live lots, soonest first, summed per day (what the card shows as lapsing).
        let mut expiring: Vec<(Date, Points)> = Vec::new();
        for lot in member.state.live_lots(today) {
            if lot.expires_on > horizon {
                break;
            }
            match expiring.last_mut() {
                Some((day, points)) if *day == lot.expires_on => {
                    *points = points.saturating_add(lot.points);
                }
                _ => expiring.push((lot.expires_on, lot.points)),
            }
        }
        expiring
            .into_iter()
            .map(|(expires_on, points)| tenpo_loyalty::Expiring { points, expires_on })
            .filter(|e| e.points >= rule.min_points)
            .filter_map(|e| {
                let key = format!("points_expiring:{}:{}", member.member_id, e.expires_on);
                let text = Text::PointsExpiring {
                    points: e.points,
                    expires_on: e.expires_on,
                };
                self.planned(member, key, MessageClass::Marketing, &text)
            })
            .collect()
    }

    fn birthday_coupon(&self, member: &Recipient<'_>, coupon: &Coupon) -> Vec<Planned> {
        if self.settings.birthday.is_none() {
            return Vec::new();
        }
        let key = format!("birthday:{}:{}", member.member_id, coupon.coupon_id);
        let text = Text::Birthday {
            coupon: coupon.clone(),
        };
        self.planned(member, key, MessageClass::Transactional, &text)
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = QuietHours { start: 21, end: 9 };
        assert!(q.contains(21) && q.contains(23) && q.contains(0) && q.contains(8));
        assert!(!q.contains(9) && !q.contains(12) && !q.contains(20));
        let day = QuietHours { start: 12, end: 13 };
        assert!(day.contains(12) && !day.contains(13) && !day.contains(11));
        assert!(!QuietHours { start: 0, end: 0 }.contains(5), "none");
    }
}
