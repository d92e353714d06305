//! The hub's store on PostgreSQL: a pool of connections shared by the requests of one hub
//! process, while other hub processes use the same database (docs/design.md §12).
//!
//! Each operation is one transaction of the decisions in `store::unit` over [`PgUnit`]. One
//! that another hub's transaction got in the way of (a deadlock, the same new row) is run again
//! from the start, a few times, before its caller hears [`StoreError::Contention`]. A database
//! that cannot be reached is [`StoreError::Unavailable`] (answered 503); nothing is half done.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::sync::MemberSnapshot;
use tokio_postgres::IsolationLevel;

use super::feed::LOG_END;
use super::transaction::PgUnit;
use super::{DatabaseUrl, migrate, pool};
use crate::cursor::FeedPosition;
use crate::review::ReviewLimits;
use crate::store::outbox::{OutboxCounts, Planner};
use crate::store::unit::intake::Applying;
use crate::store::unit::{self, feed::FeedReads as _};
use crate::store::{
    ChangesPage, Enrolled, HubCounts, Incoming, PushOutcome, StoreError, Terminal, TillStore,
    from_json,
};

/// How many times an operation is tried when other hubs' transactions get in its way.
const ATTEMPTS: u32 = 4;

/// Taken while a hub starts (makes the epoch and the first signing key once) ("strt").
const START_LOCK: i64 = 0x7374_7274;

/// The PostgreSQL hub store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    /// This database's feed epoch, and this process's run of the hub.
    epoch: String,
    run: String,
    /// How far this run has recorded that its cursors reach (`feed_runs.reached`).
    reached: AtomicU64,
    /// Every rule set loaded, by version: filled again when another hub loads a newer one.
    rules: RwLock<BTreeMap<u32, Arc<RuleSet>>>,
    planner: RwLock<Option<Arc<dyn Planner>>>,
    /// How wishes notify (`CatalogStore::set_wish_settings`).
    wishes: RwLock<Arc<crate::wishes::WishSettings>>,
    /// Held while a scan's page takes its ids: pages are numbered in the order their writes
    /// started (tokio's mutex is first come, first served).
    numbering: tokio::sync::Mutex<()>,
}

impl PgStore {
    /// Connects to `url` with at most `connections` connections, migrates the schema, and
    /// records this run of the hub.
    pub async fn open(
        url: &DatabaseUrl,
        connections: usize,
        now: DateTime<Utc>,
    ) -> Result<PgStore, StoreError> {
        let pool = pool(url, connections)?;
        let mut client = pool.get().await?;
        migrate(&mut client).await?;
        client.execute(FOLD_MESSAGE_TALLIES, &[]).await?;
        client.execute(FOLD_MEMBER_TALLIES, &[]).await?;
        let (epoch, run) = start(&mut client, now).await?;
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                epoch,
                run,
                reached: AtomicU64::new(0),
                rules: RwLock::new(BTreeMap::new()),
                planner: RwLock::new(None),
                wishes: RwLock::new(Arc::default()),
                numbering: tokio::sync::Mutex::new(()),
            }),
        };
        store.refresh_rules(&client).await?;
        Ok(store)
    }

    /// Sets the scenarios whose messages each cause writes (`LineStore::set_planner`).
    pub(super) fn put_planner(&self, planner: Arc<dyn Planner>) {
        *self
            .inner
            .planner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(planner);
    }

    pub(super) fn put_wishes(&self, settings: crate::wishes::WishSettings) {
        *self
            .inner
            .wishes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(settings);
    }

    pub(super) fn wishes(&self) -> Arc<crate::wishes::WishSettings> {
        self.inner
            .wishes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The most connections this hub opens (`[database] connections`).
    pub(super) fn pool_size(&self) -> usize {
        self.inner.pool.status().max_size
    }

    /// A scan page's turn to take its ids ([`Inner::numbering`]).
    pub(super) async fn numbering_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.numbering.lock().await
    }

    pub(super) fn planner(&self) -> Option<Arc<dyn Planner>> {
        self.inner
            .planner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn rules(&self, version: u32) -> Option<Arc<RuleSet>> {
        let cache = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        cache.get(&version).cloned()
    }

    /// The newest rule set any hub loaded, if any.
    pub(super) async fn newest_rules(&self) -> Result<Option<Arc<RuleSet>>, StoreError> {
        let client = self.client().await?;
        self.refresh_rules(&client).await?;
        let cache = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        Ok(cache.values().next_back().cloned())
    }

    /// A connection from the pool.
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.inner.pool.get().await?)
    }

    /// This database's epoch (the feed's, and what birthday coupons' ids are made from).
    pub(super) fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    fn newest_cached_rules(&self) -> Option<u32> {
        let cache = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        cache.keys().next_back().copied()
    }

    /// Reads the rule sets another hub loaded since this one last looked.
    pub(super) async fn refresh_rules(&self, client: &Object) -> Result<(), StoreError> {
        let known = self.newest_cached_rules().map_or(0, |v| v as i32);
        let stmt = client
            .prepare_cached("SELECT version, rules FROM rule_sets WHERE version > $1")
            .await?;
        let rows = client.query(&stmt, &[&known]).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut loaded = Vec::with_capacity(rows.len());
        for row in rows {
            let version: i32 = row.try_get(0)?;
            let rules: RuleSet = from_json("rule set", row.try_get(1)?)?;
            loaded.push((version.unsigned_abs(), Arc::new(rules)));
        }
        let mut cache = self.inner.rules.write().unwrap_or_else(|e| e.into_inner());
        cache.extend(loaded);
        Ok(())
    }

    /// Runs `attempt` with a pooled connection, again while other hubs' transactions get in
    /// its way.
    pub(super) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(Object) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let client = self.inner.pool.get().await?;
            match attempt(client).await {
                Err(StoreError::Contention(why)) if tries < ATTEMPTS => {
                    tracing::debug!(%why, tries, "transaction ran into another hub's; again");
                }
                other => return other,
            }
        }
    }
}

