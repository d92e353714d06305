//! The kiosk's state machine (no UI, no I/O, no clock: `now` is handed in): what is on the
//! screen, what the agent said, and what to ask it next.
//!
//! Screens: connecting → attract (signup QR with a countdown; renewed when it expires) →
//! welcome; a paper card scanned → card link (its own QR) → linked; a card link that runs out
//! → expired; a card that cannot be linked → notice; the agent unreachable or refusing →
//! unavailable (retried automatically). A member who has just scanned their card can then scan
//! a product and ask to be told when it is back → wish (docs/design.md §11). Every screen but
//! attract returns to it after the idle timeout, in Japanese, forgetting the card scanned.

use chrono::{DateTime, Duration, Utc};
use tenpo_protocol::agent::{MemberView, ScanEvent, ScanOutcome, WishResponse};
use tenpo_protocol::signup::{SignupKind, SignupSession, SignupState, SignupStatus};

use crate::client::ApiFailure;
use crate::i18n::Lang;
use crate::wish::{WishOffer, WishState};

/// What the kiosk asks the agent to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `POST /v1/signups` (with a card code for a card link).
    OpenSession { card_code: Option<String> },
    /// `GET /v1/signups/{token}?wait=…`, answered by [`Event::Status`] or [`Event::StatusFailed`].
    Watch { token: String },
    /// `GET /v1/signups/{token}` once, without waiting: after an outage of the agent, whether
    /// the session kept through it is still there. Answered like [`Command::Watch`], always.
    Resume { token: String },
    /// `POST /v1/wishes`, answered by [`Event::WishRecorded`] or [`Event::WishFailed`].
    RecordWish(tenpo_protocol::agent::WishRequest),
}

/// What the agent answered, or what happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SessionOpened(SignupSession),
    SessionFailed {
        card_link: bool,
        failure: ApiFailure,
    },
    Status {
        token: String,
        status: SignupStatus,
    },
    StatusFailed {
        token: String,
        failure: ApiFailure,
    },
    Scan(ScanEvent),
    WishRecorded(WishResponse),
    WishFailed(ApiFailure),
}

/// Why the kiosk cannot offer signup now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The agent does not answer.
    AgentUnreachable(String),
    /// The agent answered no (not enrolled, no LIFF id …): IT must act.
    Refused(String),
}

/// What the screen shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Connecting,
    Attract(SignupSession),
    /// The attract QR ran out; a new one is on its way.
    Renewing,
    CardLink(SignupSession),
    Welcome {
        kind: SignupKind,
        member: Option<MemberView>,
    },
    /// A card link ran out: scan the card again.
    CardLinkExpired,
    /// A scanned card that cannot be linked, and why.
    Notice(String),
    /// A LINE digital card was scanned: nothing to link.
    AlreadyLineCard,
    /// A product scanned by a member who has just scanned their card: shall they be told when
    /// it is back?
    Wish(WishOffer),
    Unavailable(Problem),
}

/// Timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskConfig {
    /// Seconds without a touch or scan before a screen returns to the start.
    pub idle_secs: i64,
    /// Seconds the welcome stays.
    pub welcome_secs: i64,
    /// Seconds between retries when the agent cannot be reached.
    pub retry_secs: i64,
}

impl Default for KioskConfig {
    fn default() -> KioskConfig {
        KioskConfig {
            idle_secs: 60,
            welcome_secs: 30,
            retry_secs: 5,
        }
    }
}

/// A tap on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tap {
    Language,
    /// "Done" / "Back": to the start.
    Home,
    /// "入荷お知らせ" on the wish screen.
    NotifyMe,
}

/// The kiosk.
#[derive(Debug, Clone)]
pub struct Kiosk {
    pub lang: Lang,
    pub screen: Screen,
    pub config: KioskConfig,
    /// Whether the agent reached the hub at its last try (the attract screen says so if not).
    pub hub_reachable: bool,
    /// The signup session of the attract screen, kept while other screens show.
    signup: Option<SignupSession>,
    opening_signup: bool,
    /// The card of a member who has just scanned it (known at this till): a product scanned
    /// now is offered for their wish. Forgotten back at the start.
    member_code: Option<String>,
    /// The id of the wish being recorded, kept until the agent answers.
    pending_wish_id: Option<String>,
    last_touch: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
}

