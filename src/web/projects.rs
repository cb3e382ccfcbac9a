//! Project pages: the list and create form, a project's page (details, agent, issues,
//! workspace, members), edit, delete.

use super::members::members_section;
use super::prelude::*;
use super::tenants::role_word;
use crate::auth::Identity;
use crate::domain::{Role, User};
use crate::error::AppError;
use crate::services::App;
use crate::services::access::MemberOf;
use crate::services::projects::{ProjectInput, ProjectView};
use crate::services::tenants::TenantView;
use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

/// The create and edit forms of a project (the edit form also carries the project's
/// `current_tenant_id`, so its tenant stays choosable). `name`, `repo_url` and
/// `default_branch` are `None` when not sent (the service says what is missing); the ids are
/// read when the project is saved. Kept on an error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProjectForm {
    name: Option<String>,
    repo_url: Option<String>,
    default_branch: Option<String>,
    description: String,
    tenant_id: String,
    owner_id: String,
    current_tenant_id: String,
}

pub(super) fn project_table(projects: &[ProjectView], id: &str) -> Markup {
    html! {
        div.overflow-auto {
            table.striped.stack id=(id) {
                thead { tr { th { "Name" } th { "Tenant" } th { "Repository" } th { "Branch" } th { "Owner" } } }
                tbody {
                    @for p in projects {
                        tr {
                            td data-label="Name" { a href={ "/projects/" (p.project.id) } { (p.project.name) } }
                            td data-label="Tenant" { (swatch(&p.tenant_color)) " " (p.tenant_name) }
                            td.wrap data-label="Repository" { code { (p.project.repo_url) } }
                            td data-label="Branch" { (p.project.default_branch) }
                            td data-label="Owner" { (p.owner_name) }
                        }
                    }
                    @if projects.is_empty() { tr { td colspan="5" { "No projects." } } }
                }
            }
        }
    }
}

/// The tenants the caller may create projects in (tenant maintainers; admins: all), plus
/// `keep` (a project's current tenant on its edit form) so the select always holds it.
fn creatable_tenants(app: &App, who: &Identity, keep: Option<u64>) -> Vec<TenantView> {
    app.tenancy
        .list_tenants(who)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| {
            Some(t.tenant.id) == keep.map(Into::into)
                || app.tenancy.tenant_role(who, t.tenant.id).ok().flatten()
                    >= Some(Role::Maintainer)
        })
        .collect()
}

/// Everyone an administrator may name as a project's owner (nobody for other callers).
fn owner_choices(app: &App, who: &Identity) -> Vec<User> {
    if who.user.is_admin {
        app.accounts.list_users(who).unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn project_fields(
    who: &Identity,
    tenants: &[TenantView],
    owners: &[User],
    f: &ProjectForm,
) -> Markup {
    let selected = f.tenant_id.as_str();
    let owner = match f.owner_id.as_str() {
        "" => who.id().to_string(),
        o => o.to_string(),
    };
    let branch = f
        .default_branch
        .as_deref()
        .filter(|b| !b.is_empty())
        .unwrap_or("main");
    html! {
        (csrf_field(who))
        label { "Name" input type="text" name="name" value=(f.name.as_deref().unwrap_or("")) maxlength="255" required; }
        label { "Repository URL" input type="text" name="repo_url" value=(f.repo_url.as_deref().unwrap_or("")) placeholder="git@github.com:owner/repo.git" required; }
        div.grid {
            label { "Default branch" input type="text" name="default_branch" value=(branch) required; }
            label { "Tenant"
                select name="tenant_id" required {
                    @for t in tenants {
                        option value=(t.tenant.id) selected[selected == t.tenant.id.to_string()] { (t.tenant.name) }
                    }
                }
            }
        }
        @if !owners.is_empty() {
            label { "Owner (becomes a maintainer of the project)"
                select name="owner_id" {
                    @for u in owners {
                        option value=(u.id) selected[owner == u.id.to_string()] { (u.name) " · " (u.email) }
                    }
                }
            }
        }
        label { "Description" textarea name="description" rows="2" { (f.description) } }
    }
}

fn projects_page(app: &App, who: &Identity, f: &ProjectForm, error: Option<&str>) -> Markup {
    let projects = app.tenancy.list_projects(who, None).unwrap_or_default();
    let tenants = creatable_tenants(app, who, None);
    let owners = owner_choices(app, who);
    let open = error.is_some() || projects.is_empty() || !f.tenant_id.is_empty();
    page(
        "Projects",
        Some(who),
        html! {
            section #project-section {
                h1 { "Projects" }
                (project_table(&projects, "project-list"))
                @if !tenants.is_empty() {
                    details open[open] {
                        summary #new-project role="button" class="outline" { "New project" }
                        form #project-form method="post" action="/projects" hx-post="/projects" hx-target="#project-section" hx-select="#project-section" hx-swap="outerHTML" {
                            (error_box(error))
                            (project_fields(who, &tenants, &owners, f))
                            button #project-submit type="submit" { "Create project" }
                        }
                    }
                } @else if who.user.is_admin {
                    p { "Create a " a href="/tenants" { "tenant" } " first: projects live in a tenant." }
                } @else {
                    p.muted #no-create { "Projects are created by the maintainers of their tenant. Ask one to add you to a project, or to make you a maintainer of the tenant." }
                }
            }
        },
    )
}

