//! The rotating QR code of the LINE digital member card (docs/design.md §6).
//!
//! The hub signs a short-lived token with an Ed25519 key; a store terminal checks the signature
//! and the time window offline with the public key it got from the change feed, so a screenshot
//! of the card stops working within minutes.
//!
//! # Format, version 1
//!
//! The QR text is [`PREFIX`] (`T1.`) followed by base64url without padding of
//! `payload ‖ signature`, where the signature is Ed25519 over the payload bytes exactly and the
//! payload is [`PAYLOAD_LEN`] bytes, big-endian:
//!
//! | bytes | field        | type | meaning                                         |
//! |-------|--------------|------|-------------------------------------------------|
//! | 0     | version      | u8   | always 1 for this format                        |
//! | 1–4   | key_id       | u32  | which of the hub's signing keys signed it       |
//! | 5–12  | member       | u64  | the 13-digit member number (in-store JAN)       |
//! | 13–20 | issued_at    | i64  | unix seconds when the hub issued it             |
//! | 21–22 | valid_secs   | u16  | how long after `issued_at` it may be used       |
//!
//! 23 + 64 bytes encode to 116 characters, so the whole text is [`TEXT_LEN`] = 119 characters
//! (under the 120 the counter screens and QR sizes were planned for).
//!
//! The signing key must be used for card tokens only: the signature covers the raw payload, with
//! the version byte as its only domain separation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SIGNATURE_LENGTH, Signer as _, SigningKey};

/// What every card QR text of this format starts with.
pub const PREFIX: &str = "T1.";
/// The format version carried in the first payload byte.
pub const VERSION: u8 = 1;
/// Length of the signed payload, in bytes.
pub const PAYLOAD_LEN: usize = 1 + 4 + 8 + 8 + 2;
/// Length of the decoded body (payload and signature), in bytes.
pub const BODY_LEN: usize = PAYLOAD_LEN + SIGNATURE_LENGTH;
/// Length of the QR text, in characters: the prefix plus unpadded base64 of the body.
pub const TEXT_LEN: usize = PREFIX.len() + (BODY_LEN * 4).div_ceil(3);

/// Length of a member number: a 13-digit in-store JAN.
const MEMBER_DIGITS: usize = 13;
/// Smallest number with 14 digits; member numbers are below it.
const MEMBER_LIMIT: u64 = 10_000_000_000_000;

/// The content of a card QR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CardToken {
    /// Which of the hub's signing keys signed it (the agent keeps a ring of public keys).
    pub key_id: u32,
    /// The member's number: 13 decimal digits (an in-store JAN, prefix 20–29).
    pub member_number: String,
    /// Unix seconds when the hub issued the token.
    pub issued_at: i64,
    /// Seconds after `issued_at` during which a terminal accepts the token.
    pub valid_secs: u16,
}

/// Why a card QR text could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card code does not start with {PREFIX}")]
    Prefix,
    #[error("card code is {0} characters long; this format has exactly {TEXT_LEN}")]
    Length(usize),
    #[error("card code is not valid base64url without padding")]
    Encoding,
    #[error("card code has format version {0}; this reader knows version {VERSION}")]
    Version(u8),
    #[error("member number must be exactly 13 digits")]
    MemberNumber,
}

impl CardToken {
    /// The payload bytes the signature covers.
    pub fn payload(&self) -> Result<[u8; PAYLOAD_LEN], CardError> {
        let member = member_to_u64(&self.member_number)?;
        let mut out = [0u8; PAYLOAD_LEN];
        out[0] = VERSION;
        out[1..5].copy_from_slice(&self.key_id.to_be_bytes());
        out[5..13].copy_from_slice(&member.to_be_bytes());
        out[13..21].copy_from_slice(&self.issued_at.to_be_bytes());
        out[21..23].copy_from_slice(&self.valid_secs.to_be_bytes());
        Ok(out)
    }

    /// Reads a payload; the inverse of [`CardToken::payload`].
    pub fn from_payload(payload: &[u8; PAYLOAD_LEN]) -> Result<CardToken, CardError> {
        if payload[0] != VERSION {
            return Err(CardError::Version(payload[0]));
        }
        let key_id = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
        let mut member = [0u8; 8];
        member.copy_from_slice(&payload[5..13]);
        let member = u64::from_be_bytes(member);
        if member >= MEMBER_LIMIT {
            return Err(CardError::MemberNumber);
        }
        let mut issued_at = [0u8; 8];
        issued_at.copy_from_slice(&payload[13..21]);
        Ok(CardToken {
            key_id,
            member_number: format!("{member:0width$}", width = MEMBER_DIGITS),
            issued_at: i64::from_be_bytes(issued_at),
            valid_secs: u16::from_be_bytes([payload[21], payload[22]]),
        })
    }
}

