//! The card QR as an SVG image the LIFF page shows as is: one unit per module, black on white,
//! crisp edges at any size (the modules from `tenpo_protocol::qr`).

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
