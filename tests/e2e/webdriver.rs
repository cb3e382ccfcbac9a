//! A minimal W3C WebDriver client over reqwest for Debian's chromium + chromedriver: enough to
//! navigate, type, click, read, check the layout and take screenshots, at a 390 px phone
//! viewport, a 1366 px desktop window, or any width (`start_width`).
//!
//! The e2e tests run several at once (`RUST_TEST_THREADS` in .cargo/config.toml), but at most
//! `AIOPS_TEST_BROWSERS` (default 2) tests drive browsers at a time: a test takes a browser
//! slot with its first `Driver` (its second, on the same thread, shares it) and gives it back
//! when its last one is dropped, so Chromium instances do not starve each other of the CPU.

use crate::harness::*;
use base64::Engine;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A small W3C WebDriver client (like the one in browser.rs), with a choice of viewport and
/// screenshots.
pub struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    /// This test's browser slot (given back when the driver is dropped, also on a panic).
    _slot: Slot,
}

/// How many tests may drive browsers at once.
static BROWSER_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        let n = std::env::var("AIOPS_TEST_BROWSERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2usize);
        tokio::sync::Semaphore::new(n.max(1))
    });

/// Per test thread: its drivers alive and the slot they share.
static SLOT_HOLDERS: std::sync::Mutex<
    Vec<(
        std::thread::ThreadId,
        usize,
        tokio::sync::SemaphorePermit<'static>,
    )>,
> = std::sync::Mutex::new(Vec::new());

/// One driver's share of its test's browser slot.
struct Slot(std::thread::ThreadId);

impl Slot {
    /// Take this test's browser slot (waiting while all are taken), or share the one it has.
    async fn take() -> Slot {
        let me = std::thread::current().id();
        {
            let mut h = SLOT_HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = h.iter_mut().find(|e| e.0 == me) {
                e.1 += 1;
                return Slot(me);
            }
        }
        let permit = BROWSER_SLOTS.acquire().await.expect("browser slots");
        SLOT_HOLDERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((me, 1, permit));
        Slot(me)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut h = SLOT_HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = h.iter().position(|e| e.0 == self.0) {
            h[i].1 -= 1;
            if h[i].1 == 0 {
                drop(h.swap_remove(i));
            }
        }
    }
}

impl Driver {
    /// `phone`: the 390 px wide mobile emulation; else a 1366 × 900 desktop window.
    pub async fn start(phone: bool) -> Driver {
        Self::start_width(if phone { 390 } else { 1366 }).await
    }

    /// A viewport `width` px wide: below 1024 a touch device (mobile emulation, 390 × 844 for
    /// phones, `width` × 1180 for tablets), else a `width` × 900 desktop window.
    pub async fn start_width(width: u32) -> Driver {
        let slot = Slot::take().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ];
        let mut options = json!({"binary": "/usr/bin/chromium"});
        let window = format!("--window-size={width},900");
        if width < 1024 {
            let height = if width < 600 { 844 } else { 1180 };
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}});
        } else {
            args.push(&window);
        }
        options["args"] = json!(args);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("WebDriver session: {v}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
            _slot: slot,
        }
    }

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        req = req.json(&body.unwrap_or(json!({})));
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .cmd(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "element {css} not found: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many elements match (0: absent from the DOM).
    pub async fn count(&self, css: &str) -> u64 {
        let js = format!(
            "return document.querySelectorAll({}).length",
            serde_json::to_string(css).unwrap()
        );
        self.script(&js).await.as_u64().unwrap_or(0)
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/clear"), None)
            .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Keystrokes into an element, without clearing it first.
    pub async fn send_keys(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
    }

    pub async fn script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Choose the option of a select by its value.
    pub async fn select(&self, css: &str, value: &str) {
        let js = format!(
            "const s = document.querySelector({}); s.value = {}; return s.value",
            serde_json::to_string(css).unwrap(),
            serde_json::to_string(value).unwrap()
        );
        assert_eq!(self.script(&js).await, value, "{css} has option {value}");
    }

    pub async fn text_of(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Wait until the element's text contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.text_of(css).await;
            if t.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed '{needle}'; it shows: {t}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// No sideways scrolling; else panics naming the elements that stick out.
    pub async fn assert_fits(&self, what: &str) {
        let v = self
            .script(
                // clientWidth: on touch devices innerWidth grows with what sticks out.
                "const w = document.documentElement.clientWidth;
                 if (document.documentElement.scrollWidth <= w + 1) return null;
                 return {scroll: document.documentElement.scrollWidth, width: w,
                   wide: [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > w + 1)
                     .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className)}",
            )
            .await;
        assert!(v.is_null(), "{what} scrolls sideways: {v}");
    }

    /// Log in through the form (after dropping any earlier session).
    pub async fn login(&self, s: &Server, email: &str, password: &str) {
        self.cmd(reqwest::Method::DELETE, "/cookie", None).await;
        self.goto(&s.url("/login")).await;
        self.type_into("input[name=email]", email).await;
        self.type_into("input[name=password]", password).await;
        self.click("#login-submit").await;
        self.find("#nav-toggle").await;
    }

    /// A PNG of what is on the screen (the viewport only), e.g. for the README.
    pub async fn screenshot_viewport(&self, path: &str) {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("screenshot"))
            .expect("base64 PNG");
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// A PNG of the whole page (beyond the viewport, through the DevTools protocol).
    pub async fn screenshot(&self, path: &str) {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.captureScreenshot",
                    "params": {"format": "png", "captureBeyondViewport": true}})),
            )
            .await;
        let b64 = match v["data"].as_str() {
            Some(d) => d.to_string(),
            // Fall back to the viewport.
            None => self
                .cmd(reqwest::Method::GET, "/screenshot", None)
                .await
                .as_str()
                .expect("screenshot")
                .to_string(),
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64 PNG");
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // End the WebDriver session first so that chromedriver closes Chromium.
        use std::io::{Read, Write};
        if let Some(addr) = self.base.strip_prefix("http://")
            && let Ok(mut conn) = std::net::TcpStream::connect(addr)
        {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                conn,
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = conn.read_to_end(&mut Vec::new());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
