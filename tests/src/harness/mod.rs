//! Real processes for end-to-end tests: the hub, agents, their CLIs and HTTP APIs.
//!
//! Every wait is a bounded poll; every child is killed when its handle is dropped (a failing
//! test leaves no process behind). Each test's files live in one temporary directory; when a
//! test panics, the tail of every process log is printed, and with `TENPO_E2E_KEEP=1` the
//! directory is kept for inspection.
//!
//! This file is the world (its directory, logs, polling, running a CLI); `hub.rs` drives the
//! hub process and its admin CLI, `agent.rs` an agent process and its local API.
#![allow(clippy::expect_used)]

use std::ffi::OsStr;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::admin::{TerminalEvents, TerminalView};
use tenpo_protocol::events::{Event, content_hash_of};
use tenpo_protocol::sync::MemberSnapshot;
use tokio::process::{Child, Command};

mod agent;
mod hub;
mod line;

pub use agent::{Agent, AgentEvent, Credential, Export, Reply};
pub use hub::{Hub, HubEvent, HubLedger, PushTotals};
pub use line::LineStandIn;

/// The demo program as TOML: what the hub loads and the agents start with.
pub const DEMO_RULES_TOML: &str = include_str!("../../../loyalty/examples/demo-rules.toml");
/// The admin token of every test hub (passed in the environment, never on a command line).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";
/// A CLI command (enrol, sync, export, admin) that takes longer is a failure.
const CLI_TIMEOUT: Duration = Duration::from_secs(90);
/// A process that does not answer its health check within this is a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A binary of the workspace, next to the test executable (`target/<profile>/NAME`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/
    let profile_dir = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .expect("the target directory");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test --workspace`, which builds it (or `cargo build -p {name}` \
         before `cargo test -p tenpo-e2e`)",
        path.display()
    );
    warn_if_stale(name, &path);
    path
}

/// `cargo test -p tenpo-e2e` alone does not rebuild the binaries: say so once when a source
/// file is newer than the binary under test.
fn warn_if_stale(name: &str, path: &Path) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if warned.iter().any(|w| w == name) {
        return;
    }
    warned.push(name.to_owned());
    let Ok(built) = std::fs::metadata(path).and_then(|m| m.modified()) else {
        return;
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    // The crates each binary is built from.
    let sources: &[&str] = if name == "tenpo-hub" {
        &["hub/src", "protocol/src", "loyalty/src"]
    } else {
        &["agent/src", "protocol/src", "loyalty/src", "hw/src"]
    };
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut dirs: Vec<PathBuf> = sources.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if let Ok(t) = entry.metadata().and_then(|m| m.modified())
                && newest.as_ref().is_none_or(|(n, _)| t > *n)
            {
                newest = Some((t, p));
            }
        }
    }
    if let Some((t, file)) = newest
        && t > built
    {
        eprintln!(
            "warning: {} is older than {}: these tests run the binary as built; run `cargo \
             build -p tenpo-agent -p tenpo-hub` (or `cargo test --workspace`) first",
            path.display(),
            file.display()
        );
    }
}

/// A port free on 127.0.0.1 now (bound to 0 and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `check` every 25 ms until it returns `Some`, for at most `limit`; `None` if it never
/// does.
pub async fn poll_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// [`poll_for`], panicking naming `what` if `check` never returns `Some`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_for(limit, check).await {
        Some(v) => v,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// [`wait_for`] a condition.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, limit, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await;
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// A program killed (SIGKILL) and reaped when this is dropped, a test that fails half-way
/// included.
#[derive(Debug)]
pub struct KilledOnDrop(pub std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A program whose log nobody reads, as a journal that stopped reading: `program` started at the
/// `info` level, listening (`--listen`) on a free loopback port, with its standard error a pipe
/// kept open and never read. Returns once its `/v1/health` answers (within 20 s): the program,
/// its base URL and a client whose requests end within 10 s.
pub async fn start_with_unread_log(
    mut program: std::process::Command,
) -> (KilledOnDrop, String, reqwest::Client) {
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let child = KilledOnDrop(
        program
            .args(["--listen", &listen])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the program"),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let health = format!("{base}/v1/health");
    wait_until(&health, Duration::from_secs(20), || async {
        client
            .get(&health)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    (child, base, client)
}

/// Sends the `count` requests `request(n)` makes, one after the other, and asserts that each is
/// answered (the client's own timeout bounds the wait) with a success; the panic names `what` and
/// the one that was not.
pub async fn each_answered(
    what: &str,
    count: usize,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) {
    for n in 0..count {
        let answer = request(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what} {n} of {count} got no answer: {e}"));
        assert!(
            answer.status().is_success(),
            "{what} {n}: {}",
            answer.status()
        );
    }
}

/// Whether a line of the log file at `path` passes `says`, looking again for up to 5 s. The
/// programs write their logs from a thread of their own, so the line of a request lands a moment
/// after its answer, not before.
pub async fn logged(path: &Path, says: impl Fn(&str) -> bool) -> bool {
    poll_for(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found = text.lines().any(&says).then_some(());
        async move { found }
    })
    .await
    .is_some()
}

/// The value of the sample `name` (one without labels) in `/metrics`' text `text`; panics
/// naming it if there is none.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command with a timeout; `Ok(stdout)` on exit 0, else `Err` with both outputs.
async fn run_cli(mut cmd: Command, what: &str) -> Result<String, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = match tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => return Err(format!("{what} did not finish within {CLI_TIMEOUT:?}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{what} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        ))
    }
}

/// Sends SIGTERM (through `kill(1)`: the workspace forbids `unsafe`, so no `libc::kill`).
async fn sigterm(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
}

/// Stops a child: SIGTERM, then SIGKILL if it has not exited within 15 s.
async fn stop_child(child: &mut Child) {
    sigterm(child).await;
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("a log file")
}

/// One test's directory, rules and logs.
#[derive(Debug)]
pub struct World {
    pub name: String,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    pub rules: RuleSet,
    started: Instant,
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {}: logs of the failed test (last lines) ----",
                self.name
            );
            let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.path)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            logs.sort();
            for log in logs
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
            {
                eprintln!("==== {} ====\n{}", log.display(), tail(log, 60));
            }
        }
        if std::env::var_os("TENPO_E2E_KEEP").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("{}: files kept in {}", self.name, dir.keep().display());
        }
    }
}

impl World {
    pub fn new(name: &str) -> World {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tenpo-e2e-{name}-"))
            .tempdir()
            .expect("a temporary directory");
        let path = dir.path().to_owned();
        std::fs::write(path.join("rules.toml"), DEMO_RULES_TOML).expect("the rules file");
        World {
            name: name.to_owned(),
            dir: Some(dir),
            path,
            rules: RuleSet::demo(),
            started: Instant::now(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The demo program as a TOML file.
    pub fn rules_file(&self) -> PathBuf {
        self.path.join("rules.toml")
    }

    /// Seconds since the world was made, for summaries.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Writes a member import file: `(card code, points, qualifying spend)` per row.
    pub fn members_csv(&self, file: &str, rows: &[(String, i64, i64)]) -> PathBuf {
        let mut text = String::from("card_code,points,qualifying_spend_yen,birthday\n");
        for (code, points, spend) in rows {
            text.push_str(&format!("{code},{points},{spend},\n"));
        }
        let path = self.path.join(file);
        std::fs::write(&path, text).expect("the import file");
        path
    }

    /// Starts a hub on a free port with its data in `<world>/hub`, and loads the demo rules.
    pub async fn start_hub(&self) -> Hub {
        self.start_hub_with("").await
    }

    /// The same, with `config` as its config file (TOML).
    pub async fn start_hub_with(&self, config: &str) -> Hub {
        let file = (!config.is_empty()).then(|| {
            let file = self.path.join("hub.toml");
            std::fs::write(&file, config).expect("the hub's config file");
            file
        });
        let mut hub = Hub {
            dir: self.path.join("hub"),
            port: free_port(),
            child: None,
            log: self.path.join("hub.log"),
            http: http(),
            config: file,
            env: Vec::new(),
        };
        hub.start().await;
        hub.load_rules(&self.rules_file()).await;
        hub
    }

    /// Starts a hub process named `name` keeping its data in the PostgreSQL database at
    /// `database` (given in the environment, as IT would), on a free port, with its own log
    /// (`hub-NAME.log`) and data directory (its admin token). Loads no rules: the database may
    /// have them already.
    pub async fn start_hub_on(&self, name: &str, database: &str) -> Hub {
        let mut hub = Hub {
            dir: self.path.join(format!("hub-{name}")),
            port: free_port(),
            child: None,
            log: self.path.join(format!("hub-{name}.log")),
            http: http(),
            config: None,
            env: vec![("TENPO_HUB_DATABASE_URL".into(), database.into())],
        };
        hub.start().await;
        hub
    }

    /// Enrols a new terminal of `store` with the hub at `hub_url` (a proxy's URL: the agent
    /// keeps it in `hub.json` and syncs through it). Not started.
    pub async fn enroll_agent(&self, name: &str, hub: &Hub, store: &str, hub_url: &str) -> Agent {
        let code = hub.enroll_code(store).await;
        let dir = self.path.join(format!("agent-{name}"));
        std::fs::create_dir_all(&dir).expect("the agent's data directory");
        let mut cmd = Command::new(bin("tenpo-agent"));
        cmd.args(["enroll", "--hub", hub_url, "--code", &code, "--data-dir"])
            .arg(&dir);
        let out = run_cli(cmd, "tenpo-agent enroll")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let agent = Agent {
            name: name.to_owned(),
            dir,
            port: free_port(),
            child: None,
            log: self.path.join(format!("agent-{name}.log")),
            http: http(),
            token: String::new(),
            args: Vec::new(),
            rules_file: self.rules_file(),
        };
        let terminal = agent.terminal_id();
        assert!(
            out.contains(&terminal),
            "`tenpo-agent enroll` should print the terminal id {terminal}; it printed {out:?}"
        );
        agent
    }
}

/// A sale body for the local API: one line per amount (`sku` `item-<i>`).
pub fn sale_body(sale_id: &str, code: Option<&str>, amounts: &[i64], redeem: i64) -> Value {
    let lines: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"sku": format!("item-{i}"), "quantity": 1, "amount_yen": a}))
        .collect();
    let mut body = json!({"sale_id": sale_id, "lines": lines});
    if let Some(code) = code {
        body["member_code"] = json!(code);
    }
    if redeem > 0 {
        body["redeem_points"] = json!(redeem);
    }
    body
}

/// A refund body taking back line `index` (of amount `amount`) of a sale made by
/// [`sale_body`].
pub fn refund_body(refund_id: &str, index: usize, amount: i64) -> Value {
    json!({
        "refund_id": refund_id,
        "lines": [{"sku": format!("item-{index}"), "quantity": 1, "amount_yen": amount}],
    })
}

/// `status.sync.<field>` as an integer (0 when absent).
pub fn sync_u64(status: &Value, field: &str) -> u64 {
    status["sync"][field].as_u64().unwrap_or(0)
}
