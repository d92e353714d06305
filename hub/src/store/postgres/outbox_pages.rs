//! The message outbox's writes on PostgreSQL a page at a time: a page of the daily scan and
//! a sender's batch of endings, each one statement over arrays (`unnest`) instead of one a row.
//! Asked one row at a time over a socket, the scan of 1,000,000 members took minutes and the
//! sender kept under half its configured rate (docs/benchmarks.md, "Messaging"); the rows
//! written, and what each statement reads again as it writes, are the same.
//!
//! A page's write is one server process's work, and is the scan's slowest step, so the scan
//! writes up to three pages at once ([`scan_writers_for`]), each its own statement,
//! transaction and connection, while the next is read on another. A page's ids are taken
//! before its write, pages one at a time in the order their writes started, so that a sender
//! takes equal rows in the order they were planned once their pages are in (one claiming while
//! two land may take the second's a moment before the first's).

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::store::PgStore;
use super::transaction::PgUnit;
use crate::store::StoreError;
use crate::store::outbox::{Finished, MessageClass, MessageOutcome, ScanMessage, first_state};

/// How a sender's attempts ended, a column an array per kind of ending, in id order, for
/// `LineStore::finish_messages`: sent (id, LINE's request id); to be tried again (id,
/// attempt, from when, why); failed (id, attempt, why).
#[derive(Debug, Default)]
pub(super) struct Endings {
    pub sent: (Vec<i64>, Vec<Option<String>>),
    pub retry: (Vec<i64>, Vec<i32>, Vec<i64>, Vec<String>),
    pub failed: (Vec<i64>, Vec<i32>, Vec<String>),
}

impl Endings {
    pub(super) fn of(mut outcomes: Vec<Finished>) -> Endings {
        outcomes.sort_by_key(|f| f.id);
        let mut e = Endings::default();
        for f in outcomes {
            let attempt = i32::try_from(f.attempt).unwrap_or(i32::MAX);
            match f.outcome {
                MessageOutcome::Sent { request_id } => {
                    e.sent.0.push(f.id);
                    e.sent.1.push(request_id);
                }
                MessageOutcome::Retry { not_before, error } => {
                    e.retry.0.push(f.id);
                    e.retry.1.push(attempt);
                    e.retry.2.push(not_before.timestamp_millis());
                    e.retry.3.push(error);
                }
                MessageOutcome::Failed { error } => {
                    e.failed.0.push(f.id);
                    e.failed.1.push(attempt);
                    e.failed.2.push(error);
                }
            }
        }
        e
    }
}

/// How many of the daily scan's pages a hub with `connections` writes at once: up to three
/// (beside the reader, the two cores of the bench's machine were then 89–93 % busy, against
/// 87–90 % with two), but never more than half the pool besides the reader, so that terminals'
/// pushes and the sender do not wait behind the scan for a connection; one at least.
pub(super) fn scan_writers_for(connections: usize) -> usize {
    (connections.saturating_sub(1) / 2).clamp(1, 3)
}

impl PgStore {
    /// [`Self::message_ids`] in a scan page's turn: pages are numbered one at a time, in the
    /// order their writes asked.
    pub(super) async fn message_ids_in_turn(&self, n: usize) -> Result<Vec<i64>, StoreError> {
        let _turn = self.numbering_turn().await;
        self.message_ids(n).await
    }

