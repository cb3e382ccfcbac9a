//! The workspace view on the web, in headless Chromium against a real bare repository (file
//! transport, git in the sandbox): changed files with their badges, tap a file for its
//! coloured diff (a phone-width page that never scrolls sideways, also as a whole page on
//! reload), the branch picker (create, check out, merge, a conflicting merge that is aborted,
//! delete), push to a named branch, and clean pull. Diff paths that try to leave the workspace
//! or pass an option get a 400 and read nothing. Screenshots: target/screenshots/workspace-*.

use crate::git::{seeded_bare, sh_git};
use crate::harness::*;
use crate::webdriver::Driver;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const LONG: &str = "a_very_long_identifier_without_any_space_that_would_push_a_phone_page_sideways_if_the_diff_did_not_wrap_inside_its_own_box_0123456789_0123456789_0123456789";

async fn project_with_workspace(s: &Server, bare: &Path) -> (u64, PathBuf) {
    let tenant = s.create_tenant("Workspace Co").await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "webws", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/workspace/init"),
            json!({}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let (_, v) = s
        .get(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/workspace/status"),
        )
        .await;
    (p, PathBuf::from(v["path"].as_str().unwrap()))
}

/// `[class, text]` of every line of the open diff.
async fn diff_lines(d: &Driver) -> Vec<(String, String)> {
    let v = d
        .script(
            "return [...document.querySelectorAll('#ws-diff-lines .dl')]
               .map(e => [e.className, e.textContent])",
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap_or_default().to_string(),
                p[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Answer every confirm() with yes, remembering the questions (htmx's hx-confirm asks there).
async fn accept_confirms(d: &Driver) {
    d.script(
        "window.__asked = window.__asked || [];
         window.confirm = m => { window.__asked.push(m); return true; }; return true",
    )
    .await;
}

async fn asked(d: &Driver) -> Vec<String> {
    let v = d.script("return window.__asked || []").await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

/// A screenshot of the viewport with `css` scrolled to its top (the full-page ones are tall).
async fn view_shot(d: &Driver, css: &str, path: &str) {
    d.script(&format!(
        "document.querySelector({}).scrollIntoView({{block: 'start'}}); window.scrollBy(0, -70); return true",
        serde_json::to_string(css).unwrap()
    ))
    .await;
    let b64 = d.cmd(reqwest::Method::GET, "/screenshot", None).await;
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        b64.as_str().expect("screenshot"),
    )
    .expect("base64 PNG");
    std::fs::write(path, png).unwrap();
}

/// Wait until nothing matches `css`.
async fn gone(d: &Driver, css: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while d.count(css).await > 0 {
        assert!(std::time::Instant::now() < deadline, "{css} is still there");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn notice(d: &Driver, needle: &str) {
    d.wait_text("#workspace-panel p.notice", needle).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workspace_view_diffs_branches_push_and_clean_pull_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let (p, ws) = project_with_workspace(&s, &bare).await;
    std::fs::write(
        ws.join("README.md"),
        format!("# Demo\nline 2 changed\n{LONG}\n"),
    )
    .unwrap();
    std::fs::write(ws.join("notes.txt"), "brand new\n").unwrap();
    let project = s.url(&format!("/projects/{p}"));

    // At phone width: both files with their badges, in words too.
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&project).await;
    d.find("#ws-files").await;
    assert_eq!(d.script("return window.innerWidth").await, 390);
    let files = d
        .script(
            "return [...document.querySelectorAll('#ws-files li')].map(li => {
               const b = li.querySelector('.ws-badge');
               return [b.textContent, b.getAttribute('aria-label'), b.className,
                       li.querySelector('.ws-file-path').textContent]; })",
        )
        .await;
    assert_eq!(
        files,
        json!([
            ["M", "Modified", "ws-badge chg-m", "README.md"],
            [
                "??",
                "Untracked (new, not added)",
                "ws-badge chg-u",
                "notes.txt"
            ]
        ]),
        "{files}"
    );
    let badge_colors = d
        .script(
            "return [...document.querySelectorAll('#ws-files .ws-badge')]
               .map(b => getComputedStyle(b).color)",
        )
        .await;
    assert_ne!(badge_colors[0], badge_colors[1], "badges are coloured");
    let link_height = d
        .script("return document.querySelector('a.ws-file-link').getBoundingClientRect().height")
        .await;
    assert!(link_height.as_f64().unwrap() >= 44.0, "{link_height}");
    d.assert_fits("workspace panel at 390 px").await;

    // Tap the modified file: its diff opens in the panel, each line classed and coloured.
    d.click("a.ws-file-link[href$='path=README.md']").await;
    d.find("#ws-diff-lines").await;
    let lines = diff_lines(&d).await;
    let has = |class: &str, text: &str| lines.iter().any(|(c, t)| c == class && t == text);
    assert!(has("dl del", "-line two"), "{lines:?}");
    assert!(has("dl add", "+line 2 changed"), "{lines:?}");
    assert!(has("dl add", &format!("+{LONG}")), "{lines:?}");
    assert!(has("dl ctx", " # Demo"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|(c, t)| c == "dl hunk" && t.starts_with("@@ -1,2 +1,3 @@")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(c, t)| c == "dl meta" && t == "diff --git a/README.md b/README.md"),
        "{lines:?}"
    );
    let colors = d
        .script(
            "const bg = s => getComputedStyle(document.querySelector(s)).backgroundColor;
             return [bg('#ws-diff-lines .dl.add'), bg('#ws-diff-lines .dl.del'), bg('#ws-diff-lines .dl.ctx')]",
        )
        .await;
    assert!(
        colors[0] != colors[1] && colors[0] != colors[2],
        "additions and removals have their own colours: {colors}"
    );
    assert!(
        d.current_url()
            .await
            .ends_with(&format!("/projects/{p}/workspace/diff?path=README.md")),
        "the diff has its own address"
    );
    d.assert_fits("diff at 390 px (a long line wraps inside its box)")
        .await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/workspace-diff-390.png")
        .await;
    view_shot(
        &d,
        "#ws-diff",
        "target/screenshots/workspace-diff-390-view.png",
    )
    .await;

    // The address loads the same diff as a whole page.
    d.goto(&s.url(&format!("/projects/{p}/workspace/diff?path=README.md")))
        .await;
    d.find("#ws-diff-lines").await;
    assert!(
        diff_lines(&d)
            .await
            .iter()
            .any(|(c, t)| c == "dl add" && t == "+line 2 changed")
    );
    // The new file: every line added.
    d.click("a.ws-file-link[href$='path=notes.txt']").await;
    d.wait_text("#ws-diff .ws-diff-path", "notes.txt").await;
    let lines = diff_lines(&d).await;
    assert!(
        lines
            .iter()
            .any(|(c, t)| c == "dl add" && t == "+brand new"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(c, t)| c == "dl meta" && t == "new file mode 100644"),
        "{lines:?}"
    );
    d.click("#ws-diff-close").await;
    gone(&d, "#ws-diff").await;
    d.find("#ws-files").await;
    assert!(d.current_url().await.ends_with(&format!("/projects/{p}")));

    // On a desktop.
    let wide = Driver::start(false).await;
    wide.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    wide.goto(&project).await;
    wide.click("a.ws-file-link[href$='path=README.md']").await;
    wide.find("#ws-diff-lines").await;
    wide.assert_fits("diff at 1366 px").await;
    wide.screenshot("target/screenshots/workspace-diff-1366.png")
        .await;
    view_shot(
        &wide,
        "#workspace-panel",
        "target/screenshots/workspace-diff-1366-view.png",
    )
    .await;
    drop(wide);

    // Merging with uncommitted changes is refused (a failed merge could not be undone cleanly).
    accept_confirms(&d).await;
    d.type_into("#ws-new-branch", "feature/web").await;
    d.click("#ws-switch").await; // create only
    d.click("#ws-create-branch").await;
    notice(&d, "Created branch feature/web.").await;
    d.wait_text("#ws-branch", "main").await;
    accept_confirms(&d).await;
    d.select("#ws-merge-branch", "feature/web").await;
    d.click("#ws-merge").await;
    d.wait_text("#workspace-panel p.error", "uncommitted changes (README.md")
        .await;

    // Clean pull (after a confirmation) discards the change and the new file.
    accept_confirms(&d).await;
    d.click("#ws-clean-pull").await;
    notice(&d, "Clean pull completed").await;
    d.find("#ws-clean").await;
    assert!(
        asked(&d)
            .await
            .iter()
            .any(|q| q.contains("discards every uncommitted change")),
        "clean pull asks first"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("README.md")).unwrap(),
        "# Demo\nline two\n"
    );
    assert!(!ws.join("notes.txt").exists());

    // Check the new branch out from the picker, commit on it, push it to a named branch.
    d.select("#ws-checkout-branch", "feature/web").await;
    d.click("#ws-checkout").await;
    notice(&d, "Switched to feature/web.").await;
    d.wait_text("#ws-branch", "feature/web").await;
    std::fs::write(ws.join("feature.txt"), "from the branch\n").unwrap();
    d.type_into("#ws-commit-form input[name=message]", "Feature commit")
        .await;
    d.click("#ws-commit").await;
    notice(&d, "Committed ").await;
    d.type_into("#ws-push-form input[name=ref]", "review/web")
        .await;
    d.click("#ws-push").await;
    notice(&d, "Push completed. Pushed to origin/review/web.").await;
    assert_eq!(
        sh_git(&bare, &["rev-parse", "review/web"]),
        sh_git(&ws, &["rev-parse", "HEAD"]),
        "the push landed in the bare repository under the named branch"
    );
    assert_eq!(
        sh_git(&bare, &["log", "-1", "--format=%s", "review/web"]),
        "Feature commit"
    );

    // Back to main, merge the branch in (after a confirmation), delete it.
    d.select("#ws-checkout-branch", "main").await;
    d.click("#ws-checkout").await;
    notice(&d, "Switched to main.").await;
    accept_confirms(&d).await;
    d.select("#ws-merge-branch", "feature/web").await;
    d.click("#ws-merge").await;
    notice(&d, "Merged feature/web into the current branch.").await;
    assert!(ws.join("feature.txt").exists());
    assert_eq!(
        sh_git(&ws, &["log", "-1", "--format=%s", "main"]),
        "Feature commit"
    );
    assert!(
        asked(&d)
            .await
            .iter()
            .any(|q| q == "Merge the selected branch into main?"),
        "{:?}",
        asked(&d).await
    );
    accept_confirms(&d).await;
    d.select("#ws-delete-branch", "feature/web").await;
    d.click("#ws-delete").await;
    notice(&d, "Deleted branch feature/web.").await;
    assert!(
        asked(&d)
            .await
            .iter()
            .any(|q| q.starts_with("Delete the selected"))
    );
    assert_eq!(sh_git(&ws, &["branch", "--list", "feature/web"]), "");

    // A merge that conflicts is aborted and says so; nothing is left half-merged.
    sh_git(&ws, &["checkout", "-q", "-b", "clash"]);
    std::fs::write(ws.join("README.md"), "# Demo\nclash side\n").unwrap();
    sh_git(&ws, &["commit", "-q", "-am", "clash"]);
    sh_git(&ws, &["checkout", "-q", "main"]);
    std::fs::write(ws.join("README.md"), "# Demo\nmain side\n").unwrap();
    sh_git(&ws, &["commit", "-q", "-am", "main side"]);
    let before = sh_git(&ws, &["rev-parse", "HEAD"]);
    d.goto(&project).await;
    d.find("#ws-merge-branch").await;
    accept_confirms(&d).await;
    d.select("#ws-merge-branch", "clash").await;
    d.click("#ws-merge").await;
    d.wait_text(
        "#workspace-panel p.error",
        "stopped on conflicts in README.md; the merge was aborted",
    )
    .await;
    assert_eq!(sh_git(&ws, &["status", "--porcelain"]), "", "no half merge");
    assert_eq!(sh_git(&ws, &["rev-parse", "HEAD"]), before);
    assert!(!ws.join(".git/MERGE_HEAD").exists());
    d.find("#ws-clean").await;
    d.assert_fits("panel after the refusals at 390 px").await;
    d.screenshot("target/screenshots/workspace-panel-390.png")
        .await;
    view_shot(
        &d,
        "#ws-sync-title",
        "target/screenshots/workspace-branches-390-view.png",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_paths_outside_the_workspace_or_like_options_are_refused_and_read_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seeded_bare(tmp.path());
    let s = Server::start();
    let (p, ws) = project_with_workspace(&s, &bare).await;
    std::fs::write(ws.join("README.md"), "# Demo\nchanged here\n").unwrap();
    std::os::unix::fs::symlink("/etc", ws.join("etc-link")).unwrap();
    let secret = tmp.path().join("outside.txt");
    std::fs::write(&secret, "TOP-SECRET-OUTSIDE\n").unwrap();
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let get = |path: String| {
        let req = s
            .client
            .get(s.url(&format!("/projects/{p}/workspace/diff")))
            .query(&[("path", path)])
            .header("cookie", format!("aiops_session={cookie}"));
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let output = tmp.path().join("written-by-git");
    let depth = "../".repeat(ws.components().count());
    for (path, why) in [
        ("../../etc/passwd".to_string(), "'..' is not allowed"),
        (format!("{depth}etc/passwd"), "'..' is not allowed"),
        ("/etc/passwd".to_string(), "absolute paths are not allowed"),
        (
            secret.to_str().unwrap().to_string(),
            "absolute paths are not allowed",
        ),
        (
            format!("--output={}", output.display()),
            "could be read as an option",
        ),
        ("etc-link/passwd".to_string(), "leads outside the workspace"),
        (".git/config".to_string(), "not accessible"),
    ] {
        let (st, html) = get(path.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {html}");
        assert!(html.contains(why), "{path}: says why ({why}): {html}");
        assert!(
            !html.contains("root:x:0:0")
                && !html.contains("TOP-SECRET")
                && !html.contains("repositoryformatversion"),
            "{path}: nothing read"
        );
        assert!(html.contains("id=\"ws-files\""), "the panel is still there");
    }
    assert!(!output.exists(), "no option reached git");
    // Control: a file of the workspace shows its diff.
    let (st, html) = get("README.md".into()).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("<span class=\"dl add\">+changed here</span>")
            && html.contains("<span class=\"dl del\">-line two</span>"),
        "{html}"
    );
    assert!(!html.contains("ws-diff-truncated"), "a small diff is whole");
    // A huge new file: the diff stops at 512 KB and says so.
    let big: String = (0..120_000).map(|i| format!("line {i}\n")).collect();
    assert!(big.len() > 900 * 1024);
    std::fs::write(ws.join("big.txt"), &big).unwrap();
    let (st, html) = get("big.txt".into()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("id=\"ws-diff-truncated\"") && html.contains("Diff truncated"),
        "truncation is shown"
    );
    assert!(html.contains("+line 1000\n") || html.contains(">+line 1000<"));
    assert!(!html.contains(">+line 119999<"), "the end was cut");
    // A path without changes, and the API's diff refuses the option-like path too.
    let (st, html) = get("src/lib.rs".into()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("No changes in"), "{html}");
    let (st, v): (StatusCode, Value) = s
        .get(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/git/diff?path=..%2F..%2Fetc%2Fpasswd"),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}
