//! Web pages for tracker issues (list with filters, detail with actions, create) and for
//! integrations (admin: add, link projects, test, sync history).

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::{ProjectId, Role, Scope};
use crate::services::App;
use crate::services::integrations::{IntegrationInput, LinkInput};
use crate::services::issues::{IssueFilter, IssueView, NewIssue};
use crate::services::sync::SyncRequest;
use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct IssueQuery {
    project_id: Option<String>,
    tenant_id: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
    page: Option<usize>,
    notice: Option<String>,
}

/// The caller's role on a project (None: not a member). Only decides what the page shows;
/// the services refuse what the role does not allow.
fn role_on(app: &App, who: &Identity, project_id: ProjectId) -> Option<Role> {
    app.tenancy.project_role(who, project_id).ok().flatten()
}

/// The caller's role on a tenant itself (None: not a tenant member).
fn tenant_role_on(app: &App, who: &Identity, tenant_id: u64) -> Option<Role> {
    app.tenancy
        .tenant_role(who, tenant_id.into())
        .ok()
        .flatten()
}

fn num(s: &Option<String>) -> Option<u64> {
    s.as_deref().and_then(|v| v.trim().parse().ok())
}

fn status_badge(v: &IssueView) -> Markup {
    html! { span class={ "badge status-" (v.status_key) } title=[v.issue.status.as_deref()] { (v.status_label) } }
}

pub fn issue_table(list: &[IssueView], id: &str) -> Markup {
    html! {
        div.overflow-auto {
            table id=(id) .striped {
                thead { tr { th { "ID" } th { "Issue" } th { "Status" } th { "Project" } th { "Assignee" } th { "Updated" } } }
                tbody {
                    @for v in list {
                        tr {
                            td { (v.issue.id) }
                            td.wrap {
                                a href={ "/issues/" (v.issue.id) } { (v.issue.title) }
                                br; small { (v.provider) " " code { (v.issue.external_id) }
                                    @for l in &v.issue.labels { " " span.label { (l) } }
                                    @if v.issue.missing_upstream { " " span.badge.status-missing { "gone upstream" } } }
                            }
                            td { (status_badge(v)) }
                            td { (v.project_name) }
                            td { (v.issue.assignee.as_deref().unwrap_or("")) }
                            td { (fmt_time(&v.issue.external_updated_at.unwrap_or(v.issue.updated_at))) }
                        }
                    }
                    @if list.is_empty() { tr { td colspan="6" { "No issues match." } } }
                }
            }
        }
    }
}

fn query_string(q: &IssueQuery, page: usize) -> String {
    let mut p = form_urlencoded::Serializer::new(String::new());
    {
        for (k, v) in [
            ("project_id", &q.project_id),
            ("tenant_id", &q.tenant_id),
            ("provider", &q.provider),
            ("status", &q.status),
            ("assignee", &q.assignee),
            ("q", &q.q),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                p.append_pair(k, v);
            }
        }
        if page > 1 {
            p.append_pair("page", &page.to_string());
        }
    }
    format!("/issues?{}", p.finish())
}

fn sel(current: &Option<String>, v: &str) -> bool {
    current.as_deref() == Some(v)
}

fn issues_page(
    app: &App,
    who: &Identity,
    q: &IssueQuery,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let page_no = q.page.unwrap_or(1).max(1);
    let f = IssueFilter {
        status: q.status.clone(),
        provider: q.provider.clone(),
        project_id: (num(&q.project_id)).map(Into::into),
        tenant_id: (num(&q.tenant_id)).map(Into::into),
        assignee: q.assignee.clone(),
        q: q.q.clone(),
        limit: Some(PAGE),
        offset: (page_no - 1) * PAGE,
        // Newest first on the page (the API's default is oldest first).
        sort: crate::domain::issues::IssueSort::IdDesc,
        ..Default::default()
    };
    let (list, total, list_error) = match app.trackers.list_issues(who, &f) {
        Ok(p) => (p.issues, p.total, None),
        Err(e) => (Vec::new(), 0, Some(e.to_string())),
    };
    let projects = app.tenancy.list_projects(who, None).unwrap_or_default();
    let tenants = app.tenancy.list_tenants(who).unwrap_or_default();
    // New issues and syncs need the developer role on some project (viewers only read).
    let works_somewhere = projects
        .iter()
        .any(|p| role_on(app, who, p.project.id) >= Some(Role::Developer));
    page(
        "Issues",
        Some(who),
        html! {
            section #issues-section {
                h1 { "Issues" }
                (notice_box(notice))
                (error_box(error.or(list_error.as_deref())))
                form #issue-filters.filters method="get" action="/issues" hx-get="/issues" hx-target="#issue-results" hx-select="#issue-results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit, keyup changed delay:400ms from:input[name=q]" {
                    div.grid {
                        input type="search" name="q" placeholder="Search title or #" value=(q.q.as_deref().unwrap_or("")) aria-label="Search";
                        select name="status" aria-label="Status" {
                            option value="" { "Any status" }
                            option value="open" selected[sel(&q.status, "open")] { "Open" }
                            option value="closed" selected[sel(&q.status, "closed")] { "Closed" }
                        }
                        select name="provider" aria-label="Provider" {
                            option value="" { "Any tracker" }
                            @for p in ["github", "gitlab", "jira"] { option value=(p) selected[sel(&q.provider, p)] { (p) } }
                        }
                    }
                    div.grid {
                        select name="project_id" aria-label="Project" {
                            option value="" { "Any project" }
                            @for p in &projects { option value=(p.project.id) selected[sel(&q.project_id, &p.project.id.to_string())] { (p.project.name) } }
                        }
                        select name="tenant_id" aria-label="Tenant" {
                            option value="" { "Any tenant" }
                            @for t in &tenants { option value=(t.tenant.id) selected[sel(&q.tenant_id, &t.tenant.id.to_string())] { (t.tenant.name) } }
                        }
                        input type="text" name="assignee" placeholder="Assignee" value=(q.assignee.as_deref().unwrap_or("")) aria-label="Assignee";
                    }
                    noscript { button type="submit" { "Filter" } }
                }
                @if works_somewhere {
                div.toolbar {
                    a #new-issue role="button" href="/issues/new" { "New issue" }
                    " "
                        form.inline method="post" action="/issues/sync" hx-post="/issues/sync" hx-target="#issues-section" hx-select="#issues-section" hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            button #sync-button.secondary type="submit" { "Sync now" }
                            span.htmx-indicator { " Syncing…" }
                        }
                }
                }
                div #issue-results {
                    p { (total) " issue(s)" @if total > PAGE { ", page " (page_no) " of " (total.div_ceil(PAGE)) } }
                    (issue_table(&list, "issue-list"))
                    nav.pager {
                        @if page_no > 1 { a href=(query_string(q, page_no - 1)) { "← Previous" } }
                        " "
                        @if page_no * PAGE < total { a href=(query_string(q, page_no + 1)) { "Next →" } }
                    }
                }
            }
        },
    )
}

