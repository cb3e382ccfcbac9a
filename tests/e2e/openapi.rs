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
        ("/ai/sessions/{id}/resume", "post"),
        ("/ai/sessions/{id}", "delete"),
        ("/projects/{id}/pulls", "post"),
        ("/projects/{id}/pulls", "get"),
        ("/projects/{id}/pulls/{number}/merge", "post"),
        ("/ai/sessions/{id}/pull-request", "post"),
        ("/issues/{id}/pulls", "get"),
        ("/workflows/claim-issue", "post"),
        ("/workflows/update-progress", "post"),
        ("/workflows/submit-changes", "post"),
        ("/workflows/request-approval", "post"),
        ("/workflows/complete-issue", "post"),
        ("/issues/{id}/agent-context", "post"),
        ("/agents/global", "get"),
        ("/agents/global", "put"),
        ("/agents/global", "delete"),
        ("/projects/{id}/agents/context", "get"),
        ("/projects/{id}/agents/context", "put"),
        ("/system/status", "get"),
        ("/system/logs", "get"),
        ("/system/update", "post"),
        ("/system/update-and-restart", "post"),
        ("/system/update-channel", "get"),
        ("/system/ai-tools/{tool}/update", "post"),
        ("/system/restart", "post"),
        ("/system/scheduler", "get"),
        ("/system/backups", "post"),
        ("/system/backups", "get"),
        ("/system/backups/{id}", "get"),
        ("/system/backups/{id}", "delete"),
        ("/system/backups/{id}/download", "get"),
        ("/system/backups/{id}/restore", "post"),
        ("/system/backups/upload", "post"),
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
        ("/notifications/vapid-public-key", "get"),
        ("/notifications/subscriptions", "post"),
        ("/notifications/subscriptions", "get"),
        ("/notifications/subscriptions", "delete"),
        ("/notifications/subscriptions/{id}", "delete"),
        ("/notifications/preferences", "get"),
        ("/notifications/preferences", "put"),
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

/// Follow `$ref`s to the schema they name.
fn deref<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match resolve(doc, r) {
            Some(t) => s = t,
            None => break,
        }
    }
    s
}

/// Whether `schema` admits `null` in OpenAPI 3.0: `nullable: true`, a branch of `anyOf`/`oneOf`
/// that does, or a schema that constrains nothing (`{}`: any value).
fn allows_null(doc: &Value, schema: &Value) -> bool {
    let s = deref(doc, schema);
    if s["nullable"] == true {
        return true;
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(branches) = s[k].as_array()
            && branches.iter().any(|b| allows_null(doc, b))
        {
            return true;
        }
    }
    s.as_object().is_some_and(|m| {
        ![
            "type",
            "allOf",
            "anyOf",
            "oneOf",
            "enum",
            "properties",
            "items",
        ]
        .iter()
        .any(|k| m.contains_key(*k))
    })
}

/// Walk a response next to its schema; every `null` must be declared nullable. Returns how many
/// nulls were checked; violations go to `bad` as `where: schema`.
fn check_nulls(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    bad: &mut Vec<String>,
) -> usize {
    let s = deref(doc, schema);
    if value.is_null() {
        if !allows_null(doc, schema) {
            bad.push(format!("{at} is null but its schema is not nullable: {s}"));
        }
        return 1;
    }
    let mut seen = 0;
    if let Some(parts) = s["allOf"].as_array() {
        for p in parts {
            seen += check_nulls(doc, p, value, at, bad);
        }
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(branches) = s[k].as_array() {
            // The value must fit one branch; use the first whose nulls all check out.
            let mut best: Option<(usize, Vec<String>)> = None;
            for b in branches {
                let mut errs = Vec::new();
                let n = check_nulls(doc, b, value, at, &mut errs);
                if best.as_ref().is_none_or(|(_, e)| errs.len() < e.len()) {
                    best = Some((n, errs));
                }
            }
            if let Some((n, errs)) = best {
                seen += n;
                bad.extend(errs);
            }
        }
    }
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let sub = s["properties"].get(k).or_else(|| {
                    s["additionalProperties"]
                        .as_object()
                        .map(|_| &s["additionalProperties"])
                });
                if let Some(sub) = sub {
                    seen += check_nulls(doc, sub, v, &format!("{at}.{k}"), bad);
                }
            }
        }
        Value::Array(items) if s.get("items").is_some() => {
            for (i, v) in items.iter().enumerate() {
                seen += check_nulls(doc, &s["items"], v, &format!("{at}[{i}]"), bad);
            }
        }
        _ => {}
    }
    seen
}

/// The JSON schema of an operation's answer with `status`.
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> Option<&'a Value> {
    let content =
        doc["paths"][path][method]["responses"][status.to_string()]["content"].as_object()?;
    content
        .iter()
        .find(|(ct, _)| ct.starts_with("application/json"))
        .map(|(_, c)| &c["schema"])
}

#[test]
fn the_null_checker_catches_undeclared_nulls() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Obj": {"type": "object", "properties": {
            "a": {"type": "integer", "format": "uint64"},
            "b": {"type": "integer", "nullable": true},
            "c": {"allOf": [{"$ref": "#/components/schemas/Inner"}, {"nullable": true}], "nullable": true},
            "d": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}},
            "e": {}
        }},
        "Inner": {"type": "object", "properties": {"x": {"type": "string"}}}
    }}});
    let schema = serde_json::json!({"$ref": "#/components/schemas/Obj"});
    let mut bad = Vec::new();
    let v = serde_json::json!({"a": 1, "b": null, "c": null, "d": [{"x": "y"}], "e": null});
    assert_eq!(check_nulls(&doc, &schema, &v, "$", &mut bad), 3);
    assert!(bad.is_empty(), "{bad:?}");
    let v = serde_json::json!({"a": null, "b": 1, "c": {"x": null}, "d": [{"x": null}]});
    assert_eq!(check_nulls(&doc, &schema, &v, "$", &mut bad), 3);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].starts_with("$.a "), "{bad:?}");
    assert!(bad.iter().any(|b| b.starts_with("$.d[0].x ")), "{bad:?}");
}

