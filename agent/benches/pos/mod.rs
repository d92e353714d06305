//! The POS's side of the till benches: the agent as the till runs it (its own process on
//! loopback) and a client that sends a request and waits for its answer on one thread.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenpo_e2e::harness::free_port;

/// The agent as the till runs it.
pub struct Agent {
    pub child: Child,
    pub url: String,
    pub token: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// Stops the agent as a service manager does (SIGTERM) and waits for it to exit, so that
    /// its database is closed and whole.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let stopped = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(stopped, "could not signal the agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the agent did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `tenpo-agent run` (built at `bin`) on `dir` with the rules at `rules` and the arguments
/// `extra`, on a free port. An agent enrolled in `dir` syncs with its hub; one that is not runs
/// standalone, and needs its store's and terminal's ids in `extra`. It logs at `warn`, so that its
/// log holds only what went wrong, unless `TENPO_BENCH_AGENT_LOG` names another level (`info`,
/// a till's own, writes a line a sale).
pub fn start_agent(bin: &Path, dir: &Path, rules: &Path, extra: &[&str]) -> Agent {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    let child = Command::new(bin)
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .arg("--rules")
        .arg(rules)
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("TENPO_BENCH_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let token = std::fs::read_to_string(dir.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();
    Agent { child, url, token }
}

/// The POS's side of the socket: one thread that sends a request and waits for its answer. A
/// runtime of its own on this thread drives the connection where the request is made; a
/// multi-thread runtime would hand each request to a worker and its answer back, a wake-up
/// each way that the sale's time carried and the commit's floor did not (until 2026-12-06;
/// docs/benchmarks.md).
pub struct Pos {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Pos {
    pub fn new() -> Pos {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Pos {
            rt,
            http: reqwest::Client::new(),
        }
    }

    /// `POST /v1/sales` of `body`, timed to the last byte of the answer.
    pub fn sell(&self, agent: &Agent, body: &Value) -> Duration {
        let t = Instant::now();
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/v1/sales", agent.url))
                .bearer_auth(&agent.token)
                .json(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "sale refused: {}", r.status());
            r.bytes().await.unwrap();
        });
        t.elapsed()
    }

    /// `GET {url}{path}` with the agent's token, timed to the last byte of the answer.
    pub fn get(&self, agent: &Agent, path: &str) -> Duration {
        let t = Instant::now();
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", agent.url))
                .bearer_auth(&agent.token)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.bytes().await.unwrap();
        });
        t.elapsed()
    }

    /// `GET {url}/v1/health`, timed to the last byte of the answer.
    pub fn health(&self, url: &str) -> Duration {
        let t = Instant::now();
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{url}/v1/health"))
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap();
        });
        t.elapsed()
    }

    /// The events the agent has not yet had acknowledged, from `GET /v1/status`.
    pub fn pending(&self, agent: &Agent) -> Option<u64> {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}/v1/status", agent.url))
                .bearer_auth(&agent.token)
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            v["pending_events"].as_u64()
        })
    }
}

/// Sale `i` of a rep tagged `tag`, to one of `cards` members' cards (none: no card).
pub fn sale_body(tag: &str, i: usize, cards: usize) -> Value {
    let mut body = json!({
        "sale_id": format!("{tag}-{i:06}"),
        "lines": [{"sku": "4901234567894", "quantity": 1, "amount_yen": 500 + (i % 50) as i64}],
    });
    if cards > 0 {
        body["member_code"] = tenpo_agent::demo::jan(&format!("22{:010}", i % cards)).into();
    }
    body
}

/// Percentile `p` of `v`, in ms.
pub fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

/// The median over reps of each rep's percentile `p`, in ms.
pub fn median_of(reps: &mut [Vec<Duration>], p: f64) -> f64 {
    let mut each: Vec<f64> = reps.iter_mut().map(|r| pct(r, p)).collect();
    each.sort_by(f64::total_cmp);
    each[each.len() / 2]
}
