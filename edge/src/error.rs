//! The one error type both servers answer with: `{"error": {"code", "message"}}` and its status.
//! Each server adds the `From` conversions of its own errors (the agent's ledger, the hub's
//! store); refusals of the request itself (its body, path or query) are made here, once.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenpo_protocol::{ErrorBody, ErrorCode};

/// An error answer: a status and the JSON error body.
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

    /// `422 invalid_request`: well-formed, but values this endpoint does not take.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            message,
        )
    }

    /// `400 malformed_request`: not even the shape of a request.
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            message,
        )
    }

    /// `401 unauthorized`, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// `500 internal`: the cause is logged by the caller, never answered.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }

    /// `413 payload_too_large`.
    pub fn too_large(limit_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!(
                "the body is larger than the {} KiB this endpoint accepts: send less at once",
                limit_bytes / 1024
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the body is larger than this endpoint accepts: send less at once",
            )
        } else {
            ApiError::new(r.status(), ErrorCode::MalformedRequest, r.body_text())
        }
    }
}

/// A query string of the wrong shape (`limit=x`) is `422 invalid_request`, as a JSON body of the
/// wrong shape is.
impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::invalid(format!(
            "the query string does not fit this endpoint: {}",
            r.body_text()
                .trim_start_matches("Failed to deserialize query string: ")
        ))
    }
}

/// A path parameter of the wrong shape (a `seq` that is not a number) is `422
/// invalid_request`; a route that lacks its parameters is a bug (500).
impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        if r.status().is_server_error() {
            tracing::error!(error = %r.body_text(), "a route's path parameters do not match its handler");
            return ApiError::internal("the server hit a bug handling this request: see its log");
        }
        ApiError::invalid(format!(
            "the path does not fit this endpoint: {}",
            r.body_text()
        ))
    }
}

/// The fallback of both routers: `404 not_found` naming where the endpoints are listed.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint: see /v1/openapi.json",
    )
}

/// The method fallback of both routers: `405 method_not_allowed` (axum adds `Allow`).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method: see /v1/openapi.json",
    )
}
