//! Ansible with the real `ansible-playbook` against localhost (local connection): output
//! streamed while the run goes on, runs stored with exit codes, failures, cancellation of the
//! whole process tree, the concurrency limit, schedules, the CLI's --follow, and access rules.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const SLOW: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "first-step"
    - ansible.builtin.command: sleep 3
    - ansible.builtin.debug:
        msg: "last-step"
"#;

const FAIL: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.fail:
        msg: "this playbook fails on purpose"
"#;

fn long(marker: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.shell: \"sleep 60; echo {marker}\"\n"
    )
}

async fn wait_status(s: &Server, id: u64, want: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = ok(
            s,
            &s.admin_key,
            Method::GET,
            &format!("/api/v1/ansible/runs/{id}"),
            None,
        )
        .await;
        if want.contains(&v["run"]["status"].as_str().unwrap_or("")) {
            return v["run"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "run {id} never reached {want:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pgrep(marker: &str) -> String {
    let out = Command::new("pgrep")
        .args(["-af", marker])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn playbooks_run_stream_fail_cancel_queue_and_schedule() {
    assert!(
        Command::new("ansible-playbook")
            .arg("--version")
            .output()
            .is_ok(),
        "ansible-playbook is missing: apt-get install ansible (.ci/run does)"
    );
    let s = Server::start_with(&[
        ("AIOPS_ANSIBLE_MAX_CONCURRENT", "1"),
        ("AIOPS_SECRET_KEY", &"7b".repeat(32)),
    ]);
    let k = s.admin_key.clone();
    let pb = s.dir.join("ansible/playbooks");
    assert!(pb.join("example.yml").exists(), "the example is installed");
    std::fs::write(pb.join("slow.yml"), SLOW).unwrap();
    std::fs::write(pb.join("fail.yml"), FAIL).unwrap();
    let marker = format!("aiops-cancel-marker-{}", std::process::id());
    std::fs::write(pb.join("long.yml"), long(&marker)).unwrap();

    let list = ok(&s, &k, Method::GET, "/api/v1/ansible/playbooks", None).await;
    let names: Vec<&str> = list["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["example.yml", "slow.yml", "fail.yml"] {
        assert!(names.contains(&n), "{list}");
    }
    let inv = ok(&s, &k, Method::GET, "/api/v1/ansible/inventories", None).await;
    assert!(inv.to_string().contains("local.ini"), "{inv}");
    // Bad requests are refused before anything runs.
    let (st, e) = s
        .post(
            &k,
            "/api/v1/ansible/runs",
            json!({"playbook": "../../etc/passwd.yml", "hosts": "localhost"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, _) = s
        .post(&k, "/api/v1/ansible/runs", json!({"playbook": "slow.yml"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // A run answers at once and streams while it runs.
    let (st, v) = s
        .post(
            &k,
            "/api/v1/ansible/runs",
            json!({"playbook": "slow.yml", "hosts": "localhost"}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["run"]["id"].as_u64().unwrap();
    assert_eq!(v["stream"], format!("/streams/ansible/runs/{id}"));
    let mut feed = s
        .client
        .get(s.url(&format!("/streams/ansible/runs/{id}")))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let mut got = String::new();
    while !got.contains("first-step") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), feed.chunk())
            .await
            .expect("output within 60 s")
            .unwrap()
            .expect("stream open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mid = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/ansible/runs/{id}"),
        None,
    )
    .await;
    assert_eq!(
        mid["run"]["status"], "running",
        "streamed while running: {mid}"
    );
    assert!(!got.contains("last-step"));
    while !got.contains("event: done") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), feed.chunk())
            .await
            .expect("done within 60 s")
            .unwrap()
            .expect("stream open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("last-step"), "{got}");
    assert!(got.contains("\"status\":\"succeeded\""), "{got}");
    let run = wait_status(&s, id, &["succeeded"]).await;
    assert_eq!(run["exit_code"], 0);
    assert!(
        run["output"].as_str().unwrap().contains("PLAY RECAP"),
        "{run}"
    );
    assert!(run["finished_at"].is_string());

    // Playbooks (like agents and git hooks) never see the server's master key.
    std::fs::write(
        pb.join("env.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.command: env\n      register: e\n    - ansible.builtin.debug:\n        var: e.stdout_lines\n",
    )
    .unwrap();
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/runs",
        Some(json!({"playbook": "env.yml", "hosts": "localhost"})),
    )
    .await;
    let run = wait_status(
        &s,
        v["run"]["id"].as_u64().unwrap(),
        &["succeeded", "failed"],
    )
    .await;
    let out = run["output"].as_str().unwrap();
    assert!(out.contains("PATH="), "{out}");
    assert!(
        !out.contains("AIOPS_SECRET_KEY") && !out.contains(&"7b".repeat(32)),
        "{out}"
    );

    // The shipped example with the shipped inventory.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/runs",
        Some(json!({"playbook": "example.yml", "inventory": "local.ini", "extra_vars": "greeting=hi-from-test"})),
    )
    .await;
    let run = wait_status(
        &s,
        v["run"]["id"].as_u64().unwrap(),
        &["succeeded", "failed"],
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{}", run["output"]);
    assert!(run["output"].as_str().unwrap().contains("hi-from-test"));
    // Extra vars may carry passwords: the audit log does not keep them.
    let audit = ok(&s, &k, Method::GET, "/api/v1/audit?limit=100", None).await;
    assert!(
        audit.to_string().contains("/api/v1/ansible/runs"),
        "{audit}"
    );
    assert!(!audit.to_string().contains("hi-from-test"), "{audit}");

    // A failing playbook is recorded as failed with ansible's exit code.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/runs",
        Some(json!({"playbook": "fail.yml", "hosts": "localhost"})),
    )
    .await;
    let run = wait_status(
        &s,
        v["run"]["id"].as_u64().unwrap(),
        &["succeeded", "failed"],
    )
    .await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["exit_code"], 2, "{run}");
    assert!(run["output"].as_str().unwrap().contains("fails on purpose"));

    // One slot: a second run waits; cancelling the first kills its whole process tree.
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/runs",
        Some(json!({"playbook": "long.yml", "hosts": "localhost"})),
    )
    .await;
    let long_id = v["run"]["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pgrep(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the long task never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/runs",
        Some(json!({"playbook": "slow.yml", "hosts": "localhost"})),
    )
    .await;
    let queued_id = v["run"]["id"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let q = ok(
        &s,
        &k,
        Method::GET,
        &format!("/api/v1/ansible/runs/{queued_id}"),
        None,
    )
    .await;
    assert_eq!(q["run"]["status"], "queued", "{q}");
    ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ansible/runs/{long_id}/cancel"),
        None,
    )
    .await;
    let run = wait_status(&s, long_id, &["cancelled"]).await;
    assert!(run["output"].as_str().unwrap().contains("cancelled"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pgrep(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes left after cancel: {}",
            pgrep(&marker)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_status(&s, queued_id, &["succeeded"]).await;
    let (st, _) = s
        .post(
            &k,
            &format!("/api/v1/ansible/runs/{long_id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "a finished run cannot be cancelled"
    );

    // Schedules: listed by the scheduler, and run on demand as their creator.
    let sc = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/schedules",
        Some(json!({"cron": "0 3 * * *", "playbook": "slow.yml", "hosts": "localhost"})),
    )
    .await;
    let sid = sc["id"].as_u64().unwrap();
    let (st, _) = s
        .post(
            &k,
            "/api/v1/ansible/schedules",
            json!({"cron": "often", "playbook": "slow.yml", "hosts": "localhost"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let v = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/ansible/schedules/{sid}/run"),
        None,
    )
    .await;
    assert_eq!(v["run"]["schedule_id"], sid, "{v}");
    wait_status(&s, v["run"]["id"].as_u64().unwrap(), &["succeeded"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = ok(&s, &k, Method::GET, "/api/v1/system/scheduler", None).await;
        if jobs.to_string().contains(&format!("ansible:{sid}")) {
            break;
        }
        assert!(Instant::now() < deadline, "{jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The CLI follows a run live and exits with the playbook's code; --check is passed on.
    let home = s.dir.join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("HOME", &home)
            .env("AIOPS_URL", &s.base)
            .env("AIOPS_API_KEY", &k)
            .output()
            .unwrap()
    };
    let o = cli(&[
        "ansible",
        "run",
        "example.yml",
        "--hosts",
        "localhost",
        "--check",
        "--follow",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("PLAY RECAP"), "{out}");
    let o = cli(&[
        "ansible",
        "run",
        "fail.yml",
        "--hosts",
        "localhost",
        "--follow",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "the CLI exits with the playbook's code"
    );
    let runs = ok(&s, &k, Method::GET, "/api/v1/ansible/runs", None).await;
    let checked = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == true)
        .unwrap_or_else(|| panic!("{runs}"));
    assert!(checked["args"].to_string().contains("--check"), "{checked}");
    let o = cli(&["ansible", "runs"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("example.yml"));

    // Someone without admin rights: no server playbooks, no schedules, no one else's runs.
    s.create_user("ops@example.com", "ops-password-1", false)
        .await;
    let user = s
        .user_key("ops@example.com", "ops-password-1", &["read", "write"])
        .await;
    for (m, p, b) in [
        (Method::GET, "/api/v1/ansible/playbooks".to_string(), None),
        (Method::GET, "/api/v1/ansible/inventories".to_string(), None),
        (
            Method::POST,
            "/api/v1/ansible/runs".to_string(),
            Some(json!({"playbook": "slow.yml", "hosts": "localhost"})),
        ),
        (Method::GET, "/api/v1/ansible/schedules".to_string(), None),
        (
            Method::POST,
            "/api/v1/ansible/schedules".to_string(),
            Some(json!({"cron": "0 3 * * *", "playbook": "slow.yml", "hosts": "localhost"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/ansible/schedules/{sid}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/ansible/schedules/{sid}/run"),
            None,
        ),
    ] {
        let (st, v) = s.call(&user, m.clone(), &p, b).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p}: {v}");
        assert!(v["error"].is_string());
    }
    let (st, _) = s.get(&user, &format!("/api/v1/ansible/runs/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let mine = ok(&s, &user, Method::GET, "/api/v1/ansible/runs", None).await;
    assert_eq!(mine["count"], 0);
    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/ansible/schedules/{sid}"),
        None,
    )
    .await;
}

/// Runs of schedule `sid`, newest first.
async fn schedule_runs(s: &Server, sid: u64) -> Vec<Value> {
    let runs = ok(
        s,
        &s.admin_key,
        Method::GET,
        "/api/v1/ansible/runs?limit=500",
        None,
    )
    .await;
    runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["schedule_id"] == sid)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_every_second_schedule_of_a_slow_playbook_never_queues_runs() {
    let s = Server::start_with(&[("AIOPS_SECRET_KEY", &"7c".repeat(32))]);
    let k = s.admin_key.clone();
    let pb = s.dir.join("ansible/playbooks");
    std::fs::write(
        pb.join("slow5.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.command: sleep 5\n",
    )
    .unwrap();
    let sc = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/ansible/schedules",
        Some(json!({"cron": "* * * * * *", "playbook": "slow5.yml", "hosts": "localhost"})),
    )
    .await;
    let sid = sc["id"].as_u64().unwrap();

    // Watch for ~6 s: one run at a time, never a queue behind it.
    let until = Instant::now() + Duration::from_secs(6);
    let mut seen_active = false;
    while Instant::now() < until {
        let runs = schedule_runs(&s, sid).await;
        let active: Vec<_> = runs
            .iter()
            .filter(|r| matches!(r["status"].as_str(), Some("queued" | "running")))
            .collect();
        assert!(active.len() <= 1, "runs pile up: {runs:?}");
        seen_active |= !active.is_empty();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen_active, "the schedule ran");
    let runs = schedule_runs(&s, sid).await;
    assert!(
        (1..=2).contains(&runs.len()),
        "at most 1-2 runs in 6 s of a 5 s playbook: {runs:?}"
    );

    // The scheduler says why it did nothing; running it by hand meanwhile is refused too.
    let jobs = ok(&s, &k, Method::GET, "/api/v1/system/scheduler", None).await;
    assert!(
        jobs.to_string().contains("skipped: previous run #"),
        "{jobs}"
    );
    let active = runs
        .iter()
        .find(|r| matches!(r["status"].as_str(), Some("queued" | "running")));
    if let Some(r) = active {
        let (st, v) = s
            .post(
                &k,
                &format!("/api/v1/ansible/schedules/{sid}/run"),
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert!(
            err_text(&v).contains(&format!("skipped: previous run #{} still", r["id"])),
            "{v}"
        );
    }

    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/ansible/schedules/{sid}"),
        None,
    )
    .await;
    for r in schedule_runs(&s, sid).await {
        let id = r["id"].as_u64().unwrap();
        let _ = s
            .post(&k, &format!("/api/v1/ansible/runs/{id}/cancel"), json!({}))
            .await;
        wait_status(&s, id, &["succeeded", "failed", "cancelled"]).await;
    }
}

/// The class list of the run page's badge, and its word.
async fn badge(d: &crate::webdriver::Driver) -> (String, String) {
    let v = d
        .script("const b = document.getElementById('run-status'); return [b.className, b.innerText.trim()]")
        .await;
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_str().unwrap_or_default().to_string(),
    )
}

async fn wait_badge(d: &crate::webdriver::Driver, class: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let b = badge(d).await;
        if b.0.split(' ').any(|c| c == class) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "badge never became {class}: {b:?}; output: {}",
            d.text_of("#run-output").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_badges_go_queued_running_succeeded_or_failed_with_exit_code_duration_and_actor() {
    let s = Server::start_with(&[("AIOPS_ANSIBLE_MAX_CONCURRENT", "1")]);
    let k = s.admin_key.clone();
    let pb = s.dir.join("ansible/playbooks");
    std::fs::write(pb.join("slow.yml"), SLOW).unwrap();
    std::fs::write(pb.join("fail.yml"), FAIL).unwrap();
    let marker = format!("aiops-badge-marker-{}", std::process::id());
    std::fs::write(pb.join("long.yml"), long(&marker)).unwrap();
    // The one slot is taken: the next run waits, queued.
    let (st, v) = s
        .post(
            &k,
            "/api/v1/ansible/runs",
            json!({"playbook": "long.yml", "hosts": "localhost"}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let blocker = v["run"]["id"].as_u64().unwrap();
    wait_status(&s, blocker, &["running"]).await;

    let d = crate::webdriver::Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/ansible")).await;
    d.find("#run-form").await;
    d.select("#run-form select[name=playbook]", "slow.yml")
        .await;
    d.type_into("#run-form input[name=hosts]", "localhost")
        .await;
    d.click("#run-form button[type=submit]").await;
    let (class, word) = wait_badge(&d, "run-queued").await;
    assert_eq!(word, "queued", "{class}");
    assert_eq!(d.text_of("#run-actor").await, ADMIN_EMAIL);
    assert_eq!(d.text_of("#run-exit").await, "—");
    // The slot frees: the badge turns to running live, then to succeeded with exit 0.
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/ansible/runs/{blocker}/cancel"),
            json!({}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let (_, word) = wait_badge(&d, "run-running").await;
    assert_eq!(word, "running");
    d.screenshot("target/screenshots/ansible-run-running-390.png")
        .await;
    let (class, word) = wait_badge(&d, "run-succeeded").await;
    assert_eq!(word, "succeeded", "{class}");
    assert!(
        !class.contains("run-queued") && !class.contains("run-running"),
        "{class}"
    );
    assert_eq!(d.text_of("#run-exit").await, "0");
    let took = d.text_of("#run-duration").await;
    assert!(took.ends_with(" s") && took != "—", "duration: {took}");
    assert!(
        d.text_of("#run-output").await.contains("last-step"),
        "the output streamed"
    );
    d.assert_fits("the run page").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/ansible-run-390.png").await;
    // Reloaded, the finished run shows the same.
    let url = d.current_url().await;
    d.goto(&url).await;
    let (class, _) = badge(&d).await;
    assert!(class.contains("run-succeeded"), "{class}");
    assert_ne!(d.text_of("#run-duration").await, "—");

    // A failing playbook: the failed badge with its exit code.
    d.goto(&s.url("/ansible")).await;
    d.find("#run-form").await;
    d.select("#run-form select[name=playbook]", "fail.yml")
        .await;
    d.type_into("#run-form input[name=hosts]", "localhost")
        .await;
    d.click("#run-form button[type=submit]").await;
    let (_, word) = wait_badge(&d, "run-failed").await;
    assert_eq!(word, "failed");
    assert_eq!(d.text_of("#run-exit").await, "2");
    d.screenshot("target/screenshots/ansible-run-failed-390.png")
        .await;

    // The list: each state its own class, with exit code, duration and who started it.
    d.goto(&s.url("/ansible")).await;
    d.find("#run-list").await;
    for class in ["run-succeeded", "run-failed", "run-cancelled"] {
        assert_eq!(
            d.count(&format!("#run-list .run-badge.{class}")).await,
            1,
            "{class}"
        );
    }
    let list = d.text_of("#run-list").await;
    assert!(list.contains(ADMIN_EMAIL), "{list}");
    assert_eq!(
        d.script("return [...document.querySelectorAll('#run-list td.run-exit')].map(e => e.innerText.trim())")
            .await,
        json!(["2", "0", "—"])
    );
    d.assert_fits("the runs list").await;
    d.screenshot("target/screenshots/ansible-list-390.png")
        .await;

    // A project's page lists only that project's runs: none of the server's.
    let t = s.create_tenant("T").await;
    let p = s.create_project(&k, "p", t).await;
    d.goto(&s.url(&format!("/ansible?project_id={p}"))).await;
    d.wait_text("main", "This project's recent runs").await;
    assert_eq!(
        d.count("#run-list").await,
        0,
        "no server runs on a project page"
    );
}
