//! `tenpo-agent status`, `doctor` and `sync --now` tell the truth about an enrolled terminal:
//! - `status` says the hub is offline while it does not answer, with the next retry, and prints
//!   the same report (text, or JSON with `--json`) whether the agent runs or not;
//! - `sync --now` exits non-zero when the hub cannot be reached;
//! - `doctor` fails a stopped agent on an enrolled terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tenpo_e2e::harness::{World, bin, wait_until};
use tenpo_e2e::proxy::{Fault, FaultProxy};
use tokio::process::Command;

struct Out {
    code: Option<i32>,
    text: String,
}

async fn agent_cli(args: &[&str], dir: &std::path::Path) -> Out {
    let out = Command::new(bin("tenpo-agent"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the command finished")
        .unwrap();
    Out {
        code: out.status.code(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn labels(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_doctor_and_sync_say_what_is_true() {
    let world = World::new("status-doctor");
    let hub = world.start_hub().await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut till = world
        .enroll_agent("till", &hub, "store-1", &proxy.url())
        .await;
    till.start().await;
    let dir = till.data_dir().to_owned();
    let listen = till.url().trim_start_matches("http://").to_owned();
    let json_status = || async {
        let out = agent_cli(&["status", "--json", "--listen", &listen], &dir).await;
        let v: Value =
            serde_json::from_str(&out.text).unwrap_or_else(|e| panic!("{e}: {}", out.text));
        (out.code, v)
    };
    wait_until("the hub online", Duration::from_secs(30), || async {
        json_status().await.1["hub"]["state"] == "online"
    })
    .await;
    let (code, running) = json_status().await;
    assert_eq!(code, Some(0));
    assert_eq!(running["mode"], "enrolled");
    assert!(running["hub"]["next_attempt_at"].is_string(), "{running}");

    // The hub goes away: the report says so, with the error and the next retry.
    proxy.set(Fault::Refuse);
    till.trigger_sync().await;
    wait_until("the hub offline", Duration::from_secs(30), || async {
        json_status().await.1["hub"]["state"] == "offline"
    })
    .await;
    let (_, offline) = json_status().await;
    assert!(offline["hub"]["last_error"].is_string(), "{offline}");
    let text = agent_cli(&["status", "--listen", &listen], &dir).await;
    assert_eq!(text.code, Some(0), "{}", text.text);
    assert!(text.text.contains("OFFLINE"), "{}", text.text);
    assert!(!text.text.contains(" online"), "{}", text.text);
    assert!(text.text.contains("next sync:"), "{}", text.text);
    let running_labels = labels(&text.text);

    // `sync --now` cannot reach it: it says so and exits non-zero.
    let sync = agent_cli(
        &["sync", "--now", "--wait-secs", "2", "--listen", &listen],
        &dir,
    )
    .await;
    assert_eq!(sync.code, Some(1), "{}", sync.text);
    assert!(sync.text.contains("could not be reached"), "{}", sync.text);

    // Stopped: the same report, exit 3, and nothing claims a sync.
    till.stop().await;
    let (code, stopped) = json_status().await;
    assert_eq!(code, Some(3), "{stopped}");
    assert_eq!(stopped["running"], false);
    assert_eq!(stopped["hub"]["state"], "not_syncing", "{stopped}");
    assert_eq!(keys(&stopped), keys(&running));
    let text = agent_cli(&["status", "--listen", &listen], &dir).await;
    assert_eq!(text.code, Some(3), "{}", text.text);
    assert!(text.text.contains("NOT running"), "{}", text.text);
    let stopped_labels: Vec<String> = labels(&text.text)
        .into_iter()
        .filter(|l| !["last push", "last pull", "next sync"].contains(&l.as_str()))
        .collect();
    let running_labels: Vec<String> = running_labels
        .into_iter()
        .filter(|l| !["last push", "last pull", "next sync"].contains(&l.as_str()))
        .collect();
    assert_eq!(stopped_labels, running_labels, "{}", text.text);

    // doctor: a stopped agent on an enrolled terminal is a failure.
    proxy.set(Fault::Pass);
    let doctor = agent_cli(&["doctor", "--listen", &listen], &dir).await;
    assert_eq!(doctor.code, Some(1), "{}", doctor.text);
    assert!(
        doctor.text.contains("FAIL agent not running"),
        "{}",
        doctor.text
    );
}
