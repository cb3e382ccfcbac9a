//! The Notifications page in Chromium at 390 px (issue 18): a user turns toggles off and on,
//! mutes one of their projects from the checkbox list (a project they cannot see is not
//! listed), sets quiet hours and a webhook that points at a local HTTP server, and saves: the
//! page says so and a reload (and the API) shows the same values. A refused value (a `file:`
//! webhook) shows its reason on the page, the form keeps what was typed, and nothing saved is
//! lost. Screenshots at 390 and 1366 px.

use crate::harness::*;
use crate::webdriver::Driver;
use serde_json::Value;

const EMAIL: &str = "nora@example.com";
const PASSWORD: &str = "nora-password-12";

/// A local HTTP server that answers 204 to anything (the webhook's target).
async fn hook_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://{addr}/hook")
}

async fn checked(d: &Driver, css: &str) -> bool {
    let js = format!(
        "return document.querySelector({}).checked",
        serde_json::to_string(css).unwrap()
    );
    d.script(&js).await == true
}

async fn value(d: &Driver, css: &str) -> String {
    let js = format!(
        "return document.querySelector({}).value",
        serde_json::to_string(css).unwrap()
    );
    d.script(&js).await.as_str().unwrap_or_default().to_string()
}

/// Tap a checkbox (scrolled to the middle of the screen, clear of the sticky header) and
/// check that it turned.
async fn tap(d: &Driver, css: &str) {
    let before = checked(d, css).await;
    let js = format!(
        "document.querySelector({}).scrollIntoView({{block: 'center'}})",
        serde_json::to_string(css).unwrap()
    );
    d.script(&js).await;
    d.click(css).await;
    assert_ne!(checked(d, css).await, before, "{css} turned");
}

/// A time input takes its value in the browser's own format when typed; set it as a picker does.
async fn set_time(d: &Driver, name: &str, hhmm: &str) {
    let js = format!(
        "const e = document.querySelector('#notify-form input[name={name}]');
         e.value = '{hhmm}'; e.dispatchEvent(new Event('input', {{bubbles: true}}));
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value"
    );
    assert_eq!(d.script(&js).await, hhmm, "{name} takes {hhmm}");
}

