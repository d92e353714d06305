//! The scan pipeline: scanner → frame → check → member lookup → published.
//!
//! Sources run on their own threads and deliver frames into one channel. One pipeline thread
//! takes them in order: parses and classifies the code (check digit, Codabar check, the LINE
//! card's signature and time window), drops repeats within the debounce window, looks the
//! member up (in the cache, then at the hub for a valid card the till has not cached; a scan
//! never makes a member), and publishes a [`ScanEvent`] on a broadcast channel. Subscribers (`GET /v1/scans/stream`) that are slow or
//! gone only lose their own events; the pipeline never waits for them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tenpo_hw::source::{self, ScannerConfig, SourceEvent, Stop};
use tenpo_hw::{
    Debouncer, MemberCode, ProductCode, Rejection, classify, parse_frame, product_code,
};
use tenpo_protocol::agent::{ScanEvent, ScanOutcome, ScannerStatus};
use tokio::sync::broadcast;

use crate::ledger::{Ledger, LedgerError};
use crate::lookup::{self, Found};
use crate::sync::Engine;

/// Scan events kept for a subscriber that falls behind; older ones are dropped for it alone.
const SUBSCRIBER_BUFFER: usize = 64;

/// The state of every configured scanner, for `/v1/status` and `doctor`.
#[derive(Debug, Default)]
pub struct Scanners {
    inner: Mutex<BTreeMap<String, ScannerStatus>>,
}

impl Scanners {
    pub fn new(configs: &[ScannerConfig]) -> Scanners {
        let map = configs
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    source::Kind::Serial => "serial",
                    source::Kind::Keyboard => "keyboard",
                    source::Kind::Stdin => "stdin",
                };
                (
                    c.name.clone(),
                    ScannerStatus {
                        name: c.name.clone(),
                        kind: kind.into(),
                        connected: false,
                        detail: None,
                        last_error: Some("not opened yet".into()),
                        last_scan_at: None,
                        scans: 0,
                        rejections: 0,
                        dropped: 0,
                    },
                )
            })
            .collect();
        Scanners {
            inner: Mutex::new(map),
        }
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut ScannerStatus)) {
        if let Some(status) = relock(&self.inner).get_mut(name) {
            f(status);
        }
    }

    /// Every scanner's state, by name.
    pub fn snapshot(&self) -> Vec<ScannerStatus> {
        relock(&self.inner).values().cloned().collect()
    }
}

/// The pipeline's shared parts.
#[derive(Debug)]
pub struct Pipeline {
    ledger: Arc<Ledger>,
    scanners: Arc<Scanners>,
    debouncer: Mutex<Debouncer>,
    events: broadcast::Sender<ScanEvent>,
    next_id: AtomicU64,
    /// The hub, asked about valid cards this till has not cached (an enrolled terminal).
    hub: Option<(Engine, tokio::runtime::Handle)>,
}

