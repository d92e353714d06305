//! The Messaging API in the stand-in, answering as LINE documents: push (`X-Line-Retry-Key`,
//! `409` with `x-line-accepted-request-id` for a key already accepted, 1 to 5 messages, the
//! month's quota), profile (friends only), per-user rich menus, quota and consumption. Every
//! answer carries `x-line-request-id`; errors are LINE's `{"message", "details"}` bodies.
//!
//! It records what it accepted (`GET /standin/record`) and can be told to fail the next pushes
//! (`POST /standin/fail`), to cap the month (`POST /standin/quota`), to answer accepted pushes
//! late (`POST /standin/latency`), and to send a signed
//! webhook to a URL (`POST /standin/webhooks`), which also keeps its own friend list true.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Friend, StandIn};
use crate::messaging::MAX_MESSAGES;

/// One push LINE accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedPush {
    pub request_id: String,
    pub retry_key: Option<String>,
    pub to: String,
    pub messages: Vec<Value>,
}

/// What the stand-in holds, for tests (`GET /standin/record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub pushes: Vec<RecordedPush>,
    /// Pushes answered 409 because their retry key was accepted before.
    pub replays: u64,
    /// user id → rich menu id, for users with their own menu.
    pub rich_menus: std::collections::BTreeMap<String, String>,
    /// Messages counted this month (pushes to friends).
    pub consumption: u64,
    /// ID tokens the LIFF stub's login gave out.
    #[serde(default)]
    pub liff_logins: u64,
    /// Pushes accepted while another push to the same user was still unanswered: a sender that
    /// keeps each user's messages in order sends the next only after the last was answered.
    #[serde(default)]
    pub overlapping: u64,
}

/// A push accepted and not yet answered; its user's count drops when it is answered or its
/// sender hangs up.
struct InFlight {
    standin: Arc<StandIn>,
    to: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.standin.lock();
        if let Some(n) = state.in_flight.get_mut(&self.to) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(&self.to);
            }
        }
    }
}

fn answer(standin: &StandIn, status: StatusCode, body: Value) -> Response {
    let id = standin.next_request_id();
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-line-request-id", v);
    }
    response
}

fn line_error(standin: &StandIn, status: StatusCode, message: &str) -> Response {
    answer(standin, status, json!({ "message": message }))
}

/// LINE's 401 unless the bearer token is the channel's.
fn unauthorised(standin: &StandIn, headers: &HeaderMap) -> Option<Response> {
    let expected = standin.messaging.as_ref().map(|m| m.access_token.as_str());
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (expected, presented) {
        (Some(e), Some(p)) if e == p => None,
        _ => Some(line_error(
            standin,
            StatusCode::UNAUTHORIZED,
            "Authentication failed. Confirm that the access token in the authorization header is valid.",
        )),
    }
}

fn is_uuid(key: &str) -> bool {
    uuid::Uuid::try_parse(key).is_ok_and(|u| u.hyphenated().to_string().eq_ignore_ascii_case(key))
}

#[derive(Deserialize)]
struct PushBody {
    to: String,
    messages: Vec<Value>,
}

