//! Which scans are member codes (docs/design.md §6).
//!
//! - Paper cards: a 13-digit in-store JAN (prefix 20–29) with its check digit, or Codabar (NW-7)
//!   with the store's check scheme.
//! - The LINE digital card: its static member barcode (Code 128 carrying the in-store JAN), and its
//!   rotating QR signed by the hub ([`tenpo_codes::card`]), checked here offline against the
//!   hub's public keys and a time window.
//!
//! Anything else is a [`Rejection`] whose message tells the cashier what to do. Nothing here
//! panics, whatever the input.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use tenpo_codes::card;

use crate::aim::split_aim;
use crate::framing::DEFAULT_MAX_LEN;
use crate::symbology::{CodabarCheck, Symbology, codabar_parse, digit_values, gtin_valid};

/// One scanned code: its symbology and its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scan {
    pub symbology: Symbology,
    /// The code's text, AIM identifier removed, trimmed; valid UTF-8 with no control characters
    /// other than GS (GS1-128's field separator).
    pub payload: String,
}

/// A code that identifies a member.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberCode {
    /// A 13-digit in-store JAN (prefix 20–29) with a valid check digit: a paper card, or the LINE
    /// card's static barcode.
    Jan(String),
    /// The data characters of a Codabar card, without start/stop or check character.
    Codabar(String),
    /// The LINE card's rotating QR, signature and time window checked.
    LineCard { member_number: String, key_id: u32 },
}

impl MemberCode {
    /// What the member cache is keyed by: the JAN's 13 digits, the Codabar data, or the LINE
    /// card's member number (itself a 13-digit in-store JAN, so a LINE card and the paper card
    /// with the same number find the same member).
    pub fn key(&self) -> &str {
        match self {
            MemberCode::Jan(jan) => jan,
            MemberCode::Codabar(data) => data,
            MemberCode::LineCard { member_number, .. } => member_number,
        }
    }
}

impl fmt::Display for MemberCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Why a scan is not accepted as a member code. Each message is a sentence a cashier can act on;
/// [`Rejection::reason_code`] is the stable name for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("nothing was scanned: rescan")]
    Empty,
    #[error("unreadable scan: rescan")]
    Unreadable,
    #[error("check digit wrong: rescan")]
    CheckDigit,
    #[error("not a member card: this is a product barcode")]
    ProductBarcode,
    #[error("not a member card: scan the barcode on the customer's member card")]
    NotMemberCard,
    #[error("scanner setup: it must send Codabar start/stop characters; tell the store manager")]
    CodabarStartStop,
    #[error("card code damaged: ask the customer to reopen the card in LINE")]
    CardMalformed,
    #[error("card code not signed by this program: ask the customer to reopen the card in LINE")]
    CardUnknownKey { key_id: u32 },
    #[error("card code not signed by this program: ask the customer to reopen the card in LINE")]
    CardBadSignature,
    #[error("card code expired: ask the customer to refresh the card in LINE")]
    CardExpired,
    #[error("card code not valid yet: check this terminal's date and time, then rescan")]
    CardNotYetValid,
    #[error("card code has no valid member number: ask the customer to contact the store")]
    CardMemberNumber,
}

impl Rejection {
    /// A stable snake_case name for logs and metrics.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::Unreadable => "unreadable",
            Rejection::CheckDigit => "check_digit",
            Rejection::ProductBarcode => "product_barcode",
            Rejection::NotMemberCard => "not_member_card",
            Rejection::CodabarStartStop => "codabar_start_stop",
            Rejection::CardMalformed => "card_malformed",
            Rejection::CardUnknownKey { .. } => "card_unknown_key",
            Rejection::CardBadSignature => "card_bad_signature",
            Rejection::CardExpired => "card_expired",
            Rejection::CardNotYetValid => "card_not_yet_valid",
            Rejection::CardMemberNumber => "card_member_number",
        }
    }
}

/// A public key the ring refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("card key {key_id} is not a valid Ed25519 public key")]
    Invalid { key_id: u32 },
    #[error("card key {key_id} is a weak (small-order) Ed25519 key")]
    Weak { key_id: u32 },
}

