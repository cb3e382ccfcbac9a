//! Agent state from the pane, end to end: a scripted "claude" (a shell script printing Claude
//! Code's permission prompt) in real tmux under a real server; the watcher's state shows in the
//! API (`agent_state`, with the old `state` word beside it) and on the agents panel, and
//! follows the agent to its exit.

use crate::git::seeded_bare;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Idle at a plain line until told to go, then works (prints) for a moment, then asks like
/// Claude Code and waits; answered, it ends with status 0.
const SCRIPTED_CLAUDE: &str = r#"#!/bin/sh
echo "scripted claude ready"
read go
n=0
while [ $n -lt 10 ]; do n=$((n+1)); echo "step $n"; sleep 0.1; done
printf ' Bash command\n\n   cargo test\n   Run the tests\n\n Do you want to proceed?\n \342\235\257 1. Yes\n   2. Yes, and don'"'"'t ask again for cargo test commands\n   3. No, and tell Claude what to do differently (esc)\n'
read answer
echo "ran cargo test"
exit 0
"#;

/// Poll the session until its `agent_state` is one of `want` (15 s at most).
async fn wait_agent_state(s: &Server, key: &str, id: u64, want: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, v) = s
            .get(key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        if st.is_success() && want.iter().any(|w| v["agent_state"] == *w) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} never reached {want:?}: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_claude_at_its_permission_prompt_waits_for_approval() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("scripted-claude.sh");
    std::fs::write(&agent, SCRIPTED_CLAUDE).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("claude={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("states").await;
    let (_, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "stated", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, started) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "claude", "rows": 30, "cols": 100}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let id = started["id"].as_u64().unwrap();
    let sid = started["session_id"].as_str().unwrap().to_string();

    // Ready and quiet: nothing asked, so not waiting (working while it starts, then idle).
    let ready = wait_agent_state(&s, &k, id, &["working", "idle"]).await;
    assert_eq!(ready["state"], "running", "{ready}");

    // Told to go: it works, then shows the permission prompt.
    let (st, _) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
            json!({"data": "go\n"}),
        )
        .await;
    assert!(st.is_success());
    let asked = wait_agent_state(&s, &k, id, &["waiting_for_approval"]).await;
    assert_eq!(asked["state"], "waiting", "the old word stays: {asked}");
    assert!(
        asked["output"]
            .as_str()
            .unwrap()
            .contains("Do you want to proceed?")
    );
    // The session list carries both words too.
    let (_, list) = s
        .get(&k, &format!("/api/v1/projects/{p}/ai/sessions"))
        .await;
    let row = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(row["agent_state"], "waiting_for_approval", "{row}");
    assert_eq!(row["state"], "waiting", "{row}");
    assert_eq!(row["pane_dead"], false, "{row}");

    // The agents panel says what it waits for.
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let panel = s
        .client
        .get(s.url("/agents"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        panel.contains("waiting for approval — needs you"),
        "{panel}"
    );

    // Answered: it runs the command and exits with status 0.
    let (st, _) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/ai/sessions/{sid}/input"),
            json!({"data": "1\n"}),
        )
        .await;
    assert!(st.is_success());
    let ended = wait_agent_state(&s, &k, id, &["exited"]).await;
    assert_eq!(ended["state"], "exited", "{ended}");
    kill_tmux(&s.dir);
}