/// Takes a valid push under the lock: a replay (409), a told failure, the month's limit, or
/// accepted and recorded. Answers the request id, the sent messages and the latency to wait.
fn accept(
    standin: &StandIn,
    retry_key: Option<String>,
    req: PushBody,
) -> Result<(String, Vec<Value>, std::time::Duration), Box<Response>> {
    let mut state = standin.lock();
    if let Some(key) = &retry_key
        && let Some(accepted) = state.retry_keys.get(key).cloned()
    {
        state.record.replays += 1;
        drop(state);
        let mut r = line_error(
            standin,
            StatusCode::CONFLICT,
            "The retry key is already accepted",
        );
        if let Ok(v) = HeaderValue::from_str(&accepted) {
            r.headers_mut().insert("x-line-accepted-request-id", v);
        }
        return Err(Box::new(r));
    }
    if let Some(status) = state.failures.pop_front() {
        drop(state);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match status.as_u16() {
            429 => "Too Many Requests",
            500.. => "Internal server error",
            _ => "The request was refused",
        };
        return Err(Box::new(line_error(standin, status, message)));
    }
    let friend = state.friends.get(&req.to).is_some_and(|f| f.following);
    if friend && state.quota.is_some_and(|q| state.record.consumption >= q) {
        drop(state);
        return Err(Box::new(line_error(
            standin,
            StatusCode::TOO_MANY_REQUESTS,
            "You have reached your monthly limit.",
        )));
    }
    let request_id = standin.next_request_id();
    if let Some(key) = &retry_key {
        state.retry_keys.insert(key.clone(), request_id.clone());
    }
    // Messages to users who blocked the account are accepted and not counted (LINE's rule).
    if friend {
        state.record.consumption += 1;
    }
    let sent: Vec<Value> = (0..req.messages.len())
        .map(|i| json!({"id": format!("{request_id}{i}"), "quoteToken": format!("q{request_id}{i}")}))
        .collect();
    let busy = {
        let n = state.in_flight.entry(req.to.clone()).or_insert(0);
        *n += 1;
        *n > 1
    };
    if busy {
        state.record.overlapping += 1;
    }
    state.record.pushes.push(RecordedPush {
        request_id: request_id.clone(),
        retry_key,
        to: req.to,
        messages: req.messages,
    });
    Ok((request_id, sent, state.latency))
}

