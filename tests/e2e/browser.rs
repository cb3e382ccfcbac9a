//! Headless Chromium (Debian's chromium + chromedriver) drives the web UI at a phone viewport.
//! A minimal W3C WebDriver client over reqwest: enough to navigate, type, click and read.

use crate::harness::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start() -> Driver {
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
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync"],
                "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0}}
            }
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
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        req = req.json(&body.unwrap_or(json!({})));
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
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

    async fn type_into(&self, css: &str, text: &str) {
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
    async fn send_keys(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
    }

    async fn script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    async fn text_of(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Wait until the element's text contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) {
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

    async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // End the WebDriver session first (a blocking HTTP DELETE: Drop cannot await), so that
        // chromedriver closes Chromium; killing chromedriver alone leaves the browser running.
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

#[tokio::test(flavor = "multi_thread")]
async fn phone_user_logs_in_and_creates_a_tenant_and_a_project() {
    let s = Server::start();
    let d = Driver::start().await;
    d.goto(&s.url("/tenants")).await;
    // Not logged in: sent to the login page.
    d.find("input[name=email]").await;
    assert!(
        d.current_url().await.contains("/login"),
        "{}",
        d.current_url().await
    );
    d.type_into("input[name=email]", ADMIN_EMAIL).await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("#login-submit").await;
    // Back where we wanted to go.
    d.find("#tenant-form").await;
    let width = d.script("return window.innerWidth").await;
    assert_eq!(width, 390, "phone viewport");
    // The navigation is collapsed behind a toggle on a phone.
    let toggle_visible = d
        .script("const e = document.getElementById('nav-toggle'); return !!e && e.getBoundingClientRect().width > 0")
        .await;
    assert_eq!(toggle_visible, true, "nav toggle visible at 390 px");

    d.type_into("#tenant-form input[name=name]", "Phone Tenant")
        .await;
    d.type_into("#tenant-form [name=description]", "made on a phone")
        .await;
    d.click("#tenant-submit").await;
    d.wait_text("#tenant-list", "Phone Tenant").await;
    let overflow = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(
        overflow, true,
        "no horizontal scrolling on the tenants page"
    );

    d.goto(&s.url("/projects")).await;
    d.type_into("#project-form input[name=name]", "Phone Project")
        .await;
    d.type_into(
        "#project-form input[name=repo_url]",
        "https://example.com/o/phone.git",
    )
    .await;
    // Pick the tenant just created.
    d.script(
        "const sel = document.querySelector('#project-form select[name=tenant_id]');
         const opt = [...sel.options].find(o => o.text.includes('Phone Tenant'));
         sel.value = opt.value; return sel.value",
    )
    .await;
    d.click("#project-submit").await;
    d.wait_text("#project-list", "Phone Project").await;
    let overflow = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(
        overflow, true,
        "no horizontal scrolling on the projects page"
    );

    // The API sees what the UI made.
    let (_, projects) = s.get(&s.admin_key, "/api/v1/projects").await;
    let p = &projects["projects"][0];
    assert_eq!(p["name"], "Phone Project");
    assert_eq!(p["tenant_name"], "Phone Tenant");
    assert_eq!(p["repo_url"], "https://example.com/o/phone.git");
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_user_filters_issues_and_comments_with_htmx() {
    use crate::fakes::{Fake, Kind};
    let gh = Fake::start(Kind::GitHub, "phone-token-1234").await;
    gh.seed_github(60, 0);
    let s = Server::start();
    crate::trackers::link(
        &s,
        &gh,
        "phone-token-1234",
        "octo/repo",
        serde_json::json!({}),
        "phoneco",
    )
    .await;
    crate::trackers::sync(&s, &s.admin_key, serde_json::json!({})).await;

    let d = Driver::start().await;
    d.goto(&s.url("/issues")).await;
    d.type_into("input[name=email]", ADMIN_EMAIL).await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("#login-submit").await;
    d.find("#issue-filters").await;
    d.wait_text("#issue-results", "60 issue(s)").await;
    // Typing in the search box narrows the list in place (htmx partial update).
    d.type_into("#issue-filters input[name=q]", "Issue 42")
        .await;
    d.wait_text("#issue-results", "1 issue(s)").await;
    assert!(d.text_of("#issue-list").await.contains("Issue 42"));
    assert!(
        d.current_url().await.contains("q=Issue"),
        "the filter is in the URL: {}",
        d.current_url().await
    );
    let fits = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "no horizontal scrolling on the issues page");

    d.click("#issue-list a").await;
    d.find("#comment-form").await;
    d.type_into("#comment-form textarea[name=body]", "Sent from a phone")
        .await;
    d.click("#comment-submit").await;
    d.wait_text("#issue-detail", "Comment added.").await;
    d.wait_text("#issue-detail", "Sent from a phone").await;
    let fits = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "no horizontal scrolling on the issue page");
    assert!(
        gh.requests()
            .iter()
            .any(|r| r.method == "POST"
                && r.body == serde_json::json!({"body": "Sent from a phone"})),
        "the comment reached the tracker"
    );
    d.click("#pin-button").await;
    d.wait_text("#issue-detail", "Pinned to your dashboard.")
        .await;
    d.goto(&s.url("/")).await;
    d.wait_text("#pinned-issues", "Issue 42").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_user_types_into_the_browser_terminal_and_sees_the_echo() {
    let (s, _tmp, _p, id) = crate::terminal::agent_server().await;
    let d = Driver::start().await;
    d.goto(&s.url("/login")).await;
    d.type_into("input[name=email]", ADMIN_EMAIL).await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("#login-submit").await;
    d.find("#nav-toggle").await;
    // The dashboard links the running agent's terminal.
    d.goto(&s.url("/")).await;
    d.find(&format!("a.terminal-link[href='/sessions/{id}/terminal']"))
        .await;
    d.goto(&s.url(&format!("/sessions/{id}/terminal"))).await;
    d.wait_text("#term-status", "connected").await;
    d.wait_text(".xterm-rows", "fake agent ready").await;
    d.send_keys(".xterm-helper-textarea", "typed-in-chromium\n")
        .await;
    d.wait_text(".xterm-rows", "agent got: typed-in-chromium")
        .await;
    // The on-screen keys: Ctrl-C stops the fake agent (its pane shows it has ended).
    d.click("[data-key=ctrl-c]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = s
            .get(&s.admin_key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        if v["state"] == "exited" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Ctrl-C did not reach the agent: {v}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let keys = d
        .script("return document.querySelectorAll('#term-keys button').length")
        .await;
    assert!(keys.as_u64().unwrap_or(0) >= 9, "{keys}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_runs_a_playbook_from_the_web_and_watches_its_output_live() {
    let s = Server::start();
    std::fs::write(
        s.dir.join("ansible/playbooks/slow.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: \"first-step\"\n    - ansible.builtin.command: sleep 2\n    - ansible.builtin.debug:\n        msg: \"last-step\"\n",
    )
    .unwrap();
    let d = Driver::start().await;
    d.goto(&s.url("/login")).await;
    d.type_into("input[name=email]", ADMIN_EMAIL).await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("#login-submit").await;
    d.find("#nav-toggle").await;
    d.goto(&s.url("/ansible")).await;
    d.find("#run-form").await;
    d.script("document.querySelector('#run-form select[name=playbook]').value = 'slow.yml'")
        .await;
    d.type_into("#run-form input[name=hosts]", "localhost")
        .await;
    d.click("#run-form button[type=submit]").await;
    // The run page follows the output as it comes, then shows the result.
    d.wait_text("#run-output", "first-step").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if d.text_of("#run-status").await == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            d.text_of("#run-output").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = d.text_of("#run-output").await;
    assert!(
        out.contains("last-step") && out.contains("PLAY RECAP"),
        "{out}"
    );
    assert_eq!(
        out.matches("first-step").count(),
        1,
        "each line once: {out}"
    );
}
