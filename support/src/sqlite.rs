//! How tenpo opens a SQLite file, agent and hub alike (docs/design.md §4): WAL, so readers never
//! wait for the writer; `synchronous=FULL`, so a committed sale survives a power cut; foreign
//! keys on; one busy timeout; a statement cache big enough for every statement a store has.

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
}
