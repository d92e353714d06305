//! The console over HTTP on loopback (docs/design.md §7, §13): sign-in and its lock-out, a
//! session that ended, forms without their CSRF token, roles refused, a search for nothing, an
//! adjustment below zero; each answered with a clear page and nothing changed. Then the changes
//! that go through: in the member's history and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use tenpo_hub::console::auth::hash_password;
use tenpo_hub::store::console::{ConsoleStore, Role, StaffStore};
use tenpo_hub::store::{AdminStore, TillStore};
use tenpo_loyalty::RuleSet;

const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: it keeps the cookies it is given and follows nothing.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            base: base.to_owned(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !text.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// Sends with the cookies kept, keeps the ones the answer sets: its status, body and
    /// `Location`.
    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
    ) -> (StatusCode, String, Option<String>) {
        let r = request
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status(), r.text().await.unwrap(), location)
    }

    async fn sign_in(
        &mut self,
        name: &str,
        password: &str,
    ) -> (StatusCode, String, Option<String>) {
        self.get("/console/sign-in?lang=en").await;
        let token = self.cookie("tenpo_console_sign_in").unwrap();
        self.post(
            "/console/sign-in",
            &[
                ("form_token", &token),
                ("name", name),
                ("password", password),
            ],
        )
        .await
    }

    /// The session's CSRF token, as its pages carry it.
    async fn csrf(&mut self) -> String {
        let (_, page, _) = self.get("/console").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..].split('"').next().unwrap().to_owned()
    }
}

async fn hub_with_staff() -> (common::Hub, String) {
    let hub = common::start().await;
    let now = Utc::now();
    let today = common::date("2026-11-20");
    hub.store.load_rules(RuleSet::demo(), now).await.unwrap();
    let code = common::card(1);
    let rows = vec![tenpo_hub::admin::ImportRow {
        line: 2,
        card_code: code.clone(),
        points: 100,
        qualifying_spend_yen: 0,
        birthday: None,
    }];
    hub.store.import_members(rows, today, now).await.unwrap();
    for (name, role) in [
        ("hanako", Role::Crm),
        ("taro", Role::Viewer),
        ("ken", Role::It),
    ] {
        let hash = hash_password(PASSWORD).unwrap();
        hub.store
            .add_staff(name.into(), role, hash, now)
            .await
            .unwrap();
    }
    (hub, code)
}

