//! What staff change on a member (docs/design.md §13): adjust points, replace a lost card,
//! unlink LINE, issue a coupon. Each needs a role that may change members, the session's CSRF
//! token and a reason; each is one store transaction with its audit entry, reaching terminals
//! through the feed. A refusal shows the member's page again with why, nothing changed.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use tenpo_loyalty::CouponBenefit;

use super::auth::Staff;
use super::error::ConsoleError;
use super::form::Form;
use super::layout::csrf;
use super::members::{done, render};
use super::roles::Can;
use super::text::{Lang, T};
use crate::admin::CouponRequest;
use crate::api::AppState;
use crate::store::console::{Actor, MemberFile};
use crate::store::{HubStore, StoreError};

/// The action forms on a member's page.
pub fn forms(lang: Lang, staff: &Staff, file: &MemberFile) -> Markup {
    let id = &file.member.member_id;
    let reason = |form: &str| reason_field(lang, form);
    html! {
        section #actions {
            h2 { (lang.t(T::Actions)) }
            div.grid {
                form #adjust method="post" action={ "/console/members/" (id) "/adjust" } {
                    h3 { (lang.t(T::AdjustPoints)) }
                    (csrf(staff))
                    label for="adjust-points" { (lang.t(T::Points)) }
                    input #adjust-points name="points" type="number" required min="-1000000" max="1000000";
                    p.muted { (lang.t(T::AdjustHelp)) }
                    (reason("adjust"))
                    div { button.go #adjust-go type="submit" { (lang.t(T::Submit)) } }
                }
                form #replace method="post" action={ "/console/members/" (id) "/replace-card" } {
                    h3 { (lang.t(T::ReplaceCard)) }
                    (csrf(staff))
                    label for="replace-old" { (lang.t(T::OldCode)) }
                    select #replace-old name="old_code" {
                        @for c in &file.member.codes { option value=(c) { (c) } }
                    }
                    label for="replace-new" { (lang.t(T::NewCode)) }
                    input #replace-new name="new_code" required inputmode="numeric" maxlength="13";
                    p.muted { (lang.t(T::ReplaceHelp)) }
                    (reason("replace"))
                    div { button.go #replace-go type="submit" { (lang.t(T::Submit)) } }
                }
                @if file.line.is_some() {
                    form #unlink method="post" action={ "/console/members/" (id) "/unlink-line" } {
                        h3 { (lang.t(T::UnlinkLine)) }
                        (csrf(staff))
                        (reason("unlink"))
                        div { button.go #unlink-go type="submit" { (lang.t(T::Submit)) } }
                    }
                }
                form #coupon method="post" action={ "/console/members/" (id) "/coupon" } {
                    h3 { (lang.t(T::IssueCoupon)) }
                    (csrf(staff))
                    label for="coupon-benefit" { (lang.t(T::Benefit)) }
                    select #coupon-benefit name="benefit" {
                        option value="discount" { (lang.t(T::DiscountYen)) }
                        option value="points" { (lang.t(T::BonusPoints)) }
                    }
                    label for="coupon-amount" { (lang.t(T::Amount)) }
                    input #coupon-amount name="amount" type="number" required min="1";
                    label for="coupon-days" { (lang.t(T::ValidDays)) }
                    input #coupon-days name="valid_days" type="number" required min="1" max="3660" value="30";
                    label for="coupon-id" { (lang.t(T::CouponIdOptional)) }
                    input #coupon-id name="coupon_id" maxlength="64";
                    (reason("coupon"))
                    div { button.go #coupon-go type="submit" { (lang.t(T::Submit)) } }
                }
            }
        }
    }
}

/// The reason every action asks for, in the form `form` (its input is `{form}-reason`).
pub(super) fn reason_field(lang: Lang, form: &str) -> Markup {
    html! {
        label for={ (form) "-reason" } { (lang.t(T::Reason)) }
        input id={ (form) "-reason" } name="reason" required maxlength="500" size="40";
    }
}

/// Checks what every action needs, and gives its actor.
pub(super) fn allowed(staff: &Staff, form: &Form) -> Result<Actor, ConsoleError> {
    staff.need(Can::ChangeMembers)?;
    staff.check_csrf(form)?;
    Ok(Actor::new(
        &staff.name,
        form.get("reason").unwrap_or_default(),
    )?)
}

/// How an action ended: to the member's page saying it was `done`, or the member's page again
/// with why it was refused, or the hub's failure.
pub(super) async fn answer<S: HubStore>(
    app: &AppState<S>,
    lang: Lang,
    staff: &Staff,
    id: String,
    done_key: &str,
    result: Result<(), ConsoleError>,
) -> Result<Response, ConsoleError> {
    let Err(e) = result else {
        return done(&id, done_key);
    };
    match e {
        ConsoleError::Store(s) if s.is_refusal() && !matches!(s, StoreError::NotFound(_)) => {
            let why = s.to_string();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(app, lang, staff, id, None, None, Some(&why), status).await
        }
        ConsoleError::BadRequest(why) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(app, lang, staff, id, None, None, Some(&why), status).await
        }
        other => Err(other),
    }
}

fn number(lang: Lang, form: &Form, field: &str) -> Result<i64, ConsoleError> {
    let text = form.text(field).unwrap_or_default();
    text.parse().map_err(|_| {
        ConsoleError::BadRequest(format!("{} {field}: {text:?}", lang.t(T::NotANumber)))
    })
}

/// `POST /console/members/{id}/adjust`.
pub async fn adjust<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        let points = number(lang, &form, "points")?;
        let now = Utc::now();
        let today = app.business_date(now);
        app.store
            .adjust_points(id.clone(), points, actor, today, now)
            .await?;
        Ok::<(), ConsoleError>(())
    }
    .await;
    answer(&app, lang, &staff, id, "adjust", result).await
}

/// `POST /console/members/{id}/replace-card`.
pub async fn replace_card<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        let old = form.text("old_code").unwrap_or_default().to_owned();
        let new = form.text("new_code").unwrap_or_default().to_owned();
        app.store
            .replace_card(id.clone(), old, new, actor, Utc::now())
            .await?;
        Ok::<(), ConsoleError>(())
    }
    .await;
    answer(&app, lang, &staff, id, "replace", result).await
}

/// `POST /console/members/{id}/unlink-line`.
pub async fn unlink_line<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        let goodbye = app.line.unlink_goodbye();
        app.store
            .unlink_member_line(id.clone(), goodbye, actor, Utc::now())
            .await?;
        app.line.outbox_written.notify_one();
        Ok::<(), ConsoleError>(())
    }
    .await;
    answer(&app, lang, &staff, id, "unlink", result).await
}

/// `POST /console/members/{id}/coupon`.
pub async fn coupon<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        let amount = number(lang, &form, "amount")?;
        let valid_days = u32::try_from(number(lang, &form, "valid_days")?).unwrap_or(0);
        let benefit = match form.get("benefit") {
            Some("points") => CouponBenefit::PointsBonus { points: amount },
            _ => CouponBenefit::Discount { value_yen: amount },
        };
        let request = CouponRequest {
            coupon_id: form.text("coupon_id").map(str::to_owned),
            member_ids: Vec::new(),
            card_codes: Vec::new(),
            birthday_month: None,
            benefit,
            valid_days,
        };
        let now = Utc::now();
        let today = app.business_date(now);
        app.store
            .issue_member_coupon(id.clone(), request, actor, today, now)
            .await?;
        Ok::<(), ConsoleError>(())
    }
    .await;
    answer(&app, lang, &staff, id, "coupon", result).await
}
