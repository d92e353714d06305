//! A real agent for tests: its store in a temporary directory, its API on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tenpo_agent::api::{self, AppState};
use tenpo_agent::ledger::Ledger;
use tenpo_agent::store::{Identity, Store};
use tenpo_loyalty::RuleSet;
use tokio::sync::oneshot;

pub const STANDARD: &str = "2000000000015"; // demo member, standard tier, 1,250 points
pub const PREMIER: &str = "2000000000022"; // demo member, premier, 4,800 points, coupon demo-welcome-500
pub const NEW_CARD: &str = "2000000000046"; // valid, not yet a member

pub struct TestAgent {
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Arc<Store>,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    running: tenpo_agent::scan::Running,
}

impl TestAgent {
    pub async fn start() -> TestAgent {
        Self::start_with(
            &[],
            tenpo_hw::CodeRules {
                codabar_check: tenpo_hw::CodabarCheck::Mod16,
                card_keys: tenpo_hw::KeyRing::new(),
                card_skew_secs: 60,
            },
        )
        .await
    }

    /// An agent with scanners running and the given code rules.
    pub async fn start_with(
        scanners: &[tenpo_hw::source::ScannerConfig],
        code_rules: tenpo_hw::CodeRules,
    ) -> TestAgent {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("tenpo.db")).unwrap());
        let ledger = Arc::new(Ledger::new(
            store.clone(),
            Arc::new(RuleSet::demo()),
            code_rules,
            chrono_tz::Asia::Tokyo,
            Identity {
                store_id: "store-1".into(),
                terminal_id: "till-1".into(),
            },
        ));
        let now = Utc::now();
        tenpo_agent::demo::seed(
            &store,
            &ledger.rules(),
            ledger.business_date(now),
            &now.to_rfc3339(),
        )
        .unwrap();
        let token = api::auth::load_or_create(dir.path()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let scans = Arc::new(tenpo_agent::scan::Pipeline::new(
            ledger.clone(),
            Arc::new(tenpo_agent::scan::Scanners::new(scanners)),
            std::time::Duration::from_millis(500),
        ));
        let running = tenpo_agent::scan::start(scans.clone(), scanners).unwrap();
        let state = AppState {
            ledger,
            token: token.clone().into(),
            scans,
            sync: None,
            in_flight: Default::default(),
        };
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestAgent {
            url,
            token,
            client: reqwest::Client::new(),
            store,
            dir,
            stop: Some(stop),
            running,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string().into_bytes(), Some(&self.token))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Everything the agent has written: counts of each table and every member's state.
    pub fn fingerprint(&self) -> String {
        self.store
            .read(|c| {
                let mut out = String::new();
                for table in [
                    "outbox",
                    "sales",
                    "refunds",
                    "wishes",
                    "members",
                    "member_states",
                    "member_codes",
                    "quarantine",
                ] {
                    let n: i64 =
                        c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
                    out.push_str(&format!("{table}={n};"));
                }
                let mut s = c.prepare(
                    "SELECT m.member_id, quote(s.state) || quote(m.snapshot) FROM members m
                     LEFT JOIN member_states s ON s.member_id = m.member_id ORDER BY m.member_id",
                )?;
                let rows = s.query_map([], |r| {
                    Ok(format!(
                        "{}:{}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?
                    ))
                })?;
                for row in rows {
                    out.push_str(&row?);
                }
                Ok(out)
            })
            .unwrap()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.running.stop();
    }
}

pub fn sale(id: &str, code: Option<&str>, amount: i64) -> Value {
    let mut v = serde_json::json!({
        "sale_id": id,
        "lines": [{"sku": "tea", "quantity": 1, "amount_yen": amount}],
    });
    if let Some(c) = code {
        v["member_code"] = c.into();
    }
    v
}
