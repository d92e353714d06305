//! Signup sessions at the terminal (docs/design.md §5): the kiosk asks for a session, shows its
//! LIFF URL as a QR code, and asks here how it stands.
//!
//! - `POST /v1/signups` (write token): `{}` opens a signup, `{"card_code": "…"}` a card link for
//!   a scanned paper card. The token is signed here with `SHA-256(terminal secret)`
//!   ([`tenpo_protocol::signup`]), so the hub can check it without having seen it: the customer
//!   completes on the phone's own data even while the store's line is down.
//! - `GET /v1/signups/{token}?wait=N`: `waiting`, `completed` (with the member view) or
//!   `expired`, waiting up to N ≤ 30 s for a change.
//!
//! While a session is open, a task asks the hub about it (a long poll: one request per 20 s while
//! nothing happens). When the hub answers `completed`, the member is cached before the session
//! says so, so the till can use the new member at once. When the hub cannot be reached, the task
//! retries with backoff; a completion the terminal missed also arrives in the change feed.
//! Sessions live in memory, but the token is the whole session: after a restart, a kiosk asking
//! about a token this terminal signed (and not yet expired) has it taken up again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenpo_protocol::signup::{
    self as wire, SignupCompletion, SignupKind, SignupSession, SignupState, SignupStatus,
    SignupToken, TerminalSignupStatus, TokenError,
};
use tenpo_protocol::sync::{MemberSnapshot, bearer};
use tenpo_support::Backoff;
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::sync::{Credentials, HubError, Shared};

/// How long a session is valid unless configured otherwise.
pub const DEFAULT_SESSION_SECS: u32 = 300;
/// Sessions kept at once (the oldest go first); a kiosk needs one or two.
const MAX_SESSIONS: usize = 32;
/// How long the agent waits at the hub per question.
const HUB_WAIT_SECS: u64 = 20;
/// Longest wait a kiosk may ask for.
/// The longest a status request waits for a change.
pub const MAX_WAIT_SECS: u64 = 30;

/// The `[signup]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupConfig {
    /// The LIFF app id in the QR code's URL.
    pub liff_id: Option<String>,
    /// Seconds a session (a QR code) is valid.
    pub session_secs: u32,
}

impl Default for SignupConfig {
    fn default() -> SignupConfig {
        SignupConfig {
            liff_id: None,
            session_secs: DEFAULT_SESSION_SECS,
        }
    }
}

