//! Agent tool management (issue 18): the system page shows each configured tool's installed
//! version (`<tool> --version`); `aiops system update-ai-tool NAME` (and the page's button) runs
//! the tool's own configured update command. The "tool" is a script whose version lives in a
//! file; its update command is another script that bumps it (no network). Admins only: a
//! non-admin's API call and web post get 403 and nothing runs (control: the admin's run).

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

async fn system_page(s: &Server, cookie: &str) -> (StatusCode, String) {
    let r = s
        .client
        .get(s.url("/admin/system"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sees_tool_versions_and_updates_a_tool_with_its_own_command() {
    let tmp = tempfile::tempdir().unwrap();
    let version = tmp.path().join("version");
    std::fs::write(&version, "1.0.0").unwrap();
    let tool = tmp.path().join("faketool");
    script(
        &tool,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo \"faketool $(cat {})\"; exit 0; fi\nexec sleep 600\n",
            version.display()
        ),
    );
    let update = tmp.path().join("update-faketool");
    script(
        &update,
        &format!(
            "#!/bin/sh\necho 2.0.0 > {}\necho upgraded faketool to 2.0.0\n",
            version.display()
        ),
    );
    let tools = format!("faketool={}", tool.display());
    let updates = format!("faketool={}", update.display());
    let s = Server::start_with(&[
        ("AIOPS_TOOLS", tools.as_str()),
        ("AIOPS_AI_TOOL_UPDATE_COMMANDS", updates.as_str()),
    ]);

    // The admin's system page shows the installed version and an Update button.
    let admin = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (st, html) = system_page(&s, &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("faketool 1.0.0"), "version shown");
    assert!(
        html.contains("/admin/system/tools/faketool/update"),
        "update button"
    );

    // ---- attack: a non-admin cannot run the update (API and web), nothing runs -------------
    s.create_user("dev@example.com", "dev-password-123", false)
        .await;
    let key = s
        .user_key("dev@example.com", "dev-password-123", &["read", "write"])
        .await;
    let (st, v) = s
        .post(&key, "/api/v1/system/ai-tools/faketool/update", json!({}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let dev = s.web_login("dev@example.com", "dev-password-123").await;
    let r = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("aiops_session={dev}"))
        .send()
        .await
        .unwrap();
    let csrf = page_csrf(&r.text().await.unwrap()).unwrap();
    let r = s
        .client
        .post(s.url("/admin/system/tools/faketool/update"))
        .header("cookie", format!("aiops_session={dev}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "1.0.0");

    // ---- control: the admin's CLI runs it and shows its output -----------------------------
    let out = cli_ok(&s, &["system", "update-ai-tool", "faketool"]);
    assert!(out.contains("Updating faketool..."), "{out}");
    assert!(out.contains("upgraded faketool to 2.0.0"), "{out}");
    assert_eq!(std::fs::read_to_string(&version).unwrap().trim(), "2.0.0");
    let (_, html) = system_page(&s, &admin).await;
    assert!(html.contains("faketool 2.0.0"), "new version shown");

    // The API names the command and the outcome; an unknown tool is 404.
    let v = ok(
        &s,
        &s.admin_key,
        Method::POST,
        "/api/v1/system/ai-tools/faketool/update",
        Some(json!({})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["result"]["source"], "command", "{v}");
    let (st, _) = s
        .post(
            &s.admin_key,
            "/api/v1/system/ai-tools/nosuch/update",
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // ---- the page's button: a background job whose output the page polls until it ends -----
    std::fs::write(&version, "1.5.0").unwrap();
    let r = s
        .client
        .get(s.url("/admin/system"))
        .header("cookie", format!("aiops_session={admin}"))
        .send()
        .await
        .unwrap();
    let csrf = page_csrf(&r.text().await.unwrap()).unwrap();
    let r = s
        .client
        .post(s.url("/admin/system/tools/faketool/update"))
        .header("cookie", format!("aiops_session={admin}"))
        .header("hx-request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut frag = r.text().await.unwrap();
    let poll = |f: &str| {
        f.split("hx-get=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(String::from)
    };
    let job_url = poll(&frag).expect("the started job's fragment polls its job");
    assert!(frag.contains("Updating faketool"), "{frag}");
    // A non-admin cannot read the job (attack); the admin can (below).
    let r = s
        .client
        .get(s.url(&job_url))
        .header("cookie", format!("aiops_session={dev}"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while let Some(url) = poll(&frag) {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never ended: {frag}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = s
            .client
            .get(s.url(&url))
            .header("cookie", format!("aiops_session={admin}"))
            .header("hx-request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        frag = r.text().await.unwrap();
    }
    assert!(frag.contains("command succeeded"), "{frag}");
    assert!(
        frag.contains("upgraded faketool to 2.0.0"),
        "its output: {frag}"
    );
    assert_eq!(std::fs::read_to_string(&version).unwrap().trim(), "2.0.0");
}