#[handler]
pub fn issues_get(
    Data(app): AppData<'_>,
    Query(q): Query<IssueQuery>,
    WebUser(who): WebUser,
) -> Response {
    issues_page(app, &who, &q, None, q.notice.as_deref()).into_response()
}

#[handler]
pub async fn issues_sync(
    Data(app): AppData<'_>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let out = match app
        .trackers
        .sync_links(
            &who,
            &SyncRequest::default(),
            crate::domain::SyncTrigger::Manual,
        )
        .await
    {
        Ok(l) => l,
        Err(e) => {
            return shown_error(
                error_status(&e),
                issues_page(
                    app,
                    &who,
                    &IssueQuery::default(),
                    Some(&e.to_string()),
                    None,
                ),
            );
        }
    };
    let (notice, err) = sync_summary(&out);
    let m = issues_page(
        app,
        &who,
        &IssueQuery::default(),
        err.as_deref(),
        notice.as_deref(),
    );
    // Nothing synced and something failed: an error status (shown in place, see shown_error).
    if notice.is_none() && err.is_some() {
        return shown_error(poem::http::StatusCode::BAD_GATEWAY, m);
    }
    m.into_response()
}

/// What "Sync now" says: a success only for the links that synced, and every failed link
/// with its reason (never a green "Synced 0" above a red failure).
fn sync_summary(out: &[crate::services::sync::SyncOutcome]) -> (Option<String>, Option<String>) {
    if out.is_empty() {
        return (
            None,
            Some("Nothing to sync: no project is linked to a tracker yet. Link one on its integration's page (Integrations).".into()),
        );
    }
    let ok: Vec<_> = out.iter().filter(|o| o.error.is_none()).collect();
    let failed: Vec<String> = out
        .iter()
        .filter_map(|o| {
            o.error
                .as_ref()
                .map(|e| format!("{} → {}: {e}", o.integration_name, o.project_name))
        })
        .collect();
    let synced: u64 = ok.iter().map(|o| o.issues_synced).sum();
    let notice = (!ok.is_empty()).then(|| {
        format!(
            "Synced {synced} issue(s) from {} of {} project link(s).",
            ok.len(),
            out.len()
        )
    });
    let err = (!failed.is_empty()).then(|| {
        format!(
            "Sync failed for {} of {} project link(s): {}",
            failed.len(),
            out.len(),
            failed.join("; ")
        )
    });
    (notice, err)
}

fn comment_list(v: &IssueView) -> Markup {
    html! {
        @if v.issue.comments.is_empty() { p { "No comments." } }
        @for c in &v.issue.comments {
            article.comment {
                header { strong { (c.author) } " " small { (c.created_at.as_deref().unwrap_or("")) }
                    @if let Some(id) = &c.id { " " small.muted { "#" (id) } } }
                div.pre { (c.body) }
            }
        }
    }
}

