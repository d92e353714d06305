//! The reference hub's administration, in one place: the wire types (`tenpo_protocol::admin`,
//! re-exported here; in the hub's OpenAPI document under the tag `admin`), the endpoints
//! ([`api`], behind the admin token), and the client the `tenpo-hub` admin commands use
//! ([`client`]). The admin API is the reference hub's own, not part of the sync contract: a CRM
//! that implements the sync API manages its data its own way. Its storage side is the store's
//! `AdminStore`: the decisions in `store/unit/`, each backend's statements and listings in
//! `store/sqlite/` and `store/postgres/`.
//!
//! Personal data (birthdays) goes in here and never comes out to terminals.

pub mod api;
pub mod client;
pub mod preview;
pub mod reports;

pub use tenpo_protocol::admin::*;
