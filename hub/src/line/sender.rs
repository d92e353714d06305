//! The outbox's LINE sender (docs/design.md §10): claims due rows, sends each with its UUID as
//! `X-Line-Retry-Key`, and records LINE's answer.
//!
//! - **Exactly once.** A row is claimed with a lease before it is sent and finished after;
//!   a sender that dies in between leaves it `sending`, and it is sent again with the same retry
//!   key once the lease runs out (at once when the SQLite hub restarts): LINE answers `409` for a
//!   key it accepted, which counts as sent.
//! - **Under the configured rate** (a token bucket, `governor`) and **the month's quota**:
//!   quota and consumption are read from LINE every minute; when less than the reserve is left,
//!   only transactional rows are claimed, and nothing once it is used up.
//! - **Care**: in quiet hours (store time) only transactional rows are claimed; marketing waits,
//!   and goes to a member at most `marketing_per_week` times in any 7 days.
//! - **Failures**: `429` pauses the whole sender (growing back-off) and the row waits; `5xx`,
//!   no answer, or `401`/`403` (the channel's token, not the message) retries the row with
//!   back-off; another `4xx` fails it with LINE's reason, kept. A row whose outcome is still
//!   unknown 23 hours after its first try is failed: LINE forgets its retry key at 24.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota as Rate, RateLimiter};
use tenpo_line::messaging::{ApiError, Message, MessagingClient, Pushed, Quota};
use tenpo_support::Backoff;
use tokio::sync::Notify;

use crate::scenarios::QuietHours;
use crate::scenarios::zones::Zones;
use crate::store::outbox::MessageAction;
use crate::store::{Claim, Finished, HubStore, MessageOutcome, OutboxMessage};

/// How the sender paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSettings {
    /// Requests to LINE per second at most (`[line] send_rate_per_second`).
    pub rate_per_second: NonZeroU32,
    /// When less than this share of the month's quota is left, marketing waits
    /// (`[line] quota_reserve_percent`).
    pub reserve_percent: u8,
    /// Rows claimed at once: also the most requests in flight.
    pub batch: u32,
    /// How long a claim holds a row before another sender may take it.
    pub lease: Duration,
    /// Marketing messages per member in any 7 days (`[scenarios] marketing_per_week`).
    pub marketing_per_week: u32,
    /// No marketing then, in the member's store's time (`[scenarios] quiet_hours`): it waits.
    pub quiet_hours: QuietHours,
    /// The stores' time zones (`time_zone`, `[store_time_zones]`).
    pub zones: Zones,
}

impl Default for SenderSettings {
    fn default() -> Self {
        SenderSettings {
            rate_per_second: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            reserve_percent: 10,
            batch: 64,
            lease: Duration::from_secs(60),
            marketing_per_week: 2,
            quiet_hours: QuietHours { start: 21, end: 9 },
            zones: Zones::single(chrono_tz::Asia::Tokyo),
        }
    }
}

/// How often LINE is asked for the month's quota and consumption.
const QUOTA_EVERY: Duration = Duration::from_secs(60);
/// How long the sender sleeps with nothing due, unless woken.
const IDLE: Duration = Duration::from_secs(1);

/// What is left of the month's messages, as last read from LINE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    Unlimited,
    /// This many of `limit` left.
    Limited {
        left: u64,
        limit: u64,
    },
}

/// The month's quota as the sender last read it, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaReading {
    pub left: Left,
    pub at: chrono::DateTime<Utc>,
}

/// Where the sender posts each quota reading, for whoever shows it (the console).
pub type QuotaBoard = Arc<std::sync::Mutex<Option<QuotaReading>>>;

/// Turns what a scenario said (`MessageAction::Compose`) into LINE messages as it is sent: the
/// hub's scenarios (`crate::scenarios::Scenarios`).
pub trait Composer: Send + Sync {
    /// A clear reason when the stored words cannot be read (the message then fails).
    fn compose(&self, said_json: &str) -> Result<Vec<Message>, String>;
}

