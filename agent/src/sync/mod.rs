//! The sync engine: pushes the outbox to the hub and pulls the hub's change feed.
//!
//! - Push: events after the hub's acknowledgement mark, in batches; the hub answers the highest
//!   contiguous seq it stored, and the mark only moves up. A pass pushes what was pending when
//!   it began: full batches go on, and a batch that was not full ends it. The sales recorded
//!   meanwhile woke the engine, and go in the next pass with those of the moments after. A hub
//!   that answers a mark below ours has lost events it acknowledged (restored from a backup):
//!   they are sent again from its mark, which the outbox allows because it keeps every event.
//!   Events the hub refuses (a result of `rejected` or `conflict`) are quarantined for IT with
//!   the reason; they never block the queue behind them.
//! - Pull: pages of the change feed, each applied with its cursor in one transaction; a
//!   "start again" answer clears the hub's part of the cache (never the outbox) and re-reads.
//! - A recorded sale wakes the engine, which pushes [`PUSH_SETTLE`] later with whatever else was
//!   sold meanwhile, and a busy till, whose sales wake it again as soon as a pass ends, starts
//!   a pass at most every [`BUSY_PASS_EVERY`]; otherwise it pulls every `interval` (≥ 1 s, so
//!   an idle terminal sleeps).
//! - Failures back off exponentially with full jitter, never beyond [`MAX_BACKOFF`], and sales
//!   recorded meanwhile do not bring the next attempt forward (each would read and send the
//!   whole batch to a hub that is not there). Any sign of the hub ends the wait: a lookup or the
//!   redemption probe answered, or, while the hub cannot be reached at all and events wait to
//!   be pushed, the cheap health probe sent every [`PROBE_EVERY`]; so a quiet till catches up
//!   within about a second of the hub's return. With nothing to push (a closed store whose line
//!   is down overnight) the till does not probe: it tries again when the backoff ends (the
//!   attempts thin out to one in at most 30 s), or starts probing at its next sale, so an idle
//!   till has no periodic wake-up faster than a second (docs/design.md §8).
//! - Each answer carries the hub's clock: a difference of more than two minutes is warned about.

pub mod apply;
pub mod client;
pub mod enroll;
mod online;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenpo_protocol::agent::SyncStatus;
use tenpo_protocol::sync::{ChangesResponse, PushItem, PushStatus};
use tenpo_support::Backoff;
use tokio::sync::Notify;

pub use client::{HubClient, HubError};
pub use enroll::Credentials;
pub use online::{ONLINE_LOOKUP_TIMEOUT, OnlineLookup};

use crate::ledger::Ledger;
use crate::store::StoreError;

/// Clocks further apart than this are warned about.
const MAX_SKEW_SECS: i64 = 120;
/// Before a redemption the till asks the hub whether it is there, waiting at most this long.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest wait between attempts while the hub answers with errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// While the hub cannot be reached, how often the till asks whether it answers again.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// After a sale wakes the engine, how long it waits for the sales that follow, so they go in
/// one push.
pub const PUSH_SETTLE: Duration = Duration::from_millis(200);
/// The shortest time from one pass's start to the next one's, when sales wake the engine. A
/// pass costs the sales beside it: the hub's intake and the till's commits on the same disk
/// and, where they share a machine, the hub's CPU (docs/benchmarks.md).
pub const BUSY_PASS_EVERY: Duration = Duration::from_secs(1);

/// How long a woken engine waits before its next pass, the last one having begun `since`
/// ago: the sales of the next moment go in the same push ([`PUSH_SETTLE`]), and a busy till,
/// whose sales wake the engine again as soon as a pass ends, makes a pass a
/// [`BUSY_PASS_EVERY`], not one every few hundred milliseconds.
pub fn settle_after(since: Duration) -> Duration {
    PUSH_SETTLE.max(BUSY_PASS_EVERY.saturating_sub(since))
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// How often to pull when nothing wakes the engine.
    pub interval: Duration,
    /// Events per push.
    pub batch: usize,
    /// Changes per pull.
    pub page: u32,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            interval: Duration::from_secs(15),
            batch: tenpo_protocol::sync::MAX_PUSH_EVENTS,
            page: 2_000,
        }
    }
}

