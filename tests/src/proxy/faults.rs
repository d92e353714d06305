//! The fault-injecting proxy: what it does to each request (see the module above) and how
//! it serves a connection, using the framing of `proxy/mod.rs`.

use super::*;

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
    /// Where connections go: one hub, or several taken in turn (a load balancer).
    upstreams: Vec<SocketAddr>,
    next_upstream: AtomicU64,
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
        FaultProxy::balancing(vec![upstream]).await
    }

    /// A proxy in front of several hubs, as a load balancer without health checks: each push,
    /// and each new upstream connection, goes to the next hub in turn (one that is down refuses
    /// it, and the client tries again, reaching the next).
    pub async fn balancing(upstreams: Vec<SocketAddr>) -> io::Result<FaultProxy> {
        if upstreams.is_empty() {
            return Err(io::Error::other("a proxy needs an upstream"));
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstreams,
            next_upstream: AtomicU64::new(0),
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
    // In front of several hubs, each push goes to the next one (a balancer per request), so a
    // terminal's retries reach a hub other than the one that took the first try.
    if is_push && shared.upstreams.len() > 1 {
        *upstream = None;
    }
    if upstream.is_none() {
        let turn = shared.next_upstream.fetch_add(1, Ordering::SeqCst) as usize;
        let to = shared.upstreams[turn % shared.upstreams.len()];
        let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
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

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
