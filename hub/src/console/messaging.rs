//! Messaging (docs/design.md §10, §13): what the hub says to members in LINE and how much of it
//! may go. The scenarios and their settings, the caps and quiet hours, the month's quota as the
//! sender last read it, the outbox by state, and a preview of any scenario for any member in
//! their language (nothing written or sent). What the messages brought in is on the reports page.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tenpo_line::messaging::Message;

use super::auth::Staff;
use super::error::ConsoleError;
use super::layout::{message, page};
use super::members::benefit;
use super::roles::Can;
use super::show::when;
use super::text::{Lang, T};
use crate::admin::preview::{Preview, PreviewRefused, preview};
use crate::api::AppState;
use crate::line::sender::Left;
use crate::scenarios::{SCENARIOS, ScenarioSettings};
use crate::store::HubStore;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    scenario: Option<String>,
}

/// A scenario's switch and threshold, as configured (`[scenarios]` in hub.toml).
fn setting(lang: Lang, s: &ScenarioSettings, scenario: &str) -> (bool, String) {
    match scenario {
        "welcome" => (s.welcome, String::new()),
        "tier_progress" => match s.tier_progress {
            Some(yen) => (
                true,
                format!("{} {}", lang.t(T::WithinYen), super::show::yen(yen)),
            ),
            None => (false, String::new()),
        },
        "points_expiring" => match &s.points_expiring {
            Some(p) => (
                true,
                format!(
                    "{} {} / {} {}",
                    lang.t(T::DaysBefore),
                    p.days_before,
                    lang.t(T::MinPoints),
                    p.min_points
                ),
            ),
            None => (false, String::new()),
        },
        "birthday" => match &s.birthday {
            Some(b) => (
                true,
                format!(
                    "{} / {} {}",
                    benefit(lang, &b.benefit),
                    lang.t(T::ValidDays),
                    b.valid_days
                ),
            ),
            None => (false, String::new()),
        },
        "stamp_card_full" => (s.stamp_card_full, String::new()),
        _ => (false, String::new()),
    }
}

/// The words a LINE message shows: a text message's text, a Flex message's alternative text
/// and every text in its bubbles, in order.
pub fn words(m: &Message) -> Vec<String> {
    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(t)) = map.get("text") {
                    out.push(t.clone());
                }
                for (k, v) in map {
                    if k != "text" {
                        texts(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| texts(v, out)),
            _ => {}
        }
    }
    match serde_json::to_value(m) {
        Ok(v) => {
            let mut out = Vec::new();
            if let Some(Value::String(alt)) = v.get("altText") {
                out.push(alt.clone());
            }
            texts(&v, &mut out);
            out
        }
        Err(_) => Vec::new(),
    }
}

fn shown_preview(lang: Lang, p: &Preview) -> Markup {
    html! {
        p { (lang.t(T::Class)) ": " strong { (p.class.as_str()) } " · "
            (lang.t(T::Language)) ": " strong { (p.language.as_str()) } }
        @for (i, m) in p.messages.iter().enumerate() {
            div.preview-message {
                h3 { (lang.t(T::MessageNo)) " " (i + 1) }
                @for w in words(m) { p.said { (w) } }
                details {
                    summary { (lang.t(T::AsSentToLine)) }
                    pre { (serde_json::to_string_pretty(m).unwrap_or_default()) }
                }
            }
        }
    }
}

