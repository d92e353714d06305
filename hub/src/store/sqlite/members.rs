//! Members in the SQLite store: snapshots, codes, aliases, and the feed's change log.

use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_protocol::sync::MemberSnapshot;

use super::{from_json, to_json};
use crate::store::StoreError;

/// Moves a thing to the head of the change log (one row per thing, at its latest change).
pub(crate) fn log_change(tx: &Transaction<'_>, kind: &str, key: &str) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR REPLACE INTO changes (kind, key) VALUES (?1, ?2)")?
        .execute(params![kind, key])?;
    Ok(())
}

pub(crate) fn load(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Option<MemberSnapshot>, StoreError> {
    let text: Option<String> = tx
        .prepare_cached("SELECT snapshot FROM members WHERE member_id = ?1")?
        .query_row([member_id], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json("member snapshot", &t)).transpose()
}

/// Writes a changed snapshot and logs the change for the feed.
pub(crate) fn save(
    tx: &Transaction<'_>,
    member: &MemberSnapshot,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE members SET snapshot = ?2, updated_at = ?3 WHERE member_id = ?1")?
        .execute(params![member.member_id, to_json(member)?, now])?;
    log_change(tx, "member", &member.member_id)
}

/// Adds a new member with its codes.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    member: &MemberSnapshot,
    birthday: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO members (member_id, number, snapshot, birthday, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![
        member.member_id,
        member.number,
        to_json(member)?,
        birthday,
        now
    ])?;
    let mut code =
        tx.prepare_cached("INSERT INTO member_codes (code, member_id) VALUES (?1, ?2)")?;
    for c in &member.codes {
        code.execute(params![c, member.member_id])?;
    }
    log_change(tx, "member", &member.member_id)
}

/// Makes `store_id` the member's home store (schema migration 12) unless they have one: the
/// first store they joined or shopped at keeps them.
pub(crate) fn claim_home_store(
    tx: &Transaction<'_>,
    member_id: &str,
    store_id: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE members SET home_store = ?2 WHERE member_id = ?1 AND home_store IS NULL",
    )?
    .execute(params![member_id, store_id])?;
    Ok(())
}

/// The member's home store, if they have one (or `None` for a member the hub does not know).
pub(crate) fn home_store(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT home_store FROM members WHERE member_id = ?1")?
        .query_row([member_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The member an id names: itself, or the member a provisional id was merged into.
pub(crate) fn resolve(tx: &Transaction<'_>, id: &str) -> Result<Option<String>, StoreError> {
    let own: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM members WHERE member_id = ?1)")?
        .query_row([id], |r| r.get(0))?;
    if own {
        return Ok(Some(id.to_owned()));
    }
    Ok(tx
        .prepare_cached("SELECT member_id FROM member_aliases WHERE alias_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn code_owner(tx: &Transaction<'_>, code: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT member_id FROM member_codes WHERE code = ?1")?
        .query_row([code], |r| r.get(0))
        .optional()?)
}

pub(crate) fn is_revoked(tx: &Transaction<'_>, code: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM revoked_codes WHERE code = ?1)")?
        .query_row([code], |r| r.get(0))?)
}

/// The member a code names, for the online lookup.
pub(crate) fn by_code(
    tx: &Transaction<'_>,
    code: &str,
) -> Result<Option<MemberSnapshot>, StoreError> {
    match code_owner(tx, code.trim())? {
        Some(id) => load(tx, &id),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::*;
    use crate::store::sqlite::schema;

    fn home(conn: &Connection, member: &str) -> Option<String> {
        conn.query_row(
            "SELECT home_store FROM members WHERE member_id = ?1",
            [member],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn add_member(conn: &Connection, member: &str) {
        conn.execute(
            "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             VALUES (?1, ?1, '{}', 'now', 'now')",
            [member],
        )
        .unwrap();
    }

    #[test]
    fn members_from_before_version_12_get_the_store_they_joined_at() {
        let mut conn = Connection::open_in_memory().unwrap();
        tenpo_support::sqlite::migrate(&mut conn, schema::MIGRATIONS, 11).unwrap();
        for member in ["m-signed-up", "m-paper"] {
            add_member(&conn, member);
        }
        // Joined in Waikiki, then linked again (a second signup) in Shibuya.
        conn.execute_batch(
            "INSERT INTO signups (signup_id, kind, store_id, terminal_id, member_id,
                 line_user_id, existing_member, completed_at)
             VALUES ('s2', 'card_link', 'shibuya', 't2', 'm-signed-up', 'Ua', 1,
                     '2026-06-01T00:00:00Z'),
                    ('s1', 'signup', 'waikiki', 't1', 'm-signed-up', 'Ua', 0,
                     '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        schema::migrate(&mut conn).unwrap();
        assert_eq!(home(&conn, "m-signed-up").as_deref(), Some("waikiki"));
        assert_eq!(home(&conn, "m-paper"), None, "set at the next sale");
    }

    #[test]
    fn the_first_store_keeps_a_member() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        add_member(&tx, "m1");
        claim_home_store(&tx, "m1", "waikiki").unwrap();
        claim_home_store(&tx, "m1", "shibuya").unwrap();
        tx.commit().unwrap();
        assert_eq!(home(&conn, "m1").as_deref(), Some("waikiki"));
    }

    /// Schema 17 counts the members already there, then each one added or deleted.
    #[test]
    fn the_member_count_starts_from_the_rows_and_follows_them() {
        let count = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT (SELECT n FROM member_tallies), (SELECT COUNT(*) FROM members)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let mut conn = Connection::open_in_memory().unwrap();
        tenpo_support::sqlite::migrate(&mut conn, schema::MIGRATIONS, 16).unwrap();
        for member in ["m1", "m2"] {
            add_member(&conn, member);
        }
        schema::migrate(&mut conn).unwrap();
        assert_eq!(count(&conn), (2, 2));
        add_member(&conn, "m3");
        assert_eq!(count(&conn), (3, 3));
        conn.execute("DELETE FROM members WHERE member_id = 'm1'", [])
            .unwrap();
        assert_eq!(count(&conn), (2, 2));
    }
}
