//! The statements of members in LINE on PostgreSQL (`unit::line::LineStatements`).
//!
//! Several hub processes send from one outbox: a claim takes its rows `FOR UPDATE SKIP LOCKED`,
//! so two senders never take the same row, and neither waits for the other's.

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::sync::MemberSnapshot;

use super::claim_ahead::{DueRow, due_rows};
use super::transaction::{PgUnit, to_date};
use crate::store::StoreError;
use crate::store::model::LineEvent;
use crate::store::outbox::{
    BLOCKED, MessageAction, MessageClass, NEWS_OFF, OutboxMessage, Profile, UNLINKED,
};
use crate::store::unit::feed::FeedReads;
use crate::store::unit::line::{LineStatements, LinkedRow, NewSignup, SignupRow};

/// The meta key of the hub-issued member numbers' counter (as on SQLite).
const NEXT_NUMBER: &str = "next_member_number";

/// Rows (`$1`, held by the claim) a member withdrew as they were written (`$2`, why: they
/// unlinked the LINE user the row is for, or turned store news off): lapsed, as the change
/// lapses what waits. The statements that write a member's messages read the link and the
/// choice under READ COMMITTED, so a change committed after that read and before their commit
/// does not see their rows, and they land pending; one is a page of the daily scan, 50–60 ms
/// at 1,000,000 members. Locking the links and profiles in every writer (`FOR KEY SHARE`)
/// would write to each one a page reads; the claim, the one way out of the outbox, checks
/// instead. (SQLite's hub writes one transaction at a time: its writes see every change.)
const WITHDRAWN_WHILE_WRITTEN: &str = "
    UPDATE messages m SET state = 'expired', lease_until_ms = NULL, last_error = x.why
    FROM unnest($1::bigint[], $2::text[]) AS x(id, why)
    WHERE m.id = x.id AND m.state = 'pending'";

