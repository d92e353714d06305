//! Every screen of the kiosk and the counter, drawn by egui_kittest (wgpu, headless) and kept as
//! snapshot images under `tests/snapshots/` (`UPDATE_SNAPSHOTS=1` writes them), with the taps
//! that move between them. The attract screen's QR code is read back from the rendered pixels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotResults};
use tenpo_kiosk::client::ApiFailure;
use tenpo_kiosk::counter::{self, Counter};
use tenpo_kiosk::i18n::Lang;
use tenpo_kiosk::kiosk::{Event, Kiosk, KioskConfig, Screen};
use tenpo_kiosk::qr::QrTexture;
use tenpo_protocol::agent::{
    CouponKind, CouponView, ExpiringPoints, MemberView, Mode, NextTier, PointsView, SaleResponse,
    ScanEvent, ScanOutcome, StampsView, Status, SyncStatus,
};
use tenpo_protocol::signup::{SignupKind, SignupSession, SignupState, SignupStatus};

const URL: &str = "https://liff.line.me/1234567890-AbCdEfGh?t=S1.AQEAAAAAaP4b1AkJCQkJCQkJCQkJCQkJCQkKc2hpYnV5YS0wMQZ0MDAwMDEAq83vEjRWeJCrze8SNFZ4kA";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn session(kind: SignupKind, token: &str, secs: i64) -> SignupSession {
    SignupSession {
        token: token.into(),
        kind,
        liff_url: if kind == SignupKind::Signup {
            URL.into()
        } else {
            format!("{URL}-link")
        },
        expires_at: now() + Duration::seconds(secs),
        card_hint: (kind == SignupKind::CardLink).then(|| "•••••••••0015".into()),
    }
}

fn member(number: &str, stamps: u32) -> MemberView {
    MemberView {
        member_id: "m-1".into(),
        number: number.into(),
        provisional: false,
        tier: "standard".into(),
        points: PointsView {
            balance: 1250,
            expiring: vec![ExpiringPoints {
                points: 300,
                expires_on: "2027-01-31".parse().unwrap(),
            }],
        },
        stamps: StampsView {
            count: stamps,
            card_size: 10,
        },
        coupons: vec![CouponView {
            coupon_id: "demo-welcome-500".into(),
            kind: CouponKind::Discount,
            value_yen: 500,
            points: 0,
            valid_from: "2026-11-01".parse().unwrap(),
            valid_until: "2027-04-30".parse().unwrap(),
        }],
        qualifying_spend_yen: 12_000,
        next_tier: Some(NextTier {
            name: "premier".into(),
            remaining_yen: 38_000,
        }),
    }
}

fn status(state: SignupState, kind: SignupKind, m: Option<MemberView>) -> SignupStatus {
    SignupStatus {
        state,
        kind,
        expires_at: now() + Duration::seconds(300),
        member: m,
        hub_reachable: true,
    }
}

/// A kiosk showing the attract screen with the signup session `s1`.
fn attract() -> Kiosk {
    let (mut k, _) = Kiosk::new(KioskConfig::default(), now());
    k.on_event(
        Event::SessionOpened(session(SignupKind::Signup, "s1", 300)),
        now(),
    );
    k
}

fn setup(ctx: &egui::Context) {
    let path = tenpo_kiosk::fonts::find().expect("a Japanese font (fonts-ipafont-gothic)");
    ctx.set_fonts(tenpo_kiosk::fonts::definitions(&path).unwrap());
    tenpo_kiosk::ui::style(ctx);
}

/// A harness drawing the kiosk at a fixed time; taps go to the state machine.
fn kiosk_harness(kiosk: Kiosk, at: DateTime<Utc>) -> Harness<'static, (Kiosk, QrTexture)> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_theme(egui::Theme::Light)
        .with_context_setup(setup)
        .build_ui_state(
            move |ui, (kiosk, qr)| {
                if let Some(tap) = tenpo_kiosk::ui::kiosk::show(ui, kiosk, qr, at) {
                    kiosk.on_tap(tap, at);
                }
            },
            (kiosk, QrTexture::default()),
        )
}

/// Draws a kiosk and keeps its snapshot; the results of a test's harnesses are merged in one
/// [`SnapshotResults`], as egui_kittest asks.
fn snapshot(kiosk: Kiosk, name: &str, results: &mut SnapshotResults) {
    let mut h = kiosk_harness(kiosk, now());
    h.run();
    h.snapshot(name);
    results.extend_harness(&mut h);
}

