//! Hostile traffic: bodies and gzip bombs, anonymous junk, floods of bad keys and passwords,
//! proxies, slow clients, playbook symlink loops, panics. Each test plays the attacker and
//! checks what a user would notice.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_on_a_web_form_is_refused_without_inflating_it() {
    let s = Server::start();
    // 100 MB of form data, about 100 KB on the wire.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b'a'; 1 << 20];
    gz.write_all(b"email=a%40b.c&password=").unwrap();
    for _ in 0..100 {
        gz.write_all(&chunk).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let before = rss_kib(s.child_id());
    for path in ["/login", "/tenants", "/api/v1/tenants"] {
        // A connection each: the server closes one whose oversized body it did not read.
        let r = reqwest::Client::new()
            .post(s.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-encoding", "gzip")
            .header("cookie", "aiops_login_csrf=x")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    let after = rss_kib(s.child_id());
    assert!(
        after < before + 40 * 1024,
        "RSS stayed flat: {before} KiB -> {after} KiB"
    );
    // Control: an ordinary page still works (on a new connection: the server closes the ones
    // whose oversized body it did not read, and a pooled one may race that close).
    let r = reqwest::Client::new()
        .get(s.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_junk_does_not_grow_the_store_and_audit_bodies_are_capped() {
    let s = Server::start_with(&[("AIOPS_AUDIT_MAX_ROWS", "10")]);
    let (_, before) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    let size = || std::fs::metadata(s.dir.join("aiops.redb")).unwrap().len();
    let size_before = size();
    let big = json!({"name": "x".repeat(900_000)});
    for path in [
        "/api/v1/no-such-route",
        "/api/v1/tenants",
        "/api/v1/auth/keys",
    ] {
        for _ in 0..10 {
            let r = s.client.post(s.url(path)).json(&big).send().await.unwrap();
            assert!(r.status().is_client_error(), "{path}: {}", r.status());
        }
    }
    assert!(
        size() < size_before + (1 << 20),
        "the store grew from {size_before} to {} bytes",
        size()
    );
    let (_, after) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    assert_eq!(
        after["total"], before["total"],
        "nothing anonymous was audited"
    );

    // An authenticated write's body is kept redacted and capped; the prompt is never kept.
    let (st, _) = s
        .post(
            &s.admin_key,
            "/api/v1/tenants",
            json!({"name": "big", "description": "d".repeat(9000)}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, v) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    let body = &v["entries"][0]["request_body"];
    assert_eq!(body["_truncated"], true, "{v}");
    assert!(body.to_string().len() < 4096);
    s.post(
        &s.admin_key,
        "/api/v1/projects/999/ai/sessions",
        json!({"tool": "x", "prompt": "export ALICE_SECRET=hunter2", "command": "echo hunter2"}),
    )
    .await;
    let (_, v) = s.get(&s.admin_key, "/api/v1/audit?limit=5").await;
    assert!(!v.to_string().contains("hunter2"), "{v}");
    // The row cap holds (10 rows, with 10% slack).
    for i in 0..20 {
        s.post(
            &s.admin_key,
            "/api/v1/tenants",
            json!({"name": format!("t{i}")}),
        )
        .await;
    }
    let (_, v) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    assert!(v["total"].as_u64().unwrap() <= 11, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_key_still_works_after_a_hundred_bad_ones_from_the_same_address() {
    let s = Server::start();
    let mut limited = 0;
    for i in 0..100 {
        let bad = format!("aiops_{:064x}", i);
        let (st, v) = s.get(&bad, "/api/v1/auth/me").await;
        assert!(
            st == StatusCode::UNAUTHORIZED || st == StatusCode::TOO_MANY_REQUESTS,
            "{st} {v}"
        );
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "failing keys are slowed down");
    let (st, _) = s.get(&s.admin_key, "/api/v1/auth/me").await;
    assert_eq!(
        st,
        StatusCode::OK,
        "the admin's valid key is not locked out"
    );
}

async fn login_status(s: &Server, email: &str, password: &str, xff: Option<&str>) -> StatusCode {
    let resp = s.client.get(s.url("/login")).send().await.unwrap();
    let cookie = set_cookies(&resp)
        .into_iter()
        .find(|(k, _)| k == "aiops_login_csrf")
        .map(|(k, v)| format!("{k}={v}"))
        .unwrap_or_default();
    let html = resp.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let mut req = s
        .client
        .post(s.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ]);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let st = req.send().await.unwrap().status();
    if st.is_redirection() {
        StatusCode::OK
    } else {
        st
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_counted_before_hashing_and_a_success_resets_nothing_but_itself() {
    let s = Server::start();
    s.create_user("bob@example.com", "bob-password-1", false)
        .await;
    // A burst of 30 concurrent wrong passwords: at most the limit (10) are evaluated.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = s.client.clone();
        let url = s.url("/login");
        tasks.push(tokio::spawn(async move {
            let resp = client.get(&url).send().await.unwrap();
            let cookie = set_cookies(&resp)
                .into_iter()
                .find(|(k, _)| k == "aiops_login_csrf")
                .map(|(k, v)| format!("{k}={v}"))
                .unwrap_or_default();
            let csrf = hidden_field(&resp.text().await.unwrap(), "csrf_token").unwrap();
            client
                .post(&url)
                .header("cookie", cookie)
                .form(&[
                    ("email", ADMIN_EMAIL),
                    ("password", &format!("wrong-{i}")),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut evaluated = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(evaluated <= 10, "{evaluated} guesses were evaluated");
    assert_eq!(
        login_status(&s, "bob@example.com", "bob-password-1", None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is blocked, even for a right password"
    );

    // Interleaving guesses with a login to one's own account no longer resets the count.
    let s = Server::start();
    s.create_user("bob@example.com", "bob-password-1", false)
        .await;
    for round in 0..3 {
        for _ in 0..3 {
            login_status(&s, ADMIN_EMAIL, "guess", None).await;
        }
        let st = login_status(&s, "bob@example.com", "bob-password-1", None).await;
        assert_eq!(st, StatusCode::OK, "round {round}");
    }
    // 9 failures counted: one more is evaluated, then the address is blocked.
    assert_eq!(
        login_status(&s, ADMIN_EMAIL, "guess", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&s, ADMIN_EMAIL, "guess", None).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Not trusted: the header is ignored (a client cannot pick its own address).
    let s = Server::start();
    let r = s
        .client
        .post(s.url("/api/v1/tenants"))
        .bearer_auth(&s.admin_key)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"name": "direct"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, v) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    assert_eq!(v["entries"][0]["ip_address"], "127.0.0.1", "{v}");
    drop(s);
    // Behind a trusted proxy: the client it names is who is limited and audited.
    let s = Server::start_with(&[("AIOPS_TRUSTED_PROXIES", "127.0.0.1")]);
    let r = s
        .client
        .post(s.url("/api/v1/tenants"))
        .bearer_auth(&s.admin_key)
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .json(&json!({"name": "proxied"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, v) = s.get(&s.admin_key, "/api/v1/audit?limit=1").await;
    assert_eq!(v["entries"][0]["ip_address"], "203.0.113.9", "{v}");
    // One client's failed logins do not block another client behind the same proxy.
    for _ in 0..10 {
        login_status(&s, ADMIN_EMAIL, "guess", Some("198.51.100.1")).await;
    }
    assert_eq!(
        login_status(&s, ADMIN_EMAIL, "guess", Some("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_status(&s, ADMIN_EMAIL, ADMIN_PASSWORD, Some("198.51.100.2")).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_dribbling_its_headers_is_cut_off_and_others_are_served() {
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Keep dribbling a header line every second for up to 20 s.
    let started = Instant::now();
    let mut closed_after = None;
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_secs(1));
        // Normal requests are served meanwhile.
        let (st, _) = s.get("", "/api/v1/health").await;
        assert_eq!(st, StatusCode::OK);
        let c = &mut slow[0];
        if c.write_all(b"X-Slow: 1\r\n").is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(_) => {
                // A 408 before closing counts as cut off too.
                closed_after = Some(started.elapsed());
                break;
            }
            Err(_) => {}
        }
    }
    let after = closed_after.expect("the slow client was cut off");
    assert!(after < Duration::from_secs(15), "after {after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_answers_json_with_the_request_id() {
    let s = Server::start_with(&[("AIOPS_TEST_PANIC_ROUTE", "1")]);
    let r = s
        .client
        .get(s.url("/__test/panic"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["request_id"], "abc-123", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Internal server error")
    );
    // Every answer carries an id, generated when the client sent none.
    let r = s.client.get(s.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"].to_str().unwrap().len(), 16);
    // The server is still alive.
    let (st, _) = s.get(&s.admin_key, "/api/v1/auth/me").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_with_a_playbook_symlink_loop_lists_its_playbooks() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let seed = tmp.path().join("seed");
    std::fs::create_dir_all(seed.join("ansible/playbooks")).unwrap();
    std::fs::write(seed.join("ansible/playbooks/site.yml"), "- hosts: all\n").unwrap();
    std::os::unix::fs::symlink("..", seed.join("ansible/playbooks/loop")).unwrap();
    crate::git::sh_git(&seed, &["add", "-A"]);
    crate::git::sh_git(&seed, &["commit", "-q", "-m", "loop"]);
    crate::git::sh_git(&seed, &["push", "-q", "origin", "main"]);
    let s = Server::start();
    let t = s.create_tenant("T").await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "loopy", "repo_url": bare.to_str().unwrap(), "tenant_id": t}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    ok(
        &s,
        &s.admin_key,
        Method::POST,
        &format!("/api/v1/projects/{p}/workspace/init"),
        None,
    )
    .await;
    let v = ok(
        &s,
        &s.admin_key,
        Method::GET,
        &format!("/api/v1/ansible/playbooks?project_id={p}"),
        None,
    )
    .await;
    assert!(v.to_string().contains("ansible/playbooks/site.yml"), "{v}");
    let (st, _) = s.get(&s.admin_key, "/api/v1/health").await;
    assert_eq!(st, StatusCode::OK, "the server survived");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_view_reads_the_newest_lines_of_a_big_log() {
    let s = Server::start();
    let logs = s.dir.join("logs");
    // An old, big log file and a newer one whose last line is what we look for.
    let mut big = std::fs::File::create(logs.join("aiops.2000-01-01.log")).unwrap();
    let line = format!(
        "{}\n",
        json!({"level": "INFO", "fields": {"message": "x".repeat(200)}})
    );
    for _ in 0..100_000 {
        big.write_all(line.as_bytes()).unwrap();
    }
    drop(big);
    let mut newer = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("aiops.2099-12-31.log"))
        .unwrap();
    for i in 0..5 {
        writeln!(
            newer,
            "{}",
            json!({"level": "WARN", "fields": {"message": format!("needle {i}")}})
        )
        .unwrap();
    }
    drop(newer);
    let v = ok(
        &s,
        &s.admin_key,
        Method::GET,
        "/api/v1/system/logs?lines=3",
        None,
    )
    .await;
    let lines: Vec<String> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(lines.len(), 3, "{v}");
    assert!(
        lines[2].contains("needle 4") && lines[0].contains("needle 2"),
        "{lines:?}"
    );
    let v = ok(
        &s,
        &s.admin_key,
        Method::GET,
        "/api/v1/system/logs?lines=8&level=warn&filter=needle",
        None,
    )
    .await;
    assert_eq!(
        v["lines"].as_array().unwrap().len(),
        5,
        "only the five warnings: {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_slow_clients_than_file_descriptors_do_not_take_the_server_down() {
    // This test process holds hundreds of sockets alongside the other tests: raise its own
    // soft limit to the hard one first.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain get/set of this process's own limit through a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
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
    // 256 descriptors: the server serves at most (256 - 128) * 3/4 = 96 connections at once.
    let (mut child, base) = serve_under_shell(&dir, "ulimit -n 256").await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // 300 clients that never finish their headers (more than the descriptors it has).
    let slow: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").ok()?;
            Some(c)
        })
        .collect();
    assert!(slow.len() > 250, "{} connections opened", slow.len());
    // Once the header timeout (10 s) has cut them off, everyone else is served again: wait
    // until a request is answered (each try gives up after 5 s).
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Ok(r) = client.get(format!("{base}/api/v1/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again after the slow clients"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut served = 0;
    for _ in 0..5 {
        if let Ok(r) = client.get(format!("{base}/api/v1/health")).send().await
            && r.status().is_success()
        {
            served += 1;
        }
    }
    assert_eq!(served, 5, "normal requests are served");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    drop(slow);
    let _ = child.kill();
    let _ = child.wait();
}
