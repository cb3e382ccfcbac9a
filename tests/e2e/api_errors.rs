//! Every error is JSON with the right status, and bad input changes nothing.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn tenant_count(s: &Server) -> u64 {
    let (_, v) = s.get(&s.admin_key, "/api/v1/tenants").await;
    v["count"].as_u64().unwrap()
}

async fn raw_post(
    s: &Server,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let resp = s
        .client
        .post(s.url(path))
        .bearer_auth(&s.admin_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let out = parse(resp).await;
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "JSON content type for {path}"
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_errors_are_json() {
    let s = Server::start();
    for path in [
        "/api/v1/nope",
        "/api/nope",
        "/api/v1/tenants/999",
        "/api/v1/projects/12345",
        "/api/v1/tenants/",
    ] {
        let (st, body) = s.get(&s.admin_key, path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        assert!(!err_text(&body).is_empty());
    }
    let (st, body) = s
        .call(&s.admin_key, Method::PUT, "/api/v1/tenants", None)
        .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(err_text(&body).contains("not allowed"));
    let (st, body) = s.get(&s.admin_key, "/api/v1/tenants/abc").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = s.get(&s.admin_key, "/api/v1/audit?limit=100000").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_get_clear_4xx_and_change_nothing() {
    let s = Server::start();
    s.create_tenant("Existing").await;
    let before = tenant_count(&s).await;
    let long = "x".repeat(300);
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "invalid JSON",
            "application/json",
            b"{\"name\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "parse",
        ),
        (
            "wrong type",
            "application/json",
            br#"{"name": 42}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "expected a string",
        ),
        (
            "wrong type bool",
            "application/json",
            br#"{"name": true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "expected a string",
        ),
        (
            "array body",
            "application/json",
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
            "parse",
        ),
        (
            "unknown field",
            "application/json",
            br#"{"name":"a","admin":true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            "traversal",
            "application/json",
            br#"{"name":"../../etc/passwd"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "must not contain",
        ),
        (
            "backslash",
            "application/json",
            br#"{"name":"a\\b"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "must not contain",
        ),
        (
            "control chars",
            "application/json",
            br#"{"name":"a\u0007b"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "control",
        ),
        (
            "very long",
            "application/json",
            format!("{{\"name\":\"{long}\"}}").into_bytes(),
            StatusCode::BAD_REQUEST,
            "255",
        ),
        (
            "non-UTF-8",
            "application/json",
            b"{\"name\":\"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "parse",
        ),
        (
            "wrong content type",
            "text/plain",
            br#"{"name":"a"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "form body",
            "application/x-www-form-urlencoded",
            b"name=a".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "oversized",
            "application/json",
            format!("{{\"name\":\"{}\"}}", "y".repeat(2 << 20)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            "empty body",
            "application/json",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (what, ct, body, want, needle) in cases {
        let (st, v) = raw_post(&s, "/api/v1/tenants", ct, body).await;
        assert_eq!(st, want, "{what}: {v}");
        let text = err_text(&v);
        assert!(
            text.contains(needle),
            "{what}: '{text}' should mention '{needle}'"
        );
    }
    // Projects: wrong integer type, bad URL, bad branch.
    let t = s.create_tenant("Other").await;
    let before_projects = s.get(&s.admin_key, "/api/v1/projects").await.1["count"]
        .as_u64()
        .unwrap();
    for body in [
        json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": "1"}),
        json!({"name": "p", "repo_url": "not a url", "tenant_id": t}),
        json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": t, "default_branch": "-rf"}),
        json!({"name": "p", "repo_url": "https://x.org/r.git"}),
        json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": -1}),
    ] {
        let (st, v) = s.post(&s.admin_key, "/api/v1/projects", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    assert_eq!(
        s.get(&s.admin_key, "/api/v1/projects").await.1["count"]
            .as_u64()
            .unwrap(),
        before_projects
    );
    assert_eq!(
        tenant_count(&s).await,
        before + 1,
        "only the deliberate 'Other' tenant was added"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_bad_keys_are_rate_limited_with_json_429() {
    let s = Server::start_with(&[("AIOPS_LOGIN_ATTEMPTS_PER_MINUTE", "2")]);
    let bad = format!("aiops_{}", "0".repeat(64));
    let mut statuses = Vec::new();
    for _ in 0..14 {
        let (st, body) = s.get(&bad, "/api/v1/tenants").await;
        assert!(body["error"].is_string());
        statuses.push(st);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    let (st, body) = s.get(&bad, "/api/v1/tenants").await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(err_text(&body).contains("Too many"));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_needs_no_auth() {
    let s = Server::start();
    let (st, v) = parse(s.client.get(s.url("/api/v1/health")).send().await.unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    let (st, info) = s.get(&s.admin_key, "/api/v1/system/info").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(info["counts"]["users"], 1);
    assert_eq!(info["schema_version"], aiops::store::SCHEMA_VERSION);
}
