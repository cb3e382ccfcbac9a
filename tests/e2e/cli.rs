//! The real `aiops` CLI binary against the real server.

use crate::harness::*;
use serde_json::Value;
use std::process::{Command, Output};

struct Cli {
    home: tempfile::TempDir,
    url: String,
    key: String,
}

impl Cli {
    /// Run with stdin fed from `input`.
    fn run_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .env("HOME", self.home.path())
            .env("AIOPS_URL", &self.url)
            .env("AIOPS_API_KEY", &self.key)
            .env_remove("AIOPS_OUTPUT_FORMAT")
            .env_remove("AIOPS_UPDATE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn new(s: &Server) -> Cli {
        Cli {
            home: tempfile::tempdir().unwrap(),
            url: s.base.clone(),
            key: s.admin_key.clone(),
        }
    }

    /// Run with AIOPS_URL / AIOPS_API_KEY from the environment.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("HOME", self.home.path())
            .env("AIOPS_URL", &self.url)
            .env("AIOPS_API_KEY", &self.key)
            .env_remove("AIOPS_OUTPUT_FORMAT")
            .output()
            .unwrap()
    }

    /// Run with only the config file (no env overrides).
    fn run_bare(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("AIOPS_URL")
            .env_remove("AIOPS_API_KEY")
            .env_remove("AIOPS_OUTPUT_FORMAT")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "aiops {args:?} failed ({:?}): {}",
            out.status,
            stderr(&out)
        );
        stdout(&out)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("aiops {args:?} -o json is not JSON ({e}): {text}"))
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_commands_and_precedence() {
    let s = Server::start();
    let c = Cli::new(&s);
    // Nothing configured: clear errors, exit 1.
    let out = c.run_bare(&["tenants", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("API URL not configured. Run: aiops config set url <url>"),
        "{}",
        stderr(&out)
    );
    assert!(
        c.run_bare(&["config", "set", "url", &s.base])
            .status
            .success()
    );
    let out = c.run_bare(&["tenants", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("API key not configured"),
        "{}",
        stderr(&out)
    );
    let out = c.run_bare(&["config", "set", "api_key", &s.admin_key]);
    assert!(stdout(&out).contains("Configuration 'api_key' set successfully!"));
    // The file is private.
    let file = c.home.path().join(".aiops/config.yaml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(
        mode & 0o077,
        0,
        "config.yaml is not readable by others: {mode:o}"
    );
    // show masks the key.
    let shown = stdout(&c.run_bare(&["config", "show"]));
    assert!(
        shown.contains(&s.admin_key[..10]) && !shown.contains(&s.admin_key),
        "{shown}"
    );
    assert_eq!(
        stdout(&c.run_bare(&["config", "get", "url"])).trim(),
        s.base
    );
    let unset = c.run_bare(&["config", "get", "nothing"]);
    assert!(unset.status.success());
    assert!(stdout(&unset).contains("Configuration 'nothing' not set"));
    // Works from the file alone; env overrides the file.
    let me = c.run_bare(&["-o", "json", "auth", "whoami"]);
    assert!(me.status.success(), "{}", stderr(&me));
    let out = Command::new(BIN)
        .args(["auth", "whoami"])
        .env("HOME", c.home.path())
        .env("AIOPS_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("127.0.0.1:9"),
        "env URL wins: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_projects_and_keys_through_the_cli() {
    let s = Server::start();
    let c = Cli::new(&s);
    let me = c.json(&["auth", "whoami"]);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);

    let out = c.ok(&[
        "tenants",
        "create",
        "--name",
        "Acme Corp",
        "--description",
        "d",
        "--color",
        "#10b981",
    ]);
    assert!(out.contains("Tenant created successfully!"), "{out}");
    // Tenant by slug, project by name.
    let out = c.ok(&[
        "projects",
        "create",
        "--name",
        "web",
        "--repo-url",
        "git@github.com:acme/web.git",
        "--tenant",
        "acme-corp",
    ]);
    assert!(out.contains("Project created successfully!"), "{out}");
    let p = c.json(&["projects", "get", "WEB"]);
    assert_eq!(p["tenant_name"], "Acme Corp");
    assert_eq!(p["repo_url"], "git@github.com:acme/web.git");
    let t = c.json(&["tenants", "get", "Acme Corp"]);
    assert_eq!(t["projects"][0]["name"], "web");
    let list = c.json(&["projects", "list", "--tenant", "acme-corp"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    // -o after the subcommand works too, and YAML parses.
    let yaml = c.ok(&["tenants", "list", "-o", "yaml"]);
    let y: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(
        y[0]["slug"],
        serde_norway::Value::String("acme-corp".into())
    );
    // Table output has the names.
    let table = c.ok(&["projects", "list"]);
    assert!(
        table.contains("web") && table.contains("Acme Corp"),
        "{table}"
    );

    // Not found and server refusals: exit 1 with the message on stderr.
    let out = c.run(&["projects", "get", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Project 'nope' not found"),
        "{}",
        stderr(&out)
    );
    let out = c.run(&["projects", "get", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Error: Project 999 not found"),
        "{}",
        stderr(&out)
    );
    let out = c.run(&["tenants", "create", "--name", "acme corp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    // Usage errors: exit 2.
    assert_eq!(c.run(&["tenants", "create"]).status.code(), Some(2));
    assert_eq!(
        c.run(&["-o", "xml", "tenants", "list"]).status.code(),
        Some(2)
    );
    assert_eq!(c.run(&["nonsense"]).status.code(), Some(2));

    // Keys: the real key is printed once and works; revoke kills it.
    let out = c.ok(&[
        "auth",
        "keys",
        "create",
        "--name",
        "agent",
        "--scopes",
        "read,write",
        "--expires-days",
        "7",
    ]);
    assert!(out.contains("API key created successfully!"));
    let line = out
        .lines()
        .find(|l| l.starts_with("API Key: "))
        .expect("API Key line");
    let key = line.trim_start_matches("API Key: ").trim().to_string();
    assert!(key.starts_with("aiops_") && key.len() == 70, "{line}");
    let out = Command::new(BIN)
        .args(["-o", "json", "auth", "whoami"])
        .env("HOME", c.home.path())
        .env("AIOPS_URL", &s.base)
        .env("AIOPS_API_KEY", &key)
        .output()
        .unwrap();
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["user"]["api_key_name"], "agent");
    let keys = c.json(&["auth", "keys", "list"]);
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "agent")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let out = c.ok(&["auth", "keys", "revoke", &id.to_string()]);
    assert!(
        out.contains(&format!("API key {id} deleted successfully!")),
        "{out}"
    );
    let out = Command::new(BIN)
        .args(["auth", "whoami"])
        .env("HOME", c.home.path())
        .env("AIOPS_URL", &s.base)
        .env("AIOPS_API_KEY", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error:"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_valid_whatever_its_length() {
    let s = Server::start();
    let c = Cli::new(&s);
    let long = "word ".repeat(400);
    for i in 0..30 {
        let (st, _) = s
            .post(&s.admin_key, "/api/v1/tenants", serde_json::json!({"name": format!("tenant {i} [red]x[bold] :ticket:"), "description": long}))
            .await;
        assert!(st.is_success());
    }
    let list = c.json(&["tenants", "list"]);
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 30);
    // Markup-looking text and emoji codes pass through untouched.
    assert!(
        items
            .iter()
            .any(|t| t["name"] == "tenant 0 [red]x[bold] :ticket:")
    );
    assert_eq!(items[0]["description"].as_str().unwrap(), long.trim());
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_through_the_cli_against_a_fake_tracker() {
    use crate::fakes::{Fake, Kind};
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(12, 2);
    let s = Server::start();
    let l = crate::trackers::link(
        &s,
        &gh,
        "gh-token",
        "octo/repo",
        serde_json::json!({}),
        "clitenant",
    )
    .await;
    let c = Cli::new(&s);
    // The CLI blocks on a child process; keep the runtime (and the fake) serving meanwhile.
    let run = |args: &[&str]| tokio::task::block_in_place(|| c.ok(args));
    let json = |args: &[&str]| tokio::task::block_in_place(|| c.json(args));

    let out = run(&["issues", "sync", "--project", "clitenant-proj"]);
    assert!(
        out.contains("✓ Issue synchronization completed successfully"),
        "{out}"
    );
    assert!(out.contains("Total issues synchronized: 12"), "{out}");
    assert!(
        out.contains("Project Sync Details") && out.contains("clitenant-proj"),
        "{out}"
    );

    let table = run(&["issues", "list", "--status", "open", "--limit", "5"]);
    assert!(
        table.contains("External Id") && table.contains("Project Name"),
        "{table}"
    );
    assert!(table.contains("Showing 5 of 9"), "{table}");
    let list = json(&[
        "issues",
        "list",
        "--provider",
        "github",
        "--project",
        "clitenant-proj",
        "--limit",
        "100",
    ]);
    assert_eq!(list.as_array().unwrap().len(), 12);
    let issue = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["external_id"] == "2")
        .unwrap()
        .clone();
    let id = issue["id"].as_u64().unwrap().to_string();

    let got = json(&["issues", "get", &id]);
    assert_eq!(got["title"], "Issue 2");
    assert_eq!(got["integration_id"], l.integration);

    gh.clear_requests();
    let out = run(&["issues", "comment", &id, "Looking at it"]);
    assert!(
        out.contains(&format!("Comment added to issue {id}!")),
        "{out}"
    );
    assert_eq!(
        gh.requests()[0].body,
        serde_json::json!({"body": "Looking at it"})
    );
    let cid = json(&["issues", "get", &id])["comments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(&["issues", "modify-comment", &id, &cid, "Fixed it"]);
    assert!(
        out.contains(&format!(
            "Comment {cid} on issue {id} updated successfully!"
        )),
        "{out}"
    );

    let out = run(&[
        "issues",
        "update",
        &id,
        "--title",
        "New title",
        "--labels",
        "x, y",
    ]);
    assert!(out.contains("Issue updated successfully!"), "{out}");
    assert_eq!(
        json(&["issues", "get", &id])["labels"],
        serde_json::json!(["x", "y"])
    );
    assert!(
        run(&["issues", "assign", &id, "--assignee", "octocat"])
            .contains(&format!("Issue {id} assigned successfully!"))
    );
    assert!(run(&["issues", "close", &id]).contains(&format!("Issue {id} closed successfully!")));
    assert_eq!(json(&["issues", "get", &id])["status_key"], "closed");
    assert!(run(&["issues", "reopen", &id]).contains("reopened"));

    let created = json(&[
        "issues",
        "create",
        "--project",
        "clitenant-proj",
        "--integration",
        &l.integration.to_string(),
        "--title",
        "From the CLI",
        "--labels",
        "cli",
    ]);
    assert_eq!(created["issue"]["title"], "From the CLI");

    assert!(run(&["issues", "pinned"]).contains("No pinned issues found"));
    assert!(run(&["issues", "pin", &id]).contains("✓ Issue pinned successfully"));
    let pinned = run(&["issues", "pinned"]);
    assert!(
        pinned.contains("Pinned Issues") && pinned.contains("New title"),
        "{pinned}"
    );
    assert!(run(&["issues", "unpin", &id]).contains("✓ Issue unpinned successfully"));

    let integ = run(&["integrations", "list"]);
    assert!(
        integ.contains("github main") && !integ.contains("gh-token"),
        "{integ}"
    );
    assert!(
        run(&["integrations", "test", &l.integration.to_string()])
            .contains("✓ GitHub credentials verified")
    );

    // Errors are the server's, exit code 1.
    let out = tokio::task::block_in_place(|| c.run(&["issues", "get", "99999"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Issue 99999 not found"),
        "{}",
        stderr(&out)
    );
    gh.fail(
        "/repos/octo/repo/issues",
        "",
        503,
        serde_json::json!({"message": "down"}),
        None,
        8,
    );
    let out = tokio::task::block_in_place(|| c.run(&["issues", "sync", "--force-full"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("GitHub API error 503 - down"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn git_and_workspace_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let s = Server::start();
    let tenant = s.create_tenant("gitco").await;
    let (st, _) = s
        .post(&s.admin_key, "/api/v1/projects", serde_json::json!({"name": "cli-repo", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}))
        .await;
    assert_eq!(st, reqwest::StatusCode::CREATED);
    let c = Cli::new(&s);
    let run = |args: &[&str]| tokio::task::block_in_place(|| c.ok(args));
    let json = |args: &[&str]| tokio::task::block_in_place(|| c.json(args));

    assert!(run(&["workspace", "init", "cli-repo"]).contains("✓ Workspace initialized at"));
    let ws = json(&["workspace", "status", "cli-repo"]);
    assert_eq!(ws["has_git"], true);
    let path = std::path::PathBuf::from(ws["path"].as_str().unwrap());
    let status = json(&["git", "status", "cli-repo"]);
    assert_eq!(status["branch"], "main");

    let files = run(&["git", "files", "cli-repo", "--path", "src"]);
    assert!(
        files.contains("Files") && files.contains("lib.rs"),
        "{files}"
    );
    assert_eq!(
        run(&["git", "cat", "cli-repo", "src/lib.rs"]),
        "pub fn x() {}\n"
    );
    // The file itself in every format (the original unwraps `content`).
    for f in ["json", "yaml"] {
        assert_eq!(
            run(&["git", "cat", "cli-repo", "src/lib.rs", "-o", f]),
            "pub fn x() {}\n"
        );
    }
    let st = json(&["projects", "status", "cli-repo"]);
    assert_eq!(st["branch"], "main", "{st}");

    assert!(
        run(&["git", "branch", "cli-repo", "topic"])
            .contains("Branch 'topic' created successfully!")
    );
    std::fs::write(path.join("a.txt"), "a").unwrap();
    std::fs::write(path.join("b.txt"), "b").unwrap();
    assert!(
        run(&["git", "commit", "cli-repo", "Add a", "--files", "a.txt"])
            .contains("Commit created successfully!")
    );
    assert!(run(&["git", "push", "cli-repo"]).contains("Push successful!"));
    let log = std::process::Command::new("git")
        .args([
            "--git-dir",
            bare.to_str().unwrap(),
            "log",
            "-1",
            "--format=%s",
            "topic",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "Add a");
    let status = json(&["git", "status", "cli-repo"]);
    assert_eq!(status["untracked_files"], serde_json::json!(["b.txt"]));
    let branches = run(&["git", "branches", "cli-repo"]);
    assert!(
        branches.contains("Branches") && branches.contains("topic"),
        "{branches}"
    );
    assert!(run(&["git", "checkout", "cli-repo", "main"]).contains("Checked out branch 'main'!"));
    assert!(run(&["git", "pull", "cli-repo"]).contains("Pull successful!"));
    let log = run(&["git", "log", "cli-repo", "--limit", "1"]);
    assert!(log.contains("initial"), "{log}");

    let out =
        tokio::task::block_in_place(|| c.run(&["git", "cat", "cli-repo", "../../etc/passwd"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Invalid"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_print_the_whole_response() {
    let s = Server::start();
    let c = Cli::new(&s);
    // `jq .key.key` works: the whole `{"key": {…, "key": "aiops_…"}, "message"}`.
    let k = c.json(&["auth", "keys", "create", "--name", "ci", "--scopes", "read"]);
    let key = k["key"]["key"].as_str().unwrap();
    assert!(key.starts_with("aiops_"), "{k}");
    assert!(k["message"].is_string(), "{k}");
    let t = c.json(&["tenants", "create", "--name", "Whole Co"]);
    assert_eq!(t["tenant"]["name"], "Whole Co", "{t}");
    let tid = t["tenant"]["id"].as_u64().unwrap().to_string();
    let p = c.json(&[
        "projects",
        "create",
        "--name",
        "whole",
        "--repo-url",
        "https://x/y.git",
        "--tenant",
        &tid,
    ]);
    assert_eq!(p["project"]["name"], "whole", "{p}");
    assert_eq!(p["project"]["default_branch"], "main", "{p}");
    // The messages go to stderr then, so stdout stays JSON.
    let out = c.run(&["-o", "json", "tenants", "create", "--name", "Other Co"]);
    assert!(stderr(&out).contains("Tenant created successfully!"));
    let _: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Tables: the message and the key on its own line.
    let out = c.ok(&["auth", "keys", "create", "--name", "t", "--scopes", "read"]);
    assert!(
        out.contains("API key created successfully!") && out.contains("API Key: aiops_"),
        "{out}"
    );
    // Singular aliases.
    assert!(c.ok(&["tenant", "list"]).contains("Whole Co"));
    assert!(c.ok(&["project", "list"]).contains("whole"));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_round_trip_and_integrations_by_provider() {
    use crate::fakes::{Fake, Kind};
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    let s = Server::start();
    let l = crate::trackers::link(
        &s,
        &gh,
        "gh-token",
        "octo/repo",
        serde_json::json!({}),
        "credco",
    )
    .await;
    let c = Cli::new(&s);
    let iid = l.integration.to_string();
    let run = |args: &[&str]| tokio::task::block_in_place(|| c.ok(args));
    let json = |args: &[&str]| tokio::task::block_in_place(|| c.json(args));

    let out = run(&["credentials", "list"]);
    assert!(
        out.contains("No personal integration credentials configured")
            && out.contains("Use 'aiops credentials set' to add your personal tokens"),
        "{out}"
    );
    assert_eq!(
        json(&["credentials", "list"]),
        serde_json::json!({"credentials": []})
    );
    let out = run(&[
        "credentials",
        "set",
        "--integration-id",
        &iid,
        "--token",
        "personal-1",
    ]);
    assert!(out.contains("Credential created successfully"), "{out}");
    // The token from stdin when not given (no terminal here), short options.
    let out = tokio::task::block_in_place(|| {
        c.run_input(&["credentials", "set", "-i", &iid], "personal-2\n")
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Credential updated successfully"),
        "{}",
        stdout(&out)
    );
    let list = json(&["credentials", "list"]);
    let creds = list["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{list}");
    assert_eq!(creds[0]["integration_id"], l.integration);
    assert!(
        !list.to_string().contains("personal-"),
        "no token shown: {list}"
    );
    let table = run(&["credential", "list"]);
    assert!(
        table.contains("github main") && !table.contains("personal-"),
        "{table}"
    );
    let cid = creds[0]["id"].as_u64().unwrap().to_string();
    let out = run(&["credentials", "delete", &cid]);
    assert!(
        out.contains(&format!("Credential {cid} deleted successfully")),
        "{out}"
    );
    assert!(run(&["credentials", "list"]).contains("No personal integration credentials"));
    let out = tokio::task::block_in_place(|| c.run(&["credentials", "delete", &cid]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error: "), "{}", stderr(&out));
    // Empty token: refused before any request.
    let out =
        tokio::task::block_in_place(|| c.run_input(&["credentials", "set", "-i", &iid], "\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No token given"), "{}", stderr(&out));

    // integrations list --provider.
    assert!(run(&["integrations", "list", "--provider", "github"]).contains("github main"));
    assert!(
        run(&["integrations", "list", "--provider", "gitlab"]).contains("No integrations found")
    );
    assert_eq!(
        json(&["integrations", "list", "--provider", "jira"]),
        serde_json::json!([])
    );
    let list = json(&[
        "integration",
        "list",
        "--provider",
        "github",
        "--tenant",
        "credco",
    ]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let out = tokio::task::block_in_place(|| c.run(&["integrations", "list", "--provider", "svn"]));
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_download_with_file_and_output_path() {
    let s = Server::start();
    let c = Cli::new(&s);
    let (st, b) = s
        .post(
            &s.admin_key,
            "/api/v1/system/backups",
            serde_json::json!({"description": "cli"}),
        )
        .await;
    assert!(st.is_success(), "{b}");
    let id = b["backup"]["id"].as_u64().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let f1 = dir.path().join("with-f.tar.gz");
    let f2 = dir.path().join("with-o.tar.gz");
    let f3 = dir.path().join("with-long-output.tar.gz");
    let run = |args: &[&str]| tokio::task::block_in_place(|| c.ok(args));
    let out = run(&[
        "system",
        "backup",
        "download",
        &id,
        "-f",
        f1.to_str().unwrap(),
    ]);
    assert!(out.contains("✓ Backup downloaded to: "), "{out}");
    run(&[
        "system",
        "backup",
        "download",
        &id,
        "-o",
        f2.to_str().unwrap(),
    ]);
    run(&[
        "system",
        "backup",
        "download",
        &id,
        "--output",
        f3.to_str().unwrap(),
    ]);
    let a = std::fs::read(&f1).unwrap();
    assert!(a.len() > 100 && a[..2] == [0x1f, 0x8b], "a gzip archive");
    assert_eq!(a, std::fs::read(&f2).unwrap());
    assert_eq!(a, std::fs::read(&f3).unwrap());
    // -o is still a format elsewhere, and a bad one a usage error.
    let out = tokio::task::block_in_place(|| c.run(&["system", "backup", "list", "-o", "x.tgz"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'x.tgz' for '--output <FORMAT>'"),
        "{}",
        stderr(&out)
    );
    // A missing backup: exit 1, nothing written.
    let f4 = dir.path().join("missing.tar.gz");
    let out = tokio::task::block_in_place(|| {
        c.run(&[
            "system",
            "backup",
            "download",
            "99999",
            "-o",
            f4.to_str().unwrap(),
        ])
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(!f4.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn declined_confirmations_abort() {
    let s = Server::start();
    let c = Cli::new(&s);
    for args in [
        &["system", "update-and-restart"][..],
        &["system", "update-and-restart", "--skip-migrations"][..],
        &["system", "restart"][..],
        &["system", "backup", "restore", "1"][..],
    ] {
        for answer in ["n\n", ""] {
            let out = c.run_input(args, answer);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert_eq!(
                stderr(&out).lines().last(),
                Some("Aborted!"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    let out = c.run_input(&["system", "update-and-restart"], "n\n");
    assert!(
        stderr(&out)
            .contains("Are you sure you want to update and restart the aiops application? [y/N]"),
        "{}",
        stderr(&out)
    );
    // The prompt comes before the configuration check.
    let out = Command::new(BIN)
        .args(["system", "restart"])
        .env("HOME", c.home.path())
        .env_remove("AIOPS_URL")
        .env_remove("AIOPS_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        stderr(&out).lines().last(),
        Some("Aborted!"),
        "{}",
        stderr(&out)
    );
    // The server is still up.
    assert!(c.ok(&["auth", "whoami"]).contains(ADMIN_EMAIL));
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_sessions_without_sessions() {
    let s = Server::start();
    let c = Cli::new(&s);
    let out = c.ok(&["issues", "sessions"]);
    assert!(out.contains("No active AI sessions found"), "{out}");
    let out = c.run(&["issues", "sessions", "--attach", "abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Error: Unable to attach because no sessions are running."),
        "{}",
        stderr(&out)
    );
    let out = c.run(&["issues", "start", "--project", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Project 'nope' not found"),
        "{}",
        stderr(&out)
    );
    let out = c.run(&["issues", "start", "--project", "1", "--tool", "foo"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `aiops update` against a file manifest, run from a copy of the binary so the real one is
/// never replaced.
mod self_update {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::{Path, PathBuf};

    struct Setup {
        _dir: tempfile::TempDir,
        bin: PathBuf,
        manifest: PathBuf,
        release: Vec<u8>,
        home: tempfile::TempDir,
    }

    fn setup(version: &str, good_sha: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("bin");
        std::fs::create_dir(&install).unwrap();
        let bin = install.join("aiops");
        std::fs::copy(BIN, &bin).unwrap();
        let rel = dir.path().join("releases");
        std::fs::create_dir(&rel).unwrap();
        // The release: the same program with a marker appended (still a valid ELF).
        let mut release = std::fs::read(BIN).unwrap();
        release.extend_from_slice(b"\n#aiops-release-marker\n");
        std::fs::write(rel.join("aiops-linux"), &release).unwrap();
        let sha = if good_sha {
            hex::encode(Sha256::digest(&release))
        } else {
            "0".repeat(64)
        };
        let manifest = rel.join("latest.json");
        std::fs::write(
            &manifest,
            serde_json::json!({"version": version, "url": "aiops-linux", "sha256": sha})
                .to_string(),
        )
        .unwrap();
        Setup {
            _dir: dir,
            bin,
            manifest,
            release,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(bin: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = Command::new(bin);
        c.args(args)
            .env("HOME", home)
            .env_remove("AIOPS_URL")
            .env_remove("AIOPS_API_KEY")
            .env_remove("AIOPS_UPDATE_URL");
        for (k, v) in env {
            c.env(k, v);
        }
        // A freshly copied executable can be briefly busy (ETXTBSY) while another test forks.
        for _ in 0..50 {
            match c.output() {
                Ok(o) => return o,
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{} stays busy", bin.display());
    }

    fn leftovers(bin: &Path) -> Vec<String> {
        std::fs::read_dir(bin.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n != "aiops")
            .collect()
    }

    const OURS: &str = env!("CARGO_PKG_VERSION");

    #[test]
    fn check_only_then_update_replaces_the_binary() {
        let s = setup("99.0.0", true);
        let m = s.manifest.to_str().unwrap();
        let env = [("AIOPS_UPDATE_URL", m)];
        let out = run(&s.bin, s.home.path(), &env, &["update", "--check-only"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        for l in [
            format!("Current version: {OURS}"),
            "Checking for updates...".into(),
            "Latest version: 99.0.0".into(),
            "A newer version is available: 99.0.0".into(),
            "Run 'aiops update' to upgrade".into(),
        ] {
            assert!(text.contains(&l), "{l}: {text}");
        }
        let before = std::fs::read(&s.bin).unwrap();
        assert_ne!(before, s.release);

        let out = run(&s.bin, s.home.path(), &env, &["update"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("✓ aiops CLI updated successfully!"), "{text}");
        assert!(
            text.contains(&format!("Updated from {OURS} to 99.0.0")),
            "{text}"
        );
        assert_eq!(std::fs::read(&s.bin).unwrap(), s.release, "replaced");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&s.bin).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
        assert!(leftovers(&s.bin).is_empty(), "{:?}", leftovers(&s.bin));
        let out = run(&s.bin, s.home.path(), &[], &["--version"]);
        assert!(
            out.status.success() && stdout(&out).starts_with("aiops "),
            "it runs"
        );

        // The channel from the config file.
        let cfg = run(
            &s.bin,
            s.home.path(),
            &[],
            &["config", "set", "update_url", m],
        );
        assert!(cfg.status.success());
        let out = run(&s.bin, s.home.path(), &[], &["update", "--check-only"]);
        assert!(
            stdout(&out).contains("Latest version: 99.0.0"),
            "{}",
            stdout(&out)
        );
    }

    #[test]
    fn same_version_is_not_downloaded() {
        let s = setup(OURS, false);
        let env = [("AIOPS_UPDATE_URL", s.manifest.to_str().unwrap())];
        let out = run(&s.bin, s.home.path(), &env, &["update", "--check-only"]);
        assert!(
            stdout(&out).contains("✓ You are running the latest version!"),
            "{}",
            stdout(&out)
        );
        let out = run(&s.bin, s.home.path(), &env, &["update"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("Already running the latest version"),
            "{}",
            stdout(&out)
        );
        assert_eq!(std::fs::read(&s.bin).unwrap(), std::fs::read(BIN).unwrap());
    }

    #[test]
    fn a_wrong_checksum_replaces_nothing() {
        let s = setup("99.0.0", false);
        let env = [("AIOPS_UPDATE_URL", s.manifest.to_str().unwrap())];
        let out = run(&s.bin, s.home.path(), &env, &["update"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("checksum mismatch"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("Nothing was replaced"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(&s.bin).unwrap(), std::fs::read(BIN).unwrap());
        assert!(leftovers(&s.bin).is_empty(), "{:?}", leftovers(&s.bin));
    }

    #[test]
    fn no_channel_and_broken_channels() {
        let s = setup("99.0.0", true);
        let out = run(&s.bin, s.home.path(), &[], &["update"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains(
                "No release channel configured. Run: aiops config set update_url <manifest URL>"
            ),
            "{}",
            stderr(&out)
        );
        // A channel that cannot be read: --check-only reports it and exits 0.
        let env = [("AIOPS_UPDATE_URL", "/no/such/manifest.json")];
        let out = run(&s.bin, s.home.path(), &env, &["update", "--check-only"]);
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("Could not check for updates: "),
            "{}",
            stdout(&out)
        );
        let out = run(&s.bin, s.home.path(), &env, &["update"]);
        assert_eq!(out.status.code(), Some(1));
    }

    #[test]
    fn an_unwritable_install_dir_is_reported() {
        if unsafe { libc::geteuid() } == 0 {
            return; // root writes anywhere
        }
        let s = setup("99.0.0", true);
        let dir = s.bin.parent().unwrap().to_path_buf();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555))
            .unwrap();
        let env = [("AIOPS_UPDATE_URL", s.manifest.to_str().unwrap())];
        let out = run(&s.bin, s.home.path(), &env, &["update"]);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("cannot write to") && stderr(&out).contains("installed aiops"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(&s.bin).unwrap(), std::fs::read(BIN).unwrap());
    }

    /// Waits on the server engineer's `GET /system/update-channel`.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_channel_from_the_server() {
        let s = setup("99.0.0", true);
        let srv = Server::start_with(&[("AIOPS_UPDATE_URL", s.manifest.to_str().unwrap())]);
        let env = [
            ("AIOPS_URL", srv.base.as_str()),
            ("AIOPS_API_KEY", srv.admin_key.as_str()),
        ];
        let out = tokio::task::block_in_place(|| {
            run(&s.bin, s.home.path(), &env, &["update", "--check-only"])
        });
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("Latest version: 99.0.0"),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        // A server without a channel: the hint.
        let none = Server::start();
        let env = [
            ("AIOPS_URL", none.base.as_str()),
            ("AIOPS_API_KEY", none.admin_key.as_str()),
        ];
        let out = tokio::task::block_in_place(|| run(&s.bin, s.home.path(), &env, &["update"]));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("No release channel configured"),
            "{}",
            stderr(&out)
        );
    }
}

/// Waits on the server engineer's routes: system update (release channel, `results` steps),
/// system/ai-tools, and git status answering 200 for a project without a workspace.
#[tokio::test(flavor = "multi_thread")]
async fn server_update_ai_tools_and_status_without_workspace() {
    use sha2::{Digest, Sha256};
    // The server runs from a copy: the update replaces that copy.
    let dir = tempfile::tempdir().unwrap();
    let server_bin = dir.path().join("aiops");
    std::fs::copy(BIN, &server_bin).unwrap();
    let mut release = std::fs::read(BIN).unwrap();
    release.extend_from_slice(b"\n#server-release\n");
    std::fs::write(dir.path().join("aiops-next"), &release).unwrap();
    let manifest = dir.path().join("latest.json");
    std::fs::write(
        &manifest,
        serde_json::json!({"version": "99.0.0", "url": "aiops-next",
            "sha256": hex::encode(Sha256::digest(&release))})
        .to_string(),
    )
    .unwrap();
    let s = Server::start_bin(
        &server_bin,
        &[
            ("AIOPS_UPDATE_URL", manifest.to_str().unwrap()),
            (
                "AIOPS_AI_TOOL_UPDATE_COMMANDS",
                "codex.npm=echo codex-updated;claude.npm=false",
            ),
        ],
    );
    let c = Cli::new(&s);
    let run = |args: &[&str]| tokio::task::block_in_place(|| c.run(args));

    // git status / projects status of a project nobody cloned: 200 with `error`, exit 0.
    let tenant = s.create_tenant("nows").await;
    s.create_project(&s.admin_key, "nows-proj", tenant).await;
    for cmd in [&["git", "status"][..], &["projects", "status"][..]] {
        let mut args = vec!["-o", "json"];
        args.extend_from_slice(cmd);
        args.push("nows-proj");
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["error"].is_string(), "{v}");
    }

    let out = run(&["system", "update-ai-tool", "codex", "--source", "npm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Updating Codex CLI via NPM..."),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("✓ "), "{}", stdout(&out));
    let out = run(&["system", "update-ai-tool", "claude", "--source", "npm"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("✗ "), "{}", stderr(&out));

    let out = run(&["system", "update", "--skip-migrations"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for l in [
        "Updating aiops application...",
        "✓ System updated successfully",
        "Update Details:",
        "✓ Download: Success",
        "✓ Verify: Success",
        "⊘ Migrations: Skipped",
    ] {
        assert!(text.contains(l), "{l}: {text}");
    }
    assert_eq!(std::fs::read(&server_bin).unwrap(), release);
}
