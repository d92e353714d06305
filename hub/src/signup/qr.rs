//! The card QR and the member barcode as SVG images the LIFF page shows as is: one unit per
//! module, black on white, crisp edges at any size (the modules from `tenpo_protocol::qr`).

use std::fmt::Write;

pub use tenpo_protocol::qr::QrError;

/// The QR code of `text` as an SVG document.
pub fn svg(text: &str) -> Result<String, QrError> {
    let matrix = tenpo_protocol::qr::encode(text)?;
    let (w, h) = (matrix.width(), matrix.height());
    let mut path = String::new();
    for y in 0..h {
        for x in 0..w {
            if matrix.is_dark(x, y) {
                let _ = write!(path, "M{x} {y}h1v1h-1z");
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" shape-rendering="crispEdges" role="img" aria-label="member card QR code"><rect width="{w}" height="{h}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    ))
}

/// The member number as an EAN-13 (JAN) barcode, for 1D scanners: bars one unit wide, 60 high.
pub fn barcode_svg(number: &str) -> Result<String, QrError> {
    let bars = tenpo_protocol::qr::ean13(number)?;
    let w = bars.len();
    let mut path = String::new();
    for (x, _) in bars.iter().enumerate().filter(|(_, dark)| **dark) {
        let _ = write!(path, "M{x} 0h1v60h-1z");
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} 60" preserveAspectRatio="none" shape-rendering="crispEdges" role="img" aria-label="member barcode {number}"><rect width="{w}" height="60" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    ))
}
