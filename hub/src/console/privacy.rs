//! A member's own data from the console (docs/design.md §7, §13): staff hand a member who asks
//! at a store or by mail everything the hub holds about them, or erase it. Each needs a role that
//! may change members, the session's CSRF token, a reason, and the operator's word that they
//! checked who is asking; an erasure also needs the member number typed again. Both are in the
//! audit log.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::actions::{allowed, answer, reason_field};
use super::auth::Staff;
use super::error::ConsoleError;
use super::form::Form;
use super::layout::csrf;
use super::text::{Lang, T};
use crate::api::AppState;
use crate::store::HubStore;
use crate::store::console::MemberFile;

/// The checkbox every handover and erasure needs ticked.
const IDENTITY_CHECKED: &str = "identity_checked";

/// The section on a member's page.
pub fn section(lang: Lang, staff: &Staff, file: &MemberFile, forfeit: bool) -> Markup {
    let id = &file.member.member_id;
    let checked = |form: &str| {
        html! {
            label.check {
                input id={ (form) "-identity" } type="checkbox" name=(IDENTITY_CHECKED) value="yes" required;
                " " (lang.t(T::IdentityChecked))
            }
        }
    };
    let reason = |form: &str| reason_field(lang, form);
    html! {
        section #privacy {
            h2 { (lang.t(T::MemberData)) }
            div.grid {
                form #export method="post" action={ "/console/members/" (id) "/data" } {
                    h3 { (lang.t(T::DownloadData)) }
                    (csrf(staff))
                    p.muted { (lang.t(T::DownloadHelp)) }
                    (checked("export"))
                    (reason("export"))
                    div { button.go #export-go type="submit" { (lang.t(T::DownloadData)) } }
                }
                form #erase method="post" action={ "/console/members/" (id) "/erase" } {
                    h3 { (lang.t(T::EraseMember)) }
                    (csrf(staff))
                    p.muted {
                        (lang.t(T::EraseHelp)) " "
                        (lang.t(if forfeit { T::EraseForfeits } else { T::EraseKeepsPoints }))
                    }
                    (checked("erase"))
                    label for="erase-number" { (lang.t(T::ConfirmNumber)) }
                    input #erase-number name="confirm_number" required inputmode="numeric" maxlength="20";
                    (reason("erase"))
                    div { button.go.danger #erase-go type="submit" { (lang.t(T::EraseMember)) } }
                }
            }
        }
    }
}

fn identity_checked(lang: Lang, form: &Form) -> Result<(), ConsoleError> {
    match form.get(IDENTITY_CHECKED) {
        Some("yes") => Ok(()),
        _ => Err(ConsoleError::BadRequest(lang.t(T::NotConfirmed).into())),
    }
}

/// `POST /console/members/{id}/data`: the export as a JSON download.
pub async fn export<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        identity_checked(lang, &form)?;
        Ok::<_, ConsoleError>(
            app.store
                .member_export(id.clone(), Some(actor), Utc::now())
                .await?,
        )
    }
    .await;
    let data = match result {
        Ok(data) => data,
        Err(e) => return answer(&app, lang, &staff, id, "export", Err(e)).await,
    };
    // The member id the store answered is a UUID: safe in a file name.
    let name = data["member_id"].as_str().unwrap_or("member").to_owned();
    let body = serde_json::to_vec_pretty(&data).map_err(|e| {
        ConsoleError::Store(crate::store::StoreError::Bug(format!(
            "writing a member's export: {e}"
        )))
    })?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"tenpo-member-{name}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `POST /console/members/{id}/erase`.
pub async fn erase<S: HubStore>(
    State(app): State<AppState<S>>,
    Extension(lang): Extension<Lang>,
    staff: Staff,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, ConsoleError> {
    let result = async {
        let actor = allowed(&staff, &form)?;
        identity_checked(lang, &form)?;
        let file = app
            .store
            .member_file(id.clone())
            .await?
            .ok_or(ConsoleError::NotFound)?;
        if form.text("confirm_number") != Some(file.member.number.as_str()) {
            return Err(ConsoleError::BadRequest(lang.t(T::NotConfirmed).into()));
        }
        let now = Utc::now();
        let today = app.business_date(now);
        let goodbye = app.line.unlink_goodbye();
        app.store
            .erase_member(
                id.clone(),
                goodbye,
                app.privacy.forfeit_points,
                actor,
                today,
                now,
            )
            .await?;
        app.line.outbox_written.notify_one();
        Ok::<(), ConsoleError>(())
    }
    .await;
    answer(&app, lang, &staff, id, "erase", result).await
}
