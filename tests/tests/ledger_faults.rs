//! The till's ledger when the hub is slow, gone or ahead of it, across real processes:
//! - a member the hub knows but this till has not pulled shows with their points at once, and
//!   offline is said to be not known here (never a new member with 0 points); looking makes
//!   nothing; a sale for it earns on those points;
//! - concurrent attempts of one redeeming sale id, while the first is still asking the hub
//!   whether it is online, all get that attempt's answer (one step per sale id).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tenpo_e2e::card_code;
use tenpo_e2e::harness::{World, sale_body, sync_u64, wait_until};
use tenpo_e2e::proxy::{Fault, FaultKind, FaultProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lookup_asks_the_hub_and_offline_says_not_known_here() {
    let world = World::new("lookup-asks-hub");
    let mut hub = world.start_hub().await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut till = world
        .enroll_agent("till", &hub, "store-1", &proxy.url())
        .await;
    // Pulls rarely: the members imported below are not in this till's cache.
    till.set_args(&["--sync-interval-ms", "3600000"]);
    till.start().await;
    wait_until("the first pull", Duration::from_secs(30), || async {
        till.status().await["sync"]["online"] == true
    })
    .await;
    let known = card_code(27, 1);
    let later = card_code(27, 2);
    let sold = card_code(27, 4);
    hub.import_members(&world.members_csv(
        "members.csv",
        &[
            (known.clone(), 1_200, 0),
            (later.clone(), 800, 0),
            (sold.clone(), 500, 0),
        ],
    ))
    .await;
    let cached_before = sync_u64(&till.status().await, "members_cached");

    // Online: the hub is asked, the member shows with their points.
    let r = till.member(&known).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["points"]["balance"], 1_200, "{}", r.body);
    assert_eq!(r.body["provisional"], false);

    // Offline: not known here, said plainly; nothing made.
    proxy.set(Fault::Refuse);
    let r = till.member(&later).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.code(), "member_not_known_here", "{}", r.body);
    assert!(r.message().contains("not known at this till"), "{}", r.body);
    // A card nobody knows, online: a new card, still nothing made by looking.
    proxy.set(Fault::Pass);
    let r = till.member(&card_code(27, 3)).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "member_not_found"),
        "{}",
        r.body
    );
    assert_eq!(
        sync_u64(&till.status().await, "members_cached"),
        cached_before + 1,
        "only the member the hub knows was cached"
    );
    assert_eq!(
        till.export().await.events.len(),
        0,
        "a lookup writes no event"
    );

    // A sale for a card the hub knows and this till has not cached earns on the member's
    // real points (the hub asked first), not as a new provisional member.
    let r = till
        .sale(&sale_body("hub-known-1", Some(&sold), &[1_000], 0))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["balance_after"].as_i64().unwrap() > 500,
        "earned on the hub's 500 points: {}",
        r.body
    );
    let kinds: Vec<String> = till
        .export()
        .await
        .events
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(kinds, ["sale"], "no provisional member made");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_of_a_sale_during_a_slow_online_probe_get_its_answer() {
    let world = World::new("sale-retry-probe");
    let mut hub = world.start_hub().await;
    let rich = card_code(27, 10);
    hub.import_members(&world.members_csv("members.csv", &[(rich.clone(), 3_000, 0)]))
        .await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut till = world
        .enroll_agent("till", &hub, "store-1", &proxy.url())
        .await;
    // Offline, this till may redeem only 100 points a member a day.
    till.set_args(&[
        "--sync-interval-ms",
        "3600000",
        "--offline-redeem-limit",
        "100",
    ]);
    till.start().await;
    wait_until("the member cached", Duration::from_secs(30), || async {
        sync_u64(&till.status().await, "members_cached") >= 1
    })
    .await;

    // The hub answers slowly (each chunk 100 ms), within the probe's time: the first attempt
    // will find it online. While it waits, the hub becomes unreachable for new connections, so
    // a retry that probed on its own would find it offline and be refused by the limit.
    proxy.set(Fault::Delay(Duration::from_millis(100)));
    let body = sale_body("slow-1", Some(&rich), &[2_000], 500);
    let first = till.sale(&body);
    let delayed_before = proxy.hits(FaultKind::Delay);
    let retries = async {
        // Once the first attempt's probe is at the proxy (being delayed), new requests to the
        // hub are refused.
        wait_until(
            "the first attempt's probe to reach the hub",
            Duration::from_secs(10),
            || async { proxy.hits(FaultKind::Delay) > delayed_before },
        )
        .await;
        proxy.set(Fault::Refuse);
        futures_util::future::join_all((0..3).map(|_| till.sale(&body))).await
    };
    let (first, retries) = tokio::join!(first, retries);
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["redeemed_points"], 500);
    for r in &retries {
        assert_eq!(
            (r.status, &r.body),
            (first.status, &first.body),
            "every attempt of one sale id gets the first attempt's answer"
        );
    }
    // Later, a retry is a replay of the one recorded sale.
    proxy.set(Fault::Pass);
    let again = till.sale(&body).await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    let sales = till.export().await.sales;
    assert_eq!(sales, 1);
    hub.stop().await;
}
