//! The daily scan of members linked to LINE (docs/design.md §10), in two halves that run side
//! by side: a page of members is read and planned on a reader while the page before is written.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};

use super::outbox;
use crate::store::StoreError;
use crate::store::outbox::ScanMessage;
use crate::store::unit::line::LinkedRow;

/// Up to `limit` members linked to LINE after `after` (member id order), in one statement: the
/// member and their LINE user (in the index it walks), the snapshot, the home store, and the
/// profile's choices. (The plan is `unit::scan`.)
pub(crate) fn linked_page(
    tx: &Transaction<'_>,
    after: &str,
    limit: u32,
) -> Result<Vec<LinkedRow>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT lu.member_id, lu.line_user_id, m.snapshot, p.language, p.marketing, m.home_store
         FROM line_users lu INDEXED BY line_users_by_member
         JOIN members m ON m.member_id = lu.member_id
         LEFT JOIN member_profiles p ON p.member_id = lu.member_id
         WHERE lu.member_id > ?1 ORDER BY lu.member_id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok(LinkedRow {
                member_id: r.get(0)?,
                line_user_id: r.get(1)?,
                snapshot: r.get(2)?,
                language: r.get(3)?,
                marketing: r.get(4)?,
                home_store: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Writes a planned page's messages; answers how many were new. What can change between the
/// plan and the write is read again now, in the insert itself (one statement a row): the link
/// (a member who unlinked gets nothing), the friendship, from the link (schema migration 10:
/// a user who blocked the account a moment ago gets an `unreachable` row, as
/// [`outbox::insert`] writes it), and the choice of store news (a member who has just turned
/// it off gets none; no profile yet is the default, on).
pub(crate) fn queue(
    tx: &Transaction<'_>,
    messages: &[ScanMessage],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO messages
             (dedupe_key, member_id, line_user_id, scenario, class, channel,
              action, body, state, last_error, not_before_ms, expires_at_ms, created_at)
         SELECT ?1, lu.member_id, lu.line_user_id, ?4, ?5, 'line', ?6, ?7,
                CASE WHEN lu.following = 0 THEN 'unreachable' ELSE 'pending' END,
                CASE WHEN lu.following = 0 THEN ?8 END, ?9, ?10, ?11
         FROM line_users lu INDEXED BY line_users_by_member
         WHERE lu.member_id = ?2 AND lu.line_user_id = ?3
           AND (?5 <> 'marketing'
                OR coalesce((SELECT p.marketing FROM member_profiles p
                             WHERE p.member_id = lu.member_id), 1) = 1)",
    )?;
    let now_ms = now.timestamp_millis();
    let created_at = now.to_rfc3339();
    // The page's new rows are those past the last id now (one writer; a new row's id is the
    // largest plus one), counted per state once at the end of the page (schema 16). Not with
    // `RETURNING`, nor by a trigger: SQLite gathers either's rows in a temporary table, a cost
    // on every row of a statement that writes one (docs/benchmarks.md).
    let last: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages")?
        .query_row([], |r| r.get(0))?;
    let mut written = 0;
    for m in messages {
        let message = &m.planned.message;
        let (action, body) = message.action.to_parts();
        let expires = message
            .expires_after
            .map(|d| now_ms.saturating_add(d.num_milliseconds()));
        written += insert.execute(params![
            m.planned.dedupe_key,
            m.member_id,
            m.line_user_id,
            message.scenario,
            message.class.as_str(),
            action,
            body,
            outbox::BLOCKED,
            now_ms,
            expires,
            created_at,
        ])? as u64;
    }
    // By the ids (the table's own key), not the state index, which SQLite would walk whole
    // for the `GROUP BY`: every message ever queued, at every page.
    let mut per_state = tx.prepare_cached(
        "SELECT state, COUNT(*) FROM messages NOT INDEXED WHERE id > ?1 GROUP BY state",
    )?;
    let queued = per_state
        .query_map([last], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (state, n) in queued {
        outbox::add_to_tallies(tx, &state, n.unsigned_abs())?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use rusqlite::Connection;

    use super::*;
    use crate::store::outbox::{MessageAction, MessageClass, NewMessage, Planned};

    fn linked(tx: &Transaction<'_>, member: &str, user: &str, following: Option<bool>) {
        super::super::outbox::tests::link(tx, member, user);
        if let Some(following) = following {
            tx.execute(
                "INSERT INTO line_friends (line_user_id, following, changed_at_ms)
                 VALUES (?1, ?2, 1)",
                params![user, following],
            )
            .unwrap();
        }
    }

    fn reminder(member: &str, user: &str) -> ScanMessage {
        ScanMessage {
            member_id: member.into(),
            line_user_id: user.into(),
            planned: Planned {
                dedupe_key: format!("points_expiring:{member}"),
                message: NewMessage {
                    scenario: "points_expiring".into(),
                    class: MessageClass::Marketing,
                    action: MessageAction::Push {
                        messages_json: r#"[{"type":"text","text":"500 pt"}]"#.into(),
                    },
                    expires_after: None,
                },
            },
        }
    }

    /// What changed between the read of a page and its write counts, not what was read.
    #[test]
    fn a_page_is_written_as_the_links_and_friendships_are_when_it_is_written() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        linked(&tx, "m1", "Ustays", Some(true));
        linked(&tx, "m2", "Ublocks", Some(true));
        linked(&tx, "m3", "Uunlinks", Some(true));
        linked(&tx, "m4", "Unever", None);
        linked(&tx, "m5", "Uoptsout", Some(true));
        linked(&tx, "m6", "Ucoupon", Some(true));
        let mut coupon = reminder("m6", "Ucoupon");
        coupon.planned.message.class = MessageClass::Transactional;
        let page = [
            reminder("m1", "Ustays"),
            reminder("m2", "Ublocks"),
            reminder("m3", "Uunlinks"),
            reminder("m4", "Unever"),
            reminder("m5", "Uoptsout"),
            coupon,
        ];
        // Since the page was read: m2's user blocked the account, m3 unlinked and linked
        // another LINE account, m5 turned store news off.
        tx.execute(
            "UPDATE line_friends SET following = 0 WHERE line_user_id = 'Ublocks'",
            [],
        )
        .unwrap();
        tx.execute("DELETE FROM line_users WHERE member_id = 'm3'", [])
            .unwrap();
        tx.execute(
            "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES ('Unew', 'm3', 'now')",
            [],
        )
        .unwrap();
        // m5 and m6 turned store news off: a coupon's announcement still goes.
        for member in ["m5", "m6"] {
            tx.execute(
                "INSERT INTO member_profiles (member_id, language, marketing, updated_at)
                 VALUES (?1, 'ja', 0, 'now')",
                [member],
            )
            .unwrap();
        }
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(queue(&tx, &page, now).unwrap(), 4);
        assert_eq!(queue(&tx, &page, now).unwrap(), 0, "once each");
        let rows: Vec<(String, String, String)> = tx
            .prepare("SELECT member_id, line_user_id, state FROM messages ORDER BY member_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = [
            ("m1", "Ustays", "pending"),
            ("m2", "Ublocks", "unreachable"),
            ("m4", "Unever", "pending"),
            ("m6", "Ucoupon", "pending"),
        ]
        .map(|(m, u, s)| (m.to_owned(), u.to_owned(), s.to_owned()));
        assert_eq!(rows, expected);
    }
}
