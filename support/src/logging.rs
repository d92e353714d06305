//! The log set-up of `tenpo-agent` and `tenpo-hub`: to standard error, at the level `RUST_LOG`
//! says (`info` by default), as text or JSON; colour only for a person at a terminal (a log file
//! or the journal gets plain text, and `NO_COLOR` is honoured).
//!
//! Lines are written by a thread of their own ([`init`]), never by the thread that logs
//! them (docs/design.md §1, regional IT). Standard error is a pipe to the journal or a
//! supervisor, and a reader that stops reading (the journal restarting, a hung supervisor) fills
//! the pipe: a till that wrote its lines itself stopped answering sales once 64 KB of them were
//! waiting, about 600 sales. A line that would take the queue past [`QUEUED_BYTES`] is dropped
//! and counted ([`lines_dropped`], on each program's `/metrics`): the ledger is the record of what
//! happened, a log line is not worth a sale.
//!
//! The thread writes what has queued up in one write, then gathers for [`GATHER`] before the
//! next: a till selling back to back at `info` (a line a sale) wakes it, and the journal, at most
//! twenty times a second, not once a sale, and a sale only copies its line into the queue. A
//! quiet program wakes it for nothing. This is written here rather than taken from
//! tracing-appender, whose writer thread is woken for each line: a thread switch a sale on a
//! till's two cores, which cost up to 4 % of a sale's median at `info` (docs/benchmarks.md).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Bytes of lines queued for a slow reader before new lines are dropped: a few thousand lines,
/// far more than a start-up or a sync pass logs at once.
pub const QUEUED_BYTES: usize = 256 * 1024;

/// How long the writer thread gathers lines after a write before it writes again.
pub const GATHER: Duration = Duration::from_millis(50);

/// How long the end of a program waits for the last lines to be written to a reader that is
/// not reading.
const LAST_LINES_WAIT: Duration = Duration::from_secs(1);

/// Why the log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The system refused a new thread (too many threads or processes, or no memory left).
    #[error("cannot start the thread that writes the log: {0}")]
    Thread(#[from] std::io::Error),
}

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

/// Lines waiting for the writer thread.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    /// The thread waits for a line (so the next one wakes it), rather than gathering.
    idle: bool,
    /// The program is ending: write what is left and stop.
    closing: bool,
}

#[derive(Debug, Default)]
struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Queue {
    /// A panic elsewhere while the lock was held leaves plain bytes and counts: still usable.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one line (a subscriber writes each event whole), or counts it dropped.
    fn push(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.bytes.len() + line.len() > QUEUED_BYTES {
            pending.dropped += 1;
            return;
        }
        pending.bytes.extend_from_slice(line);
        if pending.idle {
            pending.idle = false;
            self.wake.notify_one();
        }
    }

    /// The writer thread: writes each batch to `out`, then gathers for [`GATHER`].
    fn run(&self, mut out: impl Write, done: &mpsc::Sender<()>) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pending = self.lock();
                while pending.bytes.is_empty() && !pending.closing {
                    pending.idle = true;
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                pending.idle = false;
                if pending.bytes.is_empty() {
                    break;
                }
                std::mem::swap(&mut batch, &mut pending.bytes);
            }
            // Nowhere to say that the log cannot be written: the lines are lost, as they would
            // be had they been written.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            let pending = self.lock();
            if !pending.closing {
                // Woken early only by the end of the program.
                drop(self.wake.wait_timeout(pending, GATHER));
            }
        }
        let _ = done.send(());
    }
}

/// What a subscriber writes each line to: the queue of the writer thread.
#[derive(Debug, Clone)]
struct QueueWriter(Arc<Queue>);

