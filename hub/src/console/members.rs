//! Member search and the member's file (docs/design.md §13): what they hold (tier, points by lot,
//! stamps, coupons), everything that happened to them at any store or at the hub, their LINE
//! link, messages and wishes, and the actions staff may take.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Staff;
use super::error::ConsoleError;
use super::layout::{message, page};
use super::roles::Can;
use super::show::{kind, when, yen};
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::{Found, HistoryEntry, MemberFile};

/// History entries a page shows.
pub const HISTORY_PAGE: u32 = 50;
/// The longest search text taken.
const MAX_QUERY: usize = 128;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
}

pub fn search_form(lang: Lang, q: &str) -> Markup {
    html! {
        section {
            form #search method="get" action="/console/members" {
                label for="q" { (lang.t(T::SearchLabel)) }
                input #q name="q" value=(q) inputmode="numeric" autofocus maxlength="128";
                " " button.go type="submit" { (lang.t(T::Search)) }
            }
        }
    }
}

/// `GET /console/members?q=CODE`: to the member, or why not.
pub async fn search<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadMembers)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let title = lang.t(T::NavMembers);
    if query_is_blank_or_junk(&q) {
        let problem = (!q.is_empty()).then(|| lang.t(T::SearchBlank));
        let body = html! { (message(None, problem)) (search_form(lang, "")) };
        let status = if q.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        return Ok((
            status,
            Html(page(lang, &staff, T::NavMembers, title, body).into_string()),
        )
            .into_response());
    }
    let body = match app.store.find_member(q.clone()).await? {
        Found::Member(file) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            let to = format!("/console/members/{}", file.member.member_id);
            let value = HeaderValue::from_str(&to).map_err(|_| ConsoleError::NotFound)?;
            r.headers_mut().insert(LOCATION, value);
            return Ok(r);
        }
        Found::Revoked {
            code,
            member_id,
            revoked_at,
        } => html! {
            p.problem #problem {
                (lang.t(T::SearchRevoked)) " " strong { (code) } " — " (lang.t(T::RevokedAt)) " " (when(app.time_zone, &revoked_at))
            }
            @if let Some(m) = member_id {
                p { (lang.t(T::WasMember)) " " a href={ "/console/members/" (m) } { (m) } }
            }
            (search_form(lang, &q))
        },
        Found::Nobody => html! {
            p.problem #problem { (lang.t(T::SearchNobody)) " " strong { (q) } }
            p { (lang.t(T::NothingChanged)) }
            (search_form(lang, &q))
        },
    };
    let html = page(lang, &staff, T::NavMembers, title, body).into_string();
    Ok((StatusCode::NOT_FOUND, Html(html)).into_response())
}

/// Text no card code or member number can be: too long, or with control characters.
fn query_is_blank_or_junk(q: &str) -> bool {
    q.is_empty() || q.chars().count() > MAX_QUERY || q.chars().any(char::is_control)
}

