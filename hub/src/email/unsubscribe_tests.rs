//! The tokens, and the pages' HTTP behaviour over a real socket. The store here is a fake in
//! memory: what the store does is tested on the store.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use super::*;

const KEY: [u8; 32] = [7; 32];

#[test]
fn a_token_names_its_member_and_nothing_else_passes() {
    let t = unsubscribe_token(&KEY, "m-0123456789").unwrap();
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{t}"
    );
    assert_eq!(
        check_unsubscribe_token(&KEY, &t).as_deref(),
        Some("m-0123456789")
    );
    assert_eq!(
        check_unsubscribe_token(&KEY, &unsubscribe_token(&KEY, "会員-1").unwrap()).as_deref(),
        Some("会員-1")
    );
    // Another key, a character changed anywhere, cut short, grown, or garbage: refused.
    assert_eq!(check_unsubscribe_token(&[8; 32], &t), None);
    for i in 0..t.len() {
        let mut forged = t.clone().into_bytes();
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(check_unsubscribe_token(&KEY, &forged), None, "{forged}");
    }
    assert_eq!(check_unsubscribe_token(&KEY, &t[..t.len() - 2]), None);
    assert_eq!(check_unsubscribe_token(&KEY, &format!("{t}AA")), None);
    for garbage in ["", "!!!", "AQ", &"A".repeat(5000)] {
        assert_eq!(check_unsubscribe_token(&KEY, garbage), None);
    }
    // Another member's id with this member's tag.
    let other = unsubscribe_token(&KEY, "m-0123456788").unwrap();
    let mut spliced = URL_SAFE_NO_PAD.decode(&other).unwrap();
    let tag = URL_SAFE_NO_PAD.decode(&t).unwrap();
    let n = spliced.len();
    spliced[n - TAG_BYTES..].copy_from_slice(&tag[tag.len() - TAG_BYTES..]);
    assert_eq!(
        check_unsubscribe_token(&KEY, &URL_SAFE_NO_PAD.encode(spliced)),
        None
    );
    // No key, no tokens: anyone could make them.
    assert!(matches!(
        unsubscribe_token(&[], "m-1"),
        Err(EmailError::ShortKey(0))
    ));
    assert_eq!(check_unsubscribe_token(&[], &t), None);
    assert_eq!(
        unsubscribe_url("https://hub.example/", &KEY, "m-1", Language::En).unwrap(),
        format!(
            "https://hub.example/u/{}?lang=en",
            unsubscribe_token(&KEY, "m-1").unwrap()
        )
    );
}

/// Members whose email is off; `fail` makes every call fail as a database away would.
#[derive(Default)]
struct Fake {
    off: Mutex<Vec<String>>,
    fail: bool,
}

impl Unsubscribe for Fake {
    async fn unsubscribe_email(
        &self,
        member_id: String,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.fail {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        let mut off = self.off.lock().unwrap();
        if off.contains(&member_id) {
            return Ok(false);
        }
        off.push(member_id);
        Ok(true)
    }
}

async fn serve(store: Arc<Fake>) -> String {
    let router: Router = routes(store, &KEY).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_page_asks_and_only_a_post_unsubscribes() {
    let store = Arc::new(Fake::default());
    let base = serve(store.clone()).await;
    let http = reqwest::Client::new();
    let token = unsubscribe_token(&KEY, "m-1").unwrap();
    let url = format!("{base}/u/{token}");

    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let page = r.text().await.unwrap();
    assert!(page.contains("メールの配信を停止する") && page.contains(r#"method="post""#));
    assert!(
        store.off.lock().unwrap().is_empty(),
        "a GET changed nothing"
    );
    let page = http
        .get(format!("{url}?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Stop these emails"), "{page}");
    let page = http
        .get(&url)
        .header("accept-language", "en-GB,en;q=0.9,ja;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"lang="en""#), "{page}");

    // RFC 8058's one-click POST, as a mail program sends it.
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("配信を停止しました"));
    assert_eq!(*store.off.lock().unwrap(), ["m-1"]);
    // Again: the same answer, nothing more.
    let r = http
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(*store.off.lock().unwrap(), ["m-1"]);
}

#[tokio::test]
async fn a_forged_token_or_a_stray_post_changes_nothing() {
    let store = Arc::new(Fake::default());
    let base = serve(store.clone()).await;
    let http = reqwest::Client::new();
    let forged = unsubscribe_token(&[9; 32], "m-1").unwrap();
    for path in [
        format!("/u/{forged}"),
        "/u/not-a-token".into(),
        "/u/%FF".into(),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("このリンクは使えません"));
        let r = http
            .post(format!("{base}{path}?lang=en"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("This link does not work"));
    }
    // A good token, but not a one-click request.
    let url = format!("{base}/u/{}", unsubscribe_token(&KEY, "m-2").unwrap());
    let r = http.post(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=Later")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(store.off.lock().unwrap().is_empty());

    // The store away: 503, and the page says to try again.
    let failing = Arc::new(Fake {
        fail: true,
        ..Fake::default()
    });
    let base = serve(failing).await;
    let r = http
        .post(format!(
            "{base}/u/{}",
            unsubscribe_token(&KEY, "m-2").unwrap()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("もう一度"));
    assert!(routes::<Fake, ()>(Arc::new(Fake::default()), &[1; 16]).is_err());
}
