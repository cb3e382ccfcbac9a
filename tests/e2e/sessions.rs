//! AI sessions in real tmux (a private socket per user): a scripted fake agent is started in
//! the workspace, typed to, read back, survives a server restart, is respawned and stopped;
//! another user cannot see or touch it.

use crate::git::seeded_bare;
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const FAKE_AGENT: &str = r#"#!/bin/sh
echo "fake agent ready key=${AIOPS_API_KEY:+set} project=$AIOPS_PROJECT_ID"
while IFS= read -r line; do
  echo "agent got: $line"
  if [ "$line" = "whoami" ]; then aiops -o json auth whoami | grep -o '"email": *"[^"]*"' | head -1; fi
  if [ "$line" = "pwd" ]; then pwd; fi
  printf 'Next? '
done
"#;

/// Poll the session's output until it contains `needle`.
async fn wait_output(s: &Server, key: &str, id: u64, needle: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, v) = s
            .get(key, &format!("/api/v1/ai/sessions/{id}/output?lines=200"))
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

#[tokio::test(flavor = "multi_thread")]
async fn fake_agent_in_tmux_typed_to_survives_restart_respawned_and_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("fake-agent.sh");
    std::fs::write(&agent, FAKE_AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let env = [("AIOPS_TOOLS", tools.as_str())];
    let s = Server::start_with(&env);
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("agents").await;
    let (_, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "agented", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    let p = v["project"]["id"].as_u64().unwrap();

    // Tools that are unknown or not installed are refused clearly.
    let (st, e) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "nope"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("Unsupported AI tool 'nope'"), "{e}");
    let (st, e) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "x", "command": "/definitely/not/installed --flag"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("not installed"), "{e}");

    // Start: the workspace is cloned on the way, the agent runs in it with a working key.
    let (st, started) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake", "rows": 30, "cols": 100}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    assert_eq!(started["existing"], false);
    let id = started["id"].as_u64().unwrap();
    let sid = started["session_id"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 32);
    let ws = started["workspace_path"].as_str().unwrap().to_string();
    assert!(Path::new(&ws).join("README.md").exists());
    wait_output(&s, &k, id, &format!("fake agent ready key=set project={p}")).await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
        Some(json!({"data": "pwd\n"})),
    )
    .await;
    wait_output(&s, &k, id, &ws).await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
        Some(json!({"data": "whoami\n"})),
    )
    .await;
    wait_output(&s, &k, id, ADMIN_EMAIL).await;
    // The look that first shows the answer may still see the pane changing: the agent is
    // then seen waiting at a following look (the state is read from the pane, not guessed).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, out) = s
            .get(&k, &format!("/api/v1/ai/sessions/{id}/output?lines=200"))
            .await;
        if out["state"] == "waiting" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent asks 'Next?' but is not seen waiting: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The dashboard shows the agent waiting for its user (an htmx fragment refreshed every 5 s).
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = |path: &'static str| {
        let req = s
            .client
            .get(s.url(path))
            .header("cookie", format!("aiops_session={cookie}"));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page("/").await.contains("sse-connect=\"/streams/agents\""));
    let panel = page("/agents").await;
    assert!(
        panel.contains(&format!("aiops-{id}:0")) && panel.contains("needs you"),
        "{panel}"
    );
    assert!(panel.contains("sse-connect=\"/streams/agents\""), "{panel}");
    // The live feed: server-sent events carrying the panel, first at once, then on changes.
    let mut feed = s
        .client
        .get(s.url("/streams/agents"))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut got = String::new();
    while !got.contains("needs you") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), feed.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("stream open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.starts_with("event: agents\n"), "{got}");
    assert!(got.contains(&format!("aiops-{id}:0")), "{got}");
    // A change is pushed by itself: a second agent appears in the feed, then is stopped.
    let (st, second) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{second}");
    let id2 = second["id"].as_u64().unwrap();
    let mut got = String::new();
    while !got.contains(&format!("aiops-{id2}:0")) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), feed.chunk())
            .await
            .expect("the new agent is pushed within 10 s")
            .unwrap()
            .expect("stream open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/ai/sessions/{id2}"),
        None,
    )
    .await;
    drop(feed);
    let (st, _) = {
        let r = s.client.get(s.url("/streams/agents")).send().await.unwrap();
        (r.status(), ())
    };
    assert!(st.is_redirection(), "the feed needs a login: {st}");

    // The agent's key is a scoped key of its own, listed with the user's keys.
    let keys = ok(&s, &k, Method::GET, "/api/v1/auth/keys", None).await;
    assert!(
        keys.to_string().contains(&format!("session {id} (fake)")),
        "{keys}"
    );

    // Another user sees nothing and can touch nothing.
    s.create_user("mallory@example.com", "mallory-password-1", false)
        .await;
    let m = s
        .user_key(
            "mallory@example.com",
            "mallory-password-1",
            &["read", "write"],
        )
        .await;
    let list = ok(&s, &m, Method::GET, "/api/v1/ai/sessions", None).await;
    assert_eq!(list["count"], 0);
    for (method, path) in [
        (Method::GET, format!("/api/v1/ai/sessions/{id}/output")),
        (Method::GET, format!("/api/v1/ai/sessions/{sid}/validate")),
        (Method::DELETE, format!("/api/v1/ai/sessions/{id}")),
        (Method::POST, format!("/api/v1/ai/sessions/{id}/respawn")),
    ] {
        let (st, e) = s.call(&m, method.clone(), &path, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {e}");
    }
    let (st, _) = s
        .call(
            &m,
            Method::POST,
            &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
            Some(json!({"data": "rm -rf /\n"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.get(&m, "/api/v1/ai/sessions?all_users=true").await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The server restarts; tmux kept the agent running and the server finds it again.
    let s = s.restart_with(&env);
    let live = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/ai/sessions"),
        None,
    )
    .await;
    assert_eq!(live["count"], 1, "{live}");
    assert_eq!(live["sessions"][0]["session_id"], sid.as_str());
    assert_eq!(live["sessions"][0]["state"], "waiting");
    wait_output(&s, &k, id, ADMIN_EMAIL).await;

    // Respawn: the command runs again (with a fresh key that works).
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ai/sessions/{id}/respawn"),
        None,
    )
    .await;
    wait_output(&s, &k, id, "fake agent ready key=set").await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
        Some(json!({"data": "whoami\n"})),
    )
    .await;
    wait_output(&s, &k, id, ADMIN_EMAIL).await;

    // The CLI: list, type, read.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env("HOME", s.dir.join("cli-home"))
            .env("AIOPS_URL", &s.base)
            .env("AIOPS_API_KEY", &k)
            .env_remove("AIOPS_OUTPUT_FORMAT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aiops {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let listed = cli(&["sessions", "list", "--active"]);
    assert!(
        listed.contains("fake") && listed.contains(&format!("aiops-{id}:0")),
        "{listed}"
    );
    let ids = id.to_string();
    cli(&["sessions", "send", &ids, "from the cli"]);
    wait_output(&s, &k, id, "agent got: from the cli").await;
    assert!(cli(&["sessions", "output", &ids]).contains("agent got: from the cli"));

    // Stop: tmux session gone, row ended, agent key revoked.
    let (st, _) = s
        .call(
            &k,
            Method::DELETE,
            &format!("/api/v1/ai/sessions/{id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let v = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/ai/sessions/{id}/validate"),
        None,
    )
    .await;
    assert_eq!(v["exists"], false);
    let active = ok(
        &s,
        &k,
        Method::GET,
        "/api/v1/ai/sessions?active_only=true",
        None,
    )
    .await;
    assert_eq!(active["count"], 0);
    let keys = ok(&s, &k, Method::GET, "/api/v1/auth/keys", None).await;
    assert!(!keys.to_string().contains("session "), "{keys}");
    kill_tmux(&s.dir);
}

/// The original's `--user` on session start: an administrator starts an agent as a member,
/// who then owns it (their sandbox, their list); a non-admin sending `user_id` gets nothing, and
/// nobody can be made to run an agent in a project they cannot work in.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_starts_a_session_as_a_member_and_nobody_else_can() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("as-user").await;
    let (_, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "asuser", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    let p = v["project"]["id"].as_u64().unwrap();
    let dev = s
        .create_user("dev@example.com", "dev-password-1", false)
        .await;
    let outsider = s
        .create_user("out@example.com", "out-password-1", false)
        .await;
    s.add_member("projects", p, dev, "developer").await;
    let dev_key = s
        .user_key("dev@example.com", "dev-password-1", &["read", "write"])
        .await;
    let start = format!("/api/v1/projects/{p}/ai/sessions");

    // Attack: a developer of the project tries to start an agent as someone else.
    let (st, e) = s
        .post(&dev_key, &start, json!({"tool": "shell", "user_id": 1}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let mine = ok(&s, &dev_key, Method::GET, "/api/v1/ai/sessions", None).await;
    assert_eq!(mine["count"], 0, "{mine}");

    // Nobody runs an agent where they cannot work, even when an admin asks.
    let (st, e) = s
        .post(&k, &start, json!({"tool": "shell", "user_id": outsider}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(err_text(&e).contains("projects members add"), "{e}");

    // Control: the admin starts one as the developer; it is the developer's.
    let (st, started) = s
        .post(&k, &start, json!({"tool": "shell", "user_id": dev}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let mine = ok(
        &s,
        &dev_key,
        Method::GET,
        "/api/v1/ai/sessions?active_only=true",
        None,
    )
    .await;
    assert_eq!(mine["count"], 1, "{mine}");
    let listed = &mine["sessions"][0];
    assert_eq!(listed["id"], started["id"]);
    assert_eq!(listed["user_id"], json!(dev));
    assert_eq!(listed["project_name"], "asuser");
    assert_eq!(listed["pane_dead"], false, "{listed}");
    assert!(listed["tmux_server_user"].is_string(), "{listed}");
    kill_tmux(&s.dir);
}
