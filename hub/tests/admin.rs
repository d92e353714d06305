//! The admin API and the `tenpo-hub` binary: rule sets, member import (the CSV report through
//! the real command), config validation, serve and clean stop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{card, import};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tenpo-hub");

#[tokio::test]
async fn rule_set_versions_must_increase() {
    let hub = common::start().await;
    // No rules yet: importing says what to do.
    let err = hub
        .admin()
        .import_members(vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("load-rules"), "{err}");
    hub.load_demo_rules().await;
    let err = hub
        .admin()
        .load_rules(toml::to_string(&tenpo_loyalty::RuleSet::demo()).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("409") && err.contains("not newer"), "{err}");
    // Invalid rules, TOML errors: 422 naming the setting.
    let mut bad = tenpo_loyalty::RuleSet::demo();
    bad.version = 2;
    bad.stamps.card_size = 0;
    let err = hub
        .admin()
        .load_rules(toml::to_string(&bad).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("stamps.card_size"), "{err}");
    let err = hub
        .admin()
        .load_rules("version = 2\nnme = \"x\"".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("422"), "{err}");
    // JSON works too.
    let mut v2 = tenpo_loyalty::RuleSet::demo();
    v2.version = 2;
    let r = hub
        .http
        .post(hub.url("/v1/admin/rule-sets"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn import_reports_each_refused_row() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let good = card(1);
    let mut bad_digit = card(2);
    bad_digit.pop();
    bad_digit.push(if card(2).ends_with('0') { '1' } else { '0' });
    let report = import(
        &hub,
        &[
            (&good, 100, 20_000, Some("1990-01-31")),
            (&bad_digit, 1, 0, None),
            (&good, 5, 0, None),
            (&card(3), -5, 0, None),
            (&card(4), 0, -1, None),
            (&card(5), 0, 0, Some("1990-02-30")),
            ("4901234567894", 0, 0, None),
        ],
    )
    .await;
    assert_eq!(report.imported, 1);
    let reasons: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[0].1.contains("check digit") && reasons[0].0 == 3);
    assert!(reasons[1].1.contains("duplicate"));
    assert!(reasons[2].1.contains("negative points"));
    assert!(reasons[3].1.contains("negative qualifying spend"));
    assert!(reasons[4].1.contains("birthday"));
    assert!(reasons[5].1.contains("20 to 29"));
    // The imported member: a lot expiring by the rules, spend on the import date.
    let till = hub.enroll("s1").await;
    let (_, body) = hub.lookup(&till, &good).await;
    let state: tenpo_loyalty::MemberState = serde_json::from_value(body["state"].clone()).unwrap();
    assert_eq!(state.lots.len(), 1);
    assert_eq!(state.lots[0].points, 100);
    let rules = tenpo_loyalty::RuleSet::demo();
    assert_eq!(
        state.lots[0].expires_on,
        rules.expiry_for(state.lots[0].earned_on)
    );
    assert_eq!(state.spend.values().sum::<i64>(), 20_000);
    // Too many rows in one request.
    let rows = (0..1001)
        .map(|i| tenpo_hub::admin::ImportRow {
            line: i,
            card_code: card(100 + i),
            points: 0,
            qualifying_spend_yen: 0,
            birthday: None,
        })
        .collect();
    let err = hub
        .admin()
        .import_members(rows)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("422"), "{err}");
}

use common::binary::serve;

