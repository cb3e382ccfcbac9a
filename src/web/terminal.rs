//! The browser terminal page and its WebSocket (`/streams/sessions/{key}/terminal`).

use super::layout::page;
use super::prelude::*;
use maud::html;
use poem::http::StatusCode;
use poem::web::Path;
use poem::web::websocket::WebSocket;
use poem::{IntoResponse, Request, Response, handler};

const XTERM: &str = "vendor/xterm-5.5.0";

#[handler]
pub async fn terminal_page(
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    WebUser(who): WebUser,
) -> Response {
    let l = match app.sessions.session_view(&who, &key).await {
        Ok(l) => l,
        Err(e) => return not_found(&who, &e),
    };
    let s = &l.session;
    let exited = l.state.is_some_and(|s| s.is_final());
    page(
        &format!("Terminal · session {}", s.id),
        Some(&who),
        html! {
            link rel="stylesheet" href=(super::pwa::asset_url(&format!("{XTERM}/xterm.css")));
            link rel="stylesheet" href=(super::pwa::asset_url("agents.css"));
            div #term-head.term-head data-state=(if exited { "exited" } else { "connecting" }) {
                strong { (s.tool) " · session " (s.id) }
                " "
                a href={ "/projects/" (s.project_id) } {
                    (l.project_name.clone().unwrap_or_else(|| format!("project {}", s.project_id)))
                }
                @if let Some(i) = s.issue_id {
                    " · "
                    a href={ "/issues/" (i) } { (l.issue_title.clone().unwrap_or_else(|| format!("issue {i}"))) }
                }
                " "
                @if s.is_active {
                    span #term-status.pending role="status" { "connecting…" }
                    div #term-actions { (super::agents::terminal_controls(&who, s.id.get(), exited)) }
                } @else {
                    p.muted { "This session has ended. " a href="/agents/history" { "Start it again from the history" } "." }
                }
            }
            @if s.is_active {
                div #terminal data-ws={ "/streams/sessions/" (s.id) "/terminal" } {}
            }
            nav #term-keys aria-label="Keys" {
                button type="button" data-key="esc" { "Esc" }
                button type="button" data-key="tab" { "Tab" }
                button type="button" data-key="ctrl-c" { "Ctrl-C" }
                button type="button" data-key="ctrl-d" { "Ctrl-D" }
                button type="button" data-key="left" aria-label="Left" { "←" }
                button type="button" data-key="up" aria-label="Up" { "↑" }
                button type="button" data-key="down" aria-label="Down" { "↓" }
                button type="button" data-key="right" aria-label="Right" { "→" }
                button type="button" data-key="enter" { "⏎" }
                button #term-copy type="button" { "Copy" }
                button #term-paste type="button" { "Paste" }
            }
            script src=(super::pwa::asset_url(&format!("{XTERM}/xterm.js"))) {}
            script src=(super::pwa::asset_url(&format!("{XTERM}/addon-fit.js"))) {}
            script src=(super::pwa::asset_url("terminal.js")) {}
        },
    )
    .into_response()
}

/// The `Origin` header, when sent, names this server (scheme-less host:port compared with
/// `Host`). Non-browser clients send no Origin.
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin)
        .trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[handler]
pub async fn terminal_ws(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    ws: WebSocket,
) -> Response {
    let Some(who) = caller(app, req) else {
        return (
            StatusCode::UNAUTHORIZED,
            "Log in (or send an API key) to attach",
        )
            .into_response();
    };
    // Browsers send cookies on cross-site WebSocket handshakes too: a cookie-authenticated
    // socket must come from one of our own pages.
    if who.method == crate::auth::AuthMethod::Session && !same_origin(req) {
        return (
            StatusCode::FORBIDDEN,
            "Cross-site WebSocket refused: open the terminal from this server's own pages",
        )
            .into_response();
    }
    let ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    let target = match app.sessions.terminal_attach(&who, &key, ip).await {
        Ok(t) => t,
        Err(e) => return (e.status(), e.to_string()).into_response(),
    };
    // While the socket is open its user is watching this terminal: no notices about it.
    let watching = app.events.watch(who.user.id, &key);
    ws.on_upgrade(move |socket| async move {
        let _watching = watching;
        crate::services::terminal::bridge(socket, target).await
    })
    .into_response()
}