/// What the engine shares with the API, the CLI and the ledger.
#[derive(Debug)]
pub struct Shared {
    pub hub_url: String,
    /// Whether the hub answered the last call (the offline redemption guard reads it).
    pub online: Arc<AtomicBool>,
    pub wake: Notify,
    /// Notified when the hub answers after it did not: a failed engine tries again at once.
    hub_back: Notify,
    pub changes_applied: AtomicU64,
    pub events_pushed: AtomicU64,
    /// Incremented after every completed pass (push then pull to the end of the feed).
    pub passes: AtomicU64,
    /// Signups completed at the hub for this terminal, as the feed brings them.
    pub signup_events: tokio::sync::broadcast::Sender<tenpo_protocol::signup::SignupCompletion>,
    /// When the hub last answered.
    last_contact: Mutex<Option<std::time::Instant>>,
    /// The hub's acknowledgement mark, as the feed said it, when it was below ours: the next
    /// push sends again from there.
    hub_behind: Mutex<Option<u64>>,
    view: Mutex<View>,
}

#[derive(Debug, Default, Clone)]
struct View {
    last_push_at: Option<DateTime<Utc>>,
    last_pull_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    clock_skew_secs: Option<i64>,
    next_attempt_at: Option<DateTime<Utc>>,
}

impl Shared {
    pub fn new(hub_url: &str) -> Arc<Shared> {
        Arc::new(Shared {
            hub_url: hub_url.to_owned(),
            online: Arc::new(AtomicBool::new(false)),
            wake: Notify::new(),
            hub_back: Notify::new(),
            changes_applied: AtomicU64::new(0),
            events_pushed: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            signup_events: tokio::sync::broadcast::Sender::new(16),
            last_contact: Mutex::new(None),
            hub_behind: Mutex::new(None),
            view: Mutex::new(View::default()),
        })
    }

    fn take_hub_behind(&self) -> Option<u64> {
        relock(&self.hub_behind).take()
    }

    fn update(&self, f: impl FnOnce(&mut View)) {
        f(&mut relock(&self.view));
    }

    /// Asks the engine to sync now.
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// The status shown in `/v1/status`.
    pub fn status(&self, acked_through: u64, members_cached: u64, quarantined: u64) -> SyncStatus {
        let v = relock(&self.view).clone();
        SyncStatus {
            hub_url: self.hub_url.clone(),
            online: self.online.load(Ordering::SeqCst),
            acked_through,
            last_push_at: v.last_push_at,
            last_pull_at: v.last_pull_at,
            last_error: v.last_error,
            clock_skew_secs: v.clock_skew_secs,
            members_cached,
            quarantined,
            passes: self.passes.load(Ordering::SeqCst),
            next_attempt_at: v.next_attempt_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a database task failed: {0}")]
    Task(String),
}

impl SyncError {
    /// Whether the hub could not be reached at all (nothing answered).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SyncError::Hub(h) if h.is_unreachable())
    }
}

/// Takes a lock whatever a panicking thread left: what these locks guard (status fields, a
/// mark) is written whole, so it is sound, and a status that stopped updating would lie.
fn relock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| {
        m.clear_poison();
        poisoned.into_inner()
    })
}

/// The engine for one enrolled terminal.
#[derive(Debug, Clone)]
pub struct Engine {
    ledger: Arc<Ledger>,
    client: HubClient,
    shared: Arc<Shared>,
    config: SyncConfig,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?
        .map_err(SyncError::from)
}

impl Engine {
    pub fn new(
        ledger: Arc<Ledger>,
        client: HubClient,
        shared: Arc<Shared>,
        config: SyncConfig,
    ) -> Engine {
        Engine {
            ledger,
            client,
            shared,
            config,
        }
    }

    pub fn client(&self) -> &HubClient {
        &self.client
    }