/// Reads the QR code in a rendered RGBA image with rxing.
fn read_qr(width: u32, height: u32, rgba: &[u8]) -> String {
    let luma: Vec<u8> = rgba
        .chunks_exact(4)
        .map(|p| {
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        })
        .collect();
    rxing::helpers::detect_in_luma(luma, width, height, Some(rxing::BarcodeFormat::QR_CODE))
        .expect("a QR code in the rendered screen")
        .getText()
        .to_owned()
}

fn qr_of(h: &mut Harness<'static, (Kiosk, QrTexture)>) -> String {
    let image = h.render().unwrap();
    read_qr(image.width(), image.height(), image.as_raw())
}

#[test]
fn attract_qr_reads_back_as_the_liff_url() {
    let mut h = kiosk_harness(attract(), now());
    h.run();
    assert_eq!(qr_of(&mut h), URL);
    h.get_by_label("LINEで会員登録");
    h.get_by_label("有効期限 あと 5分");
    h.snapshot("kiosk_attract");
}

#[test]
fn language_button_switches_to_english_and_back() {
    let mut h = kiosk_harness(attract(), now());
    h.run();
    h.get_by_label("English").click();
    h.run();
    assert_eq!(h.state().0.lang, Lang::En);
    h.get_by_label("Join with LINE");
    h.snapshot("kiosk_attract_en");
    h.get_by_label("日本語").click();
    h.run();
    assert_eq!(h.state().0.lang, Lang::Ja);
}

#[test]
fn attract_offline_says_signup_still_works() {
    let mut results = SnapshotResults::new();
    let mut k = attract();
    let mut waiting = status(SignupState::Waiting, SignupKind::Signup, None);
    waiting.hub_reachable = false;
    k.on_event(
        Event::Status {
            token: "s1".into(),
            status: waiting,
        },
        now(),
    );
    assert!(!k.hub_reachable);
    snapshot(k, "kiosk_attract_offline", &mut results);
}

#[test]
fn connecting_and_renewing() {
    let mut results = SnapshotResults::new();
    let (k, _) = Kiosk::new(KioskConfig::default(), now());
    assert_eq!(k.screen, Screen::Connecting);
    snapshot(k, "kiosk_connecting", &mut results);
    let mut k = attract();
    k.tick(now() + Duration::seconds(300));
    assert_eq!(k.screen, Screen::Renewing);
    snapshot(k, "kiosk_renewing", &mut results);
}

#[test]
fn welcome_then_done_returns_to_a_fresh_code() {
    let mut k = attract();
    k.on_event(
        Event::Status {
            token: "s1".into(),
            status: status(
                SignupState::Completed,
                SignupKind::Signup,
                Some(member("2900000000017", 1)),
            ),
        },
        now(),
    );
    k.on_event(
        Event::SessionOpened(session(SignupKind::Signup, "s2", 300)),
        now(),
    );
    let mut h = kiosk_harness(k, now());
    h.run();
    h.get_by_label("2900000000017");
    h.get_by_label("ご登録スタンプを押しました");
    h.snapshot("kiosk_welcome");
    h.get_by_label("おわる").click();
    h.run();
    assert!(matches!(&h.state().0.screen, Screen::Attract(s) if s.token == "s2"));
}

#[test]
fn card_link_from_a_scan_then_linked() {
    let mut results = SnapshotResults::new();
    let mut k = attract();
    let commands = k.on_event(
        Event::Scan(ScanEvent {
            scan_id: 1,
            scanner: "front".into(),
            raw: "2000000000015".into(),
            line_card: false,
            symbology: "ean13".into(),
            at: now(),
            outcome: ScanOutcome::Member {
                member: member("2000000000015", 7),
            },
        }),
        now(),
    );
    assert_eq!(
        commands,
        vec![tenpo_kiosk::kiosk::Command::OpenSession {
            card_code: Some("2000000000015".into())
        }]
    );
    k.on_event(
        Event::SessionOpened(session(SignupKind::CardLink, "c1", 300)),
        now(),
    );
    let mut h = kiosk_harness(k.clone(), now() + Duration::seconds(61));
    h.run();
    h.get_by_label("カードをLINEに連携");
    h.get_by_label("有効期限 あと 4分");
    assert_eq!(qr_of(&mut h), format!("{URL}-link"));
    h.snapshot("kiosk_card_link");
    results.extend_harness(&mut h);
    k.on_event(
        Event::Status {
            token: "c1".into(),
            status: status(
                SignupState::Completed,
                SignupKind::CardLink,
                Some(member("2000000000015", 7)),
            ),
        },
        now(),
    );
    snapshot(k, "kiosk_card_linked", &mut results);
}

