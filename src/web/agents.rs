//! Starting agents from the issue and project pages, and the global agent instructions page.

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::pages::{AppData, Fields, csrf_failed, error_status, field, html_status, not_found};
use super::session::*;
use crate::auth::Identity;
use crate::domain::Scope;
use crate::error::AppError;
use crate::services::App;
use crate::services::sessions::StartRequest;
use maud::{Markup, html};
use poem::web::Path;
use poem::{IntoResponse, Request, Response, handler};

/// The "Start agent" form (a tool picker and an optional prompt). A plain form post: the
/// answer is a redirect to the new session's terminal.
pub fn start_form(app: &App, who: &Identity, action: &str, for_issue: bool) -> Markup {
    if !who.has(Scope::Write) {
        return html! {};
    }
    let mut tools: Vec<&String> = app.config.tools.keys().collect();
    tools.sort();
    html! {
        form.agent-start method="post" action=(action) {
            (csrf_field(who))
            fieldset role="group" {
                select name="tool" aria-label="Agent tool" {
                    @for t in &tools {
                        option value=(t) selected[t.as_str() == "claude"] { (t) }
                    }
                }
                button.small type="submit" { @if for_issue { "Work on it with an agent" } @else { "Start agent" } }
            }
            details {
                summary { "Prompt (optional)" }
                textarea name="prompt" rows="3" placeholder=(if for_issue { "Default: work on the issue, reading AGENTS.override.md first" } else { "Typed into the agent once it starts" }) {}
            }
        }
    }
}

async fn start(
    app: &App,
    who: &Identity,
    project_id: u64,
    issue_id: Option<u64>,
    f: &std::collections::HashMap<String, String>,
) -> Result<u64, AppError> {
    let prompt = Some(field(f, "prompt").trim().to_string())
        .filter(|p| !p.is_empty())
        .or_else(|| issue_id.map(|i| format!("Work on issue {i}. Read AGENTS.override.md first.")));
    let s = app
        .start_session(
            who,
            project_id,
            StartRequest {
                tool: Some(field(f, "tool").to_string()).filter(|t| !t.is_empty()),
                prompt,
                issue_id,
                ..Default::default()
            },
        )
        .await?;
    Ok(s.session.id)
}

fn failed(who: &Identity, title: &str, back: &str, e: &AppError) -> Response {
    html_status(
        error_status(e),
        page(
            title,
            Some(who),
            html! {
                h1 { (title) }
                (error_box(Some(&e.to_string())))
                p { a href=(back) { "Back" } }
            },
        ),
    )
}

/// `POST /issues/{id}/agent`: start (or reuse) an agent on the issue, then open its terminal.
pub async fn issue_agent(
    app: &App,
    who: &Identity,
    id: u64,
    f: &std::collections::HashMap<String, String>,
) -> Response {
    let issue = match app.get_issue(who, id) {
        Ok(v) => v,
        Err(e) => return not_found(who, &e),
    };
    match start(app, who, issue.issue.project_id, Some(id), f).await {
        Ok(sid) => redirect(&format!("/sessions/{sid}/terminal")),
        Err(e) => failed(who, "Agent not started", &format!("/issues/{id}"), &e),
    }
}

#[handler]
pub async fn project_agent(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    match start(app, &who, id, None, &f).await {
        Ok(sid) => redirect(&format!("/sessions/{sid}/terminal")),
        Err(e) => failed(&who, "Agent not started", &format!("/projects/{id}"), &e),
    }
}

