//! The counter screen: the scanned member (or why the card was refused), a product scanned for
//! the member's wish, the sale, what it earned, and the terminal's link to the hub.

use chrono::{DateTime, Utc};
use egui::{RichText, Ui};
use tenpo_protocol::agent::{CouponKind, MemberView, SaleResponse};

use super::{GREEN, INK, MUTED, WARN, big_button, language_button, paper, text};
use crate::counter::{Command, Counter, Link, SaleResult, Scanned, WishOffer, WishState};
use crate::i18n::{Lang, Msg, group, tr, yen};

/// Draws the counter; returns the commands the cashier's taps made.
pub fn show(ui: &mut Ui, counter: &mut Counter, now: DateTime<Utc>) -> Vec<Command> {
    paper(ui);
    let mut commands = Vec::new();
    egui::Frame::new().inner_margin(24.0).show(ui, |ui| {
        ui.set_min_size(ui.available_size());
        ui.horizontal(|ui| {
            ui.label(text(counter.lang, Msg::CounterTitle, 40.0).strong());
            ui.add_space(24.0);
            link(ui, counter);
            if language_button(ui, counter.lang) {
                counter.lang = counter.lang.toggled();
            }
        });
        if !counter.stream_connected {
            ui.label(text(counter.lang, Msg::StreamDown, 24.0).color(WARN));
        }
        ui.separator();
        ui.columns(2, |cols| {
            commands = member_panel(&mut cols[0], counter, now);
            commands.extend(sale_panel(&mut cols[1], counter, now));
        });
    });
    commands
}

fn link(ui: &mut Ui, counter: &Counter) {
    let lang = counter.lang;
    let (label, color, pending) = match &counter.link {
        Link::Unknown => ("…".to_owned(), MUTED, None),
        Link::AgentDown(e) => (e.clone(), WARN, None),
        Link::Standalone { pending } => {
            (tr(lang, Msg::Standalone).to_owned(), MUTED, Some(*pending))
        }
        Link::Online { pending } => (tr(lang, Msg::Online).to_owned(), GREEN, Some(*pending)),
        Link::Offline { pending, .. } => (tr(lang, Msg::Offline).to_owned(), WARN, Some(*pending)),
    };
    ui.label(RichText::new(format!("● {label}")).size(26.0).color(color));
    if let Some(p) = pending {
        let color = if p > 0 { WARN } else { MUTED };
        ui.label(
            RichText::new(format!("{} {p}", tr(lang, Msg::PendingEvents)))
                .size(26.0)
                .color(color),
        );
    }
}

fn row(ui: &mut Ui, lang: Lang, msg: Msg, value: String) {
    ui.horizontal(|ui| {
        ui.label(text(lang, msg, 26.0).color(MUTED));
        ui.label(RichText::new(value).size(30.0).strong().color(INK));
    });
}

fn member_panel(ui: &mut Ui, counter: &mut Counter, now: DateTime<Utc>) -> Vec<Command> {
    let lang = counter.lang;
    let mut commands = Vec::new();
    match &counter.scanned {
        None => {
            ui.add_space(80.0);
            ui.label(text(lang, Msg::ScanPrompt, 36.0).color(MUTED));
        }
        Some(Scanned::Rejected { raw, reason }) => {
            ui.label(text(lang, Msg::Rejected, 36.0).strong().color(WARN));
            ui.label(RichText::new(reason).size(28.0).color(WARN));
            ui.label(RichText::new(raw).size(20.0).monospace().color(MUTED));
        }
        Some(Scanned::Member { member, .. }) => {
            let member = member.clone();
            member_view(ui, lang, &member, &mut counter.coupons);
            if let Some(offer) = &counter.wish
                && wish_box(ui, lang, offer)
            {
                commands = counter.notify_me(now);
            }
        }
        Some(Scanned::NotKnown { code, message }) => {
            ui.label(
                RichText::new(code)
                    .size(40.0)
                    .monospace()
                    .strong()
                    .color(INK),
            );
            ui.label(RichText::new(message).size(26.0).color(WARN));
        }
    }
    commands
}

/// The product scanned for the member, with "入荷お知らせ" and what came of it; `true` when
/// the button was tapped.
fn wish_box(ui: &mut Ui, lang: Lang, offer: &WishOffer) -> bool {
    ui.separator();
    ui.horizontal(|ui| {
        ui.label(text(lang, Msg::WishProduct, 26.0).color(MUTED));
        ui.label(
            RichText::new(&offer.product)
                .size(30.0)
                .monospace()
                .strong()
                .color(INK),
        );
    });
    match &offer.state {
        WishState::Offered => big_button(ui, tr(lang, Msg::NotifyMe), true),
        WishState::Sending => {
            ui.label(text(lang, Msg::WishSending, 26.0).color(MUTED));
            false
        }
        WishState::Recorded => {
            ui.label(text(lang, Msg::WishRecorded, 28.0).strong().color(GREEN));
            false
        }
        WishState::Failed(e) => {
            ui.label(text(lang, Msg::WishFailed, 28.0).strong().color(WARN));
            ui.label(RichText::new(e).size(22.0).color(WARN));
            big_button(ui, tr(lang, Msg::NotifyMe), true)
        }
    }
}

