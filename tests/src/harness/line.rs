//! The LINE stand-in process (`tenpo-line-standin`): LINE Login, the Messaging API and a LIFF
//! SDK for pages in a real browser, on a loopback port.

use super::*;

/// A running stand-in.
#[derive(Debug)]
pub struct LineStandIn {
    port: u16,
    _child: Child,
}

impl LineStandIn {
    /// Starts one answering LINE Login `channel` (signed with `secret`), and the Messaging API
    /// for `messaging_token`; waits until it answers.
    pub async fn start(world: &World, channel: &str, secret: &str, messaging_token: &str) -> Self {
        let port = free_port();
        let log = world.path().join("line-standin.log");
        let child = Command::new(bin("tenpo-line-standin"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--channel", &format!("{channel}:{secret}")])
            .args(["--messaging-token", messaging_token])
            .args(["--messaging-secret", "standin-messaging-secret"])
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start tenpo-line-standin");
        let standin = LineStandIn {
            port,
            _child: child,
        };
        let health = format!("{}/standin/health", standin.url());
        wait_until("the LINE stand-in answers", READY_TIMEOUT, || {
            let health = health.clone();
            async move {
                reqwest::get(&health)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        standin
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the stand-in accepted (`GET /standin/record`).
    pub async fn record(&self) -> Value {
        reqwest::get(format!("{}/standin/record", self.url()))
            .await
            .expect("the stand-in's record")
            .json()
            .await
            .expect("the stand-in's record is JSON")
    }
}
