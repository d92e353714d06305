//! The `tenpo-hub` binary as a process, for tests that run it as IT does.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A `tenpo-hub serve` process; killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tenpo-hub serve` on `dir`, on a port of its choosing; answers once it said it is ready.
pub fn serve(dir: &std::path::Path) -> Served {
    serve_on(dir, "127.0.0.1:0")
}

/// `tenpo-hub serve` on `dir`, listening on `listen`.
pub fn serve_on(dir: &std::path::Path, listen: &str) -> Served {
    serve_with(dir, listen, &[])
}

/// `tenpo-hub serve` keeping its data in the PostgreSQL database at `url` (given as IT would:
/// in the environment, never on the command line), listening on `listen`.
pub fn serve_postgres(dir: &std::path::Path, url: &str, listen: &str) -> Served {
    serve_with(dir, listen, &[("TENPO_HUB_DATABASE_URL", url)])
}

/// `tenpo-hub serve` on `dir` with `env` set.
pub fn serve_with(dir: &std::path::Path, listen: &str, env: &[(&str, &str)]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenpo-hub"));
    command.env_remove("TENPO_HUB_DATABASE_URL");
    command.envs(env.iter().copied());
    let mut child = command
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            listen,
            "--data-dir",
        ])
        .arg(dir)
        .env("TENPO_HUB_ADMIN_TOKEN", super::ADMIN_TOKEN)
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .env_remove("TENPO_HUB_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref().take(50) {
        let line = line.unwrap();
        assert!(!line.contains(super::ADMIN_TOKEN), "token logged: {line}");
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["fields"]["message"] == "tenpo-hub ready" {
            base = Some(format!(
                "http://{}",
                v["fields"]["listen"].as_str().unwrap()
            ));
            break;
        }
    }
    // Keep draining the log so the hub never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base: base.expect("the hub never said it was ready"),
    }
}
