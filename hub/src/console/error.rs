//! What can go wrong on a console page, answered as an HTML page with its status (never JSON):
//! a handler returns a [`ConsoleError`], and [`super::frame`] renders it in the page's language.
//! Failures of the hub itself are logged here with their cause and shown without it.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::text::{Lang, T};
use crate::store::StoreError;
use crate::store::console::Role;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The staff member's role may not do this; `needs` may.
    #[error("needs the role {needs:?}")]
    Forbidden { role: Role, needs: &'static [Role] },
    /// A POST without the session's CSRF token, or with another.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("no such page")]
    NotFound,
    /// A request that cannot be read (a form that is not one, text that is not UTF-8).
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is too large")]
    TooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConsoleError {
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Forbidden { .. } | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ConsoleError::Store(e) => store_status(e),
        }
    }

    /// The page's title and body, in `lang`.
    pub fn render(&self, lang: Lang) -> (&'static str, Markup) {
        let nothing = lang.t(T::NothingChanged);
        match self {
            ConsoleError::Forbidden { role, needs } => (
                lang.t(T::ErrForbidden),
                html! {
                    p { (lang.t(T::ErrForbiddenNeeds)) " "
                        @for (i, r) in needs.iter().enumerate() {
                            @if i > 0 { ", " } strong { (r.as_str()) }
                        }
                    }
                    p { (lang.t(T::ErrForbiddenYours)) " " strong { (role.as_str()) } }
                    p { (nothing) }
                },
            ),
            ConsoleError::Csrf => (
                lang.t(T::ErrCsrf),
                html! { p { (lang.t(T::ErrCsrfText)) } p { (nothing) } },
            ),
            ConsoleError::NotFound => (
                lang.t(T::ErrNotFound),
                html! { p { (lang.t(T::ErrNotFoundText)) } },
            ),
            ConsoleError::BadRequest(m) => (
                lang.t(T::ErrBadRequest),
                html! { p { (m) } p { (nothing) } },
            ),
            ConsoleError::TooLarge => (
                lang.t(T::ErrBadRequest),
                html! { p { (lang.t(T::ErrTooLarge)) } p { (nothing) } },
            ),
            ConsoleError::Store(e) => (lang.t(T::ErrRefused), store_message(e, lang)),
        }
    }
}

/// The status a store error is answered with.
pub fn store_status(e: &StoreError) -> StatusCode {
    use StoreError as E;
    match e {
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Decided(_) | E::Conflict(_) | E::Signup(_) | E::RulesVersion { .. } | E::NoRuleSet => {
            StatusCode::CONFLICT
        }
        e if e.is_refusal() => StatusCode::UNPROCESSABLE_ENTITY,
        E::Unavailable(_) | E::Contention(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a person is told of a store error: a refusal's own words (they say what to fix), or
/// that the hub failed (its cause logged, not shown).
pub fn store_message(e: &StoreError, lang: Lang) -> Markup {
    let nothing = lang.t(T::NothingChanged);
    if e.is_refusal() {
        return html! { p { (e.to_string()) } p { (nothing) } };
    }
    match e {
        StoreError::Unavailable(_) | StoreError::Contention(_) => {
            tracing::error!(error = %e, "console: the database is unavailable");
            html! { p { (lang.t(T::ErrUnavailable)) } p { (nothing) } }
        }
        _ => {
            tracing::error!(error = %e, "console: a request failed inside the hub");
            html! { p { (lang.t(T::ErrInternal)) } }
        }
    }
}

/// What [`super::frame`] finds on a response to render as the error page.
#[derive(Debug, Clone)]
pub struct Failure(pub Arc<ConsoleError>);

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(Failure(Arc::new(self)));
        response
    }
}
