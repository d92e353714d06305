//! The hub's document: the sync contract terminals speak and the signup and card endpoints the
//! LIFF page calls; the reference hub's admin API is in `hub_admin.rs`, the catalogue feed and
//! the reports on wishes in `hub_catalog.rs`.

use utoipa::OpenApi;

use super::{ANY_SERVER, Everywhere, bearer};
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::signup::{
    CardCoupon, CardExpiry, CardNextTier, CardProfile, CardResponse, CompleteRequest,
    CompleteResponse, DigitalCard, EraseRequest, EraseResponse, ProfileRequest, SignupKind,
    SignupState, TerminalSignupStatus, UnlinkResponse,
};
use crate::sync::{
    Change, ChangesQuery, ChangesResponse, EnrollRequest, EnrollResponse, HubHealth, MemberLookup,
    MemberSnapshot, PushItem, PushRequest, PushResponse, PushResult, PushStatus,
};

/// The hub's API, as the reference hub serves it at `GET /v1/openapi.json`. A CRM team can
/// implement the sync contract (the untagged and `signup` operations) or run the reference hub.
pub fn hub_api() -> utoipa::openapi::OpenApi {
    let mut doc = HubApi::openapi();
    // The catalogue feed and the reports on wishes (docs/design.md §11), kept in their own file.
    doc.merge(super::hub_catalog::CatalogApi::openapi());
    // The reference hub's own administration (tag `admin`), also in its own file.
    doc.merge(super::hub_admin::AdminApi::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "terminal",
            bearer("`{terminal_id}.{secret}` from enrolment, split at the last `.`"),
        );
        components.add_security_scheme(
            "admin",
            bearer("the hub's admin token (`<data-dir>/admin-token`, or TENPO_HUB_ADMIN_TOKEN)"),
        );
        components.add_security_scheme(
            "catalog",
            bearer("the catalogue feed's own token (the hub's `catalog_token_file`)"),
        );
    }
    Everywhere {
        answers: ANY_SERVER,
    }
    .apply(&mut doc);
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenpo hub API",
        description = "Between store terminals and the central hub. Every write is idempotent. \
                       Terminals authenticate with `Authorization: Bearer {terminal_id}.{secret}` \
                       (from `POST /v1/enroll`). Every answer to a terminal carries `hub_time`. \
                       Request bodies are JSON objects. Errors are `{\"error\": {\"code\", \
                       \"message\"}}`; `410 cursor_reset` on the change feed means: start again \
                       from an empty cursor, keep the outbox. Operations tagged `admin` are the \
                       reference hub's own administration (the admin token); those tagged \
                       `catalog` are the retailer's catalogue feed (a token of its own)."
    ),
    paths(
        hub_health,
        enroll,
        push_events,
        changes,
        member_by_code,
        signup_page,
        signup_complete,
        signup_terminal_status,
        line_webhook,
        my_card,
        my_profile,
        unlink_line,
        my_data,
        erase_account,
        hub_openapi_json
    ),
    components(schemas(
        HubHealth,
        EnrollRequest,
        EnrollResponse,
        PushRequest,
        PushItem,
        PushResponse,
        PushResult,
        PushStatus,
        ChangesQuery,
        ChangesResponse,
        Change,
        MemberSnapshot,
        MemberLookup,
        CompleteRequest,
        CompleteResponse,
        CardResponse,
        DigitalCard,
        CardExpiry,
        CardNextTier,
        CardCoupon,
        CardProfile,
        ProfileRequest,
        UnlinkResponse,
        EraseRequest,
        EraseResponse,
        SignupKind,
        SignupState,
        TerminalSignupStatus,
        ErrorBody,
        ErrorDetail,
        ErrorCode
    ))
)]
struct HubApi;

#[utoipa::path(
    get,
    path = "/v1/health",
    responses(
        (status = 200, body = HubHealth),
        (status = 503, body = ErrorBody, description = "the hub cannot write to its database"),
    )
)]
#[allow(dead_code)]
fn hub_health() {}

#[utoipa::path(
    post,
    path = "/v1/enroll",
    request_body = EnrollRequest,
    responses(
        (status = 201, body = EnrollResponse, description = "enrolled: keep the secret, it is shown once"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 403, body = ErrorBody, description = "the code is unknown, used or expired (`enrollment_code_invalid`)"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape, or a terminal name with control or invisible characters"),
    )
)]
#[allow(dead_code)]
fn enroll() {}

#[utoipa::path(
    post,
    path = "/v1/events",
    request_body = PushRequest,
    security(("terminal" = [])),
    responses(
        (status = 200, body = PushResponse, description = "committed; one result per event, in order"),
        (status = 400, body = ErrorBody, description = "not JSON: nothing stored"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "an event of another terminal or store: nothing stored"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "too many events, or an event without a `seq`: nothing stored"),
    )
)]
#[allow(dead_code)]
fn push_events() {}

#[utoipa::path(
    get,
    path = "/v1/changes",
    params(
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the last read; empty for a full snapshot (a damaged one is answered 410)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 5000, description = "changes per page, default 1000"),
    ),
    security(("terminal" = [])),
    responses(
        (status = 200, body = ChangesResponse),
        (status = 401, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "`cursor_reset`: start again with an empty cursor"),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 5000"),
    )
)]
#[allow(dead_code)]
fn changes() {}