/// The sender of one hub process.
pub struct Sender<S> {
    store: Arc<S>,
    client: MessagingClient,
    composer: Arc<dyn Composer>,
    settings: SenderSettings,
    wake: Arc<Notify>,
    rate: Arc<DefaultDirectRateLimiter>,
    board: QuotaBoard,
}

impl<S> std::fmt::Debug for Sender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S: HubStore> Sender<S> {
    /// `wake` is notified by whatever writes rows, so they go at once.
    pub fn new(
        store: Arc<S>,
        client: MessagingClient,
        composer: Arc<dyn Composer>,
        settings: SenderSettings,
        wake: Arc<Notify>,
    ) -> Sender<S> {
        // Bursts of at most a tenth of a second's worth: smooth, not a second's worth at once.
        let burst = NonZeroU32::new(settings.rate_per_second.get() / 10).unwrap_or(NonZeroU32::MIN);
        let rate = Arc::new(RateLimiter::direct(
            Rate::per_second(settings.rate_per_second).allow_burst(burst),
        ));
        Sender {
            store,
            client,
            composer,
            settings,
            wake,
            rate,
            board: QuotaBoard::default(),
        }
    }

    /// Posts each quota reading on `board` as well.
    pub fn with_board(mut self, board: QuotaBoard) -> Sender<S> {
        self.board = board;
        self
    }

