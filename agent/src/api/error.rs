//! Every error the local API answers: `{"error": {"code": "...", "message": "..."}}` with the
//! right status, and a message a cashier or IT person can act on.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tenpo_protocol::{ErrorBody, ErrorCode};

use crate::ledger::LedgerError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody::new(code, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        use LedgerError as L;
        let (status, code) = match &e {
            L::Field(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            L::Code(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidMemberCode,
            ),
            L::MemberNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::MemberNotFound),
            L::NotKnownHere(_) => (StatusCode::NOT_FOUND, ErrorCode::MemberNotKnownHere),
            L::Revoked(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidMemberCode,
            ),
            L::OfflineRedeemLimit { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::RuleViolation)
            }
            L::SaleNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::SaleNotFound),
            L::SaleConflict(_) | L::RefundConflict(_) => {
                (StatusCode::CONFLICT, ErrorCode::IdempotencyConflict)
            }
            L::Sale(
                tenpo_loyalty::SaleError::BadLine { .. }
                | tenpo_loyalty::SaleError::NoLines
                | tenpo_loyalty::SaleError::TooLarge,
            )
            | L::Refund(
                tenpo_loyalty::RefundError::BadLine { .. } | tenpo_loyalty::RefundError::NoLines,
            )
            | L::InTheFuture(_)
            | L::TooOld { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            L::Sale(tenpo_loyalty::SaleError::InvalidRules { .. }) => {
                tracing::error!(error = %e, "the rule set in force cannot be computed with");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
            L::Sale(_) | L::Refund(_) | L::MemberRequired => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::RuleViolation)
            }
            L::MemberMissing(_) | L::Store(_) => {
                tracing::error!(error = %e, "request failed inside the agent");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                format!(
                    "the JSON does not fit this endpoint: {}",
                    e.body_text().trim_start_matches(
                        "Failed to deserialize the JSON body into the target type: "
                    )
                ),
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedRequest,
                format!(
                    "the body is not valid JSON: {}",
                    e.body_text()
                        .trim_start_matches("Failed to parse the request body as JSON: ")
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                too_large()
            }
            other => ApiError::new(
                other.status(),
                ErrorCode::MalformedRequest,
                other.body_text(),
            ),
        }
    }
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!(
            "the body is larger than {} KiB: send fewer lines",
            tenpo_protocol::limits::MAX_BODY_BYTES / 1024
        ),
    )
}