impl LineStatements for PgUnit<'_> {
    async fn signup_row(&mut self, signup_id: &str) -> Result<Option<SignupRow>, StoreError> {
        let row = self
            .query_opt(
                "SELECT kind, store_id, terminal_id, member_id, line_user_id, existing_member,
                        completed_at
                 FROM signups WHERE signup_id = $1",
                &[&signup_id],
            )
            .await?;
        row.map(|r| {
            Ok(SignupRow {
                kind: r.try_get(0)?,
                store_id: r.try_get(1)?,
                terminal_id: r.try_get(2)?,
                member_id: r.try_get(3)?,
                line_user_id: r.try_get(4)?,
                existing_member: r.try_get(5)?,
                completed_at: r.try_get(6)?,
            })
        })
        .transpose()
    }

    async fn insert_signup(
        &mut self,
        s: NewSignup<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO signups (signup_id, kind, store_id, terminal_id, card_code, member_id,
                                  line_user_id, existing_member, completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &s.signup_id,
                &s.kind,
                &s.store_id,
                &s.terminal_id,
                &s.card_code,
                &s.member_id,
                &s.line_user_id,
                &s.existing_member,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn member_of_line_user(&mut self, line_user: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt(
                "SELECT member_id FROM line_users WHERE line_user_id = $1",
                &[&line_user],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn link_line_user(
        &mut self,
        line_user: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES ($1, $2, $3)",
            &[&line_user, &member_id, &now],
        )
        .await?;
        Ok(())
    }

    async fn number_counter(&mut self) -> Result<Option<u64>, StoreError> {
        // Held to the transaction's end: two hubs never hand out the same number.
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, '1') ON CONFLICT (key) DO NOTHING",
            &[&NEXT_NUMBER],
        )
        .await?;
        let value: String = self
            .query_one(
                "SELECT value FROM meta WHERE key = $1 FOR UPDATE",
                &[&NEXT_NUMBER],
            )
            .await?
            .try_get(0)?;
        Ok(value.parse().ok())
    }

    async fn set_number_counter(&mut self, next: u64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE meta SET value = $2 WHERE key = $1",
            &[&NEXT_NUMBER, &next.to_string()],
        )
        .await?;
        Ok(())
    }

    async fn member_snapshot(
        &mut self,
        member_id: &str,
    ) -> Result<Option<MemberSnapshot>, StoreError> {
        FeedReads::member(self, member_id).await
    }

    async fn take_webhook_event(
        &mut self,
        e: &LineEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                "INSERT INTO line_webhook_events
                     (webhook_event_id, kind, occurred_at_ms, received_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (webhook_event_id) DO NOTHING",
                &[&e.webhook_event_id, &e.kind, &e.occurred_at_ms, &now],
            )
            .await?;
        Ok(inserted > 0)
    }

    async fn hold_friendships(&mut self, users: &[&str]) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        // Taken in the order of their keys; the triggers' own takes then find them held.
        self.execute(
            "SELECT line_user_lock(u)
             FROM (SELECT u FROM unnest($1::text[]) u ORDER BY line_user_lock_key(u)) held",
            &[&users],
        )
        .await?;
        Ok(())
    }

    async fn set_friendship(
        &mut self,
        line_user: &str,
        following: bool,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let first: Option<i64> = following.then_some(at_ms);
        self.execute(
            "INSERT INTO line_friends (line_user_id, following, changed_at_ms,
                 first_followed_at_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (line_user_id) DO UPDATE SET
                 following = excluded.following,
                 changed_at_ms = excluded.changed_at_ms,
                 first_followed_at_ms = LEAST(line_friends.first_followed_at_ms,
                                              excluded.first_followed_at_ms)
             WHERE excluded.changed_at_ms >= line_friends.changed_at_ms",
            &[&line_user, &following, &at_ms, &first],
        )
        .await?;
        Ok(())
    }

    async fn follows(&mut self, line_user: &str) -> Result<bool, StoreError> {
        let row = self
            .query_opt(
                "SELECT following FROM line_friends WHERE line_user_id = $1",
                &[&line_user],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(false))
    }

    async fn mark_blocked(&mut self, line_user: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE messages SET state = 'unreachable', lease_until_ms = NULL, last_error = $2
             WHERE line_user_id = $1 AND state = 'pending' AND channel = 'line'
               AND (member_id IS NULL
                    OR member_id = (SELECT member_id FROM line_users WHERE line_user_id = $1))",
            &[&line_user, &BLOCKED],
        )
        .await?;
        // In flight now: if LINE does not take it, it is not tried again.
        self.execute(
            "UPDATE messages SET expires_at_ms = 0 WHERE state = 'sending' AND line_user_id = $1",
            &[&line_user],
        )
        .await?;
        Ok(())
    }

    async fn linked_at(&mut self, line_user: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt(
                "SELECT linked_at FROM line_users WHERE line_user_id = $1",
                &[&line_user],
            )
            .await?;
        Ok(row
            .map(|r| r.try_get::<_, DateTime<Utc>>(0))
            .transpose()?
            .map(|at| at.to_rfc3339()))
    }

    async fn requeue_menu(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE messages SET state = 'pending', not_before_ms = $2, expires_at_ms = $3,
                 attempts = 0, first_attempt_ms = NULL, last_error = NULL
             WHERE member_id = $4 AND dedupe_key = $1
               AND state IN ('expired', 'unreachable')",
            &[&dedupe_key, &now_ms, &expires_at_ms, &member_id],
        )
        .await?;
        Ok(())
    }

    async fn remove_link(&mut self, line_user: &str, member_id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM line_users WHERE line_user_id = $1",
            &[&line_user],
        )
        .await?;
        // The member's waiting rows, and any with no member (an earlier unlink's menu change:
        // this one replaces it).
        self.execute(
            "UPDATE messages SET state = 'expired', lease_until_ms = NULL, last_error = $3
             WHERE line_user_id = $1 AND state = 'pending'
               AND (member_id = $2 OR member_id IS NULL)",
            &[&line_user, &member_id, &UNLINKED],
        )
        .await?;
        self.execute(
            "UPDATE messages SET expires_at_ms = 0 WHERE line_user_id = $1 AND state = 'sending'",
            &[&line_user],
        )
        .await?;
        Ok(())
    }

    async fn upsert_profile(
        &mut self,
        member_id: &str,
        p: &Profile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO member_profiles
                 (member_id, language, marketing, channel, name, email, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (member_id) DO UPDATE SET language = excluded.language,
                 marketing = excluded.marketing, channel = excluded.channel,
                 name = excluded.name, email = excluded.email,
                 updated_at = excluded.updated_at",
            &[
                &member_id,
                &p.language.as_str(),
                &p.marketing,
                &p.channel.as_str(),
                &p.name,
                &p.email,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn expire_marketing(&mut self, member_id: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE messages SET state = 'expired', lease_until_ms = NULL, last_error = $2
             WHERE member_id = $1 AND class = 'marketing' AND state = 'pending'",
            &[&member_id, &NEWS_OFF],
        )
        .await?;
        Ok(())
    }

    async fn set_birthday(
        &mut self,
        member_id: &str,
        birthday: Option<Date>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE members SET birthday = $2 WHERE member_id = $1",
            &[&member_id, &birthday.and_then(to_date)],
        )
        .await?;
        Ok(())
    }

    async fn lapse(&mut self, now_ms: i64, retry_cutoff_ms: i64) -> Result<(), StoreError> {
        // A lease that ran out: due again, with the same retry key; first, so that one stopped
        // in flight (a block, an unlink) lapses below instead of going.
        self.execute(
            "UPDATE messages SET state = 'pending', lease_until_ms = NULL
             WHERE state = 'sending' AND lease_until_ms <= $1",
            &[&now_ms],
        )
        .await?;
        self.execute(
            "UPDATE messages SET state = 'expired', lease_until_ms = NULL
             WHERE state = 'pending' AND expires_at_ms <= $1",
            &[&now_ms],
        )
        .await?;
        self.execute(
            "UPDATE messages SET state = 'failed', lease_until_ms = NULL,
                 last_error = 'not sent again: LINE may have it, and its retry key lapses 24 \
                               hours after the first try (last: '
                              || coalesce(last_error, 'no answer') || ')'
             WHERE state = 'pending' AND attempts > 0 AND first_attempt_ms <= $1",
            &[&retry_cutoff_ms],
        )
        .await?;
        Ok(())
    }

    async fn due(
        &mut self,
        class: MessageClass,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        // Each row's link, and for store news the member's choice of it, as the claim takes
        // it (`withdrawn`): a row written while the member withdrew it is not sent
        // (`WITHDRAWN_WHILE_WRITTEN`).
        let rows = self
            .query(
                due_rows(class),
                &[&now_ms, &i64::from(limit), &UNLINKED, &NEWS_OFF],
            )
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        let (mut withdrawn, mut why) = (Vec::new(), Vec::new());
        for r in rows {
            let id: i64 = r.try_get(0)?;
            if let Some(reason) = r.try_get::<_, Option<String>>(9)? {
                withdrawn.push(id);
                why.push(reason);
                continue;
            }
            let action: String = r.try_get(4)?;
            let action = MessageAction::from_parts(&action, r.try_get(5)?).ok_or_else(|| {
                StoreError::Corrupt {
                    what: "message action",
                    detail: format!("message {id}: {action}"),
                }
            })?;
            let attempts: i32 = r.try_get(6)?;
            let message_id: Option<String> = r.try_get(1)?;
            // Read ahead for the claim's questions about this row (claim_ahead.rs).
            self.claim.rows.insert(
                id,
                DueRow {
                    member_id: r.try_get(7)?,
                    home_store: r.try_get(8)?,
                    class,
                    message_id: message_id.clone(),
                },
            );
            due.push(OutboxMessage {
                id,
                message_id: message_id.unwrap_or_default(),
                line_user_id: r.try_get(2)?,
                scenario: r.try_get(3)?,
                class,
                action,
                attempts: attempts.unsigned_abs().saturating_add(1),
            });
        }
        if !withdrawn.is_empty() {
            self.execute(WITHDRAWN_WHILE_WRITTEN, &[&withdrawn, &why])
                .await?;
        }
        Ok(due)
    }

    // A claim's questions about its due rows, answered from what `due` read (claim_ahead.rs).
    async fn home_store_of_message(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        self.home_store_ahead(id)
    }

    async fn recent_marketing(&mut self, id: i64, since: DateTime<Utc>) -> Result<u64, StoreError> {
        self.recent_marketing_ahead(id, since).await
    }

    async fn set_not_before(&mut self, id: i64, until_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE messages SET not_before_ms = $2 WHERE id = $1",
            &[&id, &until_ms],
        )
        .await?;
        Ok(())
    }

    async fn lease(
        &mut self,
        id: i64,
        until_ms: i64,
        now_ms: i64,
        new_key: &str,
    ) -> Result<String, StoreError> {
        self.lease_ahead(id, until_ms, now_ms, new_key)
    }

    async fn linked_page(&mut self, after: &str, limit: u32) -> Result<Vec<LinkedRow>, StoreError> {
        let rows = self
            .query(LINKED_PAGE, &[&after, &i64::from(limit)])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LinkedRow {
                    member_id: r.try_get(0)?,
                    line_user_id: r.try_get(1)?,
                    snapshot: r.try_get(2)?,
                    language: r.try_get(3)?,
                    marketing: r.try_get(4)?,
                    home_store: r.try_get(5)?,
                })
            })
            .collect()
    }
}

