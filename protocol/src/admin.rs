//! Wire types of the hub's admin API (`/v1/admin/...`, `Authorization: Bearer <admin token>`),
//! spoken by the `tenpo-hub` admin commands (and documented in the hub's OpenAPI document under
//! the `admin` tag). The admin API is the reference hub's own, not part
//! of the sync contract: a CRM that implements the sync API manages its data its own way.
//!
//! Personal data (birthdays) goes in here and never comes out to terminals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenpo_loyalty::{CouponBenefit, Date, Points, Yen};
use utoipa::{IntoParams, ToSchema};

/// Most rows in one import request; the CLI sends files in batches of this size or less.
pub const MAX_IMPORT_ROWS: usize = 1000;

/// `POST /v1/admin/enrollment-codes`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentCodeRequest {
    pub store_id: String,
    /// Hours until the code expires; the hub's `enrollment_code_hours` (24) when absent.
    #[serde(default)]
    pub valid_hours: Option<u32>,
    /// For an existing terminal id of this store: enrolling with the code gives that terminal
    /// new credentials and keeps its identity and events (a lost credentials file; a hub
    /// restored from a backup older than the terminal, which makes it again).
    #[serde(default)]
    pub terminal_id: Option<String>,
}

/// `201` for `POST /v1/admin/enrollment-codes`. The code is shown once: the hub keeps its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentCodeResponse {
    pub code: String,
    pub store_id: String,
    /// The terminal the code is for, when it is for one.
    #[serde(default)]
    pub terminal_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// `201` for `POST /v1/admin/rule-sets` (body: the rule set as TOML, or JSON with
/// `Content-Type: application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RulesLoaded {
    pub version: u32,
    pub name: String,
}

/// One member to import: a paper card and its balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// The row's line in the source file, echoed in rejections.
    pub line: u64,
    pub card_code: String,
    #[schema(value_type = i64)]
    pub points: Points,
    #[schema(value_type = i64)]
    pub qualifying_spend_yen: Yen,
    /// `YYYY-MM-DD`, for birthday-month coupons; personal data, kept at the hub only.
    #[serde(default)]
    pub birthday: Option<String>,
}

/// `POST /v1/admin/members/import`: at most [`MAX_IMPORT_ROWS`] rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    #[serde(deserialize_with = "crate::strict::objects")]
    pub rows: Vec<ImportRow>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RowRejection {
    pub line: u64,
    pub card_code: String,
    pub reason: String,
}

/// `200` for an import: the rows not listed were imported, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub imported: u64,
    pub rejected: Vec<RowRejection>,
}

/// `POST /v1/admin/coupons`: one coupon to each named member, or to every member whose
/// birthday is in `birthday_month`. Issuing the same `coupon_id` again gives nobody a second
/// one (a used coupon is not given back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponRequest {
    /// The coupon's id, the same for every member it goes to; made by the hub when absent
    /// (for birthday-month coupons, an opaque id, the same for the same month and year).
    #[serde(default)]
    pub coupon_id: Option<String>,
    #[serde(default)]
    pub member_ids: Vec<String>,
    /// Members named by a card code or member number (what staff have in hand).
    #[serde(default)]
    pub card_codes: Vec<String>,
    /// 1 to 12.
    #[serde(default)]
    pub birthday_month: Option<u32>,
    #[schema(value_type = Object)]
    pub benefit: CouponBenefit,
    /// Valid from today (the hub's business date) for this many days.
    pub valid_days: u32,
}

/// `200` for `POST /v1/admin/coupons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponReport {
    pub coupon_id: String,
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
    #[schema(value_type = String, format = Date)]
    pub valid_until: Date,
    pub issued: u64,
    /// Members who had been given this coupon id before.
    pub already_issued: u64,
    /// Named member ids the hub does not know.
    pub unknown_members: Vec<String>,
    /// Named card codes that name no member.
    #[serde(default)]
    pub unknown_cards: Vec<String>,
}

/// `POST /v1/admin/codes/revoke`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub code: String,
}

/// `200` for a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    pub code: String,
    /// The member the code named, if any.
    pub member_id: Option<String>,
}

/// A replay with other content than the event the hub holds (`GET /v1/admin/conflicts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConflictView {
    pub id: i64,
    pub terminal_id: String,
    pub seq: u64,
    /// `seq` (another event under the same seq) or `event_id` (the same id under another seq).
    pub kind: String,
    pub event_id: Option<String>,
    /// What the hub holds (it stays).
    pub first: serde_json::Value,
    /// What came later.
    pub second: serde_json::Value,
    pub detected_at: String,
}

