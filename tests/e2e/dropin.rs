//! Drop-in differences with the original (issue 15), server side: `git_status` on the project
//! GET, the "no status" shape of `git/status`, branch names as `git branch -a` prints them, the
//! global agent instructions, the system status keys, updates from a release channel (file and
//! HTTP manifests), update-and-restart, and agent tool updates through a fake `npm`.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// The original's "no status" shape, with the reason in `error`.
fn assert_no_status(st: &Value, reason: &str) {
    assert_eq!(
        keys(st),
        set(&[
            "branch",
            "dirty",
            "untracked_files",
            "status_summary",
            "last_pull",
            "last_pull_display",
            "error"
        ]),
        "{st}"
    );
    assert_eq!(st["branch"], "unknown");
    assert_eq!(st["dirty"], Value::Null);
    assert_eq!(st["untracked_files"], json!([]));
    assert_eq!(st["status_summary"], "");
    assert_eq!(st["last_pull"], Value::Null);
    assert_eq!(st["last_pull_display"], Value::Null);
    assert!(
        st["error"].as_str().unwrap().contains(reason),
        "error says {reason:?}: {st}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn project_get_carries_git_status_and_git_status_answers_without_a_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("Acme").await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "shop", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();

    // No workspace yet: the GET still answers, with the original's error shape.
    let got = ok(&s, &k, Method::GET, &format!("/api/v1/projects/{p}"), None).await;
    let project = &got["project"];
    for legacy in [
        "id",
        "name",
        "description",
        "repo_url",
        "default_branch",
        "local_path",
        "tenant_id",
        "owner_id",
        "tenant_color",
        "tenant_name",
        "owner_name",
        "created_at",
        "updated_at",
    ] {
        assert!(project.get(legacy).is_some(), "{legacy}: {got}");
    }
    assert_no_status(&project["git_status"], "aiops workspace init shop");
    // Only the single-project GET carries it.
    let list = ok(&s, &k, Method::GET, "/api/v1/projects", None).await;
    assert!(list["projects"][0].get("git_status").is_none(), "{list}");
    // git/status: 200 with the same shape (the original's answer), not an error.
    let gs = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await;
    assert_no_status(&gs["status"], "aiops workspace init shop");

    // A viewer sees the project; its git_status says why there is none. Access errors of
    // git/status stay errors: 403 for the viewer, 404 for an outsider.
    let viewer = s
        .create_user("viewer@acme.test", "password-123", false)
        .await;
    s.add_member("tenants", tenant, viewer, "viewer").await;
    let vk = s
        .user_key("viewer@acme.test", "password-123", &["read", "write"])
        .await;
    let (st, v) = s.get(&vk, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_no_status(&v["project"]["git_status"], "developer");
    let (st, v) = s
        .get(&vk, &format!("/api/v1/projects/{p}/git/status"))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    s.create_user("eve@globex.test", "password-123", false)
        .await;
    let ek = s
        .user_key("eve@globex.test", "password-123", &["read", "write"])
        .await;
    for path in [
        format!("/api/v1/projects/{p}"),
        format!("/api/v1/projects/{p}/git/status"),
    ] {
        let (st, v) = s.get(&ek, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
    }

    // With a workspace: the real status, the same as git/status returns.
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let got = ok(&s, &k, Method::GET, &format!("/api/v1/projects/{p}"), None).await;
    let g = &got["project"]["git_status"];
    assert_eq!(g["branch"], "main", "{got}");
    assert_eq!(g["dirty"], false, "{got}");
    assert!(g.get("error").is_none(), "{got}");
    assert_eq!(g["last_commit_subject"], "initial", "{got}");
    assert_eq!(g["last_commit_hash"].as_str().unwrap().len(), 12, "{got}");
    assert!(
        g["workspace_path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("shop-{p}"))
    );
    let gs = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await;
    assert_eq!(keys(&gs["status"]), keys(g), "{gs}");
    assert_eq!(gs["status"]["last_commit_hash"], g["last_commit_hash"]);

    // Branches as `git branch -a` names them.
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/branches"),
        Some(json!({"name": "feature/x", "checkout": true})),
    )
    .await;
    let br = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/branches"),
        None,
    )
    .await;
    assert_eq!(br["current_branch"], "feature/x", "{br}");
    let names: Vec<(String, bool)> = br["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["is_current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("feature/x".to_string(), true),
            ("main".to_string(), false),
            ("remotes/origin/HEAD -> origin/main".to_string(), false),
            ("remotes/origin/main".to_string(), false),
        ],
        "{br}"
    );
    // The same list as git itself prints.
    let ws = Path::new(g["workspace_path"].as_str().unwrap());
    let git_a = crate::git::sh_git(ws, &["branch", "-a"]);
    let printed: Vec<String> = git_a
        .lines()
        .map(|l| l.trim_start_matches('*').trim().to_string())
        .collect();
    assert_eq!(
        printed,
        names.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn global_agent_instructions_have_the_original_shapes() {
    let s = Server::start();
    let k = s.admin_key.clone();
    let unset = ok(&s, &k, Method::GET, "/api/v1/agents/global", None).await;
    assert_eq!(
        unset,
        json!({"content": null, "updated_at": null, "updated_by": null,
               "message": "No global context set. System will use AGENTS.md from repository."})
    );
    let put = ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/agents/global",
        Some(json!({"content": "Be careful with prod."})),
    )
    .await;
    assert_eq!(
        keys(&put),
        set(&[
            "id",
            "content",
            "created_at",
            "updated_at",
            "updated_by",
            "message"
        ]),
        "{put}"
    );
    assert_eq!(keys(&put["updated_by"]), set(&["id", "name", "email"]));
    assert_eq!(put["updated_by"]["email"], ADMIN_EMAIL);
    let got = ok(&s, &k, Method::GET, "/api/v1/agents/global", None).await;
    assert_eq!(
        keys(&got),
        set(&["id", "content", "created_at", "updated_at", "updated_by"]),
        "{got}"
    );
    assert_eq!(got["id"], put["id"]);
    assert_eq!(got["content"], "Be careful with prod.");
    // Changing it keeps the id; setting it again after a delete makes a new one.
    let again = ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/agents/global",
        Some(json!({"content": "Be very careful."})),
    )
    .await;
    assert_eq!(again["id"], put["id"]);
    assert_eq!(again["created_at"], put["created_at"]);
    ok(&s, &k, Method::DELETE, "/api/v1/agents/global", None).await;
    let after = ok(&s, &k, Method::GET, "/api/v1/agents/global", None).await;
    assert_eq!(after, unset);
    let new = ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/agents/global",
        Some(json!({"content": "New rules."})),
    )
    .await;
    assert!(
        new["id"].as_u64().unwrap() > put["id"].as_u64().unwrap(),
        "{new} after {put}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn system_status_has_the_original_component_keys() {
    let s = Server::start();
    let k = s.admin_key.clone();
    let st = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
    for top in ["healthy", "timestamp", "components", "summary"] {
        assert!(st.get(top).is_some(), "{top}: {st}");
    }
    let c = &st["components"];
    for (name, details) in [
        ("database", &["path", "size_mb"][..]),
        ("tmux", &["session_count"][..]),
        ("git", &["version"][..]),
        ("ai_tools", &["tools"][..]),
        (
            "workspaces",
            &["instance_path", "workspace_count", "session_pipes"][..],
        ),
        ("integrations", &["count"][..]),
        ("sessions", &["total_active", "by_tool"][..]),
    ] {
        assert!(c[name]["healthy"].is_boolean(), "{name}: {st}");
        assert!(c[name]["message"].is_string(), "{name}: {st}");
        for d in details {
            assert!(c[name]["details"].get(*d).is_some(), "{name}.{d}: {st}");
        }
    }
    assert_eq!(c["integrations"]["details"]["count"], 0, "{st}");
    assert_eq!(c["sessions"]["details"]["total_active"], 0, "{st}");
    assert_eq!(
        c["workspaces"]["details"]["instance_path"],
        s.dir.canonicalize().unwrap().to_str().unwrap(),
        "{st}"
    );
    let tools = c["ai_tools"]["details"]["tools"].as_object().unwrap();
    assert!(!tools.contains_key("shell"), "{st}");
    for (name, t) in tools {
        assert!(
            t["available"].is_boolean() && t.get("path").is_some(),
            "{name}: {t}"
        );
    }
    let available = tools.values().filter(|t| t["available"] == true).count();
    assert!(
        c["ai_tools"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{available}/{} AI tools available", tools.len())),
        "{st}"
    );
    // Ours stay beside them.
    for ours in ["sandbox", "ansible", "scheduler"] {
        assert!(c[ours].is_object(), "{ours}: {st}");
    }
    let sum = &st["summary"];
    assert_eq!(sum["total_components"], c.as_object().unwrap().len());
    assert_eq!(
        sum["healthy_components"].as_u64().unwrap() + sum["unhealthy_components"].as_u64().unwrap(),
        sum["total_components"].as_u64().unwrap()
    );

    // With integrations: each by name with its provider and whether it is enabled.
    let tenant = s.create_tenant("Acme").await;
    let (st_, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "github", "name": "acme-gh",
                   "base_url": "http://127.0.0.1:9", "api_token": "ghp_status123"}),
        )
        .await;
    assert!(st_.is_success(), "{v}");
    let st = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
    assert_eq!(
        st["components"]["integrations"]["details"]["integrations"]["acme-gh"],
        json!({"provider": "github", "enabled": true}),
        "{st}"
    );
    assert!(!st.to_string().contains("ghp_status123"));
}

