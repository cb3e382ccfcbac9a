//! Data survives SIGKILL; the server shuts down cleanly on SIGTERM; first start bootstraps.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_across_sigkill() {
    let s = Server::start();
    let t = s.create_tenant("Durable").await;
    let p = s.create_project(&s.admin_key, "kept", t).await;
    let (_, k) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "survivor", "scopes": ["read"]}),
        )
        .await;
    let key = k["key"]["key"].as_str().unwrap().to_string();
    s.create_user("dana@example.com", "dana-password", false)
        .await;

    let s = s.restart();
    let (st, v) = s.get(&key, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(
        st,
        StatusCode::OK,
        "the key minted before the kill still works: {v}"
    );
    let (st, _) = s.post(&key, "/api/v1/tenants", json!({"name": "x"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "and keeps its read-only scope");
    let (st, v) = s.get(&s.admin_key, &format!("/api/v1/projects/{p}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["project"]["name"], "kept");
    let (_, tenants) = s.get(&key, "/api/v1/tenants").await;
    assert_eq!(tenants["tenants"][0]["name"], "Durable");
    let (_, users) = s.get(&s.admin_key, "/api/v1/users").await;
    assert_eq!(users["count"], 2);
    // Ids keep counting after restart.
    let t2 = s.create_tenant("After").await;
    assert_eq!(t2, t + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_shuts_down_gracefully() {
    let mut s = Server::start();
    assert_eq!(
        s.get(&s.admin_key, "/api/v1/auth/me").await.0,
        StatusCode::OK
    );
    let pid = s.child_id();
    let st = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let exit = s
        .wait_exit(Duration::from_secs(15))
        .expect("server exits after SIGTERM");
    assert!(exit.success(), "clean exit, got {exit:?}");
    // The data dir is released: offline admin commands work now.
    admin(
        &s.dir,
        &[
            "create-user",
            "after@example.com",
            "--password",
            "password-123",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_creates_admin_from_env_or_prints_a_setup_link() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::spawn(
        tmp.path(),
        &[
            ("AIOPS_ADMIN_EMAIL", "Boss@Example.com"),
            ("AIOPS_ADMIN_PASSWORD", "boss-password"),
        ],
    );
    let out = s.stdout_lines.join("\n");
    assert!(
        out.contains("Created administrator boss@example.com"),
        "{out}"
    );
    assert!(out.contains("/login"), "{out}");
    let cookie = s.web_login("boss@example.com", "boss-password").await;
    assert!(!cookie.is_empty());
    drop(s);

    let tmp = tempfile::tempdir().unwrap();
    let s = Server::spawn(tmp.path(), &[]);
    let out = s.stdout_lines.join("\n");
    let link = out
        .lines()
        .find(|l| l.contains("/setup?token="))
        .unwrap_or_else(|| panic!("setup link printed: {out}"))
        .trim()
        .to_string();
    // A wrong token is refused; the right one creates the admin once.
    let bad = link.replace("token=", "token=0");
    let page = s.client.get(&bad).send().await.unwrap();
    assert!(page.status().is_redirection() || page.status() == StatusCode::FORBIDDEN);
    let token = link.split("token=").nth(1).unwrap();
    let resp = s.client.get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .client
        .post(s.url("/setup"))
        .form(&[
            ("token", token),
            ("email", "first@example.com"),
            ("name", "First"),
            ("password", "first-password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_redirection(),
        "setup answered {}",
        resp.status()
    );
    let again = s.client.get(&link).send().await.unwrap();
    assert!(again.status().is_redirection(), "setup link is one-time");
    s.web_login("first@example.com", "first-password").await;
}
