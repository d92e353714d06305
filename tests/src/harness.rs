//! Real processes for end-to-end tests: the hub, agents, their CLIs and HTTP APIs.
//!
//! Every wait is a bounded poll; every child is killed when its handle is dropped (a failing
//! test leaves no process behind). Each test's files live in one temporary directory; when a
//! test panics, the tail of every process log is printed, and with `TENPO_E2E_KEEP=1` the
//! directory is kept for inspection.
#![allow(clippy::expect_used)]

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

/// The demo program as TOML: what the hub loads and the agents start with.
pub const DEMO_RULES_TOML: &str = include_str!("../../loyalty/examples/demo-rules.toml");
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

/// Polls `check` every 25 ms until it returns `Some`, for at most `limit`; panics naming
/// `what` if it never does.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
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
        let mut hub = Hub {
            dir: self.path.join("hub"),
            port: free_port(),
            child: None,
            log: self.path.join("hub.log"),
            http: http(),
        };
        hub.start().await;
        hub.load_rules(&self.rules_file()).await;
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

/// The hub process.
#[derive(Debug)]
pub struct Hub {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    http: reqwest::Client,
}

/// One event slot as the hub holds it (`events` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEvent {
    pub terminal_id: String,
    pub seq: u64,
    pub event_id: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub hash: String,
}

