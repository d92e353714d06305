//! Real processes for the signup tests and the kiosk benchmark: the LINE stand-in, the hub, an
//! enrolled agent (its hub link through a proxy the test can cut), all on 127.0.0.1 in one
//! temporary directory. Every wait is a bounded poll; every child dies with its handle.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
pub use tenpo_e2e::harness::free_port;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub const CHANNEL: &str = "1234567890";
pub const CHANNEL_SECRET: &str = "standin-channel-secret";
pub const OTHER_CHANNEL: &str = "9876543210";
pub const LIFF_ID: &str = "1234567890-AbCdEfGh";
pub const ADMIN_TOKEN: &str = "kiosk-e2e-admin-token-0123456789";
const RULES: &str = include_str!("../../../loyalty/examples/demo-rules.toml");

/// A workspace binary next to the test executable (`target/<profile>/NAME`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build -p tenpo-hub -p tenpo-agent` first)",
        path.display()
    );
    path
}

/// Polls `check` every 25 ms for at most `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The enrolled agent, signup on (the LIFF id), syncing every second.
fn run_agent(data_dir: &Path, port: u16, log: &Path) -> Child {
    spawn(
        Command::new(bin("tenpo-agent"))
            .arg("run")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--liff-id", LIFF_ID, "--sync-interval-ms", "1000"])
            .env("RUST_LOG", "info"),
        log,
    )
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A TCP proxy to `target` that the test can cut (refusing new connections and dropping open
/// ones) and restore: the store's line to the hub.
pub struct Line {
    pub port: u16,
    up: watch::Sender<bool>,
}

impl Line {
    pub async fn start(target: u16) -> Line {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let up_rx = up.subscribe();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut up = up_rx.clone();
                if !*up.borrow() {
                    continue; // dropped: the line is down
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up.wait_for(|u| !*u) => {}
                    }
                });
            }
        });
        Line { port, up }
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// The stand-in, the hub and one enrolled agent.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub standin: String,
    pub hub: String,
    pub agent: String,
    agent_port: u16,
    pub token: String,
    pub line: Line,
    children: Vec<Child>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in ["standin.log", "hub.log", "agent.log", "agent-2.log"] {
                let text = std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("==== {log} ====");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
        for c in &mut self.children {
            let _ = c.start_kill();
        }
    }
}

async fn healthy(http: &reqwest::Client, url: &str) {
    wait_for(url, Duration::from_secs(30), || async {
        let r = http.get(url).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

impl Stack {
    pub async fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (sp, hp, ap) = (free_port(), free_port(), free_port());
        let mut children = Vec::new();
        children.push(spawn(
            Command::new(bin("tenpo-line-standin"))
                .args(["--listen", &format!("127.0.0.1:{sp}")])
                .args(["--channel", &format!("{CHANNEL}:{CHANNEL_SECRET}")])
                .args(["--channel", &format!("{OTHER_CHANNEL}:other-secret")]),
            &dir.path().join("standin.log"),
        ));
        let standin = format!("http://127.0.0.1:{sp}");
        children.push(spawn(
            Command::new(bin("tenpo-hub"))
                .arg("serve")
                .arg("--data-dir")
                .arg(dir.path().join("hub"))
                .args(["--listen", &format!("127.0.0.1:{hp}")])
                .args(["--line-channel-id", CHANNEL, "--liff-id", LIFF_ID])
                .args(["--line-api", &standin])
                .env("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN),
            &dir.path().join("hub.log"),
        ));
        let hub = format!("http://127.0.0.1:{hp}");
        healthy(&http, &format!("{standin}/standin/health")).await;
        healthy(&http, &format!("{hub}/v1/health")).await;
        let r = http
            .post(format!("{hub}/v1/admin/rule-sets"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/plain")
            .body(RULES)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "load rules: {}",
            r.text().await.unwrap()
        );
        let code: Value = http
            .post(format!("{hub}/v1/admin/enrollment-codes"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"store_id": "shibuya-01"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let line = Line::start(hp).await;
        let agent_dir = dir.path().join("agent");
        let out = Command::new(bin("tenpo-agent"))
            .arg("enroll")
            .args(["--hub", &format!("http://127.0.0.1:{}", line.port)])
            .args(["--code", code["code"].as_str().unwrap()])
            .arg("--data-dir")
            .arg(&agent_dir)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "enrol: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        children.push(run_agent(&agent_dir, ap, &dir.path().join("agent.log")));
        let agent = format!("http://127.0.0.1:{ap}");
        healthy(&http, &format!("{agent}/v1/health")).await;
        let token = std::fs::read_to_string(agent_dir.join("api-token"))
            .unwrap()
            .trim()
            .to_owned();
        Stack {
            dir,
            http,
            standin,
            hub,
            agent,
            agent_port: ap,
            token,
            line,
            children,
        }
    }

    /// Kills the agent (SIGKILL) and starts it again on the same data and port; its log goes on
    /// in `agent-2.log`.
    pub async fn restart_agent(&mut self) {
        let mut agent = self.children.pop().expect("the agent, started last");
        agent.kill().await.unwrap();
        let dir = self.dir.path();
        self.children.push(run_agent(
            &dir.join("agent"),
            self.agent_port,
            &dir.join("agent-2.log"),
        ));
        healthy(&self.http, &format!("{}/v1/health", self.agent)).await;
    }

    /// An ID token from the stand-in, as the LINE app hands it to the LIFF page.
    pub async fn id_token(&self, channel: &str, user: &str, expires_in: i64) -> String {
        let v: Value = self
            .http
            .post(format!("{}/standin/id-tokens", self.standin))
            .json(&json!({"channel_id": channel, "sub": user, "expires_in": expires_in}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["id_token"].as_str().unwrap().to_owned()
    }

    /// The phone: completes a signup token at the hub with an ID token.
    pub async fn complete(&self, token: &str, id_token: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/signups/{token}/complete", self.hub))
            .json(&json!({ "id_token": id_token }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn agent_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.agent))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

/// The signup token inside a LIFF URL.
pub fn token_of(liff_url: &str) -> String {
    liff_url.split_once("?t=").unwrap().1.to_owned()
}

pub type Shared<T> = Arc<T>;