    /// `n` new ids of `messages`, in order. The sequence is looked up once (an `InitPlan`):
    /// named in each `nextval`, it was looked up for each id, and a page of 5,000 took 13 ms
    /// to number instead of 2.7, on the scan's path between one page and the next.
    pub(super) async fn message_ids(&self, n: usize) -> Result<Vec<i64>, StoreError> {
        let asked = i64::try_from(n).unwrap_or(i64::MAX);
        let ids: Vec<i64> = self
            .retrying(|client| async move {
                Ok(client.query_one(MESSAGE_IDS, &[&asked]).await?.try_get(0)?)
            })
            .await?;
        if ids.len() != n {
            return Err(StoreError::Invalid(format!(
                "{} message ids taken where {n} were asked for",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// Writes a scan's page with the ids taken for it, one for each message ([`QUEUE_PAGE`]);
    /// answers how many were new.
    pub(super) async fn queue_page(
        &self,
        messages: &[ScanMessage],
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let page = PageColumns::of(messages, ids, now.timestamp_millis());
        let (blocked_state, blocked_reason) = first_state(Some(false));
        let now_ms = now.timestamp_millis();
        let params: [&(dyn ToSql + Sync); 14] = [
            &page.dedupe_key,
            &page.member_id,
            &page.line_user_id,
            &page.scenario,
            &page.class,
            &page.action,
            &page.body,
            &page.expires_at_ms,
            &page.marketing,
            &blocked_state,
            &blocked_reason,
            &now_ms,
            &now,
            &page.id,
        ];
        self.retrying(|mut client| {
            let params = &params;
            async move {
                if let Some(written) = write_page(&mut client, QUEUE_PAGE, params).await? {
                    return Ok(written);
                }
                // Another hub's scan wrote one of the page's keys at the same moment (or the
                // page planned a key twice): the page again, passing over keys written.
                write_page(&mut client, QUEUE_PAGE_RACED, params)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Contention("a scan page's key was written twice".into())
                    })
            }
        })
        .await
    }
}

/// Writes a scan's page with `sql` ([`QUEUE_PAGE`] or [`QUEUE_PAGE_RACED`]) in a transaction
/// of its own; answers how many were new, or `None`, the page unwritten, if one of its keys was
/// already there (a unique violation: written by another hub after the page's check).
async fn write_page(
    client: &mut Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<u64>, StoreError> {
    let tx = client.transaction().await?;
    // Work done again if a crash loses it, as on SQLite (`write_redone_if_lost`): the day's
    // scan runs again when the hub starts, and dedupe keys write each message once. Its commit
    // does not wait for the disk; a sender's claim of a row waits for it, as its own commit
    // flushes the log up to itself.
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let stmt = tx.prepare_cached(sql).await?;
    let rows = match tx.query(&stmt, params).await {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
        rows => rows?,
    };
    // What this page queued, per state, counted once at its end (schema 7).
    let mut written = 0;
    let (mut states, mut counts) = (Vec::new(), Vec::new());
    for row in rows {
        let n: i64 = row.try_get(1)?;
        written += n.unsigned_abs();
        states.push(row.try_get::<_, String>(0)?);
        counts.push(n);
    }
    if !states.is_empty() {
        PgUnit::new(&tx)
            .execute(super::store::ADD_MESSAGE_TALLIES, &[&states, &counts])
            .await?;
    }
    tx.commit().await?;
    Ok(Some(written))
}

/// `$1` new ids of `messages`, in order, the sequence looked up once ([`PgStore::message_ids`]).
pub(super) const MESSAGE_IDS: &str = "
    SELECT array(SELECT nextval((SELECT pg_get_serial_sequence('messages', 'id')::regclass))
                 FROM generate_series(1, $1::bigint))";

/// A page of the daily scan's messages, a column an array, for [`QUEUE_PAGE`].
pub(super) struct PageColumns<'a> {
    pub id: &'a [i64],
    pub dedupe_key: Vec<&'a str>,
    pub member_id: Vec<&'a str>,
    pub line_user_id: Vec<&'a str>,
    pub scenario: Vec<&'a str>,
    pub class: Vec<&'static str>,
    pub action: Vec<&'static str>,
    pub body: Vec<&'a str>,
    pub expires_at_ms: Vec<Option<i64>>,
    pub marketing: Vec<bool>,
}

impl<'a> PageColumns<'a> {
    pub(super) fn of(messages: &'a [ScanMessage], ids: &'a [i64], now_ms: i64) -> PageColumns<'a> {
        let n = messages.len();
        let mut page = PageColumns {
            id: ids,
            dedupe_key: Vec::with_capacity(n),
            member_id: Vec::with_capacity(n),
            line_user_id: Vec::with_capacity(n),
            scenario: Vec::with_capacity(n),
            class: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            expires_at_ms: Vec::with_capacity(n),
            marketing: Vec::with_capacity(n),
        };
        for m in messages {
            let message = &m.planned.message;
            let (action, body) = message.action.to_parts();
            page.dedupe_key.push(&m.planned.dedupe_key);
            page.member_id.push(&m.member_id);
            page.line_user_id.push(&m.line_user_id);
            page.scenario.push(&message.scenario);
            page.class.push(message.class.as_str());
            page.action.push(action);
            page.body.push(body);
            page.expires_at_ms.push(
                message
                    .expires_after
                    .map(|d| now_ms.saturating_add(d.num_milliseconds())),
            );
            page.marketing
                .push(message.class == MessageClass::Marketing);
        }
        page
    }
}

/// A page of the daily scan's messages in one statement (`$on_conflict`: what a key already
/// written does): each row joined to the member's link as it is now (no link, no row), its
/// friendship as kept on the link (schema 9; blocked: `$10`, `$11`) and, for store news
/// alone, its choice of them, with the ids taken for them (`$14`, ascending in the order
/// planned), each member's key once ever (an id taken twice is an error, never a message
/// passed over); answers the rows written per state.
///
/// The arrays are read side by side in the select list: `unnest` in `FROM` copied each of the
/// ten into a store of its own first, a sixth of the statement's time. A key already written
/// is looked up for each row, one probe of the member's key: `ON CONFLICT` instead inserts
/// each row speculatively (a lock and a second log record a row), an eighth of its time
/// (docs/benchmarks.md, "On PostgreSQL"). A member's choice of store news is looked up for
/// news alone: joined to every row, it was looked up for each message about their points too,
/// about a seventh of a page's write where every member has a profile.
macro_rules! queue_page {
    ($on_conflict:literal) => {
        concat!(
            "
    WITH queued AS (
        INSERT INTO messages
            (id, dedupe_key, member_id, line_user_id, scenario, class, channel, action, body, state,
             last_error, not_before_ms, expires_at_ms, created_at)
        SELECT q.id, q.dedupe_key, lu.member_id, lu.line_user_id, q.scenario, q.class, 'line',
               q.action, q.body,
               CASE WHEN lu.following = false THEN $10 ELSE 'pending' END,
               CASE WHEN lu.following = false THEN $11 END, $12, q.expires_at_ms, $13
        FROM (SELECT unnest($1::text[]) AS dedupe_key, unnest($2::text[]) AS member_id,
                     unnest($3::text[]) AS line_user_id, unnest($4::text[]) AS scenario,
                     unnest($5::text[]) AS class, unnest($6::text[]) AS action,
                     unnest($7::text[]) AS body, unnest($8::bigint[]) AS expires_at_ms,
                     unnest($9::boolean[]) AS marketing, unnest($14::bigint[]) AS id) AS q
        JOIN line_users lu ON lu.member_id = q.member_id AND lu.line_user_id = q.line_user_id
        LEFT JOIN LATERAL (SELECT true AS written FROM messages w
                           WHERE w.member_id = q.member_id AND w.dedupe_key = q.dedupe_key
                           LIMIT 1) AS w ON true
        WHERE (NOT q.marketing
               OR NOT EXISTS (SELECT FROM member_profiles p
                              WHERE p.member_id = q.member_id AND NOT p.marketing))
          AND w.written IS NULL
        ORDER BY q.id
        ",
            $on_conflict,
            "
        RETURNING state
    )
    SELECT state, COUNT(*) FROM queued GROUP BY state ORDER BY state"
        )
    };
}

/// A page of the daily scan as written when no other hub writes its keys at the same moment
/// (`queue_page!`): a key written after the probe is a unique violation.
pub(super) const QUEUE_PAGE: &str = queue_page!("");

/// The same page written again after [`QUEUE_PAGE`] met a key written meanwhile (two hubs'
/// scans of one day at once, or a key planned twice in a page): such keys are passed over.
pub(super) const QUEUE_PAGE_RACED: &str =
    queue_page!("ON CONFLICT (member_id, dedupe_key) DO NOTHING");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;
    use crate::store::outbox::{MessageAction, NewMessage, Planned};
    use crate::store::postgres::plans::{connect, explain, fresh_database, fresh_store, nodes};

    /// The hub's default pool (16) writes three pages at once; a small pool keeps at least
    /// half its connections for everything else.
    #[test]
    fn a_scan_writes_pages_at_once_within_half_the_pool() {
        let writers: Vec<usize> = [1, 2, 4, 5, 6, 7, 16, 1000]
            .into_iter()
            .map(scan_writers_for)
            .collect();
        assert_eq!(writers, [1, 1, 1, 2, 2, 3, 3, 3]);
    }

    /// A page's ids come from one statement, in order, each once; the sequence is found once
    /// for the page, not for each id (found for each, 5,000 ids took 13 ms instead of 2.7).
    #[tokio::test]
    async fn a_pages_ids_are_taken_in_order_the_sequence_found_once() {
        let (store, client) = fresh_database().await;
        let ids = store.message_ids(5_000).await.unwrap();
        assert_eq!(ids.len(), 5_000);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        let more = store.message_ids(3).await.unwrap();
        assert!(more[0] > ids[4_999], "ids taken again: {more:?}");

        let sql = MESSAGE_IDS.replace("$1", "5000");
        let (_, plan) = explain(&client, ", VERBOSE", &sql).await;
        let each_id = nodes(&plan, |n| n["Function Name"] == "generate_series");
        assert_eq!(each_id.len(), 1, "{plan}");
        let each_id = each_id[0]["Output"].to_string();
        assert!(
            !each_id.contains("pg_get_serial_sequence"),
            "the sequence is looked up for each id: {each_id}"
        );
    }

    /// The scan writes two pages at once; each takes its ids in its turn, in the order the
    /// pages asked, whatever connection each runs on: a page asking while another has the
    /// turn waits for it, and the first to ask is numbered first.
    #[tokio::test]
    async fn pages_take_their_ids_in_the_order_they_asked() {
        let (store, _client) = fresh_database().await;
        let turn = store.numbering_turn().await;
        let first = store.message_ids_in_turn(3);
        let second = store.message_ids_in_turn(2);
        tokio::pin!(first, second);
        // While the turn is held, the first page's ids wait, however long it is driven.
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut first).await;
        assert!(waited.is_err(), "ids taken out of turn");
        // The second asks after it (one poll puts it in line); then the turn is given back.
        assert!(
            (&mut second).now_or_never().is_none(),
            "ids taken out of turn"
        );
        drop(turn);
        let (first, second) = tokio::join!(first, second);
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first.iter().all(|a| second.iter().all(|b| a < b)),
            "{first:?} {second:?}"
        );
    }

    /// Three linked members, and a page of one message each.
    async fn three_linked(client: &tokio_postgres::Client) -> Vec<ScanMessage> {
        client
            .batch_execute(
                "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                     SELECT 'm' || i, i::text, '{}', now(), now() FROM generate_series(1, 3) AS i;
                 INSERT INTO line_users (line_user_id, member_id, linked_at)
                     SELECT 'U' || i, 'm' || i, now() FROM generate_series(1, 3) AS i",
            )
            .await
            .unwrap();
        (1..=3)
            .map(|i| ScanMessage {
                member_id: format!("m{i}"),
                line_user_id: format!("U{i}"),
                planned: Planned {
                    dedupe_key: format!("points:m{i}"),
                    message: NewMessage {
                        scenario: "points_expiring".into(),
                        class: MessageClass::Transactional,
                        action: MessageAction::UnlinkRichMenu,
                        expires_after: None,
                    },
                },
            })
            .collect()
    }

    /// The keys of every message written, ordered by `order`.
    async fn keys_written(client: &tokio_postgres::Client, order: &str) -> Vec<String> {
        let sql = format!("SELECT dedupe_key FROM messages ORDER BY {order}");
        let rows = client.query(&sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// Only store news asks for the member's choice of it: a page about points writes each
    /// member's message without reading profiles, and a page of news reads them and writes to
    /// those who have not turned news off.
    #[tokio::test]
    async fn only_store_news_reads_the_members_choice_of_it() {
        let (_store, client) = fresh_database().await;
        three_linked(&client).await;
        client
            .batch_execute(&format!(
                "INSERT INTO member_profiles (member_id, language, marketing, updated_at)
                     SELECT 'm' || i, 'ja', i <> 2, now() FROM generate_series(1, 3) AS i;
                 PREPARE page AS {QUEUE_PAGE}"
            ))
            .await
            .unwrap();
        let page = |scenario: &str, class: &str, marketing: bool| {
            let each = |v: &str| format!("ARRAY['{v}', '{v}', '{v}']");
            format!(
                "EXECUTE page(ARRAY['{scenario}:m1', '{scenario}:m2', '{scenario}:m3'],
                     ARRAY['m1', 'm2', 'm3'], ARRAY['U1', 'U2', 'U3'], {}, {}, {}, {},
                     ARRAY[NULL, NULL, NULL]::bigint[], ARRAY[{marketing}, {marketing}, {marketing}],
                     'unreachable', 'blocked', 0, now(),
                     ARRAY[nextval('messages_id_seq'), nextval('messages_id_seq'),
                           nextval('messages_id_seq')])",
                each(scenario),
                each(class),
                each("unlink_rich_menu"),
                each(""),
            )
        };
        let profiles_read = |plan: &serde_json::Value| {
            let read = nodes(plan, |n| n["Relation Name"] == "member_profiles");
            assert_eq!(read.len(), 1, "{plan}");
            read[0]["Actual Loops"].as_u64().unwrap()
        };

        let (_, plan) = explain(
            &client,
            ", ANALYZE",
            &page("points", "transactional", false),
        )
        .await;
        assert_eq!(profiles_read(&plan), 0, "{plan}");
        let (_, plan) = explain(&client, ", ANALYZE", &page("news", "marketing", true)).await;
        // Read for each row, or read once and hashed where the profiles are few, as here.
        assert!(profiles_read(&plan) > 0, "{plan}");

        assert_eq!(
            keys_written(&client, "id").await,
            ["points:m1", "points:m2", "points:m3", "news:m1", "news:m3"]
        );
    }

    /// Two hubs' scans of one day write the same pages: a key the other hub writes after the
    /// page's check is met as a unique violation, and the page is written again passing over
    /// it, not failed. Here the other hub's row waits uncommitted while the page is written.
    #[tokio::test]
    async fn a_page_whose_key_another_hub_writes_meanwhile_passes_it_over() {
        let (store, url) = fresh_store().await;
        let (mut client, watch) = (connect(&url).await, connect(&url).await);
        let page = three_linked(&client).await;
        let other = client.transaction().await.unwrap();
        other
            .execute(
                "INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class,
                     channel, action, body, state, not_before_ms, created_at)
                 VALUES ('points:m2', 'm2', 'U2', 'points_expiring', 'transactional', 'line',
                     'unlink_rich_menu', '', 'pending', 0, now())",
                &[],
            )
            .await
            .unwrap();
        let write = {
            let store = store.clone();
            let ids = store.message_ids(page.len()).await.unwrap();
            tokio::spawn(async move { store.queue_page(&page, &ids, Utc::now()).await })
        };
        let mut waits = false;
        for _ in 0..250 {
            let row = watch
                .query_one(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted",
                    &[],
                )
                .await
                .unwrap();
            if row.get::<_, i64>(0) > 0 {
                waits = true;
                break;
            }
            // No notice comes of a lock waited for: looked at again in a moment.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(waits, "the page's write never met the other hub's row");
        other.commit().await.unwrap();
        assert_eq!(
            write.await.unwrap().unwrap(),
            2,
            "the other two members' rows"
        );
        assert_eq!(
            keys_written(&watch, "dedupe_key").await,
            ["points:m1", "points:m2", "points:m3"]
        );
    }
}
