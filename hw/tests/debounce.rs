//! The debounce window, with instants built by hand (no sleeping).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tenpo_hw::Debouncer;
use tenpo_hw::debounce::MAX_ENTRIES;

const WINDOW: Duration = Duration::from_millis(1500);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_same_code_from_the_same_scanner_within_the_window_counts_once() {
    let t0 = Instant::now();
    let mut d = Debouncer::new(WINDOW);
    assert!(d.accept("till-1", "2000000000015", t0));
    assert!(!d.accept("till-1", "2000000000015", t0 + ms(200)));
    assert!(!d.accept("till-1", "2000000000015", t0 + ms(1000)));
}

#[test]
fn after_a_quiet_window_the_code_counts_again() {
    let t0 = Instant::now();
    let mut d = Debouncer::new(WINDOW);
    assert!(d.accept("till-1", "A1234B", t0));
    assert!(d.accept("till-1", "A1234B", t0 + WINDOW));
    assert!(!d.accept("till-1", "A1234B", t0 + WINDOW + ms(1)));
}

#[test]
fn a_card_held_under_a_presentation_scanner_counts_once() {
    // Read every 100 ms for 10 s: each sighting restarts the window.
    let t0 = Instant::now();
    let mut d = Debouncer::new(WINDOW);
    let counted = (0..100)
        .filter(|i| d.accept("till-1", "2000000000015", t0 + ms(100 * i)))
        .count();
    assert_eq!(counted, 1);
}

#[test]
fn other_scanners_and_other_codes_are_not_suppressed() {
    let t0 = Instant::now();
    let mut d = Debouncer::new(WINDOW);
    assert!(d.accept("till-1", "2000000000015", t0));
    assert!(d.accept("till-2", "2000000000015", t0 + ms(10)));
    assert!(d.accept("till-1", "2000000000022", t0 + ms(20)));
    assert!(!d.accept("till-2", "2000000000015", t0 + ms(30)));
    // Alternating two codes: each is still a repeat of itself.
    assert!(!d.accept("till-1", "2000000000015", t0 + ms(40)));
    assert!(!d.accept("till-1", "2000000000022", t0 + ms(50)));
}

#[test]
fn a_zero_window_suppresses_nothing_and_remembers_nothing_for_long() {
    let t0 = Instant::now();
    let mut d = Debouncer::new(Duration::ZERO);
    assert!(d.accept("s", "c", t0));
    assert!(d.accept("s", "c", t0));
    assert!(d.len() <= 1);
}

#[test]
fn an_earlier_instant_counts_as_no_time_passed() {
    let t0 = Instant::now() + Duration::from_secs(10);
    let mut d = Debouncer::new(WINDOW);
    assert!(d.accept("s", "c", t0));
    assert!(!d.accept("s", "c", t0 - Duration::from_secs(5)));
}

#[test]
fn memory_is_bounded_and_old_entries_are_forgotten() {
    let t0 = Instant::now();
    let mut d = Debouncer::new(Duration::from_secs(3600));
    for i in 0..(MAX_ENTRIES * 3) {
        assert!(d.accept("till-1", &format!("code-{i}"), t0 + ms(i as u64)));
        assert!(d.len() <= MAX_ENTRIES);
    }
    // The most recent are still remembered; the oldest were forgotten.
    let last = MAX_ENTRIES * 3 - 1;
    assert!(!d.accept("till-1", &format!("code-{last}"), t0 + ms(last as u64 + 1)));
    assert!(d.accept("till-1", "code-0", t0 + ms(last as u64 + 2)));
    // Everything leaves the window eventually.
    let mut d = Debouncer::new(WINDOW);
    for i in 0..10 {
        d.accept("s", &i.to_string(), t0);
    }
    d.accept("s", "late", t0 + WINDOW * 2);
    assert_eq!(d.len(), 1);
}
