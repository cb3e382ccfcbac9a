//! The workspace panel of a project page: branch with ahead/behind, the changed files with
//! their badges (each opens its diff), recent commits, and pull / clean pull / push to a
//! branch / commit / branch picker (check out, create, merge, delete) as htmx forms that show
//! what happened. `GET /projects/:id/workspace/diff?path=…` is the panel with one file's diff
//! open: swapped into the panel by htmx, or a whole page when loaded directly.

use super::layout::{csrf_field, error_box, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::domain::Scope;
use crate::domain::gitrules::{ChangedFile, classify_diff};
use crate::error::AppError;
use crate::services::App;
use crate::services::git::{FILE_DIFF_BYTES, FileDiff};
use maud::{Markup, html};
use poem::web::{Path, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// What the panel shows besides the workspace itself.
#[derive(Default)]
struct Extra<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    output: Option<&'a str>,
    diff: Option<&'a FileDiff>,
}

/// The htmx attributes of every form and link in the panel: the answer replaces the panel.
const TARGET: &str = "#workspace-panel";

fn diff_url(id: u64, path: &str) -> String {
    format!("/projects/{id}/workspace/diff?path={}", urlencode(path))
}

/// A file's badge: its letter(s), coloured, with the words as title and aria-label.
fn badge(c: &ChangedFile) -> Markup {
    let word = c.change.word();
    html! {
        span class={ "ws-badge " (c.change.class()) } title=(word) aria-label=(word) role="img" { (c.change.code()) }
    }
}

fn side(c: &ChangedFile) -> &'static str {
    match (c.staged, c.unstaged) {
        _ if c.xy == "??" => "not added",
        (true, true) => "staged and unstaged",
        (true, false) => "staged",
        _ => "not staged",
    }
}

fn diff_view(id: u64, d: &FileDiff) -> Markup {
    html! {
        section #ws-diff aria-label={ "Diff of " (d.path) } data-scroll {
            div.ws-diff-head {
                @for c in d.changes.iter().take(1) { (badge(c)) }
                code.ws-diff-path { (d.path) }
                a #ws-diff-close role="button" class="outline secondary" href={ "/projects/" (id) }
                    hx-get={ "/projects/" (id) "/workspace" } hx-target=(TARGET) hx-select=(TARGET)
                    hx-swap="outerHTML" hx-push-url={ "/projects/" (id) } { "Close diff" }
            }
            @if d.changes.len() > 1 {
                p.muted { (d.changes.len()) " new files in this directory." }
            }
            @if d.text.trim().is_empty() {
                p #ws-diff-empty { "No changes in " code { (d.path) } "." }
            } @else {
                div.diff-box {
                    pre.diff #ws-diff-lines {
                        @for (kind, line) in classify_diff(&d.text) {
                            span class={ "dl " (kind.class()) } { @if line.is_empty() { " " } @else { (line) } }
                        }
                    }
                }
            }
            @if d.truncated {
                p.notice #ws-diff-truncated role="status" {
                    "Diff truncated: only the first " (FILE_DIFF_BYTES / 1024) " KB are shown. See all of it in a terminal (git diff HEAD -- " (d.path) ")."
                }
            }
        }
    }
}

