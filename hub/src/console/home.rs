//! The console's home: the hub at a glance, from the counts `/metrics` shows.

use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::auth::Staff;
use super::error::ConsoleError;
use super::layout::page;
use super::roles::Can;
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;

/// `GET /console`.
pub async fn home<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let c = app.store.counts().await?;
    let rows = [
        (T::Members, c.members),
        (T::Stores, c.stores),
        (T::Terminals, c.terminals),
        (T::Events, c.events),
        (T::EventsWaiting, c.events_waiting),
        (T::Conflicts, c.conflicts),
        (T::Discrepancies, c.discrepancies),
        (T::RuleSetVersion, c.rule_set_version),
        (T::MessagesPending, c.messages.pending),
    ];
    let body = html! {
        @if staff.can(Can::ReadMembers) { (super::members::search_form(lang, "")) }
        section #counts {
            h2 { (lang.t(T::Counts)) }
            table { @for (key, n) in rows { tr { th { (lang.t(key)) } td.n { (n) } } } }
        }
    };
    let title = lang.t(T::NavHome);
    Ok(Html(page(lang, &staff, T::NavHome, title, body).into_string()).into_response())
}
