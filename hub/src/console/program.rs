//! The program (docs/design.md §3, §13): the rule set in force, the difference between two
//! versions (a line diff of their TOML, `similar`), and loading a new one, checked first, with
//! what is wrong said above the text, which is kept for fixing.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};
use tenpo_loyalty::RuleSet;

use super::auth::Staff;
use super::error::ConsoleError;
use super::form::Form;
use super::layout::{csrf, message, page};
use super::roles::Can;
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::Actor;

#[derive(Debug, Deserialize)]
pub struct ProgramQuery {
    #[serde(default)]
    from: Option<u32>,
    #[serde(default)]
    to: Option<u32>,
}

fn toml_of(rules: &RuleSet) -> String {
    toml::to_string_pretty(rules).unwrap_or_else(|e| format!("# cannot be shown as TOML: {e}"))
}

/// The lines that differ between two texts, marked.
pub fn diff(from: &str, to: &str) -> Markup {
    let d = TextDiff::from_lines(from, to);
    let changed = d.ops().iter().any(|op| op.tag() != similar::DiffTag::Equal);
    html! {
        @if !changed { p #no-difference { "=" } } @else {
            pre #diff {
                @for group in d.grouped_ops(2) {
                    @for op in group {
                        @for change in d.iter_changes(&op) {
                            @match change.tag() {
                                ChangeTag::Delete => { span.del { "- " (change.value()) } }
                                ChangeTag::Insert => { span.add { "+ " (change.value()) } }
                                ChangeTag::Equal => { span { "  " (change.value()) } }
                            }
                        }
                    }
                    "…\n"
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn render<S: HubStore>(
    app: &AppState<S>,
    lang: Lang,
    staff: &Staff,
    q: &ProgramQuery,
    text: &str,
    done: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let all = app.store.rule_sets().await?;
    let current = all.last();
    let version = |v: Option<u32>| v.and_then(|v| all.iter().find(|r| r.version == v));
    let from = version(q.from).or_else(|| all.iter().rev().nth(1));
    let to = version(q.to).or(current);
    let body = html! {
        (message(done, problem))
        section #current {
            h2 { (lang.t(T::CurrentRules)) }
            @match current {
                None => { p { (lang.t(T::NoRules)) } }
                Some(r) => {
                    table {
                        tr { th { (lang.t(T::Version)) } td #rules-version { (r.version) } }
                        tr { th { (lang.t(T::RuleName)) } td { (r.name) } }
                        tr { th { (lang.t(T::YenPerPoint)) } td { (r.earning.yen_per_point) } }
                        tr { th { (lang.t(T::TierLevels)) } td {
                            @for (i, l) in r.tiers.levels.iter().enumerate() {
                                @if i > 0 { ", " } (l.name) " (¥" (l.from_yen) "–)"
                            }
                        } }
                        tr { th { (lang.t(T::CardSize)) } td { (r.stamps.card_size) } }
                        tr { th { (lang.t(T::ExpiryMonths)) } td { (r.expiry.months) } }
                        tr { th { (lang.t(T::Campaigns)) } td { (r.campaigns.len()) } }
                    }
                    pre #rules-toml { (toml_of(r)) }
                }
            }
        }
        @if all.len() > 1 {
            section #compare {
                h2 { (lang.t(T::Compare)) }
                form method="get" action="/console/program" {
                    label { (lang.t(T::From)) " " select name="from" {
                        @for r in &all { option value=(r.version) selected[from.is_some_and(|f| f.version == r.version)] { (r.version) } } } }
                    label { (lang.t(T::To)) " " select name="to" {
                        @for r in &all { option value=(r.version) selected[to.is_some_and(|t| t.version == r.version)] { (r.version) } } } }
                    button.go type="submit" { (lang.t(T::Compare)) }
                }
                @if let (Some(f), Some(t)) = (from, to) { (diff(&toml_of(f), &toml_of(t))) }
            }
        }
        @if staff.can(Can::LoadRules) {
            section #load {
                h2 { (lang.t(T::LoadRules)) }
                form #load-form method="post" action="/console/program" {
                    (csrf(staff))
                    textarea #rules-text name="rules" rows="20" required { (text) }
                    label for="load-reason" { (lang.t(T::Reason)) }
                    input #load-reason name="reason" required maxlength="500" size="40";
                    div { button.go #load-go type="submit" { (lang.t(T::Load)) } }
                }
            }
        }
    };
    let title = lang.t(T::NavProgram);
    Ok((
        status,
        Html(page(lang, staff, T::NavProgram, title, body).into_string()),
    )
        .into_response())
}

/// `GET /console/program?from=V&to=V`.
pub async fn program<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Query(q): Query<ProgramQuery>,
) -> Result<Response, ConsoleError> {
    render(&app, lang, &staff, &q, "", None, None, StatusCode::OK).await
}

/// What is wrong with a rule set's TOML, or the rule set.
pub fn parse_rules(text: &str) -> Result<RuleSet, String> {
    let rules: RuleSet = toml::from_str(text).map_err(|e| e.to_string())?;
    rules.validate().map_err(|e| e.to_string())?;
    Ok(rules)
}

/// `POST /console/program`: a new rule set, checked, then loaded.
pub async fn load<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    form: Form,
) -> Result<Response, ConsoleError> {
    staff.need(Can::LoadRules)?;
    staff.check_csrf(&form)?;
    let text = form.get("rules").unwrap_or_default().to_owned();
    let q = ProgramQuery {
        from: None,
        to: None,
    };
    let refused = |why: String| {
        let (app, staff, q, text) = (&app, &staff, &q, &text);
        async move {
            let problem = format!("{} {why}", lang.t(T::RulesInvalid));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(app, lang, staff, q, text, None, Some(&problem), status).await
        }
    };
    let actor = match Actor::new(&staff.name, form.get("reason").unwrap_or_default()) {
        Ok(a) => a,
        Err(e) => return refused(e.to_string()).await,
    };
    let rules = match parse_rules(&text) {
        Ok(r) => r,
        Err(why) => return refused(why).await,
    };
    match app.store.load_rules_by(rules, actor, Utc::now()).await {
        Ok(()) => {
            let done = Some(lang.t(T::DoneLoaded));
            render(&app, lang, &staff, &q, "", done, None, StatusCode::OK).await
        }
        Err(e) if e.is_refusal() => refused(e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
