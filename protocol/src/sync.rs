//! The sync API between store terminals and the hub (`/v1` on the hub).
//!
//! - `POST /v1/enroll`: a one-time code for a store → the terminal's id and secret.
//! - `POST /v1/events`: push outbox events; the answer is the highest contiguous `seq` the hub
//!   has durably stored for the terminal (the mark only moves up) and a result per event.
//! - `GET /v1/changes`: the change feed, read with an opaque cursor. An empty cursor starts a
//!   full snapshot; `410 cursor_reset` means "start again from an empty cursor".
//! - `GET /v1/members/by-code/{code}`: the online lookup of a code the terminal has not cached.
//! - `GET /v1/health`: no auth.
//!
//! Every call but enrolment and health carries `Authorization: Bearer {terminal_id}.{secret}`
//! (split at the last `.`). Every answer to a terminal carries `hub_time` so the terminal can
//! warn about a skewed clock. Errors are [`crate::ErrorBody`]. No personal data (birthday, name,
//! LINE user id) ever appears in these types (docs/design.md §7).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenpo_loyalty::{MemberState, RuleSet};
use utoipa::ToSchema;

mod change_de;

/// Most events accepted in one push.
pub const MAX_PUSH_EVENTS: usize = 1000;
/// Largest push body accepted, in bytes: batch by size as well as by count.
pub const MAX_PUSH_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most changes one feed read returns.
pub const MAX_CHANGES_LIMIT: u32 = 5000;
/// Changes returned when `limit` is absent.
pub const DEFAULT_CHANGES_LIMIT: u32 = 1000;
/// Length of a terminal secret in hex characters (32 random bytes).
pub const SECRET_HEX_LEN: usize = 64;

/// What a terminal says of itself on every call to the hub (the console's terminals page,
/// docs/design.md §13): its version, …
pub const AGENT_VERSION_HEADER: &str = "x-tenpo-agent-version";
/// … the newest seq in its outbox (beyond the hub's mark, events are waiting at the till) …
pub const OUTBOX_SEQ_HEADER: &str = "x-tenpo-outbox-seq";
/// … and its clock when it sent the call (RFC 3339), which the hub compares with its own.
pub const CLOCK_HEADER: &str = "x-tenpo-clock";

/// `GET /v1/health`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HubHealth {
    /// Always `ok` when the hub answers.
    pub status: String,
    /// The hub's clock (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// `POST /v1/enroll`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code an admin made for the store (`tenpo-hub enroll-code`). Case, spaces
    /// and dashes do not matter.
    pub code: String,
    /// A name for the terminal, for IT's lists (at most 64 characters).
    #[serde(default)]
    #[schema(max_length = 64)]
    pub terminal_name: Option<String>,
}

/// `201` for `POST /v1/enroll`. The secret is shown once: the hub keeps only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    pub store_id: String,
    /// Assigned by the hub, unique.
    pub terminal_id: String,
    /// 64 hex characters. Authenticate as `Authorization: Bearer {terminal_id}.{secret}`.
    pub secret: String,
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// One event of a push: the event's bytes exactly as the terminal stored them when it
/// recorded the event, and the SHA-256 of those bytes ([`crate::events::content_hash_of`]).
///
/// The bytes travel unchanged and the hub hashes what it received, so an agent and a hub whose
/// types differ (a fleet is never on one version) agree on what is a replay and what is other
/// content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PushItem {
    /// The outbox event exactly as the terminal recorded it ([`crate::events::Event`]).
    #[schema(value_type = Object)]
    pub event: Box<serde_json::value::RawValue>,
    /// Lowercase hex SHA-256 of the `event` bytes as sent.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub content_hash: String,
}

impl PushItem {
    /// An item for an event stored as `bytes` (its JSON, as recorded).
    pub fn from_stored(bytes: String) -> Result<PushItem, serde_json::Error> {
        let content_hash = crate::events::content_hash_of(bytes.as_bytes());
        Ok(PushItem {
            event: serde_json::value::RawValue::from_string(bytes)?,
            content_hash,
        })
    }
}

/// `POST /v1/events`: at most [`MAX_PUSH_EVENTS`] events, in `seq` order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PushRequest {
    #[schema(max_items = 1000)]
    pub events: Vec<PushItem>,
}

/// What the hub did with one pushed event. All four are final: the terminal marks the event
/// sent (and quarantines a `rejected` one for IT); none is worth sending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Stored now, for the first time.
    Stored,
    /// Stored before with the same content: acknowledged again.
    Duplicate,
    /// The hub holds other content for this `seq` or this `event_id`; the first stays, the
    /// conflict is recorded for the CRM and IT. `reason` says which.
    Conflict,
    /// The hub cannot accept it (malformed, hash mismatch, unknown member …); `reason` says why.
    /// The slot is recorded as rejected, so the mark moves past it.
    Rejected,
}

