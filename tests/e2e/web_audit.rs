//! The audit log of web changes, in headless Chromium at phone width: an admin's changes made in
//! the browser are recorded like the API's (names, source web, secrets redacted), the audit page
//! shows names and filters by user, action and source, and only admins open it. Screenshots go
//! to target/screenshots/audit-390.png and audit-1366.png.

use crate::harness::*;
use crate::webdriver::Driver;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const USER_PASSWORD: &str = "audit-user-secret-77";

/// Poll `f` until it gives a value (10 s).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    f: impl Fn() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn id_named(s: &Server, list: &str, field: &str, name: &str) -> Option<u64> {
    let (_, v) = s.get(&s.admin_key, &format!("/api/v1/{list}")).await;
    v[list]
        .as_array()?
        .iter()
        .find(|t| t[field] == name)
        .and_then(|t| t["id"].as_u64())
}

/// The rows of the audit page: (action, source, text).
async fn rows(d: &Driver) -> Vec<(String, String, String)> {
    let v = d
        .script(
            "return [...document.querySelectorAll('#audit-list tr.audit-row')].map(r =>
               [r.dataset.action, r.dataset.source, r.innerText])",
        )
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |i: usize| r[i].as_str().unwrap_or_default().to_string();
                    (s(0), s(1), s(2))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(rows: &[(String, String, String)], action: &str, source: &str, words: &[&str]) -> bool {
    rows.iter()
        .any(|(a, s, t)| a == action && s == source && words.iter().all(|w| t.contains(w)))
}

