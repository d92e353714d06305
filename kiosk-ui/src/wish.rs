//! A member's wish as both screens offer it (docs/design.md §11): a product scanned while a
//! member's card is on the screen, "入荷お知らせ" tapped, the agent's answer shown. The counter
//! and the kiosk state machines keep one each; the agent records it (`POST /v1/wishes`).

use chrono::{DateTime, Utc};
use tenpo_protocol::agent::WishRequest;
use tenpo_protocol::events::WishKind;

/// A product offered for the member's wish, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishOffer {
    /// The product's barcode digits, as the scan named them.
    pub product: String,
    pub state: WishState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WishState {
    /// Shown with its button.
    Offered,
    Sending,
    Recorded,
    /// The agent's refusal, or why it could not be asked; the button stays.
    Failed(String),
}

impl WishOffer {
    pub fn new(product: &str) -> WishOffer {
        WishOffer {
            product: product.to_owned(),
            state: WishState::Offered,
        }
    }

    /// Whether the button asks the agent now (not while it is asked, nor once it is recorded).
    pub fn can_send(&self) -> bool {
        matches!(self.state, WishState::Offered | WishState::Failed(_))
    }
}

/// The wish "入荷お知らせ" records: a restock notice for `product`, for the member with
/// `member_code`. `wish_id` is kept by the caller until the agent has answered, so a retry after
/// a lost answer records it once.
pub fn restock(wish_id: String, member_code: &str, product: &str) -> WishRequest {
    WishRequest {
        wish_id,
        member_code: member_code.to_owned(),
        item: product.to_owned(),
        wants: vec![WishKind::Restock],
        occurred_at: None,
    }
}

/// A new wish id: `{prefix}-w-{milliseconds}`.
pub fn new_id(prefix: &str, now: DateTime<Utc>) -> String {
    format!("{prefix}-w-{}", now.timestamp_millis())
}
