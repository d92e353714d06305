//! The change feed: a full snapshot first, increments after, "start again" on a bad cursor,
//! coupons, revoked codes, signing keys, and no personal data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::{card, import, provisional};
use reqwest::StatusCode;
use serde_json::Value;
use tenpo_protocol::sync::Change;

fn kinds(changes: &[Value]) -> Vec<String> {
    changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn members(changes: &[Value]) -> Vec<&Value> {
    changes
        .iter()
        .filter(|c| c["kind"] == "member")
        .map(|c| &c["member"])
        .collect()
}

#[tokio::test]
async fn first_read_is_a_full_snapshot_then_increments() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let codes: Vec<String> = (1..=25).map(card).collect();
    let rows: Vec<(&str, i64, i64, Option<&str>)> =
        codes.iter().map(|c| (c.as_str(), 10, 0, None)).collect();
    import(&hub, &rows).await;
    let till = hub.enroll("s1").await;

    // Small pages: the whole snapshot arrives over several reads, each thing once.
    let mut cursor = String::new();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = hub
            .http
            .get(hub.url(&format!(
                "/v1/changes?limit=10&cursor={}",
                common::encode(&cursor)
            )))
            .header("authorization", till.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert!(body["hub_time"].is_string());
        let page = body["changes"].as_array().unwrap();
        assert!(page.len() <= 10);
        // Every entry parses as the protocol's Change.
        for c in page {
            serde_json::from_value::<Change>(c.clone()).unwrap();
        }
        all.extend(page.iter().cloned());
        cursor = body["next_cursor"].as_str().unwrap().to_owned();
        pages += 1;
        if !body["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let k = kinds(&all);
    assert_eq!(k.iter().filter(|k| *k == "member").count(), 25);
    assert_eq!(k.iter().filter(|k| *k == "rule_set").count(), 1);
    assert_eq!(k.iter().filter(|k| *k == "signing_key").count(), 1);
    let key = all.iter().find(|c| c["kind"] == "signing_key").unwrap();
    let public = base64::engine::general_purpose::STANDARD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(public.len(), 32);
    let rules = all.iter().find(|c| c["kind"] == "rule_set").unwrap();
    assert_eq!(rules["rules"]["version"], 1);
    // Tier labels are for members (the demo program has them): tills get the rule set in the
    // shape a till from before labels reads.
    let levels = rules["rules"]["tiers"]["levels"].as_array().unwrap();
    assert_eq!(levels[1]["name"], "premier");
    assert!(levels.iter().all(|l| l.get("labels").is_none()), "{rules}");

    // Nothing new: an empty page, the same place.
    let (changes, same) = hub.drain(&till, &cursor).await;
    assert!(changes.is_empty());
    assert_eq!(same, cursor);

    // One member changes: only it comes next.
    hub.push(&till, &[provisional(&till, 1, "prov", &codes[4])])
        .await;
    let (changes, next) = hub.drain(&till, &cursor).await;
    assert_eq!(kinds(&changes), ["member"]);
    assert_eq!(changes[0]["member"]["number"], codes[4]);
    assert_eq!(changes[0]["member"]["merged_ids"][0], "prov");
    assert_eq!(
        changes[0]["member"]["applied_through"][&till.terminal_id],
        1
    );
    // A new rule set.
    let mut v2 = tenpo_loyalty::RuleSet::demo();
    v2.version = 2;
    hub.admin()
        .load_rules(toml::to_string(&v2).unwrap())
        .await
        .unwrap();
    let (changes, _) = hub.drain(&till, &next).await;
    assert_eq!(kinds(&changes), ["rule_set"]);
    assert_eq!(changes[0]["rules"]["version"], 2);

    // A new terminal's first read is the full snapshot, with the latest rules only.
    let other = hub.enroll("s2").await;
    let (changes, _) = hub.drain(&other, "").await;
    assert_eq!(members(&changes).len(), 25);
    let rule_sets: Vec<_> = changes.iter().filter(|c| c["kind"] == "rule_set").collect();
    assert_eq!(rule_sets.len(), 1);
    assert_eq!(rule_sets[0]["rules"]["version"], 2);
}

#[tokio::test]
async fn a_bad_cursor_says_start_again() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let (_, good) = hub.drain(&till, "").await;
    for garbled in [
        "not-base64-!!".to_owned(),
        "djE6YWJjOjE".to_owned(),
        format!("{good}x"),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1:0123456789abcdef:1"),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v2:00:1"),
    ] {
        let (status, body) = hub.changes(&till, &garbled).await;
        assert_eq!(status, StatusCode::GONE, "{garbled}: {body}");
        assert_eq!(body["error"]["code"], "cursor_reset");
    }
    // A cursor ahead of the log (a restored database with the same epoch).
    let epoch_pos = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&good)
            .unwrap(),
    )
    .unwrap();
    let epoch = epoch_pos.split(':').nth(1).unwrap();
    let ahead =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{epoch}:999999"));
    let (status, _) = hub.changes(&till, &ahead).await;
    assert_eq!(status, StatusCode::GONE);
    // Starting again works.
    let (status, _) = hub.changes(&till, "").await;
    assert_eq!(status, StatusCode::OK);
    // Bad limits are 422, not a reset.
    for limit in ["0", "5001", "x"] {
        let r = hub
            .http
            .get(hub.url(&format!("/v1/changes?limit={limit}")))
            .header("authorization", till.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{limit}");
    }
}