fn admin_cmd(base: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .args(["--hub", base])
        .env("TENPO_HUB_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .output()
        .unwrap()
}

#[test]
fn the_binary_serves_imports_a_csv_and_reports_rejected_lines() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir.path().join("data"));
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        toml::to_string(&tenpo_loyalty::RuleSet::demo()).unwrap(),
    )
    .unwrap();
    let out = admin_cmd(&served.base, &["load-rules", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut bad_digit = card(2);
    bad_digit.pop();
    bad_digit.push(if card(2).ends_with('0') { '1' } else { '0' });
    let csv = format!(
        "card_code,points,qualifying_spend_yen,birthday\n\
         {},120,30000,1980-05-05\n\
         {bad_digit},5,0,\n\
         {},1,0,\n\
         {},-3,0,\n\
         {},lots,0,\n\
         {},7,700,\n",
        card(1),
        card(1),
        card(3),
        card(4),
        card(5)
    );
    let file = dir.path().join("members.csv");
    std::fs::write(&file, csv).unwrap();
    let out = admin_cmd(
        &served.base,
        &[
            "import-members",
            file.to_str().unwrap(),
            "--batch-size",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Rows were refused: the command says which, and fails (a script must notice).
    assert!(!out.status.success(), "refused rows must fail the command");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 rows were not imported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 members imported, 4 rows rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 3:") && stdout.contains("check digit"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 4:") && stdout.contains("duplicate"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 5:") && stdout.contains("negative"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 6:") && stdout.contains("not a whole number"),
        "{stdout}"
    );

    // Birthday coupons and an enrolment code through the commands.
    let out = admin_cmd(
        &served.base,
        &[
            "issue-coupon",
            "--birthday-month",
            "5",
            "--value-yen",
            "300",
            "--valid-days",
            "31",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("issued to 1 members"), "{stdout}");
    assert!(out.status.success());
    // By card code, as staff have it; an unknown card fails the command, with the card named.
    let out = admin_cmd(
        &served.base,
        &[
            "issue-coupon",
            "--card",
            &card(1),
            "--card",
            &card(9),
            "--points",
            "50",
            "--valid-days",
            "7",
            "--json",
        ],
    );
    assert!(
        !out.status.success(),
        "an unknown card must fail the command"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["issued"], 1, "{report}");
    assert_eq!(
        report["unknown_cards"],
        serde_json::json!([card(9)]),
        "{report}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = admin_cmd(&served.base, &["enroll-code", "--store", "store-9"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("enrolment code for store store-9"),
        "{stdout}"
    );
    // Scripts get JSON.
    let out = admin_cmd(
        &served.base,
        &["enroll-code", "--store", "store-9", "--json"],
    );
    assert!(out.status.success());
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["store_id"], "store-9", "{made}");
    assert!(
        made["code"].as_str().is_some_and(|c| c.len() >= 8),
        "{made}"
    );
    let out = admin_cmd(&served.base, &["conflicts"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 conflicts"));
    let out = admin_cmd(&served.base, &["discrepancies", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");

    // A wrong token is refused, with the reason.
    let out = Command::new(BIN)
        .args(["conflicts", "--hub", &served.base])
        .env("TENPO_HUB_ADMIN_TOKEN", "wrong-token-wrong-token")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong admin token"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_hub_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(&dir.path().join("data"));
    let pid = served.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = served.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn validate_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "data_dir = \"/tmp/hub\"\nlisten = \"0.0.0.0:7400\"\ntime_zone = \"Asia/Tokyo\"\n\
         enrollment_code_hours = 48\nlog_format = \"json\"\n\
         [store_time_zones]\nwaikiki = \"Pacific/Honolulu\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    for (text, key) in [
        ("listn = \"127.0.0.1:1\"\n", "listn"),
        ("listen = \"here\"\n", "listen"),
        ("time_zone = \"Mars/Olympus\"\n", "time_zone"),
        ("enrollment_code_hours = 0\n", "enrollment_code_hours"),
        (
            "[store_time_zones]\nwaikiki = \"Hawaii/Waikiki\"\n",
            "`store_time_zones`: store \"waikiki\": \"Hawaii/Waikiki\" is not an IANA time zone",
        ),
        (
            "[store_time_zones]\n\"two words\" = \"Pacific/Honolulu\"\n",
            "`store_time_zones`: \"two words\": `store id` may hold only printable ASCII",
        ),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(BIN)
            .arg("validate")
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    // The hub runs under `sh -c 'umask 022; exec tenpo-hub serve …'`.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub-data");
    let script = format!(
        "umask 022; exec '{BIN}' --log-format json serve --listen 127.0.0.1:0 --data-dir '{}'",
        data.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_remove("TENPO_HUB_ADMIN_TOKEN")
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .env_remove("TENPO_HUB_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let ready = BufReader::new(stderr)
        .lines()
        .take(50)
        .any(|l| l.unwrap().contains("tenpo-hub ready"));
    assert!(ready, "the hub never said it was ready");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
        files += 1;
    }
    assert!(files >= 2, "hub.db and the admin token at least");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The audit path's index: every enrolled terminal, its mark, how many slots the hub holds
/// for it and when the latest came, in id order a page at a time; a bad page is refused.
#[tokio::test]
async fn terminals_are_listed_with_their_marks() {
    let hub = common::start().await;
    let admin = hub.admin();
    assert!(admin.all_terminals().await.unwrap().is_empty());
    let a = hub.enroll("st-1").await;
    let b = hub.enroll("st-2").await;
    hub.push(&a, &[common::provisional(&a, 1, "m-a", &card(1))])
        .await;
    hub.push(
        &a,
        &[
            common::provisional(&a, 2, "m-b", &card(2)),
            // seq 4 before 3: held, not applied past the gap.
            common::provisional(&a, 4, "m-c", &card(3)),
        ],
    )
    .await;
    let all = admin.all_terminals().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|t| t.terminal_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in id order");
    let view = |id: &str| all.iter().find(|t| t.terminal_id == id).unwrap().clone();
    let (va, vb) = (view(&a.terminal_id), view(&b.terminal_id));
    assert_eq!(
        (va.store_id.as_str(), va.acked_through, va.events_held),
        ("st-1", 2, 3)
    );
    assert!(va.last_received_at.is_some());
    assert_eq!(
        (
            vb.store_id.as_str(),
            vb.acked_through,
            vb.events_held,
            vb.last_received_at
        ),
        ("st-2", 0, 0, None)
    );
    // A page of one, then the next after it.
    let first = admin.terminals("", 1).await.unwrap();
    let next = admin.terminals(&first[0].terminal_id, 1).await.unwrap();
    assert_eq!(
        vec![first[0].terminal_id.clone(), next[0].terminal_id.clone()],
        ids
    );
    // 64 characters of any kind are an `after` (the document's `maxLength` counts characters):
    // found by Schemathesis with multi-byte ones.
    let r = hub
        .http
        .get(hub.url(&format!(
            "/v1/admin/terminals?after={}",
            common::encode(&"é".repeat(64))
        )))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Refused: a limit outside 1..=1000, an `after` longer than any id, no token.
    for query in [
        "limit=0",
        "limit=1001",
        &format!("after={}", "x".repeat(65)),
    ] {
        let r = hub
            .http
            .get(hub.url(&format!("/v1/admin/terminals?{query}")))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    let r = hub
        .http
        .get(hub.url("/v1/admin/terminals"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
