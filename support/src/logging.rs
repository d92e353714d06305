//! The log set-up of `tenpo-agent` and `tenpo-hub`: to standard error, at the level `RUST_LOG`
//! says (`info` by default), as text or JSON; colour only for a person at a terminal (a log file
//! or the journal gets plain text, and `NO_COLOR` is honoured).
//!
//! Lines are written by a thread of their own ([`non_blocking`]), never by the thread that logs
//! them (docs/design.md §1, regional IT). Standard error is a pipe to the journal or a
//! supervisor, and a reader that stops reading (the journal restarting, a hung supervisor) fills
//! the pipe: a till that wrote its lines itself stopped answering sales once 64 KB of them were
//! waiting, about 600 sales. A line that finds [`QUEUED_LINES`] already queued is dropped and
//! counted ([`lines_dropped`], on each program's `/metrics`): the ledger is the record of what
//! happened, a log line is not worth a sale.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines queued for a slow reader before new ones are dropped: at a couple of hundred bytes a
/// line, about 200 KB held at most, and far more than a start-up or a sync pass logs at once.
pub const QUEUED_LINES: usize = 1_024;

/// `--log-format` / `log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Keeps the log's writer thread. Dropping it (at the end of `main`) writes out the lines still
/// queued, waiting at most about a second for a reader that does not read.
#[must_use = "the log's lines are written until this is dropped"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// The process's count of dropped lines, set by the first [`non_blocking`].
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Installs the subscriber for the whole process (once, at start), writing to standard error.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

/// A writer for a subscriber that hands each line to a thread writing to `out`, and that thread's
/// guard. The first one made in a process is the one [`lines_dropped`] counts.
pub fn non_blocking<W: Write + Send + 'static>(out: W) -> (NonBlocking, LogGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(out);
    let _ = DROPPED.set(writer.error_counter());
    (writer, LogGuard { _writer: guard })
}

/// Log lines dropped since the start because the reader of the log was not keeping up.
pub fn lines_dropped() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A reader that never reads: each write waits until the test ends.
    struct Stuck(mpsc::Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_stops_reading_costs_lines_not_the_thread_that_logs() {
        let (release, stuck) = mpsc::channel();
        let (writer, guard) = non_blocking(Stuck(stuck));
        let counter = writer.error_counter();
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let lines = 3 * QUEUED_LINES;
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                for n in 0..lines {
                    tracing::info!(n, "a sale");
                }
            });
            let _ = done_tx.send(());
        });
        // Written by the logging thread itself, these lines would wait for ever; bounded so that
        // the test fails instead of hanging.
        assert!(
            done.recv_timeout(Duration::from_secs(30)).is_ok(),
            "logging waited for a reader that does not read"
        );
        let dropped = counter.dropped_lines();
        assert!(
            dropped >= lines - QUEUED_LINES - 1 && dropped < lines,
            "{dropped} of {lines} lines dropped, with {QUEUED_LINES} queued"
        );
        drop(release);
        drop(guard);
    }
}
