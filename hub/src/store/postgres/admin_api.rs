//! What the admin API needs of the store ([`AdminStore`]) on PostgreSQL, with several hub
//! processes on one database.
//!
//! The writes (imports, coupons, revocation, a decision on a held outcome) are the decisions
//! of `store::unit` over [`PgUnit`], each one transaction run again when another hub's got in
//! its way. The rest are listings, read as the SQLite store reads them: the same order, the
//! same pages after the same cursors, the same times as RFC 3339 text. Stored text that should
//! be JSON is JSON if it parses, else text (PostgreSQL has no `json_valid`, and one bad row must
//! not fail a listing).

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tokio_postgres::{IsolationLevel, Row};

use super::admin::{HELD_COLUMNS, held_view};
use super::store::PgStore;
use super::transaction::{PgUnit, storable};
use crate::admin::{
    ConflictView, CouponReport, CouponRequest, DiscrepancyView, EventAudit, HeldAction, HeldView,
    ImportReport, ImportRow, Revoked, TerminalEvents, TerminalView,
};
use crate::store::outbox::HomeStores;
use crate::store::unit::{self, audit::SlotRow};
use crate::store::{AdminStore, StoreError, json_or_text};

/// An event slot's columns for the audit path, as [`slot_row`] reads them: the slot, its held
/// outcome if any, and the classes of its discrepancies (`d`, grouped by seq, joined by the
/// caller).
const SLOT_COLUMNS: &str = "e.seq, e.event_id, e.kind, e.status, e.reason, e.hash, \
     e.received_at, e.payload, h.resolution, h.id IS NOT NULL, d.classes";

/// The discrepancies' classes of terminal `$1`'s slots, one row per seq: read once for a page
/// rather than once per slot (nothing indexes discrepancies by slot).
const CLASSES_BY_SEQ: &str = "SELECT seq, array_agg(class ORDER BY id) AS classes \
     FROM discrepancies WHERE terminal_id = $1 GROUP BY seq";

fn slot_row(r: &Row) -> Result<SlotRow, StoreError> {
    Ok(SlotRow {
        seq: r.try_get::<_, i64>(0)?.unsigned_abs(),
        event_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        status: r.try_get(3)?,
        reason: r.try_get(4)?,
        hash: r.try_get(5)?,
        received_at: r.try_get::<_, DateTime<Utc>>(6)?.to_rfc3339(),
        payload: r.try_get(7)?,
        resolution: r.try_get(8)?,
        held: r.try_get(9)?,
        discrepancies: r.try_get::<_, Option<Vec<String>>>(10)?.unwrap_or_default(),
    })
}

/// Whether a stored event's payload is about sale `sale_id` (a sale, or a refund of it).
fn names_sale(payload: &str, sale_id: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(payload)
        .is_ok_and(|event| event.pointer("/body/sale_id").and_then(|v| v.as_str()) == Some(sale_id))
}

fn no_terminal(terminal_id: &str) -> StoreError {
    StoreError::NotFound(format!("no terminal {terminal_id} is enrolled"))
}

/// The terminal's store and mark, in the caller's snapshot.
async fn terminal_mark(db: &PgUnit<'_>, terminal_id: &str) -> Result<(String, u64), StoreError> {
    if !storable(terminal_id) {
        return Err(no_terminal(terminal_id));
    }
    let row = db
        .query_opt(
            "SELECT store_id, acked_through FROM terminals WHERE terminal_id = $1",
            &[&terminal_id],
        )
        .await?
        .ok_or_else(|| no_terminal(terminal_id))?;
    Ok((row.try_get(0)?, row.try_get::<_, i64>(1)?.unsigned_abs()))
}

