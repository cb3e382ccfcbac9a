//! Web UI over plain HTTP: login, CSRF, rate limiting, admin-only pages, assets.

use crate::harness::*;
use reqwest::StatusCode;

async fn login_page(s: &Server) -> (String, String) {
    let resp = s.client.get(s.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = set_cookies(&resp)
        .into_iter()
        .find(|(k, _)| k == "aiops_login_csrf")
        .map(|(k, v)| format!("{k}={v}"))
        .expect("login CSRF cookie");
    let html = resp.text().await.unwrap();
    (
        cookie,
        hidden_field(&html, "csrf_token").expect("csrf field"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn login_requires_csrf_and_is_rate_limited() {
    let s = Server::start_with(&[("AIOPS_LOGIN_ATTEMPTS_PER_MINUTE", "3")]);
    // A forged form without the token is refused and logs nobody in.
    let resp = s
        .client
        .post(s.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&resp).iter().all(|(k, _)| k != "aiops_session"));

    for _ in 0..3 {
        let (cookie, csrf) = login_page(&s).await;
        let resp = s
            .client
            .post(s.url("/login"))
            .header("cookie", cookie)
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", "wrong"),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert!(!resp.status().is_redirection());
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("Invalid email or password.")
        );
    }
    // Now even the right password is refused for a while, with a clear message.
    let (cookie, csrf) = login_page(&s).await;
    let resp = s
        .client
        .post(s.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Too many failed logins")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_need_login_and_admin_pages_need_admin() {
    let s = Server::start();
    // Anonymous: redirected to the login page, with a safe `next`.
    let resp = s.client.get(s.url("/projects")).send().await.unwrap();
    assert!(resp.status().is_redirection());
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/login") && loc.contains("next="), "{loc}");

    s.create_user("eve@example.com", "eve-password-1", false)
        .await;
    let eve = s.web_login("eve@example.com", "eve-password-1").await;
    for page in ["/users", "/audit"] {
        let resp = s
            .client
            .get(s.url(page))
            .header("cookie", format!("aiops_session={eve}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{page}");
    }
    let admin = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for page in [
        "/",
        "/tenants",
        "/projects",
        "/keys",
        "/users",
        "/audit",
        "/account",
    ] {
        let resp = s
            .client
            .get(s.url(page))
            .header("cookie", format!("aiops_session={admin}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{page}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("name=\"viewport\""), "{page} is phone-ready");
        assert!(
            html.contains("/assets/vendor/htmx-2.0.11/htmx.min.js"),
            "{page} loads vendored htmx"
        );
        assert!(!html.contains("cdn."), "{page} uses no CDN");
    }
    // An open redirect through `next` is not possible.
    let (cookie, csrf) = login_page(&s).await;
    let resp = s
        .client
        .post(s.url("/login?next=//evil.example.com/"))
        .header("cookie", cookie)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", csrf.as_str()),
            ("next", "//evil.example.com/"),
        ])
        .send()
        .await
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with('/') && !loc.starts_with("//"), "{loc}");

    // Logging out ends the session.
    let html = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("aiops_session={admin}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page_csrf(&html).unwrap();
    let resp = s
        .client
        .post(s.url("/logout"))
        .header("cookie", format!("aiops_session={admin}"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    let resp = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("aiops_session={admin}"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_redirection(),
        "session is gone after logout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn web_forms_refuse_missing_csrf_and_keep_input_on_errors() {
    let s = Server::start();
    let admin = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = format!("aiops_session={admin}");
    // No token: 403, nothing created.
    let resp = s
        .client
        .post(s.url("/tenants"))
        .header("cookie", &cookie)
        .form(&[("name", "Forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (_, list) = s.get(&s.admin_key, "/api/v1/tenants").await;
    assert_eq!(list["count"], 0);
    // With the token but a bad name: the error is shown and the input is kept.
    let html = s
        .client
        .get(s.url("/tenants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&html, "csrf_token")
        .or_else(|| page_csrf(&html))
        .unwrap();
    let resp = s
        .client
        .post(s.url("/tenants"))
        .header("cookie", &cookie)
        .form(&[
            ("name", "bad/name"),
            ("description", "keep me"),
            ("color", "#2563eb"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let html = resp.text().await.unwrap();
    assert!(
        status.is_client_error() || status == StatusCode::OK,
        "{status}"
    );
    assert!(html.contains("must not contain"), "error shown");
    assert!(html.contains("keep me"), "input preserved");
    // The same form with a good name works.
    let resp = s
        .client
        .post(s.url("/tenants"))
        .header("cookie", &cookie)
        .form(&[
            ("name", "Good"),
            ("description", ""),
            ("color", "#2563eb"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection());
    let (_, list) = s.get(&s.admin_key, "/api/v1/tenants").await;
    assert_eq!(list["tenants"][0]["name"], "Good");
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_are_embedded_and_cacheable() {
    let s = Server::start();
    for path in [
        "/assets/vendor/htmx-2.0.11/htmx.min.js",
        "/assets/vendor/pico-2.1.1/pico.min.css",
        "/assets/app.css",
        "/assets/app.js",
    ] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.headers().contains_key("etag"), "{path} has an ETag");
    }
}