#[tokio::test]
async fn birthday_coupons_reach_the_feed_without_the_birthday() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let (may, june) = (card(11), card(12));
    let report = import(
        &hub,
        &[
            (&may, 0, 0, Some("1990-05-17")),
            (&june, 0, 0, Some("1985-06-02")),
        ],
    )
    .await;
    assert_eq!(report.imported, 2);
    let till = hub.enroll("s1").await;
    let (_, cursor) = hub.drain(&till, "").await;

    let request = tenpo_hub::admin::CouponRequest {
        coupon_id: None,
        member_ids: vec![],
        card_codes: vec![],
        birthday_month: Some(5),
        benefit: tenpo_loyalty::CouponBenefit::Discount { value_yen: 500 },
        valid_days: 31,
    };
    let report = hub.admin().issue_coupons(&request).await.unwrap();
    assert_eq!(report.issued, 1);
    // The id reaches every terminal: it must not say the month (the finding: birthday-2026-05).
    let opaque = report
        .coupon_id
        .strip_prefix("coupon-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(opaque, "{}", report.coupon_id);
    // Issuing again gives nobody a second one.
    let again = hub.admin().issue_coupons(&request).await.unwrap();
    assert_eq!((again.issued, again.already_issued), (0, 1));

    let (changes, _) = hub.drain(&till, &cursor).await;
    let m = members(&changes);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["number"], may);
    let coupon = &m[0]["state"]["coupons"][&report.coupon_id];
    assert_eq!(coupon["benefit"]["value_yen"], 500);

    // Coupons to named members too; unknown ids are reported.
    let named = hub
        .admin()
        .issue_coupons(&tenpo_hub::admin::CouponRequest {
            coupon_id: Some("welcome".into()),
            member_ids: vec![m[0]["member_id"].as_str().unwrap().into(), "nobody".into()],
            card_codes: vec![],
            birthday_month: None,
            benefit: tenpo_loyalty::CouponBenefit::PointsBonus { points: 50 },
            valid_days: 10,
        })
        .await
        .unwrap();
    assert_eq!(named.issued, 1);
    assert_eq!(named.unknown_members, ["nobody"]);

    // No personal data anywhere a terminal can read.
    let (everything, _) = hub.drain(&till, "").await;
    let text = serde_json::to_string(&everything).unwrap();
    assert!(!text.contains("1990-05-17") && !text.contains("1985-06-02"));
    assert!(!text.contains("birthday\""), "{text}");
    let (_, body) = hub.lookup(&till, &may).await;
    assert!(!body.to_string().contains("1990"));
}

