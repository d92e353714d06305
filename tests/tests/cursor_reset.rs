//! Cursor reset: the hub is restored from a backup taken before the agent's feed cursor (the
//! hub answers `410 cursor_reset`: "a restored database behind the cursor"). The agent must
//! start the feed again and rebuild its member cache from scratch — members that only existed
//! after the backup are gone — without losing an event recorded while the hub was away, nor an
//! event the hub acknowledged after the backup (the restored hub no longer has it: the agent
//! sends it again).
//!
//! After the backup the hub logs `added` more changes (new members the agent pulls); after the
//! restore the agent pushes its pending events first, which log a change per member touched.
//! With many changes lost (a realistic day-old backup) the cursor is ahead of the restored log;
//! with few, the pushed events refill the log past the cursor's position before the agent
//! pulls, and only the hub run named in the cursor tells the restore (see hub/src/cursor.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use tenpo_e2e::card_code;
use tenpo_e2e::checks;
use tenpo_e2e::harness::{Agent, Hub, World, logged, sale_body, sync_u64, wait_until};
use tenpo_e2e::proxy::{Fault, FaultProxy};

/// Puts the hub back to the backup in `backup` (a directory of its files), as docs/hub.md
/// says: stop, replace the database, drop the WAL and shared-memory files, start.
async fn restore(hub: &mut Hub, backup: &Path) {
    hub.stop().await;
    for name in ["hub.db", "hub.db-wal", "hub.db-shm"] {
        let _ = std::fs::remove_file(hub.data_dir().join(name));
    }
    copy_files(backup, hub.data_dir());
    hub.start().await;
}

/// Starts the agent (syncing every second) and waits until it has cached `members`.
async fn start_cached(a: &mut Agent, members: u64) {
    a.set_args(&["--sync-interval-ms", "1000"]);
    a.start().await;
    let agent = &*a;
    wait_until(
        "the members cached",
        Duration::from_secs(30),
        || async move { sync_u64(&agent.status().await, "members_cached") >= members },
    )
    .await;
}

