//! The statements of a PostgreSQL transaction, for the decisions written once for both
//! backends (`store::unit`).
//!
//! Several hub processes may run the same decisions at once, so the statements lock what a
//! decision reads to change: a push holds its terminal's row (one push per terminal at a time,
//! whichever hub it reached), a member is read `FOR UPDATE`, and a transaction that logs a
//! change holds the change log's lock to its end, so feed positions commit in their order
//! (docs/design.md §12). The transaction itself and its locks are `transaction.rs`'s.

use chrono::{DateTime, NaiveDate, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::events::Event;
use tenpo_protocol::sync::MemberSnapshot;

use super::read_ahead::PendingSlot;
use super::transaction::{PgUnit, from_date, storable, to_date};
use crate::store::outbox::{NewMessage, first_state};
use crate::store::unit::{
    FollowingSlot, MemberRow, NewConflict, NewDiscrepancy, NewHeld, ProfileRow, Slot, SlotStatus,
    Statements,
};
use crate::store::{Incoming, StoreError, to_json};

impl PgUnit<'_> {
    /// Whether this is a push of `terminal_id` that reads ahead.
    fn pushing(&self, terminal_id: &str) -> bool {
        self.ahead.terminal_id.as_deref() == Some(terminal_id)
    }
}

fn seq_of(value: i64) -> u64 {
    value.unsigned_abs()
}

fn as_seq(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Invalid(format!("seq {seq} is out of range")))
}