#[tokio::test]
async fn revoked_codes_reach_the_feed_and_stop_naming_the_member() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let code = card(21);
    import(&hub, &[(&code, 0, 0, None)]).await;
    let till = hub.enroll("s1").await;
    let (_, cursor) = hub.drain(&till, "").await;
    let revoked = hub.admin().revoke_code(&code).await.unwrap();
    assert!(revoked.member_id.is_some());
    let (changes, _) = hub.drain(&till, &cursor).await;
    let mut k = kinds(&changes);
    k.sort();
    assert_eq!(k, ["code_revoked", "member"]);
    assert_eq!(members(&changes)[0]["codes"].as_array().unwrap().len(), 0);
    assert_eq!(hub.lookup(&till, &code).await.0, StatusCode::NOT_FOUND);
    // A till's provisional member for a revoked code is refused.
    let body = hub.push(&till, &[provisional(&till, 1, "p", &code)]).await;
    assert_eq!(common::statuses(&body), ["rejected"]);
    // The full snapshot lists it too.
    let (all, _) = hub.drain(&till, "").await;
    assert!(kinds(&all).contains(&"code_revoked".to_owned()));
}

/// Replaces the hub's database files with those saved in `backup` (the hub stopped).
fn restore(dir: &std::path::Path, backup: &std::path::Path) {
    for name in ["hub.db-wal", "hub.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    std::fs::copy(backup, dir.join("hub.db")).unwrap();
}

/// A hub restored from a backup must refuse every cursor from the history it lost, even after
/// new changes have filled its log past the cursor's position, and keep every cursor from
/// before the backup.
#[tokio::test]
async fn a_restored_hub_refuses_cursors_from_the_lost_history() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    import(&hub, &[(&card(1), 10, 0, None), (&card(2), 10, 0, None)]).await;
    let (_, before_backup) = hub.drain(&till, "").await;

    // A backup taken while the hub runs (`tenpo-hub backup`).
    let saved = tempfile::tempdir().unwrap();
    let backup = saved.path().join("hub-backup.db");
    tenpo_hub::store::backup(&hub.dir.path().join("hub.db"), &backup).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the backup holds keys and personal data"
        );
    }
    // Never over an existing file.
    let again = tenpo_hub::store::backup(&hub.dir.path().join("hub.db"), &backup);
    assert!(again.is_err(), "{again:?}");
    // Still the same run: the hub moves on and the till follows.
    import(&hub, &[(&card(3), 10, 0, None)]).await;
    let (_, same_run) = hub.drain(&till, &before_backup).await;
    // A later run moves on too.
    let dir = hub.stop().await;
    let hub = common::start_in(dir).await;
    import(&hub, &[(&card(4), 10, 0, None)]).await;
    let (_, later_run) = hub.drain(&till, &same_run).await;

    // The restore, then more changes than were lost: the log's end passes both cursors.
    let dir = hub.stop().await;
    restore(dir.path(), &backup);
    let hub = common::start_in(dir).await;
    let more: Vec<String> = (10..20).map(card).collect();
    let rows: Vec<_> = more.iter().map(|c| (c.as_str(), 1, 0, None)).collect();
    import(&hub, &rows).await;
    for (name, cursor) in [("same run", &same_run), ("later run", &later_run)] {
        let (status, body) = hub.changes(&till, cursor).await;
        assert_eq!(status, StatusCode::GONE, "{name}: {body}");
        assert_eq!(body["error"]["code"], "cursor_reset", "{name}");
    }
    // A cursor from before the backup is still good, and gives what changed since.
    let (changes, _) = hub.drain(&till, &before_backup).await;
    let got: Vec<&str> = members(&changes)
        .iter()
        .map(|m| m["codes"][0].as_str().unwrap())
        .collect();
    let want: Vec<&str> = more.iter().map(String::as_str).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn one_hub_per_database() {
    let hub = common::start().await;
    let db = hub.dir.path().join("hub.db");
    let second = tenpo_hub::store::SqliteStore::open(&db, chrono::Utc::now());
    assert!(
        matches!(second, Err(tenpo_hub::store::StoreError::InUse { .. })),
        "{second:?}"
    );
    let dir = hub.stop().await;
    // Free again once the first one stopped.
    tenpo_hub::store::SqliteStore::open(&dir.path().join("hub.db"), chrono::Utc::now()).unwrap();
}
