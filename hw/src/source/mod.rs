//! Scanner sources: serial and USB-CDC ports, USB HID keyboard-wedge scanners (Linux evdev), and
//! standard input for development.
//!
//! Each source runs on its own thread, frames what it reads with a [`crate::framing::Framer`],
//! and hands frames and state changes to a [`Sink`]. A source whose device goes away reopens it
//! with exponential backoff and full jitter (no busy loop) until it is told to stop.

mod config;
pub mod keyboard;
pub mod serial;
pub mod stdin;
pub mod usb;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use config::{
    ConfigError, Kind, Layout, ParitySetting, ScannerConfig, TerminatorSetting, parse_usb_id,
};
pub use tenpo_support::Backoff;

/// What a source reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A complete frame (one scan), as bytes; `at` is when its last byte arrived.
    Frame {
        scanner: Arc<str>,
        frame: Vec<u8>,
        at: Instant,
    },
    /// The device is open and reading.
    Connected { scanner: Arc<str>, detail: String },
    /// The device could not be opened or went away; the source will retry.
    Disconnected { scanner: Arc<str>, error: String },
    /// Input was thrown away (a line longer than any barcode, noise bytes).
    Dropped { scanner: Arc<str>, what: String },
}

/// Where a source delivers its events. Must not block for long: the pipeline behind it
/// queues.
pub trait Sink: Send + Sync + 'static {
    fn deliver(&self, event: SourceEvent);
}

impl<F: Fn(SourceEvent) + Send + Sync + 'static> Sink for F {
    fn deliver(&self, event: SourceEvent) {
        self(event)
    }
}

/// A shared stop flag for source threads.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, waking early (in 50 ms steps) when stopped. Returns false if stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.is_stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        false
    }
}

/// Starts a source on its own thread. The thread ends when `stop` is set (a stdin source ends
/// at end of input).
pub fn spawn(
    config: ScannerConfig,
    sink: Arc<dyn Sink>,
    stop: Stop,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("scanner-{}", config.name))
        .spawn(move || match config.kind {
            Kind::Serial => serial::run(&config, sink.as_ref(), &stop),
            Kind::Keyboard => keyboard::run(&config, sink.as_ref(), &stop),
            Kind::Stdin => stdin::run(&config, sink.as_ref(), &stop),
        })
}