async fn panel(app: &App, who: &Identity, id: u64, x: Extra<'_>) -> Markup {
    let base = format!("/projects/{id}/workspace");
    let form = |action: &str| format!("{base}/{action}");
    let status = match app.git.workspace_status(who, id.into()) {
        Ok(s) => s,
        Err(e) => return html! { section #workspace-panel { (error_box(Some(&e.to_string()))) } },
    };
    let can_write = who.has(Scope::Write);
    let git = if status.has_git {
        Some(app.git.git_status(who, id.into()).await)
    } else {
        None
    };
    let log = if status.has_git {
        app.git.git_log(who, id.into(), 5).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let (branches, current) = if status.has_git {
        app.git
            .git_branches(who, id.into())
            .await
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let current = current.unwrap_or_default();
    // Picker values: local names and `remotes/<remote>/<branch>` (a remote's HEAD is left out).
    let locals: Vec<&str> = branches
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !n.starts_with("remotes/"))
        .collect();
    let remotes: Vec<&str> = branches
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.starts_with("remotes/") && !n.contains("->"))
        .collect();
    let others: Vec<&str> = locals.iter().copied().filter(|n| *n != current).collect();
    let into = if current.is_empty() {
        "the current branch".to_string()
    } else {
        current.clone()
    };
    let options = |skip_current: bool| {
        html! {
            option value="" disabled selected { "Choose a branch…" }
            optgroup label="Local" {
                @for b in &locals { @if !(skip_current && *b == current) { option value=(b) { (b) } } }
            }
            @if !remotes.is_empty() {
                optgroup label="Remote" {
                    @for b in &remotes { option value=(b) { (b.trim_start_matches("remotes/")) } }
                }
            }
        }
    };
    html! {
        section #workspace-panel {
            h2 { "My workspace" }
            (notice_box(x.notice))
            (error_box(x.error))
            @if let Some(o) = x.output.filter(|o| !o.trim().is_empty()) { pre.git-output { (o) } }
            p.muted.ws-path-line { code { (status.path.display()) } }
            @match &git {
                None => {
                    p { "Not cloned yet. Your workspace is your own clone of this project." }
                    @if can_write {
                        form method="post" action=(form("init")) hx-post=(form("init")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who)) button #workspace-init type="submit" { "Clone into my workspace" } span.htmx-indicator { " Cloning…" }
                        }
                    }
                }
                Some(Err(e)) => { (error_box(Some(&e.to_string()))) }
                Some(Ok(s)) => {
                    @let p = &s.porcelain;
                    p.ws-branch-line {
                        "Branch " strong #ws-branch { @if p.detached { "detached" } @else { (p.branch.as_deref().unwrap_or("?")) } }
                        @if let Some(u) = &p.upstream { " → " code { (u) } }
                        span #ws-ahead-behind {
                            @if p.upstream.is_some() && p.ahead == 0 && p.behind == 0 { " · up to date" }
                            @if p.ahead > 0 { " · " (p.ahead) " ahead" }
                            @if p.behind > 0 { " · " (p.behind) " behind" }
                        }
                    }
                    @if let Some(d) = x.diff { (diff_view(id, d)) }
                    @if s.files.is_empty() {
                        p #ws-clean { "Working tree clean." }
                    } @else {
                        h3 { "Changes " small.muted { "(" (s.files.len()) ")" } }
                        ul #ws-files {
                            @for c in &s.files {
                                li.ws-file {
                                    a.ws-file-link href=(diff_url(id, &c.path)) hx-get=(diff_url(id, &c.path))
                                        hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-push-url="true"
                                        aria-current=[x.diff.filter(|d| d.path == c.path.trim_end_matches('/')).map(|_| "true")] {
                                        (badge(c))
                                        span.ws-file-path {
                                            @if let Some(o) = &c.orig_path { (o) " → " }
                                            (c.path)
                                        }
                                        small.ws-side { (side(c)) }
                                    }
                                }
                            }
                        }
                        details.ws-raw {
                            summary { "As git status prints it" }
                            pre #ws-changes { (s.summary) }
                        }
                    }
                    @if !log.is_empty() {
                        h3 { "Recent commits" }
                        ul #ws-log { @for c in &log { li { code { (c.hash.chars().take(8).collect::<String>()) } " " (c.subject) " " small { "— " (c.author) } } } }
                    }
                    @if can_write {
                        h3 #ws-sync-title { "Sync" }
                        div.toolbar.ws-sync {
                            form.inline #ws-pull-form method="post" action=(form("pull")) hx-post=(form("pull")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                                (csrf_field(who)) button #ws-pull.outline type="submit" { "Pull" }
                            }
                            form.inline #ws-clean-pull-form method="post" action=(form("clean-pull")) hx-post=(form("clean-pull")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button"
                                hx-confirm="Clean pull discards every uncommitted change and untracked file in your workspace, then pulls. Continue?" {
                                (csrf_field(who)) button #ws-clean-pull.outline.danger type="submit" { "Clean pull" }
                            }
                        }
                        form #ws-push-form method="post" action=(form("push")) hx-post=(form("push")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            fieldset role="group" {
                                input #ws-push-ref type="text" name="ref" placeholder="Target branch (optional)" aria-label="Target branch on origin (optional)" aria-describedby="ws-push-hint" autocomplete="off" autocapitalize="off" spellcheck="false";
                                button #ws-push.outline type="submit" { "Push" }
                            }
                            small.muted #ws-push-hint {
                                @if current.is_empty() { "HEAD is detached: name the branch to push it to." }
                                @else { "Empty: push " (current) " to origin/" (current) ". A name pushes what is checked out to that branch." }
                            }
                        }
                        form #ws-commit-form method="post" action=(form("commit")) hx-post=(form("commit")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            fieldset role="group" {
                                input type="text" name="message" placeholder="Commit message" required aria-label="Commit message";
                                button #ws-commit type="submit" { "Commit all" }
                            }
                            input type="text" name="files" placeholder="Only these files (comma-separated, optional)" aria-label="Files";
                        }
                        h3 { "Branches" }
                        @if !others.is_empty() || !remotes.is_empty() {
                            form #ws-checkout-form method="post" action=(form("checkout")) hx-post=(form("checkout")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                                (csrf_field(who))
                                label for="ws-checkout-branch" { "Check out" }
                                fieldset role="group" {
                                    select #ws-checkout-branch name="branch" required { (options(true)) }
                                    button #ws-checkout.secondary type="submit" { "Check out" }
                                }
                            }
                            form #ws-merge-form method="post" action=(form("merge")) hx-post=(form("merge")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button"
                                hx-confirm={ "Merge the selected branch into " (into) "?" } {
                                (csrf_field(who))
                                label for="ws-merge-branch" { "Merge into " strong { (into) } }
                                fieldset role="group" {
                                    select #ws-merge-branch name="branch" required { (options(true)) }
                                    button #ws-merge.secondary type="submit" { "Merge" }
                                }
                            }
                        } @else {
                            p.muted #ws-no-branches { "No other branches yet: create one below." }
                        }
                        @if !others.is_empty() {
                            form #ws-delete-form method="post" action=(form("delete")) hx-post=(form("delete")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button"
                                hx-confirm="Delete the selected local branch? Commits that are only on it will be lost." {
                                (csrf_field(who))
                                label for="ws-delete-branch" { "Delete a local branch" }
                                fieldset role="group" {
                                    select #ws-delete-branch name="branch" required {
                                        option value="" disabled selected { "Choose a branch…" }
                                        @for b in &others { option value=(b) { (b) } }
                                    }
                                    button #ws-delete.outline.danger type="submit" { "Delete" }
                                }
                            }
                        }
                        form #ws-branch-form method="post" action=(form("branch")) hx-post=(form("branch")) hx-target=(TARGET) hx-select=(TARGET) hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            input type="hidden" name="mode" value="create";
                            input type="hidden" name="has_switch" value="1";
                            label for="ws-new-branch" { "New branch from " strong { (into) } }
                            fieldset role="group" {
                                input #ws-new-branch type="text" name="name" placeholder="feature/my-change" required aria-label="New branch name" autocomplete="off" autocapitalize="off" spellcheck="false";
                                button #ws-create-branch.secondary type="submit" { "Create" }
                            }
                            label.ws-switch { input #ws-switch type="checkbox" name="switch" value="1" checked; " Switch to it" }
                        }
                    }
                }
            }
        }
    }
}

