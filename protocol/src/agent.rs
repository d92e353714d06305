//! The agent's local API (`127.0.0.1:7480` by default): what a POS and the counter screen speak.
//!
//! Money is integer yen, tax included; dates are the store's business dates (`YYYY-MM-DD`).

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tenpo_loyalty::{Coupon, CouponBenefit, Date, Line, Points, Yen};
use utoipa::ToSchema;

use crate::events::WishKind;
use crate::limits::{MAX_COUPON_ID_LEN, MAX_COUPONS, MAX_ID_LEN, MAX_LINES};

/// `GET /v1/health`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the agent answers.
    pub status: String,
}

/// Whether the agent syncs with a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No hub configured: everything is local.
    Standalone,
    /// Enrolled with a hub; whether the hub answers now is `sync.online`. (Called `online`
    /// before 0.2, which read as "the hub answers" while it was down; still read as such.)
    #[serde(alias = "online")]
    Enrolled,
}

/// `GET /v1/status`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub store_id: String,
    pub terminal_id: String,
    pub mode: Mode,
    /// Events in the outbox not yet acknowledged by a hub.
    pub pending_events: u64,
    pub rule_set_version: u32,
    pub rule_set_name: String,
    /// The store's business date now, in its time zone.
    #[schema(value_type = String, format = Date)]
    pub business_date: Date,
    pub time_zone: String,
    /// The agent's version.
    pub agent_version: String,
    /// Every configured scanner and its state.
    pub scanners: Vec<ScannerStatus>,
    /// The sync with the hub; `null` when standalone.
    pub sync: Option<SyncStatus>,
}

/// How the terminal stands with the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncStatus {
    pub hub_url: String,
    /// Whether the hub answered the last call.
    pub online: bool,
    /// The highest seq the hub has acknowledged.
    pub acked_through: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_push_at: Option<DateTime<chrono::Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pull_at: Option<DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
    /// The hub's clock minus this terminal's, in seconds, at the last answer.
    pub clock_skew_secs: Option<i64>,
    pub members_cached: u64,
    /// Events the hub refused, kept for IT.
    pub quarantined: u64,
    /// Completed sync passes (push, then pull to the end of the feed) since start.
    pub passes: u64,
    /// When the agent next calls the hub by itself: the pull interval after a good pass, the
    /// back-off after a failure (a sale or `sync --now` calls it sooner).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<DateTime<chrono::Utc>>,
}

/// A scanner as `/v1/status` and `tenpo-agent doctor` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScannerStatus {
    pub name: String,
    /// `serial`, `keyboard` or `stdin`.
    pub kind: String,
    pub connected: bool,
    /// The port and its settings when connected.
    pub detail: Option<String>,
    /// Why it is not connected, or the last thing that went wrong.
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_scan_at: Option<DateTime<chrono::Utc>>,
    /// Scans read (after debounce), rejected, and lines dropped as noise or overlong.
    pub scans: u64,
    pub rejections: u64,
    pub dropped: u64,
}

/// One event of `GET /v1/scans/stream` (server-sent events, `event: scan`): a scan and either
/// the member it found or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanEvent {
    /// Increases by one per scan since the agent started.
    pub scan_id: u64,
    pub scanner: String,
    /// The code as read, after framing (not valid UTF-8 is shown with replacement characters).
    /// A signed LINE-card QR is never echoed (another till would accept it within its time
    /// window): for one, this is the card's member number, or `T1.…` when it was refused.
    pub raw: String,
    /// Whether the code was the LINE card's signed QR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub line_card: bool,
    /// `ean13`, `ean8`, `codabar`, `code128`, `qr`, … or `unknown`.
    pub symbology: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub outcome: ScanOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ScanOutcome {
    /// A member: the same view as `GET /v1/members/{code}`.
    Member { member: MemberView },
    /// Not a usable member code, with a reason a cashier can act on.
    Rejected {
        reason: String,
        reason_code: String,
        /// For a product's barcode (`reason_code` `product_barcode`) whose check digit is
        /// right: its digits (JAN/EAN-13, EAN-8 or UPC-A), which a screen can offer a member's
        /// wish for (`POST /v1/wishes`). Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
    },
    /// A valid card this till has no member for; a scan never makes one. `new_card`: the hub
    /// answered that no member has it (the first sale enrols it). Otherwise the hub could not
    /// be asked, so it may be a member this till has not seen yet: the sale is recorded as
    /// usual and the points join the member's once the till is back online. `code` is the
    /// card's member number (never a signed code).
    NotKnown {
        code: String,
        new_card: bool,
        message: String,
    },
}