impl Kiosk {
    /// A kiosk starting now, and its first request.
    pub fn new(config: KioskConfig, now: DateTime<Utc>) -> (Kiosk, Vec<Command>) {
        let mut k = Kiosk {
            lang: Lang::Ja,
            screen: Screen::Connecting,
            config,
            hub_reachable: true,
            signup: None,
            opening_signup: false,
            member_code: None,
            pending_wish_id: None,
            last_touch: now,
            retry_at: None,
        };
        let cmds = k.open_signup();
        (k, cmds)
    }

    fn open_signup(&mut self) -> Vec<Command> {
        if self.opening_signup {
            return Vec::new();
        }
        self.opening_signup = true;
        vec![Command::OpenSession { card_code: None }]
    }

    /// Back to the start: the attract screen (or on the way to it), in Japanese.
    fn home(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        self.lang = Lang::Ja;
        self.last_touch = now;
        self.member_code = None;
        self.pending_wish_id = None;
        match &self.signup {
            Some(s) if s.expires_at > now => {
                self.screen = Screen::Attract(s.clone());
                Vec::new()
            }
            _ => {
                self.signup = None;
                self.screen = Screen::Connecting;
                self.open_signup()
            }
        }
    }

    fn is_signup(&self, token: &str) -> bool {
        self.signup.as_ref().is_some_and(|s| s.token == token)
    }

    fn shown_card_link(&self, token: &str) -> bool {
        matches!(&self.screen, Screen::CardLink(s) if s.token == token)
    }

    /// Handles an answer of the agent.
    pub fn on_event(&mut self, event: Event, now: DateTime<Utc>) -> Vec<Command> {
        match event {
            Event::SessionOpened(session) => {
                let watch = Command::Watch {
                    token: session.token.clone(),
                };
                self.retry_at = None;
                match session.kind {
                    SignupKind::Signup => {
                        self.opening_signup = false;
                        self.signup = Some(session.clone());
                        if matches!(
                            self.screen,
                            Screen::Connecting
                                | Screen::Renewing
                                | Screen::Attract(_)
                                | Screen::Unavailable(_)
                        ) {
                            self.screen = Screen::Attract(session);
                        }
                    }
                    // A member who scanned a product meanwhile is asked about it first.
                    SignupKind::CardLink if matches!(self.screen, Screen::Wish(_)) => {}
                    SignupKind::CardLink => {
                        self.last_touch = now;
                        self.screen = Screen::CardLink(session);
                    }
                }
                vec![watch]
            }
            Event::SessionFailed { card_link, failure } => {
                if card_link {
                    self.last_touch = now;
                    self.screen = match failure {
                        ApiFailure::Refused { message, .. } => Screen::Notice(message),
                        ApiFailure::Unreachable(d) => {
                            Screen::Unavailable(Problem::AgentUnreachable(d))
                        }
                    };
                    return Vec::new();
                }
                self.opening_signup = false;
                self.retry_at = Some(now + Duration::seconds(self.config.retry_secs));
                if matches!(
                    self.screen,
                    Screen::Connecting
                        | Screen::Renewing
                        | Screen::Attract(_)
                        | Screen::Unavailable(_)
                ) {
                    self.screen = Screen::Unavailable(match failure {
                        ApiFailure::Unreachable(d) => Problem::AgentUnreachable(d),
                        ApiFailure::Refused { message, .. } => Problem::Refused(message),
                    });
                }
                Vec::new()
            }
            Event::Status { token, status } => self.on_status(&token, status, now),
            Event::StatusFailed { token, failure } => {
                let relevant = self.is_signup(&token) || self.shown_card_link(&token);
                if !relevant {
                    return Vec::new();
                }
                match failure {
                    // The agent no longer knows the session (it restarted): start again.
                    ApiFailure::Refused { status: 404, .. } if self.is_signup(&token) => {
                        self.signup = None;
                        if matches!(self.screen, Screen::Attract(_)) {
                            self.screen = Screen::Renewing;
                        }
                        self.open_signup()
                    }
                    ApiFailure::Refused { message, .. } => {
                        self.screen = Screen::Notice(message);
                        self.last_touch = now;
                        Vec::new()
                    }
                    // The session is kept: a customer may have scanned its code already and
                    // complete it on the phone meanwhile. The retry asks about it again.
                    ApiFailure::Unreachable(d) => {
                        if !self.is_signup(&token) {
                            self.signup = None;
                        }
                        self.screen = Screen::Unavailable(Problem::AgentUnreachable(d));
                        self.retry_at = Some(now + Duration::seconds(self.config.retry_secs));
                        Vec::new()
                    }
                }
            }
            Event::Scan(scan) => self.on_scan(scan, now),
            Event::WishRecorded(response) => {
                self.pending_wish_id = None;
                if let Screen::Wish(offer) = &mut self.screen
                    && offer.product == response.item
                {
                    offer.state = WishState::Recorded;
                    self.last_touch = now;
                }
                Vec::new()
            }
            Event::WishFailed(failure) => {
                // A refusal will be refused again; a lost answer keeps the id for the retry.
                if matches!(failure, ApiFailure::Refused { .. }) {
                    self.pending_wish_id = None;
                }
                if let Screen::Wish(offer) = &mut self.screen {
                    offer.state = WishState::Failed(failure.to_string());
                    self.last_touch = now;
                }
                Vec::new()
            }
        }
    }

