//! Bytes from a scanner into frames, one per scanned code.
//!
//! A scanner is a byte stream: a serial read may hold half a code, or three codes, and scanners
//! are often set up with a different line end than the one the store expects. The [`Framer`]
//! reassembles the stream whatever the read boundaries are:
//!
//! - CR, LF and CRLF all end a frame, whatever [`Terminator`] is configured (a scanner set to send
//!   CR that sends CRLF still works), and empty frames are never produced, so `\r\n`, `\n\n` or a
//!   line end at the very start are harmless.
//! - Other control bytes (below 0x20, and DEL) are noise: dropped and counted, except GS (0x1D),
//!   which separates fields in GS1-128 and is kept.
//! - Bytes 0x80 and above are kept: QR payloads may be UTF-8, which is checked later.
//! - A frame longer than `max_len` is dropped whole, up to its line end, and reported once.
//! - The configured prefix and suffix are stripped when present.
//!
//! The framer never holds more than `max_len + prefix.len() + suffix.len()` bytes, and never
//! panics, whatever the input.

/// The line end the scanner is set up to send. CR, LF and CRLF are all accepted as a line end
/// whichever is set; what the setting changes is what an idle gap means (see
/// [`Framer::flush_idle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminator {
    /// Carriage return (the factory setting of most serial scanners).
    #[default]
    Cr,
    /// Line feed.
    Lf,
    /// Carriage return then line feed.
    CrLf,
    /// No line end: a frame ends after an idle gap (the source calls [`Framer::flush_idle`]), or
    /// at the configured suffix when there is one.
    None,
}

/// How to cut a scanner's byte stream into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramerConfig {
    pub terminator: Terminator,
    /// Bytes the scanner sends before each code (stripped when present). Must not contain CR or LF.
    pub prefix: Vec<u8>,
    /// Bytes the scanner sends after each code, before the line end (stripped when present). Must
    /// not contain CR or LF.
    pub suffix: Vec<u8>,
    /// Longest frame accepted, in bytes, prefix and suffix excluded.
    pub max_len: usize,
}

/// Default for [`FramerConfig::max_len`]: longer than any member code or card QR.
pub const DEFAULT_MAX_LEN: usize = 512;

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            terminator: Terminator::default(),
            prefix: Vec::new(),
            suffix: Vec::new(),
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

/// What the framer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// One scanned code: never empty, prefix and suffix stripped, noise removed.
    Frame(Vec<u8>),
    /// A frame longer than `max_len` was dropped; `len` counts its bytes (saturating).
    Overlong { len: usize },
    /// Control bytes dropped from one frame, or a fragment dropped at an idle gap when a line end
    /// was expected. Reported before the frame they were dropped from.
    Noise { bytes: usize },
}

/// Turns a scanner's byte stream into [`FrameEvent`]s. See the module documentation.
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    /// Bytes of the current frame so far, control bytes included (they are removed at the end so
    /// that a prefix or suffix made of control bytes, such as STX/ETX, can be stripped first).
    buf: Vec<u8>,
    /// The current frame is over-long and being skipped; the count of its bytes so far.
    skipping: Option<usize>,
}

const CR: u8 = b'\r';
const LF: u8 = b'\n';
/// Group separator: GS1-128's field separator (FNC1), kept in frames.
const GS: u8 = 0x1d;

