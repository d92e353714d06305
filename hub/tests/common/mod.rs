//! A real hub for the tests: SQLite in a temporary directory, HTTP on 127.0.0.1, and helpers
//! that build events the way a terminal does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod backends;
pub mod binary;
pub mod line;
pub mod line_store;
pub mod wishes;
pub use tenpo_e2e::postgres;

use std::sync::Arc;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_hub::admin::client::AdminClient;
use tenpo_hub::api::{self, AppState};
use tenpo_hub::store::{HubStore, LineStore, SqliteStore};
use tenpo_loyalty::{Date, Line, MemberState, RuleSet, Sale, SaleOutcome, evaluate_sale};
use tenpo_protocol::events::{Event, EventBody, RefundEvent, SaleEvent, content_hash_of};
use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};
use tenpo_protocol::sync::{EnrollResponse, PushItem, PushRequest};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A hub serving on loopback, in this process (SQLite unless started on another store).
pub struct Hub<S: HubStore = SqliteStore> {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub store: Arc<S>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub struct Till {
    pub terminal_id: String,
    pub store_id: String,
    pub secret: String,
}

impl Till {
    pub fn auth(&self) -> String {
        format!("Bearer {}.{}", self.terminal_id, self.secret)
    }
}

pub async fn start() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir).await
}

pub async fn start_in(dir: tempfile::TempDir) -> Hub {
    start_with(dir, |_| {}).await
}

/// A hub whose state `configure` adjusts first (signup's LINE settings, say).
pub async fn start_with(
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut AppState<SqliteStore>),
) -> Hub {
    let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap());
    start_on(dir, store, configure).await
}

