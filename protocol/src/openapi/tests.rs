#![allow(clippy::unwrap_used)]

use serde_json::Value;

fn json(doc: utoipa::openapi::OpenApi) -> Value {
    serde_json::to_value(&doc).unwrap()
}

#[test]
fn agent_document_names_every_path_and_schema() {
    let doc = json(super::agent_api());
    for path in [
        "/v1/health",
        "/v1/status",
        "/v1/members/{code}",
        "/v1/sales",
        "/v1/sales/{sale_id}/refunds",
        "/v1/wishes",
        "/v1/scans/stream",
        "/v1/signups",
        "/v1/signups/{token}",
        "/v1/sync",
        "/metrics",
        "/v1/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    for schema in [
        "MemberView",
        "SaleRequest",
        "SaleResponse",
        "RefundResponse",
        "WishRequest",
        "WishResponse",
        "WishKind",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "missing {schema}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["ErrorCode"]["enum"][0],
        "malformed_request"
    );
    // Every operation names what any request can get: a bug, a timeout, a refused host.
    let sale = &doc["paths"]["/v1/sales"]["post"]["responses"];
    for status in ["408", "415", "421", "500"] {
        assert!(sale[status].is_object(), "POST /v1/sales lacks {status}");
    }
    // The scan stream needs the token.
    assert!(doc["paths"]["/v1/scans/stream"]["get"]["security"].is_array());
}

#[test]
fn hub_document_names_every_path_and_schema() {
    let doc = json(super::hub_api());
    for path in [
        "/v1/health",
        "/v1/enroll",
        "/v1/events",
        "/v1/changes",
        "/v1/members/by-code/{code}",
        "/liff/signup",
        "/v1/signups/{token}/complete",
        "/v1/signups/{token}/status",
        "/v1/cards/me",
        "/v1/cards/me/profile",
        "/v1/cards/me/unlink",
        "/v1/cards/me/data",
        "/v1/cards/me/erase",
        "/v1/cards/me/catalog/search",
        "/v1/cards/me/wishes",
        "/v1/cards/me/wishes/add",
        "/v1/cards/me/wishes/remove",
        "/metrics",
        "/v1/admin/enrollment-codes",
        "/v1/admin/rule-sets",
        "/v1/admin/members/import",
        "/v1/admin/coupons",
        "/v1/admin/codes/revoke",
        "/v1/admin/conflicts",
        "/v1/admin/discrepancies",
        "/v1/admin/held",
        "/v1/admin/held/{terminal_id}/{seq}",
        "/v1/admin/terminals/{terminal_id}/events",
        "/v1/admin/terminals/{terminal_id}/sales/{sale_id}",
        "/v1/admin/members/{code}/messages/{scenario}/preview",
        "/v1/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    for schema in [
        "EnrollResponse",
        "PushRequest",
        "PushResponse",
        "ChangesResponse",
        "Change",
        "MemberSnapshot",
        "ErrorBody",
        "CompleteResponse",
        "TerminalEvents",
        "TerminalView",
        "HeldView",
        "CatalogSearchResponse",
        "WishesResponse",
        "WishKind",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "missing {schema}"
        );
    }
    // A wish's kinds by their wire names.
    assert_eq!(
        doc["components"]["schemas"]["WishKind"]["enum"],
        serde_json::json!(["restock", "price_drop", "last_one"])
    );
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].to_string();
    assert!(codes.contains("cursor_reset"), "{codes}");
    assert_eq!(
        doc["paths"]["/v1/changes"]["get"]["parameters"][1]["schema"]["minimum"], 1,
        "{}",
        doc["paths"]["/v1/changes"]["get"]["parameters"]
    );
}
