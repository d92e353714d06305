//! The message outbox's writes on PostgreSQL a page at a time: a page of the daily scan and
//! a sender's batch of endings, each one statement over arrays (`unnest`) instead of one a row.
//! Asked one row at a time over a socket, the scan of 1,000,000 members took minutes and the
//! sender kept under half its configured rate (docs/benchmarks.md, "Messaging"); the rows
//! written, and what each statement reads again as it writes, are the same.

use crate::store::outbox::{Finished, MessageClass, MessageOutcome, ScanMessage};

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

/// A page of the daily scan's messages, a column an array, for [`QUEUE_PAGE`].
pub(super) struct PageColumns<'a> {
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
    pub(super) fn of(messages: &'a [ScanMessage], now_ms: i64) -> PageColumns<'a> {
        let n = messages.len();
        let mut page = PageColumns {
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
/// `$10`, `$11`) and its choice of
/// store news, inserted in the order planned (the sender's order among equals), each key once
/// ever; answers the rows written per state.
pub(super) const QUEUE_PAGE: &str = "
    WITH queued AS (
        INSERT INTO messages
            (dedupe_key, member_id, line_user_id, scenario, class, channel, action, body, state,
             last_error, not_before_ms, expires_at_ms, created_at)
        SELECT q.dedupe_key, lu.member_id, lu.line_user_id, q.scenario, q.class, 'line',
               q.action, q.body,
               CASE WHEN lu.following = false THEN $10 ELSE 'pending' END,
               CASE WHEN lu.following = false THEN $11 END, $12, q.expires_at_ms, $13
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::bigint[], $9::boolean[])
             WITH ORDINALITY AS q(dedupe_key, member_id, line_user_id, scenario, class, action,
                                  body, expires_at_ms, marketing, n)
        JOIN line_users lu ON lu.member_id = q.member_id AND lu.line_user_id = q.line_user_id
        LEFT JOIN member_profiles p ON p.member_id = lu.member_id
        WHERE NOT q.marketing OR coalesce(p.marketing, true)
        ORDER BY q.n
        ON CONFLICT DO NOTHING
        RETURNING state
    )
    SELECT state, COUNT(*) FROM queued GROUP BY state ORDER BY state";
