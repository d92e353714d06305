//! The proxy against a real upstream on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::Router;
use axum::routing::{get, post};

use super::*;

/// An upstream that counts what it handled (what a hub would have committed).
struct Upstream {
    addr: SocketAddr,
    committed: Arc<AtomicU64>,
}

async fn upstream() -> Upstream {
    let committed = Arc::new(AtomicU64::new(0));
    let c = committed.clone();
    let app = Router::new()
        .route("/hello", get(|| async { "hello, world" }))
        .route(
            "/v1/events",
            post(move |body: axum::body::Bytes| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::json!({
                        "len": body.len(),
                        "hub_time": "2026-11-22T10:00:00.123456Z",
                        "pad": "x".repeat(5000),
                    }))
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Upstream { addr, committed }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn push(c: &reqwest::Client, proxy: &FaultProxy, n: usize) -> reqwest::Result<String> {
    c.post(format!("{}/v1/events", proxy.url()))
        .header("content-type", "application/json")
        .body(format!("{{\"events\":\"{}\"}}", "e".repeat(n)))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

#[tokio::test]
async fn passes_requests_and_bodies_through_on_kept_alive_connections() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    let c = client();
    for _ in 0..3 {
        let text = c
            .get(format!("{}/hello", proxy.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "hello, world");
    }
    // A body larger than one read, both ways.
    let answer = push(&c, &proxy, 100_000).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["len"], 100_000 + 13);
    assert_eq!(up.committed.load(Ordering::SeqCst), 1);
    let t = proxy.traffic();
    assert_eq!(t.connections, 1, "reqwest keeps the connection alive");
    assert_eq!(t.requests, 4);
    assert_eq!(t.responses, 4);
    assert_eq!(
        (t.pushes_started, t.pushes_forwarded, t.pushes_answered),
        (1, 1, 1)
    );
    assert_eq!(proxy.hits(FaultKind::Pass), 4);
}

#[tokio::test]
async fn refuse_closes_at_once_and_nothing_reaches_the_upstream() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::Refuse);
    let c = client();
    assert!(push(&c, &proxy, 10).await.is_err());
    assert_eq!(up.committed.load(Ordering::SeqCst), 0);
    assert!(proxy.hits(FaultKind::Refuse) >= 1);
    // Faults bite on a kept-alive connection too: pass, then refuse on the same one.
    proxy.set(Fault::Pass);
    push(&c, &proxy, 10).await.unwrap();
    let before = proxy.traffic().connections;
    proxy.set(Fault::Refuse);
    assert!(push(&c, &proxy, 10).await.is_err());
    assert_eq!(up.committed.load(Ordering::SeqCst), 1);
    assert!(proxy.traffic().connections >= before);
}

#[tokio::test]
async fn delay_slows_every_chunk() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::Delay(Duration::from_millis(100)));
    let started = Instant::now();
    let text = client()
        .get(format!("{}/hello", proxy.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "hello, world");
    // Request head, response head, response body: three chunks at least.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.hits(FaultKind::Delay), 1);
}

#[tokio::test]
async fn reset_mid_response_after_the_upstream_handled_the_request() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    for bytes in [0, 20, 300] {
        proxy.set(Fault::ResetAfter(bytes));
        let err = push(&client(), &proxy, 10).await.unwrap_err();
        assert!(!err.is_timeout(), "{err}");
    }
    assert_eq!(up.committed.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.hits(FaultKind::Reset), 3);
    assert_eq!(proxy.traffic().pushes_forwarded, 3);
    assert_eq!(proxy.traffic().pushes_answered, 0);
}

#[tokio::test]
async fn reset_sends_rst_to_the_client() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::ResetAfter(10));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let err = loop {
        match timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
        {
            Ok(0) => panic!("clean end of stream after {} bytes, not a reset", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(got.len() <= 10, "{} bytes came through", got.len());
}

#[tokio::test]
async fn cut_after_commit_the_upstream_committed_and_the_client_heard_nothing() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::CutAfterCommit);
    let err = push(&client(), &proxy, 50_000).await.unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(up.committed.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.hits(FaultKind::CutAfterCommit), 1);
    let t = proxy.traffic();
    assert_eq!(
        (t.pushes_forwarded, t.pushes_answered, t.responses),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn blackhole_holds_until_the_client_gives_up() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::Blackhole);
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = push(&c, &proxy, 10).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(up.committed.load(Ordering::SeqCst), 0);
    assert_eq!(proxy.hits(FaultKind::Blackhole), 1);
    // The hold ends when the client leaves: nothing stays live for long.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.shared.live.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "the blackholed connection is still held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_script_runs_step_by_step_then_the_mode_applies() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.script(&[
        (Fault::Refuse, 2),
        (Fault::CutAfterCommit, 1),
        (Fault::Pass, 0),
    ]);
    assert_eq!(proxy.script_left(), 3);
    let c = client();
    assert!(push(&c, &proxy, 1).await.is_err());
    assert!(push(&c, &proxy, 1).await.is_err());
    assert!(push(&c, &proxy, 1).await.is_err());
    assert_eq!(proxy.script_left(), 0);
    push(&c, &proxy, 1).await.unwrap();
    assert_eq!(up.committed.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.hits(FaultKind::Refuse), 2);
    assert_eq!(proxy.hits(FaultKind::CutAfterCommit), 1);
    assert_eq!(proxy.hits(FaultKind::Pass), 1);
}

