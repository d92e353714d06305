//! The console in a real browser (docs/design.md §13, docs/console.md): headless Chromium signs a
//! CRM person in to the `tenpo-hub` binary's console, finds a member by the card code, adjusts
//! their points with a reason and sees a running `tenpo-agent` receive the change through the
//! feed, replaces the lost card and scans the new one on the till's scanner (a pseudo-terminal),
//! erases the member who asks (the till then refuses their card), and signs out. Refusals are taken as a browser would meet them: a post without its CSRF token
//! or with a forged one, an adjustment below zero, a viewer's post, an IT person opening a
//! member's file; each says why and changes nothing. The terminals page shows what the agent
//! reported on its calls.
//!
//! The pages' screenshots are taken on the way; with `TENPO_CONSOLE_SCREENSHOTS=DIR` they are
//! also written to DIR (how docs/console/*.png are made).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use serialport::{SerialPort, TTYPort};
use tenpo_e2e::browser::{Browser, LAPTOP};
use tenpo_e2e::card_code;
use tenpo_e2e::harness::{Agent, Hub, World, bin, sale_body, wait_for};
use tokio::process::Command;

const PASSWORD: &str = "correct horse battery";

/// `tenpo-hub staff add NAME --role ROLE --password-stdin`, as docs/console.md shows it, on the
/// stopped hub's data directory.
async fn add_staff(hub: &Hub, name: &str, role: &str) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(bin("tenpo-hub"))
        .args(["staff", "add", name, "--role", role, "--password-stdin"])
        .arg("--data-dir")
        .arg(hub.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "staff add {name}: {out:?}");
}

async fn sign_in(browser: &Browser, hub: &Hub, name: &str) {
    browser.goto(&format!("{}/console", hub.url())).await;
    browser.until_present("sign-in").await;
    let path = browser.path().await;
    assert!(
        path.starts_with("/console/sign-in"),
        "no session: the sign-in page, not {path}"
    );
    browser.fill("name", name).await;
    browser.fill("password", PASSWORD).await;
    browser.click("sign-in-button").await;
    browser.until_text("staff-name", name).await;
}

/// Signs out from the dashboard and waits for the hub's answer: a navigation started before the
/// sign-out's post is answered would cancel it, and the session would go on.
async fn sign_out(browser: &Browser, hub: &Hub) {
    browser.goto(&format!("{}/console", hub.url())).await;
    browser.click("sign-out").await;
    browser.until_text("notice", "サインアウトしました").await;
}

/// The number the element `id` shows.
async fn number_at(browser: &Browser, id: &str) -> i64 {
    let text = browser.text(id).await;
    text.trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("#{id} shows {text:?}, not a number"))
}

/// Waits (bounded, syncing the till each round) until the agent's view of `code` satisfies
/// `done`; the agent's last answer.
async fn at_the_till(agent: &Agent, code: &str, what: &str, done: impl Fn(&Value) -> bool) {
    wait_for(what, Duration::from_secs(60), || async {
        agent.trigger_sync().await;
        let seen = agent.member(code).await;
        done(&seen.body).then_some(())
    })
    .await;
}

async fn shoot(browser: &Browser, world: &World, name: &str) {
    let file = world.path().join(format!("{name}.png"));
    browser.screenshot_page(&file).await;
    let png = std::fs::read(&file).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
    if let Ok(dir) = std::env::var("TENPO_CONSOLE_SCREENSHOTS") {
        std::fs::copy(&file, Path::new(&dir).join(format!("{name}.png"))).unwrap();
    }
}