    /// Sends until the process ends. Errors are logged and waited out, never fatal: the rows
    /// stay in the outbox.
    pub async fn run(self) {
        let mut left: Option<Left> = None;
        let mut quota_read: Option<Instant> = None;
        let mut paused = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut store_trouble = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            if quota_read.is_none_or(|t| t.elapsed() >= QUOTA_EVERY) {
                match self.read_quota().await {
                    Ok(l) => {
                        left = Some(l);
                        if let Ok(mut board) = self.board.lock() {
                            *board = Some(QuotaReading {
                                left: l,
                                at: Utc::now(),
                            });
                        }
                    }
                    // The last reading stands; with none yet, send and let LINE say no.
                    Err(e) => tracing::warn!(error = %e, "cannot read the month's LINE quota"),
                }
                quota_read = Some(Instant::now());
            }
            let (limit, transactional_only) = match left {
                Some(Left::Limited { left: 0, .. }) => {
                    // Used up: wait for the next reading (the month may turn).
                    self.idle(QUOTA_EVERY).await;
                    quota_read = None;
                    continue;
                }
                Some(Left::Limited { left, limit }) => (
                    u64::from(self.settings.batch).min(left) as u32,
                    left.saturating_mul(100)
                        < limit.saturating_mul(u64::from(self.settings.reserve_percent)),
                ),
                Some(Left::Unlimited) | None => (self.settings.batch, false),
            };
            // Quiet hours are each member's store's; `None`: everyone's, now.
            let now = Utc::now();
            let awake = self.settings.zones.awake(now, self.settings.quiet_hours);
            let claim = Claim {
                limit,
                lease: chrono::Duration::from_std(self.settings.lease)
                    .unwrap_or(chrono::Duration::seconds(60)),
                transactional_only: transactional_only || awake.is_none(),
                marketing_to: awake.unwrap_or_default(),
                quiet_until: self
                    .settings
                    .zones
                    .next_wake(now, self.settings.quiet_hours),
                marketing_per_week: self.settings.marketing_per_week,
            };
            let claimed = match self.store.claim_messages(claim, Utc::now()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim messages from the outbox");
                    tokio::time::sleep(store_trouble.next_delay()).await;
                    continue;
                }
            };
            store_trouble.reset();
            if claimed.is_empty() {
                self.idle(IDLE).await;
                continue;
            }
            let outcomes = self.send_all(claimed).await;
            let sent = outcomes
                .iter()
                .filter(|(_, o)| matches!(o, Attempt::Sent(_)))
                .count() as u64;
            if let Some(Left::Limited { left: l, .. }) = &mut left {
                *l = l.saturating_sub(sent);
            }
            let limited = outcomes.iter().any(|(_, o)| matches!(o, Attempt::Limited));
            let finished: Vec<Finished> = outcomes
                .into_iter()
                .map(|(m, a)| {
                    let outcome = a.into_outcome(&m);
                    Finished::of(&m, outcome)
                })
                .collect();
            // Rows not finished (the store failing) are sent again after their lease, with the
            // same retry key: LINE answers 409 for those it has.
            if let Err(e) = self.store.finish_messages(finished, Utc::now()).await {
                tracing::error!(error = %e, "cannot record what LINE answered");
            }
            if limited {
                let pause = paused.next_delay().max(Duration::from_secs(1));
                tracing::warn!(
                    pause_ms = pause.as_millis() as u64,
                    "LINE answered 429: sending paused"
                );
                quota_read = None;
                tokio::time::sleep(pause).await;
            } else {
                paused.reset();
            }
        }
    }

    async fn idle(&self, at_most: Duration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(at_most) => {}
        }
    }

    async fn read_quota(&self) -> Result<Left, ApiError> {
        match self.client.quota().await? {
            Quota::Unlimited => Ok(Left::Unlimited),
            Quota::Limited(limit) => {
                let used = self.client.consumption().await?;
                Ok(Left::Limited {
                    left: limit.saturating_sub(used),
                    limit,
                })
            }
        }
    }

    /// Sends a claimed batch, each request waiting for the rate, all in flight together.
    /// Sends a claim's rows: users side by side, each user's rows one after another, oldest
    /// first, so a member reads the welcome before the news written after it. A row LINE is to
    /// be asked again (a 429, a 5xx, no answer) holds that user's later rows back as long.
    async fn send_all(&self, claimed: Vec<OutboxMessage>) -> Vec<(OutboxMessage, Attempt)> {
        let mut tasks = tokio::task::JoinSet::new();
        for queue in by_user(claimed) {
            let client = self.client.clone();
            let composer = self.composer.clone();
            let rate = self.rate.clone();
            tasks.spawn(async move {
                let mut done = Vec::with_capacity(queue.len());
                let mut behind: Option<Duration> = None;
                for m in queue {
                    if let Some(after) = behind {
                        done.push((m, Attempt::Held(after)));
                        continue;
                    }
                    rate.until_ready().await;
                    let attempt = attempt(&client, composer.as_ref(), &m).await;
                    behind = attempt.retry_after(&m);
                    done.push((m, attempt));
                }
                done
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(pairs) => done.extend(pairs),
                // A panicking send is a bug; its rows are sent again after the lease.
                Err(e) => tracing::error!(error = %e, "a LINE send task failed"),
            }
        }
        done
    }
}

/// The rows grouped by LINE user, each group oldest first (a claim gives transactional rows
/// before marketing ones), the groups in the order of their first row.
fn by_user(rows: Vec<OutboxMessage>) -> Vec<Vec<OutboxMessage>> {
    let mut groups: Vec<Vec<OutboxMessage>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for m in rows {
        match index.get(&m.line_user_id).and_then(|&i| groups.get_mut(i)) {
            Some(group) => group.push(m),
            None => {
                index.insert(m.line_user_id.clone(), groups.len());
                groups.push(vec![m]);
            }
        }
    }
    for group in &mut groups {
        group.sort_by_key(|m| m.id);
    }
    groups
}

/// How one request went.
#[derive(Debug)]
enum Attempt {
    Sent(Option<String>),
    /// `429`: the row waits and the sender pauses.
    Limited,
    Again(String),
    Refused(String),
    /// Not tried: an earlier row to the same user is to be tried again after this long, and
    /// this one waits as long, so that it still goes second.
    Held(Duration),
}