    fn saw_hub(&self, hub_time: DateTime<Utc>) {
        if !self.shared.online.swap(true, Ordering::SeqCst) {
            self.shared.hub_back.notify_waiters();
        }
        *relock(&self.shared.last_contact) = Some(std::time::Instant::now());
        let skew = (hub_time - Utc::now()).num_seconds();
        let before = relock(&self.shared.view).clock_skew_secs;
        if skew.abs() > MAX_SKEW_SECS && before.is_none_or(|b| b.abs() <= MAX_SKEW_SECS) {
            tracing::warn!(
                skew_secs = skew,
                "this terminal's clock differs from the hub's by more than 2 minutes: fix the time (NTP)"
            );
        }
        self.shared.update(|v| {
            v.clock_skew_secs = Some(skew);
            v.last_error = None;
        });
    }

    fn failed(&self, e: &SyncError) {
        if let SyncError::Hub(h) = e
            && h.is_unreachable()
        {
            self.shared.online.store(false, Ordering::SeqCst);
        }
        self.shared.update(|v| v.last_error = Some(e.to_string()));
    }

    /// Pushes everything pending; returns how many events the hub newly acknowledged.
    pub async fn push_all(&self) -> Result<u64, SyncError> {
        let mut batch = self.config.batch.max(1);
        let mut total = 0;
        // The hub's own mark, while it is below ours: it lost events it had acknowledged
        // (restored from a backup), and they are sent again from there.
        let mut hub_behind: Option<u64> = self.shared.take_hub_behind();
        loop {
            let store = self.ledger.store().clone();
            let counts = store.outbox_counts()?;
            self.client.note_outbox(counts.last_seq);
            let acked = counts.acked_through;
            let after = hub_behind.unwrap_or(acked).min(acked);
            let events = blocking(move || store.pending_events(after, batch)).await?;
            let Some(last) = events.last().map(|(seq, _)| *seq) else {
                return Ok(total);
            };
            let took_all_pending = events.len() < batch;
            let items = events
                .into_iter()
                .map(|(seq, bytes)| {
                    PushItem::from_stored(bytes).map_err(|e| StoreError::Corrupt {
                        what: "outbox event",
                        detail: format!("seq {seq}: {e}"),
                    })
                })
                .collect::<Result<Vec<PushItem>, StoreError>>()?;
            let response = match self.client.push(items).await {
                Ok(r) => r,
                Err(HubError::Refused { status: 413, .. }) if batch > 1 => {
                    batch /= 2;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            self.saw_hub(response.hub_time);
            let store = self.ledger.store().clone();
            let now = Utc::now().to_rfc3339();
            let results = response.results.clone();
            let mark = response.acked_through;
            let advanced = blocking(move || {
                store.write(|tx| {
                    for r in &results {
                        if matches!(r.status, PushStatus::Rejected | PushStatus::Conflict) {
                            let reason = format!(
                                "{:?}: {}",
                                r.status,
                                r.reason.as_deref().unwrap_or("no reason given")
                            );
                            tx.quarantine(r.seq, &reason, &now)?;
                        }
                    }
                    tx.advance_acked(mark)
                })
            })
            .await?;
            for r in response
                .results
                .iter()
                .filter(|r| matches!(r.status, PushStatus::Rejected | PushStatus::Conflict))
            {
                tracing::error!(seq = r.seq, status = ?r.status, reason = r.reason.as_deref().unwrap_or(""), "the hub refused an event; quarantined for IT");
            }
            if mark < acked {
                if hub_behind.is_some_and(|behind| mark <= behind) {
                    // Sent again and the hub did not move: try again on the next pass.
                    return Ok(total);
                }
                if hub_behind.is_none() {
                    tracing::error!(
                        hub_mark = mark,
                        acked,
                        "the hub no longer has events {}..={acked} that it had acknowledged \
                         (restored from a backup?): sending them again",
                        mark + 1
                    );
                }
                hub_behind = Some(mark);
                continue;
            }
            hub_behind = None;
            let newly = advanced.saturating_sub(acked);
            total += newly;
            self.shared.events_pushed.fetch_add(newly, Ordering::SeqCst);
            self.shared.update(|v| v.last_push_at = Some(Utc::now()));
            if advanced < last {
                // The hub is missing an earlier event (its mark stopped below this batch):
                // the next pass sends from the mark again.
                return Ok(total);
            }
            if took_all_pending {
                // Everything pending when this batch was read has gone. Reading again would
                // chase a busy till's sales a few at a time, back to back (a push every
                // millisecond in the till bench, each a commit at the hub and one here, the
                // sales beside them waiting), and the pull after the push would never come.
                return Ok(total);
            }
        }
    }

    /// Compares the hub's mark for this terminal, as the feed tells it, with ours: below ours,
    /// the hub lost events it had acknowledged (a restore, or a terminal enrolled again under
    /// its id), and the next push sends them again. Nothing is pending in that case, so without
    /// this the push would never find out.
    async fn check_hub_mark(&self, mark: u64) -> Result<(), SyncError> {
        let store = self.ledger.store().clone();
        let ours = blocking(move || store.outbox_counts()).await?.acked_through;
        if mark >= ours {
            return Ok(());
        }
        let mut behind = relock(&self.shared.hub_behind);
        if behind.is_none_or(|b| b != mark) {
            tracing::error!(
                hub_mark = mark,
                acked = ours,
                "the hub no longer has events {}..={ours} that it had acknowledged (restored from \
                 a backup?): sending them again",
                mark + 1
            );
            *behind = Some(mark);
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Pulls the change feed to its end; returns how many changes were applied.
    ///
    /// While one page is applied, the next is already being fetched with the cursor the hub
    /// gave (the hub's work and the till's overlap on two cores: a first sync of 1,000,000
    /// members is one long run of pages). Each page is still applied with its cursor in one
    /// transaction, in order, so a stop at any point resumes where the last commit left off.
    pub async fn pull_all(&self) -> Result<u64, SyncError> {
        let mut total = 0;
        let mut resets = 0;
        // The hub's mark is the same on every page of one pull: compared once.
        let mut mark_checked = false;
        // The next page, fetched while the one before it was applied, and the cursor it is for.
        let mut prefetched: Option<(String, Result<ChangesResponse, HubError>)> = None;
        loop {
            let (cursor, fetched) = match prefetched.take() {
                Some(next) => next,
                None => {
                    let store = self.ledger.store().clone();
                    let cursor = blocking(move || store.feed_cursor()).await?;
                    let fetched = self.client.changes(&cursor, self.config.page).await;
                    (cursor, fetched)
                }
            };
            let page = match fetched {
                Ok(p) => p,
                Err(HubError::CursorReset) if resets < 2 => {
                    resets += 1;
                    tracing::warn!(
                        "the hub asked to start the change feed again: rebuilding the member cache"
                    );
                    let store = self.ledger.store().clone();
                    blocking(move || {
                        store.write(|tx| {
                            tx.clear_hub_cache()?;
                            tx.set_feed_cursor("")
                        })
                    })
                    .await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            self.saw_hub(page.hub_time);
            if let Some(mark) = page.acked_through
                && !mark_checked
            {
                mark_checked = true;
                self.check_hub_mark(mark).await?;
            }
            let count = page.changes.len() as u64;
            if count == 0 && !page.more && page.next_cursor == cursor {
                // Nothing new, the cursor where it was: nothing to write (a pull after every
                // sale's push would otherwise cost the till a commit each time).
                self.shared.update(|v| v.last_pull_at = Some(Utc::now()));
                return Ok(total);
            }
            let store = self.ledger.store().clone();
            let terminal = self.ledger.identity().terminal_id.clone();
            // To the second: it is kept on every cached member, and nothing needs finer.
            let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let more = page.more;
            let next_cursor = page.next_cursor.clone();
            let apply = blocking(move || {
                let held = apply::held(&store, &terminal, &page.changes)?;
                store.write(|tx| {
                    apply::apply_page(tx, &terminal, &page.changes, &held, &page.next_cursor, &now)
                })
            });
            let applied = if more {
                let fetch = self.client.changes(&next_cursor, self.config.page);
                let (applied, fetched) = tokio::join!(apply, fetch);
                prefetched = Some((next_cursor, fetched));
                applied?
            } else {
                apply.await?
            };
            apply::take_effect(&self.ledger, &applied);
            for done in &applied.signups {
                let _ = self.shared.signup_events.send(done.clone());
            }
            total += count;
            self.shared
                .changes_applied
                .fetch_add(count, Ordering::SeqCst);
            self.shared.update(|v| v.last_pull_at = Some(Utc::now()));
            if !more {
                return Ok(total);
            }
        }
    }

    /// One pass: push everything, then pull to the end of the feed.
    pub async fn sync_once(&self) -> Result<(u64, u64), SyncError> {
        let result = async {
            let pushed = self.push_all().await?;
            let pulled = self.pull_all().await?;
            Ok((pushed, pulled))
        }
        .await;
        match &result {
            Ok(_) => {
                self.shared.passes.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => self.failed(e),
        }
        result
    }

    /// Runs until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
        tokio::pin!(stop);
        loop {
            let began = tokio::time::Instant::now();
            let failed = match self.sync_once().await {
                Ok((pushed, pulled)) => {
                    backoff.reset();
                    if pushed > 0 || pulled > 0 {
                        tracing::info!(pushed, pulled, "synced with the hub");
                    }
                    None
                }
                Err(e) => Some(e),
            };
            let wait = match &failed {
                None => self.config.interval,
                Some(e) => {
                    let delay = backoff.next_delay().max(Duration::from_millis(200));
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "sync failed; will retry");
                    delay
                }
            };
            let next = chrono::Duration::from_std(wait)
                .ok()
                .and_then(|w| Utc::now().checked_add_signed(w));
            self.shared.update(|v| v.next_attempt_at = next);
            match failed {
                None => {
                    let woken = tokio::select! {
                        () = &mut stop => return,
                        () = self.shared.wake.notified() => true,
                        () = tokio::time::sleep(wait) => false,
                    };
                    if woken {
                        tokio::select! {
                            () = &mut stop => return,
                            () = tokio::time::sleep(settle_after(began.elapsed())) => {}
                        }
                    }
                }
                Some(e) => {
                    let probe = e.is_unreachable();
                    tokio::select! {
                        () = &mut stop => return,
                        () = self.wait_for_hub(wait, probe) => {}
                    }
                }
            }
        }
    }

    /// After a failure: waits out `delay`, or less when the hub shows a sign of life (an
    /// answered lookup or redemption probe; with `probe`, for a hub that could not be reached
    /// at all, the health probe sent every [`PROBE_EVERY`] while events wait to be pushed,
    /// however long `delay` is). With `probe` and nothing pending, a sale recorded meanwhile
    /// (it wakes the engine) starts the probes.
    async fn wait_for_hub(&self, delay: Duration, probe: bool) {
        let until = tokio::time::Instant::now() + delay;
        let mut probing = probe && self.anything_pending();
        while !probing {
            tokio::select! {
                () = self.shared.hub_back.notified() => return,
                () = tokio::time::sleep_until(until) => return,
                () = self.shared.wake.notified(), if probe => {}
            }
            // A wake can be left over from sales a pass already pushed (a pass the hub's going
            // cut short after its push): only events still waiting start the probes.
            probing = self.anything_pending();
        }
        while probing {
            tokio::select! {
                () = self.shared.hub_back.notified() => return,
                () = tokio::time::sleep(PROBE_EVERY) => {}
            }
            match self.client.health(PROBE_TIMEOUT).await {
                Ok(health) => {
                    self.saw_hub(health.hub_time);
                    return;
                }
                // Still not there: the next attempt waits for its answer.
                Err(e) if e.is_unreachable() => continue,
                // There, but failing: the rest of the delay is waited out.
                Err(_) => probing = false,
            }
        }
        tokio::select! {
            () = self.shared.hub_back.notified() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }

    /// Whether the outbox holds events the hub has not acknowledged (a read of two counts, here
    /// as in [`Engine::push_all`]: a trip to the blocking pool would wake a thread for it). A
    /// store that cannot tell counts as pending: probing costs a request, not a sale.
    fn anything_pending(&self) -> bool {
        self.ledger
            .store()
            .outbox_counts()
            .map_or(true, |c| c.pending > 0)
    }
}

#[cfg(test)]
mod tests;
