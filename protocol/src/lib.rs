//! Wire types of tenpo's HTTP APIs, their error codes, and the OpenAPI documents generated from
//! these same types (so the documents cannot drift from what the servers speak).
//!
//! Everything here is data: no I/O, no storage, no HTTP server.

pub mod admin;
pub mod agent;
pub mod catalog;
pub mod display;
mod error;
pub mod events;
pub mod openapi;
#[cfg(feature = "qr")]
pub mod qr;
pub mod signup;
pub mod strict;
pub mod sync;
mod tagged;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
/// The card code formats live in `tenpo-codes` (the scanner code uses them without the wire
/// types); here for everything that speaks the wire.
pub use tenpo_codes::{card, codes};

/// Limits every server applies before looking at a request's content.
pub mod limits {
    /// Largest request body accepted, in bytes.
    pub const MAX_BODY_BYTES: usize = 256 * 1024;
    /// Most lines in one sale or refund.
    pub const MAX_LINES: usize = 500;
    /// Longest id (sale, refund, sku, coupon) accepted.
    pub const MAX_ID_LEN: usize = 64;
    /// Longest coupon id (reward coupons are named after the sale that issued them).
    pub const MAX_COUPON_ID_LEN: usize = 128;
    /// Most coupons used on one sale.
    pub const MAX_COUPONS: usize = 20;
}
