//! A claim of the message outbox on PostgreSQL in a few round trips instead of three a row.
//!
//! The claim's decisions (`unit::outbox::claim`) ask, for each due row, its member's home store,
//! how much marketing the member was sent this week (with the member held, so that another
//! hub's sender claiming for them at the same moment counts this lease), and then lease it.
//! Asked one row at a time over a socket, that was the sender's bottleneck: 842 messages a
//! second against the 2,000 configured (docs/benchmarks.md, "Messaging"). Here the due rows
//! bring their member and home store with them, the members are held and their weeks counted
//! in one statement each when the first count is asked, and the leases are written in one
//! statement before the claim commits. The decisions are unchanged: they ask the same
//! questions, and are answered from here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::transaction::PgUnit;
use crate::store::StoreError;
use crate::store::outbox::MessageClass;

/// The waiting rows of class `$class` a claim may take (`$1` now, `$2` how many), each with
/// its member's home store and, as `withdrawn`, why it may no longer be sent (`$3` the member
/// unlinked the LINE user it is for, `$4` they turned store news off). Read in id order from
/// the class's own index of waiting rows (`messages_due_<class>`, schema 10), which the class,
/// written into the statement, lets the server use in any plan.
macro_rules! due_rows_of {
    ($class:literal) => {
        concat!(
            "SELECT m.id, m.message_id::text, m.line_user_id, m.scenario, m.action, m.body,
                    m.attempts, m.member_id, mem.home_store,
                    CASE WHEN m.member_id IS NOT NULL
                              AND lu.member_id IS DISTINCT FROM m.member_id THEN $3
                         WHEN m.class = 'marketing' AND NOT p.marketing THEN $4
                    END AS withdrawn
             FROM messages m
             JOIN line_friends f ON f.line_user_id = m.line_user_id AND f.following
             LEFT JOIN members mem ON mem.member_id = m.member_id
             LEFT JOIN line_users lu ON lu.line_user_id = m.line_user_id
             LEFT JOIN member_profiles p ON p.member_id = m.member_id
             WHERE m.state = 'pending' AND m.class = '",
            $class,
            "' AND m.channel = 'line' AND m.not_before_ms <= $1
             ORDER BY m.id
             LIMIT $2
             FOR UPDATE OF m SKIP LOCKED"
        )
    };
}

/// The statement of a claim's due rows of `class` (`due_rows_of`).
pub(crate) fn due_rows(class: MessageClass) -> &'static str {
    match class {
        MessageClass::Transactional => due_rows_of!("transactional"),
        MessageClass::Marketing => due_rows_of!("marketing"),
        MessageClass::Requested => due_rows_of!("requested"),
    }
}

/// Marketing messages sending, or sent since `$2`, to each member of `$1`: one count a
/// member, each read through the member's own messages (`messages_by_member`). Asked as one
/// condition over the table, the planner read it through the index of every message's state
/// (`messages_state`, until schema 10) instead: every marketing message sending or sent by
/// anyone, whenever its statistics said there were none, as they do after a daily scan has
/// queued a million messages, until autovacuum analyses the table again. Each claim then read
/// more rows than the one before, and the sender slowed as it sent (docs/benchmarks.md,
/// "Messaging").
const WEEKS_OF_MEMBERS: &str = "
    SELECT x.member_id,
           (SELECT COUNT(*) FROM messages s
            WHERE s.member_id = x.member_id AND s.class = 'marketing'
              AND (s.state = 'sending' OR (s.state = 'sent' AND s.sent_at > $2)))
    FROM unnest($1::text[]) AS x(member_id)";

/// A due row as the claim read it.
#[derive(Debug, Clone)]
pub(crate) struct DueRow {
    pub member_id: Option<String>,
    pub home_store: Option<String>,
    pub class: MessageClass,
    /// Its retry key, if an earlier attempt made one.
    pub message_id: Option<String>,
}

/// A lease decided and not yet written.
#[derive(Debug)]
struct Lease {
    id: i64,
    until_ms: i64,
    now_ms: i64,
    key: String,
}

/// What a claim has read ahead, and the leases it has decided but not written.
#[derive(Debug, Default)]
pub(crate) struct ClaimAhead {
    /// The due rows read in this claim, by id (each locked `FOR UPDATE` by the read).
    pub rows: HashMap<i64, DueRow>,
    /// Marketing messages sending or sent since `.0`, per member of the rows read (held `FOR
    /// UPDATE`), this claim's own leases included.
    recent: Option<(DateTime<Utc>, HashMap<String, u64>)>,
    leases: Vec<Lease>,
}