impl TillStore for PgStore {
    async fn enroll(
        &self,
        code: String,
        terminal_name: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Enrolled, StoreError> {
        self.retrying(|mut client| {
            let (code, name) = (&code, terminal_name.as_deref());
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let enrolled = unit::admin::enroll(&mut db, code, name, now).await?;
                tx.commit().await?;
                Ok(enrolled)
            }
        })
        .await
    }

    async fn terminal(&self, terminal_id: String) -> Result<Option<Terminal>, StoreError> {
        let client = self.inner.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT terminal_id, store_id, secret_hash, acked_through FROM terminals
                 WHERE terminal_id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&terminal_id]).await? else {
            return Ok(None);
        };
        let hash: Vec<u8> = row.try_get(2)?;
        let secret_hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt {
            what: "terminal secret hash",
            detail: terminal_id.clone(),
        })?;
        Ok(Some(Terminal {
            terminal_id: row.try_get(0)?,
            store_id: row.try_get(1)?,
            secret_hash,
            acked_through: row.try_get::<_, i64>(3)?.unsigned_abs(),
        }))
    }

    async fn push(
        &self,
        terminal: Terminal,
        events: Vec<Incoming>,
        review: ReviewLimits,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, StoreError> {
        let planner = self.planner();
        let wishes = self.wishes();
        self.retrying(|mut client| {
            let (terminal, events, planner) = (&terminal, &events, planner.as_deref());
            let wishes = &*wishes;
            async move {
                self.refresh_rules(&client).await?;
                let rules = |v| self.rules(v);
                let ctx = Applying {
                    rules: &rules,
                    limits: review,
                    planner,
                    wishes,
                    now,
                };
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let outcome = unit::intake::push(&mut db, ctx, terminal, events).await?;
                // Written already (before the terminal's events were read again); never left.
                db.write_pending().await?;
                tx.commit().await?;
                Ok(outcome)
            }
        })
        .await
    }

    async fn changes(
        &self,
        after: Option<FeedPosition>,
        limit: u32,
    ) -> Result<ChangesPage, StoreError> {
        let inner = &self.inner;
        let mut client = inner.pool.get().await?;
        // One snapshot: the page names each thing as it stood at one moment.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let mut db = PgUnit::new(&tx);
        let page =
            unit::feed::changes(&mut db, &inner.epoch, &inner.run, after.as_ref(), limit).await?;
        tx.commit().await?;
        // Before the cursor leaves the hub, the run's mark covers it (docs: postgres/feed.rs).
        let position = page.next.position;
        if position > inner.reached.load(Ordering::Acquire) {
            let stmt = client
                .prepare_cached(
                    "UPDATE feed_runs SET reached = GREATEST(COALESCE(reached, 0), $2)
                     WHERE run = $1",
                )
                .await?;
            let at = i64::try_from(position).unwrap_or(i64::MAX);
            client.execute(&stmt, &[&inner.run, &at]).await?;
            inner.reached.fetch_max(position, Ordering::AcqRel);
        }
        Ok(page)
    }

    async fn member_by_code(&self, code: String) -> Result<Option<MemberSnapshot>, StoreError> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let mut db = PgUnit::new(&tx);
        let member = match unit::Statements::code_owner(&mut db, code.trim()).await? {
            Some(id) => db.member(&id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(member)
    }

    async fn create_enrollment_code(
        &self,
        store_id: String,
        for_terminal: Option<String>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        self.retrying(|mut client| {
            let (store_id, for_terminal) = (&store_id, for_terminal.as_deref());
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                let code = unit::admin::create_enrollment_code(
                    &mut db,
                    store_id,
                    for_terminal,
                    expires_at,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(code)
            }
        })
        .await
    }

    async fn load_rules(&self, rules: RuleSet, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.retrying(|mut client| {
            let rules = &rules;
            async move {
                let tx = client.transaction().await?;
                let mut db = PgUnit::new(&tx);
                unit::admin::load_rules(&mut db, rules, now).await?;
                tx.commit().await?;
                self.refresh_rules(&client).await
            }
        })
        .await
    }

    async fn current_rules(&self) -> Result<Option<RuleSet>, StoreError> {
        let client = self.inner.pool.get().await?;
        self.refresh_rules(&client).await?;
        let cache = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        Ok(cache.values().next_back().map(|r| (**r).clone()))
    }

    /// Whether a write can begin now (for `/v1/health`).
    async fn check_writable(&self) -> Result<(), StoreError> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SET TRANSACTION READ WRITE").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn counts(&self) -> Result<HubCounts, StoreError> {
        let mut client = self.inner.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        // The events waiting are found by key, a few rows, but the planner, estimating thousands
        // a terminal, JIT-compiled the query at each scrape: 7–8 ms a scrape at 300 tills with
        // it, 1.4–1.7 ms without (docs/benchmarks.md).
        tx.batch_execute("SET LOCAL jit = off").await?;
        let db = PgUnit::new(&tx);
        let count = async |sql: &str| -> Result<u64, StoreError> {
            let row = db.query_one(sql, &[]).await?;
            Ok(row
                .try_get::<_, Option<i64>>(0)?
                .unwrap_or(0)
                .unsigned_abs())
        };
        // Not a count of `events`, which a chain's hub has hundreds of millions of: the marks'
        // sum and the events past them (store/sqlite/metrics.rs says why that is every event).
        let applied = count("SELECT SUM(acked_through)::bigint FROM terminals").await?;
        let waiting = count(WAITING).await?;
        let mut messages = OutboxCounts::default();
        for row in db.query(MESSAGE_COUNTS, &[]).await? {
            messages.add(row.try_get(0)?, row.try_get::<_, i64>(1)?.unsigned_abs())?;
        }
        let counts = HubCounts {
            terminals: count("SELECT COUNT(*) FROM terminals").await?,
            stores: count("SELECT COUNT(DISTINCT store_id) FROM terminals").await?,
            events: applied + waiting,
            events_waiting: waiting,
            conflicts: count("SELECT COUNT(*) FROM conflicts").await?,
            discrepancies: count("SELECT COUNT(*) FROM discrepancies").await?,
            // Kept by schema 8's triggers: a count of every member read them all.
            members: count("SELECT COALESCE(SUM(n), 0)::bigint FROM member_tallies").await?,
            rule_set_version: count("SELECT MAX(version)::bigint FROM rule_sets").await?,
            messages,
        };
        tx.commit().await?;
        Ok(counts)
    }
}