/// The hub's card-signing public keys by key id (several during a key rotation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: BTreeMap<u32, VerifyingKey>,
}

impl KeyRing {
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Adds or replaces the key with this id.
    pub fn insert(&mut self, key_id: u32, public_key: [u8; 32]) -> Result<(), KeyError> {
        let key =
            VerifyingKey::from_bytes(&public_key).map_err(|_| KeyError::Invalid { key_id })?;
        if key.is_weak() {
            return Err(KeyError::Weak { key_id });
        }
        self.keys.insert(key_id, key);
        Ok(())
    }

    /// Removes a retired key; true when it was there.
    pub fn remove(&mut self, key_id: u32) -> bool {
        self.keys.remove(&key_id).is_some()
    }

    pub fn contains(&self, key_id: u32) -> bool {
        self.keys.contains_key(&key_id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn get(&self, key_id: u32) -> Option<&VerifyingKey> {
        self.keys.get(&key_id)
    }
}

/// Default for [`CodeRules::card_skew_secs`].
pub const DEFAULT_CARD_SKEW_SECS: i64 = 60;

/// What a terminal accepts as a member code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRules {
    /// The check scheme of the store's Codabar cards.
    pub codabar_check: CodabarCheck,
    /// The hub's public keys for the LINE card QR. Empty: every card QR is refused.
    pub card_keys: KeyRing,
    /// Clock difference tolerated between hub and terminal, in seconds, both ways.
    pub card_skew_secs: i64,
}

impl Default for CodeRules {
    fn default() -> Self {
        CodeRules {
            codabar_check: CodabarCheck::default(),
            card_keys: KeyRing::new(),
            card_skew_secs: DEFAULT_CARD_SKEW_SECS,
        }
    }
}

/// Turns a frame into a [`Scan`]: AIM identifier split off, UTF-8 checked, whitespace trimmed,
/// and, with no AIM identifier, the symbology guessed from the shape (13 digits → EAN-13,
/// 8 digits → EAN-8, card-QR prefix → QR, A–D … A–D → Codabar, else unknown).
pub fn parse_frame(frame: &[u8]) -> Result<Scan, Rejection> {
    let (aim, rest) = split_aim(frame);
    let text = std::str::from_utf8(rest).map_err(|_| Rejection::Unreadable)?;
    let payload = text.trim();
    if payload.is_empty() {
        return Err(Rejection::Empty);
    }
    if payload.len() > DEFAULT_MAX_LEN || payload.chars().any(|c| c.is_control() && c != '\u{1d}') {
        return Err(Rejection::Unreadable);
    }
    let symbology = aim.unwrap_or_else(|| guess(payload));
    Ok(Scan {
        symbology,
        payload: payload.to_owned(),
    })
}

/// The symbology a code without AIM identifier most likely has.
fn guess(payload: &str) -> Symbology {
    let all_digits = payload.bytes().all(|b| b.is_ascii_digit());
    match payload.len() {
        13 if all_digits => return Symbology::Ean13,
        8 if all_digits => return Symbology::Ean8,
        _ => {}
    }
    if payload.starts_with(card::PREFIX) {
        return Symbology::Qr;
    }
    let b = payload.as_bytes();
    let codabar_shaped = match b {
        [first, middle @ .., last] => {
            matches!(first.to_ascii_uppercase(), b'A'..=b'D')
                && matches!(
                    last.to_ascii_uppercase(),
                    b'A'..=b'D' | b'T' | b'N' | b'*' | b'E'
                )
                && !middle.is_empty()
                && middle.iter().all(|c| b"0123456789-$:/.+".contains(c))
        }
        _ => false,
    };
    if codabar_shaped {
        Symbology::Codabar
    } else {
        Symbology::Unknown
    }
}

/// Decides whether a scan is a member code. `now_unix` is the terminal's clock, in unix seconds,
/// for the LINE card's time window.
pub fn classify(scan: &Scan, rules: &CodeRules, now_unix: i64) -> Result<MemberCode, Rejection> {
    let payload = scan.payload.as_str();
    match &scan.symbology {
        Symbology::Ean13 => classify_ean(payload),
        Symbology::Ean8 => {
            // EAN-8 is never a member card here; a wrong check digit is still worth a rescan.
            if digit_values(payload).is_none() {
                Err(Rejection::Unreadable)
            } else if payload.len() == 8 && !gtin_valid(payload, 8) {
                Err(Rejection::CheckDigit)
            } else {
                Err(Rejection::ProductBarcode)
            }
        }
        Symbology::Codabar => codabar_parse(payload, rules.codabar_check).map(MemberCode::Codabar),
        Symbology::Code128 | Symbology::Gs1_128 => {
            // The LINE card's static barcode: the member number as Code 128.
            if payload.len() == 13 && payload.starts_with('2') && digit_values(payload).is_some() {
                in_store_jan(payload).map(MemberCode::Jan)
            } else {
                Err(Rejection::NotMemberCard)
            }
        }
        Symbology::Qr if payload.starts_with(card::PREFIX) => verify_card(payload, rules, now_unix),
        Symbology::Qr
        | Symbology::Code39
        | Symbology::Itf
        | Symbology::Other(_)
        | Symbology::Unknown => Err(Rejection::NotMemberCard),
    }
}

/// For codes typed at, or sent by, the POS: [`parse_frame`] then [`classify`].
pub fn parse_member_code(
    raw: &str,
    rules: &CodeRules,
    now_unix: i64,
) -> Result<MemberCode, Rejection> {
    classify(&parse_frame(raw.as_bytes())?, rules, now_unix)
}

/// An EAN-13 scan: an in-store JAN is a member card, anything else a product.
fn classify_ean(payload: &str) -> Result<MemberCode, Rejection> {
    if digit_values(payload).is_none() {
        return Err(Rejection::Unreadable);
    }
    match payload.len() {
        13 => in_store_jan(payload).map(MemberCode::Jan),
        // UPC-A, sent without its leading 0 by some scanners.
        12 if !gtin_valid(payload, 12) => Err(Rejection::CheckDigit),
        // UPC-A, or EAN-13 with a 2- or 5-digit add-on (`]E3`).
        _ => Err(Rejection::ProductBarcode),
    }
}

/// A 13-digit code: the member number when it is an in-store JAN (prefix 20–29) with a valid
/// check digit.
fn in_store_jan(code: &str) -> Result<String, Rejection> {
    if !gtin_valid(code, 13) {
        return Err(Rejection::CheckDigit);
    }
    if code.starts_with('2') {
        Ok(code.to_owned())
    } else {
        Err(Rejection::ProductBarcode)
    }
}

/// Checks a LINE card QR: format, key, signature, member number, time window.
fn verify_card(text: &str, rules: &CodeRules, now: i64) -> Result<MemberCode, Rejection> {
    let (token, signed, signature) = card::decode(text).map_err(|_| Rejection::CardMalformed)?;
    let key = rules
        .card_keys
        .get(token.key_id)
        .ok_or(Rejection::CardUnknownKey {
            key_id: token.key_id,
        })?;
    key.verify_strict(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| Rejection::CardBadSignature)?;
    // Signed by the hub, so a bad number is the hub's mistake; refuse it all the same.
    if !(token.member_number.starts_with('2') && gtin_valid(&token.member_number, 13)) {
        return Err(Rejection::CardMemberNumber);
    }
    // In i128 so that no issued_at, however extreme, overflows.
    let skew = i128::from(rules.card_skew_secs.max(0));
    let now = i128::from(now);
    let issued_at = i128::from(token.issued_at);
    if issued_at > now + skew {
        return Err(Rejection::CardNotYetValid);
    }
    if now > issued_at + i128::from(token.valid_secs) + skew {
        return Err(Rejection::CardExpired);
    }
    Ok(MemberCode::LineCard {
        member_number: token.member_number,
        key_id: token.key_id,
    })
}
