//! Agents on the web (issue 16, items 5 and 6): Stop / Restart / Close through the web routes
//! with a real tmux session, another user's attempt refused (404, the agent keeps running), the
//! session history with "Start again", and the phone journey in Chromium: the dashboard shows
//! the agent's card first (project name, state in words) and its controls work.

use crate::harness::*;
use crate::terminal::{agent_server, read_until};
use crate::webdriver::Driver;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A logged-in browser-like client: its cookie and its CSRF token.
struct Web<'a> {
    s: &'a Server,
    cookie: String,
    csrf: String,
}

impl<'a> Web<'a> {
    async fn login(s: &'a Server, email: &str, password: &str) -> Web<'a> {
        let cookie = s.web_login(email, password).await;
        let mut w = Web {
            s,
            cookie,
            csrf: String::new(),
        };
        let (_, html) = w.get("/").await;
        w.csrf = page_csrf(&html).expect("the dashboard carries a CSRF token");
        w
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .s
            .client
            .get(self.s.url(path))
            .header("cookie", format!("aiops_session={}", self.cookie))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// A form post as htmx sends it (or as a plain form when `htmx` is false); the status,
    /// the flash message set, the Location, and the body.
    async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        htmx: bool,
    ) -> (StatusCode, String, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let mut req = self
            .s
            .client
            .post(self.s.url(path))
            .header("cookie", format!("aiops_session={}", self.cookie))
            .form(&form);
        if htmx {
            req = req.header("hx-request", "true");
        }
        let r = req.send().await.unwrap();
        let flash = set_cookies(&r)
            .into_iter()
            .find(|(k, _)| k == "aiops_flash")
            .map(|(_, v)| urldecode(&v))
            .unwrap_or_default();
        let location = r
            .headers()
            .get("location")
            .or_else(|| r.headers().get("hx-redirect"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (r.status(), flash, location, r.text().await.unwrap())
    }
}

fn urldecode(s: &str) -> String {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        let hex = (c == b'%' && tail.len() >= 2)
            .then(|| std::str::from_utf8(&tail[..2]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                rest = &tail[2..];
            }
            None => {
                out.push(c);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Poll the API until the session's state is one of `states`.
async fn wait_state(s: &Server, id: u64, states: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, v) = s
            .get(&s.admin_key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        if st.is_success() && states.iter().any(|x| v["state"] == *x) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} never reached {states:?}: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn session(s: &Server, id: u64) -> Value {
    let v = ok(
        s,
        &s.admin_key,
        Method::GET,
        "/api/v1/ai/sessions?limit=100",
        None,
    )
    .await;
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("session {id} listed: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn web_stops_restarts_and_closes_agents_and_keeps_a_history() {
    let (s, tmp, _p, id) = agent_server().await;
    wait_state(&s, id, &["running", "waiting"]).await;
    s.create_user("bob@example.com", "bob-password-1", false)
        .await;
    let bob = Web::login(&s, "bob@example.com", "bob-password-1").await;
    let ada = Web::login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Attack: another user cannot stop, restart, close or start again someone's agent: 404,
    // as for a missing session, and the agent keeps running.
    for action in ["stop", "restart", "close", "again"] {
        let (st, _, _, body) = bob
            .post(&format!("/sessions/{id}/{action}"), &[], true)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "bob {action}: {body}");
        assert!(body.contains(&format!("Session {id} not found")), "{body}");
    }
    let (_, panel) = bob.get("/agents").await;
    assert!(!panel.contains(&format!("agent-{id}")), "{panel}");
    wait_state(&s, id, &["running", "waiting"]).await;
    assert_eq!(session(&s, id).await["is_active"], true);
    // A form without the CSRF token is refused.
    let r = s
        .client
        .post(s.url(&format!("/sessions/{id}/stop")))
        .header("cookie", format!("aiops_session={}", ada.cookie))
        .form(&[("from", "dashboard")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    wait_state(&s, id, &["running", "waiting"]).await;

    // Admins switch to all users' agents (and may act on them); others only ever see theirs.
    let bob_id = s
        .create_user("bea@example.com", "bea-password-1", false)
        .await;
    let bea = Web::login(&s, "bea@example.com", "bea-password-1").await;
    let repo_dir = tmp.path().join("bea");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let bare = crate::git::seeded_bare(&repo_dir);
    let tenant = s.create_tenant("beas").await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            serde_json::json!({"name": "beaproj", "repo_url": bare.to_str().unwrap(),
                "tenant_id": tenant, "owner_id": bob_id}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let bp = v["project"]["id"].as_u64().unwrap();
    let bea_key = s
        .user_key("bea@example.com", "bea-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .post(
            &bea_key,
            &format!("/api/v1/projects/{bp}/ai/sessions"),
            serde_json::json!({"tool": "fake"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let bid = v["id"].as_u64().unwrap();
    wait_state(&s, bid, &["running", "waiting"]).await;
    let (_, mine) = ada.get("/").await;
    assert!(!mine.contains(&format!("id=\"agent-{bid}\"")), "{mine}");
    let (_, all) = ada.get("/?agents=all").await;
    assert!(
        all.contains("All users&#39;") || all.contains("All users'"),
        "{all}"
    );
    assert!(
        all.contains(&format!("id=\"agent-{bid}\"")) && all.contains("beaproj"),
        "{all}"
    );
    assert!(all.contains(&format!("user {bob_id}")), "{all}");
    let (_, theirs) = bea.get("/?agents=all").await;
    assert!(theirs.contains("My agents") && theirs.contains(&format!("agent-{bid}")));
    assert!(!theirs.contains(&format!("id=\"agent-{id}\"")), "{theirs}");
    let (st, _, _, _) = bea.post(&format!("/sessions/{id}/close"), &[], true).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, flash, _, body) = ada
        .post(
            &format!("/sessions/{bid}/close"),
            &[("from", "dashboard"), ("agents", "all")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(flash.contains(&format!("Closed session {bid}")), "{flash}");
    assert!(
        body.contains("All users") && !body.contains(&format!("agent-{bid}\"")),
        "{body}"
    );

    // The dashboard: the agent's card first, named by its project, its state in words.
    let (_, dash) = ada.get("/").await;
    let card = dash
        .find(&format!("id=\"agent-{id}\""))
        .expect("agent card");
    assert!(
        card < dash.find("id=\"dashboard-projects\"").expect("projects"),
        "agents come before the projects"
    );
    assert!(
        dash.contains("termproj") && dash.contains("Open terminal"),
        "{dash}"
    );
    assert!(
        ["working", "idle", "needs you"]
            .iter()
            .any(|w| dash.contains(w)),
        "{dash}"
    );

    // The terminal's socket tells the page the pane's state (the badge follows it).
    let bearer = ("authorization", format!("Bearer {}", s.admin_key));
    let mut ws = crate::terminal::connect(&s, id, bearer).await.unwrap();
    read_until(&mut ws, r#"{"type":"state","state":"running"}"#).await;

    // Control: the owner stops the agent; the session stays (exited, with Restart / Close).
    let (st, flash, _, body) = ada
        .post(
            &format!("/sessions/{id}/stop"),
            &[("from", "dashboard")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        flash.contains(&format!("Stopped the agent of session {id}")),
        "{flash}"
    );
    assert!(
        body.contains(&format!("agent-{id}")) && body.contains(">exited<"),
        "{body}"
    );
    assert!(
        body.contains("agent-restart") && body.contains("agent-close"),
        "{body}"
    );
    wait_state(&s, id, &["exited"]).await;
    assert_eq!(
        session(&s, id).await["is_active"],
        true,
        "stop keeps the session"
    );
    read_until(&mut ws, r#"{"type":"state","state":"exited"}"#).await;
    // Stopping again says so.
    let (st, flash, _, _) = ada
        .post(
            &format!("/sessions/{id}/stop"),
            &[("from", "dashboard")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(flash.contains("had already exited"), "{flash}");

    // Restart: the agent runs again in the same session.
    let (st, flash, _, body) = ada
        .post(
            &format!("/sessions/{id}/restart"),
            &[("from", "dashboard")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        flash.contains(&format!("Restarted the agent of session {id}")),
        "{flash}"
    );
    wait_state(&s, id, &["running", "waiting"]).await;
    read_until(&mut ws, r#"{"type":"state","state":"running"}"#).await;
    // From the terminal page the answer is the page's controls.
    let (st, _, _, body) = ada
        .post(
            &format!("/sessions/{id}/stop"),
            &[("from", "terminal")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        body.contains("agent-restart") && !body.contains("agent-stop"),
        "{body}"
    );
    wait_state(&s, id, &["exited"]).await;

    // Close: the session leaves the active list for the history.
    let (st, flash, _, body) = ada
        .post(
            &format!("/sessions/{id}/close"),
            &[("from", "dashboard")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(flash.contains(&format!("Closed session {id}")), "{flash}");
    assert!(!body.contains(&format!("agent-{id}\"")), "{body}");
    assert_eq!(session(&s, id).await["is_active"], false);
    // The terminal's socket closes with "the session ended".
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 4410, "{f:?}");
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
    let (_, dash) = ada.get("/").await;
    assert!(!dash.contains(&format!("id=\"agent-{id}\"")), "{dash}");
    // A closed session cannot be stopped any more: a clear conflict.
    let (st, _, _, body) = ada
        .post(
            &format!("/sessions/{id}/stop"),
            &[("from", "dashboard")],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("already ended"), "{body}");

    // The history lists it (project name, how it ended) with "Start again".
    let (st, hist) = ada.get("/agents/history").await;
    assert_eq!(st, StatusCode::OK);
    let entry = &hist[hist.find(&format!("id=\"history-{id}\"")).expect("listed")..];
    assert!(entry.contains("termproj"), "{entry}");
    assert!(entry.contains("agent exited, then closed"), "{entry}");
    assert!(entry.contains(&format!("/sessions/{id}/again")), "{entry}");
    let (_, theirs) = bob.get("/agents/history").await;
    assert!(!theirs.contains(&format!("history-{id}")), "{theirs}");
    let (_, _, _, bad) = ada.post(&format!("/sessions/{id}/nope"), &[], true).await;
    assert!(bad.contains("stop, restart or close"), "{bad}");

    // Start again (a plain form): a new session with the same tool and project, its terminal.
    let (st, flash, to, _) = ada
        .post(
            &format!("/sessions/{id}/again"),
            &[("from", "history")],
            false,
        )
        .await;
    assert!(st.is_redirection(), "{st}");
    assert!(flash.contains(&format!("like session {id}")), "{flash}");
    let new_id: u64 = to
        .trim_start_matches("/sessions/")
        .trim_end_matches("/terminal")
        .parse()
        .unwrap_or_else(|_| panic!("redirected to a terminal: {to}"));
    assert_ne!(new_id, id);
    let again = session(&s, new_id).await;
    assert_eq!(again["is_active"], true, "{again}");
    assert_eq!(again["tool"], "fake", "{again}");
    wait_state(&s, new_id, &["running", "waiting"]).await;
}

/// Click the element the selector finds now (the live panel is re-rendered by server-sent
/// events, so an element found earlier may have been replaced).
async fn tap(d: &Driver, css: &str) {
    d.find(css).await;
    let v = d
        .script(&format!(
            "const e = document.querySelector({}); if (!e) return false; e.click(); return true",
            serde_json::to_string(css).unwrap()
        ))
        .await;
    assert_eq!(v, true, "{css} tapped");
}

/// Every visible button and link of the agents panel is at least 44 px tall.
async fn assert_targets(d: &Driver, css: &str) {
    let small = d
        .script(&format!(
            "return [...document.querySelectorAll({})].filter(e => e.offsetParent !== null)
               .map(e => [e.className || e.tagName, e.getBoundingClientRect().height])
               .filter(x => x[1] < 44)",
            serde_json::to_string(css).unwrap()
        ))
        .await;
    assert_eq!(small, serde_json::json!([]), "targets under 44 px: {small}");
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_user_stops_restarts_and_closes_an_agent_from_the_dashboard() {
    let (s, _tmp, _p, id) = agent_server().await;
    wait_state(&s, id, &["running", "waiting"]).await;
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/")).await;
    let card = format!("#agent-{id}");
    d.wait_text(&card, "termproj").await;
    d.wait_text(&card, "Open terminal").await;
    let words = d.text_of(&card).await;
    assert!(
        ["working", "idle", "needs you"]
            .iter()
            .any(|w| words.contains(w)),
        "{words}"
    );
    // Agents first: the card starts on the first screen, above the projects.
    let v = d
        .script(&format!(
            "const c = document.querySelector('{card}').getBoundingClientRect();
             const n = document.querySelector('#dashboard-projects').getBoundingClientRect();
             return [c.top, n.top, window.innerHeight]"
        ))
        .await;
    let (top, stats, h) = (
        v[0].as_f64().unwrap(),
        v[1].as_f64().unwrap(),
        v[2].as_f64().unwrap(),
    );
    assert!(
        top < stats && top < h,
        "agent card at {top}, projects at {stats}, screen {h}"
    );
    assert_targets(&d, "#agents-panel a, #agents-panel button").await;
    d.assert_fits("the phone dashboard").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/agents-dashboard-390.png")
        .await;

    // An admin switches to every user's agents and back.
    tap(&d, "#agents-scope").await;
    d.wait_text("#agents-panel h2", "All users' agents").await;
    d.wait_text(&card, "termproj").await;
    tap(&d, "#agents-scope").await;
    d.wait_text("#agents-panel h2", "My agents").await;
    // The laptop view: the same cards, side by side.
    {
        let wide = Driver::start(false).await;
        wide.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        wide.goto(&s.url("/")).await;
        wide.wait_text(&card, "termproj").await;
        wide.assert_fits("the laptop dashboard").await;
        wide.screenshot("target/screenshots/agents-dashboard-1366.png")
            .await;
        wide.goto(&s.url(&format!("/sessions/{id}/terminal"))).await;
        wide.wait_text("#term-status", "connected").await;
        wide.wait_text("#term-head", "termproj").await;
        wide.assert_fits("the laptop terminal page").await;
        wide.screenshot("target/screenshots/agents-terminal-1366.png")
            .await;
    }

    // The confirms are accepted (hx-confirm asks the browser).
    d.script("window.confirm = () => true; return true").await;
    tap(&d, &format!("{card} .agent-stop")).await;
    d.wait_text(&card, "exited").await;
    d.wait_text("#toasts", &format!("Stopped the agent of session {id}"))
        .await;
    wait_state(&s, id, &["exited"]).await;
    d.screenshot("target/screenshots/agents-exited-390.png")
        .await;

    d.script("window.confirm = () => true; return true").await;
    tap(&d, &format!("{card} .agent-restart")).await;
    d.wait_text("#toasts", &format!("Restarted the agent of session {id}"))
        .await;
    wait_state(&s, id, &["running", "waiting"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.text_of(&card).await.contains("exited") {
        assert!(Instant::now() < deadline, "the card still says exited");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    d.script("window.confirm = () => true; return true").await;
    tap(&d, &format!("{card} .agent-close")).await;
    d.wait_text("#toasts", &format!("Closed session {id}"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.count(&card).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the closed agent is still listed"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    d.wait_text("#agents-panel", "No agent is running").await;

    // The history has it; "Start again" opens the new agent's terminal, whose badge follows
    // the agent: connected, then "Agent exited" after Stop on the terminal page.
    // The panel may be re-sent (server-sent events) at any moment: tap what is there now.
    tap(&d, "#agents-history").await;
    d.wait_text(&format!("#history-{id}"), "termproj").await;
    assert_targets(&d, "#session-history button").await;
    d.assert_fits("the session history").await;
    d.screenshot("target/screenshots/agents-history-390.png")
        .await;
    d.click(&format!("#history-{id} .agent-again")).await;
    d.wait_text("#term-status", "connected").await;
    d.wait_text(".xterm-rows", "fake agent ready").await;
    d.script("window.confirm = () => true; return true").await;
    d.click("#term-actions .agent-stop").await;
    d.wait_text("#term-status", "Agent exited — Restart / Close")
        .await;
    d.assert_fits("the terminal page").await;
    d.screenshot("target/screenshots/agents-terminal-exited-390.png")
        .await;
    d.click("#term-actions .agent-restart").await;
    d.wait_text("#term-status", "connected").await;
}
