//! A fault-injecting TCP proxy for HTTP/1.1 on loopback, put between an agent and the hub.
//!
//! The proxy listens on `127.0.0.1:0` and forwards to one upstream address (or to several in
//! turn, each push to the next: [`FaultProxy::balancing`]). It reads just
//! enough HTTP (request and response heads, `Content-Length` and chunked framing) to apply a
//! fault to one *request* at a time, so faults bite even on kept-alive pooled connections:
//!
//! - [`Fault::Pass`]: forward both ways.
//! - [`Fault::Refuse`]: accept and close at once (on a kept-alive connection: close it when
//!   the next request arrives, unanswered).
//! - [`Fault::Delay`]: forward, sleeping before every chunk, both ways.
//! - [`Fault::ResetAfter`]: forward the request; forward the first N bytes of the response,
//!   then reset the client connection (RST: zero linger, then drop).
//! - [`Fault::CutAfterCommit`]: forward the whole request, read the upstream's whole response
//!   (so the hub has committed), then close the client connection without sending any of it.
//! - [`Fault::Blackhole`]: forward nothing; hold the connection until the client gives up (or
//!   the proxy's hold limit, or the proxy is dropped).
//!
//! The fault of each request comes from a script of `(fault, count)` steps when one is set,
//! else from the mode: one fixed fault, or a seeded random mix with weights. Every decision is
//! counted per kind ([`FaultProxy::hits`]), and pushes (`POST /v1/events`) are tracked as
//! started, fully forwarded to the hub, and answered ([`FaultProxy::traffic`]).
//!
//! Everything is bounded: heads and chunk lines have a size limit, bodies stream through a
//! fixed-size buffer (only [`FaultProxy::set_time_shift`] buffers a body, up to 4 MiB), every
//! read and write has a timeout, live connections are capped, and every task ends when the
//! [`FaultProxy`] is dropped.
//!
//! This file is the HTTP/1.1 framing the proxy reads (heads, bodies, chunks); `faults.rs` is
//! the proxy itself: the faults, their script and counters, and each connection's exchange.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};

mod faults;

pub use faults::{Fault, FaultKind, FaultProxy, Traffic};

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;
/// Largest response body buffered to rewrite `hub_time`; larger ones pass unchanged.
const MAX_REWRITE_BODY: u64 = 4 * 1024 * 1024;
/// Connecting to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Any single read or write (a kept-alive connection waiting for its next request too).
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections served at once; more are closed at once.
const MAX_LIVE_CONNECTIONS: u64 = 256;
/// How long a blackholed connection is held at most, unless changed.
const DEFAULT_BLACKHOLE_HOLD: Duration = Duration::from_secs(60);

/// A socket and the bytes read from it but not yet used.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more into the buffer; `0` at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = vec![0u8; READ_CHUNK];
        let n = timeout(IO_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "read timed out"))??;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// A message head through its blank line; `None` when the peer closed before sending one.
    async fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.buf.drain(..at + 4).collect()));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "message head too large",
                ));
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// One line, through its `\n`.
    async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                return Ok(self.buf.drain(..=at).collect());
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Up to `max` bytes (buffered ones first); empty at the end of the stream.
    async fn take_up_to(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && self.fill().await? == 0 {
            return Ok(Vec::new());
        }
        let n = self.buf.len().min(max);
        Ok(self.buf.drain(..n).collect())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed message head.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> io::Result<Head> {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        if start.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty head"));
        }
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Head { start, headers })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn length(&self) -> io::Result<Option<u64>> {
        self.header("content-length")
            .map(|v| {
                v.parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))
            })
            .transpose()
    }

    fn wants_close(&self) -> bool {
        let connection = self
            .header("connection")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        connection.contains("close")
            || (self.start.contains("HTTP/1.0") && !connection.contains("keep-alive"))
    }

    fn request_framing(&self) -> io::Result<Framing> {
        Ok(if self.chunked() {
            Framing::Chunked
        } else {
            match self.length()? {
                Some(n) => Framing::Length(n),
                None => Framing::None,
            }
        })
    }

    fn response_framing(&self, method: &str) -> io::Result<Framing> {
        let status = self.status();
        if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::None);
        }
        Ok(if self.chunked() {
            Framing::Chunked
        } else {
            match self.length()? {
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }
        })
    }
}