    /// Whether a product scanned now is offered for a member's wish (a member's card was just
    /// scanned): the screens after a card scan say so.
    pub fn wish_possible(&self) -> bool {
        self.member_code.is_some()
    }

    fn on_status(&mut self, token: &str, status: SignupStatus, now: DateTime<Utc>) -> Vec<Command> {
        let signup = self.is_signup(token);
        let card_link = self.shown_card_link(token);
        if !signup && !card_link {
            return Vec::new();
        }
        self.hub_reachable = status.hub_reachable;
        match status.state {
            SignupState::Waiting => {
                // Back from an outage of the agent: the code shows again.
                if signup
                    && matches!(self.screen, Screen::Unavailable(_))
                    && let Some(s) = &self.signup
                {
                    self.screen = Screen::Attract(s.clone());
                }
                vec![Command::Watch {
                    token: token.to_owned(),
                }]
            }
            SignupState::Completed => {
                self.last_touch = now;
                self.screen = Screen::Welcome {
                    kind: status.kind,
                    member: status.member,
                };
                if signup {
                    // The next customer gets a fresh code.
                    self.signup = None;
                    return self.open_signup();
                }
                Vec::new()
            }
            SignupState::Expired if signup => {
                self.signup = None;
                if matches!(self.screen, Screen::Attract(_)) {
                    self.screen = Screen::Renewing;
                }
                self.open_signup()
            }
            SignupState::Expired => {
                self.last_touch = now;
                self.screen = Screen::CardLinkExpired;
                Vec::new()
            }
        }
    }

    fn on_scan(&mut self, scan: ScanEvent, now: DateTime<Utc>) -> Vec<Command> {
        self.last_touch = now;
        if matches!(self.screen, Screen::Unavailable(_)) {
            return Vec::new();
        }
        match scan.outcome {
            ScanOutcome::Rejected {
                product: Some(product),
                ..
            } if self.member_code.is_some() => {
                let same = matches!(&self.screen, Screen::Wish(o) if o.product == product);
                if !same {
                    self.screen = Screen::Wish(WishOffer::new(&product));
                    self.pending_wish_id = None;
                }
                Vec::new()
            }
            // A bad read keeps the member's card: they can scan the product again.
            ScanOutcome::Rejected { reason, .. } => {
                self.screen = Screen::Notice(reason);
                Vec::new()
            }
            ScanOutcome::Member { .. } | ScanOutcome::NotKnown { .. } if scan.line_card => {
                self.member_code =
                    matches!(scan.outcome, ScanOutcome::Member { .. }).then_some(scan.raw);
                self.screen = Screen::AlreadyLineCard;
                Vec::new()
            }
            // A paper card, known here or not (a card the hub has not seen becomes a member
            // when it is linked).
            ScanOutcome::Member { .. } | ScanOutcome::NotKnown { .. } => {
                self.member_code =
                    matches!(scan.outcome, ScanOutcome::Member { .. }).then(|| scan.raw.clone());
                vec![Command::OpenSession {
                    card_code: Some(scan.raw),
                }]
            }
        }
    }

    /// Handles a tap.
    pub fn on_tap(&mut self, tap: Tap, now: DateTime<Utc>) -> Vec<Command> {
        self.last_touch = now;
        match tap {
            Tap::Language => {
                self.lang = self.lang.toggled();
                Vec::new()
            }
            Tap::Home => self.home(now),
            Tap::NotifyMe => self.notify_me(now),
        }
    }

