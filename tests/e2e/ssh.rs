//! Git over SSH against a real OpenSSH `sshd` on loopback (temp host key, authorized key,
//! bare repositories), through the API and the CLI: keys generated and uploaded, clone,
//! fetch, pull, commit, push, branches; wrong key, unknown host key and changed host key.

use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub host_key: PathBuf,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test-key", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// `SHA256:…` as OpenSSH prints it.
pub fn ssh_fingerprint(pub_path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().nth(1).unwrap().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Start sshd in `dir` (creating its host key there unless one exists) on `port`
    /// (a free one when None), accepting `authorized` public keys.
    pub fn start(dir: &Path, authorized: &[&str], port: Option<u16>) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (.ci/run does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        // sshd's privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("host_key");
        if !host_key.exists() {
            keygen(&host_key);
        }
        std::fs::write(dir.join("authorized_keys"), authorized.join("\n") + "\n").unwrap();
        let port = port.unwrap_or_else(free_port);
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             UsePAM no\nAcceptEnv GIT_PROTOCOL\nLogLevel VERBOSE\n",
            hk = host_key.display(),
            d = dir.display()
        );
        let cfg = dir.join("sshd_config");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            child,
            port,
            host_key,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self, bare: &Path) -> String {
        let user = whoami();
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, bare.display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn project(s: &Server, key: &str, name: &str, tenant: u64, url: &str) -> u64 {
    let (st, v) = s
        .post(
            key,
            "/api/v1/projects",
            json!({"name": name, "repo_url": url, "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["project"]["id"].as_u64().unwrap()
}

fn bare_log(bare: &Path, r: &str) -> String {
    sh_git(bare, &["log", "--format=%s|%an", r])
}

#[tokio::test(flavor = "multi_thread")]
async fn git_over_real_sshd_through_the_api_and_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("ssh-tenant").await;

    // Generate a key for the tenant: the public half and fingerprint come back, never the
    // private half.
    let (st, v) = s
        .post(
            &k,
            "/api/v1/admin/ssh-keys",
            json!({"name": "deploy", "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let key = v["ssh_key"].clone();
    let public = key["public_key"].as_str().unwrap().to_string();
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
    assert!(key["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    assert_eq!(key["has_private_key"], true);
    assert!(!v.to_string().contains("PRIVATE KEY"), "{v}");
    let listed = ok(&s, &k, Method::GET, "/api/v1/admin/ssh-keys", None).await;
    assert!(!listed.to_string().contains("PRIVATE KEY"));
    assert_eq!(listed["ssh_keys"][0]["id"], key["id"]);

    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public], None);
    let p = project(&s, &k, "over-ssh", tenant, &sshd.url(&bare)).await;

    // Clone (trust on first use records the host key, with the fingerprint OpenSSH shows).
    let init = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    assert_eq!(init["created"], true, "{init}\n{}", sshd.log());
    let ws = PathBuf::from(init["path"].as_str().unwrap());
    assert!(ws.join("README.md").exists());
    let hosts = ok(&s, &k, Method::GET, "/api/v1/admin/known-hosts", None).await;
    assert_eq!(hosts["trust_on_first_use"], true);
    let entry = hosts["known_hosts"][0].clone();
    assert_eq!(entry["source"], "tofu", "{hosts}");
    assert_eq!(entry["port"], sshd.port);
    assert_eq!(
        entry["fingerprint"].as_str().unwrap(),
        ssh_fingerprint(&sshd.host_key.with_extension("pub"))
    );
    assert!(
        sshd.log().contains("Accepted publickey"),
        "the clone really went through sshd: {}",
        sshd.log()
    );
    // No private key is written to disk in clear (workspace, data dir).
    let leaked = Command::new("grep")
        .args(["-rl", "OPENSSH PRIVATE KEY"])
        .arg(&s.dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&leaked.stdout).trim().is_empty(),
        "private key found in clear under the data dir: {}",
        String::from_utf8_lossy(&leaked.stdout)
    );

    // Commit and push through the API; the bare repo receives it, authored by the caller.
    std::fs::write(ws.join("api.txt"), "from the api\n").unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "api commit over ssh", "files": ["api.txt"]})),
    )
    .await;
    let pushed = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    assert!(
        pushed["result"].as_str().unwrap().contains("main"),
        "{pushed}"
    );
    assert!(bare_log(&bare, "main").starts_with("api commit over ssh|"));

    // Branch create + push, then checkout back to main.
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/branches"),
        Some(json!({"name": "feature/ssh", "checkout": true})),
    )
    .await;
    std::fs::write(ws.join("feature.txt"), "feature\n").unwrap();
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
    assert!(bare_log(&bare, "feature/ssh").starts_with("feature work|"));
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/checkout"),
        Some(json!({"branch": "main"})),
    )
    .await;

    // Someone else pushes; fetch shows we are behind, pull brings it in.
    let other = tmp.path().join("other");
    sh_git(
        tmp.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("upstream.txt"), "upstream\n").unwrap();
    sh_git(&other, &["add", "-A"]);
    sh_git(&other, &["commit", "-q", "-m", "upstream change"]);
    sh_git(&other, &["push", "-q", "origin", "main"]);
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/fetch"),
        None,
    )
    .await;
    let st = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/status"),
        None,
    )
    .await;
    assert_eq!(st["status"]["behind"], 1, "{st}");
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/pull"),
        None,
    )
    .await;
    assert!(ws.join("upstream.txt").exists());

    // The same through the CLI.
    let pid = p.to_string();
    std::fs::write(other.join("cli-upstream.txt"), "x\n").unwrap();
    sh_git(&other, &["add", "-A"]);
    sh_git(&other, &["commit", "-q", "-m", "second upstream change"]);
    sh_git(&other, &["push", "-q", "origin", "main"]);
    assert!(cli_ok(&s, &["git", "fetch", &pid]).contains("Fetch successful"));
    cli_ok(&s, &["git", "pull", &pid]);
    assert!(ws.join("cli-upstream.txt").exists());
    std::fs::write(ws.join("cli.txt"), "from the cli\n").unwrap();
    cli_ok(
        &s,
        &[
            "git",
            "commit",
            &pid,
            "cli commit over ssh",
            "--files",
            "cli.txt",
        ],
    );
    cli_ok(&s, &["git", "push", &pid]);
    assert!(bare_log(&bare, "main").starts_with("cli commit over ssh|"));
    cli_ok(&s, &["git", "branch", &pid, "cli-branch"]);
    cli_ok(&s, &["git", "push", &pid]);
    assert!(sh_git(&bare, &["branch", "--list", "cli-branch"]).contains("cli-branch"));
    cli_ok(&s, &["git", "checkout", &pid, "main"]);

    // Keys and hosts through the CLI: upload a key pair from files (its private half is
    // encrypted in the store), list, and see the learned host.
    let upload = tmp.path().join("uploaded");
    keygen(&upload);
    let out = cli_ok(
        &s,
        &[
            "ssh-keys",
            "add",
            "-n",
            "uploaded",
            "-t",
            &tenant.to_string(),
            "-f",
            upload.to_str().unwrap(),
            "-p",
            upload.with_extension("pub").to_str().unwrap(),
        ],
    );
    assert!(
        out.contains(&ssh_fingerprint(&upload.with_extension("pub"))),
        "{out}"
    );
    let list = cli_ok(&s, &["ssh-keys", "list"]);
    assert!(
        list.contains("deploy") && list.contains("uploaded"),
        "{list}"
    );
    let private_body: String = std::fs::read_to_string(&upload)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let db = std::fs::read(s.dir.join("aiops.redb")).unwrap();
    assert!(
        !db.windows(private_body.len())
            .any(|w| w == private_body.as_bytes()),
        "the uploaded private key is stored in clear"
    );
    let hosts = cli_ok(&s, &["known-hosts", "list"]);
    assert!(
        hosts.contains("tofu") && hosts.contains("127.0.0.1"),
        "{hosts}"
    );
    // Uploading the same key twice is refused.
    let (dup_ok, _, dup_err) = cli(
        &s,
        &[
            "ssh-keys",
            "add",
            "-n",
            "again",
            "-f",
            upload.to_str().unwrap(),
        ],
    );
    assert!(!dup_ok && dup_err.contains("already stored"), "{dup_err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_key_unknown_host_and_changed_host_key_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let k = s.admin_key.clone();
    let tenant = s.create_tenant("careful").await;
    let good = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/admin/ssh-keys",
        Some(json!({"name": "good", "tenant_id": tenant})),
    )
    .await["ssh_key"]
        .clone();
    let bad = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/admin/ssh-keys",
        Some(json!({"name": "not-authorized", "tenant_id": tenant})),
    )
    .await["ssh_key"]
        .clone();
    let sshd_dir = tmp.path().join("sshd");
    let sshd = Sshd::start(&sshd_dir, &[good["public_key"].as_str().unwrap()], None);
    let p = project(&s, &k, "careful", tenant, &sshd.url(&bare)).await;

    // Wrong key: the project is pointed at a key the server does not accept.
    ok(
        &s,
        &k,
        Method::PUT,
        &format!("/api/v1/projects/{p}/ssh-key"),
        Some(json!({"ssh_key_id": bad["id"]})),
    )
    .await;
    let proj = ok(&s, &k, Method::GET, &format!("/api/v1/projects/{p}"), None).await;
    assert_eq!(proj["project"]["ssh_key_id"], bad["id"]);
    let (st, e) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/workspace/init"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let msg = err_text(&e);
    assert!(msg.contains("refused the SSH key"), "{msg}");
    assert!(msg.contains(bad["fingerprint"].as_str().unwrap()), "{msg}");
    let ws_status = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/workspace/status"),
        None,
    )
    .await;
    assert_eq!(
        ws_status["exists"], false,
        "a failed clone leaves nothing behind"
    );
    // Back to the tenant's keys (the oldest, `good`): the clone works.
    ok(
        &s,
        &k,
        Method::PUT,
        &format!("/api/v1/projects/{p}/ssh-key"),
        Some(json!({"ssh_key_id": null})),
    )
    .await;
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;

    // Changed host key: the same address now answers with another key.
    drop(sshd);
    let port = {
        let hosts = ok(&s, &k, Method::GET, "/api/v1/admin/known-hosts", None).await;
        hosts["known_hosts"][0]["port"].as_u64().unwrap() as u16
    };
    std::fs::remove_file(sshd_dir.join("host_key")).unwrap();
    std::fs::remove_file(sshd_dir.join("host_key.pub")).unwrap();
    let sshd2 = Sshd::start(
        &sshd_dir,
        &[good["public_key"].as_str().unwrap()],
        Some(port),
    );
    let new_fp = ssh_fingerprint(&sshd2.host_key.with_extension("pub"));
    let (st, e) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/fetch"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    let msg = err_text(&e);
    assert!(msg.contains("HOST KEY CHANGED"), "{msg}");
    assert!(msg.contains(&new_fp), "{msg}");
    assert!(
        !sshd2.log().contains("Accepted publickey"),
        "no login happened"
    );
    let (ok_cli, _, err) = cli(&s, &["git", "pull", &p.to_string()]);
    assert!(!ok_cli && err.contains("HOST KEY CHANGED"), "{err}");

    // The client itself refuses a host key it was not given, whatever the server said.
    let stranger = tmp.path().join("stranger");
    let stranger_pub = keygen(&stranger);
    // The key comes on an inherited descriptor, as the server hands it over.
    let out = Command::new("sh")
        .args(["-c", r#"exec 9<"$KEYFILE"; exec "$@""#, "sh", BIN])
        .args([
            "ssh-git",
            "-p",
            &port.to_string(),
            &format!("{}@127.0.0.1", whoami()),
            &format!("git-upload-pack '{}'", bare.display()),
        ])
        .env("KEYFILE", &stranger)
        .env("AIOPS_SSH_KEY_FD", "9")
        .env("AIOPS_SSH_KNOWN_HOSTS", stranger_pub.trim())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("aiops ssh:")
            && err.contains("not the trusted one")
            && err.contains(&new_fp),
        "{err}"
    );

    // Unknown host with trust-on-first-use off: refused until pinned.
    let hosts = ok(&s, &k, Method::GET, "/api/v1/admin/known-hosts", None).await;
    let old_id = hosts["known_hosts"][0]["id"].as_u64().unwrap();
    ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/admin/known-hosts/policy",
        Some(json!({"trust_on_first_use": false})),
    )
    .await;
    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/admin/known-hosts/{old_id}"),
        None,
    )
    .await;
    let (st, e) = s
        .call(
            &k,
            Method::POST,
            &format!("/api/v1/projects/{p}/git/fetch"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let msg = err_text(&e);
    assert!(msg.contains("not known") && msg.contains(&new_fp), "{msg}");
    // Scan shows the fingerprint; --pin trusts it; then git works again.
    let out = cli_ok(
        &s,
        &["known-hosts", "scan", "127.0.0.1", "-p", &port.to_string()],
    );
    assert!(out.contains(&new_fp) && out.contains("unknown"), "{out}");
    let out = cli_ok(
        &s,
        &[
            "known-hosts",
            "scan",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--pin",
        ],
    );
    assert!(out.contains("trusted"), "{out}");
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/fetch"),
        None,
    )
    .await;
    let hosts = ok(&s, &k, Method::GET, "/api/v1/admin/known-hosts", None).await;
    assert_eq!(hosts["known_hosts"][0]["source"], "pinned");

    // Key management is for admins only.
    s.create_user("bob@example.com", "bob-password-1", false)
        .await;
    let bob = s
        .user_key("bob@example.com", "bob-password-1", &["read", "write"])
        .await;
    for (m, path) in [
        (Method::GET, "/api/v1/admin/ssh-keys"),
        (Method::GET, "/api/v1/admin/known-hosts"),
    ] {
        let (st, e) = s.call(&bob, m, path, None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {e}");
    }
    // Bad input is refused with the reason.
    let (st, e) = s
        .post(
            &k,
            "/api/v1/admin/ssh-keys",
            json!({"name": "junk", "private_key_content": "-----BEGIN NOTHING-----"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("not a private key"), "{e}");
    let (st, e) = s
        .post(
            &k,
            "/api/v1/admin/known-hosts",
            json!({"host": "h", "key": "garbage"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
}

const LINUX_USER: &str = "aiopsws";

fn ensure_linux_user() -> u32 {
    let uid = |name: &str| {
        Command::new("id")
            .args(["-u", name])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            })
    };
    if let Some(u) = uid(LINUX_USER) {
        return u;
    }
    assert_eq!(
        whoami(),
        "root",
        "this test creates a Linux user and uses sudo: run it as root (CI does)"
    );
    let out = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", LINUX_USER])
        .output()
        .expect("useradd");
    assert!(out.status.success() || uid(LINUX_USER).is_some(), "{out:?}");
    uid(LINUX_USER).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn linux_user_workspaces_run_git_as_that_user_through_sudo() {
    use std::os::unix::fs::MetadataExt;
    assert!(
        Path::new("/usr/bin/sudo").exists(),
        "sudo is missing: install it (.ci/run does)"
    );
    let uid = ensure_linux_user();
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    // The fake agent must be readable by the Linux user: not in the private temp dir.
    let agent = std::env::temp_dir().join(format!("aiops-linux-agent-{}.sh", std::process::id()));
    std::fs::write(
        &agent,
        "#!/bin/sh\necho \"agent runs as $(id -un) key=${AIOPS_API_KEY:+set}\"\necho made > agent-made.txt\naiops -o json auth whoami | grep -c admin@example.com\nwhile IFS= read -r l; do echo \"got $l\"; done\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let s = Server::start_with(&[
        ("AIOPS_LINUX_USER_WORKSPACES", "true"),
        ("AIOPS_TOOLS", tools.as_str()),
    ]);
    let k = s.admin_key.clone();
    let me = ok(&s, &k, Method::GET, "/api/v1/auth/me", None).await;
    let my_id = me["user"]["id"].as_u64().unwrap_or(1);
    ok(
        &s,
        &k,
        Method::PATCH,
        &format!("/api/v1/users/{my_id}"),
        Some(json!({"linux_username": LINUX_USER})),
    )
    .await;
    let tenant = s.create_tenant("linux").await;
    let key = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/admin/ssh-keys",
        Some(json!({"name": "linux-deploy", "tenant_id": tenant})),
    )
    .await["ssh_key"]
        .clone();
    let sshd = Sshd::start(
        &tmp.path().join("sshd"),
        &[key["public_key"].as_str().unwrap()],
        None,
    );
    let p = project(&s, &k, "homed", tenant, &sshd.url(&bare)).await;
    let init = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let ws = PathBuf::from(init["path"].as_str().unwrap());
    assert!(
        ws.starts_with(format!("/home/{LINUX_USER}/workspace")),
        "{ws:?}"
    );
    // Cloned by that user (over SSH through aiops ssh-git, the key passed by name only).
    assert_eq!(std::fs::metadata(ws.join("README.md")).unwrap().uid(), uid);
    assert_eq!(std::fs::metadata(ws.join(".git/HEAD")).unwrap().uid(), uid);
    std::fs::write(ws.join("homed.txt"), "as the linux user\n").unwrap();
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/commit"),
        Some(json!({"message": "commit as linux user", "files": ["homed.txt"]})),
    )
    .await;
    assert_eq!(
        std::fs::metadata(ws.join(".git/index")).unwrap().uid(),
        uid,
        "the commit ran as the Linux user"
    );
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/git/push"),
        None,
    )
    .await;
    assert!(bare_log(&bare, "main").starts_with("commit as linux user|"));
    let log = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/projects/{p}/git/log?limit=1"),
        None,
    )
    .await;
    assert_eq!(log["commits"][0]["subject"], "commit as linux user");
    // An agent for this user runs as the Linux account, on a tmux server in its home.
    let started = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/projects/{p}/ai/sessions"),
        Some(json!({"tool": "fake"})),
    )
    .await;
    let sid = started["id"].as_u64().unwrap();
    assert_eq!(
        started["tmux_socket"],
        format!("/home/{LINUX_USER}/.aiops/tmux.sock")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let out = loop {
        let v = ok(
            &s,
            &k,
            Method::GET,
            &format!("/api/v1/ai/sessions/{sid}/output"),
            None,
        )
        .await;
        let out = v["output"].as_str().unwrap_or("").to_string();
        if out.contains("\n1") || std::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        out.contains(&format!("agent runs as {LINUX_USER} key=set")),
        "{out}"
    );
    assert!(
        out.contains("\n1"),
        "the agent's aiops CLI works with its key: {out}"
    );
    assert_eq!(
        std::fs::metadata(ws.join("agent-made.txt")).unwrap().uid(),
        uid
    );
    let sock_dir = std::fs::metadata(format!("/home/{LINUX_USER}/.aiops")).unwrap();
    assert_eq!(sock_dir.uid(), uid);
    assert_eq!(sock_dir.mode() & 0o777, 0o700);
    // The browser terminal attaches to that account's tmux server too (through sudo).
    {
        use futures_util::SinkExt;
        let mut ws = crate::terminal::connect(&s, sid, ("authorization", format!("Bearer {k}")))
            .await
            .expect("terminal attaches to a Linux user's session");
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            b"via-terminal\r".to_vec().into(),
        ))
        .await
        .unwrap();
        crate::terminal::read_until(&mut ws, "got via-terminal").await;
    }
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ai/sessions/{sid}/respawn"),
        None,
    )
    .await;
    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/ai/sessions/{sid}"),
        None,
    )
    .await;
    let v = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/ai/sessions/{sid}/validate"),
        None,
    )
    .await;
    assert_eq!(v["exists"], false, "{v}");
    let _ = std::fs::remove_file(&agent);
    let _ = Command::new("sudo")
        .args(["-n", "-u", LINUX_USER, "tmux", "-S"])
        .arg(format!("/home/{LINUX_USER}/.aiops/tmux.sock"))
        .arg("kill-server")
        .output();
    // A mapping to an account that does not exist is explained.
    ok(
        &s,
        &k,
        Method::PATCH,
        &format!("/api/v1/users/{my_id}"),
        Some(json!({"linux_username": "no-such-user-x"})),
    )
    .await;
    let (st, e) = s
        .get(&k, &format!("/api/v1/projects/{p}/workspace/status"))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        err_text(&e).contains("does not exist on this server"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(format!("/home/{LINUX_USER}/workspace"));
}
