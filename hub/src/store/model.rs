//! The language of the hub's store: every type its trait ([`super::HubStore`]) takes or gives
//! that is not a wire type, defined here so the store imports no handler module (the handlers,
//! `intake`, `cursor` and `signup` use these, not the other way round), and a second backend
//! (PostgreSQL) implements the trait against this module alone.

use std::fmt;

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::events::Event;
use tenpo_protocol::signup::{SignupKind, SignupToken};
use tenpo_protocol::sync::{Change, MemberSnapshot, PushResult};

/// An enrolled terminal, as authentication finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub terminal_id: String,
    pub store_id: String,
    /// SHA-256 of the terminal's secret.
    pub secret_hash: [u8; 32],
    /// The highest seq of this terminal's events held contiguously from 1.
    pub acked_through: u64,
}

/// What enrolment hands back once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub store_id: String,
    pub terminal_id: String,
    pub secret: String,
}

/// The answer to a push, committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    pub acked_through: u64,
    pub results: Vec<PushResult>,
}

/// One read of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    pub next: FeedPosition,
    pub more: bool,
}

/// The hub's numbers for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubCounts {
    /// Enrolled terminals, and the stores they belong to.
    pub terminals: u64,
    pub stores: u64,
    /// Event slots held (stored, rejected or conflicting), ever.
    pub events: u64,
    /// Of those, the ones after a gap in their terminal's seq: held, not applied yet.
    pub events_waiting: u64,
    pub conflicts: u64,
    pub discrepancies: u64,
    pub members: u64,
    /// The newest rule-set version (0 before the first).
    pub rule_set_version: u64,
    /// The message outbox, per state.
    pub messages: crate::store::outbox::OutboxCounts,
}

/// A place in one hub database's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    pub epoch: String,
    /// The hub run that served it; `None` for a cursor from before runs were recorded.
    pub run: Option<String>,
    pub position: u64,
}

/// One pushed event, checked.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub seq: u64,
    /// What identifies this content: the SHA-256 of the event's bytes as received when it is
    /// well-formed, else of the whole item. A replay with the same value is the same push.
    pub hash: String,
    /// Stored as received: the event's bytes when well-formed, else the item's.
    pub payload: String,
    pub verdict: Result<Event, String>,
}

/// What a completion asks of the store, once the token and the ID token are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteSignup {
    pub token: SignupToken,
    /// LINE's `sub`: personal data, kept at the hub only.
    pub line_user_id: String,
    pub today: Date,
    /// Stamps a new member starts with.
    pub welcome_stamps: u32,
    /// What the member gets in LINE when this signup links their account (written in the same
    /// transaction; nothing for a replay or a LINE account already linked to the member).
    pub greeting: crate::store::outbox::Greeting,
}

/// A completed signup as the store holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignupRecord {
    pub signup_id: String,
    pub kind: SignupKind,
    pub store_id: String,
    pub terminal_id: String,
    pub member: MemberSnapshot,
    pub line_user_id: String,
    /// The LINE account already had this member (nothing new was made).
    pub existing_member: bool,
    pub completed_at: DateTime<Utc>,
}

impl fmt::Debug for SignupRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupRecord")
            .field("signup_id", &self.signup_id)
            .field("kind", &self.kind)
            .field("terminal_id", &self.terminal_id)
            .field("member_id", &self.member.member_id)
            .field("line_user_id", &"<personal>")
            .finish_non_exhaustive()
    }
}

/// Why the store refused a completion, in words for the customer's phone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this code was already used by another LINE account: scan a fresh code at the kiosk")]
    Used,
    #[error(
        "this card is already linked to another LINE account: ask the staff to help with this card"
    )]
    CardLinkedElsewhere,
    #[error(
        "this LINE account already has member number {number}: one member per LINE account; \
         ask the staff to move the card's points"
    )]
    LineAccountTaken { number: String },
    #[error("this card was cancelled by the head office: ask the staff for help")]
    CardRevoked,
}

/// The hub's card-signing key (the secret half): never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CardKey {
    pub key_id: u32,
    pub secret: [u8; 32],
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One LINE webhook event as the store keeps it (`POST /line/webhook`).
#[derive(Clone, PartialEq, Eq)]
pub struct LineEvent {
    /// LINE's ULID for the event: redeliveries carry the same.
    pub webhook_event_id: String,
    pub kind: String,
    /// When it happened at LINE (ms since the epoch).
    pub occurred_at_ms: i64,
    /// The LINE user (personal data: never logged).
    pub user_id: Option<String>,
    /// `follow` (true) or `unfollow` (false): the friendship it sets.
    pub following: Option<bool>,
}

impl fmt::Debug for LineEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineEvent")
            .field("webhook_event_id", &self.webhook_event_id)
            .field("kind", &self.kind)
            .field("occurred_at_ms", &self.occurred_at_ms)
            .field("following", &self.following)
            .finish_non_exhaustive()
    }
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineIntake {
    /// Events seen for the first time.
    pub new: u32,
    /// Events already held (a redelivery): nothing done again.
    pub duplicate: u32,
}

/// A LINE user's friendship with the official account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Friendship {
    /// Following now; false once they blocked the account (until they unblock it).
    pub following: bool,
    /// When the latest follow or unfollow happened at LINE (ms).
    pub changed_at_ms: i64,
    /// When they first followed (ms), if they ever did.
    pub first_followed_at_ms: Option<i64>,
}

/// A signup's kind as the store keeps it.
pub(crate) fn signup_kind_text(kind: SignupKind) -> &'static str {
    match kind {
        SignupKind::Signup => "signup",
        SignupKind::CardLink => "card_link",
    }
}

/// A signup's kind as the store kept it.
pub(crate) fn signup_kind(text: &str) -> Result<SignupKind, super::StoreError> {
    match text {
        "signup" => Ok(SignupKind::Signup),
        "card_link" => Ok(SignupKind::CardLink),
        other => Err(super::StoreError::Corrupt {
            what: "signup kind",
            detail: other.to_owned(),
        }),
    }
}
