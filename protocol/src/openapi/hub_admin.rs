//! The hub document's admin part (tag `admin`): the reference hub's own administration, on
//! the admin token, which a CRM that implements the sync contract need not offer. Merged into
//! [`super::hub_api`].

use utoipa::OpenApi;

use crate::admin::{
    ConflictView, CouponReport, CouponRequest, DiscrepancyView, EnrollmentCodeRequest,
    EnrollmentCodeResponse, EventAudit, HeldAction, HeldView, ImportReport, ImportRequest,
    ImportRow, MessagePreview, ResolveHeldRequest, RevokeRequest, Revoked, RowRejection,
    RulesLoaded, TerminalEvents, TerminalView,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    paths(
        hub_metrics,
        admin_enrollment_code,
        admin_load_rules,
        admin_import_members,
        admin_issue_coupons,
        admin_revoke_code,
        admin_conflicts,
        admin_discrepancies,
        admin_held,
        admin_resolve_held,
        admin_terminals,
        admin_terminal_events,
        admin_terminal_sale,
        admin_preview_message
    ),
    components(schemas(
        EnrollmentCodeRequest,
        EnrollmentCodeResponse,
        RulesLoaded,
        ImportRequest,
        ImportRow,
        ImportReport,
        RowRejection,
        CouponRequest,
        CouponReport,
        RevokeRequest,
        Revoked,
        ConflictView,
        DiscrepancyView,
        HeldView,
        HeldAction,
        ResolveHeldRequest,
        TerminalEvents,
        TerminalView,
        MessagePreview,
        EventAudit
    ))
)]
pub(super) struct AdminApi;

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "admin",
    security(("admin" = [])),
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4", body = String, description = "Prometheus text exposition"),
        (status = 401, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn hub_metrics() {}

#[utoipa::path(
    post,
    path = "/v1/admin/enrollment-codes",
    tag = "admin",
    security(("admin" = [])),
    request_body = EnrollmentCodeRequest,
    responses(
        (status = 201, body = EnrollmentCodeResponse, description = "a one-time code for one terminal of the store"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a bad store or terminal id, or hours outside 1 to 720"),
    )
)]
#[allow(dead_code)]
fn admin_enrollment_code() {}

#[utoipa::path(
    post,
    path = "/v1/admin/rule-sets",
    tag = "admin",
    security(("admin" = [])),
    request_body(content = String, content_type = "application/toml",
        description = "the rule set as TOML (or as JSON with `Content-Type: application/json`)"),
    responses(
        (status = 201, body = RulesLoaded, description = "in force from now, and sent to every terminal"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not a newer version than the one in force"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the rule set does not read, or is not valid"),
    )
)]
#[allow(dead_code)]
fn admin_load_rules() {}

#[utoipa::path(
    post,
    path = "/v1/admin/members/import",
    tag = "admin",
    security(("admin" = [])),
    request_body = ImportRequest,
    responses(
        (status = 200, body = ImportReport, description = "rows imported, and each refused row with its reason"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no rule set loaded yet"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "more than 1000 rows, or not a JSON object of this shape"),
    )
)]
#[allow(dead_code)]
fn admin_import_members() {}

#[utoipa::path(
    post,
    path = "/v1/admin/coupons",
    tag = "admin",
    security(("admin" = [])),
    request_body = CouponRequest,
    responses(
        (status = 200, body = CouponReport),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "no members named, or values outside what a coupon takes"),
    )
)]
#[allow(dead_code)]
fn admin_issue_coupons() {}

#[utoipa::path(
    post,
    path = "/v1/admin/codes/revoke",
    tag = "admin",
    security(("admin" = [])),
    request_body = RevokeRequest,
    responses(
        (status = 200, body = Revoked, description = "revoked: every terminal refuses it from its next pull"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "not a printable code of at most 128 characters"),
    )
)]
#[allow(dead_code)]
fn admin_revoke_code() {}

#[utoipa::path(
    get,
    path = "/v1/admin/conflicts",
    tag = "admin",
    security(("admin" = [])),
    params(crate::admin::ListQuery),
    responses(
        (status = 200, body = Vec<ConflictView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 1000"),
    )
)]
#[allow(dead_code)]
fn admin_conflicts() {}

#[utoipa::path(
    get,
    path = "/v1/admin/discrepancies",
    tag = "admin",
    security(("admin" = [])),
    params(crate::admin::ListQuery),
    responses(
        (status = 200, body = Vec<DiscrepancyView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 1000, or an unknown class"),
    )
)]
#[allow(dead_code)]
fn admin_discrepancies() {}

#[utoipa::path(
    get,
    path = "/v1/admin/held",
    tag = "admin",
    security(("admin" = [])),
    params(crate::admin::ListQuery),
    responses(
        (status = 200, body = Vec<HeldView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 1000"),
    )
)]
#[allow(dead_code)]
fn admin_held() {}

#[utoipa::path(
    post,
    path = "/v1/admin/held/{terminal_id}/{seq}",
    tag = "admin",
    security(("admin" = [])),
    params(
        ("terminal_id" = String, Path),
        ("seq" = u64, Path, minimum = 1),
    ),
    request_body = ResolveHeldRequest,
    responses(
        (status = 200, body = HeldView, description = "released (applied now) or dismissed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "nothing held under this terminal and seq"),
        (status = 409, body = ErrorBody, description = "decided already"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "no reason given, or not a JSON object of this shape"),
    )
)]
#[allow(dead_code)]
fn admin_resolve_held() {}

#[utoipa::path(
    get,
    path = "/v1/admin/terminals",
    tag = "admin",
    security(("admin" = [])),
    params(crate::admin::TerminalsQuery),
    responses(
        (status = 200, body = Vec<TerminalView>, description = "enrolled terminals in id order, after `after`: each one's mark, events held and latest arrival"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 1000, or an `after` longer than a terminal id"),
    )
)]
#[allow(dead_code)]
fn admin_terminals() {}

#[utoipa::path(
    get,
    path = "/v1/admin/terminals/{terminal_id}/events",
    tag = "admin",
    security(("admin" = [])),
    params(("terminal_id" = String, Path), crate::admin::ListQuery),
    responses(
        (status = 200, body = TerminalEvents, description = "the terminal's events as the hub holds them, from `after`"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such terminal"),
        (status = 422, body = ErrorBody, description = "a limit outside 1 to 1000"),
    )
)]
#[allow(dead_code)]
fn admin_terminal_events() {}

#[utoipa::path(
    get,
    path = "/v1/admin/terminals/{terminal_id}/sales/{sale_id}",
    tag = "admin",
    security(("admin" = [])),
    params(("terminal_id" = String, Path), ("sale_id" = String, Path)),
    responses(
        (status = 200, body = TerminalEvents, description = "the events of this sale (and its refunds): did it arrive, what was applied"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such terminal"),
    )
)]
#[allow(dead_code)]
fn admin_terminal_sale() {}

#[utoipa::path(
    get,
    path = "/v1/admin/members/{code}/messages/{scenario}/preview",
    tag = "admin",
    security(("admin" = [])),
    params(
        ("code" = String, Path, description = "a card code or member number"),
        ("scenario" = String, Path, description = "welcome, tier_progress, points_expiring, birthday or stamp_card_full"),
    ),
    responses(
        (status = 200, body = MessagePreview, description = "what the scenario would send the member now, in their language; nothing is written or sent"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no member has this code, or no such scenario"),
        (status = 422, body = ErrorBody, description = "the scenario has nothing to say to this member now (no next tier, no points to lapse), or no rule set is loaded"),
    )
)]
#[allow(dead_code)]
fn admin_preview_message() {}