/// A loopback HTTP server answering `/channel/manifest.json` with what `manifest` holds (404
/// when None) and `/channel/aiops` with `binary`.
async fn channel_server(
    manifest: Arc<Mutex<Option<String>>>,
    binary: Vec<u8>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = poem::Route::new()
        .at(
            "/channel/manifest.json",
            poem::endpoint::make_sync(move |_| match manifest.lock().unwrap().clone() {
                Some(m) => poem::Response::builder()
                    .content_type("application/json")
                    .body(m),
                None => poem::Response::builder()
                    .status(poem::http::StatusCode::NOT_FOUND)
                    .body("gone"),
            }),
        )
        .at(
            "/channel/aiops",
            poem::endpoint::make_sync(move |_| binary.clone()),
        );
    let handle = tokio::spawn(async move {
        let _ = poem::Server::new(poem::listener::TcpListener::bind(addr.to_string()))
            .run(app)
            .await;
    });
    // Wait until it answers.
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/channel");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{url}/aiops")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the channel server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (url, handle)
}

#[tokio::test(flavor = "multi_thread")]
async fn update_from_a_release_channel_file_manifest_then_update_and_restart() {
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("aiops");
    std::fs::copy(BIN, &bin).unwrap();
    let chan = tempfile::tempdir().unwrap();
    let manifest = chan.path().join("manifest.json");
    std::fs::copy(BIN, chan.path().join("aiops-release")).unwrap();
    let good = sha(&std::fs::read(BIN).unwrap());
    let s = Server::start_bin(&bin, &[("AIOPS_UPDATE_URL", manifest.to_str().unwrap())]);
    let k = s.admin_key.clone();
    let before = std::fs::read(&bin).unwrap();

    // Any signed-in caller may read the channel (the CLI updates itself from it).
    s.create_user("ops@example.com", "ops-password-1", false)
        .await;
    let user = s
        .user_key("ops@example.com", "ops-password-1", &["read"])
        .await;
    let (st, v) = s.get(&user, "/api/v1/system/update-channel").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"update_url": manifest.to_str().unwrap(), "version": env!("CARGO_PKG_VERSION")})
    );

    // Attack: a non-admin cannot update (in either form) or update-and-restart; nothing runs.
    std::fs::write(
        &manifest,
        json!({"version": "9.9.9", "url": "aiops-release", "sha256": good}).to_string(),
    )
    .unwrap();
    let writer = s
        .user_key("ops@example.com", "ops-password-1", &["read", "write"])
        .await;
    for (path, body) in [
        ("/api/v1/system/update", json!({"skip_migrations": false})),
        ("/api/v1/system/update", json!({})),
        (
            "/api/v1/system/update",
            json!({"source": chan.path().join("aiops-release").to_str().unwrap(), "sha256": good}),
        ),
        (
            "/api/v1/system/update-and-restart",
            json!({"skip_migrations": false}),
        ),
    ] {
        let (st, v) = s.post(&writer, path, body).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    assert!(!bin.with_extension("previous").exists());

    // A wrong checksum in the manifest: refused, the binary unchanged.
    std::fs::write(
        &manifest,
        json!({"version": "9.9.9", "url": "aiops-release", "sha256": "0".repeat(64)}).to_string(),
    )
    .unwrap();
    let (st, e) = s
        .post(
            &k,
            "/api/v1/system/update",
            json!({"skip_migrations": false}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(err_text(&e).contains("checksum mismatch"), "{e}");
    assert_eq!(std::fs::read(&bin).unwrap(), before);
    assert!(!bin.with_extension("previous").exists());
    // An invalid manifest names itself and what is wrong.
    std::fs::write(&manifest, "not json").unwrap();
    let (st, e) = s.post(&k, "/api/v1/system/update", json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        err_text(&e).contains(manifest.to_str().unwrap()) && err_text(&e).contains("not JSON"),
        "{e}"
    );
    // source without sha256 is refused with what to send.
    let (st, e) = s
        .post(&k, "/api/v1/system/update", json!({"source": "/tmp/x"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(err_text(&e).contains("go together"), "{e}");

    // Control: the original's body updates from the channel.
    std::fs::write(
        &manifest,
        json!({"version": "9.9.9", "url": "aiops-release", "sha256": good}).to_string(),
    )
    .unwrap();
    let u = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/update",
        Some(json!({"skip_migrations": false})),
    )
    .await;
    assert!(
        u["message"]
            .as_str()
            .unwrap()
            .starts_with("System updated successfully"),
        "{u}"
    );
    assert_eq!(u["channel_version"], "9.9.9", "{u}");
    assert_eq!(u["restarting"], false);
    let r = &u["results"];
    for step in ["download", "verify"] {
        assert_eq!(r[step]["success"], true, "{step}: {u}");
        assert!(r[step]["stdout"].is_string() && r[step]["stderr"].is_string());
    }
    assert_eq!(r["migrations"]["skipped"], true, "{u}");
    assert!(
        r["migrations"]["message"]
            .as_str()
            .unwrap()
            .contains("migrates itself"),
        "{u}"
    );
    assert!(
        r["verify"]["stdout"].as_str().unwrap().contains(&good),
        "{u}"
    );
    assert!(bin.with_extension("previous").exists());
    // Ours keeps working beside it.
    let u = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/update",
        Some(
            json!({"source": chan.path().join("aiops-release").to_str().unwrap(), "sha256": good}),
        ),
    )
    .await;
    assert_eq!(u["channel_version"], Value::Null, "{u}");
    assert!(u["new_version"].as_str().unwrap().starts_with("aiops "));

    // update-and-restart: updated, then the server restarts (same process, new start time).
    let pid = s.child_id();
    let info = ok(&s, &k, Method::GET, "/api/v1/system/info", None).await;
    let u = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/update-and-restart",
        Some(json!({"skip_migrations": true})),
    )
    .await;
    assert_eq!(
        u["message"], "System updated successfully. Restart initiated.",
        "{u}"
    );
    assert_eq!(u["restarting"], true);
    assert_eq!(u["results"]["migrations"]["skipped"], true);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = s
            .client
            .get(s.url("/api/v1/system/info"))
            .bearer_auth(&k)
            .send()
            .await
            && r.status().is_success()
        {
            let v: Value = r.json().await.unwrap();
            if v["started_at"] != info["started_at"] {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the server did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.child_id(), pid);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_from_an_http_release_channel_and_without_a_channel() {
    // No channel and no source: says how to configure one.
    let plain = Server::start();
    let (st, e) = plain
        .post(&plain.admin_key, "/api/v1/system/update", json!({}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        err_text(&e),
        "No release channel configured: set update_url (AIOPS_UPDATE_URL) on the server, or send source and sha256."
    );
    let (st, e) = plain
        .post(
            &plain.admin_key,
            "/api/v1/system/update-and-restart",
            json!({"skip_migrations": false}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let ch = ok(
        &plain,
        &plain.admin_key,
        Method::GET,
        "/api/v1/system/update-channel",
        None,
    )
    .await;
    assert_eq!(ch["update_url"], Value::Null, "{ch}");
    drop(plain);

    let release = std::fs::read(BIN).unwrap();
    let good = sha(&release);
    let manifest = Arc::new(Mutex::new(Some(
        json!({"version": "2.0.0", "url": "aiops", "sha256": good}).to_string(),
    )));
    let (url, server) = channel_server(manifest.clone(), release).await;
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("aiops");
    std::fs::copy(BIN, &bin).unwrap();
    let manifest_url = format!("{url}/manifest.json");
    let s = Server::start_bin(&bin, &[("AIOPS_UPDATE_URL", manifest_url.as_str())]);
    let k = s.admin_key.clone();
    // The relative "aiops" resolves against the manifest's URL.
    let u = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/update",
        Some(json!({})),
    )
    .await;
    assert_eq!(u["source"], format!("{url}/aiops"), "{u}");
    assert_eq!(u["results"]["download"]["success"], true, "{u}");
    assert_eq!(u["channel_version"], "2.0.0");
    // A channel that answers 404: 502 naming the manifest's URL.
    *manifest.lock().unwrap() = None;
    let (st, e) = s.post(&k, "/api/v1/system/update", json!({})).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{e}");
    assert!(
        err_text(&e).contains(&manifest_url) && err_text(&e).contains("404"),
        "{e}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_tool_update_runs_the_configured_command_without_a_shell_or_secrets() {
    let fake = tempfile::tempdir().unwrap();
    let record = fake.path().join("argv.txt");
    let env_record = fake.path().join("env.txt");
    let npm = fake.path().join("npm");
    std::fs::write(
        &npm,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nenv > '{}'\nif [ \"$3\" = \"@openai/codex\" ]; then echo 'npm ERR! 404 @openai/codex' >&2; exit 1; fi\necho 'added 1 package in 2s'\n",
            record.display(),
            env_record.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let master = "6b".repeat(32);
    let s = Server::start_with(&[
        ("PATH", path.as_str()),
        ("AIOPS_SECRET_KEY", master.as_str()),
        (
            "AIOPS_AI_TOOL_UPDATE_COMMANDS",
            "gemini.brew=no-such-brew-aiops upgrade gemini-cli",
        ),
    ]);
    let k = s.admin_key.clone();

    // Attack: a non-admin (even with an admin-less write key) cannot run it.
    s.create_user("ops@example.com", "ops-password-1", false)
        .await;
    let user = s
        .user_key("ops@example.com", "ops-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .post(
            &user,
            "/api/v1/system/ai-tools/claude/update",
            json!({"source": "npm"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(!record.exists(), "nothing ran for the non-admin");

    // Control: the admin's update runs the fake npm with the default arguments.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/ai-tools/claude/update",
        Some(json!({"source": "npm"})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["message"], "Claude CLI NPM command succeeded.");
    assert_eq!(
        v["result"],
        json!({"tool": "claude", "tool_label": "Claude CLI", "source": "npm",
               "command": "npm install -g @anthropic-ai/claude-code",
               "stdout": "added 1 package in 2s\n", "stderr": "", "returncode": 0, "success": true})
    );
    assert_eq!(v["stdout"], "added 1 package in 2s\n");
    assert_eq!(v["stderr"], "");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "install -g @anthropic-ai/claude-code\n"
    );
    let env = std::fs::read_to_string(&env_record).unwrap();
    assert!(!env.contains(&master), "no master key in the child's env");
    assert!(
        !env.contains("AIOPS_"),
        "no server settings in the child's env: {env}"
    );

    // A failing command: 200, success false, its stderr in the message.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/ai-tools/codex/update",
        Some(json!({"source": "npm"})),
    )
    .await;
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(
        v["message"],
        "Codex CLI NPM command failed. Error: npm ERR! 404 @openai/codex"
    );
    assert_eq!(v["result"]["returncode"], 1);
    assert_eq!(v["stderr"], "npm ERR! 404 @openai/codex\n");
    // A missing program: 200, success false, naming it.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/ai-tools/gemini/update",
        Some(json!({"source": "brew"})),
    )
    .await;
    assert_eq!(v["success"], false, "{v}");
    assert!(
        v["message"].as_str().unwrap().starts_with(
            "Gemini CLI BREW command failed. Error: no-such-brew-aiops is not installed"
        ),
        "{v}"
    );
    assert_eq!(
        v["result"]["command"],
        "no-such-brew-aiops upgrade gemini-cli"
    );

    // The original's refusals.
    for (tool, body, status, text) in [
        (
            "claude",
            json!({}),
            StatusCode::BAD_REQUEST,
            "source is required (npm or brew)",
        ),
        (
            "claude",
            json!({"source": "pip"}),
            StatusCode::BAD_REQUEST,
            "Unsupported source. Use one of: npm, brew.",
        ),
        (
            "vim",
            json!({"source": "npm"}),
            StatusCode::NOT_FOUND,
            "Unsupported AI tool 'vim'.",
        ),
    ] {
        let (st, e) = s
            .post(&k, &format!("/api/v1/system/ai-tools/{tool}/update"), body)
            .await;
        assert_eq!(st, status, "{tool}: {e}");
        assert_eq!(err_text(&e), text);
    }
}
