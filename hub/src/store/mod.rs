//! The hub's storage, behind one trait ([`HubStore`]) so that another backend (PostgreSQL)
//! can follow without touching the handlers, which are generic over it.
//!
//! Each method is one whole operation of the API, atomic on its own (a push, with every
//! effect of its events, commits in one transaction before its answer). The rules of what an
//! operation means that do not depend on storage live outside: [`crate::intake`] (reading a
//! push) and [`crate::apply`] (applying and re-evaluating events), so a second backend reuses
//! them.

pub mod catalog;
pub mod console;
pub mod model;
pub mod outbox;
pub mod postgres;
pub mod sqlite;
pub(crate) mod unit;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use crate::admin::{
    ConflictView, CouponReport, CouponRequest, DiscrepancyView, HeldAction, HeldView, ImportReport,
    ImportRow, Revoked,
};
use crate::admin::{TerminalEvents, TerminalView};
use crate::review::ReviewLimits;

pub use catalog::CatalogStore;
pub use console::{ConsoleStore, StaffStore};
/// What the hub holds about a member, and what erasure does with each table (docs/design.md §7).
pub mod privacy {
    pub use super::unit::privacy::{Erase, Erasure, HOLDINGS, Holding, Key};
}
pub use model::{
    CardKey, ChangesPage, CompleteSignup, Enrolled, FeedPosition, Friendship, HubCounts, Incoming,
    LineEvent, LineIntake, PushOutcome, Refusal, SignupRecord, Terminal,
};
pub use outbox::{
    Claim, Finished, Greeting, HomeStores, MessageOutcome, MessageView, OutboxCounts,
    OutboxMessage, PlannedPage, ScanMessage,
};
pub use sqlite::{SqliteStore, backup};

/// A value as the store keeps it (JSON text).
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        what: "value to store",
        detail: e.to_string(),
    })
}

/// A value the store kept; damaged text is [`StoreError::Corrupt`], naming `what` it was.
pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// A text the store kept that should be JSON (a payload as a till sent it, an outcome): the
/// JSON value when it is JSON, else the text itself, so a listing never fails on one bad row.
pub(crate) fn json_or_text(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

/// What can go wrong, in words a CRM operator or IT person can act on. The first group are
/// refusals of a request (the caller's to fix: [`StoreError::is_refusal`], answered 4xx); the
/// rest are failures of the hub itself (answered 500 without their cause, which is logged).
/// No backend's own error type appears here: a backend turns its errors into `Database` or
/// `Open` with their text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the enrolment code {0}: ask the hub's administrator for a new one")]
    EnrollmentCode(&'static str),
    #[error("{0}")]
    CursorReset(String),
    #[error(
        "rule set version {version} is not newer than the hub's latest ({latest}): \
         raise `version` in the file"
    )]
    RulesVersion { version: u32, latest: u32 },
    #[error("no rule set is loaded: load one first with `tenpo-hub load-rules FILE.toml`")]
    NoRuleSet,
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A decision was already taken (a held outcome released or dismissed).
    #[error("{0}")]
    Decided(String),
    /// The request's id was used before for other content (a catalogue batch).
    #[error("{0}")]
    Conflict(String),
    /// A signup or card link refused (used code, card linked elsewhere …).
    #[error("{0}")]
    Signup(#[from] Refusal),
    #[error("database error: {0}")]
    Database(String),
    /// The database server cannot be reached or dropped the connection: nothing was written,
    /// and the same request succeeds once it is back (answered 503).
    #[error(
        "the hub's database cannot be reached ({0}); nothing was written: check that the \
         database server is up"
    )]
    Unavailable(String),
    /// Another hub process changed the same records at the same moment, and trying again did
    /// not get through either (answered 503: send again).
    #[error("the database was busy with the same records ({0}); nothing was written: send again")]
    Contention(String),
    #[error(
        "the database is at schema version {found}, newer than this hub knows ({known}): \
         install the newer tenpo-hub; the database was not touched"
    )]
    SchemaTooNew { found: u32, known: u32 },
    #[error("damaged record in the database ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("cannot open the database at {path}: {detail}")]
    Open {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error(
        "another tenpo-hub is already serving {path}: one hub per database (stop the other one, \
         or give this one its own --data-dir)"
    )]
    InUse { path: std::path::PathBuf },
    #[error("cannot create {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Random(#[from] crate::secrets::RandomError),
    #[error("a database worker thread failed: {0}; see the hub's log")]
    Worker(String),
    #[error("the hub hit a bug handling this request ({0}); nothing was written")]
    Bug(String),
}

impl StoreError {
    /// Whether the store refused the request (its content, or the state it asks about), as
    /// opposed to failing itself.
    pub fn is_refusal(&self) -> bool {
        use StoreError as E;
        matches!(
            self,
            E::EnrollmentCode(_)
                | E::CursorReset(_)
                | E::RulesVersion { .. }
                | E::NoRuleSet
                | E::Invalid(_)
                | E::NotFound(_)
                | E::Decided(_)
                | E::Conflict(_)
                | E::Signup(_)
        )
    }
}

