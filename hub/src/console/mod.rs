//! The staff console at `/console` (docs/design.md §13): server-rendered HTML for CRM staff and
//! IT, Japanese first with English at a click, no JavaScript.
//!
//! - [`auth`]: staff sign-in (argon2id), the session cookie, CSRF tokens, lock-out;
//!   [`sign_in`] its pages. [`roles`]: which role may do what.
//! - [`frame`]: what every console response gets (language, headers, error pages);
//!   [`layout`] the page around each page's content; [`text`] every word shown, in both
//!   languages; [`error`] what can go wrong, as a page.
//! - [`form`]: a posted form.
//! - The pages: [`home`], [`members`] (search and the member's file) and [`actions`] (what staff
//!   change on a member), [`terminals`], [`review`], [`program`] (rule sets and their
//!   difference), [`reports`] (computed in the background: [`report_data`], drawn by
//!   [`charts`]), [`audit`].
//!
//! Every change a person makes goes through the store's `ConsoleStore` with an `Actor` (name
//! and reason), which writes the audit entry in the same transaction.

pub mod actions;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod error;
pub mod form;
pub mod frame;
pub mod home;
pub mod layout;
pub mod members;
pub mod program;
pub mod report_data;
pub mod reports;
pub mod review;
pub mod roles;
pub mod sign_in;
pub mod terminals;
pub mod text;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::Duration;

use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::LockOut;

/// Body limit of the console's forms (a rule set's TOML is the largest).
pub const CONSOLE_BODY_BYTES: usize = 1024 * 1024;

/// How staff sessions and sign-in attempts are limited (the `[console]` table of hub.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Wrong passwords in a row that lock an account …
    pub lock_after: u32,
    /// … for this long.
    pub lock_for: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            lock_after: 5,
            lock_for: Duration::minutes(15),
        }
    }
}

impl ConsoleSettings {
    pub fn lock_out(&self) -> LockOut {
        LockOut {
            after: self.lock_after,
            for_ms: self.lock_for.num_milliseconds(),
        }
    }
}

/// The console's routes, for the hub's router.
pub fn routes<S: HubStore>() -> Router<AppState<S>> {
    Router::new()
        .route(
            "/console/sign-in",
            get(sign_in::page).post(sign_in::submit::<S>),
        )
        .route("/console/sign-out", post(sign_in::sign_out::<S>))
        .route("/console", get(home::home::<S>))
        .route("/console/", get(home::home::<S>))
        .route("/console/members", get(members::search::<S>))
        .route("/console/members/{id}", get(members::member_page::<S>))
        .route("/console/members/{id}/adjust", post(actions::adjust::<S>))
        .route(
            "/console/members/{id}/replace-card",
            post(actions::replace_card::<S>),
        )
        .route(
            "/console/members/{id}/unlink-line",
            post(actions::unlink_line::<S>),
        )
        .route("/console/members/{id}/coupon", post(actions::coupon::<S>))
        .route("/console/terminals", get(terminals::terminals::<S>))
        .route("/console/review", get(review::review::<S>))
        .route("/console/review/held", post(review::resolve::<S>))
        .route(
            "/console/program",
            get(program::program::<S>).post(program::load::<S>),
        )
        .route("/console/reports", get(reports::reports::<S>))
        .route("/console/reports/{chart}", get(reports::csv::<S>))
        .route("/console/audit", get(audit::audit::<S>))
        .route(
            "/console/{*rest}",
            get(frame::not_found).post(frame::not_found),
        )
        .layer(DefaultBodyLimit::max(CONSOLE_BODY_BYTES))
        .layer(axum::middleware::from_fn(frame::frame))
}
