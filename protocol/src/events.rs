//! The events a terminal records in its outbox and pushes to the hub.
//!
//! Each terminal numbers its events with a gap-free `seq` (1, 2, 3 …) and gives each a UUIDv7
//! `event_id`; the hub stores each once, keyed by both. An event carries the outcome the till
//! computed (with the rule-set version), so the hub can re-evaluate it and report a difference
//! without overruling what the customer was told.

use serde::{Deserialize, Serialize};
use tenpo_loyalty::{Date, Line, Points, RefundOutcome, Sale, SaleOutcome};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub seq: u64,
    pub store_id: String,
    pub terminal_id: String,
    /// When the terminal recorded it (RFC 3339, UTC).
    pub recorded_at: String,
    pub body: EventBody,
}

/// Read with its `kind` first (`crate::tagged`), as every till writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A new valid card seen at this till before the hub knew it.
    MemberProvisional {
        member_id: String,
        code: String,
    },
    Sale(SaleEvent),
    Refund(RefundEvent),
    Wish(WishEvent),
}

impl<'de> Deserialize<'de> for EventBody {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<EventBody, D::Error> {
        crate::tagged::deserialize(input)
    }
}

impl crate::tagged::Tagged for EventBody {
    const TAG: &'static str = "kind";
    const EXPECTING: &'static str = "an event body: an object with a `kind`";

    fn read<'de, D: serde::Deserializer<'de>>(kind: &str, fields: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Provisional {
            member_id: String,
            code: String,
        }
        Ok(match kind {
            "member_provisional" => {
                let Provisional { member_id, code } = Provisional::deserialize(fields)?;
                EventBody::MemberProvisional { member_id, code }
            }
            "sale" => EventBody::Sale(SaleEvent::deserialize(fields)?),
            "refund" => EventBody::Refund(RefundEvent::deserialize(fields)?),
            "wish" => EventBody::Wish(WishEvent::deserialize(fields)?),
            other => {
                return Err(serde::de::Error::unknown_variant(
                    other,
                    &["member_provisional", "sale", "refund", "wish"],
                ));
            }
        })
    }
}

/// A sale as the till recorded it: the engine's [`Sale`] (its store is the event's) and the
/// [`SaleOutcome`] the customer was told. On the wire its fields sit beside `"kind": "sale"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleEvent {
    pub sale_id: String,
    pub member_id: Option<String>,
    pub occurred_at: String,
    pub business_date: Date,
    pub lines: Vec<Line>,
    pub redeem_points: Points,
    pub coupon_ids: Vec<String>,
    /// `None` for a sale without a member.
    pub outcome: Option<SaleOutcome>,
}

impl SaleEvent {
    /// The event of `sale`, evaluated for `member_id` (if any) at `occurred_at`.
    pub fn new(
        sale: Sale,
        member_id: Option<String>,
        occurred_at: String,
        outcome: Option<SaleOutcome>,
    ) -> SaleEvent {
        let Sale {
            sale_id,
            store_id: _,
            business_date,
            lines,
            redeem_points,
            coupon_ids,
        } = sale;
        SaleEvent {
            sale_id,
            member_id,
            occurred_at,
            business_date,
            lines,
            redeem_points,
            coupon_ids,
            outcome,
        }
    }

    /// The engine's sale this event records, at `store_id` (the event's store): what the hub
    /// evaluates again with the same rule set.
    pub fn sale(&self, store_id: &str) -> Sale {
        Sale {
            sale_id: self.sale_id.clone(),
            store_id: store_id.to_owned(),
            business_date: self.business_date,
            lines: self.lines.clone(),
            redeem_points: self.redeem_points,
            coupon_ids: self.coupon_ids.clone(),
        }
    }
}

/// A refund as the till recorded it. On the wire its fields sit beside `"kind": "refund"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundEvent {
    pub refund_id: String,
    pub sale_id: String,
    pub member_id: Option<String>,
    pub occurred_at: String,
    pub business_date: Date,
    pub lines: Vec<Line>,
    pub outcome: Option<RefundOutcome>,
}

