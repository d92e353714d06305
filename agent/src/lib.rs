//! tenpo-agent: the daemon on each store terminal.
//!
//! - [`store`]: the SQLite ledger, outbox and member cache (no HTTP, no rules);
//! - [`ledger`]: the operations (look up, sell, refund), each one transaction, using the
//!   `tenpo-loyalty` engine; [`wish`]: a member's wish, recorded the same way;
//! - [`scan`]: scanners → frames → member codes → member views, published to subscribers;
//! - [`api`]: the local HTTP API on loopback;
//! - [`signup`]: the kiosk's signup and card-link sessions (docs/design.md §5);
//! - [`sync`]: enrolment, and the engine that pushes the outbox and pulls the change feed;
//! - [`config`]: settings from file, flags and environment;
//! - [`daemon`]: start-up and clean shutdown; [`doctor`]: what is wrong with this terminal;
//!   [`report`]: `status`; [`locate`]: which agent those two look at.

pub mod api;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod ledger;
pub mod locate;
pub mod lock;
pub mod lookup;
pub mod report;
pub mod scan;
pub mod signup;
pub mod store;
pub mod sync;
pub mod sync_cli;
pub mod wish;