fn global_page(app: &App, who: &Identity, error: Option<&str>, notice: Option<&str>) -> Markup {
    let current = app.global_context(who).ok().flatten();
    let admin = who.user.is_admin;
    page(
        "Agent instructions",
        Some(who),
        html! {
            h1 { "Agent instructions" }
            p.muted {
                "Every agent's AGENTS.override.md starts with these instructions. "
                "When none are set, the repository's own AGENTS.md is used."
            }
            (error_box(error))
            (notice_box(notice))
            @if let Some((g, by)) = &current {
                p.muted {
                    "Updated " (fmt_time(&g.updated_at))
                    @if let Some(u) = by { " by " (u.name) }
                }
            } @else {
                p #no-global { em { "No global instructions set: agents get the repository's AGENTS.md." } }
            }
            @if admin {
                form #global-form method="post" action="/settings/agents" {
                    (csrf_field(who))
                    textarea name="content" rows="16" aria-label="Instructions" {
                        @if let Some((g, _)) = &current { (g.content) }
                    }
                    div.toolbar {
                        button type="submit" name="action" value="save" { "Save" }
                        @if current.is_some() {
                            button.secondary.outline type="submit" name="action" value="clear" { "Clear" }
                        }
                    }
                }
            } @else if let Some((g, _)) = &current {
                pre #global-content { (g.content) }
            }
        },
    )
}

#[handler]
pub fn global_get(req: &Request, poem::web::Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    global_page(app, &who, None, None).into_response()
}

#[handler]
pub fn global_post(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = if field(&f, "action") == "clear" {
        app.clear_global_context(&who)
            .map(|_| "Cleared: agents get the repository's AGENTS.md.".to_string())
    } else {
        app.set_global_context(&who, field(&f, "content"))
            .map(|_| "Saved. New agent sessions start with these instructions.".to_string())
    };
    match res {
        Ok(msg) => global_page(app, &who, None, Some(&msg)).into_response(),
        Err(e) => html_status(
            error_status(&e),
            global_page(app, &who, Some(&e.to_string()), None),
        ),
    }
}

/// One poller per user: it renders the user's agents panel every 2 s while at least one of
/// their dashboards listens, and every listener gets the same rendering (tmux is asked once per
/// user, however many dashboards are open).
type Panels = std::sync::Mutex<
    std::collections::HashMap<crate::domain::Id, tokio::sync::watch::Receiver<String>>,
>;

fn panels() -> &'static Panels {
    static P: std::sync::OnceLock<Panels> = std::sync::OnceLock::new();
    P.get_or_init(Default::default)
}

fn panel_feed(app: &std::sync::Arc<App>, who: &Identity) -> tokio::sync::watch::Receiver<String> {
    let mut map = panels().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rx) = map.get(&who.user.id)
        && rx.has_changed().is_ok()
    {
        return rx.clone();
    }
    let (tx, rx) = tokio::sync::watch::channel(String::new());
    map.insert(who.user.id, rx.clone());
    let (app, who) = (app.clone(), who.clone());
    tokio::spawn(async move {
        loop {
            let html = super::git::agents_list(&app, &who).await.into_string();
            tx.send_if_modified(|cur| {
                if *cur != html {
                    *cur = html;
                    true
                } else {
                    false
                }
            });
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            // Only the map's own receiver left: nobody is watching; stop.
            if tx.receiver_count() <= 1 {
                let mut map = panels().lock().unwrap_or_else(|p| p.into_inner());
                if tx.receiver_count() <= 1 {
                    map.remove(&who.user.id);
                    return;
                }
            }
        }
    });
    rx
}

/// `GET /agents/events`: server-sent events carrying the agents panel whenever it changes
/// (from the user's one poller; nothing is sent while nothing changes, apart from keep-alive
/// comments).
#[handler]
pub async fn agents_events(req: &Request, poem::web::Data(app): AppData<'_>) -> Response {
    use poem::web::sse::{Event, SSE};
    let who = who_or_login!(app, req);
    let mut rx = panel_feed(app, &who);
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            let html = rx.borrow_and_update().clone();
            if !html.is_empty() {
                let ev = Event::message(html).event_type("agents");
                return Some((ev, rx));
            }
        }
    });
    SSE::new(stream)
        .keep_alive(std::time::Duration::from_secs(15))
        .into_response()
}
