//! Small hardening fixes (issue 14): security headers on every web response, `next=` that cannot
//! leave the site, the login CSRF cookie cleared where it was set, host validation before an SSH
//! scan, and names that cannot hide or reorder text.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    assert_eq!(header(resp, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header(resp, "content-security-policy"),
        "frame-ancestors 'none'",
        "{what}"
    );
    assert_eq!(header(resp, "x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_web_response_forbids_framing_and_sniffing() {
    let s = Server::start();
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for (path, logged_in, status) in [
        ("/login", false, StatusCode::OK),
        ("/", false, StatusCode::SEE_OTHER),
        ("/", true, StatusCode::OK),
        ("/projects", true, StatusCode::OK),
        ("/no-such-page", true, StatusCode::NOT_FOUND),
        ("/assets/app.css", false, StatusCode::OK),
        ("/assets/app.js", false, StatusCode::OK),
        ("/assets/no-such-asset.js", false, StatusCode::NOT_FOUND),
    ] {
        let mut req = s.client.get(s.url(path));
        if logged_in {
            req = req.header("cookie", format!("aiops_session={cookie}"));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        assert_security_headers(&resp, path);
    }
    // The embedded assets keep their caching header next to the new ones.
    let resp = s.client.get(s.url("/assets/app.css")).send().await.unwrap();
    assert!(header(&resp, "cache-control").contains("max-age"));
}

#[tokio::test(flavor = "multi_thread")]
async fn next_with_control_characters_or_backslashes_falls_back_to_the_dashboard() {
    let s = Server::start();
    // The form carries the sanitised target.
    for (query, expected) in [
        ("/%09/evil.com", "/"),
        ("/%0A/evil.com", "/"),
        ("/%0D%0A/evil.com", "/"),
        ("/x%5C..%5C%5Cevil.com", "/"),
        ("%2F%5Cevil.com", "/"),
        ("/projects", "/projects"),
    ] {
        let resp = s
            .client
            .get(s.url(&format!("/login?next={query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert_eq!(
            hidden_field(&html, "next").as_deref(),
            Some(expected),
            "next={query}"
        );
    }
    // A crafted form field is refused too: after logging in the browser goes to `/`.
    for (next, expected) in [
        ("/\t/evil.com", "/"),
        ("/\\evil.com", "/"),
        ("/a\u{0}b", "/"),
        ("/projects", "/projects"),
    ] {
        let resp = s.client.get(s.url("/login")).send().await.unwrap();
        let login_cookie = set_cookies(&resp)
            .into_iter()
            .find(|(k, _)| k == "aiops_login_csrf")
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap();
        let csrf = hidden_field(&resp.text().await.unwrap(), "csrf_token").unwrap();
        let resp = s
            .client
            .post(s.url("/login"))
            .header("cookie", login_cookie)
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", csrf.as_str()),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(header(&resp, "location"), expected, "{next:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_csrf_cookie_is_cleared_on_the_path_it_was_set_on() {
    let s = Server::start();
    let resp = s.client.get(s.url("/login")).send().await.unwrap();
    let set: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .filter(|c| c.starts_with("aiops_login_csrf="))
        .collect();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].contains("Path=/login;"), "{}", set[0]);
    let value = set[0]
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap();
    let csrf = hidden_field(&resp.text().await.unwrap(), "csrf_token").unwrap();
    let resp = s
        .client
        .post(s.url("/login"))
        .header("cookie", format!("aiops_login_csrf={value}"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cleared: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .filter(|c| c.starts_with("aiops_login_csrf="))
        .collect();
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    let c = &cleared[0];
    assert!(c.starts_with("aiops_login_csrf=;"), "{c}");
    assert!(c.contains("Max-Age=0"), "{c}");
    // A browser only removes a cookie when name *and* path match.
    let path = |c: &str| {
        c.split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("Path="))
            .map(str::to_string)
    };
    assert_eq!(path(c), path(&set[0]), "set: {}, cleared: {c}", set[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn scanning_an_empty_or_malformed_host_is_a_clear_400() {
    let s = Server::start();
    for (body, needle) in [
        (json!({"host": ""}), "host is required"),
        (json!({"host": "   "}), "host is required"),
        (json!({"host": "git@github.com"}), "no user, path or spaces"),
        (json!({"host": "a b"}), "no user, path or spaces"),
        (json!({"host": "a\tb"}), "no user, path or spaces"),
        (
            json!({"host": "github.com", "port": 0}),
            "port must be 1-65535",
        ),
    ] {
        let (st, v) = s
            .post(&s.admin_key, "/api/v1/admin/known-hosts/scan", body.clone())
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(err_text(&v).contains(needle), "{body}: {v}");
    }
    // Pinning checks the same way.
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/admin/known-hosts",
            json!({"host": "", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("host is required"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_bidi_overrides_or_only_invisible_characters_are_refused() {
    let s = Server::start();
    let tenant = s.create_tenant("Acme").await;
    for name in ["Acme\u{202E}cod.exe", "\u{2066}Evil\u{2069}"] {
        let (st, v) = s
            .post(&s.admin_key, "/api/v1/tenants", json!({"name": name}))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name:?}: {v}");
        assert!(err_text(&v).contains("bidirectional"), "{v}");
        let (st, v) = s
            .post(
                &s.admin_key,
                "/api/v1/projects",
                json!({"name": name, "repo_url": "https://example.com/o/r.git", "tenant_id": tenant}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name:?}: {v}");
        assert!(err_text(&v).contains("Project name"), "{v}");
    }
    for name in [
        "\u{200B}",
        "\u{200C}\u{200D}",
        "\u{2060}",
        "\u{FEFF}\u{200B}",
    ] {
        let (st, v) = s
            .post(&s.admin_key, "/api/v1/tenants", json!({"name": name}))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name:?}: {v}");
        assert!(err_text(&v).contains("visible characters"), "{v}");
        let (st, v) = s
            .post(
                &s.admin_key,
                "/api/v1/auth/keys",
                json!({"name": name, "scopes": ["read"]}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name:?}: {v}");
    }
    // Renaming is checked the same way.
    let (st, v) = s
        .call(
            &s.admin_key,
            reqwest::Method::PATCH,
            &format!("/api/v1/tenants/{tenant}"),
            Some(json!({"name": "Acme\u{202D}"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}