#[test]
fn card_link_expired_then_back() {
    let mut k = attract();
    k.on_event(
        Event::SessionOpened(session(SignupKind::CardLink, "c1", 120)),
        now(),
    );
    k.tick(now() + Duration::seconds(120));
    assert_eq!(k.screen, Screen::CardLinkExpired);
    let mut h = kiosk_harness(k, now() + Duration::seconds(121));
    h.run();
    h.snapshot("kiosk_card_link_expired");
    h.get_by_label("もどる").click();
    h.run();
    assert!(matches!(h.state().0.screen, Screen::Attract(_)));
}

#[test]
fn refused_cards_say_why() {
    let mut results = SnapshotResults::new();
    let mut k = attract();
    k.on_event(
        Event::Scan(ScanEvent {
            scan_id: 2,
            scanner: "front".into(),
            raw: "2000000000016".into(),
            line_card: false,
            symbology: "ean13".into(),
            at: now(),
            outcome: ScanOutcome::Rejected {
                reason: "check digit wrong: rescan".into(),
                reason_code: "check_digit".into(),
                product: None,
            },
        }),
        now(),
    );
    snapshot(k.clone(), "kiosk_notice", &mut results);
    k.on_event(
        Event::SessionFailed {
            card_link: true,
            failure: ApiFailure::Refused {
                status: 422,
                message: "this is already a LINE member card: nothing to link".into(),
            },
        },
        now(),
    );
    assert!(matches!(k.screen, Screen::Notice(_)));
    let mut k = attract();
    k.on_event(
        Event::Scan(ScanEvent {
            scan_id: 3,
            scanner: "front".into(),
            raw: "2900000000017".into(),
            line_card: true,
            symbology: "qr".into(),
            at: now(),
            outcome: ScanOutcome::Member {
                member: member("2900000000017", 1),
            },
        }),
        now(),
    );
    assert_eq!(k.screen, Screen::AlreadyLineCard);
    snapshot(k, "kiosk_already_line", &mut results);
}

