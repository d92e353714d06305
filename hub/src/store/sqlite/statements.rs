//! The statements of a SQLite transaction, for the decisions written once for both backends
//! (`store::unit`). Each finishes when called: `unit::finish` drives a unit of work to its
//! end on the thread that holds the connection.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_loyalty::Date;
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::MemberSnapshot;

use super::{members, outbox, profiles, signup};
use crate::store::outbox::NewMessage;
use crate::store::unit::{
    FollowingSlot, MemberRow, NewConflict, NewDiscrepancy, NewHeld, ProfileRow, Slot, SlotStatus,
    Statements,
};
use crate::store::{Incoming, StoreError};

/// One SQLite transaction, seen as a unit of work.
pub(crate) struct SqliteUnit<'a> {
    tx: &'a Transaction<'a>,
}

impl<'a> SqliteUnit<'a> {
    pub(crate) fn new(tx: &'a Transaction<'a>) -> SqliteUnit<'a> {
        SqliteUnit { tx }
    }

    pub(crate) fn tx(&self) -> &'a Transaction<'a> {
        self.tx
    }
}

impl Statements for SqliteUnit<'_> {
    async fn begin_push(&mut self, _terminal_id: &str) -> Result<(), StoreError> {
        // Every write transaction is the only one (`BEGIN IMMEDIATE` on one connection).
        Ok(())
    }

    async fn slot(&mut self, terminal_id: &str, seq: u64) -> Result<Option<Slot>, StoreError> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT status, reason, hash, payload, event_id FROM events
                 WHERE terminal_id = ?1 AND seq = ?2",
            )?
            .query_row(params![terminal_id, seq as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .optional()?;
        row.map(|(status, reason, hash, payload, event_id)| {
            Ok(Slot {
                status: SlotStatus::parse(&status)?,
                reason,
                hash,
                payload,
                event_id,
            })
        })
        .transpose()
    }

    async fn insert_slot(
        &mut self,
        terminal_id: &str,
        inc: &Incoming,
        event: Option<&Event>,
        status: SlotStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO events (terminal_id, seq, event_id, kind, status, reason, hash,
                     payload, received_at, member_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                terminal_id,
                inc.seq as i64,
                event.map(|e| e.event_id.as_str()),
                event.map(|e| e.body.kind()),
                status.as_str(),
                reason,
                inc.hash,
                inc.payload,
                now.to_rfc3339(),
                event.and_then(|e| e.body.member_id()),
            ])?;
        Ok(())
    }

    async fn record_conflict(
        &mut self,
        c: NewConflict<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let added = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO conflicts (terminal_id, seq, kind, event_id,
                     first_payload, second_payload, second_hash, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                c.terminal_id,
                c.seq as i64,
                c.kind,
                c.event_id,
                c.first_payload,
                c.second.payload,
                c.second.hash,
                now.to_rfc3339()
            ])?;
        Ok(added > 0)
    }

    async fn slot_of_event(
        &mut self,
        event_id: &str,
    ) -> Result<Option<(String, u64, String)>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT terminal_id, seq, payload FROM events WHERE event_id = ?1 LIMIT 1",
            )?
            .query_row([event_id], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs(), r.get(2)?))
            })
            .optional()?)
    }

    async fn acked_through(&mut self, terminal_id: &str) -> Result<u64, StoreError> {
        let mark: i64 = self
            .tx
            .prepare_cached("SELECT acked_through FROM terminals WHERE terminal_id = ?1")?
            .query_row([terminal_id], |r| r.get(0))?;
        Ok(mark.unsigned_abs())
    }

    async fn set_acked_through(&mut self, terminal_id: &str, mark: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE terminals SET acked_through = ?2 WHERE terminal_id = ?1")?
            .execute(params![terminal_id, mark as i64])?;
        Ok(())
    }

    async fn following(
        &mut self,
        terminal_id: &str,
        mark: u64,
    ) -> Result<Vec<FollowingSlot>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT seq, status, payload FROM events
             WHERE terminal_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![terminal_id, mark as i64])?;
        let mut run = Vec::new();
        let mut next = mark + 1;
        // Read up to the first gap only: the rows after it wait for the missing one.
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)?.unsigned_abs();
            if seq != next {
                break;
            }
            let status = SlotStatus::parse(&row.get::<_, String>(1)?)?;
            // A stored event's payload is read only if the push did not bring it.
            run.push(FollowingSlot {
                seq,
                status,
                payload: row.get(2)?,
            });
            next += 1;
        }
        Ok(run)
    }

    async fn insert_discrepancy(
        &mut self,
        d: NewDiscrepancy<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO discrepancies (terminal_id, seq, event_id, sale_id, member_id,
                     rules_version, till, hub, detail, detected_at, class)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                d.terminal_id,
                d.event.seq as i64,
                d.event.event_id,
                d.sale_id,
                d.member_id,
                d.rules_version,
                d.till_json,
                d.hub_json,
                d.detail,
                now.to_rfc3339(),
                d.class
            ])?;
        Ok(())
    }

    async fn hold(&mut self, h: NewHeld<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO held_events (terminal_id, seq, event_id, sale_id,
                     member_id, reason, till, hub, held_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                h.terminal_id,
                h.event.seq as i64,
                h.event.event_id,
                h.sale_id,
                h.member_id,
                h.reason,
                h.till_json,
                h.hub_json,
                now.to_rfc3339()
            ])?;
        Ok(())
    }

    async fn resolve(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        members::resolve(self.tx, id)
    }

    async fn code_owner(&mut self, code: &str) -> Result<Option<String>, StoreError> {
        members::code_owner(self.tx, code)
    }

    async fn is_revoked(&mut self, code: &str) -> Result<bool, StoreError> {
        members::is_revoked(self.tx, code)
    }

    async fn member_row(&mut self, member_id: &str) -> Result<Option<MemberRow>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT snapshot, home_store, notified_until_ms FROM members WHERE member_id = ?1",
            )?
            .query_row([member_id], |r| {
                Ok(MemberRow {
                    snapshot: r.get(0)?,
                    home_store: r.get(1)?,
                    notified_until_ms: r.get(2)?,
                })
            })
            .optional()?)
    }

    async fn claim_home_store(
        &mut self,
        member_id: &str,
        store_id: &str,
    ) -> Result<(), StoreError> {
        members::claim_home_store(self.tx, member_id, store_id)
    }

    async fn save_member(
        &mut self,
        member: &MemberSnapshot,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        members::save(self.tx, member, &now.to_rfc3339())
    }

    async fn insert_member(
        &mut self,
        member: &MemberSnapshot,
        birthday: Option<Date>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let birthday = birthday.map(|b| b.to_string());
        members::insert(self.tx, member, birthday.as_deref(), &now.to_rfc3339())
    }

    async fn log_change(&mut self, kind: &str, key: &str) -> Result<(), StoreError> {
        members::log_change(self.tx, kind, key)
    }

    async fn insert_alias(&mut self, alias_id: &str, member_id: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT INTO member_aliases (alias_id, member_id) VALUES (?1, ?2)")?
            .execute(params![alias_id, member_id])?;
        Ok(())
    }

    async fn line_user_of_member(&mut self, member_id: &str) -> Result<Option<String>, StoreError> {
        signup::line_user_of_member(self.tx, member_id)
    }

    async fn profile_row(&mut self, member_id: &str) -> Result<Option<ProfileRow>, StoreError> {
        profiles::profile_row(self.tx, member_id)
    }

    async fn enqueue(
        &mut self,
        dedupe_key: &str,
        member_id: Option<&str>,
        line_user_id: &str,
        message: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        outbox::enqueue(self.tx, dedupe_key, member_id, line_user_id, message, now)
    }
}