    fn notify_me(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        let (Some(code), Screen::Wish(offer)) = (&self.member_code, &mut self.screen) else {
            return Vec::new();
        };
        if !offer.can_send() {
            return Vec::new();
        }
        let wish_id = self
            .pending_wish_id
            .get_or_insert_with(|| crate::wish::new_id("kiosk", now))
            .clone();
        offer.state = WishState::Sending;
        vec![Command::RecordWish(crate::wish::restock(
            wish_id,
            code,
            &offer.product,
        ))]
    }

    /// Time passing: expiries, the idle timeout, retries.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            return match &self.signup {
                // A session kept through an outage of the agent: ask about it again.
                Some(s) if s.expires_at > now => vec![Command::Resume {
                    token: s.token.clone(),
                }],
                _ => {
                    self.signup = None;
                    self.open_signup()
                }
            };
        }
        let idle = now - self.last_touch;
        match &self.screen {
            Screen::Attract(s) if s.expires_at <= now => {
                self.signup = None;
                self.screen = Screen::Renewing;
                self.open_signup()
            }
            Screen::Attract(_)
                if self.lang != Lang::Ja && idle.num_seconds() >= self.config.idle_secs =>
            {
                self.lang = Lang::Ja;
                Vec::new()
            }
            Screen::CardLink(s) if s.expires_at <= now => {
                self.screen = Screen::CardLinkExpired;
                self.last_touch = now;
                Vec::new()
            }
            Screen::Welcome { .. } if idle.num_seconds() >= self.config.welcome_secs => {
                self.home(now)
            }
            Screen::Wish(offer)
                if offer.state == WishState::Recorded
                    && idle.num_seconds() >= self.config.welcome_secs =>
            {
                self.home(now)
            }
            Screen::CardLink(_)
            | Screen::CardLinkExpired
            | Screen::Notice(_)
            | Screen::AlreadyLineCard
            | Screen::Wish(_)
                if idle.num_seconds() >= self.config.idle_secs =>
            {
                self.home(now)
            }
            _ => Vec::new(),
        }
    }

    /// When the screen next needs drawing without any event: the countdown's next second, an
    /// idle timeout, a retry. `None`: nothing changes until an event.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<std::time::Duration> {
        let mut at: Vec<DateTime<Utc>> = Vec::new();
        if let Some(t) = self.retry_at {
            at.push(t);
        }
        let idle_deadline = |secs: i64| self.last_touch + Duration::seconds(secs);
        match &self.screen {
            Screen::Attract(s) | Screen::CardLink(s) => {
                // The countdown shows whole minutes, then whole seconds in the last one
                // (`i18n::time_left`): draw again when its text next changes.
                let left_ms = (s.expires_at - now).num_milliseconds();
                let step = if left_ms > 60_000 { 60_000 } else { 1000 };
                let to_next = match left_ms.rem_euclid(step) {
                    0 => step,
                    r => r,
                };
                let to_next = if left_ms > 60_000 {
                    to_next.min(left_ms - 60_000).max(1)
                } else {
                    to_next
                };
                at.push(now + Duration::milliseconds(to_next));
                if matches!(self.screen, Screen::CardLink(_)) || self.lang != Lang::Ja {
                    at.push(idle_deadline(self.config.idle_secs));
                }
            }
            Screen::Welcome { .. } => at.push(idle_deadline(self.config.welcome_secs)),
            Screen::Wish(offer) if offer.state == WishState::Recorded => {
                at.push(idle_deadline(self.config.welcome_secs));
            }
            Screen::CardLinkExpired
            | Screen::Notice(_)
            | Screen::AlreadyLineCard
            | Screen::Wish(_) => {
                at.push(idle_deadline(self.config.idle_secs));
            }
            Screen::Connecting | Screen::Renewing | Screen::Unavailable(_) => {}
        }
        at.into_iter()
            .min()
            .map(|t| (t - now).to_std().unwrap_or_default())
    }

    /// Seconds left on the QR code shown, if one is.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> Option<i64> {
        match &self.screen {
            Screen::Attract(s) | Screen::CardLink(s) => Some(
                ((s.expires_at - now).num_milliseconds() + 999)
                    .div_euclid(1000)
                    .max(0),
            ),
            _ => None,
        }
    }
}
