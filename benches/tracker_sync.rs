//! Benchmark (not a test): a full sync of 10,000 issues (100 pages) from the in-process fake
//! GitHub into a real `aiops serve`, then sequential latency of the issue list over them.
//! Run: `cargo bench --bench tracker_sync` (release build). Loopback only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

#[path = "../tests/e2e/fakes.rs"]
#[allow(dead_code)]
mod fakes;

use fakes::{Fake, Kind};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let issues: usize = std::env::var("BENCH_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let fake = Fake::start(Kind::GitHub, "bench-token").await;
    fake.seed_github(issues, 0);
    let dir = tempfile::tempdir().expect("tempdir");
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
        ],
    );
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("AIOPS_DATA_DIR", dir.path())
        .env("AIOPS_BIND", "127.0.0.1:0")
        .env(
            "AIOPS_LOG",
            std::env::var("AIOPS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("server output").expect("line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    let http = reqwest::Client::new();
    let call = |m: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = http
            .request(m, format!("{base}/api/v1{path}"))
            .bearer_auth(&key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            r.send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    use reqwest::Method;
    let t = call(Method::POST, "/tenants", Some(json!({"name": "bench"}))).await;
    let tenant = t["tenant"]["id"].as_u64().expect("tenant");
    let p = call(
        Method::POST,
        "/projects",
        Some(
            json!({"name": "bench", "repo_url": "https://example.com/b.git", "tenant_id": tenant}),
        ),
    )
    .await;
    let project = p["project"]["id"].as_u64().expect("project");
    let i = call(Method::POST, "/integrations", Some(json!({"tenant_id": tenant, "provider": "github", "name": "gh", "base_url": fake.url, "api_token": "bench-token", "sync_cron": "off"}))).await;
    let integ = i["integration"]["id"].as_u64().expect("integration");
    call(
        Method::POST,
        &format!("/integrations/{integ}/projects"),
        Some(json!({"project_id": project, "external_identifier": "octo/repo"})),
    )
    .await;

    let start = Instant::now();
    let r = call(
        Method::POST,
        "/issues/sync",
        Some(json!({"force_full": true})),
    )
    .await;
    let full = start.elapsed();
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.path() == "/repos/octo/repo/issues")
        .count();
    println!(
        "full sync: {} issues, {pages} pages, {:.2} s ({:.0} issues/s)",
        r["synced"],
        full.as_secs_f64(),
        issues as f64 / full.as_secs_f64()
    );

    let start = Instant::now();
    let r = call(Method::POST, "/issues/sync", Some(json!({}))).await;
    println!(
        "incremental re-sync (nothing changed upstream): {} issues in {:.2} s",
        r["synced"],
        start.elapsed().as_secs_f64()
    );

    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        let v = call(Method::GET, "/issues?status=open&limit=50", None).await;
        assert_eq!(v["count"], 50);
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!(
        "GET /issues?status=open&limit=50 over {issues} issues: {:.2} ms per request sequentially (one client)",
        per * 1000.0
    );
    let _ = child.kill();
    let _ = child.wait();
}
