//! Workspaces and git through the API and the CLI, against local bare repositories (file
//! transport): clone, commit, push, branches, pull with conflicts, rejections, detached HEAD,
//! empty repositories, listings and binary files, and path-safety attempts.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Seed")
        .env("GIT_AUTHOR_EMAIL", "seed@example.com")
        .env("GIT_COMMITTER_NAME", "Seed")
        .env("GIT_COMMITTER_EMAIL", "seed@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository with `main` holding README.md, src/lib.rs and a binary file.
pub fn seeded_bare(root: &Path) -> PathBuf {
    let bare = root.join("origin.git");
    std::fs::create_dir_all(&bare).unwrap();
    sh_git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let seed = root.join("seed");
    std::fs::create_dir_all(seed.join("src")).unwrap();
    sh_git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README.md"), "# Demo\nline two\n").unwrap();
    std::fs::write(seed.join("src/lib.rs"), "pub fn x() {}\n").unwrap();
    std::fs::write(seed.join("logo.bin"), [0u8, 159, 146, 150, 255, 0, 1]).unwrap();
    sh_git(&seed, &["add", "-A"]);
    sh_git(&seed, &["commit", "-q", "-m", "initial"]);
    sh_git(&seed, &["remote", "add", "origin", bare.to_str().unwrap()]);
    sh_git(&seed, &["push", "-q", "origin", "main"]);
    bare
}

async fn project_with_repo(s: &Server, key: &str, name: &str, repo: &Path) -> u64 {
    let tenant = s.create_tenant(&format!("{name}-tenant")).await;
    // Creating projects is for the tenant's maintainers: make the caller one.
    let (_, me) = s.get(key, "/api/v1/auth/me").await;
    if me["user"]["is_admin"] != true {
        let uid = me["user"]["id"].as_u64().unwrap();
        s.add_member("tenants", tenant, uid, "maintainer").await;
    }
    let (st, v) = s
        .post(
            key,
            "/api/v1/projects",
            json!({"name": name, "repo_url": repo.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["project"]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_commit_push_branches_and_files_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let p = project_with_repo(&s, &k, "demo", &bare).await;

    // No workspace yet: the original's "no status" shape, saying what to do.
    let (st, e) = s.get(&k, &format!("/api/v1/projects/{p}/git/status")).await;
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(e["status"]["branch"], "unknown", "{e}");
    assert!(
        e["status"]["error"]
            .as_str()
            .unwrap()
            .contains("workspace init"),
        "{e}"
    );
    let ws = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/workspace/status"),
        None,
    )
    .await;
    assert_eq!(
        (ws["exists"].as_bool(), ws["has_git"].as_bool()),
        (Some(false), Some(false))
    );
    let init = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    assert_eq!(init["created"], true);
    let path = PathBuf::from(init["path"].as_str().unwrap());
    assert!(path.starts_with(s.dir.join("workspaces")), "{path:?}");
    assert!(path.join("README.md").exists());
    let again = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    assert_eq!(again["created"], false);

    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["branch"], "main");
    assert_eq!(st["dirty"], false);
    assert_eq!(st["upstream"], "origin/main");
    assert_eq!(st["last_commit_subject"], "initial");
    assert_eq!(st["last_commit_hash"].as_str().unwrap().len(), 12);

    // Files and cat (text and binary).
    let files = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/files"),
        None,
    )
    .await;
    assert_eq!(files["path"], "/");
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["src", "README.md", "logo.bin"],
        "directories first, no .git"
    );
    let sub = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/files?path=/src/"),
        None,
    )
    .await;
    assert_eq!(sub["files"][0]["name"], "lib.rs");
    assert_eq!(sub["files"][0]["size"], "14");
    let c = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/files/src/lib.rs"),
        None,
    )
    .await;
    assert_eq!(c["content"], "pub fn x() {}\n");
    let b = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/files/logo.bin"),
        None,
    )
    .await;
    assert_eq!(b["binary"], true);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b["content_base64"].as_str().unwrap())
            .unwrap(),
        vec![0u8, 159, 146, 150, 255, 0, 1]
    );

    // Change, commit only one file, push: the bare repo has the commit, authored by the caller.
    std::fs::write(path.join("README.md"), "# Demo\nline two\nline three\n").unwrap();
    std::fs::write(path.join("notes.txt"), "scratch\n").unwrap();
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["unstaged"], json!(["README.md"]));
    assert_eq!(st["untracked_files"], json!(["notes.txt"]));
    assert_eq!(st["dirty"], true);
    let d = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/diff"),
        None,
    )
    .await;
    assert!(d["diff"].as_str().unwrap().contains("+line three"), "{d}");
    let c = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "Add line three", "files": ["README.md"]})),
    )
    .await;
    assert_eq!(c["message"], "Commit created successfully");
    let hash = c["commit"].as_str().unwrap().to_string();
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["ahead"], 1);
    assert_eq!(
        st["untracked_files"],
        json!(["notes.txt"]),
        "only README.md was committed"
    );
    let push = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    assert_eq!(push["message"], "Push completed successfully");
    assert_eq!(sh_git(&bare, &["rev-parse", "main"]), hash);
    assert_eq!(
        sh_git(&bare, &["log", "-1", "--format=%an <%ae>", "main"]),
        "Admin <admin@example.com>"
    );
    let (st, e) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/git/commit"),
            json!({"message": "nothing", "files": ["README.md"]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).starts_with("Failed to commit"), "{e}");
    let (st, e) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/git/commit"),
            json!({"message": "  "}),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Commit message is required"))
    );

    // Branches: create + checkout, push it, switch back.
    let (st, b) = s
        .post(
            &k,
            &format!("/api/v1/projects/{p}/git/branches"),
            json!({"name": "feature/x"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["message"], "Branch 'feature/x' created successfully");
    std::fs::write(path.join("src/feature.rs"), "// feature\n").unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "feature work"})),
    )
    .await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    assert_eq!(
        sh_git(&bare, &["log", "-1", "--format=%s", "feature/x"]),
        "feature work"
    );
    let br = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/branches"),
        None,
    )
    .await;
    assert_eq!(br["current_branch"], "feature/x");
    assert!(
        br["branches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "main" && b["is_current"] == false)
    );
    let co = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/checkout"),
        Some(json!({"branch": "main"})),
    )
    .await;
    assert_eq!(co["message"], "Switched to branch 'main'");
    assert!(!path.join("src/feature.rs").exists());
    let log = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/log?limit=5"),
        None,
    )
    .await;
    let subjects: Vec<&str> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, vec!["Add line three", "initial"]);
    // The log (git log through the runner) matches git's own, field for field.
    let expected = sh_git(&path, &["log", "-n5", "--format=%H|%an|%ae|%aI|%s"]);
    let got: Vec<String> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}|{}|{}|{}|{}",
                c["hash"].as_str().unwrap(),
                c["author"].as_str().unwrap(),
                c["email"].as_str().unwrap(),
                c["date"].as_str().unwrap(),
                c["subject"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(got.join("\n"), expected);

    // Detached HEAD: status says so, push without a ref explains what to do.
    let first = sh_git(&bare, &["rev-parse", "main~1"]);
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/checkout"),
        Some(json!({"branch": first})),
    )
    .await;
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["branch"], "detached");
    let (code, e) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/push"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("HEAD is detached"), "{e}");
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/checkout"),
        Some(json!({"branch": "main"})),
    )
    .await;

    // A large directory lists completely.
    std::fs::create_dir(path.join("many")).unwrap();
    for i in 0..3000 {
        std::fs::write(path.join(format!("many/f{i:05}.txt")), "x").unwrap();
    }
    let many = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/files?path=many"),
        None,
    )
    .await;
    assert_eq!(many["files"].as_array().unwrap().len(), 3000);
}

