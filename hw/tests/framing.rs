//! The framer against what real scanners send: split reads, several codes per read, any line
//! end, noise, over-long lines, prefixes and suffixes, idle gaps, and arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tenpo_hw::framing::{FrameEvent, Framer, FramerConfig, Terminator};
use tenpo_hw::{Rejection, parse_frame};

fn framer(terminator: Terminator) -> Framer {
    Framer::new(FramerConfig {
        terminator,
        ..FramerConfig::default()
    })
}

fn frame(bytes: &[u8]) -> FrameEvent {
    FrameEvent::Frame(bytes.to_vec())
}

#[test]
fn a_code_written_byte_by_byte_reassembles() {
    let mut f = framer(Terminator::Cr);
    let mut events = Vec::new();
    for b in b"2000000000015\r" {
        events.extend(f.push(std::slice::from_ref(b)));
    }
    assert_eq!(events, vec![frame(b"2000000000015")]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn several_codes_in_one_read_give_several_frames() {
    let mut f = framer(Terminator::Cr);
    let events = f.push(b"A1234B\r4901234567894\r]Q1T1.abc\r");
    assert_eq!(
        events,
        vec![
            frame(b"A1234B"),
            frame(b"4901234567894"),
            frame(b"]Q1T1.abc")
        ]
    );
}

#[test]
fn a_code_split_across_reads_with_the_next_one_reassembles() {
    let mut f = framer(Terminator::CrLf);
    assert!(f.push(b"20000").is_empty());
    assert_eq!(f.push(b"00000015\r"), vec![frame(b"2000000000015")]);
    assert_eq!(f.push(b"\nA12"), vec![]);
    assert_eq!(f.push(b"34B\r\n"), vec![frame(b"A1234B")]);
}

#[test]
fn cr_lf_and_crlf_all_end_a_line_whatever_is_configured_and_no_frame_is_empty() {
    for terminator in [
        Terminator::Cr,
        Terminator::Lf,
        Terminator::CrLf,
        Terminator::None,
    ] {
        let mut f = framer(terminator);
        let events = f.push(b"\r\n\ra\r\nb\nc\rd\n\r\n\n\re\r\r");
        assert_eq!(
            events,
            vec![
                frame(b"a"),
                frame(b"b"),
                frame(b"c"),
                frame(b"d"),
                frame(b"e")
            ],
            "{terminator:?}"
        );
    }
}

#[test]
fn control_bytes_are_noise_but_gs_is_kept() {
    let mut f = framer(Terminator::Cr);
    let events = f.push(b"\x0020000\x07000000\x1b15\x7f\r");
    assert_eq!(
        events,
        vec![FrameEvent::Noise { bytes: 4 }, frame(b"2000000000015")]
    );
    // GS separates GS1-128 fields.
    assert_eq!(
        f.push(b"]C10112345678901231\x1d10ABC\r"),
        vec![frame(b"]C10112345678901231\x1d10ABC")]
    );
    // A line of noise alone gives no frame.
    assert_eq!(
        f.push(b"\x00\x01\x02\r"),
        vec![FrameEvent::Noise { bytes: 3 }]
    );
}

#[test]
fn bytes_above_ascii_are_kept_and_bad_utf8_is_refused_later() {
    let mut f = framer(Terminator::Lf);
    let events = f.push("会員\n".as_bytes());
    assert_eq!(events, vec![frame("会員".as_bytes())]);
    let events = f.push(b"\xff\xfe2000000000015\n");
    assert_eq!(events, vec![frame(b"\xff\xfe2000000000015")]);
    let FrameEvent::Frame(bytes) = &events[0] else {
        panic!("not a frame");
    };
    assert_eq!(parse_frame(bytes), Err(Rejection::Unreadable));
}

#[test]
fn an_overlong_line_is_dropped_whole_and_reported_once_then_framing_goes_on() {
    let mut f = Framer::new(FramerConfig {
        max_len: 16,
        ..FramerConfig::default()
    });
    let mut events = f.push(&[b'9'; 40]);
    assert!(events.is_empty());
    assert!(f.buffered() <= 16);
    events.extend(f.push(&[b'9'; 40]));
    events.extend(f.push(b"\r2000000000015\r"));
    assert_eq!(
        events,
        vec![FrameEvent::Overlong { len: 80 }, frame(b"2000000000015")]
    );
    // Exactly max_len is fine.
    assert_eq!(f.push(&[b'1'; 17][..]), vec![]);
    assert_eq!(f.push(b"\r"), vec![FrameEvent::Overlong { len: 17 }]);
    let sixteen = [b'1'; 16];
    assert_eq!(
        f.push(&[&sixteen[..], b"\r"].concat()),
        vec![frame(&sixteen)]
    );
}

#[test]
fn prefix_and_suffix_are_stripped_when_present() {
    let mut f = Framer::new(FramerConfig {
        prefix: b"\x02S1:".to_vec(),
        suffix: b"\x03".to_vec(),
        ..FramerConfig::default()
    });
    assert_eq!(
        f.push(b"\x02S1:2000000000015\x03\r"),
        vec![frame(b"2000000000015")]
    );
    // Missing prefix or suffix: the frame is kept as sent (control bytes still removed).
    assert_eq!(f.push(b"A1234B\x03\r"), vec![frame(b"A1234B")]);
    assert_eq!(f.push(b"\x02S1:A1234B\r"), vec![frame(b"A1234B")]);
    // Prefix and suffix alone are no frame.
    assert_eq!(f.push(b"\x02S1:\x03\r"), vec![]);
}

#[test]
fn with_no_line_end_the_idle_gap_ends_a_frame() {
    let mut f = framer(Terminator::None);
    assert!(f.push(b"2000000").is_empty());
    assert!(f.push(b"000015").is_empty());
    assert_eq!(f.flush_idle(), Some(frame(b"2000000000015")));
    assert_eq!(f.flush_idle(), None);
    // A line end still ends a frame at once.
    assert_eq!(f.push(b"A1234B\r"), vec![frame(b"A1234B")]);
    assert_eq!(f.flush_idle(), None);
    // Noise alone at an idle gap.
    f.push(b"\x07");
    assert_eq!(f.flush_idle(), Some(FrameEvent::Noise { bytes: 1 }));
}

/// Bytes a clean frame may hold: printable ASCII, GS, and anything above ASCII.
fn clean_byte() -> impl Strategy<Value = u8> {
    prop_oneof![0x20u8..=0x7e, Just(0x1du8), 0x80u8..=0xff]
}

/// Cuts `bytes` at the given points (taken modulo its length) into reads.
fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (bytes.len() + 1))
        .chain([0, bytes.len()])
        .collect();
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_byte_soup_never_panics_and_memory_stays_bounded(
        reads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
        max_len in 0usize..64,
        terminator in prop_oneof![
            Just(Terminator::Cr), Just(Terminator::Lf), Just(Terminator::CrLf), Just(Terminator::None)
        ],
        idle_every in 1usize..5,
    ) {
        let mut f = Framer::new(FramerConfig { terminator, max_len, ..FramerConfig::default() });
        for (i, read) in reads.iter().enumerate() {
            let mut events = f.push(read);
            prop_assert!(f.buffered() <= max_len);
            if i % idle_every == 0 {
                events.extend(f.flush_idle());
            }
            for event in events {
                if let FrameEvent::Frame(bytes) = event {
                    prop_assert!(!bytes.is_empty());
                    prop_assert!(bytes.len() <= max_len);
                    prop_assert!(bytes.iter().all(|b| *b >= 0x20 || *b == 0x1d));
                    prop_assert!(!bytes.contains(&0x7f));
                    // Whatever the framer lets through, parsing never panics either.
                    let _ = parse_frame(&bytes);
                }
            }
        }
    }

    #[test]
    fn clean_frames_joined_with_cr_round_trip_whatever_the_reads(
        frames in proptest::collection::vec(proptest::collection::vec(clean_byte(), 1..=64), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied().chain([b'\r'])).collect();
        let mut f = Framer::new(FramerConfig { max_len: 64, ..FramerConfig::default() });
        let mut events = Vec::new();
        for read in chunks(&stream, &cuts) {
            events.extend(f.push(&read));
        }
        let expected: Vec<FrameEvent> = frames.into_iter().map(FrameEvent::Frame).collect();
        prop_assert_eq!(events, expected);
        prop_assert_eq!(f.flush_idle(), None);
    }
}