/// Where relayed bytes go.
enum Sink<'a> {
    /// To a socket, after `delay`, stopping after `budget` bytes.
    Forward {
        dst: &'a mut TcpStream,
        delay: Option<Duration>,
        budget: Option<usize>,
    },
    /// Into memory (bounded by the caller).
    Capture(&'a mut Vec<u8>),
    /// Nowhere.
    Discard,
}

impl Sink<'_> {
    /// `Ok(false)` when the budget is spent: stop relaying.
    async fn send(&mut self, bytes: &[u8]) -> io::Result<bool> {
        match self {
            Sink::Discard => Ok(true),
            Sink::Capture(buf) => {
                buf.extend_from_slice(bytes);
                Ok(true)
            }
            Sink::Forward { dst, delay, budget } => {
                if let Some(d) = delay {
                    tokio::time::sleep(*d).await;
                }
                let (part, spent) = match budget {
                    Some(left) => {
                        let n = bytes.len().min(*left);
                        *left -= n;
                        (&bytes[..n], *left == 0)
                    }
                    None => (bytes, false),
                };
                if !part.is_empty() {
                    timeout(IO_TIMEOUT, dst.write_all(part))
                        .await
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::TimedOut, "write timed out")
                        })??;
                }
                Ok(!spent)
            }
        }
    }
}

/// Relays a body framed as `framing` from `src` into `sink`; `Ok(false)` if the sink stopped.
async fn relay_body(src: &mut Conn, framing: Framing, sink: &mut Sink<'_>) -> io::Result<bool> {
    match framing {
        Framing::None => Ok(true),
        Framing::Length(n) => copy_exact(src, n, sink).await,
        Framing::Chunked => loop {
            let line = src.read_line().await?;
            if !sink.send(&line).await? {
                return Ok(false);
            }
            let size = chunk_size(&line)?;
            if size == 0 {
                loop {
                    let trailer = src.read_line().await?;
                    if !sink.send(&trailer).await? {
                        return Ok(false);
                    }
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(true);
                    }
                }
            }
            if !copy_exact(src, size + 2, sink).await? {
                return Ok(false);
            }
        },
        Framing::UntilClose => loop {
            let chunk = src.take_up_to(READ_CHUNK).await?;
            if chunk.is_empty() {
                return Ok(true);
            }
            if !sink.send(&chunk).await? {
                return Ok(false);
            }
        },
    }
}

async fn copy_exact(src: &mut Conn, mut left: u64, sink: &mut Sink<'_>) -> io::Result<bool> {
    while left > 0 {
        let max = usize::try_from(left.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let chunk = src.take_up_to(max).await?;
        if chunk.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left -= chunk.len() as u64;
        if !sink.send(&chunk).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let text = String::from_utf8_lossy(line);
    let hex = text.trim().split(';').next().unwrap_or_default().trim();
    u64::from_str_radix(hex, 16)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))
}

/// Shifts every `"hub_time":"<RFC 3339>"` in a JSON body by `secs`, keeping its length (so
/// `Content-Length` stays true). Returns how many were shifted.
fn shift_hub_times(body: &mut [u8], secs: i64) -> usize {
    const KEY: &[u8] = b"\"hub_time\":\"";
    let mut shifted = 0;
    let mut from = 0;
    while let Some(at) = find(&body[from..], KEY) {
        let start = from + at + KEY.len();
        let Some(len) = body[start..].iter().position(|b| *b == b'"') else {
            break;
        };
        let end = start + len;
        from = end;
        let Ok(text) = std::str::from_utf8(&body[start..end]) else {
            continue;
        };
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) else {
            continue;
        };
        let moved = (t + chrono::Duration::seconds(secs)).with_timezone(&chrono::Utc);
        let out = moved.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, text.ends_with('Z'));
        if out.len() == len {
            body[start..end].copy_from_slice(out.as_bytes());
            shifted += 1;
        }
    }
    shifted
}
