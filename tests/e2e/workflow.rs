//! The whole agent workflow on one issue: `aiops issues work` claims a synced issue on the fake
//! GitHub and starts a scripted fake agent in tmux; the agent reads AGENTS.override.md, writes a
//! file and runs `aiops workflow submit` (commit + push over the real sshd + comment) and
//! `aiops workflow complete` (comment + close) with its own session key.

use crate::fakes::{Fake, Kind};
use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use crate::ssh::Sshd;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const AGENT: &str = r#"#!/bin/sh
echo "agent up for issue $AIOPS_ISSUE_ID"
IFS= read -r prompt
echo "prompt: $prompt"
grep -q "issue-context:start" AGENTS.override.md && echo "CONTEXT-OK"
echo "implemented by the agent" > feature.txt
aiops workflow progress "$AIOPS_ISSUE_ID" "implementing" --comment "Writing feature.txt" && echo "PROGRESS-OK"
aiops workflow submit "$AIOPS_ISSUE_ID" --project "$AIOPS_PROJECT_ID" -m "Add feature for issue $AIOPS_ISSUE_ID" --comment "Tests pass" && echo "SUBMIT-OK"
aiops workflow complete "$AIOPS_ISSUE_ID" --summary "Feature added" && echo "COMPLETE-OK"
while IFS= read -r line; do echo "agent got: $line"; printf 'Next? '; done
"#;

