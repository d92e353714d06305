//! A fault-injecting TCP proxy for HTTP/1.1 on loopback, put between an agent and the hub.
//!
//! The proxy listens on `127.0.0.1:0` and forwards to one upstream address. It reads just
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

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Refuse,
    /// Sleep this long before forwarding each chunk, both ways.
    Delay(Duration),
    /// Reset the client connection after this many bytes of the response.
    ResetAfter(usize),
    CutAfterCommit,
    Blackhole,
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Pass => FaultKind::Pass,
            Fault::Refuse => FaultKind::Refuse,
            Fault::Delay(_) => FaultKind::Delay,
            Fault::ResetAfter(_) => FaultKind::Reset,
            Fault::CutAfterCommit => FaultKind::CutAfterCommit,
            Fault::Blackhole => FaultKind::Blackhole,
        }
    }
}

/// A fault without its parameter, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Pass,
    Refuse,
    Delay,
    Reset,
    CutAfterCommit,
    Blackhole,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Pass,
        FaultKind::Refuse,
        FaultKind::Delay,
        FaultKind::Reset,
        FaultKind::CutAfterCommit,
        FaultKind::Blackhole,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Pass => "pass",
            FaultKind::Refuse => "refuse",
            FaultKind::Delay => "delay",
            FaultKind::Reset => "reset",
            FaultKind::CutAfterCommit => "cut-after-commit",
            FaultKind::Blackhole => "blackhole",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts of what went through the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Connections accepted.
    pub connections: u64,
    /// Request heads read from clients.
    pub requests: u64,
    /// Responses delivered whole to clients.
    pub responses: u64,
    /// `POST /v1/events` requests whose head arrived.
    pub pushes_started: u64,
    /// Pushes forwarded whole to the upstream (the hub may have committed them).
    pub pushes_forwarded: u64,
    /// Pushes whose response was delivered whole to the client.
    pub pushes_answered: u64,
}

/// A small, seeded pseudo-random generator (SplitMix64): the same seed, the same faults.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[derive(Debug)]
enum Mode {
    Fixed(Fault),
    Mix {
        rng: SplitMix64,
        choices: Vec<(Fault, u32)>,
        total: u64,
    },
}

#[derive(Debug)]
struct Control {
    mode: Mode,
    script: VecDeque<(Fault, u32)>,
    time_shift_secs: Option<i64>,
    blackhole_hold: Duration,
}

