//! What tenpo's programs share outside HTTP (which is `tenpo-edge`), so each lives once:
//!
//! - [`Backoff`]: exponential back-off with full jitter, for scanners that went away, the sync
//!   engine and the signup poll;
//! - [`panic::contained`]: a bug's panic kept to the one request it happened in;
//! - [`config`] (feature `config`): how a settings file is read and a bad setting reported;
//! - [`doctor`] (feature `doctor`): the doctor commands' findings, each with its fix;
//! - [`logging`] (feature `logging`): the log format setting and the subscriber of both binaries
//!   (plain text off a terminal, JSON for collectors);
//! - [`sqlite`] (feature `sqlite`): how the agent and the hub open a SQLite file, so their
//!   settings cannot drift apart (they had: a 5 s and a 10 s busy timeout).

mod backoff;
#[cfg(feature = "sqlite")]
pub mod checkpointer;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "doctor")]
pub mod doctor;
#[cfg(feature = "logging")]
pub mod logging;
pub mod panic;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use backoff::Backoff;