/// The workspace page around the panel (loaded directly rather than into the project page).
fn full(who: &Identity, id: u64, panel: Markup) -> Markup {
    page(
        "Workspace",
        Some(who),
        html! {
            p.ws-back { a href={ "/projects/" (id) } { "← Project" } }
            (panel)
        },
    )
}

#[handler]
pub async fn workspace_get(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    full(&who, id, panel(app, &who, id, Extra::default()).await).into_response()
}

#[derive(Deserialize)]
pub struct DiffQuery {
    path: Option<String>,
}

/// The panel with one file's diff open. A refused path is a 400 with the reason in the panel
/// (and nothing read).
#[handler]
pub async fn workspace_diff(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Query(q): Query<DiffQuery>,
    WebUser(who): WebUser,
) -> Response {
    let path = q.path.unwrap_or_default();
    match app.git.git_file_diff(&who, id.into(), &path).await {
        Ok(d) => {
            let extra = Extra {
                diff: Some(&d),
                ..Default::default()
            };
            full(&who, id, panel(app, &who, id, extra).await).into_response()
        }
        Err(e) => {
            let msg = e.to_string();
            let extra = Extra {
                error: Some(&msg),
                ..Default::default()
            };
            shown_error(
                e.status(),
                full(&who, id, panel(app, &who, id, extra).await),
            )
        }
    }
}

