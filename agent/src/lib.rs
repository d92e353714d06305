//! tenpo-agent: the daemon on each store terminal.
//!
//! - [`store`]: the SQLite ledger, outbox and member cache (no HTTP, no rules);
//! - [`ledger`]: the operations (look up, sell, refund), each one transaction, using the
//!   `tenpo-loyalty` engine;
//! - [`api`]: the local HTTP API on loopback;
//! - [`config`]: settings from file, flags and environment;
//! - [`daemon`]: start-up and clean shutdown.

pub mod api;
pub mod codes;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod ledger;
pub mod store;
