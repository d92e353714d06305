//! What the store decides, written once for both backends (docs/design.md §12).
//!
//! A backend gives the statements of one transaction ([`Statements`]: read a slot, store an
//! event, load and save a member, log a change …); the decisions between them (a replayed slot
//! or a conflict, the order events apply in, which messages a sale writes) are here, generic
//! over it. SQLite's statements finish at once and are driven to the end on the thread that
//! holds its connection ([`finish`]); PostgreSQL's are awaited.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod cards;
pub(crate) mod catalog;
pub(crate) mod console;
pub(crate) mod coupons;
pub(crate) mod email;
pub(crate) mod feed;
pub(crate) mod intake;
pub(crate) mod line;
pub(crate) mod members;
pub(crate) mod outbox;
pub(crate) mod plan;
pub mod privacy;
pub(crate) mod review;
pub(crate) mod scan;
pub(crate) mod signup;
pub(crate) mod wishes;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::MemberSnapshot;

use super::outbox::{Channel, Language, NewMessage, Profile};
use super::{Incoming, StoreError};

/// An event slot as held: `(terminal, seq)` is taken once, forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub status: SlotStatus,
    pub reason: Option<String>,
    pub hash: String,
    pub payload: String,
    pub event_id: Option<String>,
}

/// What became of a slot when it was first pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotStatus {
    /// Well-formed and taken: applied in `seq` order.
    Stored,
    /// Refused on its content (malformed, a revoked card …), kept with the reason.
    Rejected,
    /// Its event id is another slot's: the first stays.
    Conflict,
}

impl SlotStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Stored => "stored",
            SlotStatus::Rejected => "rejected",
            SlotStatus::Conflict => "conflict",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<SlotStatus, StoreError> {
        match text {
            "stored" => Ok(SlotStatus::Stored),
            "rejected" => Ok(SlotStatus::Rejected),
            "conflict" => Ok(SlotStatus::Conflict),
            other => Err(StoreError::Corrupt {
                what: "event slot status",
                detail: format!("unknown status {other:?}"),
            }),
        }
    }
}

/// A slot of the run that follows a terminal's mark without a gap.
#[derive(Debug, Clone)]
pub(crate) struct FollowingSlot {
    pub seq: u64,
    pub status: SlotStatus,
    pub payload: String,
}

/// A second content for a slot or an event id: recorded once per content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewConflict<'a> {
    pub terminal_id: &'a str,
    pub seq: u64,
    /// `seq` (the slot held other content) or `event_id` (another slot has the event's id).
    pub kind: &'a str,
    pub event_id: Option<&'a str>,
    pub first_payload: &'a str,
    pub second: &'a Incoming,
}

/// A sale whose till outcome differs from the hub's evaluation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewDiscrepancy<'a> {
    pub terminal_id: &'a str,
    pub event: &'a Event,
    pub sale_id: &'a str,
    pub member_id: &'a str,
    pub rules_version: u32,
    pub till_json: &'a str,
    pub hub_json: &'a str,
    pub detail: &'a str,
    pub class: &'a str,
}

/// A sale held for a person: seen, not applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewHeld<'a> {
    pub terminal_id: &'a str,
    pub event: &'a Event,
    pub sale_id: &'a str,
    pub member_id: &'a str,
    pub reason: &'a str,
    pub till_json: &'a str,
    pub hub_json: &'a str,
}

/// A member's row: the snapshot as stored, and their home store.
#[derive(Debug, Clone)]
pub(crate) struct MemberRow {
    pub snapshot: String,
    pub home_store: Option<String>,
    /// Until when a purchase of theirs may count for a wish's notification (`None`: never
    /// notified).
    pub notified_until_ms: Option<i64>,
}

/// A member's profile choices as stored (`None`: never chosen, or not known).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProfileRow {
    pub language: Option<String>,
    pub marketing: Option<bool>,
    pub channel: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<Date>,
}

impl ProfileRow {
    /// The member's choices, with the defaults for what they never chose.
    pub(crate) fn profile(self) -> Profile {
        let d = Profile::default();
        Profile {
            language: self
                .language
                .as_deref()
                .and_then(Language::parse)
                .unwrap_or(d.language),
            marketing: self.marketing.unwrap_or(d.marketing),
            channel: self
                .channel
                .as_deref()
                .and_then(Channel::parse)
                .unwrap_or(d.channel),
            birthday: self.birthday,
            name: self.name,
            email: self.email,
        }
    }
}

