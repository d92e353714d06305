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
use tenpo_protocol::signup::{
    CardCoupon, CardExpiry, CardNextTier, CardProfile, CardResponse, CompleteRequest, DigitalCard,
};

use super::LoginClient;
use super::api::line_error;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::HubStore;
use crate::store::outbox::Profile;
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

/// The member of the LINE account that sent `id_token` (checked with LINE first), and that
/// account's LINE user id: what the card page's calls start from.
pub async fn member_of<S: HubStore>(
    app: &AppState<S>,
    id_token: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(String, tenpo_protocol::sync::MemberSnapshot), ApiError> {
    let line = line_client(app)?;
    let request = CompleteRequest {
        id_token: id_token.to_owned(),
    };
    let claims = line
        .verify(self::id_token(&request)?, now)
        .await
        .map_err(line_error)?;
    match app.store.member_by_line_user(claims.sub.clone()).await? {
        Some(member) => Ok((claims.sub, member)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::MemberNotFound,
            "this LINE account is not a member yet: scan the QR code on the store's kiosk to join",
        )),
    }
}

pub async fn my_card<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (_, member) = member_of(&app, &req.id_token, now).await?;
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
    let profile = app.store.member_profile(member.member_id.clone()).await?;
    let barcode_svg = super::qr::barcode_svg(&member.number).unwrap_or_else(|e| {
        // A member number that is not a JAN (an imported paper card's code): no 1D barcode.
        tracing::warn!(error = %e, "no barcode for this member number");
        String::new()
    });
    let mut answer = CardResponse {
        member_number: member.number.clone(),
        points: member.state.balance(today),
        tier: String::new(),
        stamps: 0,
        card_size: 0,
        card,
        qr_svg,
        refresh_secs: REFRESH_SECS,
        expiring: Vec::new(),
        next_tier: None,
        coupons: Vec::new(),
        barcode_svg,
        profile: card_profile(&profile),
    };
    if let Some(rules) = rules {
        let s = member.state.summary(&rules, today);
        // Tiers by the names the rule set gives them in the member's language.
        let language = profile.language.as_str();
        answer.points = s.balance;
        answer.tier = rules.tier_label(&s.tier, language).to_owned();
        answer.stamps = s.stamps;
        answer.card_size = s.card_size;
        answer.expiring = s
            .expiring
            .iter()
            .take(3)
            .map(|e| CardExpiry {
                points: e.points,
                expires_on: e.expires_on,
            })
            .collect();
        answer.next_tier = s.next_tier.map(|(name, remaining)| {
            let goal = s.qualifying_spend.saturating_add(remaining).max(1);
            let percent = (s.qualifying_spend.max(0).saturating_mul(100) / goal).clamp(0, 100);
            CardNextTier {
                name: rules.tier_label(&name, language).to_owned(),
                remaining_yen: remaining,
                progress_percent: u8::try_from(percent).unwrap_or(100),
            }
        });
        answer.coupons = s.coupons.iter().map(card_coupon).collect();
    }
    Ok(Json(answer).into_response())
}

/// The profile as the card page shows it.
pub fn card_profile(p: &Profile) -> CardProfile {
    CardProfile {
        language: p.language.as_str().to_owned(),
        marketing: p.marketing,
        channel: p.channel.as_str().to_owned(),
        birthday: p.birthday.map(|b| b.to_string()),
        name: p.name.clone(),
        email: p.email.clone(),
    }
}

fn card_coupon(c: &tenpo_loyalty::Coupon) -> CardCoupon {
    use tenpo_loyalty::CouponBenefit;
    use tenpo_protocol::display::{group, yen};
    let (title_ja, title_en) = match c.benefit {
        CouponBenefit::Discount { value_yen } => (
            format!("{}引き", yen(value_yen)),
            format!("{} off", yen(value_yen)),
        ),
        CouponBenefit::PointsBonus { points } => (
            format!("{} pt プレゼント", group(points)),
            format!("{} bonus points", group(points)),
        ),
    };
    CardCoupon {
        coupon_id: c.coupon_id.clone(),
        title_ja,
        title_en,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
    }
}
