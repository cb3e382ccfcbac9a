//! Drop-in compatibility with the original CLI (spec/cli.md §2): a server loaded by
//! `aiops import-sqlite` from a database in the original's schema (300 issues over a GitHub and
//! a GitLab link, pins, comments, the admin's old API key), then one row per command of every
//! table of §2, run with the original's exact command line through our `aiops` binary,
//! configured the original's way (`~/.aiops/config.yaml` with url and api_key, no env). Each row
//! names the exit code and what a script relies on: JSON fields (pointer → value or predicate) or
//! the text line. Every JSON output is also checked for timestamps with more than 6 fractional
//! digits. All rows run; the failures are listed together at the end.

use crate::fakes::{Fake, Kind};
use crate::git::seeded_bare;
use crate::harness::*;
use crate::import::{ADMIN_KEY, FIRST_ISSUE, build_db_sized};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const N_ISSUES: usize = 300;

type Pred = Box<dyn Fn(&Value) -> Result<(), String>>;
type FilePred = Box<dyn Fn(&[u8]) -> bool>;

enum Check {
    /// The JSON value at the pointer equals.
    Eq(String, Value),
    /// The pointer resolves.
    Exists(String),
    /// The array at the pointer has this length.
    Len(String, usize),
    /// A named predicate over the whole JSON output.
    Json(String, Pred),
    /// stdout holds this text.
    Out(String),
    /// stdout or stderr holds this text (messages a script reads from the terminal).
    Said(String),
    /// stdout, trimmed, is exactly this.
    OutIs(String),
    /// The JSON output equals the JSON output of this other command line.
    SameAs(Vec<String>),
    /// A file the command writes satisfies the predicate.
    File(PathBuf, String, FilePred),
}

struct Row {
    argv: Vec<String>,
    exit: i32,
    stdin: Option<&'static str>,
    bin: Option<PathBuf>,
    checks: Vec<Check>,
}

fn row(argv: &[&str]) -> Row {
    Row {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        exit: 0,
        stdin: None,
        bin: None,
        checks: Vec::new(),
    }
}

impl Row {
    fn exit(mut self, code: i32) -> Row {
        self.exit = code;
        self
    }
    fn stdin(mut self, s: &'static str) -> Row {
        self.stdin = Some(s);
        self
    }
    fn bin(mut self, p: &Path) -> Row {
        self.bin = Some(p.to_path_buf());
        self
    }
    fn eq(mut self, p: &str, v: Value) -> Row {
        self.checks.push(Check::Eq(p.into(), v));
        self
    }
    fn has(mut self, p: &str) -> Row {
        self.checks.push(Check::Exists(p.into()));
        self
    }
    fn len(mut self, p: &str, n: usize) -> Row {
        self.checks.push(Check::Len(p.into(), n));
        self
    }
    fn json(mut self, name: &str, f: impl Fn(&Value) -> Result<(), String> + 'static) -> Row {
        self.checks.push(Check::Json(name.into(), Box::new(f)));
        self
    }
    fn out(mut self, s: &str) -> Row {
        self.checks.push(Check::Out(s.into()));
        self
    }
    fn said(mut self, s: &str) -> Row {
        self.checks.push(Check::Said(s.into()));
        self
    }
    fn out_is(mut self, s: &str) -> Row {
        self.checks.push(Check::OutIs(s.into()));
        self
    }
    fn same_as(mut self, argv: &[&str]) -> Row {
        self.checks
            .push(Check::SameAs(argv.iter().map(|s| s.to_string()).collect()));
        self
    }
    fn file(mut self, p: &Path, what: &str, f: impl Fn(&[u8]) -> bool + 'static) -> Row {
        self.checks
            .push(Check::File(p.to_path_buf(), what.into(), Box::new(f)));
        self
    }
}

/// Predicates.
fn ids_ascending(v: &Value) -> Result<(), String> {
    let ids: Vec<u64> = v
        .as_array()
        .ok_or("not an array")?
        .iter()
        .map(|i| i["id"].as_u64().ok_or("an item without a numeric id"))
        .collect::<Result<_, _>>()?;
    if ids.windows(2).all(|w| w[0] < w[1]) {
        Ok(())
    } else {
        Err(format!(
            "ids not ascending: {:?}…",
            &ids[..ids.len().min(8)]
        ))
    }
}

