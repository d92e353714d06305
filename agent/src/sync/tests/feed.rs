//! Pulling a change feed of many pages (`Engine::pull_all`): the next page is fetched while one
//! is applied, yet every page is applied once, in order, with its own cursor, and a cursor the
//! hub refuses partway (410) starts the feed again from the beginning.
//!
//! The stand-in hub serves `MEMBERS` members, `limit` to a page, the cursor being how many were
//! served; it remembers every cursor asked for, and refuses one of them once.

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, body::Body};
use tenpo_protocol::sync::{Change, ChangesQuery, ChangesResponse, MemberSnapshot};
use tokio::net::TcpListener;

use super::*;
use crate::sync::SyncConfig;

const MEMBERS: usize = 20;

fn code(n: usize) -> String {
    format!("21{n:011}")
}

#[derive(Default)]
struct Feed {
    asked: Mutex<Vec<String>>,
    /// A cursor refused (410) the first time it is asked for.
    refuse_once: Mutex<Option<String>>,
}

async fn changes(State(feed): State<Arc<Feed>>, Query(q): Query<ChangesQuery>) -> Response {
    let cursor = q.cursor.unwrap_or_default();
    feed.asked.lock().unwrap().push(cursor.clone());
    if feed
        .refuse_once
        .lock()
        .unwrap()
        .take_if(|c| *c == cursor)
        .is_some()
    {
        return (StatusCode::GONE, Body::from("{}")).into_response();
    }
    let from: usize = if cursor.is_empty() {
        0
    } else {
        cursor.trim_start_matches('p').parse().unwrap()
    };
    let to = (from + q.limit.unwrap_or(2) as usize).min(MEMBERS);
    let changes = (from..to)
        .map(|n| Change::Member {
            member: MemberSnapshot {
                member_id: format!("m{n}"),
                number: code(n),
                codes: vec![code(n)],
                provisional: false,
                state: MemberState::default(),
                applied_through: Default::default(),
                merged_ids: Vec::new(),
            },
        })
        .collect();
    Json(ChangesResponse {
        changes,
        next_cursor: format!("p{to}"),
        more: to < MEMBERS,
        acked_through: None,
        hub_time: Utc::now(),
    })
    .into_response()
}

async fn pull(feed: Arc<Feed>) -> (Arc<Ledger>, u64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger(&dir));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/v1/changes", get(changes))
        .with_state(feed);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (engine, _) = engine_at(
        &ledger,
        &url,
        SyncConfig {
            page: 3,
            ..SyncConfig::default()
        },
    );
    let pulled = engine.pull_all().await.unwrap();
    (ledger, pulled, dir)
}

fn assert_every_member_cached(ledger: &Ledger) {
    let store = ledger.store();
    assert_eq!(store.members_cached().unwrap(), MEMBERS as u64);
    for n in 0..MEMBERS {
        let row = store.member_by_code(&code(n)).unwrap();
        assert_eq!(row.map(|r| r.member_id), Some(format!("m{n}")));
    }
    assert_eq!(store.feed_cursor().unwrap(), format!("p{MEMBERS}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_applied_once_in_order_with_its_cursor() {
    let feed = Arc::new(Feed::default());
    let (ledger, pulled, _dir) = pull(feed.clone()).await;
    assert_eq!(pulled, MEMBERS as u64);
    assert_every_member_cached(&ledger);
    let asked = feed.asked.lock().unwrap().clone();
    let expected: Vec<String> = std::iter::once(String::new())
        .chain((3..MEMBERS).step_by(3).map(|n| format!("p{n}")))
        .collect();
    assert_eq!(
        asked, expected,
        "each page asked for once, in order, nothing past the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_refused_partway_starts_the_feed_again() {
    let feed = Arc::new(Feed {
        refuse_once: Mutex::new(Some("p9".into())),
        ..Feed::default()
    });
    let (ledger, pulled, _dir) = pull(feed.clone()).await;
    assert_every_member_cached(&ledger);
    // Three pages applied, the fourth refused (it was fetched while the third was applied),
    // then the whole feed again.
    assert_eq!(pulled, 9 + MEMBERS as u64);
    let asked = feed.asked.lock().unwrap().clone();
    assert_eq!(&asked[..5], ["", "p3", "p6", "p9", ""], "{asked:?}");
    let distinct: BTreeSet<&String> = asked.iter().collect();
    assert_eq!(distinct.len(), 7, "{asked:?}");
}