async fn prefs(s: &Server, key: &str) -> Value {
    let (st, v) = s.get(key, "/api/v1/notifications/preferences").await;
    assert!(st.is_success(), "{st} {v}");
    v["preferences"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn notification_settings_are_saved_kept_and_a_refused_value_loses_nothing() {
    let hook = hook_server().await;
    let s = Server::start_with(&[("AIOPS_NOTIFY_PRIVATE_TARGETS", "true")]);
    let uid = s.create_user(EMAIL, PASSWORD, false).await;
    let tenant = s.create_tenant("notifiers").await;
    let loud = s.project_for(uid, "Loud project", tenant).await;
    let quiet = s.project_for(uid, "Quiet project", tenant).await;
    let hidden = s
        .create_project(&s.admin_key, "Someone else's project", tenant)
        .await;
    let key = s.user_key(EMAIL, PASSWORD, &["read"]).await;

    let d = Driver::start(true).await;
    d.login(&s, EMAIL, PASSWORD).await;
    d.goto(&s.url("/account/notifications")).await;
    d.find("#notify-form").await;
    // The checkbox list names the user's projects (with their ids), not another's.
    let list = d.text_of("#muted-projects").await;
    assert!(
        list.contains("Loud project") && list.contains(&format!("#{quiet}")),
        "{list}"
    );
    assert!(!list.contains("Someone else"), "{list}");
    assert_eq!(d.count(&format!("input[name=mute_{hidden}]")).await, 0);
    assert!(!checked(&d, &format!("input[name=mute_{quiet}]")).await);
    d.assert_fits("the notifications page at 390 px").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/notify-390.png").await;

    // Off and on again: agent_finished and ansible_failed go off, agent_finished back on;
    // agent_failed stays on.
    tap(&d, "#notify-form input[name=agent_finished]").await;
    tap(&d, "#notify-form input[name=ansible_failed]").await;
    tap(&d, "#notify-form input[name=agent_finished]").await;
    tap(&d, "#notify-form input[name=sync_failing]").await;
    tap(&d, &format!("input[name=mute_{quiet}]")).await;
    set_time(&d, "quiet_start", "22:00").await;
    set_time(&d, "quiet_end", "07:30").await;
    d.type_into("#notify-form input[name=webhook_url]", &hook)
        .await;
    d.click("#notify-save").await;
    d.wait_text("#notify-prefs", "Notification settings saved.")
        .await;
    d.assert_fits("the saved notifications page").await;
    d.screenshot("target/screenshots/notify-saved-390.png")
        .await;

    // Kept: a fresh load shows the same values.
    d.goto(&s.url("/account/notifications")).await;
    d.find("#notify-form").await;
    for (name, on) in [
        ("agent_waiting", true),
        ("agent_finished", true),
        ("agent_failed", true),
        ("ansible_finished", true),
        ("ansible_failed", false),
        ("sync_failing", false),
    ] {
        assert_eq!(
            checked(&d, &format!("#notify-form input[name={name}]")).await,
            on,
            "{name} after reload"
        );
    }
    assert!(checked(&d, &format!("input[name=mute_{quiet}]")).await);
    assert!(!checked(&d, &format!("input[name=mute_{loud}]")).await);
    assert_eq!(value(&d, "input[name=quiet_start]").await, "22:00");
    assert_eq!(value(&d, "input[name=quiet_end]").await, "07:30");
    assert_eq!(value(&d, "input[name=webhook_url]").await, hook);
    // And through the API.
    let p = prefs(&s, &key).await;
    assert_eq!(p["muted_projects"], serde_json::json!([quiet]), "{p}");
    assert_eq!(
        (p["quiet_start"].as_u64(), p["quiet_end"].as_u64()),
        (Some(1320), Some(450)),
        "{p}"
    );
    assert_eq!(p["webhook_url"], hook.as_str(), "{p}");
    assert_eq!(p["ansible_failed"], false, "{p}");
    assert_eq!(p["agent_finished"], true, "{p}");

    // ---- attack: a `file:` webhook is refused; the reason shows, what was typed stays ------
    tap(&d, &format!("input[name=mute_{loud}]")).await;
    set_time(&d, "quiet_start", "21:15").await;
    d.type_into("#notify-form input[name=webhook_url]", "file:///etc/passwd")
        .await;
    d.click("#notify-save").await;
    d.find("#notify-prefs p.error").await;
    let err = d.text_of("#notify-prefs p.error").await;
    assert!(
        err.contains("http or https") && err.contains("'file'"),
        "{err}"
    );
    assert!(
        !d.text_of("#notify-prefs").await.contains("settings saved"),
        "no success shown"
    );
    assert_eq!(
        value(&d, "input[name=webhook_url]").await,
        "file:///etc/passwd",
        "the typed URL stays to be corrected"
    );
    assert!(checked(&d, &format!("input[name=mute_{loud}]")).await);
    assert!(checked(&d, &format!("input[name=mute_{quiet}]")).await);
    assert_eq!(value(&d, "input[name=quiet_start]").await, "21:15");
    assert!(!checked(&d, "#notify-form input[name=ansible_failed]").await);
    d.assert_fits("the refused notifications form").await;
    d.screenshot("target/screenshots/notify-refused-390.png")
        .await;
    // Nothing saved was lost or changed.
    let after = prefs(&s, &key).await;
    assert_eq!(after, p, "the refusal changed nothing");

    // Control: the same form with the webhook fixed is saved.
    d.type_into("#notify-form input[name=webhook_url]", &hook)
        .await;
    d.click("#notify-save").await;
    d.wait_text("#notify-prefs", "Notification settings saved.")
        .await;
    let p = prefs(&s, &key).await;
    let mut both = vec![loud, quiet];
    both.sort();
    assert_eq!(p["muted_projects"], serde_json::json!(both), "{p}");
    assert_eq!(p["quiet_start"].as_u64(), Some(21 * 60 + 15), "{p}");
    drop(d);

    // The desktop window.
    let d = Driver::start(false).await;
    d.login(&s, EMAIL, PASSWORD).await;
    d.goto(&s.url("/account/notifications")).await;
    d.find("#notify-form").await;
    d.assert_fits("the notifications page at 1366 px").await;
    d.screenshot("target/screenshots/notify-1366.png").await;
}
