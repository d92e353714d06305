//! Classification of every symbology, every rejection's message, and the LINE card QR signed by
//! the hub (`tenpo_codes::card::sign`) and verified here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use ed25519_dalek::SigningKey;
use tenpo_codes::card::{self, CardToken};
use tenpo_hw::code::DEFAULT_CARD_SKEW_SECS;
use tenpo_hw::{
    CodabarCheck, CodeRules, KeyError, KeyRing, MemberCode, Rejection, Scan, Symbology, classify,
    parse_frame, parse_member_code,
};

const NOW: i64 = 1_760_000_000;
/// An in-store JAN: 200000000001 and its check digit 5.
const MEMBER: &str = "2000000000015";

fn hub_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

fn rules() -> CodeRules {
    let mut ring = KeyRing::new();
    ring.insert(1, hub_key().verifying_key().to_bytes())
        .unwrap();
    CodeRules {
        card_keys: ring,
        ..CodeRules::default()
    }
}

fn token(issued_at: i64, valid_secs: u16) -> CardToken {
    CardToken {
        key_id: 1,
        member_number: MEMBER.into(),
        issued_at,
        valid_secs,
    }
}

fn qr(token: &CardToken) -> String {
    card::sign(token, &hub_key()).unwrap()
}

fn scan_frame(frame: &[u8]) -> Result<MemberCode, Rejection> {
    classify(&parse_frame(frame)?, &rules(), NOW)
}

// ---- parse_frame ----

#[test]
fn parse_frame_splits_aim_trims_and_guesses() {
    let scan = parse_frame(b"]E0 2000000000015 ").unwrap();
    assert_eq!(
        scan,
        Scan {
            symbology: Symbology::Ean13,
            payload: MEMBER.into()
        }
    );
    let cases: &[(&str, Symbology)] = &[
        ("2000000000015", Symbology::Ean13),
        ("96385074", Symbology::Ean8),
        ("A1234B", Symbology::Codabar),
        ("d12.34$e", Symbology::Codabar),
        ("T1.whatever", Symbology::Qr),
        ("200000000001", Symbology::Unknown),
        ("AB", Symbology::Unknown),
        ("A12X4B", Symbology::Unknown),
        ("hello", Symbology::Unknown),
        ("会員カード", Symbology::Unknown),
    ];
    for (text, symbology) in cases {
        assert_eq!(
            &parse_frame(text.as_bytes()).unwrap().symbology,
            symbology,
            "{text}"
        );
    }
}

#[test]
fn parse_frame_refuses_empty_bad_utf8_and_control_characters() {
    assert_eq!(parse_frame(b""), Err(Rejection::Empty));
    assert_eq!(parse_frame(b"  \t "), Err(Rejection::Empty));
    assert_eq!(parse_frame(b"]E0"), Err(Rejection::Empty));
    assert_eq!(parse_frame(b"\xff\xfe"), Err(Rejection::Unreadable));
    assert_eq!(parse_frame(b"]Q1\xc3("), Err(Rejection::Unreadable));
    assert_eq!(
        parse_frame(b"2000\x070000000015"),
        Err(Rejection::Unreadable)
    );
    assert_eq!(parse_frame(&[b'1'; 513]), Err(Rejection::Unreadable));
    // GS is allowed (GS1-128).
    assert_eq!(parse_frame(b"]C101\x1d10").unwrap().payload, "01\u{1d}10");
}

// ---- classify, symbology by symbology ----

#[test]
fn ean13_in_store_jan_is_a_member_card() {
    assert_eq!(
        scan_frame(b"]E02000000000015"),
        Ok(MemberCode::Jan(MEMBER.into()))
    );
    assert_eq!(
        scan_frame(b"2000000000015"),
        Ok(MemberCode::Jan(MEMBER.into()))
    );
    // Prefix 29, check digit computed by hand: 2912345678906.
    assert_eq!(
        scan_frame(b"2912345678906"),
        Ok(MemberCode::Jan("2912345678906".into()))
    );
}

