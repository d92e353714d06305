//! A member's wish on the screens (docs/design.md §11), drawn by egui_kittest (wgpu, headless)
//! with snapshot images like every screen (`UPDATE_SNAPSHOTS=1` writes them):
//! - the counter: with a member shown, a product scanned offers "入荷お知らせ" ("Notify me when
//!   back" in English); the tap asks the agent for the member's restock wish and the answer is
//!   shown; without a member, a product scan is the refusal it always was;
//! - the kiosk: a member who has just scanned their card is told they can scan a product; a
//!   product then asks whether to tell them, the tap asks the agent, and the screen goes back to
//!   the start after the idle timeout, forgetting the card.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotResults};
use tenpo_kiosk::client::ApiFailure;
use tenpo_kiosk::counter::{self, Counter, Scanned, WishState};
use tenpo_kiosk::kiosk::{self, Kiosk, KioskConfig, Screen, Tap};
use tenpo_kiosk::qr::QrTexture;
use tenpo_protocol::agent::{
    MemberView, PointsView, ScanEvent, ScanOutcome, StampsView, WishRequest, WishResponse,
};
use tenpo_protocol::events::WishKind;
use tenpo_protocol::signup::{SignupKind, SignupSession};

const CARD: &str = "2000000000015";
const JAN: &str = "4901234567894";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn member() -> MemberView {
    MemberView {
        member_id: "m-1".into(),
        number: CARD.into(),
        provisional: false,
        tier: "standard".into(),
        points: PointsView {
            balance: 1250,
            expiring: vec![],
        },
        stamps: StampsView {
            count: 7,
            card_size: 10,
        },
        coupons: vec![],
        qualifying_spend_yen: 12_000,
        next_tier: None,
    }
}

fn scan(raw: &str, line_card: bool, outcome: ScanOutcome) -> ScanEvent {
    ScanEvent {
        scan_id: 1,
        scanner: "front".into(),
        raw: raw.into(),
        line_card,
        symbology: if line_card { "qr" } else { "ean13" }.into(),
        at: now(),
        outcome,
    }
}

fn card_scan(line_card: bool) -> ScanEvent {
    scan(CARD, line_card, ScanOutcome::Member { member: member() })
}

/// A product's barcode, as the agent publishes it since scans name the product.
fn product_scan(jan: &str) -> ScanEvent {
    scan(
        jan,
        false,
        ScanOutcome::Rejected {
            reason: "not a member card: this is a product barcode".into(),
            reason_code: "product_barcode".into(),
            product: Some(jan.into()),
        },
    )
}

fn recorded(wish: &WishRequest) -> WishResponse {
    WishResponse {
        wish_id: wish.wish_id.clone(),
        member_id: "m-1".into(),
        item: wish.item.clone(),
        barcode: true,
        wants: wish.wants.clone(),
        occurred_at: now().to_rfc3339(),
    }
}

fn setup(ctx: &egui::Context) {
    let path = tenpo_kiosk::fonts::find().expect("a Japanese font (fonts-ipafont-gothic)");
    ctx.set_fonts(tenpo_kiosk::fonts::definitions(&path).unwrap());
    tenpo_kiosk::ui::style(ctx);
}

// ---- The counter ----

fn counter_harness(c: Counter) -> Harness<'static, (Counter, Vec<counter::Command>)> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_theme(egui::Theme::Light)
        .with_context_setup(setup)
        .build_ui_state(
            |ui, (c, sent)| sent.extend(tenpo_kiosk::ui::counter::show(ui, c, now())),
            (c, Vec::new()),
        )
}

fn counter_with_member() -> Counter {
    let mut c = Counter::new("ctr");
    c.on_event(counter::Event::StreamConnected(true));
    c.on_event(counter::Event::Scan(card_scan(false)));
    c
}

#[test]
fn counter_a_product_scanned_for_the_member_on_the_counter_is_wished_for() {
    let mut results = SnapshotResults::new();
    let mut c = counter_with_member();
    c.amount = "1,580".into();
    assert!(
        c.on_event(counter::Event::Scan(product_scan(JAN)))
            .is_empty()
    );
    // The member and the sale being entered stay.
    assert!(matches!(&c.scanned, Some(Scanned::Member { .. })));
    assert_eq!(c.amount, "1,580");
    let mut h = counter_harness(c);
    h.run();
    h.get_by_label(JAN);
    h.snapshot("counter_wish_offered");
    results.extend_harness(&mut h);
    h.get_by_label("入荷お知らせ").click();
    h.run();
    let sent = std::mem::take(&mut h.state_mut().1);
    let [counter::Command::RecordWish(wish)] = sent.as_slice() else {
        panic!("expected one wish, got {sent:?}");
    };
    assert_eq!(wish.member_code, CARD);
    assert_eq!(wish.item, JAN);
    assert_eq!(wish.wants, vec![WishKind::Restock]);
    assert!(wish.wish_id.starts_with("ctr-w-"), "{}", wish.wish_id);
    assert_eq!(
        h.state().0.wish.as_ref().map(|w| &w.state),
        Some(&WishState::Sending)
    );
    // A second tap while it is asked sends nothing more.
    assert!(h.state_mut().0.notify_me(now()).is_empty());
    h.state_mut()
        .0
        .on_event(counter::Event::WishRecorded(recorded(wish)));
    h.run();
    h.get_by_label("入荷したらお知らせします");
    h.snapshot("counter_wish_recorded");
    results.extend_harness(&mut h);
}

