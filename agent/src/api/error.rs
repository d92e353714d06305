//! Every error the local API answers: `{"error": {"code": "...", "message": "..."}}` with the
//! right status, and a message a cashier or IT person can act on.

use axum::http::StatusCode;
use tenpo_protocol::ErrorCode;

use crate::ledger::LedgerError;
use crate::wish::WishError;

pub use tenpo_edge::ApiError;

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        use LedgerError as L;
        let (status, code) = match &e {
            L::Field(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            L::Code(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidMemberCode,
            ),
            L::MemberNotFound(_) | L::Wish(WishError::NoMember(_)) => {
                (StatusCode::NOT_FOUND, ErrorCode::MemberNotFound)
            }
            L::NotKnownHere(_) | L::Wish(WishError::NotKnownHere(_)) => {
                (StatusCode::NOT_FOUND, ErrorCode::MemberNotKnownHere)
            }
            L::Revoked(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidMemberCode,
            ),
            L::OfflineRedeemLimit { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::RuleViolation)
            }
            L::SaleNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::SaleNotFound),
            L::SaleConflict(_) | L::RefundConflict(_) | L::Wish(WishError::Conflict(_)) => {
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
            | L::Wish(WishError::Item(_))
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
