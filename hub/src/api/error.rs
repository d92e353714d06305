//! Every error the hub answers: `{"error": {"code", "message"}}` with the right status and a
//! message a CRM operator or IT person can act on. Internal failures are logged here with their
//! cause and answered without it.

use axum::http::StatusCode;
use tenpo_protocol::ErrorCode;

use crate::intake::BatchError;
use crate::store::StoreError;

pub use tenpo_edge::{ApiError, parse_json};

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use StoreError as E;
        let (status, code) = match &e {
            E::EnrollmentCode(_) => (StatusCode::FORBIDDEN, ErrorCode::EnrollmentCodeInvalid),
            E::CursorReset(_) => (StatusCode::GONE, ErrorCode::CursorReset),
            E::RulesVersion { .. } | E::NoRuleSet => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            E::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            E::Decided(_) | E::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Signup(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Unavailable(_) | E::Contention(_) => {
                tracing::error!(error = %e, "request failed: the database is unavailable");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Internal,
                    "the hub cannot reach its database just now; nothing was written: send \
                     again later",
                );
            }
            _ => {
                tracing::error!(error = %e, "request failed inside the hub");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "the hub failed while handling this request: see the hub's log",
                );
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> ApiError {
        match e {
            BatchError::Invalid(m) => ApiError::invalid(m),
            BatchError::Forbidden(m) => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, m)
            }
        }
    }
}