fn project_input(f: &ProjectForm) -> Result<ProjectInput, AppError> {
    let id = |v: &str, what: &str| match v {
        "" => Ok(None),
        s => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("Choose {what}"))),
    };
    Ok(ProjectInput {
        name: f.name.clone(),
        repo_url: f.repo_url.clone(),
        default_branch: f.default_branch.clone().filter(|b| !b.trim().is_empty()),
        description: Some(f.description.clone()),
        tenant_id: id(&f.tenant_id, "a tenant")?.map(Into::into),
        owner_id: id(&f.owner_id, "an owner")?.map(Into::into),
    })
}

#[derive(Deserialize)]
pub struct NewProjectQuery {
    tenant_id: Option<u64>,
}

#[handler]
pub fn projects_get(
    Data(app): AppData<'_>,
    Query(q): Query<NewProjectQuery>,
    WebUser(who): WebUser,
) -> Response {
    // `?tenant_id=` (the tenant page's "New project"): that tenant preselected, the form open.
    let f = ProjectForm {
        tenant_id: q.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        ..ProjectForm::default()
    };
    projects_page(app, &who, &f, None).into_response()
}

#[handler]
pub fn projects_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<ProjectForm>) -> Response {
    let res = project_input(&f)
        .and_then(|input| crate::store::run_blocking(|| app.tenancy.create_project(&who, input)));
    match res {
        Ok(p) => done_here("/projects", &format!("Project {} created.", p.project.name)),
        Err(e) => shown_error(
            error_status(&e),
            projects_page(app, &who, &f, Some(&e.to_string())),
        ),
    }
}

/// The project page: details, and what the caller's role allows (viewers read only;
/// developers also get the agent and workspace; maintainers also edit, delete and manage
/// members). `members` is the members section.
pub(super) fn project_page(
    app: &App,
    who: &Identity,
    id: u64,
    members: Markup,
) -> Result<Markup, AppError> {
    let p = app.tenancy.get_project(who, id.into())?;
    let role = app.tenancy.project_role(who, id.into()).ok().flatten();
    let work = role >= Some(Role::Developer);
    let manage = role >= Some(Role::Maintainer);
    Ok(page(
        &p.project.name,
        Some(who),
        html! {
            h1 { (p.project.name) }
            dl.details {
                dt { "Tenant" } dd { (swatch(&p.tenant_color)) " " a href={ "/tenants/" (p.project.tenant_id) } { (p.tenant_name) } }
                dt { "Repository" } dd.wrap { code { (p.project.repo_url) } }
                dt { "Default branch" } dd { (p.project.default_branch) }
                dt { "Owner" } dd { (p.owner_name) }
                dt { "Your role" } dd #my-role { (role_word(who, role).unwrap_or("none")) }
                @if work { dt { "Checkout" } dd.wrap { code { (p.project.local_path) } } }
                dt { "Created" } dd { (fmt_time(&p.project.created_at)) }
            }
            @if let Some(d) = &p.project.description { p { (d) } }
            p.toolbar {
                @if manage {
                    a #project-edit role="button" class="outline" href={ "/projects/" (id) "/edit" } { "Edit" }
                    a #project-delete role="button" class="outline danger" href={ "/projects/" (id) "/delete" } { "Delete" }
                }
                a #project-agents-md role="button" class="outline secondary" href={ "/projects/" (id) "/agents-md" } { "Agent instructions" }
            }
            @if work {
                section #agent-start {
                    h2 { "AI agent" }
                    (super::agents::start_form(app, who, &format!("/projects/{id}/agent"), false))
                }
            }
            @if work { (super::agents::scoped_agents_placeholder(super::agents::AgentsOf::Project(id))) }
            (super::issues::project_issues(app, who, id))
            p { a href={ "/ansible?project_id=" (id) } { "Ansible playbooks of this project" } }
            @if work {
                section #workspace-panel hx-get={ "/projects/" (id) "/workspace" } hx-trigger="load" hx-select="#workspace-panel" hx-swap="outerHTML" {
                    p { a href={ "/projects/" (id) "/workspace" } { "My workspace" } " (loading…)" }
                }
            } @else {
                p.muted #read-only { "You can read this project. Working on it (workspace, git, agents, issue changes) needs the developer role; ask a maintainer of the project or its tenant." }
            }
            (members)
        },
    ))
}