#[test]
fn ean13_other_prefixes_and_ean8_are_products() {
    for frame in [
        &b"]E04901234567894"[..],
        b"4006381333931",
        b"]E496385074",
        b"73513537",
    ] {
        assert_eq!(
            scan_frame(frame),
            Err(Rejection::ProductBarcode),
            "{frame:?}"
        );
    }
    // UPC-A (Wikipedia's example 036000291452), with and without the leading 0, and add-ons.
    assert_eq!(
        scan_frame(b"]E0036000291452"),
        Err(Rejection::ProductBarcode)
    );
    assert_eq!(
        scan_frame(b"]E00036000291452"),
        Err(Rejection::ProductBarcode)
    );
    assert_eq!(scan_frame(b"]E0036000291453"), Err(Rejection::CheckDigit));
    assert_eq!(
        scan_frame(b"]E3490123456789412"),
        Err(Rejection::ProductBarcode)
    );
}

#[test]
fn wrong_check_digits_are_refused_whatever_the_prefix() {
    for frame in [
        &b"]E02000000000016"[..],
        b"2000000000010",
        b"4901234567890",
        b"]E496385075",
    ] {
        assert_eq!(scan_frame(frame), Err(Rejection::CheckDigit), "{frame:?}");
    }
    assert_eq!(scan_frame(b"]E0200000000001X"), Err(Rejection::Unreadable));
    assert_eq!(scan_frame(b"]E49638507X"), Err(Rejection::Unreadable));
}

#[test]
fn codabar_follows_the_configured_scheme() {
    assert_eq!(
        scan_frame(b"]F0A1234B"),
        Ok(MemberCode::Codabar("1234".into()))
    );
    assert_eq!(
        scan_frame(b"A1234B"),
        Ok(MemberCode::Codabar("1234".into()))
    );
    let mod16 = CodeRules {
        codabar_check: CodabarCheck::Mod16,
        ..rules()
    };
    let scan = parse_frame(b"]F0A37859+B").unwrap();
    assert_eq!(
        classify(&scan, &mod16, NOW),
        Ok(MemberCode::Codabar("37859".into()))
    );
    let scan = parse_frame(b"A37858+B").unwrap();
    assert_eq!(classify(&scan, &mod16, NOW), Err(Rejection::CheckDigit));
    // AIM says Codabar but the scanner strips start/stop: modulus 16 cannot be checked.
    let scan = parse_frame(b"]F037859+").unwrap();
    assert_eq!(
        classify(&scan, &mod16, NOW),
        Err(Rejection::CodabarStartStop)
    );
}

#[test]
fn code128_carrying_an_in_store_jan_is_the_line_static_barcode() {
    assert_eq!(
        scan_frame(b"]C02000000000015"),
        Ok(MemberCode::Jan(MEMBER.into()))
    );
    assert_eq!(
        scan_frame(b"]C12000000000015"),
        Ok(MemberCode::Jan(MEMBER.into()))
    );
    assert_eq!(scan_frame(b"]C02000000000016"), Err(Rejection::CheckDigit));
    for frame in [
        &b"]C04901234567894"[..],
        b"]C0ABC123",
        b"]C1010490123456789410ABC",
    ] {
        assert_eq!(
            scan_frame(frame),
            Err(Rejection::NotMemberCard),
            "{frame:?}"
        );
    }
}

#[test]
fn other_symbologies_are_not_member_cards() {
    for frame in [
        &b"]A0CODE39"[..],
        b"]I012345678",
        b"]d2010490123456789",
        b"]Q1https://example.invalid/",
        b"hello",
        b"200000000001",
    ] {
        assert_eq!(
            scan_frame(frame),
            Err(Rejection::NotMemberCard),
            "{frame:?}"
        );
    }
    // A card QR's text in a Code 128 is not a card.
    let text = qr(&token(NOW, 300));
    let frame = format!("]C0{text}");
    assert_eq!(scan_frame(frame.as_bytes()), Err(Rejection::NotMemberCard));
}

#[test]
fn parse_member_code_takes_what_the_pos_sends() {
    let r = rules();
    assert_eq!(
        parse_member_code(" 2000000000015\n", &r, NOW),
        Ok(MemberCode::Jan(MEMBER.into()))
    );
    assert_eq!(
        parse_member_code("A1234B", &r, NOW),
        Ok(MemberCode::Codabar("1234".into()))
    );
    assert_eq!(parse_member_code("", &r, NOW), Err(Rejection::Empty));
    let text = qr(&token(NOW, 300));
    assert_eq!(
        parse_member_code(&text, &r, NOW),
        Ok(MemberCode::LineCard {
            member_number: MEMBER.into(),
            key_id: 1
        })
    );
}

