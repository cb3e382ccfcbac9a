//! `aiops import-sqlite`: a SQLite database in the Python aiops 0.3.x schema (built here with
//! rusqlite, with Werkzeug password hashes, bcrypt API key hashes and a private key file) is
//! imported; then every entity is checked through the API, and the old password and API key log
//! in.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const SCHEMA: &str = r#"
CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, name VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) NOT NULL, is_admin BOOLEAN NOT NULL, linux_username VARCHAR(255),
  claude_input_tokens_limit INTEGER, claude_usage_last_updated DATETIME, aiops_cli_url VARCHAR(512),
  aiops_cli_api_key VARCHAR(512), created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE tenants (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, description TEXT,
  color VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE ssh_keys (id INTEGER PRIMARY KEY, name VARCHAR(128) NOT NULL, public_key TEXT NOT NULL,
  fingerprint VARCHAR(128) NOT NULL UNIQUE, private_key_path VARCHAR(512), user_id INTEGER NOT NULL,
  tenant_id INTEGER, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, repo_url VARCHAR(512) NOT NULL,
  default_branch VARCHAR(64) NOT NULL, local_path VARCHAR(512) NOT NULL, description TEXT,
  tenant_id INTEGER NOT NULL, owner_id INTEGER NOT NULL, ssh_key_id INTEGER,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE tenant_integrations (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, provider VARCHAR(50) NOT NULL,
  name VARCHAR(255) NOT NULL, base_url VARCHAR(512), api_token TEXT NOT NULL, settings JSON NOT NULL,
  enabled BOOLEAN NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE project_integrations (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, integration_id INTEGER NOT NULL,
  external_identifier VARCHAR(255) NOT NULL, config JSON NOT NULL, last_synced_at DATETIME,
  override_api_token TEXT, override_base_url VARCHAR(512), override_settings JSON,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE external_issues (id INTEGER PRIMARY KEY, project_integration_id INTEGER NOT NULL,
  external_id VARCHAR(128) NOT NULL, title VARCHAR(512) NOT NULL, status VARCHAR(128), assignee VARCHAR(255),
  url VARCHAR(1024), labels JSON NOT NULL, comments JSON NOT NULL, external_updated_at DATETIME,
  last_seen_at DATETIME, raw_payload JSON, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE pinned_issues (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, issue_id INTEGER NOT NULL,
  pinned_at DATETIME NOT NULL);
CREATE TABLE user_integration_credentials (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
  integration_id INTEGER NOT NULL, api_token TEXT NOT NULL, settings JSON,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE user_identity_map (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, github_username VARCHAR(255),
  gitlab_username VARCHAR(255), jira_account_id VARCHAR(255), created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE api_keys (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name VARCHAR(255) NOT NULL,
  key_hash VARCHAR(255) NOT NULL UNIQUE, key_prefix VARCHAR(16) NOT NULL, scopes JSON NOT NULL,
  is_active BOOLEAN NOT NULL, last_used_at DATETIME, expires_at DATETIME,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE api_audit_logs (id INTEGER PRIMARY KEY, user_id INTEGER, api_key_id INTEGER, method VARCHAR(10) NOT NULL,
  path VARCHAR(512) NOT NULL, query_params JSON, request_body JSON, response_status INTEGER NOT NULL,
  response_time_ms INTEGER, ip_address VARCHAR(45), user_agent TEXT, error_message TEXT,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE ai_sessions (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  issue_id INTEGER, tool VARCHAR(50) NOT NULL, session_id VARCHAR(255) NOT NULL, command TEXT, description TEXT,
  tmux_target VARCHAR(255), started_at DATETIME NOT NULL, ended_at DATETIME, is_active BOOLEAN NOT NULL,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE global_agent_context (id INTEGER PRIMARY KEY, content TEXT NOT NULL, updated_by_user_id INTEGER,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE system_config (id INTEGER PRIMARY KEY, key VARCHAR(128) NOT NULL UNIQUE, value JSON,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
"#;

const T: &str = "2024-05-01 10:00:00.000000";
const ALICE_KEY: &str = "aiops_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The original admin's API key (scopes read, write, admin), in the `api_keys` table.
pub(crate) const ADMIN_KEY: &str =
    "aiops_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
/// The ids `build_db_sized` gives: GitHub link 4 (integration 3, project 5 "Shop") and GitLab
/// link 8 (integration 6, project 6 "Api"), both in tenant 1 "Acme"; issues from 17 up.
pub(crate) const FIRST_ISSUE: u64 = 17;

fn werkzeug(password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut out,
    );
    format!("pbkdf2:sha256:{iterations}${salt}${}", hex::encode(out))
}

fn build_db(dir: &Path) -> std::path::PathBuf {
    build_db_sized(dir, 2)
}

/// A database in the original's schema with `n_issues` issues (at least the two fixed ones, 17
/// and 18 on the GitHub link; the rest, ids 19 up, alternate between the GitHub and the GitLab
/// link, in mixed states, some with comments, older ids created later). Pins for the admin
/// (every 50th issue) and Alice (17), the admin's API key `ADMIN_KEY`.
pub(crate) fn build_db_sized(dir: &Path, n_issues: usize) -> std::path::PathBuf {
    let instance = dir.join("instance");
    std::fs::create_dir_all(instance.join("keys")).unwrap();
    // A real private key in the original's keys folder.
    let key_path = instance.join("keys").join("deploy_key");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy@old", "-f"])
        .arg(&key_path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    let public = std::fs::read_to_string(key_path.with_extension("pub")).unwrap();
    let db_path = instance.join("app.db");
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch(SCHEMA).unwrap();
    let exec = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
        db.execute(sql, params).unwrap();
    };
    exec(
        "INSERT INTO users VALUES (1,'Admin@Example.com','Administrator',?1,1,NULL,NULL,NULL,NULL,'aiops_plaintext_secret',?2,?2)",
        &[&werkzeug("old-admin-pass", "Xy7saltsaltsalt1", 1000), &T],
    );
    exec(
        "INSERT INTO users VALUES (2,'alice@example.com','Alice',?1,0,'alice',NULL,NULL,NULL,NULL,?2,?2)",
        &[&werkzeug("alice-pass-1", "alicesalt1234567", 2000), &T],
    );
    exec(
        "INSERT INTO tenants VALUES (1,'Acme','Main tenant','#10b981',?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO ssh_keys VALUES (1,'deploy',?1,'aa:bb',?2,1,1,?3,?3)",
        &[&public.trim(), &"keys/deploy_key", &T],
    );
    exec(
        "INSERT INTO projects VALUES (5,'Shop','git@github.com:acme/shop.git','main','/srv/repos/shop','The shop',1,2,1,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO tenant_integrations VALUES (3,1,'GitHub','gh main',NULL,'ghp_tenanttoken123','{}',1,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO project_integrations VALUES (4,5,3,'acme/shop','{}',?1,'ghp_projecttoken','https://api.github.com','{\"username\": \"acme-bot\"}',?1,?1)",
        &[&T],
    );
    let raw =
        json!({"number": 42, "body": "Checkout fails on **Safari**.\n\nSteps: pay."}).to_string();
    let comments = json!([{"id": "900", "author": "bob", "body": "Seen it too", "created_at": "2024-04-30T09:00:00Z", "url": "https://github.com/acme/shop/issues/42#c900"}]).to_string();
    exec(
        "INSERT INTO external_issues VALUES (17,4,'42','Checkout fails','open','alice','https://github.com/acme/shop/issues/42','[\"bug\",\"p1\"]',?1,?2,?2,?3,?2,?2)",
        &[&comments, &T, &raw],
    );
    exec(
        "INSERT INTO external_issues VALUES (18,4,'43','Old thing','closed',NULL,NULL,'[]','[]',NULL,NULL,NULL,?1,?1)",
        &[&T],
    );
    exec("INSERT INTO pinned_issues VALUES (1,2,17,?1)", &[&T]);
    exec(
        "INSERT INTO user_integration_credentials VALUES (1,2,3,'ghp_alicetoken','{\"username\": \"alice-gh\"}',?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO user_identity_map VALUES (1,2,'alice-gh','alice-gl',NULL,?1,?1)",
        &[&T],
    );
    let hash = bcrypt::hash(ALICE_KEY, 4).unwrap();
    exec(
        "INSERT INTO api_keys VALUES (7,2,'alice laptop',?1,?2,'[\"read\", \"write\"]',1,NULL,NULL,?3,?3)",
        &[&hash, &&ALICE_KEY[..12], &T],
    );
    exec(
        "INSERT INTO api_audit_logs VALUES (1,2,7,'POST','/api/v1/issues/17/comments','{\"x\": \"1\"}','{\"body\": \"hi\"}',201,12,'10.0.0.1','curl',NULL,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO ai_sessions VALUES (1,5,2,17,'claude','abc',NULL,NULL,'s:0',?1,NULL,1,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO global_agent_context VALUES (1,'  Be careful with prod.  ',1,?1,?1)",
        &[&T],
    );
    let admin_hash = bcrypt::hash(ADMIN_KEY, 4).unwrap();
    exec(
        "INSERT INTO api_keys VALUES (8,1,'admin cli',?1,?2,'[\"read\", \"write\", \"admin\"]',1,NULL,NULL,?3,?3)",
        &[&admin_hash, &&ADMIN_KEY[..12], &T],
    );
    // The second project, on GitLab.
    exec(
        "INSERT INTO projects VALUES (6,'Api','git@gitlab.com:acme/api.git','main','/srv/repos/api','The API',1,1,NULL,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO tenant_integrations VALUES (6,1,'gitlab','gl main',NULL,'glpat-tenanttoken','{}',1,?1,?1)",
        &[&T],
    );
    exec(
        "INSERT INTO project_integrations VALUES (8,6,6,'acme/api','{}',NULL,NULL,NULL,NULL,?1,?1)",
        &[&T],
    );
    let extra = n_issues.saturating_sub(2);
    db.execute_batch("BEGIN").unwrap();
    for k in 0..extra {
        let id = FIRST_ISSUE + 2 + k as u64;
        let gitlab = k % 2 == 1;
        let (link, number) = if gitlab {
            (8, 100 + k as u64)
        } else {
            (4, 1000 + k as u64)
        };
        let status = match (gitlab, k % 3) {
            (_, 0) => "closed",
            (true, _) => "opened",
            (false, _) => "open",
        };
        // Older ids get later times: a newest-first list is not an ascending-id list.
        let at = format!(
            "2024-06-{:02} {:02}:{:02}:00.{:06}",
            1 + (extra - k) % 28,
            (extra - k) % 24,
            k % 60,
            123456 + k
        );
        let (url, raw) = if gitlab {
            (
                format!("https://gitlab.com/acme/api/-/issues/{number}"),
                json!({"iid": number, "description": format!("GitLab issue {number}")}),
            )
        } else {
            (
                format!("https://github.com/acme/shop/issues/{number}"),
                json!({"number": number, "body": format!("GitHub issue {number}")}),
            )
        };
        let comments = if k % 10 == 0 {
            json!([{"id": format!("c{id}"), "author": "Bob Builder", "body": "Looking at it", "created_at": "2024-06-01T09:00:00Z"}])
        } else {
            json!([])
        };
        exec(
            "INSERT INTO external_issues VALUES (?1,?2,?3,?4,?5,?6,?7,'[\"imported\"]',?8,?9,?9,?10,?9,?9)",
            &[
                &id,
                &link,
                &number.to_string(),
                &format!("Imported issue {id}"),
                &status,
                &if k % 4 == 0 { Some("alice") } else { None },
                &url,
                &comments.to_string(),
                &at,
                &raw.to_string(),
            ],
        );
        if k % 50 == 0 {
            exec(
                "INSERT INTO pinned_issues VALUES (?1,1,?2,?3)",
                &[&(100 + k as u64), &id, &T],
            );
        }
    }
    db.execute_batch("COMMIT").unwrap();
    db_path
}

fn import(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("import-sqlite")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Every file under `dir`: relative path, size, modification time and a digest of the bytes.
fn listing(dir: &Path) -> Vec<(String, u64, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if m.is_dir() {
                out.push((format!("{rel}/"), 0, format!("{:?}", m.modified().ok())));
                walk(root, &p, out);
            } else {
                use sha2::Digest;
                let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()));
                out.push((rel, m.len(), format!("{:?} {digest}", m.modified().ok())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `GET /system/scheduler` until `want` holds for its text (within 20 s, else a failure).
async fn scheduler_until(s: &Server, key: &str, want: impl Fn(&str) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = get_ok(s, key, "/api/v1/system/scheduler").await;
        if want(&v.to_string()) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler never listed what was expected: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn get_ok(s: &Server, key: &str, path: &str) -> Value {
    let (st, v) = s.call(key, Method::GET, path, None).await;
    assert!(st.is_success(), "{path}: {st} {v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn python_aiops_sqlite_is_imported_and_logins_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(tmp.path());
    let data = tmp.path().join("data");
    let dbs = db.to_str().unwrap();

    // Dry run: the full report, nothing written (not even the missing data dir).
    let (ok_, out, err) = import(&data, &[dbs, "--dry-run"]);
    assert!(ok_, "{out}{err}");
    assert!(out.contains("Would import"), "{out}");
    assert!(out.contains("issues") && out.contains(" 2"), "{out}");
    assert!(out.contains("left out: ai_sessions (1)"), "{out}");
    assert!(
        out.contains("integration 3: gh main (github)")
            && out.contains("PATCH /api/v1/integrations/<id>"),
        "{out}"
    );
    assert!(!data.exists(), "a dry run created {}", data.display());
    // The real import, then again: idempotent.
    let (ok_, out, err) = import(&data, &[dbs]);
    assert!(ok_, "{out}{err}");
    assert!(out.contains("Imported"), "{out}");
    let (ok_, out, _) = import(&data, &[dbs]);
    assert!(ok_ && out.contains("already imported"), "{out}");
    // Another source into a non-empty store: refused without --force.
    let other = tmp.path().join("other.db");
    std::fs::copy(&db, &other).unwrap();
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute("UPDATE tenants SET description='changed'", [])
        .unwrap();
    let (ok_, _, err) = import(&data, &[other.to_str().unwrap()]);
    assert!(!ok_ && err.contains("--force"), "{err}");
    // A dry run against the existing store: the report (and the refusal to come), nothing changed.
    let before = listing(&data);
    assert!(
        before.iter().any(|(p, _, _)| p == "aiops.redb"),
        "{before:?}"
    );
    assert!(
        before.iter().any(|(p, _, _)| p == "secret.key"),
        "{before:?}"
    );
    let (ok_, out, err) = import(&data, &[other.to_str().unwrap(), "--dry-run"]);
    assert!(ok_, "{out}{err}");
    assert!(
        out.contains("Would import") && out.contains("tenants"),
        "{out}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(listing(&data), before, "a dry run changed the data dir");
    let keys_dir = db.parent().unwrap().join("keys");
    let (ok_, out, err) = import(
        &data,
        &[
            other.to_str().unwrap(),
            "--force",
            "--keys-dir",
            keys_dir.to_str().unwrap(),
        ],
    );
    assert!(ok_, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    // Not even the encrypted store holds the plaintext tokens.
    let raw = std::fs::read(data.join("aiops.redb")).unwrap();
    for secret in [
        "ghp_tenanttoken123",
        "ghp_alicetoken",
        "OPENSSH PRIVATE KEY",
        "aiops_plaintext_secret",
    ] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} stored in clear"
        );
    }

    let mut s = Server::spawn(&data, &[]);
    // The old passwords log in (and are upgraded), for a mixed-case email too.
    let admin_cookie = s.web_login("admin@example.com", "old-admin-pass").await;
    assert!(!admin_cookie.is_empty());
    s.web_login("alice@example.com", "alice-pass-1").await;
    // The legacy API key works, twice (the second time through the fast path).
    let me = get_ok(&s, ALICE_KEY, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["email"], "alice@example.com", "{me}");
    let me = get_ok(&s, ALICE_KEY, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["api_key_name"], "alice laptop", "{me}");
    let (st, _) = s
        .get(&ALICE_KEY.replace("0123", "9999"), "/api/v1/auth/me")
        .await;
    assert_eq!(st.as_u16(), 401);

    // Alice's view: her project, issues, pins, identity, keys.
    let projects = get_ok(&s, ALICE_KEY, "/api/v1/projects").await;
    let p = &projects["projects"][0];
    assert_eq!(p["id"], 5, "{projects}");
    assert_eq!(p["name"], "Shop");
    assert_eq!(p["ssh_key_id"], 1);
    // The original knew owners only: the owner is now a maintainer of the project, so she keeps
    // exactly the access she had (and sees nothing else).
    let me = get_ok(&s, ALICE_KEY, "/api/v1/auth/me").await;
    assert_eq!(me["memberships"][0]["project_id"], 5, "{me}");
    assert_eq!(me["memberships"][0]["role"], "maintainer", "{me}");
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    let members = get_ok(&s, ALICE_KEY, "/api/v1/projects/5/members").await;
    assert_eq!(
        members["members"][0]["email"], "alice@example.com",
        "{members}"
    );
    get_ok(&s, ALICE_KEY, "/api/v1/projects/5/workspace/status").await;
    let issue = get_ok(&s, ALICE_KEY, "/api/v1/issues/17").await["issue"].clone();
    assert_eq!(issue["external_id"], "42");
    assert_eq!(issue["status_key"], "open");
    assert_eq!(issue["assignee"], "alice");
    assert_eq!(issue["labels"], json!(["bug", "p1"]));
    assert_eq!(issue["provider"], "github");
    assert!(
        issue["description"].as_str().unwrap().contains("Safari"),
        "{issue}"
    );
    assert_eq!(issue["comments"][0]["author"], "bob");
    let closed = get_ok(&s, ALICE_KEY, "/api/v1/issues/18").await;
    assert_eq!(closed["issue"]["status_key"], "closed");
    let pinned = get_ok(&s, ALICE_KEY, "/api/v1/issues/pinned").await;
    assert_eq!(pinned["issues"][0]["id"], 17, "{pinned}");
    let ident = get_ok(&s, ALICE_KEY, "/api/v1/auth/identity").await;
    assert_eq!(ident["identity"]["github_username"], "alice-gh", "{ident}");
    let keys = get_ok(&s, ALICE_KEY, "/api/v1/auth/keys").await;
    assert!(keys.to_string().contains("alice laptop"), "{keys}");
    let creds = get_ok(&s, ALICE_KEY, "/api/v1/auth/integration-credentials").await;
    assert_eq!(creds["credentials"][0]["integration_id"], 3, "{creds}");
    assert_eq!(creds["credentials"][0]["has_settings"], true, "{creds}");
    assert!(
        !creds.to_string().contains("ghp_alicetoken"),
        "tokens are never shown: {creds}"
    );

    // The admin's view (a key made for the imported admin).
    s.kill();
    let admin_key = admin(
        &data,
        &[
            "create-key",
            "admin@example.com",
            "--scopes",
            "read,write,admin",
            "--name",
            "t",
        ],
    );
    let s = Server::spawn(&data, &[]);
    let users = get_ok(&s, &admin_key, "/api/v1/users").await;
    let emails: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2);
    let alice = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@example.com")
        .unwrap();
    assert_eq!(alice["linux_username"], "alice", "{users}");
    assert!(emails.contains(&"admin@example.com"), "{users}");
    let tenants = get_ok(&s, &admin_key, "/api/v1/tenants").await;
    assert_eq!(tenants["tenants"][0]["name"], "Acme");
    assert_eq!(tenants["tenants"][0]["color"], "#10b981");
    assert_eq!(tenants["tenants"][0]["description"], "changed");
    let integ = get_ok(&s, &admin_key, "/api/v1/integrations").await;
    let i = &integ["integrations"][0];
    assert_eq!(i["provider"], "github", "{integ}");
    assert_eq!(i["token_hint"], "••••n123", "{integ}");
    // Imported integrations do not sync on their own (the original never did) until a schedule
    // is set, the way the import summary says.
    for id in [3, 6] {
        let one = get_ok(&s, &admin_key, &format!("/api/v1/integrations/{id}")).await;
        assert_eq!(one["integration"]["sync_cron"], "off", "{one}");
    }
    // The scheduler publishes its job list when it ticks: wait for a list (the audit job is
    // always in it) before reading it.
    let jobs = scheduler_until(&s, &admin_key, |j| j.contains("\"audit-retention\"")).await;
    let keys: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["key"].as_str())
        .collect();
    assert!(!keys.iter().any(|k| k.starts_with("sync:")), "{jobs}");
    let (st, v) = s
        .call(
            &admin_key,
            Method::PATCH,
            "/api/v1/integrations/3",
            Some(json!({"sync_cron": "*/15 * * * *"})),
        )
        .await;
    assert!(st.is_success(), "{st} {v}");
    let jobs = scheduler_until(&s, &admin_key, |j| j.contains("\"sync:3\"")).await;
    assert!(!jobs.to_string().contains("\"sync:6\""), "{jobs}");
    let links = get_ok(&s, &admin_key, "/api/v1/integrations/3/projects").await;
    assert!(links.to_string().contains("acme/shop"), "{links}");
    assert!(links.to_string().contains("acme-bot"), "{links}");
    let ssh = get_ok(&s, &admin_key, "/api/v1/admin/ssh-keys").await;
    let k = &ssh["ssh_keys"][0];
    assert_eq!(k["has_private_key"], true, "{ssh}");
    assert!(k["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    let g = get_ok(&s, &admin_key, "/api/v1/agents/global").await;
    assert_eq!(g["content"], "Be careful with prod.", "{g}");
    assert_eq!(g["updated_by"]["email"], "admin@example.com", "{g}");
    let audit = get_ok(&s, &admin_key, "/api/v1/audit?limit=500").await;
    assert!(
        audit.to_string().contains("/api/v1/issues/17/comments"),
        "{audit}"
    );
    // New rows get fresh ids above the imported ones.
    let (st, t) = s
        .post(&admin_key, "/api/v1/tenants", json!({"name": "New"}))
        .await;
    assert!(st.is_success(), "{t}");
    assert_eq!(t["tenant"]["id"], 2, "{t}");
}
