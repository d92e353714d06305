//! What the console needs of the hub's storage (docs/design.md §13): staff accounts and their
//! sessions, the audit log of what people changed, a member's file and history, the actions
//! staff take on a member (each a hub-side change the terminals get through the feed), the
//! terminals' health, and the rows the reports count.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenpo_loyalty::{Adjusted, Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::StoreError;
use crate::admin::{CouponReport, CouponRequest, HeldAction, HeldView};

/// What a staff account may do (docs/design.md §7, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything; changes nothing.
    Viewer,
    /// Store IT: terminals and the review queue.
    It,
    /// The CRM team: members, their points and cards, coupons, the review queue.
    Crm,
    /// Everything, rule sets included.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Crm, Role::It, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Crm => "crm",
            Role::It => "it",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A staff account as stored. The password is an argon2id hash in PHC form, never the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    /// Wrong passwords in a row since the last sign-in.
    pub failed_attempts: u32,
    /// Signed-in is refused until then (ms since the epoch).
    pub locked_until_ms: Option<i64>,
    pub disabled: bool,
    pub created_at: String,
}

impl fmt::Debug for StaffAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffAccount")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until_ms", &self.locked_until_ms)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A signed-in session as stored: the cookie's token is kept as its SHA-256 only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub name: String,
    pub role: Role,
    /// The token every form of the session carries (docs/design.md §7).
    pub csrf: String,
    pub created_ms: i64,
    pub seen_ms: i64,
    pub expires_ms: i64,
}

/// A new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token_hash: [u8; 32],
    pub csrf: String,
    pub expires_ms: i64,
}

/// How sign-in attempts are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOut {
    /// Wrong passwords in a row that lock the account …
    pub after: u32,
    /// … for this long (ms).
    pub for_ms: i64,
}

/// Who made a change and why: every change a person makes carries one into the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The staff account's name.
    pub staff: String,
    /// Why, in their words (required, at most [`MAX_REASON`] characters).
    pub reason: String,
}

/// The longest reason the audit log keeps.
pub const MAX_REASON: usize = 500;

impl Actor {
    /// An actor whose reason is given and not too long.
    pub fn new(staff: &str, reason: &str) -> Result<Actor, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid(
                "a reason is required: say why, for the audit log".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(StoreError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters"
            )));
        }
        Ok(Actor {
            staff: staff.to_owned(),
            reason: reason.to_owned(),
        })
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffActionView {
    pub id: i64,
    pub at: String,
    pub staff: String,
    /// `adjust_points`, `replace_card`, `unlink_line`, `issue_coupon`, `resolve_held`,
    /// `load_rules`, `sign_in_locked` …
    pub action: String,
    pub member_id: Option<String>,
    pub reason: String,
    pub detail: serde_json::Value,
}

/// A LINE account linked to a member: whether it is, and whether it follows the official
/// account. The LINE user id itself stays in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineLink {
    pub linked_at: String,
    /// `None` until the hub has seen a follow or unfollow.
    pub following: Option<bool>,
    pub friendship_changed_ms: Option<i64>,
}

/// A member as the console shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFile {
    pub member: MemberSnapshot,
    pub home_store: Option<String>,
    pub created_at: String,
    pub line: Option<LineLink>,
    /// Card codes of theirs that were revoked, with when.
    pub revoked: Vec<(String, String)>,
    /// When their personal data was erased (docs/design.md §7): what is left is anonymous.
    pub erased_at: Option<String>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Member(Box<MemberFile>),
    /// The code was revoked (a lost card): who it named then, and when.
    Revoked {
        code: String,
        member_id: Option<String>,
        revoked_at: String,
    },
    Nobody,
}

/// One line of a member's history: an event a till sent about them, or a change a person
/// made at the hub.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When the hub received it (an event) or made it (a change), RFC 3339.
    pub at: String,
    /// `sale`, `refund`, `wish`, `member_provisional`, or a staff action's name.
    pub kind: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub seq: Option<u64>,
    /// `stored`, `rejected` or `conflict` for an event; `None` for a change.
    pub status: Option<String>,
    /// The staff account and reason, for a change.
    pub staff: Option<String>,
    pub reason: Option<String>,
    /// The event as the till sent it, or the change's detail.
    pub detail: serde_json::Value,
}

/// A page of a member's history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Where the next (older) page starts, when there is one.
    pub older: Option<String>,
}

/// What a terminal says of itself on each call to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalReport {
    pub agent_version: String,
    /// The newest seq in its outbox: the events it holds beyond the hub's mark are waiting.
    pub outbox_seq: u64,
    /// Its clock minus the hub's, as the hub saw the call arrive (ms).
    pub clock_skew_ms: i64,
}

/// A terminal's health as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalHealth {
    pub terminal_id: String,
    pub store_id: String,
    pub name: Option<String>,
    pub enrolled_at: String,
    pub acked_through: u64,
    pub last_received_at: Option<String>,
    pub agent_version: Option<String>,
    /// When it last called the hub.
    pub reported_at: Option<String>,
    pub outbox_seq: Option<u64>,
    pub clock_skew_ms: Option<i64>,
    /// Its events the hub refused (rejected or in conflict): quarantined at the till.
    pub quarantined: u64,
}

impl TerminalHealth {
    /// Events the terminal holds that the hub has not taken yet.
    pub fn waiting(&self) -> u64 {
        self.outbox_seq
            .map_or(0, |s| s.saturating_sub(self.acked_through))
    }
}

/// A completed signup, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupFact {
    pub store_id: String,
    pub completed_at: DateTime<Utc>,
}