impl Attempt {
    /// How long until the row is tried again, if it is.
    fn retry_after(&self, m: &OutboxMessage) -> Option<Duration> {
        match self {
            Attempt::Limited => Some(Duration::from_secs(1)),
            Attempt::Again(_) => Some(crate::retry::retry_delay(m.attempts)),
            Attempt::Held(after) => Some(*after),
            Attempt::Sent(_) | Attempt::Refused(_) => None,
        }
    }

    fn into_outcome(self, m: &OutboxMessage) -> MessageOutcome {
        let later = |d: Duration| Utc::now() + chrono::Duration::from_std(d).unwrap_or_default();
        let not_before = later(self.retry_after(m).unwrap_or_default());
        match self {
            Attempt::Sent(request_id) => MessageOutcome::Sent { request_id },
            Attempt::Limited => MessageOutcome::Retry {
                not_before,
                error: "LINE answered 429 (too many requests or the month's quota)".into(),
            },
            Attempt::Again(error) => MessageOutcome::Retry { not_before, error },
            Attempt::Held(_) => MessageOutcome::Retry {
                not_before,
                error: "not sent: an earlier message to the same user is to be tried again first"
                    .into(),
            },
            Attempt::Refused(error) => MessageOutcome::Failed { error },
        }
    }
}

/// Why a push row did not go.
enum Unsent {
    /// What the row holds is not a message (a bug or a damaged row: never retried).
    Unreadable(String),
    Line(ApiError),
}

/// Pushes `messages` (or why there are none) to the row's user with its retry key.
async fn push(
    client: &MessagingClient,
    m: &OutboxMessage,
    messages: Result<Vec<Message>, String>,
) -> Result<Option<String>, Unsent> {
    let messages = messages.map_err(Unsent::Unreadable)?;
    match client.push(&m.line_user_id, &messages, &m.message_id).await {
        Ok(Pushed::Accepted { request_id }) => Ok(request_id),
        Ok(Pushed::AlreadyAccepted {
            accepted_request_id,
        }) => Ok(accepted_request_id),
        Err(e) => Err(Unsent::Line(e)),
    }
}

async fn attempt(client: &MessagingClient, composer: &dyn Composer, m: &OutboxMessage) -> Attempt {
    let result = match &m.action {
        MessageAction::Push { messages_json } => {
            let stored = serde_json::from_str(messages_json).map_err(|e| e.to_string());
            push(client, m, stored).await
        }
        MessageAction::Compose { said_json } => push(client, m, composer.compose(said_json)).await,
        MessageAction::LinkRichMenu { rich_menu_id } => client
            .link_rich_menu(&m.line_user_id, rich_menu_id)
            .await
            .map(|()| None)
            .map_err(Unsent::Line),
        MessageAction::UnlinkRichMenu => client
            .unlink_rich_menu(&m.line_user_id)
            .await
            .map(|()| None)
            .map_err(Unsent::Line),
    };
    match result {
        Ok(request_id) => Attempt::Sent(request_id),
        Err(Unsent::Unreadable(e)) => {
            Attempt::Refused(format!("the stored message is unreadable: {e}"))
        }
        Err(Unsent::Line(ApiError::RateLimited { .. })) => Attempt::Limited,
        Err(Unsent::Line(e)) if e.retryable() => Attempt::Again(e.to_string()),
        // The channel's token, not the message: an operator renewing the token must not fail
        // the whole queue for good. Retried with back-off until the token works again.
        Err(Unsent::Line(
            e @ ApiError::Refused {
                status: 401 | 403, ..
            },
        )) => {
            tracing::error!(error = %e, "LINE refused the channel access token: set [line] access_token_file to a valid token");
            Attempt::Again(e.to_string())
        }
        Err(Unsent::Line(e)) => Attempt::Refused(e.to_string()),
    }
}
