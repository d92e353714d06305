//! `GET /r/{link_id}`: a notification's link (docs/design.md §11). The click is counted for
//! its notification, then the member goes on to the item's page. The id is all a link shows:
//! 32 random hex digits, so a link cannot be guessed from another.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use tenpo_protocol::ErrorCode;

use super::{ApiError, AppState};
use crate::store::HubStore;

fn no_such_link() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such link: it may be mistyped",
    )
}

/// What a link the hub made looks like.
fn well_formed(link_id: &str) -> bool {
    link_id.len() == 32 && link_id.bytes().all(|b| b.is_ascii_hexdigit())
}

const NO_PAGE: &str = "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>お知らせ</title></head><body>\
<p>お知らせをご覧いただきありがとうございます。店頭でお待ちしています。</p>\
<p lang=\"en\">Thank you for reading. We look forward to seeing you in store.</p>\
</body></html>";

pub async fn follow<S: HubStore>(
    State(app): State<AppState<S>>,
    Path(link_id): Path<String>,
) -> Result<Response, ApiError> {
    if !well_formed(&link_id) {
        return Err(no_such_link());
    }
    match app.store.follow_link(link_id, Utc::now()).await? {
        None => Err(no_such_link()),
        Some(Some(page)) => Ok((
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, page),
                (header::CACHE_CONTROL, "no-store".into()),
            ],
        )
            .into_response()),
        Some(None) => Ok(([(header::CACHE_CONTROL, "no-store")], Html(NO_PAGE)).into_response()),
    }
}
