//! The official LINE account's webhook events and friendships in the SQLite store.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::model::{Friendship, LineEvent, LineIntake};
use crate::store::outbox::{Greeting, NewMessage};

use super::{outbox, signup};

/// Stores one delivery: each event once; follow and unfollow set the friendship unless a later
/// change is already held; a new follow from a member writes `greeting` to the outbox.
pub(crate) fn take(
    tx: &Transaction<'_>,
    events: &[LineEvent],
    greeting: &Greeting,
    now: DateTime<Utc>,
) -> Result<LineIntake, StoreError> {
    let at = now;
    let now = now.to_rfc3339();
    let mut tally = LineIntake::default();
    for e in events {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO line_webhook_events
                     (webhook_event_id, kind, occurred_at_ms, received_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![e.webhook_event_id, e.kind, e.occurred_at_ms, now])?;
        if inserted == 0 {
            tally.duplicate += 1;
            continue;
        }
        tally.new += 1;
        let (Some(user), Some(following)) = (&e.user_id, e.following) else {
            continue;
        };
        // An older change arriving late (redelivered after a newer one) changes nothing.
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
        .execute(params![user, following, e.occurred_at_ms])?;
        // What holds now (a late, older change did not change it).
        let follows_now: bool = tx
            .prepare_cached("SELECT following FROM line_friends WHERE line_user_id = ?1")?
            .query_row([user], |r| r.get(0))?;
        if !follows_now {
            outbox::blocked(tx, user)?;
        } else if following && let Some(member_id) = signup::member_of_line_user(tx, user)? {
            outbox::greet(tx, greeting, &member_id, user, at)?;
        }
    }
    Ok(tally)
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

/// A LINE user unlinks their account from the member: the link goes, their waiting messages
/// are not sent, and `goodbye` (the rich menu's unlink) is written. Answers the member's id.
pub(crate) fn unlink(
    tx: &Transaction<'_>,
    line_user_id: &str,
    goodbye: Option<&NewMessage>,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(member_id) = signup::member_of_line_user(tx, line_user_id)? else {
        return Ok(None);
    };
    tx.prepare_cached("DELETE FROM line_users WHERE line_user_id = ?1")?
        .execute([line_user_id])?;
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_by_member
         SET state = 'expired', lease_until_ms = NULL,
             last_error = 'the member unlinked their LINE account'
         WHERE member_id = ?2 AND line_user_id = ?1 AND state = 'pending'",
    )?
    .execute([line_user_id, member_id.as_str()])?;
    // And any with no member (an earlier unlink's menu change): this one replaces it.
    tx.prepare_cached(
        "UPDATE messages INDEXED BY messages_pending_no_member
         SET state = 'expired', lease_until_ms = NULL,
             last_error = 'the member unlinked their LINE account'
         WHERE member_id IS NULL AND line_user_id = ?1 AND state = 'pending'",
    )?
    .execute([line_user_id])?;
    // In flight now: if LINE does not take it, it is not tried again.
    tx.prepare_cached(
        "UPDATE messages SET expires_at_ms = 0 WHERE line_user_id = ?1 AND state = 'sending'",
    )?
    .execute([line_user_id])?;
    if let Some(m) = goodbye {
        let key = format!("unlink:{member_id}:{}", now.timestamp_millis());
        outbox::enqueue(tx, &key, None, line_user_id, m, now)?;
    }
    super::members::log_change(tx, "member", &member_id)?;
    Ok(Some(member_id))
}