/// A sale whose re-evaluation at the hub differs from what the till recorded (`GET
/// /v1/admin/discrepancies`). The till's outcome was applied all the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiscrepancyView {
    pub id: i64,
    pub terminal_id: String,
    pub seq: u64,
    pub event_id: String,
    pub sale_id: String,
    pub member_id: String,
    pub rules_version: u32,
    /// What the till recorded (points, discount, stamps, coupons).
    pub till: serde_json::Value,
    /// What the hub computed, or `null` when it could not evaluate the sale.
    pub hub: serde_json::Value,
    pub detail: String,
    pub detected_at: String,
    /// `stamps`, `tier`, `balance` or `rules_unknown` (expected between tills offline, or
    /// rules to load), `amount` (suspicious), `unclassified` (found before classes existed).
    pub class: String,
}

/// `GET /v1/admin/held`: a till's sale outcome the hub held for review instead of applying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldView {
    pub id: i64,
    pub terminal_id: String,
    pub seq: u64,
    pub event_id: String,
    pub sale_id: String,
    pub member_id: String,
    /// Why it was held.
    pub reason: String,
    /// What the till recorded, and what the hub computed (`null` when it could not).
    pub till: serde_json::Value,
    pub hub: serde_json::Value,
    pub held_at: String,
    /// `released` (the till's outcome applied), `dismissed` (never applied), or absent while
    /// it waits for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

/// What a person decides about a held outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldAction {
    /// Apply the till's outcome to the member now.
    Release,
    /// Never apply it.
    Dismiss,
}

/// `POST /v1/admin/held/{terminal_id}/{seq}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveHeldRequest {
    pub action: HeldAction,
    /// Why, for the audit trail (required).
    pub reason: String,
}

/// `GET /v1/admin/conflicts` and `/v1/admin/discrepancies` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only entries with a greater id.
    #[serde(default)]
    pub after: Option<i64>,
    /// At most 1000; 100 when absent.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Discrepancies of this class only.
    #[serde(default)]
    pub class: Option<String>,
    /// Held outcomes still waiting for a person only (`GET /v1/admin/held`).
    #[serde(default)]
    pub open: Option<bool>,
}

/// `GET /v1/admin/terminals` query: terminals in id order, a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TerminalsQuery {
    /// Only terminals whose id sorts after this one.
    #[serde(default)]
    #[param(max_length = 64)]
    pub after: Option<String>,
    /// At most 1000; 100 when absent.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One enrolled terminal as the hub sees it: where it is, and how far its events reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TerminalView {
    pub terminal_id: String,
    pub store_id: String,
    pub enrolled_at: String,
    /// The terminal's mark: every event 1..=this is held and applied in order.
    pub acked_through: u64,
    /// Event slots the hub holds for it (stored, rejected or conflicting).
    pub events_held: u64,
    /// When its latest event arrived; `None` before its first push.
    pub last_received_at: Option<String>,
}

/// `GET /v1/admin/terminals/{terminal_id}/events` and `…/sales/{sale_id}`: a terminal's events
/// as the hub holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TerminalEvents {
    pub terminal_id: String,
    pub store_id: String,
    /// The terminal's mark: every event 1..=this is held.
    pub acked_through: u64,
    pub events: Vec<EventAudit>,
}

/// One event slot: what arrived, what the hub made of it, and whether it is in the member's
/// state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventAudit {
    pub seq: u64,
    pub event_id: Option<String>,
    pub kind: Option<String>,
    /// `stored`, `rejected` or `conflict`.
    pub status: String,
    pub reason: Option<String>,
    /// SHA-256 of the bytes received: the same as the terminal's export shows for this seq.
    pub content_hash: String,
    pub received_at: String,
    /// Whether its outcome is in the member's state at the hub.
    pub applied: bool,
    /// `waiting`, `released` or `dismissed` when it was held for review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Classes of the discrepancies found on re-evaluation, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discrepancies: Vec<String>,
    /// The event as received.
    pub event: serde_json::Value,
}

/// `GET /v1/admin/members/{code}/messages/{scenario}/preview`: what a scenario would send this
/// member now, in their language (nothing is written or sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagePreview {
    /// `welcome`, `tier_progress`, `points_expiring`, `birthday` or `stamp_card_full`.
    pub scenario: String,
    /// `transactional` or `marketing`.
    pub class: String,
    /// `ja` or `en`: the member's language.
    pub language: String,
    /// The LINE message objects, as pushed.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<serde_json::Value>,
}
