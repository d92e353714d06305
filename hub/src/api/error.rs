//! Every error the hub answers: `{"error": {"code", "message"}}` with the right status and a
//! message a CRM operator or IT person can act on. Internal failures are logged here with their
//! cause and answered without it.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tenpo_protocol::{ErrorBody, ErrorCode};

use crate::intake::BatchError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody::new(code, message),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use StoreError as E;
        let (status, code) = match &e {
            E::EnrollmentCode(_) => (StatusCode::FORBIDDEN, ErrorCode::EnrollmentCodeInvalid),
            E::CursorReset(_) => (StatusCode::GONE, ErrorCode::CursorReset),
            E::RulesVersion { .. } | E::NoRuleSet => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            E::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            E::Decided(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Signup(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
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

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the body is larger than this endpoint accepts: send smaller batches",
            )
        } else {
            ApiError::new(r.status(), ErrorCode::MalformedRequest, r.body_text())
        }
    }
}

/// Parses a JSON body: `400 malformed_request` when it is not JSON, `422 invalid_request` when
/// it is JSON of the wrong shape. Nothing has been changed when either is answered.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::invalid(format!("the JSON does not fit this endpoint: {e}"))
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            format!("the body is not valid JSON: {e}"),
        ),
    })
}
