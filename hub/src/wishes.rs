//! Wishes and notifications (docs/design.md §11): the settings, and what a notification says.
//!
//! A member wishes for an item at the counter, at the kiosk or in LINE; when the catalogue
//! feed brings the moment (back in stock, cheaper, one left at their store) the wish notifies
//! them once, in their channel, and a purchase of the item within the attribution window is
//! counted for the notification. The decisions are the store's (`store/unit/catalog.rs`,
//! `store/unit/wishes.rs`); this module holds what they share with the senders and reports.

pub mod report;

use serde::{Deserialize, Serialize};
use tenpo_protocol::events::WishKind;
use tenpo_support::config::{ConfigError, invalid};

use crate::store::outbox::Language;

/// The `[wishes]` table of the hub's settings.
///
/// ```toml
/// [wishes]
/// per_week = 3                            # notifications a member gets in any 7 days
/// attribution_days = 14                   # a purchase this long after counts for it
/// public_url = "https://hub.example.jp"   # links go through /r/{id} here, counted
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WishesSection {
    pub per_week: Option<u32>,
    pub attribution_days: Option<u32>,
    pub public_url: Option<String>,
}

/// The settings of a `[wishes]` table; the channels are turned on when the hub starts, as LINE
/// messaging and email are set up.
pub fn resolve(section: WishesSection) -> Result<WishSettings, ConfigError> {
    let defaults = WishSettings::default();
    let per_week = section.per_week.unwrap_or(defaults.per_week);
    if !(1..=50).contains(&per_week) {
        return Err(invalid("wishes.per_week", "must be 1 to 50"));
    }
    let attribution_days = section
        .attribution_days
        .unwrap_or(defaults.attribution_days);
    if !(1..=90).contains(&attribution_days) {
        return Err(invalid("wishes.attribution_days", "must be 1 to 90"));
    }
    if let Some(url) = &section.public_url {
        let ok = url.parse::<axum::http::Uri>().is_ok_and(|u| {
            u.scheme_str() == Some("https") && u.host().is_some() && u.query().is_none()
        });
        if !ok {
            return Err(invalid(
                "wishes.public_url",
                "must be the hub's https:// address as members' phones reach it",
            ));
        }
    }
    Ok(WishSettings {
        per_week,
        attribution_days,
        public_url: section.public_url,
        ..defaults
    })
}

/// How wishes notify (`[wishes]` in the hub's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishSettings {
    /// Notifications a member is sent in any 7 days at most: more wait their turn. Outside the
    /// marketing cap (the member asked for these), inside the quiet hours.
    pub per_week: u32,
    /// Days after a notification in which the member's purchase of the item is counted for it.
    pub attribution_days: u32,
    /// The hub's address as members' phones reach it (`https://…`): a notification's link is
    /// `{public_url}/r/{id}`, counted, then on to the item. Without it links go straight to the
    /// item's page and clicks are not counted.
    pub public_url: Option<String>,
    /// LINE messaging is set up: members linked to LINE are sent notifications there.
    pub line: bool,
    /// Email is set up: members who chose email, or blocked the LINE account, are sent email.
    pub email: bool,
}

impl Default for WishSettings {
    fn default() -> Self {
        WishSettings {
            per_week: 3,
            attribution_days: 14,
            public_url: None,
            line: false,
            email: false,
        }
    }
}

/// What a notification says, in the member's language: kept in the outbox row (LINE) and
/// composed into words when sent, by the same templates for LINE and email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishNotice {
    pub kind: WishKind,
    pub language: Language,
    pub item_ja: String,
    #[serde(default)]
    pub item_en: Option<String>,
    /// The price now.
    pub price_yen: i64,
    /// The price the member wished at (a price drop).
    #[serde(default)]
    pub was_price_yen: Option<i64>,
    /// The store whose stock it is (restock, last one).
    #[serde(default)]
    pub store_id: Option<String>,
    /// Where the message's button leads.
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
}

impl WishNotice {
    /// The item's name in the notice's language (Japanese when it has no English name).
    pub fn item_name(&self) -> &str {
        match (self.language, &self.item_en) {
            (Language::En, Some(en)) => en,
            _ => &self.item_ja,
        }
    }

    /// The outbox row's scenario: reports count by it.
    pub fn scenario(&self) -> String {
        format!("wish_{}", self.kind.as_str())
    }
}

/// How a LINE outbox row carries a notice (`MessageAction::Compose`): beside the scenarios'
/// words, told apart by its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeBody {
    pub wish: WishNotice,
}

/// A notification's link: through the hub's counted redirect when its address is known, else
/// the item's own page.
pub fn link(settings: &WishSettings, link_id: &str, item_url: Option<&str>) -> Option<String> {
    match &settings.public_url {
        Some(base) => Some(format!("{}/r/{link_id}", base.trim_end_matches('/'))),
        None => item_url.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_wishes_table_is_checked_and_names_the_key() {
        let s = resolve(WishesSection::default()).unwrap();
        assert_eq!((s.per_week, s.attribution_days, s.line), (3, 14, false));
        for (section, key) in [
            (
                WishesSection {
                    per_week: Some(0),
                    ..Default::default()
                },
                "wishes.per_week",
            ),
            (
                WishesSection {
                    attribution_days: Some(365),
                    ..Default::default()
                },
                "wishes.attribution_days",
            ),
            (
                WishesSection {
                    public_url: Some("http://hub.example.jp".into()),
                    ..Default::default()
                },
                "wishes.public_url",
            ),
        ] {
            let e = resolve(section).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        let with_url = WishSettings {
            public_url: Some("https://hub.example.jp/".into()),
            ..WishSettings::default()
        };
        assert_eq!(
            link(&with_url, "ab12", Some("https://shop.example.jp/x")).as_deref(),
            Some("https://hub.example.jp/r/ab12")
        );
        assert_eq!(
            link(
                &WishSettings::default(),
                "ab12",
                Some("https://shop.example.jp/x")
            )
            .as_deref(),
            Some("https://shop.example.jp/x")
        );
    }
}
