//! The counter screen's state (no UI, no I/O): the scanned member or why the card was refused,
//! the sale being entered, what the last sale earned, a product scanned for the member's wish
//! (docs/design.md §11), and how the terminal stands with the hub.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tenpo_protocol::agent::{
    MemberView, Mode, SaleLine, SaleRequest, SaleResponse, ScanEvent, ScanOutcome, Status,
    WishResponse,
};

use crate::client::ApiFailure;
use crate::i18n::{Lang, Msg};
pub use crate::wish::{WishOffer, WishState};

/// What the counter asks the agent to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RecordSale(SaleRequest),
    /// Re-reads a member after a sale (new balance, stamps, tier).
    LookupMember(String),
    /// Records the member's wish (`POST /v1/wishes`).
    RecordWish(tenpo_protocol::agent::WishRequest),
}

/// What the agent answered, or what happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Scan(ScanEvent),
    StreamConnected(bool),
    Status(Result<Status, ApiFailure>),
    SaleRecorded(SaleResponse),
    SaleFailed(ApiFailure),
    Member(MemberView),
    WishRecorded(WishResponse),
    WishFailed(ApiFailure),
}

/// The card on the counter.
#[derive(Debug, Clone, PartialEq)]
pub enum Scanned {
    Member {
        code: String,
        member: MemberView,
    },
    /// A valid card this till has no member for: a new card, or (offline) one it has not
    /// seen yet. A sale with it is recorded as usual.
    NotKnown {
        code: String,
        message: String,
    },
    Rejected {
        raw: String,
        reason: String,
    },
}

/// The outcome of the last confirm.
#[derive(Debug, Clone, PartialEq)]
pub enum SaleResult {
    Recorded(SaleResponse),
    Failed(String),
}

/// How the terminal stands, as the counter shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Unknown,
    /// The agent does not answer.
    AgentDown(String),
    Standalone {
        pending: u64,
    },
    Online {
        pending: u64,
    },
    Offline {
        pending: u64,
        error: Option<String>,
    },
}

/// The counter.
#[derive(Debug, Clone)]
pub struct Counter {
    pub lang: Lang,
    pub scanned: Option<Scanned>,
    pub amount: String,
    pub redeem: String,
    pub coupons: BTreeSet<String>,
    pub result: Option<SaleResult>,
    /// A problem with what was typed, shown beside the confirm button.
    pub input_problem: Option<Msg>,
    pub busy: bool,
    pub link: Link,
    pub stream_connected: bool,
    /// A product scanned for the member on the counter.
    pub wish: Option<WishOffer>,
    /// The id of the sale being confirmed: kept until it is recorded, so a retry after a lost
    /// answer records it once (the agent's idempotency key).
    pending_sale_id: Option<String>,
    /// The id of the wish being recorded, kept until it is, as a sale's is.
    pending_wish_id: Option<String>,
    prefix: String,
}

impl Counter {
    /// `prefix` makes this counter's sale ids unique among the terminal's POS (say, `ctr`).
    pub fn new(prefix: &str) -> Counter {
        Counter {
            lang: Lang::Ja,
            scanned: None,
            amount: String::new(),
            redeem: String::new(),
            coupons: BTreeSet::new(),
            result: None,
            input_problem: None,
            busy: false,
            link: Link::Unknown,
            stream_connected: false,
            wish: None,
            pending_sale_id: None,
            pending_wish_id: None,
            prefix: prefix.to_owned(),
        }
    }