#[tokio::test]
async fn sign_in_locks_out_after_wrong_passwords_and_sessions_end() {
    let (hub, _) = hub_with_staff().await;
    let mut b = Browser::new(&hub.base);
    // Without a session, every page asks to sign in.
    let (status, _, to) = b.get("/console/members").await;
    assert_eq!(
        (status, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/sign-in"))
    );
    // A sign-in form without its own token (another site's) is refused.
    let (status, page, _) = b
        .post(
            "/console/sign-in",
            &[("name", "hanako"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("out of date") || page.contains("古く"),
        "{page}"
    );
    for _ in 0..4 {
        let (status, page, _) = b.sign_in("hanako", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("Wrong name or password"), "{page}");
    }
    let (status, unknown, _) = b.sign_in("nobody", "wrong password!").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{unknown}");
    let (status, page, _) = b.sign_in("hanako", "wrong password!").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("locked"), "{page}");
    // Locked: the right password is refused too.
    let (status, _, _) = b.sign_in("hanako", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(b.cookie("tenpo_console").is_none());
    let log = hub.store.staff_actions(None, 10, None).await.unwrap();
    assert_eq!(log[0].action, "sign_in_locked");

    // The viewer signs in; a cookie the hub never gave, or one of a session that ended, goes
    // back to sign-in saying so.
    let mut v = Browser::new(&hub.base);
    let (status, _, to) = v.sign_in("taro", PASSWORD).await;
    assert_eq!(
        (status, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console"))
    );
    let set = v.cookie("tenpo_console").unwrap();
    let (status, page, _) = v.get("/console").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("taro"));
    let csrf = v.csrf().await;
    let (status, _, to) = v.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to.as_deref(), Some("/console/sign-in?signed_out=1"));
    v.cookies.push(("tenpo_console".into(), set));
    let (status, _, to) = v.get("/console").await;
    assert_eq!(
        (status, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/sign-in?expired=1"))
    );
    let (_, page, _) = v.get("/console/sign-in?expired=1").await;
    assert!(page.contains("expired"), "{page}");
}

#[tokio::test]
async fn changes_need_the_role_the_csrf_token_and_a_sane_amount() {
    let (hub, code) = hub_with_staff().await;
    let member = hub
        .store
        .member_by_code(code.clone())
        .await
        .unwrap()
        .unwrap();
    let id = member.member_id.clone();
    let mut crm = Browser::new(&hub.base);
    crm.sign_in("hanako", PASSWORD).await;
    let csrf = crm.csrf().await;

    // A search for nothing, for junk, and for an unknown code: clear pages, nothing changed.
    let (status, _, _) = crm.get("/console/members?q=").await;
    assert_eq!(status, StatusCode::OK);
    let (status, page, _) = crm.get("/console/members?q=%00%01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    let (status, page, _) = crm.get("/console/members?q=2999999999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("No member has this code"), "{page}");
    let (status, _, to) = crm.get(&format!("/console/members?q={code}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, Some(format!("/console/members/{id}")));

    let adjust = format!("/console/members/{id}/adjust");
    // Without the CSRF token, or with a forged one: 403, nothing changed.
    for token in ["", "forged-token"] {
        let (status, page, _) = crm
            .post(
                &adjust,
                &[("csrf", token), ("points", "50"), ("reason", "x")],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    }
    // Below zero, and without a reason: the member's page says why, nothing changed.
    let (status, page, _) = crm
        .post(
            &adjust,
            &[("csrf", &csrf), ("points", "-101"), ("reason", "typo")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("below zero"), "{page}");
    let (status, page, _) = crm
        .post(
            &adjust,
            &[("csrf", &csrf), ("points", "5"), ("reason", " ")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("reason"), "{page}");
    let balance = |store: &tenpo_hub::store::SqliteStore| {
        let (store, code) = (store.clone(), code.clone());
        async move {
            let m = store.member_by_code(code).await.unwrap().unwrap();
            m.state.balance(common::date("2026-11-20"))
        }
    };
    assert_eq!(balance(&hub.store).await, 100);

    // A viewer may read the member, not change them.
    let mut viewer = Browser::new(&hub.base);
    viewer.sign_in("taro", PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let (status, page, _) = viewer.get(&format!("/console/members/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("id=\"adjust\""),
        "no action forms for a viewer"
    );
    let (status, page, _) = viewer
        .post(
            &adjust,
            &[("csrf", &viewer_csrf), ("points", "50"), ("reason", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("crm"), "says which role it needs: {page}");
    assert_eq!(balance(&hub.store).await, 100);

    // The adjustment that goes through: in the history and the audit log.
    let (status, _, to) = crm
        .post(
            &adjust,
            &[
                ("csrf", &csrf),
                ("points", "50"),
                ("reason", "late delivery"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page, _) = crm.get(&to.unwrap()).await;
    assert!(page.contains("Points adjusted"), "{page}");
    assert!(page.contains("late delivery"));
    assert_eq!(balance(&hub.store).await, 150);
    let (_, audit, _) = crm.get("/console/audit").await;
    assert!(
        audit.contains("Adjust points") && audit.contains("hanako"),
        "{audit}"
    );

    // A lost card: the new one takes everything.
    let new = common::card(2);
    let (status, _, _) = crm
        .post(
            &format!("/console/members/{id}/replace-card"),
            &[
                ("csrf", &csrf),
                ("old_code", &code),
                ("new_code", &new),
                ("reason", "lost"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        hub.store
            .member_by_code(code.clone())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        hub.store
            .member_by_code(new)
            .await
            .unwrap()
            .unwrap()
            .member_id,
        id
    );
    let (status, page, _) = crm.get(&format!("/console/members?q={code}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("revoked"), "{page}");

    // Every other page answers.
    for page in [
        "/console/terminals",
        "/console/review",
        "/console/program",
        "/console/reports",
    ] {
        let (status, body, _) = crm.get(page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    let (status, _, _) = crm.get("/console/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rule_set_with_an_error_is_shown_and_not_loaded() {
    let (hub, _) = hub_with_staff().await;
    let now = Utc::now();
    hub.store
        .add_staff(
            "admin".into(),
            Role::Admin,
            hash_password(PASSWORD).unwrap(),
            now,
        )
        .await
        .unwrap();
    let mut b = Browser::new(&hub.base);
    b.sign_in("admin", PASSWORD).await;
    let csrf = b.csrf().await;
    let mut rules = RuleSet::demo();
    rules.version += 1;
    let mut text = toml::to_string(&rules).unwrap();
    text = text.replace("months = ", "months = 999 #");
    let (status, page, _) = b
        .post(
            "/console/program",
            &[("csrf", &csrf), ("rules", &text), ("reason", "spring")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("nothing was loaded") && page.contains("must be between 1 and 120"),
        "{page}"
    );
    assert_eq!(
        hub.store.current_rules().await.unwrap().unwrap().version,
        RuleSet::demo().version
    );
    let good = toml::to_string(&rules).unwrap();
    let (status, page, _) = b
        .post(
            "/console/program",
            &[("csrf", &csrf), ("rules", &good), ("reason", "spring")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        hub.store.current_rules().await.unwrap().unwrap().version,
        rules.version
    );
    // A terminal call says what it runs.
    let _ = hub.store.terminal_health().await.unwrap();
}

#[tokio::test]
async fn messaging_shows_the_scenarios_the_outbox_and_a_preview_in_the_members_words() {
    let (hub, code) = hub_with_staff().await;
    let mut viewer = Browser::new(&hub.base);
    viewer.sign_in("taro", PASSWORD).await;
    let (status, page, _) = viewer.get("/console/messaging?lang=en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "off (no access token is set)",
        "not read yet",
        "id=\"scenario-welcome\"",
        "id=\"outbox-counts\"",
        "21:00 – 09:00",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    // A member's welcome, in their language: what LINE would show.
    let (status, page, _) = viewer
        .get(&format!(
            "/console/messaging?member={code}&scenario=welcome"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"preview-result\""), "{page}");
    assert!(page.contains("transactional"), "{page}");
    // Nobody, or no such scenario: said, nothing shown.
    let (status, page, _) = viewer
        .get("/console/messaging?member=2999999999999&scenario=welcome")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("no member has this card code"), "{page}");
    let (status, page, _) = viewer
        .get(&format!("/console/messaging?member={code}&scenario=spam"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("no scenario is called"), "{page}");
    // IT sees the page, not a member's words.
    let mut it = Browser::new(&hub.base);
    it.sign_in("ken", PASSWORD).await;
    let (status, page, _) = it.get("/console/messaging").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("id=\"preview\""), "{page}");
    let (status, _, _) = it
        .get(&format!(
            "/console/messaging?member={code}&scenario=welcome"
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A member who asks for their data, then to be erased (docs/design.md §7): each needs the
/// operator's identity check (and for erasure the number typed again), a viewer may do neither,
/// and both are in the audit log. Erased, the member's page says so and offers nothing more, the
/// card finds nobody, and the points were forfeited as the terms say.
#[tokio::test]
async fn a_member_gets_their_data_and_is_erased_with_the_identity_checked() {
    let (hub, code) = hub_with_staff().await;
    let id = hub
        .store
        .member_by_code(code.clone())
        .await
        .unwrap()
        .unwrap()
        .member_id;
    let mut crm = Browser::new(&hub.base);
    crm.sign_in("hanako", PASSWORD).await;
    let csrf = crm.csrf().await;
    let (_, page, _) = crm.get(&format!("/console/members/{id}")).await;
    assert!(
        page.contains("id=\"export\"") && page.contains("id=\"erase\""),
        "{page}"
    );
    let data = format!("/console/members/{id}/data");
    let erase = format!("/console/members/{id}/erase");
    let reason = ("reason", "asked at the counter");

    // Without the identity check: refused, said plainly.
    let (status, page, _) = crm.post(&data, &[("csrf", &csrf), reason]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("checked who is asking"), "{page}");
    // With it: the whole file as a JSON download, and the handover in the audit log.
    let r = reqwest::Client::new()
        .post(format!("{}{data}", hub.base))
        .header("cookie", crm.cookie_header())
        .form(&[("csrf", csrf.as_str()), reason, ("identity_checked", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let export: serde_json::Value = r.json().await.unwrap();
    assert_eq!(export["member_id"], id.as_str());
    assert_eq!(export["tables"]["member_codes"][0]["code"], code.as_str());
    let log = hub.store.staff_actions(None, 1, None).await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].staff.as_str()),
        ("export_member", "hanako")
    );

    // A viewer may not; a wrong number or no identity check erases nothing.
    let mut viewer = Browser::new(&hub.base);
    viewer.sign_in("taro", PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let (status, _, _) = viewer
        .post(
            &erase,
            &[
                ("csrf", &viewer_csrf),
                reason,
                ("identity_checked", "yes"),
                ("confirm_number", &code),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for form in [
        vec![
            ("csrf", csrf.as_str()),
            reason,
            ("identity_checked", "yes"),
            ("confirm_number", "2100000000999"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            reason,
            ("confirm_number", code.as_str()),
        ],
    ] {
        let (status, page, _) = crm.post(&erase, &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    }
    assert!(
        hub.store
            .member_by_code(code.clone())
            .await
            .unwrap()
            .is_some()
    );

    // Erased: the page says so, the card finds nobody, the points are gone.
    let (status, _, to) = crm
        .post(
            &erase,
            &[
                ("csrf", &csrf),
                reason,
                ("identity_checked", "yes"),
                ("confirm_number", &code),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page, _) = crm.get(&to.unwrap()).await;
    assert!(page.contains("id=\"erased\""), "{page}");
    assert!(!page.contains("id=\"erase\""), "nothing more to do: {page}");
    assert!(
        hub.store
            .member_by_code(code.clone())
            .await
            .unwrap()
            .is_none()
    );
    let log = hub.store.staff_actions(None, 1, None).await.unwrap();
    assert_eq!(log[0].action, "erase_member");
    assert_eq!(log[0].detail["forfeited_points"], 100);
}
