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

/// A logged-in admin browsing with plain HTTP: GET pages, POST forms with the page's CSRF token.
struct Browser<'a> {
    s: &'a Server,
    cookie: String,
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .s
            .client
            .get(self.s.url(path))
            .header("cookie", format!("aiops_session={}", self.cookie))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let (_, html) = self.get("/").await;
        let csrf = page_csrf(&html).expect("csrf");
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", csrf.as_str()));
        let r = self
            .s
            .client
            .post(self.s.url(path))
            .header("cookie", format!("aiops_session={}", self.cookie))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        (r.status(), r.text().await.unwrap(), loc)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_and_integrations_pages_work_end_to_end() {
    use crate::fakes::{Fake, Kind};
    let gh = Fake::start(Kind::GitHub, "web-token-123456").await;
    gh.seed_github(120, 3);
    let s = Server::start();
    let tenant = s.create_tenant("Webco").await;
    let project = s.create_project(&s.admin_key, "webproj", tenant).await;
    let b = Browser {
        s: &s,
        cookie: s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
    };

    // Add the integration through the form: redirected to its page; the token is not shown.
    let t = tenant.to_string();
    let (st, body, loc) = b
        .post(
            "/integrations",
            &[
                ("tenant_id", &t),
                ("provider", "github"),
                ("name", "GH"),
                ("base_url", &gh.url),
                ("api_token", "web-token-123456"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{body}");
    let page_url = loc.unwrap();
    let (_, html) = b.get(&page_url).await;
    assert!(
        html.contains("GH") && html.contains("••••3456") && !html.contains("web-token-123456"),
        "{html}"
    );
    // A bad form keeps the input and says what is wrong.
    let (st, html, _) = b
        .post(
            "/integrations",
            &[
                ("tenant_id", &t),
                ("provider", "jira"),
                ("name", "J"),
                ("api_token", "x"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("base_url"), "{html}");

    let p = project.to_string();
    let (st, html, _) = b
        .post(
            &format!("{page_url}/links"),
            &[("project_id", &p), ("external_identifier", "octo/repo")],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Linked webproj to octo/repo"), "{html}");
    let (st, html, _) = b.post(&format!("{page_url}/test"), &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("GitHub credentials verified for octocat."),
        "{html}"
    );

    // Sync from the issues page.
    let (st, html, _) = b.post("/issues/sync", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("Synced 120 issue(s) from 1 of 1 project link(s)."),
        "{html}"
    );
    assert!(html.contains("120 issue(s), page 1 of 3"), "{html}");
    // A failing link: no green "Synced" above the red failure, and the link and reason named.
    gh.fail(
        "/repos/",
        "",
        401,
        serde_json::json!({"message": "Bad credentials"}),
        None,
        1,
    );
    let (st, html, _) = b.post("/issues/sync", &[]).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{html}");
    assert!(
        html.contains("Sync failed for 1 of 1 project link(s): GH → webproj: GitHub API error 401")
            && !html.contains("Synced "),
        "{html}"
    );
    let (_, html) = b.get("/issues?status=closed&q=Issue+1").await;
    assert!(
        html.contains("issue(s)") && html.contains("Issue 12") && !html.contains(">Issue 11<"),
        "{html}"
    );
    let (_, html) = b.get(&format!("/issues?project_id={project}&page=3")).await;
    assert!(
        html.contains("page 3 of 3") && html.contains("← Previous"),
        "{html}"
    );
    // The history shows the run.
    let (_, html) = b.get(&page_url).await;
    assert!(
        html.contains("sync-history") && html.contains("success"),
        "{html}"
    );

    // Detail page: comment, close, pin — each reaches the tracker / the dashboard.
    let (_, list) = s.get(&s.admin_key, "/api/v1/issues?limit=1").await;
    let id = list["issues"][0]["id"].as_u64().unwrap();
    let ext = list["issues"][0]["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, html) = b.get(&format!("/issues/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("comment-form") && html.contains(&format!("Body of issue {ext}")),
        "{html}"
    );
    gh.clear_requests();
    let (st, html, _) = b
        .post(
            &format!("/issues/{id}/comment"),
            &[("body", "From the <web> page")],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("Comment added.") && html.contains("From the &lt;web&gt; page"),
        "escaped: {html}"
    );
    assert_eq!(
        gh.requests()[0].body,
        serde_json::json!({"body": "From the <web> page"})
    );
    let (_, html, _) = b.post(&format!("/issues/{id}/close"), &[]).await;
    assert!(
        html.contains("Issue closed.") && html.contains("Reopen"),
        "{html}"
    );
    let (_, html, _) = b.post(&format!("/issues/{id}/pin"), &[]).await;
    assert!(html.contains("Pinned to your dashboard.") && html.contains("Unpin"));
    let (_, dash) = b.get("/").await;
    assert!(
        dash.contains("pinned-issues") && dash.contains(&format!("/issues/{id}")),
        "{dash}"
    );
    // A comment the tracker refuses shows its message and keeps the page usable.
    gh.fail(
        "/comments",
        "",
        422,
        serde_json::json!({"message": "Body is too long"}),
        None,
        1,
    );
    let (st, html, _) = b
        .post(&format!("/issues/{id}/comment"), &[("body", "x")])
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("Body is too long"), "{html}");

    // New issue form.
    let (_, html) = b.get("/issues/new").await;
    assert!(html.contains("webproj → GH"), "{html}");
    let link = format!("{project}:{}", page_url.rsplit('/').next().unwrap());
    let (st, _, loc) = b
        .post(
            "/issues/new",
            &[
                ("link", &link),
                ("title", "Made on the web"),
                ("labels", "web, ui"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (_, html) = b.get(&loc.unwrap()).await;
    assert!(
        html.contains("Made on the web") && html.contains(">web<") && html.contains(">ui<"),
        "{html}"
    );

    // A user outside the tenant sees none of its integrations.
    let plain_id = s
        .create_user("plain@example.com", "plain-password-1", false)
        .await;
    let p = Browser {
        s: &s,
        cookie: s.web_login("plain@example.com", "plain-password-1").await,
    };
    let (st, html) = p.get("/integrations").await;
    assert!(
        !html.contains("Webco") && st != StatusCode::INTERNAL_SERVER_ERROR,
        "{st}: {html}"
    );
    let (st, _) = p.get(&format!("/issues/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // As a viewer of the tenant they see its integrations (but not the token hint).
    s.add_member("tenants", tenant, plain_id, "viewer").await;
    let (st, html) = p.get("/integrations").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Webco") && !html.contains("••••"), "{html}");

    // Their own tracker settings: identities and a personal token (never shown back).
    let (st, html) = p.get("/account/trackers").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("identity-form") && html.contains("GH (Webco, github)"),
        "{html}"
    );
    let (st, html, _) = p
        .post(
            "/account/trackers/identity",
            &[
                ("github_username", "plainhub"),
                ("gitlab_username", ""),
                ("jira_account_id", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("Identities saved.") && html.contains("value=\"plainhub\""),
        "{html}"
    );
    let integ_id = page_url.rsplit('/').next().unwrap().to_string();
    let (st, html, _) = p
        .post(
            "/account/trackers/credentials",
            &[
                ("integration_id", &integ_id),
                ("api_token", "plain-personal-token"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("Token saved.") && !html.contains("plain-personal-token"),
        "{html}"
    );
    let (st, html, _) = p
        .post(
            "/account/trackers/credentials",
            &[("integration_id", &integ_id), ("api_token", "")],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("api_token is required"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn project_page_workspace_panel_clones_commits_and_pushes() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let s = Server::start();
    let tenant = s.create_tenant("Panel").await;
    let (_, v) = s
        .post(&s.admin_key, "/api/v1/projects", serde_json::json!({"name": "panel-repo", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}))
        .await;
    let id = v["project"]["id"].as_u64().unwrap();
    let b = Browser {
        s: &s,
        cookie: s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
    };
    let (_, html) = b.get(&format!("/projects/{id}")).await;
    assert!(
        html.contains(&format!("hx-get=\"/projects/{id}/workspace\"")),
        "{html}"
    );
    let (_, html) = b.get(&format!("/projects/{id}/workspace")).await;
    assert!(
        html.contains("Not cloned yet") && html.contains("workspace-init"),
        "{html}"
    );
    let (st, html, _) = b.post(&format!("/projects/{id}/workspace/init"), &[]).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("Cloned into")
            && html.contains("Working tree clean.")
            && html.contains("initial"),
        "{html}"
    );
    let path = std::path::PathBuf::from(
        s.get(
            &s.admin_key,
            &format!("/api/v1/projects/{id}/workspace/status"),
        )
        .await
        .1["path"]
            .as_str()
            .unwrap(),
    );
    std::fs::write(path.join("web.txt"), "from the web").unwrap();
    let (_, html) = b.get(&format!("/projects/{id}/workspace")).await;
    assert!(html.contains("?? web.txt"), "{html}");
    let (st, html, _) = b
        .post(
            &format!("/projects/{id}/workspace/commit"),
            &[("message", "Web <commit>"), ("files", "")],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("Committed ")
            && html.contains("Web &lt;commit&gt;")
            && html.contains("1 ahead"),
        "{html}"
    );
    let (st, html, _) = b.post(&format!("/projects/{id}/workspace/push"), &[]).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("Push completed.") && html.contains("git-output"),
        "{html}"
    );
    assert_eq!(
        crate::git::sh_git(&bare, &["log", "-1", "--format=%s", "main"]),
        "Web <commit>"
    );
    let (st, html, _) = b
        .post(
            &format!("/projects/{id}/workspace/branch"),
            &[("name", "bad..name"), ("mode", "create")],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("Invalid branch name"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_keys_page_generates_assigns_and_pins_host_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start();
    let tenant = s.create_tenant("Keys").await;
    let pid = s.create_project(&s.admin_key, "keyed", tenant).await;
    let b = Browser {
        s: &s,
        cookie: s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
    };
    let (st, html) = b.get("/ssh-keys").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("No SSH keys yet") && html.contains("href=\"/ssh-keys\""),
        "{html}"
    );
    let t = tenant.to_string();
    let (st, html, _) = b
        .post(
            "/ssh-keys",
            &[
                ("name", "web-deploy"),
                ("tenant_id", t.as_str()),
                ("private_key_content", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("ssh-created-public") && html.contains("ssh-ed25519 AAAA"),
        "{html}"
    );
    assert!(
        !html.contains("PRIVATE KEY"),
        "the private half is never shown"
    );
    let keys = s.get(&s.admin_key, "/api/v1/admin/ssh-keys").await.1;
    let key_id = keys["ssh_keys"][0]["id"].as_u64().unwrap().to_string();
    let p = pid.to_string();
    let (st, html, _) = b
        .post(
            "/ssh-keys/assign",
            &[("project_id", p.as_str()), ("ssh_key_id", key_id.as_str())],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("now uses SSH key {key_id}")),
        "{html}"
    );
    let proj = s
        .get(&s.admin_key, &format!("/api/v1/projects/{pid}"))
        .await
        .1;
    assert_eq!(
        proj["project"]["ssh_key_id"].as_u64().unwrap().to_string(),
        key_id
    );
    // A bad upload shows the reason and keeps the form.
    let (st, html, _) = b
        .post(
            "/ssh-keys",
            &[
                ("name", "junk"),
                ("tenant_id", ""),
                ("private_key_content", "nope"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("not a private key"), "{html}");

    // Check a real sshd's host key, then pin it.
    let sshd = crate::ssh::Sshd::start(&tmp.path().join("sshd"), &[], None);
    let fp = crate::ssh::ssh_fingerprint(&sshd.host_key.with_extension("pub"));
    let port = sshd.port.to_string();
    let (_, html, _) = b
        .post(
            "/known-hosts/scan",
            &[("host", "127.0.0.1"), ("port", port.as_str())],
        )
        .await;
    assert!(html.contains(&fp) && html.contains(": unknown."), "{html}");
    let (_, html, _) = b
        .post(
            "/known-hosts/scan",
            &[("host", "127.0.0.1"), ("port", port.as_str()), ("pin", "1")],
        )
        .await;
    assert!(html.contains(": trusted."), "{html}");
    assert!(
        html.contains(&format!("[127.0.0.1]:{port}")) && html.contains("pinned"),
        "{html}"
    );
    let (_, html, _) = b.post("/known-hosts/tofu", &[("state", "off")]).await;
    assert!(html.contains("Trust on first use is off."), "{html}");

    // Not for non-admins.
    s.create_user("eve@example.com", "eve-password-1", false)
        .await;
    let eve = Browser {
        s: &s,
        cookie: s.web_login("eve@example.com", "eve-password-1").await,
    };
    let (st, _) = eve.get("/ssh-keys").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Every `href`/`src` value in a page that starts with `prefix`.
fn links(html: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for part in html.split(attr).skip(1) {
            let v = &part[..part.find('"').unwrap_or(0)];
            if v.starts_with(prefix) {
                out.push(v.replace("&amp;", "&"));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn installable_app_favicon_manifest_and_service_worker() {
    let s = Server::start();
    let get = |path: &str| s.client.get(s.url(path)).send();
    // The favicon, on no page a 404 any more.
    let resp = get("/favicon.ico").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(&resp, "content-type").starts_with("image/"));
    assert!(!resp.bytes().await.unwrap().is_empty());

    // The manifest, and its icons answer with images.
    let resp = get("/manifest.webmanifest").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(&resp, "content-type").starts_with("application/manifest+json"));
    let m: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(m["name"], "aiops");
    assert_eq!(m["short_name"], "aiops");
    assert_eq!(m["start_url"], "/");
    assert_eq!(m["display"], "standalone");
    assert!(m["theme_color"].as_str().unwrap().starts_with('#'));
    assert!(m["background_color"].as_str().unwrap().starts_with('#'));
    let icons = m["icons"].as_array().unwrap();
    for size in ["192x192", "512x512"] {
        assert!(icons.iter().any(|i| i["sizes"] == size), "{size} icon");
    }
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let resp = get(src).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{src}");
        assert_eq!(
            header(&resp, "content-type"),
            icon["type"].as_str().unwrap(),
            "{src}"
        );
    }

    // The service worker, at the root so that its scope can be the whole app.
    let resp = get("/sw.js").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.url().path(), "/sw.js");
    assert!(header(&resp, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&resp, "cache-control"), "no-cache");
    let sw = resp.text().await.unwrap();
    assert!(
        sw.contains("\"/api/\"") && sw.contains("\"/streams/\""),
        "skips API and streams"
    );
    assert!(sw.contains("req.method !== \"GET\""), "skips POSTs");
    // Everything it precaches exists, the offline page among it.
    let list = &sw[sw.find("const PRECACHE = ").unwrap() + 17..];
    let list: Vec<String> = serde_json::from_str(&list[..list.find(";\n").unwrap()]).unwrap();
    assert!(
        list.iter()
            .any(|u| u.starts_with("/assets/offline.html?v="))
    );
    for url in &list {
        assert_eq!(get(url).await.unwrap().status(), StatusCode::OK, "{url}");
    }
    let offline = get("/assets/offline.html")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(offline.contains("You are offline — aiops will reload when the connection is back"));
    assert!(!offline.contains("<script>"), "no inline script");

    // The app registers it.
    let js = get("/assets/app.js").await.unwrap().text().await.unwrap();
    assert!(
        js.contains("'serviceWorker' in navigator")
            || js.contains("\"serviceWorker\" in navigator")
    );
    assert!(js.contains("register(\"/sw.js\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_link_the_manifest_and_icons_and_assets_are_versioned_and_long_cached() {
    let s = Server::start();
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut assets = Vec::new();
    for (path, logged_in) in [
        ("/login", false),
        ("/", true),
        ("/projects", true),
        ("/issues", true),
        ("/users", true),
        ("/no-such-page", true),
    ] {
        let mut req = s.client.get(s.url(path));
        if logged_in {
            req = req.header("cookie", format!("aiops_session={cookie}"));
        }
        let html = req.send().await.unwrap().text().await.unwrap();
        assert!(
            html.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#),
            "{path}"
        );
        assert!(html.contains(r#"<link rel="icon""#), "{path}");
        assert!(html.contains(r#"<link rel="apple-touch-icon""#), "{path}");
        assert!(html.contains(r#"<meta name="theme-color""#), "{path}");
        let found = links(&html, "/assets/");
        assert!(found.len() >= 5, "{path}: {found:?}");
        assets.extend(found);
    }
    assets.sort();
    assets.dedup();
    for url in &assets {
        if url.starts_with("/assets/icons/") {
            continue;
        }
        assert!(url.contains("?v="), "versioned: {url}");
        let resp = s.client.get(s.url(url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(
            header(&resp, "cache-control"),
            "public, max-age=31536000, immutable",
            "{url}"
        );
    }
    // Unversioned URLs are cached for an hour and revalidated by ETag.
    let resp = s.client.get(s.url("/assets/app.css")).send().await.unwrap();
    assert_eq!(header(&resp, "cache-control"), "public, max-age=3600");
    let etag = header(&resp, "etag");
    assert!(!etag.is_empty());
    let resp = s
        .client
        .get(s.url("/assets/app.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_fits_phones_links_back_and_caches_its_bundle() {
    let s = Server::start();
    let resp = s.client.get(s.url("/api/docs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    assert!(html.contains(r#"<a class="aiops-back" href="/">← aiops</a>"#));
    assert!(!html.contains("<script>"), "no inline script");
    let files = links(&html, "/api/docs/");
    assert!(
        files.iter().any(|u| u.contains("swagger-ui-bundle.js?v=")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|u| u.contains("swagger-ui.css?v=")),
        "{files:?}"
    );
    for url in files {
        let resp = s.client.get(s.url(&url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        if url.contains("?v=") {
            assert_eq!(
                header(&resp, "cache-control"),
                "public, max-age=31536000, immutable",
                "{url}"
            );
        }
        assert!(!resp.text().await.unwrap().is_empty(), "{url}");
    }
    // The start script loads the document, which is public.
    let resp = s
        .client
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
