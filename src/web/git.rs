//! The workspace panel of a project page: branch, changes, recent commits, and pull / push /
//! commit / branch / checkout as htmx forms that show git's own output.

use super::layout::{csrf_field, error_box, notice_box, page};
use super::pages::{AppData, Fields, csrf_failed, error_status, field, html_status};
use super::session::*;
use crate::auth::Identity;
use crate::domain::Scope;
use crate::error::AppError;
use crate::services::App;
use maud::{Markup, html};
use poem::web::Path;
use poem::{IntoResponse, Request, Response, handler};

async fn panel(
    app: &App,
    who: &Identity,
    id: u64,
    error: Option<&str>,
    notice: Option<&str>,
    output: Option<&str>,
) -> Markup {
    let base = format!("/projects/{id}/workspace");
    let form = |action: &str| format!("{base}/{action}");
    let status = match app.workspace_status(who, id) {
        Ok(s) => s,
        Err(e) => return html! { section #workspace-panel { (error_box(Some(&e.to_string()))) } },
    };
    let can_write = who.has(Scope::Write);
    let git = if status.has_git {
        Some(app.git_status(who, id).await)
    } else {
        None
    };
    let log = if status.has_git {
        app.git_log(who, id, 5).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    html! {
        section #workspace-panel {
            h2 { "My workspace" }
            (notice_box(notice))
            (error_box(error))
            @if let Some(o) = output.filter(|o| !o.trim().is_empty()) { pre.git-output { (o) } }
            p.muted { code { (status.path.display()) } }
            @match &git {
                None => {
                    p { "Not cloned yet. Your workspace is your own clone of this project." }
                    @if can_write {
                        form method="post" action=(form("init")) hx-post=(form("init")) hx-target="#workspace-panel" hx-select="#workspace-panel" hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who)) button #workspace-init type="submit" { "Clone into my workspace" } span.htmx-indicator { " Cloning…" }
                        }
                    }
                }
                Some(Err(e)) => { (error_box(Some(&e.to_string()))) }
                Some(Ok(s)) => {
                    @let p = &s.porcelain;
                    p {
                        "Branch " strong #ws-branch { @if p.detached { "detached" } @else { (p.branch.as_deref().unwrap_or("?")) } }
                        @if let Some(u) = &p.upstream { " → " code { (u) } }
                        @if p.ahead > 0 { " · " (p.ahead) " ahead" }
                        @if p.behind > 0 { " · " (p.behind) " behind" }
                    }
                    @if p.staged.is_empty() && p.unstaged.is_empty() && p.untracked.is_empty() && p.conflicted.is_empty() {
                        p #ws-clean { "Working tree clean." }
                    } @else {
                        pre #ws-changes { (s.summary) }
                    }
                    @if !log.is_empty() {
                        h3 { "Recent commits" }
                        ul #ws-log { @for c in &log { li { code { (c.hash.chars().take(8).collect::<String>()) } " " (c.subject) " " small { "— " (c.author) } } } }
                    }
                    @if can_write {
                        div.toolbar {
                            form.inline method="post" action=(form("pull")) hx-post=(form("pull")) hx-target="#workspace-panel" hx-select="#workspace-panel" hx-swap="outerHTML" hx-disabled-elt="find button" {
                                (csrf_field(who)) button #ws-pull.outline type="submit" { "Pull" }
                            }
                            form.inline method="post" action=(form("push")) hx-post=(form("push")) hx-target="#workspace-panel" hx-select="#workspace-panel" hx-swap="outerHTML" hx-disabled-elt="find button" {
                                (csrf_field(who)) button #ws-push.outline type="submit" { "Push" }
                            }
                            span.htmx-indicator { "Working…" }
                        }
                        form #ws-commit-form method="post" action=(form("commit")) hx-post=(form("commit")) hx-target="#workspace-panel" hx-select="#workspace-panel" hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            fieldset role="group" {
                                input type="text" name="message" placeholder="Commit message" required aria-label="Commit message";
                                button #ws-commit type="submit" { "Commit all" }
                            }
                            input type="text" name="files" placeholder="Only these files (comma-separated, optional)" aria-label="Files";
                        }
                        form #ws-branch-form method="post" action=(form("branch")) hx-post=(form("branch")) hx-target="#workspace-panel" hx-select="#workspace-panel" hx-swap="outerHTML" {
                            (csrf_field(who))
                            fieldset role="group" {
                                input type="text" name="name" placeholder="Branch name" required aria-label="Branch";
                                button.secondary type="submit" name="mode" value="create" { "New branch" }
                                button.secondary.outline type="submit" name="mode" value="checkout" { "Switch" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[handler]
pub async fn workspace_get(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
) -> Response {
    let who = who_or_login!(app, req);
    page(
        "Workspace",
        Some(&who),
        panel(app, &who, id, None, None, None).await,
    )
    .into_response()
}

#[handler]
pub async fn workspace_post(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res: Result<(String, String), AppError> = match action.as_str() {
        "init" => app
            .workspace_init(&who, id)
            .await
            .map(|(p, _)| (format!("Cloned into {}.", p.display()), String::new())),
        "pull" => app
            .git_pull(&who, id, None, false)
            .await
            .map(|o| ("Pull completed.".to_string(), o)),
        "push" => app
            .git_push(&who, id, None)
            .await
            .map(|o| ("Push completed.".to_string(), o)),
        "commit" => {
            let files: Vec<String> = field(&f, "files")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            app.git_commit(&who, id, field(&f, "message"), &files)
                .await
                .map(|(o, h)| {
                    (
                        format!("Committed {}.", &h.chars().take(8).collect::<String>()),
                        o,
                    )
                })
        }
        "branch" => {
            let name = field(&f, "name");
            if field(&f, "mode") == "checkout" {
                app.git_checkout(&who, id, name)
                    .await
                    .map(|_| (format!("Switched to {name}."), String::new()))
            } else {
                app.git_create_branch(&who, id, name, None, true)
                    .await
                    .map(|_| (format!("Created and switched to {name}."), String::new()))
            }
        }
        _ => Err(AppError::NotFound("No such action".into())),
    };
    match res {
        Ok((msg, out)) => page(
            "Workspace",
            Some(&who),
            panel(app, &who, id, None, Some(&msg), Some(&out)).await,
        )
        .into_response(),
        Err(e) => html_status(
            error_status(&e),
            page(
                "Workspace",
                Some(&who),
                panel(app, &who, id, Some(&e.to_string()), None, None).await,
            ),
        ),
    }
}
