//! Claiming the outbox's rows (docs/design.md §10), for both backends: transactional first,
//! then marketing for members who are awake and under their weekly cap.

use chrono::{DateTime, Utc};

use super::line::LineStatements;
use crate::store::StoreError;
use crate::store::outbox::{Claim, HomeStores, MessageClass, OutboxMessage};

/// How long after a message's first try it may still be tried again with its retry key: LINE
/// keeps a key for 24 hours; an hour is kept in hand.
const RETRY_KEY_WINDOW_MS: i64 = 23 * 3_600_000;

/// Claims up to `claim.limit` due rows for users who follow the account, transactional first,
/// oldest first; each is leased until `now + claim.lease` and its attempt counted. A row whose
/// lease ran out (its sender died) is due again, with the same retry key.
pub(crate) async fn claim(
    db: &mut impl LineStatements,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let now_ms = now.timestamp_millis();
    db.lapse(now_ms, now_ms.saturating_sub(RETRY_KEY_WINDOW_MS))
        .await?;
    let mut claimed = db
        .due(MessageClass::Transactional, now_ms, claim.limit)
        .await?;
    let room = claim
        .limit
        .saturating_sub(u32::try_from(claimed.len()).unwrap_or(u32::MAX));
    if !claim.transactional_only && room > 0 {
        let requested = awake(db, claim, MessageClass::Requested, now, room).await?;
        let room = room.saturating_sub(u32::try_from(requested.len()).unwrap_or(u32::MAX));
        claimed.extend(requested);
        if room > 0 {
            claimed.extend(awake(db, claim, MessageClass::Marketing, now, room).await?);
        }
    }
    for m in claimed
        .iter_mut()
        .filter(|m| m.class == MessageClass::Transactional)
    {
        m.message_id = lease(db, m.id, claim, now_ms).await?;
    }
    Ok(claimed)
}

/// Up to `room` due rows of `class` (marketing or requested) whose members are awake, and for
/// marketing under the cap: at most `claim.marketing_per_week` marketing messages sent (or
/// being sent) to a member in any 7 days (a requested row's cap was counted when it was
/// written). A row over the cap waits an hour before it is looked at again; one whose member
/// is in their store's quiet hours, until the first time zone in quiet hours wakes
/// (`claim.quiet_until`): each such row is written once per night, whatever the backlog.
async fn awake(
    db: &mut impl LineStatements,
    claim: &Claim,
    class: MessageClass,
    now: DateTime<Utc>,
    room: u32,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let now_ms = now.timestamp_millis();
    let since = now - chrono::Duration::days(7);
    let mut taken = Vec::new();
    let candidates = db.due(class, now_ms, room.saturating_mul(4)).await?;
    for m in candidates {
        if taken.len() as u32 >= room {
            break;
        }
        if claim.marketing_to != HomeStores::All {
            let home = db.home_store_of_message(m.id).await?;
            if !claim.marketing_to.covers(home.as_deref()) {
                let until = claim.quiet_until.timestamp_millis().max(now_ms);
                db.set_not_before(m.id, until).await?;
                continue;
            }
        }
        if class == MessageClass::Marketing
            && db.recent_marketing(m.id, since).await? >= u64::from(claim.marketing_per_week)
        {
            db.set_not_before(m.id, now_ms.saturating_add(3_600_000))
                .await?;
            continue;
        }
        // Leased now, so the next candidate of the same member counts it.
        let message_id = lease(db, m.id, claim, now_ms).await?;
        taken.push(OutboxMessage { message_id, ..m });
    }
    Ok(taken)
}

async fn lease(
    db: &mut impl LineStatements,
    id: i64,
    claim: &Claim,
    now_ms: i64,
) -> Result<String, StoreError> {
    let until = now_ms.saturating_add(claim.lease.num_milliseconds());
    let key = uuid::Uuid::now_v7().to_string();
    db.lease(id, until, now_ms, &key).await
}
