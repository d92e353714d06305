//! What the engine does with the hub's answer to a push (`Engine::push_all`,
//! `WriteTx::advance_acked`, `WriteTx::quarantine`): the outbox mark moves to what the hub
//! acknowledged, never down and never past the last recorded event; conflicts and rejections
//! are quarantined with their reason and the queue goes on past them.
//!
//! The hub is a stand-in served over real HTTP on loopback: it holds events by seq with their
//! content hash, answers each event as the hub's intake does (stored, duplicate, conflict,
//! rejected) and its mark is the highest contiguous seq it holds. Each test sets a fault on it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use tenpo_protocol::events::content_hash_of;
use tenpo_protocol::sync::{PushRequest, PushResponse, PushResult, PushStatus};

use super::*;
use crate::store::OutboxCounts;
use crate::sync::{Engine, SyncConfig};

#[derive(Debug, Default)]
struct Hub {
    /// seq → content hash of what the hub holds.
    held: BTreeMap<u64, String>,
    /// seq → reason: these are rejected (and held as rejected, so the mark moves past them).
    reject: BTreeMap<u64, String>,
    /// The mark answered stops here (a hub missing an earlier event).
    cap: Option<u64>,
    /// The mark answered, whatever the hub holds (a hub that overstates).
    claim: Option<u64>,
    /// Every push: the seqs sent, and this till's own mark when the push arrived.
    pushes: Vec<(Vec<u64>, u64)>,
}

impl Hub {
    fn mark(&self) -> u64 {
        let contiguous = (1..).take_while(|s| self.held.contains_key(s)).count() as u64;
        self.claim
            .unwrap_or_else(|| contiguous.min(self.cap.unwrap_or(u64::MAX)))
    }
}

#[derive(Debug)]
struct Fake {
    hub: Mutex<Hub>,
    till: Arc<Ledger>,
    /// For this many pushes, the till records a sale while the hub handles each (a busy till).
    sell_while_pushing: AtomicU32,
}

async fn intake(State(fake): State<Arc<Fake>>, Json(req): Json<PushRequest>) -> Json<PushResponse> {
    let till_mark = fake.till.store().outbox_counts().unwrap().acked_through;
    if let Ok(left) =
        fake.sell_while_pushing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
    {
        let req = sale(&format!("meanwhile-{left}"), None, 500, 0);
        fake.till.record_sale(&req, now()).unwrap();
    }
    let mut hub = fake.hub.lock().unwrap();
    let mut sent = Vec::new();
    let mut results = Vec::new();
    for item in &req.events {
        let bytes = item.event.get();
        let hash = content_hash_of(bytes.as_bytes());
        assert_eq!(item.content_hash, hash, "the hash is of the bytes sent");
        let event: serde_json::Value = serde_json::from_str(bytes).unwrap();
        let seq = event["seq"].as_u64().unwrap();
        sent.push(seq);
        let (status, reason) = if let Some(reason) = hub.reject.get(&seq).cloned() {
            hub.held.insert(seq, hash);
            (PushStatus::Rejected, Some(reason))
        } else {
            match hub.held.get(&seq) {
                Some(held) if *held == hash => (PushStatus::Duplicate, None),
                Some(_) => (
                    PushStatus::Conflict,
                    Some("other content for this seq".into()),
                ),
                None => {
                    hub.held.insert(seq, hash);
                    (PushStatus::Stored, None)
                }
            }
        };
        results.push(PushResult {
            seq,
            status,
            reason,
        });
    }
    hub.pushes.push((sent, till_mark));
    Json(PushResponse {
        acked_through: hub.mark(),
        results,
        hub_time: Utc::now(),
    })
}

struct Setup {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    engine: Engine,
    fake: Arc<Fake>,
}

async fn setup(batch: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger(&dir));
    let fake = Arc::new(Fake {
        hub: Mutex::default(),
        till: ledger.clone(),
        sell_while_pushing: AtomicU32::new(0),
    });
    let app = Router::new()
        .route("/v1/events", post(intake))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (engine, _) = engine_at(
        &ledger,
        &url,
        SyncConfig {
            batch,
            ..SyncConfig::default()
        },
    );
    Setup {
        _dir: dir,
        ledger,
        engine,
        fake,
    }
}

impl Setup {
    /// Records sales without a member, one event each.
    fn record(&self, ids: std::ops::RangeInclusive<u32>) {
        for n in ids {
            let req = sale(&format!("sale-{n}"), None, 500, 0);
            self.ledger.record_sale(&req, now()).unwrap();
        }
    }

    /// One `push_all`; a run that never ends fails the test.
    async fn push(&self) -> u64 {
        tokio::time::timeout(Duration::from_secs(20), self.engine.push_all())
            .await
            .expect("push_all ends")
            .unwrap()
    }

    fn hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.fake.hub.lock().unwrap()
    }

    fn pushes(&self) -> Vec<(Vec<u64>, u64)> {
        self.hub().pushes.clone()
    }

    fn counts(&self) -> OutboxCounts {
        self.ledger.store().outbox_counts().unwrap()
    }
}

/// Pending events go in batches from the mark on, and the mark takes each answer's
/// `acked_through`; once the hub has everything, nothing more is sent.
#[tokio::test]
async fn pending_events_go_in_batches_and_the_mark_takes_the_hubs_answer() {
    let t = setup(2).await;
    t.record(1..=5);
    assert_eq!(t.push().await, 5);
    assert_eq!(
        t.pushes(),
        [(vec![1, 2], 0), (vec![3, 4], 2), (vec![5], 4)],
        "each batch starts after the mark the previous answer set"
    );
    assert_eq!((t.counts().acked_through, t.counts().pending), (5, 0));

    assert_eq!(t.push().await, 0);
    assert_eq!(t.pushes().len(), 3, "nothing pending, nothing sent");
    t.record(6..=6);
    assert_eq!(t.push().await, 1);
    assert_eq!(t.pushes()[3], (vec![6], 5));
}

