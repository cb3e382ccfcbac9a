//! The attacks of the security review against tenancy, each played by a hostile user, each with
//! a control showing what the same request does for someone allowed.
//!
//! Alice maintains tenant Acme; Bob maintains tenant Globex and has no rights in Acme.

use crate::harness::*;
use crate::ssh::Sshd;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

struct World {
    s: Server,
    acme: u64,
    globex: u64,
    alice_id: u64,
    alice: String,
    bob: String,
}

async fn world() -> World {
    world_with(&[]).await
}

async fn world_with(env: &[(&str, &str)]) -> World {
    let s = Server::start_with(env);
    let acme = s.create_tenant("Acme").await;
    let globex = s.create_tenant("Globex").await;
    let alice_id = s
        .create_user("alice@acme.test", "alice-password-1", false)
        .await;
    let bob_id = s
        .create_user("bob@globex.test", "bob-password-1", false)
        .await;
    s.add_member("tenants", acme, alice_id, "maintainer").await;
    s.add_member("tenants", globex, bob_id, "maintainer").await;
    let alice = s
        .user_key("alice@acme.test", "alice-password-1", &["read", "write"])
        .await;
    let bob = s
        .user_key("bob@globex.test", "bob-password-1", &["read", "write"])
        .await;
    World {
        s,
        acme,
        globex,
        alice_id,
        alice,
        bob,
    }
}

