//! The webhook signature: `x-line-signature` is the Base64 of HMAC-SHA256 over the raw request
//! body, keyed with the Messaging API channel's secret (LINE's "Verify webhook signature";
//! line-bot-sdk's `SignatureValidator` computes the same). Checked before anything reads the
//! body, in constant time (`Mac::verify_slice`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header LINE signs with (HTTP header names are case-insensitive; `http` lowercases them).
pub const SIGNATURE_HEADER: &str = "x-line-signature";

/// Why a webhook's signature is refused. The messages name the likely cause for IT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no x-line-signature header: only LINE's platform may call the webhook")]
    Missing,
    #[error(
        "the x-line-signature does not match the body under this channel's secret: check \
         `channel_secret_file` is the Messaging API channel's secret"
    )]
    Mismatch,
}

fn mac(channel_secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(channel_secret)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of every length"))
}

/// The signature LINE would send with `body`.
pub fn sign(channel_secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(channel_secret);
    m.update(body);
    STANDARD.encode(m.finalize().into_bytes())
}

/// Checks `signature` (the header's value, if any) against `body`.
pub fn verify(
    channel_secret: &[u8],
    body: &[u8],
    signature: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing)?;
    // Not Base64 at all is as wrong as the wrong bytes: one answer for both.
    let presented = STANDARD
        .decode(signature.trim_ascii())
        .map_err(|_| SignatureError::Mismatch)?;
    let mut m = mac(channel_secret);
    m.update(body);
    m.verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signature_is_base64_hmac_sha256_of_the_raw_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            STANDARD.decode(&sig).unwrap(),
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ]
        );
        let body = br#"{"destination":"U0","events":[]}"#;
        let good = sign(b"secret", body);
        assert_eq!(verify(b"secret", body, Some(good.as_bytes())), Ok(()));
        // One byte of the body, the secret or the signature changed: refused.
        let mut other = body.to_vec();
        other[3] ^= 1;
        assert_eq!(
            verify(b"secret", &other, Some(good.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secreT", body, Some(good.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        let mut bad = good.clone().into_bytes();
        bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify(b"secret", body, Some(&bad)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", body, Some(b"not base64!")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", body, Some(b"")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"secret", body, None), Err(SignatureError::Missing));
    }
}
