//! The card QR as an SVG image the LIFF page shows as is: one unit per module, a 4-module quiet
//! zone, error correction M, black on white, crisp edges at any size.

use std::fmt::Write;

use rxing::qrcode::QRCodeWriter;
use rxing::{BarcodeFormat, EncodeHints, Writer};

/// Why a text could not become a QR code (too long for one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot make a QR code of this text: {0}")]
pub struct QrError(String);

/// The QR code of `text` as an SVG document.
pub fn svg(text: &str) -> Result<String, QrError> {
    let hints = EncodeHints {
        ErrorCorrection: Some("M".into()),
        ..EncodeHints::default()
    };
    // Size 0 × 0: one matrix cell per module, quiet zone included.
    let matrix = QRCodeWriter
        .encode_with_hints(text, &BarcodeFormat::QR_CODE, 0, 0, &hints)
        .map_err(|e| QrError(e.to_string()))?;
    let (w, h) = (matrix.getWidth(), matrix.getHeight());
    let mut path = String::new();
    for y in 0..h {
        for x in 0..w {
            if matrix.get(x, y) {
                let _ = write!(path, "M{x} {y}h1v1h-1z");
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" shape-rendering="crispEdges" role="img" aria-label="member card QR code"><rect width="{w}" height="{h}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    ))
}