/// A member asked to be told about an item (docs/design.md §11): at the counter, the cashier
/// scanned the product while the member's card was shown; at the kiosk, the member scanned it.
/// A till records it offline like a sale; the hub keeps one wish per member, item and kind,
/// whichever till or channel asked first. On the wire its fields sit beside `"kind": "wish"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishEvent {
    pub member_id: String,
    /// The product's barcode as scanned (a JAN/EAN-13, EAN-8 or UPC-A), or the retailer's sku:
    /// the hub finds the item by either. An item the catalogue does not have yet is kept and
    /// reported, and notifies once the catalogue brings it.
    pub item: String,
    /// What the member wants to hear about: one or more, each once.
    pub wants: Vec<WishKind>,
    /// When it was asked (RFC 3339).
    pub occurred_at: String,
}

/// What a wish waits for (docs/design.md §11).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WishKind {
    /// Out of stock now: tell me when it is back (stock from 0 to more).
    Restock,
    /// Tell me when it is cheaper than it is now.
    PriceDrop,
    /// Tell me when one is left at my store.
    LastOne,
}

impl WishKind {
    pub const ALL: [WishKind; 3] = [WishKind::Restock, WishKind::PriceDrop, WishKind::LastOne];

    pub fn as_str(self) -> &'static str {
        match self {
            WishKind::Restock => "restock",
            WishKind::PriceDrop => "price_drop",
            WishKind::LastOne => "last_one",
        }
    }

    pub fn parse(text: &str) -> Option<WishKind> {
        WishKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl EventBody {
    /// The member the event is about, if any.
    pub fn member_id(&self) -> Option<&str> {
        match self {
            EventBody::MemberProvisional { member_id, .. } => Some(member_id),
            EventBody::Sale(SaleEvent { member_id, .. })
            | EventBody::Refund(RefundEvent { member_id, .. }) => member_id.as_deref(),
            EventBody::Wish(WishEvent { member_id, .. }) => Some(member_id),
        }
    }

    /// The kind as stored beside the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::MemberProvisional { .. } => "member_provisional",
            EventBody::Sale(_) => "sale",
            EventBody::Refund(_) => "refund",
            EventBody::Wish(_) => "wish",
        }
    }
}

/// The event's bytes as the outbox stores them (compact JSON). Encoded once, when the event
/// is recorded: from then on the bytes, not the types, are the event (docs/design.md §4).
pub fn encode(event: &Event) -> Result<String, serde_json::Error> {
    serde_json::to_string(event)
}

