//! The change feed's reads in the SQLite store (the page itself is `store::unit::feed`): one
//! read transaction per page, so a page is one consistent snapshot of the things it names.
//!
//! A run of the hub is one process; what it handed out ends where the next run began.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};
use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::statements::SqliteUnit;
use crate::store::unit::feed::{FeedReads, LogRow};
use crate::store::{StoreError, from_json, unit};

/// The highest position the log ever reached (positions are never reused).
fn log_end(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let end: Option<i64> = tx
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(end.unwrap_or(0).unsigned_abs())
}

/// Records a run of the hub, starting where the log ends now.
pub(crate) fn record_run(
    tx: &Transaction<'_>,
    run: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO feed_runs (run, started_after, started_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(rusqlite::params![
        run,
        log_end(tx)? as i64,
        now.to_rfc3339()
    ])?;
    Ok(())
}

/// A member's snapshot, unless erased.
const MEMBER_SNAPSHOT: &str =
    "SELECT snapshot FROM members WHERE member_id = ?1 AND erased_at IS NULL";

fn member_with(
    stmt: &mut rusqlite::Statement<'_>,
    member_id: &str,
) -> Result<Option<MemberSnapshot>, StoreError> {
    let text: Option<String> = stmt.query_row([member_id], |r| r.get(0)).optional()?;
    text.map(|t| from_json("member snapshot", &t)).transpose()
}

/// A SQLite read transaction, for a feed page.
pub(crate) struct FeedTx<'a>(pub &'a Transaction<'a>);

impl FeedReads for FeedTx<'_> {
    async fn log_end(&mut self) -> Result<u64, StoreError> {
        log_end(self.0)
    }

    /// One process at a time: a run ended where the next one began; the current run has not
    /// ended (the log's end).
    async fn run_reached(&mut self, run: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.0;
        let id: Option<i64> = tx
            .prepare_cached("SELECT id FROM feed_runs WHERE run = ?1")?
            .query_row([run], |r| r.get(0))
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        let next: Option<i64> = tx
            .prepare_cached(
                "SELECT started_after FROM feed_runs WHERE id > ?1 ORDER BY id LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        match next {
            Some(end) => Ok(Some(end.unsigned_abs())),
            None => log_end(tx).map(Some),
        }
    }

    async fn log_after(&mut self, from: u64, limit: u32) -> Result<Vec<LogRow>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT pos, kind, key FROM changes WHERE pos > ?1 ORDER BY pos LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(rusqlite::params![from as i64, i64::from(limit)], |r| {
                Ok(LogRow {
                    pos: r.get::<_, i64>(0)?.unsigned_abs(),
                    kind: r.get(1)?,
                    key: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// An erased member is sent as removed (docs/design.md §7): one read, as `members::load`
    /// with the erasure's filter.
    async fn member(&mut self, member_id: &str) -> Result<Option<MemberSnapshot>, StoreError> {
        let mut stmt = self.0.prepare_cached(MEMBER_SNAPSHOT)?;
        member_with(&mut stmt, member_id)
    }

    /// A page's members with the one statement (the trait's way looks it up in the statement
    /// cache again for each member).
    async fn members(
        &mut self,
        member_ids: &[&str],
    ) -> Result<HashMap<String, MemberSnapshot>, StoreError> {
        let mut stmt = self.0.prepare_cached(MEMBER_SNAPSHOT)?;
        let mut found = HashMap::with_capacity(member_ids.len());
        for id in member_ids {
            if let Some(member) = member_with(&mut stmt, id)? {
                found.insert((*id).to_owned(), member);
            }
        }
        Ok(found)
    }

    async fn newest_rules(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT rules FROM rule_sets ORDER BY version DESC LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?)
    }

    async fn active_public_key(&mut self, key_id: u32) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT public_key FROM signing_keys WHERE key_id = ?1 AND active = 1")?
            .query_row([key_id], |r| r.get(0))
            .optional()?)
    }

    async fn signup_change(&mut self, signup_id: &str) -> Result<Option<Change>, StoreError> {
        let record = unit::signup::record(&mut SqliteUnit::new(self.0), signup_id).await?;
        Ok(record.map(unit::signup::change))
    }
}
