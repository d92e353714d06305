//! The kiosk's screens.

use chrono::{DateTime, Utc};
use egui::{Color32, RichText, Ui};
use tenpo_protocol::agent::MemberView;
use tenpo_protocol::signup::{SignupKind, SignupSession};

use super::{GREEN, INK, MUTED, WARN, big_button, language_button, paper, text};
use crate::i18n::{Lang, Msg, time_left, tr};
use crate::kiosk::{Kiosk, Problem, Screen, Tap};
use crate::qr::QrTexture;
use crate::wish::{WishOffer, WishState};

/// Draws the kiosk; returns the tap, if any.
pub fn show(ui: &mut Ui, kiosk: &Kiosk, qr: &mut QrTexture, now: DateTime<Utc>) -> Option<Tap> {
    paper(ui);
    let lang = kiosk.lang;
    let mut tap = None;
    egui::Frame::new().inner_margin(32.0).show(ui, |ui| {
        ui.set_min_size(ui.available_size());
        if language_button(ui, lang) {
            tap = Some(Tap::Language);
        }
        ui.vertical_centered(|ui| {
            let hint = kiosk.wish_possible();
            let home = match &kiosk.screen {
                Screen::Connecting => {
                    waiting(ui, lang, Msg::Connecting);
                    false
                }
                Screen::Renewing => {
                    ui.add_space(120.0);
                    ui.label(text(lang, Msg::ExpiredSignup, 44.0).strong());
                    waiting(ui, lang, Msg::Renewing);
                    false
                }
                Screen::Attract(session) => {
                    attract(ui, lang, session, kiosk, qr, now);
                    false
                }
                Screen::CardLink(session) => card_link(ui, lang, session, kiosk, qr, now),
                Screen::Welcome { kind, member } => welcome(ui, lang, *kind, member.as_ref()),
                Screen::CardLinkExpired => {
                    message(ui, lang, tr(lang, Msg::ExpiredCardLink), None, Msg::Back)
                }
                Screen::Notice(reason) => {
                    let title = tr(lang, Msg::CardProblemTitle);
                    message_hint(ui, lang, title, Some(reason), hint)
                }
                Screen::AlreadyLineCard => {
                    message_hint(ui, lang, tr(lang, Msg::AlreadyLineCard), None, hint)
                }
                Screen::Wish(offer) => {
                    tap = wish(ui, lang, offer);
                    false
                }
                Screen::Unavailable(problem) => {
                    unavailable(ui, lang, problem);
                    false
                }
            };
            if home {
                tap = Some(Tap::Home);
            }
        });
    });
    tap
}

fn waiting(ui: &mut Ui, lang: Lang, msg: Msg) {
    ui.add_space(40.0);
    ui.label(text(lang, msg, 36.0).color(MUTED));
}

/// The QR code, as large as the space allows, in whole pixels per module.
fn qr_code(ui: &mut Ui, qr: &mut QrTexture, url: &str, max_side: f32) {
    match qr.get(ui.ctx(), url) {
        Ok(texture) => {
            let modules = texture.size()[0].max(1) as f32;
            let side = (max_side / modules).floor().max(1.0) * modules;
            ui.add(egui::Image::from_texture((
                texture.id(),
                egui::vec2(side, side),
            )));
        }
        Err(e) => {
            ui.label(RichText::new(e.to_string()).size(24.0).color(WARN));
        }
    }
}

fn qr_side(ui: &Ui, reserved: f32) -> f32 {
    (ui.available_height() - reserved)
        .min(ui.available_width() * 0.8)
        .clamp(120.0, 720.0)
}

fn timer(ui: &mut Ui, lang: Lang, kiosk: &Kiosk, now: DateTime<Utc>) {
    if let Some(left) = kiosk.seconds_left(now) {
        ui.label(RichText::new(time_left(lang, left)).size(30.0).color(MUTED));
    }
}

fn attract(
    ui: &mut Ui,
    lang: Lang,
    session: &SignupSession,
    kiosk: &Kiosk,
    qr: &mut QrTexture,
    now: DateTime<Utc>,
) {
    ui.label(text(lang, Msg::AttractTitle, 60.0).strong().color(GREEN));
    ui.label(text(lang, Msg::AttractSteps, 34.0));
    let reserved = if kiosk.hub_reachable { 100.0 } else { 150.0 };
    qr_code(ui, qr, &session.liff_url, qr_side(ui, reserved));
    timer(ui, lang, kiosk, now);
    ui.label(text(lang, Msg::AttractNoTyping, 28.0).color(MUTED));
    if !kiosk.hub_reachable {
        ui.label(text(lang, Msg::OfflineNote, 26.0).color(WARN));
    }
}

fn card_link(
    ui: &mut Ui,
    lang: Lang,
    session: &SignupSession,
    kiosk: &Kiosk,
    qr: &mut QrTexture,
    now: DateTime<Utc>,
) -> bool {
    ui.label(text(lang, Msg::CardLinkTitle, 56.0).strong().color(GREEN));
    ui.label(text(lang, Msg::CardLinkSteps, 30.0));
    if kiosk.wish_possible() {
        ui.label(text(lang, Msg::WishHint, 26.0).color(MUTED));
    }
    if let Some(hint) = &session.card_hint {
        ui.label(
            RichText::new(format!("{} {hint}", tr(lang, Msg::CardLinkCard)))
                .size(30.0)
                .monospace()
                .color(INK),
        );
    }
    qr_code(ui, qr, &session.liff_url, qr_side(ui, 150.0));
    timer(ui, lang, kiosk, now);
    big_button(ui, tr(lang, Msg::Back), false)
}

