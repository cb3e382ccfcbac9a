//! Headless Chromium (Debian's chromium + chromedriver) drives the web UI at a phone viewport.
//! A minimal W3C WebDriver client over reqwest: enough to navigate, type, click and read.

use crate::harness::*;
use crate::webdriver::Driver;

use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn phone_user_logs_in_and_creates_a_tenant_and_a_project() {
    let s = Server::start();
    let d = Driver::start(true).await;
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

    let d = Driver::start(true).await;
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
    let d = Driver::start(true).await;
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
    let d = Driver::start(true).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn the_service_worker_registers_and_controls_the_page_after_a_reload() {
    let s = Server::start();
    let d = Driver::start(true).await;
    d.goto(&s.url("/login")).await;
    d.find("input[name=email]").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = d
            .script("return !!navigator.serviceWorker && !!navigator.serviceWorker.controller")
            .await;
        if ready == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no service worker controls the page"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        d.goto(&s.url("/login")).await;
        d.find("input[name=email]").await;
    }
    let url = d
        .script("return navigator.serviceWorker.controller.scriptURL")
        .await;
    assert!(url.as_str().unwrap().ends_with("/sw.js"), "{url}");
}
