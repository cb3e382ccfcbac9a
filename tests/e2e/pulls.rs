//! Finish as a pull request: `workflow submit --pr` pushes an issue session's worktree branch
//! and opens a pull request on the fake GitHub (title and description from the issue, `Closes
//! #N`), the issue (API and page) shows it with its state, the session's pull request is merged
//! by its owner while another developer's attempt is "not found" (attack + control); `aiops git
//! pr-create|pr-list|pr-merge` against the fake GitLab's merge requests.

use crate::fakes::{Fake, Kind};
use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;

const AGENT: &str =
    "#!/bin/sh\necho \"agent up\"\nwhile IFS= read -r line; do echo \"got: $line\"; done\n";

/// A project on `bare` linked to `fake` (`identifier`), synced; its id and the issues' ids.
async fn linked_project(
    s: &Server,
    name: &str,
    bare: &std::path::Path,
    fake: &Fake,
    provider: &str,
    token: &str,
    identifier: &str,
) -> (u64, Value) {
    let k = s.admin_key.clone();
    let tenant = s.create_tenant(&format!("{name}-t")).await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": name, "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": provider, "name": name,
                   "base_url": fake.url, "api_token": token}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let integ = v["integration"]["id"].as_u64().unwrap();
    ok(
        s,
        &k,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p, "external_identifier": identifier})),
    )
    .await;
    ok(
        s,
        &k,
        Method::POST,
        "/api/v1/issues/sync",
        Some(json!({"project_id": p})),
    )
    .await;
    let list = ok(
        s,
        &k,
        Method::GET,
        &format!("/api/v1/issues?project_id={p}"),
        None,
    )
    .await;
    (p, list)
}

