//! OpenAPI documents, generated from the wire types in this crate.
//!
//! The path items below are declarations for the document only; the servers implement them.

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::agent::{
    CouponKind, CouponView, ExpiringPoints, Health, MemberView, Mode, NextTier, PointsView,
    RefundRequest, RefundResponse, SaleLine, SaleRequest, SaleResponse, ScanEvent, ScanOutcome,
    ScannerStatus, StampsView, Status, SyncStatus,
};
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::sync::{
    Change, ChangesQuery, ChangesResponse, EnrollRequest, EnrollResponse, HubHealth, MemberLookup,
    MemberSnapshot, PushItem, PushRequest, PushResponse, PushResult, PushStatus,
};

/// The agent's local API, as `GET /v1/openapi.json` serves it.
pub fn agent_api() -> utoipa::openapi::OpenApi {
    let mut doc = AgentApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "local_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token in <data-dir>/api-token"))
                    .build(),
            ),
        );
    }
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenpo agent local API",
        description = "The store terminal's API for the POS and the counter screen. Listens on \
                       loopback only; writes need `Authorization: Bearer <token>` with the token \
                       from `<data-dir>/api-token`. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        health,
        status,
        member,
        record_sale,
        refund_sale,
        scans_stream,
        open_signup,
        signup_status,
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
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not enrolled with a hub, or no LIFF id configured"),
        (status = 422, body = ErrorBody, description = "the card code is not a paper card this store accepts"),
    )
)]
#[allow(dead_code)]
fn open_signup() {}

#[utoipa::path(
    get,
    path = "/v1/signups/{token}",
    params(
        ("token" = String, Path, description = "the session's token"),
        ("wait" = Option<u32>, Query, description = "seconds (at most 30) to wait for a change"),
    ),
    responses(
        (status = 200, body = crate::signup::SignupStatus, description = "waiting, completed (with the member) or expired"),
        (status = 404, body = ErrorBody, description = "no such session here (the agent restarted): open a new one"),
        (status = 409, body = ErrorBody, description = "not enrolled with a hub"),
    )
)]
#[allow(dead_code)]
fn signup_status() {}

#[utoipa::path(
    get,
    path = "/v1/scans/stream",
    responses((status = 200, content_type = "text/event-stream", body = ScanEvent,
        description = "server-sent events: `event: scan` with a ScanEvent as `data`, one per scan"))
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

#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
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
        (status = 404, body = ErrorBody, description = "no member has this code"),
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
        (status = 400, body = ErrorBody, description = "malformed JSON"),
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the sale id was used with another body"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid values, or the rules refuse it"),
    )
)]
#[allow(dead_code)]
fn record_sale() {}

#[utoipa::path(
    post,
    path = "/v1/sales/{sale_id}/refunds",
    params(("sale_id" = String, Path)),
    request_body = RefundRequest,
    security(("local_token" = [])),
    responses(
        (status = 201, body = RefundResponse, description = "recorded"),
        (status = 200, body = RefundResponse, description = "the same request again: the first answer"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such sale"),
        (status = 409, body = ErrorBody, description = "the refund id was used with another body"),
        (status = 422, body = ErrorBody, description = "more than was sold, or invalid values"),
    )
)]
#[allow(dead_code)]
fn refund_sale() {}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "this document")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The hub's sync API (what terminals speak to the central side), as the reference hub serves
/// it at `GET /v1/openapi.json`. A CRM team can implement it or run the reference hub.
pub fn hub_api() -> utoipa::openapi::OpenApi {
    let mut doc = HubApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "terminal",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`{terminal_id}.{secret}` from enrolment, split at the last `.`",
                    ))
                    .build(),
            ),
        );
    }
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenpo hub sync API",
        description = "Between store terminals and the central hub. Every write is idempotent. \
                       Terminals authenticate with `Authorization: Bearer {terminal_id}.{secret}` \
                       (from `POST /v1/enroll`). Every answer to a terminal carries `hub_time`. \
                       Errors are `{\"error\": {\"code\", \"message\"}}`; `410 cursor_reset` on \
                       the change feed means: start again from an empty cursor, keep the outbox."
    ),
    paths(
        hub_health,
        enroll,
        push_events,
        changes,
        member_by_code,
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
        ErrorBody,
        ErrorDetail,
        ErrorCode
    ))
)]
struct HubApi;

#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = HubHealth)))]
#[allow(dead_code)]
fn hub_health() {}

#[utoipa::path(
    post,
    path = "/v1/enroll",
    request_body = EnrollRequest,
    responses(
        (status = 201, body = EnrollResponse, description = "enrolled: keep the secret, it is shown once"),
        (status = 400, body = ErrorBody, description = "malformed JSON"),
        (status = 403, body = ErrorBody, description = "the code is unknown, used or expired (`enrollment_code_invalid`)"),
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
        (status = 422, body = ErrorBody, description = "too many events, or an event without a `seq`: nothing stored"),
    )
)]
#[allow(dead_code)]
fn push_events() {}

#[utoipa::path(
    get,
    path = "/v1/changes",
    params(
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the last read; empty for a full snapshot"),
        ("limit" = Option<u32>, Query, description = "at most 5000, default 1000"),
    ),
    security(("terminal" = [])),
    responses(
        (status = 200, body = ChangesResponse),
        (status = 401, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "`cursor_reset`: start again with an empty cursor"),
        (status = 422, body = ErrorBody, description = "bad limit"),
    )
)]
#[allow(dead_code)]
fn changes() {}

#[utoipa::path(
    get,
    path = "/v1/members/by-code/{code}",
    params(("code" = String, Path, description = "a member code the terminal has not cached")),
    security(("terminal" = [])),
    responses(
        (status = 200, body = MemberLookup),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no member has this code"),
    )
)]
#[allow(dead_code)]
fn member_by_code() {}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "this document")))]
#[allow(dead_code)]
fn hub_openapi_json() {}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_document_names_every_path_and_schema() {
        let doc = super::agent_api();
        let json = serde_json::to_value(&doc).unwrap_or_default();
        for path in [
            "/v1/health",
            "/v1/status",
            "/v1/members/{code}",
            "/v1/sales",
            "/v1/sales/{sale_id}/refunds",
        ] {
            assert!(json["paths"][path].is_object(), "missing {path}");
        }
        for schema in [
            "MemberView",
            "SaleRequest",
            "SaleResponse",
            "RefundResponse",
            "ErrorBody",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "missing {schema}"
            );
        }
        assert_eq!(
            json["components"]["schemas"]["ErrorCode"]["enum"][0],
            "malformed_request"
        );
    }

    #[test]
    fn hub_document_names_every_path_and_schema() {
        let doc = super::hub_api();
        let json = serde_json::to_value(&doc).unwrap_or_default();
        for path in [
            "/v1/health",
            "/v1/enroll",
            "/v1/events",
            "/v1/changes",
            "/v1/members/by-code/{code}",
        ] {
            assert!(json["paths"][path].is_object(), "missing {path}");
        }
        for schema in [
            "EnrollResponse",
            "PushRequest",
            "PushResponse",
            "ChangesResponse",
            "Change",
            "MemberSnapshot",
            "ErrorBody",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "missing {schema}"
            );
        }
        let codes = json["components"]["schemas"]["ErrorCode"]["enum"].to_string();
        assert!(codes.contains("cursor_reset"), "{codes}");
    }
}
