//! "My data" on the member's own page in LINE (docs/design.md §7): what the hub holds about
//! them, to see and to download, and "delete my account".
//!
//! - `POST /v1/cards/me/data` (LINE's ID token the credential): everything the hub holds about
//!   the member, table by table, as the console's download gives it.
//! - `POST /v1/cards/me/erase` with `confirm: true`: the member's personal data, LINE link and
//!   cards are erased as staff would erase them (`ConsoleStore::erase_member`; the audit log
//!   names the member themself); their sales and points stay, anonymous.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenpo_protocol::signup::{CompleteRequest, EraseRequest, EraseResponse};

use super::card::member_of;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::HubStore;
use crate::store::console::Actor;
use tenpo_edge::Json;

/// Who the audit log says erased a member who did it in LINE.
pub const SELF_SERVICE: &str = "member (LINE)";

pub async fn export<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (_, member) = member_of(&app, &req.id_token, now).await?;
    let data = app
        .store
        .member_export(member.member_id.clone(), None, now)
        .await?;
    tracing::info!(member_id = %member.member_id, "member's data shown to them in LINE");
    Ok(Json(data).into_response())
}

pub async fn erase<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<EraseRequest>,
) -> Result<Response, ApiError> {
    if !req.confirm {
        return Err(ApiError::invalid(
            "confirm the deletion (confirm: true); nothing was erased",
        ));
    }
    let now = Utc::now();
    let (_, member) = member_of(&app, &req.id_token, now).await?;
    let actor = Actor::new(SELF_SERVICE, "the member deleted their account in LINE")?;
    let erased = app
        .store
        .erase_member(
            member.member_id.clone(),
            app.line.unlink_goodbye(),
            app.privacy.forfeit_points,
            actor,
            app.business_date(now),
            now,
        )
        .await?;
    app.line.outbox_written.notify_one();
    Ok(Json(EraseResponse {
        member_number: member.number,
        forfeited_points: erased.forfeited_points,
    })
    .into_response())
}
