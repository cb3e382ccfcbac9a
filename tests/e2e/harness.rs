//! A real `aiops` server on port 0 with its own data directory, driven over HTTP (the calls are
//! the shared `tests/common/http.rs`).

#[path = "../common/http.rs"]
mod http;
pub use http::{Http, parse};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_aiops");
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// `aiops serve` on a free loopback port for `dir`, started through `sh -c "<prefix>; exec …"`
/// (to set a umask or a descriptor limit first), waited for until it answers health. Returns the
/// child (its stdout and stderr piped) and the base URL.
pub async fn serve_under_shell(dir: &Path, prefix: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{prefix}; exec {BIN} serve --data-dir {} --bind 127.0.0.1:{port}",
            dir.display()
        ))
        .env("AIOPS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aiops serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .is_ok()
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiops serve did not answer on {base}");
}

/// Run `aiops admin …` against a data dir and return stdout.
pub fn admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run aiops admin");
    assert!(
        out.status.success(),
        "aiops admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub stdout_lines: Vec<String>,
}

impl Server {
    /// A fresh data dir with an admin user and an admin-scope key, then `aiops serve`.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Like `start`, with extra env for `serve`.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Self::start_bin(Path::new(BIN), env)
    }

    /// Like `start_with`, serving from another copy of the binary.
    pub fn start_bin(bin: &Path, env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        admin(
            &dir,
            &[
                "create-user",
                ADMIN_EMAIL,
                "--admin",
                "--name",
                "Admin",
                "--password",
                ADMIN_PASSWORD,
            ],
        );
        let key = admin(
            &dir,
            &[
                "create-key",
                ADMIN_EMAIL,
                "--scopes",
                "read,write,admin",
                "--name",
                "test-admin",
            ],
        );
        let mut s = Self::spawn_bin(bin, &dir, env);
        s._tmp = Some(tmp);
        s.admin_key = key;
        s
    }

    /// Start `aiops serve` on an existing data dir.
    pub fn spawn(dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::spawn_bin(Path::new(BIN), dir, env)
    }

    /// `spawn` with another copy of the binary (self-update tests replace it).
    pub fn spawn_bin(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("AIOPS_DATA_DIR", dir)
            .env("AIOPS_BIND", "127.0.0.1:0")
            .env("AIOPS_LOG", "warn")
            .env_remove("AIOPS_ADMIN_EMAIL")
            .env_remove("AIOPS_ADMIN_PASSWORD")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn aiops serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the reader is gone: the server logs to stdout.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        let base = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("server printed its address within 30 s");
            lines.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_string();
            }
        };
        // Collect the remaining start-up lines (login hint, setup link).
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            lines.push(line);
        }
        Server {
            child: Some(child),
            base,
            dir: dir.to_path_buf(),
            _tmp: None,
            admin_key: String::new(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            stdout_lines: lines,
        }
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restart on the same data dir (after `kill`), keeping the temp dir alive.
    pub fn restart(self) -> Server {
        self.restart_with(&[])
    }

    /// Restart with extra env for `serve`.
    pub fn restart_with(mut self, env: &[(&str, &str)]) -> Server {
        self.kill();
        let mut s = Server::spawn(&self.dir, env);
        s._tmp = self._tmp.take();
        s.admin_key = self.admin_key.clone();
        s
    }

    pub fn child_id(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Create a user through the API and return (id).
    pub async fn create_user(&self, email: &str, password: &str, is_admin: bool) -> u64 {
        let (st, body) = self
            .post(
                &self.admin_key,
                "/api/v1/users",
                serde_json::json!({"email": email, "name": email.split('@').next().unwrap(), "password": password, "is_admin": is_admin}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["user"]["id"].as_u64().unwrap()
    }

    pub async fn create_tenant(&self, name: &str) -> u64 {
        let (st, body) = self
            .post(
                &self.admin_key,
                "/api/v1/tenants",
                serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["tenant"]["id"].as_u64().unwrap()
    }

    pub async fn create_project(&self, key: &str, name: &str, tenant_id: u64) -> u64 {
        let (st, body) = self
            .post(
                key,
                "/api/v1/projects",
                serde_json::json!({"name": name, "repo_url": "https://example.com/o/r.git", "tenant_id": tenant_id}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["project"]["id"].as_u64().unwrap()
    }

    /// An admin creates a project owned by `owner` (who becomes its maintainer).
    pub async fn project_for(&self, owner: u64, name: &str, tenant_id: u64) -> u64 {
        let (st, body) = self
            .post(
                &self.admin_key,
                "/api/v1/projects",
                serde_json::json!({"name": name, "repo_url": "https://example.com/o/r.git", "tenant_id": tenant_id, "owner_id": owner}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["project"]["id"].as_u64().unwrap()
    }

    /// Log in through the web form; returns the session cookie value.
    pub async fn web_login(&self, email: &str, password: &str) -> String {
        let resp = self
            .client
            .get(self.url("/login"))
            .send()
            .await
            .expect("GET /login");
        let cookies = set_cookies(&resp);
        let html = resp.text().await.unwrap_or_default();
        let csrf = hidden_field(&html, "csrf_token").expect("login form has csrf_token");
        let login_cookie = cookies
            .iter()
            .find(|(k, _)| k == "aiops_login_csrf")
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap_or_default();
        let resp = self
            .client
            .post(self.url("/login"))
            .header("cookie", login_cookie)
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
            .await
            .expect("POST /login");
        assert!(
            resp.status().is_redirection(),
            "login answered {}",
            resp.status()
        );
        set_cookies(&resp)
            .into_iter()
            .find(|(k, _)| k == "aiops_session")
            .map(|(_, v)| v)
            .expect("session cookie set")
    }
}

impl Server {
    /// Log a user in on the web and mint an API key for them (session + CSRF), as a user would.
    pub async fn user_key(&self, email: &str, password: &str, scopes: &[&str]) -> String {
        let cookie = self.web_login(email, password).await;
        let html = self
            .client
            .get(self.url("/"))
            .header("cookie", format!("aiops_session={cookie}"))
            .send()
            .await
            .expect("dashboard")
            .text()
            .await
            .expect("html");
        let csrf = page_csrf(&html).expect("csrf on page");
        let resp = self
            .client
            .post(self.url("/api/v1/auth/keys"))
            .header("cookie", format!("aiops_session={cookie}"))
            .header("x-csrf-token", csrf)
            .json(&serde_json::json!({"name": "test", "scopes": scopes}))
            .send()
            .await
            .expect("create key");
        let (st, body) = parse(resp).await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["key"]["key"].as_str().expect("key").to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Http for Server {
    fn base(&self) -> &str {
        &self.base
    }
    fn client(&self) -> &reqwest::Client {
        &self.client
    }
    fn admin_key(&self) -> &str {
        &self.admin_key
    }
}

pub fn set_cookies(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value of `<input … name="NAME" … value="V">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let pos = html.find(&marker)?;
    let start = html[..pos].rfind('<')?;
    let end = pos + html[pos..].find('>')?;
    let tag = &html[start..end];
    let v = tag.split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].to_string())
}

/// The CSRF token a page hands to htmx (`hx-headers` on <body>).
pub fn page_csrf(html: &str) -> Option<String> {
    let i = html.find("X-CSRF-Token")?;
    let rest = &html[i + "X-CSRF-Token".len()..];
    let rest = rest.trim_start_matches(['"', ':', ' ', '&', ';', 'q', 'u', 'o', 't']);
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (!token.is_empty()).then_some(token)
}

pub fn err_text(v: &Value) -> String {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {v}"))
        .to_string()
}

/// A call that must succeed; its JSON body.
pub async fn ok(s: &Server, key: &str, m: Method, path: &str, body: Option<Value>) -> Value {
    let (st, v) = s.call(key, m, path, body).await;
    assert!(st.is_success(), "{path}: {st} {v}");
    v
}

/// Run the `aiops` CLI against the server with the admin key (its own HOME, cwd the data dir).
pub fn cli(s: &Server, args: &[&str]) -> (bool, String, String) {
    let home = s.dir.join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(BIN)
        .args(args)
        .env("HOME", &home)
        .env("AIOPS_URL", &s.base)
        .env("AIOPS_API_KEY", &s.admin_key)
        .env_remove("AIOPS_OUTPUT_FORMAT")
        .current_dir(&s.dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `cli` that must succeed; its stdout.
pub fn cli_ok(s: &Server, args: &[&str]) -> String {
    let (ok, out, err) = cli(s, args);
    assert!(ok, "aiops {args:?} failed: {err}\n{out}");
    out
}

/// Stop every per-user tmux server a test's data dir started.
pub fn kill_tmux(data_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(data_dir.join("tmux")) {
        for e in entries.flatten() {
            let _ = Command::new("tmux")
                .arg("-S")
                .arg(e.path().join("tmux.sock"))
                .arg("kill-server")
                .output();
        }
    }
}