impl Pipeline {
    pub fn new(ledger: Arc<Ledger>, scanners: Arc<Scanners>, debounce: Duration) -> Pipeline {
        let (events, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        Pipeline {
            ledger,
            scanners,
            debouncer: Mutex::new(Debouncer::new(debounce)),
            events,
            next_id: AtomicU64::new(1),
            hub: None,
        }
    }

    /// Asks the hub (through `engine`, on `runtime`) about valid cards this till has not
    /// cached, before a scan says it does not know them.
    pub fn with_hub(mut self, engine: Engine, runtime: tokio::runtime::Handle) -> Pipeline {
        self.hub = Some((engine, runtime));
        self
    }

    /// What the till knows of a checked code; asks the hub when the cache does not know it.
    fn find(&self, code: &MemberCode, now: DateTime<Utc>) -> Result<Found, LedgerError> {
        match &self.hub {
            // Scans are handled on the pipeline's own thread, never a runtime worker, so
            // waiting here (bounded by the engine's lookup timeout) blocks no async task.
            Some((engine, runtime)) => {
                runtime.block_on(lookup::find(&self.ledger, Some(engine), code, now))
            }
            None => Ok(match self.ledger.cached_member(code, now)? {
                Some(view) => Found::Member(Box::new(view)),
                None => Found::NewCard(code.key().to_owned()),
            }),
        }
    }

    /// A new subscriber to scan events.
    pub fn subscribe(&self) -> broadcast::Receiver<ScanEvent> {
        self.events.subscribe()
    }

    pub fn scanners(&self) -> &Arc<Scanners> {
        &self.scanners
    }

    /// Handles one source event; returns the scan event it published, if any.
    pub fn handle(&self, event: SourceEvent) -> Option<ScanEvent> {
        match event {
            SourceEvent::Connected { scanner, detail } => {
                tracing::info!(scanner = %scanner, %detail, "scanner connected");
                self.scanners.update(&scanner, |s| {
                    s.connected = true;
                    s.detail = Some(detail);
                    s.last_error = None;
                });
                None
            }
            SourceEvent::Disconnected { scanner, error } => {
                tracing::warn!(scanner = %scanner, %error, "scanner not connected; retrying");
                self.scanners.update(&scanner, |s| {
                    s.connected = false;
                    s.last_error = Some(error);
                });
                None
            }
            SourceEvent::Dropped { scanner, what } => {
                tracing::warn!(scanner = %scanner, "dropped {what}");
                self.scanners.update(&scanner, |s| s.dropped += 1);
                None
            }
            SourceEvent::Frame { scanner, frame, at } => self.scan(&scanner, &frame, at),
        }
    }

    fn scan(&self, scanner: &str, frame: &[u8], at: Instant) -> Option<ScanEvent> {
        let now = Utc::now();
        let read = String::from_utf8_lossy(frame).into_owned();
        // A signed LINE-card QR is never echoed: whoever reads the stream could replay it at
        // another till within its time window (docs/design.md §7).
        let line_card = read.contains(tenpo_protocol::card::PREFIX);
        let parsed = parse_frame(frame);
        let symbology = parsed
            .as_ref()
            .map(|s| symbology_name(&s.symbology))
            .unwrap_or_else(|_| "unknown".into());
        // A product's barcode is refused as a member code, and names the product: a screen can
        // offer the member on the counter a wish for it (docs/design.md §11).
        let product = parsed.as_ref().ok().and_then(product_code);
        let code =
            parsed.and_then(|scan| classify(&scan, &self.ledger.code_rules(), now.timestamp()));
        // Repeats are dropped before any lookup; a rejected read is never debounced, so a
        // rescan after "check digit wrong" is always answered.
        if let Ok(code) = &code {
            let fresh = relock(&self.debouncer).accept(scanner, code.key(), at);
            if !fresh {
                return None;
            }
        }
        let outcome = match code {
            Ok(code) => match self.find(&code, now) {
                Ok(Found::Member(member)) => ScanOutcome::Member { member: *member },
                Ok(Found::NewCard(key)) => ScanOutcome::NotKnown {
                    message: format!("new card {key}: no member yet. Record the sale to enrol it"),
                    code: key,
                    new_card: true,
                },
                Ok(Found::NotKnownHere(key)) => ScanOutcome::NotKnown {
                    message: LedgerError::NotKnownHere(key.clone()).to_string(),
                    code: key,
                    new_card: false,
                },
                Err(LedgerError::Code(rejection)) => rejected(&rejection, None),
                Err(e) => {
                    tracing::error!(scanner, error = %e, "member lookup failed");
                    ScanOutcome::Rejected {
                        reason: format!("the agent could not look the member up: {e}"),
                        reason_code: "lookup_failed".into(),
                        product: None,
                    }
                }
            },
            Err(rejection) => rejected(&rejection, product),
        };
        let raw = match (&outcome, line_card) {
            (_, false) => read,
            (ScanOutcome::Member { member }, true) => member.number.clone(),
            (ScanOutcome::NotKnown { code, .. }, true) => code.clone(),
            (ScanOutcome::Rejected { .. }, true) => format!("{}…", tenpo_protocol::card::PREFIX),
        };
        let rejected_scan = matches!(outcome, ScanOutcome::Rejected { .. });
        if let ScanOutcome::Rejected { reason_code, .. } = &outcome {
            tracing::info!(scanner, reason = %reason_code, "scan rejected");
        }
        self.scanners.update(scanner, |s| {
            s.scans += 1;
            s.last_scan_at = Some(now);
            if rejected_scan {
                s.rejections += 1;
            }
        });
        let event = ScanEvent {
            scan_id: self.next_id.fetch_add(1, Ordering::Relaxed),
            scanner: scanner.to_owned(),
            raw,
            line_card,
            symbology,
            at: now,
            outcome,
        };
        // No subscribers is fine: nothing is waiting.
        let _ = self.events.send(event.clone());
        Some(event)
    }
}

/// Takes a lock whatever a panicking thread left: scanner states and the debouncer are
/// written whole, and a scanner that stopped reporting would lie.
fn relock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| {
        m.clear_poison();
        poisoned.into_inner()
    })
}

/// A rejection as the stream says it; a product's barcode names its product.
fn rejected(r: &Rejection, product: Option<ProductCode>) -> ScanOutcome {
    ScanOutcome::Rejected {
        reason: r.to_string(),
        reason_code: r.reason_code().into(),
        product: product
            .filter(|_| *r == Rejection::ProductBarcode)
            .map(ProductCode::into_string),
    }
}

fn symbology_name(s: &tenpo_hw::Symbology) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".into())
}

/// Running scanner sources feeding a pipeline thread.
#[derive(Debug)]
pub struct Running {
    stop: Stop,
}

impl Running {
    /// Stops the sources (serial ports close within a second; a blocked keyboard or stdin read
    /// ends with the process).
    pub fn stop(&self) {
        self.stop.stop();
    }
}

/// Starts every configured scanner and the pipeline thread that consumes them.
pub fn start(pipeline: Arc<Pipeline>, configs: &[ScannerConfig]) -> std::io::Result<Running> {
    let stop = Stop::new();
    let (tx, rx) = mpsc::channel::<SourceEvent>();
    let tx = Mutex::new(tx);
    let sink: Arc<dyn source::Sink> = Arc::new(move |event: SourceEvent| {
        let _ = relock(&tx).send(event);
    });
    for config in configs {
        source::spawn(config.clone(), sink.clone(), stop.clone())?;
    }
    drop(sink);
    std::thread::Builder::new()
        .name("scan-pipeline".into())
        .spawn(move || {
            // Ends when every source has ended and dropped its sender.
            while let Ok(event) = rx.recv() {
                pipeline.handle(event);
            }
        })?;
    Ok(Running { stop })
}