/// Submits the form `form` of the page as a browser would, after `tamper` (a script) changed it.
async fn submit_tampered(browser: &Browser, form: &str, tamper: &str) {
    browser
        .run(&format!(
            "const f = document.getElementById('{form}'); {tamper}; f.submit(); return true;"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_find_a_member_fix_their_account_and_the_tills_follow() {
    let world = World::new("console-browser");
    let mut hub = world.start_hub().await;
    let (old_card, new_card) = (card_code(23, 1), card_code(23, 2));
    hub.import_members(&world.members_csv("m.csv", &[(old_card.clone(), 300, 0)]))
        .await;
    hub.stop().await;
    for (name, role) in [("hanako", "crm"), ("taro", "viewer"), ("ken", "it")] {
        add_staff(&hub, name, role).await;
    }
    hub.start().await;

    // A till with a scanner on a pseudo-terminal, as a USB-serial scanner is.
    let (mut scanner, port) = TTYPort::pair().unwrap();
    let port = port.name().unwrap();
    let mut agent = world
        .enroll_agent("till", &hub, "shibuya", &hub.url())
        .await;
    agent.set_args(&[
        "--sync-interval-ms",
        "1000",
        "--scanner",
        &format!("serial:{port},baud=9600,terminator=cr"),
    ]);
    agent.start().await;
    let mut scans = agent.scans().await;
    let sale = agent
        .sale_ok(&sale_body("s-1", Some(&old_card), &[2_000], 0))
        .await;
    let at_till = sale["balance_after"].as_i64().unwrap();
    agent.trigger_sync().await;

    // Sign in, find the member by the card in hand.
    let browser = Browser::start(&world, LAPTOP).await;
    browser
        .goto(&format!("{}/console/sign-in", hub.url()))
        .await;
    shoot(&browser, &world, "sign-in").await;
    sign_in(&browser, &hub, "hanako").await;
    browser
        .goto(&format!("{}/console/members", hub.url()))
        .await;
    browser.fill("q", &format!("{old_card}\u{E007}")).await;
    browser.until_text("codes", &old_card).await;
    let member_page = browser.path().await;
    assert!(
        member_page.starts_with("/console/members/"),
        "{member_page}"
    );
    // The till's sale reaches the hub and the member's history, with the store.
    wait_for(
        "the sale in the history",
        Duration::from_secs(60),
        || async {
            browser.goto(&format!("{}{member_page}", hub.url())).await;
            (browser.text("history-table").await.contains("shibuya")
                && number_at(&browser, "balance").await == at_till)
                .then_some(())
        },
    )
    .await;

    // Adjust points with a reason: the page says so, the history and the till follow.
    browser.fill("adjust-points", "500").await;
    browser
        .fill("adjust-reason", "レジ障害のお詫び (問い合わせ 1234)")
        .await;
    browser.click("adjust-go").await;
    browser.until_present("notice").await;
    assert_eq!(number_at(&browser, "balance").await, at_till + 500);
    assert!(browser.text("history-table").await.contains("1234"));
    at_the_till(&agent, &old_card, "the adjustment at the till", |m| {
        m["points"]["balance"].as_i64() == Some(at_till + 500)
    })
    .await;

    // Refused, nothing changed: below zero, no CSRF token, a forged one.
    browser.fill("adjust-points", "-1000000").await;
    browser.fill("adjust-reason", "間違い").await;
    browser.click("adjust-go").await;
    browser.until_present("problem").await;
    assert_eq!(number_at(&browser, "balance").await, at_till + 500);
    for tamper in [
        "f.querySelector('input[name=csrf]').remove()",
        "f.querySelector('input[name=csrf]').value = 'forged-forged-forged-forged'",
    ] {
        browser.goto(&format!("{}{member_page}", hub.url())).await;
        browser.fill("adjust-points", "100").await;
        browser.fill("adjust-reason", "tampered").await;
        submit_tampered(&browser, "adjust", tamper).await;
        browser
            .until_text("title", "フォームを確認できませんでした")
            .await;
    }
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    assert_eq!(number_at(&browser, "balance").await, at_till + 500);

    // The card is lost: the new one takes everything, the old one is refused at every till.
    browser.fill("replace-new", &new_card).await;
    browser
        .fill("replace-reason", "カード紛失 (本人確認済み)")
        .await;
    browser.click("replace-go").await;
    browser.until_text("codes", &new_card).await;
    assert!(!browser.text("codes").await.contains(&old_card));
    wait_for(
        "the old card refused at the till",
        Duration::from_secs(60),
        || async {
            agent.trigger_sync().await;
            let seen = agent.member(&old_card).await;
            (seen.status == 422 && seen.code() == "invalid_member_code").then_some(())
        },
    )
    .await;
    scanner
        .write_all(format!("{new_card}\r").as_bytes())
        .unwrap();
    let scan = scans.next().await;
    assert_eq!(scan["outcome"], "member", "{scan}");
    assert_eq!(
        scan["member"]["points"]["balance"].as_i64(),
        Some(at_till + 500),
        "{scan}"
    );
    scanner
        .write_all(format!("{old_card}\r").as_bytes())
        .unwrap();
    let scan = scans.next().await;
    assert_eq!(scan["outcome"], "rejected", "the old card: {scan}");
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    shoot(&browser, &world, "member").await;

    // What the till said of itself on its calls.
    browser
        .goto(&format!("{}/console/terminals", hub.url()))
        .await;
    let row = format!("terminal-{}", agent.terminal_id());
    wait_for("the till's report", Duration::from_secs(60), || async {
        browser
            .goto(&format!("{}/console/terminals", hub.url()))
            .await;
        let text = browser.text(&row).await;
        text.contains(env!("CARGO_PKG_VERSION")).then_some(text)
    })
    .await;
    shoot(&browser, &world, "terminals").await;
    for page in ["reports", "program", "review", "messaging", "audit"] {
        browser.goto(&format!("{}/console/{page}", hub.url())).await;
        browser.until_text("staff-name", "hanako").await;
        if page == "reports" {
            // Counted in the background after the hub starts: the page says so until then.
            wait_for("the reports counted", Duration::from_secs(60), || async {
                browser
                    .goto(&format!("{}/console/reports", hub.url()))
                    .await;
                browser.has("as-of").await.then_some(())
            })
            .await;
        }
        if page == "messaging" {
            // What the adjusted member would be sent on joining, in their words.
            browser.fill("preview-member", &new_card).await;
            browser.click("preview-go").await;
            browser.until_present("preview-result").await;
        }
        if page == "audit" {
            assert!(browser.page_text().await.contains("カード紛失"));
        }
        shoot(&browser, &world, page).await;
    }

    // Sign out: the session is over, for every page.
    sign_out(&browser, &hub).await;
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    assert!(browser.path().await.starts_with("/console/sign-in"));

    // A viewer reads the file but has no actions; a post of theirs is refused all the same.
    sign_in(&browser, &hub, "taro").await;
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    browser.until_text("codes", &new_card).await;
    assert!(!browser.has("adjust-go").await);
    browser
        .run(&format!(
            "const f = document.createElement('form'); f.method = 'post';
             f.action = '{member_page}/adjust';
             for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],
                                   ['points', '100'], ['reason', 'viewer']]) {{
               const i = document.createElement('input'); i.name = k; i.value = v;
               f.appendChild(i);
             }}
             document.body.appendChild(f); f.submit(); return true;"
        ))
        .await;
    browser
        .until_text("title", "この操作の権限がありません")
        .await;
    assert!(browser.page_text().await.contains("crm"));
    sign_out(&browser, &hub).await;

    // IT sees the terminals, not members' files.
    sign_in(&browser, &hub, "ken").await;
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    browser
        .until_text("title", "この操作の権限がありません")
        .await;
    browser
        .goto(&format!("{}/console/terminals", hub.url()))
        .await;
    assert!(browser.has(&row).await);

    at_the_till(&agent, &new_card, "the balance, unchanged", |m| {
        m["points"]["balance"].as_i64() == Some(at_till + 500)
    })
    .await;
    sign_out(&browser, &hub).await;

    // The member asks to be erased: the operator checks who they are and types the number
    // again. The till drops them and refuses the card, with words the cashier can act on.
    sign_in(&browser, &hub, "hanako").await;
    browser.goto(&format!("{}{member_page}", hub.url())).await;
    browser.click("erase-identity").await;
    browser.fill("erase-number", &new_card).await;
    browser
        .fill("erase-reason", "本人の申し出 (身分証で確認)")
        .await;
    browser.click("erase-go").await;
    browser.until_present("erased").await;
    let refused = wait_for(
        "the erased member's card refused at the till",
        Duration::from_secs(60),
        || async {
            agent.trigger_sync().await;
            let seen = agent.member(&new_card).await;
            (seen.status == 422).then_some(seen)
        },
    )
    .await;
    assert!(
        refused.message().contains("cancelled by the head office"),
        "{:?}",
        refused.body
    );
    scanner
        .write_all(format!("{new_card}\r").as_bytes())
        .unwrap();
    let scan = scans.next().await;
    assert_eq!(
        scan["outcome"], "rejected",
        "the erased member's card: {scan}"
    );

    browser.client.close().await.unwrap();
    agent.stop().await;
    hub.stop().await;
}
