//! Notifications end to end in-process: a fake push service on loopback that verifies the
//! VAPID token (ES256 against the key the API hands out, `aud` = the endpoint's origin, `exp`
//! ahead) and decrypts the RFC 8291 payload with the subscription's private key that the test
//! made; webhook and ntfy receivers; and who may see and remove which subscription.

use crate::harness::{Http, Inproc};
use aiops::domain::agent_state::AgentState;
use aiops::domain::notify::NotifyPrefs;
use aiops::domain::{IntegrationId, ProjectId, RunId, UserId};
use aiops::services::events::Event;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256PublicKey};
use web_push_native::jwt_simple::prelude::{NoCustomClaims, VerificationOptions};
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// One request the fake services received.
#[derive(Debug)]
pub struct Got {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A loopback HTTP server that records every request; paths containing `gone` answer 410.
pub struct FakeReceiver {
    pub base: String,
    pub rx: mpsc::UnboundedReceiver<Got>,
}

impl FakeReceiver {
    pub async fn start() -> FakeReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let ep = poem::endpoint::make(move |req: poem::Request| {
            let tx = tx.clone();
            async move {
                let path = req.uri().path().to_string();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_ascii_lowercase(),
                            v.to_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                let body = req.into_body().into_vec().await.unwrap_or_default();
                let gone = path.contains("gone");
                let _ = tx.send(Got {
                    path,
                    headers,
                    body,
                });
                if gone {
                    poem::http::StatusCode::GONE
                } else {
                    poem::http::StatusCode::CREATED
                }
            }
        });
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(ep));
        FakeReceiver { base, rx }
    }

    /// The next request, within a bounded wait.
    pub async fn next(&mut self) -> Got {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a request reached the fake within 10 s")
            .expect("fake running")
    }

    pub fn nothing_more(&mut self) {
        if let Ok(g) = self.rx.try_recv() {
            panic!("unexpected request to the fake: {} {:?}", g.path, g.headers);
        }
    }
}

/// A browser's subscription keys, made by the test.
pub struct Browser {
    pub secret: p256::SecretKey,
    pub auth: [u8; 16],
}

impl Browser {
    pub fn new() -> Browser {
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Browser {
            secret: p256::SecretKey::random(&mut rand::rngs::OsRng),
            auth,
        }
    }

    pub fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": B64.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": B64.encode(self.auth),
            }
        })
    }

    /// Check the push as a push service would (VAPID) and read it as the browser would.
    pub fn open(&self, got: &Got, vapid_public: &str, origin: &str) -> Value {
        assert_eq!(
            got.headers.get("content-encoding").map(String::as_str),
            Some("aes128gcm")
        );
        assert!(got.headers.contains_key("ttl"), "TTL header (RFC 8030)");
        let authz = got.headers.get("authorization").expect("Authorization");
        let (t, k) = authz
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(", k="))
            .unwrap_or_else(|| panic!("not a vapid authorization: {authz}"));
        assert_eq!(k, vapid_public, "k= is the key the API hands out");
        let pk = ES256PublicKey::from_bytes(&B64.decode(vapid_public).unwrap()).unwrap();
        let opts = VerificationOptions {
            allowed_audiences: Some([origin.to_string()].into()),
            time_tolerance: Some(web_push_native::jwt_simple::prelude::Duration::from_secs(0)),
            ..Default::default()
        };
        let claims = pk
            .verify_token::<NoCustomClaims>(t, Some(opts))
            .expect("the VAPID JWT verifies: ES256, aud = the endpoint's origin");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let exp = claims.expires_at.expect("exp").as_secs();
        assert!(
            exp > now && exp <= now + 24 * 3600,
            "exp ahead, at most 24 h (RFC 8292)"
        );
        let plain = web_push_native::decrypt(
            got.body.clone(),
            &self.secret,
            &web_push_native::Auth::clone_from_slice(&self.auth),
        )
        .expect("the payload decrypts with the subscription's private key (RFC 8291)");
        serde_json::from_slice(&plain).unwrap()
    }
}

pub fn waiting(user: u64, session: &str, state: AgentState) -> Event {
    Event::AgentState {
        user_id: UserId(user),
        session: session.into(),
        project_id: ProjectId(1),
        issue_id: None,
        tool: "claude".into(),
        state,
        summary: "Do you want to make this edit to src/x.rs?\nsecret pane line".into(),
    }
}

