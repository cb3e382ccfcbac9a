//! The browser terminal's WebSocket: a real tmux attach in a PTY, driven by a WebSocket
//! client — keystrokes and their echo, resize, reconnect, owner-only access, audit, and the
//! end of the session closing the socket.

use crate::git::seeded_bare;
use crate::harness::*;
use crate::sessions::FAKE_AGENT;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn agent_server() -> (Server, tempfile::TempDir, u64, u64) {
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
    let tenant = s.create_tenant("term").await;
    let (_, v) = s
        .post(
            &s.admin_key,
            "/api/v1/projects",
            json!({"name": "termproj", "repo_url": bare.to_str().unwrap(), "tenant_id": tenant}),
        )
        .await;
    let p = v["project"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/projects/{p}/ai/sessions"),
            json!({"tool": "fake", "rows": 30, "cols": 100}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    (s, tmp, p, v["id"].as_u64().unwrap())
}

pub(crate) async fn connect(s: &Server, id: u64, header: (&str, String)) -> Result<Ws, String> {
    connect_with(s, id, &[header]).await
}

pub(crate) async fn connect_with(
    s: &Server,
    id: u64,
    headers: &[(&str, String)],
) -> Result<Ws, String> {
    let url = format!(
        "{}/streams/sessions/{id}/terminal",
        s.base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        let name: reqwest::header::HeaderName = k.parse().unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Read frames until the accumulated output contains `needle`.
pub(crate) async fn read_until(ws: &mut Ws, needle: &str) -> String {
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !got.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in time; got: {got}"));
        match msg {
            Some(Ok(Message::Binary(b))) => got.push_str(&String::from_utf8_lossy(&b)),
            Some(Ok(Message::Text(t))) => got.push_str(&t),
            Some(Ok(_)) => {}
            other => panic!("socket ended before {needle:?}: {other:?}; got: {got}"),
        }
    }
    got
}

fn tmux(sock: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("tmux")
        .arg("-S")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_websocket_types_resizes_reconnects_and_is_private() {
    let (s, _tmp, _p, id) = agent_server().await;
    let k = s.admin_key.clone();
    let info = s.call(&k, Method::GET, "/api/v1/ai/sessions", None).await.1;
    let sock = info["sessions"][0]["tmux_socket"]
        .as_str()
        .unwrap()
        .to_string();
    let name = format!("aiops-{id}");
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let by_cookie = || ("cookie", format!("aiops_session={cookie}"));

    // A page of another site cannot use the login cookie to attach; our own pages can.
    let err = connect_with(
        &s,
        id,
        &[
            ("cookie", format!("aiops_session={cookie}")),
            ("origin", "http://evil.example".into()),
        ],
    )
    .await
    .map(|_| ())
    .expect_err("cross-site attach refused");
    assert!(err.contains("403"), "{err}");
    let own = connect_with(
        &s,
        id,
        &[
            ("cookie", format!("aiops_session={cookie}")),
            ("origin", s.base.clone()),
        ],
    )
    .await
    .expect("our own origin attaches");
    drop(own);
    let mut ws = connect(&s, id, by_cookie()).await.unwrap();
    read_until(&mut ws, "fake agent ready").await;
    ws.send(Message::Binary(b"hello-term\r".to_vec().into()))
        .await
        .unwrap();
    read_until(&mut ws, "agent got: hello-term").await;
    // Resize: tmux follows the browser's size.
    ws.send(Message::Text(
        json!({"type": "resize", "cols": 90, "rows": 25})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let size = tmux(
            &sock,
            &[
                "display",
                "-p",
                "-t",
                &name,
                "#{window_width}x#{window_height}",
            ],
        );
        if size == "90x24" || size == "90x25" {
            break;
        }
        assert!(Instant::now() < deadline, "tmux window is {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Dropping the connection detaches; the agent keeps running; reconnecting works.
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tmux(&sock, &["list-clients"]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the attach client was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tmux(&sock, &["has-session", "-t", &name]), "");
    let mut ws = connect(&s, id, ("authorization", format!("Bearer {k}")))
        .await
        .unwrap();
    ws.send(Message::Binary(b"again\r".to_vec().into()))
        .await
        .unwrap();
    read_until(&mut ws, "agent got: again").await;

    // Someone else: neither the socket nor the page.
    s.create_user("eve@example.com", "eve-password-1", false)
        .await;
    let eve = s.web_login("eve@example.com", "eve-password-1").await;
    let err = connect(&s, id, ("cookie", format!("aiops_session={eve}")))
        .await
        .map(|_| ())
        .expect_err("refused");
    assert!(err.contains("404"), "{err}");
    let r = s
        .client
        .get(s.url(&format!("/sessions/{id}/terminal")))
        .header("cookie", format!("aiops_session={eve}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let err = connect(&s, id, ("x-none", "1".into()))
        .await
        .map(|_| ())
        .expect_err("no credentials");
    assert!(err.contains("401"), "{err}");
    // Every attach is audited.
    let audit = s
        .call(&k, Method::GET, "/api/v1/audit?limit=200", None)
        .await
        .1;
    let attaches = audit
        .to_string()
        .matches(&format!("/sessions/{id}/terminal"))
        .count();
    assert!(attaches >= 2, "{audit}");

    // Stopping the session ends the socket.
    s.call(
        &k,
        Method::DELETE,
        &format!("/api/v1/ai/sessions/{id}"),
        None,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the socket stayed open after the session stopped"),
        }
    }
    let _ = std::process::Command::new("tmux")
        .args(["-S", &sock, "kill-server"])
        .output();
}