pub(super) async fn push(
    State(standin): State<Arc<StandIn>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    if standin.outage.load(Ordering::SeqCst) {
        return super::server_error();
    }
    let retry_key = match headers.get("x-line-retry-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if is_uuid(k) => Some(k.to_owned()),
        Some(_) => {
            return line_error(
                &standin,
                StatusCode::BAD_REQUEST,
                "The value for the 'X-Line-Retry-Key' header is invalid",
            );
        }
    };
    let Ok(req) = serde_json::from_slice::<PushBody>(&body) else {
        return line_error(
            &standin,
            StatusCode::BAD_REQUEST,
            "The request body has 1 error(s)",
        );
    };
    if req.messages.is_empty() || req.messages.len() > MAX_MESSAGES {
        return answer(
            &standin,
            StatusCode::BAD_REQUEST,
            json!({"message": "The request body has 1 error(s)",
                   "details": [{"message": "Size must be between 1 and 5", "property": "messages"}]}),
        );
    }
    let to = req.to.clone();
    let (request_id, sent, latency) = match accept(&standin, retry_key, req) {
        Ok(accepted) => accepted,
        Err(r) => return *r,
    };
    let _answering = InFlight {
        standin: standin.clone(),
        to,
    };
    // Accepted and recorded: a sender that dies now never hears it (`/standin/latency`).
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut r = (StatusCode::OK, Json(json!({ "sentMessages": sent }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        r.headers_mut().insert("x-line-request-id", v);
    }
    r
}

pub(super) async fn profile(
    State(standin): State<Arc<StandIn>>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    let friend = standin
        .lock()
        .friends
        .get(&user_id)
        .filter(|f| f.following)
        .cloned();
    match friend {
        Some(f) => answer(
            &standin,
            StatusCode::OK,
            json!({"userId": user_id, "displayName": f.display_name, "language": f.language,
                   "pictureUrl": "https://profile.line-scdn.net/standin", "statusMessage": ""}),
        ),
        None => line_error(&standin, StatusCode::NOT_FOUND, "Not found"),
    }
}

pub(super) async fn link_rich_menu(
    State(standin): State<Arc<StandIn>>,
    headers: HeaderMap,
    Path((user_id, menu)): Path<(String, String)>,
) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    if !menu.starts_with("richmenu-") {
        return line_error(&standin, StatusCode::BAD_REQUEST, "Invalid rich menu ID");
    }
    standin.lock().record.rich_menus.insert(user_id, menu);
    answer(&standin, StatusCode::OK, json!({}))
}

pub(super) async fn unlink_rich_menu(
    State(standin): State<Arc<StandIn>>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    standin.lock().record.rich_menus.remove(&user_id);
    answer(&standin, StatusCode::OK, json!({}))
}

pub(super) async fn quota(State(standin): State<Arc<StandIn>>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    let body = match standin.lock().quota {
        None => json!({"type": "none"}),
        Some(v) => json!({"type": "limited", "value": v}),
    };
    answer(&standin, StatusCode::OK, body)
}

pub(super) async fn consumption(
    State(standin): State<Arc<StandIn>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthorised(&standin, &headers) {
        return r;
    }
    let used = standin.lock().record.consumption;
    answer(&standin, StatusCode::OK, json!({ "totalUsage": used }))
}

/// `POST /standin/fail`: the next `count` pushes answer `status`.
#[derive(Debug, Deserialize)]
pub(super) struct Fail {
    status: u16,
    count: usize,
}

pub(super) async fn fail(State(standin): State<Arc<StandIn>>, Json(f): Json<Fail>) -> StatusCode {
    standin
        .lock()
        .failures
        .extend(std::iter::repeat_n(f.status, f.count));
    StatusCode::NO_CONTENT
}

/// `POST /standin/quota`: the month's limit (`null`: none).
#[derive(Debug, Deserialize)]
pub(super) struct SetQuota {
    limit: Option<u64>,
}

pub(super) async fn set_quota(
    State(standin): State<Arc<StandIn>>,
    Json(q): Json<SetQuota>,
) -> StatusCode {
    standin.lock().quota = q.limit;
    StatusCode::NO_CONTENT
}

/// `POST /standin/latency`: each accepted push is answered `ms` later.
#[derive(Debug, Deserialize)]
pub(super) struct SetLatency {
    ms: u64,
}

pub(super) async fn set_latency(
    State(standin): State<Arc<StandIn>>,
    Json(l): Json<SetLatency>,
) -> StatusCode {
    standin.lock().latency = std::time::Duration::from_millis(l.ms.min(60_000));
    StatusCode::NO_CONTENT
}

pub(super) async fn record(State(standin): State<Arc<StandIn>>) -> Json<Record> {
    Json(standin.lock().record.clone())
}

/// `POST /standin/webhooks`: sign `{"destination", "events"}` with the channel secret and post it
/// to `url`, as LINE delivers; answers the receiver's status. Follow and unfollow events update
/// the stand-in's friends first, as they would at LINE.
#[derive(Debug, Deserialize)]
pub(super) struct SendWebhook {
    url: String,
    events: Vec<Value>,
    /// Sign with this secret instead of the channel's (a forged delivery).
    #[serde(default)]
    secret: Option<String>,
}

pub(super) async fn send_webhook(
    State(standin): State<Arc<StandIn>>,
    Json(req): Json<SendWebhook>,
) -> Response {
    let Some(channel) = standin.messaging.clone() else {
        return line_error(
            &standin,
            StatusCode::NOT_FOUND,
            "the stand-in has no Messaging API channel",
        );
    };
    {
        let mut state = standin.lock();
        for e in &req.events {
            let user = e["source"]["userId"].as_str().map(str::to_owned);
            match (e["type"].as_str(), user) {
                (Some("follow"), Some(u)) => {
                    let f = state.friends.entry(u).or_insert_with(Friend::new);
                    f.following = true;
                }
                (Some("unfollow"), Some(u)) => {
                    state.friends.entry(u).or_insert_with(Friend::new).following = false;
                }
                _ => {}
            }
        }
    }
    let body = json!({"destination": channel.bot_user_id, "events": req.events}).to_string();
    let secret = req.secret.unwrap_or(channel.channel_secret);
    let signature = crate::signature::sign(secret.as_bytes(), body.as_bytes());
    let sent = standin
        .http
        .post(&req.url)
        .header("content-type", "application/json; charset=utf-8")
        .header(crate::signature::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            Json(json!({"status": status, "body": text})).into_response()
        }
        Err(e) => line_error(
            &standin,
            StatusCode::BAD_GATEWAY,
            &format!("cannot deliver: {e}"),
        ),
    }
}
