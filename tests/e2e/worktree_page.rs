//! "Close + remove worktree" on the agents panel, in Chromium at 390 px (issue 18): a scripted
//! agent works on an issue in its own git worktree (the project's repository is a local bare
//! one); pressing the control and accepting its confirm with an uncommitted file in the
//! worktree shows the refusal next to the control and the worktree (and session) stay; with
//! the file gone the same press closes the session and removes the worktree directory.

use crate::fakes::{Fake, Kind};
use crate::git::seeded_bare;
use crate::harness::*;
use crate::webdriver::Driver;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const AGENT: &str = "#!/bin/sh\necho \"agent up for issue $AIOPS_ISSUE_ID\"\nwhile IFS= read -r line; do echo \"agent got: $line\"; done\n";

async fn session(s: &Server, id: u64) -> Value {
    let all = ok(s, &s.admin_key, Method::GET, "/api/v1/ai/sessions", None).await;
    all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("session {id} in {all}"))
}

/// Accept the confirm dialog the last click opened (waiting for it to open).
async fn accept_confirm(d: &Driver) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = d.cmd(Method::GET, "/alert/text", None).await;
        if let Some(text) = v.as_str() {
            d.cmd(Method::POST, "/alert/accept", None).await;
            return text.to_string();
        }
        assert!(Instant::now() < deadline, "no confirm dialog opened: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn close_and_remove_worktree_refuses_uncommitted_work_then_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("wt-agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(1, 0);
    let tenant = s.create_tenant("wtpage").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "wtproj", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "github", "name": "gh",
                   "base_url": gh.url, "api_token": "gh-token"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let integ = v["integration"]["id"].as_u64().unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p, "external_identifier": "octo/repo"})),
    )
    .await;
    ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/issues/sync",
        Some(json!({"project_id": p})),
    )
    .await;
    let list = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/issues?project_id={p}"),
        None,
    )
    .await;
    let issue = list["issues"][0]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let sv = session(&s, id).await;
    let branch = sv["branch"]
        .as_str()
        .unwrap_or_else(|| panic!("{sv}"))
        .to_string();
    let wt = PathBuf::from(sv["workspace_path"].as_str().unwrap());
    assert!(wt.join(".git").is_file(), "a worktree: {}", wt.display());
    std::fs::write(wt.join("scratch.txt"), "not committed\n").unwrap();

    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/")).await;
    let card = format!("#agent-{id}");
    d.wait_text(&format!("{card} .agent-worktree"), &branch)
        .await;
    d.assert_fits("the agents panel with a worktree session at 390 px")
        .await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/worktree-card-390.png")
        .await;

    // ---- refused: an uncommitted file -------------------------------------------------------
    d.click(&format!("{card} button.agent-close-remove")).await;
    let asked = accept_confirm(&d).await;
    assert!(
        asked.contains(&branch) && asked.contains("remove its worktree"),
        "{asked}"
    );
    d.wait_text(&format!("{card} .hx-outcome.error"), "uncommitted change")
        .await;
    d.assert_fits("the refusal at 390 px").await;
    d.screenshot("target/screenshots/worktree-refused-390.png")
        .await;
    assert!(wt.join("scratch.txt").exists(), "the worktree stays");
    assert_eq!(
        session(&s, id).await["is_active"],
        true,
        "and the session runs"
    );

    // ---- control: with the file gone the same press removes it ------------------------------
    std::fs::remove_file(wt.join("scratch.txt")).unwrap();
    d.goto(&s.url("/")).await;
    d.click(&format!("{card} button.agent-close-remove")).await;
    accept_confirm(&d).await;
    d.wait_text("#toasts", &format!("Closed session {id}"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.count(&card).await > 0 {
        assert!(Instant::now() < deadline, "the card stays on the panel");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.screenshot("target/screenshots/worktree-removed-390.png")
        .await;
    assert!(
        !wt.exists(),
        "the worktree directory is gone: {}",
        wt.display()
    );
    assert_eq!(session(&s, id).await["is_active"], false);
    kill_tmux(&s.dir);
}
