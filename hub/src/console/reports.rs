//! The reports page (docs/design.md §13): each chart drawn at the hub ([`super::charts`]) with
//! its numbers beside it, and each downloadable as CSV at `/console/reports/{chart}.csv`. The
//! numbers come from [`super::report_data`], worked out in the background.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, PreEscaped, html};

use super::auth::Staff;
use super::charts::{bars, css};
use super::error::ConsoleError;
use super::layout::page;
use super::report_data::Reports;
use super::roles::Can;
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;

/// The charts, by the name their CSV is downloaded under.
pub const CHARTS: [&str; 5] = ["signups", "line", "tiers", "points", "funnel"];

fn legend(lang: Lang, names: &[T]) -> Markup {
    html! {
        p.legend {
            @for (i, n) in names.iter().enumerate() {
                span style={ "display:inline-block;width:.8em;height:.8em;background:" (css(i)) } {} " " (lang.t(*n)) "  "
            }
        }
    }
}

fn chart(id: &str, title: &str, lang: Lang, svg: String, table: Markup) -> Markup {
    html! {
        section.chart id=(id) {
            h2 { (title) }
            (PreEscaped(svg))
            (table)
            p { a.csv href={ "/console/reports/" (id) ".csv" } { (lang.t(T::DownloadCsv)) } }
        }
    }
}

/// Signups per day, all stores together (the table and the CSV have each store).
fn signups_per_day(r: &Reports) -> Vec<(String, u64)> {
    let mut days: Vec<(String, u64)> = Vec::new();
    for (day, _, n) in &r.signups {
        match days.last_mut() {
            Some((d, total)) if d == day => *total += n,
            _ => days.push((day.clone(), *n)),
        }
    }
    days
}

fn charts(lang: Lang, r: &Reports) -> Markup {
    let per_day = signups_per_day(r);
    let signups_svg = bars(
        &per_day
            .iter()
            .map(|(_, n)| vec![*n as f64])
            .collect::<Vec<_>>(),
        900,
        220,
    );
    let not_linked = r.members.saturating_sub(r.linked);
    let share = if r.members == 0 {
        0.0
    } else {
        r.linked as f64 * 100.0 / r.members as f64
    };
    let line_svg = bars(&[vec![r.linked as f64, not_linked as f64]], 300, 180);
    let tiers_svg = bars(
        &r.tiers
            .iter()
            .map(|(_, n)| vec![*n as f64])
            .collect::<Vec<_>>(),
        600,
        200,
    );
    let points_svg = bars(
        &r.points
            .iter()
            .map(|(_, i, d, e)| vec![*i as f64, *d as f64, *e as f64])
            .collect::<Vec<_>>(),
        900,
        240,
    );
    let funnel_svg = bars(
        &r.funnel
            .iter()
            .map(|(_, s, d, c, b, _)| vec![*s as f64, *d as f64, *c as f64, *b as f64])
            .collect::<Vec<_>>(),
        900,
        240,
    );
    html! {
        (chart("signups", lang.t(T::SignupsPerDay), lang, signups_svg, html! {
            @if r.signups.is_empty() { p { (lang.t(T::NoData)) } } @else {
                table { tr { th { (lang.t(T::Day)) } th { (lang.t(T::Store)) } th.n { (lang.t(T::Count)) } }
                    @for (d, s, n) in &r.signups { tr { td { (d) } td { (s) } td.n { (n) } } } }
            }
        }))
        (chart("line", lang.t(T::LineShare), lang, line_svg, html! {
            (legend(lang, &[T::LinkedToLine, T::NotLinkedToLine]))
            p #line-share { (format!("{share:.1} %")) " (" (r.linked) " / " (r.members) ")" }
        }))
        (chart("tiers", lang.t(T::MembersPerTier), lang, tiers_svg, html! {
            table { tr { th { (lang.t(T::Tier)) } th.n { (lang.t(T::Members)) } }
                @for (t, n) in &r.tiers { tr { td { (t) } td.n { (n) } } } }
        }))
        (chart("points", lang.t(T::PointsPerMonth), lang, points_svg, html! {
            (legend(lang, &[T::Issued, T::Redeemed, T::Expired]))
            p.muted { (lang.t(T::PointsCounted)) }
            table { tr { th { (lang.t(T::Month)) } th.n { (lang.t(T::Issued)) } th.n { (lang.t(T::Redeemed)) } th.n { (lang.t(T::Expired)) } }
                @for (m, i, d, e) in &r.points { tr { td { (m) } td.n { (i) } td.n { (d) } td.n { (e) } } } }
        }))
        (chart("funnel", lang.t(T::Funnel), lang, funnel_svg, html! {
            (legend(lang, &[T::SentCount, T::Delivered, T::Clicked, T::Bought]))
            table { tr { th { (lang.t(T::Kind)) } th.n { (lang.t(T::SentCount)) } th.n { (lang.t(T::Delivered)) }
                         th.n { (lang.t(T::Clicked)) } th.n { (lang.t(T::Bought)) } th.n { (lang.t(T::Yen)) } th.n { (lang.t(T::Conversion)) } }
                @for (k, s, d, c, b, y) in &r.funnel {
                    tr { td { (k) } td.n { (s) } td.n { (d) } td.n { (c) } td.n { (b) } td.n { (y) }
                         td.n { (if *s == 0 { "—".to_owned() } else { format!("{:.1} %", *b as f64 * 100.0 / *s as f64) }) } }
                } }
        }))
    }
}

