//! The app shell and every page's layout in headless Chromium, at 390 (phone), 820 (tablet)
//! and 1366 px (laptop), logged in as an administrator and as a developer, on a store with
//! data: 2 tenants, projects, 10,000 issues (an `aiops import-sqlite` of a database in the
//! original's schema), a running agent and an Ansible run. On every GET page: no sideways page
//! scroll; every button, link and state label inside the viewport horizontally and not cut by
//! a scrolling box (a table); every visible button and link at least 44 px tall below 1024 px.
//! Also: the grouped navigation (side bar / drawer, the current page marked, no admin entries
//! for developers), the 404 page with navigation, htmx fragments, and screenshots of the main
//! pages into target/screenshots/shell-*.png.

use crate::git::seeded_bare;
use crate::harness::*;
use crate::import::{ADMIN_KEY, FIRST_ISSUE, build_db_sized};
use crate::sessions::FAKE_AGENT;
use crate::webdriver::Driver;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const N_ISSUES: usize = 10_000;
const IMPORTED_ADMIN: &str = "admin@example.com";
const IMPORTED_ADMIN_PASSWORD: &str = "old-admin-pass";
const DEV_EMAIL: &str = "dev@example.com";
const DEV_PASSWORD: &str = "developer-pass-1";
/// The imported tenant, project and integration (see import.rs).
const TENANT: u64 = 1;
const PROJECT: u64 = 5;
const INTEGRATION: u64 = 3;

struct Seeded {
    s: Server,
    _tmp: tempfile::TempDir,
    dev: u64,
    agent: u64,
    run: Option<u64>,
}

/// The imported store plus a second tenant, a project with a real repository and an agent on
/// it (fake tool), a developer in tenant 1, and an Ansible run.
async fn seeded() -> Seeded {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db_sized(tmp.path(), N_ISSUES);
    let data = tmp.path().join("data");
    let out = Command::new(BIN)
        .arg("import-sqlite")
        .arg("--data-dir")
        .arg(&data)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = tmp.path().join("fake-agent.sh");
    std::fs::write(&agent, FAKE_AGENT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = format!("fake={}", agent.display());
    let mut s = Server::spawn(&data, &[("AIOPS_TOOLS", tools.as_str())]);
    s.admin_key = ADMIN_KEY.to_string();
    let second = s.create_tenant("Globex Corporation International").await;
    s.create_project(&s.admin_key, "Globex storefront", second)
        .await;
    let bare = seeded_bare(tmp.path());
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "termproj", "repo_url": bare.to_str().unwrap(), "tenant_id": TENANT}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let termproj = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{termproj}/ai/sessions"),
            json!({"tool": "fake", "rows": 30, "cols": 100}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let agent = v["id"].as_u64().unwrap();
    let dev = s.create_user(DEV_EMAIL, DEV_PASSWORD, false).await;
    s.add_member("tenants", TENANT, dev, "developer").await;
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/ansible/runs",
            json!({"playbook": "example.yml", "hosts": "localhost"}),
        )
        .await;
    let run = st.is_success().then(|| v["run"]["id"].as_u64()).flatten();
    Seeded {
        s,
        _tmp: tmp,
        dev,
        agent,
        run,
    }
}

