//! Drawing the screens. Each `show` draws a state machine's state and returns what the person
//! tapped; it decides nothing itself.

pub mod counter;
pub mod kiosk;

use egui::{Color32, RichText, Ui, Vec2};

use crate::i18n::{Lang, Msg, tr};

/// LINE's green, for the accents.
pub const GREEN: Color32 = Color32::from_rgb(0x06, 0xC7, 0x55);
pub const INK: Color32 = Color32::from_rgb(0x1f, 0x23, 0x28);
pub const MUTED: Color32 = Color32::from_rgb(0x5f, 0x66, 0x6d);
pub const WARN: Color32 = Color32::from_rgb(0xb3, 0x26, 0x1e);
pub const PAPER: Color32 = Color32::WHITE;
/// The smallest touch target: far above a fingertip.
pub const TOUCH: Vec2 = Vec2::new(220.0, 88.0);

/// The look of the screens: light, large, high contrast.
pub fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::ThemePreference::Light);
    ctx.all_styles_mut(|s| {
        s.spacing.button_padding = egui::vec2(24.0, 16.0);
        s.spacing.item_spacing = egui::vec2(16.0, 14.0);
        s.spacing.interact_size.y = 56.0;
        s.spacing.icon_width = 36.0;
        s.spacing.icon_width_inner = 22.0;
        s.visuals.panel_fill = PAPER;
        s.visuals.extreme_bg_color = Color32::from_gray(240);
        s.visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.5, MUTED);
        s.visuals.window_fill = PAPER;
    });
}

/// Paints the whole area white (the app's root `Ui` has no background).
pub fn paper(ui: &Ui) {
    ui.painter().rect_filled(ui.max_rect(), 0.0, PAPER);
}

pub fn text(lang: Lang, msg: Msg, size: f32) -> RichText {
    RichText::new(tr(lang, msg)).size(size).color(INK)
}

/// A big button; `true` when tapped.
pub fn big_button(ui: &mut Ui, label: &str, primary: bool) -> bool {
    let mut rich = RichText::new(label).size(34.0);
    if primary {
        rich = rich.color(Color32::WHITE).strong();
    }
    let mut button = egui::Button::new(rich).min_size(TOUCH).corner_radius(16.0);
    if primary {
        button = button.fill(GREEN);
    }
    ui.add(button).clicked()
}

/// The language button in the top right corner; `true` when tapped.
pub fn language_button(ui: &mut Ui, lang: Lang) -> bool {
    let mut tapped = false;
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Min), |ui| {
        tapped = ui
            .add(
                egui::Button::new(RichText::new(tr(lang, Msg::OtherLanguage)).size(30.0))
                    .min_size(egui::vec2(200.0, 80.0))
                    .corner_radius(40.0),
            )
            .clicked();
    });
    tapped
}
