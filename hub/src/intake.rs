//! Reading a push before storage sees it: the batch-level checks (count, `seq`, whose events)
//! that refuse the whole push, and the per-event verdict (malformed, hash mismatch) that only
//! rejects one event. Pure, shared by every storage backend.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tenpo_loyalty::{Date, LATE_RECORDING_DAYS, RefundOutcome, SaleOutcome};
use tenpo_protocol::events::{
    Event, EventBody, RefundEvent, SaleEvent, WishEvent, content_hash_of,
};
use tenpo_protocol::sync::MAX_PUSH_EVENTS;

use crate::store::Terminal;

/// Longest id (event, member, sale) the hub stores.
const MAX_EVENT_ID_LEN: usize = 64;

pub use crate::store::model::Incoming;

/// Why a whole push is refused (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
}

/// The shape of one item, its event left as the bytes that were sent.
#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow)]
    event: &'a RawValue,
    content_hash: String,
}

/// The few fields the batch checks read before anything is parsed for storage.
#[derive(Deserialize)]
struct Header {
    seq: Option<Value>,
    terminal_id: Option<Value>,
    store_id: Option<Value>,
}

/// Checks a push's items for `terminal` on the hub's business date `today`. Whole-batch
/// refusals: too many events, an item without a usable `event.seq`, or an event naming another
/// terminal or store.
pub fn prepare(
    terminal: &Terminal,
    items: Vec<Box<RawValue>>,
    today: Date,
) -> Result<Vec<Incoming>, BatchError> {
    if items.len() > MAX_PUSH_EVENTS {
        return Err(BatchError::Invalid(format!(
            "{} events in one push; at most {MAX_PUSH_EVENTS} are accepted: send smaller batches",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let header = serde_json::from_str::<RawItem<'_>>(item.get())
            .ok()
            .and_then(|it| serde_json::from_str::<Header>(it.event.get()).ok());
        let seq = header
            .as_ref()
            .and_then(|h| h.seq.as_ref())
            .and_then(Value::as_u64)
            // The hub stores seq as a signed 64-bit integer: larger is no terminal's.
            .filter(|s| (1..=i64::MAX as u64).contains(s))
            .ok_or_else(|| {
                BatchError::Invalid(format!(
                    "events[{i}].event.seq is missing or not a whole number from 1 to \
                     {}: nothing was stored",
                    i64::MAX
                ))
            })?;
        if let Some(h) = &header {
            for (field, named, own) in [
                ("terminal_id", &h.terminal_id, terminal.terminal_id.as_str()),
                ("store_id", &h.store_id, terminal.store_id.as_str()),
            ] {
                if let Some(named) = named.as_ref().and_then(Value::as_str)
                    && named != own
                {
                    return Err(BatchError::Forbidden(format!(
                        "events[{i}] (seq {seq}) names {field} {named:?}, but this terminal is \
                         {own:?}: a terminal pushes only its own events; nothing was stored"
                    )));
                }
            }
        }
        out.push(check_item(seq, &item, today));
    }
    Ok(out)
}

fn check_item(seq: u64, item: &RawValue, today: Date) -> Incoming {
    let refused = |reason: String| Incoming {
        seq,
        hash: content_hash_of(item.get().as_bytes()),
        payload: item.get().to_owned(),
        verdict: Err(reason),
    };
    let raw: RawItem<'_> = match serde_json::from_str(item.get()) {
        Ok(r) => r,
        Err(e) => return refused(format!("malformed event: {e}")),
    };
    // The bytes as received are the event: hashed and stored as they are, never re-encoded, so
    // a terminal of another version is judged on what it sent (docs/design.md §4).
    let bytes = raw.event.get();
    let computed = content_hash_of(bytes.as_bytes());
    if !computed.eq_ignore_ascii_case(raw.content_hash.trim()) {
        return refused(format!(
            "content hash mismatch: the event hashes to {computed}, the push said {}",
            raw.content_hash
        ));
    }
    let event: Event = match serde_json::from_str(bytes) {
        Ok(e) => e,
        Err(e) => return refused(format!("malformed event: {e}")),
    };
    if let Err(reason) = check_event(&event, today) {
        return refused(reason);
    }
    Incoming {
        seq,
        hash: computed,
        payload: bytes.to_owned(),
        verdict: Ok(event),
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

/// A business date a till could have recorded: at most [`LATE_RECORDING_DAYS`] before the
/// event was recorded, neither in the hub's future. (How long ago it was recorded does not
/// matter: a terminal can be offline for weeks.)
fn check_dates(business_date: Date, recorded_at: &str, today: Date) -> Result<(), String> {
    let recorded_on = chrono::DateTime::parse_from_rfc3339(recorded_at)
        .ok()
        .and_then(|t| {
            use chrono::Datelike;
            let d = t.date_naive();
            Date::from_ymd(d.year(), d.month(), d.day()).ok()
        })
        .ok_or_else(|| format!("malformed event: recorded_at {recorded_at:?} is not a time"))?;
    if business_date > today.add_days(1) || recorded_on > today.add_days(1) {
        return Err(format!(
            "business date {business_date} (recorded {recorded_on}) is in the hub's future \
             ({today}): check the terminal's clock"
        ));
    }
    if business_date < recorded_on.add_days(-LATE_RECORDING_DAYS - 1) {
        return Err(format!(
            "business date {business_date} is more than {LATE_RECORDING_DAYS} days before the \
             event was recorded ({recorded_on}); no till records that"
        ));
    }
    Ok(())
}

/// Numbers a till's outcome can hold: never negative, never beyond any real purchase.
fn check_sale_outcome(o: &SaleOutcome) -> Result<(), String> {
    let yen = [
        o.gross_yen,
        o.eligible_gross_yen,
        o.coupon_discount_yen,
        o.points_discount_yen,
        o.eligible_net_yen,
        o.qualifying_spend_yen,
    ];
    let points_negative = o.earned_points < 0
        || o.redeemed_points < 0
        || o.lots_consumed
            .iter()
            .chain(o.earned_lot.as_ref())
            .any(|l| l.points < 0);
    if yen
        .iter()
        .any(|y| !(0..=tenpo_loyalty::MAX_YEN).contains(y))
        || points_negative
    {
        return Err(
            "malformed event: the sale's outcome holds a negative or impossible amount".into(),
        );
    }
    Ok(())
}

fn check_refund_outcome(o: &RefundOutcome) -> Result<(), String> {
    let numbers = [
        o.reversed_points,
        o.shortfall_points,
        o.returned_points,
        o.qualifying_spend_reversed_yen,
    ];
    let lots_negative = o
        .points_reversed
        .iter()
        .chain(&o.points_returned)
        .any(|l| l.points < 0);
    if numbers.iter().any(|n| *n < 0) || lots_negative {
        return Err("malformed event: the refund's outcome holds a negative amount".into());
    }
    Ok(())
}

/// What the hub can check of an event without its database, on its business date `today`.
fn check_event(e: &Event, today: Date) -> Result<(), String> {
    check_len("event_id", &e.event_id)?;
    match &e.body {
        EventBody::MemberProvisional { member_id, code } => {
            check_len("member_id", member_id)?;
            check_len("code", code)
        }
        EventBody::Sale(SaleEvent {
            sale_id,
            member_id,
            outcome,
            business_date,
            ..
        }) => {
            check_len("sale_id", sale_id)?;
            check_dates(*business_date, &e.recorded_at, today)?;
            if let Some(o) = outcome {
                check_sale_outcome(o)?;
                if o.business_date != *business_date {
                    return Err(format!(
                        "malformed event: the outcome is of {}, the sale of {business_date}",
                        o.business_date
                    ));
                }
            }
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
        EventBody::Refund(RefundEvent {
            refund_id,
            member_id,
            outcome,
            business_date,
            ..
        }) => {
            check_len("refund_id", refund_id)?;
            check_dates(*business_date, &e.recorded_at, today)?;
            if let Some(o) = outcome {
                check_refund_outcome(o)?;
            }
            if let Some(m) = member_id {
                check_len("member_id", m)?;
            }
            if member_id.is_none() && outcome.is_some() {
                return Err("malformed event: a refund with an outcome names no member".into());
            }
            Ok(())
        }
        EventBody::Wish(w) => check_wish(w, &e.recorded_at, today),
    }
}

/// A wish names its member and an item, wants something, and was asked on a date a till
/// could have recorded.
fn check_wish(w: &WishEvent, recorded_at: &str, today: Date) -> Result<(), String> {
    check_len("member_id", &w.member_id)?;
    check_len("item", &w.item)?;
    if w.wants.is_empty() {
        return Err(
            "malformed event: a wish wants nothing (restock, price_drop or last_one)".into(),
        );
    }
    let asked = chrono::DateTime::parse_from_rfc3339(&w.occurred_at)
        .ok()
        .and_then(|t| {
            use chrono::Datelike;
            let d = t.date_naive();
            Date::from_ymd(d.year(), d.month(), d.day()).ok()
        })
        .ok_or_else(|| {
            format!(
                "malformed event: occurred_at {:?} is not a time",
                w.occurred_at
            )
        })?;
    check_dates(asked, recorded_at, today)
}