/// Live points that expire on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExpiringPoints {
    pub points: Points,
    /// The last day these points can be used.
    #[schema(value_type = String, format = Date)]
    pub expires_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PointsView {
    pub balance: Points,
    /// Live points grouped by expiry day, soonest first (at most three days).
    pub expiring: Vec<ExpiringPoints>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StampsView {
    /// Stamps on the current card.
    pub count: u32,
    pub card_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    /// `value_yen` off the sale.
    Discount,
    /// `points` added to what the sale earns.
    PointsBonus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponView {
    pub coupon_id: String,
    pub kind: CouponKind,
    /// Yen off, for a discount coupon; 0 otherwise.
    pub value_yen: Yen,
    /// Bonus points, for a points-bonus coupon; 0 otherwise.
    pub points: Points,
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
    #[schema(value_type = String, format = Date)]
    pub valid_until: Date,
}

impl From<&Coupon> for CouponView {
    fn from(c: &Coupon) -> CouponView {
        let (kind, value_yen, points) = match c.benefit {
            CouponBenefit::Discount { value_yen } => (CouponKind::Discount, value_yen, 0),
            CouponBenefit::PointsBonus { points } => (CouponKind::PointsBonus, 0, points),
        };
        CouponView {
            coupon_id: c.coupon_id.clone(),
            kind,
            value_yen,
            points,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
        }
    }
}

/// The next tier and what is left to spend to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NextTier {
    pub name: String,
    pub remaining_yen: Yen,
}

/// `GET /v1/members/{code}`: everything a cashier needs about a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub member_id: String,
    /// The member number printed on the card (for a provisional member, its card code).
    pub number: String,
    /// Created at this till from a new valid card; not yet confirmed by the hub.
    pub provisional: bool,
    pub tier: String,
    pub points: PointsView,
    pub stamps: StampsView,
    /// Coupons the member can still use.
    pub coupons: Vec<CouponView>,
    /// Spend counting towards the tier over the rolling window.
    pub qualifying_spend_yen: Yen,
    /// `null` at the top tier.
    pub next_tier: Option<NextTier>,
}

/// One line of a sale or refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleLine {
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub sku: String,
    /// Lines in an excluded category (gift cards, say) earn nothing.
    #[serde(default)]
    pub category: Option<String>,
    /// Whole units, at least 1.
    #[schema(minimum = 1, maximum = 100_000)]
    pub quantity: i64,
    /// The line's total in yen, tax included, 0 or more.
    #[schema(value_type = i64, minimum = 0, maximum = 10_000_000_000_i64)]
    pub amount_yen: Yen,
}

impl From<&SaleLine> for Line {
    fn from(l: &SaleLine) -> Line {
        Line {
            sku: l.sku.clone(),
            category: l.category.clone(),
            quantity: l.quantity,
            amount_yen: l.amount_yen,
        }
    }
}

/// `POST /v1/sales`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleRequest {
    /// The POS's id for the sale: the idempotency key.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub sale_id: String,
    /// The scanned member code; a sale without one is recorded and earns nothing.
    #[serde(default)]
    pub member_code: Option<String>,
    /// When the sale happened (RFC 3339); now if absent. Sets the business date.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<FixedOffset>>,
    #[serde(deserialize_with = "crate::strict::objects")]
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<SaleLine>,
    /// Points the customer chose to redeem, in whole points.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub redeem_points: Option<Points>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub coupon_ids: Option<Vec<String>>,
}

/// `201` (first time) or `200` (a replay of the same request) for `POST /v1/sales`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SaleResponse {
    pub sale_id: String,
    /// `null` for a sale without a member.
    pub member_id: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub business_date: Date,
    pub earned_points: Points,
    pub redeemed_points: Points,
    /// Yen off the sale, from points and coupons.
    pub discount_yen: Yen,
    pub stamps_earned: u32,
    pub coupons_issued: Vec<CouponView>,
    pub balance_after: Points,
    /// The member's tier after the sale; it sets the rate from the next sale on.
    pub tier_after: Option<String>,
    pub next_tier: Option<NextTier>,
    pub rule_set_version: u32,
}

/// `POST /v1/sales/{sale_id}/refunds`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The POS's id for the refund: the idempotency key.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub refund_id: String,
    /// When the refund happened (RFC 3339); now if absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<FixedOffset>>,
    /// Lines of the sale by `sku`, with the quantity and amount refunded.
    #[serde(deserialize_with = "crate::strict::objects")]
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<SaleLine>,
}

/// `201` (first time) or `200` (replay) for a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    pub refund_id: String,
    pub sale_id: String,
    /// Earned points taken back.
    pub reversed_points: Points,
    /// Redeemed points given back.
    pub returned_points: Points,
    pub reversed_stamps: u32,
    /// Points that should have been taken back but the member had already used.
    pub shortfall_points: Points,
    pub balance_after: Points,
}