/// The statements of one transaction, as the decisions here need them. Every method reads or
/// writes inside the caller's transaction; none commits.
pub(crate) trait Statements {
    /// Waits for any other push of the terminal to end, whichever hub process took it: one
    /// terminal's pushes are taken one at a time.
    async fn begin_push(&mut self, terminal_id: &str) -> Result<(), StoreError>;

    /// Reads ahead what taking `incoming` will ask (a backend that pays a round trip per
    /// statement answers the push's questions from a few); nothing by default.
    async fn prepare_push(
        &mut self,
        terminal_id: &str,
        incoming: &[Incoming],
    ) -> Result<(), StoreError> {
        let _ = (terminal_id, incoming);
        Ok(())
    }

    /// The slot `(terminal_id, seq)`, if taken.
    async fn slot(&mut self, terminal_id: &str, seq: u64) -> Result<Option<Slot>, StoreError>;

    /// Takes a new slot.
    async fn insert_slot(
        &mut self,
        terminal_id: &str,
        incoming: &Incoming,
        event: Option<&Event>,
        status: SlotStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a conflict; answers whether it was new.
    async fn record_conflict(
        &mut self,
        conflict: NewConflict<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The first slot holding `event_id`: its terminal, seq and payload.
    async fn slot_of_event(
        &mut self,
        event_id: &str,
    ) -> Result<Option<(String, u64, String)>, StoreError>;

    /// How far the terminal's events are contiguous and applied.
    async fn acked_through(&mut self, terminal_id: &str) -> Result<u64, StoreError>;

    async fn set_acked_through(&mut self, terminal_id: &str, mark: u64) -> Result<(), StoreError>;

    /// The terminal's slots after `mark` up to the first gap, in `seq` order.
    async fn following(
        &mut self,
        terminal_id: &str,
        mark: u64,
    ) -> Result<Vec<FollowingSlot>, StoreError>;

    async fn insert_discrepancy(
        &mut self,
        d: NewDiscrepancy<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Holds a sale (once per slot).
    async fn hold(&mut self, held: NewHeld<'_>, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The member an id names: itself, or the member a provisional id was merged into.
    async fn resolve(&mut self, id: &str) -> Result<Option<String>, StoreError>;

    /// The member a card code (not revoked) names.
    async fn code_owner(&mut self, code: &str) -> Result<Option<String>, StoreError>;

    async fn is_revoked(&mut self, code: &str) -> Result<bool, StoreError>;

    async fn member_row(&mut self, member_id: &str) -> Result<Option<MemberRow>, StoreError>;

    /// Makes `store_id` the member's home store unless they have one.
    async fn claim_home_store(&mut self, member_id: &str, store_id: &str)
    -> Result<(), StoreError>;

    /// Writes a changed snapshot and logs the change for the feed.
    async fn save_member(
        &mut self,
        member: &MemberSnapshot,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// [`Statements::save_member`] for several members (in id order), in as few statements as
    /// the backend can.
    async fn save_members(
        &mut self,
        members: &[&MemberSnapshot],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for member in members {
            self.save_member(member, now).await?;
        }
        Ok(())
    }

    /// Adds a new member with its codes and logs it for the feed.
    async fn insert_member(
        &mut self,
        member: &MemberSnapshot,
        birthday: Option<Date>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Moves a thing to the head of the feed's change log (one row per thing, at its latest
    /// change).
    async fn log_change(&mut self, kind: &str, key: &str) -> Result<(), StoreError>;

    /// Makes `alias_id` (a till's provisional member) another name of `member_id`.
    async fn insert_alias(&mut self, alias_id: &str, member_id: &str) -> Result<(), StoreError>;

    /// The LINE user linked to the member.
    async fn line_user_of_member(&mut self, member_id: &str) -> Result<Option<String>, StoreError>;

    /// The member's profile choices (`None`: the hub does not know the member).
    async fn profile_row(&mut self, member_id: &str) -> Result<Option<ProfileRow>, StoreError>;

    /// Writes `message` for `line_user_id` unless one with `dedupe_key` was ever written for
    /// `member_id`; answers whether it was written. A user who blocked the account gets the row
    /// `unreachable`; one the hub has not seen follow gets it `pending`.
    async fn enqueue(
        &mut self,
        dedupe_key: &str,
        member_id: Option<&str>,
        line_user_id: &str,
        message: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Drives a future whose every step is done when asked (a SQLite unit of work's) to its end.
/// A future that waits is a bug: it is reported, never blocked on.
pub(crate) fn finish<T>(
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let work = pin!(work);
    match work.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Bug(
            "a SQLite statement waited for something; nothing was written".into(),
        )),
    }
}
