//! What every console response gets: the page's language (`?lang=` sets it in a cookie, else
//! the cookie, else Japanese), headers that keep pages out of caches and frames, and an error
//! page, in that language, for a handler that answered with a [`ConsoleError`].

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::auth::{LANG_COOKIE, cookie, is_https, set_cookie};
use super::error::{ConsoleError, Failure};
use super::layout;
use super::text::Lang;

/// The language of a request: `?lang=` first, then the cookie.
pub fn lang_of(request: &Request) -> (Lang, bool) {
    let asked = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v));
    match asked {
        Some(lang) => (lang, true),
        None => (
            cookie(request.headers(), LANG_COOKIE)
                .and_then(Lang::parse)
                .unwrap_or_default(),
            false,
        ),
    }
}

/// The console's middleware.
pub async fn frame(mut request: Request, next: Next) -> Response {
    let (lang, chosen) = lang_of(&request);
    let https = is_https(request.headers());
    request.extensions_mut().insert(lang);
    let mut response = next.run(request).await;
    if let Some(Failure(e)) = response.extensions().get::<Failure>().cloned() {
        let (title, body) = e.render(lang);
        let status = response.status();
        response = (status, Html(layout::bare(lang, title, body).into_string())).into_response();
    }
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if chosen {
        let year = 365 * 24 * 3600;
        headers.append(
            SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.as_str(), year, https, false),
        );
    }
    response
}

/// Any other path under `/console`.
pub async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}
