//! The agent sandbox against a hostile agent: user B's agent runs a script that tries every leak
//! the security review found (the server's environment and memory, the data directory, the
//! store, the master key, user A's tmux socket, workspace and agent key, the SSH key of a git
//! fetch A runs meanwhile) and writes what it got into its own workspace. With the sandbox on it
//! gets nothing and its own workspace, CLI key and API still work; the same script with the
//! sandbox off gets the leaks, so the test cannot pass vacuously.

use crate::harness::*;
use crate::ssh::Sshd;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

const MASTER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct Leaks {
    report: String,
}

impl Leaks {
    fn has(&self, what: &str) -> bool {
        self.report
            .lines()
            .any(|l| l.starts_with(&format!("LEAK:{what}")))
    }
    fn ok(&self, what: &str) -> bool {
        self.report.lines().any(|l| l == format!("OK:{what}"))
    }
    fn leaks(&self) -> Vec<&str> {
        self.report
            .lines()
            .filter(|l| l.starts_with("LEAK:"))
            .collect()
    }
}

/// The hostile agent: every probe prints `LEAK:<what>` when it got something.
fn hostile_script(
    dir: &Path,
    server_pid: u32,
    data: &Path,
    a_sock: &str,
    a_target: &str,
    a_ws: &str,
) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
# Runs as user B's agent, in B's workspace. Report lines go to ./report.txt.
R=./report.txt.part
: > "$R"
own_key="$AIOPS_API_KEY"
if tr '\0' '\n' < /proc/{pid}/environ 2>/dev/null | grep -q 'AIOPS_SECRET_KEY\|AIOPS_ADMIN_PASSWORD'; then echo "LEAK:server-environ" >> "$R"; fi
if head -c 64 /proc/{pid}/mem >/dev/null 2>&1 || grep -q . /proc/{pid}/maps 2>/dev/null; then echo "LEAK:server-memory" >> "$R"; fi
if ls {data} 2>/dev/null | grep -q aiops.redb; then echo "LEAK:data-dir" >> "$R"; fi
if [ -n "$(head -c 16 {data}/aiops.redb 2>/dev/null)" ]; then echo "LEAK:redb" >> "$R"; fi
if grep -q . {data}/secret.key 2>/dev/null; then echo "LEAK:secret-key" >> "$R"; fi
if ls {data}/backups {data}/logs 2>/dev/null | grep -q .; then echo "LEAK:backups-or-logs" >> "$R"; fi
if tmux -S {sock} capture-pane -p -t {target} >/dev/null 2>&1; then echo "LEAK:tmux" >> "$R"; fi
if grep -q 'alice secret' {ws}/SECRET.txt 2>/dev/null; then echo "LEAK:workspace" >> "$R"; fi
# Others' processes: agent keys and SSH keys in environments and argument lists, for a while
# (user A fetches over SSH meanwhile).
end=$(( $(date +%s) + 6 ))
while [ "$(date +%s)" -lt "$end" ]; do
  for p in /proc/[0-9]*; do
    e=$(tr '\0' '\n' < "$p/environ" 2>/dev/null)
    c=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)
    k=$(printf '%s\n' "$e" | sed -n 's/^AIOPS_API_KEY=//p')
    if [ -n "$k" ] && [ "$k" != "$own_key" ]; then echo "LEAK:agent-key $k" >> "$R"; fi
    case "$e$c" in *"PRIVATE KEY"*) echo "LEAK:ssh-key $p" >> "$R";; esac
  done
  sleep 0.2
done
# What B's agent must still be able to do.
echo mine > ./mine.txt && echo "OK:workspace" >> "$R"
aiops auth whoami >/dev/null 2>&1 && echo "OK:cli" >> "$R"
aiops -o json projects list 2>/dev/null | grep -q bob-web && echo "OK:api" >> "$R"
sort -u "$R" > ./report.txt
echo DONE >> ./report.txt
sleep 300
"#,
        pid = server_pid,
        data = data.display(),
        sock = a_sock,
        target = a_target,
        ws = a_ws,
    );
    let path = dir.join("hostile.sh");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Alice's agent and workspace, Bob's hostile agent; returns what Bob's agent found.
