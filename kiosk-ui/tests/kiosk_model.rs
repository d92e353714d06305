//! The kiosk's state machine over time: renewal, the idle timeout, retries, and when it asks to
//! be drawn again (never continuously).
#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tenpo_kiosk::client::ApiFailure;
use tenpo_kiosk::i18n::Lang;
use tenpo_kiosk::kiosk::{Command, Event, Kiosk, KioskConfig, Screen, Tap};
use tenpo_protocol::signup::{SignupKind, SignupSession, SignupState, SignupStatus};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn session(token: &str, kind: SignupKind, expires: DateTime<Utc>) -> SignupSession {
    SignupSession {
        token: token.into(),
        kind,
        liff_url: format!("https://liff.line.me/x?t={token}"),
        expires_at: expires,
        card_hint: None,
    }
}

fn open() -> Command {
    Command::OpenSession { card_code: None }
}

fn attract_at(now: DateTime<Utc>) -> Kiosk {
    let (mut k, first) = Kiosk::new(KioskConfig::default(), now);
    assert_eq!(first, vec![open()]);
    let cmds = k.on_event(
        Event::SessionOpened(session(
            "s1",
            SignupKind::Signup,
            now + Duration::seconds(300),
        )),
        now,
    );
    assert_eq!(cmds, vec![Command::Watch { token: "s1".into() }]);
    k
}

#[test]
fn draws_once_a_second_on_the_countdown_and_not_while_waiting() {
    let (k, _) = Kiosk::new(KioskConfig::default(), t0());
    assert_eq!(
        k.next_wake(t0()),
        None,
        "nothing to draw until the agent answers"
    );
    let k = attract_at(t0());
    // Whole minutes while more than one is left: "5分" until 4:00 is left.
    assert_eq!(k.next_wake(t0()), Some(StdDuration::from_secs(60)));
    let wake = k.next_wake(t0() + Duration::milliseconds(250)).unwrap();
    assert_eq!(
        wake,
        StdDuration::from_millis(59_750),
        "the next whole minute"
    );
    assert_eq!(
        k.seconds_left(t0() + Duration::milliseconds(250)),
        Some(300)
    );
    // Then once a second in the last minute, never more often.
    let late = t0() + Duration::milliseconds(240_250);
    assert_eq!(k.next_wake(late), Some(StdDuration::from_millis(750)));
    assert_eq!(
        k.next_wake(t0() + Duration::seconds(241)),
        Some(StdDuration::from_secs(1))
    );
}

#[test]
fn an_expired_code_is_renewed_once() {
    let mut k = attract_at(t0());
    let at = t0() + Duration::seconds(300);
    assert_eq!(k.tick(at), vec![open()]);
    assert_eq!(k.screen, Screen::Renewing);
    assert!(k.tick(at).is_empty(), "one request at a time");
    // The agent's answer of `expired` for the old code asks for nothing more.
    let expired = SignupStatus {
        state: SignupState::Expired,
        kind: SignupKind::Signup,
        expires_at: at,
        member: None,
        hub_reachable: true,
    };
    assert!(
        k.on_event(
            Event::Status {
                token: "s1".into(),
                status: expired
            },
            at
        )
        .is_empty()
    );
    k.on_event(
        Event::SessionOpened(session(
            "s2",
            SignupKind::Signup,
            at + Duration::seconds(300),
        )),
        at,
    );
    assert!(matches!(&k.screen, Screen::Attract(s) if s.token == "s2"));
}

#[test]
fn idle_screens_return_to_the_start_in_japanese() {
    let mut k = attract_at(t0());
    k.on_tap(Tap::Language, t0());
    assert_eq!(k.lang, Lang::En);
    let cmds = k.on_event(
        Event::SessionOpened(session(
            "c1",
            SignupKind::CardLink,
            t0() + Duration::seconds(300),
        )),
        t0(),
    );
    assert_eq!(cmds, vec![Command::Watch { token: "c1".into() }]);
    assert!(k.tick(t0() + Duration::seconds(59)).is_empty());
    assert!(matches!(k.screen, Screen::CardLink(_)));
    k.tick(t0() + Duration::seconds(60));
    assert!(matches!(&k.screen, Screen::Attract(s) if s.token == "s1"));
    assert_eq!(k.lang, Lang::Ja);
    // English left on the attract screen goes back to Japanese too.
    k.on_tap(Tap::Language, t0() + Duration::seconds(61));
    k.tick(t0() + Duration::seconds(121));
    assert_eq!(k.lang, Lang::Ja);
}

