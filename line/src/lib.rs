//! The LINE platform as tenpo uses it (docs/design.md §5 and §10), in one crate so the hub
//! speaks to LINE through one small typed interface:
//!
//! - [`signature`]: the webhook signature (Base64 HMAC-SHA256 of the raw body under the channel
//!   secret), checked in constant time before anything is parsed;
//! - [`webhook`]: webhook bodies as typed events (`follow`, `unfollow`, `message`, `postback`,
//!   `accountLink`), unknown kinds kept, never failed;
//! - [`messaging`]: the Messaging API client: push with `X-Line-Retry-Key` (a `409` for a key
//!   already accepted is "sent"), profile, per-user rich menus, quota and consumption, with
//!   LINE's error bodies and request ids surfaced;
//! - [`login`]: LINE Login's ID-token verification (LIFF);
//! - [`standin`] (feature `standin`, binary `tenpo-line-standin`): a local server that answers all
//!   of the above as LINE does, for tests and the demo. A production hub is built without it.
//!
//! Written on `reqwest`, `hmac`/`sha2` and `base64` rather than a LINE SDK crate: the Rust SDKs
//! pull a second HTTP stack (hyper 0.14) and tenpo calls six endpoints.
//! Must never know: members, points, the hub's storage.

pub mod login;
pub mod messaging;
pub mod signature;
#[cfg(feature = "standin")]
pub mod standin;
pub mod webhook;
