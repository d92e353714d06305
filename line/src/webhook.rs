//! Webhook bodies, typed: what LINE posts to `POST /line/webhook` once its signature has been
//! checked ([`crate::signature`]). Shapes from LINE's Messaging API reference ("Webhook Event
//! Objects"): `{"destination": "{bot user id}", "events": [...]}`, each event with `type`,
//! `timestamp` (ms), `source`, `webhookEventId` (a ULID, the key for deduplication),
//! `deliveryContext.isRedelivery` and `mode`.
//!
//! The kinds tenpo acts on are typed; any other kind is kept as [`EventKind::Unknown`] with its
//! JSON, never a failure (LINE adds kinds without notice). A body that is not this shape at all
//! is an error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A webhook request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The bot's user id: which official account the events are for.
    pub destination: String,
    pub events: Vec<WebhookEvent>,
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// A ULID, unique per event; redeliveries carry the same one.
    pub webhook_event_id: String,
    /// When it happened at LINE (milliseconds since the epoch): events are ordered by this, not
    /// by arrival.
    pub timestamp: i64,
    pub source: Option<Source>,
    /// LINE sends it again because an earlier delivery was not answered 200.
    pub is_redelivery: bool,
    /// `active`, or `standby` when another channel handles the chat.
    pub mode: String,
    pub kind: EventKind,
}

/// Who the event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    User {
        /// Personal data: never logged.
        #[serde(rename = "userId")]
        user_id: String,
    },
    Group {
        #[serde(rename = "groupId")]
        group_id: String,
        #[serde(rename = "userId", default)]
        user_id: Option<String>,
    },
    Room {
        #[serde(rename = "roomId")]
        room_id: String,
        #[serde(rename = "userId", default)]
        user_id: Option<String>,
    },
}

impl Source {
    /// The LINE user behind the event, when LINE says who.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Source::User { user_id } => Some(user_id),
            Source::Group { user_id, .. } | Source::Room { user_id, .. } => user_id.as_deref(),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The user added the account as a friend, or unblocked it (`is_unblocked`).
    Follow {
        is_unblocked: bool,
        reply_token: Option<String>,
    },
    /// The user blocked the account: nothing more may be sent to them in LINE.
    Unfollow,
    /// A message from the user; `text` for text messages.
    Message {
        message_type: String,
        text: Option<String>,
        reply_token: Option<String>,
    },
    /// A tap on a postback action (a rich menu area, a button).
    Postback {
        data: String,
        reply_token: Option<String>,
    },
    /// The end of LINE's account-link flow.
    AccountLink {
        ok: bool,
        nonce: String,
        reply_token: Option<String>,
    },
    /// A kind tenpo does not act on, kept as LINE sent it.
    Unknown { kind: String, raw: Value },
}

impl EventKind {
    /// LINE's name of the kind.
    pub fn name(&self) -> &str {
        match self {
            EventKind::Follow { .. } => "follow",
            EventKind::Unfollow => "unfollow",
            EventKind::Message { .. } => "message",
            EventKind::Postback { .. } => "postback",
            EventKind::AccountLink { .. } => "accountLink",
            EventKind::Unknown { kind, .. } => kind,
        }
    }
}

