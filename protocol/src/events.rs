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
    /// The kind as stored beside the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::MemberProvisional { .. } => "member_provisional",
            EventBody::Sale { .. } => "sale",
            EventBody::Refund { .. } => "refund",
        }
    }
}
