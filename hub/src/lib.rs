//! tenpo's reference hub: the central side of the sync API (docs/design.md §2, §4).
//!
//! - [`api`]: the axum server — terminal endpoints (enrolment, push, change feed, lookup) and
//!   the admin API — generic over the storage trait [`store::HubStore`].
//! - [`store`]: the trait and its default backend, an embedded SQLite file.
//! - [`intake`] and [`apply`]: what a push and an event mean, shared by every backend.
//! - [`admin`]: the reference hub's administration (wire types, endpoints, the client the
//!   `tenpo-hub` admin commands use).
//! - [`line`]: the official LINE account: its webhook, each LINE user's friendship, and the
//!   sender of the message outbox.
//! - [`scenarios`]: which messages a member gets, and when, in their language.
//! - [`email`]: email to members who chose it or blocked the LINE account: the SMTP mailer,
//!   the message with its one-click unsubscribe, the unsubscribe links and pages; [`retry`] how
//!   long a message waits before it is tried again, for both channels.
//! - [`wishes`]: members' wishes for items, the notifications the catalogue feed's changes bring,
//!   and the purchases counted for them; [`wishes::report`] what they brought in, per week.
//! - [`console`]: the staff console at `/console` (docs/design.md §13).
//! - [`catalog_import`]: a catalogue's first load from CSV, cut into the feed's batches.

pub mod admin;
pub mod api;
pub mod apply;
pub mod catalog_import;
pub mod config;
pub mod console;
pub mod cursor;
pub mod doctor;
pub mod email;
pub mod import;
pub mod intake;
pub mod line;
pub mod privacy;
pub mod retry;
pub mod review;
pub mod scenarios;
pub mod secrets;
pub mod signup;
pub mod store;
pub mod wishes;