/// A body that is not a webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a LINE webhook body: {0}")]
pub struct WebhookError(pub String);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBody {
    destination: String,
    events: Vec<RawEvent>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeliveryContext {
    #[serde(default)]
    is_redelivery: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    webhook_event_id: String,
    timestamp: i64,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    delivery_context: DeliveryContext,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    reply_token: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Follow {
    #[serde(default)]
    is_unblocked: bool,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Postback {
    data: String,
}

#[derive(Deserialize)]
struct Link {
    result: String,
    nonce: String,
}

fn part<T: serde::de::DeserializeOwned>(
    rest: &mut Map<String, Value>,
    key: &str,
    kind: &str,
) -> Result<T, WebhookError> {
    let value = rest.remove(key).unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| {
        WebhookError(format!(
            "a {kind} event's `{key}` is not as LINE sends it: {e}"
        ))
    })
}

fn event(raw: RawEvent) -> Result<WebhookEvent, WebhookError> {
    let RawEvent {
        kind,
        webhook_event_id,
        timestamp,
        source,
        delivery_context,
        mode,
        reply_token,
        mut rest,
    } = raw;
    if webhook_event_id.is_empty() || webhook_event_id.len() > 64 {
        return Err(WebhookError(
            "an event's webhookEventId is empty or longer than 64 characters".into(),
        ));
    }
    // A source of a kind tenpo does not know (LINE may add one) is no source, not a failure.
    let source = source.and_then(|v| serde_json::from_value::<Source>(v).ok());
    let typed = match kind.as_str() {
        "follow" => {
            let follow: Option<Follow> = part(&mut rest, "follow", "follow")?;
            EventKind::Follow {
                is_unblocked: follow.is_some_and(|f| f.is_unblocked),
                reply_token,
            }
        }
        "unfollow" => EventKind::Unfollow,
        "message" => {
            let m: Message = part(&mut rest, "message", "message")?;
            EventKind::Message {
                message_type: m.kind,
                text: m.text,
                reply_token,
            }
        }
        "postback" => {
            let p: Postback = part(&mut rest, "postback", "postback")?;
            EventKind::Postback {
                data: p.data,
                reply_token,
            }
        }
        "accountLink" => {
            let l: Link = part(&mut rest, "link", "accountLink")?;
            EventKind::AccountLink {
                ok: l.result == "ok",
                nonce: l.nonce,
                reply_token,
            }
        }
        _ => {
            if let Some(token) = reply_token {
                rest.insert("replyToken".into(), Value::String(token));
            }
            EventKind::Unknown {
                kind: kind.clone(),
                raw: Value::Object(rest),
            }
        }
    };
    Ok(WebhookEvent {
        webhook_event_id,
        timestamp,
        source,
        is_redelivery: delivery_context.is_redelivery,
        mode,
        kind: typed,
    })
}

/// Parses a webhook body (after its signature was checked).
pub fn parse(body: &[u8]) -> Result<Webhook, WebhookError> {
    let raw: RawBody = serde_json::from_slice(body).map_err(|e| WebhookError(e.to_string()))?;
    Ok(Webhook {
        destination: raw.destination,
        events: raw
            .events
            .into_iter()
            .map(event)
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Examples in the shapes of LINE's Messaging API reference.
    const BODY: &str = r#"{
      "destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      "events": [
        {"type": "follow", "mode": "active", "timestamp": 1462629479859,
         "source": {"type": "user", "userId": "U4af4980629000000000000000000000a"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
         "deliveryContext": {"isRedelivery": false},
         "replyToken": "85cbe770fa8b4f45bbe077b1d4be4a36", "follow": {"isUnblocked": true}},
        {"type": "unfollow", "mode": "active", "timestamp": 1462629479960,
         "source": {"type": "user", "userId": "U4af4980629000000000000000000000a"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZS",
         "deliveryContext": {"isRedelivery": true}},
        {"type": "message", "mode": "active", "timestamp": 1462629479961,
         "source": {"type": "group", "groupId": "Ca56f94637c", "userId": "U4af49806290"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZT",
         "deliveryContext": {"isRedelivery": false}, "replyToken": "r1",
         "message": {"id": "444573844083572737", "type": "text", "quoteToken": "q", "text": "こんにちは"}},
        {"type": "postback", "mode": "active", "timestamp": 1462629479962,
         "source": {"type": "user", "userId": "U1"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZV",
         "deliveryContext": {"isRedelivery": false}, "replyToken": "r2",
         "postback": {"data": "action=card", "params": {}}},
        {"type": "accountLink", "mode": "active", "timestamp": 1462629479963,
         "source": {"type": "user", "userId": "U1"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZW",
         "deliveryContext": {"isRedelivery": false}, "replyToken": "r3",
         "link": {"result": "failed", "nonce": "xxxxxxxxxxxxxxx"}},
        {"type": "membership", "mode": "active", "timestamp": 1462629479964,
         "source": {"type": "somethingNew", "id": "x"},
         "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZX",
         "deliveryContext": {"isRedelivery": false},
         "membership": {"type": "joined", "membershipId": 3189}}
      ]
    }"#;

    #[test]
    fn every_kind_is_typed_and_unknown_kinds_are_kept() {
        let w = parse(BODY.as_bytes()).unwrap();
        assert_eq!(w.destination, "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        let kinds: Vec<&str> = w.events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "follow",
                "unfollow",
                "message",
                "postback",
                "accountLink",
                "membership"
            ]
        );
        let e = &w.events[0];
        assert_eq!(e.webhook_event_id, "01FZ74A0TDDPYRVKNK77XKC3ZR");
        assert_eq!(e.timestamp, 1_462_629_479_859);
        assert_eq!(
            e.source.as_ref().and_then(Source::user_id),
            Some("U4af4980629000000000000000000000a")
        );
        assert_eq!(
            e.kind,
            EventKind::Follow {
                is_unblocked: true,
                reply_token: Some("85cbe770fa8b4f45bbe077b1d4be4a36".into())
            }
        );
        assert!(w.events[1].is_redelivery);
        assert_eq!(w.events[1].kind, EventKind::Unfollow);
        assert_eq!(
            w.events[2].kind,
            EventKind::Message {
                message_type: "text".into(),
                text: Some("こんにちは".into()),
                reply_token: Some("r1".into())
            }
        );
        assert_eq!(
            w.events[2].source.as_ref().and_then(Source::user_id),
            Some("U4af49806290")
        );
        assert_eq!(
            w.events[3].kind,
            EventKind::Postback {
                data: "action=card".into(),
                reply_token: Some("r2".into())
            }
        );
        assert!(matches!(
            w.events[4].kind,
            EventKind::AccountLink { ok: false, .. }
        ));
        match &w.events[5].kind {
            EventKind::Unknown { kind, raw } => {
                assert_eq!(kind, "membership");
                assert_eq!(raw["membership"]["membershipId"], 3189);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            w.events[5].source, None,
            "an unknown source kind is no source"
        );
    }

    #[test]
    fn what_is_not_a_webhook_is_refused() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"destination": "U0"}"#,
            r#"{"destination": "U0", "events": {}}"#,
            r#"{"destination": "U0", "events": [{"type": "follow"}]}"#,
            r#"{"destination": "U0", "events": [{"type": "follow", "timestamp": 1, "webhookEventId": ""}]}"#,
            r#"{"destination": "U0", "events": [{"type": "postback", "timestamp": 1, "webhookEventId": "a"}]}"#,
            r#"{"destination": "U0", "events": [{"type": "follow", "timestamp": "soon", "webhookEventId": "a"}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        // The smallest real body: no events (LINE's "verify" button sends this).
        let w = parse(br#"{"destination": "U0", "events": []}"#).unwrap();
        assert!(w.events.is_empty());
    }
}
