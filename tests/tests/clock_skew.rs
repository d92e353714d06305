//! Clock skew: the agent warns when the hub's clock (`hub_time` in every answer) differs from
//! its own by more than two minutes. Neither process's clock can be moved here without faking
//! time, so the proxy does it on the wire: it rewrites `hub_time` in the hub's answers (same
//! length, so `Content-Length` stays true), as if the hub's clock were 10 minutes off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use tenpo_e2e::card_code;
use tenpo_e2e::harness::{Agent, World, logged, tail, wait_for};
use tenpo_e2e::proxy::FaultProxy;

const SHIFT: i64 = 600;

/// Waits until the agent reports a skew within 5 s of `expected`; returns it.
async fn skew_near(agent: &Agent, expected: i64) -> i64 {
    wait_for(
        &format!("a clock skew of about {expected} s in /v1/status"),
        Duration::from_secs(30),
        || async move {
            agent.trigger_sync().await;
            let s: Value = agent.status().await;
            let skew = s["sync"]["clock_skew_secs"].as_i64()?;
            ((skew - expected).abs() <= 5).then_some(skew)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skewed_hub_clock_is_reported_and_warned_about() {
    let world = World::new("clock-skew");
    let mut hub = world.start_hub().await;
    let code = card_code(20, 5);
    hub.import_members(&world.members_csv("m.csv", &[(code, 100, 0)]))
        .await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut a = world.enroll_agent("a", &hub, "store-1", &proxy.url()).await;
    a.set_args(&["--sync-interval-ms", "1000"]);
    a.start().await;

    let normal = skew_near(&a, 0).await;
    let warnings = |a: &Agent| {
        std::fs::read_to_string(a.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("clock"))
            .count()
    };
    assert_eq!(warnings(&a), 0, "a warning with the clocks in step");

    proxy.set_time_shift(Some(SHIFT));
    let ahead = skew_near(&a, SHIFT).await;
    assert!(
        logged(a.log(), |l| l.contains("WARN") && l.contains("clock")).await,
        "no clock warning in the agent's log with the hub {SHIFT} s ahead:\n{}",
        tail(a.log(), 20)
    );
    proxy.set_time_shift(Some(-SHIFT));
    let behind = skew_near(&a, -SHIFT).await;
    proxy.set_time_shift(None);
    let back = skew_near(&a, 0).await;

    a.stop().await;
    hub.stop().await;
    println!(
        "clock skew (hub_time rewritten on the wire by the proxy): skew {normal} s, then \
         {ahead} s (warned: {} warning lines), {behind} s, back to {back} s; {:.1} s",
        warnings(&a),
        world.elapsed()
    );
}
