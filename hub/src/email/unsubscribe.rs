//! Unsubscribing from email with one click (RFC 8058), without logging in: every email carries
//! `https://{hub}/u/{token}`, the token naming the member and signed by the hub.
//!
//! - The token is `base64url(1 ‖ member_id ‖ tag)`, the tag the first 16 bytes of HMAC-SHA256
//!   over `"tenpo-unsubscribe-v1\0" ‖ member_id` under the hub's unsubscribe key (32 random
//!   bytes it keeps), checked in constant time. It does not expire: an email's link keeps
//!   working.
//! - `GET /u/{token}` only shows a page (ja/en) with a button: link checkers and mail filters
//!   fetch links, and must not unsubscribe anyone. `POST /u/{token}` unsubscribes, whether the
//!   mail program sends it (body `List-Unsubscribe=One-Click`) or the page's button does.
//! - A token that is damaged or not the hub's is `400` with a page saying so; nothing changes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use maud::{DOCTYPE, Markup, html};
use sha2::Sha256;

use super::mailer::EmailError;
use crate::store::StoreError;
use crate::store::outbox::Language;

/// The shortest key the tokens are signed with: the hub keeps 32 random bytes.
pub const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 16;
const VERSION: u8 = 1;
const LABEL: &[u8] = b"tenpo-unsubscribe-v1\0";
/// Longest member id a token carries.
const MAX_MEMBER_ID: usize = 128;

fn tag(key: &[u8], member_id: &str) -> Result<Hmac<Sha256>, EmailError> {
    if key.len() < KEY_BYTES {
        return Err(EmailError::ShortKey(key.len()));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|_| EmailError::ShortKey(key.len()))?;
    mac.update(LABEL);
    mac.update(member_id.as_bytes());
    Ok(mac)
}

/// The token of `member_id`'s unsubscribe link, signed with `key` (at least [`KEY_BYTES`]
/// bytes: a shorter key is refused, since an empty one would let anyone make tokens).
pub fn unsubscribe_token(key: &[u8], member_id: &str) -> Result<String, EmailError> {
    let mac = tag(key, member_id)?.finalize().into_bytes();
    let mut bytes = Vec::with_capacity(1 + member_id.len() + TAG_BYTES);
    bytes.push(VERSION);
    bytes.extend_from_slice(member_id.as_bytes());
    bytes.extend_from_slice(&mac[..TAG_BYTES]);
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The member a token names, when `key` signed it; `None` for anything else.
pub fn check_unsubscribe_token(key: &[u8], token: &str) -> Option<String> {
    if token.len() > 4 * (1 + MAX_MEMBER_ID + TAG_BYTES) / 3 + 4 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.len() <= TAG_BYTES {
        return None;
    }
    let (member, tag_bytes) = rest.split_at(rest.len() - TAG_BYTES);
    let member_id = std::str::from_utf8(member).ok()?;
    tag(key, member_id)
        .ok()?
        .verify_truncated_left(tag_bytes)
        .ok()?;
    Some(member_id.to_owned())
}

/// `{public_url}/u/{token}?lang=en`: the link an email carries (the page speaks the member's
/// language; without `lang`, the browser's).
pub fn unsubscribe_url(
    public_url: &str,
    key: &[u8],
    member_id: &str,
    language: Language,
) -> Result<String, EmailError> {
    Ok(format!(
        "{}/u/{}?lang={}",
        public_url.trim_end_matches('/'),
        unsubscribe_token(key, member_id)?,
        language.as_str()
    ))
}

/// What unsubscribing needs of the hub's storage.
pub trait Unsubscribe: Send + Sync + 'static {
    /// Turns email off for `member_id`: no more email goes to them (LINE messages are not
    /// touched). `true` when it was on; `false` when it was off already or the member is gone,
    /// and nothing changed.
    fn unsubscribe_email(
        &self,
        member_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The hub's store is one: its `unsubscribe_email` is this.
impl<T: crate::store::catalog::CatalogStore> Unsubscribe for T {
    fn unsubscribe_email(
        &self,
        member_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        crate::store::catalog::CatalogStore::unsubscribe_email(self, member_id, now)
    }
}

/// What the unsubscribe pages hold.
struct Pages<U> {
    store: Arc<U>,
    key: Arc<[u8]>,
}

impl<U> Clone for Pages<U> {
    fn clone(&self) -> Self {
        Pages {
            store: self.store.clone(),
            key: self.key.clone(),
        }
    }
}

/// `GET` and `POST /u/{token}`, over `store` with the hub's unsubscribe `key`: merge into the
/// hub's router (it carries its own state, so it fits a router of any state).
pub fn routes<U: Unsubscribe, S: Clone + Send + Sync + 'static>(
    store: Arc<U>,
    key: &[u8],
) -> Result<Router<S>, EmailError> {
    if key.len() < KEY_BYTES {
        return Err(EmailError::ShortKey(key.len()));
    }
    Ok(Router::new()
        .route("/u/{token}", get(page::<U>).post(one_click::<U>))
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024))
        .with_state(Pages {
            store,
            key: Arc::from(key),
        }))
}

