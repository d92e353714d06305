//! Reading a push before storage sees it: the batch-level checks (count, `seq`, whose events)
//! that refuse the whole push, and the per-event verdict (malformed, hash mismatch) that only
//! rejects one event. Pure, shared by every storage backend.

use serde_json::Value;
use tenpo_protocol::events::{Event, EventBody, content_hash};
use tenpo_protocol::sync::{MAX_PUSH_EVENTS, PushItem};

use crate::secrets::{hex, sha256};
use crate::store::Terminal;

/// Longest id (event, member, sale) the hub stores.
const MAX_EVENT_ID_LEN: usize = 64;

/// One pushed event, checked.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub seq: u64,
    /// What identifies this content: the event's content hash when it is well-formed, else the
    /// SHA-256 of the whole item. A replay with the same value is the same push.
    pub hash: String,
    /// Stored as is: the event's JSON when well-formed, else the item's JSON.
    pub payload: String,
    pub verdict: Result<Event, String>,
}

/// Why a whole push is refused (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Checks a push's items for `terminal`. Whole-batch refusals: too many events, an item
/// without a usable `event.seq`, or an event naming another terminal or store.
pub fn prepare(terminal: &Terminal, items: Vec<Value>) -> Result<Vec<Incoming>, BatchError> {
    if items.len() > MAX_PUSH_EVENTS {
        return Err(BatchError::Invalid(format!(
            "{} events in one push; at most {MAX_PUSH_EVENTS} are accepted: send smaller batches",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let event = &item["event"];
        let seq = event["seq"].as_u64().filter(|s| *s >= 1).ok_or_else(|| {
            BatchError::Invalid(format!(
                "events[{i}].event.seq is missing or not a whole number from 1: nothing was stored"
            ))
        })?;
        for (field, own) in [
            ("terminal_id", terminal.terminal_id.as_str()),
            ("store_id", terminal.store_id.as_str()),
        ] {
            if let Some(named) = event[field].as_str()
                && named != own
            {
                return Err(BatchError::Forbidden(format!(
                    "events[{i}] (seq {seq}) names {field} {named:?}, but this terminal is \
                     {own:?}: a terminal pushes only its own events; nothing was stored"
                )));
            }
        }
        out.push(check_item(seq, item));
    }
    Ok(out)
}

fn check_item(seq: u64, item: Value) -> Incoming {
    let item_hash = || hex(&sha256(item.to_string().as_bytes()));
    let parsed: PushItem = match serde_json::from_value(item.clone()) {
        Ok(p) => p,
        Err(e) => {
            return Incoming {
                seq,
                hash: item_hash(),
                payload: item.to_string(),
                verdict: Err(format!("malformed event: {e}")),
            };
        }
    };
    let computed = content_hash(&parsed.event);
    let verdict = if !computed.eq_ignore_ascii_case(parsed.content_hash.trim()) {
        Err(format!(
            "content hash mismatch: the event hashes to {computed}, the push said {}",
            parsed.content_hash
        ))
    } else {
        check_event(&parsed.event).map(|()| parsed.event.clone())
    };
    match verdict {
        Ok(event) => Incoming {
            seq,
            hash: computed,
            payload: serde_json::to_string(&event).unwrap_or_else(|_| item.to_string()),
            verdict: Ok(event),
        },
        Err(reason) => Incoming {
            seq,
            hash: item_hash(),
            payload: item.to_string(),
            verdict: Err(reason),
        },
    }
}

fn check_len(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.len() > MAX_EVENT_ID_LEN
        || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "malformed event: {field} must be 1 to {MAX_EVENT_ID_LEN} printable characters"
        ));
    }
    Ok(())
}

/// What the hub can check of an event without its database.
fn check_event(e: &Event) -> Result<(), String> {
    check_len("event_id", &e.event_id)?;
    match &e.body {
        EventBody::MemberProvisional { member_id, code } => {
            check_len("member_id", member_id)?;
            check_len("code", code)
        }
        EventBody::Sale {
            sale_id,
            member_id,
            outcome,
            ..
        } => {
            check_len("sale_id", sale_id)?;
            if let Some(m) = member_id {
                check_len("member_id", m)?;
            }
            match (member_id, outcome) {
                (None, Some(_)) => {
                    Err("malformed event: a sale with an outcome names no member".into())
                }
                (_, Some(o)) if o.sale_id != *sale_id => Err(format!(
                    "malformed event: the outcome is of sale {:?}, not {sale_id:?}",
                    o.sale_id
                )),
                _ => Ok(()),
            }
        }
        EventBody::Refund {
            refund_id,
            member_id,
            outcome,
            ..
        } => {
            check_len("refund_id", refund_id)?;
            if let Some(m) = member_id {
                check_len("member_id", m)?;
            }
            if member_id.is_none() && outcome.is_some() {
                return Err("malformed event: a refund with an outcome names no member".into());
            }
            Ok(())
        }
    }
}