#[test]
fn an_unreachable_agent_is_retried() {
    let (mut k, _) = Kiosk::new(KioskConfig::default(), t0());
    k.on_event(
        Event::SessionFailed {
            card_link: false,
            failure: ApiFailure::Unreachable("refused".into()),
        },
        t0(),
    );
    assert!(matches!(k.screen, Screen::Unavailable(_)));
    assert_eq!(k.next_wake(t0()), Some(StdDuration::from_secs(5)));
    assert!(k.tick(t0() + Duration::seconds(4)).is_empty());
    assert_eq!(k.tick(t0() + Duration::seconds(5)), vec![open()]);
    k.on_event(
        Event::SessionOpened(session(
            "s1",
            SignupKind::Signup,
            t0() + Duration::seconds(305),
        )),
        t0() + Duration::seconds(5),
    );
    assert!(matches!(k.screen, Screen::Attract(_)));
}

#[test]
fn a_restarted_agent_gets_a_new_session() {
    let mut k = attract_at(t0());
    let cmds = k.on_event(
        Event::StatusFailed {
            token: "s1".into(),
            failure: ApiFailure::Refused {
                status: 404,
                message: "no such signup session".into(),
            },
        },
        t0(),
    );
    assert_eq!(cmds, vec![open()]);
    assert_eq!(k.screen, Screen::Renewing);
    // Answers about a session no longer shown change nothing.
    let stale = SignupStatus {
        state: SignupState::Completed,
        kind: SignupKind::Signup,
        expires_at: t0(),
        member: None,
        hub_reachable: true,
    };
    assert!(
        k.on_event(
            Event::Status {
                token: "old".into(),
                status: stale
            },
            t0()
        )
        .is_empty()
    );
    assert_eq!(k.screen, Screen::Renewing);
}

fn waiting(hub_reachable: bool) -> SignupStatus {
    SignupStatus {
        state: SignupState::Waiting,
        kind: SignupKind::Signup,
        expires_at: t0() + Duration::seconds(300),
        member: None,
        hub_reachable,
    }
}

#[test]
fn a_session_outlives_a_short_outage_of_the_agent() {
    let mut k = attract_at(t0());
    let unreachable = || Event::StatusFailed {
        token: "s1".into(),
        failure: ApiFailure::Unreachable("connection refused".into()),
    };
    assert!(k.on_event(unreachable(), t0()).is_empty());
    assert!(matches!(k.screen, Screen::Unavailable(_)));
    // The retry asks about the same session (a customer may be completing it on the phone),
    // once, and keeps asking while the agent is away.
    let resume = vec![Command::Resume { token: "s1".into() }];
    assert_eq!(k.tick(t0() + Duration::seconds(5)), resume);
    k.on_event(unreachable(), t0() + Duration::seconds(5));
    assert_eq!(k.tick(t0() + Duration::seconds(10)), resume);
    // The agent is back and still has it: the same code shows again, watched as before.
    let cmds = k.on_event(
        Event::Status {
            token: "s1".into(),
            status: waiting(true),
        },
        t0() + Duration::seconds(10),
    );
    assert_eq!(cmds, vec![Command::Watch { token: "s1".into() }]);
    assert!(matches!(&k.screen, Screen::Attract(s) if s.token == "s1"));
}

#[test]
fn a_session_that_expired_during_the_outage_is_replaced() {
    let mut k = attract_at(t0());
    k.on_event(
        Event::StatusFailed {
            token: "s1".into(),
            failure: ApiFailure::Unreachable("connection refused".into()),
        },
        t0() + Duration::seconds(298),
    );
    assert_eq!(k.tick(t0() + Duration::seconds(303)), vec![open()]);
}
