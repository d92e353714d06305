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
//!   difference), [`messaging`] (scenarios, caps, the quota, the outbox, previews),
//!   [`reports`] (computed in the background: [`report_data`], drawn by [`charts`]), [`audit`];
//!   [`show`] how times, yen and kinds of entries read on them.
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
pub mod messaging;
pub mod privacy;
pub mod program;
pub mod report_data;
pub mod reports;
pub mod review;
pub mod roles;
pub mod show;
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
use tenpo_support::config::{ConfigError, invalid};

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

/// The `[console]` table of hub.toml: how long staff sessions last and when repeated wrong
/// passwords lock an account. Every key is optional.
///
/// ```toml
/// [console]
/// idle_minutes = 30     # a session unused this long ends (5 to 480)
/// session_hours = 12    # and one this old, used or not (1 to 24)
/// lock_after = 5        # wrong passwords in a row that lock the account (3 to 20)
/// lock_minutes = 15     # for this long (1 to 1440)
/// ```
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    pub idle_minutes: Option<u32>,
    pub session_hours: Option<u32>,
    pub lock_after: Option<u32>,
    pub lock_minutes: Option<u32>,
}

/// The settings of a `[console]` table, each checked against its range.
pub fn resolve(section: ConsoleSection) -> Result<ConsoleSettings, ConfigError> {
    let range = |key: &'static str, value: Option<u32>, default: i64, lo: u32, hi: u32| match value
    {
        None => Ok(default),
        Some(v) if (lo..=hi).contains(&v) => Ok(i64::from(v)),
        Some(_) => Err(invalid(key, format!("must be {lo} to {hi}"))),
    };
    let d = ConsoleSettings::default();
    let idle = range(
        "console.idle_minutes",
        section.idle_minutes,
        d.idle.num_minutes(),
        5,
        480,
    )?;
    let absolute = range(
        "console.session_hours",
        section.session_hours,
        d.absolute.num_hours(),
        1,
        24,
    )?;
    if idle > absolute * 60 {
        return Err(invalid(
            "console.idle_minutes",
            "must not be longer than console.session_hours",
        ));
    }
    let lock_after = range(
        "console.lock_after",
        section.lock_after,
        i64::from(d.lock_after),
        3,
        20,
    )?;
    let lock_for = range(
        "console.lock_minutes",
        section.lock_minutes,
        d.lock_for.num_minutes(),
        1,
        1440,
    )?;
    Ok(ConsoleSettings {
        idle: Duration::minutes(idle),
        absolute: Duration::hours(absolute),
        lock_after: u32::try_from(lock_after).unwrap_or(d.lock_after),
        lock_for: Duration::minutes(lock_for),
    })
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
        .route("/console/members/{id}/data", post(privacy::export::<S>))
        .route("/console/members/{id}/erase", post(privacy::erase::<S>))
        .route("/console/terminals", get(terminals::terminals::<S>))
        .route("/console/review", get(review::review::<S>))
        .route("/console/review/held", post(review::resolve::<S>))
        .route(
            "/console/program",
            get(program::program::<S>).post(program::load::<S>),
        )
        .route("/console/messaging", get(messaging::messaging::<S>))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> Result<ConsoleSettings, String> {
        #[derive(serde::Deserialize)]
        struct File {
            console: ConsoleSection,
        }
        let file: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        resolve(file.console).map_err(|e| e.to_string())
    }

    #[test]
    fn the_console_table_sets_sessions_and_lock_out_within_their_ranges() {
        assert_eq!(section("[console]\n"), Ok(ConsoleSettings::default()));
        let s = section(
            "[console]\nidle_minutes = 10\nsession_hours = 8\nlock_after = 3\nlock_minutes = 60\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.idle, Duration::minutes(10));
        assert_eq!(s.absolute, Duration::hours(8));
        assert_eq!(s.lock_out().after, 3);
        assert_eq!(s.lock_out().for_ms, 3_600_000);
        for (bad, key) in [
            ("idle_minutes = 1", "console.idle_minutes"),
            ("session_hours = 48", "console.session_hours"),
            ("lock_after = 1", "console.lock_after"),
            ("lock_minutes = 0", "console.lock_minutes"),
            (
                "idle_minutes = 120\nsession_hours = 1",
                "console.idle_minutes",
            ),
        ] {
            let e = section(&format!("[console]\n{bad}\n"))
                .err()
                .unwrap_or_default();
            assert!(e.contains(key), "{bad}: {e}");
        }
        assert!(section("[console]\nidle = 5\n").is_err(), "an unknown key");
    }
}