/// The messages per state, from the counts schema 7 keeps (each state's rows of every server
/// process, added up): not a count of every message ever queued.
pub(super) const MESSAGE_COUNTS: &str =
    "SELECT state, SUM(n)::bigint FROM message_tallies GROUP BY state";

/// Adds the messages a statement queued (`$1` their states, `$2` how many of each) to this
/// server process's counts (schema 7: no trigger counts a message queued).
pub(super) const ADD_MESSAGE_TALLIES: &str = "
    INSERT INTO message_tallies AS t (state, shard, n)
        SELECT s, pg_backend_pid(), c FROM unnest($1::text[], $2::bigint[]) AS x(s, c) ORDER BY s
        ON CONFLICT (state, shard) DO UPDATE SET n = t.n + EXCLUDED.n";

/// The message counts of server processes that have ended, folded into shard 0, so that the
/// rows do not pile up with every connection a hub ever made. Run when a hub opens the
/// database; a row of a live process is left alone (it may be in the middle of a change).
const FOLD_MESSAGE_TALLIES: &str = "
    WITH gone AS (
        DELETE FROM message_tallies
        WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
        RETURNING state, n)
    INSERT INTO message_tallies AS t (state, shard, n)
        SELECT state, 0, SUM(n)::bigint FROM gone GROUP BY state ORDER BY state
        ON CONFLICT (state, shard) DO UPDATE SET n = t.n + EXCLUDED.n";

