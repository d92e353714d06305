//! The member's own page in LINE (docs/design.md §10): the profile form and "unlink LINE".
//!
//! - `POST /v1/cards/me/profile` (LINE's ID token the credential): the member's language, store
//!   news yes or no, and optionally birthday, name and email. Each is checked (a birthday in the
//!   future, an email that is not one: a clear `422`, nothing stored). A birthday in this month,
//!   with the birthday scenario on, brings this month's coupon at once.
//! - `POST /v1/cards/me/unlink`: the LINE account is no longer the member's (LINE requires that
//!   a member can do this). The member, their points and their card stay; messages waiting for
//!   them are not sent; their rich menu goes back to the account's default.
//!
//! What is given here is personal data: it stays at the hub and is never logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenpo_loyalty::Date;
use tenpo_protocol::admin::CouponRequest;
use tenpo_protocol::signup::{CompleteRequest, ProfileRequest, UnlinkResponse};

use super::card::{card_profile, member_of};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::HubStore;
use crate::store::outbox::{Channel, Language, Profile};
use tenpo_edge::Json;

/// The longest name kept.
pub const MAX_NAME_CHARS: usize = 50;

/// A form field, trimmed; blank is not given.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The form's answers as a profile, or what is wrong with them (in the member's words).
pub fn check(req: &ProfileRequest, today: Date) -> Result<Profile, String> {
    let language = Language::parse(&req.language)
        .ok_or_else(|| format!("language is ja or en, not {:?}", req.language))?;
    let birthday = match given(&req.birthday) {
        None => None,
        Some(text) => {
            let date: Date = text
                .parse()
                .map_err(|_| format!("the birthday {text:?} is not a date like 1990-04-01"))?;
            if date > today {
                return Err(format!("the birthday {date} is in the future"));
            }
            if date.year() < 1900 {
                return Err(format!("the birthday {date} is before 1900"));
            }
            Some(date)
        }
    };
    let name = given(&req.name).map(str::to_owned);
    if let Some(n) = &name
        && (n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
    {
        return Err(format!(
            "the name is at most {MAX_NAME_CHARS} characters, on one line"
        ));
    }
    let email = match given(&req.email) {
        None => None,
        Some(text) => {
            let parsed: email_address::EmailAddress = text
                .parse()
                .map_err(|_| format!("{text:?} is not an email address"))?;
            Some(parsed.to_string())
        }
    };
    let channel = match given(&req.channel) {
        None => Channel::Line,
        Some(text) => {
            Channel::parse(text).ok_or_else(|| format!("channel is line or email, not {text:?}"))?
        }
    };
    if channel == Channel::Email && email.is_none() {
        return Err("to hear from us by email, give an email address".into());
    }
    Ok(Profile {
        language,
        marketing: req.marketing,
        channel,
        birthday,
        name,
        email,
    })
}

pub async fn save<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<ProfileRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (_, member) = member_of(&app, &req.id_token, now).await?;
    let today = app.business_date(now);
    let profile = check(&req, today).map_err(ApiError::invalid)?;
    // A birthday is given once: changing it each month would bring a coupon each month.
    let before = app.store.member_profile(member.member_id.clone()).await?;
    if let (Some(kept), Some(new)) = (before.birthday, profile.birthday)
        && kept != new
    {
        return Err(ApiError::invalid(format!(
            "your birthday is registered as {kept}: to correct it, ask at a store"
        )));
    }
    let profile = Profile {
        birthday: before.birthday.or(profile.birthday),
        ..profile
    };
    app.store
        .save_profile(member.member_id.clone(), profile.clone(), now)
        .await?;
    // A birthday given now, in this month of the member's own time zone: this month's coupon
    // now (and announced), as the daily scan gives it to the members of that time zone.
    if let (None, Some(birthday), Some(coupon)) = (
        before.birthday,
        profile.birthday,
        &app.line.scenarios.settings.birthday,
    ) {
        let home = app.store.home_store(member.member_id.clone()).await?;
        let (zone, stores) = app.zones.group_of(home.as_deref());
        let their_today = crate::scenarios::daily::business_date(now, zone).unwrap_or(today);
        if birthday.month() == their_today.month() {
            let request = CouponRequest {
                coupon_id: None,
                member_ids: Vec::new(),
                card_codes: Vec::new(),
                birthday_month: Some(their_today.month()),
                benefit: coupon.benefit,
                valid_days: coupon.valid_days,
            };
            app.store
                .issue_coupons(request, stores, their_today, now)
                .await?;
            app.line.outbox_written.notify_one();
        }
    }
    tracing::info!(member_id = %member.member_id, "profile saved");
    Ok(Json(card_profile(&profile)).into_response())
}

pub async fn unlink<S: HubStore>(
    State(app): State<AppState<S>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (line_user, member) = member_of(&app, &req.id_token, now).await?;
    let goodbye = app.line.unlink_goodbye();
    app.store.unlink_line(line_user, goodbye, now).await?;
    app.line.outbox_written.notify_one();
    tracing::info!(member_id = %member.member_id, "LINE account unlinked");
    Ok((
        StatusCode::OK,
        Json(UnlinkResponse {
            member_number: member.number,
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(birthday: &str, email: &str, name: &str, language: &str) -> ProfileRequest {
        ProfileRequest {
            id_token: "t".into(),
            language: language.into(),
            marketing: false,
            birthday: Some(birthday.into()),
            name: Some(name.into()),
            email: Some(email.into()),
            channel: None,
        }
    }

    #[test]
    fn the_form_is_checked_and_blanks_are_not_given() {
        let today: Date = "2026-12-01".parse().unwrap();
        let p = check(
            &req("1990-04-01", " hanako@example.jp ", "花子", "en"),
            today,
        )
        .unwrap();
        assert_eq!(p.birthday, Some("1990-04-01".parse().unwrap()));
        assert_eq!(p.email.as_deref(), Some("hanako@example.jp"));
        assert_eq!((p.language, p.marketing), (Language::En, false));
        let blank = check(&req("", " ", "", "ja"), today).unwrap();
        assert_eq!(
            (blank.birthday, blank.email, blank.name),
            (None, None, None)
        );
        for (bad, words) in [
            (req("2027-01-01", "", "", "ja"), "in the future"),
            (req("1850-01-01", "", "", "ja"), "before 1900"),
            (req("1990-02-30", "", "", "ja"), "is not a date"),
            (req("", "hanako@", "", "ja"), "not an email address"),
            (req("", "", &"あ".repeat(51), "ja"), "at most 50"),
            (req("", "", "a\nb", "ja"), "on one line"),
            (req("", "", "", "fr"), "language is ja or en"),
            (
                ProfileRequest {
                    channel: Some("email".into()),
                    ..req("", "", "", "ja")
                },
                "give an email address",
            ),
            (
                ProfileRequest {
                    channel: Some("fax".into()),
                    ..req("", "", "", "ja")
                },
                "line or email",
            ),
        ] {
            let e = check(&bad, today).unwrap_err();
            assert!(e.contains(words), "{e}");
        }
    }
}