/// The page's language: `?lang=`, else the browser's first of ja/en, else Japanese.
fn language(query: Option<&str>, headers: &HeaderMap) -> Language {
    let asked = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let browser = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .map(|l| {
                    l.split(';')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_ascii_lowercase()
                })
                .find(|l| l.starts_with("ja") || l.starts_with("en"))
        });
    match asked.or(browser) {
        Some(l) if l.starts_with("en") => Language::En,
        _ => Language::Ja,
    }
}

struct Texts {
    title: &'static str,
    text: &'static str,
    button: &'static str,
}

fn texts(language: Language, what: Shown) -> Texts {
    use Shown::*;
    let ja = language == Language::Ja;
    let (title, text, button) = match what {
        Confirm if ja => (
            "メール配信の停止",
            "このボタンを押すと、会員プログラムからのメールが届かなくなります。LINE のメッセージは変わりません。",
            "メールの配信を停止する",
        ),
        Confirm => (
            "Stop emails",
            "Press the button and you will no longer get emails from our member program. LINE messages stay as they are.",
            "Stop these emails",
        ),
        Done if ja => (
            "配信を停止しました",
            "今後、会員プログラムからのメールはお送りしません。会員カードのプロフィールから、いつでも受け取り方を変えられます。",
            "",
        ),
        Done => (
            "You are unsubscribed",
            "We will send you no more emails from our member program. You can change how you hear from us in your member card's profile at any time.",
            "",
        ),
        Invalid if ja => (
            "このリンクは使えません",
            "リンクが途中で切れているか、正しくありません。何も変更していません。最新のメールのリンクをそのままお使いください。",
            "",
        ),
        Invalid => (
            "This link does not work",
            "The link is cut short or not one of ours. Nothing was changed. Use the link in our latest email as it is.",
            "",
        ),
        Failed if ja => (
            "ただいま処理できません",
            "何も変更していません。しばらくしてから、もう一度お試しください。",
            "",
        ),
        Failed => (
            "We cannot do this right now",
            "Nothing was changed. Please try again in a little while.",
            "",
        ),
        NotOneClick if ja => (
            "このリクエストは使えません",
            "配信停止は、メールのリンクのページのボタンからお願いします。何も変更していません。",
            "",
        ),
        NotOneClick => (
            "This request does not work",
            "Unsubscribe with the button on the page our email links to. Nothing was changed.",
            "",
        ),
    };
    Texts {
        title,
        text,
        button,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Confirm,
    Done,
    Invalid,
    Failed,
    NotOneClick,
}

fn render(language: Language, what: Shown) -> Markup {
    let t = texts(language, what);
    html! {
        (DOCTYPE)
        html lang=(language.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (t.title) }
            }
            body style="font-family:sans-serif;max-width:480px;margin:40px auto;padding:0 16px;\
                        color:#222;line-height:1.7" {
                h1 style="font-size:22px" { (t.title) }
                p { (t.text) }
                @if what == Shown::Confirm {
                    // No action: the form posts to this page's own URL.
                    form method="post" {
                        input type="hidden" name="List-Unsubscribe" value="One-Click";
                        button type="submit" style="font-size:16px;padding:12px 24px;\
                            border:0;border-radius:6px;background:#06c755;color:#fff" {
                            (t.button)
                        }
                    }
                }
            }
        }
    }
}

fn answer(status: StatusCode, language: Language, what: Shown) -> Response {
    let mut response = (status, render(language, what).into_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The token is in the URL: kept out of caches and of other sites' logs.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    response
}

async fn page<U: Unsubscribe>(
    State(pages): State<Pages<U>>,
    token: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let language = language(query.as_deref(), &headers);
    let member = token
        .ok()
        .and_then(|Path(t)| check_unsubscribe_token(&pages.key, &t));
    match member {
        Some(_) => answer(StatusCode::OK, language, Shown::Confirm),
        None => answer(StatusCode::BAD_REQUEST, language, Shown::Invalid),
    }
}

/// Whether the body asks for a one-click unsubscribe (RFC 8058): a form with
/// `List-Unsubscribe=One-Click`, URL-encoded or as multipart/form-data (whose field is not read
/// apart: the token is what counts, and the POST itself is the member's act).
fn is_one_click(headers: &HeaderMap, body: &[u8]) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        return true;
    }
    content_type.starts_with("application/x-www-form-urlencoded")
        && form_urlencoded::parse(body).any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
}

async fn one_click<U: Unsubscribe>(
    State(pages): State<Pages<U>>,
    token: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let language = language(query.as_deref(), &headers);
    let Some(member_id) = token
        .ok()
        .and_then(|Path(t)| check_unsubscribe_token(&pages.key, &t))
    else {
        return answer(StatusCode::BAD_REQUEST, language, Shown::Invalid);
    };
    if !is_one_click(&headers, &body) {
        return answer(StatusCode::BAD_REQUEST, language, Shown::NotOneClick);
    }
    match pages.store.unsubscribe_email(member_id, Utc::now()).await {
        Ok(_) => answer(StatusCode::OK, language, Shown::Done),
        Err(e) => {
            tracing::warn!(error = %e, "an email unsubscribe could not be stored");
            answer(StatusCode::SERVICE_UNAVAILABLE, language, Shown::Failed)
        }
    }
}

#[cfg(test)]
#[path = "unsubscribe_tests.rs"]
mod tests;
