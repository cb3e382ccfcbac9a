//! Every htmx action shows its outcome, in headless Chromium at phone width (390 px): a 400
//! (bad input), a 409 (name taken), a 404 from a stale page, a 502 from a tracker answering 500
//! and from one nobody listens for (connection refused), a host-key scan of a port that
//! accepts and hangs up, and the aiops server itself gone (no connection). Each message
//! appears on screen by the control that sent it; the same actions succeeding say so.
//! Screenshots go to /tmp/shots/feedback-*.png.

use crate::fakes::{Fake, Kind};
use crate::harness::*;
use crate::webdriver::Driver;

/// Wait until `css` shows `needle`, then check that it is on screen (inside the viewport) and
/// close to `control` (the control that fired the request, or its re-rendered twin).
async fn shown_near(d: &Driver, css: &str, needle: &str, control: &str) {
    d.wait_text(css, needle).await;
    let js = format!(
        "const m = document.querySelector({m}).getBoundingClientRect();
         const c = document.querySelector({c}).getBoundingClientRect();
         return {{inView: m.top >= 0 && m.bottom <= window.innerHeight + 1 && m.width > 0,
                 gap: Math.round(Math.max(m.top - c.bottom, c.top - m.bottom, 0)),
                 right: Math.round(m.right), width: window.innerWidth}}",
        m = serde_json::to_string(css).unwrap(),
        c = serde_json::to_string(control).unwrap(),
    );
    // The message is scrolled into view just after it is swapped in: wait for that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut v = d.script(&js).await;
    while v["inView"] != true && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        v = d.script(&js).await;
    }
    assert_eq!(v["inView"], true, "{css} ({needle}) is not on screen: {v}");
    assert!(
        v["gap"].as_i64().unwrap_or(9999) <= 260,
        "{css} ({needle}) is far from {control}: {v}"
    );
    assert!(
        v["right"].as_i64().unwrap_or(9999) <= v["width"].as_i64().unwrap_or(0),
        "{css} sticks out sideways: {v}"
    );
}