fn issue_detail(
    app: &App,
    who: &Identity,
    v: &IssueView,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let id = v.issue.id;
    let pinned = app.trackers.is_pinned(who, id).unwrap_or(false);
    // Pins are the caller's own (any reader may pin); everything else changes the issue or
    // starts work on it, which needs the developer role on its project.
    let can_pin = who.has(Scope::Write);
    let can_write = role_on(app, who, v.issue.project_id) >= Some(Role::Developer);
    // The pull requests its sessions opened (a failure to read them hides the line).
    let pulls = app.sessions.pulls_of_issue(who, id).unwrap_or_default();
    let form_attrs = |action: &str| format!("/issues/{id}/{action}");
    page(
        &v.issue.title,
        Some(who),
        html! {
            section #issue-detail {
                p { a href="/issues" { "← Issues" } }
                h1 { (v.issue.title) }
                (notice_box(notice))
                (error_box(error))
                p { (status_badge(v)) " " (v.provider) " " code { (v.issue.external_id) } " · " (v.project_name) " · " (v.tenant_name)
                    @if let Some(u) = &v.issue.url { " · " a href=(u) target="_blank" rel="noopener noreferrer" { "Open on tracker" } } }
                dl.details {
                    dt { "Assignee" } dd { (v.issue.assignee.as_deref().unwrap_or("Unassigned")) }
                    dt { "Labels" } dd { @for l in &v.issue.labels { span.label { (l) } " " } @if v.issue.labels.is_empty() { "None" } }
                    dt { "aiops id" } dd { code { (id) } " (use this id with the CLI and API)" }
                    @if v.issue.missing_upstream { dt { "Upstream" } dd { "No longer returned by the tracker (deleted or moved)." } }
                    @for pr in &pulls {
                        dt { "Pull request" }
                        dd.pull-request data-state=(pr.state) {
                            a href=(pr.url) target="_blank" rel="noopener noreferrer" { "#" (pr.number) }
                            " " mark.{ "pr-" (pr.state) } { (pr.state) } " · " code { (pr.head) } " → " code { (pr.base) }
                        }
                    }
                }
                h2 { "Description" }
                @match v.issue.body.as_deref().filter(|b| !b.trim().is_empty()) {
                    Some(b) => div.pre.description { (b) },
                    None => p { "No description details available for this issue." },
                }
                @let hx = |a: &str| form_attrs(a);
                @if can_pin || can_write {
                    div.actions.toolbar {
                        @if can_pin {
                        form.inline method="post" action=(hx(if pinned { "unpin" } else { "pin" })) hx-post=(hx(if pinned { "unpin" } else { "pin" })) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" {
                            (csrf_field(who)) button #pin-button.outline.small type="submit" { @if pinned { "Unpin" } @else { "Pin" } }
                        }
                        }
                        @if can_write {
                        @let closed = v.status_key == "closed";
                        form.inline method="post" action=(hx(if closed { "reopen" } else { "close" })) hx-post=(hx(if closed { "reopen" } else { "close" })) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" hx-disabled-elt="find button"
                            hx-confirm=[(!closed).then(|| format!("Close this issue on {}? Everyone watching it there sees it closed.", v.provider))] {
                            (csrf_field(who)) button #close-button.outline.small type="submit" { @if closed { "Reopen" } @else { "Close" } }
                        }
                        form.inline method="post" action=(hx("refresh")) hx-post=(hx("refresh")) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" {
                            (csrf_field(who)) button #refresh-button.outline.secondary.small type="submit" { "Refresh" }
                        }
                        form.inline method="post" action=(hx("context")) hx-post=(hx("context")) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who)) button #context-button.outline.secondary.small type="submit" title="Write the issue into AGENTS.override.md in your workspace" { "Populate AGENTS.override.md" }
                        }
                        }
                    }
                }
                @if can_write {
                    (super::agents::scoped_agents_placeholder(super::agents::AgentsOf::Issue(id.get())))
                    (super::agents::start_form(app, who, &form_attrs("agent"), true))
                    form #assign-form method="post" action=(form_attrs("assign")) hx-post=(form_attrs("assign")) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" {
                        (csrf_field(who))
                        fieldset role="group" {
                            input type="text" name="assignee" placeholder="Tracker login / account id (blank: me)" aria-label="Assignee";
                            button.small type="submit" { "Assign" }
                        }
                    }
                }
                h2 { "Comments" }
                @if can_write {
                    form #comment-form method="post" action=(form_attrs("comment")) hx-post=(form_attrs("comment")) hx-target="#issue-detail" hx-select="#issue-detail" hx-swap="outerHTML" hx-disabled-elt="find button" {
                        (csrf_field(who))
                        textarea name="body" rows="3" placeholder="Write a comment (Markdown; @Name mentions work on Jira)" required {}
                        button #comment-submit type="submit" { "Comment" }
                    }
                }
                (comment_list(v))
            }
        },
    )
}

#[handler]
pub fn issue_show(Data(app): AppData<'_>, Path(id): Path<u64>, WebUser(who): WebUser) -> Response {
    match app.trackers.get_issue(&who, id.into()) {
        Ok(v) => issue_detail(app, &who, &v, None, None).into_response(),
        Err(e) => not_found(&who, &e),
    }
}

/// Run an action on an issue, then show the issue with the outcome.
async fn after_action(
    app: &App,
    who: &Identity,
    id: u64,
    res: Result<String, crate::error::AppError>,
) -> Response {
    let v = match app.trackers.get_issue(who, id.into()) {
        Ok(v) => v,
        Err(e) => return not_found(who, &e),
    };
    match res {
        Ok(msg) => issue_detail(app, who, &v, None, Some(&msg)).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            issue_detail(app, who, &v, Some(&e.to_string()), None),
        ),
    }
}

/// An issue action's form: the comment's `body`, the `assignee`, the agent's `tool` and
/// `prompt` (see `agents::StartForm`), and `from=dashboard` for a pinned-issue card.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IssueActionForm {
    body: String,
    assignee: Option<String>,
    tool: String,
    prompt: String,
    from: String,
}