/// Stamp slots: filled ones in green.
fn stamp_card(ui: &mut Ui, count: u32, size: u32) {
    let size = size.clamp(1, 20);
    let r = 26.0;
    let gap = 14.0;
    let width = size as f32 * (2.0 * r + gap) - gap;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 2.0 * r + 4.0), egui::Sense::hover());
    for i in 0..size {
        let center = egui::pos2(
            rect.left() + r + i as f32 * (2.0 * r + gap),
            rect.center().y,
        );
        if i < count {
            ui.painter().circle_filled(center, r, GREEN);
            ui.painter()
                .circle_stroke(center, r * 0.55, egui::Stroke::new(3.0, Color32::WHITE));
        } else {
            ui.painter()
                .circle_stroke(center, r, egui::Stroke::new(3.0, MUTED));
        }
    }
}

fn welcome(ui: &mut Ui, lang: Lang, kind: SignupKind, member: Option<&MemberView>) -> bool {
    ui.add_space(40.0);
    let title = match kind {
        SignupKind::Signup => Msg::WelcomeTitle,
        SignupKind::CardLink => Msg::LinkedTitle,
    };
    ui.label(text(lang, title, 72.0).strong().color(GREEN));
    if let Some(m) = member {
        ui.label(text(lang, Msg::MemberNumber, 32.0).color(MUTED));
        ui.label(
            RichText::new(&m.number)
                .size(64.0)
                .monospace()
                .strong()
                .color(INK),
        );
        ui.add_space(12.0);
        if kind == SignupKind::Signup && m.stamps.count > 0 {
            ui.label(text(lang, Msg::FirstStamp, 32.0));
        } else {
            ui.label(
                RichText::new(format!(
                    "{} {}/{}",
                    tr(lang, Msg::Stamps),
                    m.stamps.count,
                    m.stamps.card_size
                ))
                .size(32.0)
                .color(INK),
            );
        }
        stamp_card(ui, m.stamps.count, m.stamps.card_size);
    }
    ui.add_space(24.0);
    ui.label(text(lang, Msg::FindCard, 32.0));
    ui.add_space(24.0);
    big_button(ui, tr(lang, Msg::Done), true)
}

fn message(ui: &mut Ui, lang: Lang, title: &str, detail: Option<&str>, button: Msg) -> bool {
    ui.add_space(160.0);
    ui.label(RichText::new(title).size(48.0).strong().color(INK));
    if let Some(d) = detail.filter(|d| !d.is_empty()) {
        ui.label(RichText::new(d).size(30.0).color(WARN));
    }
    ui.add_space(40.0);
    big_button(ui, tr(lang, button), true)
}

/// A message after a card scan; `hint`: the member's card was read, so a product scanned now
/// can be wished for, and the screen says so.
fn message_hint(ui: &mut Ui, lang: Lang, title: &str, detail: Option<&str>, hint: bool) -> bool {
    if !hint {
        return message(ui, lang, title, detail, Msg::Back);
    }
    ui.add_space(160.0);
    ui.label(RichText::new(title).size(48.0).strong().color(INK));
    if let Some(d) = detail.filter(|d| !d.is_empty()) {
        ui.label(RichText::new(d).size(30.0).color(WARN));
    }
    ui.add_space(24.0);
    ui.label(text(lang, Msg::WishHint, 34.0).color(GREEN));
    ui.add_space(24.0);
    big_button(ui, tr(lang, Msg::Back), true)
}

/// The product a member scanned, "入荷お知らせ", and what came of it.
fn wish(ui: &mut Ui, lang: Lang, offer: &WishOffer) -> Option<Tap> {
    ui.add_space(120.0);
    let title = match offer.state {
        WishState::Recorded => text(lang, Msg::WishRecorded, 52.0).strong().color(GREEN),
        _ => text(lang, Msg::WishAsk, 48.0).strong(),
    };
    ui.label(title);
    ui.add_space(12.0);
    ui.label(text(lang, Msg::WishProduct, 30.0).color(MUTED));
    ui.label(
        RichText::new(&offer.product)
            .size(56.0)
            .monospace()
            .strong()
            .color(INK),
    );
    ui.add_space(32.0);
    let mut tap = None;
    match &offer.state {
        WishState::Offered => {
            if big_button(ui, tr(lang, Msg::NotifyMe), true) {
                tap = Some(Tap::NotifyMe);
            }
        }
        WishState::Sending => {
            ui.label(text(lang, Msg::WishSending, 34.0).color(MUTED));
        }
        WishState::Recorded => {
            if big_button(ui, tr(lang, Msg::Done), true) {
                tap = Some(Tap::Home);
            }
            return tap;
        }
        WishState::Failed(e) => {
            ui.label(text(lang, Msg::WishFailed, 34.0).strong().color(WARN));
            ui.label(RichText::new(e).size(26.0).color(WARN));
            if big_button(ui, tr(lang, Msg::NotifyMe), true) {
                tap = Some(Tap::NotifyMe);
            }
        }
    }
    if big_button(ui, tr(lang, Msg::Back), false) {
        tap = Some(Tap::Home);
    }
    tap
}

fn unavailable(ui: &mut Ui, lang: Lang, problem: &Problem) {
    ui.add_space(160.0);
    let (title, body, detail) = match problem {
        Problem::AgentUnreachable(d) => (Msg::AgentUnreachableTitle, Msg::AgentUnreachableText, d),
        Problem::Refused(d) => (Msg::RefusedTitle, Msg::RefusedText, d),
    };
    ui.label(text(lang, title, 52.0).strong());
    ui.label(text(lang, body, 34.0));
    ui.add_space(24.0);
    ui.label(text(lang, Msg::Retrying, 26.0).color(MUTED));
    // For the staff: what the terminal said.
    ui.label(RichText::new(detail).size(20.0).color(MUTED));
}
