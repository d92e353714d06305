//! A person's decision on an outcome held for review (docs/design.md §7: one terminal cannot
//! mint value), for both backends: released (the till's outcome applied to the member now, and
//! sent to the terminals through the feed) or dismissed, once.

use chrono::{DateTime, Utc};
use tenpo_protocol::events::{Event, EventBody, SaleEvent};

use super::admin::AdminStatements;
use super::intake::RulesLookup;
use super::members::Touched;
use crate::admin::{HeldAction, HeldView};
use crate::apply;
use crate::store::{StoreError, from_json};

/// Releases or dismisses the outcome held for the terminal's event `seq`.
pub(crate) async fn resolve_held(
    db: &mut impl AdminStatements,
    rules: RulesLookup<'_>,
    terminal_id: &str,
    seq: u64,
    action: HeldAction,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<HeldView, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "reason is required: at most 500 characters, without control characters".into(),
        ));
    }
    if i64::try_from(seq).is_err() {
        return Err(StoreError::NotFound(format!(
            "terminal {terminal_id} has no seq {seq}"
        )));
    }
    let held = db.held_event(terminal_id, seq).await?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "nothing of terminal {terminal_id} at seq {seq} is held for review"
        ))
    })?;
    if let Some(done) = &held.resolution {
        return Err(StoreError::Decided(format!(
            "event {seq} of terminal {terminal_id} was already {done}"
        )));
    }
    if action == HeldAction::Release {
        let slot = db
            .slot(terminal_id, seq)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "held event",
                detail: format!("seq {seq} of terminal {terminal_id} is held but not stored"),
            })?;
        let event: Event = from_json("held event", &slot.payload)?;
        let EventBody::Sale(SaleEvent {
            outcome: Some(outcome),
            ..
        }) = &event.body
        else {
            return Err(StoreError::Corrupt {
                what: "held event",
                detail: format!("seq {seq} of terminal {terminal_id} is not a member sale"),
            });
        };
        let member_id = db.resolve(&held.member_id).await?.ok_or_else(|| {
            StoreError::NotFound(format!("member {} is no longer at the hub", held.member_id))
        })?;
        let mut touched = Touched::default();
        let member = touched.get(db, &member_id).await?.ok_or_else(|| {
            StoreError::NotFound(format!("member {member_id} is no longer at the hub"))
        })?;
        let version_rules = rules(outcome.rules_version);
        apply::apply_sale(member, outcome, version_rules.as_deref(), terminal_id, seq);
        touched.flush(db, now).await?;
    }
    let resolution = match action {
        HeldAction::Release => "released",
        HeldAction::Dismiss => "dismissed",
    };
    db.decide_held(terminal_id, seq, resolution, reason, now)
        .await?;
    tracing::warn!(terminal_id, seq, resolution, reason, "held outcome decided");
    db.held_event(terminal_id, seq)
        .await?
        .ok_or_else(|| StoreError::NotFound("the held outcome vanished".into()))
}
