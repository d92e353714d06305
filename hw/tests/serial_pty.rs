//! The serial source driven the way a scanner drives it: through real pseudo-terminal pairs.
//! The test writes to the master end; the source opens the slave by path, like a real port.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};
use tenpo_hw::source::{self, Kind, ScannerConfig, SourceEvent, Stop, TerminatorSetting};

/// The longest any single wait may take before the test fails (a bound, not a timing claim).
const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    events: mpsc::Receiver<SourceEvent>,
    stop: Stop,
}

impl Harness {
    fn start(config: ScannerConfig) -> Harness {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let sink: Arc<dyn source::Sink> = Arc::new(move |e: SourceEvent| {
            let _ = tx.lock().unwrap().send(e);
        });
        let stop = Stop::new();
        source::spawn(config, sink, stop.clone()).unwrap();
        Harness { events: rx, stop }
    }

    fn next(&self) -> SourceEvent {
        self.events
            .recv_timeout(WAIT)
            .expect("the source said nothing")
    }

    fn connected(&self) {
        loop {
            match self.next() {
                SourceEvent::Connected { .. } => return,
                SourceEvent::Disconnected { .. } => {}
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    }

    fn frame(&self) -> Vec<u8> {
        loop {
            match self.next() {
                SourceEvent::Frame { frame, .. } => return frame,
                SourceEvent::Dropped { .. } => {}
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

fn pair() -> (TTYPort, TTYPort, PathBuf) {
    let (master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
    let path = PathBuf::from(slave.name().expect("the slave has a path"));
    (master, slave, path)
}

fn serial(path: &Path) -> ScannerConfig {
    let mut c = ScannerConfig::new("till", Kind::Serial);
    c.path = Some(path.to_owned());
    c
}

fn write(master: &mut TTYPort, bytes: &[u8]) {
    master.write_all(bytes).unwrap();
    master.flush().unwrap();
}

#[test]
fn reads_codes_at_the_configured_line_settings() {
    let (mut master, _slave, path) = pair();
    let mut config = serial(&path);
    config.baud = 9600;
    config.data_bits = 7;
    config.parity = source::ParitySetting::Even;
    config.stop_bits = 1;
    let h = Harness::start(config);
    h.connected();
    // The port is in raw mode (no line editing, no echo, a read returns as soon as a byte is
    // there), read back with stty. Linux pseudo-terminals keep their hardware bits (speed,
    // character size, parity) whatever is asked, so those cannot be read back here; that the
    // port opened and reads at 9600 7E1 is what a pty can show.
    let stty = std::process::Command::new("stty")
        .arg("-F")
        .arg(&path)
        .arg("-a")
        .output()
        .unwrap();
    let settings = String::from_utf8_lossy(&stty.stdout);
    assert!(
        settings.contains("-icanon") && settings.contains("-echo "),
        "{settings}"
    );
    assert!(settings.contains("min = 1"), "{settings}");
    write(&mut master, b"2000000000015\r");
    assert_eq!(h.frame(), b"2000000000015");
}

#[test]
fn split_writes_noise_and_several_codes_in_one_read() {
    let (mut master, _slave, path) = pair();
    let h = Harness::start(serial(&path));
    h.connected();
    for chunk in [&b"20000"[..], b"0000", b"0015", b"\r"] {
        write(&mut master, chunk);
    }
    assert_eq!(h.frame(), b"2000000000015");
    write(&mut master, b"\x00\x07200000000002\x1b2\r");
    assert_eq!(h.frame(), b"2000000000022", "noise bytes are dropped");
    write(&mut master, b"2000000000015\r2000000000039\r\n");
    assert_eq!(h.frame(), b"2000000000015");
    assert_eq!(h.frame(), b"2000000000039");
}

#[test]
fn an_overlong_line_is_dropped_and_the_next_code_still_reads() {
    let (mut master, _slave, path) = pair();
    let h = Harness::start(serial(&path));
    h.connected();
    write(&mut master, &[b'7'; 2000]);
    write(&mut master, b"\r2000000000015\r");
    let mut dropped = false;
    let frame = loop {
        match h.next() {
            SourceEvent::Dropped { what, .. } => {
                dropped |= what.contains("longer than any barcode")
            }
            SourceEvent::Frame { frame, .. } => break frame,
            other => panic!("{other:?}"),
        }
    };
    assert!(dropped, "the overlong line is reported");
    assert_eq!(frame, b"2000000000015");
}

#[test]
fn aim_prefixes_and_non_utf8_reach_the_parser_intact() {
    let (mut master, _slave, path) = pair();
    let h = Harness::start(serial(&path));
    h.connected();
    write(&mut master, b"]E02000000000015\r");
    let frame = h.frame();
    assert_eq!(frame, b"]E02000000000015");
    let scan = tenpo_hw::parse_frame(&frame).unwrap();
    assert_eq!(scan.symbology, tenpo_hw::Symbology::Ean13);
    assert_eq!(scan.payload, "2000000000015");
    write(&mut master, b"\xff\xfe\xfd\r");
    let frame = h.frame();
    assert!(
        tenpo_hw::parse_frame(&frame).is_err(),
        "not UTF-8 is rejected by the parser, not the source"
    );
}

#[test]
fn without_a_terminator_a_quiet_line_ends_the_scan() {
    let (mut master, _slave, path) = pair();
    let mut config = serial(&path);
    config.terminator = TerminatorSetting::None;
    config.idle_ms = 30;
    let h = Harness::start(config);
    h.connected();
    write(&mut master, b"A1234");
    write(&mut master, b"5678B");
    assert_eq!(h.frame(), b"A12345678B");
}

#[test]
fn prefix_and_suffix_are_stripped() {
    let (mut master, _slave, path) = pair();
    let mut config = serial(&path);
    config.prefix = "#".into();
    config.suffix = "!".into();
    let h = Harness::start(config);
    h.connected();
    write(&mut master, b"#2000000000015!\r");
    assert_eq!(h.frame(), b"2000000000015");
}

/// Unplugging closes the master; replugging makes a new pair behind the same configured path
/// (a symlink, as udev's `/dev/serial/by-id/…` is). The source reconnects by itself.
#[test]
fn unplug_and_replug() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Scanner-if00");
    let (mut master, slave, path) = pair();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let h = Harness::start(serial(&link));
    h.connected();
    write(&mut master, b"2000000000015\r");
    assert_eq!(h.frame(), b"2000000000015");

    drop(master);
    drop(slave);
    std::fs::remove_file(&link).unwrap();
    match h.next() {
        SourceEvent::Disconnected { error, .. } => assert!(!error.is_empty()),
        other => panic!("expected Disconnected, got {other:?}"),
    }

    let (mut master, _slave, path) = pair();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    h.connected();
    write(&mut master, b"2000000000022\r");
    assert_eq!(h.frame(), b"2000000000022");
}

#[test]
fn a_missing_port_is_reported_once_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("not-yet");
    let h = Harness::start(serial(&link));
    match h.next() {
        SourceEvent::Disconnected { error, .. } => {
            assert!(error.contains("cannot open"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    let (mut master, _slave, path) = pair();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    h.connected();
    write(&mut master, b"2000000000039\r");
    assert_eq!(h.frame(), b"2000000000039");
}
