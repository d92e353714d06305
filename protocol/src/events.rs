//! The events a terminal records in its outbox and pushes to the hub.
//!
//! Each terminal numbers its events with a gap-free `seq` (1, 2, 3 …) and gives each a UUIDv7
//! `event_id`; the hub stores each once, keyed by both. An event carries the outcome the till
//! computed (with the rule-set version), so the hub can re-evaluate it and report a difference
//! without overruling what the customer was told.

use serde::{Deserialize, Serialize};
use tenpo_loyalty::{Date, Line, Points, RefundOutcome, SaleOutcome};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub seq: u64,
    pub store_id: String,
    pub terminal_id: String,
    /// When the terminal recorded it (RFC 3339, UTC).
    pub recorded_at: String,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A new valid card seen at this till before the hub knew it.
    MemberProvisional { member_id: String, code: String },
    Sale {
        sale_id: String,
        member_id: Option<String>,
        occurred_at: String,
        business_date: Date,
        lines: Vec<Line>,
        redeem_points: Points,
        coupon_ids: Vec<String>,
        /// `None` for a sale without a member.
        outcome: Option<SaleOutcome>,
    },
    Refund {
        refund_id: String,
        sale_id: String,
        member_id: Option<String>,
        occurred_at: String,
        business_date: Date,
        lines: Vec<Line>,
        outcome: Option<RefundOutcome>,
    },
}

impl EventBody {
    /// The member the event is about, if any.
    pub fn member_id(&self) -> Option<&str> {
        match self {
            EventBody::MemberProvisional { member_id, .. } => Some(member_id),
            EventBody::Sale { member_id, .. } | EventBody::Refund { member_id, .. } => {
                member_id.as_deref()
            }
        }
    }

    /// The kind as stored beside the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::MemberProvisional { .. } => "member_provisional",
            EventBody::Sale { .. } => "sale",
            EventBody::Refund { .. } => "refund",
        }
    }
}

/// The event's bytes as the outbox stores them (compact JSON). Encoded once, when the event
/// is recorded: from then on the bytes, not the types, are the event (docs/design.md §4).
pub fn encode(event: &Event) -> Result<String, serde_json::Error> {
    serde_json::to_string(event)
}

/// The lowercase hex SHA-256 of an event's stored bytes: what a push carries beside each event,
/// so the hub can tell a replay of the same content from other content under the same `seq` or
/// `event_id`.
pub fn content_hash_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// [`content_hash_of`] the event as [`encode`] writes it.
pub fn content_hash(event: &Event) -> String {
    // Serialising this plain data cannot fail (no maps with non-string keys, no floats).
    content_hash_of(&serde_json::to_vec(event).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn provisional(seq: u64) -> Event {
        Event {
            event_id: "0190a5e4-0000-7000-8000-000000000001".into(),
            seq,
            store_id: "s1".into(),
            terminal_id: "t1".into(),
            recorded_at: "2026-11-22T10:00:00+00:00".into(),
            body: EventBody::MemberProvisional {
                member_id: "m1".into(),
                code: "2000000000015".into(),
            },
        }
    }

    #[test]
    fn content_hash_is_hex_sha256_of_the_json() {
        let e = provisional(1);
        let h = content_hash(&e);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(h, content_hash(&e.clone()));
        assert_ne!(h, content_hash(&provisional(2)));
        // The hash is of the bytes: the same event encoded is the same hash.
        assert_eq!(content_hash_of(encode(&e).unwrap().as_bytes()), h);
        // The bytes travel as they are in a push, whatever their key order or spacing.
        let stored = r#"{ "seq": 1, "event_id": "x" }"#.to_owned();
        let item = crate::sync::PushItem::from_stored(stored.clone()).unwrap();
        let wire = serde_json::to_string(&crate::sync::PushRequest { events: vec![item] }).unwrap();
        assert!(wire.contains(&stored), "{wire}");
        assert!(wire.contains(&content_hash_of(stored.as_bytes())), "{wire}");
    }
}
