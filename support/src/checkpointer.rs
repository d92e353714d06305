//! Checkpoints a WAL database off its writer's path (docs/design.md §4, §8). SQLite's own
//! auto-checkpoint runs inside whichever commit crosses the threshold, so that one write carries
//! the copying of every page written since the last: a sale's p99, a day's scan of a million
//! members. [`Checkpointer`] does that work from its own thread and connection, and the writer
//! keeps an auto-checkpoint only as a fallback, at [`WRITER_FALLBACK_PAGES`], for when this
//! thread has fallen behind or stopped.
//!
//! Each round copies the log in two steps ([`catch_up`]). A passive checkpoint copies the bulk
//! and never waits for, or blocks, a reader or the writer. But under a steady stream of writes
//! a passive checkpoint never ends level with the log (the commits made while it copied are
//! left), and SQLite starts the log over from its beginning only once every frame is copied
//! and no reader is inside it. Until then each commit appends, the file grows, and each
//! commit's sync must also write the file's new size: during 6,000 sales back to back the
//! agent's log grew to 170 MB and never started over, and a sale's commit took half as long
//! again as the same commit into a log that does (docs/benchmarks.md). So the round then
//! tries a restarting checkpoint that never waits: if the writer is busy at that instant it
//! copies what it can and the round tries again shortly; if not, it holds the write lock while
//! it copies the few frames that came in since the passive step and starts the log over.
//!
//! A round copies only a log of [`COPY_FROM_PAGES`] or more. A log copied whole starts over at
//! the next commit, and that commit first writes the log's new header and syncs it: two syncs,
//! not one. Copied every second, the log of a till that sells every few seconds started over
//! before every sale, and every sale paid the second sync (docs/benchmarks.md). The writer's
//! commit hook ([`Connection::wal_hook`], which SQLite's own auto-checkpoint is built on) tells
//! the thread how long the log is after each commit.

use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// The log's length, in pages, from which a round copies it: SQLite's own auto-checkpoint
/// threshold (4 MB at its default page size). A sale writes about five pages, so on a quiet
/// till one sale in about two hundred starts the log over, not every one.
pub const COPY_FROM_PAGES: i32 = 1_000;

/// The writer's own checkpoint once a [`Checkpointer`] runs, in its commit hook, for when the
/// thread has fallen behind or stopped: 262,144 pages, 1 GB of WAL at SQLite's default page
/// size. At 64 MB, a hub's daily scan of 1,000,000 members (a reader reading beside the writer
/// all along) had the writer carry six checkpoints of 310–394 ms each (docs/benchmarks.md); at
/// 1 GB it carried none.
pub const WRITER_FALLBACK_PAGES: i32 = 262_144;

/// What the WAL file is cut back to when it starts over: a scan's burst does not keep its
/// space for good.
pub const WAL_KEPT_BYTES: i64 = 64 * 1024 * 1024;

/// Restarting checkpoints a round tries, at most, while the writer or a reader is busy.
pub const RESTART_TRIES: usize = 8;

/// The pause between two tries (a sale holds the write lock for well under this).
const TRY_AGAIN_AFTER: Duration = Duration::from_millis(2);

/// Why the checkpointer did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the database for checkpoints: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("starting the checkpoint thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A thread checkpointing one database every `every`, until dropped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// What one checkpoint did: frames in the WAL, how many of them are in the file now, and
/// whether a restarting checkpoint was kept from starting the log over (`busy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    pub busy: bool,
    pub wal_frames: i64,
    pub copied: i64,
}

/// One passive checkpoint on `conn`.
pub fn checkpoint(conn: &Connection) -> Result<Checkpointed, rusqlite::Error> {
    checkpoint_with(conn, "PASSIVE")
}

fn checkpoint_with(conn: &Connection, mode: &str) -> Result<Checkpointed, rusqlite::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Checkpointed {
            busy: r.get::<_, i64>(0)? != 0,
            wal_frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// When the log is copied: by the thread from `copy_from` pages, by the writer itself from
/// `fallback` pages. Other than [`Thresholds::STANDARD`] only in tests.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    copy_from: i32,
    fallback: i32,
}

impl Thresholds {
    /// [`COPY_FROM_PAGES`] and [`WRITER_FALLBACK_PAGES`].
    const STANDARD: Thresholds = Thresholds {
        copy_from: COPY_FROM_PAGES,
        fallback: WRITER_FALLBACK_PAGES,
    };
}

