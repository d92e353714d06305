//! Arbitrary bytes through everything a scan goes through: Framer → parse_frame → classify, with
//! a real key ring, so that the LINE card path (decode, key lookup, signature) is exercised too.
//!
//! The first input byte picks the framer and rules configuration; the second how the rest is cut
//! into reads. When bit 7 of the first byte is set, the next 23 bytes become a card token that is
//! signed with the ring's key and its QR spliced into the stream, so accepted, expired and
//! future cards are reached as well as forged ones.

#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use tenpo_hw::framing::{FrameEvent, Framer, FramerConfig, Terminator};
use tenpo_hw::{CodabarCheck, CodeRules, KeyRing, MemberCode, classify, parse_frame};
use tenpo_codes::card::{self, CardToken};

const NOW: i64 = 1_760_000_000;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[0x42; 32]));

static RULES: LazyLock<[CodeRules; 6]> = LazyLock::new(|| {
    let mut ring = KeyRing::new();
    let _ = ring.insert(1, KEY.verifying_key().to_bytes());
    let checks = [
        CodabarCheck::None,
        CodabarCheck::Mod16,
        CodabarCheck::Mod10Luhn,
        CodabarCheck::Mod11,
        CodabarCheck::SevenDr,
        CodabarCheck::SevenDsr,
    ];
    checks.map(|codabar_check| CodeRules {
        codabar_check,
        card_keys: ring.clone(),
        card_skew_secs: 60,
    })
});

fn check(event: FrameEvent, max_len: usize, rules: &CodeRules) {
    let FrameEvent::Frame(bytes) = event else {
        return;
    };
    assert!(!bytes.is_empty() && bytes.len() <= max_len);
    let Ok(scan) = parse_frame(&bytes) else {
        return;
    };
    if let Ok(code) = classify(&scan, rules, NOW) {
        assert!(!code.key().is_empty());
        if let MemberCode::Jan(jan) | MemberCode::LineCard { member_number: jan, .. } = &code {
            assert!(jan.len() == 13 && jan.starts_with('2'));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [config, cut, rest @ ..] = data else {
        return;
    };
    let terminator = match config & 0b11 {
        0 => Terminator::Cr,
        1 => Terminator::Lf,
        2 => Terminator::CrLf,
        _ => Terminator::None,
    };
    let (prefix, suffix) = if config & 0b100 != 0 {
        (vec![0x02], vec![0x03])
    } else {
        (Vec::new(), Vec::new())
    };
    let max_len = if config & 0b1000 != 0 { 32 } else { 512 };
    let rules = &RULES[usize::from((config >> 4) & 0b111) % RULES.len()];

    let mut stream = Vec::with_capacity(rest.len() + card::TEXT_LEN + 2);
    let mut rest = rest;
    if config & 0x80 != 0
        && let Some((fields, tail)) = rest.split_first_chunk::<{ card::PAYLOAD_LEN }>()
    {
        let member = u64::from_be_bytes(fields[5..13].try_into().unwrap_or_default());
        let token = CardToken {
            key_id: u32::from(fields[0] & 1),
            member_number: format!("{:013}", member % 10_000_000_000_000),
            // Near NOW most of the time, so that all three time outcomes are reached.
            issued_at: NOW + i64::from(i16::from_be_bytes([fields[13], fields[14]])),
            valid_secs: u16::from_be_bytes([fields[21], fields[22]]),
        };
        if let Ok(text) = card::sign(&token, &KEY) {
            stream.extend_from_slice(text.as_bytes());
            stream.push(b'\r');
        }
        rest = tail;
    }
    stream.extend_from_slice(rest);

    let mut framer = Framer::new(FramerConfig {
        terminator,
        prefix,
        suffix,
        max_len,
    });
    let read_len = usize::from(*cut).max(1);
    for read in stream.chunks(read_len) {
        for event in framer.push(read) {
            check(event, max_len, rules);
        }
        assert!(framer.buffered() <= max_len + 2);
    }
    if let Some(event) = framer.flush_idle() {
        check(event, max_len, rules);
    }
    // What the POS sends over HTTP takes the same road without the framer.
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = tenpo_hw::parse_member_code(text, rules, NOW);
    }
});
