//! The LINE digital member card (docs/design.md §6), shown by the LIFF page:
//! - `POST /v1/cards/me` with LINE's ID token: the member of that LINE account, its points,
//!   tier and stamps, and a freshly signed rotating QR (and its SVG), which the page asks for
//!   again every [`REFRESH_SECS`]: a screenshot stops working within [`CARD_QR_SECS`].
//! - The member barcode (the member number, JAN-13) is static.
//!
//! The LINE user id is only used to find the member; it is not in the answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenpo_protocol::ErrorCode;
use tenpo_protocol::card::{self, CardToken};
use tenpo_protocol::signup::{CardResponse, CompleteRequest, DigitalCard};

use super::LoginClient;
use super::api::line_error;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::HubStore;
use tenpo_edge::Json;

/// How long a rotating card QR is accepted (terminals allow some clock skew besides).
pub const CARD_QR_SECS: u16 = 300;
/// How often the page asks for a new QR.
pub const REFRESH_SECS: u16 = 60;

/// The digital card of member `number`: its barcode and a QR signed now with the newest key.
/// The QR is empty (and the failure logged) when the hub cannot sign.
pub async fn issue<S: HubStore>(app: &AppState<S>, number: &str) -> Result<DigitalCard, ApiError> {
    let qr = match app.store.card_key().await? {
        Some(key) => {
            let token = CardToken {
                key_id: key.key_id,
                member_number: number.to_owned(),
                issued_at: Utc::now().timestamp(),
                valid_secs: CARD_QR_SECS,
            };
            let signing = ed25519_dalek::SigningKey::from_bytes(&key.secret);
            card::sign(&token, &signing).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot sign a card QR");
                String::new()
            })
        }
        None => {
            tracing::error!("no active card-signing key: card QRs cannot be issued");
            String::new()
        }
    };
    Ok(DigitalCard {
        barcode: number.to_owned(),
        qr,
        valid_secs: CARD_QR_SECS,
    })
}

/// LINE's client, or why signup with LINE is off at this hub.
pub fn line_client<S: HubStore>(app: &AppState<S>) -> Result<&LoginClient, ApiError> {
    app.signup.line().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::LineUnavailable,
            "signup with LINE is not set up at this hub: the administrator sets [line] channel_id",
        )
    })
}

/// The ID token of a request, if it can be one (LINE's are a few hundred bytes).
pub fn id_token(req: &CompleteRequest) -> Result<&str, ApiError> {
    if req.id_token.is_empty() || req.id_token.len() > 8 * 1024 {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::LineTokenRejected,
            "no usable LINE ID token: open this page from LINE again",
        ));
    }
    Ok(&req.id_token)
}

pub async fn my_card<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let line = line_client(&app)?;
    let now = Utc::now();
    let claims = line
        .verify(id_token(&req)?, now)
        .await
        .map_err(line_error)?;
    let Some(member) = app.store.member_by_line_user(claims.sub).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::MemberNotFound,
            "this LINE account is not a member yet: scan the QR code on the store's kiosk to join",
        ));
    };
    let card = issue(&app, &member.number).await?;
    if card.qr.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "the member card cannot be shown right now: show the member number at the till",
        ));
    }
    let qr_svg = super::qr::svg(&card.qr).map_err(|e| {
        tracing::error!(error = %e, "cannot draw a card QR");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the member card cannot be drawn: show the member number at the till",
        )
    })?;
    let rules = app.store.current_rules().await?;
    let today = app.business_date(now);
    let (points, tier, stamps, card_size) = match rules {
        Some(rules) => {
            let s = member.state.summary(&rules, today);
            (s.balance, s.tier, s.stamps, s.card_size)
        }
        None => (member.state.balance(today), String::new(), 0, 0),
    };
    Ok(Json(CardResponse {
        member_number: member.number,
        points,
        tier,
        stamps,
        card_size,
        card,
        qr_svg,
        refresh_secs: REFRESH_SECS,
    })
    .into_response())
}