/// Why a session could not be opened or read, in words for IT and the kiosk.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error(
        "this terminal is not enrolled with a hub, and signup needs one: run `tenpo-agent enroll --hub URL --code CODE`"
    )]
    NotEnrolled,
    #[error("no LIFF app is configured: set `[signup] liff_id` (or --liff-id) to LINE's LIFF id")]
    NoLiffId,
    #[error("{0}")]
    Code(#[from] tenpo_hw::Rejection),
    #[error("this is already a LINE member card: nothing to link")]
    AlreadyLine,
    #[error("no such signup session here (the agent may have restarted): open a new one")]
    NotFound,
    #[error("cannot make a signup code: {0}")]
    Token(#[from] TokenError),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    Waiting,
    Completed { number: String },
    Expired,
}

#[derive(Debug)]
struct Session {
    text: String,
    token: SignupToken,
    progress: watch::Sender<Progress>,
}

/// The hub's signup endpoint, as this terminal calls it.
#[derive(Debug, Clone)]
struct HubLink {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl HubLink {
    async fn status(&self, token: &str) -> Result<TerminalSignupStatus, HubError> {
        let url = format!("{}/v1/signups/{token}/status", self.base);
        let unreachable = |detail: String| HubError::Unreachable {
            url: url.clone(),
            detail,
        };
        let response = self
            .http
            .get(&url)
            .header("authorization", &self.auth)
            .query(&[("wait", HUB_WAIT_SECS.to_string())])
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(format!("the answer was cut: {e}")))?;
        if status.is_server_error() {
            return Err(unreachable(format!("it answered {status}")));
        }
        if !status.is_success() {
            return Err(HubError::Refused {
                status: status.as_u16(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| HubError::Protocol(e.to_string()))
    }
}

/// The terminal's signup sessions.
#[derive(Debug)]
pub struct Signups {
    config: SignupConfig,
    key: [u8; 32],
    hub: HubLink,
    ledger: Arc<Ledger>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    hub_reachable: AtomicBool,
}

impl Signups {
    /// Sessions for an enrolled terminal. Listens to the change feed's completions (through
    /// `shared`) for sessions whose answer the terminal missed.
    pub fn start(
        config: SignupConfig,
        credentials: &Credentials,
        ledger: Arc<Ledger>,
        shared: &Shared,
    ) -> Result<Arc<Signups>, HubError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(HUB_WAIT_SECS + 10))
            .build()
            .map_err(|e| HubError::Protocol(format!("cannot build an HTTP client: {e}")))?;
        let signups = Arc::new(Signups {
            config,
            key: wire::signing_key(&credentials.secret),
            hub: HubLink {
                http,
                base: credentials.hub_url.trim_end_matches('/').to_owned(),
                auth: bearer(&credentials.terminal_id, &credentials.secret),
            },
            ledger,
            sessions: Mutex::new(HashMap::new()),
            hub_reachable: AtomicBool::new(shared.online.load(Ordering::SeqCst)),
        });
        let mut feed = shared.signup_events.subscribe();
        let weak = Arc::downgrade(&signups);
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match feed.recv().await {
                    Ok(done) => match weak.upgrade() {
                        Some(s) => s.completed_in_feed(&done),
                        None => return,
                    },
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(signups)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        // A panic while holding the lock leaves whole entries only: still safe to use.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions().get(id).cloned()
    }

    fn completed_in_feed(&self, done: &SignupCompletion) {
        if let Some(s) = self.session(&done.signup_id) {
            tracing::info!(signup_id = %done.signup_id, "signup completion learnt from the change feed");
            s.progress.send_if_modified(|p| {
                let changed = *p == Progress::Waiting;
                if changed {
                    *p = Progress::Completed {
                        number: done.member_number.clone(),
                    };
                }
                changed
            });
        }
    }

    /// Opens a signup (no card) or a card link (a scanned paper card's code).
    pub fn open(
        self: &Arc<Self>,
        card_code: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignupSession, SignupError> {
        let liff_id = self
            .config
            .liff_id
            .as_deref()
            .ok_or(SignupError::NoLiffId)?;
        let (kind, card_code) = match card_code.map(str::trim) {
            None => (SignupKind::Signup, None),
            Some(raw) if raw.starts_with(tenpo_protocol::card::PREFIX) => {
                return Err(SignupError::AlreadyLine);
            }
            Some(raw) => (SignupKind::CardLink, Some(self.ledger.code_key(raw, now)?)),
        };
        let mut nonce = [0u8; wire::NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SignupError::Random(e.to_string()))?;
        let who = self.ledger.identity();
        let expires_at = now + chrono::Duration::seconds(i64::from(self.config.session_secs));
        let token = SignupToken {
            kind,
            store_id: who.store_id.clone(),
            terminal_id: who.terminal_id.clone(),
            expires_at: expires_at.timestamp(),
            nonce,
            card_code,
        };
        let text = wire::sign(&token, &self.key)?;
        let id = self.hold(text.clone(), token.clone(), now);
        tracing::info!(signup_id = %id, ?kind, "signup session opened");
        Ok(SignupSession {
            liff_url: wire::liff_url(liff_id, &text),
            token: text,
            kind,
            expires_at: DateTime::from_timestamp(token.expires_at, 0).unwrap_or(now),
            card_hint: token.card_code.as_deref().map(wire::card_hint),
        })
    }

    /// Holds a session (new, or taken up again after a restart) and starts asking the hub about
    /// it. Returns its id.
    fn hold(self: &Arc<Self>, text: String, token: SignupToken, now: DateTime<Utc>) -> String {
        let id = token.id();
        let session = Arc::new(Session {
            text,
            token,
            progress: watch::Sender::new(Progress::Waiting),
        });
        {
            let mut sessions = self.sessions();
            let keep_until = now.timestamp() - 600;
            sessions.retain(|_, s| s.token.expires_at > keep_until);
            while sessions.len() >= MAX_SESSIONS {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.token.expires_at)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => sessions.remove(&k),
                    None => break,
                };
            }
            sessions.insert(id.clone(), session);
        }
        let me = self.clone();
        let watched = id.clone();
        tokio::spawn(async move { me.watch_hub(watched).await });
        id
    }

    /// Asks the hub about one session until it completes or expires.
    async fn watch_hub(self: Arc<Self>, id: String) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        loop {
            let Some(session) = self.session(&id) else {
                return;
            };
            if *session.progress.borrow() != Progress::Waiting {
                return;
            }
            if session
                .token
                .expires_at
                .saturating_add(wire::CLOCK_ALLOWANCE_SECS)
                < Utc::now().timestamp()
            {
                session.progress.send_replace(Progress::Expired);
                return;
            }
            match self.hub.status(&session.text).await {
                Ok(answer) => {
                    self.hub_reachable.store(true, Ordering::SeqCst);
                    backoff.reset();
                    match (answer.state, answer.member) {
                        (SignupState::Completed, Some(member)) => {
                            let number = member.number.clone();
                            if let Err(e) = self.cache(member).await {
                                tracing::error!(error = %e, "cannot cache the new member");
                            }
                            tracing::info!(signup_id = %id, "signup completed");
                            session
                                .progress
                                .send_replace(Progress::Completed { number });
                            return;
                        }
                        (SignupState::Expired, _) => {
                            session.progress.send_replace(Progress::Expired);
                            return;
                        }
                        _ => {}
                    }
                }
                Err(e) if e.is_unreachable() => {
                    self.hub_reachable.store(false, Ordering::SeqCst);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    tracing::warn!(signup_id = %id, error = %e, "the hub refused a signup question");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    async fn cache(&self, member: MemberSnapshot) -> Result<(), String> {
        let store = self.ledger.store().clone();
        let terminal = self.ledger.identity().terminal_id.clone();
        let now = Utc::now().to_rfc3339();
        tokio::task::spawn_blocking(move || {
            store.write(|tx| crate::sync::apply::cache_member(tx, &terminal, &member, &now))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// Where a session stands, waiting up to `wait` for it to change. A session this agent
    /// signed but does not hold (it was opened before a restart) is taken up again: the token
    /// carries everything, and the hub knows whether the customer completed it meanwhile.
    pub async fn status(
        self: &Arc<Self>,
        text: &str,
        wait: Duration,
    ) -> Result<SignupStatus, SignupError> {
        // Not a signup code at all (a typo, a probe): no such session, not a failure.
        let claimed = wire::peek(text).map_err(|_| SignupError::NotFound)?;
        let session = match self.session(&claimed.id()) {
            Some(s) if s.text == text => s,
            Some(_) => return Err(SignupError::NotFound),
            None => {
                let now = Utc::now();
                match wire::verify(text, &self.key, now) {
                    Ok(token) => {
                        let id = self.hold(text.to_owned(), token, now);
                        tracing::info!(signup_id = %id, "signup session taken up again (opened before a restart)");
                        self.session(&id).ok_or(SignupError::NotFound)?
                    }
                    Err(TokenError::Expired) => {
                        return Ok(self.answer(&claimed, Progress::Expired));
                    }
                    Err(_) => return Err(SignupError::NotFound),
                }
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = session.progress.subscribe();
        loop {
            let progress = rx.borrow_and_update().clone();
            let left = session
                .token
                .expires_at
                .saturating_sub(Utc::now().timestamp());
            let progress = match progress {
                Progress::Waiting if left <= 0 => Progress::Expired,
                p => p,
            };
            if progress != Progress::Waiting || tokio::time::Instant::now() >= deadline {
                return Ok(self.answer(&session.token, progress));
            }
            let expiry = tokio::time::Instant::now() + Duration::from_secs(left.unsigned_abs());
            tokio::select! {
                changed = rx.changed() => if changed.is_err() {
                    return Ok(self.answer(&session.token, Progress::Expired));
                },
                () = tokio::time::sleep_until(deadline.min(expiry)) => {}
            }
        }
    }

    fn answer(&self, token: &SignupToken, progress: Progress) -> SignupStatus {
        let now = Utc::now();
        let (state, member) = match progress {
            Progress::Waiting => (SignupState::Waiting, None),
            Progress::Expired => (SignupState::Expired, None),
            Progress::Completed { number } => {
                let view = self.ledger.lookup(&number, now);
                if let Err(e) = &view {
                    tracing::warn!(error = %e, "completed signup's member is not cached yet");
                }
                (SignupState::Completed, view.ok())
            }
        };
        SignupStatus {
            state,
            kind: token.kind,
            expires_at: DateTime::from_timestamp(token.expires_at, 0).unwrap_or(now),
            member,
            hub_reachable: self.hub_reachable.load(Ordering::SeqCst),
        }
    }
}
