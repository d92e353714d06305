//! Signup and card-link sessions (docs/design.md §5): the kiosk's QR code, and what the agent,
//! the hub and the LIFF page say about it.
//!
//! The token the QR code carries, and how it is signed, is in [`token`]; this module holds what
//! the agent, the hub and the LIFF page send about a session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agent::MemberView;
use crate::sync::MemberSnapshot;

pub mod favourites;
pub mod token;

pub use favourites::{
    CatalogHit, CatalogSearchRequest, CatalogSearchResponse, MyWish, WishAddRequest, WishKindName,
    WishRemoveRequest, WishesResponse,
};
pub use token::{
    CLOCK_ALLOWANCE_SECS, DOMAIN, LIFF_BASE, MAX_SESSION_SECS, NONCE_LEN, PREFIX, SignupKind,
    SignupToken, TAG_LEN, TokenError, VERSION, hmac_sha256, liff_url, peek, same, sign,
    signing_key, verify,
};

// ---- The agent's local API ----

/// `POST /v1/signups` (write token): `{}` for a signup, `{"card_code": "…"}` to link a card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The paper card scanned at the kiosk, to link to the customer's LINE account.
    #[serde(default)]
    pub card_code: Option<String>,
}

/// `201` for `POST /v1/signups`: what the kiosk shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignupSession {
    pub token: String,
    pub kind: SignupKind,
    /// `https://liff.line.me/{liffId}?t={token}`: the QR code's text.
    pub liff_url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// For a card link: the card's number with all but its last four digits hidden.
    pub card_hint: Option<String>,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupState {
    /// Shown, not completed yet.
    Waiting,
    /// The customer completed it on their phone.
    Completed,
    /// Its time ran out without a completion.
    Expired,
}

/// `GET /v1/signups/{token}` (`?wait=N` waits up to N ≤ 30 seconds for a change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignupStatus {
    pub state: SignupState,
    pub kind: SignupKind,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// The member (new, or the linked card's), once completed.
    pub member: Option<MemberView>,
    /// Whether the agent reached the hub at its last try. While it cannot, the customer can
    /// still complete on the phone; the kiosk learns of it when the line is back.
    pub hub_reachable: bool,
}

// ---- The hub: the LIFF page and the terminal's question ----

/// `POST /v1/signups/{token}/complete`, sent by the LIFF page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// LINE's ID token (`liff.getIDToken()`), verified with LINE by the hub.
    pub id_token: String,
}

/// The LINE digital member card the hub issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DigitalCard {
    /// The static member barcode (JAN-13): the member number.
    pub barcode: String,
    /// A rotating QR text signed by the hub (`tenpo_protocol::card`), valid `valid_secs`.
    pub qr: String,
    pub valid_secs: u16,
}

/// `200` for `POST /v1/signups/{token}/complete`: what the LIFF page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CompleteResponse {
    pub kind: SignupKind,
    pub member_number: String,
    /// `true` when this LINE account already had a member (nothing new was made).
    pub existing_member: bool,
    /// Stamps on the member's card now (a new member's welcome stamp shows here).
    pub stamps: u32,
    pub card: DigitalCard,
}

/// `200` for `POST /v1/cards/me` (body: [`CompleteRequest`], LINE's ID token), sent by the LIFF
/// card page: the member card of that LINE account, to show at the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardResponse {
    pub member_number: String,
    /// Points usable today.
    pub points: i64,
    pub tier: String,
    /// Stamps on the current card, and the card's size.
    pub stamps: u32,
    pub card_size: u32,
    pub card: DigitalCard,
    /// `card.qr` drawn as an SVG image (one unit per module, with its quiet zone).
    pub qr_svg: String,
    /// Ask again after this many seconds, before the QR stops being accepted.
    pub refresh_secs: u16,
    /// The next points to lapse, soonest first (at most 3).
    #[serde(default)]
    pub expiring: Vec<CardExpiry>,
    /// The next tier and how far it is; `None` at the top tier (or with no rule set).
    #[serde(default)]
    pub next_tier: Option<CardNextTier>,
    /// Coupons the till can redeem now or later (the birthday coupon among them).
    #[serde(default)]
    pub coupons: Vec<CardCoupon>,
    /// The member number as an EAN-13 (JAN) barcode, for 1D scanners (SVG).
    #[serde(default)]
    pub barcode_svg: String,
    /// What the member chose in their profile.
    #[serde(default)]
    pub profile: CardProfile,
}

