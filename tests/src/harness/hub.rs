//! The hub process: start, stop, SIGKILL, its admin CLI and its ledger as IT reads it.

use super::*;

/// The hub process.
#[derive(Debug)]
pub struct Hub {
    pub(super) dir: PathBuf,
    pub(super) port: u16,
    pub(super) child: Option<Child>,
    pub(super) log: PathBuf,
    pub(super) http: reqwest::Client,
    /// A config file (`--config`), when the test gives one.
    pub(super) config: Option<PathBuf>,
    /// More environment (a PostgreSQL database's URL, say).
    pub(super) env: Vec<(String, String)>,
}

/// One event slot as the hub holds it (`events` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEvent {
    pub terminal_id: String,
    pub seq: u64,
    pub event_id: Option<String>,
    /// `sale`, `refund`, `member_provisional`, `wish` (none for a slot of other content).
    pub kind: Option<String>,
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
            .args(
                self.config
                    .iter()
                    .flat_map(|c| [OsStr::new("--config"), c.as_os_str()]),
            )
            .env("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("TENPO_HUB_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
                    kind: e.kind,
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
