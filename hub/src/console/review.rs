//! The review queue (docs/design.md §7, §13): conflicts, discrepancies by class, and outcomes
//! held back, each held one released or dismissed by a person with a reason, in the audit log.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::auth::Staff;
use super::error::ConsoleError;
use super::form::Form;
use super::layout::{csrf, message, page};
use super::roles::Can;
use super::show::when;
use super::text::{Lang, T};
use crate::admin::HeldAction;
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::Actor;

/// Rows each list shows (the newest; the admin API pages through the rest).
const SHOWN: u32 = 200;

fn json(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

async fn render<S: HubStore>(
    app: &AppState<S>,
    lang: Lang,
    staff: &Staff,
    done: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let held = app.store.held(0, SHOWN, true).await?;
    let discrepancies = app.store.discrepancies(0, SHOWN, None).await?;
    let conflicts = app.store.conflicts(0, SHOWN).await?;
    let decide = staff.can(Can::DecideHeld);
    let body = html! {
        (message(done, problem))
        section #held {
            h2 { (lang.t(T::Held)) }
            @if held.is_empty() { p { (lang.t(T::NoneOpen)) } }
            @for h in &held {
                div.held {
                    p { strong { (h.terminal_id) " #" (h.seq) } " — " (lang.t(T::Sale)) " " (h.sale_id)
                        " — " (lang.t(T::Member)) " " a href={ "/console/members/" (h.member_id) } { (h.member_id) } }
                    p { (h.reason) }
                    div.grid {
                        div { strong { (lang.t(T::Till)) } pre { (json(&h.till)) } }
                        div { strong { (lang.t(T::Hub)) } pre { (json(&h.hub)) } }
                    }
                    @if decide { (decide_form(lang, staff, &h.terminal_id, h.seq)) }
                }
            }
        }
        section #discrepancies {
            h2 { (lang.t(T::Discrepancies)) }
            @if discrepancies.is_empty() { p { (lang.t(T::NoneOpen)) } } @else {
                table { tr { th { (lang.t(T::Class)) } th { (lang.t(T::Terminal)) } th { (lang.t(T::Sale)) }
                        th { (lang.t(T::Member)) } th { (lang.t(T::Detail)) } th { (lang.t(T::Time)) } }
                    @for d in discrepancies.iter().rev() {
                        tr { td { (d.class) } td { (d.terminal_id) " #" (d.seq) } td { (d.sale_id) }
                             td { a href={ "/console/members/" (d.member_id) } { (d.member_id) } }
                             td { (d.detail) } td { (when(app.time_zone, &d.detected_at)) } }
                    }
                }
            }
        }
        section #conflicts {
            h2 { (lang.t(T::Conflicts)) }
            @if conflicts.is_empty() { p { (lang.t(T::NoneOpen)) } } @else {
                @for c in conflicts.iter().rev() {
                    div { p { strong { (c.terminal_id) " #" (c.seq) } " (" (c.kind) ") " (when(app.time_zone, &c.detected_at)) }
                        div.grid { div { (lang.t(T::First)) pre { (json(&c.first)) } }
                                   div { (lang.t(T::Second)) pre { (json(&c.second)) } } } }
                }
            }
        }
    };
    let title = lang.t(T::NavReview);
    Ok((
        status,
        Html(page(lang, staff, T::NavReview, title, body).into_string()),
    )
        .into_response())
}

fn decide_form(lang: Lang, staff: &Staff, terminal_id: &str, seq: u64) -> Markup {
    html! {
        form.decide method="post" action="/console/review/held" {
            (csrf(staff))
            input type="hidden" name="terminal_id" value=(terminal_id);
            input type="hidden" name="seq" value=(seq);
            label { (lang.t(T::Reason)) " " input name="reason" required maxlength="500" size="40"; }
            button.go name="action" value="release" type="submit" { (lang.t(T::Release)) }
            " "
            button.go name="action" value="dismiss" type="submit" { (lang.t(T::Dismiss)) }
        }
    }
}

/// `GET /console/review`.
pub async fn review<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    render(&app, lang, &staff, None, None, StatusCode::OK).await
}

/// `POST /console/review/held`: release or dismiss a held outcome.
pub async fn resolve<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    form: Form,
) -> Result<Response, ConsoleError> {
    staff.need(Can::DecideHeld)?;
    staff.check_csrf(&form)?;
    let result = async {
        let actor = Actor::new(&staff.name, form.get("reason").unwrap_or_default())?;
        let action = match form.get("action") {
            Some("release") => HeldAction::Release,
            Some("dismiss") => HeldAction::Dismiss,
            _ => return Err(ConsoleError::BadRequest("release or dismiss?".into())),
        };
        let terminal_id = form.text("terminal_id").unwrap_or_default().to_owned();
        let seq = form
            .text("seq")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ConsoleError::BadRequest("seq is not a number".into()))?;
        app.store
            .resolve_held_by(terminal_id, seq, action, actor, Utc::now())
            .await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            render(
                &app,
                lang,
                &staff,
                Some(lang.t(T::DoneResolved)),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(ConsoleError::Store(e)) if e.is_refusal() => {
            let why = e.to_string();
            render(
                &app,
                lang,
                &staff,
                None,
                Some(&why),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(ConsoleError::BadRequest(why)) => {
            render(
                &app,
                lang,
                &staff,
                None,
                Some(&why),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e),
    }
}
