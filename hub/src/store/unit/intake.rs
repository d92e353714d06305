//! A push: store each event slot once, report replays and conflicts, move the terminal's mark
//! over what became contiguous and apply those events in `seq` order, all in the caller's one
//! transaction (docs/design.md §3, §7).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::events::{Event, EventBody, RefundEvent, SaleEvent};
use tenpo_protocol::sync::{PushResult, PushStatus};

use super::members::Touched;
use super::wishes::{self, WishStatements};
use super::{NewConflict, NewDiscrepancy, NewHeld, SlotStatus, Statements, plan};
use crate::apply;
use crate::review::{self, ReviewLimits};
use crate::store::outbox::Planner;
use crate::store::{Incoming, PushOutcome, StoreError, Terminal, from_json, to_json};

/// Finds a loaded rule-set version.
pub(crate) type RulesLookup<'a> = &'a (dyn Fn(u32) -> Option<Arc<RuleSet>> + Sync);

/// What applying a push needs besides its events.
#[derive(Clone, Copy)]
pub(crate) struct Applying<'a> {
    pub rules: RulesLookup<'a>,
    pub limits: ReviewLimits,
    /// The scenarios: the messages a sale brings (none without LINE messaging).
    pub planner: Option<&'a dyn Planner>,
    /// How wishes notify, and how long a purchase counts for a notification.
    pub wishes: &'a crate::wishes::WishSettings,
    pub now: DateTime<Utc>,
}

fn result(seq: u64, status: PushStatus, reason: Option<String>) -> PushResult {
    PushResult {
        seq,
        status,
        reason,
    }
}

/// Why the hub cannot take a well-formed event, given what it holds.
async fn refusal(db: &mut impl Statements, event: &Event) -> Result<Option<String>, StoreError> {
    let member = match &event.body {
        EventBody::MemberProvisional { code, .. } => {
            return Ok(db
                .is_revoked(code)
                .await?
                .then(|| format!("the card code {code} is revoked at the hub")));
        }
        EventBody::Sale(SaleEvent { member_id, .. })
        | EventBody::Refund(RefundEvent { member_id, .. }) => member_id.as_deref(),
        EventBody::Wish(w) => Some(w.member_id.as_str()),
    };
    match member {
        Some(id) if db.resolve(id).await?.is_none() => Ok(Some(format!(
            "member {id} is unknown to the hub, and no provisional-member event made it"
        ))),
        _ => Ok(None),
    }
}