async fn api_audit(s: &Server) -> Value {
    ok(
        s,
        &s.admin_key,
        Method::GET,
        "/api/v1/audit?limit=500",
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_shows_the_web_actions_with_names() {
    let s = Server::start();
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Tenants: one to keep, one to delete.
    d.goto(&s.url("/tenants")).await;
    for name in ["Audit Tenant", "Doomed Tenant"] {
        d.script("document.querySelector('#tenant-section details')?.setAttribute('open', '')")
            .await;
        d.type_into("#tenant-form input[name=name]", name).await;
        d.click("#tenant-submit").await;
        d.wait_text("#tenant-list", name).await;
    }
    let tenant = eventually("the tenant", || {
        id_named(&s, "tenants", "name", "Audit Tenant")
    })
    .await;
    let doomed = eventually("the tenant", || {
        id_named(&s, "tenants", "name", "Doomed Tenant")
    })
    .await;

    // A project, then an edit of it.
    d.goto(&s.url(&format!("/projects?tenant_id={tenant}")))
        .await;
    d.script("document.querySelector('#project-section details')?.setAttribute('open', '')")
        .await;
    d.type_into("#project-form input[name=name]", "Audit Project")
        .await;
    d.type_into(
        "#project-form input[name=repo_url]",
        "https://example.com/audit.git",
    )
    .await;
    d.select("#project-form select[name=tenant_id]", &tenant.to_string())
        .await;
    d.click("#project-submit").await;
    let project = eventually("the project", || {
        id_named(&s, "projects", "name", "Audit Project")
    })
    .await;
    d.goto(&s.url(&format!("/projects/{project}/edit"))).await;
    d.type_into(
        "#project-edit-form textarea[name=description]",
        "Edited in the browser",
    )
    .await;
    d.click("#project-edit-form button[type=submit]").await;
    eventually("the edit", || async {
        let (_, v) = s
            .get(&s.admin_key, &format!("/api/v1/projects/{project}"))
            .await;
        (v["project"]["description"] == "Edited in the browser"
            || v["description"] == "Edited in the browser")
            .then_some(())
    })
    .await;

    // An API key: its secret is shown once, and must never reach the log.
    d.goto(&s.url("/keys")).await;
    d.type_into("#key-form input[name=name]", "audit-key").await;
    d.click("#key-submit").await;
    let secret = d.text_of("#new-key").await;
    assert!(secret.starts_with("aiops_"), "{secret}");

    // A user with a password, then the doomed tenant deleted (a confirm step).
    d.goto(&s.url("/users")).await;
    d.type_into("#user-form input[name=email]", "dev@example.com")
        .await;
    d.type_into("#user-form input[name=name]", "Dev").await;
    d.type_into("#user-form input[name=password]", USER_PASSWORD)
        .await;
    d.click("#user-submit").await;
    let dev = eventually("the user", || {
        id_named(&s, "users", "email", "dev@example.com")
    })
    .await;
    d.goto(&s.url(&format!("/tenants/{doomed}/delete"))).await;
    d.click("#confirm-delete").await;
    eventually("the delete", || async {
        id_named(&s, "tenants", "name", "Doomed Tenant")
            .await
            .is_none()
            .then_some(())
    })
    .await;

    // Control: the same kind of change through the API is audited as api.
    let (st, _) = s
        .post(
            &s.admin_key,
            "/api/v1/tenants",
            serde_json::json!({"name": "API Tenant"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);

    // A forged web write (no CSRF token) changes nothing and is not recorded; the same form
    // with the token is (the control).
    let cookie = s.web_login("dev@example.com", USER_PASSWORD).await;
    let html = s
        .client
        .get(s.url("/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .expect("keys page")
        .text()
        .await
        .unwrap_or_default();
    let csrf = hidden_field(&html, "csrf_token").expect("csrf field");
    let before = api_audit(&s).await["total"].as_u64().unwrap_or(0);
    let forged = s
        .client
        .post(s.url("/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .form(&[("name", "forged-key"), ("scopes", "read")])
        .send()
        .await
        .expect("forged post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(api_audit(&s).await["total"].as_u64().unwrap_or(0), before);
    let real = s
        .client
        .post(s.url("/keys"))
        .header("cookie", format!("aiops_session={cookie}"))
        .form(&[
            ("name", "dev-key"),
            ("scopes", "read"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("real post");
    assert!(real.status().is_success(), "{}", real.status());
    let dev_page = real.text().await.unwrap_or_default();
    let dev_secret = dev_page
        .split("id=\"new-key\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .map(str::to_string)
        .expect("the dev's key is shown once");
    assert!(dev_secret.starts_with("aiops_"), "{dev_secret}");
    assert_eq!(
        api_audit(&s).await["total"].as_u64().unwrap_or(0),
        before + 1
    );

    // A non-admin gets no audit page; the admin does (the control, in Chromium below).
    let st = s
        .client
        .get(s.url("/audit"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .expect("dev /audit")
        .status();
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    // The audit page lists the web actions with names.
    d.goto(&s.url("/audit")).await;
    d.find("#audit-list").await;
    let all = rows(&d).await;
    let admin = ADMIN_EMAIL;
    for (action, words) in [
        ("session.login", vec![admin]),
        ("tenant.create", vec![admin, "Audit Tenant"]),
        ("tenant.create", vec![admin, "Doomed Tenant"]),
        (
            "project.create",
            vec![admin, "Audit Tenant", "Audit Project"],
        ),
        ("project.update", vec![admin, "Audit Project"]),
        ("key.create", vec![admin, "audit-key"]),
        ("user.create", vec![admin, "dev@example.com"]),
        ("tenant.delete", vec![admin, &format!("deleted #{doomed}")]),
        ("key.create", vec!["dev@example.com", "dev-key"]),
    ] {
        assert!(
            has(&all, action, "web", &words),
            "no web {action} with {words:?} in {all:#?}"
        );
    }
    assert!(
        has(&all, "tenant.create", "api", &[admin, "API Tenant"]),
        "the API's write is listed as api: {all:#?}"
    );
    let total = api_audit(&s).await["total"].as_u64().unwrap_or(0);
    let count = d.text_of("#audit-count").await;
    assert!(
        count.starts_with(&format!("{total} entries in the log")),
        "{count} (the log holds {total})"
    );
    assert!(!count.contains("API writes"), "{count}");
    // The body behind <details> keeps the form's fields, with the password redacted.
    let html = d
        .script("return document.documentElement.outerHTML")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        html.contains("***REDACTED***"),
        "the login's password shows as redacted"
    );
    for secret in [
        secret.as_str(),
        dev_secret.as_str(),
        ADMIN_PASSWORD,
        USER_PASSWORD,
    ] {
        assert!(!html.contains(secret), "the audit page shows a secret");
    }
    let entries = api_audit(&s).await;
    let api = entries.to_string();
    assert!(
        api.contains("\"path\":\"/tenants\""),
        "web entries in the API's log too"
    );
    // The API names them like the page: source and action.
    let web_create = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/tenants" && e["method"] == "POST")
        .cloned()
        .unwrap_or_default();
    assert_eq!(web_create["source"], "web", "{web_create}");
    assert_eq!(web_create["action"], "tenant.create", "{web_create}");
    assert!(web_create["request_id"].is_string(), "{web_create}");
    for secret in [
        secret.as_str(),
        dev_secret.as_str(),
        ADMIN_PASSWORD,
        USER_PASSWORD,
    ] {
        assert!(!api.contains(secret), "the API's audit log shows a secret");
    }
    d.assert_fits("the audit page at 390 px").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/audit-390.png").await;
    d.script("document.querySelectorAll('#audit-list details').forEach(x => x.open = true)")
        .await;
    d.assert_fits("the audit page with every request's details open at 390 px")
        .await;
    d.screenshot("target/screenshots/audit-details-390.png")
        .await;

    // Filter by action: only tenant creations, web and API.
    d.type_into("#audit-filters input[name=action]", "tenant.create")
        .await;
    d.click("#audit-filter").await;
    d.wait_text("#audit-count", "3 matching entries").await;
    let tenants = rows(&d).await;
    assert_eq!(tenants.len(), 3, "{tenants:#?}");
    assert!(tenants.iter().all(|(a, _, _)| a == "tenant.create"));
    // … and by source.
    d.select("#audit-filters select[name=source]", "api").await;
    d.click("#audit-filter").await;
    d.wait_text("#audit-count", "1 matching entry").await;
    assert!(has(
        &rows(&d).await,
        "tenant.create",
        "api",
        &["API Tenant"]
    ));

    // Filter by user: the dev's own changes only (their login and key).
    d.goto(&s.url(&format!("/audit?user={dev}"))).await;
    d.find("#audit-list").await;
    let mine = rows(&d).await;
    assert!(!mine.is_empty() && mine.len() < all.len(), "{mine:#?}");
    assert!(
        mine.iter()
            .all(|(_, _, t)| t.contains("dev@example.com") && !t.contains(admin)),
        "{mine:#?}"
    );
    assert!(has(&mine, "key.create", "web", &["dev-key"]));
    assert!(has(&mine, "session.login", "web", &[]));
    // The selected filter stays selected.
    assert_eq!(
        d.script("return document.querySelector('#audit-filters select[name=user]').value")
            .await,
        dev.to_string()
    );
    // A bad filter says what is wrong.
    d.goto(&s.url("/audit?from=yesterday")).await;
    d.wait_text("main", "YYYY-MM-DD").await;

    // The desktop view.
    let wide = Driver::start(false).await;
    wide.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    wide.goto(&s.url("/audit")).await;
    wide.find("#audit-list").await;
    wide.assert_fits("the audit page at 1366 px").await;
    wide.screenshot("target/screenshots/audit-1366.png").await;
    wide.script("document.querySelectorAll('#audit-list details').forEach(x => x.open = true)")
        .await;
    wide.assert_fits("the audit page with the details open at 1366 px")
        .await;
}
