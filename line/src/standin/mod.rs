//! A local stand-in for LINE's platform, for tests and the demo (docs/design.md §9: LINE's
//! servers cannot be reached from here, so nothing else is mocked). It answers LINE Login's
//! verify endpoint ([`login`]), the Messaging API endpoints tenpo calls ([`messaging`]) and, for
//! pages in a real browser, a LIFF SDK ([`liff`]), in
//! LINE's documented request and response shapes, records what it accepted, can be told to
//! fail, and sends signed webhooks. Its own endpoints are under `/standin/`.
//!
//! `POST /standin/outage {"on": true}` makes LINE's endpoints answer `500` until turned off;
//! `POST /standin/latency {"ms": 50}` delays each accepted push's answer.

mod liff;
pub mod login;
pub mod messaging;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub use login::{ISSUER, IdTokenClaims, issue_id_token};
pub use messaging::{Record, RecordedPush};

/// The official account's Messaging API channel, as the stand-in knows it.
#[derive(Clone)]
pub struct MessagingChannel {
    pub access_token: String,
    pub channel_secret: String,
    /// The bot's user id: the `destination` of its webhooks.
    pub bot_user_id: String,
}

impl std::fmt::Debug for MessagingChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagingChannel")
            .field("bot_user_id", &self.bot_user_id)
            .finish_non_exhaustive()
    }
}

/// A LINE user who added the account (or blocked it).
#[derive(Debug, Clone)]
struct Friend {
    following: bool,
    display_name: String,
    language: String,
}

impl Friend {
    fn new() -> Friend {
        Friend {
            following: true,
            display_name: "LINE user".into(),
            language: "ja".into(),
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    friends: BTreeMap<String, Friend>,
    /// retry key → the request id that accepted it.
    retry_keys: BTreeMap<String, String>,
    /// Statuses the next pushes answer.
    failures: VecDeque<u16>,
    /// The month's limit; `None`: unlimited.
    quota: Option<u64>,
    /// How long an accepted push waits before it is answered: the window in which a sender
    /// that dies has had its message accepted without hearing so.
    latency: std::time::Duration,
    /// user id → pushes to them accepted and not yet answered.
    in_flight: BTreeMap<String, u32>,
    record: Record,
}

/// The stand-in: its channels, what it holds, and its switches.
#[derive(Debug)]
pub struct StandIn {
    /// LINE Login channels: id → secret.
    login_channels: BTreeMap<String, String>,
    messaging: Option<MessagingChannel>,
    outage: AtomicBool,
    requests: AtomicU64,
    state: Mutex<Held>,
    http: reqwest::Client,
}

impl StandIn {
    /// A stand-in for these LINE Login channels (`id → secret`), without a Messaging API channel.
    pub fn new(login_channels: impl IntoIterator<Item = (String, String)>) -> StandIn {
        StandIn {
            login_channels: login_channels.into_iter().collect(),
            messaging: None,
            outage: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            state: Mutex::new(Held::default()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The same, answering the Messaging API for `channel` too.
    pub fn with_messaging(mut self, channel: MessagingChannel) -> StandIn {
        self.messaging = Some(channel);
        self
    }

    /// An ID token for a user of one of the stand-in's Login channels.
    pub fn id_token(&self, claims: &IdTokenClaims) -> Option<String> {
        self.login_channels
            .get(&claims.aud)
            .map(|secret| issue_id_token(claims, secret))
    }

    /// A LINE user who follows the account (as a follow webhook would make them).
    pub fn add_friend(&self, user_id: &str, display_name: &str, language: &str) {
        self.lock().friends.insert(
            user_id.to_owned(),
            Friend {
                following: true,
                display_name: display_name.to_owned(),
                language: language.to_owned(),
            },
        );
    }

    /// The month so far: `used` messages counted of a `limit` (`None`: no limit), as LINE's
    /// quota and consumption endpoints then answer.
    pub fn set_month(&self, limit: Option<u64>, used: u64) {
        let mut state = self.lock();
        state.quota = limit;
        state.record.consumption = used;
    }

    /// How many pushes the stand-in accepted so far (without copying the record).
    pub fn accepted(&self) -> usize {
        self.lock().record.pushes.len()
    }

    /// What the stand-in accepted so far.
    pub fn record(&self) -> Record {
        self.lock().record.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        // A panic elsewhere must not stop the stand-in answering.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        format!("standin-{n:012x}")
    }
}

/// Decodes an `application/x-www-form-urlencoded` body (the `form_urlencoded` crate).
pub fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"message": "Internal server error"})),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Outage {
    on: bool,
}

async fn outage(State(standin): State<Arc<StandIn>>, Json(o): Json<Outage>) -> StatusCode {
    standin.outage.store(o.on, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The stand-in's routes.
pub fn router(standin: Arc<StandIn>) -> Router {
    use messaging as m;
    Router::new()
        .route("/oauth2/v2.1/verify", post(login::verify_endpoint))
        .route("/v2/bot/message/push", post(m::push))
        .route("/v2/bot/profile/{user_id}", get(m::profile))
        .route(
            "/v2/bot/user/{user_id}/richmenu/{rich_menu_id}",
            post(m::link_rich_menu),
        )
        .route(
            "/v2/bot/user/{user_id}/richmenu",
            delete(m::unlink_rich_menu),
        )
        .route("/v2/bot/message/quota", get(m::quota))
        .route("/v2/bot/message/quota/consumption", get(m::consumption))
        .route("/standin/id-tokens", post(login::issue))
        .route("/liff/sdk.js", get(liff::sdk))
        .route("/standin/liff/id-token", get(liff::id_token))
        .route("/standin/outage", post(outage))
        .route("/standin/fail", post(m::fail))
        .route("/standin/quota", post(m::set_quota))
        .route("/standin/latency", post(m::set_latency))
        .route("/standin/record", get(m::record))
        .route("/standin/webhooks", post(m::send_webhook))
        .route("/standin/health", get(health))
        .with_state(standin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forms_decode() {
        let f = parse_form(b"id_token=a.b-c_d&client_id=12%2034&x=%zz+y&flag");
        assert_eq!(f["id_token"], "a.b-c_d");
        assert_eq!(f["client_id"], "12 34");
        assert_eq!(f["x"], "%zz y");
        assert_eq!(f["flag"], "");
    }
}
