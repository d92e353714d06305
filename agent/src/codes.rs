//! Member codes the agent accepts.
//!
//! Until the scanner crate arrives, a member code is a 13-digit in-store JAN (prefix 20–29) with
//! a valid check digit, the number printed on paper member cards.

use std::fmt;

/// Why a scanned code is not a member code, in words a cashier can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a member code has 13 digits; this one has {0} characters: rescan the card")]
    Length(usize),
    #[error("a member code has digits only: rescan the card")]
    NotDigits,
    #[error("not a member card: in-store member codes start with 20 to 29")]
    NotInStore,
    #[error("check digit wrong: rescan the card")]
    CheckDigit,
}

/// A verified member code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberCode(String);

impl MemberCode {
    pub fn parse(raw: &str) -> Result<MemberCode, CodeError> {
        let code = raw.trim();
        if code.len() != 13 {
            return Err(CodeError::Length(code.chars().count()));
        }
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::NotDigits);
        }
        if code.as_bytes()[0] != b'2' {
            return Err(CodeError::NotInStore);
        }
        let digits: Vec<u8> = code.bytes().map(|b| b - b'0').collect();
        if gtin_check_digit(&digits[..12]) != digits[12] {
            return Err(CodeError::CheckDigit);
        }
        Ok(MemberCode(code.to_owned()))
    }

    /// Makes the code for a 12-digit body by appending its check digit (demo data, tests).
    pub fn with_check_digit(body: &str) -> Result<MemberCode, CodeError> {
        let digits: Vec<u8> = body.bytes().map(|b| b.wrapping_sub(b'0')).collect();
        if digits.len() != 12 || digits.iter().any(|d| *d > 9) {
            return Err(CodeError::NotDigits);
        }
        MemberCode::parse(&format!("{body}{}", gtin_check_digit(&digits)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The GS1 check digit of the digits before it: weights 3 and 1 alternating from the right.
fn gtin_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_in_store_jan_with_check_digit() {
        // 2000000000015 — body 200000000001, weights from the right 3,1,…: 3·1 + 2·1 = 5 → 5.
        assert!(MemberCode::parse("2000000000015").is_ok());
        assert!(MemberCode::parse(" 2912345678906 ").is_ok());
        assert_eq!(
            MemberCode::with_check_digit("291234567890").map(|c| c.0),
            Ok("2912345678906".into())
        );
    }

    #[test]
    fn rejects_with_a_reason() {
        assert_eq!(
            MemberCode::parse("2000000000016"),
            Err(CodeError::CheckDigit)
        );
        assert_eq!(
            MemberCode::parse("4901234567894"),
            Err(CodeError::NotInStore)
        );
        assert_eq!(
            MemberCode::parse("200000000001"),
            Err(CodeError::Length(12))
        );
        assert_eq!(
            MemberCode::parse("20000000000a5"),
            Err(CodeError::NotDigits)
        );
        assert_eq!(MemberCode::parse("２０００"), Err(CodeError::Length(4)));
    }

    #[test]
    fn published_ean13_vectors() {
        // GS1's worked example: 400638133393 → check digit 1.
        let digits: Vec<u8> = "400638133393".bytes().map(|b| b - b'0').collect();
        assert_eq!(gtin_check_digit(&digits), 1);
        let digits: Vec<u8> = "490123456789".bytes().map(|b| b - b'0').collect();
        assert_eq!(gtin_check_digit(&digits), 4);
    }
}