fn issue_id(list: &Value, ext: &str) -> u64 {
    list["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["external_id"] == ext)
        .and_then(|i| i["id"].as_u64())
        .unwrap_or_else(|| panic!("issue {ext} in {list}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_opens_a_pull_request_linked_on_the_issue_and_only_its_owner_merges_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("idle-agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("idle={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(1, 0);
    let (p, list) =
        linked_project(&s, "prproj", &bare, &gh, "github", "gh-token", "octo/repo").await;
    let issue = issue_id(&list, "1");

    // --pr without a worktree session is refused with what to do.
    let (st, v) = s
        .post(
            &k,
            "/api/v1/workflows/submit-changes",
            json!({"issue_id": issue, "project_id": p, "commit_message": "m", "pr": true}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("own worktree"), "{v}");

    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "idle", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sid = v["id"].as_u64().unwrap();
    let all = ok(&s, &k, Method::GET, "/api/v1/ai/sessions", None).await;
    let row = all["sessions"][0].clone();
    let branch = format!("aiops/{issue}-issue-1");
    assert_eq!(row["branch"], branch.as_str(), "{row}");
    let wt = PathBuf::from(row["workspace_path"].as_str().unwrap());
    std::fs::write(wt.join("done.txt"), "done\n").unwrap();

    // Progress notes go into the description.
    ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/workflows/update-progress",
        Some(json!({"issue_id": issue, "status": "tests written"})),
    )
    .await;
    let out = cli_ok(
        &s,
        &[
            "workflow",
            "submit",
            &issue.to_string(),
            "--project",
            &p.to_string(),
            "-m",
            "Finish issue 1",
            "--pr",
        ],
    );
    assert!(
        out.contains("Pull request #2 (open): https://github.com/octo/repo/pull/2"),
        "{out}"
    );
    assert_eq!(
        sh_git(&bare, &["log", "--format=%s", "-1", &branch]).trim(),
        "Finish issue 1"
    );
    let created = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path() == "/repos/octo/repo/pulls")
        .expect("a POST /pulls");
    assert_eq!(created.body["head"], branch.as_str());
    assert_eq!(created.body["base"], "main");
    assert_eq!(created.body["title"], "Issue 1");
    let body = created.body["body"].as_str().unwrap();
    assert!(body.contains("Body of issue 1"), "{body}");
    assert!(body.contains("- tests written"), "{body}");
    assert!(body.ends_with("Closes #1"), "{body}");

    // Linked on the issue: API and page.
    let pulls = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/issues/{issue}/pulls"),
        None,
    )
    .await;
    assert_eq!(pulls["count"], 1, "{pulls}");
    assert_eq!(pulls["pull_requests"][0]["state"], "open");
    assert_eq!(pulls["pull_requests"][0]["source_branch"], branch.as_str());
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = |cookie: String| {
        let s = &s;
        async move {
            s.client
                .get(s.url(&format!("/issues/{issue}")))
                .header("cookie", format!("aiops_session={cookie}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let html = page(cookie.clone()).await;
    assert!(html.contains("Pull request"), "{html}");
    assert!(
        html.contains("https://github.com/octo/repo/pull/2"),
        "{html}"
    );
    assert!(html.contains("data-state=\"open\""), "{html}");

    // Attack: another developer of the project cannot merge (or even see) the session's pull
    // request; nothing reaches GitHub.
    let uid = s
        .create_user("rev@example.com", "rev-password-1", false)
        .await;
    s.add_member("projects", p, uid, "developer").await;
    let dev = s
        .user_key("rev@example.com", "rev-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .post(
            &dev,
            &format!("/api/v1/ai/sessions/{sid}/pull-request"),
            json!({"merge": true}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(
        !gh.requests().iter().any(|r| r.method == "PUT"),
        "no merge reached GitHub"
    );
    // Nor another user's session through workflow submit: it has no worktree session of theirs.
    let (st, v) = s
        .post(
            &dev,
            "/api/v1/workflows/submit-changes",
            json!({"issue_id": issue, "project_id": p, "commit_message": "x", "pr": true}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // Control: the owner's same call merges it (the open one is reused, not opened again).
    let v = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ai/sessions/{sid}/pull-request"),
        Some(json!({"merge": true})),
    )
    .await;
    assert_eq!(v["pull_request"]["state"], "merged", "{v}");
    assert_eq!(v["pull_request"]["number"], 2);
    let posts = gh
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path() == "/repos/octo/repo/pulls")
        .count();
    assert_eq!(posts, 1, "opened once");
    assert_eq!(gh.state.lock().unwrap().pulls[0]["merged"], true);
    let pulls = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/issues/{issue}/pulls"),
        None,
    )
    .await;
    assert_eq!(pulls["pull_requests"][0]["state"], "merged", "{pulls}");
    let html = page(cookie).await;
    assert!(html.contains("data-state=\"merged\""), "{html}");
    let listed = cli_ok(&s, &["git", "pr-list", &p.to_string(), "--state", "all"]);
    assert!(listed.contains(&branch), "{listed}");
    kill_tmux(&s.dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn git_pr_commands_open_list_and_merge_gitlab_merge_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let gl = Fake::start(Kind::GitLab, "gl-token").await;
    gl.seed_gitlab(1);
    let (p, _) = linked_project(&s, "mrproj", &bare, &gl, "gitlab", "gl-token", "group/app").await;
    let pid = p.to_string();

    let out = cli_ok(
        &s,
        &[
            "git",
            "pr-create",
            &pid,
            "--title",
            "Add thing",
            "--source-branch",
            "feature/x",
            "--description",
            "Why",
        ],
    );
    assert!(
        out.contains(
            "Pull request #1 created: https://gitlab.example.com/group/app/-/merge_requests/1"
        ),
        "{out}"
    );
    let sent = gl
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path().ends_with("/merge_requests"))
        .expect("POST merge_requests");
    assert_eq!(sent.path(), "/api/v4/projects/group%2Fapp/merge_requests");
    assert_eq!(sent.body["target_branch"], "main", "the default branch");
    assert_eq!(sent.body["source_branch"], "feature/x");

    // The same source branch again: GitLab's 409 comes back with its own message.
    let (ok_, _, err) = cli(
        &s,
        &[
            "git",
            "pr-create",
            &pid,
            "--title",
            "Again",
            "--source-branch",
            "feature/x",
        ],
    );
    assert!(!ok_);
    assert!(
        err.contains("Another open merge request already exists"),
        "{err}"
    );

    let listed = cli_ok(&s, &["git", "pr-list", &pid, "-o", "json"]);
    let v: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v[0]["state"], "open", "opened reads as open: {v}");
    assert_eq!(v[0]["number"], 1);

    let out = cli_ok(&s, &["git", "pr-merge", &pid, "1"]);
    assert!(out.contains("Pull request #1 merged"), "{out}");
    let merged = cli_ok(
        &s,
        &["git", "pr-list", &pid, "--state", "merged", "-o", "json"],
    );
    let v: Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(v[0]["state"], "merged", "{v}");
    // Merging it again: GitLab's 405, said plainly.
    let (ok_, _, err) = cli(&s, &["git", "pr-merge", &pid, "1"]);
    assert!(!ok_);
    assert!(err.contains("405"), "{err}");
    // A bad state is refused before GitLab is asked.
    let (st, v) = s
        .get(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/pulls?state=weird"),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

/// A Jira-tracked project whose repository is on the code host: with no GitHub link, the
/// tenant's GitHub integration for the repository's host opens the pull request, and the
/// description links the Jira issue (key and URL). Attack: another tenant's GitHub
/// integration for the same host is never used (nothing reaches GitHub, the error says what to
/// add); control: the project's own tenant's integration is.
#[tokio::test(flavor = "multi_thread")]
async fn a_jira_tracked_project_opens_its_pull_request_on_its_code_host_linking_the_jira_issue() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(&tmp.path().join("octo"));
    let agent = tmp.path().join("idle-agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("idle={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let jira = Fake::start(Kind::Jira, "jira-token").await;
    jira.seed_jira("OPS", 1);
    let gh = Fake::start(Kind::GitHub, "gh-token").await;

    let tenant = s.create_tenant("jirapr").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/admin/ssh-keys",
            json!({"name": "deploy", "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let public = v["ssh_key"]["public_key"].as_str().unwrap().to_string();
    let sshd = crate::ssh::Sshd::start(&tmp.path().join("sshd"), &[&public], None);
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "jirapr", "repo_url": sshd.url(&bare), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "jira", "name": "jira", "base_url": jira.url,
                   "api_token": "jira-token", "jira_email": "bot@example.com"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let integ = v["integration"]["id"].as_u64().unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p, "external_identifier": "OPS"})),
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
    let issue = issue_id(&list, "OPS-1");

    // Another tenant's GitHub integration on the same host (the fake's).
    let other = s.create_tenant("elsewhere").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": other, "provider": "github", "name": "their gh",
                   "base_url": gh.url, "api_token": "gh-token"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "idle", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let all = ok(&s, &k, Method::GET, "/api/v1/ai/sessions", None).await;
    let row = all["sessions"][0].clone();
    let branch = row["branch"].as_str().unwrap().to_string();
    assert!(branch.starts_with(&format!("aiops/{issue}-")), "{row}");
    let wt = PathBuf::from(row["workspace_path"].as_str().unwrap());
    std::fs::write(wt.join("fix.txt"), "fixed\n").unwrap();

    // Attack: only the other tenant has a GitHub integration for this host.
    let sid = row["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/ai/sessions/{sid}/pull-request"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let err = err_text(&v);
    assert!(
        err.contains("no GitHub or GitLab integration") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(
        gh.requests().is_empty(),
        "nothing reached GitHub with the other tenant's token"
    );

    // Control: the project's own tenant gets a GitHub integration for the host.
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "github", "name": "our gh",
                   "base_url": gh.url, "api_token": "gh-token"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let out = cli_ok(
        &s,
        &[
            "workflow",
            "submit",
            &issue.to_string(),
            "--project",
            &p.to_string(),
            "-m",
            "Fix OPS-1",
            "--pr",
        ],
    );
    assert!(
        out.contains("https://github.com/octo/origin/pull/"),
        "{out}"
    );
    let created = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path() == "/repos/octo/origin/pulls")
        .expect("a POST /repos/octo/origin/pulls");
    assert_eq!(created.body["head"], branch.as_str());
    assert_eq!(created.body["title"], "Jira issue 1");
    let body = created.body["body"].as_str().unwrap();
    assert!(body.contains("Steps for 1"), "{body}");
    assert!(
        body.ends_with(&format!("Issue OPS-1: {}/browse/OPS-1", jira.url)),
        "{body}"
    );
    assert_eq!(
        sh_git(&bare, &["log", "--format=%s", "-1", &branch]).trim(),
        "Fix OPS-1"
    );
    let pulls = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/issues/{issue}/pulls"),
        None,
    )
    .await;
    assert_eq!(pulls["count"], 1, "{pulls}");
    kill_tmux(&s.dir);
}

/// The review page of a worktree session: "Open pull request" pushes the committed branch
/// (nothing uncommitted goes with it) and opens its pull request; Approve merges that one (opened
/// once); the page says so each time.
#[tokio::test(flavor = "multi_thread")]
async fn the_review_page_pushes_the_branch_opens_its_pull_request_and_approve_merges_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("idle-agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("idle={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(1, 0);
    let (p, list) = linked_project(
        &s,
        "approveproj",
        &bare,
        &gh,
        "github",
        "gh-token",
        "octo/repo",
    )
    .await;
    let issue = issue_id(&list, "1");
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "idle", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sid = v["id"].as_u64().unwrap();
    let all = ok(&s, &k, Method::GET, "/api/v1/ai/sessions", None).await;
    let row = all["sessions"][0].clone();
    let branch = row["branch"].as_str().unwrap().to_string();
    let wt = PathBuf::from(row["workspace_path"].as_str().unwrap());
    std::fs::write(wt.join("reviewed.txt"), "reviewed\n").unwrap();
    sh_git(&wt, &["add", "reviewed.txt"]);
    sh_git(
        &wt,
        &[
            "-c",
            "user.name=agent",
            "-c",
            "user.email=agent@example.com",
            "commit",
            "-q",
            "-m",
            "the reviewed work",
        ],
    );
    std::fs::write(wt.join("scratch.txt"), "not reviewed\n").unwrap();
    assert!(
        sh_git(&bare, &["branch", "--list", &branch])
            .trim()
            .is_empty(),
        "not on the remote yet"
    );

    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let review = s
        .client
        .get(s.url(&format!("/sessions/{sid}/review")))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(review.contains("reviewed.txt"), "the diff shows the commit");
    let csrf = page_csrf(&review).expect("csrf token");
    assert!(
        review.contains("Open pull request"),
        "the button for a worktree session"
    );
    // Attack: a user outside the project presses it with their own session: nothing is pushed
    // or opened.
    s.create_user("eve@example.com", "eve-password-12", false)
        .await;
    let eve = s.web_login("eve@example.com", "eve-password-12").await;
    let eve_home = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("aiops_session={eve}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let eve_csrf = page_csrf(&eve_home).expect("eve's csrf token");
    let r = s
        .client
        .post(s.url(&format!("/sessions/{sid}/review/pull-request")))
        .header("cookie", format!("aiops_session={eve}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", eve_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        gh.requests().iter().all(|r| r.method != "POST"),
        "nothing opened"
    );
    assert!(
        sh_git(&bare, &["branch", "--list", &branch])
            .trim()
            .is_empty(),
        "nothing pushed for eve"
    );
    // "Open pull request": pushed and opened, not merged.
    let r = s
        .client
        .post(s.url(&format!("/sessions/{sid}/review/pull-request")))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Pull request #2 is open (https://github.com/octo/repo/pull/2)"),
        "{html}"
    );
    assert!(
        !gh.requests().iter().any(|r| r.method == "PUT"),
        "not merged"
    );
    // Approve: the same pull request is merged (opened once).
    let r = s
        .client
        .post(s.url(&format!("/sessions/{sid}/review/approve")))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Approval recorded; pull request #2 is merged"),
        "{html}"
    );
    assert_eq!(
        sh_git(&bare, &["log", "--format=%s", "-1", &branch]).trim(),
        "the reviewed work",
        "the branch was pushed as committed"
    );
    let files = sh_git(&bare, &["ls-tree", "--name-only", "-r", &branch]);
    assert!(
        files.contains("reviewed.txt") && !files.contains("scratch.txt"),
        "{files}"
    );
    let reqs = gh.requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.method == "POST" && r.path() == "/repos/octo/repo/pulls")
            .count(),
        1,
        "opened once"
    );
    assert!(
        reqs.iter()
            .any(|r| r.method == "PUT" && r.path().ends_with("/merge"))
    );
    kill_tmux(&s.dir);
}
