//! Shipping, for real: the container image built from the repository's Dockerfile with the
//! README's own commands (run with podman, which takes Docker's command line), and the Debian
//! package built with `cargo deb` and installed into a debootstrap chroot.
//!
//! Both are the slow tier (image builds, a Debian root file system, root): `cargo test` skips
//! them and `.ci/run` runs them as their own step, after the static musl build they use:
//! `cargo test --test e2e container:: -- --ignored --test-threads 1`.
//! The base image `debian:bookworm-slim` cannot be pulled here (no registry is reachable):
//! `packaging/container-base.sh` makes it once per machine from Debian's packages.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run and require success; returns stdout (trimmed).
fn must(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(o.status.success(), "{c:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// podman with the settings this machine needs: runc (crun refuses its hybrid cgroups) and no
/// default ulimits (setting RLIMIT_NOFILE fails here); images in Docker's format (HEALTHCHECK).
fn podman_conf() -> PathBuf {
    let dir = std::env::temp_dir().join("aiops-podman");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    conf
}

fn podman(conf: &Path) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", conf)
        .env("BUILDAH_FORMAT", "docker");
    c
}

/// The README's container commands (the lines of its container section that start with
/// `docker` or `bash packaging/build-static.sh`).
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("### Container")
        .expect("README has a \"### Container\" section");
    let section = &readme[start..];
    let end = section[4..].find("\n#").map_or(section.len(), |e| e + 4);
    section[..end]
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("docker ") || l.starts_with("bash packaging/build-static.sh"))
        .map(String::from)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A README `docker run` line made to run here: podman, a loopback port, this test's
/// container and volume names.
fn run_line(line: &str, port: u16, name: &str, volume: &str) -> String {
    assert!(
        line.contains("-p 8060:8060")
            && line.contains("--name aiops ")
            && line.contains("aiops-data:/data"),
        "the README's docker run line changed shape: {line}"
    );
    line.replacen("docker ", "podman ", 1)
        .replace("-p 8060:8060", &format!("-p 127.0.0.1:{port}:8060"))
        .replace("--name aiops ", &format!("--name {name} "))
        .replace("aiops-data:/data", &format!("{volume}:/data"))
}

fn sh(conf: &Path, line: &str) -> String {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(line)
        .current_dir(repo())
        .env("CONTAINERS_CONF", conf)
        .env("BUILDAH_FORMAT", "docker");
    must(&mut c)
}

