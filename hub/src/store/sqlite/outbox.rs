//! The message outbox in the SQLite store (docs/design.md §10): rows written by their causes'
//! transactions, claimed by the sender with a lease, finished with LINE's answer.
//!
//! Only LINE users who follow the account are sent to: a row for a user the hub has not seen
//! follow waits (a welcome written at signup goes once the follow arrives), and a row for a user
//! who blocked the account is set `unreachable` when the unfollow arrives or the row is written.
//! Email, for members who chose it or blocked the account, is the seam [`blocked`] (the email
//! channel itself comes with wishes and notifications).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::outbox::{
    Claim, Finished, Greeting, HomeStores, MessageAction, MessageClass, MessageOutcome,
    MessageView, NewMessage, OutboxCounts, OutboxMessage,
};

/// How long after a message's first try it may still be tried again with its retry key: LINE
/// keeps a key for 24 hours; an hour is kept in hand.
const RETRY_KEY_WINDOW_MS: i64 = 23 * 3_600_000;

pub(crate) use crate::store::outbox::BLOCKED;

/// Writes `message` for `line_user_id` unless a message with `dedupe_key` was ever written
/// (for `member_id`: each key names its member, see schema migration 11). Answers whether it
/// was written.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    dedupe_key: &str,
    member_id: Option<&str>,
    line_user_id: &str,
    message: &NewMessage,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let following: Option<bool> = tx
        .prepare_cached("SELECT following FROM line_friends WHERE line_user_id = ?1")?
        .query_row([line_user_id], |r| r.get(0))
        .optional()?;
    insert(
        tx,
        dedupe_key,
        member_id,
        line_user_id,
        following,
        message,
        now,
    )
}

/// [`enqueue`] for a caller who has read the user's friendship already. A row for a user who
/// blocked the account is written `unreachable` with the reason, as [`blocked`] sets the rows
/// already waiting when the unfollow arrives; one for a user the hub has not seen follow waits
/// as `pending`. (The daily scan writes its rows by the same rule in one statement of its own,
/// `scan::queue`, which reads the friendship from the member's link.)
pub(crate) fn insert(
    tx: &Transaction<'_>,
    dedupe_key: &str,
    member_id: Option<&str>,
    line_user_id: &str,
    following: Option<bool>,
    message: &NewMessage,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (action, body) = message.action.to_parts();
    let (state, error) = crate::store::outbox::first_state(following);
    let now_ms = now.timestamp_millis();
    let expires = message
        .expires_after
        .map(|d| now_ms.saturating_add(d.num_milliseconds()));
    let written = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages
                 (dedupe_key, member_id, line_user_id, scenario, class, channel,
                  action, body, state, last_error, not_before_ms, expires_at_ms, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'line', ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            dedupe_key,
            member_id,
            line_user_id,
            message.scenario,
            message.class.as_str(),
            action,
            body,
            state,
            error,
            now_ms,
            expires,
            now.to_rfc3339(),
        ])?;
    Ok(written == 1)
}