/// A page of the daily scan: up to `$2` members linked to LINE after member id `$1`, with
/// what the plan needs of each. The page's links are taken first, `$2` of them in member
/// order, and only those are joined: joined before the limit, the planner guessed how many of
/// the members after the bound it would need, and near the end of a scan of 1,000,000, where
/// the bound leaves under a tenth, it guessed all of them and hashed every member left to keep
/// 5,000 (docs/benchmarks.md, "On PostgreSQL"). The bound is given to each table as well:
/// PostgreSQL does not carry it across the joins, and merged the links with `members` read
/// from its first row, so each page read every member before it.
pub(super) const LINKED_PAGE: &str = "
    SELECT lu.member_id, lu.line_user_id, m.snapshot, p.language, p.marketing, m.home_store
    FROM (SELECT member_id, line_user_id FROM line_users
          WHERE member_id > $1 ORDER BY member_id LIMIT $2) lu
    JOIN members m ON m.member_id = lu.member_id AND m.member_id > $1
    LEFT JOIN member_profiles p ON p.member_id = lu.member_id AND p.member_id > $1
    ORDER BY lu.member_id";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::postgres::plans::{explain, fresh_database, nodes};

    /// The page after `after`, its values written in for `EXPLAIN`.
    fn page_after(after: &str) -> String {
        LINKED_PAGE
            .replace("$1", &format!("'{after}'"))
            .replace("$2", "5000")
    }

    /// Every scan of `table` in a plan.
    fn scans<'a>(plan: &'a serde_json::Value, table: &str) -> Vec<&'a serde_json::Value> {
        nodes(plan, |n| n["Relation Name"] == table)
    }

    /// With members in the hundreds of thousands the planner merges the page's tables; each
    /// must then be read from the page's bound, not from its first row (ordered scans of a
    /// table with no condition are what made each page read every member before it). Near the
    /// end, where the bound leaves few members, a page must still read no more members than it
    /// keeps (the planner, guessing how many it would need, once hashed every one left).
    #[tokio::test]
    async fn a_scan_page_reads_each_table_from_its_bound() {
        let (store, client) = fresh_database().await;
        drop(store);
        // Snapshots about as wide as a member's, and links made in no order of the members'
        // ids, as members link over the months: the shape in which the planner hashed.
        client
            .batch_execute(
                "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                     SELECT 'm' || lpad(i::text, 9, '0'), i::text, repeat('x', 300), now(), now()
                     FROM generate_series(1, 300000) AS i;
                 INSERT INTO line_users (line_user_id, member_id, linked_at)
                     SELECT 'U' || md5(i::text), 'm' || lpad(i::text, 9, '0'), now()
                     FROM generate_series(1, 300000) AS i ORDER BY md5(i::text);
                 INSERT INTO member_profiles (member_id, language, marketing, updated_at)
                     SELECT 'm' || lpad(i::text, 9, '0'), 'ja', true, now()
                     FROM generate_series(1, 300000, 3) AS i;
                 ANALYZE",
            )
            .await
            .unwrap();
        let after = "m000200000";
        let (explained, plan) = explain(&client, "", &page_after(after)).await;
        for table in ["line_users", "members", "member_profiles"] {
            let found = scans(&plan, table);
            assert!(!found.is_empty(), "{table} not read: {explained}");
            for scan in found {
                assert!(
                    scan["Index Cond"].is_string(),
                    "{table} read from its first row: {explained}"
                );
            }
        }
        // Near the end: 30,000 members left, a page of 5,000.
        let (explained, plan) = explain(&client, ", ANALYZE", &page_after("m000270000")).await;
        for table in ["line_users", "members"] {
            let read: f64 = scans(&plan, table)
                .iter()
                .map(|s| s["Actual Rows"].as_f64().unwrap() * s["Actual Loops"].as_f64().unwrap())
                .sum();
            assert!(
                read <= 5000.0,
                "{table}: {read} rows read for a page of 5,000: {explained}"
            );
        }
        // And the page is the members after the bound, in order.
        let rows = client.query(LINKED_PAGE, &[&after, &3_i64]).await.unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(ids, ["m000200001", "m000200002", "m000200003"]);
    }
}