/// Every GET page of src/web/mod.rs with real ids (and an unknown path: the 404 page).
fn pages(x: &Seeded) -> Vec<String> {
    let (t, p, i, dev) = (TENANT, PROJECT, INTEGRATION, x.dev);
    let mut v: Vec<String> = vec![
        "/".into(),
        "/tenants".into(),
        format!("/tenants/{t}"),
        format!("/tenants/{t}/members"),
        format!("/tenants/{t}/members/{dev}"),
        format!("/tenants/{t}/edit"),
        format!("/tenants/{t}/delete"),
        "/projects".into(),
        format!("/projects/{p}"),
        format!("/projects/{p}/members"),
        format!("/projects/{p}/members/2"),
        format!("/projects/{p}/workspace"),
        format!("/projects/{p}/workspace/diff"),
        format!("/projects/{p}/agents"),
        format!("/projects/{p}/agents-md"),
        format!("/projects/{p}/edit"),
        format!("/projects/{p}/delete"),
        "/keys".into(),
        "/users".into(),
        "/audit".into(),
        "/agents".into(),
        "/agents/history".into(),
        format!("/sessions/{}/terminal", x.agent),
        "/ansible".into(),
        "/admin/system".into(),
        "/admin/backups".into(),
        "/admin/logs".into(),
        "/settings/agents".into(),
        "/ssh-keys".into(),
        "/issues".into(),
        "/issues?status=open&q=Imported".into(),
        "/issues/new".into(),
        format!("/issues/{FIRST_ISSUE}"),
        format!("/issues/{FIRST_ISSUE}/agents"),
        "/admin/identities".into(),
        "/integrations".into(),
        format!("/integrations/{i}"),
        "/account".into(),
        "/account/trackers".into(),
        "/no/such/page".into(),
    ];
    if let Some(run) = x.run {
        v.push(format!("/ansible/runs/{run}"));
    }
    v
}

/// The layout rules, checked in the page: `null` when it fits, else what is wrong.
const CHECK: &str = r#"
// The layout viewport: with touch emulation, innerWidth grows with content that sticks out.
const doc = document.documentElement;
const w = doc.clientWidth, touch = w < 1024;
const out = {};
if (doc.scrollWidth > w + 1) {
  out.scroll = doc.scrollWidth + ' > ' + w + ': ' + [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 6)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + String(e.className).trim().replace(/\s+/g, '.'))
    .join(', ');
}
const shown = e => e.getClientRects().length > 0 &&
  e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true});
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\s+/).join('.') : '') +
  ' "' + (e.textContent || e.value || e.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ').slice(0, 30) + '"';
const sel = 'main a, main button, main [role=button], main input[type=submit], main summary, ' +
  'main .badge, main mark, main [id$=-status], #nav-links a, #nav-links button, .appbar a, .appbar button';
const outside = [], small = [];
for (const e of document.querySelectorAll(sel)) {
  if (!shown(e)) continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  let cut = r.left < -1 || r.right > w + 1;
  for (let a = e.parentElement; a && !cut && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') {
      const ar = a.getBoundingClientRect();
      if (r.left < ar.left - 1 || r.right > ar.right + 1) cut = true;
    }
  }
  if (cut) outside.push(name(e) + ' at ' + Math.round(r.left) + '..' + Math.round(r.right));
  const label = e.matches('.badge, mark, [id$=-status]') && !e.matches('a, button, summary');
  if (touch && !label && r.height < 43.5) small.push(name(e) + ' ' + r.height.toFixed(1) + ' px');
}
if (outside.length) out.outside = outside.slice(0, 10);
if (small.length) out.small = small.slice(0, 10);
return Object.keys(out).length ? out : null;
"#;