fn member_view(
    ui: &mut Ui,
    lang: Lang,
    m: &MemberView,
    chosen: &mut std::collections::BTreeSet<String>,
) {
    ui.label(
        RichText::new(&m.number)
            .size(40.0)
            .monospace()
            .strong()
            .color(INK),
    );
    if m.provisional {
        ui.label(text(lang, Msg::Provisional, 24.0).color(WARN));
    }
    row(ui, lang, Msg::Tier, m.tier.clone());
    row(
        ui,
        lang,
        Msg::Points,
        format!("{} pt", group(m.points.balance)),
    );
    if let Some(e) = m.points.expiring.first() {
        row(
            ui,
            lang,
            Msg::Expiring,
            format!("{} pt ({})", group(e.points), e.expires_on),
        );
    }
    row(
        ui,
        lang,
        Msg::Stamps,
        format!("{}/{}", m.stamps.count, m.stamps.card_size),
    );
    match &m.next_tier {
        Some(n) => row(
            ui,
            lang,
            Msg::ToNextTier,
            format!("{} ({})", yen(n.remaining_yen), n.name),
        ),
        None => {
            ui.label(text(lang, Msg::TopTier, 26.0).color(GREEN));
        }
    }
    ui.label(text(lang, Msg::Coupons, 26.0).color(MUTED));
    if m.coupons.is_empty() {
        ui.label(text(lang, Msg::NoCoupons, 24.0).color(MUTED));
    }
    for c in &m.coupons {
        let what = match c.kind {
            CouponKind::Discount => yen(c.value_yen),
            CouponKind::PointsBonus => format!("+{} pt", group(c.points)),
        };
        let mut on = chosen.contains(&c.coupon_id);
        let label =
            RichText::new(format!("{what}  {} (〜{})", c.coupon_id, c.valid_until)).size(26.0);
        if ui.checkbox(&mut on, label).changed() {
            if on {
                chosen.insert(c.coupon_id.clone());
            } else {
                chosen.remove(&c.coupon_id);
            }
        }
    }
}

fn field(ui: &mut Ui, lang: Lang, msg: Msg, value: &mut String) {
    let label = ui.label(text(lang, msg, 26.0).color(MUTED));
    ui.add(
        egui::TextEdit::singleline(value)
            .font(egui::FontId::proportional(40.0))
            .desired_width(320.0),
    )
    .labelled_by(label.id);
}

fn sale_panel(ui: &mut Ui, counter: &mut Counter, now: DateTime<Utc>) -> Vec<Command> {
    let lang = counter.lang;
    let mut commands = Vec::new();
    field(ui, lang, Msg::SaleAmount, &mut counter.amount);
    if counter.member().is_some() {
        field(ui, lang, Msg::RedeemPoints, &mut counter.redeem);
    }
    if let Some(problem) = counter.input_problem {
        ui.label(text(lang, problem, 24.0).color(WARN));
    }
    ui.horizontal(|ui| {
        let label = if counter.busy {
            tr(lang, Msg::Recording)
        } else {
            tr(lang, Msg::Confirm)
        };
        if big_button(ui, label, true) {
            commands = counter.confirm(now);
        }
        if big_button(ui, tr(lang, Msg::NewSale), false) {
            counter.next_customer();
        }
    });
    match &counter.result {
        Some(SaleResult::Recorded(r)) => result(ui, lang, r),
        Some(SaleResult::Failed(e)) => {
            ui.label(text(lang, Msg::SaleFailed, 30.0).strong().color(WARN));
            ui.label(RichText::new(e).size(24.0).color(WARN));
        }
        None => {}
    }
    commands
}

fn result(ui: &mut Ui, lang: Lang, r: &SaleResponse) {
    ui.separator();
    row(
        ui,
        lang,
        Msg::Earned,
        format!("+{} pt", group(r.earned_points)),
    );
    if r.redeemed_points > 0 {
        row(
            ui,
            lang,
            Msg::Redeemed,
            format!("-{} pt", group(r.redeemed_points)),
        );
    }
    if r.discount_yen > 0 {
        row(ui, lang, Msg::Discount, yen(r.discount_yen));
    }
    if r.stamps_earned > 0 {
        row(ui, lang, Msg::StampsEarned, format!("+{}", r.stamps_earned));
    }
    for c in &r.coupons_issued {
        row(ui, lang, Msg::CouponsIssued, c.coupon_id.clone());
    }
    if r.member_id.is_some() {
        row(
            ui,
            lang,
            Msg::BalanceAfter,
            format!("{} pt", group(r.balance_after)),
        );
        if let Some(n) = &r.next_tier {
            row(
                ui,
                lang,
                Msg::ToNextTier,
                format!("{} ({})", yen(n.remaining_yen), n.name),
            );
        }
    }
}