/// Stores one event slot; returns its result.
async fn take(
    db: &mut impl Statements,
    touched: &mut Touched,
    terminal_id: &str,
    inc: &Incoming,
    now: DateTime<Utc>,
) -> Result<PushResult, StoreError> {
    let seq = inc.seq;
    if let Some(held) = db.slot(terminal_id, seq).await? {
        if held.hash == inc.hash {
            return Ok(match held.status {
                SlotStatus::Stored => result(seq, PushStatus::Duplicate, None),
                SlotStatus::Conflict => result(seq, PushStatus::Conflict, held.reason),
                SlotStatus::Rejected => result(seq, PushStatus::Rejected, held.reason),
            });
        }
        let conflict = NewConflict {
            terminal_id,
            seq,
            kind: "seq",
            event_id: held.event_id.as_deref(),
            first_payload: &held.payload,
            second: inc,
        };
        if db.record_conflict(conflict, now).await? {
            tracing::warn!(terminal_id, seq, kind = "seq", event_id = ?held.event_id, "conflicting event replay recorded");
        }
        return Ok(result(
            seq,
            PushStatus::Conflict,
            Some(format!(
                "seq {seq} already holds other content (event {}); the first stays",
                held.event_id.as_deref().unwrap_or("malformed")
            )),
        ));
    }
    let event = match &inc.verdict {
        Ok(event) => event,
        Err(reason) => {
            let status = SlotStatus::Rejected;
            db.insert_slot(terminal_id, inc, None, status, Some(reason), now)
                .await?;
            return Ok(result(seq, PushStatus::Rejected, Some(reason.clone())));
        }
    };
    if let Some((other_terminal, other_seq, first)) = db.slot_of_event(&event.event_id).await? {
        let reason = format!(
            "event id {} is already held as seq {other_seq} of terminal {other_terminal}; the first stays",
            event.event_id
        );
        let conflict = NewConflict {
            terminal_id,
            seq,
            kind: "event_id",
            event_id: Some(&event.event_id),
            first_payload: &first,
            second: inc,
        };
        if db.record_conflict(conflict, now).await? {
            tracing::warn!(terminal_id, seq, kind = "event_id", event_id = %event.event_id, "conflicting event replay recorded");
        }
        let status = SlotStatus::Conflict;
        db.insert_slot(terminal_id, inc, Some(event), status, Some(&reason), now)
            .await?;
        return Ok(result(seq, PushStatus::Conflict, Some(reason)));
    }
    if let Some(reason) = refusal(db, event).await? {
        let status = SlotStatus::Rejected;
        db.insert_slot(terminal_id, inc, Some(event), status, Some(&reason), now)
            .await?;
        tracing::warn!(terminal_id, seq, %reason, "event rejected");
        return Ok(result(seq, PushStatus::Rejected, Some(reason)));
    }
    db.insert_slot(terminal_id, inc, Some(event), SlotStatus::Stored, None, now)
        .await?;
    // A new card is known at once, so other terminals' events for it are never held up by a
    // gap in this terminal's sequence.
    if let EventBody::MemberProvisional { member_id, code } = &event.body {
        touched
            .register_provisional(db, member_id, code, now)
            .await?;
    }
    Ok(result(seq, PushStatus::Stored, None))
}

/// Stores a push and applies what became contiguous.
pub(crate) async fn push(
    db: &mut impl WishStatements,
    ctx: Applying<'_>,
    terminal: &Terminal,
    incoming: &[Incoming],
) -> Result<PushOutcome, StoreError> {
    let tid = terminal.terminal_id.as_str();
    db.begin_push(tid).await?;
    db.prepare_push(tid, incoming).await?;
    let mut touched = Touched::default();
    let mut results = Vec::with_capacity(incoming.len());
    for inc in incoming {
        results.push(take(db, &mut touched, tid, inc, ctx.now).await?);
    }
    // Only what this push stored is applied from memory: other content it brought for a slot
    // (a conflict, in this push or after a gap) never is; a slot stored before is read back.
    let mut parsed: HashMap<u64, &Event> = incoming
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.status == PushStatus::Stored)
        .filter_map(|(inc, _)| inc.verdict.as_ref().ok().map(|e| (inc.seq, e)))
        .collect();

    let start = db.acked_through(tid).await?;
    let mut mark = start;
    for slot in db.following(tid, start).await? {
        mark = slot.seq;
        if slot.status != SlotStatus::Stored {
            continue;
        }
        let read;
        let event = match parsed.remove(&slot.seq) {
            Some(e) => e,
            None => {
                read = from_json::<Event>("stored event", &slot.payload)?;
                &read
            }
        };
        apply_event(db, &ctx, &mut touched, tid, event).await?;
    }
    if mark > start {
        db.set_acked_through(tid, mark).await?;
    }
    touched.flush(db, ctx.now).await?;
    Ok(PushOutcome {
        acked_through: mark,
        results,
    })
}

