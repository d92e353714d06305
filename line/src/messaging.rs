//! The Messaging API as tenpo calls it (base `https://api.line.me`, a setting so tests point
//! it at the stand-in): push with a retry key, a friend's profile, per-user rich menus, and the
//! month's quota. Every answer's `x-line-request-id` is kept on errors, for LINE's support.
//!
//! Push is the one call that may be sent twice (after a crash, a timeout): it carries
//! `X-Line-Retry-Key`, and LINE answers a key it already accepted with `409` and
//! `x-line-accepted-request-id`, which [`MessagingClient::push`] reports as
//! [`Pushed::AlreadyAccepted`]: sent, not an error.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many message objects in one push (LINE's limit).
pub const MAX_MESSAGES: usize = 5;

/// A message object (the kinds tenpo sends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Message {
    Text {
        text: String,
    },
    /// A Flex Message: `contents` is a bubble or carousel container; `alt_text` is what
    /// notifications and old clients show.
    Flex {
        #[serde(rename = "altText")]
        alt_text: String,
        contents: Value,
    },
}

/// A push LINE has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Accepted now.
    Accepted { request_id: Option<String> },
    /// This retry key was accepted before (`409`): the message was sent then, not again now.
    AlreadyAccepted { accepted_request_id: Option<String> },
}

/// A friend's profile (`GET /v2/bot/profile/{userId}`). Personal data: never logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub user_id: String,
    pub display_name: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub picture_url: Option<String>,
    #[serde(default)]
    pub status_message: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// The month's message quota (`GET /v2/bot/message/quota`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// No monthly limit.
    Unlimited,
    Limited(u64),
}

/// One item of LINE's error `details`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub property: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

/// Why a call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Wrong before sending (a programming or data error: no request was made).
    #[error("not sent to LINE: {0}")]
    Invalid(String),
    /// LINE refused it; sending the same again will not help.
    #[error("LINE refused the request ({status}): {message}{}{} ", details_text(.details), request_text(.request_id))]
    Refused {
        status: u16,
        message: String,
        details: Vec<ErrorDetail>,
        request_id: Option<String>,
    },
    /// Too many requests, or the month's quota is used up (`429`): wait, then again.
    #[error("LINE says too many requests or the month's quota is used up: {message}{}", request_text(.request_id))]
    RateLimited {
        message: String,
        request_id: Option<String>,
    },
    /// LINE could not be reached, or failed itself (`5xx`): again later.
    #[error("LINE is unavailable: {detail}{}", request_text(.request_id))]
    Unavailable {
        detail: String,
        request_id: Option<String>,
    },
}

fn details_text(details: &[ErrorDetail]) -> String {
    details
        .iter()
        .map(|d| format!(" ({}: {})", d.property, d.message))
        .collect()
}

fn request_text(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" [x-line-request-id {id}]"))
        .unwrap_or_default()
}

impl ApiError {
    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. } | ApiError::Unavailable { .. }
        )
    }
}

/// A client of one Messaging API channel.
#[derive(Clone)]
pub struct MessagingClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for MessagingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagingClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Ids LINE puts in a path (user ids, rich menu ids) are letters, digits, `-` and `_`: anything
/// else would change the path.
fn path_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 100
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::Invalid(format!("{what} is not a LINE id")));
    }
    Ok(())
}

