//! Benchmark (not a test): keystroke-to-echo latency through the browser terminal's WebSocket
//! bridge (WebSocket -> PTY -> tmux attach -> tmux -> the program's tty echo -> back), median
//! and p99 over 1,000 keystrokes, and the memory one attached terminal costs.
//! Run: `cargo bench --bench terminal`. Loopback only; needs tmux.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_aiops");

fn admin(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("aiops admin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// RSS of every `tmux … attach-session` process on the machine.
fn attach_clients_kib() -> (usize, u64) {
    let mut n = 0;
    let mut total = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.starts_with("tmux ") && cmd.contains("attach-session") {
            n += 1;
            total += rss_kib(pid);
        }
    }
    (n, total)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo.git");
    let seed = dir.path().join("seed");
    let git = |args: &[&str], cwd: &std::path::Path| {
        assert!(
            Command::new("git")
                .args(args)
                .current_dir(cwd)
                .output()
                .unwrap()
                .status
                .success()
        );
    };
    std::fs::create_dir_all(&seed).unwrap();
    git(
        &["init", "-q", "--bare", "-b", "main", repo.to_str().unwrap()],
        dir.path(),
    );
    git(&["init", "-q", "-b", "main"], &seed);
    std::fs::write(seed.join("README.md"), "bench\n").unwrap();
    git(&["add", "-A"], &seed);
    git(
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@x",
            "commit",
            "-q",
            "-m",
            "seed",
        ],
        &seed,
    );
    git(&["push", "-q", repo.to_str().unwrap(), "main"], &seed);
    admin(
        dir.path(),
        &[
            "create-user",
            "bench@example.com",
            "--admin",
            "--password",
            "bench-password",
        ],
    );
    let key = admin(
        dir.path(),
        &[
            "create-key",
            "bench@example.com",
            "--scopes",
            "read,write,admin",
            "--name",
            "bench",
        ],
    );
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("AIOPS_DATA_DIR", dir.path())
        .env("AIOPS_BIND", "127.0.0.1:0")
        .env("AIOPS_LOG", "warn")
        .env("AIOPS_TOOLS", "echoer=cat")
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("server output").expect("line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let r = http
            .post(format!("{base}/api/v1{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            r.send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let t = post("/tenants", json!({"name": "bench"})).await;
    let p = post("/projects", json!({"name": "bench", "repo_url": repo.to_str().unwrap(), "tenant_id": t["tenant"]["id"]})).await;
    let pid_ = p["project"]["id"].as_u64().expect("project");
    let s = post(
        &format!("/projects/{pid_}/ai/sessions"),
        json!({"tool": "echoer"}),
    )
    .await;
    let sid = s["id"].as_u64().expect("session");
    let connect = || {
        let mut req = format!(
            "{}/streams/sessions/{sid}/terminal",
            base.replace("http://", "ws://")
        )
        .into_client_request()
        .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        async move {
            tokio_tungstenite::connect_async_with_config(req, None, true)
                .await
                .expect("ws")
                .0
        }
    };
    let mut ws = connect().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Drain the first screen.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await {}
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let mut lat = Vec::with_capacity(1000);
    for i in 0..1000 {
        let c = letters[i % letters.len()];
        let t0 = Instant::now();
        ws.send(Message::Binary(vec![c].into()))
            .await
            .expect("send");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) if b.contains(&c) => break,
                Ok(Some(Ok(_))) => {}
                other => panic!("no echo: {other:?}"),
            }
        }
        lat.push(t0.elapsed());
        // Whatever else tmux sends for this keystroke (cursor moves) is not the next echo.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(3), ws.next()).await {}
        if i % 60 == 59 {
            // A new line now and then so the line stays short.
            ws.send(Message::Binary(b"\r".to_vec().into()))
                .await
                .expect("send");
            while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(30), ws.next()).await
            {
            }
        }
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "keystroke to echo over 1,000 keystrokes: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(lat[lat.len() / 2]),
        ms(lat[lat.len() * 99 / 100]),
        ms(lat[lat.len() - 1])
    );
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let mut many = Vec::new();
    for _ in 0..20 {
        many.push(connect().await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    let (n, clients) = attach_clients_kib();
    println!(
        "20 attached terminals: server RSS {:.1} -> {:.1} MiB ({:.0} KiB per terminal); {n} tmux attach clients, {:.0} KiB RSS each",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 20.0,
        clients as f64 / n.max(1) as f64
    );
    drop(many);
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("tmux")
        .args([
            "-S",
            &dir.path().join("tmux/u1/tmux.sock").display().to_string(),
            "kill-server",
        ])
        .output();
}
