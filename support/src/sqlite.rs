//! How tenpo opens a SQLite file, agent and hub alike (docs/design.md §4): WAL, so readers never
//! wait for the writer; `synchronous=FULL`, so a committed sale survives a power cut; foreign
//! keys on; one busy timeout, which a writer waits out in short steps; a statement cache big
//! enough for every statement a store has, and query plans that do not depend on the values
//! bound (so a cached statement stays compiled). And how a store's schema moves forward:
//! [`migrate`], one runner for every database.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};

/// How long a connection waits for another's lock before it reports `database is locked`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection.
pub const STATEMENT_CACHE: usize = 128;

/// How often a writer tries a lock again during its first [`SHORT_WAIT`].
pub const SHORT_PAUSE: Duration = Duration::from_micros(50);
/// How long a writer tries again every [`SHORT_PAUSE`] before it slows to [`LONG_PAUSE`].
pub const SHORT_WAIT: Duration = Duration::from_millis(5);
/// How often a writer tries a lock again once it has waited [`SHORT_WAIT`].
pub const LONG_PAUSE: Duration = Duration::from_millis(1);

/// Settings for a connection that writes. Its busy timeout is [`BUSY_TIMEOUT`], waited out by
/// [`pause_before_retry`]'s steps rather than SQLite's own.
pub fn configure(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    configure_reader(conn)?;
    conn.busy_handler(Some(retry_while_busy(BUSY_TIMEOUT)))
}

/// A busy handler that waits for a lock until `timeout` has passed since the lock was first
/// found taken, pausing as [`pause_before_retry`] says between tries.
pub fn retry_while_busy(timeout: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut since = Instant::now();
    move |tries| {
        if tries == 0 {
            since = Instant::now();
        }
        match pause_before_retry(since.elapsed(), timeout) {
            Some(pause) => {
                std::thread::sleep(pause);
                true
            }
            None => false,
        }
    }
}

/// How long a writer that has `waited` for a lock pauses before it tries again, or `None` once
/// it has waited `timeout` (it then reports `database is locked`).
///
/// The locks a writer meets are mostly short: the checkpoint thread's restarting step holds
/// the write lock while it copies the last few frames and syncs the file, well under a
/// millisecond ([`crate::checkpointer`]). SQLite's own busy timeout sleeps 1 ms, then 2, then
/// 5 before its first three tries again, so a sale that met that step waited 3 ms where 0.5
/// would do (docs/benchmarks.md). A writer here tries again every [`SHORT_PAUSE`] for the first
/// [`SHORT_WAIT`] (a try is a read of the shared memory's lock bytes), then every
/// [`LONG_PAUSE`], for locks held long (a backup, a migration, another process's batch).
pub fn pause_before_retry(waited: Duration, timeout: Duration) -> Option<Duration> {
    if waited >= timeout {
        None
    } else if waited < SHORT_WAIT {
        Some(SHORT_PAUSE)
    } else {
        Some(LONG_PAUSE.min(timeout - waited))
    }
}

