//! The OpenAPI document is served, valid, and lists every route; Swagger UI is served.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::Value;

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    let path = r.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |v, seg| v.get(seg))
}

fn check_refs(doc: &Value, v: &Value, missing: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref")
                && resolve(doc, r).is_none()
            {
                missing.push(r.clone());
            }
            m.values().for_each(|x| check_refs(doc, x, missing));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x, missing)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_lists_every_route_and_is_consistent() {
    let s = Server::start();
    let (st, doc) = parse(
        s.client
            .get(s.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let expected = [
        ("/auth/me", "get"),
        ("/auth/keys", "get"),
        ("/auth/keys", "post"),
        ("/auth/keys/{id}", "patch"),
        ("/auth/keys/{id}", "delete"),
        ("/tenants", "get"),
        ("/tenants", "post"),
        ("/tenants/{id}", "get"),
        ("/tenants/{id}", "patch"),
        ("/tenants/{id}", "delete"),
        ("/projects", "get"),
        ("/projects", "post"),
        ("/projects/{id}", "get"),
        ("/projects/{id}", "patch"),
        ("/projects/{id}", "delete"),
        ("/users", "get"),
        ("/users", "post"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/health", "get"),
        ("/system/info", "get"),
        ("/audit", "get"),
        ("/issues", "get"),
        ("/issues", "post"),
        ("/issues/pinned", "get"),
        ("/issues/sync", "post"),
        ("/issues/{id}", "get"),
        ("/issues/{id}", "patch"),
        ("/issues/{id}/close", "post"),
        ("/issues/{id}/reopen", "post"),
        ("/issues/{id}/comments", "post"),
        ("/issues/{id}/comments/{comment_id}", "patch"),
        ("/issues/{id}/assign", "post"),
        ("/issues/{id}/refresh", "post"),
        ("/issues/{id}/status", "post"),
        ("/issues/{id}/pin", "post"),
        ("/issues/{id}/pin", "delete"),
        ("/system/sync/history", "get"),
        ("/integrations", "get"),
        ("/integrations", "post"),
        ("/integrations/test", "post"),
        ("/integrations/{id}", "get"),
        ("/integrations/{id}", "patch"),
        ("/integrations/{id}", "delete"),
        ("/integrations/{id}/test", "post"),
        ("/integrations/{id}/projects", "get"),
        ("/integrations/{id}/projects", "post"),
        ("/tenants/{id}/integrations", "get"),
        ("/projects/{id}/integrations", "get"),
        ("/project-integrations/{id}", "get"),
        ("/project-integrations/{id}", "patch"),
        ("/project-integrations/{id}", "delete"),
        ("/auth/integration-credentials", "get"),
        ("/auth/integration-credentials", "post"),
        ("/auth/integration-credentials/{id}", "delete"),
        ("/auth/identity", "get"),
        ("/auth/identity", "put"),
        ("/users/{id}/identity", "get"),
        ("/users/{id}/identity", "put"),
        ("/projects/{id}/workspace/status", "get"),
        ("/projects/{id}/workspace/init", "post"),
        ("/projects/{id}/git/status", "get"),
        ("/projects/{id}/git/pull", "post"),
        ("/projects/{id}/git/push", "post"),
        ("/projects/{id}/git/fetch", "post"),
        ("/projects/{id}/git/commit", "post"),
        ("/projects/{id}/git/branches", "get"),
        ("/projects/{id}/git/branches", "post"),
        ("/projects/{id}/git/checkout", "post"),
        ("/projects/{id}/git/log", "get"),
        ("/projects/{id}/git/diff", "get"),
        ("/projects/{id}/files", "get"),
        ("/projects/{id}/files/{path}", "get"),
        ("/admin/ssh-keys", "get"),
        ("/admin/ssh-keys", "post"),
        ("/admin/ssh-keys/{id}", "get"),
        ("/admin/ssh-keys/{id}", "delete"),
        ("/admin/ssh-keys/{id}/migrate", "post"),
        ("/projects/{id}/ssh-key", "put"),
        ("/admin/known-hosts", "get"),
        ("/admin/known-hosts", "post"),
        ("/admin/known-hosts/{id}", "delete"),
        ("/admin/known-hosts/scan", "post"),
        ("/admin/known-hosts/policy", "put"),
        ("/projects/{id}/ai/sessions", "get"),
        ("/projects/{id}/ai/sessions", "post"),
        ("/projects/{id}/ai/sessions/{sid}/input", "post"),
        ("/projects/{id}/ai/sessions/{sid}", "delete"),
        ("/ai/sessions", "get"),
        ("/ai/sessions/{id}/output", "get"),
        ("/ai/sessions/{id}/validate", "get"),
        ("/ai/sessions/{id}/respawn", "post"),
        ("/ai/sessions/{id}", "delete"),
        ("/workflows/claim-issue", "post"),
        ("/workflows/update-progress", "post"),
        ("/workflows/submit-changes", "post"),
        ("/workflows/request-approval", "post"),
        ("/workflows/complete-issue", "post"),
        ("/issues/{id}/agent-context", "post"),
        ("/agents/global", "get"),
        ("/agents/global", "put"),
        ("/agents/global", "delete"),
        ("/system/status", "get"),
        ("/system/logs", "get"),
        ("/system/update", "post"),
        ("/system/restart", "post"),
        ("/system/scheduler", "get"),
        ("/system/backups", "post"),
        ("/system/backups", "get"),
        ("/system/backups/{id}", "get"),
        ("/system/backups/{id}", "delete"),
        ("/system/backups/{id}/download", "get"),
        ("/system/backups/{id}/restore", "post"),
        ("/system/backup-schedule", "get"),
        ("/system/backup-schedule", "put"),
        ("/ansible/playbooks", "get"),
        ("/ansible/inventories", "get"),
        ("/ansible/runs", "post"),
        ("/ansible/runs", "get"),
        ("/ansible/runs/{id}", "get"),
        ("/ansible/runs/{id}/output", "get"),
        ("/ansible/runs/{id}/cancel", "post"),
        ("/ansible/schedules", "get"),
        ("/ansible/schedules", "post"),
        ("/ansible/schedules/{id}", "delete"),
        ("/ansible/schedules/{id}/run", "post"),
        ("/tenants/{id}/members", "get"),
        ("/tenants/{id}/members", "post"),
        ("/tenants/{id}/members/{user_id}", "patch"),
        ("/tenants/{id}/members/{user_id}", "delete"),
        ("/projects/{id}/members", "get"),
        ("/projects/{id}/members", "post"),
        ("/projects/{id}/members/{user_id}", "patch"),
        ("/projects/{id}/members/{user_id}", "delete"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    for (p, m) in expected {
        let op = &paths.get(p).unwrap_or_else(|| panic!("{p} missing"))[m];
        assert!(op.is_object(), "{m} {p} missing");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{m} {p} has responses"
        );
        if p != "/health" {
            assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{m} {p} is secured"
            );
        }
    }
    let op_count: usize = paths.values().map(|v| v.as_object().unwrap().len()).sum();
    assert_eq!(op_count, expected.len(), "every operation is accounted for");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.values().any(|s| s["scheme"] == "bearer"));
    assert!(schemes.values().any(|s| s["name"] == "X-API-Key"));
    let mut missing = Vec::new();
    check_refs(&doc, &doc, &mut missing);
    assert!(missing.is_empty(), "dangling $refs: {missing:?}");
    // The original's spec path answers too.
    let (st, legacy) = parse(
        s.client
            .get(s.url("/api/v1/apispec.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(legacy["paths"], doc["paths"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_is_served_from_the_binary() {
    let s = Server::start();
    let resp = s.client.get(s.url("/api/docs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "Swagger UI page");
    assert!(!html.contains("cdn."), "no CDN references");
}