#[handler]
pub async fn issue_action(
    req: &Request,
    Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    CsrfForm(who, f): CsrfForm<IssueActionForm>,
) -> Response {
    let res = match action.as_str() {
        "comment" => app
            .trackers
            .comment_issue(&who, id.into(), &f.body)
            .await
            .map(|_| "Comment added.".to_string()),
        "close" => app
            .trackers
            .close_issue(&who, id.into(), false)
            .await
            .map(|_| "Issue closed.".to_string()),
        "reopen" => app
            .trackers
            .close_issue(&who, id.into(), true)
            .await
            .map(|_| "Issue reopened.".to_string()),
        "refresh" => app
            .trackers
            .refresh_issue(&who, id.into())
            .await
            .map(|_| "Refreshed from the tracker.".to_string()),
        "assign" => {
            let a = f
                .assignee
                .as_deref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            app.trackers
                .assign_issue(&who, id.into(), None, a)
                .await
                .map(|v| format!("Assigned to {}.", v.issue.assignee.unwrap_or_default()))
        }
        "agent" => {
            let start = super::agents::StartForm {
                tool: f.tool,
                prompt: f.prompt,
            };
            return super::agents::issue_agent(app, &who, id, &start).await;
        }
        "context" => app
            .sessions
            .populate_context(&who, id.into())
            .await
            .map(|w| format!("Updated {}.", w.path.display())),
        "pin" => crate::store::run_blocking(|| app.trackers.pin_issue(&who, id.into()))
            .map(|_| "Pinned to your dashboard.".to_string()),
        "unpin" => crate::store::run_blocking(|| app.trackers.unpin_issue(&who, id.into()))
            .map(|_| "Unpinned.".to_string()),
        _ => {
            return not_found(
                &who,
                &crate::error::AppError::NotFound("No such action".into()),
            );
        }
    };
    if f.from == "dashboard" && is_htmx(req) {
        // A pinned-issue card's action: the refreshed section, the outcome as a toast (or
        // the error next to the button).
        return match res {
            Ok(msg) => with_cookie(pinned_inner(app, &who), &super::layout::flash_cookie(&msg)),
            Err(e) => html_status(
                e.status(),
                html! { p.error role="alert" { (e.to_string()) } },
            ),
        };
    }
    after_action(app, &who, id, res).await
}

// ---- create ----------------------------------------------------------------------------------------

/// A form field as the service takes an optional text: trimmed, blank as `None`.
fn trimmed(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The new-issue form: `link` is `<project id>:<integration id>`; `issue_type` and
/// `priority` are for Jira. Kept on an error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewIssueForm {
    link: String,
    title: String,
    description: String,
    labels: String,
    issue_type: String,
    priority: String,
}

fn new_issue_page(app: &App, who: &Identity, f: &NewIssueForm, error: Option<&str>) -> Markup {
    let links = app.trackers.list_links(who, None, None).unwrap_or_default();
    // Creating issues is work: only the projects where the caller is a developer or more.
    let projects: Vec<ProjectId> = app
        .tenancy
        .list_projects(who, None)
        .unwrap_or_default()
        .iter()
        .map(|p| p.project.id)
        .filter(|id| role_on(app, who, *id) >= Some(Role::Developer))
        .collect();
    let links: Vec<_> = links
        .into_iter()
        .filter(|l| projects.contains(&l.link.project_id))
        .collect();
    page(
        "New issue",
        Some(who),
        html! {
            h1 { "New issue" }
            @if links.is_empty() {
                p { "None of your projects is linked to a tracker yet. A maintainer links them on the " a href="/integrations" { "integrations" } " page." }
            } @else {
                form #new-issue-form method="post" action="/issues/new" {
                    (csrf_field(who))
                    (error_box(error))
                    label { "Project and tracker"
                        select name="link" required {
                            @for l in &links {
                                @let v = format!("{}:{}", l.link.project_id, l.link.integration_id);
                                option value=(v) selected[f.link == v] { (l.project_name) " → " (l.integration_name) " (" (l.provider) " " (l.link.external_identifier) ")" }
                            }
                        }
                    }
                    label { "Title" input type="text" name="title" value=(f.title) maxlength="512" required; }
                    label { "Description (Markdown)" textarea name="description" rows="6" { (f.description) } }
                    label { "Labels (comma-separated)" input type="text" name="labels" value=(f.labels); }
                    div.grid {
                        label { "Issue type (Jira)" input type="text" name="issue_type" value=(f.issue_type) placeholder="Task"; }
                        label { "Priority (Jira)" input type="text" name="priority" value=(f.priority); }
                    }
                    button #new-issue-submit type="submit" { "Create issue" }
                }
            }
        },
    )
}

#[handler]
pub fn issue_new_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    new_issue_page(app, &who, &NewIssueForm::default(), None).into_response()
}

#[handler]
pub async fn issue_new_post(
    Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<NewIssueForm>,
) -> Response {
    let (project_id, integration_id) = match f.link.split_once(':') {
        Some((p, i)) => (p.parse().ok(), i.parse().ok()),
        None => (None, None),
    };
    let res = app
        .trackers
        .create_issue(
            &who,
            NewIssue {
                project_id,
                integration_id,
                title: f.title.clone(),
                description: trimmed(&f.description),
                labels: crate::domain::issues::parse_labels(&f.labels),
                issue_type: trimmed(&f.issue_type),
                priority: trimmed(&f.priority),
                ..Default::default()
            },
        )
        .await;
    match res {
        Ok(v) => redirect(&format!("/issues/{}", v.issue.id)),
        Err(e) => shown_error(
            error_status(&e),
            new_issue_page(app, &who, &f, Some(&e.to_string())),
        ),
    }
}

// ---- integrations (admin) ----------------------------------------------------------------------

/// The add-integration form (the token is never shown again, so never kept). Kept on an
/// error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IntegrationForm {
    tenant_id: String,
    provider: String,
    name: String,
    base_url: String,
    api_token: String,
    jira_email: String,
    sync_cron: String,
}

