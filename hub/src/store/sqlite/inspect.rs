//! What `tenpo-hub doctor` reads from a hub's database: read-only, whether a hub serves it or
//! not, and whatever schema version it is at.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::store::StoreError;

/// A database as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub schema_version: u32,
    /// SQLite's `quick_check`: `"ok"`, or what is damaged.
    pub integrity: String,
    pub terminals: i64,
    pub members: i64,
    /// The latest time the hub wrote down (an event received, a run started): a clock now
    /// behind it has gone back.
    pub newest_record: Option<DateTime<Utc>>,
}

/// Reads `db` without writing to it.
pub fn inspect(db: &Path) -> Result<Inspection, StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
        StoreError::Open {
            path: db.to_owned(),
            detail: e.to_string(),
        }
    })?;
    tenpo_support::sqlite::configure_reader(&conn)?;
    let schema_version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let integrity: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    let (terminals, members) = (count("terminals"), count("members"));
    // Each is there from the schema version that made it; a table not yet made has nothing.
    let newest = |sql: &str| -> Option<DateTime<Utc>> {
        let text: Option<String> = conn
            .query_row(sql, [], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
            .flatten();
        text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let newest_record = [
        newest("SELECT max(received_at) FROM events"),
        newest("SELECT max(started_at) FROM feed_runs"),
        newest("SELECT max(enrolled_at) FROM terminals"),
    ]
    .into_iter()
    .flatten()
    .max();
    Ok(Inspection {
        schema_version,
        integrity,
        terminals,
        members,
        newest_record,
    })
}