async fn wait_for_api(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/api/v1/health")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for_log(conf: &Path, name: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = podman(conf).args(["logs", name]).output().unwrap();
        let logs = text(&o);
        if logs.contains(needle) {
            return logs;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the logs:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn api(base: &str, key: &str, m: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let c = reqwest::Client::new();
    let mut r = c
        .request(m.clone(), format!("{base}/api/v1{path}"))
        .header("X-API-Key", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(st.is_success(), "{m} {path}: {st} {v}");
    v
}

/// Removes the test's containers and volumes however the test ends.
struct Cleanup {
    conf: PathBuf,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman(&self.conf).args(["rm", "-f", c]).output();
        }
        for v in &self.volumes {
            let _ = podman(&self.conf).args(["volume", "rm", "-f", v]).output();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: run by .ci/run: cargo test --test e2e container:: -- --ignored"]
async fn the_readme_container_builds_runs_as_non_root_keeps_its_data_and_runs_agents() {
    let conf = podman_conf();
    must(
        Command::new("bash")
            .arg(repo().join("packaging/container-base.sh"))
            .env("CONTAINERS_CONF", &conf),
    );
    let lines = readme_commands();
    let build = lines
        .iter()
        .find(|l| l.contains("--build-arg BINARY=prebuilt"))
        .expect("README shows the prebuilt build")
        .replace("docker build", "podman build --network=host");
    let run = lines
        .iter()
        .find(|l| l.starts_with("docker run") && l.contains("AIOPS_ADMIN_EMAIL"))
        .expect("README shows docker run with the admin variables")
        .clone();
    sh(&conf, &build);
    let size = must(podman(&conf).args(["image", "inspect", "aiops", "--format", "{{.Size}}"]));
    eprintln!("image size: {size} bytes");

    let tag = std::process::id();
    let (fresh, name) = (format!("aiops-fresh-{tag}"), format!("aiops-t-{tag}"));
    let (fresh_vol, vol) = (
        format!("aiops-fresh-data-{tag}"),
        format!("aiops-data-{tag}"),
    );
    let _cleanup = Cleanup {
        conf: conf.clone(),
        containers: vec![fresh.clone(), name.clone()],
        volumes: vec![fresh_vol.clone(), vol.clone()],
    };

    // Without the admin variables: the one-time setup link is in the logs.
    let mut words = Vec::new();
    let mut it = run.split_whitespace().peekable();
    while let Some(w) = it.next() {
        if w == "-e" && it.peek().is_some_and(|n| n.starts_with("AIOPS_ADMIN_")) {
            it.next();
            continue;
        }
        words.push(w);
    }
    let no_admin = words.join(" ");
    assert!(!no_admin.contains("AIOPS_ADMIN"), "{no_admin}");
    sh(&conf, &run_line(&no_admin, free_port(), &fresh, &fresh_vol));
    let logs = wait_for_log(&conf, &fresh, "/setup?token=");
    assert!(logs.contains("No users yet"), "{logs}");
    must(podman(&conf).args(["rm", "-f", &fresh]));

    // With them: the administrator exists; a key made inside the container works.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    sh(&conf, &run_line(&run, port, &name, &vol));
    wait_for_log(&conf, &name, "Created administrator");
    wait_for_api(&base).await;
    let uid = must(podman(&conf).args(["exec", &name, "id", "-u"]));
    assert_eq!(uid, "10001", "the server runs as the image's non-root user");
    let top = must(podman(&conf).args(["top", &name, "user", "comm"]));
    assert!(
        top.lines()
            .any(|l| l.contains("aiops") && !l.contains("root")),
        "{top}"
    );
    let logs = wait_for_log(&conf, &name, "Log in at");
    assert!(
        !logs.contains("disabled until the sandbox works"),
        "the README's run line lets the agent sandbox work:\n{logs}"
    );
    must(podman(&conf).args(["healthcheck", "run", &name]));

    // Stop; make a key inside the image against the same volume; start again.
    must(podman(&conf).args(["stop", &name]));
    let email = run
        .split_whitespace()
        .find_map(|w| w.strip_prefix("AIOPS_ADMIN_EMAIL="))
        .expect("the admin e-mail in the README line")
        .to_string();
    let key = must(podman(&conf).args([
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        "aiops",
        "admin",
        "create-key",
        &email,
        "--scopes",
        "read,write,admin",
    ]));
    assert!(!key.is_empty());
    must(podman(&conf).args(["start", &name]));
    wait_for_api(&base).await;
    let me = api(&base, &key, reqwest::Method::GET, "/auth/me", None).await;
    assert_eq!(me["user"]["email"], email.as_str(), "{me}");
    must(podman(&conf).args(["healthcheck", "run", &name]));
    let health =
        must(podman(&conf).args(["inspect", &name, "--format", "{{.State.Health.Status}}"]));
    assert_eq!(health, "healthy");

    // An agent session with the shell tool, in tmux, in the sandbox, inside the container.
    let t = api(
        &base,
        &key,
        reqwest::Method::POST,
        "/tenants",
        Some(json!({"name": "box"})),
    )
    .await;
    let tenant = t["tenant"]["id"].as_u64().unwrap();
    // The project's repository: a bare one inside the container (no network here).
    must(podman(&conf).args([
        "exec",
        &name,
        "sh",
        "-c",
        "set -e; git init -q --bare /tmp/seed.git; git init -q -b main /tmp/w; cd /tmp/w; \
         echo hi > README.md; git add README.md; \
         git -c user.name=t -c user.email=t@example.com commit -q -m seed; \
         git push -q /tmp/seed.git main",
    ]));
    let p = api(
        &base,
        &key,
        reqwest::Method::POST,
        "/projects",
        Some(json!({"name": "inbox", "repo_url": "/tmp/seed.git", "tenant_id": tenant})),
    )
    .await;
    let project = p["project"]["id"].as_u64().unwrap();
    let s = api(
        &base,
        &key,
        reqwest::Method::POST,
        &format!("/projects/{project}/ai/sessions"),
        Some(json!({"tool": "shell", "command": "echo agent-in-a-box $(id -u) $$; sleep 300"})),
    )
    .await;
    let sid = s["session_id"].as_str().expect("session id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let o = api(
            &base,
            &key,
            reqwest::Method::GET,
            &format!("/ai/sessions/{sid}/output"),
            None,
        )
        .await;
        let out = o["output"].as_str().unwrap_or("").to_string();
        if out.contains("agent-in-a-box 10001") {
            break out;
        }
        assert!(Instant::now() < deadline, "the agent never ran: {o}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // In its own PID namespace: the agent's shell is a low PID there, not the container's.
    let pid: u32 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("agent-in-a-box 10001 "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        pid < 10,
        "the agent runs in the sandbox's PID namespace: pid {pid}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: run by .ci/run: cargo test --test e2e container:: -- --ignored"]
async fn the_debian_package_installs_into_a_fresh_debian_and_removal_keeps_the_data() {
    let target_dir = Path::new(crate::harness::BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let musl = target_dir.join("x86_64-unknown-linux-musl/release/aiops");
    if !musl.exists() {
        must(
            Command::new("bash")
                .arg(repo().join("packaging/build-static.sh"))
                .env("CARGO_TARGET_DIR", &target_dir)
                .current_dir(repo()),
        );
    }
    // The package of the static binary (no second release build).
    let out = must(
        Command::new("cargo")
            .args([
                "deb",
                "--no-build",
                "--no-strip",
                "--target",
                "x86_64-unknown-linux-musl",
                "--output",
            ])
            .arg(target_dir.join("debian"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(repo()),
    );
    let deb = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    assert!(deb.extension().is_some_and(|e| e == "deb"), "{out}");

    // A fresh Debian: the same debootstrap root the container base is made from.
    let root = tempfile::Builder::new()
        .prefix("aiops-deb-root")
        .tempdir_in("/var/tmp")
        .unwrap();
    let mirror = must(Command::new("bash").arg("-c").arg(
        "awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true",
    ));
    assert!(!mirror.is_empty(), "no Debian mirror in /etc/apt");
    must(
        Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(root.path())
            .arg(&mirror),
    );
    let chroot = |args: &[&str]| {
        let mut c = Command::new("chroot");
        c.arg(root.path())
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        c
    };
    std::fs::copy(&deb, root.path().join("tmp/aiops.deb")).unwrap();
    must(&mut chroot(&["apt-get", "update", "-q"]));
    must(&mut chroot(&[
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "/tmp/aiops.deb",
    ]));
    let r = root.path();
    assert!(r.join("usr/bin/aiops").exists(), "the binary is in place");
    assert!(r.join("etc/aiops/aiops.toml").exists());
    assert!(r.join("etc/aiops/aiops.env").exists());
    assert!(
        r.join("lib/systemd/system/aiops.service").exists()
            || r.join("usr/lib/systemd/system/aiops.service").exists(),
        "the unit is installed"
    );
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("aiops:") && l.contains(":/var/lib/aiops:")),
        "the aiops account: {passwd}"
    );
    let v = must(&mut chroot(&["aiops", "--version"]));
    assert!(v.starts_with("aiops "), "{v}");
    assert!(
        r.join("var/lib/aiops").is_dir(),
        "the state directory exists"
    );
    std::fs::write(r.join("var/lib/aiops/keep-me"), "data\n").unwrap();
    must(&mut chroot(&["apt-get", "remove", "-y", "-q", "aiops"]));
    assert!(!r.join("usr/bin/aiops").exists(), "removed");
    assert!(
        r.join("var/lib/aiops/keep-me").exists(),
        "removing the package keeps /var/lib/aiops"
    );
}
