//! An agent process: enrol, start, stop, SIGKILL, restart, and its local API.

use super::*;

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
    pub(super) dir: PathBuf,
    pub(super) port: u16,
    pub(super) child: Option<Child>,
    pub(super) log: PathBuf,
    pub(super) http: reqwest::Client,
    pub(super) token: String,
    pub(super) args: Vec<String>,
    pub(super) rules_file: PathBuf,
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

    /// `POST /v1/wishes`
    pub async fn wish(&self, body: &Value) -> Reply {
        self.reply(
            self.http
                .post(format!("{}/v1/wishes", self.url()))
                .bearer_auth(&self.token)
                .json(body),
            "record a wish",
        )
        .await
    }

    /// `POST /v1/signups {}`: a signup session, as the kiosk opens one.
    pub async fn open_signup(&self) -> Reply {
        self.reply(
            self.http
                .post(format!("{}/v1/signups", self.url()))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({})),
            "open a signup",
        )
        .await
    }

    /// `GET /v1/scans/stream`: what the POS screen is told of each scan, as it happens.
    pub async fn scans(&self) -> ScanStream {
        let response = self
            .http
            .get(format!("{}/v1/scans/stream", self.url()))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: GET /v1/scans/stream: {e}", self.name));
        assert_eq!(
            response.status().as_u16(),
            200,
            "{}: GET /v1/scans/stream",
            self.name
        );
        ScanStream {
            response,
            buffer: String::new(),
        }
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

/// The agent's scan events (server-sent events), read as the POS screen reads them.
#[derive(Debug)]
pub struct ScanStream {
    response: reqwest::Response,
    buffer: String,
}

impl ScanStream {
    /// The next `scan` event's data; panics when none comes within 30 s.
    pub async fn next(&mut self) -> Value {
        let read = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let is_scan = block.lines().any(|l| l == "event: scan");
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                        && is_scan
                    {
                        return serde_json::from_str(data).expect("a scan event is JSON");
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("the scan stream")
                    .expect("the scan stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(READY_TIMEOUT, read)
            .await
            .expect("no scan event within 30 s")
    }
}
