//! What members in LINE need of the store ([`LineStore`]) on PostgreSQL: the decisions are
//! `store::unit` (signup, line, outbox, scan), the rest are reads and plain writes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::sync::MemberSnapshot;

use super::outbox_pages::{Endings, scan_writers_for};
use super::store::PgStore;
use super::transaction::PgUnit;
use crate::store::model::{
    CardKey, CompleteSignup, Friendship, LineEvent, LineIntake, SignupRecord,
};
use crate::store::outbox::{
    Claim, Finished, Greeting, HomeStores, MessageClass, MessageView, NewMessage, OutboxCounts,
    OutboxMessage, PlannedPage, Planner, Profile, ScanMessage,
};
use crate::store::unit::{self, Statements as _};
use crate::store::{LineStore, StoreError};

impl LineStore for PgStore {
    fn set_planner(&self, planner: Arc<dyn Planner>) {
        self.put_planner(planner);
    }

    async fn line_events(
        &self,
        events: Vec<LineEvent>,
        greeting: Greeting,
        now: DateTime<Utc>,
    ) -> Result<LineIntake, StoreError> {
        self.retrying(|mut client| {
            let (events, greeting) = (&events, &greeting);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let intake = unit::line::take(&mut db, events, greeting, now).await?;
                tx.commit().await?;
                Ok(intake)
            }
        })
        .await
    }

    async fn claim_messages(
        &self,
        claim: Claim,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.retrying(|mut client| {
            let claim = &claim;
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let claimed = unit::outbox::claim(&mut db, claim, now).await?;
                db.write_leases().await?;
                tx.commit().await?;
                Ok(claimed)
            }
        })
        .await
    }

    /// Records how each claimed row's attempt ended. A row no longer `sending` (another sender
    /// took it after the lease ran out and finished it) is left as it is. One statement per
    /// kind of ending, not one a row (claim_ahead.rs says why).
    async fn finish_messages(
        &self,
        outcomes: Vec<Finished>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let endings = Endings::of(outcomes);
        self.retrying(|mut client| {
            let e = &endings;
            async move {
                let tx = client.transaction().await?;
                let db = PgUnit::new(&tx);
                // LINE has it, whichever sender's attempt it was.
                if !e.sent.0.is_empty() {
                    db.execute(
                        "UPDATE messages m SET state = 'sent', sent_at = $3,
                             request_id = x.request_id, lease_until_ms = NULL, last_error = NULL
                         FROM unnest($1::bigint[], $2::text[]) AS x(id, request_id)
                         WHERE m.id = x.id AND m.state IN ('sending', 'pending')",
                        &[&e.sent.0, &e.sent.1, &now],
                    )
                    .await?;
                }
                // Only the lease holder's own attempt.
                if !e.retry.0.is_empty() {
                    db.execute(
                        "UPDATE messages m SET state = 'pending', not_before_ms = x.not_before_ms,
                             last_error = x.error, lease_until_ms = NULL
                         FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::text[])
                              AS x(id, attempt, not_before_ms, error)
                         WHERE m.id = x.id AND m.state = 'sending' AND m.attempts = x.attempt",
                        &[&e.retry.0, &e.retry.1, &e.retry.2, &e.retry.3],
                    )
                    .await?;
                }
                if !e.failed.0.is_empty() {
                    db.execute(
                        "UPDATE messages m SET state = 'failed', last_error = x.error,
                             lease_until_ms = NULL
                         FROM unnest($1::bigint[], $2::integer[], $3::text[])
                              AS x(id, attempt, error)
                         WHERE m.id = x.id AND m.state = 'sending' AND m.attempts = x.attempt",
                        &[&e.failed.0, &e.failed.1, &e.failed.2],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        })
        .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(super::store::MESSAGE_COUNTS).await?;
        let mut counts = OutboxCounts::default();
        for row in client.query(&stmt, &[]).await? {
            counts.add(row.try_get(0)?, row.try_get::<_, i64>(1)?.unsigned_abs())?;
        }
        Ok(counts)
    }

    async fn plan_linked(
        &self,
        today: Date,
        stores: HomeStores,
        after: String,
        limit: u32,
    ) -> Result<PlannedPage, StoreError> {
        let (Some(planner), Some(rules)) = (self.planner(), self.newest_rules().await?) else {
            return Ok(PlannedPage::default());
        };
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let mut db = PgUnit::new(&tx);
        let page = unit::scan::Page {
            today,
            stores: &stores,
            after: &after,
            limit,
        };
        let planned = unit::scan::plan(&mut db, planner.as_ref(), &rules, page).await?;
        tx.commit().await?;
        Ok(planned)
    }

    /// Writes a planned page's messages; answers how many were new. What can change between
    /// the plan and the write is read again in the insert itself: the link (a member who
    /// unlinked gets nothing), the friendship (a user who blocked the account gets an
    /// `unreachable` row) and the choice of store news. The page's ids are taken first, one
    /// page at a time in the order the writes started (the scan starts them in page order),
    /// then it is written in one statement (`outbox_pages::QUEUE_PAGE`).
    async fn queue_linked(
        &self,
        messages: Vec<ScanMessage>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let ids = self.message_ids_in_turn(messages.len()).await?;
        self.queue_page(&messages, &ids, now).await
    }

    /// Up to three pages at once, each one server process's work (`outbox_pages.rs` says why),
    /// while the next is read on a connection of its own ([`scan_writers_for`]).
    fn scan_writers(&self) -> usize {
        scan_writers_for(self.pool_size())
    }

    /// `ANALYZE messages` after a scan that queued a good part of a table's worth: autovacuum
    /// would do it in its own time, and meanwhile the sender's claim, planned for the queue the
    /// statistics last saw (empty), read every waiting message to sort it: 391 messages a
    /// second after a scan of 1,000,000 (docs/benchmarks.md, "Messaging"). At a statistics
    /// target of [`ANALYZE_SAMPLE_TARGET`]: the claim's plan needs the queue's size and the
    /// share of each state, not fine histograms, and the default sample (ten times larger)
    /// read pages of the table for 0.2–0.4 s at the end of the scan; autovacuum's own
    /// analysis, later, takes the default.
    async fn scan_queued(&self, messages: u64) -> Result<(), StoreError> {
        if messages < ANALYZE_AFTER {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "SET LOCAL default_statistics_target = {ANALYZE_SAMPLE_TARGET}; ANALYZE messages"
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn member_profile(&self, member_id: String) -> Result<Profile, StoreError> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let mut db = PgUnit::new(&tx);
        let row = db.profile_row(&member_id).await?;
        tx.commit().await?;
        Ok(row.unwrap_or_default().profile())
    }

    async fn home_store(&self, member_id: String) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT home_store FROM members WHERE member_id = $1")
            .await?;
        let row = client.query_opt(&stmt, &[&member_id]).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.flatten())
    }

    async fn save_profile(
        &self,
        member_id: String,
        profile: Profile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying(|mut client| {
            let (member_id, profile) = (&member_id, &profile);
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                unit::line::save_profile(&mut db, member_id, profile, now).await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await
    }

    async fn unlink_line(
        &self,
        line_user_id: String,
        goodbye: Option<NewMessage>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.retrying(|mut client| {
            let (line_user_id, goodbye) = (&line_user_id, goodbye.as_ref());
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let member = unit::line::unlink(&mut db, line_user_id, goodbye, now).await?;
                tx.commit().await?;
                Ok(member)
            }
        })
        .await
    }

    async fn member_messages(&self, member_id: String) -> Result<Vec<MessageView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT message_id::text, scenario, class, state, attempts, last_error,
                        created_at, sent_at
                 FROM messages WHERE member_id = $1 ORDER BY id",
            )
            .await?;
        let mut views = Vec::new();
        for r in client.query(&stmt, &[&member_id]).await? {
            let class: String = r.try_get(2)?;
            let class = MessageClass::parse(&class)
                .ok_or_else(|| StoreError::Corrupt {
                    what: "message class",
                    detail: class.clone(),
                })?
                .as_str();
            views.push(MessageView {
                message_id: r.try_get(0)?,
                scenario: r.try_get(1)?,
                class,
                state: r.try_get(3)?,
                attempts: r.try_get::<_, i32>(4)?.unsigned_abs(),
                last_error: r.try_get(5)?,
                created_at: r.try_get::<_, DateTime<Utc>>(6)?.to_rfc3339(),
                sent_at: r
                    .try_get::<_, Option<DateTime<Utc>>>(7)?
                    .map(|t| t.to_rfc3339()),
            });
        }
        Ok(views)
    }

    async fn friendship(&self, line_user_id: String) -> Result<Option<Friendship>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT following, changed_at_ms, first_followed_at_ms FROM line_friends
                 WHERE line_user_id = $1",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&line_user_id]).await?;
        row.map(|r| {
            Ok(Friendship {
                following: r.try_get(0)?,
                changed_at_ms: r.try_get(1)?,
                first_followed_at_ms: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn complete_signup(
        &self,
        request: CompleteSignup,
        now: DateTime<Utc>,
    ) -> Result<SignupRecord, StoreError> {
        self.retrying(|mut client| {
            let request = &request;
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let record = unit::signup::complete(&mut db, request, now).await?;
                tx.commit().await?;
                Ok(record)
            }
        })
        .await
    }

    async fn signup(&self, signup_id: String) -> Result<Option<SignupRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let mut db = PgUnit::new(&tx);
        let record = unit::signup::record(&mut db, &signup_id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn member_by_line_user(
        &self,
        line_user_id: String,
    ) -> Result<Option<MemberSnapshot>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let mut db = PgUnit::new(&tx);
        let member = unit::signup::member_of_line(&mut db, &line_user_id).await?;
        tx.commit().await?;
        Ok(member)
    }

    async fn card_key(&self) -> Result<Option<CardKey>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT key_id, secret_key FROM signing_keys WHERE active
                 ORDER BY key_id DESC LIMIT 1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[]).await? else {
            return Ok(None);
        };
        let key_id: i32 = row.try_get(0)?;
        let secret: Vec<u8> = row.try_get(1)?;
        let secret: [u8; 32] = secret.try_into().map_err(|_| StoreError::Corrupt {
            what: "card signing key",
            detail: format!("key {key_id} is not 32 bytes"),
        })?;
        Ok(Some(CardKey {
            key_id: key_id.unsigned_abs(),
            secret,
        }))
    }
}

/// Messages a scan queues before the statistics of `messages` are brought up to date: below
/// it, autovacuum's own threshold (a tenth of the table) comes soon enough.
const ANALYZE_AFTER: u64 = 10_000;

/// The statistics target of the analysis after a scan (PostgreSQL's default is 100): it samples
/// 300 rows per unit, 3,000 rows.
const ANALYZE_SAMPLE_TARGET: u32 = 10;
