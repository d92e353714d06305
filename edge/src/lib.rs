//! tenpo's HTTP edge, shared by the agent's local API and the hub, so both hold up the same way
//! under abuse (docs/design.md §7):
//!
//! - [`serve`]: every connection is bounded. Request headers must arrive within
//!   [`Limits::header_read`] (hyper's own header-read timeout: a client that sends half a header
//!   and waits is cut off), a request must be answered within [`Limits::request`], and at most
//!   [`Limits::max_connections`] connections are open at once (one more is closed at once, so a
//!   flood of idle sockets cannot starve the process of file descriptors). A panic in a handler
//!   is answered `500` with the JSON error body and logged: that request fails alone.
//! - [`loopback_host_only`]: the local API answers only requests that name a loopback host, so a
//!   web page cannot reach it through DNS rebinding.
//! - [`json_errors`]: refusals axum answers as plain text (a path or query that does not parse)
//!   become the JSON error body too.
//!
//! - [`ApiError`] and the extractors [`Json`], [`Query`], [`Path`]: one error body for both
//!   servers, and request refusals (not JSON, not an object, a query that does not parse) made
//!   in one place.
//!
//! Every refusal here is the same JSON error body as the rest of the API.

mod error;
mod extract;

pub use error::{ApiError, method_not_allowed, not_found};
pub use extract::{Json, Path, Query, is_json, parse_json};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tenpo_protocol::{ErrorBody, ErrorCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How much a client may hold of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request's headers (also how long a kept-alive connection may sit idle
    /// before its next request).
    pub header_read: Duration,
    /// Time from the headers to the response's headers (long polls stay under it).
    pub request: Duration,
    /// Connections open at once; more are closed as they come.
    pub max_connections: usize,
    /// How long a clean stop waits for requests in flight.
    pub drain: Duration,
}

impl Limits {
    /// The agent's local API: one POS, a counter screen, a kiosk and tools on one terminal.
    pub const AGENT: Limits = Limits {
        header_read: Duration::from_secs(10),
        request: Duration::from_secs(60),
        max_connections: 64,
        drain: Duration::from_secs(10),
    };

    /// The hub: hundreds of terminals, their long polls, LIFF pages and admin tools.
    pub const HUB: Limits = Limits {
        header_read: Duration::from_secs(10),
        request: Duration::from_secs(120),
        max_connections: 1024,
        drain: Duration::from_secs(10),
    };
}

/// The JSON error body with `status`.
pub fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    (status, axum::Json(ErrorBody::new(code, message))).into_response()
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets requests in
/// flight finish (at most [`Limits::drain`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let request_limit = limits.request;
    let app = app
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| within(request_limit, req, next),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused: u64 = 0;
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    limit = limits.max_connections,
                    refused,
                    "too many connections open: closing new ones"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that stalls, resets or times out ends its own connection only.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!("requests still in flight after the drain time: stopping anyway");
        }
    }
    Ok(())
}

/// Middleware: an error answered as plain text (axum's own rejections of a path, a query or a
/// body the handler never saw) becomes the JSON error body, so a client parses every error the
/// same way. The text is kept as the message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::BAD_REQUEST => ErrorCode::MalformedRequest,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidRequest,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        s if s.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    error(status, code, message)
}

async fn within(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Timeout,
            format!(
                "the request was not answered within {} s: send it again",
                limit.as_secs()
            ),
        ),
    }
}

fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = %what, "a request hit a bug; answered 500, nothing else affected");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "the server hit a bug handling this request; nothing was changed: see its log",
    )
}

/// Whether `host` (a `Host` header's value) names this machine's loopback interface, with or
/// without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1] or [::1]:7480
        Some(rest) => match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || is_port(after) => inside,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1"
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Middleware: answers `421` unless the request's `Host` is a loopback name (DNS rebinding: a
/// web page the cashier opens must not be able to read member data from the local API).
pub async fn loopback_host_only(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if is_loopback_host(h) => next.run(req).await,
        _ => error(
            StatusCode::MISDIRECTED_REQUEST,
            ErrorCode::MisdirectedRequest,
            "this API answers only requests to 127.0.0.1, localhost or [::1]",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:7480",
            "localhost",
            "LOCALHOST:7480",
            "[::1]",
            "[::1]:7480",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:7480",
            "127.0.0.1.attacker.example",
            "localhost.attacker.example:7480",
            "127.0.0.2",
            "[::1]x",
            "127.0.0.1:",
            "127.0.0.1:abc",
            "",
            "[::2]:7480",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
