//! The dashboard, project and issue pages against the original's web UI (issue 16, item 11):
//! project cards with open-issue counts and workspace state, narrowed by a search and a
//! tenant; pinned-issue cards with their actions (close on the tracker after a confirm,
//! unpin); the project page lists its open issues; agent controls on the project and issue
//! pages; the tool picker offers only installed tools. A developer sees only their projects'
//! cards and none of the admin's agents.

use crate::fakes::{Fake, Kind};
use crate::harness::*;
use crate::webdriver::Driver;
use serde_json::json;
use std::time::{Duration, Instant};

const AGENT: &str = "#!/bin/sh\necho fake agent ready\nwhile read -r l; do echo \"got $l\"; done\n";

async fn web_get(s: &Server, cookie: &str, path: &str) -> String {
    s.client
        .get(s.url(path))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The text of the element with this id in `html` (up to its closing `</ul>`/`</section>`).
fn section<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} on the page: {html}"));
    let stop = html[at..].find(end).map_or(html.len(), |e| at + e);
    &html[at..stop]
}

/// Click the element now matching `css` (after making confirms answer yes).
async fn tap(d: &Driver, css: &str) {
    d.find(css).await;
    let v = d
        .script(&format!(
            "window.confirm = () => true;
             const e = document.querySelector({}); if (!e) return false; e.click(); return true",
            serde_json::to_string(css).unwrap()
        ))
        .await;
    assert_eq!(v, true, "{css} tapped");
}

