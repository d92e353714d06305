//! The audit log (docs/design.md §7, §13): who did what, when, to which member, and why.

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Staff;
use super::error::ConsoleError;
use super::layout::page;
use super::roles::Can;
use super::show::{kind, when};
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::StaffActionView;
use chrono_tz::Tz;

/// Entries a page shows.
const PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
}

/// The entries as a table (also on a member's page).
pub fn table(lang: Lang, tz: Tz, entries: &[StaffActionView]) -> Markup {
    html! {
        @if entries.is_empty() { p { (lang.t(T::None)) } } @else {
            table.audit {
                tr {
                    th { (lang.t(T::Time)) } th { (lang.t(T::Who)) } th { (lang.t(T::Action)) }
                    th { (lang.t(T::Member)) } th { (lang.t(T::Reason)) } th { (lang.t(T::Detail)) }
                }
                @for e in entries {
                    tr.audit-entry {
                        td { (when(tz, &e.at)) } td { (e.staff) } td.action { (kind(lang, &e.action)) }
                        td { @if let Some(m) = &e.member_id { a href={ "/console/members/" (m) } { (m) } } }
                        td { (e.reason) }
                        td.detail { code { (e.detail.to_string()) } }
                    }
                }
            }
        }
    }
}

/// `GET /console/audit?before=ID`.
pub async fn audit<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let entries = app.store.staff_actions(q.before, PAGE, None).await?;
    let older = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let body = html! {
        section #audit { (table(lang, app.time_zone, &entries)) }
        @if let Some(before) = older { p { a href={ "?before=" (before) } { (lang.t(T::Older)) } } }
    };
    let title = lang.t(T::AuditLog);
    Ok(Html(page(lang, &staff, T::NavAudit, title, body).into_string()).into_response())
}
