//! A local stand-in for LINE's platform, for tests and the demo (docs/design.md §9: LINE's servers
//! cannot be reached from here, so nothing else is mocked).
//!
//! It speaks LINE Login's documented "verify ID token" endpoint:
//! `POST /oauth2/v2.1/verify` with the form `id_token`, `client_id` (and optional `nonce`,
//! `user_id`), answering the token's claims (`iss`, `sub`, `aud`, `exp`, `iat`, `amr`, `name`,
//! `nonce`) or `400 {"error": "invalid_request", "error_description": "…"}` with LINE's
//! descriptions: `Invalid IdToken.`, `IdToken expired.`, `Invalid IdToken Audience.`,
//! `Invalid IdToken Nonce.`, `Invalid IdToken Subject Identifier.`.
//!
//! ID tokens are real JWTs signed HS256 with the channel secret (as LINE signs web-login ID
//! tokens). What the LINE app would do, log a user in and hand the LIFF page an ID token, is the
//! stand-in's own endpoint `POST /standin/id-tokens`; `POST /standin/outage` makes the verify
//! endpoint answer `500` until turned off, to test LINE being down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenpo_protocol::signup::{hmac_sha256, same};

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

/// Signs claims as an HS256 JWT with the channel secret.
pub fn issue_id_token(claims: &IdTokenClaims, channel_secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{header}.{payload}");
    let signature =
        URL_SAFE_NO_PAD.encode(hmac_sha256(channel_secret.as_bytes(), signed.as_bytes()));
    format!("{signed}.{signature}")
}

/// The stand-in's channels (id → secret) and its outage switch.
#[derive(Debug, Default)]
pub struct StandIn {
    channels: BTreeMap<String, String>,
    outage: AtomicBool,
}

impl StandIn {
    pub fn new(channels: impl IntoIterator<Item = (String, String)>) -> StandIn {
        StandIn {
            channels: channels.into_iter().collect(),
            outage: AtomicBool::new(false),
        }
    }

    /// An ID token for a user of one of the stand-in's channels.
    pub fn id_token(&self, claims: &IdTokenClaims) -> Option<String> {
        self.channels
            .get(&claims.aud)
            .map(|secret| issue_id_token(claims, secret))
    }

    /// Checks a token as LINE's verify endpoint does.
    pub fn verify(
        &self,
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
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(INVALID)?;
        if header["alg"] != "HS256" {
            return Err(INVALID);
        }
        let claims: IdTokenClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(INVALID)?;
        let secret = self.channels.get(&claims.aud).ok_or(INVALID)?;
        let expected = hmac_sha256(
            secret.as_bytes(),
            format!(
                "{}.{payload}",
                id_token.split('.').next().unwrap_or_default()
            )
            .as_bytes(),
        );
        let presented = URL_SAFE_NO_PAD.decode(signature).map_err(|_| INVALID)?;
        if !same(&expected, &presented) {
            return Err(INVALID);
        }
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
}

/// Decodes an `application/x-www-form-urlencoded` body (the `form_urlencoded` crate).
pub fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn line_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

async fn verify(State(standin): State<Arc<StandIn>>, body: Bytes) -> Response {
    if standin.outage.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "Internal server error"})),
        )
            .into_response();
    }
    let form = parse_form(&body);
    let (Some(id_token), Some(client_id)) = (form.get("id_token"), form.get("client_id")) else {
        return line_error("Required parameters are missing: id_token, client_id");
    };
    match standin.verify(
        id_token,
        client_id,
        form.get("nonce").map(String::as_str),
        form.get("user_id").map(String::as_str),
        Utc::now().timestamp(),
    ) {
        Ok(claims) => Json(claims).into_response(),
        Err(description) => line_error(description),
    }
}

/// `POST /standin/id-tokens`: what the LINE app hands a LIFF page after login.
#[derive(Debug, Deserialize)]
struct IssueRequest {
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

async fn issue(State(standin): State<Arc<StandIn>>, Json(req): Json<IssueRequest>) -> Response {
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
    Router::new()
        .route("/oauth2/v2.1/verify", post(verify))
        .route("/standin/id-tokens", post(issue))
        .route("/standin/outage", post(outage))
        .route("/standin/health", get(health))
        .with_state(standin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn standin() -> StandIn {
        StandIn::new([
            ("1111".to_owned(), "secret-one".to_owned()),
            ("2222".to_owned(), "secret-two".to_owned()),
        ])
    }

    #[test]
    fn verifies_like_line() {
        let s = standin();
        let now = Utc::now().timestamp();
        let mut claims = IdTokenClaims::new("1111", "Uabc", 600);
        claims.nonce = Some("n1".into());
        let token = s.id_token(&claims).unwrap();
        assert_eq!(s.verify(&token, "1111", None, None, now).unwrap(), claims);
        assert_eq!(
            s.verify(&token, "1111", Some("n1"), Some("Uabc"), now)
                .unwrap(),
            claims
        );
        assert_eq!(
            s.verify(&token, "2222", None, None, now),
            Err("Invalid IdToken Audience.")
        );
        assert_eq!(
            s.verify(&token, "1111", Some("n2"), None, now),
            Err("Invalid IdToken Nonce.")
        );
        assert_eq!(
            s.verify(&token, "1111", None, Some("Uxyz"), now),
            Err("Invalid IdToken Subject Identifier.")
        );
        assert_eq!(
            s.verify(&token, "1111", None, None, now + 601),
            Err("IdToken expired.")
        );
        let forged = issue_id_token(&claims, "not-the-secret");
        assert_eq!(
            s.verify(&forged, "1111", None, None, now),
            Err("Invalid IdToken.")
        );
        assert_eq!(
            s.verify("garbage", "1111", None, None, now),
            Err("Invalid IdToken.")
        );
    }

    #[test]
    fn forms_decode() {
        let f = parse_form(b"id_token=a.b-c_d&client_id=12%2034&x=%zz+y&flag");
        assert_eq!(f["id_token"], "a.b-c_d");
        assert_eq!(f["client_id"], "12 34");
        assert_eq!(f["x"], "%zz y");
        assert_eq!(f["flag"], "");
    }
}
