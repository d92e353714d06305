//! Randomness, hashes and constant-time comparison for enrolment codes, terminal secrets and
//! the admin token. Nothing here logs what it handles.

use sha2::{Digest, Sha256};

/// The operating system gave no randomness.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct RandomError(pub String);

/// Fills `N` random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub use tenpo_protocol::signup::same;

/// A new terminal secret: 64 hex characters (32 random bytes).
pub fn new_secret() -> Result<String, RandomError> {
    Ok(hex::encode(random_bytes::<32>()?))
}

/// Crockford's base32: no I, L, O or U; a typed O is read as 0, I and L as 1.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new enrolment code, `XXXX-XXXX-XXXX` (60 random bits), easy to read out and type.
pub fn new_enrollment_code() -> Result<String, RandomError> {
    let bytes = random_bytes::<12>()?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// An enrolment code as stored (hashed): upper case, without dashes or spaces, with the
/// letters people mistake for digits read as those digits.
pub fn normalize_enrollment_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_are_64_hex() {
        let s = new_secret().unwrap();
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, new_secret().unwrap());
    }

    #[test]
    fn codes_normalize() {
        let code = new_enrollment_code().unwrap();
        assert_eq!(code.len(), 14);
        let typed = code.to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(
            normalize_enrollment_code(&typed),
            normalize_enrollment_code(&code)
        );
        assert!(same(b"ab", b"ab") && !same(b"ab", b"ac") && !same(b"ab", b"a"));
    }
}
