//! Product barcodes: what a member's wish names (docs/design.md §11). The cashier or the member
//! scans the product's JAN/EAN-13, EAN-8 or UPC-A; its digits, check digit checked, name the
//! item at the hub. An in-store JAN (prefix 20–29) is a member card here (docs/design.md §6),
//! never a product.

use crate::code::Scan;
use crate::symbology::{Symbology, digit_values, gtin_valid};

/// Why a text shaped like a product barcode is not one a wish can name, in words a cashier can
/// act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    #[error("the barcode {0} has a wrong check digit: scan the product again")]
    CheckDigit(String),
    #[error("{0} is a member card's code, not a product: scan the product's barcode")]
    MemberCard(String),
}

/// The digits of a product's barcode: a JAN/EAN-13 that is not an in-store code, an EAN-8 or a
/// UPC-A, its check digit right.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductCode(String);

impl ProductCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ProductCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a product code a POS or a screen sends. `Ok(None)`: not shaped like a product barcode
/// (8, 12 or 13 digits), so not one (a retailer's sku, say). `Ok(Some)`: a product barcode whose
/// check digit is right. An error: barcode-shaped, but its check digit is wrong, or it is an
/// in-store member card's code.
pub fn parse_product(text: &str) -> Result<Option<ProductCode>, ProductError> {
    if !matches!(text.len(), 8 | 12 | 13) || digit_values(text).is_none() {
        return Ok(None);
    }
    if !gtin_valid(text, text.len()) {
        return Err(ProductError::CheckDigit(text.to_owned()));
    }
    if text.len() == 13 && text.starts_with('2') {
        return Err(ProductError::MemberCard(text.to_owned()));
    }
    Ok(Some(ProductCode(text.to_owned())))
}

/// The product a scan names: a scan that [`crate::classify`] refuses as a product barcode,
/// when its check digit is right (an EAN-13 read with a 2- or 5-digit add-on names its first
/// 13 digits). `None` for anything else: member cards, bad reads, other symbologies.
pub fn product_code(scan: &Scan) -> Option<ProductCode> {
    let payload = scan.payload.as_str();
    let main = match scan.symbology {
        Symbology::Ean13 if matches!(payload.len(), 15 | 18) => payload.get(..13)?,
        Symbology::Ean13 => payload,
        Symbology::Ean8 if payload.len() == 8 => payload,
        _ => return None,
    };
    parse_product(main).ok().flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{CodeRules, Rejection, classify, parse_frame};

    fn scanned(frame: &[u8]) -> Option<String> {
        product_code(&parse_frame(frame).unwrap()).map(ProductCode::into_string)
    }

    #[test]
    fn product_barcodes_and_what_is_not_one() {
        for ok in ["4901234567894", "73513537", "036000291452", "0036000291452"] {
            assert_eq!(
                parse_product(ok).unwrap().map(ProductCode::into_string),
                Some(ok.to_owned())
            );
        }
        // Skus and other codes are not barcode-shaped.
        for other in ["bento", "12345", "49012345678941", "490123456789x", ""] {
            assert_eq!(parse_product(other), Ok(None), "{other}");
        }
        assert_eq!(
            parse_product("4901234567893"),
            Err(ProductError::CheckDigit("4901234567893".into()))
        );
        assert_eq!(
            parse_product("73513536"),
            Err(ProductError::CheckDigit("73513536".into()))
        );
        assert_eq!(
            parse_product("2000000000015"),
            Err(ProductError::MemberCard("2000000000015".into()))
        );
    }

    #[test]
    fn a_scan_names_its_product_exactly_when_it_is_refused_as_one() {
        let rules = CodeRules::default();
        for (frame, product) in [
            (&b"]E04901234567894"[..], Some("4901234567894")),
            (b"4901234567894", Some("4901234567894")),
            (b"]E496385074", Some("96385074")),
            (b"73513537", Some("73513537")),
            (b"]E0036000291452", Some("036000291452")),
            (b"]E3490123456789412", Some("4901234567894")),
            (b"]E349012345678941234", None),
            (b"]E3490123456789312", None),
            (b"4901234567893", None),
            (b"2000000000015", None),
            (b"]C12000000000015", None),
            (b"A1234567B", None),
        ] {
            let scan = parse_frame(frame).unwrap();
            assert_eq!(scanned(frame).as_deref(), product, "{frame:?}");
            if product.is_some() {
                assert_eq!(
                    classify(&scan, &rules, 0),
                    Err(Rejection::ProductBarcode),
                    "{frame:?}"
                );
            }
        }
    }
}