/// A loopback port that accepts connections and closes them at once.
async fn hang_up_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    port
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn add_integration(d: &Driver, s: &Server, name: &str, base_url: &str) {
    d.goto(&s.url("/integrations")).await;
    // The form is folded away once an integration exists.
    d.script(
        "document.querySelectorAll('#integrations-section details').forEach(x => x.open = true)",
    )
    .await;
    d.type_into("#integration-form input[name=name]", name)
        .await;
    d.type_into("#integration-form input[name=base_url]", base_url)
        .await;
    d.type_into("#integration-form input[name=api_token]", "fb-token-123456")
        .await;
    d.click("#integration-submit").await;
    // Lands on the new integration, with a success toast.
    d.wait_text("#integration-detail h1", name).await;
    d.wait_text("#toasts", &format!("Integration {name} added."))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn htmx_actions_show_every_failure_next_to_their_control_on_a_phone() {
    let gh = Fake::start(Kind::GitHub, "fb-token-123456").await;
    let mut s = Server::start();
    s.create_tenant("Feedback Co").await;
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(d.script("return window.innerWidth").await, 390);

    // ---- integrations: add (lands on it), test OK, tracker 500 → 502, nobody listening ----
    add_integration(&d, &s, "GH", &gh.url).await;
    assert!(d.current_url().await.contains("/integrations/"));
    d.screenshot("/tmp/shots/feedback-integration-added-390.png")
        .await;
    d.click("#test-button").await;
    shown_near(
        &d,
        "#integration-detail .notice",
        "GitHub credentials verified",
        "#test-button",
    )
    .await;
    gh.fail(
        "/user",
        "",
        500,
        serde_json::json!({"message": "Tracker exploded"}),
        None,
        4,
    );
    d.click("#test-button").await;
    shown_near(
        &d,
        "#integration-detail .error",
        "GitHub API error 500 - Tracker exploded",
        "#test-button",
    )
    .await;
    assert_eq!(d.count("#integration-detail .notice").await, 0);
    d.screenshot("/tmp/shots/feedback-test-502-390.png").await;

    let port = closed_port();
    add_integration(&d, &s, "Nowhere", &format!("http://127.0.0.1:{port}")).await;
    d.click("#test-button").await;
    shown_near(
        &d,
        "#integration-detail .error",
        &format!("could not reach http://127.0.0.1:{port}: connection refused"),
        "#test-button",
    )
    .await;
    d.wait_text("#integration-detail .error", "check the host and port")
        .await;

    // ---- tenants: a taken name (409), then a new one (success toast) -------------------------
    d.goto(&s.url("/tenants")).await;
    d.script("document.querySelectorAll('#tenant-section details').forEach(x => x.open = true)")
        .await;
    d.type_into("#tenant-form input[name=name]", "Feedback Co")
        .await;
    d.click("#tenant-submit").await;
    shown_near(
        &d,
        "#tenant-form .error",
        "already exists",
        "#tenant-submit",
    )
    .await;
    d.type_into("#tenant-form input[name=name]", "Second Co")
        .await;
    d.click("#tenant-submit").await;
    d.wait_text("#tenant-list", "Second Co").await;
    d.wait_text("#toasts", "Tenant Second Co created.").await;
    assert_eq!(d.count("#tenant-form .error").await, 0);

    // ---- SSH known hosts: bad input (400), a port that hangs up (502), at the button --------
    d.goto(&s.url("/ssh-keys")).await;
    d.type_into("#known-host-form input[name=host]", "a b")
        .await;
    d.click("#known-host-form button[type=submit]").await;
    shown_near(
        &d,
        "#scan-result.error",
        "no user, path or spaces",
        "#known-host-form button[type=submit]",
    )
    .await;
    let port = hang_up_port().await;
    d.type_into("#known-host-form input[name=host]", "127.0.0.1")
        .await;
    d.type_into("#known-host-form input[name=port]", &port.to_string())
        .await;
    d.click("#known-host-form button[type=submit]").await;
    shown_near(
        &d,
        "#scan-result.error",
        "closed the connection before the SSH handshake",
        "#known-host-form button[type=submit]",
    )
    .await;
    d.screenshot("/tmp/shots/feedback-scan-hangup-390.png")
        .await;

    // ---- a stale page: the key was revoked elsewhere; Revoke here answers 404 ----------------
    s.user_key(ADMIN_EMAIL, ADMIN_PASSWORD, &["read"]).await;
    d.goto(&s.url("/keys")).await;
    d.script("window.confirm = () => true").await;
    let form = "#key-list form[action$='/revoke']";
    // The first revoke succeeds (sent by the page itself, as another tab would).
    let st = d
        .script(&format!(
            "const f = document.querySelectorAll(\"{form}\"); const last = f[f.length - 1];
             last.id = 'stale-revoke';
             return fetch(last.action, {{method: 'POST', body: new URLSearchParams(new FormData(last))}}).then(r => r.status)"
        ))
        .await;
    assert_eq!(st, 200, "revoked through the other tab");
    d.click("#stale-revoke button").await;
    shown_near(
        &d,
        "#stale-revoke + .hx-outcome.error",
        "",
        "#stale-revoke button",
    )
    .await;
    let msg = d.text_of("#stale-revoke + .hx-outcome.error").await;
    assert!(msg.contains("404"), "{msg}");
    assert_eq!(
        d.script("return document.querySelector('#stale-revoke button').disabled")
            .await,
        false,
        "the button is usable again"
    );

    // ---- the server is gone: no connection -----------------------------------------------------
    d.goto(&s.url("/ssh-keys")).await;
    d.find("#known-host-form").await;
    s.kill();
    d.type_into("#known-host-form input[name=host]", "example.com")
        .await;
    d.click("#known-host-form button[type=submit]").await;
    shown_near(
        &d,
        "#known-host-form + .hx-outcome.error",
        "No connection to the server — check your network and try again.",
        "#known-host-form button[type=submit]",
    )
    .await;
    d.assert_fits("the SSH page with an error").await;
    d.screenshot("/tmp/shots/feedback-offline-390.png").await;
}

/// What the window shows (not the whole page): where the eye is when the answer comes.
async fn viewport_shot(d: &Driver, path: &str) {
    use base64::Engine;
    let v = d.cmd(reqwest::Method::GET, "/screenshot", None).await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .expect("base64 PNG");
    std::fs::create_dir_all("/tmp/shots").unwrap();
    std::fs::write(path, png).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_laptop_too_successes_toast_and_failures_sit_by_their_button() {
    let s = Server::start();
    s.create_tenant("Desk Co").await;
    for phone in [false, true] {
        let w = if phone { 390 } else { 1366 };
        let d = Driver::start(phone).await;
        d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let port = closed_port();
        add_integration(
            &d,
            &s,
            &format!("Nowhere {w}"),
            &format!("http://127.0.0.1:{port}"),
        )
        .await;
        viewport_shot(&d, &format!("/tmp/shots/feedback-added-{w}.png")).await;
        d.click("#test-button").await;
        shown_near(
            &d,
            "#integration-detail .error",
            "connection refused",
            "#test-button",
        )
        .await;
        viewport_shot(&d, &format!("/tmp/shots/feedback-refused-{w}.png")).await;
        d.goto(&s.url("/ssh-keys")).await;
        let port = hang_up_port().await;
        d.type_into("#known-host-form input[name=host]", "127.0.0.1")
            .await;
        d.type_into("#known-host-form input[name=port]", &port.to_string())
            .await;
        d.click("#known-host-form button[type=submit]").await;
        shown_near(
            &d,
            "#scan-result.error",
            "closed the connection",
            "#known-host-form button[type=submit]",
        )
        .await;
        d.assert_fits("the SSH page with a scan error").await;
        viewport_shot(&d, &format!("/tmp/shots/feedback-scan-{w}.png")).await;
        // In flight (a port that accepts and never answers): the button is disabled and, once
        // the request is slow, a spinner with words shows.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut keep = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                keep.push(sock);
            }
        });
        d.type_into("#known-host-form input[name=port]", &silent.to_string())
            .await;
        d.click("#known-host-form button[type=submit]").await;
        d.find("#known-host-form.hx-slow").await;
        let v = d
            .script(
                "const f = document.querySelector('#known-host-form');
                 const i = f.querySelector('.htmx-indicator');
                 return {disabled: f.querySelector('button[type=submit]').disabled,
                         busy: f.getAttribute('aria-busy'), words: i.textContent,
                         shown: getComputedStyle(i).display !== 'none'}",
            )
            .await;
        assert_eq!(v["disabled"], true, "{v}");
        assert_eq!(v["busy"], "true", "{v}");
        assert_eq!(v["shown"], true, "{v}");
        assert!(
            v["words"].as_str().unwrap_or("").contains("Connecting"),
            "{v}"
        );
        viewport_shot(&d, &format!("/tmp/shots/feedback-in-flight-{w}.png")).await;
    }
}
