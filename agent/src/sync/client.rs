//! The hub's sync API, as the agent calls it (reqwest; rustls for `https://` hubs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tenpo_protocol::ErrorBody;
use tenpo_protocol::sync::{
    AGENT_VERSION_HEADER, CLOCK_HEADER, ChangesResponse, EnrollRequest, EnrollResponse, HubHealth,
    MemberLookup, OUTBOX_SEQ_HEADER, PushItem, PushRequest, PushResponse, bearer,
};

use super::Credentials;

/// What went wrong talking to the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No answer, a cut connection, or a 5xx: try again later.
    #[error("the hub at {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// The hub refused the request (4xx) with its reason.
    #[error("the hub refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// The change-feed cursor is no longer valid: start again from an empty cursor.
    #[error("the hub asked to start the change feed again")]
    CursorReset,
    /// The answer could not be understood.
    #[error("the hub's answer could not be read: {0}")]
    Protocol(String),
}

impl HubError {
    /// Whether this means the hub is unreachable (as opposed to answering "no").
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HubError::Unreachable { .. })
    }
}

/// A client for one terminal. Every call says what the terminal is (its version, the newest
/// seq in its outbox and its clock) for the hub's console (docs/design.md §13).
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: String,
    auth: String,
    outbox_seq: Arc<AtomicU64>,
}

fn client(timeout: Duration) -> Result<reqwest::Client, HubError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(timeout)
        .build()
        .map_err(|e| HubError::Protocol(format!("cannot build an HTTP client: {e}")))
}

fn base_url(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

async fn answer<T: serde::de::DeserializeOwned>(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, HubError> {
    let response = sent.map_err(|e| HubError::Unreachable {
        url: url.to_owned(),
        detail: e.to_string(),
    })?;
    let status = response.status();
    if status.is_server_error() {
        return Err(HubError::Unreachable {
            url: url.to_owned(),
            detail: format!("it answered {status}"),
        });
    }
    let bytes = response.bytes().await.map_err(|e| HubError::Unreachable {
        url: url.to_owned(),
        detail: format!("the answer was cut: {e}"),
    })?;
    if status == StatusCode::GONE {
        return Err(HubError::CursorReset);
    }
    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        return Err(HubError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| HubError::Protocol(e.to_string()))
}

impl HubClient {
    pub fn new(credentials: &Credentials) -> Result<HubClient, HubError> {
        Ok(HubClient {
            // A batch of 500 events takes the hub tens of milliseconds: a request that takes
            // 20 s is a network that has gone quiet, and the till should know it is offline.
            http: client(Duration::from_secs(20))?,
            base: base_url(&credentials.hub_url),
            auth: bearer(&credentials.terminal_id, &credentials.secret),
            outbox_seq: Arc::default(),
        })
    }

    /// The newest seq in the outbox, as the next calls say it.
    pub fn note_outbox(&self, last_seq: u64) {
        self.outbox_seq.store(last_seq, Ordering::Relaxed);
    }

    /// A call of this terminal: its credential, and what it says of itself.
    fn call(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("authorization", &self.auth)
            .header(AGENT_VERSION_HEADER, env!("CARGO_PKG_VERSION"))
            .header(
                OUTBOX_SEQ_HEADER,
                self.outbox_seq.load(Ordering::Relaxed).to_string(),
            )
            .header(
                CLOCK_HEADER,
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Enrols with a one-time code.
    pub async fn enroll(
        hub_url: &str,
        code: &str,
        terminal_name: Option<String>,
    ) -> Result<EnrollResponse, HubError> {
        let url = format!("{}/v1/enroll", base_url(hub_url));
        let body = EnrollRequest {
            code: code.to_owned(),
            terminal_name,
        };
        let sent = client(Duration::from_secs(20))?
            .post(&url)
            .json(&body)
            .send()
            .await;
        answer(&url, sent).await
    }

    /// Pushes a batch of outbox events.
    pub async fn push(&self, events: Vec<PushItem>) -> Result<PushResponse, HubError> {
        let url = format!("{}/v1/events", self.base);
        let sent = self
            .call(self.http.post(&url))
            .json(&PushRequest { events })
            .send()
            .await;
        answer(&url, sent).await
    }

    /// Reads a page of the change feed.
    pub async fn changes(&self, cursor: &str, limit: u32) -> Result<ChangesResponse, HubError> {
        let url = format!("{}/v1/changes", self.base);
        let sent = self
            .call(self.http.get(&url))
            .query(&[("cursor", cursor), ("limit", &limit.to_string())])
            .send()
            .await;
        answer(&url, sent).await
    }

    /// Whether the hub answers at all, within `timeout`.
    pub async fn health(&self, timeout: Duration) -> Result<HubHealth, HubError> {
        let url = format!("{}/v1/health", self.base);
        let sent = self.http.get(&url).timeout(timeout).send().await;
        answer(&url, sent).await
    }

    /// Looks up a code the terminal has not cached; `Ok(None)` when the hub knows no such code.
    pub async fn member_by_code(
        &self,
        code: &str,
        timeout: Duration,
    ) -> Result<Option<MemberLookup>, HubError> {
        let url = format!("{}/v1/members/by-code/{code}", self.base);
        let sent = self.call(self.http.get(&url)).timeout(timeout).send().await;
        match answer(&url, sent).await {
            Ok(found) => Ok(Some(found)),
            Err(HubError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
