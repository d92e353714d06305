//! Wishes and notifications (docs/design.md §11): the settings, and what a notification says.
//!
//! A member wishes for an item at the counter, at the kiosk or in LINE; when the catalogue
//! feed brings the moment (back in stock, cheaper, one left at their store) the wish notifies
//! them once, in their channel, and a purchase of the item within the attribution window is
//! counted for the notification. The decisions are the store's (`store/unit/catalog.rs`,
//! `store/unit/wishes.rs`); this module holds what they share with the senders and reports.

use serde::{Deserialize, Serialize};
use tenpo_protocol::events::WishKind;

use crate::store::outbox::Language;

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