/// A retry key is a UUID in its hyphenated form (LINE answers 400 to anything else).
fn check_retry_key(key: &str) -> Result<(), ApiError> {
    match uuid::Uuid::try_parse(key) {
        Ok(u) if u.hyphenated().to_string().eq_ignore_ascii_case(key) => Ok(()),
        _ => Err(ApiError::Invalid(format!(
            "the retry key {key:?} is not a UUID"
        ))),
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl MessagingClient {
    /// A client for `api_base` (no trailing path) with the channel's access token.
    pub fn new(api_base: &str, access_token: &str) -> Result<MessagingClient, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(MessagingClient {
            http,
            base: api_base.trim_end_matches('/').to_owned(),
            token: access_token.to_owned(),
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<String>, Option<String>, Vec<u8>), ApiError> {
        let response =
            request
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| ApiError::Unavailable {
                    // Without the URL: a user's id is in the path of several calls.
                    detail: e.without_url().to_string(),
                    request_id: None,
                })?;
        let status = response.status().as_u16();
        let request_id = header(&response, "x-line-request-id");
        let accepted = header(&response, "x-line-accepted-request-id");
        let body = response.bytes().await.map_err(|e| ApiError::Unavailable {
            detail: format!("the answer was cut: {}", e.without_url()),
            request_id: request_id.clone(),
        })?;
        Ok((status, request_id, accepted, body.to_vec()))
    }

    /// The error for a non-2xx answer.
    fn error(status: u16, request_id: Option<String>, body: &[u8]) -> ApiError {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let message = parsed
            .as_ref()
            .map(|b| b.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            429 => ApiError::RateLimited {
                message,
                request_id,
            },
            500.. => ApiError::Unavailable {
                detail: format!("HTTP {status}: {message}"),
                request_id,
            },
            _ => ApiError::Refused {
                status,
                message,
                details: parsed.map(|b| b.details).unwrap_or_default(),
                request_id,
            },
        }
    }

    /// `POST /v2/bot/message/push` with `X-Line-Retry-Key: retry_key` (a UUID, the same on
    /// every attempt of this message).
    pub async fn push(
        &self,
        to: &str,
        messages: &[Message],
        retry_key: &str,
    ) -> Result<Pushed, ApiError> {
        path_id("the recipient", to)?;
        check_retry_key(retry_key)?;
        if messages.is_empty() || messages.len() > MAX_MESSAGES {
            return Err(ApiError::Invalid(format!(
                "a push carries 1 to {MAX_MESSAGES} messages, not {}",
                messages.len()
            )));
        }
        let body = serde_json::json!({ "to": to, "messages": messages });
        let (status, request_id, accepted, bytes) = self
            .send(
                self.http
                    .post(format!("{}/v2/bot/message/push", self.base))
                    .header("X-Line-Retry-Key", retry_key)
                    .json(&body),
            )
            .await?;
        match status {
            200..=299 => Ok(Pushed::Accepted { request_id }),
            409 if accepted.is_some() => Ok(Pushed::AlreadyAccepted {
                accepted_request_id: accepted,
            }),
            _ => Err(Self::error(status, request_id, &bytes)),
        }
    }

    /// Sends a request that succeeds only with a 2xx: LINE's body and request id, or the error
    /// for its answer.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(Vec<u8>, Option<String>), ApiError> {
        let (status, request_id, _, bytes) = self.send(request).await?;
        if (200..300).contains(&status) {
            Ok((bytes, request_id))
        } else {
            Err(Self::error(status, request_id, &bytes))
        }
    }

    /// [`Self::call`], reading the answer as `T` (`what` names it in the error).
    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(T, Option<String>), ApiError> {
        let (bytes, request_id) = self.call(request).await?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok((v, request_id)),
            Err(e) => Err(ApiError::Unavailable {
                detail: format!("LINE's {what} is unreadable: {e}"),
                request_id,
            }),
        }
    }

    /// `GET /v2/bot/profile/{userId}` (friends only; others are `404`).
    pub async fn profile(&self, user_id: &str) -> Result<Profile, ApiError> {
        path_id("the user", user_id)?;
        let url = format!("{}/v2/bot/profile/{user_id}", self.base);
        Ok(self.call_json(self.http.get(url), "profile").await?.0)
    }

    /// `POST /v2/bot/user/{userId}/richmenu/{richMenuId}`: this user's rich menu (it outranks
    /// the default one).
    pub async fn link_rich_menu(&self, user_id: &str, rich_menu_id: &str) -> Result<(), ApiError> {
        path_id("the user", user_id)?;
        path_id("the rich menu", rich_menu_id)?;
        let url = format!(
            "{}/v2/bot/user/{user_id}/richmenu/{rich_menu_id}",
            self.base
        );
        self.call(self.http.post(url)).await.map(|_| ())
    }

    /// `DELETE /v2/bot/user/{userId}/richmenu`: back to the default rich menu.
    pub async fn unlink_rich_menu(&self, user_id: &str) -> Result<(), ApiError> {
        path_id("the user", user_id)?;
        let url = format!("{}/v2/bot/user/{user_id}/richmenu", self.base);
        self.call(self.http.delete(url)).await.map(|_| ())
    }

    /// `GET /v2/bot/message/quota`: the plan's monthly limit.
    pub async fn quota(&self) -> Result<Quota, ApiError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            value: Option<u64>,
        }
        let url = format!("{}/v2/bot/message/quota", self.base);
        let (a, request_id): (Answer, _) = self.call_json(self.http.get(url), "quota").await?;
        match (a.kind.as_str(), a.value) {
            ("none", _) => Ok(Quota::Unlimited),
            ("limited", Some(v)) => Ok(Quota::Limited(v)),
            _ => Err(ApiError::Unavailable {
                detail: format!("LINE's quota type {:?} is unknown", a.kind),
                request_id,
            }),
        }
    }

    /// `GET /v2/bot/message/quota/consumption`: messages counted this month.
    pub async fn consumption(&self) -> Result<u64, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            total_usage: u64,
        }
        let url = format!("{}/v2/bot/message/quota/consumption", self.base);
        let (a, _): (Answer, _) = self.call_json(self.http.get(url), "consumption").await?;
        Ok(a.total_usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialise_as_line_documents_them() {
        let text = serde_json::to_value(Message::Text { text: "hi".into() }).ok();
        assert_eq!(
            text,
            Some(serde_json::json!({"type": "text", "text": "hi"}))
        );
        let flex = serde_json::to_value(Message::Flex {
            alt_text: "card".into(),
            contents: serde_json::json!({"type": "bubble"}),
        })
        .ok();
        assert_eq!(
            flex,
            Some(
                serde_json::json!({"type": "flex", "altText": "card", "contents": {"type": "bubble"}})
            )
        );
    }

    #[test]
    fn ids_and_keys_are_checked_before_sending() {
        assert!(path_id("u", "U4af4980629000000000000000000000a").is_ok());
        for bad in ["", "U1/../../x", "U1?x=1", "U 1", &"U".repeat(101)] {
            assert!(path_id("u", bad).is_err(), "{bad}");
        }
        assert!(check_retry_key("123e4567-e89b-12d3-a456-426614174000").is_ok());
        for bad in [
            "",
            "123e4567e89b12d3a456426614174000",
            "123e4567-e89b-12d3-a456-42661417400z",
        ] {
            assert!(check_retry_key(bad).is_err(), "{bad}");
        }
    }
}