impl Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl QueueWriter {
    /// Lines this queue has dropped.
    fn dropped(&self) -> u64 {
        self.0.lock().dropped
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = QueueWriter;

    fn make_writer(&'a self) -> QueueWriter {
        self.clone()
    }
}

/// Keeps the log's writer thread. Dropping it (at the end of `main`) writes out the lines still
/// queued, waiting at most [`LAST_LINES_WAIT`] for a reader that does not read.
#[must_use = "the log's lines are written until this is dropped"]
#[derive(Debug)]
pub struct LogGuard {
    queue: Arc<Queue>,
    done: mpsc::Receiver<()>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.queue.lock().closing = true;
        self.queue.wake.notify_one();
        let _ = self.done.recv_timeout(LAST_LINES_WAIT);
    }
}

/// The process's writer, whose dropped lines [`lines_dropped`] counts: the first one made.
static WRITER: OnceLock<QueueWriter> = OnceLock::new();

/// Installs the subscriber for the whole process (once, at start), writing to standard error.
pub fn init(format: LogFormat) -> Result<LogGuard, LogError> {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    init_writing_to(std::io::stderr(), format, colour)
}

/// [`init`] writing to `out` (the Windows service's daily files), with colour or without.
pub fn init_writing_to<W: Write + Send + 'static>(
    out: W,
    format: LogFormat,
    colour: bool,
) -> Result<LogGuard, LogError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = non_blocking(out)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(guard)
}

/// A writer for a subscriber that queues each line for a thread writing to `out`, and that
/// thread's guard; an error if the thread cannot be started.
fn non_blocking<W: Write + Send + 'static>(out: W) -> std::io::Result<(QueueWriter, LogGuard)> {
    let queue = Arc::new(Queue::default());
    let (done_tx, done) = mpsc::channel();
    let worker = queue.clone();
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || worker.run(out, &done_tx))?;
    let writer = QueueWriter(queue.clone());
    let _ = WRITER.set(writer.clone());
    Ok((writer, LogGuard { queue, done }))
}

/// Log lines dropped since the start because the reader of the log was not keeping up.
pub fn lines_dropped() -> u64 {
    WRITER.get().map_or(0, QueueWriter::dropped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A reader that never reads: each write waits until the test lets it go.
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

    /// A reader that keeps what it is given, and counts the writes.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut kept = self.0.lock().unwrap();
            kept.0.extend_from_slice(buf);
            kept.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` on a thread of its own, and says whether it ended within 30 s (a bound, so that
    /// a test fails instead of hanging).
    fn ends(f: impl FnOnce() + Send + 'static) -> bool {
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = done_tx.send(());
        });
        done.recv_timeout(Duration::from_secs(30)).is_ok()
    }

    #[test]
    fn a_reader_that_stops_reading_costs_lines_not_the_thread_that_logs() {
        let (release, stuck) = mpsc::channel();
        let (writer, guard) = non_blocking(Stuck(stuck)).unwrap();
        let counted = writer.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let lines = 10_000;
        assert!(
            ends(move || tracing::subscriber::with_default(subscriber, || {
                for n in 0..lines {
                    tracing::info!(n, "a sale");
                }
            })),
            "logging waited for a reader that does not read"
        );
        let dropped = counted.dropped();
        assert!(
            dropped > 0 && dropped < lines,
            "{dropped} of {lines} lines dropped"
        );
        // The program's end waits a moment for the reader, then ends all the same.
        assert!(ends(move || drop(guard)), "the end waited for the reader");
        drop(release);
    }

    #[test]
    fn every_line_is_written_once_in_order_and_the_end_writes_the_last() {
        let kept = Kept::default();
        let (writer, guard) = non_blocking(kept.clone()).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        let lines = 2_000;
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..lines {
                tracing::info!("line {n}.");
            }
        });
        // Written by the end, whatever is still queued.
        drop(guard);
        let (bytes, writes) = kept.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .map(|l| {
                let (_, n) = l.rsplit_once("line ").unwrap();
                n.trim_end_matches('.').parse().unwrap()
            })
            .collect();
        assert_eq!(numbers, (0..lines).collect::<Vec<_>>());
        // Lines logged back to back reach the reader together, not one write each.
        assert!(writes * 10 <= lines, "{writes} writes for {lines} lines");
    }
}