/// `POST /v1/wishes`: a member asks to be told about an item (docs/design.md §11), at the
/// counter or the kiosk. Recorded offline like a sale, and sent to the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WishRequest {
    /// The caller's id for the wish: the idempotency key, as a sale's `sale_id` is.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub wish_id: String,
    /// The member's scanned card code, as a sale names its member. The card must be a member's
    /// at this till (a new card is not a member until its first sale).
    pub member_code: String,
    /// The product's barcode as scanned, or the retailer's sku. 8, 12 or 13 digits is read as a
    /// barcode (JAN/EAN-13, EAN-8, UPC-A) and its check digit checked; anything else as a sku.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub item: String,
    /// What the member wants to hear about, each at most once. Required: the caller says what
    /// the member asked for (the counter and the kiosk send `["restock"]`).
    #[schema(min_items = 1, max_items = 3)]
    pub wants: Vec<WishKind>,
    /// When the member asked (RFC 3339); now if absent. Bounded as a sale's is.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<FixedOffset>>,
}

/// `201` (first time) or `200` (the same request again) for `POST /v1/wishes`: what was
/// recorded and will reach the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WishResponse {
    pub wish_id: String,
    /// The member the card belongs to at this till.
    pub member_id: String,
    pub item: String,
    /// Whether `item` was read as a product barcode (its check digit checked) rather than a sku.
    pub barcode: bool,
    pub wants: Vec<WishKind>,
    /// When the member asked (RFC 3339, UTC), as the event records it.
    #[schema(format = DateTime)]
    pub occurred_at: String,
}

/// A request field that breaks the wire rules, with the field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for FieldError {}

fn field(field: impl Into<String>, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Whether text that reaches terminals and screens (a terminal's name, a reason) is free of
/// control characters (NUL, newlines, escapes) and of the invisible marks that reorder or hide
/// text (bidirectional overrides and isolates, zero-width characters): what a cashier or IT
/// person reads is what is there.
pub fn is_plain_text(value: &str) -> bool {
    !value.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2069}'
                    | '\u{061C}'
                    | '\u{FEFF}'
            )
    })
}

/// Ids are 1 to 64 printable ASCII characters without spaces.
pub fn check_id(name: &str, value: &str) -> Result<(), FieldError> {
    check_id_len(name, value, MAX_ID_LEN)
}

fn check_id_len(name: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max {
        return Err(field(name, format!("must be 1 to {max} characters")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(field(name, "may hold only printable ASCII without spaces"));
    }
    Ok(())
}

fn check_lines(lines: &[SaleLine]) -> Result<(), FieldError> {
    if lines.is_empty() {
        return Err(field("lines", "needs at least one line"));
    }
    if lines.len() > MAX_LINES {
        return Err(field(
            "lines",
            format!(
                "has {} lines; at most {MAX_LINES} are accepted",
                lines.len()
            ),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        check_id(&format!("lines[{i}].sku"), &line.sku)?;
        if let Some(c) = &line.category {
            check_id(&format!("lines[{i}].category"), c)?;
        }
    }
    Ok(())
}

impl SaleRequest {
    /// Checks what the wire promises (ids, sizes); the rules engine checks amounts and points.
    pub fn check(&self) -> Result<(), FieldError> {
        check_id("sale_id", &self.sale_id)?;
        check_lines(&self.lines)?;
        let coupons = self.coupon_ids.as_deref().unwrap_or_default();
        if coupons.len() > MAX_COUPONS {
            return Err(field(
                "coupon_ids",
                format!("at most {MAX_COUPONS} coupons per sale"),
            ));
        }
        for (i, id) in coupons.iter().enumerate() {
            check_id_len(&format!("coupon_ids[{i}]"), id, MAX_COUPON_ID_LEN)?;
        }
        Ok(())
    }
}

impl WishRequest {
    /// Checks what the wire promises (ids, sizes, each want once); the agent checks the
    /// member's card and the barcode's check digit.
    pub fn check(&self) -> Result<(), FieldError> {
        check_id("wish_id", &self.wish_id)?;
        check_id("item", &self.item)?;
        if self.wants.is_empty() {
            return Err(field(
                "wants",
                "needs at least one of restock, price_drop or last_one",
            ));
        }
        for (i, want) in self.wants.iter().enumerate() {
            if self.wants[..i].contains(want) {
                return Err(field(
                    "wants",
                    format!("names {} twice; name each once", want.as_str()),
                ));
            }
        }
        Ok(())
    }
}

impl RefundRequest {
    pub fn check(&self) -> Result<(), FieldError> {
        check_id("refund_id", &self.refund_id)?;
        check_lines(&self.lines)
    }
}