impl Framer {
    pub fn new(cfg: FramerConfig) -> Framer {
        // A prefix or suffix with a line end in it could never be seen whole; drop those bytes
        // rather than never matching.
        let mut cfg = cfg;
        cfg.prefix.retain(|b| *b != CR && *b != LF);
        cfg.suffix.retain(|b| *b != CR && *b != LF);
        Framer {
            buf: Vec::with_capacity(64),
            skipping: None,
            cfg,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &FramerConfig {
        &self.cfg
    }

    /// Bytes held for the frame in progress (for tests and metrics).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds the bytes of one read and returns what they completed, in stream order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<FrameEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if b == CR || b == LF {
                self.end_frame(&mut events);
                continue;
            }
            if let Some(len) = self.skipping.as_mut() {
                *len = len.saturating_add(1);
                continue;
            }
            if self.buf.len() >= self.capacity() {
                self.skipping = Some(self.buf.len().saturating_add(1));
                self.buf.clear();
                continue;
            }
            self.buf.push(b);
            if self.cfg.terminator == Terminator::None
                && !self.cfg.suffix.is_empty()
                && self.buf.ends_with(&self.cfg.suffix)
            {
                self.end_frame(&mut events);
            }
        }
        events
    }

    /// Tells the framer the scanner has been quiet for a while.
    ///
    /// With [`Terminator::None`] this ends the frame in progress. With a line end configured, a
    /// fragment still waiting for its line end is a broken read: it is dropped and reported as
    /// [`FrameEvent::Noise`] so that it does not glue itself to the next code. An over-long frame
    /// in progress is reported as [`FrameEvent::Overlong`] in both cases.
    pub fn flush_idle(&mut self) -> Option<FrameEvent> {
        if let Some(len) = self.skipping.take() {
            return Some(FrameEvent::Overlong { len });
        }
        if self.buf.is_empty() {
            return None;
        }
        if self.cfg.terminator != Terminator::None {
            let bytes = self.buf.len();
            self.buf.clear();
            return Some(FrameEvent::Noise { bytes });
        }
        let mut events = Vec::with_capacity(2);
        self.end_frame(&mut events);
        // `end_frame` gives at most a noise report and a frame; a frame matters more. When noise
        // was dropped from it the count is lost, which only metrics would notice.
        events
            .iter()
            .position(|e| matches!(e, FrameEvent::Frame(_)))
            .map(|i| events.swap_remove(i))
            .or_else(|| events.pop())
    }

    /// Most bytes a frame may hold before it is over-long: the frame plus its prefix and suffix.
    fn capacity(&self) -> usize {
        self.cfg
            .max_len
            .saturating_add(self.cfg.prefix.len())
            .saturating_add(self.cfg.suffix.len())
    }

    fn end_frame(&mut self, events: &mut Vec<FrameEvent>) {
        if let Some(len) = self.skipping.take() {
            events.push(FrameEvent::Overlong { len });
            return;
        }
        if self.buf.is_empty() {
            return;
        }
        let mut raw: &[u8] = &self.buf;
        if let Some(rest) = raw.strip_prefix(self.cfg.prefix.as_slice()) {
            raw = rest;
        }
        if let Some(rest) = raw.strip_suffix(self.cfg.suffix.as_slice()) {
            raw = rest;
        }
        let frame: Vec<u8> = raw.iter().copied().filter(|b| !is_noise(*b)).collect();
        let noise = raw.len() - frame.len();
        self.buf.clear();
        if noise > 0 {
            events.push(FrameEvent::Noise { bytes: noise });
        }
        if frame.len() > self.cfg.max_len {
            events.push(FrameEvent::Overlong { len: frame.len() });
        } else if !frame.is_empty() {
            events.push(FrameEvent::Frame(frame));
        }
    }
}

/// Control bytes that are neither line ends nor GS.
fn is_noise(b: u8) -> bool {
    (b < 0x20 && b != GS) || b == 0x7f
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn frames(events: &[FrameEvent]) -> Vec<&[u8]> {
        events
            .iter()
            .filter_map(|e| match e {
                FrameEvent::Frame(f) => Some(f.as_slice()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn idle_flush_with_a_line_end_configured_drops_the_fragment() {
        let mut f = Framer::new(FramerConfig::default());
        assert!(f.push(b"12345").is_empty());
        assert_eq!(f.flush_idle(), Some(FrameEvent::Noise { bytes: 5 }));
        let ev = f.push(b"2000000000015\r");
        assert_eq!(frames(&ev), vec![b"2000000000015".as_slice()]);
        assert_eq!(f.flush_idle(), None);
    }

    #[test]
    fn suffix_ends_a_frame_when_there_is_no_line_end() {
        let cfg = FramerConfig {
            terminator: Terminator::None,
            prefix: vec![0x02],
            suffix: vec![0x03],
            ..FramerConfig::default()
        };
        let mut f = Framer::new(cfg);
        let ev = f.push(b"\x02A1234B\x03\x02A5678B\x03");
        assert_eq!(frames(&ev), vec![b"A1234B".as_slice(), b"A5678B"]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn overlong_at_idle_is_reported_once() {
        let cfg = FramerConfig {
            terminator: Terminator::None,
            max_len: 4,
            ..FramerConfig::default()
        };
        let mut f = Framer::new(cfg);
        assert!(f.push(b"123456789").is_empty());
        assert_eq!(f.flush_idle(), Some(FrameEvent::Overlong { len: 9 }));
        assert_eq!(f.flush_idle(), None);
    }
}