#[derive(Debug, Deserialize)]
pub struct MemberQuery {
    #[serde(default)]
    older: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/members/{id}`.
pub async fn member_page<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    Query(query): Query<MemberQuery>,
) -> Result<Response, ConsoleError> {
    let done = query.done.as_deref().and_then(done_text).map(|t| lang.t(t));
    render(
        &app,
        lang,
        &staff,
        id,
        query.older,
        done,
        None,
        StatusCode::OK,
    )
    .await
}

/// The member's page, with what was just done or why it was refused said at the top.
#[allow(clippy::too_many_arguments)]
pub async fn render<S: HubStore>(
    app: &AppState<S>,
    lang: Lang,
    staff: &Staff,
    id: String,
    older: Option<String>,
    done: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    staff.need(Can::ReadMembers)?;
    let Some(file) = app.store.member_file(id).await? else {
        return Err(ConsoleError::NotFound);
    };
    let member_id = file.member.member_id.clone();
    let history = app
        .store
        .member_history(file.member.clone(), older.clone(), HISTORY_PAGE)
        .await?;
    let rules = app.store.current_rules().await?;
    let messages = app.store.member_messages(member_id.clone()).await?;
    let wishes = app.store.member_wishes(member_id.clone()).await?;
    let audit = app
        .store
        .staff_actions(None, 20, Some(member_id.clone()))
        .await?;
    let today = app.business_date(Utc::now());
    let tz = app.time_zone;
    let title = format!("{} {}", lang.t(T::Member), file.member.number);
    let body = html! {
        (message(done, problem))
        div.grid {
            (summary(lang, tz, &file, rules.as_ref(), today))
            (line(lang, tz, &file))
        }
        @if let Some(at) = &file.erased_at {
            p.problem #erased { (lang.t(T::Erased)) " " (when(tz, at)) }
        } @else if staff.can(Can::ChangeMembers) {
            (super::actions::forms(lang, staff, &file))
            (super::privacy::section(lang, staff, &file, app.privacy.forfeit_points))
        }
        section #history {
            h2 { (lang.t(T::History)) }
            (history_table(lang, tz, &history.entries))
            p {
                @if let Some(older) = &history.older {
                    a #older href={ "?older=" (urlencode(older)) } { (lang.t(T::Older)) }
                }
                @if older.is_some() { " " a href="?" { (lang.t(T::Newest)) } }
            }
        }
        section #messages {
            h2 { (lang.t(T::Messages)) }
            @if messages.is_empty() { p { (lang.t(T::None)) } } @else {
                table { tr { th { (lang.t(T::Time)) } th { (lang.t(T::Scenario)) } th { (lang.t(T::State)) } }
                    @for m in messages.iter().rev().take(50) {
                        tr { td { (when(tz, m.sent_at.as_deref().unwrap_or(&m.created_at))) } td { (m.scenario) } td { (m.state) } }
                    }
                }
            }
        }
        section #wishes {
            h2 { (lang.t(T::Wishes)) }
            @if wishes.is_empty() { p { (lang.t(T::None)) } } @else {
                table { tr { th { (lang.t(T::Item)) } th { (lang.t(T::Kind)) } th { (lang.t(T::Time)) } }
                    @for w in &wishes {
                        tr {
                            td { (w.name.as_deref().unwrap_or(&w.item)) }
                            td { (w.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { (when(tz, &w.created_at)) }
                        }
                    }
                }
            }
        }
        section #member-audit {
            h2 { (lang.t(T::AuditEntries)) }
            (super::audit::table(lang, tz, &audit))
        }
    };
    let html = page(lang, staff, T::NavMembers, &title, body).into_string();
    Ok((status, Html(html)).into_response())
}

/// The words of an action done, from the page's `done=` (only ours are shown).
fn done_text(done: &str) -> Option<T> {
    Some(match done {
        "adjust" => T::DoneAdjust,
        "replace" => T::DoneReplace,
        "unlink" => T::DoneUnlink,
        "coupon" => T::DoneCoupon,
        "erase" => T::DoneErase,
        _ => return None,
    })
}

pub fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn summary(
    lang: Lang,
    tz: Tz,
    file: &MemberFile,
    rules: Option<&tenpo_loyalty::RuleSet>,
    today: tenpo_loyalty::Date,
) -> Markup {
    let m = &file.member;
    html! {
        section #summary {
            table {
                tr { th { (lang.t(T::MemberNumber)) } td #number { (m.number) } }
                tr { th { (lang.t(T::MemberId)) } td { (m.member_id) } }
                tr { th { (lang.t(T::Codes)) } td #codes { (m.codes.join(", ")) } }
                @if !file.revoked.is_empty() {
                    tr { th { (lang.t(T::RevokedCodes)) } td {
                        @for (code, at) in &file.revoked { (code) " (" (when(tz, at)) ") " }
                    } }
                }
                tr { th { (lang.t(T::HomeStore)) } td { (file.home_store.as_deref().unwrap_or("—")) } }
                tr { th { (lang.t(T::MemberSince)) } td { (when(tz, &file.created_at)) } }
                @match rules {
                    Some(rules) => {
                        @let s = m.state.summary(rules, today);
                        tr { th { (lang.t(T::Tier)) } td #tier { (s.tier) } }
                        tr { th { (lang.t(T::ToNextTier)) } td #next-tier {
                            @match &s.next_tier {
                                Some((name, to_go)) => { (yen(*to_go)) " → " (name) }
                                None => { (lang.t(T::TopTier)) }
                            }
                        } }
                        tr { th { (lang.t(T::QualifyingSpend)) } td { (yen(s.qualifying_spend)) } }
                        tr { th { (lang.t(T::Balance)) } td #balance { (s.balance) } }
                        tr { th { (lang.t(T::Stamps)) } td #stamps { (s.stamps) " / " (s.card_size) } }
                    }
                    None => { tr { td colspan="2" { (lang.t(T::NoRules)) } } }
                }
            }
            h2 { (lang.t(T::Lots)) }
            @let live: Vec<_> = m.state.live_lots(today).collect();
            @if live.is_empty() { p { (lang.t(T::None)) } } @else {
                table #lots { tr { th { (lang.t(T::Lot)) } th { (lang.t(T::EarnedOn)) } th { (lang.t(T::ExpiresOn)) } th.n { (lang.t(T::Points)) } }
                    @for l in live { tr { td { (l.lot_id) } td { (l.earned_on) } td { (l.expires_on) } td.n { (l.points) } } }
                }
            }
            h2 { (lang.t(T::Coupons)) }
            @let coupons: Vec<_> = m.state.coupons.values().filter(|c| c.valid_until >= today).collect();
            @if coupons.is_empty() { p #coupons { (lang.t(T::None)) } } @else {
                table #coupons { tr { th { (lang.t(T::Coupon)) } th { (lang.t(T::Benefit)) } th { (lang.t(T::Valid)) } }
                    @for c in coupons { tr { td { (c.coupon_id) } td { (benefit(lang, &c.benefit)) } td { (c.valid_from) " – " (c.valid_until) } } }
                }
            }
        }
    }
}

pub fn benefit(lang: Lang, b: &tenpo_loyalty::CouponBenefit) -> String {
    match b {
        tenpo_loyalty::CouponBenefit::Discount { value_yen } => {
            format!("{} ¥{value_yen}", lang.t(T::DiscountYen))
        }
        tenpo_loyalty::CouponBenefit::PointsBonus { points } => {
            format!("{} {points}", lang.t(T::BonusPoints))
        }
    }
}

fn line(lang: Lang, tz: Tz, file: &MemberFile) -> Markup {
    html! {
        section #line {
            h2 { (lang.t(T::Line)) }
            @match &file.line {
                None => { p #line-state { (lang.t(T::NotLinked)) } }
                Some(link) => {
                    p #line-state { (lang.t(T::Linked)) " (" (when(tz, &link.linked_at)) ")" }
                    p #friendship { (match link.following {
                        Some(true) => lang.t(T::Following),
                        Some(false) => lang.t(T::Blocked),
                        None => lang.t(T::FriendshipUnknown),
                    }) }
                }
            }
        }
    }
}

/// What a history entry's event or change says, for its row.
struct Row<'a> {
    yen: Option<i64>,
    earned: Option<i64>,
    redeemed: Option<i64>,
    rules: Option<u64>,
    who: Option<String>,
    entry: &'a HistoryEntry,
}

fn row(entry: &HistoryEntry) -> Row<'_> {
    let d = &entry.detail;
    let outcome = &d["body"]["outcome"];
    let num = |v: &Value| v.as_i64();
    let (yen, earned, redeemed, rules) = match entry.kind.as_str() {
        "sale" => (
            num(&outcome["gross_yen"]),
            num(&outcome["earned_points"]),
            num(&outcome["redeemed_points"]),
            outcome["rules_version"].as_u64(),
        ),
        "refund" => (
            None,
            num(&outcome["reversed_points"]).map(|p| -p),
            num(&outcome["returned_points"]).map(|p| -p),
            outcome["rules_version"].as_u64(),
        ),
        "adjust_points" => (None, num(&d["points"]), None, d["rules_version"].as_u64()),
        _ => (None, None, None, None),
    };
    let who = entry
        .staff
        .as_ref()
        .map(|s| format!("{s}: {}", entry.reason.as_deref().unwrap_or_default()));
    Row {
        yen,
        earned,
        redeemed,
        rules,
        who,
        entry,
    }
}

fn history_table(lang: Lang, tz: Tz, entries: &[HistoryEntry]) -> Markup {
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    html! {
        @if entries.is_empty() { p { (lang.t(T::None)) } } @else {
            table #history-table {
                tr {
                    th { (lang.t(T::Time)) } th { (lang.t(T::Kind)) } th { (lang.t(T::Store)) }
                    th { (lang.t(T::Terminal)) } th.n { (lang.t(T::Yen)) } th.n { (lang.t(T::Earned)) }
                    th.n { (lang.t(T::Redeemed)) } th.n { (lang.t(T::RulesVersionShort)) }
                    th { (lang.t(T::StaffReason)) }
                }
                @for r in entries.iter().map(row) {
                    tr.entry {
                        td { (when(tz, &r.entry.at)) }
                        td.kind { (kind(lang, &r.entry.kind))
                            @if let Some(s) = r.entry.status.as_deref().filter(|s| *s != "stored") { " (" (s) ")" } }
                        td { (r.entry.store_id.as_deref().unwrap_or("")) }
                        td { (r.entry.terminal_id.as_deref().unwrap_or(""))
                            @if let Some(seq) = r.entry.seq { " #" (seq) } }
                        td.n { (opt(r.yen)) } td.n { (opt(r.earned)) } td.n { (opt(r.redeemed)) }
                        td.n { (r.rules.map(|v| v.to_string()).unwrap_or_default()) }
                        td { (r.who.unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// A 303 to the member's page saying what was done (`done`: one of [`done_text`]'s).
pub fn done(member_id: &str, done: &str) -> Result<Response, ConsoleError> {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let to = format!("/console/members/{}?done={done}", urlencode(member_id));
    let value = HeaderValue::from_str(&to).map_err(|_| ConsoleError::NotFound)?;
    r.headers_mut().insert(LOCATION, value);
    Ok(r)
}
