//! Terminals by store (docs/design.md §13): each one's version, when it last called, the events
//! it holds that the hub has not taken, its mark, its clock against the hub's, and its events
//! the hub refused. One not heard from for a while, or with its clock off, stands out.

use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::html;

use super::auth::Staff;
use super::error::ConsoleError;
use super::layout::page;
use super::roles::Can;
use super::show::{seconds, when};
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::TerminalHealth;

/// Not heard from for longer than this, a terminal stands out.
pub const STALE_AFTER_MINUTES: i64 = 15;
/// A clock off by more than this stands out.
pub const SKEW_WARN_MS: i64 = 60_000;

/// Whether the terminal has not called for too long (or never did).
pub fn stale(t: &TerminalHealth, now: DateTime<Utc>) -> bool {
    let seen = t
        .reported_at
        .as_deref()
        .or(t.last_received_at.as_deref())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    match seen {
        Some(at) => now - at.with_timezone(&Utc) > chrono::Duration::minutes(STALE_AFTER_MINUTES),
        None => true,
    }
}

/// `GET /console/terminals`.
pub async fn terminals<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let all = app.store.terminal_health().await?;
    let now = Utc::now();
    let mut stores: Vec<(&str, Vec<&TerminalHealth>)> = Vec::new();
    for t in &all {
        match stores.last_mut() {
            Some((s, list)) if *s == t.store_id => list.push(t),
            _ => stores.push((&t.store_id, vec![t])),
        }
    }
    let body = html! {
        @if all.is_empty() { p { (lang.t(T::NoTerminals)) } }
        @for (store, list) in &stores {
            section.store {
                h2 { (lang.t(T::Store)) " " (store) }
                table {
                    tr {
                        th { (lang.t(T::Terminal)) } th { (lang.t(T::Version)) } th { (lang.t(T::LastSeen)) }
                        th.n { (lang.t(T::Waiting)) } th.n { (lang.t(T::Mark)) } th.n { (lang.t(T::ClockSkew)) }
                        th.n { (lang.t(T::Quarantined)) }
                    }
                    @for t in list {
                        @let is_stale = stale(t, now);
                        @let skewed = t.clock_skew_ms.is_some_and(|s| s.abs() > SKEW_WARN_MS);
                        tr.terminal id={ "terminal-" (t.terminal_id) } class=[(is_stale || skewed).then_some("warn")] {
                            td { (t.terminal_id) @if let Some(n) = &t.name { " (" (n) ")" } }
                            td { (t.agent_version.as_deref().unwrap_or("—")) }
                            td {
                                @match t.reported_at.as_deref().or(t.last_received_at.as_deref()) {
                                    Some(at) => { (when(app.time_zone, at)) }
                                    None => { (lang.t(T::Never)) }
                                }
                                @if is_stale { br; strong.stale { (lang.t(T::Stale)) } }
                            }
                            td.n.waiting { (t.waiting()) }
                            td.n { (t.acked_through) }
                            td.n {
                                @match t.clock_skew_ms {
                                    Some(ms) => { (seconds(ms)) " " (lang.t(T::Seconds)) }
                                    None => { "—" }
                                }
                                @if skewed { br; strong { (lang.t(T::Skewed)) } }
                            }
                            td.n { (t.quarantined) }
                        }
                    }
                }
            }
        }
    };
    let title = lang.t(T::NavTerminals);
    Ok(Html(page(lang, &staff, T::NavTerminals, title, body).into_string()).into_response())
}
