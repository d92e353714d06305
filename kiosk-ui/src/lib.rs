//! tenpo-kiosk: the store's screens, over the agent's local API only (never the database, never
//! the hub).
//!
//! - `kiosk` mode: a customer joins with one scan of a QR code from LINE, or links a paper card
//!   ([`kiosk`]: the state machine; [`ui::kiosk`]: the screens);
//! - `counter` mode: the cashier's view of a scanned member and the sale ([`counter`],
//!   [`ui::counter`]);
//! - in both, a member who has scanned their card can ask to be told when a product they scan
//!   is back ([`wish`]).
//!
//! The state machines are plain data, driven by events from [`worker`] (the network side, on its
//! own thread) and by taps; the UI draws a state and reports taps. The app repaints only when an
//! event arrives or the state machine asks for a time (the countdown's next second, an idle
//! timeout): a kiosk left on all night uses no CPU between those.

pub mod app;
pub mod client;
pub mod counter;
pub mod fonts;
pub mod i18n;
pub mod kiosk;
pub mod qr;
pub mod ui;
pub mod wish;
pub mod worker;
