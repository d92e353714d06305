//! Email to members (docs/design.md §10, §11): for members who chose email in their profile, or
//! who blocked the official LINE account. The parts, each usable alone; the outbox's email
//! sender puts them together:
//!
//! - [`settings`]: the `[email]` table (the SMTP server, TLS, the login, the sender, the rate).
//! - [`Mailer`]: sends one [`OutgoingEmail`] over SMTP (lettre, rustls) and says whether a
//!   failure is worth trying again ([`SendError::is_permanent`]).
//! - [`OutgoingEmail`]: the message, text and HTML of the same words the LINE message says
//!   (`crate::scenarios::wish`), with RFC 8058's one-click unsubscribe headers and the outbox
//!   row's id as its `Message-ID`.
//! - [`unsubscribe`]: the signed unsubscribe links and their pages, `GET`/`POST /u/{token}`
//!   ([`unsubscribe::routes`], over any [`Unsubscribe`]: the hub's store is one).

pub mod mailer;
pub mod message;
pub mod sender;
pub mod settings;
pub mod unsubscribe;

pub use mailer::{Delivered, EmailError, Mailer, SendError};
pub use message::OutgoingEmail;
pub use settings::{EmailSection, EmailSettings, TlsMode};
pub use unsubscribe::{Unsubscribe, check_unsubscribe_token, unsubscribe_token, unsubscribe_url};