impl Hub {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the hub (same data directory, same port) and waits until it answers.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "the hub is already running");
        let mut cmd = Command::new(bin("tenpo-hub"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .env("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file(&self.log))
            .stderr(log_file(&self.log))
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("cannot start tenpo-hub"));
        let url = format!("{}/v1/health", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "tenpo-hub exited at start ({status}):\n{}",
                    tail(&self.log, 30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "tenpo-hub did not answer at {url} within {READY_TIMEOUT:?}:\n{}",
                tail(&self.log, 30)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL the hub");
        }
    }

    /// SIGTERM (a clean stop), SIGKILL after 15 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child).await;
        }
    }

    /// Runs a `tenpo-hub` admin command against this hub; panics if it fails.
    pub async fn admin(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(bin("tenpo-hub"));
        cmd.args(args)
            .args(["--hub", &self.url()])
            .env("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn");
        run_cli(cmd, &format!("tenpo-hub {}", args.join(" ")))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `tenpo-hub backup` of this hub's database to `to`, taken while it runs.
    pub async fn backup(&self, to: &Path) {
        let mut cmd = Command::new(bin("tenpo-hub"));
        cmd.arg("backup")
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--to")
            .arg(to)
            .env("RUST_LOG", "warn");
        run_cli(cmd, "tenpo-hub backup")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A one-time enrolment code for `store` (`tenpo-hub enroll-code`).
    pub async fn enroll_code(&self, store: &str) -> String {
        self.enroll_code_for(store, None).await
    }

    /// A one-time enrolment code for `store`, or for its terminal `terminal` (new credentials,
    /// the same terminal).
    pub async fn enroll_code_for(&self, store: &str, terminal: Option<&str>) -> String {
        let mut args = vec!["enroll-code", "--store", store];
        if let Some(terminal) = terminal {
            args.extend(["--terminal", terminal]);
        }
        let out = self.admin(&args).await;
        out.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("enrolment code for store {store}: "))
                    .map(|c| c.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no enrolment code in {out:?}"))
    }

    pub async fn load_rules(&self, file: &Path) {
        let file = file.to_string_lossy();
        self.admin(&["load-rules", &file]).await;
    }

    /// Imports members from a CSV file; panics if a row is rejected.
    pub async fn import_members(&self, csv: &Path) {
        let file = csv.to_string_lossy();
        let out = self.admin(&["import-members", &file]).await;
        assert!(
            out.contains(" 0 rows rejected"),
            "the import rejected rows: {out}"
        );
    }

    /// The hub's conflict list (`tenpo-hub conflicts --json`).
    pub async fn conflicts(&self) -> Vec<Value> {
        let out = self.admin(&["conflicts", "--json"]).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("conflicts JSON: {e}: {out}"))
    }

    /// The hub's discrepancy list (`tenpo-hub discrepancies --json`).
    pub async fn discrepancies(&self) -> Vec<Value> {
        let out = self.admin(&["discrepancies", "--json"]).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("discrepancies JSON: {e}: {out}"))
    }

    /// The hub's snapshot of the member a code names (its online lookup, with a terminal's
    /// credentials, straight to the hub); `None` when the hub knows no such code.
    pub async fn member(&self, code: &str, credential: &Credential) -> Option<MemberSnapshot> {
        let r = self
            .http
            .get(format!("{}/v1/members/by-code/{code}", self.url()))
            .header("authorization", credential.bearer())
            .send()
            .await
            .expect("the hub's online lookup");
        match r.status().as_u16() {
            200 => Some(r.json().await.expect("a member snapshot")),
            404 => None,
            s => panic!(
                "the hub's lookup of {code} answered {s}: {}",
                r.text().await.unwrap_or_default()
            ),
        }
    }

    /// What the hub's log says it did with every push: one line per push with counts.
    pub fn push_totals(&self) -> PushTotals {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut t = PushTotals::default();
        let field = |line: &str, name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        for line in text
            .lines()
            .filter(|l| l.contains(" push ") && l.contains("acked_through="))
        {
            t.pushes += 1;
            t.stored += field(line, "stored");
            t.duplicate += field(line, "duplicate");
            t.conflict += field(line, "conflict");
            t.rejected += field(line, "rejected");
        }
        t
    }

    /// Every event slot the hub holds and every terminal's mark, through its audit path
    /// (`tenpo-hub terminals` and `tenpo-hub events`), as IT would ask: never from its tables.
    pub async fn ledger(&self) -> HubLedger {
        let out = self.admin(&["terminals", "--json"]).await;
        let terminals: Vec<TerminalView> =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("terminals JSON: {e}: {out}"));
        let mut ledger = HubLedger::default();
        for t in terminals {
            let out = self
                .admin(&["events", "--terminal", &t.terminal_id, "--json"])
                .await;
            let held: TerminalEvents =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("events JSON: {e}: {out}"));
            assert_eq!(held.acked_through, t.acked_through, "one mark, two answers");
            assert_eq!(held.events.len() as u64, t.events_held, "{t:?}");
            ledger
                .events
                .extend(held.events.into_iter().map(|e| HubEvent {
                    terminal_id: t.terminal_id.clone(),
                    seq: e.seq,
                    event_id: e.event_id,
                    status: e.status,
                    reason: e.reason,
                    hash: e.content_hash,
                }));
            ledger.marks.insert(t.terminal_id, t.acked_through);
        }
        ledger
    }
}

/// What the hub holds: its event slots and each terminal's `acked_through`.
#[derive(Debug, Clone, Default)]
pub struct HubLedger {
    pub events: Vec<HubEvent>,
    pub marks: std::collections::BTreeMap<String, u64>,
}

/// Pushes the hub logged, and what it did with their events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushTotals {
    pub pushes: u64,
    pub stored: u64,
    /// Events sent again after the hub had stored them, acknowledged again.
    pub duplicate: u64,
    pub conflict: u64,
    pub rejected: u64,
}

impl std::fmt::Display for PushTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pushes at the hub: {} events stored, {} duplicates acknowledged again, {} \
             conflicts, {} rejected",
            self.pushes, self.stored, self.duplicate, self.conflict, self.rejected
        )
    }
}

/// A terminal's credentials, from its `hub.json`.
#[derive(Debug, Clone)]
pub struct Credential {
    pub terminal_id: String,
    pub secret: String,
}

impl Credential {
    pub fn bearer(&self) -> String {
        tenpo_protocol::sync::bearer(&self.terminal_id, &self.secret)
    }
}

/// An HTTP answer: status and JSON body (`Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