#[test]
fn member_code_keys() {
    assert_eq!(MemberCode::Jan(MEMBER.into()).key(), MEMBER);
    assert_eq!(MemberCode::Codabar("1234".into()).key(), "1234");
    let line = MemberCode::LineCard {
        member_number: MEMBER.into(),
        key_id: 7,
    };
    assert_eq!(line.key(), MEMBER);
    assert_eq!(line.to_string(), MEMBER);
}

// ---- the LINE card QR ----

#[test]
fn card_qr_signed_by_the_hub_verifies() {
    let text = qr(&token(NOW - 10, 300));
    assert!(text.len() <= 120, "{} characters", text.len());
    let expected = Ok(MemberCode::LineCard {
        member_number: MEMBER.into(),
        key_id: 1,
    });
    assert_eq!(scan_frame(format!("]Q1{text}").as_bytes()), expected);
    assert_eq!(scan_frame(text.as_bytes()), expected);
}

#[test]
fn card_qr_stays_within_120_characters_whatever_its_fields() {
    for (key_id, issued_at, valid_secs) in [
        (0, 0, 0),
        (u32::MAX, i64::MAX, u16::MAX),
        (u32::MAX, i64::MIN, u16::MAX),
    ] {
        let t = CardToken {
            key_id,
            member_number: "9999999999999".into(),
            issued_at,
            valid_secs,
        };
        let text = card::sign(&t, &hub_key()).unwrap();
        assert!(text.len() <= 120, "{} characters", text.len());
        assert_eq!(text.len(), card::TEXT_LEN);
    }
}

#[test]
fn tampered_card_qr_is_refused_at_every_position() {
    let text = qr(&token(NOW, 300));
    let body_start = card::PREFIX.len();
    for i in body_start..text.len() {
        let mut bytes = text.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let got = scan_frame(tampered.as_bytes());
        assert!(
            matches!(
                got,
                Err(Rejection::CardBadSignature
                    | Rejection::CardMalformed
                    | Rejection::CardUnknownKey { .. })
            ),
            "position {i}: {got:?}"
        );
    }
    // A change inside the signature itself is a bad signature.
    let mut bytes = text.into_bytes();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_eq!(
        scan_frame(tampered.as_bytes()),
        Err(Rejection::CardBadSignature)
    );
    // Truncated, and garbage after the prefix.
    assert_eq!(scan_frame(b"T1.abc"), Err(Rejection::CardMalformed));
    assert_eq!(
        scan_frame(&[b"T1.".as_slice(), &[b'!'; 116]].concat()),
        Err(Rejection::CardMalformed)
    );
}

#[test]
fn card_qr_from_another_key_is_refused() {
    // Signed by someone else under the hub's key id.
    let forged = card::sign(&token(NOW, 300), &SigningKey::from_bytes(&[0x13; 32])).unwrap();
    assert_eq!(
        scan_frame(forged.as_bytes()),
        Err(Rejection::CardBadSignature)
    );
    // A key id this terminal does not know.
    let mut t = token(NOW, 300);
    t.key_id = 9;
    assert_eq!(
        scan_frame(qr(&t).as_bytes()),
        Err(Rejection::CardUnknownKey { key_id: 9 })
    );
    // No keys at all.
    let none = CodeRules::default();
    let scan = parse_frame(qr(&token(NOW, 300)).as_bytes()).unwrap();
    assert_eq!(
        classify(&scan, &none, NOW),
        Err(Rejection::CardUnknownKey { key_id: 1 })
    );
}

#[test]
fn card_qr_expires_after_its_window_and_the_skew() {
    let r = rules();
    assert_eq!(r.card_skew_secs, DEFAULT_CARD_SKEW_SECS);
    let at = |issued_at: i64| {
        let scan = parse_frame(qr(&token(issued_at, 300)).as_bytes()).unwrap();
        classify(&scan, &r, NOW)
    };
    // Last second within window + skew, then one past it.
    assert!(at(NOW - 300 - 60).is_ok());
    assert_eq!(at(NOW - 300 - 61), Err(Rejection::CardExpired));
    // Without skew the window alone counts.
    let strict = CodeRules {
        card_skew_secs: 0,
        ..rules()
    };
    let scan = parse_frame(qr(&token(NOW - 300, 300)).as_bytes()).unwrap();
    assert!(classify(&scan, &strict, NOW).is_ok());
    let scan = parse_frame(qr(&token(NOW - 301, 300)).as_bytes()).unwrap();
    assert_eq!(classify(&scan, &strict, NOW), Err(Rejection::CardExpired));
    // A screenshot from yesterday.
    assert_eq!(at(NOW - 86_400), Err(Rejection::CardExpired));
    // Extreme times do not overflow.
    assert_eq!(at(i64::MIN), Err(Rejection::CardExpired));
}