/// Load `path` and let it settle (htmx loads, the agents panel, the terminal's connection).
async fn visit(d: &Driver, s: &Server, path: &str) {
    d.goto(&s.url(path)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.script("return document.readyState").await != "complete" {
        assert!(Instant::now() < deadline, "{path} never finished loading");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // htmx `load` triggers and the first SSE rendering.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.count(".htmx-request").await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check(d: &Driver) -> Value {
    d.script(CHECK).await
}

/// The checker finds what it is meant to find (a page made to scroll sideways, a button cut
/// by a scrolling box, a 30 px link), so a clean run means something.
async fn checker_catches_problems(d: &Driver, s: &Server) {
    visit(d, s, "/keys").await;
    assert_eq!(check(d).await, Value::Null, "the control page is clean");
    let v = d
        .script(
            "const m = document.querySelector('main');
             const wide = document.createElement('div'); wide.style.width = '3000px'; wide.textContent = 'wide';
             m.appendChild(wide);
             const box = document.createElement('div'); box.style.overflowX = 'auto'; box.style.width = '100px';
             box.innerHTML = '<div style=\"width:600px\"><span style=\"display:inline-block;width:500px\"></span><button>Cut</button></div>';
             m.appendChild(box);
             const a = document.createElement('a'); a.href = '/'; a.textContent = 'tiny';
             a.style.cssText = 'display:inline-block;height:30px;min-height:0;padding:0';
             m.appendChild(a);
             return true",
        )
        .await;
    assert_eq!(v, true);
    let v = check(d).await;
    assert!(
        v["scroll"].is_string(),
        "a 3000 px element went unnoticed: {v}"
    );
    assert!(
        v["outside"].to_string().contains("Cut"),
        "a button cut by a scrolling box went unnoticed: {v}"
    );
    if d.script("return document.documentElement.clientWidth")
        .await
        .as_u64()
        < Some(1024)
    {
        assert!(
            v["small"].to_string().contains("tiny"),
            "a 30 px link went unnoticed: {v}"
        );
    }
}

/// Until the drawer's slide (a CSS transition) is over.
async fn settle(d: &Driver) {
    let deadline = Instant::now() + Duration::from_secs(3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    while d
        .script("return document.getElementById('nav-links').getAnimations().length")
        .await
        != 0
    {
        assert!(Instant::now() < deadline, "the drawer never stopped moving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The navigation: a drawer behind ☰ below 1024 px (aria-expanded, Escape, a tap outside), a
/// side bar from 1024 px; the current page marked; what a developer must not see.
async fn navigation(d: &Driver, s: &Server, width: u32, admin: bool) {
    visit(d, s, &format!("/issues/{FIRST_ISSUE}")).await;
    let current = d
        .script("return [...document.querySelectorAll('#nav-links a[aria-current=page]')].map(a => a.getAttribute('href'))")
        .await;
    assert_eq!(current, json!(["/issues"]), "the current page is marked");
    let hrefs = d
        .script("return [...document.querySelectorAll('#nav-links a')].map(a => a.getAttribute('href'))")
        .await
        .to_string();
    for admin_only in [
        "/ansible",
        "/users",
        "/integrations",
        "/audit",
        "/admin/system",
    ] {
        assert_eq!(
            hrefs.contains(&format!("\"{admin_only}\"")),
            admin,
            "{admin_only} in the navigation of {}: {hrefs}",
            if admin { "an admin" } else { "a developer" }
        );
    }
    for everyone in [
        "/",
        "/issues",
        "/projects",
        "/agents/history",
        "/tenants",
        "/keys",
    ] {
        assert!(
            hrefs.contains(&format!("\"{everyone}\"")),
            "{everyone}: {hrefs}"
        );
    }
    let nav_shown = "const r = document.getElementById('nav-links').getBoundingClientRect();
        return document.getElementById('nav-links').checkVisibility({visibilityProperty: true})
          && r.right > 0 && r.left < document.documentElement.clientWidth";
    if width >= 1024 {
        assert_eq!(d.script(nav_shown).await, true, "side bar at {width} px");
        let toggle = d
            .script("return document.getElementById('nav-toggle').getClientRects().length")
            .await;
        assert_eq!(toggle, 0, "no ☰ at {width} px");
        return;
    }
    assert_eq!(d.script(nav_shown).await, false, "the drawer starts closed");
    d.click("#nav-toggle").await;
    settle(d).await;
    assert_eq!(d.script(nav_shown).await, true, "☰ opens the drawer");
    let expanded = d
        .script("return document.getElementById('nav-toggle').getAttribute('aria-expanded')")
        .await;
    assert_eq!(expanded, "true");
    let v = check(d).await;
    assert_eq!(v, Value::Null, "the open drawer at {width} px: {v}");
    // Escape closes it.
    d.cmd(
        reqwest::Method::POST,
        "/actions",
        Some(json!({"actions": [{"type": "key", "id": "k", "actions": [
            {"type": "keyDown", "value": "\u{E00C}"}, {"type": "keyUp", "value": "\u{E00C}"}]}]})),
    )
    .await;
    settle(d).await;
    assert_eq!(d.script(nav_shown).await, false, "Escape closes the drawer");
    assert_eq!(
        d.script("return document.getElementById('nav-toggle').getAttribute('aria-expanded')")
            .await,
        "false"
    );
    // A tap outside (on the backdrop, right of the drawer) closes it too.
    d.click("#nav-toggle").await;
    settle(d).await;
    assert_eq!(d.script(nav_shown).await, true);
    d.cmd(
        reqwest::Method::POST,
        "/actions",
        Some(json!({"actions": [{"type": "pointer", "id": "p", "parameters": {"pointerType": "touch"}, "actions": [
            {"type": "pointerMove", "x": width - 20, "y": 400},
            {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})),
    )
    .await;
    settle(d).await;
    assert_eq!(
        d.script(nav_shown).await,
        false,
        "a tap outside closes the drawer"
    );
}

/// htmx gets the fragment it asked for (no document, no navigation; the hx-select target is
/// in it); a boosted request or a history restore, and a plain request, get the whole page.
async fn fragments(s: &Server) {
    let cookie = s.web_login(IMPORTED_ADMIN, IMPORTED_ADMIN_PASSWORD).await;
    let get = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = s
            .client
            .get(s.url("/issues?status=open"))
            .header("cookie", format!("aiops_session={cookie}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.text().await.unwrap()
        }
    };
    let frag = get(&[("HX-Request", "true")]).await;
    assert!(frag.contains("id=\"issue-results\""), "{frag:.500}");
    assert!(
        !frag.contains("<html") && !frag.contains("id=\"nav-links\""),
        "an htmx request got the whole page: {frag:.500}"
    );
    for whole in [
        &[][..],
        &[("HX-Request", "true"), ("HX-Boosted", "true")][..],
        &[
            ("HX-Request", "true"),
            ("HX-History-Restore-Request", "true"),
        ][..],
    ] {
        let html = get(whole).await;
        assert!(
            html.contains("<html")
                && html.contains("id=\"nav-links\"")
                && html.contains("id=\"issue-results\""),
            "{whole:?} must get the whole page: {html:.300}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_fits_phones_tablets_and_laptops_for_admins_and_developers() {
    let x = seeded().await;
    let s = &x.s;
    fragments(s).await;
    let pages = pages(&x);
    let mut problems: Vec<String> = Vec::new();
    for width in [390u32, 820, 1366] {
        let d = Driver::start_width(width).await;
        // Logged out: the login page.
        visit(&d, s, "/login").await;
        assert_eq!(
            d.script("return document.documentElement.clientWidth")
                .await,
            json!(width),
            "viewport"
        );
        let v = check(&d).await;
        if !v.is_null() {
            problems.push(format!("{width} px, logged out, /login: {v}"));
        }
        for (who, email, password) in [
            ("admin", IMPORTED_ADMIN, IMPORTED_ADMIN_PASSWORD),
            ("developer", DEV_EMAIL, DEV_PASSWORD),
        ] {
            d.login(s, email, password).await;
            if who == "admin" {
                checker_catches_problems(&d, s).await;
            }
            navigation(&d, s, width, who == "admin").await;
            for path in &pages {
                visit(&d, s, path).await;
                let v = check(&d).await;
                if !v.is_null() {
                    problems.push(format!("{width} px, {who}, {path}: {v}"));
                }
                if path == "/no/such/page" {
                    assert_eq!(
                        d.count("#nav-links a[href='/issues']").await,
                        1,
                        "the 404 page has the navigation ({who})"
                    );
                }
                let shot = match path.as_str() {
                    "/" => Some("dashboard"),
                    "/issues" => Some("issues"),
                    "/audit" => Some("audit"),
                    "/admin/system" => Some("system"),
                    p if p == format!("/projects/{PROJECT}") => Some("project"),
                    p if p.ends_with("/terminal") => Some("terminal"),
                    _ => None,
                };
                if let Some(name) = shot
                    && who == "admin"
                    && width != 820
                {
                    d.screenshot_viewport(&format!("target/screenshots/shell-{name}-{width}.png"))
                        .await;
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} layout problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