/// Fill `{param}`s of a documented path from the fixtures; None when one is unknown.
fn concrete(template: &str, ids: &std::collections::HashMap<&str, u64>) -> Option<String> {
    let mut out = String::new();
    let mut prev = "";
    for seg in template.split('/').skip(1) {
        out.push('/');
        if seg.starts_with('{') {
            let key = match (prev, seg) {
                (_, "{user_id}") => "user",
                (_, "{sid}") => "session",
                (p, "{id}") => p,
                _ => return None,
            };
            out.push_str(&ids.get(key)?.to_string());
        } else {
            out.push_str(seg);
        }
        prev = seg;
    }
    Some(out)
}

/// Strictly generated clients reject a `null` the document does not allow: every null in real
/// answers (projects, audit, backups, identities, keys, tenants, users, sessions, SSH keys and
/// hosts, issues, integrations, scheduler, …) must be declared `nullable`.
#[tokio::test(flavor = "multi_thread")]
async fn every_null_in_real_answers_is_declared_nullable() {
    use crate::fakes::{Fake, Kind};
    use reqwest::Method;
    use serde_json::json;

    let fake = Fake::start(Kind::GitHub, "gh-token").await;
    fake.seed_github(3, 0);
    let s = Server::start();
    let (_, doc) = parse(
        s.client
            .get(s.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut bad = Vec::new();
    let mut nulls = 0;
    let mut checked = Vec::new();
    let mut check = |path: &str, method: &str, status: u16, v: &Value| {
        let schema = response_schema(&doc, path, method, status)
            .unwrap_or_else(|| panic!("{method} {path} documents {status} JSON"));
        nulls += check_nulls(&doc, schema, v, &format!("{method} {path}"), &mut bad);
        checked.push(format!("{method} {path}"));
    };

    // Fixtures, each creation answer checked too.
    let linked =
        crate::trackers::link(&s, &fake, "gh-token", "octo/repo", json!({}), "nulls").await;
    let user = s
        .create_user("dev@example.com", "dev-password-1", false)
        .await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "ci", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    check("/auth/keys", "post", 201, &v);
    let (st, v) = s
        .post(&s.admin_key, "/api/v1/system/backups", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    check("/system/backups", "post", 201, &v);
    let backup = v["backup"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/admin/ssh-keys",
            json!({"name": "deploy"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    check("/admin/ssh-keys", "post", 201, &v);
    let ssh_key = v["ssh_key"]["id"].as_u64().unwrap_or_else(|| panic!("{v}"));
    let public = v["ssh_key"]["public_key"].as_str().unwrap().to_string();
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/admin/known-hosts",
            json!({"host": "git.example.com", "key": public}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    check("/admin/known-hosts", "post", 201, &v);
    let (st, v) = s.post(&s.admin_key, "/api/v1/issues/sync", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check("/issues/sync", "post", 200, &v);
    let (_, v) = s.get(&s.admin_key, "/api/v1/issues?limit=1").await;
    let issue = v["issues"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{v}"));
    // An unauthenticated call leaves an audit entry without a user.
    let _ = s
        .post("aiops_wrong", "/api/v1/tenants", json!({"name": "x"}))
        .await;

    let ids: std::collections::HashMap<&str, u64> = [
        ("tenants", linked.tenant),
        ("projects", linked.project),
        ("users", user),
        ("user", user),
        ("backups", backup),
        ("ssh-keys", ssh_key),
        ("issues", issue),
        ("integrations", linked.integration),
        ("project-integrations", linked.link),
    ]
    .into_iter()
    .collect();
    // Every documented GET whose parameters the fixtures fill, answered as JSON.
    let paths = doc["paths"].as_object().unwrap().clone();
    for (template, ops) in &paths {
        if ops.get("get").is_none() {
            continue;
        }
        let Some(path) = concrete(template, &ids) else {
            continue;
        };
        let resp = s
            .client
            .request(Method::GET, s.url(&format!("/api/v1{path}")))
            .bearer_auth(&s.admin_key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let json = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !json || status >= 300 {
            continue;
        }
        let v: Value = resp.json().await.unwrap();
        check(template, "get", status, &v);
    }
    for must in [
        "get /projects",
        "get /projects/{id}",
        "get /audit",
        "get /system/backups",
        "get /system/backups/{id}",
        "get /auth/identity",
        "get /users/{id}/identity",
        "get /auth/keys",
        "get /tenants",
        "get /users",
        "get /ai/sessions",
        "get /admin/ssh-keys/{id}",
        "get /admin/known-hosts",
        "get /issues/{id}",
        "get /integrations/{id}",
        "get /system/scheduler",
        "get /system/sync/history",
        "get /agents/global",
        "get /projects/{id}/agents/context",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} was checked: {checked:?}"
        );
    }
    assert!(nulls >= 20, "the answers held nulls to check ({nulls})");
    assert!(
        bad.is_empty(),
        "{} undeclared nulls:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