/// One outbox event of an agent's export, with its content hash computed here.
#[derive(Debug, Clone)]
pub struct AgentEvent {
    pub seq: u64,
    pub event_id: String,
    pub kind: String,
    pub acked: bool,
    pub quarantine_reason: Option<String>,
    pub hash: String,
    pub event: Event,
}

/// An agent's export (`tenpo-agent export`).
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub sales: usize,
    pub refunds: usize,
    pub events: Vec<AgentEvent>,
}

impl Export {
    pub fn last_seq(&self) -> u64 {
        self.events.iter().map(|e| e.seq).max().unwrap_or(0)
    }
}

/// An agent process.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    http: reqwest::Client,
    token: String,
    args: Vec<String>,
    rules_file: PathBuf,
}

impl Agent {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `hub.json` as the agent wrote it at enrolment.
    pub fn hub_json(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("hub.json"))
            .unwrap_or_else(|e| panic!("{}: no hub.json after enrolment: {e}", self.name));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: hub.json: {e}", self.name))
    }

    pub fn terminal_id(&self) -> String {
        self.hub_json()["terminal_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: hub.json has no terminal_id", self.name))
            .to_owned()
    }

    pub fn credential(&self) -> Credential {
        let j = self.hub_json();
        Credential {
            terminal_id: j["terminal_id"].as_str().unwrap_or_default().to_owned(),
            secret: j["secret"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// The flags added to `run` (kept across restarts): `--sync-interval-ms`, ….
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
    }

    /// Starts `tenpo-agent run` and waits until it answers.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut cmd = Command::new(bin("tenpo-agent"));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--rules")
            .arg(&self.rules_file)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file(&self.log))
            .stderr(log_file(&self.log))
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("cannot start tenpo-agent"));
        let url = format!("{}/v1/health", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "agent {} exited at start ({status}):\n{}",
                    self.name,
                    tail(&self.log, 30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "agent {} did not answer at {url} within {READY_TIMEOUT:?}:\n{}",
                self.name,
                tail(&self.log, 30)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.token = std::fs::read_to_string(self.dir.join("api-token"))
            .expect("the agent's api-token")
            .trim()
            .to_owned();
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL the agent");
        }
    }

    /// SIGTERM (a clean stop), SIGKILL after 15 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child).await;
        }
    }

    async fn reply(&self, r: reqwest::RequestBuilder, what: &str) -> Reply {
        let r = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {what}: {e}", self.name));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// `GET /v1/status`
    pub async fn status(&self) -> Value {
        let r = self
            .reply(self.http.get(format!("{}/v1/status", self.url())), "status")
            .await;
        assert!(r.ok(), "{}: status answered {}", self.name, r.status);
        r.body
    }

    /// `POST /v1/sales`
    pub async fn sale(&self, body: &Value) -> Reply {
        self.reply(
            self.http
                .post(format!("{}/v1/sales", self.url()))
                .bearer_auth(&self.token)
                .json(body),
            "record a sale",
        )
        .await
    }

    /// `POST /v1/sales` that must succeed.
    pub async fn sale_ok(&self, body: &Value) -> Value {
        let r = self.sale(body).await;
        assert!(
            r.ok(),
            "{}: sale {} refused ({}): {}",
            self.name,
            body["sale_id"],
            r.status,
            r.body
        );
        r.body
    }

    /// `POST /v1/sales/{sale_id}/refunds`
    pub async fn refund(&self, sale_id: &str, body: &Value) -> Reply {
        self.reply(
            self.http
                .post(format!("{}/v1/sales/{sale_id}/refunds", self.url()))
                .bearer_auth(&self.token)
                .json(body),
            "record a refund",
        )
        .await
    }

    /// `GET /v1/members/{code}`
    pub async fn member(&self, code: &str) -> Reply {
        self.reply(
            self.http.get(format!("{}/v1/members/{code}", self.url())),
            "look a member up",
        )
        .await
    }

    /// `POST /v1/sync`: an immediate push and pull (202).
    pub async fn trigger_sync(&self) {
        let r = self
            .reply(
                self.http
                    .post(format!("{}/v1/sync", self.url()))
                    .bearer_auth(&self.token),
                "trigger a sync",
            )
            .await;
        assert_eq!(r.status, 202, "{}: POST /v1/sync: {}", self.name, r.body);
    }

    /// `tenpo-agent sync --now`: syncs and waits until nothing is pending.
    pub async fn sync_now(&self) -> Result<String, String> {
        let mut cmd = Command::new(bin("tenpo-agent"));
        cmd.args(["sync", "--now", "--data-dir"])
            .arg(&self.dir)
            .env("TENPO_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("TENPO_RULES", &self.rules_file)
            .env("RUST_LOG", "warn");
        run_cli(cmd, &format!("{}: tenpo-agent sync --now", self.name)).await
    }

    /// `tenpo-agent enroll --force` with a code the hub made for this terminal's id (the agent
    /// stopped): new credentials, the same terminal.
    pub async fn enroll_again(&self, hub: &Hub, store: &str, hub_url: &str) {
        let terminal = self.terminal_id();
        let code = hub.enroll_code_for(store, Some(&terminal)).await;
        let mut cmd = Command::new(bin("tenpo-agent"));
        cmd.args([
            "enroll",
            "--force",
            "--hub",
            hub_url,
            "--code",
            &code,
            "--data-dir",
        ])
        .arg(&self.dir);
        let out = run_cli(cmd, "tenpo-agent enroll --force")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.contains(&terminal), "{out}");
        assert_eq!(self.terminal_id(), terminal, "the same terminal");
    }

    /// `sync --now` that must succeed.
    pub async fn sync_now_ok(&self) {
        if let Err(e) = self.sync_now().await {
            panic!("{e}\n{} log:\n{}", self.name, tail(&self.log, 40));
        }
    }

    /// `tenpo-agent export`: the ledger and the outbox.
    pub async fn export(&self) -> Export {
        let out = self.dir.with_extension("export.jsonl");
        let mut cmd = Command::new(bin("tenpo-agent"));
        cmd.args(["export", "--data-dir"])
            .arg(&self.dir)
            .arg("--output")
            .arg(&out)
            .env("TENPO_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("TENPO_RULES", &self.rules_file)
            .env("RUST_LOG", "warn");
        run_cli(cmd, &format!("{}: tenpo-agent export", self.name))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&out).expect("the export file");
        let mut export = Export::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: export line {line:?}: {e}", self.name));
            match v["record"].as_str() {
                Some("sale") => export.sales += 1,
                Some("refund") => export.refunds += 1,
                Some("event") => {
                    let raw = v["payload_raw"].as_str().unwrap_or_else(|| {
                        panic!(
                            "{}: an exported event has no payload_raw: {line}",
                            self.name
                        )
                    });
                    let event: Event = serde_json::from_str(raw).unwrap_or_else(|e| {
                        panic!(
                            "{}: an exported event is not an Event: {e}: {line}",
                            self.name
                        )
                    });
                    // The export's hash is of the stored bytes; an auditor recomputes it.
                    let hash = content_hash_of(raw.as_bytes());
                    assert_eq!(
                        v["content_hash"].as_str(),
                        Some(hash.as_str()),
                        "{}: the export's content_hash is the hash of its payload_raw",
                        self.name
                    );
                    export.events.push(AgentEvent {
                        seq: v["seq"].as_u64().expect("an event's seq"),
                        event_id: v["event_id"].as_str().unwrap_or_default().to_owned(),
                        kind: v["kind"].as_str().unwrap_or_default().to_owned(),
                        acked: v["acked"].as_bool().unwrap_or(false),
                        quarantine_reason: v["quarantine_reason"].as_str().map(str::to_owned),
                        hash,
                        event,
                    });
                }
                _ => {}
            }
        }
        export
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
