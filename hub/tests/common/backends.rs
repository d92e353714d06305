//! Both store backends for the conformance suites: `on_both_backends!` runs each named check
//! against a SQLite file and against a fresh database on the tests' PostgreSQL server.

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use tenpo_hub::store::outbox::Planner;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};
use tenpo_hub::store::{SqliteStore, Terminal, TillStore};

use super::Till;

/// What a check needs of a backend besides the store's traits.
pub trait Backend {
    fn set_planner(&self, planner: Arc<dyn Planner>);
}

impl Backend for SqliteStore {
    fn set_planner(&self, planner: Arc<dyn Planner>) {
        SqliteStore::set_planner(self, planner);
    }
}

impl Backend for PgStore {
    fn set_planner(&self, planner: Arc<dyn Planner>) {
        PgStore::set_planner(self, planner);
    }
}

/// Runs each named check (`async fn check<S>(store: &S)`) against both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = tenpo_hub::store::SqliteStore::open(
                        &dir.path().join("hub.db"),
                        chrono::Utc::now(),
                    )
                    .unwrap();
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let store = super::common::backends::postgres_store().await;
                    super::$check(&store).await;
                }
            )*
        }
    };
}

/// A PostgreSQL store on a database of its own.
pub async fn postgres_store() -> PgStore {
    let url = super::postgres::cluster().fresh_database().await;
    open_postgres(&url).await
}

/// A hub process's store on the database at `url` (its own pool, run and caches).
pub async fn open_postgres(url: &str) -> PgStore {
    PgStore::open(&DatabaseUrl::parse(url).unwrap(), 4, Utc::now())
        .await
        .unwrap()
}

/// Enrols a terminal of `store_id`.
pub async fn till<S: TillStore>(store: &S, store_id: &str) -> (Till, Terminal) {
    let now = Utc::now();
    let code = store
        .create_enrollment_code(store_id.into(), None, now + Duration::hours(1), now)
        .await
        .unwrap();
    let enrolled = store.enroll(code, Some("till".into()), now).await.unwrap();
    let terminal = store
        .terminal(enrolled.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    let till = Till {
        terminal_id: enrolled.terminal_id,
        store_id: enrolled.store_id,
        secret: enrolled.secret,
    };
    (till, terminal)
}
