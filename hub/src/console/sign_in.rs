//! Signing in and out (docs/design.md §7). The sign-in form carries a token of its own that a
//! cookie must match (double submit), so another site cannot sign a browser in; wrong passwords
//! in a row lock the account; an unknown name and a wrong password get the same answer after
//! the same work.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{TimeZone, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{
    SESSION_COOKIE, SIGN_IN_COOKIE, Staff, cookie, is_https, new_session, random_token, same_token,
    set_cookie, verify,
};
use super::error::ConsoleError;
use super::form::Form;
use super::layout::{bare, message};
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// The sign-in page, with `problem` said above the form.
fn form(lang: Lang, token: &str, name: &str, done: Option<&str>, problem: Option<&str>) -> Markup {
    bare(
        lang,
        lang.t(T::SignIn),
        html! {
            (message(done, problem))
            section {
                form #sign-in method="post" action="/console/sign-in" {
                    input type="hidden" name="form_token" value=(token);
                    label for="name" { (lang.t(T::Name)) }
                    input #name name="name" value=(name) autocomplete="username" required maxlength="64";
                    label for="password" { (lang.t(T::Password)) }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    div { button.go #sign-in-button type="submit" { (lang.t(T::SignIn)) } }
                }
            }
        },
    )
}

/// The form with a new form token (and its cookie).
fn answer(
    status: StatusCode,
    lang: Lang,
    https: bool,
    name: &str,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Response, ConsoleError> {
    let token = random_token().map_err(|e| ConsoleError::Store(e.into()))?;
    let page = form(lang, &token, name, done, problem);
    let mut r = (status, Html(page.into_string())).into_response();
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, &token, 3600, https, true),
    );
    Ok(r)
}

/// `GET /console/sign-in`.
pub async fn page(
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, ConsoleError> {
    let https = is_https(&headers);
    let (done, problem) = match (q.expired.is_some(), q.signed_out.is_some()) {
        (true, _) => (None, Some(lang.t(T::SessionExpired))),
        (_, true) => (Some(lang.t(T::SignedOut)), None),
        _ => (None, None),
    };
    answer(StatusCode::OK, lang, https, "", done, problem)
}

/// `POST /console/sign-in`.
pub async fn submit<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ConsoleError> {
    let https = is_https(&headers);
    let name = form.text("name").unwrap_or_default().to_owned();
    let fresh = match (form.get("form_token"), cookie(&headers, SIGN_IN_COOKIE)) {
        (Some(given), Some(expected)) => !expected.is_empty() && same_token(given, expected),
        _ => false,
    };
    if !fresh {
        let stale = Some(lang.t(T::SignInFormStale));
        return answer(StatusCode::FORBIDDEN, lang, https, &name, None, stale);
    }
    let password = form.get("password").unwrap_or_default().to_owned();
    let now = Utc::now();
    let account = if name.is_empty() {
        None
    } else {
        app.store.staff_account(name.clone()).await?
    };
    if let Some(until) = account
        .as_ref()
        .and_then(|a| a.locked_until_ms)
        .filter(|until| *until > now.timestamp_millis())
    {
        return locked(lang, https, &name, until, &app);
    }
    let hash = account
        .as_ref()
        .filter(|a| !a.disabled)
        .map(|a| a.password_hash.clone());
    if !verify(hash, password).await {
        if account.is_some() {
            let lock = app.console.lock_out();
            if let Some(until) = app.store.sign_in_failed(name.clone(), lock, now).await? {
                return locked(lang, https, &name, until, &app);
            }
        }
        tracing::info!(staff = %name, "console sign-in refused: wrong name or password");
        let wrong = Some(lang.t(T::SignInWrong));
        return answer(StatusCode::UNAUTHORIZED, lang, https, &name, None, wrong);
    }
    let (token, session) =
        new_session(app.console.absolute, now).map_err(|e| ConsoleError::Store(e.into()))?;
    app.store.sign_in(name.clone(), session, now).await?;
    tracing::info!(staff = %name, "console sign-in");
    let mut r = StatusCode::SEE_OTHER.into_response();
    let headers = r.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/console"));
    let max_age = app.console.absolute.num_seconds();
    headers.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, max_age, https, true),
    );
    headers.append(SET_COOKIE, set_cookie(SIGN_IN_COOKIE, "", 0, https, true));
    Ok(r)
}

fn locked<S>(
    lang: Lang,
    https: bool,
    name: &str,
    until_ms: i64,
    app: &AppState<S>,
) -> Result<Response, ConsoleError> {
    let until = Utc
        .timestamp_millis_opt(until_ms)
        .single()
        .map(|t| {
            t.with_timezone(&app.time_zone)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let text = format!("{} {until}", lang.t(T::SignInLocked));
    answer(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        https,
        name,
        None,
        Some(&text),
    )
}

/// `POST /console/sign-out`: the session ends at the hub, and its cookie goes.
pub async fn sign_out<S: HubStore>(
    State(app): State<AppState<S>>,
    staff: Staff,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    app.store.end_session(staff.token_hash).await?;
    tracing::info!(staff = %staff.name, "console sign-out");
    let https = is_https(&headers);
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_static("/console/sign-in?signed_out=1"),
    );
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, https, true));
    Ok(r)
}
