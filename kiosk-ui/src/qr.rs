//! QR codes as egui textures: one pixel per module, drawn scaled up with
//! nearest-neighbour filtering so the modules stay crisp at any size.

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};

pub use tenpo_protocol::qr::QrError;

/// The QR code of `text` (`tenpo_protocol::qr`: error correction M, a 4-module quiet zone),
/// one pixel per module.
pub fn encode(text: &str) -> Result<ColorImage, QrError> {
    let matrix = tenpo_protocol::qr::encode(text)?;
    let (w, h) = (matrix.width(), matrix.height());
    let mut pixels = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.push(if matrix.is_dark(x, y) {
                Color32::BLACK
            } else {
                Color32::WHITE
            });
        }
    }
    Ok(ColorImage::new([w as usize, h as usize], pixels))
}

/// The texture of the QR code on screen, made again only when its text changes.
#[derive(Default)]
pub struct QrTexture {
    text: String,
    texture: Option<TextureHandle>,
}

impl std::fmt::Debug for QrTexture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrTexture")
            .field("text", &self.text)
            .finish()
    }
}

impl QrTexture {
    /// The texture for `text`, uploading it the first time.
    pub fn get(&mut self, ctx: &egui::Context, text: &str) -> Result<&TextureHandle, QrError> {
        if self.texture.is_none() || self.text != text {
            let image = encode(text)?;
            self.texture = Some(ctx.load_texture("signup-qr", image, TextureOptions::NEAREST));
            self.text = text.to_owned();
        }
        self.texture
            .as_ref()
            .ok_or_else(|| QrError("no texture".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_pixel_per_module_with_a_quiet_zone() {
        let image = encode("https://liff.line.me/1234567890-AbCdEfGh?t=S1.abc").unwrap();
        let [w, h] = image.size;
        assert_eq!(w, h);
        // Version n has 17 + 4n modules, plus 4 on each side.
        assert_eq!((w - 8 - 17) % 4, 0, "{w}");
        assert_eq!(image.pixels[0], Color32::WHITE);
        assert_eq!(
            image.pixels[4 * w + 4],
            Color32::BLACK,
            "finder pattern corner"
        );
    }
}