fn integrations_page(
    app: &App,
    who: &Identity,
    f: &IntegrationForm,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let list = app
        .trackers
        .list_integrations(who, None, None)
        .unwrap_or_default();
    let tenants = managed_tenants(app, who);
    page(
        "Integrations",
        Some(who),
        html! {
            section #integrations-section {
                h1 { "Tracker integrations" }
                @if who.user.is_admin { p { a #identities-link href="/admin/identities" { "Tracker identities of the users" } " (who is who on GitHub, GitLab and Jira)" } }
                (notice_box(notice))
                div.overflow-auto {
                    table #integration-list.striped {
                        thead { tr { th { "Name" } th { "Tracker" } th { "Tenant" } th { "Token" } th { "Projects" } th { "Sync" } } }
                        tbody {
                            @for v in &list {
                                tr {
                                    td { a href={ "/integrations/" (v.integration.id) } { (v.integration.name) } @if !v.integration.enabled { " (disabled)" } }
                                    td { (v.integration.provider) br; small { (v.integration.base_url.as_deref().unwrap_or("default")) } }
                                    td { (v.tenant_name) }
                                    td { code { (v.token_hint) } }
                                    td { (v.link_count) }
                                    td { code { (v.integration.sync_cron.as_deref().unwrap_or(crate::domain::issues::DEFAULT_SYNC_CRON)) } }
                                }
                            }
                            @if list.is_empty() { tr { td colspan="6" { "No integrations yet." } } }
                        }
                    }
                }
                @if !tenants.is_empty() {
                details open[error.is_some() || list.is_empty()] {
                    summary role="button" class="outline" { "Add integration" }
                    form #integration-form method="post" action="/integrations" hx-post="/integrations" hx-target="#integrations-section" hx-select="#integrations-section" hx-swap="outerHTML" {
                        (csrf_field(who))
                        (error_box(error))
                        div.grid {
                            label { "Tenant" select name="tenant_id" required { @for t in &tenants { option value=(t.tenant.id) selected[f.tenant_id == t.tenant.id.to_string()] { (t.tenant.name) } } } }
                            label { "Tracker" select name="provider" { @for p in ["github", "gitlab", "jira"] { option value=(p) selected[f.provider == p] { (p) } } } }
                        }
                        label { "Name" input type="text" name="name" value=(f.name) required maxlength="255"; }
                        label { "Base URL (self-hosted GitLab, GitHub Enterprise, Jira site)" input type="url" name="base_url" value=(f.base_url) placeholder="https://your-site.atlassian.net"; }
                        label { "API token (stored encrypted, never shown again)" input type="password" name="api_token" required autocomplete="off"; }
                        label { "Jira account email" input type="email" name="jira_email" value=(f.jira_email); }
                        label { "Sync schedule (cron; blank = every 15 minutes; off = manual only)" input type="text" name="sync_cron" value=(f.sync_cron) placeholder="*/15 * * * *"; }
                        button #integration-submit type="submit" { "Add integration" }
                    }
                }
                }
            }
        },
    )
}

/// The tenants whose integrations the caller manages (tenant maintainers; admins: all).
fn managed_tenants(app: &App, who: &Identity) -> Vec<crate::services::tenants::TenantView> {
    app.tenancy
        .list_tenants(who)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| tenant_role_on(app, who, t.tenant.id.get()) >= Some(Role::Maintainer))
        .collect()
}

#[handler]
pub fn integrations_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    // Nothing to see and nothing to add: say why instead of an empty page.
    if app
        .trackers
        .list_integrations(&who, None, None)
        .is_ok_and(|l| l.is_empty())
        && managed_tenants(app, &who).is_empty()
    {
        return forbidden_page(
            Some(&who),
            "Tracker integrations are added by the maintainers of a tenant and by administrators; you maintain no tenant, and no tenant of yours has an integration yet.",
        );
    }
    integrations_page(app, &who, &IntegrationForm::default(), None, None).into_response()
}

#[handler]
pub fn integrations_post(
    req: &Request,
    Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<IntegrationForm>,
) -> Response {
    let input = IntegrationInput {
        tenant_id: trimmed(&f.tenant_id).and_then(|t| t.parse().ok()),
        provider: trimmed(&f.provider),
        name: trimmed(&f.name),
        base_url: trimmed(&f.base_url),
        api_token: trimmed(&f.api_token),
        jira_email: trimmed(&f.jira_email),
        sync_cron: trimmed(&f.sync_cron),
        ..Default::default()
    };
    match crate::store::run_blocking(|| app.trackers.create_integration(&who, input)) {
        // Land on the new integration (htmx: a full page load, its target is not there).
        Ok(v) => done(
            req,
            &format!("/integrations/{}", v.integration.id),
            &format!(
                "Integration {} added. Test the connection, then link a project.",
                v.integration.name
            ),
        ),
        Err(e) => shown_error(
            error_status(&e),
            integrations_page(app, &who, &f, Some(&e.to_string()), None),
        ),
    }
}

/// The forms of an integration's page: the link form's fields (`jql` for Jira); the test
/// and delete buttons send none. Kept on an error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LinkForm {
    project_id: String,
    external_identifier: Option<String>,
    jql: String,
}

