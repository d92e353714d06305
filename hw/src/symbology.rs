//! Barcode symbologies and their check characters: the GS1 check digit of EAN/JAN codes, and the
//! check schemes Japanese paper member cards use on Codabar (NW-7).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::code::Rejection;

/// What kind of barcode a scan came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    /// EAN-13 / JAN-13 (UPC-A arrives as EAN-13 with a leading 0).
    Ean13,
    /// EAN-8 / JAN-8.
    Ean8,
    /// Codabar, called NW-7 in Japan.
    Codabar,
    Code128,
    /// Code 128 with FNC1 first: GS1 application identifiers.
    Gs1_128,
    Code39,
    /// Interleaved 2 of 5.
    Itf,
    Qr,
    /// Another AIM identifier, kept as its two characters after `]` (for example `d2`).
    Other(String),
    /// No AIM identifier and a shape that says nothing.
    Unknown,
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Symbology::Ean13 => f.write_str("EAN-13"),
            Symbology::Ean8 => f.write_str("EAN-8"),
            Symbology::Codabar => f.write_str("Codabar (NW-7)"),
            Symbology::Code128 => f.write_str("Code 128"),
            Symbology::Gs1_128 => f.write_str("GS1-128"),
            Symbology::Code39 => f.write_str("Code 39"),
            Symbology::Itf => f.write_str("ITF"),
            Symbology::Qr => f.write_str("QR Code"),
            Symbology::Other(id) => write!(f, "AIM ]{id}"),
            Symbology::Unknown => f.write_str("unknown symbology"),
        }
    }
}

/// The GS1 check digit; the rule lives in `tenpo-codes` (the hub numbers members with it too).
pub use tenpo_codes::codes::gtin_check_digit;

/// True when `s` is 13 ASCII digits whose last one is the GS1 check digit of the others.
pub fn ean13_valid(s: &str) -> bool {
    gtin_valid(s, 13)
}

/// True when `s` is 8 ASCII digits whose last one is the GS1 check digit of the others.
pub fn ean8_valid(s: &str) -> bool {
    gtin_valid(s, 8)
}

/// True when `s` has `len` ASCII digits and a correct GS1 check digit (also UPC-A at 12).
pub(crate) fn gtin_valid(s: &str, len: usize) -> bool {
    let Some(digits) = digit_values(s) else {
        return false;
    };
    match digits.split_last() {
        Some((check, body)) if digits.len() == len => gtin_check_digit(body) == *check,
        _ => false,
    }
}

/// The digit values of `s`, or `None` when it holds anything but ASCII digits.
pub(crate) fn digit_values(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect()
}

/// Check character schemes found on Codabar (NW-7) cards. Which one a store's paper cards use is
/// configuration; `None` accepts what the scanner read (Codabar's own bar patterns self-check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodabarCheck {
    /// No check character.
    #[default]
    None,
    /// Modulus 16 over every character, start and stop included: the AIM/JIS Codabar check
    /// character. The check is a Codabar character (`0`–`9`, `-$:/.+`).
    Mod16,
    /// Modulus 10, weights 2 and 1 from the right with two-digit products split (Luhn); digits only.
    Mod10Luhn,
    /// Modulus 11, weights 2 to 7 repeating from the right; a remainder of 0 or 1 gives 0,
    /// otherwise 11 minus the remainder; digits only.
    Mod11,
    /// "7DR": the number formed by the digits, modulo 7 (0–6); digits only.
    SevenDr,
    /// "7DSR": 7 minus the number formed by the digits modulo 7; digits only. A remainder of 0
    /// gives 7; 0 is accepted too, as some printers write it.
    SevenDsr,
}

/// Codabar data characters, in modulus-16 value order (`0` is 0 … `+` is 15).
const CODABAR_DATA: &[u8; 16] = b"0123456789-$:/.+";

/// Value of a start/stop character in modulus 16 (A 16 … D 19). The traditional stop names
/// T, N, * and E are the same bars as A, B, C and D.
fn start_stop_value(c: u8) -> Option<u32> {
    match c.to_ascii_uppercase() {
        b'A' | b'T' => Some(16),
        b'B' | b'N' => Some(17),
        b'C' | b'*' => Some(18),
        b'D' | b'E' => Some(19),
        _ => None,
    }
}

fn is_start(c: u8) -> bool {
    matches!(c.to_ascii_uppercase(), b'A'..=b'D')
}