impl Control {
    fn next_fault(&mut self) -> Fault {
        if let Some((fault, left)) = self.script.front_mut() {
            let fault = *fault;
            *left -= 1;
            if *left == 0 {
                self.script.pop_front();
            }
            return fault;
        }
        match &mut self.mode {
            Mode::Fixed(f) => *f,
            Mode::Mix {
                rng,
                choices,
                total,
            } => {
                let mut pick = rng.next() % *total;
                for (fault, weight) in choices.iter() {
                    let w = u64::from(*weight);
                    if pick < w {
                        return *fault;
                    }
                    pick -= w;
                }
                Fault::Pass
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    control: Mutex<Control>,
    hits: [AtomicU64; 6],
    live: AtomicU64,
    connections: AtomicU64,
    requests: AtomicU64,
    responses: AtomicU64,
    pushes_started: AtomicU64,
    pushes_forwarded: AtomicU64,
    pushes_answered: AtomicU64,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_fault(&self) -> Fault {
        let fault = self.control().next_fault();
        self.hits[fault.kind().index()].fetch_add(1, Ordering::SeqCst);
        fault
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// The proxy. Dropping it stops it: the listener closes and every connection task ends.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
    // Dropped with the proxy: every connection task sees it and ends.
    _shutdown: watch::Sender<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream`, passing everything through.
    /// Must be called inside a Tokio runtime, which runs the proxy's tasks.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            control: Mutex::new(Control {
                mode: Mode::Fixed(Fault::Pass),
                script: VecDeque::new(),
                time_shift_secs: None,
                blackhole_hold: DEFAULT_BLACKHOLE_HOLD,
            }),
            hits: Default::default(),
            live: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            responses: AtomicU64::new(0),
            pushes_started: AtomicU64::new(0),
            pushes_forwarded: AtomicU64::new(0),
            pushes_answered: AtomicU64::new(0),
        });
        let (shutdown, stopped) = watch::channel(());
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on every request gets `fault`; a script in progress is dropped.
    pub fn set(&self, fault: Fault) {
        let mut c = self.shared.control();
        c.script.clear();
        c.mode = Mode::Fixed(fault);
    }

    /// From now on each request gets a fault drawn from `choices` by weight, from a generator
    /// seeded with `seed`; a script in progress is dropped. Weights of zero are never drawn.
    pub fn set_mix(&self, seed: u64, choices: &[(Fault, u32)]) {
        let choices: Vec<(Fault, u32)> = choices.iter().copied().filter(|c| c.1 > 0).collect();
        let total: u64 = choices.iter().map(|c| u64::from(c.1)).sum();
        let mut c = self.shared.control();
        c.script.clear();
        c.mode = if total == 0 {
            Mode::Fixed(Fault::Pass)
        } else {
            Mode::Mix {
                rng: SplitMix64(seed),
                choices,
                total,
            }
        };
    }

    /// Appends steps: the next `count` requests get `fault`, then the next step's, …; after
    /// the last step the mode applies again.
    pub fn script(&self, steps: &[(Fault, u32)]) {
        let mut c = self.shared.control();
        c.script
            .extend(steps.iter().copied().filter(|(_, count)| *count > 0));
    }

    /// Requests the script still has to fault.
    pub fn script_left(&self) -> u64 {
        self.shared
            .control()
            .script
            .iter()
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// Shift every `"hub_time":"…"` in passed-through responses by this many seconds (a hub
    /// whose clock is off), or stop doing so with `None`.
    pub fn set_time_shift(&self, secs: Option<i64>) {
        self.shared.control().time_shift_secs = secs;
    }

    /// How long a blackholed connection is held at most (default 60 s).
    pub fn set_blackhole_hold(&self, hold: Duration) {
        self.shared.control().blackhole_hold = hold;
    }

    /// Requests (and refused connections) that got a fault of this kind.
    pub fn hits(&self, kind: FaultKind) -> u64 {
        self.shared.hits[kind.index()].load(Ordering::SeqCst)
    }

    /// Every kind's hits.
    pub fn hit_counts(&self) -> BTreeMap<FaultKind, u64> {
        FaultKind::ALL.iter().map(|k| (*k, self.hits(*k))).collect()
    }

    /// `pass 12, refuse 3, …` for test summaries.
    pub fn hits_summary(&self) -> String {
        FaultKind::ALL
            .iter()
            .map(|k| format!("{} {}", k.name(), self.hits(*k)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn traffic(&self) -> Traffic {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Traffic {
            connections: get(&s.connections),
            requests: get(&s.requests),
            responses: get(&s.responses),
            pushes_started: get(&s.pushes_started),
            pushes_forwarded: get(&s.pushes_forwarded),
            pushes_answered: get(&s.pushes_answered),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopped.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: wait a little rather than spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        Shared::bump(&shared.connections);
        if shared.live.load(Ordering::SeqCst) >= MAX_LIVE_CONNECTIONS {
            drop(stream);
            continue;
        }
        let first = shared.next_fault();
        shared.live.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = serve_connection(&shared, stream, first) => {}
                _ = stopped.changed() => {}
            }
            shared.live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// One client connection, request by request. Returning closes it (and its upstream).
async fn serve_connection(shared: &Shared, client: TcpStream, first: Fault) {
    let _ = client.set_nodelay(true);
    let mut client = Conn::new(client);
    let mut upstream: Option<Conn> = None;
    let mut decided = Some(first);
    loop {
        match decided {
            Some(Fault::Refuse) => return,
            Some(Fault::Blackhole) => return hold(shared, client).await,
            _ => {}
        }
        let head = match client.read_head().await {
            Ok(Some(head)) => head,
            Ok(None) | Err(_) => return,
        };
        let fault = match decided.take() {
            Some(f) => f,
            None => shared.next_fault(),
        };
        match fault {
            Fault::Refuse => return,
            Fault::Blackhole => return hold(shared, client).await,
            _ => {}
        }
        match exchange(shared, &mut client, &mut upstream, head, fault).await {
            Ok(true) => continue,
            Ok(false) | Err(_) => return,
        }
    }
}

/// Holds a blackholed connection: reads and drops what the client sends until it gives up.
async fn hold(shared: &Shared, mut client: Conn) {
    let deadline = Instant::now() + shared.control().blackhole_hold;
    let mut scratch = vec![0u8; 4096];
    loop {
        match timeout_at(deadline, client.stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// One request and its response under `fault`. `Ok(true)`: the connection may carry another.
async fn exchange(
    shared: &Shared,
    client: &mut Conn,
    upstream: &mut Option<Conn>,
    head: Vec<u8>,
    fault: Fault,
) -> io::Result<bool> {
    let req = Head::parse(&head)?;
    let method = req.method().to_owned();
    let request_framing = req.request_framing()?;
    Shared::bump(&shared.requests);
    let is_push = method == "POST" && req.target().starts_with("/v1/events");
    if is_push {
        Shared::bump(&shared.pushes_started);
    }
    if upstream.is_none() {
        let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.upstream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = stream.set_nodelay(true);
        *upstream = Some(Conn::new(stream));
    }
    let Some(up) = upstream.as_mut() else {
        return Err(io::Error::other("no upstream"));
    };
    let delay = match fault {
        Fault::Delay(d) => Some(d),
        _ => None,
    };

    // The request, whole, whatever the fault.
    {
        let mut sink = Sink::Forward {
            dst: &mut up.stream,
            delay,
            budget: None,
        };
        sink.send(&head).await?;
        relay_body(client, request_framing, &mut sink).await?;
    }
    if is_push {
        Shared::bump(&shared.pushes_forwarded);
    }

    // The response.
    let Some(rhead) = up.read_head().await? else {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the upstream closed without answering",
        ));
    };
    let resp = Head::parse(&rhead)?;
    let response_framing = resp.response_framing(&method)?;
    let keep_alive = !req.wants_close() && !resp.wants_close();

    match fault {
        Fault::CutAfterCommit => {
            relay_body(up, response_framing, &mut Sink::Discard).await?;
            // The hub has answered (and committed); the client never hears of it.
            return Ok(false);
        }
        Fault::ResetAfter(bytes) => {
            let mut sink = Sink::Forward {
                dst: &mut client.stream,
                delay: None,
                budget: Some(bytes),
            };
            if sink.send(&rhead).await? {
                relay_body(up, response_framing, &mut sink).await?;
            }
            client.stream.set_zero_linger()?;
            // Dropping the client connection now sends RST.
            return Ok(false);
        }
        Fault::Pass | Fault::Delay(_) | Fault::Refuse | Fault::Blackhole => {}
    }

    let shift = shared.control().time_shift_secs;
    let mut sink = Sink::Forward {
        dst: &mut client.stream,
        delay,
        budget: None,
    };
    match (shift, response_framing) {
        (Some(secs), Framing::Length(n)) if n <= MAX_REWRITE_BODY => {
            let mut body = Vec::with_capacity(n as usize);
            relay_body(up, response_framing, &mut Sink::Capture(&mut body)).await?;
            shift_hub_times(&mut body, secs);
            sink.send(&rhead).await?;
            sink.send(&body).await?;
        }
        _ => {
            sink.send(&rhead).await?;
            relay_body(up, response_framing, &mut sink).await?;
        }
    }
    Shared::bump(&shared.responses);
    if is_push {
        Shared::bump(&shared.pushes_answered);
    }
    Ok(keep_alive && response_framing != Framing::UntilClose)
}

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

#[cfg(test)]
mod tests {
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
}
