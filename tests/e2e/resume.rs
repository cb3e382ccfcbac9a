//! Resume (issue 16): a codex agent prints the id of its conversation when it ends; closing
//! the session keeps that id, and Resume starts a new session running `codex resume <id>` in
//! the same project (API and web history). Tools that cannot resume get a 400 that says to
//! Start again; another user cannot resume your session (404, nothing started).

use crate::git::seeded_bare;
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CONVERSATION: &str = "0199a1b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b";

/// A stand-in for codex: `resume <id>` says which conversation it resumed and waits; a fresh
/// run waits for a line, then prints its resume hint (as codex does on exit) and exits. With
/// QUIET in the line it prints no hint.
const FAKE_CODEX: &str = r#"#!/bin/sh
if [ "$1" = resume ]; then echo "RESUMED-$2"; exec sleep 600; fi
echo "codex ready"
read line
case "$line" in *QUIET*) exit 0;; esac
echo "To continue this session, run codex resume 0199a1b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b"
exit 0
"#;

async fn output_until(s: &Server, id: u64, needle: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, v) = s
            .get(&s.admin_key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        if st.is_success() && v["output"].as_str().unwrap_or("").contains(needle) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} never printed {needle:?}: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn listed(s: &Server, id: u64) -> Value {
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

async fn start(s: &Server, p: u64, tool: &str) -> u64 {
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": tool}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["id"].as_u64().unwrap()
}

/// Type a line, wait for the agent to exit, close the session.
async fn finish(s: &Server, p: u64, id: u64, line: &str) {
    output_until(s, id, "codex ready").await;
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/ai/sessions/{id}/input"),
            json!({"data": format!("{line}\n")}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, v) = s
            .get(&s.admin_key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        if v["state"] == "exited" {
            break;
        }
        assert!(Instant::now() < deadline, "agent {id} did not exit: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{id}"),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_codex_session_resumes_its_own_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let codex = tmp.path().join("fake-codex");
    std::fs::write(&codex, FAKE_CODEX).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let fake = tmp.path().join("fake-gemini");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 600\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("codex={};gemini={}", codex.display(), fake.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let tenant = s.create_tenant("resume").await;
    let v = ok(
        &s,
        &s.admin_key,
        Method::POST,
        "/api/v1/projects",
        Some(
            json!({"name": "resumeproj", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        ),
    )
    .await;
    let p = v["project"]["id"].as_u64().unwrap();

    // ---- codex prints its conversation id on exit; closing keeps it -------------------------
    let first = start(&s, p, "codex").await;
    finish(&s, p, first, "bye").await;
    let row = listed(&s, first).await;
    assert_eq!(row["is_active"], false, "{row}");
    let expected = format!("{} resume {CONVERSATION}", codex.display());
    assert_eq!(row["resume_command"], expected.as_str(), "{row}");

    // ---- another user cannot resume it (the same answer as a missing session) ---------------
    s.create_user("mallory@example.com", "mallory-password-1", false)
        .await;
    let mallory = s
        .user_key(
            "mallory@example.com",
            "mallory-password-1",
            &["read", "write"],
        )
        .await;
    let (st, v) = s
        .post(
            &mallory,
            &format!("/api/v1/ai/sessions/{first}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let count = |v: &Value| v["sessions"].as_array().map(Vec::len).unwrap_or(0);
    let all = ok(
        &s,
        &s.admin_key,
        Method::GET,
        "/api/v1/ai/sessions?limit=100",
        None,
    )
    .await;
    assert_eq!(count(&all), 1, "nothing was started for mallory: {all}");

    // ---- the owner resumes: a new session runs `codex resume <id>` --------------------------
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/ai/sessions/{first}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let second = v["id"].as_u64().unwrap();
    assert_ne!(second, first);
    assert_eq!(v["command"], expected.as_str(), "{v}");
    assert_eq!(
        v["message"], "Resumed codex session in project resumeproj",
        "{v}"
    );
    output_until(&s, second, &format!("RESUMED-{CONVERSATION}")).await;
    // It is running: resuming it again is a conflict that says what to do.
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/ai/sessions/{second}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(err_text(&v).contains("still running"), "{v}");
    let r = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{second}"),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);

    // ---- no id printed: the latest conversation in the workspace ----------------------------
    let quiet = start(&s, p, "codex").await;
    finish(&s, p, quiet, "QUIET").await;
    let row = listed(&s, quiet).await;
    assert_eq!(
        row["resume_command"],
        format!("{} resume --last", codex.display()).as_str(),
        "{row}"
    );

    // ---- a tool that cannot resume: 400 that says to start again ----------------------------
    let g = start(&s, p, "gemini").await;
    let r = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{g}"),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);
    assert!(listed(&s, g).await["resume_command"].is_null());
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/ai/sessions/{g}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("Start again"), "{v}");

    // ---- the web history offers Resume for codex, only Start again for gemini ---------------
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = s
        .client
        .get(s.url("/agents/history"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let card = |id: u64| {
        let at = page
            .find(&format!("id=\"history-{id}\""))
            .unwrap_or_else(|| panic!("history card {id}: {page}"));
        let end = page[at..].find("</li>").map_or(page.len(), |e| at + e);
        page[at..end].to_string()
    };
    assert!(card(first).contains(&format!("/sessions/{first}/resume")));
    // (The card also shows the workspace path, which here has "resume" in it.)
    assert!(
        !card(g).contains(&format!("/sessions/{g}/resume")),
        "{}",
        card(g)
    );
    assert!(card(first).contains("agent-workspace"), "{}", card(first));
    assert!(card(first).contains(&format!("/sessions/{first}/review")));
    assert!(card(g).contains(&format!("/sessions/{g}/again")));
    let csrf = page_csrf(&page).unwrap();
    let r = s
        .client
        .post(s.url(&format!("/sessions/{first}/resume")))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", csrf.as_str()), ("from", "history")])
        .send()
        .await
        .unwrap();
    let to = r
        .headers()
        .get("hx-redirect")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(to.starts_with("/sessions/"), "{:?} → {to}", r.status());
    let third: u64 = to
        .trim_start_matches("/sessions/")
        .trim_end_matches("/terminal")
        .parse()
        .unwrap();
    output_until(&s, third, &format!("RESUMED-{CONVERSATION}")).await;
    kill_tmux(&s.dir);
}

/// Resume of an issue session (issue 18): the new session works in the same worktree, on the
/// same branch, from the same base, with the work left there; after a close that removed the
/// worktree, Resume makes it again on the same branch, so the committed work is back.
#[tokio::test(flavor = "multi_thread")]
async fn an_issue_session_resumes_into_its_own_worktree_and_branch() {
    use crate::fakes::{Fake, Kind};
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let codex = tmp.path().join("codex");
    std::fs::write(&codex, FAKE_CODEX).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("codex={}", codex.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(1, 0);
    let tenant = s.create_tenant("resumewt").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "resumewt", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
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
            json!({"tool": "codex", "issue_id": issue}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let first = v["id"].as_u64().unwrap();
    let row = listed(&s, first).await;
    let (wt, branch) = (
        row["workspace_path"].as_str().unwrap().to_string(),
        row["branch"].as_str().unwrap().to_string(),
    );
    assert!(wt.contains(".worktrees/"), "{row}");
    std::fs::write(std::path::Path::new(&wt).join("notes.txt"), "half done\n").unwrap();
    finish(&s, p, first, "bye").await; // closes, keeping the worktree

    let v = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ai/sessions/{first}/resume"),
        Some(json!({})),
    )
    .await;
    let second = v["session_id"]
        .as_u64()
        .or_else(|| v["id"].as_u64())
        .unwrap_or_else(|| panic!("{v}"));
    output_until(&s, second, &format!("RESUMED-{CONVERSATION}")).await;
    let row = listed(&s, second).await;
    assert_eq!(row["workspace_path"], wt.as_str(), "{row}");
    assert_eq!(row["branch"], branch.as_str(), "{row}");
    assert_eq!(row["base"], "main", "{row}");
    assert_eq!(row["issue_id"], issue, "{row}");
    assert!(std::path::Path::new(&wt).join("notes.txt").is_file());
    // The history shows the ended session's branch.
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let history = s
        .client
        .get(s.url("/agents/history"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = history
        .find(&format!("id=\"history-{first}\""))
        .unwrap_or_else(|| panic!("history card {first}: {history}"));
    let card = &history[at..];
    let card = &card[..card.find("</li>").unwrap_or(card.len())];
    assert!(
        card.contains(&format!("on branch <code>{branch}</code>")),
        "{card}"
    );

    // Commit the work on the branch, close removing the worktree, resume: it is made again.
    crate::git::sh_git(std::path::Path::new(&wt), &["add", "notes.txt"]);
    crate::git::sh_git(
        std::path::Path::new(&wt),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "half",
        ],
    );
    let r = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{second}?worktree=remove"),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT, "{:?}", r.1);
    assert!(!std::path::Path::new(&wt).exists(), "worktree removed");
    let v = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ai/sessions/{second}/resume"),
        Some(json!({})),
    )
    .await;
    let third = v["session_id"]
        .as_u64()
        .or_else(|| v["id"].as_u64())
        .unwrap_or_else(|| panic!("{v}"));
    output_until(&s, third, "RESUMED-").await;
    let row = listed(&s, third).await;
    assert_eq!(row["branch"], branch.as_str(), "{row}");
    assert_eq!(row["workspace_path"], wt.as_str(), "{row}");
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&wt).join("notes.txt")).unwrap(),
        "half done\n",
        "the branch's commit is back in the new worktree"
    );
    kill_tmux(&s.dir);
}
