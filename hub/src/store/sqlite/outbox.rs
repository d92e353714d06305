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

use super::statements::SqliteUnit;
use crate::store::outbox::{
    Claim, Finished, MessageAction, MessageClass, MessageOutcome, MessageView, NewMessage,
    OutboxCounts, OutboxMessage,
};
use crate::store::{StoreError, unit};

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
    if written == 1 {
        add_to_tallies(tx, state, 1)?;
    }
    Ok(written == 1)
}

/// Adds `n` messages just queued in `state` to the counts per state (schema 16: a state
/// changed is counted by a trigger, a message queued by the statement that queues it).
pub(crate) fn add_to_tallies(tx: &Transaction<'_>, state: &str, n: u64) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let n = i64::try_from(n).map_err(|_| StoreError::Invalid("too many messages".into()))?;
    tx.prepare_cached("UPDATE message_tallies SET n = n + ?2 WHERE state = ?1")?
        .execute(params![state, n])?;
    Ok(())
}

/// When the user's current link was made (names its rich menu's dedupe key).
pub(crate) fn linked_at(
    tx: &Transaction<'_>,
    line_user_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT linked_at FROM line_users WHERE line_user_id = ?1")?
        .query_row([line_user_id], |r| r.get(0))
        .optional()?)
}

/// A rich-menu row written before that never went (it lapsed waiting for the follow, or the
/// user had blocked the account) is due again.
pub(crate) fn requeue_menu(
    tx: &Transaction<'_>,
    member_id: &str,
    key: &str,
    now_ms: i64,
    expires: Option<i64>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE messages SET state = 'pending', not_before_ms = ?2, expires_at_ms = ?3,
             attempts = 0, first_attempt_ms = NULL, last_error = NULL
         WHERE member_id = ?4 AND dedupe_key = ?1
           AND state IN ('expired', 'unreachable')",
    )?
    .execute(params![key, now_ms, expires, member_id])?;
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

/// Claims due rows (the decisions are `unit::outbox::claim`), in the caller's transaction.
pub(crate) fn claim(
    tx: &Transaction<'_>,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let mut db = SqliteUnit::new(tx);
    unit::finish(unit::outbox::claim(&mut db, claim, now))
}

/// A lease that ran out is due again; a row past its expiry lapses; a row first tried before
/// `retry_cutoff_ms` and still unsent fails.
pub(crate) fn lapse(
    tx: &Transaction<'_>,
    now_ms: i64,
    retry_cutoff_ms: i64,
) -> Result<(), StoreError> {
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
    .execute([retry_cutoff_ms])?;
    Ok(())
}

/// The home store of the member row `id` is for.
pub(crate) fn home_store_of_message(
    tx: &Transaction<'_>,
    id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT m.home_store FROM messages s JOIN members m USING (member_id)
             WHERE s.id = ?1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Marketing rows sent since `since`, or being sent, to the member row `id` is for.
pub(crate) fn recent_marketing(
    tx: &Transaction<'_>,
    id: i64,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM messages s
             WHERE s.member_id = (SELECT member_id FROM messages WHERE id = ?1)
               AND s.class = 'marketing'
               AND (s.state = 'sending' OR (s.state = 'sent' AND s.sent_at > ?2))",
        )?
        .query_row(params![id, since.to_rfc3339()], |r| r.get(0))?;
    Ok(n.unsigned_abs())
}

pub(crate) fn set_not_before(
    tx: &Transaction<'_>,
    id: i64,
    until_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE messages SET not_before_ms = ?2 WHERE id = ?1")?
        .execute(params![id, until_ms])?;
    Ok(())
}

/// Leases row `id` and answers its retry key, made at its first claim (`new_key`) and the same
/// on every attempt after.
pub(crate) fn lease(
    tx: &Transaction<'_>,
    id: i64,
    until_ms: i64,
    now_ms: i64,
    new_key: &str,
) -> Result<String, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE messages SET state = 'sending', attempts = attempts + 1, lease_until_ms = ?2,
                 first_attempt_ms = coalesce(first_attempt_ms, ?3),
                 message_id = coalesce(message_id, ?4)
             WHERE id = ?1 AND state = 'pending'
             RETURNING message_id",
        )?
        .query_row(params![id, until_ms, now_ms, new_key], |r| r.get(0))?)
}

/// Up to `limit` due rows of one class for users who follow the account, oldest first (the
/// index `messages_state` walks them in order).
pub(crate) fn due(
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
/// (Email's notifications likewise.)
pub(crate) fn release_leases(tx: &Transaction<'_>) -> Result<usize, StoreError> {
    let emails = tx.execute(
        "UPDATE notifications SET email_state = 'pending', lease_until_ms = NULL
         WHERE email_state = 'sending'",
        [],
    )?;
    let messages = tx.execute(
        "UPDATE messages SET state = 'pending', lease_until_ms = NULL WHERE state = 'sending'",
        [],
    )?;
    Ok(messages + emails)
}

/// Rows per state, as schema 16 keeps them (a message queued counted by the statement that
/// queues it, a state changed by a trigger): not a count of every message.
pub(crate) fn counts(tx: &Transaction<'_>) -> Result<OutboxCounts, StoreError> {
    let mut counts = OutboxCounts::default();
    let mut stmt = tx.prepare_cached("SELECT state, n FROM message_tallies")?;
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
