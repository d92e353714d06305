//! The bounded server over real sockets on 127.0.0.1: a client that sends half its headers is
//! cut off while others are served, a flood of connections beyond the limit is closed without
//! starving the rest, a slow handler is answered 408 and a panicking one 500, both as the JSON
//! error body, and the next request is served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tenpo_edge::{Limits, serve};

const LIMITS: Limits = Limits {
    header_read: Duration::from_millis(500),
    request: Duration::from_millis(800),
    max_connections: 8,
    drain: Duration::from_secs(1),
};

async fn start() -> String {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("a bug in a handler");
                }
                "never"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, LIMITS, std::future::pending()));
    format!("{addr}")
}

/// Reads until the server closes the connection; the time it took, or `None` if it stayed open
/// for `bound`.
fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 512];
    while start.elapsed() < bound {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

async fn get_ok(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_half_its_headers_is_cut_off_and_others_are_served() {
    let addr = start().await;
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    // Others are served meanwhile.
    assert_eq!(get_ok(&addr, "/ok").await.0, 200);
    let addr2 = addr.clone();
    let closed = tokio::task::spawn_blocking(move || {
        let _keep = addr2;
        closed_within(&mut slow, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(closed.is_some(), "a half-sent request was never cut off");
    // An idle connection that never sends a byte is cut off too.
    let mut idle = TcpStream::connect(&addr).unwrap();
    let closed =
        tokio::task::spawn_blocking(move || closed_within(&mut idle, Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(closed.is_some(), "an idle connection was never cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_and_the_server_recovers() {
    let addr = start().await;
    let idle: Vec<TcpStream> = (0..LIMITS.max_connections)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The server accepts in the order the connections were made: the 9th finds no slot.
    let mut extra = TcpStream::connect(&addr).unwrap();
    let closed =
        tokio::task::spawn_blocking(move || closed_within(&mut extra, Duration::from_secs(5)))
            .await
            .unwrap();
    assert!(
        closed.is_some(),
        "a connection beyond the limit was kept open"
    );
    // Once the idle ones are cut off (header-read timeout), the server serves again.
    let mut served = false;
    for _ in 0..50 {
        if let Ok(r) = reqwest::Client::new()
            .get(format!("http://{addr}/ok"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the server never served again");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_panicking_handlers_fail_alone_with_the_json_error_body() {
    let addr = start().await;
    let (status, body) = get_ok(&addr, "/slow").await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    let (status, body) = get_ok(&addr, "/panic").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal", "{body}");
    assert_eq!(get_ok(&addr, "/ok").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_and_query_refusals_are_the_json_error_body() {
    #[derive(serde::Deserialize)]
    struct Wait {
        #[allow(dead_code)]
        wait: u64,
    }
    let app = Router::new()
        .route(
            "/n/{n}",
            get(|axum::extract::Path(n): axum::extract::Path<u32>| async move { n.to_string() }),
        )
        .route("/q", get(|_: axum::extract::Query<Wait>| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, app, LIMITS, std::future::pending()));
    for path in ["/n/minus-one", "/q?wait=soon"] {
        let (status, body) = get_ok(&addr, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "malformed_request", "{path}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(get_ok(&addr, "/n/7").await, (200, serde_json::json!(7)));
}
