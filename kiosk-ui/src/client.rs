//! The agent's local API, as the screens call it. The screens talk to the agent only: never to
//! the database, never to the hub (docs/design.md §2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tenpo_protocol::ErrorBody;
use tenpo_protocol::agent::{
    MemberView, SaleRequest, SaleResponse, ScanEvent, Status, WishRequest, WishResponse,
};
use tenpo_protocol::signup::{SignupRequest, SignupSession, SignupStatus};

/// What a call to the agent came to, when not an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiFailure {
    /// No answer: the agent is not running, or is restarting.
    #[error("the terminal's service does not answer: {0}")]
    Unreachable(String),
    /// The agent answered no, with its reason.
    #[error("{message}")]
    Refused { status: u16, message: String },
}

/// The local write token could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the agent's API token at {path}: {source} (it is `<data-dir>/api-token` of the agent; pass --token-file)"
)]
pub struct TokenFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Reads the agent's write token (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String, TokenFileError> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().next().unwrap_or_default().trim().to_owned())
        .map_err(|source| TokenFileError {
            path: path.to_owned(),
            source,
        })
}

/// A client of one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    /// No overall timeout: for the scan stream.
    stream_http: reqwest::Client,
    base: String,
    token: String,
}

impl AgentClient {
    pub fn new(base: &str, token: &str) -> Result<AgentClient, ApiFailure> {
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(2));
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build()
                .map_err(|e| ApiFailure::Unreachable(format!("cannot build an HTTP client: {e}")))
        };
        Ok(AgentClient {
            http: build(Some(Duration::from_secs(45)))?,
            stream_http: build(None)?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn answer<T: DeserializeOwned>(
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ApiFailure> {
        let response = sent.map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiFailure::Unreachable(format!("the answer was cut: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiFailure::Refused {
                status: status.as_u16(),
                message: format!("the terminal's answer could not be read: {e}"),
            });
        }
        if status.is_server_error() && serde_json::from_slice::<ErrorBody>(&bytes).is_err() {
            return Err(ApiFailure::Unreachable(format!("it answered {status}")));
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(ApiFailure::Refused {
            status: status.as_u16(),
            message,
        })
    }

    /// `POST /v1/signups`
    pub async fn open_signup(
        &self,
        card_code: Option<String>,
    ) -> Result<SignupSession, ApiFailure> {
        let sent = self
            .http
            .post(format!("{}/v1/signups", self.base))
            .bearer_auth(&self.token)
            .json(&SignupRequest { card_code })
            .send()
            .await;
        Self::answer(sent).await
    }

    /// `GET /v1/signups/{token}?wait=N`
    pub async fn signup_status(
        &self,
        token: &str,
        wait_secs: u64,
    ) -> Result<SignupStatus, ApiFailure> {
        let sent = self
            .http
            .get(format!("{}/v1/signups/{token}", self.base))
            .query(&[("wait", wait_secs.to_string())])
            .send()
            .await;
        Self::answer(sent).await
    }

    /// `GET /v1/status`
    pub async fn status(&self) -> Result<Status, ApiFailure> {
        let sent = self
            .http
            .get(format!("{}/v1/status", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        Self::answer(sent).await
    }

    /// `GET /v1/members/{code}`
    pub async fn member(&self, code: &str) -> Result<MemberView, ApiFailure> {
        let sent = self
            .http
            .get(format!("{}/v1/members/{code}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        Self::answer(sent).await
    }

    /// `POST /v1/sales`
    pub async fn record_sale(&self, sale: &SaleRequest) -> Result<SaleResponse, ApiFailure> {
        let sent = self
            .http
            .post(format!("{}/v1/sales", self.base))
            .bearer_auth(&self.token)
            .json(sale)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        Self::answer(sent).await
    }

    /// `POST /v1/wishes`: a member's wish, recorded by the agent like a sale (offline too).
    pub async fn record_wish(&self, wish: &WishRequest) -> Result<WishResponse, ApiFailure> {
        let sent = self
            .http
            .post(format!("{}/v1/wishes", self.base))
            .bearer_auth(&self.token)
            .json(wish)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        Self::answer(sent).await
    }

    /// Follows `GET /v1/scans/stream` until it ends, handing each scan to `on_scan`. Returns
    /// when the connection ends; `connected` is called once it is established.
    pub async fn follow_scans(
        &self,
        mut connected: impl FnMut(),
        mut on_scan: impl FnMut(ScanEvent),
    ) -> Result<(), ApiFailure> {
        let mut response = self
            .stream_http
            .get(format!("{}/v1/scans/stream", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(ApiFailure::Refused {
                status: response.status().as_u16(),
                message: "the scan stream was refused".into(),
            });
        }
        connected();
        let mut parser = SseParser::default();
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    for (event, data) in parser.push(&bytes) {
                        if event == "scan"
                            && let Ok(scan) = serde_json::from_str::<ScanEvent>(&data)
                        {
                            on_scan(scan);
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(ApiFailure::Unreachable(e.to_string())),
            }
        }
    }
}

/// Server-sent events, split into `(event, data)` as bytes arrive in any pieces.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                if self.line.len() < 1 << 20 {
                    self.line.push(b);
                }
                continue;
            }
            let line = String::from_utf8_lossy(&self.line)
                .trim_end_matches('\r')
                .to_owned();
            self.line.clear();
            if line.is_empty() {
                if !self.data.is_empty() {
                    let event = if self.event.is_empty() {
                        "message".to_owned()
                    } else {
                        std::mem::take(&mut self.event)
                    };
                    out.push((event, self.data.join("\n")));
                }
                self.event.clear();
                self.data.clear();
            } else if let Some(v) = line.strip_prefix("event:") {
                self.event = v.trim_start().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                self.data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: sc").is_empty());
        assert!(p.push(b"an\r\nid: 1\ndata: {\"a\":").is_empty());
        let events = p.push(b"1}\n\n: keep-alive\n\nevent: lagged\ndata: 3\n\n");
        assert_eq!(
            events,
            vec![
                ("scan".to_owned(), "{\"a\":1}".to_owned()),
                ("lagged".to_owned(), "3".to_owned())
            ]
        );
    }
}