/// A pass sends what was pending when it began. Sales recorded while the hub handles it (a busy
/// till) wait for the next pass, which their own wake-ups bring: chasing them, the engine
/// pushed every few sales back to back, a commit at the hub and one here each time, and never
/// reached the pull after the push.
#[tokio::test]
async fn a_pass_sends_what_was_pending_not_the_sales_made_meanwhile() {
    let t = setup(10).await;
    t.record(1..=3);
    t.fake.sell_while_pushing.store(5, Ordering::SeqCst);
    assert_eq!(t.push().await, 3);
    assert_eq!(t.pushes(), [(vec![1, 2, 3], 0)], "one push for the three");
    assert_eq!((t.counts().acked_through, t.counts().pending), (3, 1));

    // The next pass takes the sale made meanwhile (and the one made while that is pushed
    // waits again).
    assert_eq!(t.push().await, 1);
    assert_eq!(t.pushes()[1], (vec![4], 3));
    assert_eq!((t.counts().acked_through, t.counts().pending), (4, 1));

    // A backlog larger than a batch still goes in one pass, batch after batch.
    t.fake.sell_while_pushing.store(0, Ordering::SeqCst);
    t.record(6..=30);
    assert_eq!(t.push().await, 26);
    assert_eq!(t.pushes().len(), 5, "batches of 10, 10 and 6, then none");
    assert_eq!(t.counts().pending, 0);
}

/// The mark moves only as far as the hub acknowledged, not to the last event sent: the rest
/// stays pending and is sent again on the next pass.
#[tokio::test]
async fn the_mark_moves_only_as_far_as_the_hub_acknowledged() {
    let t = setup(10).await;
    t.record(1..=5);
    t.hub().cap = Some(3);
    assert_eq!(t.push().await, 3);
    assert_eq!(t.pushes(), [(vec![1, 2, 3, 4, 5], 0)], "one try per pass");
    assert_eq!((t.counts().acked_through, t.counts().pending), (3, 2));

    t.hub().cap = None;
    assert_eq!(t.push().await, 2);
    assert_eq!(t.pushes()[1], (vec![4, 5], 3));
    assert_eq!((t.counts().acked_through, t.counts().pending), (5, 0));
}

/// A hub that answers a lower mark than it gave before (restored from a backup) never moves
/// ours down: the events it lost are sent again from its mark, and our mark moves up only when
/// it has them again.
#[tokio::test]
async fn a_lower_mark_from_the_hub_never_moves_ours_back() {
    let t = setup(10).await;
    t.record(1..=3);
    assert_eq!(t.push().await, 3);
    t.hub().held.retain(|seq, _| *seq <= 1);
    t.record(4..=5);
    assert_eq!(t.push().await, 2);
    assert_eq!(
        t.pushes(),
        [
            (vec![1, 2, 3], 0),
            (vec![4, 5], 3),
            (vec![2, 3, 4, 5], 3), // sent again from the hub's mark 1; ours still 3
        ]
    );
    assert_eq!((t.counts().acked_through, t.counts().pending), (5, 0));
}

/// A mark beyond the last event recorded here is taken only up to that event: a sale recorded
/// afterwards is pending, and sent.
#[tokio::test]
async fn the_mark_never_passes_the_last_recorded_event() {
    let t = setup(10).await;
    t.record(1..=3);
    t.hub().claim = Some(99);
    t.push().await;
    assert_eq!((t.counts().acked_through, t.counts().pending), (3, 0));

    t.hub().claim = None;
    t.record(4..=4);
    assert_eq!(t.counts().pending, 1);
    assert_eq!(t.push().await, 1);
    assert_eq!(t.pushes()[1], (vec![4], 3));
}

/// A `conflict` or a `rejected` result is quarantined with its status and reason, and the
/// mark moves past it (the queue behind it is not blocked); `duplicate` and `stored` are not
/// quarantined. The outbox keeps every event.
#[tokio::test]
async fn refusals_are_quarantined_and_the_queue_moves_past_them() {
    let t = setup(10).await;
    t.record(1..=4);
    let first = t.ledger.store().pending_events(0, 1).unwrap();
    {
        let mut hub = t.hub();
        hub.held.insert(1, content_hash_of(first[0].1.as_bytes()));
        hub.held.insert(2, "another event's hash".into());
        hub.reject.insert(3, "unknown member".into());
    }
    assert_eq!(t.push().await, 4);
    let quarantined: Vec<(u64, String)> = t
        .ledger
        .store()
        .read(|c| {
            let mut stmt = c.prepare("SELECT seq, reason FROM quarantine ORDER BY seq")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?.unsigned_abs(), r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(
        quarantined,
        [
            (2, "Conflict: other content for this seq".to_owned()),
            (3, "Rejected: unknown member".to_owned()),
        ]
    );
    let counts = t.counts();
    assert_eq!(
        (counts.acked_through, counts.pending, counts.quarantined),
        (4, 0, 2)
    );
    assert_eq!(counts.last_seq, 4);
    assert_eq!(
        t.ledger.store().pending_events(0, 10).unwrap().len(),
        4,
        "refused events stay in the outbox"
    );
}
