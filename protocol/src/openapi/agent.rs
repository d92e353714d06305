//! The agent's local API document.

use utoipa::OpenApi;

use super::{ANY_SERVER, Everywhere, bearer};
use crate::agent::{
    CouponKind, CouponView, ExpiringPoints, Health, MemberView, Mode, NextTier, PointsView,
    RefundRequest, RefundResponse, SaleLine, SaleRequest, SaleResponse, ScanEvent, ScanOutcome,
    ScannerStatus, StampsView, Status, SyncStatus, WishRequest, WishResponse,
};
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::events::WishKind;

/// The agent's local API, as `GET /v1/openapi.json` serves it.
pub fn agent_api() -> utoipa::openapi::OpenApi {
    let mut doc = AgentApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme("local_token", bearer("The token in <data-dir>/api-token"));
    }
    Everywhere {
        answers: ANY_SERVER,
    }
    .apply(&mut doc);
    Everywhere {
        answers: &[(
            "421",
            "`misdirected_request`: the request named a host other than 127.0.0.1, localhost or [::1]",
        )],
    }
    .apply(&mut doc);
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenpo agent local API",
        description = "The store terminal's API for the POS and the counter screen. Listens on \
                       loopback only; writes need `Authorization: Bearer <token>` with the token \
                       from `<data-dir>/api-token`. Request bodies are JSON objects. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        health,
        status,
        member,
        record_sale,
        refund_sale,
        record_wish,
        scans_stream,
        open_signup,
        signup_status,
        sync_now,
        metrics,
        openapi_json
    ),
    components(schemas(
        Health,
        Status,
        Mode,
        MemberView,
        PointsView,
        ExpiringPoints,
        StampsView,
        CouponView,
        CouponKind,
        NextTier,
        SaleRequest,
        SaleLine,
        SaleResponse,
        RefundRequest,
        RefundResponse,
        WishRequest,
        WishResponse,
        WishKind,
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        ScannerStatus,
        ScanEvent,
        ScanOutcome,
        SyncStatus,
        crate::signup::SignupRequest,
        crate::signup::SignupSession,
        crate::signup::SignupStatus,
        crate::signup::SignupState,
        crate::signup::SignupKind
    ))
)]
struct AgentApi;

#[utoipa::path(
    post,
    path = "/v1/signups",
    request_body = crate::signup::SignupRequest,
    security(("local_token" = [])),
    responses(
        (status = 201, body = crate::signup::SignupSession, description = "a signup (or card link) session: show `liff_url` as a QR code"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not enrolled with a hub, or no LIFF id configured"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape, or the card code is not a paper card this store accepts"),
    )
)]
#[allow(dead_code)]
fn open_signup() {}

#[utoipa::path(
    get,
    path = "/v1/signups/{token}",
    params(
        ("token" = String, Path, description = "the session's token"),
        ("wait" = Option<u64>, Query, minimum = 0, description = "seconds to wait for a change (at most 30 are waited)"),
    ),
    responses(
        (status = 200, body = crate::signup::SignupStatus, description = "waiting, completed (with the member) or expired"),
        (status = 404, body = ErrorBody, description = "no such session here (the agent restarted): open a new one"),
        (status = 409, body = ErrorBody, description = "not enrolled with a hub"),
        (status = 422, body = ErrorBody, description = "`wait` is not a whole number of seconds"),
    )
)]
#[allow(dead_code)]
fn signup_status() {}

#[utoipa::path(
    get,
    path = "/v1/scans/stream",
    security(("local_token" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = ScanEvent,
            description = "server-sent events: `event: scan` with a ScanEvent as `data`, one per scan"),
        (status = 401, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn scans_stream() {}

#[utoipa::path(
    post,
    path = "/v1/sync",
    security(("local_token" = [])),
    responses(
        (status = 202, description = "a push and pull start now; watch `sync` in /v1/status"),
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the terminal is not enrolled with a hub"),
    )
)]
#[allow(dead_code)]
fn sync_now() {}

#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String,
        description = "Prometheus text exposition: sales, refunds, the outbox, the sync, scanners"))
)]
#[allow(dead_code)]
fn metrics() {}

#[utoipa::path(
    get,
    path = "/v1/health",
    responses(
        (status = 200, body = Health),
        (status = 503, body = ErrorBody, description = "the agent cannot write to its database"),
    )
)]
#[allow(dead_code)]
fn health() {}

#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = Status)))]
#[allow(dead_code)]
fn status() {}

#[utoipa::path(
    get,
    path = "/v1/members/{code}",
    params(("code" = String, Path, description = "A scanned member code")),
    responses(
        (status = 200, body = MemberView),
        (status = 404, body = ErrorBody, description = "`member_not_found`: a new card; `member_not_known_here`: the hub cannot be asked now"),
        (status = 422, body = ErrorBody, description = "the code is malformed or fails its check digit"),
    )
)]
#[allow(dead_code)]
fn member() {}

#[utoipa::path(
    post,
    path = "/v1/sales",
    request_body = SaleRequest,
    security(("local_token" = [])),
    responses(
        (status = 201, body = SaleResponse, description = "recorded"),
        (status = 200, body = SaleResponse, description = "the same request again: the first answer"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "the member code names no member here"),
        (status = 409, body = ErrorBody, description = "the sale id was used with another body"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape, invalid values, or the rules refuse it"),
    )
)]
#[allow(dead_code)]
fn record_sale() {}

#[utoipa::path(
    post,
    path = "/v1/sales/{sale_id}/refunds",
    params(("sale_id" = String, Path, pattern = "^[!-~]{1,64}$")),
    request_body = RefundRequest,
    security(("local_token" = [])),
    responses(
        (status = 201, body = RefundResponse, description = "recorded"),
        (status = 200, body = RefundResponse, description = "the same request again: the first answer"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such sale"),
        (status = 409, body = ErrorBody, description = "the refund id was used with another body"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "more than was sold, invalid values, or not a JSON object of this shape"),
    )
)]
#[allow(dead_code)]
fn refund_sale() {}

#[utoipa::path(
    post,
    path = "/v1/wishes",
    request_body = WishRequest,
    security(("local_token" = [])),
    responses(
        (status = 201, body = WishResponse, description = "recorded in the outbox; it reaches the hub with the next push"),
        (status = 200, body = WishResponse, description = "the same request again: the first answer"),
        (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`member_not_found`: no member has the card here (scan the member's card first); `member_not_known_here`: not cached and the hub cannot be asked now"),
        (status = 409, body = ErrorBody, description = "the wish id was used with another body"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "send JSON (`Content-Type: application/json`)"),
        (status = 422, body = ErrorBody, description = "not a JSON object of this shape (an unknown want, say), a malformed card code, a barcode with a wrong check digit, a member card as the item, no wants, or an item longer than 64 characters"),
    )
)]
#[allow(dead_code)]
fn record_wish() {}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, body = Object, description = "this document")))]
#[allow(dead_code)]
fn openapi_json() {}
