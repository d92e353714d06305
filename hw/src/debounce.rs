//! The same code read again and again by one scanner counts once.
//!
//! A scanner in presentation (continuous) mode reads a card held under it several times a
//! second, and a cashier often pulls the trigger twice. A read is suppressed when the same
//! scanner saw the same code less than `window` ago; every sighting, suppressed or not, restarts
//! the window, so a card left lying under a scanner counts once however long it stays there.
//! Another scanner, or another code, is never suppressed.

use std::time::{Duration, Instant};

/// Most (scanner, code) pairs remembered; the oldest is forgotten first. Far more than the codes
/// a till sees within any sensible window.
pub const MAX_ENTRIES: usize = 256;

/// Remembers recent reads. Memory is bounded by [`MAX_ENTRIES`].
#[derive(Debug, Clone)]
pub struct Debouncer {
    window: Duration,
    /// (scanner, code, last sighting), oldest sighting first.
    seen: Vec<(String, String, Instant)>,
}

impl Debouncer {
    pub fn new(window: Duration) -> Self {
        Debouncer {
            window,
            seen: Vec::new(),
        }
    }

    /// True when this read counts; false when it repeats a read still inside the window.
    ///
    /// `now` should come from a monotonic clock; an earlier `now` than a remembered sighting is
    /// taken as "no time passed".
    pub fn accept(&mut self, scanner: &str, code: &str, now: Instant) -> bool {
        let window = self.window;
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < window;
        let previous = self
            .seen
            .iter()
            .position(|(s, c, _)| s == scanner && c == code);
        let repeat = match previous {
            Some(i) => {
                let entry = self.seen.remove(i);
                fresh(&entry.2)
            }
            None => false,
        };
        // Forget what has left the window, then the oldest if still full.
        self.seen.retain(|(_, _, at)| fresh(at));
        if self.seen.len() >= MAX_ENTRIES {
            let excess = self.seen.len() + 1 - MAX_ENTRIES;
            self.seen.drain(..excess);
        }
        self.seen.push((scanner.to_owned(), code.to_owned(), now));
        !repeat
    }

    /// Pairs remembered now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