#[test]
fn counter_a_wish_the_agent_refuses_says_why_and_a_lost_answer_keeps_its_id() {
    let mut c = counter_with_member();
    c.on_event(counter::Event::Scan(product_scan(JAN)));
    let first = c.notify_me(now());
    c.on_event(counter::Event::WishFailed(ApiFailure::Unreachable(
        "connection refused".into(),
    )));
    let again = c.notify_me(now() + Duration::seconds(5));
    let id = |cmds: &[counter::Command]| match cmds {
        [counter::Command::RecordWish(w)] => w.wish_id.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(id(&first), id(&again), "a retry records the wish once");
    c.on_event(counter::Event::WishFailed(ApiFailure::Refused {
        status: 404,
        message: "card 2000000000015 has no member at this till: a wish is a member's, so scan \
                  the member's card first"
            .into(),
    }));
    let mut h = counter_harness(c.clone());
    in_english(&mut h);
    h.get_by_label("The notice was not recorded");
    h.get_by_label("Notify me when back");
    let refused = c.notify_me(now() + Duration::seconds(10));
    assert_ne!(id(&refused), id(&first), "after a refusal, a new wish");
}

/// Draws the counter, then switches it to English with its language button.
fn in_english(h: &mut Harness<'static, (Counter, Vec<counter::Command>)>) {
    h.run();
    h.get_by_label("English").click();
    h.run();
    assert_eq!(h.state().0.lang, tenpo_kiosk::i18n::Lang::En);
}

#[test]
fn counter_in_english_the_button_says_notify_me_when_back() {
    let mut c = counter_with_member();
    c.on_event(counter::Event::Scan(product_scan(JAN)));
    let mut h = counter_harness(c);
    in_english(&mut h);
    h.get_by_label("Notify me when back").click();
    h.run();
    assert!(matches!(
        h.state().1.as_slice(),
        [counter::Command::RecordWish(_)]
    ));
}

#[test]
fn counter_without_a_member_a_product_scan_is_refused_as_before() {
    let mut c = Counter::new("ctr");
    c.on_event(counter::Event::StreamConnected(true));
    c.on_event(counter::Event::Scan(product_scan(JAN)));
    assert!(matches!(&c.scanned, Some(Scanned::Rejected { .. })));
    assert_eq!(c.wish, None);
    let mut h = counter_harness(c);
    h.run();
    h.get_by_label("読み取れないカード");
    assert!(h.query_by_label("入荷お知らせ").is_none());
    // A new card on the counter drops the product offered for the one before.
    let mut c = counter_with_member();
    c.on_event(counter::Event::Scan(product_scan(JAN)));
    c.on_event(counter::Event::Scan(card_scan(false)));
    assert_eq!(c.wish, None);
}

// ---- The kiosk ----

type KioskState = (Kiosk, QrTexture, Vec<kiosk::Command>);

/// A harness drawing the kiosk at `at`; taps go to the state machine, its commands are kept.
fn kiosk_harness(k: Kiosk, at: DateTime<Utc>) -> Harness<'static, KioskState> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_theme(egui::Theme::Light)
        .with_context_setup(setup)
        .build_ui_state(
            move |ui, (k, qr, sent): &mut KioskState| {
                if let Some(tap) = tenpo_kiosk::ui::kiosk::show(ui, k, qr, at) {
                    sent.extend(k.on_tap(tap, at));
                }
            },
            (k, QrTexture::default(), Vec::new()),
        )
}

fn attract() -> Kiosk {
    let (mut k, _) = Kiosk::new(KioskConfig::default(), now());
    k.on_event(
        kiosk::Event::SessionOpened(SignupSession {
            token: "s1".into(),
            kind: SignupKind::Signup,
            liff_url: "https://liff.line.me/1234567890-AbCdEfGh?t=s1".into(),
            expires_at: now() + Duration::seconds(300),
            card_hint: None,
        }),
        now(),
    );
    k
}

