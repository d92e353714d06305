//! A stand-in for LINE's LIFF SDK (`GET /liff/sdk.js`), for pages tested in a real browser:
//! LINE's SDK (`https://static.line-scdn.net/liff/edge/2/sdk.js`) cannot be reached from here.
//! It gives the page the `liff` object tenpo's pages use — `init`, `isInClient`, `isLoggedIn`,
//! `login`, `logout`, `getIDToken`, `getDecodedIDToken` — with real ID tokens from this
//! stand-in, signed for the LINE Login channel. As in LINE's own browser (the stub says it is
//! in the client), each `init` (each page load) logs the user in with a new token; `login` (for
//! external browsers) returns to the page with a new one.
//!
//! Who is logged in comes from the script's own URL:
//! `/liff/sdk.js?channel=1234567890&user=U…&valid=600` (`valid`: the token's seconds, short to
//! test a page outliving its token).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{IdTokenClaims, StandIn};

const SDK: &str = r#"(() => {
  const src = new URL(document.currentScript.src);
  const KEY = "standin-liff-id-token";
  const login = new URL("/standin/liff/id-token", src.origin);
  for (const k of ["channel", "user", "valid"]) {
    if (src.searchParams.has(k)) login.searchParams.set(k, src.searchParams.get(k));
  }
  const decode = (t) => {
    try {
      const p = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(p + "===".slice((p.length + 3) % 4)));
    } catch (e) { return null; }
  };
  const fresh = async () => {
    const token = await (await fetch(login)).text();
    sessionStorage.setItem(KEY, token);
  };
  window.liff = {
    init: fresh,
    isInClient: () => true,
    isLoggedIn: () => !!sessionStorage.getItem(KEY),
    login: (options) => {
      fresh().then(() => location.replace((options && options.redirectUri) || location.href));
    },
    logout: () => sessionStorage.removeItem(KEY),
    getIDToken: () => sessionStorage.getItem(KEY),
    getDecodedIDToken: () => { const t = sessionStorage.getItem(KEY); return t ? decode(t) : null; },
  };
})();
"#;

pub(super) async fn sdk() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SDK,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct Login {
    channel: String,
    user: String,
    #[serde(default)]
    valid: Option<i64>,
}

/// `GET /standin/liff/id-token`: the stub's login, answered to any origin (the page is the
/// hub's; the script and this call are the stand-in's).
pub(super) async fn id_token(
    State(standin): State<Arc<StandIn>>,
    Query(l): Query<Login>,
) -> Response {
    let claims = IdTokenClaims::new(&l.channel, &l.user, l.valid.unwrap_or(600).clamp(1, 86_400));
    let mut r = match standin.id_token(&claims) {
        Some(token) => {
            standin.lock().record.liff_logins += 1;
            (StatusCode::OK, token).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            format!("no LINE Login channel {}", l.channel),
        )
            .into_response(),
    };
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}
