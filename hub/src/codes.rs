//! Card codes the hub imports: 13-digit in-store JANs (prefix 20–29) with their check digit,
//! the numbers printed on paper member cards (DESIGN §6).
//!
//! The same rule as the agent's and the scanner crate's; it belongs in `tenpo-protocol` once
//! one shared copy exists.

/// Why a card code cannot be imported, in words a CRM operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardCodeError {
    #[error("a card code has 13 digits; this one has {0} characters")]
    Length(usize),
    #[error("a card code has digits only")]
    NotDigits,
    #[error("not an in-store card code: it must start with 20 to 29")]
    NotInStore,
    #[error("bad check digit: the last digit should be {expected}")]
    CheckDigit { expected: u8 },
}

/// Checks a card code; returns it trimmed.
pub fn check_card_code(raw: &str) -> Result<&str, CardCodeError> {
    let code = raw.trim();
    if code.len() != 13 {
        return Err(CardCodeError::Length(code.chars().count()));
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardCodeError::NotDigits);
    }
    if code.as_bytes()[0] != b'2' {
        return Err(CardCodeError::NotInStore);
    }
    let digits: Vec<u8> = code.bytes().map(|b| b - b'0').collect();
    let expected = check_digit(&digits[..12]);
    if expected != digits[12] {
        return Err(CardCodeError::CheckDigit { expected });
    }
    Ok(code)
}

/// A valid card code for a 12-digit body (tests, demo data).
pub fn with_check_digit(body: &str) -> Option<String> {
    let digits: Vec<u8> = body.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if digits.len() != 12 || digits.iter().any(|d| *d > 9) {
        return None;
    }
    Some(format!("{body}{}", check_digit(&digits)))
}

/// The GS1 check digit: weights 3 and 1 alternating from the right.
fn check_digit(body: &[u8]) -> u8 {
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
    fn checks_codes() {
        assert_eq!(check_card_code(" 2000000000015 "), Ok("2000000000015"));
        assert_eq!(
            check_card_code("2000000000016"),
            Err(CardCodeError::CheckDigit { expected: 5 })
        );
        assert_eq!(
            check_card_code("4901234567894"),
            Err(CardCodeError::NotInStore)
        );
        assert_eq!(check_card_code("12"), Err(CardCodeError::Length(2)));
        assert_eq!(
            with_check_digit("291234567890").as_deref(),
            Some("2912345678906")
        );
    }
}