#[utoipa::path(
    get,
    path = "/v1/members/by-code/{code}",
    params(("code" = String, Path, pattern = "^[!-~]{1,128}$", description = "a member code the terminal has not cached")),
    security(("terminal" = [])),
    responses(
        (status = 200, body = MemberLookup),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no member has this code"),
        (status = 422, body = ErrorBody, description = "not 1 to 128 characters"),
    )
)]
#[allow(dead_code)]
fn member_by_code() {}

#[utoipa::path(
    get,
    path = "/liff/signup",
    tag = "signup",
    responses((status = 200, content_type = "text/html; charset=utf-8", body = String,
        description = "the LIFF page the kiosk's QR code opens in LINE"))
)]
#[allow(dead_code)]
fn signup_page() {}

#[utoipa::path(
    post,
    path = "/v1/signups/{token}/complete",
    tag = "signup",
    params(("token" = String, Path, description = "the token from the kiosk's QR code")),
    request_body = CompleteRequest,
    responses(
        (status = 200, body = CompleteResponse, description = "the member (new or existing) and their digital card"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 403, body = ErrorBody, description = "`signup_invalid`: the token was not made by a terminal of this hub"),
        (status = 409, body = ErrorBody, description = "used already, the card is linked elsewhere, or this LINE account has a card"),
        (status = 410, body = ErrorBody, description = "`signup_expired`: scan a new QR code"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape"),
        (status = 502, body = ErrorBody, description = "`line_unavailable`: LINE could not be asked; try again"),
    )
)]
#[allow(dead_code)]
fn signup_complete() {}

#[utoipa::path(
    post,
    path = "/line/webhook",
    tag = "line",
    description = "LINE's Messaging API posts the official account's events here. The \
                   `x-line-signature` header (any case) must be the Base64 HMAC-SHA256 of the raw \
                   body under the channel secret: it is checked before the body is read. Events \
                   are taken once by `webhookEventId`; follow and unfollow keep each LINE user's \
                   friendship with the account.",
    params(("x-line-signature" = String, Header, description = "Base64 HMAC-SHA256 of the body")),
    request_body(content = Object, content_type = "application/json",
        description = "`{\"destination\": bot user id, \"events\": [...]}` in LINE's webhook shapes"),
    responses(
        (status = 200, body = Object, description = "taken (new events stored, redeliveries ignored)"),
        (status = 400, body = ErrorBody, description = "signed correctly, but not a LINE webhook body"),
        (status = 401, body = ErrorBody, description = "the signature is missing or does not match: nothing was read"),
        (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`line_unavailable`: the webhook is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn line_webhook() {}

#[utoipa::path(
    get,
    path = "/v1/signups/{token}/status",
    tag = "signup",
    params(
        ("token" = String, Path, description = "a token this terminal made"),
        ("wait" = Option<u64>, Query, minimum = 0, description = "seconds to wait for a change (at most 30 are waited)"),
    ),
    security(("terminal" = [])),
    responses(
        (status = 200, body = TerminalSignupStatus),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the token belongs to another terminal, or is not one"),
        (status = 410, body = ErrorBody, description = "`signup_expired`"),
        (status = 422, body = ErrorBody, description = "`wait` is not a whole number of seconds"),
    )
)]
#[allow(dead_code)]
fn signup_terminal_status() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me",
    tag = "signup",
    request_body = CompleteRequest,
    responses(
        (status = 200, body = CardResponse, description = "the member's digital card, signed afresh"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account has no card yet"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape"),
        (status = 503, body = ErrorBody, description = "LINE or the card keys are not available now; try again"),
    )
)]
#[allow(dead_code)]
fn my_card() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/profile",
    tag = "signup",
    request_body = ProfileRequest,
    responses(
        (status = 200, body = CardProfile, description = "saved: the member's choices as kept"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "a birthday in the future or not a date, an email that is not one, a name too long, a language other than ja or en; nothing stored"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_profile() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/unlink",
    tag = "signup",
    request_body = CompleteRequest,
    responses(
        (status = 200, body = UnlinkResponse, description = "the LINE account is no longer the member's; the member, points and card stay"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn unlink_line() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/data",
    tag = "signup",
    request_body = CompleteRequest,
    responses(
        (status = 200, body = Object, description = "everything the hub holds about the member, table by table (`member_id`, `exported_at`, `line_user_id`, `tables`: each table's rows about them as objects)"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn my_data() {}

#[utoipa::path(
    post,
    path = "/v1/cards/me/erase",
    tag = "signup",
    request_body = EraseRequest,
    responses(
        (status = 200, body = EraseResponse, description = "the member's personal data, LINE link and cards are erased; sales and points stay, anonymous"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody, description = "`line_token_rejected`: LINE refused the ID token"),
        (status = 404, body = ErrorBody, description = "this LINE account is not a member (or was erased already)"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "`confirm` is not true, or not a JSON object of this shape; nothing erased"),
        (status = 502, body = ErrorBody, description = "LINE could not check the ID token now; try again"),
        (status = 503, body = ErrorBody, description = "signup with LINE is not set up at this hub"),
    )
)]
#[allow(dead_code)]
fn erase_account() {}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, body = Object, description = "this document")))]
#[allow(dead_code)]
fn hub_openapi_json() {}
