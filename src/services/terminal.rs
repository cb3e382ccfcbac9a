//! The browser terminal's server side: a WebSocket bridged to `tmux attach` running in a PTY.
//! Only the session's owner or an admin may attach (others get "not found", as for every
//! session route), and every attach is written to the audit log.

use super::sessions::Sessions;
use super::sessions::Tmux;
use crate::auth::Identity;
use crate::domain::{AiSession, AuditEntry};
use crate::error::{AppError, AppResult};
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketStream};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A control message from the browser (text frames); anything else is keystrokes.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Control {
    Resize { cols: u16, rows: u16 },
}

/// Parse a text frame: a control message, or `None` for keystrokes.
pub fn control(text: &str) -> Option<Control> {
    if !text.starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// What an attach needs: the row, its tmux server and target.
pub struct AttachTarget {
    pub session: AiSession,
    pub tmux: Tmux,
    pub target: String,
}

impl Sessions {
    /// Check the caller may attach (owner or admin; 404 otherwise), and that tmux still has the
    /// session; record the attach in the audit log.
    pub async fn terminal_attach(
        &self,
        caller: &Identity,
        key: &str,
        ip: Option<String>,
    ) -> AppResult<AttachTarget> {
        caller.require(crate::domain::Scope::Write)?;
        let session = self.session_row(caller, key)?;
        let (tmux, target) = Tmux::of(&session)
            .map(|(t, target)| (t, target.to_string()))
            .ok_or_else(|| AppError::NotFound(format!("Session {key} has no tmux target")))?;
        let name = target.split(':').next().unwrap_or(&target).to_string();
        if !session.is_active || !self.tmux_has(&tmux, &name).await {
            return Err(AppError::Conflict(format!(
                "Session {key} is no longer running; respawn it (aiops sessions respawn {})",
                session.id
            )));
        }
        self.audit.record_audit(AuditEntry {
            id: 0,
            user_id: Some(caller.id()),
            api_key_id: caller.key.as_ref().map(|k| k.id),
            method: "ATTACH".into(),
            path: format!("/sessions/{}/terminal", session.id),
            query: None,
            request_body: None,
            status: 101,
            duration_ms: 0.0,
            ip_address: ip,
            user_agent: None,
            error_message: None,
            created_at: crate::domain::model::now(),
            source: if caller.method == crate::auth::AuthMethod::Session {
                crate::domain::AuditSource::Web
            } else {
                crate::domain::AuditSource::Api
            },
            request_id: None,
        });
        tracing::info!(
            session = session.id.get(),
            user = caller.id().get(),
            "terminal attached"
        );
        Ok(AttachTarget {
            session,
            tmux,
            target: name,
        })
    }
}

/// Run `tmux attach` in a PTY and pump bytes both ways until either side ends. The attach
/// client is killed when the browser goes away; the tmux session keeps running.
pub async fn bridge(ws: WebSocketStream, at: AttachTarget) {
    // -u: UTF-8 whatever the server's locale.
    let (program, args) = at.tmux.argv(&["-u", "attach-session", "-t", &at.target]);
    let opened = pty_process::open();
    let Ok((pty, pts)) = opened else {
        let (mut tx, _) = ws.split();
        let _ = tx
            .send(Message::Close(Some((
                poem::web::websocket::CloseCode::Error,
                "cannot open a terminal (pty) on the server".into(),
            ))))
            .await;
        return;
    };
    let _ = pty.resize(pty_process::Size::new(40, 120));
    let child = pty_process::Command::new(program)
        .args(args)
        .env("TERM", "xterm-256color")
        // A server started inside tmux must not make the attach think it is nested.
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .kill_on_drop(true)
        .spawn(pts);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let (mut tx, _) = ws.split();
            let _ = tx
                .send(Message::Close(Some((
                    poem::web::websocket::CloseCode::Error,
                    format!("cannot run tmux attach: {e}"),
                ))))
                .await;
            return;
        }
    };
    let (mut pty_r, mut pty_w) = pty.into_split();
    let (mut ws_tx, mut ws_rx) = ws.split();
    let mut buf = vec![0u8; 16 * 1024];
    // The attach stays up when the agent exits (remain-on-exit keeps the dead pane), so the
    // pane is watched and its state sent as a text frame: {"type":"state","state":"exited"}
    // (or "running" again after a restart).
    let mut watch = tokio::time::interval(std::time::Duration::from_secs(1));
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<bool> = None;
    loop {
        tokio::select! {
            _ = watch.tick() => {
                let dead = at.tmux.pane_dead(&at.target).await;
                if let Some(d) = dead && last != Some(d) {
                    last = Some(d);
                    let state = if d { "exited" } else { "running" };
                    let msg = format!(r#"{{"type":"state","state":"{state}"}}"#);
                    if ws_tx.send(Message::Text(msg)).await.is_err() { break; }
                }
            },
            msg = ws_rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if pty_w.write_all(&b).await.is_err() { break; }
                }
                Some(Ok(Message::Text(t))) => match control(&t) {
                    Some(Control::Resize { cols, rows }) => {
                        let _ = pty_w.resize(pty_process::Size::new(rows.clamp(2, 500), cols.clamp(10, 1000)));
                    }
                    None => {
                        if pty_w.write_all(t.as_bytes()).await.is_err() { break; }
                    }
                },
                Some(Ok(Message::Ping(p))) => { let _ = ws_tx.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            n = pty_r.read(&mut buf) => match n {
                Ok(0) | Err(_) => {
                    // The attach client ended: the session was stopped or detached.
                    let _ = ws_tx.send(Message::Close(Some((
                        poem::web::websocket::CloseCode::from(4410u16),
                        "the session ended".into(),
                    )))).await;
                    break;
                }
                Ok(n) => {
                    if ws_tx.send(Message::Binary(buf.get(..n).unwrap_or(&buf).to_vec())).await.is_err() { break; }
                }
            },
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    tracing::info!(session = at.session.id.get(), "terminal detached");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages() {
        assert_eq!(
            control(r#"{"type":"resize","cols":100,"rows":30}"#),
            Some(Control::Resize {
                cols: 100,
                rows: 30
            })
        );
        assert_eq!(control("ls -la\r"), None);
        assert_eq!(control(r#"{"type":"nope"}"#), None);
        assert_eq!(control("{not json"), None);
    }
}
