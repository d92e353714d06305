//! The signup token (docs/design.md §5): what the kiosk's QR code carries, made by the
//! agent and checked by the hub without either asking the other.
//!
//! The agent makes a token that the hub can check without having seen it before, so a customer
//! can finish signing up on the phone's own data while the store's line is down. It is signed
//! with a key both sides hold: **`key = SHA-256(terminal secret)`**, which is exactly what the
//! hub stores for the terminal (it keeps only that hash, never the secret, docs/design.md §7). The
//! trade-off, accepted: whoever reads the hub's database can mint signup tokens for a terminal
//! (not authenticate as it: that needs the secret itself). Such a token still needs a real LINE
//! ID token to complete, and only names which store a member joined at.
//!
//! The QR text of the LIFF URL carries `t=` [`PREFIX`] (`S1.`) followed by base64url without
//! padding of `payload ‖ tag`, where `tag` is the first [`TAG_LEN`] bytes of
//! HMAC-SHA256(key, [`DOMAIN`] ‖ payload) and the payload is, big-endian:
//!
//! | bytes   | field        | meaning                                                   |
//! |---------|--------------|-----------------------------------------------------------|
//! | 0       | version      | always 1                                                  |
//! | 1       | kind         | 1 signup, 2 card link                                     |
//! | 2–9     | expires_at   | unix seconds (i64) after which the hub refuses it         |
//! | 10–25   | nonce        | 16 random bytes; its hex is the signup id (used once)     |
//! | 26…     | store_id     | one length byte, then the bytes                           |
//! | …       | terminal_id  | one length byte, then the bytes                           |
//! | …       | card_code    | one length byte (0 for a signup), then the bytes          |
//!
//! A 16-byte (128-bit) truncated HMAC keeps the QR small enough to scan from across a counter.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What every signup token starts with.
pub const PREFIX: &str = "S1.";
/// The format version in the first payload byte.
pub const VERSION: u8 = 1;
/// Bytes of the truncated HMAC.
pub const TAG_LEN: usize = 16;
/// Bytes of the nonce.
pub const NONCE_LEN: usize = 16;
/// Domain separation of the HMAC: the terminal's key signs nothing else with this prefix.
pub const DOMAIN: &[u8] = b"tenpo-signup-v1\0";
/// The longest session a terminal may open; the hub refuses tokens that expire later than this
/// (plus [`CLOCK_ALLOWANCE_SECS`]) after it reads them.
pub const MAX_SESSION_SECS: i64 = 30 * 60;
/// How far the terminal's and the hub's clocks may disagree.
pub const CLOCK_ALLOWANCE_SECS: i64 = 120;
/// Where a LIFF app is opened.
pub const LIFF_BASE: &str = "https://liff.line.me/";
/// Longest id or card code in a token.
const MAX_FIELD: usize = 64;
const FIXED: usize = 1 + 1 + 8 + NONCE_LEN;

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupKind {
    /// A new member joins with their LINE account.
    Signup,
    /// An existing paper card is linked to a LINE account; its balance, stamps and tier stay.
    CardLink,
}

impl SignupKind {
    fn byte(self) -> u8 {
        match self {
            SignupKind::Signup => 1,
            SignupKind::CardLink => 2,
        }
    }
}

/// The content of a signup token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignupToken {
    pub kind: SignupKind,
    pub store_id: String,
    pub terminal_id: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
    pub nonce: [u8; NONCE_LEN],
    /// The paper card to link (card links only): its code as the terminal keys it.
    pub card_code: Option<String>,
}

/// Why a token could not be made, read or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a signup code (it does not start with {PREFIX})")]
    Prefix,
    #[error("the signup code is damaged")]
    Malformed,
    #[error("the signup code has format version {0}; this reader knows version {VERSION}")]
    Version(u8),
    #[error("the signup code's signature is wrong: it was not made by this store's terminal")]
    Signature,
    #[error("the signup code has expired: scan a fresh code at the kiosk")]
    Expired,
    #[error("the signup code is valid for too long: check the terminal's clock")]
    TooLong,
    #[error("`{0}` must be 1 to 64 printable ASCII characters")]
    Field(&'static str),
}

fn put_field(out: &mut Vec<u8>, name: &'static str, value: &str) -> Result<(), TokenError> {
    if value.len() > MAX_FIELD || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Field(name));
    }
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

