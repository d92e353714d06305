//! [`ConsoleStore`] on SQLite: each change one write transaction with its audit entry.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Adjusted, Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::connection::{Durability, Inner};
use super::statements::SqliteUnit;
use super::{SqliteStore, console};
use crate::admin::{CouponReport, CouponRequest, HeldAction, HeldView};
use crate::store::console::{
    Actor, ConsoleStore, Found, HistoryPage, MemberFile, SignupFact, StaffActionView,
    TerminalHealth, TerminalReport,
};
use crate::store::outbox::NewMessage;
use crate::store::privacy::Erasure;
use crate::store::unit::{self, console::HistoryCursor};
use crate::store::{StoreError, from_json};

impl ConsoleStore for SqliteStore {
    async fn staff_actions(
        &self,
        before: Option<i64>,
        limit: u32,
        member_id: Option<String>,
    ) -> Result<Vec<StaffActionView>, StoreError> {
        self.blocking(move |inner| {
            inner.read(|tx| console::staff_actions(tx, before, limit, member_id.as_deref()))
        })
        .await
    }

    async fn find_member(&self, code: String) -> Result<Found, StoreError> {
        self.blocking(move |inner| inner.read(|tx| console::find_member(tx, &code)))
            .await
    }

    async fn member_file(&self, member_id: String) -> Result<Option<MemberFile>, StoreError> {
        self.blocking(move |inner| inner.read(|tx| console::member_file(tx, &member_id)))
            .await
    }

    async fn member_history(
        &self,
        member: MemberSnapshot,
        older: Option<String>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        let cursor = older.as_deref().map(HistoryCursor::parse).transpose()?;
        self.blocking(move |inner| {
            inner.read(|tx| {
                let mut ids = vec![member.member_id.clone()];
                ids.extend(member.merged_ids.iter().cloned());
                let more = limit.saturating_add(1);
                let mut rows = console::history_events(tx, &ids, cursor.as_ref(), more)?;
                rows.extend(console::history_actions(
                    tx,
                    &member.member_id,
                    cursor.as_ref(),
                    more,
                )?);
                Ok(unit::console::history_page(rows, limit))
            })
        })
        .await
    }

    async fn adjust_points(
        &self,
        member_id: String,
        delta: i64,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<Adjusted, StoreError> {
        self.blocking(move |inner| {
            let rules = inner.latest_rules().ok_or(StoreError::NoRuleSet)?;
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::adjust_points(
                    &mut db, &rules, &member_id, delta, &actor, today, now,
                ))
            })
        })
        .await
    }

    async fn replace_card(
        &self,
        member_id: String,
        old_code: String,
        new_code: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::replace_card(
                    &mut db, &member_id, &old_code, &new_code, &actor, now,
                ))
            })
        })
        .await
    }

    async fn unlink_member_line(
        &self,
        member_id: String,
        goodbye: Option<NewMessage>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::unlink_member_line(
                    &mut db,
                    &member_id,
                    goodbye.as_ref(),
                    &actor,
                    now,
                ))
            })
        })
        .await
    }

    async fn member_export(
        &self,
        member_id: String,
        actor: Option<Actor>,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::privacy::export(
                    &mut db,
                    &member_id,
                    actor.as_ref(),
                    now,
                ))
            })
        })
        .await
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
        self.blocking(move |inner| {
            let rules = inner.latest_rules().ok_or(StoreError::NoRuleSet)?;
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::privacy::erase(
                    &mut db,
                    &rules,
                    &member_id,
                    goodbye.as_ref(),
                    forfeit,
                    &actor,
                    today,
                    now,
                ))
            })
        })
        .await
    }

    async fn issue_member_coupon(
        &self,
        member_id: String,
        request: CouponRequest,
        actor: Actor,
        today: Date,
        now: DateTime<Utc>,
    ) -> Result<CouponReport, StoreError> {
        self.blocking(move |inner| {
            let planner = inner.planner();
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::issue_member_coupon(
                    &mut db,
                    &member_id,
                    request,
                    planner.as_deref(),
                    &inner.epoch,
                    &actor,
                    today,
                    now,
                ))
            })
        })
        .await
    }

    async fn resolve_held_by(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<HeldView, StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::resolve_held(
                    &mut db,
                    &|v| inner.rules(v),
                    &terminal_id,
                    seq,
                    action,
                    &actor,
                    now,
                ))
            })
        })
        .await
    }

    async fn load_rules_by(
        &self,
        rules: RuleSet,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            // The writer lock is held across the cache update, so versions land in order.
            let mut writer = Inner::lock(&inner.writer);
            Inner::transact(&mut writer, Durability::Full, |tx| {
                let mut db = SqliteUnit::new(tx);
                unit::finish(unit::console::load_rules(&mut db, &rules, &actor, now))
            })?;
            let mut cache = inner.rules.write().unwrap_or_else(|e| e.into_inner());
            cache.insert(rules.version, Arc::new(rules));
            Ok(())
        })
        .await
    }

    async fn rule_sets(&self) -> Result<Vec<RuleSet>, StoreError> {
        self.blocking(|inner| {
            inner.read(|tx| {
                let mut stmt = tx.prepare_cached("SELECT rules FROM rule_sets ORDER BY version")?;
                let texts = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                texts.iter().map(|t| from_json("rule set", t)).collect()
            })
        })
        .await
    }

    async fn record_terminal_report(
        &self,
        terminal_id: String,
        report: TerminalReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| console::record_terminal_report(tx, &terminal_id, &report, now))
        })
        .await
    }

    async fn terminal_health(&self) -> Result<Vec<TerminalHealth>, StoreError> {
        self.blocking(|inner| inner.read(console::terminal_health))
            .await
    }

    async fn signups_since(&self, since: DateTime<Utc>) -> Result<Vec<SignupFact>, StoreError> {
        self.blocking(move |inner| inner.read(|tx| console::signups_since(tx, since)))
            .await
    }

    async fn members_page(
        &self,
        after: String,
        limit: u32,
    ) -> Result<Vec<MemberSnapshot>, StoreError> {
        self.blocking(move |inner| inner.read(|tx| console::members_page(tx, &after, limit)))
            .await
    }

    async fn linked_members(&self) -> Result<u64, StoreError> {
        self.blocking(|inner| inner.read(console::linked_members))
            .await
    }

    async fn point_events(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> Result<Vec<(String, u64, String)>, StoreError> {
        self.blocking(move |inner| inner.read(|tx| console::point_events(tx, after, limit)))
            .await
    }
}
