//! LINE Login's "verify ID token" endpoint, as the hub calls it:
//! `POST {api}/oauth2/v2.1/verify` with the form `id_token`, `client_id`. LINE answers the
//! token's claims, or `400 {"error": "invalid_request", "error_description": "…"}`. The hub
//! checks `aud` (our channel) and `exp` again itself, so a misbehaving proxy cannot widen what
//! is accepted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// What went wrong verifying an ID token.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// LINE answered that the token is not good (its own words in `description`).
    #[error("LINE refused the ID token: {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    /// LINE accepted the token, but not for what we need (another channel, expired).
    #[error("the ID token {0}")]
    Mismatch(String),
    /// LINE could not be asked, or answered something unreadable.
    #[error("LINE cannot be reached: {0}")]
    Unavailable(String),
}

/// The claims of a verified ID token the hub uses (LINE sends more; the rest is ignored).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct VerifiedIdToken {
    pub iss: String,
    /// The LINE user id (personal data: never logged).
    pub sub: String,
    /// The channel id the token was issued for.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
}

impl std::fmt::Debug for VerifiedIdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedIdToken")
            .field("iss", &self.iss)
            .field("sub", &"<personal>")
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// A client of LINE's verify endpoint for one channel.
#[derive(Debug, Clone)]
pub struct LoginClient {
    http: reqwest::Client,
    verify_url: String,
    channel_id: String,
}

/// Checks the claims LINE answered against our channel and the time.
pub fn check_claims(
    claims: &VerifiedIdToken,
    channel_id: &str,
    now: DateTime<Utc>,
) -> Result<(), LoginError> {
    if claims.aud != channel_id {
        return Err(LoginError::Mismatch(format!(
            "was issued for another LINE channel ({}), not this one ({channel_id})",
            claims.aud
        )));
    }
    if claims.exp <= now.timestamp() {
        return Err(LoginError::Mismatch("has expired".into()));
    }
    if claims.sub.is_empty() {
        return Err(LoginError::Mismatch("names no LINE user".into()));
    }
    Ok(())
}

impl LoginClient {
    pub fn new(api_base: &str, channel_id: &str) -> Result<LoginClient, LoginError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LoginError::Unavailable(format!("cannot build an HTTP client: {e}")))?;
        Ok(LoginClient {
            http,
            verify_url: format!("{}/oauth2/v2.1/verify", api_base.trim_end_matches('/')),
            channel_id: channel_id.to_owned(),
        })
    }

    pub fn channel_id(&self) -> &str {
        &self.channel_id
    }

    /// Asks LINE whether `id_token` is good for our channel, then checks `aud` and `exp`.
    pub async fn verify(
        &self,
        id_token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdToken, LoginError> {
        let response = self
            .http
            .post(&self.verify_url)
            .form(&[("id_token", id_token), ("client_id", &self.channel_id)])
            .send()
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| LoginError::Unavailable(format!("the answer was cut: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(LoginError::Unavailable(format!("LINE answered {status}")));
        }
        if !status.is_success() {
            let answer: ErrorAnswer = serde_json::from_slice(&bytes).map_err(|_| {
                LoginError::Unavailable(format!("LINE answered {status} without an error body"))
            })?;
            return Err(LoginError::Rejected {
                status: status.as_u16(),
                error: answer.error,
                description: answer.error_description,
            });
        }
        let claims: VerifiedIdToken = serde_json::from_slice(&bytes)
            .map_err(|e| LoginError::Unavailable(format!("LINE's answer is unreadable: {e}")))?;
        check_claims(&claims, &self.channel_id, now)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(aud: &str, exp: i64) -> VerifiedIdToken {
        VerifiedIdToken {
            iss: "https://access.line.me".into(),
            sub: "U1234".into(),
            aud: aud.into(),
            exp,
            iat: 0,
        }
    }

    #[test]
    fn claims_must_name_our_channel_and_be_current() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        assert!(check_claims(&claims("123", 2_000), "123", now).is_ok());
        assert!(check_claims(&claims("999", 2_000), "123", now).is_err());
        assert!(check_claims(&claims("123", 1_000), "123", now).is_err());
        assert!(!format!("{:?}", claims("1", 1)).contains("U1234"));
    }
}