fn take_field<'a>(rest: &mut &'a [u8]) -> Result<&'a str, TokenError> {
    let (&len, tail) = rest.split_first().ok_or(TokenError::Malformed)?;
    let (value, tail) = tail
        .split_at_checked(usize::from(len))
        .ok_or(TokenError::Malformed)?;
    *rest = tail;
    let text = std::str::from_utf8(value).map_err(|_| TokenError::Malformed)?;
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Malformed);
    }
    Ok(text)
}

impl SignupToken {
    /// The signup id: hex of the nonce. The hub accepts each id once.
    pub fn id(&self) -> String {
        self.nonce.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The payload bytes the tag covers.
    pub fn payload(&self) -> Result<Vec<u8>, TokenError> {
        let mut out = Vec::with_capacity(FIXED + 3 * MAX_FIELD);
        out.push(VERSION);
        out.push(self.kind.byte());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        if self.store_id.is_empty() {
            return Err(TokenError::Field("store_id"));
        }
        if self.terminal_id.is_empty() {
            return Err(TokenError::Field("terminal_id"));
        }
        put_field(&mut out, "store_id", &self.store_id)?;
        put_field(&mut out, "terminal_id", &self.terminal_id)?;
        match (self.kind, &self.card_code) {
            (SignupKind::CardLink, Some(code)) if !code.is_empty() => {
                put_field(&mut out, "card_code", code)?;
            }
            (SignupKind::Signup, None) => out.push(0),
            _ => return Err(TokenError::Field("card_code")),
        }
        Ok(out)
    }

    fn from_payload(payload: &[u8]) -> Result<SignupToken, TokenError> {
        if payload.len() < FIXED {
            return Err(TokenError::Malformed);
        }
        if payload[0] != VERSION {
            return Err(TokenError::Version(payload[0]));
        }
        let kind = match payload[1] {
            1 => SignupKind::Signup,
            2 => SignupKind::CardLink,
            _ => return Err(TokenError::Malformed),
        };
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&payload[2..10]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&payload[10..FIXED]);
        let mut rest = &payload[FIXED..];
        let store_id = take_field(&mut rest)?.to_owned();
        let terminal_id = take_field(&mut rest)?.to_owned();
        let card = take_field(&mut rest)?;
        if !rest.is_empty() || store_id.is_empty() || terminal_id.is_empty() {
            return Err(TokenError::Malformed);
        }
        let card_code = match (kind, card.is_empty()) {
            (SignupKind::Signup, true) => None,
            (SignupKind::CardLink, false) => Some(card.to_owned()),
            _ => return Err(TokenError::Malformed),
        };
        Ok(SignupToken {
            kind,
            store_id,
            terminal_id,
            expires_at: i64::from_be_bytes(expires),
            nonce,
            card_code,
        })
    }
}

/// The signing key of a terminal: SHA-256 of its secret, as the hub stores it.
pub fn signing_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// HMAC-SHA256 (RFC 2104, RustCrypto's `hmac`), also used by the LINE stand-in for its ID
/// tokens.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Mac, SimpleHmac};
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = SimpleHmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn tag(payload: &[u8], key: &[u8; 32]) -> [u8; TAG_LEN] {
    let mut message = Vec::with_capacity(DOMAIN.len() + payload.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(payload);
    let full = hmac_sha256(key, &message);
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full[..TAG_LEN]);
    out
}

/// Compares without leaking, through timing, where two values differ (`subtle`).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// Signs a token with the terminal's key and returns its text.
pub fn sign(token: &SignupToken, key: &[u8; 32]) -> Result<String, TokenError> {
    let mut body = token.payload()?;
    let t = tag(&body, key);
    body.extend_from_slice(&t);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&body)))
}

/// Reads a token without checking its tag: to find the terminal whose key checks it.
pub fn peek(text: &str) -> Result<SignupToken, TokenError> {
    split(text).and_then(|(payload, _)| SignupToken::from_payload(&payload))
}

fn split(text: &str) -> Result<(Vec<u8>, [u8; TAG_LEN]), TokenError> {
    let encoded = text.trim().strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
    if encoded.len() > 512 {
        return Err(TokenError::Malformed);
    }
    let body = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let cut = body
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(TokenError::Malformed)?;
    let (payload, t) = body.split_at(cut);
    let t: [u8; TAG_LEN] = t.try_into().map_err(|_| TokenError::Malformed)?;
    Ok((payload.to_vec(), t))
}

