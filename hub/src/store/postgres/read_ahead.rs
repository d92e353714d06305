//! A push on PostgreSQL in a few round trips instead of several per event: what taking a
//! batch will read (its slots, the slots holding its event ids, the members it names, locked)
//! is read first in one query each, and its new slots are written in one statement before
//! anything reads the terminal's events again. The decisions (`unit::intake`) are unchanged:
//! they ask the same questions, and are answered from here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tenpo_protocol::events::EventBody;

use super::transaction::PgUnit;
use crate::store::unit::wishes::SentNotice;
use crate::store::unit::{MemberRow, Slot, SlotStatus};
use crate::store::{Incoming, StoreError};

/// A slot taken in this transaction and not yet written.
#[derive(Debug, Clone)]
pub(crate) struct PendingSlot {
    pub seq: i64,
    pub event_id: Option<String>,
    pub kind: Option<&'static str>,
    pub status: &'static str,
    pub reason: Option<String>,
    pub hash: String,
    pub payload: String,
    /// The member the event names (a member's history reads by it).
    pub member_id: Option<String>,
}

/// What a push has read ahead, and the slots it has taken but not written.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    /// The terminal whose push this is.
    pub terminal_id: Option<String>,
    pub slots: HashMap<u64, Option<Slot>>,
    pub by_event: HashMap<String, Option<(String, u64, String)>>,
    pub resolved: HashMap<String, Option<String>>,
    /// The members new cards' codes belong to already (their provisional members merge there).
    pub owners: HashMap<String, Option<String>>,
    /// Member rows, locked `FOR UPDATE` (in id order) when they were read.
    pub members: HashMap<String, Option<MemberRow>>,
    pub pending: Vec<PendingSlot>,
    pub pending_at: Option<DateTime<Utc>>,
    /// The wish notifications of the members read ahead, queued since the first instant
    /// (milliseconds) held: what their sales may be counted for (`unit::wishes`). A push writes
    /// none, so they stay true to its end.
    pub notices: Option<(i64, HashMap<String, Vec<SentNotice>>)>,
}

/// How far back the notifications read ahead go: the longest attribution window, and a day.
const NOTICES_BACK_MS: i64 = 91 * 86_400_000;