impl PgStore {
    /// The terminal's slots `query` selects (with [`SLOT_COLUMNS`]; `$1` is the terminal),
    /// read with its mark in one snapshot; only those `keep` keeps.
    async fn audit(
        &self,
        terminal_id: &str,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        keep: impl Fn(&SlotRow) -> bool,
    ) -> Result<TerminalEvents, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let db = PgUnit::new(&tx);
        let (store_id, acked_through) = terminal_mark(&db, terminal_id).await?;
        let mut events: Vec<EventAudit> = Vec::new();
        for row in db.query(query, params).await? {
            let slot = slot_row(&row)?;
            if keep(&slot) {
                events.push(slot.audit(acked_through));
            }
        }
        tx.commit().await?;
        Ok(TerminalEvents {
            terminal_id: terminal_id.to_owned(),
            store_id,
            acked_through,
            events,
        })
    }
}

impl AdminStore for PgStore {
    async fn import_members(
        &self,
        rows: Vec<ImportRow>,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let rules = self.newest_rules().await?.ok_or(StoreError::NoRuleSet)?;
        // Two hubs importing the same card at once: the second's new code row waits for the
        // first, then runs again and finds the card taken.
        self.retrying(|mut client| {
            let (rules, rows) = (&rules, &rows);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let report = unit::cards::import_members(&mut db, rules, rows, today, now).await?;
                tx.commit().await?;
                Ok(report)
            }
        })
        .await
    }

    async fn issue_coupons(
        &self,
        request: CouponRequest,
        stores: HomeStores,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<CouponReport, StoreError> {
        let planner = self.planner();
        self.retrying(|mut client| {
            let (request, stores, planner) = (&request, &stores, planner.as_deref());
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let report = unit::coupons::issue_coupons(
                    &mut db,
                    request,
                    stores,
                    planner,
                    self.epoch(),
                    today,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(report)
            }
        })
        .await
    }

    async fn revoke_code(&self, code: String, now: DateTime<Utc>) -> Result<Revoked, StoreError> {
        self.retrying(|mut client| {
            let code = &code;
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let revoked = unit::cards::revoke_code(&mut db, code, now).await?;
                tx.commit().await?;
                Ok(revoked)
            }
        })
        .await
    }

    async fn conflicts(&self, after: i64, limit: u32) -> Result<Vec<ConflictView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, terminal_id, seq, kind, event_id, first_payload, second_payload,
                        detected_at
                 FROM conflicts WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&after, &i64::from(limit)]).await?;
        rows.iter()
            .map(|r| {
                Ok(ConflictView {
                    id: r.try_get(0)?,
                    terminal_id: r.try_get(1)?,
                    seq: r.try_get::<_, i64>(2)?.unsigned_abs(),
                    kind: r.try_get(3)?,
                    event_id: r.try_get(4)?,
                    first: json_or_text(r.try_get(5)?),
                    second: json_or_text(r.try_get(6)?),
                    detected_at: r.try_get::<_, DateTime<Utc>>(7)?.to_rfc3339(),
                })
            })
            .collect()
    }

    async fn discrepancies(
        &self,
        after: i64,
        limit: u32,
        class: Option<String>,
    ) -> Result<Vec<DiscrepancyView>, StoreError> {
        if class.as_deref().is_some_and(|c| !storable(c)) {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, terminal_id, seq, event_id, sale_id, member_id, rules_version, till,
                        hub, detail, detected_at, class
                 FROM discrepancies WHERE id > $1 AND ($3::text IS NULL OR class = $3)
                 ORDER BY id LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&after, &i64::from(limit), &class])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DiscrepancyView {
                    id: r.try_get(0)?,
                    terminal_id: r.try_get(1)?,
                    seq: r.try_get::<_, i64>(2)?.unsigned_abs(),
                    event_id: r.try_get(3)?,
                    sale_id: r.try_get(4)?,
                    member_id: r.try_get(5)?,
                    rules_version: r.try_get::<_, i32>(6)?.unsigned_abs(),
                    till: json_or_text(r.try_get(7)?),
                    hub: json_or_text(r.try_get(8)?),
                    detail: r.try_get(9)?,
                    detected_at: r.try_get::<_, DateTime<Utc>>(10)?.to_rfc3339(),
                    class: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn held(
        &self,
        after: i64,
        limit: u32,
        open_only: bool,
    ) -> Result<Vec<HeldView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {HELD_COLUMNS} FROM held_events
                 WHERE id > $1 AND (NOT $3 OR resolution IS NULL) ORDER BY id LIMIT $2"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&after, &i64::from(limit), &open_only])
            .await?;
        rows.iter().map(held_view).collect()
    }

    async fn resolve_held(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<HeldView, StoreError> {
        // Two hubs asked at once: the held outcome's row is locked, so the second waits and
        // finds it decided.
        self.retrying(|mut client| {
            let (terminal_id, reason) = (&terminal_id, &reason);
            async move {
                self.refresh_rules(&client).await?;
                let rules = |v| self.rules(v);
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let view = unit::review::resolve_held(
                    &mut db,
                    &rules,
                    terminal_id,
                    seq,
                    action,
                    reason,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(view)
            }
        })
        .await
    }

    async fn terminals(&self, after: String, limit: u32) -> Result<Vec<TerminalView>, StoreError> {
        // Ids compared byte by byte, as SQLite compares them, whatever the database's
        // collation: the pages are the same on both. No id holds a NUL, so an `after` with one
        // pages as the text before it does.
        let after = after.split('\0').next().unwrap_or_default();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT t.terminal_id, t.store_id, t.enrolled_at, t.acked_through,
                        (SELECT count(*) FROM events e WHERE e.terminal_id = t.terminal_id),
                        (SELECT max(e.received_at) FROM events e
                         WHERE e.terminal_id = t.terminal_id)
                 FROM terminals t WHERE t.terminal_id COLLATE \"C\" > $1
                 ORDER BY t.terminal_id COLLATE \"C\" LIMIT $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&after, &i64::from(limit)]).await?;
        rows.iter()
            .map(|r| {
                Ok(TerminalView {
                    terminal_id: r.try_get(0)?,
                    store_id: r.try_get(1)?,
                    enrolled_at: r.try_get::<_, DateTime<Utc>>(2)?.to_rfc3339(),
                    acked_through: r.try_get::<_, i64>(3)?.unsigned_abs(),
                    events_held: r.try_get::<_, i64>(4)?.unsigned_abs(),
                    last_received_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(5)?
                        .map(|t| t.to_rfc3339()),
                })
            })
            .collect()
    }

    async fn terminal_events(
        &self,
        terminal_id: String,
        after: u64,
        limit: u32,
    ) -> Result<TerminalEvents, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let query = format!(
            "SELECT {SLOT_COLUMNS} FROM events e
             LEFT JOIN held_events h ON h.terminal_id = e.terminal_id AND h.seq = e.seq
             LEFT JOIN ({CLASSES_BY_SEQ}) d ON d.seq = e.seq
             WHERE e.terminal_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&terminal_id, &after, &i64::from(limit)];
        self.audit(&terminal_id, &query, &params, |_| true).await
    }

    async fn terminal_sale(
        &self,
        terminal_id: String,
        sale_id: String,
    ) -> Result<TerminalEvents, StoreError> {
        // The server narrows the slots to those whose text holds the sale id as written, or
        // any escape (`\`: the id may be written escaped); which of those name the sale is
        // decided here, on the parsed event.
        let needle = storable(&sale_id).then_some(sale_id.as_str());
        let query = format!(
            "SELECT {SLOT_COLUMNS} FROM events e
             LEFT JOIN held_events h ON h.terminal_id = e.terminal_id AND h.seq = e.seq
             LEFT JOIN ({CLASSES_BY_SEQ}) d ON d.seq = e.seq
             WHERE e.terminal_id = $1 AND e.kind IN ('sale', 'refund')
               AND (strpos(e.payload, $2) > 0 OR strpos(e.payload, chr(92)) > 0)
             ORDER BY e.seq"
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&terminal_id, &needle];
        let found = self
            .audit(&terminal_id, &query, &params, |slot| {
                names_sale(&slot.payload, &sale_id)
            })
            .await?;
        if found.events.is_empty() {
            return Err(StoreError::NotFound(format!(
                "terminal {terminal_id} has sent no sale {sale_id} (yet): check the till's \
                 pending events with `tenpo-agent status`"
            )));
        }
        Ok(found)
    }
}
