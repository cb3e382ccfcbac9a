//! Review from the phone (issue 18): a scripted agent (a shell script in real tmux that echoes
//! each line it reads) works in a real git workspace with a committed change on a branch; in
//! Chromium at 390 px the review page shows the branch's diff against the default branch,
//! a tapped line takes a comment, the comment reaches the agent's pane as
//! "Reviewer on src/lib.rs:2: …" and stays on the page; Approve shows its outcome. Another
//! user cannot see the page or comment (404, nothing typed); a maintainer of the project can.

use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use crate::webdriver::Driver;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// Echoes every line it reads, so what was typed into the pane shows in it.
const ECHO_AGENT: &str =
    "#!/bin/sh\necho agent-ready\nwhile read line; do echo \"GOT[$line]\"; done\n";

async fn output_until(s: &Server, id: u64, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, v) = s
            .get(&s.admin_key, &format!("/api/v1/ai/sessions/{id}/output"))
            .await;
        let out = v["output"].as_str().unwrap_or("").to_string();
        if st.is_success() && out.contains(needle) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} never showed {needle:?}: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn web_get(s: &Server, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = s
        .client
        .get(s.url(path))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn web_post(
    s: &Server,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let (_, home) = web_get(s, cookie, "/").await;
    let csrf = page_csrf(&home).expect("csrf token");
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = s
        .client
        .post(s.url(path))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("hx-request", "true")
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_comment_from_the_phone_reaches_the_agent_and_stays_on_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("echo-agent");
    std::fs::write(&agent, ECHO_AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let tenant = s.create_tenant("reviewers").await;
    let v = ok(
        &s,
        &s.admin_key,
        Method::POST,
        "/api/v1/projects",
        Some(
            json!({"name": "reviewproj", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        ),
    )
    .await;
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let ws = std::path::PathBuf::from(v["workspace_path"].as_str().expect("workspace path"));
    output_until(&s, id, "agent-ready").await;

    // The agent's work: a commit on a branch of its workspace.
    sh_git(&ws, &["checkout", "-q", "-b", "aiops/1-greet"]);
    std::fs::write(
        ws.join("src/lib.rs"),
        "pub fn x() {}\n// greet the reviewer\npub fn greet() -> &'static str { \"hello\" }\n",
    )
    .unwrap();
    sh_git(&ws, &["commit", "-q", "-am", "greet"]);

    // ---- attack: a user outside the project sees nothing and types nothing ----------------
    s.create_user("eve@example.com", "eve-password-12", false)
        .await;
    let eve = s.web_login("eve@example.com", "eve-password-12").await;
    let (st, _) = web_get(&s, &eve, &format!("/sessions/{id}/review")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = web_post(
        &s,
        &eve,
        &format!("/sessions/{id}/review/comment"),
        &[
            ("path", "src/lib.rs"),
            ("line", "2"),
            ("text", "EVE-WAS-HERE"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");

    // ---- the phone: diff, tap a line, comment -------------------------------------------------
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url(&format!("/sessions/{id}/review"))).await;
    d.wait_text("#review-branch", "aiops/1-greet").await;
    d.wait_text("#review-base", "origin/HEAD").await;
    d.wait_text("section.rv-file[data-path='src/lib.rs'] header", "+2")
        .await;
    d.wait_text(".dl.add[data-line='3'] code", "greet").await;
    // Highlighted: `pub` and `fn` are keywords, the string is a string, the comment a comment.
    assert!(d.count(".dl.add .hl-k").await >= 2);
    assert!(d.count(".dl.add .hl-s").await >= 1);
    assert!(d.count(".dl.add .hl-c").await >= 1);
    d.assert_fits("the review page at 390 px").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/review-390.png").await;

    d.click(".dl.add[data-line='2'] a.ln").await;
    d.type_into(".rv-comment textarea[name=text]", "Say why we greet")
        .await;
    d.screenshot("target/screenshots/review-comment-form-390.png")
        .await;
    d.click(".rv-comment button[type=submit]").await;
    d.wait_text(".rv-sent", "sent to the agent").await;
    let pane = output_until(&s, id, "GOT[Reviewer on src/lib.rs:2: Say why we greet]").await;
    assert!(!pane.contains("EVE-WAS-HERE"), "{pane}");
    d.assert_fits("the review page with a comment").await;
    d.screenshot("target/screenshots/review-commented-390.png")
        .await;

    // Kept: a fresh load shows it under its line.
    d.goto(&s.url(&format!("/sessions/{id}/review"))).await;
    d.wait_text(".rv-note", "Say why we greet").await;

    // Approve shows its outcome.
    d.click("#review-approve-button").await;
    d.wait_text("#review-approved", "Approval recorded").await;
    drop(d);

    // The desktop window: the same page, with its note, at 1366 px.
    let d = Driver::start(false).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url(&format!("/sessions/{id}/review"))).await;
    d.wait_text("#review-files .rv-note", "Say why we greet")
        .await;
    d.assert_fits("the review page at 1366 px").await;
    d.screenshot("target/screenshots/review-1366.png").await;
    drop(d);

    // ---- control: a maintainer of the project may review and comment ----------------------
    let mid = s
        .create_user("mia@example.com", "mia-password-123", false)
        .await;
    s.add_member("projects", p, mid, "maintainer").await;
    let mia = s.web_login("mia@example.com", "mia-password-123").await;
    let (st, html) = web_get(&s, &mia, &format!("/sessions/{id}/review")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Say why we greet"), "the note is shown");
    let (st, body) = web_post(
        &s,
        &mia,
        &format!("/sessions/{id}/review/comment"),
        &[
            ("path", "src/lib.rs"),
            ("line", "3"),
            ("text", "LGTM from Mia"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    output_until(&s, id, "GOT[Reviewer on src/lib.rs:3: LGTM from Mia]").await;

    // Comments and the approval are in the audit log (web writes), with who made them.
    let (st, log) = s.get(&s.admin_key, "/api/v1/audit?limit=200").await;
    assert_eq!(st, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let paths: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {} {}", e["action"], e["path"], e["user_id"]))
        .collect();
    let seen = |path: &str, user: u64| {
        entries
            .iter()
            .any(|e| e["path"].as_str() == Some(path) && e["user_id"] == user)
    };
    assert!(
        seen(&format!("/sessions/{id}/review/comment"), mid),
        "Mia's comment audited: {paths:#?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["path"].as_str() == Some(&format!("/sessions/{id}/review/approve"))),
        "the approval audited: {paths:#?}"
    );
}