/// Copies the files of a directory (the hub's data directory holds no subdirectories).
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_hub_resets_the_cursor_and_no_pending_event_is_lost() {
    restored_hub(100, Backup::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_hub_resets_the_cursor_even_when_little_was_lost() {
    restored_hub(5, Backup::Hot).await;
}

/// A terminal enrolled after the backup is unknown to the restored hub. IT makes a code for its
/// terminal id; enrolled again with it, the terminal keeps its identity and sends again every
/// event the hub lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_terminal_enrolled_after_the_backup_is_enrolled_again_and_loses_nothing() {
    let world = World::new("reenrol");
    let mut hub = world.start_hub().await;
    let cards: Vec<String> = (1..=5).map(|n| card_code(27, n)).collect();
    let rows: Vec<_> = cards.iter().map(|c| (c.clone(), 1_000, 0)).collect();
    hub.import_members(&world.members_csv("members.csv", &rows))
        .await;
    let backup = world.path().join("hub-backup");
    std::fs::create_dir_all(&backup).unwrap();
    hub.backup(&backup.join("hub.db")).await;

    let mut a = world.enroll_agent("a", &hub, "store-1", &hub.url()).await;
    start_cached(&mut a, 5).await;
    let agent = &a;
    for (i, code) in cards.iter().enumerate() {
        a.sale_ok(&sale_body(&format!("r-{i}"), Some(code), &[1_500], 200))
            .await;
    }
    a.sale_ok(&sale_body("r-new", Some(&card_code(29, 5)), &[800], 0))
        .await;
    a.sync_now_ok().await;
    let sent = a.export().await.last_seq();
    assert_eq!(sync_u64(&a.status().await, "acked_through"), sent);

    // The hub comes back from the backup: it has never heard of this terminal.
    restore(&mut hub, &backup).await;
    a.trigger_sync().await;
    wait_until(
        "the restored hub to refuse the terminal it does not know",
        Duration::from_secs(30),
        || async move {
            let s = agent.status().await;
            s["sync"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("(401)"))
        },
    )
    .await;

    a.stop().await;
    a.enroll_again(&hub, "store-1", &hub.url()).await;
    a.start().await;
    a.sync_now_ok().await;
    a.sync_now_ok().await;
    let s = a.status().await;
    assert_eq!(s["pending_events"], 0, "{s}");
    assert_eq!(sync_u64(&s, "acked_through"), sent, "{s}");
    let mut codes = cards.clone();
    codes.push(card_code(29, 5));
    checks::views_agree(&hub, &[&a], &codes, &world.rules).await;
    let export = a.export().await;
    a.stop().await;
    let ledger = hub.ledger().await;
    hub.stop().await;
    let summary = checks::ledger_union(&ledger, &[(a.terminal_id(), &export)]);
    assert_eq!(summary.events as u64, sent);
    println!(
        "re-enrolment after a restore: {sent} events the restored hub had lost, all sent again \
         under the same terminal id; {:.1} s",
        world.elapsed()
    );
}

/// How the backup is made.
enum Backup {
    /// `tenpo-hub backup` while the hub serves.
    Hot,
    /// The data directory's files, copied while the hub is stopped.
    Stopped,
}

/// The scenario, with `added` members imported after the backup.
async fn restored_hub(added: u64, how: Backup) {
    let world = World::new("cursor-reset");
    let mut hub = world.start_hub().await;
    let before: Vec<String> = (1..=10).map(|n| card_code(27, n)).collect();
    let after: Vec<String> = (1..=added).map(|n| card_code(28, n)).collect();
    let rows: Vec<_> = before.iter().map(|c| (c.clone(), 2_000, 0)).collect();
    hub.import_members(&world.members_csv("before.csv", &rows))
        .await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut a = world.enroll_agent("a", &hub, "store-1", &proxy.url()).await;
    start_cached(&mut a, 10).await;
    let agent = &a;
    for (i, code) in before.iter().enumerate() {
        a.sale_ok(&sale_body(&format!("s1-{i}"), Some(code), &[1_500], 100))
            .await;
    }
    a.sync_now_ok().await;

    // A backup of the hub, everything the agent did so far in it: taken while it serves
    // (`tenpo-hub backup`), or as a copy of its files while it is stopped.
    let backup = world.path().join("hub-backup");
    match how {
        Backup::Hot => {
            std::fs::create_dir_all(&backup).unwrap();
            hub.backup(&backup.join("hub.db")).await;
        }
        Backup::Stopped => {
            hub.stop().await;
            copy_files(hub.data_dir(), &backup);
            hub.start().await;
        }
    }

    // The hub moves on: new members, which the agent pulls (its cursor passes the backup's end).
    let rows: Vec<_> = after.iter().map(|c| (c.clone(), 500, 0)).collect();
    hub.import_members(&world.members_csv("after.csv", &rows))
        .await;
    // Sales the hub acknowledges after the backup: the restore loses them at the hub.
    for (i, code) in before.iter().take(3).enumerate() {
        a.sale_ok(&sale_body(&format!("s1b-{i}"), Some(code), &[1_200], 0))
            .await;
    }
    a.sync_now_ok().await;
    let s = a.status().await;
    let acked_before_loss = sync_u64(&s, "acked_through");
    assert_eq!(acked_before_loss, a.export().await.last_seq(), "{s}");
    assert!(a.member(&after[0]).await.ok());
    let cached_before = sync_u64(&a.status().await, "members_cached");
    assert!(
        cached_before >= 10 + added,
        "{cached_before} members cached"
    );

    // The hub is lost; the till works on.
    proxy.set(Fault::Refuse);
    a.trigger_sync().await;
    wait_until(
        "the till to see the hub is gone",
        Duration::from_secs(30),
        || async move { agent.status().await["sync"]["online"] == false },
    )
    .await;
    let new_card = card_code(29, 77);
    for (i, code) in before.iter().take(6).enumerate() {
        a.sale_ok(&sale_body(&format!("s2-{i}"), Some(code), &[900], 0))
            .await;
    }
    a.sale_ok(&sale_body("s2-new", Some(&new_card), &[700], 0))
        .await;
    let pending = a.status().await["pending_events"].as_u64().unwrap();
    assert!(pending >= 7, "{pending} events pending");

    // The hub comes back from the backup: behind the agent's cursor.
    restore(&mut hub, &backup).await;
    proxy.set(Fault::Pass);
    a.sync_now_ok().await;
    a.sync_now_ok().await;

    let s = a.status().await;
    let export = a.export().await;
    assert_eq!(s["pending_events"], 0, "{s}");
    assert_eq!(sync_u64(&s, "acked_through"), export.last_seq(), "{s}");
    let reset = logged(hub.log(), |l| l.contains("feed cursor refused")).await;
    // Rebuilt from scratch: the members the restored hub does not have are gone.
    for code in &after {
        let r = a.member(code).await;
        assert_eq!(
            r.status, 404,
            "{code} exists only in the lost part of the hub's history, yet the agent still \
             shows it (the hub answered cursor_reset: {reset}): {}",
            r.body
        );
    }
    assert!(reset, "the restored hub never answered cursor_reset");
    let resent = logged(a.log(), |l| l.contains("sending them again")).await;
    assert!(
        resent,
        "the agent never noticed that the restored hub lost events it had acknowledged (up to \
         seq {acked_before_loss})"
    );
    let mut codes = before.clone();
    codes.push(new_card.clone());
    checks::views_agree(&hub, &[&a], &codes, &world.rules).await;
    let cached_after = sync_u64(&s, "members_cached");
    let conflicts = hub.conflicts().await;
    assert!(conflicts.is_empty(), "{conflicts:#?}");
    // One till alone: the hub re-evaluates each sale on the same state the till had.
    let discrepancies = hub.discrepancies().await;
    assert!(
        discrepancies.is_empty(),
        "{} discrepancies with a single till, e.g. {:#?}",
        discrepancies.len(),
        discrepancies.first()
    );
    a.stop().await;
    let ledger = hub.ledger().await;
    hub.stop().await;
    let summary = checks::ledger_union(&ledger, &[(a.terminal_id(), &export)]);
    println!(
        "cursor reset: hub restored from a backup behind the cursor; {pending} events pending at \
         the reset and 3 acknowledged after the backup, all pushed; members cached {cached_before} → {cached_after} (the {} added \
         after the backup dropped); {} events once at the hub; {:.1} s",
        after.len(),
        summary.events,
        world.elapsed()
    );
}