/// Greets a member who has just become reachable in LINE: the rich menu (once per member and
/// menu: LINE keeps a user's menu across a block and unblock) and the welcome (once per member,
/// ever).
pub(crate) fn greet(
    tx: &Transaction<'_>,
    greeting: &Greeting,
    member_id: &str,
    line_user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(menu) = &greeting.rich_menu {
        // Once per link (a member who unlinks and links again gets it again) and menu.
        let linked_at: String = tx
            .prepare_cached("SELECT linked_at FROM line_users WHERE line_user_id = ?1")?
            .query_row([line_user_id], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        let key = match &menu.action {
            MessageAction::LinkRichMenu { rich_menu_id } => {
                format!("rich_menu:{member_id}:{linked_at}:{rich_menu_id}")
            }
            MessageAction::Push { .. }
            | MessageAction::Compose { .. }
            | MessageAction::UnlinkRichMenu => {
                format!("rich_menu:{member_id}:{linked_at}")
            }
        };
        if !enqueue(tx, &key, Some(member_id), line_user_id, menu, now)? {
            // Written before but never linked (it lapsed waiting for the follow, or the user
            // had blocked the account): linking a menu twice is harmless, so it goes again.
            let now_ms = now.timestamp_millis();
            let expires = menu
                .expires_after
                .map(|d| now_ms.saturating_add(d.num_milliseconds()));
            tx.prepare_cached(
                "UPDATE messages SET state = 'pending', not_before_ms = ?2, expires_at_ms = ?3,
                     attempts = 0, first_attempt_ms = NULL, last_error = NULL
                 WHERE member_id = ?4 AND dedupe_key = ?1
                   AND state IN ('expired', 'unreachable')",
            )?
            .execute(params![key, now_ms, expires, member_id])?;
        }
    }
    if let Some(welcome) = &greeting.welcome {
        let key = format!("welcome:{member_id}");
        enqueue(tx, &key, Some(member_id), line_user_id, welcome, now)?;
    }
    Ok(())
}

/// A LINE user blocked the account: no LINE message reaches them. This is where email takes
/// over for members who chose or allow it (the wishes and notifications issue); until then
/// their waiting rows are set `unreachable`, with the reason. Called when the unfollow arrives
/// (a row written after is written so, see [`insert`]), so claiming never scans.
pub(crate) fn blocked(tx: &Transaction<'_>, line_user_id: &str) -> Result<(), StoreError> {
    // The member's rows (through their member: no index on LINE user ids, see the schema),
    // then any row with no member.
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_by_member
         SET state = 'unreachable', lease_until_ms = NULL,
             last_error = ?2
         WHERE member_id = (SELECT member_id FROM line_users WHERE line_user_id = ?1)
           AND line_user_id = ?1 AND state = 'pending' AND channel = 'line'",
    )?
    .execute([line_user_id, BLOCKED])?;
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_pending_no_member
         SET state = 'unreachable', lease_until_ms = NULL,
             last_error = ?2
         WHERE member_id IS NULL AND line_user_id = ?1 AND state = 'pending'
           AND channel = 'line'",
    )?
    .execute([line_user_id, BLOCKED])?;
    // In flight now: if LINE does not take it, it is not tried again.
    tx.prepare_cached(
        "UPDATE messages SET expires_at_ms = 0 WHERE state = 'sending' AND line_user_id = ?1",
    )?
    .execute([line_user_id])?;
    Ok(())
}

/// Claims up to `claim.limit` due rows for users who follow the account, transactional first,
/// oldest first; each is leased until `now + claim.lease` and its attempt counted. A row whose
/// lease ran out (its sender died) is due again, with the same retry key.
pub(crate) fn claim(
    tx: &Transaction<'_>,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let now_ms = now.timestamp_millis();
    // A lease that ran out: its sender died or hung. Due again, with the same retry key; first,
    // so that one stopped in flight (a block, an unlink) lapses below instead of going.
    tx.prepare_cached(
        "UPDATE messages SET state = 'pending', lease_until_ms = NULL
         WHERE state = 'sending' AND lease_until_ms <= ?1",
    )?
    .execute([now_ms])?;
    // Pinned to the partial index on expiry: through `messages_state` this would read every
    // pending row at every claim.
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_pending_expiry
         SET state = 'expired', lease_until_ms = NULL
         WHERE state = 'pending' AND expires_at_ms <= ?1",
    )?
    .execute([now_ms])?;
    // Tried before, outcome unknown (no answer, 5xx, a crash), first tried 23 hours ago or
    // more: LINE forgets the retry key at 24 hours, so another try could be a second message.
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_retrying
         SET state = 'failed', lease_until_ms = NULL,
             last_error = 'not sent again: LINE may have it, and its retry key lapses 24 hours \
                           after the first try (last: ' || coalesce(last_error, 'no answer') || ')'
         WHERE state = 'pending' AND attempts > 0 AND first_attempt_ms <= ?1",
    )?
    .execute([now_ms.saturating_sub(RETRY_KEY_WINDOW_MS)])?;
    let mut claimed = due(tx, MessageClass::Transactional, now_ms, claim.limit)?;
    let room = claim
        .limit
        .saturating_sub(u32::try_from(claimed.len()).unwrap_or(u32::MAX));
    if !claim.transactional_only && room > 0 {
        claimed.extend(under_cap(tx, claim, now, room)?);
    }
    for m in claimed
        .iter_mut()
        .filter(|m| m.class == MessageClass::Transactional)
    {
        m.message_id = lease(tx, m.id, claim, now_ms)?;
    }
    Ok(claimed)
}

