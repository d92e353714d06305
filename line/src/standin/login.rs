//! LINE Login in the stand-in: `POST /oauth2/v2.1/verify` (form `id_token`, `client_id`,
//! optional `nonce`, `user_id`) answering the token's claims (`iss`, `sub`, `aud`, `exp`, `iat`,
//! `amr`, `name`, `nonce`) or `400 {"error": "invalid_request", "error_description": "…"}` with
//! LINE's descriptions: `Invalid IdToken.`, `IdToken expired.`, `Invalid IdToken Audience.`,
//! `Invalid IdToken Nonce.`, `Invalid IdToken Subject Identifier.`.
//!
//! ID tokens are real JWTs signed HS256 with the channel secret (as LINE signs web-login ID
//! tokens). What the LINE app does, log a user in and hand the LIFF page an ID token, is the
//! stand-in's own `POST /standin/id-tokens`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::{StandIn, parse_form};

/// The `iss` of every ID token.
pub const ISSUER: &str = "https://access.line.me";

/// The claims of an ID token, in LINE's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl IdTokenClaims {
    /// Claims for a user of a channel, valid for `valid_secs` from now (negative: expired).
    pub fn new(channel_id: &str, user_id: &str, valid_secs: i64) -> IdTokenClaims {
        let now = Utc::now().timestamp();
        IdTokenClaims {
            iss: ISSUER.into(),
            sub: user_id.into(),
            aud: channel_id.into(),
            exp: now + valid_secs,
            iat: now.min(now + valid_secs - 1),
            nonce: None,
            amr: vec!["linesso".into()],
            name: None,
        }
    }
}

fn hs256(secret: &str) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of every length"))
}

/// Signs claims as an HS256 JWT with the channel secret.
pub fn issue_id_token(claims: &IdTokenClaims, channel_secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{header}.{payload}");
    let mut mac = hs256(channel_secret);
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Checks a token as LINE's verify endpoint does, against the channels `id → secret`.
pub fn verify(
    channels: &BTreeMap<String, String>,
    id_token: &str,
    client_id: &str,
    nonce: Option<&str>,
    user_id: Option<&str>,
    now: i64,
) -> Result<IdTokenClaims, &'static str> {
    const INVALID: &str = "Invalid IdToken.";
    let mut parts = id_token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(INVALID);
    };
    let header_json: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(INVALID)?;
    if header_json["alg"] != "HS256" {
        return Err(INVALID);
    }
    let claims: IdTokenClaims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(INVALID)?;
    let secret = channels.get(&claims.aud).ok_or(INVALID)?;
    let presented = URL_SAFE_NO_PAD.decode(signature).map_err(|_| INVALID)?;
    let mut mac = hs256(secret);
    mac.update(format!("{header}.{payload}").as_bytes());
    // Constant time.
    mac.verify_slice(&presented).map_err(|_| INVALID)?;
    if claims.iss != ISSUER {
        return Err("Invalid IdToken Issuer.");
    }
    if claims.exp <= now {
        return Err("IdToken expired.");
    }
    if claims.aud != client_id {
        return Err("Invalid IdToken Audience.");
    }
    if let Some(n) = nonce
        && claims.nonce.as_deref() != Some(n)
    {
        return Err("Invalid IdToken Nonce.");
    }
    if let Some(u) = user_id
        && claims.sub != u
    {
        return Err("Invalid IdToken Subject Identifier.");
    }
    Ok(claims)
}

fn login_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

pub(super) async fn verify_endpoint(State(standin): State<Arc<StandIn>>, body: Bytes) -> Response {
    if standin.outage.load(Ordering::SeqCst) {
        return super::server_error();
    }
    let form = parse_form(&body);
    let (Some(id_token), Some(client_id)) = (form.get("id_token"), form.get("client_id")) else {
        return login_error("Required parameters are missing: id_token, client_id");
    };
    match verify(
        &standin.login_channels,
        id_token,
        client_id,
        form.get("nonce").map(String::as_str),
        form.get("user_id").map(String::as_str),
        Utc::now().timestamp(),
    ) {
        Ok(claims) => Json(claims).into_response(),
        Err(description) => login_error(description),
    }
}

/// `POST /standin/id-tokens`: what the LINE app hands a LIFF page after login.
#[derive(Debug, Deserialize)]
pub(super) struct IssueRequest {
    channel_id: String,
    /// The LINE user id (`U` and 32 hex digits at LINE).
    sub: String,
    /// Seconds until the token expires (negative: already expired); default 600.
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub(super) async fn issue(
    State(standin): State<Arc<StandIn>>,
    Json(req): Json<IssueRequest>,
) -> Response {
    let mut claims = IdTokenClaims::new(&req.channel_id, &req.sub, req.expires_in.unwrap_or(600));
    claims.name = req.name;
    claims.nonce = req.nonce;
    match standin.id_token(&claims) {
        Some(id_token) => Json(json!({ "id_token": id_token })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("the stand-in has no channel {}", req.channel_id)})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn verifies_like_line() {
        let channels: BTreeMap<String, String> = [
            ("1111".to_owned(), "secret-one".to_owned()),
            ("2222".to_owned(), "secret-two".to_owned()),
        ]
        .into();
        let now = Utc::now().timestamp();
        let mut claims = IdTokenClaims::new("1111", "Uabc", 600);
        claims.nonce = Some("n1".into());
        let token = issue_id_token(&claims, "secret-one");
        let v = |t: &str, c: &str, n: Option<&str>, u: Option<&str>, at: i64| {
            verify(&channels, t, c, n, u, at)
        };
        assert_eq!(v(&token, "1111", None, None, now).unwrap(), claims);
        assert_eq!(
            v(&token, "1111", Some("n1"), Some("Uabc"), now).unwrap(),
            claims
        );
        assert_eq!(
            v(&token, "2222", None, None, now),
            Err("Invalid IdToken Audience.")
        );
        assert_eq!(
            v(&token, "1111", Some("n2"), None, now),
            Err("Invalid IdToken Nonce.")
        );
        assert_eq!(
            v(&token, "1111", None, Some("Uxyz"), now),
            Err("Invalid IdToken Subject Identifier.")
        );
        assert_eq!(
            v(&token, "1111", None, None, now + 601),
            Err("IdToken expired.")
        );
        let forged = issue_id_token(&claims, "not-the-secret");
        assert_eq!(v(&forged, "1111", None, None, now), Err("Invalid IdToken."));
        assert_eq!(
            v("garbage", "1111", None, None, now),
            Err("Invalid IdToken.")
        );
    }
}