async fn patch(s: &Server, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(key, Method::PATCH, path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_tenant_project_create_and_move_are_refused() {
    let w = world().await;
    let s = &w.s;
    // Attack: Bob creates a project in Acme, and moves his own project into Acme.
    let (st, v) = s
        .post(
            &w.bob,
            "/api/v1/projects",
            json!({"name": "globex-side", "repo_url": "https://x.test/r.git", "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(err_text(&v), format!("Tenant {} not found", w.acme));
    let bobs = s.create_project(&w.bob, "globex-api", w.globex).await;
    let (st, v) = patch(
        s,
        &w.bob,
        &format!("/api/v1/projects/{bobs}"),
        json!({"tenant_id": w.acme}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (_, p) = s.get(&w.bob, &format!("/api/v1/projects/{bobs}")).await;
    assert_eq!(
        p["project"]["tenant_id"], w.globex,
        "the project did not move"
    );
    let (_, acme_projects) = s
        .get(
            &s.admin_key,
            &format!("/api/v1/projects?tenant_id={}", w.acme),
        )
        .await;
    assert_eq!(acme_projects["count"], 0, "{acme_projects}");

    // Control: Alice, a maintainer of Acme, creates there; a maintainer of both may move.
    let (st, v) = s
        .post(
            &w.alice,
            "/api/v1/projects",
            json!({"name": "acme-web", "repo_url": "https://x.test/r.git", "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let bob_id = s.get(&w.bob, "/api/v1/auth/me").await.1["user"]["id"]
        .as_u64()
        .unwrap();
    s.add_member("tenants", w.acme, bob_id, "developer").await;
    let (st, v) = patch(
        s,
        &w.bob,
        &format!("/api/v1/projects/{bobs}"),
        json!({"tenant_id": w.acme}),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a developer of Acme may not move in: {v}"
    );
    s.call(
        &s.admin_key,
        Method::PATCH,
        &format!("/api/v1/tenants/{}/members/{bob_id}", w.acme),
        Some(json!({"role": "maintainer"})),
    )
    .await;
    let (st, v) = patch(
        s,
        &w.bob,
        &format!("/api/v1/projects/{bobs}"),
        json!({"tenant_id": w.acme}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "maintainer in both: {v}");
    assert_eq!(v["project"]["tenant_id"], w.acme);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_ssh_key_never_serves_another_tenants_project() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    std::fs::write(bare.join("SECRET-MARKER"), "acme only").unwrap();
    let w = world().await;
    let s = &w.s;
    // Acme's deploy key is the only key the "private git host" accepts.
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/admin/ssh-keys",
            json!({"name": "acme-deploy", "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let public = v["ssh_key"]["public_key"].as_str().unwrap().to_string();
    let acme_key = v["ssh_key"]["id"].as_u64().unwrap();
    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public], None);
    let url = sshd.url(&bare);

    // Attack: Bob points a Globex project at Acme's repository and tries every way in.
    let (st, v) = s
        .post(
            &w.bob,
            "/api/v1/projects",
            json!({"name": "side", "repo_url": url, "tenant_id": w.globex}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let side = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .call(
            &w.bob,
            Method::POST,
            &format!("/api/v1/projects/{side}/workspace/init"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "no Globex key: {v}");
    assert!(err_text(&v).contains("SSH key"), "{v}");
    let (st, _) = s
        .call(
            &w.bob,
            Method::PUT,
            &format!("/api/v1/projects/{side}/ssh-key"),
            Some(json!({"ssh_key_id": acme_key})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "Acme's key is not his to choose");
    let (st, _) = patch(
        s,
        &w.bob,
        &format!("/api/v1/projects/{side}"),
        json!({"tenant_id": w.acme}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = s
        .get(&w.bob, &format!("/api/v1/projects/{side}/files"))
        .await;
    assert_ne!(st, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains("README"), "{v}");

    // Control: the same repository through a project Alice placed in Acme clones with the key.
    let (st, v) = s
        .post(
            &w.alice,
            "/api/v1/projects",
            json!({"name": "web", "repo_url": url, "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let web = v["project"]["id"].as_u64().unwrap();
    let v = ok(
        s,
        &w.alice,
        Method::POST,
        &format!("/api/v1/projects/{web}/workspace/init"),
        None,
    )
    .await;
    assert!(v.to_string().contains("nitiali"), "{v}");
    let v = ok(
        s,
        &w.alice,
        Method::GET,
        &format!("/api/v1/projects/{web}/files/README.md"),
        None,
    )
    .await;
    assert!(v["content"].as_str().unwrap().contains("Demo"), "{v}");
    // And Bob cannot read Alice's project's files either.
    let (st, _) = s
        .get(&w.bob, &format!("/api/v1/projects/{web}/files/README.md"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_key_can_neither_manage_keys_nor_write() {
    let w = world().await;
    let s = &w.s;
    let read = s
        .user_key("alice@acme.test", "alice-password-1", &["read"])
        .await;
    let (_, keys) = s.get(&w.alice, "/api/v1/auth/keys").await;
    let write_key_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scopes"].as_array().unwrap().len() == 2)
        .and_then(|k| k["id"].as_u64())
        .unwrap();
    // Attack: mint, deactivate, re-scope, rename and delete keys with a read key.
    let attempts = [
        (
            Method::POST,
            "/api/v1/auth/keys".to_string(),
            Some(json!({"name": "m", "scopes": ["read"]})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/auth/keys/{write_key_id}"),
            Some(json!({"is_active": false})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/auth/keys/{write_key_id}"),
            Some(json!({"scopes": ["read"]})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/auth/keys/{write_key_id}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/auth/keys/{write_key_id}"),
            None,
        ),
    ];
    for (m, p, b) in attempts.clone() {
        let (st, v) = s.call(&read, m.clone(), &p, b).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p}: {v}");
        assert!(err_text(&v).contains("write"), "{v}");
    }
    let (_, keys) = s.get(&w.alice, "/api/v1/auth/keys").await;
    let k = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == write_key_id)
        .cloned()
        .unwrap();
    assert_eq!(
        (
            k["is_active"].clone(),
            k["name"].clone(),
            k["scopes"].clone()
        ),
        (json!(true), json!("test"), json!(["read", "write"])),
        "the write key is untouched"
    );
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "no key minted");
    let (st, _) = s.get(&w.alice, "/api/v1/auth/me").await;
    assert_eq!(st, StatusCode::OK, "the write key still works");
    // Control: the write key may rename itself.
    let (st, _) = patch(
        s,
        &w.alice,
        &format!("/api/v1/auth/keys/{write_key_id}"),
        json!({"name": "renamed"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_key_cannot_refresh_an_issue() {
    use crate::fakes::{Fake, Kind};
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(1, 0);
    let w = world().await;
    let s = &w.s;
    let p = s.create_project(&w.alice, "web", w.acme).await;
    let v = ok(
        s,
        &w.alice,
        Method::POST,
        "/api/v1/integrations",
        Some(json!({"tenant_id": w.acme, "provider": "github", "name": "gh", "base_url": gh.url, "api_token": "gh-token"})),
    )
    .await;
    let integ = v["integration"]["id"].as_u64().unwrap();
    ok(
        s,
        &w.alice,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p, "external_identifier": "octo/repo"})),
    )
    .await;
    ok(
        s,
        &w.alice,
        Method::POST,
        "/api/v1/issues/sync",
        Some(json!({"project_id": p})),
    )
    .await;
    let (_, list) = s.get(&w.alice, "/api/v1/issues").await;
    let id = list["issues"][0]["id"].as_u64().unwrap();
    let read = s
        .user_key("alice@acme.test", "alice-password-1", &["read"])
        .await;
    gh.clear_requests();
    let (st, v) = s
        .post(&read, &format!("/api/v1/issues/{id}/refresh"), json!({}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(gh.requests().is_empty(), "no tracker call was spent");
    // Control: the write key refreshes (one call to the tracker).
    let (st, v) = s
        .post(&w.alice, &format!("/api/v1/issues/{id}/refresh"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!gh.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_and_links_are_visible_to_their_tenant_only() {
    let w = world().await;
    let s = &w.s;
    let p = s.create_project(&w.alice, "acme-web", w.acme).await;
    let v = ok(
        s,
        &w.alice,
        Method::POST,
        "/api/v1/integrations",
        Some(
            json!({"tenant_id": w.acme, "provider": "github", "name": "acme gh",
                    "base_url": "http://127.0.0.1:9", "api_token": "ghp_secret_abcd"}),
        ),
    )
    .await;
    let integ = v["integration"]["id"].as_u64().unwrap();
    assert_eq!(
        v["integration"]["token_hint"], "••••abcd",
        "maintainers see the hint"
    );
    let v = ok(
        s,
        &w.alice,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p, "external_identifier": "acme/web"})),
    )
    .await;
    let link = v["link"]["id"].as_u64().unwrap();

    // Attack: Bob reads Acme's integrations and links every way the review tried.
    let (_, list) = s.get(&w.bob, "/api/v1/integrations").await;
    assert_eq!(list["count"], 0, "{list}");
    for path in [
        format!("/api/v1/integrations/{integ}"),
        format!("/api/v1/integrations/{integ}/projects"),
        format!("/api/v1/tenants/{}/integrations", w.acme),
        format!("/api/v1/project-integrations/{link}"),
        format!("/api/v1/projects/{p}/integrations"),
    ] {
        let (st, v) = s.get(&w.bob, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
        assert!(!v.to_string().contains("acme"), "{path} leaked: {v}");
    }
    // A viewer of Acme sees them, without the token hint.
    let viewer = s
        .create_user("v@acme.test", "viewer-password-1", false)
        .await;
    s.add_member("tenants", w.acme, viewer, "viewer").await;
    let vk = s
        .user_key("v@acme.test", "viewer-password-1", &["read", "write"])
        .await;
    let (st, v) = s.get(&vk, &format!("/api/v1/integrations/{integ}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains("abcd"), "{v}");
    let (st, v) = s
        .get(&vk, &format!("/api/v1/project-integrations/{link}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // And a viewer cannot change them.
    let (st, _) = patch(
        s,
        &vk,
        &format!("/api/v1/integrations/{integ}"),
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_members_get_404_exactly_like_missing_ids() {
    let w = world().await;
    let s = &w.s;
    let p = s.create_project(&w.alice, "acme-web", w.acme).await;
    for (existing, missing) in [
        (
            format!("/api/v1/projects/{p}"),
            "/api/v1/projects/99999".to_string(),
        ),
        (
            format!("/api/v1/tenants/{}", w.acme),
            "/api/v1/tenants/99999".to_string(),
        ),
        (
            format!("/api/v1/projects/{p}/members"),
            "/api/v1/projects/99999/members".to_string(),
        ),
        (
            format!("/api/v1/tenants/{}/members", w.acme),
            "/api/v1/tenants/99999/members".to_string(),
        ),
    ] {
        let (a, av) = s.get(&w.bob, &existing).await;
        let (b, bv) = s.get(&w.bob, &missing).await;
        assert_eq!((a, b), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        // Same message shape: only the id differs.
        let strip = |v: &Value| {
            err_text(v)
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect::<String>()
        };
        assert_eq!(strip(&av), strip(&bv));
    }
    // Tenants he is not in are not listed, and counts cover only what he sees.
    let (_, t) = s.get(&w.bob, "/api/v1/tenants").await;
    let names: Vec<&str> = t["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Globex"]);
    let (_, info) = s.get(&w.bob, "/api/v1/system/info").await;
    assert_eq!(info["counts"]["tenants"], 1, "{info}");
    assert_eq!(info["counts"]["projects"], 0, "{info}");
    // Control: Alice, a member, gets it.
    let (st, _) = s.get(&w.alice, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_user_patch_changes_nothing() {
    let w = world().await;
    let s = &w.s;
    let bob_id = s.get(&w.bob, "/api/v1/auth/me").await.1["user"]["id"]
        .as_u64()
        .unwrap();
    let (st, v) = patch(
        s,
        &s.admin_key,
        &format!("/api/v1/users/{bob_id}"),
        json!({"name": "Bob Renamed", "is_admin": true, "email": "bob2@globex.test", "password": "short"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("8 characters"), "{v}");
    let (_, u) = s
        .get(&s.admin_key, &format!("/api/v1/users/{bob_id}"))
        .await;
    assert_eq!(u["user"]["name"], "bob", "{u}");
    assert_eq!(u["user"]["email"], "bob@globex.test");
    assert_eq!(u["user"]["is_admin"], false);
    // A bad Linux user name is refused the same way.
    let (st, _) = patch(
        s,
        &s.admin_key,
        &format!("/api/v1/users/{bob_id}"),
        json!({"name": "Bob Renamed", "linux_username": "-rf"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&s.admin_key, &format!("/api/v1/users/{bob_id}"))
            .await
            .1["user"]["name"],
        "bob"
    );
    // Control: the same change with a good password is saved whole, and the password works.
    let (st, v) = patch(
        s,
        &s.admin_key,
        &format!("/api/v1/users/{bob_id}"),
        json!({"name": "Bob Renamed", "email": "bob2@globex.test", "password": "a-good-password"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["name"], "Bob Renamed");
    s.web_login("bob2@globex.test", "a-good-password").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_whose_names_slug_alike_are_refused_and_workspaces_are_keyed_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let w = world().await;
    let s = &w.s;
    let (st, v) = s
        .post(
            &w.alice,
            "/api/v1/projects",
            json!({"name": "Dup Web", "repo_url": bare.to_str().unwrap(), "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let first = v["project"]["id"].as_u64().unwrap();
    // Attack: a second project whose name folds to the same slug, by create and by rename.
    let (st, v) = s
        .post(
            &w.alice,
            "/api/v1/projects",
            json!({"name": "dup-web", "repo_url": "https://evil.test/e.git", "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(err_text(&v).contains("Dup Web"), "{v}");
    let other = s.create_project(&w.alice, "other", w.acme).await;
    let (st, _) = patch(
        s,
        &w.alice,
        &format!("/api/v1/projects/{other}"),
        json!({"name": "DUP_web"}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The same name in another tenant is fine (another directory).
    s.create_project(&w.bob, "dup-web", w.globex).await;
    // The workspace path carries the project id.
    let v = ok(
        s,
        &w.alice,
        Method::POST,
        &format!("/api/v1/projects/{first}/workspace/init"),
        None,
    )
    .await;
    let path = v["path"].as_str().unwrap();
    assert!(
        path.ends_with(&format!("/dup-web-{first}")),
        "workspace keyed by id: {path}"
    );
    assert!(Path::new(path).join("README.md").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_session_key_reaches_only_its_project() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let w = world().await;
    let s = &w.s;
    let (st, v) = s
        .post(
            &w.alice,
            "/api/v1/projects",
            json!({"name": "agentproj", "repo_url": bare.to_str().unwrap(), "tenant_id": w.acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let other = s.create_project(&w.alice, "elsewhere", w.acme).await;
    // The agent writes its key into its workspace (its /tmp is private to its sandbox).
    let cmd = "sh -c 'printf %s \"$AIOPS_API_KEY\" > ./agent-key; sleep 300'".to_string();
    let (st, v) = s
        .post(
            &w.alice,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "shell", "command": cmd}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let out = std::path::PathBuf::from(v["workspace_path"].as_str().unwrap()).join("agent-key");
    let mut key = String::new();
    for _ in 0..100 {
        key = std::fs::read_to_string(&out).unwrap_or_default();
        if key.starts_with("aiops_") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(key.starts_with("aiops_"), "the agent got its key");
    let (_, me) = s.get(&key, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["project_id"], p, "{me}");
    // Its own project: readable and workable.
    let (st, _) = s.get(&key, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .get(&key, &format!("/api/v1/projects/{p}/git/status"))
        .await;
    assert_eq!(st, StatusCode::OK);
    // Attack: the agent reaches for its user's other project, mints a wider key, manages.
    let (st, _) = s.get(&key, &format!("/api/v1/projects/{other}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = s.get(&key, "/api/v1/projects").await;
    assert_eq!(list["count"], 1, "{list}");
    let (st, _) = s
        .post(
            &key,
            "/api/v1/auth/keys",
            json!({"name": "escape", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = patch(
        s,
        &key,
        &format!("/api/v1/projects/{p}"),
        json!({"description": "agent was here"}),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a session key works, never manages"
    );
    let newcomer = s.create_user("n@acme.test", "newcomer-pass-1", false).await;
    let (st, _) = s
        .post(
            &key,
            &format!("/api/v1/tenants/{}/members", w.acme),
            json!({"user_id": newcomer, "role": "viewer"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Control: Alice's own key reaches both projects and can manage.
    let (st, _) = s.get(&w.alice, &format!("/api/v1/projects/{other}")).await;
    assert_eq!(st, StatusCode::OK);
    let _ = w.alice_id;
    kill_tmux(&s.dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn members_api_and_cli_roles_and_who_may_grant_them() {
    let w = world().await;
    let s = &w.s;
    let dev = s
        .create_user("dev@acme.test", "dev-password-1", false)
        .await;
    let p = s.create_project(&w.alice, "web", w.acme).await;
    // A tenant maintainer adds a developer (by email) and changes the role.
    let (st, v) = s
        .post(
            &w.alice,
            &format!("/api/v1/tenants/{}/members", w.acme),
            json!({"email": "dev@acme.test", "role": "developer"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["member"]["role"], "developer");
    let (st, v) = s
        .post(
            &w.alice,
            &format!("/api/v1/tenants/{}/members", w.acme),
            json!({"user_id": dev, "role": "viewer"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    // ...but cannot make anyone a maintainer: that is for admins.
    let (st, v) = patch(
        s,
        &w.alice,
        &format!("/api/v1/tenants/{}/members/{dev}", w.acme),
        json!({"role": "maintainer"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = patch(
        s,
        &w.alice,
        &format!("/api/v1/tenants/{}/members/{dev}", w.acme),
        json!({"role": "Owner"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&v).contains("viewer, developer, maintainer"));
    // The developer sees the tenant's projects and what they are in /auth/me.
    let dk = s
        .user_key("dev@acme.test", "dev-password-1", &["read", "write"])
        .await;
    let (_, me) = s.get(&dk, "/api/v1/auth/me").await;
    assert_eq!(me["memberships"][0]["kind"], "tenant", "{me}");
    assert_eq!(me["memberships"][0]["name"], "Acme");
    assert_eq!(me["memberships"][0]["role"], "developer");
    let (st, _) = s.get(&dk, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(st, StatusCode::OK);
    // ...and cannot add members.
    let (st, _) = s
        .post(
            &dk,
            &format!("/api/v1/projects/{p}/members"),
            json!({"user_id": dev, "role": "viewer"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The creator of a project is its maintainer.
    let (_, m) = s
        .get(&w.alice, &format!("/api/v1/projects/{p}/members"))
        .await;
    assert_eq!(m["members"][0]["email"], "alice@acme.test", "{m}");
    assert_eq!(m["members"][0]["role"], "maintainer");

    // The CLI: list, add, set, remove on a project.
    let cli_as = |key: &str, args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env("AIOPS_URL", &s.base)
            .env("AIOPS_API_KEY", key)
            .env("HOME", s.dir.as_os_str())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let ps = p.to_string();
    let (okay, out, err) = cli_as(
        &w.alice,
        &[
            "projects",
            "members",
            "add",
            &ps,
            "dev@acme.test",
            "--role",
            "viewer",
        ],
    );
    assert!(okay, "{out}{err}");
    let (okay, out, err) = cli_as(
        &w.alice,
        &[
            "projects",
            "members",
            "set",
            &ps,
            "dev@acme.test",
            "--role",
            "developer",
        ],
    );
    assert!(okay, "{out}{err}");
    let (okay, out, err) = cli_as(
        &w.alice,
        &["-o", "json", "projects", "members", "list", &ps],
    );
    assert!(okay, "{err}");
    assert!(
        out.contains("dev@acme.test") && out.contains("developer"),
        "{out}"
    );
    let (okay, _, err) = cli_as(
        &w.alice,
        &["projects", "members", "remove", &ps, "dev@acme.test"],
    );
    assert!(okay, "{err}");
    let (okay, _, err) = cli_as(
        &w.alice,
        &[
            "tenants",
            "members",
            "set",
            "Acme",
            &dev.to_string(),
            "--role",
            "maintainer",
        ],
    );
    assert!(!okay && err.contains("administrators"), "{err}");
    let (okay, out, _) = cli_as(
        &w.alice,
        &["-o", "json", "tenants", "members", "list", "acme"],
    );
    assert!(okay && out.contains("dev@acme.test"), "{out}");
}
