//! Headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`), on
//! loopback, for the tests of pages people use: the member card in LINE and the console.
//!
//! A test that cannot start the browser fails, saying why: these are test tools.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::harness::{World, free_port, wait_for};

/// A phone's window (the member card in LINE).
pub const PHONE: (u32, u32) = (390, 844);
/// A laptop's window (the console).
pub const LAPTOP: (u32, u32) = (1280, 900);
/// A tablet's window (the console at a store).
pub const TABLET: (u32, u32) = (820, 1180);

/// Chromium through chromedriver, headless, on loopback; stopped when dropped.
pub struct Browser {
    pub client: Client,
    _driver: Child,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

impl Browser {
    /// A browser with a fresh profile in the test's directory and a window of `size`.
    pub async fn start(world: &World, size: (u32, u32)) -> Browser {
        Browser::start_in(&world.path().join("chromium-profile"), size).await
    }

    pub async fn start_in(profile: &Path, (width, height): (u32, u32)) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian chromium-driver) is needed for this test");
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display())]
            }
        }))
        .expect("the capabilities are a JSON object");
        let url = format!("http://127.0.0.1:{port}");
        let client = wait_for("chromedriver starts", Duration::from_secs(30), || {
            let (url, caps) = (url.clone(), caps.clone());
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&url)
                    .await
                    .ok()
            }
        })
        .await;
        Browser {
            client,
            _driver: driver,
        }
    }

    /// Opens `url` (a test tool: panics when the browser cannot).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .expect("the browser opens the page");
    }

    /// The path (and query) of the page shown now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the page's URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Whether the page has an element `id`.
    pub async fn has(&self, id: &str) -> bool {
        self.client.find(Locator::Id(id)).await.is_ok()
    }

    /// Types `text` into the field `id`, after clearing it.
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("the field takes keys");
    }

    /// Clicks the element `id`.
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("nothing to click at #{id}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("#{id} does not take a click: {e}"));
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// The text of the element `id`, or nothing when there is none.
    pub async fn text(&self, id: &str) -> String {
        match self.client.find(Locator::Id(id)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (bounded) until the element `id` shows `what`.
    pub async fn until_text(&self, id: &str, what: &str) -> String {
        wait_for(
            &format!("#{id} shows {what:?}"),
            Duration::from_secs(30),
            || async {
                let t = self.text(id).await;
                t.contains(what).then_some(t)
            },
        )
        .await
    }

    /// Waits (bounded) until the page has an element `id`.
    pub async fn until_present(&self, id: &str) {
        wait_for(&format!("#{id}"), Duration::from_secs(30), || async {
            self.has(id).await.then_some(())
        })
        .await;
    }

    /// The whole page's text.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// A PNG of the whole page (the window made as tall as the page for it), written to `path`.
    pub async fn screenshot_page(&self, path: &Path) {
        let (width, height) = self
            .client
            .get_window_size()
            .await
            .expect("the window's size");
        let (width, height) = (
            u32::try_from(width).unwrap_or(LAPTOP.0),
            u32::try_from(height).unwrap_or(LAPTOP.1),
        );
        let tall = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .map_or(height, |h| {
                u32::try_from(h).unwrap_or(height).clamp(height, 4_000)
            });
        self.client
            .set_window_size(width, tall)
            .await
            .expect("the window resizes");
        self.screenshot(path).await;
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window resizes back");
    }

    /// A PNG of the window as it is now, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).expect("the screenshot is written");
    }
}