/// Up to `room` due marketing rows whose members are awake and under the cap: at most
/// `claim.marketing_per_week` marketing messages sent (or being sent) to a member in any 7 days.
/// A row over the cap waits an hour before it is looked at again; one whose member is in their
/// store's quiet hours, until the first time zone in quiet hours wakes (`claim.quiet_until`):
/// each such row is written once per night, whatever the backlog.
fn under_cap(
    tx: &Transaction<'_>,
    claim: &Claim,
    now: DateTime<Utc>,
    room: u32,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let now_ms = now.timestamp_millis();
    let since = (now - chrono::Duration::days(7)).to_rfc3339();
    let mut taken = Vec::new();
    let candidates = due(tx, MessageClass::Marketing, now_ms, room.saturating_mul(4))?;
    let wait = |id: i64, until_ms: i64| -> Result<(), StoreError> {
        tx.prepare_cached("UPDATE messages SET not_before_ms = ?2 WHERE id = ?1")?
            .execute(params![id, until_ms])?;
        Ok(())
    };
    for m in candidates {
        if taken.len() as u32 >= room {
            break;
        }
        if claim.marketing_to != HomeStores::All {
            let home: Option<String> = tx
                .prepare_cached(
                    "SELECT m.home_store FROM messages s JOIN members m USING (member_id)
                     WHERE s.id = ?1",
                )?
                .query_row([m.id], |r| r.get(0))
                .optional()?
                .flatten();
            if !claim.marketing_to.covers(home.as_deref()) {
                wait(m.id, claim.quiet_until.timestamp_millis().max(now_ms))?;
                continue;
            }
        }
        let recent: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM messages s
                 WHERE s.member_id = (SELECT member_id FROM messages WHERE id = ?1)
                   AND s.class = 'marketing'
                   AND (s.state = 'sending' OR (s.state = 'sent' AND s.sent_at > ?2))",
            )?
            .query_row(params![m.id, since], |r| r.get(0))?;
        if recent >= i64::from(claim.marketing_per_week) {
            wait(m.id, now_ms.saturating_add(3_600_000))?;
            continue;
        }
        // Leased now, so the next candidate of the same member counts it.
        let message_id = lease(tx, m.id, claim, now_ms)?;
        taken.push(OutboxMessage { message_id, ..m });
    }
    Ok(taken)
}

/// Leases row `id` and answers its retry key, made now at its first claim and the same on every
/// attempt after.
fn lease(tx: &Transaction<'_>, id: i64, claim: &Claim, now_ms: i64) -> Result<String, StoreError> {
    let key = tx
        .prepare_cached(
            "UPDATE messages SET state = 'sending', attempts = attempts + 1, lease_until_ms = ?2,
                 first_attempt_ms = coalesce(first_attempt_ms, ?3),
                 message_id = coalesce(message_id, ?4)
             WHERE id = ?1 AND state = 'pending'
             RETURNING message_id",
        )?
        .query_row(
            params![
                id,
                now_ms.saturating_add(claim.lease.num_milliseconds()),
                now_ms,
                uuid::Uuid::now_v7().to_string()
            ],
            |r| r.get(0),
        )?;
    Ok(key)
}