/// Checks a token's tag with `key` and its expiry against `now` (with the clock allowance):
/// what the hub does before it takes a signup, and the agent before it answers about one.
pub fn verify(text: &str, key: &[u8; 32], now: DateTime<Utc>) -> Result<SignupToken, TokenError> {
    let (payload, presented) = split(text)?;
    let token = SignupToken::from_payload(&payload)?;
    if !same(&tag(&payload, key), &presented) {
        return Err(TokenError::Signature);
    }
    let now = now.timestamp();
    // Saturating: a forged or damaged token may carry any i64; a wrapped sum would read as
    // "expired" (or "fine") instead of what it is.
    if token.expires_at.saturating_add(CLOCK_ALLOWANCE_SECS) < now {
        return Err(TokenError::Expired);
    }
    if token.expires_at > now.saturating_add(MAX_SESSION_SECS + CLOCK_ALLOWANCE_SECS) {
        return Err(TokenError::TooLong);
    }
    Ok(token)
}

/// The LIFF URL a kiosk shows as its QR code.
pub fn liff_url(liff_id: &str, token: &str) -> String {
    format!("{LIFF_BASE}{liff_id}?t={token}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn token(kind: SignupKind) -> SignupToken {
        SignupToken {
            kind,
            store_id: "shibuya-01".into(),
            terminal_id: "t00001".into(),
            expires_at: 1_760_000_300,
            nonce: [9; NONCE_LEN],
            card_code: (kind == SignupKind::CardLink).then(|| "2000000000015".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_760_000_000, 0).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sign_then_verify_round_trips_both_kinds() {
        let key = signing_key("ab".repeat(32).as_str());
        for kind in [SignupKind::Signup, SignupKind::CardLink] {
            let text = sign(&token(kind), &key).unwrap();
            assert!(text.starts_with(PREFIX));
            assert!(text.len() < 120, "{} characters", text.len());
            assert_eq!(verify(&text, &key, now()).unwrap(), token(kind));
            assert_eq!(peek(&text).unwrap(), token(kind));
            let url = liff_url("1234567890-AbCdEfGh", &text);
            assert!(url.len() < 170, "{url}");
        }
        assert_eq!(token(SignupKind::Signup).id(), "09".repeat(16));
    }

    #[test]
    fn refuses_forgery_expiry_and_damage() {
        let key = signing_key("secret-a");
        let text = sign(&token(SignupKind::Signup), &key).unwrap();
        assert_eq!(
            verify(&text, &signing_key("secret-b"), now()),
            Err(TokenError::Signature)
        );
        // Another payload under the old tag.
        let mut other = token(SignupKind::Signup);
        other.terminal_id = "t00002".into();
        let forged = sign(&other, &signing_key("x")).unwrap();
        assert_eq!(verify(&forged, &key, now()), Err(TokenError::Signature));
        let late = now() + chrono::Duration::seconds(300 + CLOCK_ALLOWANCE_SECS + 1);
        assert_eq!(verify(&text, &key, late), Err(TokenError::Expired));
        let early = now() - chrono::Duration::seconds(MAX_SESSION_SECS + 1000);
        assert_eq!(verify(&text, &key, early), Err(TokenError::TooLong));
        assert_eq!(verify("T1.abc", &key, now()), Err(TokenError::Prefix));
        assert_eq!(verify("S1.***", &key, now()), Err(TokenError::Malformed));
        assert_eq!(verify("S1.", &key, now()), Err(TokenError::Malformed));
        let cut = &text[..text.len() - 30];
        assert!(verify(cut, &key, now()).is_err());
    }

    #[test]
    fn expiries_at_the_ends_of_time_are_refused_for_what_they_are() {
        // The finding: a token expiring near i64::MAX read as "expired" (the sum wrapped).
        let key = signing_key("k");
        for (expires_at, expected) in [
            (i64::MAX, TokenError::TooLong),
            (i64::MAX - CLOCK_ALLOWANCE_SECS + 1, TokenError::TooLong),
            (i64::MIN, TokenError::Expired),
        ] {
            let mut t = token(SignupKind::Signup);
            t.expires_at = expires_at;
            let text = sign(&t, &key).unwrap();
            assert_eq!(verify(&text, &key, now()), Err(expected), "{expires_at}");
        }
    }

    #[test]
    fn refuses_bad_fields_when_signing() {
        let key = signing_key("k");
        let mut t = token(SignupKind::Signup);
        t.card_code = Some("2000000000015".into());
        assert_eq!(sign(&t, &key), Err(TokenError::Field("card_code")));
        let mut t = token(SignupKind::CardLink);
        t.card_code = None;
        assert_eq!(sign(&t, &key), Err(TokenError::Field("card_code")));
        let mut t = token(SignupKind::Signup);
        t.store_id = "has space".into();
        assert_eq!(sign(&t, &key), Err(TokenError::Field("store_id")));
    }
}