/// `GET /console/messaging[?member=CODE&scenario=NAME]`.
pub async fn messaging<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let counts = app.store.outbox_counts().await?;
    let settings = &app.line.scenarios.settings;
    let sender = &app.line.settings.sender;
    let quota = app.line.quota.lock().ok().and_then(|q| *q);
    let member = q.member.as_deref().map(str::trim).unwrap_or_default();
    let scenario = q.scenario.as_deref().unwrap_or("welcome");
    let mut status = StatusCode::OK;
    let mut problem: Option<String> = None;
    let mut shown: Option<Preview> = None;
    if !member.is_empty() {
        // A preview shows a member's data in their words: it needs a role that reads members.
        staff.need(Can::ReadMembers)?;
        match preview(&app, member, scenario).await {
            Ok(p) => shown = Some(p),
            Err(PreviewRefused::Store(e)) => return Err(e.into()),
            Err(e) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                problem = Some(e.to_string());
            }
        }
    }
    let body = html! {
        section #line-account {
            h2 { (lang.t(T::LineAccount)) }
            table {
                tr { th { (lang.t(T::Sending)) } td #sending {
                    @if app.line.client.is_some() { (lang.t(T::On)) } @else { (lang.t(T::OffNoToken)) }
                } }
                tr { th { (lang.t(T::Quota)) } td #quota {
                    @match quota {
                        Some(r) => {
                            @match r.left {
                                Left::Unlimited => { (lang.t(T::Unlimited)) }
                                Left::Limited { left, limit } => { (left) " / " (limit) " " (lang.t(T::Left)) }
                            }
                            " (" (when(app.time_zone, &r.at.to_rfc3339())) ")"
                        }
                        None => { (lang.t(T::NotReadYet)) }
                    }
                } }
                tr { th { (lang.t(T::Rate)) } td { (sender.rate_per_second) " / s" } }
                tr { th { (lang.t(T::Reserve)) } td { (sender.reserve_percent) " %" } }
                tr { th { (lang.t(T::MarketingPerWeek)) } td #cap { (settings.marketing_per_week) } }
                tr { th { (lang.t(T::QuietHours)) } td #quiet {
                    (format!("{:02}:00 – {:02}:00", settings.quiet_hours.start, settings.quiet_hours.end))
                } }
            }
        }
        section #outbox {
            h2 { (lang.t(T::Outbox)) }
            table {
                tr { th.n { (lang.t(T::Pending)) } th.n { (lang.t(T::Sending)) } th.n { (lang.t(T::Sent)) }
                     th.n { (lang.t(T::Failed)) } th.n { (lang.t(T::Unreachable)) } th.n { (lang.t(T::ExpiredMessages)) } }
                tr #outbox-counts {
                    td.n { (counts.pending) } td.n { (counts.sending) } td.n { (counts.sent) }
                    td.n { (counts.failed) } td.n { (counts.unreachable) } td.n { (counts.expired) }
                }
            }
        }
        section #scenarios {
            h2 { (lang.t(T::Scenarios)) }
            table {
                tr { th { (lang.t(T::Scenario)) } th { (lang.t(T::State)) } th { (lang.t(T::Setting)) } }
                @for name in SCENARIOS {
                    @let (on, what) = setting(lang, settings, name);
                    tr id={ "scenario-" (name) } {
                        td { (name) }
                        td { @if on { (lang.t(T::On)) } @else { (lang.t(T::Off)) } }
                        td { (what) }
                    }
                }
            }
        }
        @if staff.can(Can::ReadMembers) {
            section #preview {
                h2 { (lang.t(T::Preview)) }
                p.muted { (lang.t(T::PreviewHelp)) }
                form method="get" action="/console/messaging" {
                    label for="preview-member" { (lang.t(T::SearchLabel)) }
                    input #preview-member name="member" value=(member) inputmode="numeric" maxlength="128";
                    label for="preview-scenario" { (lang.t(T::Scenario)) }
                    select #preview-scenario name="scenario" {
                        @for name in SCENARIOS {
                            option value=(name) selected[name == scenario] { (name) }
                        }
                    }
                    div { button.go #preview-go type="submit" { (lang.t(T::Preview)) } }
                }
                (message(None, problem.as_deref()))
                @if let Some(p) = &shown { div #preview-result { (shown_preview(lang, p)) } }
            }
        }
    };
    let title = lang.t(T::NavMessaging);
    let html = page(lang, &staff, T::NavMessaging, title, body).into_string();
    Ok((status, Html(html)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flex_messages_words_are_its_alt_text_and_texts_in_order() {
        let m = Message::Flex {
            alt_text: "ようこそ".into(),
            contents: serde_json::json!({
                "type": "bubble",
                "body": {"type": "box", "contents": [
                    {"type": "text", "text": "tenpo へようこそ"},
                    {"type": "button", "action": {"type": "uri", "label": "カード", "uri": "https://example.jp"}},
                    {"type": "text", "text": "<b>1</b>"}
                ]}
            }),
        };
        assert_eq!(words(&m), ["ようこそ", "tenpo へようこそ", "<b>1</b>"]);
        let t = Message::Text { text: "hi".into() };
        assert_eq!(words(&t), ["hi"]);
    }
}