impl Statements for PgUnit<'_> {
    async fn begin_push(&mut self, terminal_id: &str) -> Result<(), StoreError> {
        self.query_opt(
            "SELECT 1 FROM terminals WHERE terminal_id = $1 FOR UPDATE",
            &[&terminal_id],
        )
        .await?;
        Ok(())
    }

    async fn prepare_push(
        &mut self,
        terminal_id: &str,
        incoming: &[Incoming],
    ) -> Result<(), StoreError> {
        self.read_ahead(terminal_id, incoming).await
    }

    async fn slot(&mut self, terminal_id: &str, seq: u64) -> Result<Option<Slot>, StoreError> {
        if self.pushing(terminal_id)
            && let Some(known) = self.ahead.slots.get(&seq)
        {
            return Ok(known.clone());
        }
        self.write_pending().await?;
        let Some(row) = self
            .query_opt(
                "SELECT status, reason, hash, payload, event_id FROM events
                 WHERE terminal_id = $1 AND seq = $2",
                &[&terminal_id, &as_seq(seq)?],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Slot {
            status: SlotStatus::parse(row.try_get(0)?)?,
            reason: row.try_get(1)?,
            hash: row.try_get(2)?,
            payload: row.try_get(3)?,
            event_id: row.try_get(4)?,
        }))
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
        if self.pushing(terminal_id) {
            // Written with the batch's other new slots, before anything reads them.
            let slot = Slot {
                status,
                reason: reason.map(str::to_owned),
                hash: inc.hash.clone(),
                payload: inc.payload.clone(),
                event_id: event.map(|e| e.event_id.clone()),
            };
            self.ahead.slots.insert(inc.seq, Some(slot));
            if let Some(e) = event {
                let held = (terminal_id.to_owned(), inc.seq, inc.payload.clone());
                let first = self
                    .ahead
                    .by_event
                    .entry(e.event_id.clone())
                    .or_insert(None);
                if first.is_none() {
                    *first = Some(held);
                }
            }
            self.ahead.pending.push(PendingSlot {
                seq: as_seq(inc.seq)?,
                event_id: event.map(|e| e.event_id.clone()),
                kind: event.map(|e| e.body.kind()),
                status: status.as_str(),
                reason: reason.map(str::to_owned),
                hash: inc.hash.clone(),
                payload: inc.payload.clone(),
                member_id: event.and_then(|e| e.body.member_id()).map(str::to_owned),
            });
            self.ahead.pending_at = Some(now);
            return Ok(());
        }
        self.execute(
            "INSERT INTO events (terminal_id, seq, event_id, kind, status, reason, hash,
                     payload, received_at, member_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &terminal_id,
                &as_seq(inc.seq)?,
                &event.map(|e| e.event_id.as_str()),
                &event.map(|e| e.body.kind()),
                &status.as_str(),
                &reason,
                &inc.hash,
                &inc.payload,
                &now,
                &event.and_then(|e| e.body.member_id()),
            ],
        )
        .await?;
        Ok(())
    }

    async fn record_conflict(
        &mut self,
        c: NewConflict<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let added = self
            .execute(
                "INSERT INTO conflicts (terminal_id, seq, kind, event_id, first_payload,
                     second_payload, second_hash, detected_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT DO NOTHING",
                &[
                    &c.terminal_id,
                    &as_seq(c.seq)?,
                    &c.kind,
                    &c.event_id,
                    &c.first_payload,
                    &c.second.payload,
                    &c.second.hash,
                    &now,
                ],
            )
            .await?;
        Ok(added > 0)
    }

    async fn slot_of_event(
        &mut self,
        event_id: &str,
    ) -> Result<Option<(String, u64, String)>, StoreError> {
        if let Some(known) = self.ahead.by_event.get(event_id) {
            return Ok(known.clone());
        }
        self.write_pending().await?;
        let row = self
            .query_opt(
                "SELECT terminal_id, seq, payload FROM events WHERE event_id = $1
                 ORDER BY status = 'conflict', received_at, terminal_id, seq LIMIT 1",
                &[&event_id],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, seq_of(r.try_get(1)?), r.try_get(2)?)))
            .transpose()
    }

    async fn acked_through(&mut self, terminal_id: &str) -> Result<u64, StoreError> {
        self.write_pending().await?;
        let row = self
            .query_one(
                "SELECT acked_through FROM terminals WHERE terminal_id = $1",
                &[&terminal_id],
            )
            .await?;
        Ok(seq_of(row.try_get(0)?))
    }

    async fn set_acked_through(&mut self, terminal_id: &str, mark: u64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE terminals SET acked_through = $2 WHERE terminal_id = $1",
            &[&terminal_id, &as_seq(mark)?],
        )
        .await?;
        Ok(())
    }

    async fn following(
        &mut self,
        terminal_id: &str,
        mark: u64,
    ) -> Result<Vec<FollowingSlot>, StoreError> {
        self.write_pending().await?;
        // `seq - row_number()` stays `mark` up to the first gap and grows after it: only the
        // contiguous run leaves the server.
        let rows = self
            .query(
                "SELECT seq, status, payload FROM (
                     SELECT seq, status, payload,
                            seq - row_number() OVER (ORDER BY seq) AS past
                     FROM events WHERE terminal_id = $1 AND seq > $2
                 ) run
                 WHERE past = $2 ORDER BY seq",
                &[&terminal_id, &as_seq(mark)?],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FollowingSlot {
                    seq: seq_of(r.try_get(0)?),
                    status: SlotStatus::parse(r.try_get(1)?)?,
                    payload: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn insert_discrepancy(
        &mut self,
        d: NewDiscrepancy<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let version = i32::try_from(d.rules_version).unwrap_or(i32::MAX);
        self.execute(
            "INSERT INTO discrepancies (terminal_id, seq, event_id, sale_id, member_id,
                     rules_version, till, hub, detail, detected_at, class)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &d.terminal_id,
                &as_seq(d.event.seq)?,
                &d.event.event_id,
                &d.sale_id,
                &d.member_id,
                &version,
                &d.till_json,
                &d.hub_json,
                &d.detail,
                &now,
                &d.class,
            ],
        )
        .await?;
        Ok(())
    }

    async fn hold(&mut self, h: NewHeld<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO held_events (terminal_id, seq, event_id, sale_id, member_id,
                     reason, till, hub, held_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (terminal_id, seq) DO NOTHING",
            &[
                &h.terminal_id,
                &as_seq(h.event.seq)?,
                &h.event.event_id,
                &h.sale_id,
                &h.member_id,
                &h.reason,
                &h.till_json,
                &h.hub_json,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn resolve(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        if !storable(id) {
            return Ok(None);
        }
        if let Some(known) = self.ahead.resolved.get(id) {
            return Ok(known.clone());
        }
        let row = self
            .query_opt(
                "SELECT member_id FROM members WHERE member_id = $1
                 UNION ALL
                 SELECT member_id FROM member_aliases WHERE alias_id = $1
                 LIMIT 1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn code_owner(&mut self, code: &str) -> Result<Option<String>, StoreError> {
        if !storable(code) {
            return Ok(None);
        }
        if let Some(known) = self.ahead.owners.get(code) {
            return Ok(known.clone());
        }
        // Who a code names is read under the code's lock: a revocation and a first use of it
        // at another hub wait for each other.
        self.lock_code(code).await?;
        let row = self
            .query_opt(
                "SELECT member_id FROM member_codes WHERE code = $1",
                &[&code],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn is_revoked(&mut self, code: &str) -> Result<bool, StoreError> {
        // Held to the transaction's end, as a revocation holds it: a card revoked at one hub
        // while another takes it as new is decided in one order.
        self.lock_code(code).await?;
        Ok(self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM revoked_codes WHERE code = $1)",
                &[&code],
            )
            .await?
            .try_get(0)?)
    }

    async fn member_row(&mut self, member_id: &str) -> Result<Option<MemberRow>, StoreError> {
        // Read ahead (and locked) already: the first read is the one to use.
        if let Some(known) = self.ahead.members.remove(member_id) {
            return Ok(known);
        }
        // Locked to the transaction's end: another hub changing the member waits for this one.
        let row = self
            .query_opt(
                "SELECT snapshot, home_store, notified_until_ms FROM members
                 WHERE member_id = $1 FOR UPDATE",
                &[&member_id],
            )
            .await?;
        row.map(|r| {
            Ok(MemberRow {
                snapshot: r.try_get(0)?,
                home_store: r.try_get(1)?,
                notified_until_ms: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn claim_home_store(
        &mut self,
        member_id: &str,
        store_id: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE members SET home_store = $2 WHERE member_id = $1 AND home_store IS NULL",
            &[&member_id, &store_id],
        )
        .await?;
        Ok(())
    }

    async fn save_members(
        &mut self,
        members: &[&MemberSnapshot],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        let snapshots = members
            .iter()
            .map(to_json)
            .collect::<Result<Vec<String>, _>>()?;
        self.execute(
            "UPDATE members m SET snapshot = u.snapshot, updated_at = $3
             FROM UNNEST($1::text[], $2::text[]) AS u (member_id, snapshot)
             WHERE m.member_id = u.member_id",
            &[&ids, &snapshots, &now],
        )
        .await?;
        self.take_change_log().await?;
        self.execute(
            "INSERT INTO changes (kind, key) SELECT 'member', k FROM UNNEST($1::text[]) AS k
             ON CONFLICT (kind, key) DO UPDATE SET pos = nextval('changes_pos')",
            &[&ids],
        )
        .await?;
        Ok(())
    }

    async fn save_member(
        &mut self,
        member: &MemberSnapshot,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE members SET snapshot = $2, updated_at = $3 WHERE member_id = $1",
            &[&member.member_id, &to_json(member)?, &now],
        )
        .await?;
        self.log_change("member", &member.member_id).await
    }

    async fn insert_member(
        &mut self,
        member: &MemberSnapshot,
        birthday: Option<Date>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let birthday = birthday.and_then(to_date);
        self.execute(
            "INSERT INTO members (member_id, number, snapshot, birthday, created_at,
                     updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            &[
                &member.member_id,
                &member.number,
                &to_json(member)?,
                &birthday,
                &now,
            ],
        )
        .await?;
        for c in &member.codes {
            self.execute(
                "INSERT INTO member_codes (code, member_id) VALUES ($1, $2)",
                &[c, &member.member_id],
            )
            .await?;
        }
        let id = member.member_id.clone();
        for c in &member.codes {
            self.ahead.owners.insert(c.clone(), Some(id.clone()));
        }
        self.ahead.resolved.insert(id.clone(), Some(id));
        self.log_change("member", &member.member_id).await
    }

    async fn log_change(&mut self, kind: &str, key: &str) -> Result<(), StoreError> {
        PgUnit::log_change(self, kind, key).await
    }

    async fn insert_alias(&mut self, alias_id: &str, member_id: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO member_aliases (alias_id, member_id) VALUES ($1, $2)",
            &[&alias_id, &member_id],
        )
        .await?;
        self.ahead
            .resolved
            .insert(alias_id.to_owned(), Some(member_id.to_owned()));
        Ok(())
    }

    async fn line_user_of_member(&mut self, member_id: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt(
                "SELECT line_user_id FROM line_users WHERE member_id = $1",
                &[&member_id],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn profile_row(&mut self, member_id: &str) -> Result<Option<ProfileRow>, StoreError> {
        let row = self
            .query_opt(
                "SELECT p.language, p.marketing, p.channel, p.name, p.email, m.birthday
                 FROM members m LEFT JOIN member_profiles p ON p.member_id = m.member_id
                 WHERE m.member_id = $1",
                &[&member_id],
            )
            .await?;
        row.map(|r| {
            Ok(ProfileRow {
                language: r.try_get(0)?,
                marketing: r.try_get(1)?,
                channel: r.try_get(2)?,
                name: r.try_get(3)?,
                email: r.try_get(4)?,
                birthday: r.try_get::<_, Option<NaiveDate>>(5)?.and_then(from_date),
            })
        })
        .transpose()
    }

    async fn enqueue(
        &mut self,
        dedupe_key: &str,
        member_id: Option<&str>,
        line_user_id: &str,
        message: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let following: Option<bool> = self
            .query_opt(
                "SELECT following FROM line_friends WHERE line_user_id = $1",
                &[&line_user_id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let (action, body) = message.action.to_parts();
        let (state, error) = first_state(following);
        let now_ms = now.timestamp_millis();
        let expires = message
            .expires_after
            .map(|d| now_ms.saturating_add(d.num_milliseconds()));
        // Counted as it is queued (schema 7): the row of counts written is the message's.
        let written = self
            .execute(
                "WITH queued AS (
                     INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class,
                         channel, action, body, state, last_error, not_before_ms, expires_at_ms,
                         created_at)
                     VALUES ($1, $2, $3, $4, $5, 'line', $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT DO NOTHING
                     RETURNING state)
                 INSERT INTO message_tallies AS t (state, shard, n)
                     SELECT state, pg_backend_pid(), 1 FROM queued
                     ON CONFLICT (state, shard) DO UPDATE SET n = t.n + EXCLUDED.n",
                &[
                    &dedupe_key,
                    &member_id,
                    &line_user_id,
                    &message.scenario,
                    &message.class.as_str(),
                    &action,
                    &body,
                    &state,
                    &error,
                    &now_ms,
                    &expires,
                    &now,
                ],
            )
            .await?;
        Ok(written == 1)
    }
}