#[test]
fn kiosk_a_member_scans_their_card_then_a_product_and_asks_to_be_told() {
    let mut results = SnapshotResults::new();
    let mut k = attract();
    // The LINE card: nothing to link, and the screen says a product can be scanned now.
    k.on_event(kiosk::Event::Scan(card_scan(true)), now());
    assert_eq!(k.screen, Screen::AlreadyLineCard);
    assert!(k.wish_possible());
    let mut h = kiosk_harness(k.clone(), now());
    h.run();
    h.get_by_label("商品のバーコードをスキャンすると、入荷をお知らせします");
    h.snapshot("kiosk_wish_hint");
    results.extend_harness(&mut h);

    k.on_event(kiosk::Event::Scan(product_scan(JAN)), now());
    let mut h = kiosk_harness(k, now());
    h.run();
    h.get_by_label(JAN);
    h.snapshot("kiosk_wish_offered");
    results.extend_harness(&mut h);
    h.get_by_label("入荷お知らせ").click();
    h.run();
    let sent = std::mem::take(&mut h.state_mut().2);
    let [kiosk::Command::RecordWish(wish)] = sent.as_slice() else {
        panic!("expected one wish, got {sent:?}");
    };
    assert_eq!((wish.member_code.as_str(), wish.item.as_str()), (CARD, JAN));
    assert_eq!(wish.wants, vec![WishKind::Restock]);
    h.state_mut()
        .0
        .on_event(kiosk::Event::WishRecorded(recorded(wish)), now());
    h.run();
    h.get_by_label("入荷したらお知らせします");
    h.snapshot("kiosk_wish_recorded");
    results.extend_harness(&mut h);
    h.get_by_label("おわる").click();
    h.run();
    assert!(matches!(h.state().0.screen, Screen::Attract(_)));
    assert!(!h.state().0.wish_possible(), "the card is forgotten");
}

#[test]
fn kiosk_the_wish_screen_times_out_to_the_start_and_forgets_the_card() {
    let mut k = attract();
    // A paper card: its link screen says so too.
    let cmds = k.on_event(kiosk::Event::Scan(card_scan(false)), now());
    assert!(matches!(
        cmds.as_slice(),
        [kiosk::Command::OpenSession { .. }]
    ));
    k.on_event(
        kiosk::Event::SessionOpened(SignupSession {
            token: "c1".into(),
            kind: SignupKind::CardLink,
            liff_url: "https://liff.line.me/1234567890-AbCdEfGh?t=c1".into(),
            expires_at: now() + Duration::seconds(300),
            card_hint: Some("•••••••••0015".into()),
        }),
        now(),
    );
    let mut h = kiosk_harness(k.clone(), now());
    h.run();
    h.get_by_label("商品のバーコードをスキャンすると、入荷をお知らせします");

    let t = now() + Duration::seconds(10);
    k.on_event(kiosk::Event::Scan(product_scan(JAN)), t);
    assert!(matches!(&k.screen, Screen::Wish(o) if o.product == JAN));
    let idle = KioskConfig::default().idle_secs;
    assert_eq!(
        k.next_wake(t),
        Some(std::time::Duration::from_secs(idle as u64)),
        "woken for the timeout, not before"
    );
    assert!(k.tick(t + Duration::seconds(idle - 1)).is_empty());
    assert!(matches!(k.screen, Screen::Wish(_)));
    k.tick(t + Duration::seconds(idle));
    assert!(matches!(k.screen, Screen::Attract(_)));
    assert!(!k.wish_possible());
    // Back at the start, a product is what it always was: not a card.
    k.on_event(
        kiosk::Event::Scan(product_scan(JAN)),
        t + Duration::seconds(61),
    );
    assert!(matches!(k.screen, Screen::Notice(_)));
    assert!(
        k.on_tap(Tap::NotifyMe, t + Duration::seconds(62))
            .is_empty()
    );
}

#[test]
fn kiosk_a_card_the_till_does_not_know_offers_no_wish() {
    let mut k = attract();
    k.on_event(
        kiosk::Event::Scan(scan(
            CARD,
            true,
            ScanOutcome::NotKnown {
                code: CARD.into(),
                new_card: true,
                message: "new card".into(),
            },
        )),
        now(),
    );
    assert_eq!(k.screen, Screen::AlreadyLineCard);
    assert!(!k.wish_possible());
    k.on_event(kiosk::Event::Scan(product_scan(JAN)), now());
    assert!(matches!(k.screen, Screen::Notice(_)));
}

#[test]
fn kiosk_a_refused_wish_says_why() {
    let mut k = attract();
    k.on_event(kiosk::Event::Scan(card_scan(true)), now());
    k.on_event(kiosk::Event::Scan(product_scan(JAN)), now());
    let cmds = k.on_tap(Tap::NotifyMe, now());
    assert_eq!(cmds.len(), 1);
    k.on_event(
        kiosk::Event::WishFailed(ApiFailure::Refused {
            status: 404,
            message: "card 2000000000015 has no member at this till".into(),
        }),
        now(),
    );
    let mut h = kiosk_harness(k, now());
    h.run();
    h.get_by_label("お知らせを登録できませんでした");
    h.get_by_label("card 2000000000015 has no member at this till");
    h.snapshot("kiosk_wish_failed");
}