fn integration_page(
    app: &App,
    who: &Identity,
    id: u64,
    f: &LinkForm,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Markup, crate::error::AppError> {
    let v = app.trackers.get_integration(who, id.into())?;
    let links = app.trackers.list_links(who, Some(id.into()), None)?;
    // What the caller's roles allow is only shown here; the services decide.
    let manage = tenant_role_on(app, who, v.integration.tenant_id.get()) >= Some(Role::Maintainer);
    let projects: Vec<_> = app
        .tenancy
        .list_projects(who, None)?
        .into_iter()
        .filter(|p| p.project.tenant_id == v.integration.tenant_id)
        .filter(|p| role_on(app, who, p.project.id) >= Some(Role::Maintainer))
        .collect();
    let mut runs = Vec::new();
    for l in &links {
        runs.extend(app.trackers.sync_history(who, 10, Some(l.link.id))?);
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    let base = format!("/integrations/{id}");
    Ok(page(
        &v.integration.name,
        Some(who),
        html! {
            section #integration-detail {
                p { a href="/integrations" { "← Integrations" } }
                h1 { (v.integration.name) }
                (notice_box(notice))
                (error_box(error))
                dl.details {
                    dt { "Tracker" } dd { (v.integration.provider) " · " (v.integration.base_url.as_deref().unwrap_or("default URL")) }
                    dt { "Tenant" } dd { (v.tenant_name) }
                    dt { "Token" } dd { code { (v.token_hint) } }
                }
                @if manage {
                div.toolbar {
                    form.inline method="post" action={ (base) "/test" } hx-post={ (base) "/test" } hx-target="#integration-detail" hx-select="#integration-detail" hx-swap="outerHTML" hx-disabled-elt="find button" {
                        (csrf_field(who)) button #test-button.outline type="submit" { "Test connection" }
                    }
                    " "
                    form.inline method="post" action={ (base) "/delete" } onsubmit="return confirm('Delete this integration, its project links and their stored issues?')" {
                        (csrf_field(who)) button.danger.outline type="submit" { "Delete" }
                    }
                }
                }
                h2 { "Linked projects" }
                div.overflow-auto {
                    table #link-list.striped {
                        thead { tr { th { "Project" } th { "Tracker project" } th { "Issues" } th { "Last sync" } th { "" } } }
                        tbody {
                            @for l in &links {
                                @let role = role_on(app, who, l.link.project_id);
                                tr {
                                    td { (l.project_name) }
                                    td { code { (l.link.external_identifier) } }
                                    td { a href={ "/issues?project_id=" (l.link.project_id) } { (l.issue_count) } }
                                    td { (l.link.last_synced_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())) }
                                    td.actions {
                                        @if role >= Some(Role::Developer) {
                                        form.inline method="post" action={ (base) "/links/" (l.link.id) "/sync" } hx-post={ (base) "/links/" (l.link.id) "/sync" } hx-target="#integration-detail" hx-select="#integration-detail" hx-swap="outerHTML" hx-disabled-elt="find button" {
                                            (csrf_field(who)) button.small type="submit" { "Sync" }
                                        }
                                        }
                                        @if role >= Some(Role::Maintainer) {
                                        form.inline method="post" action={ (base) "/links/" (l.link.id) "/delete" }
                                            hx-confirm={ "Unlink " (l.link.external_identifier) "? Its stored issues are removed from aiops (not from the tracker)." } {
                                            (csrf_field(who)) button.small.danger.outline type="submit" { "Unlink" }
                                        }
                                        }
                                    }
                                }
                            }
                            @if links.is_empty() { tr { td colspan="5" { "No project linked yet." } } }
                        }
                    }
                }
                @if !projects.is_empty() {
                details open[error.is_some() || links.is_empty()] {
                    summary role="button" class="outline" { "Link a project" }
                    form #link-form method="post" action={ (base) "/links" } hx-post={ (base) "/links" } hx-target="#integration-detail" hx-select="#integration-detail" hx-swap="outerHTML" {
                        (csrf_field(who))
                        label { "Project" select name="project_id" required { @for p in &projects { option value=(p.project.id) { (p.project.name) } } } }
                        label { @match v.integration.provider.as_str() {
                                "github" => "Repository (owner/repo)",
                                "gitlab" => "Project path or id (group/project)",
                                _ => "Jira project key",
                            }
                            input type="text" name="external_identifier" value=(f.external_identifier.as_deref().unwrap_or("")) required; }
                        @if v.integration.provider == "jira" {
                            label { "Custom JQL (optional)" input type="text" name="jql" value=(f.jql); }
                        }
                        button #link-submit type="submit" { "Link project" }
                    }
                }
                }
                h2 { "Sync history" }
                div.overflow-auto {
                    table #sync-history.striped {
                        thead { tr { th { "Started" } th { "Trigger" } th { "Result" } th { "Fetched" } th { "New" } th { "Gone" } th { "Error" } } }
                        tbody {
                            @for r in &runs {
                                tr {
                                    td { (fmt_time(&r.started_at)) }
                                    td { (r.trigger.as_str()) @if r.full { " (full)" } }
                                    td { span class={ "badge run-" (r.status.as_str()) } { (r.status.as_str()) } }
                                    td { (r.fetched) } td { (r.created) } td { (r.missing) }
                                    td.wrap { (r.error.as_deref().unwrap_or("")) }
                                }
                            }
                            @if runs.is_empty() { tr { td colspan="7" { "No sync yet." } } }
                        }
                    }
                }
            }
        },
    ))
}

fn show_integration(
    app: &App,
    who: &Identity,
    id: u64,
    f: &LinkForm,
    res: Result<String, crate::error::AppError>,
) -> Response {
    let (err, ok) = match &res {
        Ok(m) => (None, Some(m.as_str())),
        Err(e) => (Some(e.to_string()), None),
    };
    match integration_page(app, who, id, f, err.as_deref(), ok) {
        Ok(m) => match res {
            Ok(_) => m.into_response(),
            Err(e) => shown_error(error_status(&e), m),
        },
        Err(e) => not_found(who, &e),
    }
}