#[test]
fn a_seeded_mix_is_repeatable_and_follows_its_weights() {
    let choices = vec![
        (Fault::Pass, 6),
        (Fault::Refuse, 2),
        (Fault::ResetAfter(5), 2),
    ];
    let mix = |seed| Control {
        mode: Mode::Mix {
            rng: SplitMix64(seed),
            choices: choices.clone(),
            total: 10,
        },
        script: VecDeque::new(),
        time_shift_secs: None,
        blackhole_hold: DEFAULT_BLACKHOLE_HOLD,
    };
    let (mut a, mut b, mut c) = (mix(7), mix(7), mix(8));
    let run = |m: &mut Control| (0..2000).map(|_| m.next_fault()).collect::<Vec<_>>();
    let (ra, rb, rc) = (run(&mut a), run(&mut b), run(&mut c));
    assert_eq!(ra, rb);
    assert_ne!(ra, rc);
    let passes = ra.iter().filter(|f| **f == Fault::Pass).count();
    assert!((1000..1400).contains(&passes), "{passes} passes of 2000");
    assert!(ra.contains(&Fault::Refuse) && ra.contains(&Fault::ResetAfter(5)));
}

#[tokio::test]
async fn a_mix_through_the_proxy_counts_every_kind() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set_mix(
        42,
        &[
            (Fault::Pass, 1),
            (Fault::Refuse, 1),
            (Fault::ResetAfter(7), 1),
            (Fault::CutAfterCommit, 1),
        ],
    );
    let c = client();
    let mut ok = 0;
    for _ in 0..40 {
        if push(&c, &proxy, 3).await.is_ok() {
            ok += 1;
        }
    }
    let hits = proxy.hit_counts();
    let total: u64 = hits.values().sum();
    assert!(total >= 40, "{hits:?}");
    assert_eq!(hits[&FaultKind::Pass], ok);
    for k in [
        FaultKind::Pass,
        FaultKind::Refuse,
        FaultKind::Reset,
        FaultKind::CutAfterCommit,
    ] {
        assert!(
            hits[&k] > 0,
            "{} never drawn: {}",
            k.name(),
            proxy.hits_summary()
        );
    }
    // Committed: passed, reset and cut requests; refused ones never arrived.
    assert_eq!(
        up.committed.load(Ordering::SeqCst),
        hits[&FaultKind::Pass] + hits[&FaultKind::Reset] + hits[&FaultKind::CutAfterCommit]
    );
}

#[tokio::test]
async fn chunked_and_close_delimited_responses_pass_intact() {
    // A hand-written upstream: one chunked answer, then one ended by closing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for close_delimited in [false, true] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while find(&head, b"\r\n\r\n").is_none() {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "the proxy closed before sending a head");
                head.extend_from_slice(&buf[..n]);
            }
            if close_delimited {
                s.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
                    .await
                    .unwrap();
            } else {
                s.write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
                      5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n",
                )
                .await
                .unwrap();
            }
            s.shutdown().await.unwrap();
        }
    });
    let proxy = FaultProxy::start(addr).await.unwrap();
    let c = client();
    let a = c.get(format!("{}/c", proxy.url())).send().await.unwrap();
    assert_eq!(a.text().await.unwrap(), "hello, world");
    let b = c.get(format!("{}/d", proxy.url())).send().await.unwrap();
    assert_eq!(b.text().await.unwrap(), "until the end");
    assert_eq!(proxy.traffic().responses, 2);
}

#[tokio::test]
async fn hub_time_can_be_shifted_keeping_the_length() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set_time_shift(Some(600));
    let v: serde_json::Value =
        serde_json::from_str(&push(&client(), &proxy, 1).await.unwrap()).unwrap();
    assert_eq!(v["hub_time"], "2026-11-22T10:10:00.123456Z");
    let mut body = br#"{"hub_time":"2026-11-22T23:59:30Z","x":1}"#.to_vec();
    assert_eq!(shift_hub_times(&mut body, 45), 1);
    assert_eq!(&body, br#"{"hub_time":"2026-11-23T00:00:15Z","x":1}"#);
}

#[tokio::test]
async fn dropping_the_proxy_ends_everything() {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    proxy.set(Fault::Blackhole);
    let addr = proxy.addr();
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.hits(FaultKind::Blackhole) == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shared = proxy.shared.clone();
    drop(proxy);
    // The held connection is closed, not left hanging.
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(5), held.read(&mut buf))
        .await
        .expect("the held connection was not closed when the proxy was dropped");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    while shared.live.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "a connection task outlived the proxy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // And nothing listens any more.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "the proxy still accepts connections after being dropped"
    );
}
