//! Checkpoints a WAL database off its writer's path (docs/design.md §4, §8). SQLite's own
//! auto-checkpoint runs inside whichever commit crosses the threshold, so that one write carries
//! the copying of every page written since the last: a sale's p99, a day's scan of a million
//! members. [`Checkpointer`] does that work from its own thread and connection with passive
//! checkpoints (they never wait for, or block, a reader or the writer), and the writer keeps an
//! auto-checkpoint only as a fallback, at [`WRITER_FALLBACK_PAGES`], for when this thread has
//! fallen behind or stopped.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// The writer's auto-checkpoint once a [`Checkpointer`] runs: 262,144 pages, 1 GB of WAL at
/// SQLite's default page size, instead of SQLite's 1,000. At 64 MB, a hub's daily scan of
/// 1,000,000 members (a reader reading beside the writer all along) had the writer carry six
/// checkpoints of 310–394 ms each (docs/benchmarks.md); at 1 GB it carried none.
pub const WRITER_FALLBACK_PAGES: u32 = 262_144;

/// What the WAL file is cut back to when it starts over: a scan's burst does not keep its
/// space for good.
pub const WAL_KEPT_BYTES: i64 = 64 * 1024 * 1024;

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

/// What one passive checkpoint did: frames in the WAL, and how many of them are in the file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    pub wal_frames: i64,
    pub copied: i64,
}

/// One passive checkpoint on `conn`.
pub fn checkpoint(conn: &Connection) -> Result<Checkpointed, rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Checkpointed {
            wal_frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

impl Checkpointer {
    /// Starts checkpointing the WAL database at `path` (already configured by its writer) and
    /// raises `writer`'s auto-checkpoint to the fallback.
    pub fn start(
        path: &Path,
        writer: &Connection,
        every: Duration,
    ) -> Result<Checkpointer, StartError> {
        let conn = Connection::open(path)?;
        crate::sqlite::configure_reader(&conn)?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_FALLBACK_PAGES)?;
        writer.pragma_update(None, "journal_size_limit", WAL_KEPT_BYTES)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &flag, every))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar), every: Duration) {
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        drop(stopped);
        if let Err(e) = checkpoint(conn) {
            // The writer's fallback checkpoints meanwhile; the next round tries again.
            tracing::warn!(error = %e, "a background checkpoint failed");
        }
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
        let mut writer = Connection::open(&path).unwrap();
        crate::sqlite::configure(&writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB) STRICT;")
            .unwrap();
        let checkpointer = Checkpointer::start(&path, &writer, Duration::from_millis(20)).unwrap();
        let fallback: u32 = writer
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap();
        assert_eq!(fallback, WRITER_FALLBACK_PAGES);
        // About 2,000 pages: twice SQLite's own threshold, far under the writer's fallback, so
        // only the thread copies them into the file.
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
}