/// Signs `token` with the hub's card key and returns the QR text.
///
/// Fails only when the member number is not 13 digits. Whether it is a valid in-store JAN is the
/// caller's business (the terminal refuses a card whose number is not).
pub fn sign(token: &CardToken, key: &SigningKey) -> Result<String, CardError> {
    let payload = token.payload()?;
    let signature = key.sign(&payload).to_bytes();
    let mut body = Vec::with_capacity(BODY_LEN);
    body.extend_from_slice(&payload);
    body.extend_from_slice(&signature);
    let mut text = String::with_capacity(TEXT_LEN);
    text.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(&body, &mut text);
    Ok(text)
}

/// Reads a card QR text without checking its signature or time window.
///
/// Returns the token, the signed bytes (the payload) and the signature, for the terminal to
/// verify against the public key named by `key_id`. Never panics, whatever the text.
pub fn decode(text: &str) -> Result<(CardToken, Vec<u8>, [u8; SIGNATURE_LENGTH]), CardError> {
    let encoded = text.strip_prefix(PREFIX).ok_or(CardError::Prefix)?;
    if text.len() != TEXT_LEN {
        return Err(CardError::Length(text.chars().count()));
    }
    let body = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| CardError::Encoding)?;
    let (payload, signature) = body
        .split_at_checked(PAYLOAD_LEN)
        .ok_or(CardError::Encoding)?;
    let payload: &[u8; PAYLOAD_LEN] = payload.try_into().map_err(|_| CardError::Encoding)?;
    let signature: [u8; SIGNATURE_LENGTH] =
        signature.try_into().map_err(|_| CardError::Encoding)?;
    let token = CardToken::from_payload(payload)?;
    Ok((token, payload.to_vec(), signature))
}

fn member_to_u64(member: &str) -> Result<u64, CardError> {
    if member.len() != MEMBER_DIGITS || !member.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::MemberNumber);
    }
    member.parse().map_err(|_| CardError::MemberNumber)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ed25519_dalek::{Signature, Verifier as _};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn token() -> CardToken {
        CardToken {
            key_id: 3,
            member_number: "2000000000015".into(),
            issued_at: 1_760_000_000,
            valid_secs: 300,
        }
    }

    #[test]
    fn sign_then_decode_round_trips_and_verifies() {
        let text = sign(&token(), &key()).unwrap();
        assert!(text.starts_with(PREFIX));
        assert_eq!(text.len(), TEXT_LEN);
        assert!(text.len() <= 120, "{} characters", text.len());
        let (decoded, signed, signature) = decode(&text).unwrap();
        assert_eq!(decoded, token());
        assert_eq!(signed, token().payload().unwrap().to_vec());
        key()
            .verifying_key()
            .verify(&signed, &Signature::from_bytes(&signature))
            .unwrap();
    }

    #[test]
    fn leading_zeros_of_a_member_number_survive() {
        let mut t = token();
        t.member_number = "0000000000017".into();
        let (decoded, _, _) = decode(&sign(&t, &key()).unwrap()).unwrap();
        assert_eq!(decoded.member_number, "0000000000017");
    }

    #[test]
    fn payload_layout_is_big_endian() {
        let p = token().payload().unwrap();
        assert_eq!(p[0], 1);
        assert_eq!(&p[1..5], &[0, 0, 0, 3]);
        assert_eq!(
            u64::from_be_bytes(p[5..13].try_into().unwrap()),
            2_000_000_000_015
        );
        assert_eq!(&p[21..23], &[1, 44]);
    }

    #[test]
    fn refuses_bad_member_numbers_when_signing() {
        for bad in [
            "",
            "200000000001",
            "20000000000150",
            "20000000000a5",
            "+200000000001",
        ] {
            let mut t = token();
            t.member_number = bad.into();
            assert_eq!(sign(&t, &key()), Err(CardError::MemberNumber), "{bad:?}");
        }
    }

    #[test]
    fn decode_refuses_malformed_text() {
        let good = sign(&token(), &key()).unwrap();
        assert_eq!(decode("").unwrap_err(), CardError::Prefix);
        assert_eq!(decode(&good[1..]).unwrap_err(), CardError::Prefix);
        assert_eq!(
            decode(&good[..good.len() - 1]).unwrap_err(),
            CardError::Length(118)
        );
        assert_eq!(
            decode(&format!("{good}A")).unwrap_err(),
            CardError::Length(120)
        );
        // A character outside the base64url alphabet.
        let mut bad = good.clone();
        bad.replace_range(10..11, "*");
        assert_eq!(decode(&bad).unwrap_err(), CardError::Encoding);
        // Non-ASCII of the right byte length never panics on a char boundary.
        let odd = format!("{PREFIX}{}", "é".repeat((TEXT_LEN - 3) / 2));
        assert!(decode(&odd).is_err());
    }

    #[test]
    fn decode_refuses_other_versions_and_oversized_members() {
        let mut body = token().payload().unwrap().to_vec();
        body[0] = 2;
        body.extend_from_slice(&[0u8; SIGNATURE_LENGTH]);
        let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&body));
        assert_eq!(decode(&text).unwrap_err(), CardError::Version(2));
        body[0] = 1;
        body[5..13].copy_from_slice(&MEMBER_LIMIT.to_be_bytes());
        let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&body));
        assert_eq!(decode(&text).unwrap_err(), CardError::MemberNumber);
    }
}
