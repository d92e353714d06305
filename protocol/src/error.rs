//! The error body every tenpo API answers with: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Machine-readable error codes. The message beside a code says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not the JSON this endpoint takes.
    MalformedRequest,
    /// The request is well-formed but its values break a rule (negative amount, too many lines …).
    InvalidRequest,
    /// A member code that fails its format or check digit.
    InvalidMemberCode,
    /// No member has this (valid) code.
    MemberNotFound,
    /// This till has no member for the (valid) code and cannot ask the hub now: the card may
    /// belong to a member it has not seen yet. Record the sale as usual.
    MemberNotKnownHere,
    /// No sale with this id was recorded here.
    SaleNotFound,
    /// The same id was already used with a different body.
    IdempotencyConflict,
    /// Points, coupons or a refund the rules refuse.
    RuleViolation,
    /// Missing or wrong `Authorization: Bearer` token.
    Unauthorized,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The requested path does not exist.
    NotFound,
    /// The method is not allowed on the path.
    MethodNotAllowed,
    /// The JSON content type is missing.
    UnsupportedMediaType,
    /// Something failed inside the server (disk full, database damaged): see its log.
    Internal,
    /// The change-feed cursor is unknown, expired or damaged: start again from an empty cursor
    /// (rebuild the cache; keep the outbox).
    CursorReset,
    /// Authenticated, but not allowed to do this (another terminal's events, say).
    Forbidden,
    /// The request contradicts what the server holds (a rule-set version that does not
    /// increase, say).
    Conflict,
    /// The enrolment code is unknown, already used or expired: ask for a new one.
    EnrollmentCodeInvalid,
    /// The signup code is damaged or its signature is wrong: scan the kiosk's code again.
    SignupInvalid,
    /// The signup code's time ran out: scan a fresh code at the kiosk.
    SignupExpired,
    /// The signup code was already used (by another LINE account): scan a fresh code.
    SignupUsed,
    /// LINE did not accept the ID token (wrong channel, expired, damaged): open the page from
    /// LINE again.
    LineTokenRejected,
    /// The paper card is already linked to another LINE account.
    CardLinkedElsewhere,
    /// This LINE account already belongs to another member: one member per LINE account.
    LineAccountTaken,
    /// LINE (or the hub's link to it) is not available now: try again in a moment.
    LineUnavailable,
    /// The request took longer than the server allows (a slow or stalled client): send it again.
    Timeout,
    /// The request named a host this server does not answer for (the local API answers only
    /// `127.0.0.1`, `localhost` and `[::1]`, against DNS rebinding).
    MisdirectedRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence a cashier or IT person can act on.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}