fn ids_are(want: Vec<u64>) -> impl Fn(&Value) -> Result<(), String> {
    move |v| {
        let ids: Vec<u64> = v
            .as_array()
            .ok_or("not an array")?
            .iter()
            .filter_map(|i| i["id"].as_u64())
            .collect();
        if ids == want {
            Ok(())
        } else {
            Err(format!("ids {ids:?}, want {want:?}"))
        }
    }
}

fn all_items(field: &'static str, want: Value) -> impl Fn(&Value) -> Result<(), String> {
    move |v| {
        let a = v.as_array().ok_or("not an array")?;
        if a.is_empty() {
            return Err("empty list".into());
        }
        match a.iter().find(|i| i.pointer(field) != Some(&want)) {
            None => Ok(()),
            Some(bad) => Err(format!("an item has {field} = {:?}", bad.pointer(field))),
        }
    }
}

fn any_item(field: &'static str, want: Value) -> impl Fn(&Value) -> Result<(), String> {
    move |v| {
        let a = v.as_array().ok_or("not an array")?;
        if a.iter().any(|i| i.pointer(field) == Some(&want)) {
            Ok(())
        } else {
            Err(format!("no item with {field} = {want}"))
        }
    }
}

fn str_starts(p: &'static str, prefix: &'static str) -> impl Fn(&Value) -> Result<(), String> {
    move |v| match v.pointer(p).and_then(Value::as_str) {
        Some(s) if s.starts_with(prefix) => Ok(()),
        other => Err(format!(
            "{p} = {other:?}, want a string starting {prefix:?}"
        )),
    }
}