/// Up to `limit` due rows of one class for users who follow the account, oldest first (the
/// index `messages_state` walks them in order).
fn due(
    tx: &Transaction<'_>,
    class: MessageClass,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let mut select = tx.prepare_cached(
        // The plan is pinned: walk `messages_state` in id order, looking each user up (a plan
        // driven from the friends, or a partial index, sorts every pending row per claim).
        "SELECT m.id, m.message_id, m.line_user_id, m.scenario, m.action, m.body, m.attempts
         FROM messages AS m INDEXED BY messages_state CROSS JOIN line_friends AS f
              ON f.line_user_id = m.line_user_id AND f.following = 1
         WHERE m.state = 'pending' AND m.class = ?1 AND m.channel = 'line'
           AND m.not_before_ms <= ?2
         ORDER BY m.id
         LIMIT ?3",
    )?;
    let rows = select.query_map(params![class.as_str(), now_ms, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut due = Vec::new();
    for row in rows {
        let (id, message_id, line_user_id, scenario, action, body, attempts) = row?;
        let action =
            MessageAction::from_parts(&action, body).ok_or_else(|| StoreError::Corrupt {
                what: "message action",
                detail: format!("message {id}: {action}"),
            })?;
        due.push(OutboxMessage {
            id,
            // Made by the lease (a row claimed before has its key already).
            message_id: message_id.unwrap_or_default(),
            line_user_id,
            scenario,
            class,
            action,
            attempts: u32::try_from(attempts.saturating_add(1)).unwrap_or(u32::MAX),
        });
    }
    Ok(due)
}

/// Records how each claimed row's attempt ended. A row no longer `sending` (another sender took
/// it after the lease ran out and finished it) is left as it is.
pub(crate) fn finish(
    tx: &Transaction<'_>,
    outcomes: &[Finished],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now_text = now.to_rfc3339();
    for Finished {
        id,
        attempt,
        outcome,
    } in outcomes
    {
        match outcome {
            // LINE has it, whichever sender's attempt it was: a row due again after a lapsed
            // lease is not sent again, and one being sent again gets LINE's 409.
            MessageOutcome::Sent { request_id } => tx
                .prepare_cached(
                    "UPDATE messages SET state = 'sent', sent_at = ?2, request_id = ?3,
                         lease_until_ms = NULL, last_error = NULL
                     WHERE id = ?1 AND state IN ('sending', 'pending')",
                )?
                .execute(params![id, now_text, request_id])?,
            // Only the lease holder's own attempt: a sender whose lease ran out does not
            // undo the attempt of the one that holds the row now.
            MessageOutcome::Retry { not_before, error } => tx
                .prepare_cached(
                    "UPDATE messages SET state = 'pending', not_before_ms = ?3, last_error = ?4,
                         lease_until_ms = NULL
                     WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                )?
                .execute(params![id, attempt, not_before.timestamp_millis(), error])?,
            MessageOutcome::Failed { error } => tx
                .prepare_cached(
                    "UPDATE messages SET state = 'failed', last_error = ?3, lease_until_ms = NULL
                     WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                )?
                .execute(params![id, attempt, error])?,
        };
    }
    Ok(())
}

/// Rows claimed by a hub process that is gone. SQLite's store is one process (the database is
/// locked to it), so at its start no other sender can hold a lease: every `sending` row is due.
pub(crate) fn release_leases(tx: &Transaction<'_>) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE messages SET state = 'pending', lease_until_ms = NULL WHERE state = 'sending'",
        [],
    )?)
}

/// Rows per state.
pub(crate) fn counts(tx: &Transaction<'_>) -> Result<OutboxCounts, StoreError> {
    let mut counts = OutboxCounts::default();
    let mut stmt = tx.prepare_cached("SELECT state, COUNT(*) FROM messages GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        counts.add(&state, n.unsigned_abs())?;
    }
    Ok(counts)
}

/// A member's messages, oldest first.
pub(crate) fn of_member(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Vec<MessageView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT message_id, scenario, class, state, attempts, last_error, created_at, sent_at
         FROM messages WHERE member_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([member_id], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    let mut views = Vec::new();
    for row in rows {
        let (message_id, scenario, class, state, attempts, last_error, created_at, sent_at) = row?;
        let class = MessageClass::parse(&class)
            .ok_or_else(|| StoreError::Corrupt {
                what: "message class",
                detail: class.clone(),
            })?
            .as_str();
        views.push(MessageView {
            message_id,
            scenario,
            class,
            state,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_error,
            created_at,
            sent_at,
        });
    }
    Ok(views)
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
pub(super) mod tests;
