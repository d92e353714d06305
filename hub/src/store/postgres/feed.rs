//! The change feed's reads on PostgreSQL (the page itself is `store::unit::feed`).
//!
//! Several hub processes serve the feed at once, so a run (one process) does not end where
//! the next begins: each run records how far the log had got when it last handed out a cursor
//! (`feed_runs.reached`), before the cursor leaves the hub. A cursor is good at every hub up
//! to there; a database restored from a backup holds the runs' marks as they were then, so a
//! cursor handed out after the backup is seen to be ahead, and its terminal starts again.

use std::collections::HashMap;

use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::transaction::PgUnit;
use crate::store::unit::feed::{FeedReads, LogRow};
use crate::store::{StoreError, from_json};

/// The highest position the log ever reached.
pub(crate) const LOG_END: &str =
    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes_pos";

impl FeedReads for PgUnit<'_> {
    async fn log_end(&mut self) -> Result<u64, StoreError> {
        let end: i64 = self.query_one(LOG_END, &[]).await?.try_get(0)?;
        Ok(end.unsigned_abs())
    }

    async fn run_reached(&mut self, run: &str) -> Result<Option<u64>, StoreError> {
        let row = self
            .query_opt(
                "SELECT GREATEST(started_after, COALESCE(reached, 0)) FROM feed_runs
                 WHERE run = $1",
                &[&run],
            )
            .await?;
        Ok(row
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?
            .map(i64::unsigned_abs))
    }

    async fn log_after(&mut self, from: u64, limit: u32) -> Result<Vec<LogRow>, StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT pos, kind, key FROM changes WHERE pos > $1 ORDER BY pos LIMIT $2",
                &[&from, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    pos: r.try_get::<_, i64>(0)?.unsigned_abs(),
                    kind: r.try_get(1)?,
                    key: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn member(&mut self, member_id: &str) -> Result<Option<MemberSnapshot>, StoreError> {
        let row = self
            .query_opt(
                "SELECT snapshot FROM members WHERE member_id = $1",
                &[&member_id],
            )
            .await?;
        row.map(|r| from_json("member snapshot", r.try_get(0)?))
            .transpose()
    }

    async fn members(
        &mut self,
        member_ids: &[&str],
    ) -> Result<HashMap<String, MemberSnapshot>, StoreError> {
        let rows = self
            .query(
                // An erased member is sent as removed (docs/design.md §7).
                "SELECT member_id, snapshot FROM members
                 WHERE member_id = ANY($1) AND erased_at IS NULL",
                &[&member_ids],
            )
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in rows {
            let snapshot: MemberSnapshot = from_json("member snapshot", r.try_get(1)?)?;
            found.insert(r.try_get(0)?, snapshot);
        }
        Ok(found)
    }

    async fn newest_rules(&mut self) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt(
                "SELECT rules FROM rule_sets ORDER BY version DESC LIMIT 1",
                &[],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn active_public_key(&mut self, key_id: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let key_id = i32::try_from(key_id).unwrap_or(i32::MAX);
        let row = self
            .query_opt(
                "SELECT public_key FROM signing_keys WHERE key_id = $1 AND active",
                &[&key_id],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn signup_change(&mut self, signup_id: &str) -> Result<Option<Change>, StoreError> {
        let record = crate::store::unit::signup::record(self, signup_id).await?;
        Ok(record.map(crate::store::unit::signup::change))
    }
}
