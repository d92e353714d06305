//! Fonts: egui's own for Latin text, and a Japanese font loaded explicitly from the system.
//! Without one every Japanese glyph would be a box, so a missing font is an error that says what
//! to install.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{FontData, FontDefinitions, FontFamily};

/// Where Debian puts the fonts the kiosk can use, in order of preference.
pub const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
];
/// Names another font file.
pub const FONT_ENV: &str = "TENPO_KIOSK_FONT";

/// No Japanese font could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "no Japanese font found (looked for {}): install Debian's fonts-ipafont-gothic, or set {FONT_ENV} to a .ttf/.otf file",
        CANDIDATES.join(", ")
    )]
    Missing,
    #[error("cannot read the font {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The Japanese font's path: `$TENPO_KIOSK_FONT`, else the first candidate that exists.
pub fn find() -> Result<PathBuf, FontError> {
    if let Some(p) = std::env::var_os(FONT_ENV) {
        return Ok(PathBuf::from(p));
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(FontError::Missing)
}

/// egui's fonts with the Japanese font at `path` as the fallback of every family.
pub fn definitions(path: &Path) -> Result<FontDefinitions, FontError> {
    let bytes = std::fs::read(path).map_err(|source| FontError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut fonts = FontDefinitions::default();
    fonts
        .font_data
        .insert("japanese".into(), Arc::new(FontData::from_owned(bytes)));
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("japanese".into());
    }
    Ok(fonts)
}

/// Loads the Japanese font into `ctx`.
pub fn install(ctx: &egui::Context) -> Result<PathBuf, FontError> {
    let path = find()?;
    ctx.set_fonts(definitions(&path)?);
    Ok(path)
}