async fn wait_output(s: &Server, id: u64, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (st, v) = s
            .get(
                &s.admin_key,
                &format!("/api/v1/ai/sessions/{id}/output?lines=500"),
            )
            .await;
        let out = v["output"].as_str().unwrap_or("").to_string();
        if st.is_success() && out.contains(needle) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} never printed {needle:?}: {st}\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_work_agent_submits_over_ssh_and_completes_on_the_tracker() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("fake-agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();

    // The tracker: two issues, the first with a comment.
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(2, 0);
    gh.add_github_comments(1, 1);

    // Git over a real sshd with a generated tenant key.
    let tenant = s.create_tenant("flow").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/admin/ssh-keys",
            json!({"name": "deploy", "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let public = v["ssh_key"]["public_key"].as_str().unwrap().to_string();
    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public], None);
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "flowproj", "repo_url": sshd.url(&bare), "tenant_id": tenant}),
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
    let id_of = |ext: &str| {
        list["issues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["external_id"] == ext)
            .and_then(|i| i["id"].as_u64())
            .unwrap_or_else(|| panic!("issue {ext} in {list}"))
    };
    let issue = id_of("1");

    // Claiming needs a tracker identity: a clear 400 without one.
    let (ok_, _, err) = cli(&s, &["workflow", "claim", &issue.to_string()]);
    assert!(!ok_);
    assert!(err.contains("No github identity configured"), "{err}");
    ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/auth/identity",
        Some(json!({"github_username": "octocat"})),
    )
    .await;

    // Global agent instructions, set through the CLI.
    let guide = tmp.path().join("guide.md");
    std::fs::write(&guide, "Always run the tests.\n").unwrap();
    cli_ok(
        &s,
        &["agents", "global", "set", "-f", guide.to_str().unwrap()],
    );
    let g = cli_ok(&s, &["agents", "global", "get"]);
    assert!(g.contains("Always run the tests."), "{g}");

    // `issues work`: claim (assigned on GitHub) + a new agent session with the context file.
    let out = cli_ok(
        &s,
        &["issues", "work", &issue.to_string(), "--tool", "fake"],
    );
    assert!(
        out.contains(&format!("Issue {issue} claimed successfully")),
        "{out}"
    );
    assert!(out.contains("AI session started"), "{out}");
    assert!(
        out.contains("Context: AGENTS.override.md populated"),
        "{out}"
    );
    let assigned = gh
        .requests()
        .into_iter()
        .any(|r| r.method == "PATCH" && r.body.to_string().contains("octocat"));
    assert!(assigned, "claim assigns on GitHub");
    let sessions = ok(&s, &k, Method::GET, "/api/v1/ai/sessions", None).await;
    let session = sessions["sessions"][0].clone();
    let sid = session["id"].as_u64().unwrap();
    assert_eq!(session["issue_id"], issue);

    // The context file: global instructions, the issue, its comment, the other issue, identity.
    let ws = Path::new(session["workspace_path"].as_str().unwrap()).to_path_buf();
    let ctx = std::fs::read_to_string(ws.join("AGENTS.override.md")).unwrap();
    assert!(ctx.starts_with("Always run the tests."), "{ctx}");
    assert!(ctx.contains("<!-- issue-context:start -->"), "{ctx}");
    assert!(ctx.contains("# 1 - Issue 1"), "{ctx}");
    assert!(ctx.contains("Body of issue 1"), "{ctx}");
    assert!(ctx.contains("## Issue Comments (1)"), "{ctx}");
    assert!(ctx.contains("[github] 2: Issue 2"), "{ctx}");
    assert!(ctx.contains("## Git Identity"), "{ctx}");
    assert_eq!(ctx.matches("<!-- issue-context:start -->").count(), 1);

    // The agent works: progress, submit (commit + push over ssh + comment), complete.
    let out = wait_output(&s, sid, "COMPLETE-OK").await;
    assert!(out.contains("CONTEXT-OK"), "{out}");
    assert!(out.contains("PROGRESS-OK"), "{out}");
    assert!(out.contains("SUBMIT-OK"), "{out}");
    // The issue session works in its own worktree and pushed its own branch.
    let branch = format!("aiops/{issue}-issue-1");
    assert_eq!(session["branch"], branch.as_str(), "{session}");
    let log = sh_git(&bare, &["log", "--format=%s", "-1", &branch]);
    assert_eq!(log.trim(), format!("Add feature for issue {issue}"));
    let tree = sh_git(&bare, &["ls-tree", "--name-only", &branch]);
    assert!(tree.contains("feature.txt"), "{tree}");
    assert!(
        !tree.contains("AGENTS.override.md"),
        "the generated context file is never committed: {tree}"
    );
    assert!(sshd.log().contains("Accepted publickey"));
    let comments: Vec<String> = gh.state.lock().unwrap().comments["1"]
        .iter()
        .map(|c| c["body"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("**Status Update:** implementing")),
        "{comments:?}"
    );
    let submitted = comments
        .iter()
        .find(|c| c.starts_with("**Changes Committed**"))
        .unwrap_or_else(|| panic!("{comments:?}"));
    assert!(submitted.contains("Tests pass"), "{submitted}");
    assert!(submitted.contains("pushed to `"), "{submitted}");
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("**✅ Issue Completed**") && c.contains("Feature added")),
        "{comments:?}"
    );
    let state = gh
        .state
        .lock()
        .unwrap()
        .issues
        .iter()
        .find(|i| i["number"] == 1)
        .map(|i| i["state"].clone());
    assert_eq!(state, Some(json!("closed")));
    let got = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/issues/{issue}"),
        None,
    )
    .await;
    assert_eq!(got["issue"]["status_key"], "closed", "{got}");

    // The same issue again: the running session is reused, no second agent.
    let out = cli_ok(
        &s,
        &["issues", "start", &issue.to_string(), "--tool", "fake"],
    );
    assert!(out.contains(&format!("Reusing session {sid}")), "{out}");
    let (st, again) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(again["existing"], true);
    assert_eq!(again["context_populated"], false);
    let live = ok(
        &s,
        &k,
        Method::GET,
        "/api/v1/ai/sessions?active_only=true",
        None,
    )
    .await;
    assert_eq!(live["sessions"].as_array().unwrap().len(), 1, "{live}");

    // Regenerating keeps hand-written notes and never duplicates the block or separators.
    let with_notes = ctx.replacen(
        "<!-- aiops:base-end -->",
        "<!-- aiops:base-end -->\n\n---\n\nMy notes: keep it small.",
        1,
    );
    std::fs::write(ws.join("AGENTS.override.md"), &with_notes).unwrap();
    for _ in 0..2 {
        let out = cli_ok(&s, &["issues", "context", &issue.to_string()]);
        assert!(out.contains("AGENTS.override.md"), "{out}");
    }
    let regenerated = std::fs::read_to_string(ws.join("AGENTS.override.md")).unwrap();
    assert!(
        regenerated.contains("My notes: keep it small."),
        "{regenerated}"
    );
    assert_eq!(
        regenerated.matches("<!-- issue-context:start -->").count(),
        1
    );
    assert_eq!(regenerated.matches("Always run the tests.").count(), 1);
    assert_eq!(regenerated.matches("\n---\n").count(), 2, "{regenerated}");
    // The closed state and the new comments are in the regenerated block.
    assert!(regenerated.contains("- Status: closed"), "{regenerated}");

    // Approval requests and the global-context admin rule.
    let out = cli_ok(
        &s,
        &[
            "workflow",
            "approve",
            &issue.to_string(),
            "-m",
            "Please look",
        ],
    );
    assert!(out.contains("Approval requested"), "{out}");
    s.create_user("dev@example.com", "dev-password-1", false)
        .await;
    let dev = s
        .user_key("dev@example.com", "dev-password-1", &["read", "write"])
        .await;
    let (st, _) = s
        .call(
            &dev,
            Method::PUT,
            "/api/v1/agents/global",
            Some(json!({"content": "mine"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Another user cannot claim or complete an issue of a project they cannot see.
    let (st, _) = s
        .post(
            &dev,
            "/api/v1/workflows/complete-issue",
            json!({"issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The web: the issue page offers the agent and the context file; the instructions page.
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let web_get = |path: String| {
        let req = s
            .client
            .get(s.url(&path))
            .header("cookie", format!("aiops_session={cookie}"));
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let web_post = |path: String, form: Vec<(&'static str, String)>| {
        let cookie = cookie.clone();
        let s = &s;
        async move {
            let r = s
                .client
                .get(s.url("/"))
                .header("cookie", format!("aiops_session={cookie}"))
                .send()
                .await
                .unwrap();
            let csrf = page_csrf(&r.text().await.unwrap()).unwrap();
            let mut form = form;
            form.push(("csrf_token", csrf));
            let r = s
                .client
                .post(s.url(&path))
                .header("cookie", format!("aiops_session={cookie}"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let loc = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            (r.status(), loc, r.text().await.unwrap())
        }
    };
    let (st, html) = web_get(format!("/issues/{issue}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Work on it with an agent"), "{html}");
    assert!(html.contains("Populate AGENTS.override.md"));
    let (st, _, html) = web_post(format!("/issues/{issue}/context"), vec![]).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("AGENTS.override.md"), "{html}");
    let (st, loc, _) = web_post(
        format!("/issues/{issue}/agent"),
        vec![("tool", "fake".to_string())],
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        loc.as_deref(),
        Some(format!("/sessions/{sid}/terminal").as_str())
    );
    let (st, _, html) = web_post(
        "/settings/agents".into(),
        vec![
            ("action", "save".into()),
            ("content", "Web instructions <b>".into()),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Saved."), "{html}");
    let (_, html) = web_get("/settings/agents".into()).await;
    assert!(
        html.contains("Web instructions &lt;b&gt;"),
        "escaped: {html}"
    );
    let (_, html) = web_get(format!("/projects/{p}")).await;
    assert!(html.contains("Start agent"), "{html}");
    let (st, _, html) = web_post(
        format!("/projects/{p}/agent"),
        vec![("tool", "nope".to_string())],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("Unsupported AI tool"), "{html}");

    let v = ok(&s, &k, Method::DELETE, "/api/v1/agents/global", None).await;
    assert!(v["message"].as_str().unwrap().contains("deleted"), "{v}");

    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/ai/sessions/{sid}"),
        None,
    )
    .await;
    kill_tmux(&s.dir);
}