/// What a till's sync needs of the hub's storage (enrolment, pushes, the change feed, the
/// online lookup, rule sets, health and counts): the part of [`HubStore`] every backend serves
/// first. Every method is one atomic operation; `now` is handed in, so a backend never reads a
/// clock.
pub trait TillStore: Send + Sync + 'static {
    /// Uses a one-time enrolment code: a new terminal of the code's store with a new secret.
    fn enroll(
        &self,
        code: String,
        terminal_name: Option<String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Enrolled, StoreError>> + Send;

    /// The terminal with this id, for authentication.
    fn terminal(
        &self,
        terminal_id: String,
    ) -> impl Future<Output = Result<Option<Terminal>, StoreError>> + Send;

    /// Stores a push of `terminal`'s events and applies what became contiguous, in one
    /// transaction.
    /// An outcome that exceeds the hub's evaluation by more than `review` is stored and held
    /// for a person, not applied.
    fn push(
        &self,
        terminal: Terminal,
        events: Vec<Incoming>,
        review: ReviewLimits,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PushOutcome, StoreError>> + Send;

    /// Changes after `after` (`None`: from the start, a full snapshot), at most `limit`.
    /// [`StoreError::CursorReset`] when `after` is not a place in this database's log.
    fn changes(
        &self,
        after: Option<FeedPosition>,
        limit: u32,
    ) -> impl Future<Output = Result<ChangesPage, StoreError>> + Send;

    /// The member a code names (card code, not revoked).
    fn member_by_code(
        &self,
        code: String,
    ) -> impl Future<Output = Result<Option<MemberSnapshot>, StoreError>> + Send;

    /// A new one-time enrolment code for `store_id`, valid until `expires_at`. With
    /// `for_terminal`, enrolling with it gives that terminal (of this store) new credentials,
    /// or makes it again under its id when this hub does not know it.
    fn create_enrollment_code(
        &self,
        store_id: String,
        for_terminal: Option<String>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Adds a rule set as the newest version (its version must be greater than any loaded).
    fn load_rules(
        &self,
        rules: RuleSet,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest rule set, if any.
    fn current_rules(&self) -> impl Future<Output = Result<Option<RuleSet>, StoreError>> + Send;

    /// Whether a write can begin now (`/v1/health` says ok only then).
    fn check_writable(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What `/metrics` shows: counts only, read without scanning a big table whole.
    fn counts(&self) -> impl Future<Output = Result<HubCounts, StoreError>> + Send;
}

/// What the admin API needs of the hub's storage: imports, coupons, revocation, the review of
/// conflicts, discrepancies and held outcomes, and the audit path through terminals and sales.
pub trait AdminStore: Send + Sync + 'static {
    /// Imports paper-card members, one transaction; rows refused are reported, not imported.
    fn import_members(
        &self,
        rows: Vec<ImportRow>,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ImportReport, StoreError>> + Send;

    /// Gives a coupon to members (named, or by birthday month), once per member per id. A
    /// birthday month's members are those of `stores` (the daily scan runs per time zone).
    fn issue_coupons(
        &self,
        request: CouponRequest,
        stores: HomeStores,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CouponReport, StoreError>> + Send;

    /// Revokes a card code: it names nobody any more, and terminals learn it from the feed.
    fn revoke_code(
        &self,
        code: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send;

    fn conflicts(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ConflictView>, StoreError>> + Send;

    /// Discrepancies after `after`, of `class` only when given.
    fn discrepancies(
        &self,
        after: i64,
        limit: u32,
        class: Option<String>,
    ) -> impl Future<Output = Result<Vec<DiscrepancyView>, StoreError>> + Send;

    /// Outcomes held for review after `after`; only those still waiting when `open_only`.
    fn held(
        &self,
        after: i64,
        limit: u32,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<HeldView>, StoreError>> + Send;

    /// A person's decision on a held outcome: released (applied to the member now, and sent to
    /// the terminals through the feed) or dismissed. Decided once.
    fn resolve_held(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        reason: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<HeldView, StoreError>> + Send;

    /// Enrolled terminals with ids after `after`, in id order (the audit path's index).
    fn terminals(
        &self,
        after: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<TerminalView>, StoreError>> + Send;

    /// A terminal's event slots after `after` (the audit path).
    fn terminal_events(
        &self,
        terminal_id: String,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<TerminalEvents, StoreError>> + Send;

    /// Every event a terminal sent about one of its sales: did it arrive, what was applied.
    fn terminal_sale(
        &self,
        terminal_id: String,
        sale_id: String,
    ) -> impl Future<Output = Result<TerminalEvents, StoreError>> + Send;
}

/// What members in LINE need of the hub's storage: signups and card links, each LINE user's
/// friendship, profiles, and the message outbox with its daily scan.
pub trait LineStore: Send + Sync + 'static {
    /// Sets the scenarios whose messages each cause writes (`tenpo-hub serve` does, when LINE
    /// messaging is set up); until then a cause writes none.
    fn set_planner(&self, planner: std::sync::Arc<dyn outbox::Planner>);

    /// Takes one LINE webhook delivery in one transaction: each event once by its
    /// `webhookEventId`; follow and unfollow set the user's friendship unless a later one is
    /// already held (LINE's `timestamp` orders them, not arrival); a new follow from a member
    /// writes `greeting` to the message outbox in the same transaction.
    fn line_events(
        &self,
        events: Vec<LineEvent>,
        greeting: Greeting,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<LineIntake, StoreError>> + Send;

    /// Claims due outbox rows for a sender (docs/design.md §10): transactional first, oldest
    /// first, only for LINE users who follow the account; each leased until `now + lease`.
    fn claim_messages(
        &self,
        claim: Claim,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OutboxMessage>, StoreError>> + Send;

    /// Records how claimed rows' attempts ended, in one transaction.
    fn finish_messages(
        &self,
        outcomes: Vec<Finished>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Outbox rows per state.
    fn outbox_counts(&self) -> impl Future<Output = Result<OutboxCounts, StoreError>> + Send;

    /// The daily scan's first half, a read: up to `limit` members linked to LINE after `after`
    /// (member id order) and the scenarios' messages for each of `stores`' members (those of
    /// the time zone whose day it is); nothing without scenarios or a rule set.
    fn plan_linked(
        &self,
        today: Date,
        stores: HomeStores,
        after: String,
        limit: u32,
    ) -> impl Future<Output = Result<PlannedPage, StoreError>> + Send;

    /// The daily scan's second half: writes a planned page's messages in one transaction, each
    /// once (by its dedupe key) and only if its member is still linked to that LINE user (the
    /// page was read a moment before); answers how many were new.
    fn queue_linked(
        &self,
        messages: Vec<ScanMessage>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How many of the daily scan's pages this backend writes at once (their writes start in
    /// page order). One by default: SQLite has one writer, and the page after is read and
    /// planned while one is written.
    fn scan_writers(&self) -> usize {
        1
    }

    /// The daily scan queued `messages` in all: a bulk load of the outbox, after which a
    /// backend whose planner keeps statistics brings them up to date (PostgreSQL: the sender's
    /// claim is planned for the queue as it now is, not for the empty one it last saw).
    fn scan_queued(&self, messages: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A member's profile choices (the defaults until they fill the form in).
    fn member_profile(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<outbox::Profile, StoreError>> + Send;

    /// The member's home store, whose time zone is theirs (docs/design.md §10); `None` until
    /// one is known.
    fn home_store(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Saves a member's profile (the LIFF form).
    fn save_profile(
        &self,
        member_id: String,
        profile: outbox::Profile,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A LINE user unlinks their account from their member (LINE requires that they can): the
    /// link goes, waiting messages are not sent, `goodbye` is written; the member and their card
    /// stay. Answers the member's id, or `None` when the LINE user had no member.
    fn unlink_line(
        &self,
        line_user_id: String,
        goodbye: Option<outbox::NewMessage>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// A member's messages, oldest first.
    fn member_messages(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Vec<MessageView>, StoreError>> + Send;

    /// A LINE user's friendship with the official account, if the hub has seen one.
    fn friendship(
        &self,
        line_user_id: String,
    ) -> impl Future<Output = Result<Option<Friendship>, StoreError>> + Send;

    /// Completes a checked signup or card link in one transaction: a new member, the member
    /// already linked to the LINE user, or the card's member; the signup id is recorded as used
    /// and the completion enters the feed. The same signup again from the same LINE user answers
    /// the same; from another, [`Refusal::Used`].
    fn complete_signup(
        &self,
        request: CompleteSignup,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SignupRecord, StoreError>> + Send;

    /// A completed signup by id, with its member as it is now.
    fn signup(
        &self,
        signup_id: String,
    ) -> impl Future<Output = Result<Option<SignupRecord>, StoreError>> + Send;

    /// The member linked to a LINE user (LINE's `sub`), as it is now.
    fn member_by_line_user(
        &self,
        line_user_id: String,
    ) -> impl Future<Output = Result<Option<MemberSnapshot>, StoreError>> + Send;

    /// The newest active card-signing key (the secret half), for the digital card.
    fn card_key(&self) -> impl Future<Output = Result<Option<CardKey>, StoreError>> + Send;
}

/// The hub's whole storage: what tills need ([`TillStore`]), what the admin API needs
/// ([`AdminStore`]) and what members in LINE need ([`LineStore`]). Every method is one atomic
/// operation; `now` and `today` (the hub's business date) are handed in, so a backend never
/// reads a clock.
pub trait HubStore: TillStore + AdminStore + LineStore + CatalogStore + ConsoleStore {}

impl<S: TillStore + AdminStore + LineStore + CatalogStore + ConsoleStore> HubStore for S {}