/// A workspace action's form: the ref to push, the commit's message and files (comma-separated),
/// the branch to check out, merge or delete, and the new branch's name, mode and switch box.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct WorkspaceForm {
    #[serde(rename = "ref")]
    git_ref: String,
    files: String,
    message: String,
    branch: String,
    name: String,
    mode: String,
    has_switch: Option<String>,
    switch: Option<String>,
}

#[handler]
pub async fn workspace_post(
    poem::web::Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    CsrfForm(who, f): CsrfForm<WorkspaceForm>,
) -> Response {
    let res: Result<(String, String), AppError> = match action.as_str() {
        "init" => app
            .git
            .workspace_init(&who, id.into())
            .await
            .map(|(p, _)| (format!("Cloned into {}.", p.display()), String::new())),
        "pull" => app
            .git
            .git_pull(&who, id.into(), None, false)
            .await
            .map(|o| ("Pull completed.".to_string(), o)),
        "clean-pull" => app
            .git
            .git_pull(&who, id.into(), None, true)
            .await
            .map(|o| {
                (
                    "Clean pull completed: local changes were discarded, then pulled.".to_string(),
                    o,
                )
            }),
        "push" => app
            .git
            .git_push_to(&who, id.into(), Some(f.git_ref.as_str()))
            .await
            .map(|(to, o)| (format!("Push completed. Pushed to origin/{to}."), o)),
        "commit" => {
            let files: Vec<String> = f
                .files
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            app.git
                .git_commit(&who, id.into(), &f.message, &files)
                .await
                .map(|(o, h)| {
                    (
                        format!("Committed {}.", &h.chars().take(8).collect::<String>()),
                        o,
                    )
                })
        }
        "checkout" => app
            .git
            .git_checkout(&who, id.into(), &f.branch)
            .await
            .map(|b| (format!("Switched to {b}."), String::new())),
        "merge" => {
            let b = f.branch.trim();
            app.git.git_merge(&who, id.into(), b).await.map(|o| {
                let b = b.trim_start_matches("remotes/");
                (format!("Merged {b} into the current branch."), o)
            })
        }
        "delete" => {
            let b = f.branch.trim();
            app.git
                .git_delete_branch(&who, id.into(), b)
                .await
                .map(|o| (format!("Deleted branch {b}."), o))
        }
        "branch" => {
            let name = f.name.trim();
            if f.mode == "checkout" {
                app.git
                    .git_checkout(&who, id.into(), name)
                    .await
                    .map(|b| (format!("Switched to {b}."), String::new()))
            } else {
                // The panel's form says whether to switch; a form without the field (older
                // pages) creates and switches, as it always did.
                let switch = f.has_switch.is_none() || f.switch.is_some();
                app.git
                    .git_create_branch(&who, id.into(), name, None, switch)
                    .await
                    .map(|_| {
                        let msg = if switch {
                            format!("Created and switched to {name}.")
                        } else {
                            format!("Created branch {name}.")
                        };
                        (msg, String::new())
                    })
            }
        }
        _ => Err(AppError::NotFound("No such action".into())),
    };
    match res {
        Ok((msg, out)) => {
            let extra = Extra {
                notice: Some(&msg),
                output: Some(&out),
                ..Default::default()
            };
            full(&who, id, panel(app, &who, id, extra).await).into_response()
        }
        Err(e) => {
            let msg = e.to_string();
            let extra = Extra {
                error: Some(&msg),
                ..Default::default()
            };
            shown_error(
                error_status(&e),
                full(&who, id, panel(app, &who, id, extra).await),
            )
        }
    }
}
