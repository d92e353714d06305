//! OpenAPI documents, generated from the wire types in this crate.
//!
//! The path items below are declarations for the document only; the servers implement them.

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::agent::{
    CouponKind, CouponView, ExpiringPoints, Health, MemberView, Mode, NextTier, PointsView,
    RefundRequest, RefundResponse, SaleLine, SaleRequest, SaleResponse, StampsView, Status,
};
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};

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
    paths(health, status, member, record_sale, refund_sale, openapi_json),
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
        ErrorCode
    ))
)]
struct AgentApi;

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
}
