//! tenpo's loyalty rules engine.
//!
//! Pure and deterministic: the rule set, the member's state, the sale and the store's business
//! date are all arguments. No I/O, no clock, no randomness. The agent at the till and the hub
//! call the same functions, so a sale evaluated at either gives the same yen and the same points.
//!
//! The flow for a sale: [`evaluate_sale`] gives a [`SaleOutcome`] (what the customer is told,
//! and everything a refund needs to reverse it); [`MemberState::apply_sale`] applies it. Refunds
//! likewise with [`evaluate_refund`] and [`MemberState::apply_refund`]. [`MemberState::summary`]
//! is the cashier's view.

mod adjust;
mod date;
mod refund;
mod rules;
mod sale;
mod state;

pub use adjust::{AdjustError, Adjusted, MAX_ADJUSTMENT};
pub use date::{Date, DateError, Weekday};
pub use refund::{
    Refund, RefundError, RefundOutcome, RefundShare, check_refund_lines, evaluate_refund,
};
pub use rules::{
    Campaign, CampaignBenefit, CouponBenefit, CouponTemplate, Earning, Expiry, ExpiryAt, MAX_YEN,
    Points, Redemption, RuleSet, RuleSetError, Stacking, StampEarn, Stamps, TierLevel, Tiers,
    WeekdayKey, Yen,
};
pub use sale::{
    Line, LotTake, MAX_CARDS_PER_SALE, Sale, SaleError, SaleOutcome, StampChange, check_sale_lines,
    evaluate_sale,
};
pub use state::{Coupon, Expiring, LATE_RECORDING_DAYS, MemberState, PointLot, StampCard, Summary};