#[test]
fn unavailable_states_say_what_to_do() {
    let mut results = SnapshotResults::new();
    let (mut k, _) = Kiosk::new(KioskConfig::default(), now());
    k.on_event(
        Event::SessionFailed {
            card_link: false,
            failure: ApiFailure::Unreachable("connection refused".into()),
        },
        now(),
    );
    snapshot(k.clone(), "kiosk_agent_unreachable", &mut results);
    let (mut k, _) = Kiosk::new(KioskConfig::default(), now());
    k.on_event(
        Event::SessionFailed {
            card_link: false,
            failure: ApiFailure::Refused {
                status: 409,
                message: "this terminal is not enrolled with a hub".into(),
            },
        },
        now(),
    );
    snapshot(k, "kiosk_refused", &mut results);
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

fn online(pending: u64, up: bool) -> Status {
    Status {
        store_id: "shibuya-01".into(),
        terminal_id: "t00001".into(),
        mode: Mode::Enrolled,
        pending_events: pending,
        rule_set_version: 1,
        rule_set_name: "demo".into(),
        business_date: "2026-11-22".parse().unwrap(),
        time_zone: "Asia/Tokyo".into(),
        agent_version: "0.1.0".into(),
        scanners: vec![],
        sync: Some(SyncStatus {
            hub_url: "http://127.0.0.1:7400".into(),
            online: up,
            acked_through: 10,
            last_push_at: None,
            last_pull_at: None,
            last_error: (!up).then(|| "the hub cannot be reached".into()),
            clock_skew_secs: Some(0),
            members_cached: 3,
            quarantined: 0,
            passes: 1,
            next_attempt_at: None,
        }),
    }
}

fn scanned(c: &mut Counter, outcome: ScanOutcome) {
    c.on_event(counter::Event::StreamConnected(true));
    c.on_event(counter::Event::Scan(ScanEvent {
        scan_id: 1,
        scanner: "till".into(),
        raw: "2000000000015".into(),
        line_card: false,
        symbology: "ean13".into(),
        at: now(),
        outcome,
    }));
}

#[test]
fn counter_waiting_and_offline() {
    let mut results = SnapshotResults::new();
    let mut c = Counter::new("ctr");
    c.on_event(counter::Event::StreamConnected(true));
    c.on_event(counter::Event::Status(Ok(online(0, true))));
    let mut h = counter_harness(c.clone());
    h.run();
    h.get_by_label("会員証をスキャンしてください");
    h.snapshot("counter_waiting");
    results.extend_harness(&mut h);
    c.on_event(counter::Event::Status(Ok(online(3, false))));
    c.on_event(counter::Event::StreamConnected(false));
    let mut h = counter_harness(c);
    h.run();
    h.get_by_label("未送信 3");
    h.snapshot("counter_offline");
    results.extend_harness(&mut h);
}

#[test]
fn counter_member_sale_and_result() {
    let mut results = SnapshotResults::new();
    let mut c = Counter::new("ctr");
    c.on_event(counter::Event::Status(Ok(online(0, true))));
    scanned(
        &mut c,
        ScanOutcome::Member {
            member: member("2000000000015", 7),
        },
    );
    c.amount = "1,580".into();
    c.redeem = "100".into();
    c.toggle_coupon("demo-welcome-500");
    let mut h = counter_harness(c);
    h.run();
    h.snapshot("counter_member");
    results.extend_harness(&mut h);
    h.get_by_label("確定").click();
    h.run();
    let sent = std::mem::take(&mut h.state_mut().1);
    let [counter::Command::RecordSale(sale)] = sent.as_slice() else {
        panic!("expected one sale, got {sent:?}");
    };
    assert_eq!(sale.member_code.as_deref(), Some("2000000000015"));
    assert_eq!(sale.lines[0].amount_yen, 1580);
    assert_eq!(sale.redeem_points, Some(100));
    assert_eq!(sale.coupon_ids, Some(vec!["demo-welcome-500".to_owned()]));
    let refresh = h
        .state_mut()
        .0
        .on_event(counter::Event::SaleRecorded(SaleResponse {
            sale_id: sale.sale_id.clone(),
            member_id: Some("m-1".into()),
            business_date: "2026-11-22".parse().unwrap(),
            earned_points: 9,
            redeemed_points: 100,
            discount_yen: 600,
            stamps_earned: 0,
            coupons_issued: vec![],
            balance_after: 1159,
            tier_after: Some("standard".into()),
            next_tier: Some(NextTier {
                name: "premier".into(),
                remaining_yen: 37_020,
            }),
            rule_set_version: 1,
        }));
    assert_eq!(
        refresh,
        vec![counter::Command::LookupMember("2000000000015".into())]
    );
    h.run();
    h.get_by_label("+9 pt");
    h.snapshot("counter_sale_recorded");
    results.extend_harness(&mut h);
}

#[test]
fn counter_rejection_and_failed_sale() {
    let mut results = SnapshotResults::new();
    let mut c = Counter::new("ctr");
    c.on_event(counter::Event::Status(Ok(online(0, true))));
    scanned(
        &mut c,
        ScanOutcome::Rejected {
            reason: "card code expired: ask the customer to refresh the card in LINE".into(),
            reason_code: "card_expired".into(),
            product: None,
        },
    );
    let mut h = counter_harness(c.clone());
    h.run();
    h.snapshot("counter_rejected");
    results.extend_harness(&mut h);
    // A sale with nothing typed is refused on the spot.
    h.get_by_label("確定").click();
    h.run();
    assert!(h.state().1.is_empty());
    scanned(
        &mut c,
        ScanOutcome::Member {
            member: member("2000000000015", 7),
        },
    );
    c.amount = "500".into();
    let first = c.confirm(now());
    c.on_event(counter::Event::SaleFailed(ApiFailure::Unreachable(
        "connection refused".into(),
    )));
    // A lost answer keeps the sale id: confirming again cannot record it twice.
    c.amount = "500".into();
    let again = c.confirm(now() + Duration::seconds(5));
    let id = |cmds: &[counter::Command]| match cmds {
        [counter::Command::RecordSale(s)] => s.sale_id.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(id(&first), id(&again));
    c.on_event(counter::Event::SaleFailed(ApiFailure::Unreachable(
        "connection refused".into(),
    )));
    let mut h = counter_harness(c);
    h.run();
    h.snapshot("counter_sale_failed");
    results.extend_harness(&mut h);
}