async fn wait_gone(d: &Driver, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while d.count(css).await > 0 {
        assert!(Instant::now() < deadline, "{css} still on the page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_cards_pinned_actions_and_agent_controls_on_project_and_issue_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = tmp.path().join("fake-agent");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={};ghost=/nonexistent/ghost-agent", agent.display());
    let gh = Fake::start(Kind::GitHub, "dash-token-1234").await;
    gh.seed_github(5, 0);
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let linked =
        crate::trackers::link(&s, &gh, "dash-token-1234", "octo/repo", json!({}), "acme").await;
    crate::trackers::sync(&s, &s.admin_key, json!({})).await;
    let globex = s.create_tenant("globex").await;
    let gp = s.create_project(&s.admin_key, "globex-api", globex).await;
    let dev = s
        .create_user("dev@example.com", "dev-password-123", false)
        .await;
    s.add_member("projects", gp, dev, "developer").await;
    let acme = linked.project;
    // A real repository to clone (the linked project's URL is a placeholder).
    let bare = crate::git::seeded_bare(tmp.path());
    ok(
        &s,
        &s.admin_key,
        reqwest::Method::PATCH,
        &format!("/api/v1/projects/{acme}"),
        Some(json!({"repo_url": bare.to_str().unwrap()})),
    )
    .await;

    // ---- project cards: counts, search, tenant filter ---------------------------------------
    let admin = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let dash = web_get(&s, &admin, "/").await;
    let cards = section(&dash, "project-cards", "</ul>");
    assert!(
        cards.contains("acme-proj") && cards.contains("globex-api"),
        "{cards}"
    );
    let acme_card = section(&dash, &format!("project-card-{acme}"), "</li>");
    // Issue 4 of the five is closed upstream.
    assert!(acme_card.contains("4 open issues"), "{acme_card}");
    assert!(acme_card.contains("No workspace yet"), "{acme_card}");
    let found = web_get(&s, &admin, "/?q=GLOBEX").await;
    let cards = section(&found, "project-cards", "</ul>");
    assert!(
        cards.contains("globex-api") && !cards.contains("acme-proj"),
        "{cards}"
    );
    let by_tenant = web_get(&s, &admin, &format!("/?tenant={}", linked.tenant)).await;
    let cards = section(&by_tenant, "project-cards", "</ul>");
    assert!(
        cards.contains("acme-proj") && !cards.contains("globex-api"),
        "{cards}"
    );
    let none = web_get(&s, &admin, "/?q=no-such-thing").await;
    assert!(none.contains("No project matches"), "{none}");
    // A developer's cards are only their projects (the control above shows both exist).
    let devc = s.web_login("dev@example.com", "dev-password-123").await;
    let theirs = web_get(&s, &devc, "/").await;
    let cards = section(&theirs, "project-cards", "</ul>");
    assert!(
        cards.contains("globex-api") && !cards.contains("acme-proj"),
        "{cards}"
    );

    // ---- the tool picker offers what is installed --------------------------------------------
    let page = web_get(&s, &admin, &format!("/projects/{acme}")).await;
    let picker = section(&page, "agent-start", "</section>");
    assert!(
        picker.contains("value=\"fake\"") && picker.contains("value=\"shell\""),
        "{picker}"
    );
    assert!(
        !picker.contains("value=\"ghost\"") && !picker.contains("value=\"claude\""),
        "{picker}"
    );
    assert!(
        picker.contains("Not installed here:") && picker.contains("ghost"),
        "{picker}"
    );
    // The project page lists its open issues.
    let issues = section(&page, "project-issues", "</section>");
    assert!(
        issues.contains("Open issues") && issues.contains("(4)"),
        "{issues}"
    );
    assert!(!issues.contains("Issue 4<"), "{issues}");

    // ---- pinned issues on the phone: close (confirmed, on the tracker), then unpin ----------
    let list = ok(
        &s,
        &s.admin_key,
        reqwest::Method::GET,
        &format!("/api/v1/issues?project_id={acme}"),
        None,
    )
    .await;
    let first = list["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "Issue 1")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let second = list["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "Issue 2")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url(&format!("/issues/{first}"))).await;
    tap(&d, "#pin-button").await;
    d.wait_text("#issue-detail", "Pinned to your dashboard.")
        .await;
    d.goto(&s.url("/")).await;
    d.wait_text("#pinned-issues", "Issue 1").await;
    d.assert_fits("the phone dashboard with cards").await;
    let small = d
        .script(
            "return [...document.querySelectorAll('#pinned-issues a, #pinned-issues button, #project-cards a, #dashboard-search button, #dashboard-search input')]
               .filter(e => e.offsetParent !== null)
               .map(e => [e.textContent.trim(), e.getBoundingClientRect().height])
               .filter(x => x[1] < 44)",
        )
        .await;
    assert_eq!(small, json!([]), "targets under 44 px: {small}");
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/dashboard-cards-390.png")
        .await;
    assert_eq!(
        d.script("return document.querySelector('#pinned-issues .pinned-close').closest('form').getAttribute('hx-confirm') !== null")
            .await,
        true,
        "closing on the tracker asks first"
    );
    gh.clear_requests();
    tap(&d, "#pinned-issues .pinned-close").await;
    d.wait_text("#toasts", "Issue closed.").await;
    wait_gone(&d, "#pinned-issues .pinned-close").await;
    assert!(
        gh.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.body["state"] == "closed"),
        "the close reached the tracker: {:?}",
        gh.requests()
    );
    tap(&d, "#pinned-issues .pinned-unpin").await;
    d.wait_text("#toasts", "Unpinned.").await;
    d.find("#no-pinned").await;

    // ---- agents on the project page: Stop, then Close, in place -----------------------------
    d.goto(&s.url(&format!("/projects/{acme}"))).await;
    d.select("#agent-start select[name=tool]", "fake").await;
    tap(&d, "#agent-start button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d.current_url().await.ends_with("/terminal") {
        assert!(
            Instant::now() < deadline,
            "no terminal: {} {}",
            d.current_url().await,
            d.text_of("main").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.goto(&s.url(&format!("/projects/{acme}"))).await;
    d.wait_text("#scoped-agents", "fake · session").await;
    d.wait_text("#scoped-agents", "Open terminal").await;
    tap(&d, "#scoped-agents .agent-stop").await;
    d.wait_text("#toasts", "Stopped the agent").await;
    d.wait_text("#scoped-agents", "exited").await;
    tap(&d, "#scoped-agents .agent-close").await;
    d.wait_text("#toasts", "Closed session").await;
    wait_gone(&d, "#scoped-agents .agent-card").await;
    d.assert_fits("the phone project page").await;

    // ---- an issue's agent shows on the issue page; nobody else sees it ----------------------
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{acme}/ai/sessions"),
            json!({"tool": "fake", "issue_id": second}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let sid = v["id"].as_u64().unwrap();
    d.goto(&s.url(&format!("/issues/{second}"))).await;
    d.wait_text("#scoped-agents", &format!("session {sid}"))
        .await;
    d.screenshot("target/screenshots/issue-agents-390.png")
        .await;
    // The developer asks for the admin's project and issue agent lists: nothing of them.
    let frag = web_get(&s, &devc, &format!("/projects/{acme}/agents")).await;
    assert!(!frag.contains("agent-card"), "{frag}");
    let frag = web_get(&s, &devc, &format!("/issues/{second}/agents")).await;
    assert!(!frag.contains("agent-card"), "{frag}");
    let frag = web_get(&s, &admin, &format!("/issues/{second}/agents")).await;
    assert!(frag.contains(&format!("agent-{sid}")), "control: {frag}");

    // A reload of a form's address (GET of a post-only route) lands on its page, not on a
    // plain-text "method not allowed".
    let r = s
        .client
        .get(s.url(&format!("/issues/{first}/close")))
        .header("cookie", format!("aiops_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/issues/{first}").as_str())
    );
    kill_tmux(&s.dir);
}

/// Plain forms (no htmx) that carry a confirm question ask it too: answering no sends nothing
/// (the user is still there), answering yes deletes.
#[tokio::test(flavor = "multi_thread")]
async fn plain_destructive_forms_ask_before_they_post() {
    let s = Server::start();
    let gone = s
        .create_user("gone@example.com", "gone-password-123", false)
        .await;
    let d = Driver::start(false).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/users")).await;
    let form = format!("form[action='/users/{gone}/delete']");
    d.find(&form).await;
    // Answer no: the submit is cancelled before it leaves the page.
    let cancelled = d
        .script(&format!(
            "window.confirm = () => false;
             let cancelled = null;
             document.addEventListener('submit', e => {{ cancelled = e.defaultPrevented; }}, {{once: true}});
             document.querySelector({}).requestSubmit();
             return cancelled",
            serde_json::to_string(&form).unwrap()
        ))
        .await;
    assert_eq!(cancelled, true, "answering no cancels the post");
    let (st, _) = s.get(&s.admin_key, &format!("/api/v1/users/{gone}")).await;
    assert_eq!(st, reqwest::StatusCode::OK, "answering no deleted nothing");
    d.script(&format!(
        "window.confirm = () => true; document.querySelector({}).requestSubmit(); return true",
        serde_json::to_string(&form).unwrap()
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, _) = s.get(&s.admin_key, &format!("/api/v1/users/{gone}")).await;
        if st == reqwest::StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "answering yes deletes the user");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