impl Checkpointer {
    /// Starts checkpointing the WAL database at `path` (already configured by its writer), at
    /// the [`Thresholds::STANDARD`], and gives `writer` the commit hook that measures the log
    /// in place of SQLite's auto-checkpoint.
    pub fn start(
        path: &Path,
        writer: &mut Connection,
        every: Duration,
    ) -> Result<Checkpointer, StartError> {
        Checkpointer::start_with(path, writer, every, Thresholds::STANDARD)
    }

    /// [`Checkpointer::start`] at other thresholds.
    fn start_with(
        path: &Path,
        writer: &mut Connection,
        every: Duration,
        thresholds: Thresholds,
    ) -> Result<Checkpointer, StartError> {
        let conn = Connection::open(path)?;
        crate::sqlite::configure_reader(&conn)?;
        // A restarting checkpoint must never wait with the write lock held (`catch_up`).
        conn.busy_timeout(Duration::ZERO)?;
        writer.pragma_update(None, "journal_size_limit", WAL_KEPT_BYTES)?;
        let logged = measure_log(writer, thresholds.fallback)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let copy_from = thresholds.copy_from;
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &flag, every, &logged, copy_from))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

/// One round: a passive checkpoint for the bulk, then restarting checkpoints that never wait
/// (the connection has no busy timeout) until one starts the log over, at most
/// [`RESTART_TRIES`]. A restarting checkpoint that finds the writer busy is a passive one; one
/// that gets the write lock copies what came in since and, unless a reader is inside the log,
/// starts it over. An empty log is left as it is.
pub fn catch_up(conn: &Connection) -> Result<Checkpointed, rusqlite::Error> {
    let mut done = checkpoint(conn)?;
    for _ in 0..RESTART_TRIES {
        if done.wal_frames <= 0 {
            break;
        }
        done = checkpoint_with(conn, "RESTART")?;
        if !done.busy {
            break;
        }
        std::thread::sleep(TRY_AGAIN_AFTER);
    }
    Ok(done)
}

/// Gives `writer` the commit hook that keeps the log's length, in pages, in the counter it
/// returns, and copies the log itself from `fallback` pages.
fn measure_log(writer: &mut Connection, fallback: i32) -> Result<Arc<AtomicI32>, rusqlite::Error> {
    let logged = Arc::new(AtomicI32::new(0));
    let told = logged.clone();
    writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
        told.store(pages, Ordering::Release);
        if pages >= fallback {
            // As SQLite's auto-checkpoint: a failure is not the commit's, which has happened,
            // so it is logged and the commit answers as it would have.
            if let Err(e) = wal.checkpoint() {
                tracing::warn!(error = %e, pages, "the writer's own checkpoint failed");
            }
        }
        Ok(())
    }))?;
    Ok(logged)
}

