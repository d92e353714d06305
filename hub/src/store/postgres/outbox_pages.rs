//! The message outbox's writes on PostgreSQL a page at a time: a page of the daily scan and
//! a sender's batch of endings, each one statement over arrays (`unnest`) instead of one a row.
//! Asked one row at a time over a socket, the scan of 1,000,000 members took minutes and the
//! sender kept under half its configured rate (docs/benchmarks.md, "Messaging"); the rows
//! written, and what each statement reads again as it writes, are the same.
//!
//! A page's write is one server process's work, and was the scan's slowest step: the page
//! before is read and planned beside it, and the server's other cores sat idle. A page is
//! written in two halves at once, each its own statement, transaction and connection. Its ids
//! are taken first, in the order planned, so that once both halves are in, a sender takes equal
//! rows in the order they were planned (one claiming while they land may take the second half's
//! a moment before the first's).

use chrono::{DateTime, Utc};

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

/// A page of the daily scan cut in two where one member's messages end and the next's begin,
/// as near its middle as that falls: each member's messages are written by one statement.
pub(super) fn halves(messages: &[ScanMessage]) -> (&[ScanMessage], &[ScanMessage]) {
    let member = |i: usize| messages.get(i).map(|m| &m.member_id);
    let cut = (messages.len() / 2).max(1)..messages.len();
    let cut = cut
        .into_iter()
        .find(|&i| member(i - 1) != member(i))
        .unwrap_or(messages.len());
    messages.split_at(cut)
}

impl PgStore {
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

    /// Writes part of a scan's page with the ids taken for it, one for each message
    /// ([`QUEUE_PAGE`]); answers how many were new.
    pub(super) async fn queue_part(
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
        self.retrying(|mut client| {
            let page = &page;
            async move {
                let tx = client.transaction().await?;
                // Work done again if a crash loses it, as on SQLite (`write_redone_if_lost`): the
                // day's scan runs again when the hub starts, and dedupe keys write each message
                // once. Its commit does not wait for the disk; a sender's claim of a row waits
                // for it, as its own commit flushes the log up to itself.
                tx.batch_execute("SET LOCAL synchronous_commit = off")
                    .await?;
                let db = PgUnit::new(&tx);
                let rows = db
                    .query(
                        QUEUE_PAGE,
                        &[
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
                            &now.timestamp_millis(),
                            &now,
                            &page.id,
                        ],
                    )
                    .await?;
                // What this part queued, per state, counted once at its end (schema 7).
                let mut written = 0;
                let (mut states, mut counts) = (Vec::new(), Vec::new());
                for row in rows {
                    let n: i64 = row.try_get(1)?;
                    written += n.unsigned_abs();
                    states.push(row.try_get::<_, String>(0)?);
                    counts.push(n);
                }
                if !states.is_empty() {
                    db.execute(super::store::ADD_MESSAGE_TALLIES, &[&states, &counts])
                        .await?;
                }
                tx.commit().await?;
                Ok(written)
            }
        })
        .await
    }
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

/// A page of the daily scan's messages in one statement: each row joined to the member's link
/// as it is now (no link, no row), its friendship as kept on the link (schema 9; blocked:
/// `$10`, `$11`) and its choice of store news, with the ids taken for them (`$14`), each
/// member's key once ever (an id taken twice is an error, never a message passed over);
/// answers the rows written per state.
pub(super) const QUEUE_PAGE: &str = "
    WITH queued AS (
        INSERT INTO messages
            (id, dedupe_key, member_id, line_user_id, scenario, class, channel, action, body, state,
             last_error, not_before_ms, expires_at_ms, created_at)
        SELECT q.id, q.dedupe_key, lu.member_id, lu.line_user_id, q.scenario, q.class, 'line',
               q.action, q.body,
               CASE WHEN lu.following = false THEN $10 ELSE 'pending' END,
               CASE WHEN lu.following = false THEN $11 END, $12, q.expires_at_ms, $13
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::bigint[], $9::boolean[], $14::bigint[])
             WITH ORDINALITY AS q(dedupe_key, member_id, line_user_id, scenario, class, action,
                                  body, expires_at_ms, marketing, id, n)
        JOIN line_users lu ON lu.member_id = q.member_id AND lu.line_user_id = q.line_user_id
        LEFT JOIN member_profiles p ON p.member_id = lu.member_id
        WHERE NOT q.marketing OR coalesce(p.marketing, true)
        ORDER BY q.n
        ON CONFLICT (member_id, dedupe_key) DO NOTHING
        RETURNING state
    )
    SELECT state, COUNT(*) FROM queued GROUP BY state ORDER BY state";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::outbox::{MessageAction, NewMessage, Planned};
    use crate::store::postgres::plans::{explain, fresh_database, nodes};

    fn page(members: &[&str]) -> Vec<ScanMessage> {
        members
            .iter()
            .enumerate()
            .map(|(i, m)| ScanMessage {
                member_id: (*m).into(),
                line_user_id: format!("U{m}"),
                planned: Planned {
                    dedupe_key: format!("k{i}"),
                    message: NewMessage {
                        scenario: "s".into(),
                        class: MessageClass::Marketing,
                        action: MessageAction::LinkRichMenu {
                            rich_menu_id: "r".into(),
                        },
                        expires_after: None,
                    },
                },
            })
            .collect()
    }

    fn cut(members: &[&str]) -> (usize, usize) {
        let messages = page(members);
        let (a, b) = halves(&messages);
        (a.len(), b.len())
    }

    /// Each member's messages stay in one half, the cut as near the middle as that allows.
    #[test]
    fn a_page_is_halved_between_members() {
        assert_eq!(cut(&["a", "b", "c", "d"]), (2, 2));
        assert_eq!(cut(&["a", "b", "b", "b", "c", "d"]), (4, 2));
        assert_eq!(cut(&["a", "a", "a", "b"]), (3, 1));
        assert_eq!(cut(&["a", "a", "a"]), (3, 0));
        assert_eq!(cut(&["a"]), (1, 0));
        assert_eq!(cut(&[]), (0, 0));
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
}