/// The result for one pushed event, in the order pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushResult {
    pub seq: u64,
    pub status: PushStatus,
    /// Why, for `conflict` and `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `200` for `POST /v1/events`. Everything in it was committed before the answer was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushResponse {
    /// The highest `seq` such that every event 1..=seq of this terminal is durably held by the
    /// hub (stored, duplicate, conflict or rejected). Never goes down.
    pub acked_through: u64,
    pub results: Vec<PushResult>,
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// Query of `GET /v1/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangesQuery {
    /// The `next_cursor` of the previous read; empty or absent to start from the beginning
    /// (a full snapshot).
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most [`MAX_CHANGES_LIMIT`]; [`DEFAULT_CHANGES_LIMIT`] when absent.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A member as the hub holds it: what a terminal caches. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberSnapshot {
    pub member_id: String,
    /// The member number (for an imported paper card, its card code).
    pub number: String,
    /// Every code that names this member (card codes), not revoked ones.
    pub codes: Vec<String>,
    /// Always `false` from the hub: a provisional member becomes a member once the hub has
    /// seen it.
    pub provisional: bool,
    /// The authoritative loyalty state (`tenpo_loyalty::MemberState`).
    #[schema(value_type = Object)]
    pub state: MemberState,
    /// For each terminal, the `seq` of its last event applied to this member. A terminal shows
    /// this snapshot plus its own local outcomes for this member with a greater `seq`.
    pub applied_through: BTreeMap<String, u64>,
    /// Provisional member ids (made at tills for this member's card) merged into this member.
    /// Events naming them apply here.
    pub merged_ids: Vec<String>,
}

/// One entry of the change feed. The same thing may appear more than once across reads (or
/// only its latest version): apply each as an upsert. Read by `change_de`, which takes the
/// `kind` first without copying the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A member, new or changed: replace the cached snapshot.
    Member { member: MemberSnapshot },
    /// The member no longer exists at the hub: drop it from the cache.
    MemberRemoved { member_id: String },
    /// The program's latest rule set (`tenpo_loyalty::RuleSet`).
    RuleSet {
        #[schema(value_type = Object)]
        rules: RuleSet,
    },
    /// A code that must no longer be accepted.
    CodeRevoked { code: String },
    /// A public key that signs LINE digital-card QR codes.
    SigningKey {
        key_id: u32,
        /// Base64 (standard, padded) of the 32-byte Ed25519 public key.
        public_key: String,
    },
    /// A signup or card link completed at the hub (docs/design.md §5): the terminal that showed
    /// the code learns of it here if it could not ask the hub at the time.
    SignupCompleted {
        #[schema(value_type = Object)]
        signup: crate::signup::SignupCompletion,
    },
}

/// `200` for `GET /v1/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangesResponse {
    pub changes: Vec<Change>,
    /// Opaque: store it with the applied changes (in one transaction) and send it next time.
    pub next_cursor: String,
    /// More changes are waiting: read again at once.
    pub more: bool,
    /// The asking terminal's acknowledgement mark at the hub (as a push would answer). Below
    /// the terminal's own mark, the hub has lost events it acknowledged (restored from a
    /// backup): the terminal sends them again. Absent from hubs that do not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_through: Option<u64>,
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// `200` for `GET /v1/members/by-code/{code}`: a [`MemberSnapshot`] with `hub_time` beside
/// its fields (so it also reads as a plain `MemberSnapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberLookup {
    #[serde(flatten)]
    pub member: MemberSnapshot,
    #[schema(value_type = String, format = DateTime)]
    pub hub_time: DateTime<Utc>,
}

/// The `Authorization` header value of a terminal.
pub fn bearer(terminal_id: &str, secret: &str) -> String {
    format!("Bearer {terminal_id}.{secret}")
}

/// Splits a terminal credential `{terminal_id}.{secret}` at its last `.`.
pub fn split_credential(credential: &str) -> Option<(&str, &str)> {
    let (id, secret) = credential.rsplit_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn credential_splits_at_the_last_dot() {
        assert_eq!(split_credential("t.1.abc"), Some(("t.1", "abc")));
        assert_eq!(split_credential("t1abc"), None);
        assert_eq!(split_credential(".abc"), None);
        assert_eq!(split_credential("t1."), None);
        assert_eq!(bearer("t1", "ab"), "Bearer t1.ab");
    }

    #[test]
    fn changes_are_tagged_by_kind() {
        let c = Change::CodeRevoked {
            code: "2000000000015".into(),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "code_revoked");
        let k = Change::SigningKey {
            key_id: 1,
            public_key: "AA==".into(),
        };
        assert_eq!(serde_json::to_value(&k).unwrap()["kind"], "signing_key");
        let back: Change = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }

    /// A member as the hub sends one, for the tests here and in `change_de`.
    pub(super) fn sample_member() -> MemberSnapshot {
        MemberSnapshot {
            member_id: "m1".into(),
            number: "2000000000015".into(),
            codes: vec!["2000000000015".into()],
            provisional: false,
            state: MemberState::default(),
            applied_through: BTreeMap::from([("t1".to_owned(), 3)]),
            merged_ids: vec![],
        }
    }

    #[test]
    fn lookup_reads_as_a_plain_snapshot() {
        let member = sample_member();
        let lookup = MemberLookup {
            member: member.clone(),
            hub_time: Utc::now(),
        };
        let json = serde_json::to_string(&lookup).unwrap();
        let plain: MemberSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(plain, member);
        let back: MemberLookup = serde_json::from_str(&json).unwrap();
        assert_eq!(back.member, member);
    }

    #[test]
    fn rejected_results_carry_a_reason_and_stored_ones_do_not() {
        let ok = PushResult {
            seq: 1,
            status: PushStatus::Stored,
            reason: None,
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"seq":1,"status":"stored"}"#
        );
    }
}