/// The lowercase hex SHA-256 of an event's stored bytes: what a push carries beside each event,
/// so the hub can tell a replay of the same content from other content under the same `seq` or
/// `event_id`.
pub fn content_hash_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// [`content_hash_of`] the event as [`encode`] writes it.
pub fn content_hash(event: &Event) -> String {
    // Serialising this plain data cannot fail (no maps with non-string keys, no floats).
    content_hash_of(&serde_json::to_vec(event).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn provisional(seq: u64) -> Event {
        Event {
            event_id: "0190a5e4-0000-7000-8000-000000000001".into(),
            seq,
            store_id: "s1".into(),
            terminal_id: "t1".into(),
            recorded_at: "2026-11-22T10:00:00+00:00".into(),
            body: EventBody::MemberProvisional {
                member_id: "m1".into(),
                code: "2000000000015".into(),
            },
        }
    }

    /// The sale event is the engine's sale and outcome, and its bytes are the shape every
    /// earlier version wrote: the fields flat beside `"kind"`, in this order.
    #[test]
    fn a_sale_event_is_the_engines_sale_on_the_same_wire() {
        let sale = Sale {
            sale_id: "s-1".into(),
            store_id: "st-9".into(),
            business_date: "2026-11-22".parse().unwrap(),
            lines: vec![Line {
                sku: "tea".into(),
                category: None,
                quantity: 2,
                amount_yen: 600,
            }],
            redeem_points: 0,
            coupon_ids: vec![],
        };
        let ev = SaleEvent::new(sale.clone(), None, "2026-11-22T01:00:00+00:00".into(), None);
        assert_eq!(ev.sale("st-9"), sale);
        let json = serde_json::to_string(&EventBody::Sale(ev.clone())).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"sale","sale_id":"s-1","member_id":null,"occurred_at":"2026-11-22T01:00:00+00:00","business_date":"2026-11-22","lines":[{"sku":"tea","category":null,"quantity":2,"amount_yen":600}],"redeem_points":0,"coupon_ids":[],"outcome":null}"#
        );
        let back: EventBody = serde_json::from_str(&json).unwrap();
        assert_eq!(back, EventBody::Sale(ev));
        let refund = r#"{"kind":"refund","refund_id":"r-1","sale_id":"s-1","member_id":"m1","occurred_at":"2026-11-22T02:00:00+00:00","business_date":"2026-11-22","lines":[],"outcome":null}"#;
        let back: EventBody = serde_json::from_str(refund).unwrap();
        assert_eq!(back.member_id(), Some("m1"));
        assert_eq!(serde_json::to_string(&back).unwrap(), refund);
    }

    #[test]
    fn a_wish_event_is_flat_beside_its_kind() {
        let wish = r#"{"kind":"wish","member_id":"m1","item":"4901234567894","wants":["restock","last_one"],"occurred_at":"2026-12-02T01:00:00+00:00"}"#;
        let back: EventBody = serde_json::from_str(wish).unwrap();
        assert_eq!(back.member_id(), Some("m1"));
        assert_eq!(back.kind(), "wish");
        assert_eq!(serde_json::to_string(&back).unwrap(), wish);
        for k in WishKind::ALL {
            assert_eq!(WishKind::parse(k.as_str()), Some(k));
        }
        assert!(serde_json::from_str::<EventBody>(&wish.replace("restock", "soon")).is_err());
    }

    /// Every kind of body reads back as written, with its `kind` first (as tills write it) or
    /// anywhere else; a body that does not read says what is wrong.
    #[test]
    fn a_body_reads_with_its_kind_anywhere_and_bad_ones_say_why() {
        let bodies = [
            r#"{"kind":"member_provisional","member_id":"m1","code":"2000000000015"}"#,
            r#"{"kind":"sale","sale_id":"s-1","member_id":"m1","occurred_at":"2026-11-22T01:00:00+00:00","business_date":"2026-11-22","lines":[],"redeem_points":5,"coupon_ids":["c1"],"outcome":null}"#,
            r#"{"kind":"refund","refund_id":"r-1","sale_id":"s-1","member_id":null,"occurred_at":"2026-11-22T02:00:00+00:00","business_date":"2026-11-22","lines":[],"outcome":null}"#,
            r#"{"kind":"wish","member_id":"m1","item":"4901234567894","wants":["price_drop"],"occurred_at":"2026-12-02T01:00:00+00:00"}"#,
        ];
        for json in bodies {
            let body: EventBody = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&body).unwrap(), json);
            let (kind, fields) = json.split_once(',').unwrap();
            let kind_last = format!("{{{},{}}}", fields.trim_end_matches('}'), &kind[1..]);
            assert_eq!(serde_json::from_str::<EventBody>(&kind_last).unwrap(), body);
            let event = format!(
                r#"{{"event_id":"e1","seq":1,"store_id":"s1","terminal_id":"t1","recorded_at":"2026-11-22T10:00:00+00:00","body":{json}}}"#
            );
            assert_eq!(serde_json::from_str::<Event>(&event).unwrap().body, body);
        }
        for (json, says) in [
            (r#"{"member_id":"m1","code":"1"}"#, "missing field `kind`"),
            (
                r#"{"kind":"sold","sale_id":"s-1"}"#,
                "unknown variant `sold`",
            ),
            (
                r#"{"kind":"member_provisional","code":"1"}"#,
                "missing field `member_id`",
            ),
            (
                r#"{"code":"1","kind":"member_provisional"}"#,
                "missing field `member_id`",
            ),
            (r#"{"kind":["sale"]}"#, "expected a string"),
            (r#"[]"#, "expected an event body"),
        ] {
            let err = serde_json::from_str::<EventBody>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn content_hash_is_hex_sha256_of_the_json() {
        let e = provisional(1);
        let h = content_hash(&e);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(h, content_hash(&e.clone()));
        assert_ne!(h, content_hash(&provisional(2)));
        // The hash is of the bytes: the same event encoded is the same hash.
        assert_eq!(content_hash_of(encode(&e).unwrap().as_bytes()), h);
        // The bytes travel as they are in a push, whatever their key order or spacing.
        let stored = r#"{ "seq": 1, "event_id": "x" }"#.to_owned();
        let item = crate::sync::PushItem::from_stored(stored.clone()).unwrap();
        let wire = serde_json::to_string(&crate::sync::PushRequest { events: vec![item] }).unwrap();
        assert!(wire.contains(&stored), "{wire}");
        assert!(wire.contains(&content_hash_of(stored.as_bytes())), "{wire}");
    }
}