/// `GET /console/reports`.
pub async fn reports<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let (last, failed) = app.reports.get(&app.store, app.time_zone, Utc::now());
    let body = html! {
        @if let Some(f) = &failed { p.problem { (lang.t(T::ReportFailed)) " " (f) } }
        @match &last {
            None => { p #computing { (lang.t(T::BeingComputed)) } }
            Some(r) => {
                p #as-of { (lang.t(T::AsOf)) " " (r.at.with_timezone(&app.time_zone).format("%Y-%m-%d %H:%M")) }
                (charts(lang, r))
            }
        }
    };
    let title = lang.t(T::NavReports);
    Ok(Html(page(lang, &staff, T::NavReports, title, body).into_string()).into_response())
}

/// The CSV of a chart.
pub fn csv_of(chart: &str, r: &Reports) -> Option<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let ok = match chart {
        "signups" => {
            let mut ok = w.write_record(["day", "store", "signups"]).is_ok();
            for (d, s, n) in &r.signups {
                ok &= w
                    .write_record([d.as_str(), s.as_str(), &n.to_string()])
                    .is_ok();
            }
            ok
        }
        "line" => {
            w.write_record(["members", "linked_to_line"]).is_ok()
                && w.write_record([r.members.to_string(), r.linked.to_string()])
                    .is_ok()
        }
        "tiers" => {
            let mut ok = w.write_record(["tier", "members"]).is_ok();
            for (t, n) in &r.tiers {
                ok &= w.write_record([t.as_str(), &n.to_string()]).is_ok();
            }
            ok
        }
        "points" => {
            let mut ok = w
                .write_record(["month", "issued", "redeemed", "expired"])
                .is_ok();
            for (m, i, d, e) in &r.points {
                ok &= w
                    .write_record([m.clone(), i.to_string(), d.to_string(), e.to_string()])
                    .is_ok();
            }
            ok
        }
        "funnel" => {
            let mut ok = w
                .write_record(["kind", "sent", "delivered", "clicked", "bought", "yen"])
                .is_ok();
            for (k, s, d, c, b, y) in &r.funnel {
                ok &= w
                    .write_record([
                        k.clone(),
                        s.to_string(),
                        d.to_string(),
                        c.to_string(),
                        b.to_string(),
                        y.to_string(),
                    ])
                    .is_ok();
            }
            ok
        }
        _ => return None,
    };
    if !ok {
        return None;
    }
    w.into_inner().ok().and_then(|b| String::from_utf8(b).ok())
}

/// `GET /console/reports/{chart}.csv`.
pub async fn csv<S: HubStore>(
    State(app): State<AppState<S>>,
    staff: Staff,
    Path(file): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadOperations)?;
    let chart = file.strip_suffix(".csv").ok_or(ConsoleError::NotFound)?;
    if !CHARTS.contains(&chart) {
        return Err(ConsoleError::NotFound);
    }
    let (last, _) = app.reports.get(&app.store, app.time_zone, Utc::now());
    let reports = last.ok_or(ConsoleError::NotFound)?;
    let text = csv_of(chart, &reports).ok_or(ConsoleError::NotFound)?;
    let mut r = text.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"tenpo-{chart}.csv\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
