//! The services' authorization, in process: Dana, a developer of tenant A, attacks tenant B's
//! tenants, projects, issues, keys and members (read, update, delete, list) and gets 404 (no
//! role: the same answer as a missing id) or 403 (a role too low), and nothing of B appears in
//! any list she gets. Each attack has a control: the same call made by B's own member or the
//! admin works.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct World {
    s: Inproc,
    /// Tenant A and its project; tenant B and its project.
    a: u64,
    pa: u64,
    b: u64,
    pb: u64,
    /// Developer of A.
    dana: String,
    dana_id: u64,
    /// Maintainer of B.
    bert: String,
    bert_id: u64,
    /// Developer of B.
    bo: String,
    bo_id: u64,
    /// Issues of B's project.
    b_issues: Vec<u64>,
}

/// The ids of a list's items (`{"id": …}` or `{"tenant": {"id": …}}`).
fn ids(list: &Value, field: &str) -> Vec<u64> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .map(|x| {
            x["id"]
                .as_u64()
                .or(x["tenant"]["id"].as_u64())
                .unwrap_or_else(|| panic!("no id in {x}"))
        })
        .collect()
}

async fn world() -> World {
    let s = Inproc::start().await;
    s.app
        .accounts
        .seed_demo(ADMIN_EMAIL, 2, 1, 20)
        .expect("seed two tenants, a project each, 20 issues");
    let tenants = s
        .expect(
            StatusCode::OK,
            &s.admin_key,
            Method::GET,
            "/api/v1/tenants",
            None,
        )
        .await;
    let by_name = |n: &str| {
        tenants["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .find(|t| t["tenant"]["name"] == n || t["name"] == n)
            .and_then(|t| t["tenant"]["id"].as_u64().or(t["id"].as_u64()))
            .unwrap_or_else(|| panic!("no tenant {n} in {tenants}"))
    };
    let (a, b) = (by_name("demo-tenant-000"), by_name("demo-tenant-001"));
    let project_of = |t: u64| {
        let s = &s;
        async move {
            let v = s
                .expect(
                    StatusCode::OK,
                    &s.admin_key,
                    Method::GET,
                    &format!("/api/v1/projects?tenant_id={t}"),
                    None,
                )
                .await;
            ids(&v, "projects")[0]
        }
    };
    let (pa, pb) = (project_of(a).await, project_of(b).await);
    let (dana_id, dana) = s.user("dana@a.test", false, &["read", "write"]);
    let (bert_id, bert) = s.user("bert@b.test", false, &["read", "write"]);
    let (bo_id, bo) = s.user("bo@b.test", false, &["read", "write"]);
    s.add_member("tenants", a, dana_id, "developer").await;
    s.add_member("tenants", b, bert_id, "maintainer").await;
    s.add_member("tenants", b, bo_id, "developer").await;
    let v = s
        .expect(
            StatusCode::OK,
            &s.admin_key,
            Method::GET,
            &format!("/api/v1/issues?project_id={pb}&limit=100"),
            None,
        )
        .await;
    let b_issues = ids(&v, "issues");
    assert!(!b_issues.is_empty(), "B has issues: {v}");
    World {
        s,
        a,
        pa,
        b,
        pb,
        dana,
        dana_id,
        bert,
        bert_id,
        bo,
        bo_id,
        b_issues,
    }
}

/// The attack is refused as "not found" (no role there), and the answer names nothing of B.
async fn not_found(w: &World, method: Method, path: &str, body: Option<Value>) {
    refused(w, StatusCode::NOT_FOUND, method, path, body).await
}

/// The attack is refused with `want`, and the answer names nothing of B.
async fn refused(w: &World, want: StatusCode, method: Method, path: &str, body: Option<Value>) {
    let (st, v) = w.s.call(&w.dana, method.clone(), path, body).await;
    assert_eq!(st, want, "{method} {path}: {v}");
    assert!(v["error"].is_string(), "{v}");
    assert!(
        !v.to_string().contains("demo-tenant-001"),
        "the refusal leaks B: {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_b_is_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let b = format!("/api/v1/tenants/{}", w.b);
    not_found(&w, Method::GET, &b, None).await;
    // Changing a tenant is for admins only: refused before any lookup, for any id.
    refused(
        &w,
        StatusCode::FORBIDDEN,
        Method::PATCH,
        &b,
        Some(json!({"name": "taken"})),
    )
    .await;
    refused(&w, StatusCode::FORBIDDEN, Method::DELETE, &b, None).await;
    // The same answer as for a tenant that does not exist.
    let (st, missing) = s.get(&w.dana, "/api/v1/tenants/999999").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, theirs) = s.get(&w.dana, &b).await;
    assert_eq!(
        theirs["error"]
            .as_str()
            .map(|e| e.replace(&w.b.to_string(), "N")),
        missing["error"].as_str().map(|e| e.replace("999999", "N")),
        "B is indistinguishable from a missing tenant"
    );
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/tenants?include_projects=true",
            None,
        )
        .await;
    assert_eq!(ids(&list, "tenants"), vec![w.a], "{list}");
    assert!(!list.to_string().contains("demo-tenant-001"), "{list}");

    // Controls: B's maintainer reads it, the admin renames and deletes it; A is Dana's.
    s.expect(StatusCode::OK, &w.bert, Method::GET, &b, None)
        .await;
    let list = s
        .expect(
            StatusCode::OK,
            &w.bert,
            Method::GET,
            "/api/v1/tenants",
            None,
        )
        .await;
    assert_eq!(ids(&list, "tenants"), vec![w.b], "{list}");
    s.expect(
        StatusCode::OK,
        &w.dana,
        Method::GET,
        &format!("/api/v1/tenants/{}", w.a),
        None,
    )
    .await;
    s.expect(
        StatusCode::OK,
        &s.admin_key,
        Method::PATCH,
        &b,
        Some(json!({"name": "renamed-b"})),
    )
    .await;
    s.expect(
        StatusCode::NO_CONTENT,
        &s.admin_key,
        Method::DELETE,
        &b,
        None,
    )
    .await;
    // Dana's own tenant is not hers to change: 403, not 404.
    let (st, v) = s
        .call(
            &w.dana,
            Method::PATCH,
            &format!("/api/v1/tenants/{}", w.a),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn project_of_b_is_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let pb = format!("/api/v1/projects/{}", w.pb);
    not_found(&w, Method::GET, &pb, None).await;
    not_found(
        &w,
        Method::PATCH,
        &pb,
        Some(json!({"description": "owned"})),
    )
    .await;
    not_found(&w, Method::DELETE, &pb, None).await;
    // Moving her own tenant's project into B: she may not manage it (403, B not named);
    // creating one in B: B is not found.
    refused(
        &w,
        StatusCode::FORBIDDEN,
        Method::PATCH,
        &format!("/api/v1/projects/{}", w.pa),
        Some(json!({"tenant_id": w.b})),
    )
    .await;
    not_found(
        &w,
        Method::POST,
        "/api/v1/projects",
        Some(
            json!({"name": "sneaky", "repo_url": "https://example.com/o/r.git", "tenant_id": w.b}),
        ),
    )
    .await;
    // Listing B's projects by its id: an empty list.
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            &format!("/api/v1/projects?tenant_id={}", w.b),
            None,
        )
        .await;
    assert_eq!(list["count"], 0, "{list}");
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/projects",
            None,
        )
        .await;
    assert_eq!(ids(&list, "projects"), vec![w.pa], "{list}");

    // Controls: B's maintainer reads, updates and deletes it.
    s.expect(StatusCode::OK, &w.bert, Method::GET, &pb, None)
        .await;
    let list = s
        .expect(
            StatusCode::OK,
            &w.bert,
            Method::GET,
            &format!("/api/v1/projects?tenant_id={}", w.b),
            None,
        )
        .await;
    assert_eq!(ids(&list, "projects"), vec![w.pb], "{list}");
    let v = s
        .expect(
            StatusCode::OK,
            &w.bert,
            Method::PATCH,
            &pb,
            Some(json!({"description": "ours"})),
        )
        .await;
    assert_eq!(v["project"]["description"], "ours", "{v}");
    // A developer of A may read A's project but not delete it: 403.
    s.expect(
        StatusCode::OK,
        &w.dana,
        Method::GET,
        &format!("/api/v1/projects/{}", w.pa),
        None,
    )
    .await;
    let (st, v) = s
        .call(
            &w.dana,
            Method::DELETE,
            &format!("/api/v1/projects/{}", w.pa),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    s.expect(StatusCode::NO_CONTENT, &w.bert, Method::DELETE, &pb, None)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_of_b_are_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let issue = w.b_issues[0];
    let i = format!("/api/v1/issues/{issue}");
    not_found(&w, Method::GET, &i, None).await;
    not_found(&w, Method::PATCH, &i, Some(json!({"title": "owned"}))).await;
    not_found(
        &w,
        Method::POST,
        &format!("{i}/status"),
        Some(json!({"status": "in_progress"})),
    )
    .await;
    not_found(&w, Method::POST, &format!("{i}/pin"), None).await;
    not_found(&w, Method::POST, &format!("{i}/close"), None).await;
    not_found(
        &w,
        Method::POST,
        &format!("{i}/comments"),
        Some(json!({"body": "hi"})),
    )
    .await;
    not_found(
        &w,
        Method::GET,
        &format!("/api/v1/issues?project_id={}", w.pb),
        None,
    )
    .await;
    // Lists: everything Dana sees is A's; B's tenant filter finds nothing of B.
    for q in [
        "",
        "?status=all",
        "?limit=1000",
        &format!("?tenant_id={}", w.b),
    ] {
        let (st, v) = s.get(&w.dana, &format!("/api/v1/issues{q}")).await;
        if st == StatusCode::OK {
            let seen = ids(&v, "issues");
            assert!(
                seen.iter().all(|x| !w.b_issues.contains(x)),
                "/issues{q} shows B's issues: {v}"
            );
        } else {
            assert_eq!(st, StatusCode::NOT_FOUND, "/issues{q}: {v}");
        }
    }
    let (_, pinned) = s.get(&w.dana, "/api/v1/issues/pinned").await;
    assert!(
        !pinned.to_string().contains(&format!("\"id\":{issue},")),
        "{pinned}"
    );

    // Controls: B's developer reads it, sets its local status and pins it.
    let v = s.expect(StatusCode::OK, &w.bo, Method::GET, &i, None).await;
    assert_eq!(v["issue"]["id"], issue, "{v}");
    s.expect(
        StatusCode::OK,
        &w.bo,
        Method::POST,
        &format!("{i}/status"),
        Some(json!({"status": "in_progress"})),
    )
    .await;
    s.expect(
        StatusCode::OK,
        &w.bo,
        Method::POST,
        &format!("{i}/pin"),
        None,
    )
    .await;
    let list = s
        .expect(
            StatusCode::OK,
            &w.bo,
            Method::GET,
            &format!("/api/v1/issues?project_id={}&limit=100", w.pb),
            None,
        )
        .await;
    assert_eq!(ids(&list, "issues"), w.b_issues, "{list}");
    // Dana's own: her tenant's issues are hers to read.
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            &format!("/api/v1/issues?project_id={}&limit=100", w.pa),
            None,
        )
        .await;
    assert!(!ids(&list, "issues").is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_of_another_user_are_not_found() {
    let w = world().await;
    let s = &w.s;
    let bo_keys = s
        .expect(
            StatusCode::OK,
            &w.bo,
            Method::GET,
            "/api/v1/auth/keys",
            None,
        )
        .await;
    let bo_key = ids(&bo_keys, "keys")[0];
    let k = format!("/api/v1/auth/keys/{bo_key}");
    not_found(&w, Method::PATCH, &k, Some(json!({"name": "mine"}))).await;
    not_found(&w, Method::DELETE, &k, None).await;
    let dana_keys = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/auth/keys",
            None,
        )
        .await;
    let mine = ids(&dana_keys, "keys");
    assert!(!mine.contains(&bo_key), "{dana_keys}");
    assert_eq!(mine.len(), 1, "only her own key: {dana_keys}");
    // Her key cannot mint an admin key (no admin scope to give).
    let (st, v) = s
        .call(
            &w.dana,
            Method::POST,
            "/api/v1/auth/keys",
            Some(json!({"name": "up", "scopes": ["admin"]})),
        )
        .await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::BAD_REQUEST,
        "{st}: {v}"
    );
    // Users are the admin's: listing them is refused.
    let (st, v) = s.get(&w.dana, "/api/v1/users").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");

    // Controls: Bo renames and deletes his own key; the key still works until deleted.
    let v = s
        .expect(
            StatusCode::OK,
            &w.bo,
            Method::PATCH,
            &k,
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(v["key"]["name"], "renamed", "{v}");
    s.expect(StatusCode::NO_CONTENT, &w.bo, Method::DELETE, &k, None)
        .await;
    let (st, _) = s.get(&w.bo, "/api/v1/auth/keys").await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a deleted key no longer works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_of_b_are_not_found_and_a_developer_manages_none() {
    let w = world().await;
    let s = &w.s;
    let tm = format!("/api/v1/tenants/{}/members", w.b);
    let pm = format!("/api/v1/projects/{}/members", w.pb);
    not_found(&w, Method::GET, &tm, None).await;
    not_found(&w, Method::GET, &pm, None).await;
    not_found(
        &w,
        Method::POST,
        &tm,
        Some(json!({"user_id": w.dana_id, "role": "maintainer"})),
    )
    .await;
    not_found(
        &w,
        Method::POST,
        &pm,
        Some(json!({"user_id": w.dana_id, "role": "maintainer"})),
    )
    .await;
    not_found(
        &w,
        Method::PATCH,
        &format!("{tm}/{}", w.bo_id),
        Some(json!({"role": "viewer"})),
    )
    .await;
    not_found(&w, Method::DELETE, &format!("{tm}/{}", w.bert_id), None).await;
    // Nothing changed in B, and Dana still sees only A.
    let members = s
        .expect(StatusCode::OK, &w.bert, Method::GET, &tm, None)
        .await;
    assert!(!members.to_string().contains("dana@a.test"), "{members}");
    assert!(members.to_string().contains("bo@b.test"), "{members}");
    let (_, list) = s.get(&w.dana, "/api/v1/tenants").await;
    assert_eq!(ids(&list, "tenants"), vec![w.a], "{list}");
    // In her own tenant a developer reads the members but manages none: 403.
    let am = format!("/api/v1/tenants/{}/members", w.a);
    s.expect(StatusCode::OK, &w.dana, Method::GET, &am, None)
        .await;
    let (st, v) = s
        .call(
            &w.dana,
            Method::POST,
            &am,
            Some(json!({"user_id": w.bo_id, "role": "viewer"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");

    // Controls: B's maintainer changes and removes B's developer; adds him back.
    s.expect(
        StatusCode::OK,
        &w.bert,
        Method::PATCH,
        &format!("{tm}/{}", w.bo_id),
        Some(json!({"role": "viewer"})),
    )
    .await;
    s.expect(
        StatusCode::NO_CONTENT,
        &w.bert,
        Method::DELETE,
        &format!("{tm}/{}", w.bo_id),
        None,
    )
    .await;
    s.expect(
        StatusCode::CREATED,
        &w.bert,
        Method::POST,
        &tm,
        Some(json!({"user_id": w.bo_id, "role": "developer"})),
    )
    .await;
    // ... but not to maintainer: only acting admins grant it.
    let (st, v) = s
        .call(
            &w.bert,
            Method::PATCH,
            &format!("{tm}/{}", w.bo_id),
            Some(json!({"role": "maintainer"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    s.expect(StatusCode::OK, &w.bert, Method::GET, &pm, None)
        .await;
}
