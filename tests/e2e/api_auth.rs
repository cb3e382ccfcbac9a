//! Keys, scopes, ownership and admin-only routes.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn whoami_with_bearer_and_x_api_key() {
    let s = Server::start();
    let (st, me) = s.get(&s.admin_key, "/api/v1/auth/me").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["auth_method"], "api_key");
    assert_eq!(me["user"]["scopes"], json!(["read", "write", "admin"]));

    let resp = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header("X-API-Key", &s.admin_key)
        .send()
        .await
        .unwrap();
    let (st, me) = parse(resp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["user"]["is_admin"], true);

    // The scheme is case-sensitive, as in the original; the error says what to send.
    let resp = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header("Authorization", format!("bearer {}", s.admin_key))
        .send()
        .await
        .unwrap();
    let (st, body) = parse(resp).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(err_text(&body), "Authentication required");
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );

    // No credentials at all.
    let (st, body) = parse(s.client.get(s.url("/api/v1/tenants")).send().await.unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(err_text(&body), "Authentication required");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_lifecycle_scopes_revocation_and_expiry_field() {
    let s = Server::start();
    // Create a read-only key: the secret is returned once.
    let (st, created) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "reader", "scopes": ["read"], "expires_days": 30}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let read_key = created["key"]["key"].as_str().unwrap().to_string();
    assert!(read_key.starts_with("aiops_") && read_key.len() == 70);
    assert_eq!(created["key"]["key_prefix"], read_key[..12]);
    assert!(created["key"]["expires_at"].is_string());
    let key_id = created["key"]["id"].as_u64().unwrap();

    let (_, list) = s.get(&s.admin_key, "/api/v1/auth/keys").await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|k| k.get("key").is_none()),
        "secret never listed: {list}"
    );
    assert!(keys.iter().all(|k| k.get("key_digest").is_none()));

    // Read works, write is refused with a JSON 403 naming the scope.
    assert_eq!(s.get(&read_key, "/api/v1/tenants").await.0, StatusCode::OK);
    let (st, body) = s
        .post(&read_key, "/api/v1/tenants", json!({"name": "nope"}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        err_text(&body).contains("missing required scope 'admin'"),
        "{body}"
    );
    let (st, body) = s
        .post(
            &read_key,
            "/api/v1/projects",
            json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        err_text(&body).contains("missing required scope 'write'"),
        "{body}"
    );

    // A read key cannot mint a write key, nor re-scope itself upwards.
    let (st, body) = s
        .post(
            &read_key,
            "/api/v1/auth/keys",
            json!({"name": "up", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, _) = s
        .call(
            &read_key,
            Method::PATCH,
            &format!("/api/v1/auth/keys/{key_id}"),
            Some(json!({"scopes": ["admin"]})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // ...nor mint any key at all: key management writes the store (attack M1).
    let (st, _) = s
        .post(
            &read_key,
            "/api/v1/auth/keys",
            json!({"name": "peer", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Validation messages.
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "x", "scopes": []}),
        )
        .await;
    assert_eq!(
        (st, err_text(&body).as_str()),
        (StatusCode::BAD_REQUEST, "At least one scope is required")
    );
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&body).starts_with("Invalid scope: root"));
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": " ", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(
        (st, err_text(&body).as_str()),
        (StatusCode::BAD_REQUEST, "Key name is required")
    );
    let (st, _) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "x", "scopes": ["read"], "expires_days": 0}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Deactivate: 401 with the reason. Reactivate: works again.
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/auth/keys/{key_id}"),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.get(&read_key, "/api/v1/tenants").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    s.call(
        &s.admin_key,
        Method::PATCH,
        &format!("/api/v1/auth/keys/{key_id}"),
        Some(json!({"is_active": true})),
    )
    .await;
    assert_eq!(s.get(&read_key, "/api/v1/tenants").await.0, StatusCode::OK);

    // last_used_at is recorded.
    let (_, list) = s.get(&s.admin_key, "/api/v1/auth/keys").await;
    let k = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id)
        .unwrap()
        .clone();
    assert!(k["last_used_at"].is_string(), "{k}");

    // Revoke: gone for good.
    let (st, body) = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/auth/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(
        (st, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    assert_eq!(
        s.get(&read_key, "/api/v1/tenants").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, body) = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/auth/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(
        (st, err_text(&body).as_str()),
        (StatusCode::NOT_FOUND, "API key not found")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_key_expiry_is_recorded() {
    // The refusal of an expired key is the unit test of `key_unusable`; here: the offline
    // `create-key --expires-days` records the expiry that the API then reports.
    let tmp = tempfile::tempdir().unwrap();
    admin(
        tmp.path(),
        &["create-user", "u@example.com", "--password", "password-123"],
    );
    let key = admin(
        tmp.path(),
        &[
            "create-key",
            "u@example.com",
            "--scopes",
            "read",
            "--expires-days",
            "1",
        ],
    );
    let s = Server::spawn(tmp.path(), &[]);
    let (st, list) = s.get(&key, "/api/v1/auth/keys").await;
    assert_eq!(st, StatusCode::OK);
    let exp = list["keys"][0]["expires_at"].as_str().unwrap().to_string();
    let exp = chrono::DateTime::parse_from_rfc3339(&exp).unwrap();
    let hours = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!(
        (23..=24).contains(&hours),
        "expiry about one day ahead, got {hours} h"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn non_admin_sees_and_changes_only_their_own() {
    let s = Server::start();
    let tenant = s.create_tenant("Shared").await;
    let admins_project = s.create_project(&s.admin_key, "admin-proj", tenant).await;
    let bob_id = s
        .create_user("bob@example.com", "bob-password-1", false)
        .await;
    // Bob logs in on the web and mints his own key over the API (session + CSRF).
    let cookie = s.web_login("bob@example.com", "bob-password-1").await;
    let html = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page_csrf(&html).expect("page carries the CSRF token for htmx");
    // Without the CSRF header a cookie-authenticated write is refused.
    let resp = s
        .client
        .post(s.url("/api/v1/auth/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .json(&json!({"name": "bob", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap();
    let (st, body) = parse(resp).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(err_text(&body).contains("CSRF"), "{body}");
    // A non-admin can never hold admin, even from a session.
    let resp = s
        .client
        .post(s.url("/api/v1/auth/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "bob", "scopes": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = s
        .client
        .post(s.url("/api/v1/auth/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "bob", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap();
    let (st, body) = parse(resp).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let bob = body["key"]["key"].as_str().unwrap().to_string();
    let (_, me) = s.get(&bob, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["is_admin"], false);

    // Bob's own project (an admin made it for him, so he maintains it) is his; the admin's is
    // not visible or changeable: it does not exist as far as he can tell.
    let bobs = s.project_for(bob_id, "bob-proj", tenant).await;
    let (_, list) = s.get(&bob, "/api/v1/projects").await;
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["bob-proj"]);
    let (st, body) = s
        .get(&bob, &format!("/api/v1/projects/{admins_project}"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(
        err_text(&body),
        format!("Project {admins_project} not found")
    );
    let (st, _) = s
        .call(
            &bob,
            Method::PATCH,
            &format!("/api/v1/projects/{admins_project}"),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .call(
            &bob,
            Method::DELETE,
            &format!("/api/v1/projects/{admins_project}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Bob cannot create projects in a tenant he does not maintain, nor for someone else.
    let (st, body) = s
        .post(
            &bob,
            "/api/v1/projects",
            json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, _) = s
        .post(&bob, "/api/v1/projects", json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": tenant, "owner_id": 1}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Tenant counts only what bob can see.
    let (_, tenants) = s.get(&bob, "/api/v1/tenants").await;
    assert_eq!(tenants["tenants"][0]["project_count"], 1);
    let (_, tenants) = s.get(&s.admin_key, "/api/v1/tenants").await;
    assert_eq!(tenants["tenants"][0]["project_count"], 2);
    // Admin-only routes.
    for (m, p, b) in [
        (Method::GET, "/api/v1/users".to_string(), None),
        (Method::GET, "/api/v1/audit".to_string(), None),
        (
            Method::POST,
            "/api/v1/tenants".to_string(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/tenants/{tenant}"), None),
        (
            Method::POST,
            "/api/v1/users".to_string(),
            Some(json!({"email": "e@x.org", "name": "e", "password": "12345678"})),
        ),
    ] {
        let (st, body) = s.call(&bob, m.clone(), &p, b).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p}: {body}");
        assert_eq!(err_text(&body), "Admin access required");
    }
    // Bob may delete his own project; the admin's remains.
    assert_eq!(
        s.call(
            &bob,
            Method::DELETE,
            &format!("/api/v1/projects/{bobs}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&s.admin_key, &format!("/api/v1/projects/{admins_project}"))
            .await
            .0,
        StatusCode::OK
    );
    // Another user's key ids are not found.
    let (_, keys) = s.get(&s.admin_key, "/api/v1/auth/keys").await;
    let admin_key_id = keys["keys"][0]["id"].as_u64().unwrap();
    assert_eq!(
        s.call(
            &bob,
            Method::DELETE,
            &format!("/api/v1/auth/keys/{admin_key_id}"),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_read_only_key_cannot_use_admin_routes() {
    let s = Server::start();
    let (_, created) = s
        .post(
            &s.admin_key,
            "/api/v1/auth/keys",
            json!({"name": "ro", "scopes": ["read"]}),
        )
        .await;
    let ro = created["key"]["key"].as_str().unwrap();
    let (st, _) = s.get(ro, "/api/v1/users").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, users) = s.get(&s.admin_key, "/api/v1/users").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(users["users"][0]["email"], ADMIN_EMAIL);
    assert!(users["users"][0].get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_and_project_crud_with_cascade() {
    let s = Server::start();
    let (st, t) = s
        .post(
            &s.admin_key,
            "/api/v1/tenants",
            json!({"name": "Acme Corp", "color": "10b981", "description": "d"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(t["tenant"]["slug"], "acme-corp");
    assert_eq!(t["tenant"]["color"], "#10b981");
    let tid = t["tenant"]["id"].as_u64().unwrap();
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/tenants",
            json!({"name": "acme corp"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(err_text(&body).contains("already exists"));
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/tenants",
            json!({"name": "x", "color": "#123456"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&body).contains("#2563eb"));
    let (st, body) = s.post(&s.admin_key, "/api/v1/tenants", json!({})).await;
    assert_eq!(
        (st, err_text(&body).as_str()),
        (StatusCode::BAD_REQUEST, "Tenant name is required")
    );

    let pid = s.create_project(&s.admin_key, "Web App", tid).await;
    let (st, p) = s
        .get(&s.admin_key, &format!("/api/v1/projects/{pid}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    for field in [
        "tenant_name",
        "tenant_color",
        "owner_name",
        "owner_id",
        "local_path",
        "default_branch",
    ] {
        assert!(p["project"].get(field).is_some(), "{field} in {p}");
    }
    assert_eq!(p["project"]["tenant_name"], "Acme Corp");
    assert_eq!(p["project"]["owner_id"], 1);
    let (st, p) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"description": "new", "default_branch": "develop"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(p["project"]["default_branch"], "develop");
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"default_branch": "a..b"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (_, t) = s.get(&s.admin_key, &format!("/api/v1/tenants/{tid}")).await;
    assert_eq!(t["tenant"]["projects"][0]["id"], pid);
    let (st, t) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/tenants/{tid}"),
            Some(json!({"name": "Acme Inc"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["tenant"]["slug"], "acme-inc");

    // Deleting the tenant removes its projects too: nothing is orphaned.
    assert_eq!(
        s.call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/tenants/{tid}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&s.admin_key, &format!("/api/v1/projects/{pid}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = s.get(&s.admin_key, "/api/v1/projects").await;
    assert_eq!(list["count"], 0);
    let (st, body) = s.get(&s.admin_key, &format!("/api/v1/tenants/{tid}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(err_text(&body).contains("not found"));
    // Creating a project in a missing tenant is a clear 404.
    let (st, body) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "p", "repo_url": "https://x.org/r.git", "tenant_id": 999}),
        )
        .await;
    assert_eq!(
        (st, err_text(&body).as_str()),
        (StatusCode::NOT_FOUND, "Tenant 999 not found")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_admin_rules_and_audit_log() {
    let s = Server::start();
    let uid = s
        .create_user("carol@example.com", "carol-password", false)
        .await;
    // The last admin cannot be demoted or deleted; a user owning projects cannot be deleted.
    let (st, body) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            "/api/v1/users/1",
            Some(json!({"is_admin": false})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(err_text(&body).contains("last administrator"));
    let (st, _) = s
        .call(&s.admin_key, Method::DELETE, "/api/v1/users/1", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let tid = s.create_tenant("T").await;
    let (st, _) = s
        .post(&s.admin_key, "/api/v1/projects", json!({"name": "c", "repo_url": "https://x.org/r.git", "tenant_id": tid, "owner_id": uid}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, body) = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/users/{uid}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(err_text(&body).contains("owns 1 project"));

    // Every write is audited, with secrets redacted; reads are not.
    let (st, audit) = s.get(&s.admin_key, "/api/v1/audit?limit=100").await;
    assert_eq!(st, StatusCode::OK);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["method"] != "GET"));
    let create_user = entries
        .iter()
        .find(|e| e["method"] == "POST" && e["path"] == "/api/v1/users")
        .expect("user creation audited");
    assert_eq!(create_user["response_status"], 201);
    assert_eq!(create_user["request_body"]["password"], "***REDACTED***");
    assert_eq!(create_user["request_body"]["email"], "carol@example.com");
    assert_eq!(create_user["user_id"], 1);
    assert!(create_user["api_key_id"].is_u64());
    let refused = entries
        .iter()
        .find(|e| e["response_status"] == 409)
        .expect("refusal audited");
    assert!(refused["error_message"].as_str().unwrap().contains("owns"));
    // Newest first.
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
}
