//! QR codes as a matrix of modules, for the hub's card page (SVG) and the kiosk's screens
//! (egui textures): one encoder, the same settings everywhere (error correction M, a 4-module
//! quiet zone). Feature `qr`.

use rxing::qrcode::QRCodeWriter;
use rxing::{BarcodeFormat, EncodeHints, Writer};

/// Why a text could not become a QR code (too long for one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot make a QR code of this text: {0}")]
pub struct QrError(pub String);

/// A QR code's modules, quiet zone included, one cell per module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: u32,
    height: u32,
    dark: Vec<bool>,
}

impl QrMatrix {
    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Whether the module at (`x`, `y`) is dark; outside the matrix, light.
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.width
            && y < self.height
            && self
                .dark
                .get(y as usize * self.width as usize + x as usize)
                .copied()
                .unwrap_or(false)
    }
}

/// The QR code of `text`.
pub fn encode(text: &str) -> Result<QrMatrix, QrError> {
    let hints = EncodeHints {
        ErrorCorrection: Some("M".into()),
        ..EncodeHints::default()
    };
    // Size 0 × 0: one matrix cell per module, quiet zone included.
    let matrix = QRCodeWriter
        .encode_with_hints(text, &BarcodeFormat::QR_CODE, 0, 0, &hints)
        .map_err(|e| QrError(e.to_string()))?;
    let (width, height) = (matrix.getWidth(), matrix.getHeight());
    let mut dark = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            dark.push(matrix.get(x, y));
        }
    }
    Ok(QrMatrix {
        width,
        height,
        dark,
    })
}

/// The bars of an EAN-13 (JAN) code for `digits` (13, the last the check digit), quiet zones
/// included: `true` is a dark module. The member barcode 1D scanners read.
pub fn ean13(digits: &str) -> Result<Vec<bool>, QrError> {
    use rxing::oned::EAN13Writer;
    let matrix = EAN13Writer
        .encode(digits, &BarcodeFormat::EAN_13, 0, 0)
        .map_err(|e| QrError(e.to_string()))?;
    Ok((0..matrix.getWidth()).map(|x| matrix.get(x, 0)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_short_text_is_a_version_1_code_with_its_quiet_zone() {
        let m = encode("tenpo").unwrap();
        // Version 1 is 21 modules, plus 4 of quiet zone on each side.
        assert_eq!((m.width(), m.height()), (29, 29));
        // The quiet zone is light; the finder pattern's corner is dark.
        assert!(!m.is_dark(0, 0));
        assert!(m.is_dark(4, 4));
        assert!(!m.is_dark(1_000, 4));
    }

    #[test]
    fn an_ean13_has_its_guard_bars_and_quiet_zones() {
        let bars = ean13("2000000000015").unwrap();
        // 95 modules of code between quiet zones; the start guard is dark-light-dark.
        let first = bars.iter().position(|&b| b).unwrap();
        assert_eq!(&bars[first..first + 3], &[true, false, true]);
        let last = bars.iter().rposition(|&b| b).unwrap();
        assert_eq!(last - first + 1, 95);
        assert!(ean13("2000000000016").is_err(), "a wrong check digit");
    }
}
