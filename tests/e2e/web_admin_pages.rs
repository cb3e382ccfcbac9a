//! Two admin/maintainer pages of the original web UI (issue 16, item 11): the users' tracker
//! identities (`/admin/identities`, administrators) and a project's agent instructions
//! (`/projects/{id}/agents-md`: maintainers edit, members read), with the file an agent then gets.

use crate::git::seeded_bare;
use crate::harness::*;
use crate::sessions::FAKE_AGENT;
use crate::webdriver::Driver;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// A logged-in browser-like client: its session cookie and CSRF token.
struct Web<'a> {
    s: &'a Server,
    cookie: String,
    csrf: String,
}

impl<'a> Web<'a> {
    async fn login(s: &'a Server, email: &str, password: &str) -> Web<'a> {
        let cookie = s.web_login(email, password).await;
        let mut w = Web {
            s,
            cookie,
            csrf: String::new(),
        };
        let (_, html) = w.get("/").await;
        w.csrf = page_csrf(&html).expect("the dashboard carries a CSRF token");
        w
    }

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

    /// A form post as htmx sends it, with this session's own CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = self
            .s
            .client
            .post(self.s.url(path))
            .header("cookie", format!("aiops_session={}", self.cookie))
            .header("hx-request", "true")
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// Every visible button, input and link inside `css` is at least 44 px tall.
async fn assert_targets(d: &Driver, css: &str) {
    let small = d
        .script(&format!(
            "return [...document.querySelectorAll({})].filter(e => e.offsetParent !== null && e.type !== 'hidden')
               .map(e => [e.tagName + '#' + e.id + '.' + e.className, e.getBoundingClientRect().height])
               .filter(x => x[1] < 44)",
            serde_json::to_string(css).unwrap()
        ))
        .await;
    assert_eq!(small, json!([]), "targets under 44 px: {small}");
}

async fn github_of(s: &Server, user: u64) -> serde_json::Value {
    let (st, v) = s
        .get(&s.admin_key, &format!("/api/v1/users/{user}/identity"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["identity"]["github_username"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_edits_identities_in_place_and_nobody_else_can() {
    let s = Server::start();
    let bob = s.create_user("bob@x.test", "bob-password-1", false).await;
    let dev = s.create_user("dev@x.test", "dev-password-1", false).await;

    // The admin, on a phone: bob's card, his GitHub login typed in, saved, the outcome shown.
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/users")).await;
    d.click("#identities-link").await;
    let card = format!("#identity-{bob}");
    d.find(&card).await;
    d.type_into(&format!("{card} input[name=github_username]"), "bob-gh")
        .await;
    d.type_into(&format!("{card} input[name=jira_account_id]"), "5b10ac8d")
        .await;
    d.click(&format!("{card} .identity-save")).await;
    d.wait_text(&card, "Saved identities of bob@x.test").await;
    assert_eq!(github_of(&s, bob).await, "bob-gh");
    let (_, v) = s
        .get(&s.admin_key, &format!("/api/v1/users/{bob}/identity"))
        .await;
    assert_eq!(v["identity"]["jira_account_id"], "5b10ac8d", "{v}");
    assert_eq!(v["identity"]["gitlab_username"], json!(null), "{v}");
    // The saved values are in the re-rendered card.
    let val = d
        .script(&format!(
            "return document.querySelector('{card} input[name=github_username]').value"
        ))
        .await;
    assert_eq!(val, "bob-gh");
    d.assert_fits("the identities page at 390 px").await;
    assert_targets(&d, "#identities-section button, #identities-section input").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/identities-390.png").await;

    // The filter keeps the users whose email or name matches.
    assert_eq!(d.count("article.identity").await, 3);
    d.type_into("#identity-q", "bob").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.count("article.identity").await != 1 {
        assert!(Instant::now() < deadline, "the filter never left one card");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    d.find(&card).await;
    {
        let wide = Driver::start(false).await;
        wide.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        wide.goto(&s.url("/admin/identities")).await;
        wide.find(&card).await;
        wide.assert_fits("the identities page at 1366 px").await;
        wide.screenshot("target/screenshots/identities-1366.png")
            .await;
    }

    // A value the API refuses is refused here too, with the reason on the card; nothing saved.
    let admin = Web::login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let long = "x".repeat(256);
    let (st, html) = admin
        .post(
            &format!("/admin/identities/{bob}"),
            &[
                ("github_username", long.as_str()),
                ("gitlab_username", "bob-gl"),
                ("jira_account_id", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("Nothing was saved"), "{html}");
    assert!(html.contains("at most 255"), "{html}");
    assert_eq!(github_of(&s, bob).await, "bob-gh");

    // Attack: a developer with a valid session and their own CSRF token.
    let devw = Web::login(&s, "dev@x.test", "dev-password-1").await;
    let (st, _) = devw.get("/admin/identities").await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    for target in [bob, dev] {
        let (st, html) = devw
            .post(
                &format!("/admin/identities/{target}"),
                &[
                    ("github_username", "evil"),
                    ("gitlab_username", ""),
                    ("jira_account_id", ""),
                ],
            )
            .await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
            "{st} {html}"
        );
        assert!(!html.contains("Saved identities"), "{html}");
    }
    assert_eq!(github_of(&s, bob).await, "bob-gh");
    assert_eq!(github_of(&s, dev).await, json!(null));
    // A forged post without the session's token changes nothing either.
    let r = s
        .client
        .post(s.url(&format!("/admin/identities/{bob}")))
        .header("cookie", format!("aiops_session={}", admin.cookie))
        .form(&[("csrf_token", "forged"), ("github_username", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(github_of(&s, bob).await, "bob-gh");

    // Control: the admin's post works (a blank field clears it).
    let (st, html) = admin
        .post(
            &format!("/admin/identities/{bob}"),
            &[
                ("github_username", " bob-gh2 "),
                ("gitlab_username", "bob-gl"),
                ("jira_account_id", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Saved identities of bob@x.test"), "{html}");
    let (_, v) = s
        .get(&s.admin_key, &format!("/api/v1/users/{bob}/identity"))
        .await;
    assert_eq!(v["identity"]["github_username"], "bob-gh2", "{v}");
    assert_eq!(v["identity"]["gitlab_username"], "bob-gl", "{v}");
    assert_eq!(v["identity"]["jira_account_id"], json!(null), "{v}");
    // The Integrations page links here for admins (it needs a tenant to show).
    s.create_tenant("acme").await;
    let (_, html) = admin.get("/integrations").await;
    assert!(html.contains("href=\"/admin/identities\""), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn maintainers_write_project_instructions_members_read_them_agents_get_them() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let agent = tmp.path().join("fake-agent.sh");
    std::fs::write(&agent, FAKE_AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let s = Server::start_with(&[("AIOPS_TOOLS", tools.as_str())]);
    let tenant = s.create_tenant("acme").await;
    let maint = s
        .create_user("maint@x.test", "maint-password-1", false)
        .await;
    let dev = s.create_user("dev@x.test", "dev-password-1", false).await;
    s.create_user("out@x.test", "out-password-1", false).await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "shop", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant, "owner_id": maint}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    s.add_member("projects", p, dev, "developer").await;
    ok(
        &s,
        &s.admin_key,
        Method::PUT,
        "/api/v1/agents/global",
        Some(json!({"content": "Global rule: run the tests."})),
    )
    .await;
    let page = format!("/projects/{p}/agents-md");
    let api = format!("/api/v1/projects/{p}/agents/context");

    // The maintainer, on a phone: from the project page to the editor; saves; sees the file.
    let text = "Use pnpm, never npm.\n<script>alert(1)</script>";
    let d = Driver::start(true).await;
    d.login(&s, "maint@x.test", "maint-password-1").await;
    d.goto(&s.url(&format!("/projects/{p}"))).await;
    d.assert_fits("the project page at 390 px").await;
    assert_targets(&d, "#project-agents-md").await;
    d.click("#project-agents-md").await;
    d.find("#agents-md-form").await;
    d.type_into("#agents-md-content", text).await;
    d.click("#agents-md-save").await;
    d.wait_text("#agents-md-section", "Saved the agent instructions of shop")
        .await;
    let preview = d.text_of("#agents-md-preview").await;
    let g = preview.find("Global rule: run the tests.");
    let pr = preview.find("## Project Instructions (shop)");
    let t = preview.find("Use pnpm, never npm.");
    let i = preview.find("## Current Issue Context");
    assert!(
        g.is_some() && g < pr && pr < t && t < i,
        "global, project, issue in that order: {preview}"
    );
    assert!(preview.contains("<script>alert(1)</script>"), "{preview}");
    assert_eq!(d.count("#agents-md-preview script").await, 0);
    d.assert_fits("the agent instructions page at 390 px").await;
    assert_targets(&d, "#agents-md-section button").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/agents-md-390.png").await;
    {
        let wide = Driver::start(false).await;
        wide.login(&s, "maint@x.test", "maint-password-1").await;
        wide.goto(&s.url(&page)).await;
        wide.find("#agents-md-preview").await;
        wide.assert_fits("the agent instructions page at 1366 px")
            .await;
        wide.screenshot("target/screenshots/agents-md-1366.png")
            .await;
    }
    let stored = |v: &serde_json::Value| v["content"].as_str().unwrap_or_default().to_string();
    let (st, v) = s.get(&s.admin_key, &api).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        stored(&v),
        text,
        "stored as given (line endings normalised)"
    );
    assert_eq!(v["updated_by"]["email"], "maint@x.test", "{v}");

    // Too long: a clear refusal, the text kept in the form, nothing changed.
    let maintw = Web::login(&s, "maint@x.test", "maint-password-1").await;
    let long = "x".repeat(40_000);
    let (st, html) = maintw.post(&page, &[("content", long.as_str())]).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("32 KiB"), "{html}");
    assert!(html.contains(&long), "the text sent is kept");
    assert_eq!(stored(&s.get(&s.admin_key, &api).await.1), text);

    // A developer of the project reads them (escaped), without a form, and cannot save.
    let devw = Web::login(&s, "dev@x.test", "dev-password-1").await;
    let (st, html) = devw.get(&page).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Read only"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("agents-md-form"), "{html}");
    let (st, _) = devw.post(&page, &[("content", "hacked")]).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    {
        let d = Driver::start(true).await;
        d.login(&s, "dev@x.test", "dev-password-1").await;
        d.goto(&s.url(&format!("/projects/{p}"))).await;
        d.click("#project-agents-md").await;
        d.wait_text("#agents-md-content", "Use pnpm, never npm.")
            .await;
        assert_eq!(d.count("#agents-md-form").await, 0);
        d.assert_fits("the read-only agent instructions at 390 px")
            .await;
        d.screenshot("target/screenshots/agents-md-readonly-390.png")
            .await;
    }
    let dev_key = s
        .user_key("dev@x.test", "dev-password-1", &["read", "write"])
        .await;
    let (st, v) = s.get(&dev_key, &api).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["can_edit"], false, "{v}");
    let (st, v) = s
        .call(
            &dev_key,
            Method::PUT,
            &api,
            Some(json!({"content": "hacked"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(stored(&s.get(&s.admin_key, &api).await.1), text);

    // No membership: not found, like a missing project (page, post and API).
    let outw = Web::login(&s, "out@x.test", "out-password-1").await;
    let (st, _) = outw.get(&page).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = outw.post(&page, &[("content", "hacked")]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let out_key = s
        .user_key("out@x.test", "out-password-1", &["read", "write"])
        .await;
    let (st, _) = s.get(&out_key, &api).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(stored(&s.get(&s.admin_key, &api).await.1), text);

    // Control: the maintainer's API write works.
    let maint_key = s
        .user_key("maint@x.test", "maint-password-1", &["read", "write"])
        .await;
    let text2 = "Use pnpm, never npm.\r\nRun `make check` before pushing.";
    let (st, v) = s
        .call(
            &maint_key,
            Method::PUT,
            &api,
            Some(json!({"content": text2})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "Project agent instructions updated", "{v}");
    assert_eq!(v["can_edit"], true, "{v}");
    assert_eq!(stored(&v), text2.replace("\r\n", "\n"));

    // An agent the developer starts in the project gets global + project text.
    let (st, v) = s
        .post(
            &dev_key,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let ws = std::path::PathBuf::from(v["workspace_path"].as_str().expect("workspace_path"));
    let file = std::fs::read_to_string(ws.join("AGENTS.override.md")).unwrap();
    let g = file.find("Global rule: run the tests.");
    let pr = file.find("## Project Instructions (shop)");
    let t = file.find("Run `make check` before pushing.");
    let i = file.find("<!-- issue-context:start -->");
    assert!(
        g == Some(0) && g < pr && pr < t && t < i,
        "global, project, issue in that order: {file}"
    );
    // The preview is that file.
    let (_, v) = s.get(&dev_key, &api).await;
    assert_eq!(v["preview"].as_str().unwrap(), file);
    kill_tmux(&s.dir);
}