/// The member counts of ended processes folded into shard 0, as [`FOLD_MESSAGE_TALLIES`].
const FOLD_MEMBER_TALLIES: &str = "
    WITH gone AS (
        DELETE FROM member_tallies
        WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
        RETURNING n)
    INSERT INTO member_tallies AS t (shard, n)
        SELECT 0, SUM(n)::bigint FROM gone HAVING COUNT(*) > 0
        ON CONFLICT (shard) DO UPDATE SET n = t.n + EXCLUDED.n";

/// The events stored past their terminal's mark, each terminal's read from its mark on by the
/// primary key (terminal, seq): as many rows as wait, not every event.
const WAITING: &str = "SELECT COALESCE(SUM((SELECT count(*) FROM events e
        WHERE e.terminal_id = t.terminal_id AND e.seq > t.acked_through)), 0)::bigint
     FROM terminals t";

/// Makes what a new database needs (its epoch and a card signing key) once, whichever hub
/// starts first, and records this run of the hub. Returns the epoch and the run.
async fn start(client: &mut Object, now: DateTime<Utc>) -> Result<(String, String), StoreError> {
    let tx = client.transaction().await?;
    let mut db = PgUnit::new(&tx);
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&START_LOCK])
        .await?;
    let fresh = hex::encode(crate::secrets::random_bytes::<8>()?);
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING",
        &[&fresh],
    )
    .await?;
    let epoch: String = db
        .query_one("SELECT value FROM meta WHERE key = 'epoch'", &[])
        .await?
        .try_get(0)?;
    let keys: i64 = db
        .query_one("SELECT COUNT(*) FROM signing_keys WHERE active", &[])
        .await?
        .try_get(0)?;
    if keys == 0 {
        let secret = crate::secrets::random_bytes::<32>()?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
        let public = signing.verifying_key().to_bytes();
        let key_id: i32 = db
            .query_one(
                "INSERT INTO signing_keys (public_key, secret_key, active, created_at)
                 VALUES ($1, $2, true, $3) RETURNING key_id",
                &[&public.as_slice(), &secret.as_slice(), &now],
            )
            .await?
            .try_get(0)?;
        db.log_change("signing_key", &key_id.to_string()).await?;
        tracing::info!(key_id, "made a new card signing key");
    }
    // Under the change log's lock: no change taken before this run's start commits after it.
    db.take_change_log().await?;
    let run = hex::encode(crate::secrets::random_bytes::<8>()?);
    let started_after: i64 = db.query_one(LOG_END, &[]).await?.try_get(0)?;
    db.execute(
        "INSERT INTO feed_runs (run, started_after, started_at, reached) VALUES ($1, $2, $3, $2)",
        &[&run, &started_after, &now],
    )
    .await?;
    tx.commit().await?;
    Ok((epoch, run))
}