#[tokio::test(flavor = "multi_thread")]
async fn path_traversal_and_injection_are_refused_without_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let p = project_with_repo(&s, &k, "safe", &bare).await;
    let init = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let path = PathBuf::from(init["path"].as_str().unwrap());
    std::os::unix::fs::symlink("/etc", path.join("etc-link")).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "top secret").unwrap();

    let bad_gets = [
        format!("/api/v1/projects/{p}/files?path=../.."),
        format!("/api/v1/projects/{p}/files?path=..%2F..%2F.."),
        format!("/api/v1/projects/{p}/files?path=etc-link"),
        format!("/api/v1/projects/{p}/files?path=.git"),
        format!("/api/v1/projects/{p}/files/..%2F..%2Fsecret.txt"),
        format!("/api/v1/projects/{p}/files/etc-link/passwd"),
        format!("/api/v1/projects/{p}/files/.git/config"),
        format!("/api/v1/projects/{p}/git/diff?path=../../secret.txt"),
    ];
    for url in &bad_gets {
        let (st, v) = s.get(&k, url).await;
        assert!(st.is_client_error(), "{url}: {st} {v}");
        assert!(v["error"].is_string(), "{url}: JSON error: {v}");
        assert!(!v.to_string().contains("root:"), "{url} leaked /etc/passwd");
        assert!(
            !v.to_string().contains("top secret"),
            "{url} leaked a file outside"
        );
    }
    let before = sh_git(&bare, &["rev-parse", "main"]);
    let bad_posts = [
        (
            format!("/api/v1/projects/{p}/git/commit"),
            json!({"message": "x", "files": ["../secret.txt"]}),
        ),
        (
            format!("/api/v1/projects/{p}/git/commit"),
            json!({"message": "x", "files": ["/etc/passwd"]}),
        ),
        (
            format!("/api/v1/projects/{p}/git/branches"),
            json!({"name": "--upload-pack=touch /tmp/pwned"}),
        ),
        (
            format!("/api/v1/projects/{p}/git/branches"),
            json!({"name": "a..b"}),
        ),
        (
            format!("/api/v1/projects/{p}/git/branches"),
            json!({"name": "x", "from_branch": "-h"}),
        ),
        (
            format!("/api/v1/projects/{p}/git/checkout"),
            json!({"branch": "--orphan=evil"}),
        ),
        (
            format!("/api/v1/projects/{p}/git/checkout"),
            json!({"branch": "$(touch /tmp/pwned2)"}),
        ),
    ];
    for (url, body) in &bad_posts {
        let (st, v) = s.post(&k, url, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{url} {body}: {v}");
        assert!(v["error"].is_string());
    }
    let (st, v) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/push?ref=--mirror"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/pull?ref=-q%20--upload-pack=x"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(!Path::new("/tmp/pwned").exists() && !Path::new("/tmp/pwned2").exists());
    assert_eq!(
        sh_git(&bare, &["rev-parse", "main"]),
        before,
        "nothing was committed or pushed"
    );
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["staged"], json!([]));
    let br = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/branches"),
        None,
    )
    .await;
    assert_eq!(
        br["branches"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| !b["name"].as_str().unwrap().starts_with("remotes/"))
            .count(),
        1
    );

    // Someone else's project is not reachable at all.
    s.create_user("eve@example.com", "eve-password-1", false)
        .await;
    let eve = s
        .user_key("eve@example.com", "eve-password-1", &["read", "write"])
        .await;
    let (st, _) = s
        .get(&eve, &format!("/api/v1/projects/{p}/files/README.md"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .call(
            &eve,
            Method::POST,
            &format!("/api/v1/projects/{p}/workspace/init"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_workspaces_are_independent_and_conflicts_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    s.create_user("alice@example.com", "alice-password-1", false)
        .await;
    let alice = s
        .user_key("alice@example.com", "alice-password-1", &["read", "write"])
        .await;
    let admin = s.admin_key.clone();
    // Alice owns the project; the admin works on it too, each in their own clone.
    let p = project_with_repo(&s, &alice, "shared", &bare).await;
    let a_path = PathBuf::from(
        ok(
            &s,
            &alice,
            Method::POST,
            &format!("/api/v1/projects/{p}/workspace/init"),
            None,
        )
        .await["path"]
            .as_str()
            .unwrap(),
    );
    let b_path = PathBuf::from(
        ok(
            &s,
            &admin,
            Method::POST,
            &format!("/api/v1/projects/{p}/workspace/init"),
            None,
        )
        .await["path"]
            .as_str()
            .unwrap(),
    );
    assert_ne!(a_path, b_path);

    std::fs::write(a_path.join("README.md"), "# Demo\nalice was here\n").unwrap();
    let st_admin = ok(
        &s,
        &admin,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(
        st_admin["dirty"], false,
        "alice's edit is not in the admin's workspace"
    );
    ok(
        &s,
        &alice,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "alice edit"})),
    )
    .await;
    ok(
        &s,
        &alice,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;

    // The admin edits the same line on a stale base: push is rejected, pull shows conflicts.
    std::fs::write(b_path.join("README.md"), "# Demo\nadmin was here\n").unwrap();
    ok(
        &s,
        &admin,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "admin edit"})),
    )
    .await;
    let (st, e) = s
        .call(
            &admin,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/push"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(err_text(&e).contains("pull first"), "{e}");
    let (st, e) = s
        .call(
            &admin,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/pull"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(err_text(&e).contains("README.md"), "{e}");
    let st_admin = ok(
        &s,
        &admin,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st_admin["conflicted"], json!(["README.md"]));
    // Resolve by taking theirs, commit the merge, push.
    std::fs::write(
        b_path.join("README.md"),
        "# Demo\nalice was here\nadmin agreed\n",
    )
    .unwrap();
    ok(
        &s,
        &admin,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "merge"})),
    )
    .await;
    ok(
        &s,
        &admin,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    // Alice pulls and gets it; a pull with clean=true throws away her scratch edits first.
    std::fs::write(a_path.join("src/lib.rs"), "scratch").unwrap();
    let pulled = ok(
        &s,
        &alice,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/pull?clean=true"),
        None,
    )
    .await;
    assert_eq!(pulled["message"], "Pull completed successfully");
    assert_eq!(
        std::fs::read_to_string(a_path.join("README.md")).unwrap(),
        "# Demo\nalice was here\nadmin agreed\n"
    );
    assert_eq!(
        std::fs::read_to_string(a_path.join("src/lib.rs")).unwrap(),
        "pub fn x() {}\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_repository_then_first_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("empty.git");
    std::fs::create_dir_all(&bare).unwrap();
    sh_git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let s = Server::start();
    let k = s.admin_key.clone();
    let p = project_with_repo(&s, &k, "empty", &bare).await;
    let init = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let path = PathBuf::from(init["path"].as_str().unwrap());
    let log = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/log"),
        None,
    )
    .await;
    assert_eq!(log["commits"], json!([]));
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await["status"]
        .clone();
    assert_eq!(st["last_commit_hash"], Value::Null);
    std::fs::write(path.join("first.txt"), "hello").unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "first"})),
    )
    .await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    assert_eq!(
        sh_git(&bare, &["log", "-1", "--format=%s", "main"]),
        "first"
    );
}
