//! [`ConsoleStore`] on PostgreSQL: each change one transaction with its audit entry, tried
//! again when another hub's transaction got in its way.

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Adjusted, Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::PgStore;
use super::console::{self as pg, TERMINAL_HEALTH};
use super::transaction::PgUnit;
use crate::admin::{CouponReport, CouponRequest, HeldAction, HeldView};
use crate::store::console::{
    Actor, ConsoleStore, Found, HistoryPage, MemberFile, SignupFact, StaffActionView,
    TerminalHealth, TerminalReport,
};
use crate::store::outbox::NewMessage;
use crate::store::privacy::Erasure;
use crate::store::unit::{self, console::HistoryCursor};
use crate::store::{StoreError, from_json};

/// Runs `$body` (with `$db`, a [`PgUnit`]) in one transaction, again on contention.
macro_rules! in_transaction {
    ($store:expr, |$db:ident| $body:expr) => {
        $store
            .retrying(|mut client| async move {
                let tx = client.transaction().await?;
                #[allow(unused_mut)]
                let mut $db = PgUnit::new(&tx);
                let value = $body;
                tx.commit().await?;
                Ok(value)
            })
            .await
    };
}
pub(super) use in_transaction;

impl ConsoleStore for PgStore {
    async fn staff_actions(
        &self,
        before: Option<i64>,
        limit: u32,
        member_id: Option<String>,
    ) -> Result<Vec<StaffActionView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, at, staff, action, member_id, reason, detail FROM staff_actions
                 WHERE id < $1 AND ($2::text IS NULL OR member_id = $2)
                 ORDER BY id DESC LIMIT $3",
            )
            .await?;
        let before = before.unwrap_or(i64::MAX);
        client
            .query(&stmt, &[&before, &member_id, &i64::from(limit)])
            .await?
            .iter()
            .map(pg::action)
            .collect()
    }

    async fn find_member(&self, code: String) -> Result<Found, StoreError> {
        let code = code.trim().to_owned();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let db = PgUnit::new(&tx);
        if let Some(r) = db
            .query_opt(
                "SELECT member_id FROM member_codes WHERE code = $1",
                &[&code],
            )
            .await?
        {
            let owner: String = r.try_get(0)?;
            return Ok(match pg::member_file(&db, &owner).await? {
                Some(file) => Found::Member(Box::new(file)),
                None => Found::Nobody,
            });
        }
        let revoked = db
            .query_opt(
                "SELECT member_id, revoked_at FROM revoked_codes WHERE code = $1",
                &[&code],
            )
            .await?;
        Ok(match revoked {
            Some(r) => Found::Revoked {
                code,
                member_id: r.try_get(0)?,
                revoked_at: r.try_get::<_, DateTime<Utc>>(1)?.to_rfc3339(),
            },
            None => Found::Nobody,
        })
    }

    async fn member_file(&self, member_id: String) -> Result<Option<MemberFile>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let db = PgUnit::new(&tx);
        let real = match db
            .query_opt(
                "SELECT member_id FROM members WHERE member_id = $1
                 UNION ALL SELECT member_id FROM member_aliases WHERE alias_id = $1 LIMIT 1",
                &[&member_id],
            )
            .await?
        {
            Some(r) => r.try_get::<_, String>(0)?,
            None => return Ok(None),
        };
        pg::member_file(&db, &real).await
    }

    async fn member_history(
        &self,
        member: MemberSnapshot,
        older: Option<String>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        let cursor = older.as_deref().map(HistoryCursor::parse).transpose()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let db = PgUnit::new(&tx);
        let mut ids = vec![member.member_id.clone()];
        ids.extend(member.merged_ids.iter().cloned());
        let more = limit.saturating_add(1);
        let mut rows = pg::history_events(&db, &ids, cursor.as_ref(), more).await?;
        rows.extend(pg::history_actions(&db, &member.member_id, cursor.as_ref(), more).await?);
        Ok(unit::console::history_page(rows, limit))
    }

    async fn adjust_points(
        &self,
        member_id: String,
        delta: i64,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<Adjusted, StoreError> {
        let rules = self.newest_rules().await?.ok_or(StoreError::NoRuleSet)?;
        let (rules, member_id, actor) = (&rules, &member_id, &actor);
        in_transaction!(self, |db| {
            unit::console::adjust_points(&mut db, rules, member_id, delta, actor, today, now)
                .await?
        })
    }

    async fn replace_card(
        &self,
        member_id: String,
        old_code: String,
        new_code: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (member_id, old, new, actor) = (&member_id, &old_code, &new_code, &actor);
        in_transaction!(self, |db| {
            unit::console::replace_card(&mut db, member_id, old, new, actor, now).await?
        })
    }

    async fn unlink_member_line(
        &self,
        member_id: String,
        goodbye: Option<NewMessage>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (member_id, goodbye, actor) = (&member_id, goodbye.as_ref(), &actor);
        in_transaction!(self, |db| {
            unit::console::unlink_member_line(&mut db, member_id, goodbye, actor, now).await?
        })
    }

    async fn member_export(
        &self,
        member_id: String,
        actor: Option<Actor>,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, StoreError> {
        let (member_id, actor) = (&member_id, actor.as_ref());
        in_transaction!(self, |db| {
            unit::privacy::export(&mut db, member_id, actor, now).await?
        })
    }

    async fn erase_member(
        &self,
        member_id: String,
        goodbye: Option<NewMessage>,
        forfeit: bool,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<Erasure, StoreError> {
        let rules = self.newest_rules().await?.ok_or(StoreError::NoRuleSet)?;
        let (rules, member_id, goodbye, actor) = (&rules, &member_id, goodbye.as_ref(), &actor);
        in_transaction!(self, |db| {
            unit::privacy::erase(
                &mut db, rules, member_id, goodbye, forfeit, actor, today, now,
            )
            .await?
        })
    }

    async fn issue_member_coupon(
        &self,
        member_id: String,
        request: CouponRequest,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<CouponReport, StoreError> {
        let planner = self.planner();
        let (member_id, request, actor, planner) =
            (&member_id, &request, &actor, planner.as_deref());
        in_transaction!(self, |db| {
            unit::console::issue_member_coupon(
                &mut db,
                member_id,
                request.clone(),
                planner,
                self.epoch(),
                actor,
                today,
                now,
            )
            .await?
        })
    }

    async fn resolve_held_by(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<HeldView, StoreError> {
        let (terminal_id, actor) = (&terminal_id, &actor);
        self.retrying(|mut client| async move {
            self.refresh_rules(&client).await?;
            let rules = |v| self.rules(v);
            let tx = client.transaction().await?;
            let mut db = PgUnit::new(&tx);
            let view =
                unit::console::resolve_held(&mut db, &rules, terminal_id, seq, action, actor, now)
                    .await?;
            tx.commit().await?;
            Ok(view)
        })
        .await
    }

    async fn load_rules_by(
        &self,
        rules: RuleSet,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (rules, actor) = (&rules, &actor);
        self.retrying(|mut client| async move {
            let tx = client.transaction().await?;
            let mut db = PgUnit::new(&tx);
            unit::console::load_rules(&mut db, rules, actor, now).await?;
            tx.commit().await?;
            self.refresh_rules(&client).await
        })
        .await
    }

    async fn rule_sets(&self) -> Result<Vec<RuleSet>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT rules FROM rule_sets ORDER BY version")
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|r| from_json("rule set", r.try_get(0)?))
            .collect()
    }

    async fn record_terminal_report(
        &self,
        terminal_id: String,
        report: TerminalReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE terminals SET agent_version = $2, outbox_seq = $3, clock_skew_ms = $4,
                     reported_at = $5
                 WHERE terminal_id = $1",
            )
            .await?;
        let seq = i64::try_from(report.outbox_seq).unwrap_or(i64::MAX);
        client
            .execute(
                &stmt,
                &[
                    &terminal_id,
                    &report.agent_version,
                    &seq,
                    &report.clock_skew_ms,
                    &now,
                ],
            )
            .await?;
        Ok(())
    }

    async fn terminal_health(&self) -> Result<Vec<TerminalHealth>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(TERMINAL_HEALTH).await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(pg::terminal_health)
            .collect()
    }

    async fn signups_since(&self, since: DateTime<Utc>) -> Result<Vec<SignupFact>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT store_id, completed_at FROM signups WHERE completed_at >= $1
                 AND kind = 'signup' AND NOT existing_member ORDER BY completed_at",
            )
            .await?;
        client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| {
                Ok(SignupFact {
                    store_id: r.try_get(0)?,
                    completed_at: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn members_page(
        &self,
        after: String,
        limit: u32,
    ) -> Result<Vec<MemberSnapshot>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT snapshot FROM members WHERE member_id > $1 ORDER BY member_id
                 LIMIT $2",
            )
            .await?;
        client
            .query(&stmt, &[&after, &i64::from(limit)])
            .await?
            .iter()
            .map(|r| from_json("member snapshot", r.try_get(0)?))
            .collect()
    }

    async fn linked_members(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM line_users")
            .await?;
        let n: i64 = client.query_one(&stmt, &[]).await?.try_get(0)?;
        Ok(n.unsigned_abs())
    }

    async fn point_events(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> Result<Vec<(String, u64, String)>, StoreError> {
        let (terminal, seq) = after.unwrap_or_default();
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT terminal_id, seq, payload FROM events
                 WHERE (terminal_id, seq) > ($1, $2)
                   AND status = 'stored' AND kind IN ('sale', 'refund')
                 ORDER BY terminal_id, seq LIMIT $3",
            )
            .await?;
        client
            .query(&stmt, &[&terminal, &seq, &i64::from(limit)])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get::<_, i64>(1)?.unsigned_abs(),
                    r.try_get(2)?,
                ))
            })
            .collect()
    }
}
