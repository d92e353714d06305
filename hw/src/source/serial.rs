//! Serial and USB-CDC scanners through `serialport`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serialport::{DataBits, Parity, SerialPort, StopBits};

use super::config::{ParitySetting, ScannerConfig, TerminatorSetting, parse_usb_id};
use super::{Backoff, Sink, SourceEvent, Stop, usb};
use crate::framing::{FrameEvent, Framer};

/// How long one read waits when nothing is pending: the agent notices `stop` within this, and
/// an idle terminal wakes no more often.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

fn resolve(config: &ScannerConfig) -> Result<PathBuf, String> {
    if let Some(path) = &config.path {
        return Ok(path.clone());
    }
    let text = config.usb.as_deref().unwrap_or_default();
    let (vid, pid) = parse_usb_id(text).ok_or_else(|| format!("bad USB id {text:?}"))?;
    usb::find_usb(&usb::list_ports(), vid, pid)
        .ok_or_else(|| format!("no serial port of USB device {text} is plugged in"))
}

fn open(config: &ScannerConfig, path: &Path) -> Result<Box<dyn SerialPort>, String> {
    let data_bits = match config.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match config.parity {
        ParitySetting::None => Parity::None,
        ParitySetting::Odd => Parity::Odd,
        ParitySetting::Even => Parity::Even,
    };
    let stop_bits = if config.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    };
    serialport::new(path.to_string_lossy(), config.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .timeout(READ_TIMEOUT)
        .open()
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

fn deliver_frames(name: &Arc<str>, sink: &dyn Sink, events: Vec<FrameEvent>, at: Instant) {
    for event in events {
        match event {
            FrameEvent::Frame(frame) => sink.deliver(SourceEvent::Frame {
                scanner: name.clone(),
                frame,
                at,
            }),
            FrameEvent::Overlong { len } => sink.deliver(SourceEvent::Dropped {
                scanner: name.clone(),
                what: format!("a line of {len} bytes, longer than any barcode"),
            }),
            FrameEvent::Noise { bytes } => sink.deliver(SourceEvent::Dropped {
                scanner: name.clone(),
                what: format!("{bytes} noise bytes"),
            }),
        }
    }
}

/// Reads the port until it fails; returns why.
fn read_until_error(
    config: &ScannerConfig,
    port: &mut dyn SerialPort,
    name: &Arc<str>,
    sink: &dyn Sink,
    stop: &Stop,
) -> Option<String> {
    let mut framer = Framer::new(config.framer());
    let mut buf = [0u8; 512];
    let mut last_byte: Option<Instant> = None;
    while !stop.is_stopped() {
        match port.read(&mut buf) {
            // A hung-up pseudo-terminal or an unplugged USB-CDC port reads as end of file.
            Ok(0) => return Some("the port closed (unplugged?)".into()),
            Ok(n) => {
                let now = Instant::now();
                if config.terminator == TerminatorSetting::None && last_byte.is_none() {
                    // A scan has started: wait only the idle gap for the rest of it.
                    let _ = port.set_timeout(config.idle());
                }
                last_byte = Some(now);
                deliver_frames(name, sink, framer.push(&buf[..n]), now);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some(format!("read failed: {e}")),
        }
        if config.terminator == TerminatorSetting::None
            && let Some(at) = last_byte
            && at.elapsed() >= config.idle()
        {
            last_byte = None;
            let _ = port.set_timeout(READ_TIMEOUT);
            if let Some(event) = framer.flush_idle() {
                deliver_frames(name, sink, vec![event], at);
            }
        }
    }
    None
}

/// Runs a serial scanner until `stop`: open, read, and on failure reopen with backoff.
pub fn run(config: &ScannerConfig, sink: &dyn Sink, stop: &Stop) {
    let name: Arc<str> = config.name.as_str().into();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut last_error: Option<String> = None;
    while !stop.is_stopped() {
        let opened = resolve(config).and_then(|path| open(config, &path).map(|port| (path, port)));
        match opened {
            Ok((path, mut port)) => {
                backoff.reset();
                last_error = None;
                sink.deliver(SourceEvent::Connected {
                    scanner: name.clone(),
                    detail: format!("{} at {} baud", path.display(), config.baud),
                });
                if let Some(error) = read_until_error(config, port.as_mut(), &name, sink, stop) {
                    sink.deliver(SourceEvent::Disconnected {
                        scanner: name.clone(),
                        error,
                    });
                }
            }
            Err(error) => {
                // Report each new reason once, not every retry.
                if last_error.as_ref() != Some(&error) {
                    sink.deliver(SourceEvent::Disconnected {
                        scanner: name.clone(),
                        error: error.clone(),
                    });
                    last_error = Some(error);
                }
            }
        }
        if !stop.sleep(backoff.next_delay()) {
            break;
        }
    }
}