/// Applies one stored event, in its terminal's `seq` order.
async fn apply_event(
    db: &mut impl WishStatements,
    ctx: &Applying<'_>,
    touched: &mut Touched,
    terminal_id: &str,
    event: &Event,
) -> Result<(), StoreError> {
    let named = match &event.body {
        EventBody::MemberProvisional { member_id, .. } => member_id,
        EventBody::Sale(SaleEvent {
            member_id: Some(m), ..
        })
        | EventBody::Refund(RefundEvent {
            member_id: Some(m), ..
        }) => m,
        EventBody::Wish(w) => &w.member_id,
        _ => return Ok(()),
    };
    let Some(real) = db.resolve(named).await? else {
        tracing::error!(terminal_id, seq = event.seq, member = %named, "event names a member the hub no longer knows; not applied");
        return Ok(());
    };
    if let EventBody::Wish(w) = &event.body {
        // A wish changes nothing a till holds: the member's snapshot is not touched.
        let store = Some(event.store_id.as_str());
        wishes::take(db, &real, &w.item, &w.wants, store, "store", ctx.now).await?;
        return Ok(());
    }
    if touched
        .get_from(db, &real, &event.store_id)
        .await?
        .is_none()
    {
        return Ok(());
    }
    let notified_until = touched.notified_until(&real);
    let Some(member) = touched.get_from(db, &real, &event.store_id).await? else {
        return Ok(());
    };
    match &event.body {
        EventBody::Sale(
            recorded @ SaleEvent {
                sale_id,
                outcome: Some(outcome),
                ..
            },
        ) => {
            if let Some(until) = notified_until {
                wishes::attribute_sale(db, ctx.wishes, until, terminal_id, &real, recorded).await?;
            }
            let version_rules = (ctx.rules)(outcome.rules_version);
            let verdict = review::review(
                version_rules.as_deref(),
                &member.state,
                &recorded.sale(&event.store_id),
                outcome,
                ctx.limits,
            );
            let differs = match &verdict.discrepancy {
                Some((class, d)) => {
                    let level = if class.expected() {
                        "expected"
                    } else {
                        "suspicious"
                    };
                    tracing::warn!(terminal_id, seq = event.seq, sale_id = %sale_id, member = %real, class = class.as_str(), level, detail = %d.detail, "sale differs on re-evaluation at the hub");
                    Some((
                        to_json(&d.till)?,
                        to_json(&d.hub)?,
                        d.detail.as_str(),
                        *class,
                    ))
                }
                None => None,
            };
            if let Some((till_json, hub_json, detail, class)) = &differs {
                let d = NewDiscrepancy {
                    terminal_id,
                    event,
                    sale_id,
                    member_id: &real,
                    rules_version: outcome.rules_version,
                    till_json,
                    hub_json,
                    detail,
                    class: class.as_str(),
                };
                db.insert_discrepancy(d, ctx.now).await?;
            }
            match (verdict.hold, &differs) {
                (Some(reason), Some((till_json, hub_json, _, _))) => {
                    tracing::error!(terminal_id, seq = event.seq, sale_id = %sale_id, member = %real, %reason, "sale held for review: its outcome is not applied");
                    let held = NewHeld {
                        terminal_id,
                        event,
                        sale_id,
                        member_id: &real,
                        reason: &reason,
                        till_json,
                        hub_json,
                    };
                    db.hold(held, ctx.now).await?;
                    // Seen, not applied: the till stops adding its own outcome to the member.
                    apply::mark_applied(member, terminal_id, event.seq);
                }
                _ => {
                    let rules = version_rules.as_deref();
                    apply::apply_sale(member, outcome, rules, terminal_id, event.seq);
                    if let Some(planner) = ctx.planner {
                        plan::write(db, member, ctx.now, |m| {
                            planner.after_sale(m, outcome, rules)
                        })
                        .await?;
                    }
                }
            }
        }
        EventBody::Refund(
            refund @ RefundEvent {
                outcome: Some(outcome),
                ..
            },
        ) => {
            wishes::attribute_refund(db, terminal_id, refund).await?;
            member.state.take_refund(outcome, None);
            apply::mark_applied(member, terminal_id, event.seq);
        }
        _ => apply::mark_applied(member, terminal_id, event.seq),
    }
    Ok(())
}
