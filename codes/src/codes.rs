//! Member card codes (docs/design.md §6) as data: the GS1 check digit and the in-store JAN that
//! paper member cards carry (13 digits, prefix 20–29). The one copy of these rules: the scanner
//! crate checks scans with it, the hub checks imported cards and numbers new members with it.

/// The GS1 check digit (mod 10, weights 3 and 1 alternating from the right) of `body`, given as
/// digit values 0–9. Values above 9 are taken modulo 10 rather than panicking.
pub fn gtin_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d % 10) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    // `sum % 10` is below 10, so the result fits a u8.
    ((10 - sum % 10) % 10) as u8
}

/// Why a card code is not one, in words a CRM operator can act on.
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

/// Checks an in-store card code (13 digits, prefix 20–29, GS1 check digit); returns it trimmed.
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
    let expected = gtin_check_digit(&digits[..12]);
    if expected != digits[12] {
        return Err(CardCodeError::CheckDigit { expected });
    }
    Ok(code)
}

/// The 13-digit code for a 12-digit body: the body and its check digit (new member numbers,
/// demo data, tests). `None` unless `body` is 12 ASCII digits.
pub fn with_check_digit(body: &str) -> Option<String> {
    if body.len() != 12 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    Some(format!("{body}{}", gtin_check_digit(&digits)))
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
            check_card_code("20000000000a5"),
            Err(CardCodeError::NotDigits)
        );
        assert_eq!(
            with_check_digit("291234567890").as_deref(),
            Some("2912345678906")
        );
        assert_eq!(with_check_digit("29123456789"), None);
        assert_eq!(with_check_digit("29123456789x"), None);
    }

    #[test]
    fn published_gs1_examples() {
        // GS1 General Specifications' worked example (GTIN-13 629104150021 → 3) and a JAN.
        assert_eq!(gtin_check_digit(&[6, 2, 9, 1, 0, 4, 1, 5, 0, 0, 2, 1]), 3);
        assert_eq!(
            with_check_digit("490123456789").as_deref(),
            Some("4901234567894")
        );
    }
}