    pub fn on_event(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Scan(scan) => {
                if let (
                    Some(Scanned::Member { .. }),
                    ScanOutcome::Rejected {
                        product: Some(product),
                        ..
                    },
                ) = (&self.scanned, &scan.outcome)
                {
                    // A product with a member on the counter: offer the member's wish; the
                    // member and the sale being entered stay.
                    self.offer_wish(product);
                    return Vec::new();
                }
                self.wish = None;
                self.pending_wish_id = None;
                self.scanned = Some(match scan.outcome {
                    ScanOutcome::Member { member } => Scanned::Member {
                        code: scan.raw,
                        member,
                    },
                    ScanOutcome::NotKnown { message, .. } => Scanned::NotKnown {
                        code: scan.raw,
                        message,
                    },
                    ScanOutcome::Rejected { reason, .. } => Scanned::Rejected {
                        raw: scan.raw,
                        reason,
                    },
                });
                self.clear_form();
                self.result = None;
            }
            Event::StreamConnected(up) => self.stream_connected = up,
            Event::Status(Ok(status)) => {
                self.link = match (&status.mode, &status.sync) {
                    (Mode::Standalone, _) | (_, None) => Link::Standalone {
                        pending: status.pending_events,
                    },
                    (Mode::Enrolled, Some(sync)) if sync.online => Link::Online {
                        pending: status.pending_events,
                    },
                    (Mode::Enrolled, Some(sync)) => Link::Offline {
                        pending: status.pending_events,
                        error: sync.last_error.clone(),
                    },
                };
            }
            Event::Status(Err(failure)) => self.link = Link::AgentDown(failure.to_string()),
            Event::SaleRecorded(response) => {
                self.busy = false;
                self.pending_sale_id = None;
                self.clear_form();
                let refresh = match &self.scanned {
                    Some(Scanned::Member { code, .. } | Scanned::NotKnown { code, .. }) => {
                        vec![Command::LookupMember(code.clone())]
                    }
                    _ => Vec::new(),
                };
                self.result = Some(SaleResult::Recorded(response));
                return refresh;
            }
            Event::SaleFailed(failure) => {
                self.busy = false;
                // A refusal will be refused again: the next confirm is a new sale. A lost answer
                // keeps the id, so confirming again cannot record it twice.
                if matches!(failure, ApiFailure::Refused { .. }) {
                    self.pending_sale_id = None;
                }
                self.result = Some(SaleResult::Failed(failure.to_string()));
            }
            Event::WishRecorded(response) => {
                self.pending_wish_id = None;
                if let Some(offer) = self.wish.as_mut().filter(|o| o.product == response.item) {
                    offer.state = WishState::Recorded;
                }
            }
            Event::WishFailed(failure) => {
                // As for a sale: a refusal will be refused again, a lost answer keeps the id.
                if matches!(failure, ApiFailure::Refused { .. }) {
                    self.pending_wish_id = None;
                }
                if let Some(offer) = &mut self.wish {
                    offer.state = WishState::Failed(failure.to_string());
                }
            }
            Event::Member(member) => match &mut self.scanned {
                Some(Scanned::Member { member: shown, .. })
                    if shown.member_id == member.member_id =>
                {
                    *shown = member;
                }
                // The card's first sale made its member: show it.
                Some(Scanned::NotKnown { code, .. }) if *code == member.number => {
                    let code = code.clone();
                    self.scanned = Some(Scanned::Member { code, member });
                }
                _ => {}
            },
        }
        Vec::new()
    }

    fn offer_wish(&mut self, product: &str) {
        if self.wish.as_ref().is_some_and(|o| o.product == product) {
            return;
        }
        self.wish = Some(WishOffer::new(product));
        self.pending_wish_id = None;
    }

    /// "入荷お知らせ": asks the agent to record the member's wish for the product shown.
    pub fn notify_me(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        let (Some(Scanned::Member { code, .. }), Some(offer)) = (&self.scanned, &mut self.wish)
        else {
            return Vec::new();
        };
        if !offer.can_send() {
            return Vec::new();
        }
        let wish_id = self
            .pending_wish_id
            .get_or_insert_with(|| crate::wish::new_id(&self.prefix, now))
            .clone();
        offer.state = WishState::Sending;
        vec![Command::RecordWish(crate::wish::restock(
            wish_id,
            code,
            &offer.product,
        ))]
    }

    fn clear_form(&mut self) {
        self.amount.clear();
        self.redeem.clear();
        self.coupons.clear();
        self.input_problem = None;
    }

    /// The member on the counter, if any.
    pub fn member(&self) -> Option<&MemberView> {
        match &self.scanned {
            Some(Scanned::Member { member, .. }) => Some(member),
            _ => None,
        }
    }

    pub fn toggle_coupon(&mut self, id: &str) {
        if !self.coupons.remove(id) {
            self.coupons.insert(id.to_owned());
        }
    }

    /// "Confirm": checks what was typed and asks the agent to record the sale.
    pub fn confirm(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        if self.busy {
            return Vec::new();
        }
        let amount = match parse_number(&self.amount) {
            Some(a) if a > 0 => a,
            _ => {
                self.input_problem = Some(Msg::AmountInvalid);
                return Vec::new();
            }
        };
        let redeem = if self.redeem.trim().is_empty() {
            0
        } else {
            match parse_number(&self.redeem) {
                Some(r) if self.member().is_some_and(|m| r <= m.points.balance) => r,
                _ => {
                    self.input_problem = Some(Msg::RedeemInvalid);
                    return Vec::new();
                }
            }
        };
        self.input_problem = None;
        let code = match &self.scanned {
            Some(Scanned::Member { code, .. } | Scanned::NotKnown { code, .. }) => {
                Some(code.clone())
            }
            _ => None,
        };
        let sale_id = self
            .pending_sale_id
            .get_or_insert_with(|| format!("{}-{}", self.prefix, now.timestamp_millis()))
            .clone();
        let coupons: Vec<String> = if code.is_some() {
            self.coupons.iter().cloned().collect()
        } else {
            Vec::new()
        };
        self.busy = true;
        self.result = None;
        vec![Command::RecordSale(SaleRequest {
            sale_id,
            member_code: code,
            occurred_at: None,
            lines: vec![SaleLine {
                sku: "counter".into(),
                category: None,
                quantity: 1,
                amount_yen: amount,
            }],
            redeem_points: (redeem > 0).then_some(redeem),
            coupon_ids: (!coupons.is_empty()).then_some(coupons),
        })]
    }

    /// "Next customer": clears the counter.
    pub fn next_customer(&mut self) {
        self.scanned = None;
        self.result = None;
        self.wish = None;
        self.pending_sale_id = None;
        self.pending_wish_id = None;
        self.clear_form();
    }
}

/// Digits (full-width ones too, as a Japanese IME types them) and separators → a number.
pub fn parse_number(text: &str) -> Option<i64> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | '，' | ' ' | '¥' | '￥'))
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            c => c,
        })
        .collect();
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_cashiers_type_them() {
        assert_eq!(parse_number("1,580"), Some(1580));
        assert_eq!(parse_number("￥１５８０"), Some(1580));
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("-5"), None);
        assert_eq!(parse_number("12345678901"), None);
    }
}
