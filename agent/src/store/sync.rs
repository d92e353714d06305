//! The outbox as the sync engine sees it: what is pending, the hub's acknowledgement mark (it
//! only moves up), quarantine, and the change feed's cursor (stored in the same transaction as
//! the changes it covers).

use rusqlite::params;

use super::{Store, StoreError, WriteTx, meta};

/// `meta` keys.
const ACKED: &str = "acked_through_seq";
const CURSOR: &str = "feed_cursor";

/// The points this till redeemed for a member on a day since the hub's mark, read from the
/// index of sales that redeemed points (schema 6: the sales that redeemed nothing, nearly
/// all, are not in it, so a sale that redeems nothing writes no page of it).
pub(crate) const UNSYNCED_REDEMPTIONS: &str = "SELECT COALESCE(SUM(redeemed_points), 0) FROM sales
     WHERE member_id = ?1 AND business_date = ?2 AND redeemed_points > 0 AND seq > ?3";

impl Store {
    /// Up to `limit` events after `after_seq`, in order.
    /// Events after `after_seq`, as `(seq, the bytes stored when each was recorded)`: a push
    /// sends those bytes unchanged (docs/design.md §4).
    pub fn pending_events(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((r.get::<_, i64>(0)?.unsigned_abs(), r.get::<_, String>(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The change feed's cursor; empty before the first full snapshot.
    pub fn feed_cursor(&self) -> Result<String, StoreError> {
        self.read(|c| Ok(meta(c, CURSOR)?.unwrap_or_default()))
    }

    /// The recording time of the oldest event the hub has not acknowledged.
    pub fn oldest_pending(&self) -> Result<Option<String>, StoreError> {
        self.read(oldest_pending)
    }
}

impl super::ReadOnly {
    /// [`Store::oldest_pending`], read-only (for `doctor`, while the agent may run).
    pub fn oldest_pending(&self) -> Result<Option<String>, StoreError> {
        oldest_pending(&self.conn)
    }
}

fn oldest_pending(c: &rusqlite::Connection) -> Result<Option<String>, StoreError> {
    let acked = meta(c, ACKED)?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(
        c.prepare_cached("SELECT recorded_at FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1")?
            .query_row([acked], |r| r.get(0))
            .ok(),
    )
}

impl WriteTx<'_> {
    pub fn acked_through(&self) -> Result<u64, StoreError> {
        Ok(self.meta(ACKED)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Moves the hub's acknowledgement mark up to `mark`; never down, never past the last event.
    pub fn advance_acked(&self, mark: u64) -> Result<u64, StoreError> {
        let last: i64 = self
            .tx
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM outbox")?
            .query_row([], |r| r.get(0))?;
        let current = self.acked_through()?;
        let next = current.max(mark.min(last.unsigned_abs()));
        if next != current {
            self.set_meta(ACKED, &next.to_string())?;
        }
        Ok(next)
    }

    /// Records that the hub refused an event, for IT to inspect; the queue goes on past it.
    pub fn quarantine(&self, seq: u64, reason: &str, now: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO quarantine (seq, reason, quarantined_at) VALUES (?1, ?2, ?3)")?
            .execute(params![seq as i64, reason, now])?;
        Ok(())
    }

    pub fn feed_cursor(&self) -> Result<String, StoreError> {
        Ok(self.meta(CURSOR)?.unwrap_or_default())
    }

    /// Stamps every event the hub has not acknowledged with the terminal's enrolled identity:
    /// a till that ran standalone and then enrols keeps its unsent sales. Nothing was sent
    /// under the old identity, so no hub holds another version of these events. Returns how
    /// many events were re-stamped.
    pub fn restamp_unsent(&self, who: &super::Identity) -> Result<u64, StoreError> {
        let acked = self.acked_through()?;
        let n = self
            .tx
            .prepare_cached(
                "UPDATE outbox SET payload = json_set(payload, '$.store_id', ?1, '$.terminal_id', ?2)
                 WHERE seq > ?3 AND (json_extract(payload, '$.store_id') <> ?1
                                     OR json_extract(payload, '$.terminal_id') <> ?2)",
            )?
            .execute(params![who.store_id, who.terminal_id, acked as i64])?;
        Ok(n as u64)
    }

    /// Points this terminal redeemed for a member on a business day that the hub has not
    /// acknowledged yet.
    pub fn unsynced_redemptions(
        &self,
        member_id: &str,
        date: tenpo_loyalty::Date,
    ) -> Result<i64, StoreError> {
        let acked = self.acked_through()?;
        Ok(self
            .tx
            .prepare_cached(UNSYNCED_REDEMPTIONS)?
            .query_row(params![member_id, date.to_string(), acked as i64], |r| {
                r.get(0)
            })?)
    }

    pub fn set_feed_cursor(&self, cursor: &str) -> Result<(), StoreError> {
        self.set_meta(CURSOR, cursor)
    }
}
