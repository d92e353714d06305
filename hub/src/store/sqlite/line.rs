//! The official LINE account's webhook events and friendships in the SQLite store: the
//! statements (the decisions are `unit::line`).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::model::{Friendship, LineEvent};
use crate::store::outbox::UNLINKED;

/// Takes a webhook event once; answers whether it was new.
pub(crate) fn take_webhook_event(
    tx: &Transaction<'_>,
    e: &LineEvent,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO line_webhook_events
                 (webhook_event_id, kind, occurred_at_ms, received_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            e.webhook_event_id,
            e.kind,
            e.occurred_at_ms,
            now.to_rfc3339()
        ])?;
    Ok(inserted > 0)
}

/// Sets a friendship unless a later change is already held (an older change arriving late,
/// redelivered after a newer one, changes nothing).
pub(crate) fn set_friendship(
    tx: &Transaction<'_>,
    user: &str,
    following: bool,
    at_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO line_friends (line_user_id, following, changed_at_ms, first_followed_at_ms)
         VALUES (?1, ?2, ?3, CASE WHEN ?2 THEN ?3 END)
         ON CONFLICT (line_user_id) DO UPDATE SET
             following = excluded.following,
             changed_at_ms = excluded.changed_at_ms,
             first_followed_at_ms = min(coalesce(line_friends.first_followed_at_ms,
                                                 excluded.first_followed_at_ms),
                                        coalesce(excluded.first_followed_at_ms,
                                                 line_friends.first_followed_at_ms))
         WHERE excluded.changed_at_ms >= line_friends.changed_at_ms",
    )?
    .execute(params![user, following, at_ms])?;
    Ok(())
}

/// Whether the user follows the account now, as far as the hub has seen.
pub(crate) fn follows(tx: &Transaction<'_>, user: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT following FROM line_friends WHERE line_user_id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}

/// A LINE user's friendship, if the hub has seen one.
pub(crate) fn friendship(
    tx: &Transaction<'_>,
    line_user_id: &str,
) -> Result<Option<Friendship>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT following, changed_at_ms, first_followed_at_ms FROM line_friends
             WHERE line_user_id = ?1",
        )?
        .query_row([line_user_id], |r| {
            Ok(Friendship {
                following: r.get(0)?,
                changed_at_ms: r.get(1)?,
                first_followed_at_ms: r.get(2)?,
            })
        })
        .optional()?)
}

/// The link goes; the user's waiting rows are not sent; one in flight is not tried again.
pub(crate) fn remove_link(
    tx: &Transaction<'_>,
    line_user_id: &str,
    member_id: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM line_users WHERE line_user_id = ?1")?
        .execute([line_user_id])?;
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_by_member
         SET state = 'expired', lease_until_ms = NULL, last_error = ?3
         WHERE member_id = ?2 AND line_user_id = ?1 AND state = 'pending'",
    )?
    .execute([line_user_id, member_id, UNLINKED])?;
    // And any with no member (an earlier unlink's menu change): this one replaces it.
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_pending_no_member
         SET state = 'expired', lease_until_ms = NULL, last_error = ?2
         WHERE member_id IS NULL AND line_user_id = ?1 AND state = 'pending'",
    )?
    .execute([line_user_id, UNLINKED])?;
    // In flight now: if LINE does not take it, it is not tried again.
    tx.prepare_cached(
        "UPDATE messages SET expires_at_ms = 0 WHERE line_user_id = ?1 AND state = 'sending'",
    )?
    .execute([line_user_id])?;
    Ok(())
}