fn data_value(c: u8) -> Option<u32> {
    CODABAR_DATA
        .iter()
        .position(|d| *d == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// Reads a Codabar payload as the scanner sent it and checks its check character.
///
/// `s` is either `start data stop` (start A–D, stop A–D or T/N/*/E, either case) or the data
/// alone when the scanner is set not to send start/stop characters. Returns the data characters
/// between start and stop, without the check character when a scheme is set.
///
/// Modulus 16 covers the start and stop characters, so it needs them: without them the scan is
/// refused with [`Rejection::CodabarStartStop`], a scanner setting to fix.
pub fn codabar_parse(s: &str, check: CodabarCheck) -> Result<String, Rejection> {
    let bytes = s.as_bytes();
    let (ends, data) = match bytes {
        [first, middle @ .., last] if is_start(*first) => {
            let stop = start_stop_value(*last).ok_or(Rejection::Unreadable)?;
            let start = start_stop_value(*first).ok_or(Rejection::Unreadable)?;
            (Some(start + stop), middle)
        }
        _ => (None, bytes),
    };
    if data.is_empty() || data.iter().any(|c| data_value(*c).is_none()) {
        return Err(Rejection::Unreadable);
    }
    let (body, check_char) = match check {
        CodabarCheck::None => return Ok(ascii_string(data)),
        _ => match data.split_last() {
            Some((c, body)) if !body.is_empty() => (body, *c),
            _ => return Err(Rejection::Unreadable),
        },
    };
    let ok = match check {
        CodabarCheck::None => true,
        CodabarCheck::Mod16 => {
            let ends = ends.ok_or(Rejection::CodabarStartStop)?;
            // Every character was checked against the table above.
            let sum: u32 = data.iter().filter_map(|c| data_value(*c)).sum::<u32>() + ends;
            sum.is_multiple_of(16)
        }
        numeric => {
            let (Some(body), Some(check_digit)) = (digits(body), digit(check_char)) else {
                // Symbols where this scheme wants digits: the card is not one of ours.
                return Err(Rejection::NotMemberCard);
            };
            numeric_check_ok(numeric, &body, check_digit)
        }
    };
    if ok {
        Ok(ascii_string(body))
    } else {
        Err(Rejection::CheckDigit)
    }
}

/// The check digit a numeric scheme expects for `body` (digit values, most significant first).
/// `None` for `CodabarCheck::None` and `Mod16`, which are not digit schemes.
pub fn codabar_numeric_check(check: CodabarCheck, body: &[u8]) -> Option<u8> {
    let digits = body.iter().map(|d| u32::from(d % 10));
    let value = match check {
        CodabarCheck::None | CodabarCheck::Mod16 => return None,
        CodabarCheck::Mod10Luhn => {
            let sum: u32 = digits
                .rev()
                .enumerate()
                .map(|(i, d)| {
                    if i % 2 == 0 {
                        (d * 2) / 10 + (d * 2) % 10
                    } else {
                        d
                    }
                })
                .sum();
            (10 - sum % 10) % 10
        }
        CodabarCheck::Mod11 => {
            let sum: u32 = digits
                .rev()
                .zip([2u32, 3, 4, 5, 6, 7].into_iter().cycle())
                .map(|(d, w)| d * w)
                .sum();
            match sum % 11 {
                0 | 1 => 0,
                r => 11 - r,
            }
        }
        CodabarCheck::SevenDr => digits.fold(0, |r, d| (r * 10 + d) % 7),
        CodabarCheck::SevenDsr => 7 - digits.fold(0, |r, d| (r * 10 + d) % 7),
    };
    u8::try_from(value).ok()
}

fn numeric_check_ok(check: CodabarCheck, body: &[u8], check_digit: u8) -> bool {
    match codabar_numeric_check(check, body) {
        Some(7) if check == CodabarCheck::SevenDsr => check_digit == 7 || check_digit == 0,
        Some(expected) => expected == check_digit,
        None => false,
    }
}

fn digit(c: u8) -> Option<u8> {
    c.is_ascii_digit().then(|| c - b'0')
}

fn digits(s: &[u8]) -> Option<Vec<u8>> {
    s.iter().map(|c| digit(*c)).collect()
}

/// `bytes` are Codabar characters, all ASCII.
fn ascii_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}