/// Strings that are RFC 3339 / ISO times with a fraction of more than 6 digits, anywhere.
fn long_fractions(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let shape = b.len() > 20
                && b[4] == b'-'
                && b[7] == b'-'
                && (b[10] == b'T' || b[10] == b' ')
                && b[13] == b':'
                && b[16] == b':'
                && b[19] == b'.'
                && b[..4].iter().all(u8::is_ascii_digit);
            if shape {
                let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 6 {
                    out.push(format!("{at} = {s}"));
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                long_fractions(x, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                long_fractions(x, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// The JSON a command printed: all of stdout, or from the first line that opens an object or
/// array (the original prints a message line before some JSON).
fn parse_json(stdout: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(stdout.trim()) {
        return Some(v);
    }
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        let t = line.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(v) = serde_json::from_str(stdout[offset..].trim())
        {
            return Some(v);
        }
        offset += line.len();
    }
    None
}

struct Env {
    home: PathBuf,
    cwd: PathBuf,
    manifest: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(env: &Env, bin: &Path, argv: &[String], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(bin);
    cmd.args(argv)
        .env("HOME", &env.home)
        .env_remove("AIOPS_URL")
        .env_remove("AIOPS_API_KEY")
        .env_remove("AIOPS_OUTPUT_FORMAT")
        .env("AIOPS_UPDATE_URL", &env.manifest)
        .env("COLUMNS", "100000")
        .current_dir(&env.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run aiops");
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            let _ = i.write_all(s.as_bytes());
        }
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run one row; the reasons it fails (empty: it passes).
fn check_row(env: &Env, r: &Row) -> Vec<String> {
    let bin = r.bin.clone().unwrap_or_else(|| PathBuf::from(BIN));
    let o = run(env, &bin, &r.argv, r.stdin);
    let mut bad = Vec::new();
    let ctx = || {
        format!(
            "\n      stdout: {}\n      stderr: {}",
            o.stdout.chars().take(600).collect::<String>().trim(),
            o.stderr.chars().take(600).collect::<String>().trim()
        )
    };
    if o.code != r.exit {
        bad.push(format!("exit {} (want {}){}", o.code, r.exit, ctx()));
    }
    let wants_json = r.argv.windows(2).any(|w| w[0] == "-o" && w[1] == "json");
    let parsed = parse_json(&o.stdout);
    if let Some(v) = &parsed {
        let mut long = Vec::new();
        long_fractions(v, "", &mut long);
        if !long.is_empty() {
            bad.push(format!(
                "timestamps with more than 6 fractional digits: {}",
                long.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let needs_json = r.checks.iter().any(|c| {
        matches!(
            c,
            Check::Eq(..) | Check::Exists(_) | Check::Len(..) | Check::Json(..) | Check::SameAs(_)
        )
    });
    if needs_json && parsed.is_none() {
        bad.push(format!(
            "no JSON on stdout{}{}",
            if wants_json { " (-o json)" } else { "" },
            ctx()
        ));
        return bad;
    }
    let v = parsed.unwrap_or(Value::Null);
    for c in &r.checks {
        match c {
            Check::Eq(p, want) => match v.pointer(p) {
                Some(got) if got == want => {}
                got => bad.push(format!("{p} = {got:?}, want {want}")),
            },
            Check::Exists(p) => {
                if v.pointer(p).is_none() {
                    bad.push(format!(
                        "{p} missing in {}",
                        v.to_string().chars().take(400).collect::<String>()
                    ));
                }
            }
            Check::Len(p, n) => match v.pointer(p).and_then(Value::as_array) {
                Some(a) if a.len() == *n => {}
                Some(a) => bad.push(format!("{p}: {} items, want {n}", a.len())),
                None => bad.push(format!("{p}: not an array")),
            },
            Check::Json(name, f) => {
                if let Err(e) = f(&v) {
                    bad.push(format!("{name}: {e}"));
                }
            }
            Check::Out(s) => {
                if !o.stdout.contains(s.as_str()) {
                    bad.push(format!("stdout lacks {s:?}{}", ctx()));
                }
            }
            Check::Said(s) => {
                if !o.stdout.contains(s.as_str()) && !o.stderr.contains(s.as_str()) {
                    bad.push(format!("output lacks {s:?}{}", ctx()));
                }
            }
            Check::OutIs(s) => {
                if o.stdout.trim() != s.trim() {
                    bad.push(format!("stdout is not exactly {s:?}{}", ctx()));
                }
            }
            Check::SameAs(other) => {
                let o2 = run(env, &bin, other, None);
                if parse_json(&o2.stdout).as_ref() != Some(&v) {
                    bad.push(format!(
                        "JSON differs from `aiops {}` (exit {})",
                        other.join(" "),
                        o2.code
                    ));
                }
            }
            Check::File(p, what, f) => match std::fs::read(p) {
                Ok(b) if f(&b) => {}
                Ok(_) => bad.push(format!("{}: not {what}", p.display())),
                Err(e) => bad.push(format!("{}: {e}", p.display())),
            },
        }
    }
    bad
}

/// A tiny HTTP server that answers every request with `body` (the CLI's release download).
fn serve_bytes(body: Vec<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(&body);
        }
    });
    format!("http://{addr}")
}

/// Stops the tmux servers the test's sessions started, however the test ends.
struct TmuxGuard(PathBuf);

impl Drop for TmuxGuard {
    fn drop(&mut self) {
        kill_tmux(&self.0);
    }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn original_cli_command_lines_work_against_an_imported_server() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // --- The original's database, pointed at local stand-ins for its remotes and trackers.
    let db = build_db_sized(root, N_ISSUES);
    let bare = seeded_bare(&root.join("repo-shop"));
    let bare2 = seeded_bare(&root.join("repo-new"));
    let gh = Fake::start(Kind::GitHub, "ghp_projecttoken").await;
    gh.add_token("ghp_tenanttoken123");
    gh.add_token("ghp_admintoken");
    let gl = Fake::start(Kind::GitLab, "glpat-tenanttoken").await;
    {
        let mut s = gh.state.lock().unwrap();
        for (n, state) in [(42, "open"), (43, "closed")] {
            s.issues.push(json!({
                "id": 70_000 + n, "number": n, "title": format!("Upstream {n}"), "state": state,
                "html_url": format!("https://github.com/acme/shop/issues/{n}"),
                "labels": [{"name": "bug"}], "assignee": null, "body": "Upstream body",
                "comments": 1, "updated_at": "2024-07-01T00:00:00Z", "user": {"login": "reporter"}
            }));
        }
        s.comments.insert(
            "42".into(),
            vec![
                json!({"id": 555, "user": {"login": "bob"}, "body": "Seen it too",
                "created_at": "2024-04-30T09:00:00Z",
                "html_url": "https://github.com/acme/shop/issues/42#issuecomment-555"}),
            ],
        );
    }
    {
        let mut s = gl.state.lock().unwrap();
        s.issues.push(json!({
            "id": 5101, "iid": 101, "title": "GL 101", "state": "opened",
            "web_url": "https://gitlab.com/acme/api/-/issues/101", "labels": [],
            "description": "GL", "assignee": null, "user_notes_count": 0,
            "updated_at": "2024-07-01T10:00:00.000Z"
        }));
    }
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "UPDATE projects SET repo_url=?1 WHERE id=5",
            [bare.to_str().unwrap()],
        )
        .unwrap();
        c.execute(
            "UPDATE tenant_integrations SET base_url=?1 WHERE id=3",
            [&gh.url],
        )
        .unwrap();
        c.execute(
            "UPDATE project_integrations SET override_base_url=?1 WHERE id=4",
            [&gh.url],
        )
        .unwrap();
        c.execute(
            "UPDATE tenant_integrations SET base_url=?1 WHERE id=6",
            [&gl.url],
        )
        .unwrap();
    }
    let data = root.join("data");
    let out = Command::new(BIN)
        .arg("import-sqlite")
        .arg("--data-dir")
        .arg(&data)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --- The server: a fake npm first on its PATH, a scripted agent as claude.
    let fakebin = root.join("fakebin");
    std::fs::create_dir_all(&fakebin).unwrap();
    let npm_log = root.join("npm-argv.log");
    write_exec(
        &fakebin.join("npm"),
        &format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho 'added 1 package'\n",
            npm_log.display()
        ),
    );
    let agent = root.join("fake-agent.sh");
    write_exec(&agent, crate::sessions::FAKE_AGENT);
    let path = format!(
        "{}:{}",
        fakebin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tools = format!("claude={}", agent.display());
    let s = Server::spawn(&data, &[("PATH", &path), ("AIOPS_TOOLS", &tools)]);
    let _tmux = TmuxGuard(data.clone());
    let k = ADMIN_KEY;

    // --- The client, configured the original's way.
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".aiops")).unwrap();
    std::fs::write(
        home.join(".aiops/config.yaml"),
        format!("api_key: {ADMIN_KEY}\nurl: {}/\n", s.base),
    )
    .unwrap();
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    // The CLI's release channel: a manifest naming a "new" binary (ours plus a marker).
    let mut new_bin = std::fs::read(BIN).unwrap();
    new_bin.extend_from_slice(b"\nAIOPS-COMPAT-NEW-BUILD\n");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&new_bin))
    };
    let bin_url = serve_bytes(new_bin);
    let manifest = root.join("release.json");
    std::fs::write(
        &manifest,
        json!({"version": "99.0.0", "url": format!("{bin_url}/aiops"), "sha256": sha}).to_string(),
    )
    .unwrap();
    let cli_copy = root.join("cli-copy").join("aiops");
    std::fs::create_dir_all(cli_copy.parent().unwrap()).unwrap();
    std::fs::copy(BIN, &cli_copy).unwrap();
    let env = Env {
        home: home.clone(),
        cwd: cwd.clone(),
        manifest,
    };

    // --- State the rows need: a workspace with changes, a key to delete, a shell session, a
    // backup, an agents file.
    let init = ok(
        &s,
        k,
        Method::POST,
        "/api/v1/projects/5/workspace/init",
        None,
    )
    .await;
    let ws = PathBuf::from(init["path"].as_str().expect("workspace path"));
    std::fs::write(ws.join("NOTE.md"), "a note\n").unwrap();
    std::fs::write(ws.join("CHANGED.md"), "a change\n").unwrap();
    let doomed = ok(
        &s,
        k,
        Method::POST,
        "/api/v1/auth/keys",
        Some(json!({"name": "doomed", "scopes": ["read"]})),
    )
    .await;
    let doomed = doomed["key"]["id"].as_u64().expect("key id").to_string();
    let sess = ok(
        &s,
        k,
        Method::POST,
        "/api/v1/projects/5/ai/sessions",
        Some(json!({"tool": "shell"})),
    )
    .await;
    let session_id = sess["session_id"].as_str().expect("session_id").to_string();
    let backup = ok(
        &s,
        k,
        Method::POST,
        "/api/v1/system/backups",
        Some(json!({"description": "before compat"})),
    )
    .await;
    let b = backup["backup"]["id"]
        .as_u64()
        .expect("backup id")
        .to_string();
    let agents_file = root.join("agents.md");
    std::fs::write(&agents_file, "  Always run the tests.\n").unwrap();
    let agents = agents_file.to_str().unwrap();
    let dl1 = cwd.join("dl-f.tar.gz");
    let dl2 = cwd.join("dl-o.tar.gz");
    let gz = |b: &[u8]| b.len() > 100 && b.starts_with(&[0x1f, 0x8b]);
    let last = FIRST_ISSUE + N_ISSUES as u64 - 1;
    let masked = format!(
        "{}...{}",
        &ADMIN_KEY[..10],
        &ADMIN_KEY[ADMIN_KEY.len() - 4..]
    );

    let rows: Vec<Row> = vec![
        // §2.1 auth
        row(&["auth", "whoami", "-o", "json"])
            .eq("/user/email", json!("admin@example.com"))
            .eq("/user/is_admin", json!(true))
            .eq("/user/api_key_name", json!("admin cli")),
        row(&["auth", "keys", "list", "-o", "json"]).json(
            "lists the imported key",
            any_item("/name", json!("admin cli")),
        ),
        row(&[
            "auth",
            "keys",
            "create",
            "--name",
            "n",
            "--scopes",
            "read,write",
            "-o",
            "json",
        ])
        .json(".key.key", str_starts("/key/key", "aiops_"))
        .eq("/key/scopes", json!(["read", "write"])),
        row(&["auth", "keys", "delete", &doomed])
            .out(&format!("API key {doomed} deleted successfully!")),
        // §2.7 tenants
        row(&["tenants", "list", "-o", "json"])
            .json("Acme listed", any_item("/name", json!("Acme"))),
        row(&["tenants", "get", "Acme", "-o", "json"])
            .eq("/id", json!(1))
            .has("/projects"),
        row(&["tenants", "create", "--name", "Compat Tenant", "-o", "json"])
            .has("/tenant/id")
            .eq("/tenant/name", json!("Compat Tenant")),
        // §2.3 projects
        row(&["projects", "list", "-o", "json"])
            .json("Shop listed", any_item("/name", json!("Shop")))
            .json("Api listed", any_item("/name", json!("Api"))),
        row(&["projects", "list", "--tenant", "Acme", "-o", "json"])
            .json("all in Acme", all_items("/tenant_id", json!(1))),
        row(&["projects", "get", "Shop", "-o", "json"])
            .eq("/id", json!(5))
            .has("/git_status"),
        row(&[
            "projects",
            "create",
            "--name",
            "Compat Project",
            "--repo-url",
            bare2.to_str().unwrap(),
            "--tenant",
            "Compat Tenant",
            "-o",
            "json",
        ])
        .has("/project/id")
        .eq("/project/name", json!("Compat Project")),
        row(&["projects", "status", "Shop", "-o", "json"]).eq("/branch", json!("main")),
        row(&["projects", "status", "Api", "-o", "json"])
            .has("/error")
            .eq("/branch", json!("unknown")),
        // §2.2 issues, reading
        row(&["issues", "list", "-o", "json"])
            .len("", N_ISSUES)
            .json("ids ascending", ids_ascending),
        row(&["issues", "list", "--limit", "5", "-o", "json"]).json(
            "the 5 lowest ids",
            ids_are((FIRST_ISSUE..FIRST_ISSUE + 5).collect()),
        ),
        row(&["issues", "list", "--limit", "600", "-o", "json"])
            .len("", N_ISSUES)
            .json("last id", move |v| {
                match v.pointer(&format!("/{}", N_ISSUES - 1)) {
                    Some(i) if i["id"] == json!(last) => Ok(()),
                    other => Err(format!("last item {other:?}, want id {last}")),
                }
            }),
        row(&["issues", "list", "--status", "OPEN", "-o", "json"])
            .json("non-empty", |v| {
                v.as_array()
                    .filter(|a| !a.is_empty())
                    .map(|_| ())
                    .ok_or_else(|| "no open issues".to_string())
            })
            .same_as(&["issues", "list", "--status", "open", "-o", "json"]),
        row(&["issues", "list", "--status", "closed", "-o", "json"])
            .json("all closed", all_items("/status_key", json!("closed"))),
        row(&["issues", "list", "--provider", "gitlab", "-o", "json"])
            .len("", (N_ISSUES - 2) / 2)
            .json("all gitlab", all_items("/provider", json!("gitlab"))),
        row(&["issues", "list", "--project", "Api", "-o", "json"])
            .json("all in Api", all_items("/project_id", json!(6))),
        row(&["issues", "get", "17", "-o", "json"])
            .eq("/id", json!(17))
            .eq("/external_id", json!("42"))
            .eq("/integration_id", json!(3))
            .eq("/comments/0/author", json!("bob")),
        row(&["issues", "pinned", "-o", "json"])
            .len("", 6)
            .json("pinned ids", any_item("/id", json!(FIRST_ISSUE + 2))),
        row(&["issues", "pin", "20"]).out("✓"),
        row(&["issues", "unpin", "20"]).out("✓"),
        // §2.8 integrations
        row(&["integrations", "list", "-o", "json"])
            .len("", 2)
            .json("gh main", any_item("/name", json!("gh main")))
            .json("tenant_name", all_items("/tenant_name", json!("Acme"))),
        row(&["integrations", "list", "--provider", "github", "-o", "json"])
            .len("", 1)
            .eq("/0/id", json!(3))
            .eq("/0/enabled", json!(true)),
        row(&["integrations", "list", "--tenant", "Acme", "-o", "json"]).len("", 2),
        // §2.4 git
        row(&["git", "status", "Shop", "-o", "json"]).eq("/branch", json!("main")),
        row(&["git", "status", "Api", "-o", "json"])
            .has("/error")
            .eq("/branch", json!("unknown")),
        row(&["git", "pull", "Shop"]).out("Pull successful!"),
        // After a pull, `last_pull` (FETCH_HEAD's file time, nanoseconds on disk) is set: the
        // all-rows timestamp check sees it with at most 6 fractional digits.
        row(&["git", "status", "Shop", "-o", "json"]).has("/last_pull"),
        row(&["git", "branches", "Shop", "-o", "json"])
            .json("main", any_item("/name", json!("main")))
            .json(
                "remotes/origin/main",
                any_item("/name", json!("remotes/origin/main")),
            )
            .json(
                "remotes/origin/HEAD",
                any_item("/name", json!("remotes/origin/HEAD -> origin/main")),
            ),
        row(&["git", "branch", "Shop", "feature-x", "--from", "main"])
            .out("Branch 'feature-x' created successfully!"),
        row(&["git", "checkout", "Shop", "feature-x"]).out("Checked out branch 'feature-x'!"),
        row(&["git", "commit", "Shop", "Add a note", "--files", "NOTE.md"])
            .out("Commit created successfully!"),
        row(&["git", "push", "Shop", "--ref", "feature-x"]).out("Push successful!"),
        row(&["git", "files", "Shop", "-o", "json"])
            .json("README.md", any_item("/name", json!("README.md")))
            .json("src", any_item("/name", json!("src"))),
        row(&["git", "files", "Shop", "--path", "src", "-o", "json"])
            .json("lib.rs", any_item("/name", json!("lib.rs"))),
        row(&["git", "cat", "Shop", "README.md", "-o", "json"]).out_is("# Demo\nline two"),
        row(&["git", "checkout", "Shop", "main"]).out("Checked out branch 'main'!"),
        // §2.2 issues, through the trackers
        row(&["issues", "sync", "--integration", "3", "-o", "json"])
            .said("Total issues synchronized: 2")
            .eq("/0/project_name", json!("Shop"))
            .eq("/0/issues_synced", json!(2)),
        row(&[
            "issues",
            "create",
            "--project",
            "Shop",
            "--integration",
            "3",
            "--title",
            "Compat issue",
            "--labels",
            "a, b",
            "-o",
            "json",
        ])
        .has("/issue/id")
        .eq("/issue/title", json!("Compat issue")),
        row(&[
            "issues",
            "update",
            "17",
            "--title",
            "Checkout fails (edited)",
            "-o",
            "json",
        ])
        .eq("/issue/title", json!("Checkout fails (edited)")),
        row(&["issues", "comment", "17", "Hello from the old CLI"])
            .out("Comment added to issue 17!"),
        row(&[
            "issues",
            "modify-comment",
            "17",
            "555",
            "Seen it too (edited)",
        ])
        .out("Comment 555 on issue 17 updated successfully!"),
        row(&["issues", "assign", "17", "--user", "2"]).out("Issue 17 assigned successfully!"),
        row(&["issues", "close", "20"]).out("Issue 20 closed successfully!"),
        // §2.6 sessions and the issue-bound session commands of §2.2
        row(&[
            "issues",
            "start",
            "--project",
            "Shop",
            "--tool",
            "shell",
            "--no-attach",
        ])
        .out("(session ID: "),
        row(&[
            "sessions",
            "start",
            "--project",
            "Shop",
            "--tool",
            "shell",
            "--no-attach",
        ])
        .out("(session ID: "),
        row(&["sessions", "list"]).out("Active Sessions (All Projects)"),
        row(&["sessions", "list", "--project", "Shop"]).out("Active Sessions (Project Shop)"),
        row(&["issues", "sessions"]).out("Active AI Sessions (All Projects)"),
        row(&["issues", "sessions", "--project", "Shop"]).out("Active AI Sessions (Project Shop)"),
        row(&["sessions", "respawn", &session_id]).said("is still alive, no need to respawn"),
        row(&["sessions", "attach", "no-such-session"])
            .exit(1)
            .said("Error: Session 'no-such-session' not found"),
        row(&["issues", "work", "17", "--tool", "claude"])
            .out("✓ Issue 17 claimed successfully!")
            .out("(session ID: "),
        // §2.5 workflow
        row(&["workflow", "claim", "18", "-o", "json"])
            .eq("/issue/project_id", json!(5))
            .has("/workspace/path"),
        row(&[
            "workflow",
            "progress",
            "18",
            "in_progress",
            "--comment",
            "On it",
        ])
        .out("Progress updated for issue 18!"),
        row(&[
            "workflow",
            "submit",
            "18",
            "--project",
            "5",
            "--message",
            "Fix 18",
            "--files",
            "CHANGED.md",
        ])
        .out("Changes submitted for issue 18!"),
        row(&["workflow", "approve", "18", "--message", "Please review"])
            .out("Approval requested for issue 18!"),
        row(&["workflow", "complete", "18", "--summary", "Done"])
            .out("Issue 18 completed successfully!"),
        // §2.9 credentials
        // The original prints this text even under `-o json`; ours keeps stdout valid JSON
        // there (README "Differences") and prints the text in table form.
        row(&["credentials", "list"]).out("No personal integration credentials configured"),
        row(&["credentials", "list", "-o", "json"]).eq("/credentials", json!([])),
        row(&["credentials", "set", "-i", "3", "-t", "ghp_admintoken"])
            .out("Credential created successfully"),
        row(&["credentials", "list", "-o", "json"])
            .eq("/credentials/0/integration_id", json!(3))
            .json("no token shown", |v| {
                if v.to_string().contains("ghp_admintoken") {
                    Err("the token is shown".into())
                } else {
                    Ok(())
                }
            }),
        row(&["credentials", "delete", "2"]).out("Credential 2 deleted successfully"),
        // §2.11 agents global
        row(&["agents", "global", "get", "-o", "json"])
            .has("/id")
            .eq("/content", json!("Be careful with prod.")),
        row(&["agents", "global", "clear", "--yes"]).out("✓"),
        row(&["agents", "global", "get", "-o", "json"]).out("No global agent context set."),
        row(&["agents", "global", "set", "-f", agents])
            .out("✓")
            .out("Updated at:"),
        row(&["agents", "global", "get", "-o", "json"])
            .has("/id")
            .eq("/content", json!("Always run the tests.")),
        // §2.10 system
        row(&["system", "status"])
            .out("System Status:")
            .out("Component Status:")
            .out("  ✓ gh main (github)")
            .out("Summary:"),
        row(&["system", "status", "-o", "json"])
            .has("/healthy")
            .has("/components/tmux/details/session_count")
            .has("/components/sessions/details/total_active")
            .eq(
                "/components/integrations/details/integrations/gh main",
                json!({"provider": "github", "enabled": true}),
            )
            .eq(
                "/components/integrations/details/integrations/gl main",
                json!({"provider": "gitlab", "enabled": true}),
            )
            .has("/summary/total_components")
            .has("/summary/healthy_components"),
        row(&["system", "update-ai-tool", "codex", "--source", "npm"])
            .out("Updating Codex CLI via NPM...")
            .out("✓")
            .file(&npm_log, "npm install -g @openai/codex", |b| {
                String::from_utf8_lossy(b).contains("install -g @openai/codex")
            }),
        row(&["system", "update", "--skip-migrations"])
            .exit(1)
            .said("No release channel configured"),
        row(&["system", "update-and-restart", "--skip-migrations"])
            .stdin("n\n")
            .exit(1)
            .said("Aborted!"),
        row(&["system", "restart"])
            .stdin("n\n")
            .exit(1)
            .said("Aborted!"),
        row(&["system", "backup", "create", "-d", "compat", "-o", "json"])
            .has("/backup/id")
            .eq("/backup/description", json!("compat")),
        row(&["system", "backup", "list", "-o", "json"])
            .has("/backups/0/id")
            .has("/backups/0/filename")
            .has("/backups/0/size_bytes"),
        row(&[
            "system",
            "backup",
            "download",
            &b,
            "-f",
            dl1.to_str().unwrap(),
        ])
        .out("✓ Backup downloaded to:")
        .file(&dl1, "a gzip archive", gz),
        row(&[
            "system",
            "backup",
            "download",
            &b,
            "-o",
            dl2.to_str().unwrap(),
        ])
        .out("✓ Backup downloaded to:")
        .file(&dl2, "a gzip archive", gz),
        row(&["system", "backup", "restore", &b])
            .stdin("n\n")
            .exit(1)
            .said("Aborted!"),
        row(&["system", "backup", "restore", &b, "-y"])
            .out(&format!("Restoring database from backup {b}..."))
            .out("✓"),
        // §2.12 update (the CLI itself; the real update runs on a copy of the binary)
        row(&["update", "--check-only"])
            .out("Current version:")
            .out("Latest version: 99.0.0"),
        row(&["update"])
            .bin(&cli_copy)
            .out("✓")
            .file(&cli_copy, "the new build", |b| {
                b.ends_with(b"\nAIOPS-COMPAT-NEW-BUILD\n")
            }),
        // §1 config
        row(&["config", "show"])
            .out("Configuration")
            .out(&masked)
            .out(&s.base),
        row(&["config", "set", "foo", "bar"]).out("Configuration 'foo' set successfully!"),
        row(&["config", "get", "foo"]).out_is("bar"),
        row(&["config", "get", "nope"]).out("Configuration 'nope' not set"),
        row(&["auth", "whoami", "-o", "json"]).eq("/user/email", json!("admin@example.com")),
    ];

    let mut report = Vec::new();
    let mut failed = 0;
    // The API half of difference 1: no limit means all; a limit above 500 is accepted.
    // (Run before the rows change the data.)
    for (label, path, n) in [
        (
            "API GET /api/v1/issues",
            "/api/v1/issues".to_string(),
            N_ISSUES,
        ),
        (
            "API GET /api/v1/issues?limit=600",
            "/api/v1/issues?limit=600".to_string(),
            N_ISSUES,
        ),
    ] {
        let (st, v) = s.get(k, &path).await;
        let got = v["issues"].as_array().map(Vec::len);
        if st.is_success() && got == Some(n) {
            report.push(format!("PASS {label}"));
        } else {
            failed += 1;
            report.push(format!("FAIL {label}: {st}, {got:?} issues, want {n}"));
        }
    }
    let total = rows.len();
    for r in &rows {
        let bad = check_row(&env, r);
        let line = format!("aiops {}", r.argv.join(" "));
        if bad.is_empty() {
            report.push(format!("PASS {line}"));
        } else {
            failed += 1;
            report.push(format!("FAIL {line}\n    - {}", bad.join("\n    - ")));
        }
    }
    println!("{}", report.join("\n"));
    assert_eq!(
        failed,
        0,
        "{failed} of {} rows fail:\n{}",
        total + 2,
        report
            .iter()
            .filter(|l| l.starts_with("FAIL"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