#[handler]
pub fn integration_show(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    match integration_page(app, &who, id, &LinkForm::default(), None, None) {
        Ok(m) => m.into_response(),
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub async fn integration_action(
    req: &Request,
    Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    CsrfForm(who, f): CsrfForm<LinkForm>,
) -> Response {
    let res = match action.as_str() {
        "test" => app
            .trackers
            .test_integration(&who, id.into())
            .await
            .map(|m| format!("✓ {m}")),
        "delete" => {
            return match crate::store::run_blocking(|| {
                app.trackers.delete_integration(&who, id.into())
            }) {
                Ok(()) => done(req, "/integrations", "Integration deleted."),
                Err(e) => show_integration(app, &who, id, &f, Err(e)),
            };
        }
        "links" => {
            let mut config = serde_json::Map::new();
            if let Some(j) = trimmed(&f.jql) {
                config.insert("jql".into(), serde_json::Value::String(j));
            }
            let input = LinkInput {
                project_id: f.project_id.parse().ok(),
                external_identifier: f.external_identifier.clone(),
                config: Some(serde_json::Value::Object(config)),
                ..Default::default()
            };
            crate::store::run_blocking(|| app.trackers.create_link(&who, id.into(), input)).map(
                |l| {
                    format!(
                        "Linked {} to {}. Sync it to fetch its issues.",
                        l.project_name, l.link.external_identifier
                    )
                },
            )
        }
        _ => {
            return not_found(
                &who,
                &crate::error::AppError::NotFound("No such action".into()),
            );
        }
    };
    let f = if res.is_ok() { LinkForm::default() } else { f };
    show_integration(app, &who, id, &f, res)
}

#[handler]
pub async fn link_action(
    Data(app): AppData<'_>,
    Path((id, link, action)): Path<(u64, u64, String)>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let res = match action.as_str() {
        "sync" => {
            match app
                .trackers
                .sync_one_link(&who, link.into())
                .await
                .map(|o| (o.error.clone(), o))
            {
                Err(e) => Err(e),
                Ok((None, o)) => Ok(format!(
                    "Synced {} issue(s) ({} new, {} gone upstream).",
                    o.issues_synced, o.created, o.missing
                )),
                Ok((Some(e), _)) => Err(crate::error::AppError::BadRequest(format!(
                    "Sync failed: {e}"
                ))),
            }
        }
        "delete" => crate::store::run_blocking(|| app.trackers.delete_link(&who, link.into()))
            .map(|_| "Project unlinked; its stored issues were removed.".to_string()),
        _ => {
            return not_found(
                &who,
                &crate::error::AppError::NotFound("No such action".into()),
            );
        }
    };
    show_integration(app, &who, id, &LinkForm::default(), res)
}

/// Pinned issues for the dashboard.
/// The dashboard's pinned issues: a card each, with its actions (start an agent on it, close
/// it on the tracker after a confirm, unpin). The close/unpin forms swap the section.
pub fn pinned_section(app: &App, who: &Identity) -> Markup {
    html! { section #pinned-section { (pinned_inner(app, who)) } }
}

fn pinned_inner(app: &App, who: &Identity) -> Markup {
    let pinned = match app.trackers.pinned_issues(who) {
        Ok(p) => p,
        Err(e) => return html! { h2 { "Pinned issues" } p.error role="alert" { (e.to_string()) } },
    };
    let tools = app.sessions.agent_tools();
    let tool = tools
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(t, _)| t.as_str())
        .find(|t| *t == "claude")
        .or_else(|| tools.iter().find(|(_, ok)| *ok).map(|(t, _)| t.as_str()));
    let hx = |id: IssueId, a: &str| format!("/issues/{id}/{a}");
    html! {
        h2 { "Pinned issues" }
        @if pinned.is_empty() {
            p #no-pinned { "Nothing pinned. Pin issues from their page on " a href="/issues" { "Issues" } "." }
        } @else {
            ul #pinned-issues.issue-cards {
                @for v in &pinned {
                    @let id = v.issue.id;
                    @let work = who.has(Scope::Write) && role_on(app, who, v.issue.project_id) >= Some(Role::Developer);
                    li.issue-card id={ "pinned-" (id) } {
                        div.issue-card-top { (status_badge(v)) " " small.muted { (v.provider) " " (v.issue.external_id) } }
                        h3.issue-card-title { a href={ "/issues/" (id) } { (v.issue.title) } }
                        p.muted.issue-card-meta { (v.project_name)
                            @if let Some(a) = &v.issue.assignee { " · " (a) } }
                        div.issue-card-actions {
                            @if work {
                                @if let Some(t) = tool {
                                    form.inline method="post" action=(hx(id, "agent")) {
                                        (csrf_field(who))
                                        input type="hidden" name="tool" value=(t);
                                        button.pinned-agent type="submit" { "Start " (t) }
                                    }
                                }
                                @if v.status_key != "closed" {
                                    form.inline method="post" action=(hx(id, "close")) hx-post=(hx(id, "close")) hx-target="#pinned-section" hx-swap="innerHTML"
                                        hx-confirm={ "Close “" (v.issue.title) "” on " (v.provider) "? Everyone watching it there sees it closed." } {
                                        (csrf_field(who))
                                        input type="hidden" name="from" value="dashboard";
                                        button.pinned-close.secondary type="submit" { "Close" }
                                    }
                                }
                            }
                            @if who.has(Scope::Write) {
                                form.inline method="post" action=(hx(id, "unpin")) hx-post=(hx(id, "unpin")) hx-target="#pinned-section" hx-swap="innerHTML" {
                                    (csrf_field(who))
                                    input type="hidden" name="from" value="dashboard";
                                    button.pinned-unpin.secondary.outline type="submit" { "Unpin" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The project page's open issues (newest first, the first 10) with a link to all of them.
pub fn project_issues(app: &App, who: &Identity, project_id: u64) -> Markup {
    let f = IssueFilter {
        project_id: Some(project_id.into()),
        status: Some("open".into()),
        limit: Some(10),
        sort: crate::domain::issues::IssueSort::IdDesc,
        ..Default::default()
    };
    html! {
        section #project-issues {
            @match app.trackers.list_issues(who, &f) {
                Err(e) => { h2 { "Open issues" } p.error role="alert" { (e.to_string()) } },
                Ok(page) => {
                    h2 { "Open issues " small.muted { "(" (page.total) ")" } }
                    @if page.issues.is_empty() {
                        p.muted { "No open issues. Link a tracker to this project on " a href="/integrations" { "Integrations" } " and sync." }
                    } @else {
                        (issue_table(&page.issues, "project-issue-list"))
                        @if page.total > page.issues.len() {
                            p { a href={ "/issues?project_id=" (project_id) } { "All " (page.total) " open issues →" } }
                        }
                    }
                }
            }
        }
    }
}

// ---- personal tracker settings -------------------------------------------------------------------

fn trackers_account_page(
    app: &App,
    who: &Identity,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let me = app
        .trackers
        .get_identity_map(who, who.id())
        .unwrap_or_default();
    let creds = app.trackers.list_credentials(who).unwrap_or_default();
    let integrations = app
        .trackers
        .list_integrations(who, None, None)
        .unwrap_or_default();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    page(
        "My trackers",
        Some(who),
        html! {
            section #tracker-account {
                p { a href="/account" { "← Account" } }
                h1 { "My trackers" }
                (notice_box(notice))
                (error_box(error))
                h2 { "Identities" }
                p { "Used to assign issues to you, for “my issues”, and to turn @mentions into Jira mentions." }
                form #identity-form method="post" action="/account/trackers/identity" hx-post="/account/trackers/identity" hx-target="#tracker-account" hx-select="#tracker-account" hx-swap="outerHTML" {
                    (csrf_field(who))
                    div.grid {
                        label { "GitHub login" input type="text" name="github_username" value=(v(&me.github_username)); }
                        label { "GitLab username" input type="text" name="gitlab_username" value=(v(&me.gitlab_username)); }
                        label { "Jira account id" input type="text" name="jira_account_id" value=(v(&me.jira_account_id)); }
                    }
                    button #identity-submit type="submit" { "Save identities" }
                }
                h2 { "Personal tokens" }
                p { "Your writes (comments, issues, assignments) use your own token when you have one here, so they appear under your name on the tracker." }
                div.overflow-auto {
                    table #credential-list.striped {
                        thead { tr { th { "Integration" } th { "Tracker" } th { "Saved" } th { "" } } }
                        tbody {
                            @for c in &creds {
                                tr {
                                    td { (c.integration_name) } td { (c.provider) } td { (fmt_time(&c.credential.updated_at)) }
                                    td { form.inline method="post" action={ "/account/trackers/credentials/" (c.credential.id) "/delete" }
                                        hx-confirm={ "Remove your token for " (c.integration_name) "? Your writes there then use the integration's token." } {
                                        (csrf_field(who)) button.small.danger.outline type="submit" { "Remove" } } }
                                }
                            }
                            @if creds.is_empty() { tr { td colspan="4" { "No personal tokens." } } }
                        }
                    }
                }
                @if !integrations.is_empty() {
                    form #credential-form method="post" action="/account/trackers/credentials" hx-post="/account/trackers/credentials" hx-target="#tracker-account" hx-select="#tracker-account" hx-swap="outerHTML" {
                        (csrf_field(who))
                        div.grid {
                            label { "Integration" select name="integration_id" { @for i in &integrations { option value=(i.integration.id) { (i.integration.name) " (" (i.tenant_name) ", " (i.integration.provider) ")" } } } }
                            label { "Token (stored encrypted)" input type="password" name="api_token" required autocomplete="off"; }
                            label { "Jira email (Jira only)" input type="email" name="jira_email"; }
                        }
                        button #credential-submit type="submit" { "Save token" }
                    }
                }
            }
        },
    )
}

#[handler]
pub fn trackers_account_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    trackers_account_page(app, &who, None, None).into_response()
}

/// The tracker account forms: `identity` (the user names on each tracker; a field not sent
/// is `None`) and `credentials` (an integration's API token, and the Jira email).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TrackersAccountForm {
    github_username: Option<String>,
    gitlab_username: Option<String>,
    jira_account_id: Option<String>,
    jira_email: Option<String>,
    integration_id: String,
    api_token: String,
}

#[handler]
pub fn trackers_account_post(
    Data(app): AppData<'_>,
    Path(action): Path<String>,
    CsrfForm(who, f): CsrfForm<TrackersAccountForm>,
) -> Response {
    let res = crate::store::run_blocking(|| match action.as_str() {
        "identity" => app
            .trackers
            .update_identity_map(
                &who,
                who.id(),
                f.github_username.clone(),
                f.gitlab_username.clone(),
                f.jira_account_id.clone(),
            )
            .map(|_| "Identities saved.".to_string()),
        "credentials" => {
            let settings = f
                .jira_email
                .as_deref()
                .map(|e| e.trim())
                .filter(|e| !e.is_empty())
                .map(|e| serde_json::json!({"username": e}));
            match f.integration_id.parse::<u64>() {
                Ok(i) => app
                    .trackers
                    .set_credential(&who, i.into(), &f.api_token, settings)
                    .map(|(_, created)| {
                        if created {
                            "Token saved.".to_string()
                        } else {
                            "Token replaced.".to_string()
                        }
                    }),
                Err(_) => Err(crate::error::AppError::BadRequest(
                    "Choose an integration".into(),
                )),
            }
        }
        _ => Err(crate::error::AppError::NotFound("No such action".into())),
    });
    match res {
        Ok(m) => trackers_account_page(app, &who, None, Some(&m)).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            trackers_account_page(app, &who, Some(&e.to_string()), None),
        ),
    }
}

#[handler]
pub fn credential_delete(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    match crate::store::run_blocking(|| app.trackers.delete_credential(&who, id.into())) {
        Ok(()) => trackers_account_page(app, &who, None, Some("Token removed.")).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            trackers_account_page(app, &who, Some(&e.to_string()), None),
        ),
    }
}