/// Settings for a read-only connection (the journal mode is the file's own).
pub fn configure_reader(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the query planner stability guarantee, SQLite marks some statements (a join on a
    // bound code, say) to be compiled again whenever their bindings are cleared, which the
    // statement cache does each time a statement is put back: every sale recompiled its member
    // lookup (docs/benchmarks.md). With it, a statement keeps its plan, whatever is bound.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
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
///
/// Foreign keys are not enforced while a migration runs, as SQLite's own procedure for
/// changing a table asks (a table is remade by copying it, dropping the old one and renaming
/// the copy, while rows of other tables still refer to it by name). Instead, before each
/// migration commits, every reference in the file is checked, and a migration that would leave
/// a row pointing at nothing is rolled back. Enforcement is restored afterwards, whatever
/// happened.
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
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
    if enforced {
        conn.pragma_update(None, "foreign_keys", false)?;
    }
    let reached = run_migrations(conn, migrations, found, target);
    if enforced {
        conn.pragma_update(None, "foreign_keys", true)?;
    }
    reached
}

fn run_migrations(
    conn: &mut Connection,
    migrations: &[&str],
    found: u32,
    target: u32,
) -> Result<u32, MigrateError> {
    for (index, sql) in migrations
        .iter()
        .enumerate()
        .skip(found as usize)
        .take(target.saturating_sub(found) as usize)
    {
        let next = index as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        check_references(&tx, next)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
        tracing::info!(version = next, "database schema migrated");
    }
    Ok(version(conn)?)
}

/// Every foreign key in the file points at a row (migrations run with enforcement off).
fn check_references(conn: &Connection, version: u32) -> Result<(), rusqlite::Error> {
    let broken: Option<(String, String, i64)> = conn
        .query_row(
            "SELECT \"table\", parent, COUNT(*) FROM pragma_foreign_key_check
             GROUP BY \"table\", parent ORDER BY \"table\" LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    match broken {
        None => Ok(()),
        Some((table, parent, rows)) => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
            Some(format!(
                "the upgrade to schema version {version} would leave {rows} row(s) of `{table}` \
                 pointing at nothing in `{parent}`; nothing was changed"
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_configured_file_is_wal_and_full() {
        let dir = std::env::temp_dir().join(format!("tenpo-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conn = Connection::open(dir.join("t.db")).unwrap();
        configure(&mut conn).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// SQLite's own busy timeout sleeps 1 ms before its first try again, then 2 ms, then 5 ms:
    /// a sale that met the checkpoint thread's lock (held well under a millisecond) waited
    /// 3 ms. A writer here tries again at once, and slows down only for a lock held long.
    #[test]
    fn a_writer_tries_a_taken_lock_again_at_once_and_gives_up_at_its_timeout() {
        let timeout = BUSY_TIMEOUT;
        let pause = |waited| pause_before_retry(waited, timeout);
        assert_eq!(pause(Duration::ZERO), Some(SHORT_PAUSE));
        assert!(SHORT_PAUSE <= Duration::from_micros(100));
        assert_eq!(
            pause(SHORT_WAIT - Duration::from_micros(1)),
            Some(SHORT_PAUSE)
        );
        assert_eq!(pause(SHORT_WAIT), Some(LONG_PAUSE));
        // The last pause ends at the timeout, not past it.
        let nearly = timeout - Duration::from_micros(300);
        assert_eq!(pause(nearly), Some(Duration::from_micros(300)));
        assert_eq!(pause(timeout), None);
        assert_eq!(pause(timeout + LONG_PAUSE), None);
    }

    /// A configured writer on `path`, with the table `t (x)` the lock tests write.
    fn writer_of_t(path: &std::path::Path) -> Connection {
        let mut conn = Connection::open(path).unwrap();
        configure(&mut conn).unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER) STRICT;")
            .unwrap();
        conn
    }

    fn xs_in_t(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Two writers on one file: the second waits for the first's transaction, then writes.
    #[test]
    fn a_writer_waits_out_another_writers_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut first = writer_of_t(&path);
        let tx = first
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let (found_taken, waiting) = std::sync::mpsc::channel();
        let second = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut conn = writer_of_t(&path);
                // The handler `configure` installs, telling the test once it has found the
                // lock taken, so the first writer lets go only while the second waits.
                let mut retry = retry_while_busy(BUSY_TIMEOUT);
                conn.busy_handler(Some(move |tries| {
                    if tries == 0 {
                        let _ = found_taken.send(());
                    }
                    retry(tries)
                }))
                .unwrap();
                conn.execute("INSERT INTO t VALUES (2)", [])
            }
        });
        waiting.recv_timeout(BUSY_TIMEOUT).unwrap();
        tx.commit().unwrap();
        assert_eq!(second.join().unwrap().unwrap(), 1);
        assert_eq!(xs_in_t(&first), [1, 2]);
    }

    /// A lock held past the timeout: the waiting write fails with `database is locked` and
    /// changes nothing.
    #[test]
    fn a_writer_gives_up_on_a_lock_held_past_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut first = writer_of_t(&path);
        let mut second = writer_of_t(&path);
        second
            .busy_handler(Some(retry_while_busy(Duration::from_millis(50))))
            .unwrap();
        let tx = first
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let err = second.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy),
            "{err}"
        );
        // The handler starts over for the next lock: it waits again, the full timeout.
        let err = second.execute("INSERT INTO t VALUES (3)", []).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        tx.commit().unwrap();
        second.execute("INSERT INTO t VALUES (4)", []).unwrap();
        assert_eq!(xs_in_t(&second), [1, 4]);
    }

    #[test]
    fn a_cached_join_on_a_bound_value_is_compiled_once() {
        let conn = Connection::open_in_memory().unwrap();
        configure_reader(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE m (id TEXT PRIMARY KEY, state BLOB) STRICT, WITHOUT ROWID;
             CREATE TABLE c (code TEXT PRIMARY KEY, id TEXT NOT NULL) STRICT, WITHOUT ROWID;
             INSERT INTO m VALUES ('m1', x'01'), ('m2', x'02');
             INSERT INTO c VALUES ('c1', 'm1'), ('c2', 'm2');",
        )
        .unwrap();
        let sql = "SELECT m.id FROM c JOIN m ON m.id = c.id WHERE c.code = ?1";
        for code in ["c1", "c2", "c1", "c2", "c1"] {
            let id: String = conn
                .prepare_cached(sql)
                .unwrap()
                .query_row([code], |r| r.get(0))
                .unwrap();
            assert_eq!(id, if code == "c1" { "m1" } else { "m2" });
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the statement was compiled again on a later use"
        );
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

    /// A parent table remade the way SQLite documents it (copy, drop, rename) while child rows
    /// refer to it: allowed, enforcement back on after. A migration that leaves a child row
    /// pointing at nothing: rolled back, naming the table.
    #[test]
    fn a_parent_table_can_be_remade_but_no_reference_may_break() {
        let steps: &[&str] = &[
            "CREATE TABLE p (id INTEGER PRIMARY KEY, extra TEXT UNIQUE) STRICT;
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id)) STRICT;
             INSERT INTO p VALUES (1, 'x'), (2, 'y');
             INSERT INTO c VALUES (10, 1), (11, 2);",
            // Remade without the UNIQUE: the rows of `c` still point at their parents.
            "CREATE TABLE p_new (id INTEGER PRIMARY KEY, extra TEXT) STRICT;
             INSERT INTO p_new SELECT id, extra FROM p;
             DROP TABLE p;
             ALTER TABLE p_new RENAME TO p;",
            // Loses a parent that a row of `c` points at.
            "DELETE FROM p WHERE id = 2;",
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        configure(&mut conn).unwrap();
        assert_eq!(migrate(&mut conn, steps, 2).unwrap(), 2);
        let enforced = |conn: &Connection| -> bool {
            conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))
                .unwrap()
        };
        assert!(enforced(&conn), "foreign keys are enforced again");
        let children: i64 = conn
            .query_row("SELECT COUNT(*) FROM c JOIN p ON p.id = c.p", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(children, 2);
        let err = migrate(&mut conn, steps, 3).unwrap_err().to_string();
        assert!(err.contains("version 3") && err.contains("`c`"), "{err}");
        assert_eq!(version(&conn).unwrap(), 2);
        assert!(enforced(&conn));
        let parents: i64 = conn
            .query_row("SELECT COUNT(*) FROM p", [], |r| r.get(0))
            .unwrap();
        assert_eq!(parents, 2, "the failed migration changed nothing");
        // Enforcement is on for ordinary writes again.
        assert!(conn.execute("INSERT INTO c VALUES (12, 99)", []).is_err());
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