impl PgUnit<'_> {
    /// Due row `id` as this claim read it: every row a claim asks about came from its `due`.
    fn due_row(&self, id: i64) -> Result<&DueRow, StoreError> {
        self.claim
            .rows
            .get(&id)
            .ok_or_else(|| StoreError::Invalid(format!("message {id} was not read by this claim")))
    }

    /// The home store of due row `id`'s member.
    pub(crate) fn home_store_ahead(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self.due_row(id)?.home_store.clone())
    }

    /// The marketing messages sending or sent since `since` to the member of due row `id`. The
    /// first call holds every member of the rows read and counts their weeks, in one statement
    /// each; members are held in id order, so two hubs' claims never wait for each other in a
    /// circle.
    pub(crate) async fn recent_marketing_ahead(
        &mut self,
        id: i64,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let Some(member) = self.due_row(id)?.member_id.clone() else {
            // A row for no member (a LINE user who never joined) has no week to count.
            return Ok(0);
        };
        if self.claim.recent.as_ref().is_none_or(|(s, _)| *s != since) {
            let mut members: Vec<&str> = self
                .claim
                .rows
                .values()
                .filter_map(|r| r.member_id.as_deref())
                .collect();
            members.sort_unstable();
            members.dedup();
            self.execute(
                "SELECT 1 FROM members WHERE member_id = ANY($1) ORDER BY member_id FOR UPDATE",
                &[&members],
            )
            .await?;
            let rows = self.query(WEEKS_OF_MEMBERS, &[&members, &since]).await?;
            let mut counts = HashMap::with_capacity(rows.len());
            for r in rows {
                let n: i64 = r.try_get(1)?;
                counts.insert(r.try_get::<_, String>(0)?, n.unsigned_abs());
            }
            // Leases this claim decided before the count: theirs are not written yet.
            for lease in &self.claim.leases {
                if let Some(DueRow {
                    member_id: Some(m),
                    class: MessageClass::Marketing,
                    ..
                }) = self.claim.rows.get(&lease.id)
                {
                    *counts.entry(m.clone()).or_default() += 1;
                }
            }
            self.claim.recent = Some((since, counts));
        }
        Ok(self
            .claim
            .recent
            .as_ref()
            .and_then(|(_, counts)| counts.get(&member).copied())
            .unwrap_or(0))
    }

    /// Leases due row `id` as `unit::outbox` decided, to be written by [`Self::write_leases`];
    /// answers its retry key (the row's own, or `key` for its first attempt).
    pub(crate) fn lease_ahead(
        &mut self,
        id: i64,
        until_ms: i64,
        now_ms: i64,
        key: &str,
    ) -> Result<String, StoreError> {
        let row = self.due_row(id)?;
        let retry_key = row.message_id.clone().unwrap_or_else(|| key.to_owned());
        if let (Some(member), MessageClass::Marketing) = (row.member_id.clone(), row.class)
            && let Some((_, counts)) = &mut self.claim.recent
        {
            *counts.entry(member).or_default() += 1;
        }
        self.claim.leases.push(Lease {
            id,
            until_ms,
            now_ms,
            key: key.to_owned(),
        });
        Ok(retry_key)
    }

    /// Writes the leases decided in this claim, in one statement. Every row was read `FOR
    /// UPDATE` as pending by this transaction, so each is still pending; if one were not,
    /// nothing is written.
    pub(crate) async fn write_leases(&mut self) -> Result<(), StoreError> {
        if self.claim.leases.is_empty() {
            return Ok(());
        }
        let leases = std::mem::take(&mut self.claim.leases);
        let ids: Vec<i64> = leases.iter().map(|l| l.id).collect();
        let until: Vec<i64> = leases.iter().map(|l| l.until_ms).collect();
        let now: Vec<i64> = leases.iter().map(|l| l.now_ms).collect();
        let keys: Vec<&str> = leases.iter().map(|l| l.key.as_str()).collect();
        let written = self
            .execute(
                "UPDATE messages m SET state = 'sending', attempts = m.attempts + 1,
                     lease_until_ms = x.until_ms,
                     first_attempt_ms = coalesce(m.first_attempt_ms, x.now_ms),
                     message_id = coalesce(m.message_id, x.key::uuid)
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])
                      AS x(id, until_ms, now_ms, key)
                 WHERE m.id = x.id AND m.state = 'pending'",
                &[&ids, &until, &now, &keys],
            )
            .await?;
        if written != ids.len() as u64 {
            return Err(StoreError::Contention(format!(
                "{} of {} messages leased were no longer waiting",
                ids.len() as u64 - written.min(ids.len() as u64),
                ids.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;
    use tokio_postgres::Client;

    use super::*;
    use crate::store::postgres::plans::{explain, fresh_database, nodes};

    /// A client of a fresh database with the outbox as a sender finds it on the day of a big
    /// daily scan: 200,000 marketing messages queued and the table analysed (as the scan does),
    /// then the first 20,000 sent. The planner's statistics say every message waits and none
    /// is sending or sent. `prepare` (a `PREPARE`) is run on it.
    async fn after_a_big_scan(prepare: &str) -> Client {
        let (store, client) = fresh_database().await;
        drop(store);
        client
            .batch_execute(
                "INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class,
                                       channel, action, body, state, not_before_ms,
                                       expires_at_ms, created_at)
                     SELECT 'points_expiring:' || i, 'm' || lpad(i::text, 9, '0'),
                            'U' || md5(i::text), 'points_expiring', 'marketing', 'line',
                            'text', '', 'pending', 0, 0, now()
                     FROM generate_series(1, 200000) AS i;
                 INSERT INTO line_friends (line_user_id, following, changed_at_ms)
                     SELECT 'U' || md5(i::text), true, 0 FROM generate_series(1, 200000) AS i;
                 ANALYZE;
                 UPDATE messages SET state = 'sending' WHERE id <= 20000;
                 UPDATE messages SET state = 'sent', sent_at = now() WHERE id <= 20000;",
            )
            .await
            .unwrap();
        client.batch_execute(prepare).await.unwrap();
        client
    }

    /// Every plan mode the server may settle on for a prepared statement: its plan of
    /// `execute` with `ANALYZE`, as [`explain`] answers it.
    async fn plans(client: &Client, execute: &str) -> Vec<(String, Value)> {
        let mut plans = Vec::new();
        for mode in ["force_custom_plan", "force_generic_plan"] {
            client
                .batch_execute(&format!("SET plan_cache_mode = {mode}"))
                .await
                .unwrap();
            plans.push(explain(client, ", ANALYZE", execute).await);
        }
        plans
    }

    /// The rows of `messages` a plan read, kept or passed over.
    fn messages_read(plan: &Value) -> f64 {
        nodes(plan, |n| n["Relation Name"] == "messages")
            .iter()
            .map(|n| {
                let kept = n["Actual Rows"].as_f64().unwrap_or(0.0);
                let filtered = n["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
                let rechecked = n["Rows Removed by Index Recheck"].as_f64().unwrap_or(0.0);
                (kept + filtered + rechecked) * n["Actual Loops"].as_f64().unwrap_or(1.0)
            })
            .sum()
    }

    /// Each class's statement names the class as its rows store it: a name written apart from
    /// `MessageClass::as_str` that drifted from it would leave that class never sent.
    #[test]
    fn each_class_claims_its_own_rows() {
        for class in [
            MessageClass::Transactional,
            MessageClass::Marketing,
            MessageClass::Requested,
        ] {
            let named = format!("m.class = '{}'", class.as_str());
            assert!(due_rows(class).contains(&named), "{class:?}");
        }
    }

    /// Each claim takes its rows from the first waiting one, not by reading past every message
    /// sent before it (through the primary key, each claim read 20,256 rows here, and more as
    /// the sender went on), whichever plan the server settles on.
    #[tokio::test]
    async fn a_claim_takes_its_rows_from_the_first_waiting_one() {
        let client = after_a_big_scan(&format!(
            "PREPARE due(bigint, bigint, text, text) AS {}",
            due_rows(MessageClass::Marketing)
        ))
        .await;
        for (explained, plan) in plans(&client, "EXECUTE due(1, 256, 'unlinked', 'off')").await {
            let read = messages_read(&plan);
            assert!(read <= 256.0, "{read} messages read for 256: {explained}");
            let limit = nodes(&plan, |n| n["Node Type"] == "Limit");
            assert_eq!(limit[0]["Actual Rows"], 256, "{explained}");
        }
    }

    /// A claim's count of its members' weeks reads only their own messages, whichever plan the
    /// server settles on (through the index of states, each claim read every marketing
    /// message sent so far: 20,000 here).
    #[tokio::test]
    async fn a_claim_counts_its_members_weeks_from_their_own_messages() {
        let client = after_a_big_scan(&format!(
            "PREPARE weeks(text[], timestamptz) AS {WEEKS_OF_MEMBERS}"
        ))
        .await;
        // The members of a claim of 256 among those just sent.
        let members: Vec<String> = (19_745..=20_000).map(|i| format!("'m{i:09}'")).collect();
        let count = format!(
            "EXECUTE weeks(ARRAY[{}], now() - interval '7 days')",
            members.join(", ")
        );
        for (explained, plan) in plans(&client, &count).await {
            let read = messages_read(&plan);
            assert!(
                read <= 256.0,
                "{read} messages read for 256 members: {explained}"
            );
        }
        let rows = client.simple_query(&count).await.unwrap();
        let counts: Vec<&str> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1),
                _ => None,
            })
            .collect();
        assert_eq!(counts, vec!["1"; 256]);
    }
}