/// The console's staff accounts, their sign-ins and their sessions (docs/design.md §13).
pub trait StaffStore: Send + Sync + 'static {
    /// Adds a staff account; a name already taken is [`StoreError::Conflict`].
    fn add_staff(
        &self,
        name: String,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets a new password (and role, when given) and lifts a lock-out; ends the account's
    /// sessions. `disabled` closes the account.
    fn update_staff(
        &self,
        name: String,
        password_hash: Option<String>,
        role: Option<Role>,
        disabled: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn staff_accounts(&self) -> impl Future<Output = Result<Vec<StaffAccount>, StoreError>> + Send;

    fn staff_account(
        &self,
        name: String,
    ) -> impl Future<Output = Result<Option<StaffAccount>, StoreError>> + Send;

    /// A wrong password for `name`: counted, and the account locked once `lock.after` are in a
    /// row (written to the audit log). Answers until when it is locked, if it is.
    fn sign_in_failed(
        &self,
        name: String,
        lock: LockOut,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// A right password: the count is cleared and the session stored.
    fn sign_in(
        &self,
        name: String,
        session: NewSession,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live session with this token hash (not expired, not idle past `idle_ms`, its account
    /// not disabled); its last use is moved to `now` when a minute has passed.
    fn staff_session(
        &self,
        token_hash: [u8; 32],
        idle_ms: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<StaffSession>, StoreError>> + Send;

    fn end_session(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the console needs of the hub's storage besides its staff. Every change takes an
/// [`Actor`] and writes its audit entry in the same transaction.
pub trait ConsoleStore: StaffStore {
    /// The audit log, newest first: entries before `before` (an id), at most `limit`; only
    /// `member_id`'s when given.
    fn staff_actions(
        &self,
        before: Option<i64>,
        limit: u32,
        member_id: Option<String>,
    ) -> impl Future<Output = Result<Vec<StaffActionView>, StoreError>> + Send;

    /// The member a card code or member number names (or that it was revoked).
    fn find_member(&self, code: String) -> impl Future<Output = Result<Found, StoreError>> + Send;

    /// The member with this id (or the member a provisional id was merged into).
    fn member_file(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Option<MemberFile>, StoreError>> + Send;

    /// A member's history, newest first, `limit` entries from `older` (a page's cursor).
    fn member_history(
        &self,
        member: MemberSnapshot,
        older: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<HistoryPage, StoreError>> + Send;

    /// Adds or takes points (never below zero) as of `today`, with the rules in force.
    fn adjust_points(
        &self,
        member_id: String,
        delta: i64,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Adjusted, StoreError>> + Send;

    /// A lost card: `new_code` (a valid card code nobody has, never revoked) becomes the
    /// member's, `old_code` (theirs) is revoked. The member keeps everything; terminals learn
    /// both through the feed.
    fn replace_card(
        &self,
        member_id: String,
        old_code: String,
        new_code: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Unlinks the member's LINE account as [`super::LineStore::unlink_line`] does (waiting
    /// messages are not sent, `goodbye` is written); `NotFound` when none is linked.
    fn unlink_member_line(
        &self,
        member_id: String,
        goodbye: Option<super::outbox::NewMessage>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Everything the hub holds about the member, table by table (docs/design.md §7), for
    /// the member to take away.
    /// Handed over by a person (`actor`), the export is written to the audit log.
    fn member_export(
        &self,
        member_id: String,
        actor: Option<Actor>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<serde_json::Value, StoreError>> + Send;

    /// Erases the member's personal data (docs/design.md §7) in one transaction: the LINE link
    /// (`goodbye` is the rich menu's unlink), every card code revoked (terminals drop the member
    /// and refuse the codes through the feed), each table as [`super::privacy::HOLDINGS`] says,
    /// the balance forfeited when `forfeit`; the ledger stays under the anonymous id. A member
    /// erased before is answered `already`, nothing changed.
    #[allow(clippy::too_many_arguments)]
    fn erase_member(
        &self,
        member_id: String,
        goodbye: Option<super::outbox::NewMessage>,
        forfeit: bool,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<super::privacy::Erasure, StoreError>> + Send;

    /// Gives the member a coupon ([`super::AdminStore::issue_coupons`] for one member).
    fn issue_member_coupon(
        &self,
        member_id: String,
        request: CouponRequest,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CouponReport, StoreError>> + Send;

    /// [`super::AdminStore::resolve_held`], by a person.
    fn resolve_held_by(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<HeldView, StoreError>> + Send;

    /// [`super::AdminStore::load_rules`], by a person.
    fn load_rules_by(
        &self,
        rules: RuleSet,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every rule set loaded, oldest first.
    fn rule_sets(&self) -> impl Future<Output = Result<Vec<RuleSet>, StoreError>> + Send;

    /// Records what a terminal said of itself.
    fn record_terminal_report(
        &self,
        terminal_id: String,
        report: TerminalReport,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every terminal's health, by store then terminal id.
    fn terminal_health(
        &self,
    ) -> impl Future<Output = Result<Vec<TerminalHealth>, StoreError>> + Send;

    /// Signups completed since `since`.
    fn signups_since(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SignupFact>, StoreError>> + Send;

    /// Members after `after` in id order (at most `limit`), for the reports' scans.
    fn members_page(
        &self,
        after: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MemberSnapshot>, StoreError>> + Send;

    /// Members linked to LINE now.
    fn linked_members(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Stored sale and refund events after `after` in (terminal, seq) order, at most `limit`:
    /// each with its terminal and seq (the next page's cursor) and payload, for the points
    /// report.
    fn point_events(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(String, u64, String)>, StoreError>> + Send;
}
