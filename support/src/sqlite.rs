//! How tenpo opens a SQLite file, agent and hub alike (docs/design.md §4): WAL, so readers never
//! wait for the writer; `synchronous=FULL`, so a committed sale survives a power cut; foreign
//! keys on; one busy timeout; a statement cache big enough for every statement a store has.
//! And how a store's schema moves forward: [`migrate`], one runner for every database.

use std::time::Duration;

use rusqlite::Connection;

/// How long a connection waits for another's lock before it reports `database is locked`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection.
pub const STATEMENT_CACHE: usize = 128;

/// Settings for a connection that writes.
pub fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    configure_reader(conn)
}

/// Settings for a read-only connection (the journal mode is the file's own).
pub fn configure_reader(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The schema version of a database: SQLite's `user_version`, 0 for a new file.
pub fn version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Why a schema could not be brought forward.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file was written by a newer program; it is left untouched.
    #[error("the database is at schema version {found}, newer than this program knows ({known})")]
    TooNew { found: u32, known: u32 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings a database forward to version `target` (at most `migrations.len()`), where
/// `migrations[i]` takes version `i` to `i + 1`. Forward only: each migration runs in its own
/// transaction together with the new `user_version`, so a crash leaves the file at a version
/// it really is at, and the next start goes on from there. A file newer than `migrations`
/// knows is refused untouched. Returns the version reached.
pub fn migrate(
    conn: &mut Connection,
    migrations: &[&str],
    target: u32,
) -> Result<u32, MigrateError> {
    let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    let found = version(conn)?;
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    let target = target.min(known);
    for (index, sql) in migrations
        .iter()
        .enumerate()
        .skip(found as usize)
        .take(target.saturating_sub(found) as usize)
    {
        let next = index as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
        tracing::info!(version = next, "database schema migrated");
    }
    Ok(version(conn)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_configured_file_is_wal_and_full() {
        let dir = std::env::temp_dir().join(format!("tenpo-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conn = Connection::open(dir.join("t.db")).unwrap();
        configure(&conn).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        let busy: i64 = conn
            .pragma_query_value(None, "busy_timeout", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, busy), ("wal", 2, 10_000));
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    const STEPS: &[&str] = &[
        "CREATE TABLE a (x INTEGER) STRICT;",
        "CREATE TABLE b (y INTEGER) STRICT;",
        "CREATE TABLE c (z INTEGER) STRICT; INSERT INTO nowhere VALUES (1);",
    ];

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrations_run_once_in_order_and_stop_at_a_failing_one() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, STEPS, 1).unwrap(), 1);
        assert_eq!(tables(&conn), ["a"]);
        // Again to 2: only the second runs (the first would fail, `a` exists).
        assert_eq!(migrate(&mut conn, STEPS, 2).unwrap(), 2);
        assert_eq!(tables(&conn), ["a", "b"]);
        // The third fails half-way: nothing of it stays and the version is still 2.
        assert!(matches!(
            migrate(&mut conn, STEPS, 3),
            Err(MigrateError::Sqlite(_))
        ));
        assert_eq!(
            (version(&conn).unwrap(), tables(&conn)),
            (2, vec!["a".into(), "b".into()])
        );
        // A target past the end is the end.
        assert_eq!(migrate(&mut conn, &STEPS[..2], 9).unwrap(), 2);
    }

    #[test]
    fn a_newer_file_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        let err = migrate(&mut conn, STEPS, 3).unwrap_err();
        assert!(
            matches!(err, MigrateError::TooNew { found: 7, known: 3 }),
            "{err}"
        );
        assert_eq!(version(&conn).unwrap(), 7);
        assert!(tables(&conn).is_empty());
    }
}
