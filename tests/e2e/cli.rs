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
    let y: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(y[0]["slug"], serde_yaml::Value::String("acme-corp".into()));
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
