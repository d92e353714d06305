//! The audit path's one judgement, for both backends: whether an event slot's outcome is in
//! its member's state at the hub.

use crate::admin::EventAudit;
use crate::store::json_or_text;

/// An event slot as a backend read it for the audit path.
#[derive(Debug, Clone)]
pub(crate) struct SlotRow {
    pub seq: u64,
    pub event_id: Option<String>,
    pub kind: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub hash: String,
    pub received_at: String,
    pub payload: String,
    /// Whether the slot's outcome was held for review, and what a person decided.
    pub held: bool,
    pub resolution: Option<String>,
    /// The classes of the discrepancies found on its re-evaluation.
    pub discrepancies: Vec<String>,
}

impl SlotRow {
    /// The slot as the audit path shows it, its terminal's mark being `acked_through`.
    pub(crate) fn audit(self, acked_through: u64) -> EventAudit {
        // Applied: stored, reached by the terminal's mark (so applied in order), and not held
        // back (or released since).
        let applied = self.status == "stored"
            && self.seq <= acked_through
            && (!self.held || self.resolution.as_deref() == Some("released"));
        EventAudit {
            seq: self.seq,
            event_id: self.event_id,
            kind: self.kind,
            status: self.status,
            reason: self.reason,
            content_hash: self.hash,
            received_at: self.received_at,
            applied,
            held: self
                .held
                .then(|| self.resolution.unwrap_or_else(|| "waiting".into())),
            discrepancies: self.discrepancies,
            event: json_or_text(self.payload),
        }
    }
}