#[handler]
pub fn project_show(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    let members = members_section(app, &who, MemberOf::Project(id.into()), None, None);
    match project_page(app, &who, id, members) {
        Ok(m) => m.into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn project_edit_page(
    app: &App,
    who: &Identity,
    id: u64,
    f: &ProjectForm,
    error: Option<&str>,
) -> Markup {
    let current = f.current_tenant_id.parse().ok();
    let tenants = creatable_tenants(app, who, current);
    let owners = owner_choices(app, who);
    page(
        "Edit project",
        Some(who),
        html! {
            h1 { "Edit project" }
            form #project-edit-form method="post" action={ "/projects/" (id) "/edit" } {
                (error_box(error))
                input type="hidden" name="current_tenant_id" value=(f.current_tenant_id);
                (project_fields(who, &tenants, &owners, f))
                button type="submit" { "Save" } " " a href={ "/projects/" (id) } { "Cancel" }
            }
        },
    )
}

#[handler]
pub fn project_edit_get(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    match app.tenancy.get_project(&who, id.into()) {
        Ok(p) => {
            let f = ProjectForm {
                name: Some(p.project.name.clone()),
                repo_url: Some(p.project.repo_url.clone()),
                default_branch: Some(p.project.default_branch.clone()),
                description: p.project.description.clone().unwrap_or_default(),
                tenant_id: p.project.tenant_id.to_string(),
                owner_id: p.project.owner_id.to_string(),
                current_tenant_id: p.project.tenant_id.to_string(),
            };
            project_edit_page(app, &who, id, &f, None).into_response()
        }
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub fn project_edit_post(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<ProjectForm>,
) -> Response {
    let res = project_input(&f).and_then(|input| {
        crate::store::run_blocking(|| app.tenancy.update_project(&who, id.into(), input))
    });
    match res {
        Ok(p) => done(
            req,
            &format!("/projects/{id}"),
            &format!("Project {} saved.", p.project.name),
        ),
        Err(e @ AppError::NotFound(_)) if app.tenancy.get_project(&who, id.into()).is_err() => {
            not_found(&who, &e)
        }
        Err(e) => shown_error(
            error_status(&e),
            project_edit_page(app, &who, id, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn project_delete_get(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    match app.tenancy.get_project(&who, id.into()) {
        Ok(p) => page(
            "Delete project",
            Some(&who),
            html! {
                h1 { "Delete " (p.project.name) "?" }
                p #delete-impact { "This deletes the project with its tracker links, synced issues, pins and session records. The repository itself is not touched. It cannot be undone." }
                form method="post" action={ "/projects/" (id) "/delete" } {
                    (csrf_field(&who))
                    button.danger #confirm-delete type="submit" { "Delete project" } " " a href={ "/projects/" (id) } { "Cancel" }
                }
            },
        )
        .into_response(),
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub fn project_delete_post(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    match crate::store::run_blocking(|| app.tenancy.delete_project(&who, id.into())) {
        Ok(()) => done(req, "/projects", "Project deleted."),
        Err(e) => not_found(&who, &e),
    }
}