/// A hub serving `store` (a PostgreSQL store, say), its state adjusted by `configure` first.
pub async fn start_on<S: HubStore>(
    dir: tempfile::TempDir,
    store: Arc<S>,
    configure: impl FnOnce(&mut AppState<S>),
) -> Hub<S> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut state = AppState::new(store.clone(), ADMIN_TOKEN, chrono_tz::Asia::Tokyo);
    configure(&mut state);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        api::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Hub {
        base,
        dir,
        store,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl<S: HubStore> Hub<S> {
    /// Stops the server and hands back its directory (to start again on the same database).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let Hub { dir, store, .. } = self;
        drop(store);
        dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.base, ADMIN_TOKEN.into()).unwrap()
    }

    pub async fn load_demo_rules(&self) -> RuleSet {
        let rules = RuleSet::demo();
        self.admin()
            .load_rules(toml::to_string(&rules).unwrap())
            .await
            .unwrap();
        rules
    }

    pub async fn enroll(&self, store_id: &str) -> Till {
        self.enroll_as(store_id, None).await
    }

    /// Enrols a terminal of `store_id`, under the id `terminal_id` when given (new credentials
    /// for a terminal the hub knows, or makes).
    pub async fn enroll_as(&self, store_id: &str, terminal_id: Option<&str>) -> Till {
        let made = self
            .admin()
            .enrollment_code_for(store_id, terminal_id, None)
            .await
            .unwrap();
        let r = self
            .http
            .post(self.url("/v1/enroll"))
            .json(&json!({"code": made.code, "terminal_name": "till"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let e: EnrollResponse = r.json().await.unwrap();
        Till {
            terminal_id: e.terminal_id,
            store_id: e.store_id,
            secret: e.secret,
        }
    }

    /// Sends a push body exactly as given (its bytes are what the hub hashes).
    pub async fn push_body(&self, till: &Till, body: String) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url("/v1/events"))
            .header("authorization", till.auth())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    pub async fn push_items(&self, till: &Till, items: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url("/v1/events"))
            .header("authorization", till.auth())
            .json(&json!({ "events": items }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    /// Pushes events with their correct hashes; asserts 200.
    pub async fn push(&self, till: &Till, events: &[Event]) -> Value {
        let items: Vec<PushItem> = events.iter().map(stored_item).collect();
        let request = serde_json::to_string(&PushRequest { events: items }).unwrap();
        let (status, body) = self.push_body(till, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn changes(&self, till: &Till, cursor: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(&format!("/v1/changes?cursor={}", encode(cursor))))
            .header("authorization", till.auth())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    /// Reads the feed from `cursor` to its end; returns every change and the last cursor.
    pub async fn drain(&self, till: &Till, cursor: &str) -> (Vec<Value>, String) {
        let mut cursor = cursor.to_owned();
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let (status, body) = self.changes(till, &cursor).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            all.extend(body["changes"].as_array().unwrap().iter().cloned());
            cursor = body["next_cursor"].as_str().unwrap().to_owned();
            if !body["more"].as_bool().unwrap() {
                return (all, cursor);
            }
        }
        panic!("the feed never ended");
    }

    pub async fn lookup(&self, till: &Till, code: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(&format!("/v1/members/by-code/{code}")))
            .header("authorization", till.auth())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    /// The hub's member state for a code.
    pub async fn state(&self, code: &str) -> MemberState {
        self.store
            .member_by_code(code.into())
            .await
            .unwrap()
            .expect("member")
            .state
    }
}

/// A push item as JSON: the event and the hash of its bytes as they will be sent. (A
/// `serde_json::Value` writes its keys sorted, so the hash is of that writing; the hub hashes
/// whatever bytes arrive.)
pub fn item(event: &Event) -> Value {
    let event = serde_json::to_value(event).unwrap();
    let bytes = event.to_string();
    json!({"event": event, "content_hash": content_hash_of(bytes.as_bytes())})
}

/// A push item exactly as an agent sends it: the bytes it stored when it recorded the event.
pub fn stored_item(event: &Event) -> PushItem {
    PushItem::from_stored(tenpo_protocol::events::encode(event).unwrap()).unwrap()
}

pub fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// An event as a till records it: a sale or refund is recorded on its business date (the hub
/// refuses one recorded more than the late-recording window after it), anything else now.
pub fn event(till: &Till, seq: u64, body: EventBody) -> Event {
    let recorded_at = match &body {
        EventBody::Sale(SaleEvent { business_date, .. })
        | EventBody::Refund(RefundEvent { business_date, .. }) => {
            format!("{business_date}T03:00:00+00:00")
        }
        EventBody::Wish(w) => w.occurred_at.clone(),
        EventBody::MemberProvisional { .. } => Utc::now().to_rfc3339(),
    };
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        seq,
        store_id: till.store_id.clone(),
        terminal_id: till.terminal_id.clone(),
        recorded_at,
        body,
    }
}

pub fn provisional(till: &Till, seq: u64, member_id: &str, code: &str) -> Event {
    event(
        till,
        seq,
        EventBody::MemberProvisional {
            member_id: member_id.into(),
            code: code.into(),
        },
    )
}

pub fn lines(amount_yen: i64) -> Vec<Line> {
    vec![Line {
        sku: "tea".into(),
        category: None,
        quantity: 1,
        amount_yen,
    }]
}

/// A member sale as a till records it: evaluated on the till's view `state`.
#[allow(clippy::too_many_arguments)]
pub fn sale(
    till: &Till,
    seq: u64,
    member_id: Option<&str>,
    rules: &RuleSet,
    state: &MemberState,
    sale_id: &str,
    amount_yen: i64,
    redeem: i64,
) -> (Event, Option<SaleOutcome>) {
    let day = date("2026-11-20");
    let outcome = member_id.map(|_| {
        evaluate_sale(
            rules,
            state,
            &Sale {
                sale_id: sale_id.into(),
                store_id: till.store_id.clone(),
                business_date: day,
                lines: lines(amount_yen),
                redeem_points: redeem,
                coupon_ids: vec![],
            },
        )
        .unwrap()
    });
    let e = event(
        till,
        seq,
        EventBody::Sale(SaleEvent {
            sale_id: sale_id.into(),
            member_id: member_id.map(str::to_owned),
            occurred_at: Utc::now().to_rfc3339(),
            business_date: day,
            lines: lines(amount_yen),
            redeem_points: redeem,
            coupon_ids: vec![],
            outcome: outcome.clone(),
        }),
    );
    (e, outcome)
}

/// A card code with a valid check digit.
pub fn card(n: u64) -> String {
    tenpo_protocol::codes::with_check_digit(&format!("21{n:010}")).unwrap()
}

/// Imports members through the admin API: (code, points, spend, birthday).
pub async fn import(
    hub: &Hub,
    rows: &[(&str, i64, i64, Option<&str>)],
) -> tenpo_hub::admin::ImportReport {
    let rows = rows
        .iter()
        .enumerate()
        .map(
            |(i, (code, points, spend, birthday))| tenpo_hub::admin::ImportRow {
                line: i as u64 + 2,
                card_code: (*code).into(),
                points: *points,
                qualifying_spend_yen: *spend,
                birthday: birthday.map(str::to_owned),
            },
        )
        .collect();
    hub.admin().import_members(rows).await.unwrap()
}

pub fn statuses(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A LINE webhook event of `kind` from `user`, as LINE sends it.
pub fn line_event(kind: &str, id: &str, timestamp: i64, user: &str) -> Value {
    let mut e = json!({
        "type": kind, "mode": "active", "timestamp": timestamp,
        "source": {"type": "user", "userId": user},
        "webhookEventId": id, "deliveryContext": {"isRedelivery": false},
    });
    if kind == "follow" {
        e["replyToken"] = json!("nHuyWiB7yP5Zw52FIkcQobQuGDXCTA");
        e["follow"] = json!({"isUnblocked": false});
    }
    e
}

/// Delivers `events` to the hub's webhook through the stand-in, signed as LINE signs; the hub's status.
pub async fn deliver_webhook(standin: &str, hub: &Hub, events: Vec<Value>) -> u16 {
    let r: Value = reqwest::Client::new()
        .post(format!("{standin}/standin/webhooks"))
        .json(&json!({"url": hub.url("/line/webhook"), "events": events}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["status"].as_u64().unwrap() as u16
}

/// A signup token the till would show, signed with its secret.
pub fn signup_token(till: &Till, kind: SignupKind, card: Option<&str>, expires_in: i64) -> String {
    let mut nonce = [0u8; wire::NONCE_LEN];
    getrandom_fill(&mut nonce);
    let t = SignupToken {
        kind,
        store_id: till.store_id.clone(),
        terminal_id: till.terminal_id.clone(),
        expires_at: Utc::now().timestamp() + expires_in,
        nonce,
        card_code: card.map(str::to_owned),
    };
    wire::sign(&t, &wire::signing_key(&till.secret)).unwrap()
}

fn getrandom_fill(out: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst).to_be_bytes();
    let t = Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .to_be_bytes();
    for (i, b) in out.iter_mut().enumerate() {
        *b = n[i % 8] ^ t[(i + 3) % 8];
    }
}

/// `user` signs up with LINE at `till`'s kiosk (the stand-in issues their ID token for LINE
/// Login `channel`); their member id.
pub async fn sign_up_with_line(
    hub: &Hub,
    till: &Till,
    standin: &tenpo_line::standin::StandIn,
    channel: &str,
    user: &str,
) -> String {
    link_with_line(hub, till, standin, channel, user, None).await
}

/// The same, or with `card`: the paper card's member linked to `user`'s LINE account.
pub async fn link_with_line(
    hub: &Hub,
    till: &Till,
    standin: &tenpo_line::standin::StandIn,
    channel: &str,
    user: &str,
    card: Option<&str>,
) -> String {
    let kind = match card {
        Some(_) => SignupKind::CardLink,
        None => SignupKind::Signup,
    };
    let token = signup_token(till, kind, card, 300);
    let id_token = standin
        .id_token(&tenpo_line::standin::IdTokenClaims::new(channel, user, 600))
        .unwrap();
    let r = hub
        .http
        .post(hub.url(&format!("/v1/signups/{token}/complete")))
        .json(&json!({ "id_token": id_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let member = hub.store.member_by_line_user(user.into()).await;
    member.unwrap().unwrap().member_id
}