async fn run_attack(sandbox: &str) -> Leaks {
    let tmp = tempfile::tempdir().unwrap();
    let tools_dir = tmp.path().join("tools");
    std::fs::create_dir_all(&tools_dir).unwrap();
    // Alice's repository sits behind sshd and needs her tenant's key.
    let bare = crate::git::seeded_bare(&tmp.path().join("alice-repo"));
    let bob_bare = crate::git::seeded_bare(&tmp.path().join("bob-repo"));
    // The script is written once the paths are known; the tool entry names it already.
    let script_path = tools_dir.join("hostile.sh");
    let tools = format!("hostile={}", script_path.display());
    let s = Server::start_with(&[
        ("AIOPS_SANDBOX", sandbox),
        ("AIOPS_TOOLS", &tools),
        ("AIOPS_SECRET_KEY", MASTER),
        ("AIOPS_ADMIN_PASSWORD", "bootstrap-secret-1"),
    ]);
    let acme = s.create_tenant("Acme").await;
    let globex = s.create_tenant("Globex").await;
    let alice_id = s
        .create_user("alice@acme.test", "alice-password-1", false)
        .await;
    let bob_id = s
        .create_user("bob@globex.test", "bob-password-1", false)
        .await;
    s.add_member("tenants", acme, alice_id, "developer").await;
    s.add_member("tenants", globex, bob_id, "developer").await;
    let alice = s
        .user_key("alice@acme.test", "alice-password-1", &["read", "write"])
        .await;
    let bob = s
        .user_key("bob@globex.test", "bob-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/admin/ssh-keys",
            json!({"name": "acme-deploy", "tenant_id": acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let public = v["ssh_key"]["public_key"].as_str().unwrap().to_string();
    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public], None);
    let a_proj = s.project_for(alice_id, "alice-web", acme).await;
    ok(
        &s,
        &s.admin_key,
        Method::PATCH,
        &format!("/api/v1/projects/{a_proj}"),
        Some(json!({"repo_url": sshd.url(&bare)})),
    )
    .await;
    let b_proj = s.project_for(bob_id, "bob-web", globex).await;
    ok(
        &s,
        &s.admin_key,
        Method::PATCH,
        &format!("/api/v1/projects/{b_proj}"),
        Some(json!({"repo_url": bob_bare.to_str().unwrap()})),
    )
    .await;

    // Alice: a workspace with a secret in it, cloned over SSH, and a running agent.
    let v = ok(
        &s,
        &alice,
        Method::POST,
        &format!("/api/v1/projects/{a_proj}/workspace/init"),
        None,
    )
    .await;
    let a_ws = v["path"].as_str().unwrap().to_string();
    std::fs::write(Path::new(&a_ws).join("SECRET.txt"), "alice secret\n").unwrap();
    let v = ok(
        &s,
        &alice,
        Method::POST,
        &format!("/api/v1/projects/{a_proj}/ai/sessions"),
        Some(json!({"tool": "shell", "command": "sleep 300"})),
    )
    .await;
    let a_sock = v["tmux_socket"].as_str().unwrap().to_string();
    let a_target = v["tmux_target"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();

    hostile_script(&tools_dir, s.child_id(), &s.dir, &a_sock, &a_target, &a_ws);
    let v = ok(
        &s,
        &bob,
        Method::POST,
        &format!("/api/v1/projects/{b_proj}/ai/sessions"),
        Some(json!({"tool": "hostile"})),
    )
    .await;
    let b_ws = PathBuf::from(v["workspace_path"].as_str().unwrap());
    // Alice keeps fetching over SSH while Bob's agent scans.
    let report_path = b_ws.join("report.txt");
    let mut report = String::new();
    for _ in 0..60 {
        let _ = s
            .call(
                &alice,
                Method::POST,
                &format!("/api/v1/projects/{a_proj}/git/fetch"),
                None,
            )
            .await;
        report = std::fs::read_to_string(&report_path).unwrap_or_default();
        if report.contains("DONE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        report.contains("DONE"),
        "the hostile agent finished: {report}"
    );
    kill_tmux(&s.dir);
    drop(sshd);
    Leaks { report }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_agent_in_the_sandbox_finds_nothing_and_keeps_working() {
    let got = run_attack("on").await;
    assert!(
        got.leaks().is_empty(),
        "the sandboxed agent got: {:?}\n{}",
        got.leaks(),
        got.report
    );
    for what in ["workspace", "cli", "api"] {
        assert!(got.ok(what), "{what} must still work: {}", got.report);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_agent_without_the_sandbox_gets_the_leaks() {
    let got = run_attack("off").await;
    for what in [
        "server-environ",
        "data-dir",
        "redb",
        "secret-key",
        "backups-or-logs",
        "tmux",
        "workspace",
        "agent-key",
    ] {
        assert!(
            got.has(what),
            "control: {what} leaks without the sandbox: {}",
            got.report
        );
    }
    // Even without the sandbox the SSH key is in no environment or argument list any more.
    assert!(!got.has("ssh-key"), "{}", got.report);
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_into_git_and_out_of_the_checkout_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // A repository with links into .git and a playbook linked to the server's own playbook.
    let bare = root.join("evil.git");
    std::fs::create_dir_all(&bare).unwrap();
    crate::git::sh_git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let seed = root.join("seed");
    std::fs::create_dir_all(seed.join("ansible/playbooks")).unwrap();
    crate::git::sh_git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README.md"), "hi\n").unwrap();
    std::os::unix::fs::symlink(".git/config", seed.join("gitcfg")).unwrap();
    std::os::unix::fs::symlink(".git", seed.join("dotgit")).unwrap();
    std::fs::write(
        seed.join("ansible/playbooks/own.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=own\n",
    )
    .unwrap();
    crate::git::sh_git(&seed, &["add", "-A"]);
    crate::git::sh_git(&seed, &["commit", "-q", "-m", "evil"]);
    crate::git::sh_git(&seed, &["remote", "add", "origin", bare.to_str().unwrap()]);
    crate::git::sh_git(&seed, &["push", "-q", "origin", "main"]);

    let s = Server::start();
    let tenant = s.create_tenant("T").await;
    let uid = s.create_user("dev@t.test", "dev-password-1", false).await;
    s.add_member("tenants", tenant, uid, "maintainer").await;
    let dev = s
        .user_key("dev@t.test", "dev-password-1", &["read", "write"])
        .await;
    let (st, v) = s
        .post(
            &dev,
            "/api/v1/projects",
            json!({"name": "evil", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let v = ok(
        &s,
        &dev,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let ws = PathBuf::from(v["path"].as_str().unwrap());
    for path in [
        format!("/api/v1/projects/{p}/files/gitcfg"),
        format!("/api/v1/projects/{p}/files/dotgit/HEAD"),
        format!("/api/v1/projects/{p}/files?path=dotgit"),
    ] {
        let (st, v) = s.get(&dev, &path).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(err_text(&v).contains(".git"), "{v}");
    }
    // Control: an ordinary file reads.
    let v = ok(
        &s,
        &dev,
        Method::GET,
        &format!("/api/v1/projects/{p}/files/README.md"),
        None,
    )
    .await;
    assert_eq!(v["content"], "hi\n");

    // The workspace user links a playbook to the server's admin-only one: refused.
    let system_playbook = s.dir.join("ansible/playbooks/example.yml");
    assert!(
        system_playbook.exists(),
        "the example playbook is installed"
    );
    std::os::unix::fs::symlink(&system_playbook, ws.join("ansible/playbooks/sys.yml")).unwrap();
    let (st, v) = s
        .post(
            &dev,
            "/api/v1/ansible/runs",
            json!({"playbook": "ansible/playbooks/sys.yml", "project_id": p, "hosts": "localhost"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    // An inventory linked out of the checkout is refused the same way.
    std::fs::create_dir_all(ws.join("ansible/inventories")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", ws.join("ansible/inventories/out")).unwrap();
    let (st, v) = s
        .post(
            &dev,
            "/api/v1/ansible/runs",
            json!({"playbook": "ansible/playbooks/own.yml", "project_id": p, "inventory": "ansible/inventories/out"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    // Control: the project's own playbook runs (in the sandbox).
    let (st, v) = s
        .post(
            &dev,
            "/api/v1/ansible/runs",
            json!({"playbook": "ansible/playbooks/own.yml", "project_id": p, "hosts": "localhost"}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let run = v["run"]["id"].as_u64().unwrap();
    let mut status = String::new();
    for _ in 0..200 {
        let (_, r) = s.get(&dev, &format!("/api/v1/ansible/runs/{run}")).await;
        status = r["run"]["status"].as_str().unwrap_or_default().to_string();
        if status == "succeeded" || status == "failed" {
            assert_eq!(status, "succeeded", "{r}");
            assert!(r["run"]["output"].as_str().unwrap().contains("own"), "{r}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded");

    // The agent context file never copies a file from outside the workspace.
    std::fs::remove_file(ws.join("README.md")).unwrap();
    std::os::unix::fs::symlink(s.dir.join("secret.key"), ws.join("AGENTS.md")).unwrap();
    let (st, _) = s
        .post(
            &dev,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "shell", "command": "true"}),
        )
        .await;
    let _ = st;
    let ctx = std::fs::read_to_string(ws.join("AGENTS.override.md")).unwrap_or_default();
    let key = std::fs::read_to_string(s.dir.join("secret.key")).unwrap_or_default();
    assert!(!key.trim().is_empty());
    assert!(
        !ctx.contains(key.trim()),
        "the master key was copied: {ctx}"
    );
    kill_tmux(&s.dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // What an older version left behind under umask 022.
    admin(
        &dir,
        &[
            "create-user",
            "a@x.test",
            "--admin",
            "--password",
            "password-123",
        ],
    );
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/old.log"), "x").unwrap();
    for (p, m) in [
        (dir.clone(), 0o755),
        (dir.join("aiops.redb"), 0o644),
        (dir.join("logs"), 0o755),
        (dir.join("logs/old.log"), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    let key = admin(
        &dir,
        &[
            "create-key",
            "a@x.test",
            "--scopes",
            "read,write,admin",
            "--name",
            "k",
        ],
    );
    let key = key
        .split_whitespace()
        .find(|w| w.starts_with("aiops_"))
        .unwrap()
        .to_string();
    // Start the server from a shell with umask 022.
    let (mut child, base) = serve_under_shell(&dir, "umask 022").await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/system/backups"))
        .bearer_auth(&key)
        .json(&json!({"description": "modes"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("aiops.redb")), 0o600);
    assert_eq!(mode(&dir.join("secret.key")), 0o600);
    assert_eq!(mode(&dir.join("logs")), 0o700);
    assert_eq!(mode(&dir.join("logs/old.log")), 0o600);
    for f in std::fs::read_dir(dir.join("logs")).unwrap().flatten() {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
    let backups: Vec<_> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!backups.is_empty());
    for f in backups {
        let want = if f.path().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&f.path()), want, "{}", f.path().display());
    }
    assert_eq!(mode(&dir.join("backups")), 0o700);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("tightened"),
        "the server says what it changed: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_is_required_unless_an_admin_turns_it_off_and_off_shows_in_red() {
    // Without bwrap (a PATH that has everything else) the server starts, says what to do, and
    // nothing that would run outside the sandbox runs.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["git", "tmux", "sh", "getent", "setsid", "sudo", "id"] {
        if let Some(p) = which(tool) {
            std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
        }
    }
    let bare = crate::git::seeded_bare(tmp.path());
    let s = Server::start_with(&[("PATH", bin.to_str().unwrap())]);
    let said = s.stdout_lines.join("\n");
    assert!(
        said.contains("agents, git and project playbooks are disabled")
            && said.contains("apt-get install bubblewrap")
            && said.contains("sandbox = \"off\""),
        "{said}"
    );
    let (_, st) = s.get(&s.admin_key, "/api/v1/system/status").await;
    assert_eq!(st["components"]["sandbox"]["healthy"], false, "{st}");
    let t = s.create_tenant("T").await;
    let (_, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "p", "repo_url": bare.to_str().unwrap(), "tenant_id": t}),
        )
        .await;
    let p = v["project"]["id"].as_u64().unwrap();
    let (code, v) = s
        .call(
            &s.admin_key,
            Method::POST,
            &format!("/api/v1/projects/{p}/workspace/init"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(err_text(&v).contains("apt-get install bubblewrap"), "{v}");
    let (code, _) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "shell", "command": "true"}),
        )
        .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    drop(s);
    // Control: on by default the status says so; turned off, the status and the page say red.
    let s = Server::start();
    let (_, st) = s.get(&s.admin_key, "/api/v1/system/status").await;
    assert_eq!(st["components"]["sandbox"]["healthy"], true, "{st}");
    drop(s);
    let s = Server::start_with(&[("AIOPS_SANDBOX", "off")]);
    let (_, st) = s.get(&s.admin_key, "/api/v1/system/status").await;
    assert_eq!(st["components"]["sandbox"]["healthy"], false, "{st}");
    assert!(
        st["components"]["sandbox"]["message"]
            .as_str()
            .unwrap()
            .contains("server's own powers"),
        "{st}"
    );
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = s
        .client
        .get(s.url("/admin/system"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("sandbox-off") && html.contains("The agent sandbox is off"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_master_key_can_come_from_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("secret_key");
    std::fs::write(&key_file, format!("{MASTER}\n")).unwrap();
    let s = Server::start_with(&[("AIOPS_SECRET_KEY_FILE", key_file.to_str().unwrap())]);
    let t = s.create_tenant("T").await;
    let v = ok(
        &s,
        &s.admin_key,
        Method::POST,
        "/api/v1/integrations",
        Some(json!({"tenant_id": t, "provider": "github", "name": "gh", "api_token": "ghp_filekey_wxyz", "base_url": "http://127.0.0.1:9"})),
    )
    .await;
    let id = v["integration"]["id"].as_u64().unwrap();
    // The same key given the other way reads the token: it was encrypted under that key.
    let s = s.restart_with(&[("AIOPS_SECRET_KEY", MASTER)]);
    let v = ok(
        &s,
        &s.admin_key,
        Method::GET,
        &format!("/api/v1/integrations/{id}"),
        None,
    )
    .await;
    assert_eq!(v["integration"]["token_hint"], "••••wxyz", "{v}");
}