/// Points that lapse on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardExpiry {
    pub points: i64,
    #[schema(value_type = String, format = Date)]
    pub expires_on: tenpo_loyalty::Date,
}

/// "¥X to premier".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardNextTier {
    pub name: String,
    pub remaining_yen: i64,
    /// How far along, 0 to 100 (spend so far over the next tier's threshold).
    pub progress_percent: u8,
}

/// A coupon on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardCoupon {
    pub coupon_id: String,
    /// `¥500 off` as the member reads it, in Japanese and English.
    pub title_ja: String,
    pub title_en: String,
    #[schema(value_type = String, format = Date)]
    pub valid_from: tenpo_loyalty::Date,
    #[schema(value_type = String, format = Date)]
    pub valid_until: tenpo_loyalty::Date,
}

/// The member's choices (`POST /v1/cards/me/profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct CardProfile {
    /// `ja` or `en`.
    pub language: String,
    /// Store news (tier progress, points lapsing).
    pub marketing: bool,
    /// `line` or `email`: how the member wants to be written to.
    #[serde(default)]
    pub channel: String,
    /// `YYYY-MM-DD`, if given.
    #[serde(default)]
    pub birthday: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `POST /v1/cards/me/profile`: LINE's ID token and the member's choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    pub id_token: String,
    /// `ja` or `en`.
    pub language: String,
    pub marketing: bool,
    /// `line` (the default) or `email` (which needs `email`).
    #[serde(default)]
    pub channel: Option<String>,
    /// `YYYY-MM-DD`; not in the future. Empty or absent: not given.
    #[serde(default)]
    pub birthday: Option<String>,
    /// At most 50 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `200` for `POST /v1/cards/me/unlink`: the member whose LINE link went (their card and points
/// stay, under this number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnlinkResponse {
    pub member_number: String,
}

/// `POST /v1/cards/me/erase`, sent by the LIFF page when the member deletes their account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// LINE's ID token (`liff.getIDToken()`), verified with LINE by the hub.
    pub id_token: String,
    /// `true`: the member confirmed on the page. Anything else erases nothing (`422`).
    #[schema(schema_with = confirmed)]
    pub confirm: bool,
}

/// The schema of [`EraseRequest::confirm`]: the one value that erases.
fn confirmed() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .description(Some("`true`: the member confirmed on the page"))
        .build()
}

/// `200` for `POST /v1/cards/me/erase`: the member's personal data is erased at the hub; what
/// they held on this card is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EraseResponse {
    /// The card's number, now refused at every till.
    pub member_number: String,
    /// Points forfeited as the program's terms say (0 when they are kept, anonymous).
    pub forfeited_points: i64,
}

/// `GET /v1/signups/{token}/status?wait=N` (terminal auth): the terminal asks about its own
/// session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TerminalSignupStatus {
    pub state: SignupState,
    /// The member, once completed: cache it, so the till can use it at once.
    #[schema(value_type = Option<Object>)]
    pub member: Option<MemberSnapshot>,
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// A completed signup in the change feed (no personal data: the LINE user stays at the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignupCompletion {
    pub signup_id: String,
    pub kind: SignupKind,
    pub store_id: String,
    pub terminal_id: String,
    pub member_id: String,
    pub member_number: String,
    #[schema(value_type = String, format = DateTime)]
    pub completed_at: DateTime<Utc>,
}

/// Hides all but the last four characters of a card number.
pub fn card_hint(code: &str) -> String {
    let n = code.chars().count();
    code.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '•' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_hide_all_but_four() {
        assert_eq!(card_hint("2000000000015"), "•••••••••0015");
        assert_eq!(card_hint("123"), "123");
    }
}