impl PgUnit<'_> {
    /// Reads ahead what taking `incoming` for `terminal_id` will read.
    pub(crate) async fn read_ahead(
        &mut self,
        terminal_id: &str,
        incoming: &[Incoming],
    ) -> Result<(), StoreError> {
        let seqs: Vec<i64> = incoming
            .iter()
            .filter_map(|i| i64::try_from(i.seq).ok())
            .collect();
        let events = incoming.iter().filter_map(|i| i.verdict.as_ref().ok());
        let mut event_ids: Vec<&str> = Vec::new();
        let mut named: Vec<&str> = Vec::new();
        let mut codes: Vec<&str> = Vec::new();
        for e in events {
            event_ids.push(&e.event_id);
            match &e.body {
                EventBody::MemberProvisional { member_id, code } => {
                    named.push(member_id);
                    codes.push(code);
                }
                EventBody::Sale(s) => named.extend(s.member_id.as_deref()),
                EventBody::Refund(r) => named.extend(r.member_id.as_deref()),
                EventBody::Wish(w) => named.push(&w.member_id),
            }
        }
        named.retain(|id| super::transaction::storable(id));
        codes.retain(|c| super::transaction::storable(c));
        event_ids.retain(|id| super::transaction::storable(id));
        named.sort_unstable();
        named.dedup();

        let ahead = &mut self.ahead;
        ahead.terminal_id = Some(terminal_id.to_owned());
        for &seq in &seqs {
            ahead.slots.insert(seq.unsigned_abs(), None);
        }
        for id in &event_ids {
            ahead.by_event.insert((*id).to_owned(), None);
        }
        for id in &named {
            ahead.resolved.insert((*id).to_owned(), None);
        }
        for code in &codes {
            ahead.owners.insert((*code).to_owned(), None);
        }
        let rows = self
            .query(
                "SELECT seq, status, reason, hash, payload, event_id FROM events
                 WHERE terminal_id = $1 AND seq = ANY($2)",
                &[&terminal_id, &seqs],
            )
            .await?;
        for r in rows {
            let seq: i64 = r.try_get(0)?;
            let slot = Slot {
                status: SlotStatus::parse(r.try_get(1)?)?,
                reason: r.try_get(2)?,
                hash: r.try_get(3)?,
                payload: r.try_get(4)?,
                event_id: r.try_get(5)?,
            };
            self.ahead.slots.insert(seq.unsigned_abs(), Some(slot));
        }
        let rows = self
            .query(
                "SELECT DISTINCT ON (event_id) event_id, terminal_id, seq, payload FROM events
                 WHERE event_id = ANY($1)
                 ORDER BY event_id, status = 'conflict', received_at, terminal_id, seq",
                &[&event_ids],
            )
            .await?;
        for r in rows {
            let id: String = r.try_get(0)?;
            let seq: i64 = r.try_get(2)?;
            let held = (r.try_get(1)?, seq.unsigned_abs(), r.try_get(3)?);
            self.ahead.by_event.insert(id, Some(held));
        }
        let rows = self
            .query(
                "SELECT member_id, member_id FROM members WHERE member_id = ANY($1)
                 UNION ALL
                 SELECT alias_id, member_id FROM member_aliases WHERE alias_id = ANY($1)",
                &[&named],
            )
            .await?;
        let mut real: Vec<String> = Vec::with_capacity(rows.len());
        for r in rows {
            let (name, member): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            real.push(member.clone());
            self.ahead.resolved.insert(name, Some(member));
        }
        // A new card whose code a member has already: its provisional member merges there, so
        // that member is locked with the rest.
        let rows = self
            .query(
                "SELECT code, member_id FROM member_codes WHERE code = ANY($1)",
                &[&codes],
            )
            .await?;
        for r in rows {
            let (code, member): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            real.push(member.clone());
            self.ahead.owners.insert(code, Some(member));
        }
        real.sort_unstable();
        real.dedup();
        // In id order, as every transaction takes them: two pushes naming the same members
        // wait for each other, never deadlock.
        let rows = self
            .query(
                "SELECT member_id, snapshot, home_store, notified_until_ms FROM members
                 WHERE member_id = ANY($1) ORDER BY member_id FOR UPDATE",
                &[&real],
            )
            .await?;
        for id in &real {
            self.ahead.members.insert(id.clone(), None);
        }
        for r in rows {
            let row = MemberRow {
                snapshot: r.try_get(1)?,
                home_store: r.try_get(2)?,
                notified_until_ms: r.try_get(3)?,
            };
            self.ahead.members.insert(r.try_get(0)?, Some(row));
        }
        let floor = Utc::now()
            .timestamp_millis()
            .saturating_sub(NOTICES_BACK_MS);
        // Only members notified lately (their row's mark) have notifications to read.
        let notified: Vec<&String> = self
            .ahead
            .members
            .iter()
            .filter(|(_, row)| {
                row.as_ref()
                    .and_then(|r| r.notified_until_ms)
                    .is_some_and(|until| until >= floor)
            })
            .map(|(id, _)| id)
            .collect();
        let rows = if notified.is_empty() {
            Vec::new()
        } else {
            self.query(
                "SELECT member_id, id, sku, created_ms FROM notifications
                 WHERE member_id = ANY($1) AND created_ms >= $2 ORDER BY created_ms, id",
                &[&notified, &floor],
            )
            .await?
        };
        let mut notices: HashMap<String, Vec<SentNotice>> = HashMap::new();
        for r in rows {
            notices.entry(r.try_get(0)?).or_default().push(SentNotice {
                id: r.try_get(1)?,
                sku: r.try_get(2)?,
                created_ms: r.try_get(3)?,
            });
        }
        self.ahead.notices = Some((floor, notices));
        Ok(())
    }

    /// The member's notifications since `since_ms`, when the push read them ahead.
    pub(crate) fn notices_ahead(&self, member_id: &str, since_ms: i64) -> Option<Vec<SentNotice>> {
        let (floor, by_member) = self.ahead.notices.as_ref()?;
        if since_ms < *floor || !self.ahead.members.contains_key(member_id) {
            return None;
        }
        let held = by_member.get(member_id).map_or(&[][..], Vec::as_slice);
        Some(
            held.iter()
                .filter(|n| n.created_ms >= since_ms)
                .cloned()
                .collect(),
        )
    }

    /// Writes the slots taken so far, in one statement.
    pub(crate) async fn write_pending(&mut self) -> Result<(), StoreError> {
        if self.ahead.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.ahead.pending);
        let (Some(terminal_id), Some(now)) =
            (self.ahead.terminal_id.clone(), self.ahead.pending_at)
        else {
            return Err(StoreError::Bug("slots taken outside a push".into()));
        };
        let seqs: Vec<i64> = pending.iter().map(|p| p.seq).collect();
        let ids: Vec<Option<&str>> = pending.iter().map(|p| p.event_id.as_deref()).collect();
        let kinds: Vec<Option<&str>> = pending.iter().map(|p| p.kind).collect();
        let statuses: Vec<&str> = pending.iter().map(|p| p.status).collect();
        let reasons: Vec<Option<&str>> = pending.iter().map(|p| p.reason.as_deref()).collect();
        let hashes: Vec<&str> = pending.iter().map(|p| p.hash.as_str()).collect();
        let payloads: Vec<&str> = pending.iter().map(|p| p.payload.as_str()).collect();
        let members: Vec<Option<&str>> = pending.iter().map(|p| p.member_id.as_deref()).collect();
        self.execute(
            "INSERT INTO events (terminal_id, seq, event_id, kind, status, reason, hash, payload,
                 member_id, received_at)
             SELECT $1, * , $9 FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[],
                                           $6::text[], $7::text[], $8::text[], $10::text[])",
            &[
                &terminal_id,
                &seqs,
                &ids,
                &kinds,
                &statuses,
                &reasons,
                &hashes,
                &payloads,
                &now,
                &members,
            ],
        )
        .await?;
        Ok(())
    }
}
