//! Parallel agents: two scripted agents on two issues of one project run at once in real tmux,
//! each in its own git worktree on its own `aiops/<issue-id>-<slug>` branch; both submit
//! (commit + push over the real sshd) with no cross-talk; closing one with `worktree=remove`
//! removes only its worktree, a dirty worktree is never removed without `force`, and another
//! user cannot close (or remove the worktree of) someone else's session (attack + control).

use crate::fakes::{Fake, Kind};
use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use crate::ssh::Sshd;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const AGENT: &str = r#"#!/bin/sh
echo "agent up for issue $AIOPS_ISSUE_ID in $(pwd)"
echo "work for issue $AIOPS_ISSUE_ID" > "issue-$AIOPS_ISSUE_ID.txt"
aiops workflow submit "$AIOPS_ISSUE_ID" --project "$AIOPS_PROJECT_ID" -m "Work on issue $AIOPS_ISSUE_ID" && echo "SUBMIT-OK"
while IFS= read -r line; do echo "agent got: $line"; done
"#;

async fn wait_output(s: &Server, id: u64, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
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

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_work_in_their_own_worktrees_push_their_own_branches_and_close_cleanly() {
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
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(2, 0);

    let tenant = s.create_tenant("par").await;
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
            json!({"name": "parproj", "repo_url": sshd.url(&bare), "tenant_id": tenant}),
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
    let (ia, ib) = (id_of("1"), id_of("2"));

    // Both agents start at once.
    let start = |issue: u64| {
        let s = &s;
        let k = k.clone();
        async move {
            let (st, v) = s
                .post(
                    &k,
                    &format!("/api/v1/projects/{p}/ai/sessions"),
                    json!({"tool": "fake", "issue_id": issue}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            v["id"].as_u64().unwrap()
        }
    };
    let (sa, sb) = tokio::join!(start(ia), start(ib));
    wait_output(&s, sa, "SUBMIT-OK").await;
    wait_output(&s, sb, "SUBMIT-OK").await;
    let (va, vb) = (session(&s, sa).await, session(&s, sb).await);
    let (ba, bb) = (format!("aiops/{ia}-issue-1"), format!("aiops/{ib}-issue-2"));
    assert_eq!(va["branch"], ba.as_str(), "{va}");
    assert_eq!(vb["branch"], bb.as_str(), "{vb}");
    assert_eq!(va["base"], "main", "{va}");
    let wa = PathBuf::from(va["workspace_path"].as_str().unwrap());
    let wb = PathBuf::from(vb["workspace_path"].as_str().unwrap());
    assert_ne!(wa, wb);
    assert!(wa.join(".git").is_file() && wb.join(".git").is_file());
    assert_eq!(wa.parent(), wb.parent(), "both beside the workspace");
    let root = wa.parent().unwrap().to_str().unwrap().to_string();
    let main_ws = PathBuf::from(root.trim_end_matches(".worktrees"));
    assert!(main_ws.join(".git").is_dir(), "{}", main_ws.display());

    // Both branches reached the remote over ssh, each with only its own commit.
    assert!(sshd.log().contains("Accepted publickey"));
    for (branch, mine, theirs) in [(&ba, ia, ib), (&bb, ib, ia)] {
        let files = sh_git(&bare, &["show", "--name-only", "--format=", branch]);
        assert_eq!(
            files.trim(),
            format!("issue-{mine}.txt"),
            "{branch}: {files}"
        );
        let tree = sh_git(&bare, &["ls-tree", "--name-only", branch]);
        assert!(!tree.contains(&format!("issue-{theirs}.txt")), "{tree}");
        assert!(!tree.contains("AGENTS.override.md"), "{tree}");
        let subject = sh_git(&bare, &["log", "--format=%s", "-1", branch]);
        assert_eq!(subject.trim(), format!("Work on issue {mine}"));
    }
    let main_log = sh_git(&bare, &["log", "--format=%s", "main"]);
    assert_eq!(main_log.trim(), "initial", "main is untouched");
    assert!(!main_ws.join(format!("issue-{ia}.txt")).exists());
    // The upstream is set: the worktree's branch tracks origin's.
    let up = sh_git(&wa, &["rev-parse", "--abbrev-ref", "@{upstream}"]);
    assert_eq!(up.trim(), format!("origin/{ba}"));

    // Starting the same issue again reuses the running session (and its worktree).
    let (st, again) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake", "issue_id": ia}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["existing"], true, "{again}");

    // Attack: another developer of the project cannot close someone else's session or remove
    // its worktree (their answer is "not found"); the owner's same call is the control.
    let uid = s
        .create_user("dev@example.com", "dev-password-1", false)
        .await;
    s.add_member("projects", p, uid, "developer").await;
    let dev = s
        .user_key("dev@example.com", "dev-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .call(
            &dev,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{sa}?worktree=remove&force=true"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(wa.join(".git").is_file(), "the attack removed nothing");
    assert_eq!(session(&s, sa).await["is_active"], true);

    // A bad choice is refused before anything stops.
    let (st, v) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{sa}?worktree=maybe"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // A worktree with uncommitted changes is not removed without force, and the session runs on.
    std::fs::write(wa.join("scratch.txt"), "not committed\n").unwrap();
    let (st, v) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{sa}?worktree=remove"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(err_text(&v).contains("uncommitted change"), "{v}");
    assert!(wa.join("scratch.txt").exists());
    assert_eq!(session(&s, sa).await["is_active"], true);
    std::fs::remove_file(wa.join("scratch.txt")).unwrap();

    // Control: the owner closes A with remove: its worktree goes, the branch stays, B untouched.
    let (st, v) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{sa}?worktree=remove"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert!(!wa.exists(), "A's worktree is removed");
    assert!(
        wb.join(format!("issue-{ib}.txt")).exists(),
        "B is untouched"
    );
    let listed = sh_git(&main_ws, &["worktree", "list", "--porcelain"]);
    assert!(!listed.contains(wa.to_str().unwrap()), "{listed}");
    assert!(listed.contains(wb.to_str().unwrap()), "{listed}");
    let branches = sh_git(&main_ws, &["branch", "--list", "aiops/*"]);
    assert!(branches.contains(&ba), "the branch is kept: {branches}");
    let closed = session(&s, sa).await;
    assert_eq!(closed["is_active"], false, "{closed}");

    // Closing B with keep (the default) leaves its worktree.
    let (st, _) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{sb}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(wb.join(".git").is_file(), "keep keeps the worktree");
    // A session without a worktree cannot be asked to remove one.
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let plain = v["id"].as_u64().unwrap();
    assert!(session(&s, plain).await["branch"].is_null());
    let (st, v) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{plain}?worktree=remove"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("no worktree"), "{v}");
    kill_tmux(&s.dir);
}