#[test]
fn card_qr_from_the_future_is_refused_beyond_the_skew() {
    let r = rules();
    let at = |issued_at: i64| {
        let scan = parse_frame(qr(&token(issued_at, 300)).as_bytes()).unwrap();
        classify(&scan, &r, NOW)
    };
    assert!(at(NOW + 60).is_ok());
    assert_eq!(at(NOW + 61), Err(Rejection::CardNotYetValid));
    assert_eq!(at(i64::MAX), Err(Rejection::CardNotYetValid));
    let strict = CodeRules {
        card_skew_secs: 0,
        ..rules()
    };
    let scan = parse_frame(qr(&token(NOW + 1, 300)).as_bytes()).unwrap();
    assert_eq!(
        classify(&scan, &strict, NOW),
        Err(Rejection::CardNotYetValid)
    );
}

#[test]
fn card_qr_must_carry_an_in_store_jan() {
    for member in ["4901234567894", "2000000000016", "0000000000000"] {
        let t = CardToken {
            member_number: member.into(),
            ..token(NOW, 300)
        };
        assert_eq!(
            scan_frame(qr(&t).as_bytes()),
            Err(Rejection::CardMemberNumber),
            "{member}"
        );
    }
}

#[test]
fn key_ring_refuses_invalid_and_weak_keys() {
    let mut ring = KeyRing::new();
    assert!(ring.is_empty());
    // The identity point (y = 1) is a valid encoding of a small-order point.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(ring.insert(5, identity), Err(KeyError::Weak { key_id: 5 }));
    // y = 2 is not on the curve.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert_eq!(
        ring.insert(6, off_curve),
        Err(KeyError::Invalid { key_id: 6 })
    );
    assert!(ring.is_empty());
    ring.insert(1, hub_key().verifying_key().to_bytes())
        .unwrap();
    assert!(ring.contains(1) && ring.len() == 1);
    assert!(ring.remove(1));
    assert!(!ring.remove(1));
}

// ---- every rejection, in words ----

#[test]
fn every_rejection_reads_as_an_instruction_with_a_stable_reason_code() {
    let all = [
        (Rejection::Empty, "nothing was scanned: rescan", "empty"),
        (
            Rejection::Unreadable,
            "unreadable scan: rescan",
            "unreadable",
        ),
        (
            Rejection::CheckDigit,
            "check digit wrong: rescan",
            "check_digit",
        ),
        (
            Rejection::ProductBarcode,
            "not a member card: this is a product barcode",
            "product_barcode",
        ),
        (
            Rejection::NotMemberCard,
            "not a member card: scan the barcode on the customer's member card",
            "not_member_card",
        ),
        (
            Rejection::CodabarStartStop,
            "scanner setup: it must send Codabar start/stop characters; tell the store manager",
            "codabar_start_stop",
        ),
        (
            Rejection::CardMalformed,
            "card code damaged: ask the customer to reopen the card in LINE",
            "card_malformed",
        ),
        (
            Rejection::CardUnknownKey { key_id: 3 },
            "card code not signed by this program: ask the customer to reopen the card in LINE",
            "card_unknown_key",
        ),
        (
            Rejection::CardBadSignature,
            "card code not signed by this program: ask the customer to reopen the card in LINE",
            "card_bad_signature",
        ),
        (
            Rejection::CardExpired,
            "card code expired: ask the customer to refresh the card in LINE",
            "card_expired",
        ),
        (
            Rejection::CardNotYetValid,
            "card code not valid yet: check this terminal's date and time, then rescan",
            "card_not_yet_valid",
        ),
        (
            Rejection::CardMemberNumber,
            "card code has no valid member number: ask the customer to contact the store",
            "card_member_number",
        ),
    ];
    let mut codes = HashSet::new();
    for (rejection, message, code) in &all {
        assert_eq!(rejection.to_string(), *message);
        assert_eq!(rejection.reason_code(), *code);
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!(codes.insert(*code), "duplicate reason code {code}");
    }
}