/// One round: a [`catch_up`] once the writer's last commit left `copy_from` pages or more in
/// the log (`logged`, from its hook). A round that started the log over marks it empty, unless
/// a commit has told a new length meanwhile; until the next commit tells one, the rounds have
/// nothing to do.
fn round(conn: &Connection, logged: &AtomicI32, copy_from: i32) {
    let pages = logged.load(Ordering::Acquire);
    if pages < copy_from {
        return;
    }
    let started = std::time::Instant::now();
    let done = catch_up(conn);
    if let Ok(done) = &done {
        tracing::debug!(
            pages,
            copied = done.copied,
            busy = done.busy,
            took_us = started.elapsed().as_micros() as u64,
            "checkpoint round"
        );
    }
    match done {
        Ok(done) if !done.busy => {
            let _ = logged.compare_exchange(pages, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
        // Kept from starting the log over: the next round tries again.
        Ok(_) => {}
        // The writer's fallback checkpoints meanwhile; the next round tries again.
        Err(e) => tracing::warn!(error = %e, "a background checkpoint failed"),
    }
}

/// A [`round`] every `every`, until stopped.
fn run(
    conn: &Connection,
    stop: &(Mutex<bool>, Condvar),
    every: Duration,
    logged: &AtomicI32,
    copy_from: i32,
) {
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        drop(stopped);
        round(conn, logged, copy_from);
        stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !*stopped {
            stopped = wake
                .wait_timeout(stopped, every)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The writer of a new database at `path`, configured as tenpo's are, with `schema` made.
    fn writer_of(path: &Path, schema: &str) -> Connection {
        let mut writer = Connection::open(path).unwrap();
        crate::sqlite::configure(&mut writer).unwrap();
        writer.execute_batch(schema).unwrap();
        writer
    }

    /// A new database `t.db` in `dir` with `schema` made, its writer, and a checkpointer on it
    /// at `thresholds`, rounds `every` apart.
    fn started(
        dir: &Path,
        schema: &str,
        every: Duration,
        thresholds: Thresholds,
    ) -> (Connection, Checkpointer) {
        let path = dir.join("t.db");
        let mut writer = writer_of(&path, schema);
        let checkpointer = Checkpointer::start_with(&path, &mut writer, every, thresholds).unwrap();
        (writer, checkpointer)
    }

    #[test]
    fn the_thread_copies_what_the_writer_wrote_and_stops_when_dropped() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("tenpo-checkpoint-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let mut writer = writer_of(&path, "CREATE TABLE t (x BLOB) STRICT;");
        let checkpointer =
            Checkpointer::start(&path, &mut writer, Duration::from_millis(20)).unwrap();
        // About 2,000 pages: twice the thread's threshold, far under the writer's fallback, so
        // only the thread copies them into the file (the hook replaced SQLite's own).
        let tx = writer.transaction().unwrap();
        for _ in 0..2_000 {
            tx.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
        // The file grows only when a checkpoint copies pages into it. Bounded: 500 × 20 ms.
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut copied = false;
        for _ in 0..500 {
            if size() > 5_000_000 {
                copied = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            copied,
            "the WAL was never copied: the file is {} bytes",
            size()
        );
        drop(checkpointer);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A steady stream of commits, a small pause between them as between a till's sales: the
    /// log must keep starting over, not grow by every commit. With one passive checkpoint a
    /// round, each round ended with the commits made while it copied still in the log, and the
    /// log grew with every commit (3,000 commits: 10–25 MB; now about 1 MB here).
    #[test]
    fn under_steady_writes_the_log_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        // The thread copies from 100 pages here, not 1,000, so that what is measured is the
        // log starting over after each copy, not how long it waits to copy.
        let (writer, checkpointer) = started(
            dir.path(),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB UNIQUE) STRICT;",
            Duration::from_millis(20),
            Thresholds {
                copy_from: 100,
                ..Thresholds::STANDARD
            },
        );
        let wal = dir.path().join("t.db-wal");
        let mut largest = 0;
        for i in 0..3_000u32 {
            writer
                .execute("INSERT INTO t (x) VALUES (?1)", [i.to_be_bytes()])
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            std::thread::sleep(Duration::from_micros(100));
        }
        drop(checkpointer);
        // Never started over: 2 pages a commit, 24 MB. Started over each round: under 1 MB.
        assert!(
            largest < 8 << 20,
            "the log grew to {largest} bytes over 3,000 small commits"
        );
    }

    /// The log of a writer that commits now and then (a quiet till: a sale every few seconds)
    /// is not copied while it is short, so it does not start over before each commit, where
    /// that commit would sync the log's new header as well as its pages. Before, every round
    /// copied it: after three commits with a round after each, the log held the last one's
    /// page. The rounds are run here, one after each commit, as the thread runs them.
    #[test]
    fn a_short_log_is_left_to_grow_between_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut writer = writer_of(&path, "CREATE TABLE t (x BLOB) STRICT;");
        let logged = measure_log(&mut writer, WRITER_FALLBACK_PAGES).unwrap();
        let side = Connection::open(&path).unwrap();
        crate::sqlite::configure_reader(&side).unwrap();
        side.busy_timeout(Duration::ZERO).unwrap();
        for _ in 0..3 {
            writer
                .execute("INSERT INTO t VALUES (randomblob(16))", [])
                .unwrap();
            round(&side, &logged, COPY_FROM_PAGES);
        }
        let held = checkpoint(&side).unwrap().wal_frames;
        assert!(
            held >= 3,
            "the log holds {held} pages: it started over between the commits"
        );
    }

    /// Past its fallback, the writer's commit hook copies the log itself, as SQLite's own
    /// auto-checkpoint would, when the thread has not (here it never does).
    #[test]
    fn past_the_fallback_the_writer_copies_the_log_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, checkpointer) = started(
            dir.path(),
            "CREATE TABLE t (x BLOB) STRICT;",
            Duration::from_secs(60),
            Thresholds {
                copy_from: i32::MAX,
                fallback: 50,
            },
        );
        let tx = writer.transaction().unwrap();
        for _ in 0..200 {
            tx.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
        // The file grows only when a checkpoint copies pages into it: by the commit's end.
        let size = std::fs::metadata(dir.path().join("t.db")).unwrap().len();
        assert!(
            size > 150 * 4096,
            "the log was not copied: the file is {size} bytes"
        );
        drop(checkpointer);
    }
}