/// Wait until the dispatcher has finished with `n` events in all.
pub async fn handled(s: &Inproc, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.app.notify.handled() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the notifier handled {} of {n} events in 10 s",
            s.app.notify.handled()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A server whose users' targets may be on loopback, where these tests' fake services are.
async fn allowing_private_targets() -> Inproc {
    Inproc::start_with(|a| a.notify_private_targets = Some(true)).await
}

async fn vapid_key(s: &Inproc, key: &str) -> String {
    let v = s
        .expect(
            StatusCode::OK,
            key,
            Method::GET,
            "/api/v1/notifications/vapid-public-key",
            None,
        )
        .await;
    v["public_key"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_agent_is_pushed_once_not_while_watched_not_in_quiet_hours_and_410_forgets() {
    let s = allowing_private_targets().await;
    s.app.notify.start();
    let (uid, key) = s.user("dev@example.com", false, &["read", "write"]);
    let vapid = vapid_key(&s, &key).await;
    let mut push = FakeReceiver::start().await;
    let browser = Browser::new();
    let endpoint = format!("{}/push/device-1", push.base);
    let v = s
        .expect(
            StatusCode::CREATED,
            &key,
            Method::POST,
            "/api/v1/notifications/subscriptions",
            Some(browser.subscription(&endpoint)),
        )
        .await;
    let sub_id = v["subscription"]["id"].as_u64().unwrap();

    // Waiting for input: exactly one notification, with the right title and URL.
    s.app
        .events
        .publish(waiting(uid, "s1", AgentState::WaitingForApproval));
    let got = push.next().await;
    assert_eq!(got.path, "/push/device-1");
    let n = browser.open(&got, &vapid, &push.base);
    assert_eq!(n["title"], "claude is waiting for approval", "{n}");
    assert_eq!(
        n["body"], "Do you want to make this edit to src/x.rs?",
        "one line only"
    );
    assert_eq!(n["url"], format!("{}/sessions/s1/terminal", s.base), "{n}");
    assert_eq!(n["kind"], "agent_waiting");
    handled(&s, 1).await;
    // The same state again is no new transition.
    s.app
        .events
        .publish(waiting(uid, "s1", AgentState::WaitingForApproval));
    handled(&s, 2).await;
    push.nothing_more();

    // Watching the terminal: nothing. Control: the same transition unwatched is told.
    let guard = s.app.events.watch(UserId(uid), "s2");
    s.app
        .events
        .publish(waiting(uid, "s2", AgentState::WaitingForInput));
    handled(&s, 3).await;
    push.nothing_more();
    drop(guard);
    s.app
        .events
        .publish(waiting(uid, "s2", AgentState::Working));
    s.app
        .events
        .publish(waiting(uid, "s2", AgentState::WaitingForInput));
    let n = browser.open(&push.next().await, &vapid, &push.base);
    assert_eq!(n["url"], format!("{}/sessions/s2/terminal", s.base));
    handled(&s, 5).await;

    // Quiet hours now (in the user's zone, UTC+3): nothing. Control: without them, told.
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let local = (now.hour() * 60 + now.minute() + 180) % 1440;
    let quiet =
        json!({"quiet_start": local, "quiet_end": (local + 60) % 1440, "tz_offset_minutes": 180});
    s.expect(
        StatusCode::OK,
        &key,
        Method::PUT,
        "/api/v1/notifications/preferences",
        Some(quiet),
    )
    .await;
    s.app.events.publish(waiting(uid, "s3", AgentState::Failed));
    handled(&s, 6).await;
    push.nothing_more();
    s.expect(
        StatusCode::OK,
        &key,
        Method::PUT,
        "/api/v1/notifications/preferences",
        Some(json!({})),
    )
    .await;
    s.app
        .events
        .publish(waiting(uid, "s3", AgentState::Working));
    s.app.events.publish(waiting(uid, "s3", AgentState::Failed));
    let n = browser.open(&push.next().await, &vapid, &push.base);
    assert_eq!(n["title"], "claude failed");
    handled(&s, 8).await;

    // A 410 from the push service removes that subscription, and only that one.
    let gone = Browser::new();
    s.expect(
        StatusCode::CREATED,
        &key,
        Method::POST,
        "/api/v1/notifications/subscriptions",
        Some(gone.subscription(&format!("{}/push/gone-device", push.base))),
    )
    .await;
    s.app
        .events
        .publish(waiting(uid, "s4", AgentState::WaitingForInput));
    let mut paths = vec![push.next().await.path, push.next().await.path];
    paths.sort();
    assert_eq!(paths, vec!["/push/device-1", "/push/gone-device"]);
    handled(&s, 9).await;
    let v = s
        .expect(
            StatusCode::OK,
            &key,
            Method::GET,
            "/api/v1/notifications/subscriptions",
            None,
        )
        .await;
    let ids: Vec<u64> = v["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![sub_id],
        "the 410 one is gone, the other stays: {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_and_ntfy_targets_get_the_notice() {
    let s = allowing_private_targets().await;
    s.app.notify.start();
    let (uid, key) = s.user("ops@example.com", false, &["read", "write"]);
    let mut hooks = FakeReceiver::start().await;
    let prefs = json!({
        "webhook_url": format!("{}/hook/abc", hooks.base),
        "ntfy_url": format!("{}/ntfy", hooks.base),
        "ntfy_topic": "aiops-test",
        "ansible_finished": false,
    });
    s.expect(
        StatusCode::OK,
        &key,
        Method::PUT,
        "/api/v1/notifications/preferences",
        Some(prefs),
    )
    .await;
    // Turned off: nothing.
    s.app.events.publish(Event::AnsibleRun {
        user_id: UserId(uid),
        run_id: RunId(7),
        project_id: None,
        playbook: "site.yml".into(),
        succeeded: true,
    });
    handled(&s, 1).await;
    hooks.nothing_more();
    s.app.events.publish(Event::AnsibleRun {
        user_id: UserId(uid),
        run_id: RunId(8),
        project_id: None,
        playbook: "site.yml".into(),
        succeeded: false,
    });
    let mut got = vec![hooks.next().await, hooks.next().await];
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let [hook, ntfy] = <[Got; 2]>::try_from(got).unwrap();
    assert_eq!(hook.path, "/hook/abc");
    assert!(hook.headers["content-type"].starts_with("application/json"));
    let v: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(v["kind"], "ansible_failed");
    assert_eq!(v["title"], "Playbook failed");
    assert_eq!(v["body"], "site.yml (run 8) failed");
    assert_eq!(v["url"], format!("{}/ansible/runs/8", s.base));
    assert_eq!(ntfy.path, "/ntfy/aiops-test");
    assert_eq!(ntfy.headers["title"], "Playbook failed");
    assert_eq!(ntfy.headers["click"], format!("{}/ansible/runs/8", s.base));
    assert_eq!(ntfy.headers["tags"], "ansible_failed");
    assert_eq!(
        String::from_utf8(ntfy.body).unwrap(),
        "site.yml (run 8) failed"
    );
    handled(&s, 2).await;

    // A sync failing: told at the third failure in a row, not the fourth.
    for failures in [3, 4] {
        s.app.events.publish(Event::SyncFailing {
            user_id: UserId(uid),
            integration_id: IntegrationId(2),
            name: "GitHub".into(),
            failures,
            error: "401 Bad credentials".into(),
        });
    }
    let a = hooks.next().await;
    let b = hooks.next().await;
    handled(&s, 4).await;
    hooks.nothing_more();
    let hook = if a.path.starts_with("/hook") { a } else { b };
    let v: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(v["title"], "Sync of GitHub keeps failing");
    assert_eq!(v["body"], "3 failures in a row: 401 Bad credentials");

    // Outbound URLs are user input: only http(s).
    let (st, v) = s
        .call(
            &key,
            Method::PUT,
            "/api/v1/notifications/preferences",
            Some(json!({"webhook_url": "file:///etc/passwd"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("http or https"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_lists_or_removes_another_users_subscription() {
    let s = allowing_private_targets().await;
    let (_, alice) = s.user("alice@example.com", false, &["read", "write"]);
    let (_, mallory) = s.user("mallory@example.com", false, &["read", "write"]);
    let b = Browser::new();
    let endpoint = "https://push.example.net/send/alice-device";
    let v = s
        .expect(
            StatusCode::CREATED,
            &alice,
            Method::POST,
            "/api/v1/notifications/subscriptions",
            Some(b.subscription(endpoint)),
        )
        .await;
    let id = v["subscription"]["id"].as_u64().unwrap();

    // Attack: list, delete by id, by path id, by endpoint.
    let v = s
        .expect(
            StatusCode::OK,
            &mallory,
            Method::GET,
            "/api/v1/notifications/subscriptions",
            None,
        )
        .await;
    assert_eq!(
        v["subscriptions"],
        json!([]),
        "mallory sees none of alice's"
    );
    for path in [
        format!("/api/v1/notifications/subscriptions?id={id}"),
        format!("/api/v1/notifications/subscriptions/{id}"),
        format!(
            "/api/v1/notifications/subscriptions?endpoint={}",
            url::form_urlencoded::byte_serialize(endpoint.as_bytes()).collect::<String>()
        ),
    ] {
        let (st, v) = s.call(&mallory, Method::DELETE, &path, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let v = s
        .expect(
            StatusCode::OK,
            &alice,
            Method::GET,
            "/api/v1/notifications/subscriptions",
            None,
        )
        .await;
    assert_eq!(
        v["subscriptions"][0]["id"], id,
        "still there after the attack"
    );

    // Bad keys are refused with what to send.
    let mut bad = b.subscription("https://push.example.net/send/x");
    bad["keys"]["auth"] = json!("AAAA");
    let (st, v) = s
        .call(
            &alice,
            Method::POST,
            "/api/v1/notifications/subscriptions",
            Some(bad),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // Control: the owner removes it.
    s.expect(
        StatusCode::NO_CONTENT,
        &alice,
        Method::DELETE,
        &format!("/api/v1/notifications/subscriptions?id={id}"),
        None,
    )
    .await;
    let v = s
        .expect(
            StatusCode::OK,
            &alice,
            Method::GET,
            "/api/v1/notifications/subscriptions",
            None,
        )
        .await;
    assert_eq!(v["subscriptions"], json!([]));
}

/// The whole chain with real parts: a scripted Claude-style agent in a real tmux pane reaches
/// its permission prompt; the agent watcher sees it and the notifier pushes exactly one
/// notification (VAPID verified, payload decrypted) with the right title and the session's
/// terminal URL; more looks at the same prompt push nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_agent_reaching_its_prompt_is_pushed_exactly_once() {
    use aiops::domain::AiSession;
    use aiops::services::agent_watch::AgentWatch;
    let s = allowing_private_targets().await;
    s.app.notify.start();
    let (uid, key) = s.user("agent-owner@example.com", false, &["read", "write"]);
    let vapid = vapid_key(&s, &key).await;
    let mut push = FakeReceiver::start().await;
    let browser = Browser::new();
    s.expect(
        StatusCode::CREATED,
        &key,
        Method::POST,
        "/api/v1/notifications/subscriptions",
        Some(browser.subscription(&format!("{}/push/phone", push.base))),
    )
    .await;

    // The agent: works a little, then asks Claude Code's permission question and waits.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("claude.sh");
    std::fs::write(
        &script,
        "echo 'Reading src/x.rs'\nsleep 0.3\nprintf '%s\\n' ' Edit file src/x.rs' \
         ' Do you want to make this edit to x.rs?' ' ❯ 1. Yes' \
         '   2. Yes, allow all edits during this session (shift+tab)' \
         '   3. No, and tell Claude what to do differently (esc)'\nread answer\n",
    )
    .unwrap();
    let sock = dir.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        let st = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "tmux {args:?}");
    };
    let name = "aiops-chain";
    tmux(&[
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        "100",
        "-y",
        "30",
        &format!("sh {}", script.display()),
    ]);
    let session: AiSession = serde_json::from_value(json!({
        "id": 41,
        "project_id": 1,
        "user_id": uid,
        "tool": "claude",
        "session_id": "chain",
        "tmux_target": format!("{name}:0"),
        "tmux_socket": sock.display().to_string(),
        "started_at": chrono::Utc::now(),
        "is_active": true,
    }))
    .unwrap();
    {
        let w = s.app.store.write().unwrap();
        w.put_ai_session(&session).unwrap();
        w.commit().unwrap();
    }

    let watch = AgentWatch::new(s.app.sessions.clone(), s.app.events.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let got = loop {
        watch.tick().await;
        if let Ok(g) = push.rx.try_recv() {
            break g;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no push within 20 s of watching the agent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let n = browser.open(&got, &vapid, &push.base);
    assert_eq!(n["title"], "claude is waiting for approval", "{n}");
    assert_eq!(n["body"], "Do you want to make this edit to x.rs?", "{n}");
    assert_eq!(n["url"], format!("{}/sessions/41/terminal", s.base), "{n}");
    // The same prompt, looked at again and again: nothing more.
    let before = s.app.notify.handled();
    for _ in 0..5 {
        watch.tick().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.app.notify.handled(),
        before,
        "no new transition, no new event"
    );
    push.nothing_more();
    tmux(&["kill-server"]);
}

/// Targets are user input: by default the server sends only to internet addresses. Attack: a
/// user points their webhook, ntfy and push endpoint at loopback and the cloud metadata
/// address: refused when saved, with what an administrator can do; a target stored before
/// (written to the store directly) gets nothing when a notice goes out. The control is every
/// other test here: with `notify_private_targets` the same loopback targets are reached.
#[tokio::test(flavor = "multi_thread")]
async fn targets_inside_the_network_get_nothing_unless_an_admin_allows_them() {
    let s = Inproc::start().await;
    s.app.notify.start();
    let (uid, key) = s.user("mallory@example.com", false, &["read", "write"]);
    let mut hooks = FakeReceiver::start().await;
    for (field, url) in [
        ("webhook_url", format!("{}/hook", hooks.base)),
        (
            "webhook_url",
            "http://169.254.169.254/latest/meta-data/".to_string(),
        ),
        ("webhook_url", "http://localhost:9/".to_string()),
        ("ntfy_url", "http://[::1]:2586/".to_string()),
    ] {
        let mut body = json!({ field: url });
        if field == "ntfy_url" {
            body["ntfy_topic"] = json!("t");
        }
        let (st, v) = s
            .call(
                &key,
                Method::PUT,
                "/api/v1/notifications/preferences",
                Some(body),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{url}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(
            e.contains(field)
                && e.contains("internal network")
                && e.contains("AIOPS_NOTIFY_PRIVATE_TARGETS"),
            "{e}"
        );
    }
    let (st, v) = s
        .call(
            &key,
            Method::POST,
            "/api/v1/notifications/subscriptions",
            Some(json!({"endpoint": format!("{}/push/1", hooks.base),
                        "keys": {"p256dh": "x", "auth": "y"}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("internal network"),
        "{v}"
    );

    // Stored before the policy (or by hand): checked again at the send.
    {
        let w = s.app.store.write().unwrap();
        let prefs = NotifyPrefs {
            webhook_url: Some(format!("{}/hook", hooks.base)),
            ..NotifyPrefs::default()
        };
        w.put_notify_prefs(UserId(uid), &prefs).unwrap();
        w.commit().unwrap();
    }
    s.app.events.publish(Event::AnsibleRun {
        user_id: UserId(uid),
        run_id: RunId(9),
        project_id: None,
        playbook: "site.yml".into(),
        succeeded: false,
    });
    handled(&s, 1).await;
    hooks.nothing_more();
}

/// The VAPID key pair is made when the server first starts (the dispatcher's start), sealed in
/// the store; building the services alone (what an admin command does) makes none.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_makes_the_sealed_vapid_key_and_an_admin_command_does_not() {
    let s = Inproc::start().await;
    let stored = || {
        s.app
            .store
            .read()
            .unwrap()
            .setting::<String>("notify.vapid_key")
            .unwrap()
    };
    assert!(stored().is_none(), "no key before the start");
    s.app.notify.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sealed = loop {
        if let Some(k) = stored() {
            break k;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no VAPID key after the start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!sealed.contains("BEGIN"), "kept sealed, not as a PEM");
    // The public key the API gives is that key's.
    let v = s
        .expect(
            StatusCode::OK,
            &s.admin_key,
            Method::GET,
            "/api/v1/notifications/vapid-public-key",
            None,
        )
        .await;
    assert_eq!(v["public_key"].as_str().unwrap().len(), 87, "{v}");
    assert_eq!(stored().as_deref(), Some(sealed.as_str()), "made once");
}
