//! Page handlers. Each: who is calling (redirect to login if nobody), CSRF on POST, one service
//! call, render. Validation errors re-render the form with the input kept (422).

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page, swatch};
use super::session::*;
use crate::auth::Identity;
use crate::domain::rules::PALETTE;
use crate::error::AppError;
use crate::services::App;
use crate::services::accounts::{NewUser, UserUpdate};
use crate::services::projects::{ProjectInput, ProjectView};
use crate::services::tenants::{TenantInput, TenantView};
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) type AppData<'a> = Data<&'a Arc<App>>;
pub(super) type Fields = Form<HashMap<String, String>>;

pub(super) fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

pub(super) fn opt_field(f: &HashMap<String, String>, k: &str) -> Option<String> {
    f.get(k).cloned()
}

pub(super) fn html_status(status: StatusCode, m: Markup) -> Response {
    m.into_response().with_status(status).into_response()
}

pub(super) fn forbidden_page(who: Option<&Identity>, msg: &str) -> Response {
    html_status(
        StatusCode::FORBIDDEN,
        page(
            "Forbidden",
            who,
            html! { h1 { "Forbidden" } p { (msg) } p { a href="/" { "Back to the dashboard" } } },
        ),
    )
}

pub(super) fn csrf_failed(who: &Identity) -> Response {
    forbidden_page(
        Some(who),
        "Your form expired or did not come from this site; reload the page and try again.",
    )
}

pub(super) fn error_status(e: &AppError) -> StatusCode {
    match e {
        AppError::BadRequest(_) | AppError::Conflict(_) => StatusCode::UNPROCESSABLE_ENTITY,
        other => other.status(),
    }
}

pub(super) fn not_found(who: &Identity, e: &AppError) -> Response {
    html_status(
        e.status(),
        page(
            "Not available",
            Some(who),
            html! { h1 { "Not available" } p { (e.to_string()) } p { a href="/" { "Dashboard" } } },
        ),
    )
}

// ---- login, setup, logout ----------------------------------------------------------------------

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    token: Option<String>,
}

fn login_form(csrf: &str, next: &str, email: &str, error: Option<&str>) -> Markup {
    page(
        "Log in",
        None,
        html! {
            article.narrow {
                h1 { "Log in" }
                (error_box(error))
                form method="post" action={ "/login?next=" (urlencode(next)) } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label { "Email" input type="email" name="email" value=(email) autocomplete="username" required autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button #login-submit type="submit" { "Log in" }
                }
            }
        },
    )
}

fn random_token() -> String {
    crate::domain::keys::generate_key()[6..38].to_string()
}

#[handler]
pub fn login_get(req: &Request, Data(app): AppData<'_>, Query(q): Query<NextQuery>) -> Response {
    if current(app, req).is_some() {
        return redirect(&safe_next(q.next.as_deref()));
    }
    if app.setup_pending().unwrap_or(false) {
        return html_status(
            StatusCode::OK,
            page(
                "Setup",
                None,
                html! { h1 { "Setup needed" } p { "No administrator exists yet. Open the one-time setup link printed by " code { "aiops serve" } " on the server console." } },
            ),
        );
    }
    let csrf = random_token();
    let next = safe_next(q.next.as_deref());
    with_cookie(
        login_form(&csrf, &next, "", None),
        &format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict"),
    )
}

#[handler]
pub fn login_post(
    req: &Request,
    Data(app): AppData<'_>,
    Query(q): Query<NextQuery>,
    Form(f): Fields,
) -> Response {
    let cookie = cookie_value_of(req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !ct_eq(field(&f, "csrf_token"), &cookie) {
        return html_status(
            StatusCode::FORBIDDEN,
            page(
                "Log in",
                None,
                html! { h1 { "Form expired" } p { "Reload the login page and try again." } p { a href="/login" { "Log in" } } },
            ),
        );
    }
    let next = safe_next(f.get("next").map(String::as_str).or(q.next.as_deref()));
    let client = crate::api::gate::client_ip(req);
    let email = field(&f, "email");
    match tokio::task::block_in_place(|| app.login(email, field(&f, "password"), &client)) {
        Ok((token, _)) => with_cookie(
            with_cookie(redirect(&next), &clear_cookie(LOGIN_CSRF_COOKIE)),
            &session_cookie(
                &token,
                app.config.cookie_secure,
                app.config.session_hours * 3600,
            ),
        ),
        Err(e) => {
            let status = match e {
                AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            html_status(
                status,
                login_form(&cookie, &next, email, Some(&e.to_string())),
            )
        }
    }
}

fn cookie_value_of(req: &Request, name: &str) -> Option<String> {
    crate::api::gate::cookie_value(req, name)
}

fn setup_form(token: &str, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    page(
        "Setup",
        None,
        html! {
            article.narrow {
                h1 { "Create the administrator" }
                (error_box(error))
                form method="post" action="/setup" {
                    input type="hidden" name="token" value=(token);
                    label { "Email" input type="email" name="email" value=(field(f, "email")) required; }
                    label { "Name" input type="text" name="name" value=(field(f, "name")) required; }
                    label { "Password (8+ characters)" input type="password" name="password" minlength="8" required; }
                    button #setup-submit type="submit" { "Create administrator" }
                }
            }
        },
    )
}

#[handler]
pub fn setup_get(Data(app): AppData<'_>, Query(q): Query<NextQuery>) -> Response {
    match q.token {
        Some(t) if app.setup_token_valid(&t).unwrap_or(false) => {
            setup_form(&t, &HashMap::new(), None).into_response()
        }
        _ => redirect("/login"),
    }
}

#[handler]
pub fn setup_post(Data(app): AppData<'_>, Form(f): Fields) -> Response {
    if !app.setup_pending().unwrap_or(false) {
        return redirect("/login");
    }
    let token = field(&f, "token");
    let res = tokio::task::block_in_place(|| {
        let u = app.complete_setup(
            token,
            NewUser {
                email: field(&f, "email"),
                name: field(&f, "name"),
                password: field(&f, "password"),
                is_admin: true,
            },
        )?;
        app.create_session(u.id)
    });
    match res {
        Ok(session) => with_cookie(
            redirect("/"),
            &session_cookie(
                &session,
                app.config.cookie_secure,
                app.config.session_hours * 3600,
            ),
        ),
        Err(e @ AppError::Forbidden(_)) => html_status(
            StatusCode::FORBIDDEN,
            setup_form(token, &f, Some(&e.to_string())),
        ),
        Err(e) => html_status(
            error_status(&e),
            setup_form(token, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn logout(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    if let Some(token) = crate::api::gate::cookie_value(req, crate::api::gate::SESSION_COOKIE) {
        let _ = tokio::task::block_in_place(|| app.logout(&token));
    }
    with_cookie(
        redirect("/login"),
        &clear_cookie(crate::api::gate::SESSION_COOKIE),
    )
}

// ---- dashboard -----------------------------------------------------------------------------------

#[handler]
pub fn dashboard(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    let tenants = app.list_tenants(&who).unwrap_or_default();
    let projects = app.list_projects(&who, None).unwrap_or_default();
    page(
        "Dashboard",
        Some(&who),
        html! {
            h1 { "Hello, " (who.user.name) }
            div.grid.stats {
                article { header { "Tenants" } p.big { (tenants.len()) } a href="/tenants" { "Manage tenants" } }
                article { header { @if who.user.is_admin { "Projects" } @else { "My projects" } } p.big { (projects.len()) } a href="/projects" { "Manage projects" } }
            }
            (super::issues::pinned_section(app, &who))
            section #agents-panel hx-get="/agents" hx-trigger="load" hx-swap="outerHTML" { h2 { "My agents" } p.muted { "Loading…" } }
            h2 { "Recent projects" }
            @if projects.is_empty() {
                p { "No projects yet. " a href="/projects" { "Create one" } "." }
            } @else {
                (project_table(&projects.iter().take(10).cloned().collect::<Vec<_>>(), "recent-projects"))
            }
        },
    )
    .into_response()
}

// ---- tenants -------------------------------------------------------------------------------------

fn color_select(selected: &str) -> Markup {
    html! {
        select name="color" aria-label="Colour" {
            @for (hex, label) in PALETTE {
                option value=(hex) selected[hex == selected] { (label) " " (hex) }
            }
        }
    }
}

fn tenant_table(who: &Identity, tenants: &[TenantView]) -> Markup {
    html! {
        div.overflow-auto {
            table #tenant-list.striped {
                thead { tr { th { "Name" } th { "Slug" } th { "Projects" } th { "Description" } @if who.user.is_admin { th { "" } } } }
                tbody {
                    @for t in tenants {
                        tr {
                            td { (swatch(&t.tenant.color)) " " a href={ "/tenants/" (t.tenant.id) } { (t.tenant.name) } }
                            td { code { (t.slug) } }
                            td { (t.project_count) }
                            td { (t.tenant.description.as_deref().unwrap_or("")) }
                            @if who.user.is_admin {
                                td.actions { a href={ "/tenants/" (t.tenant.id) "/edit" } { "Edit" } " " a.danger href={ "/tenants/" (t.tenant.id) "/delete" } { "Delete" } }
                            }
                        }
                    }
                    @if tenants.is_empty() { tr { td colspan="5" { "No tenants yet." } } }
                }
            }
        }
    }
}

fn tenants_page(
    app: &App,
    who: &Identity,
    form: &HashMap<String, String>,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let tenants = app.list_tenants(who).unwrap_or_default();
    page(
        "Tenants",
        Some(who),
        html! {
            section #tenant-section {
                h1 { "Tenants" }
                (notice_box(notice))
                (tenant_table(who, &tenants))
                @if who.user.is_admin {
                    details open[error.is_some() || tenants.is_empty()] {
                        summary role="button" class="outline" { "New tenant" }
                        form #tenant-form method="post" action="/tenants" hx-post="/tenants" hx-target="#tenant-section" hx-select="#tenant-section" hx-swap="outerHTML" {
                            (csrf_field(who))
                            (error_box(error))
                            label { "Name" input type="text" name="name" value=(field(form, "name")) maxlength="255" required; }
                            label { "Description" textarea name="description" rows="2" { (field(form, "description")) } }
                            label { "Colour" (color_select(form.get("color").map(String::as_str).unwrap_or(PALETTE[0].0))) }
                            button #tenant-submit type="submit" { "Create tenant" }
                        }
                    }
                }
            }
        },
    )
}

#[handler]
pub fn tenants_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    tenants_page(app, &who, &HashMap::new(), None, None).into_response()
}

#[handler]
pub fn tenants_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let input = TenantInput {
        name: opt_field(&f, "name"),
        description: opt_field(&f, "description"),
        color: opt_field(&f, "color"),
    };
    match tokio::task::block_in_place(|| app.create_tenant(&who, input)) {
        Ok(_) => redirect("/tenants"),
        Err(e) => html_status(
            error_status(&e),
            tenants_page(app, &who, &f, Some(&e.to_string()), None),
        ),
    }
}

#[handler]
pub fn tenant_show(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    match app.get_tenant(&who, id) {
        Ok((t, projects)) => page(
            &t.tenant.name,
            Some(&who),
            html! {
                h1 { (swatch(&t.tenant.color)) " " (t.tenant.name) }
                p { "Slug " code { (t.slug) } }
                @if let Some(d) = &t.tenant.description { p { (d) } }
                h2 { "Projects" }
                (project_table(&projects, "tenant-projects"))
            },
        )
        .into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn tenant_edit_page(
    who: &Identity,
    id: u64,
    f: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    page(
        "Edit tenant",
        Some(who),
        html! {
            h1 { "Edit tenant" }
            form method="post" action={ "/tenants/" (id) "/edit" } {
                (csrf_field(who))
                (error_box(error))
                label { "Name" input type="text" name="name" value=(field(f, "name")) required; }
                label { "Description" textarea name="description" rows="2" { (field(f, "description")) } }
                label { "Colour" (color_select(field(f, "color"))) }
                button type="submit" { "Save" } " " a href="/tenants" { "Cancel" }
            }
        },
    )
}

#[handler]
pub fn tenant_edit_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    if !who.user.is_admin {
        return forbidden_page(Some(&who), "Only administrators can edit tenants.");
    }
    match app.get_tenant(&who, id) {
        Ok((t, _)) => {
            let f = HashMap::from([
                ("name".to_string(), t.tenant.name.clone()),
                (
                    "description".to_string(),
                    t.tenant.description.clone().unwrap_or_default(),
                ),
                ("color".to_string(), t.tenant.color.clone()),
            ]);
            tenant_edit_page(&who, id, &f, None).into_response()
        }
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub fn tenant_edit_post(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let input = TenantInput {
        name: opt_field(&f, "name"),
        description: Some(field(&f, "description").to_string()),
        color: opt_field(&f, "color"),
    };
    match tokio::task::block_in_place(|| app.update_tenant(&who, id, input)) {
        Ok(_) => redirect("/tenants"),
        Err(e @ (AppError::BadRequest(_) | AppError::Conflict(_))) => html_status(
            error_status(&e),
            tenant_edit_page(&who, id, &f, Some(&e.to_string())),
        ),
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub fn tenant_delete_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    if !who.user.is_admin {
        return forbidden_page(Some(&who), "Only administrators can delete tenants.");
    }
    let (t, _) = match app.get_tenant(&who, id) {
        Ok(t) => t,
        Err(e) => return not_found(&who, &e),
    };
    let impact = app.tenant_impact(&who, id).ok();
    page(
        "Delete tenant",
        Some(&who),
        html! {
            h1 { "Delete " (t.tenant.name) "?" }
            @if let Some(i) = impact {
                p #delete-impact { "This deletes the tenant, its " strong { (i.projects) " project(s)" } " with their issues, and its "
                    strong { (i.integrations) " integration(s)" } ". It cannot be undone." }
            }
            form method="post" action={ "/tenants/" (id) "/delete" } {
                (csrf_field(&who))
                button.danger #confirm-delete type="submit" { "Delete tenant" } " " a href="/tenants" { "Cancel" }
            }
        },
    )
    .into_response()
}

#[handler]
pub fn tenant_delete_post(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    match tokio::task::block_in_place(|| app.delete_tenant(&who, id)) {
        Ok(()) => redirect("/tenants"),
        Err(e) => not_found(&who, &e),
    }
}

// ---- projects ------------------------------------------------------------------------------------

pub(super) fn project_table(projects: &[ProjectView], id: &str) -> Markup {
    html! {
        div.overflow-auto {
            table.striped id=(id) {
                thead { tr { th { "Name" } th { "Tenant" } th { "Repository" } th { "Branch" } th { "Owner" } } }
                tbody {
                    @for p in projects {
                        tr {
                            td { a href={ "/projects/" (p.project.id) } { (p.project.name) } }
                            td { (swatch(&p.tenant_color)) " " (p.tenant_name) }
                            td.wrap { code { (p.project.repo_url) } }
                            td { (p.project.default_branch) }
                            td { (p.owner_name) }
                        }
                    }
                    @if projects.is_empty() { tr { td colspan="5" { "No projects." } } }
                }
            }
        }
    }
}

fn project_fields(who: &Identity, tenants: &[TenantView], f: &HashMap<String, String>) -> Markup {
    let selected = field(f, "tenant_id");
    let branch = f
        .get("default_branch")
        .map(String::as_str)
        .filter(|b| !b.is_empty())
        .unwrap_or("main");
    html! {
        (csrf_field(who))
        label { "Name" input type="text" name="name" value=(field(f, "name")) maxlength="255" required; }
        label { "Repository URL" input type="text" name="repo_url" value=(field(f, "repo_url")) placeholder="git@github.com:owner/repo.git" required; }
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
        label { "Description" textarea name="description" rows="2" { (field(f, "description")) } }
    }
}

fn projects_page(
    app: &App,
    who: &Identity,
    f: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let projects = app.list_projects(who, None).unwrap_or_default();
    let tenants = app.list_tenants(who).unwrap_or_default();
    page(
        "Projects",
        Some(who),
        html! {
            section #project-section {
                h1 { "Projects" }
                (project_table(&projects, "project-list"))
                @if tenants.is_empty() {
                    p { "Create a tenant first: projects live in a tenant." }
                } @else {
                    details open[error.is_some() || projects.is_empty()] {
                        summary role="button" class="outline" { "New project" }
                        form #project-form method="post" action="/projects" hx-post="/projects" hx-target="#project-section" hx-select="#project-section" hx-swap="outerHTML" {
                            (error_box(error))
                            (project_fields(who, &tenants, f))
                            button #project-submit type="submit" { "Create project" }
                        }
                    }
                }
            }
        },
    )
}

fn project_input(f: &HashMap<String, String>) -> Result<ProjectInput, AppError> {
    let tenant_id = match field(f, "tenant_id") {
        "" => None,
        s => Some(
            s.parse::<u64>()
                .map_err(|_| AppError::BadRequest("Choose a tenant".into()))?,
        ),
    };
    Ok(ProjectInput {
        name: opt_field(f, "name"),
        repo_url: opt_field(f, "repo_url"),
        default_branch: opt_field(f, "default_branch").filter(|b| !b.trim().is_empty()),
        description: Some(field(f, "description").to_string()),
        tenant_id,
        owner_id: None,
    })
}

#[handler]
pub fn projects_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    projects_page(app, &who, &HashMap::new(), None).into_response()
}

#[handler]
pub fn projects_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = project_input(&f)
        .and_then(|input| tokio::task::block_in_place(|| app.create_project(&who, input)));
    match res {
        Ok(_) => redirect("/projects"),
        Err(e) => html_status(
            error_status(&e),
            projects_page(app, &who, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn project_show(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    match app.get_project(&who, id) {
        Ok(p) => page(
            &p.project.name,
            Some(&who),
            html! {
                h1 { (p.project.name) }
                dl.details {
                    dt { "Tenant" } dd { (swatch(&p.tenant_color)) " " a href={ "/tenants/" (p.project.tenant_id) } { (p.tenant_name) } }
                    dt { "Repository" } dd.wrap { code { (p.project.repo_url) } }
                    dt { "Default branch" } dd { (p.project.default_branch) }
                    dt { "Owner" } dd { (p.owner_name) }
                    dt { "Checkout" } dd.wrap { code { (p.project.local_path) } }
                    dt { "Created" } dd { (fmt_time(&p.project.created_at)) }
                }
                @if let Some(d) = &p.project.description { p { (d) } }
                p { a role="button" class="outline" href={ "/projects/" (id) "/edit" } { "Edit" } " "
                    a role="button" class="outline danger" href={ "/projects/" (id) "/delete" } { "Delete" } }
                section #agent-start {
                    h2 { "AI agent" }
                    (super::agents::start_form(app, &who, &format!("/projects/{id}/agent"), false))
                    p { a href={ "/ansible?project_id=" (id) } { "Ansible playbooks of this project" } }
                }
                section #workspace-panel hx-get={ "/projects/" (id) "/workspace" } hx-trigger="load" hx-select="#workspace-panel" hx-swap="outerHTML" {
                    p { a href={ "/projects/" (id) "/workspace" } { "My workspace" } " (loading…)" }
                }
            },
        )
        .into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn project_edit_page(
    app: &App,
    who: &Identity,
    id: u64,
    f: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let tenants = app.list_tenants(who).unwrap_or_default();
    page(
        "Edit project",
        Some(who),
        html! {
            h1 { "Edit project" }
            form method="post" action={ "/projects/" (id) "/edit" } {
                (error_box(error))
                (project_fields(who, &tenants, f))
                button type="submit" { "Save" } " " a href={ "/projects/" (id) } { "Cancel" }
            }
        },
    )
}

#[handler]
pub fn project_edit_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    match app.get_project(&who, id) {
        Ok(p) => {
            let f = HashMap::from([
                ("name".to_string(), p.project.name.clone()),
                ("repo_url".to_string(), p.project.repo_url.clone()),
                (
                    "default_branch".to_string(),
                    p.project.default_branch.clone(),
                ),
                ("tenant_id".to_string(), p.project.tenant_id.to_string()),
                (
                    "description".to_string(),
                    p.project.description.clone().unwrap_or_default(),
                ),
            ]);
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
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = project_input(&f)
        .and_then(|input| tokio::task::block_in_place(|| app.update_project(&who, id, input)));
    match res {
        Ok(_) => redirect(&format!("/projects/{id}")),
        Err(e @ (AppError::BadRequest(_) | AppError::Conflict(_))) => html_status(
            error_status(&e),
            project_edit_page(app, &who, id, &f, Some(&e.to_string())),
        ),
        Err(e) => not_found(&who, &e),
    }
}

#[handler]
pub fn project_delete_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    match app.get_project(&who, id) {
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
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    match tokio::task::block_in_place(|| app.delete_project(&who, id)) {
        Ok(()) => redirect("/projects"),
        Err(e) => not_found(&who, &e),
    }
}

// ---- API keys ------------------------------------------------------------------------------------

fn keys_page(
    app: &App,
    who: &Identity,
    new_key: Option<&str>,
    f: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let keys = app.list_keys(who).unwrap_or_default();
    page(
        "API keys",
        Some(who),
        html! {
            section #key-section {
                h1 { "API keys" }
                @if let Some(k) = new_key {
                    article.new-key {
                        header { strong { "Your new key — copy it now, it will not be shown again" } }
                        div.keybox { code #new-key { (k) } button.outline type="button" data-copy="#new-key" { "Copy" } }
                    }
                }
                div.overflow-auto {
                    table #key-list.striped {
                        thead { tr { th { "Name" } th { "Prefix" } th { "Scopes" } th { "Created" } th { "Last used" } th { "Expires" } th { "Active" } th { "" } } }
                        tbody {
                            @for k in &keys {
                                tr {
                                    td { (k.name) }
                                    td { code { (k.key_prefix) "…" } }
                                    td { (k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                                    td { (fmt_time(&k.created_at)) }
                                    td { (k.last_used_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())) }
                                    td { (k.expires_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())) }
                                    td { @if k.is_active { "✓" } @else { "✗" } }
                                    td {
                                        form.inline method="post" action={ "/keys/" (k.id) "/revoke" } hx-post={ "/keys/" (k.id) "/revoke" } hx-target="#key-section" hx-select="#key-section" hx-swap="outerHTML" hx-confirm={ "Revoke key " (k.name) "? Scripts using it stop working." } {
                                            (csrf_field(who))
                                            button.outline.danger.small type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                            @if keys.is_empty() { tr { td colspan="8" { "No keys yet." } } }
                        }
                    }
                }
                h2 { "New key" }
                form #key-form method="post" action="/keys" hx-post="/keys" hx-target="#key-section" hx-select="#key-section" hx-swap="outerHTML" {
                    (csrf_field(who))
                    (error_box(error))
                    label { "Name" input type="text" name="name" value=(field(f, "name")) maxlength="255" required; }
                    div.grid {
                        label { "Scopes"
                            select name="scopes" {
                                option value="read" { "read" }
                                option value="read,write" selected { "read, write" }
                                @if who.user.is_admin { option value="read,write,admin" { "read, write, admin" } }
                            }
                        }
                        label { "Expires"
                            select name="expires_days" {
                                option value="" { "never" }
                                @for d in [30, 90, 180, 365] { option value=(d) { "in " (d) " days" } }
                            }
                        }
                    }
                    button #key-submit type="submit" { "Create key" }
                }
            }
        },
    )
}

#[handler]
pub fn keys_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    keys_page(app, &who, None, &HashMap::new(), None).into_response()
}

#[handler]
pub fn keys_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let scopes: Vec<String> = field(&f, "scopes")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let expires = match field(&f, "expires_days") {
        "" => None,
        d => d.parse::<i64>().ok(),
    };
    match tokio::task::block_in_place(|| app.create_key(&who, field(&f, "name"), &scopes, expires))
    {
        // Shown once, in this response only (never in a redirect URL or the log).
        Ok((_, raw)) => keys_page(app, &who, Some(&raw), &HashMap::new(), None).into_response(),
        Err(e) => html_status(
            error_status(&e),
            keys_page(app, &who, None, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn key_revoke(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    match tokio::task::block_in_place(|| app.revoke_key(&who, id)) {
        Ok(()) => redirect("/keys"),
        Err(e) => not_found(&who, &e),
    }
}

// ---- users (admin) -------------------------------------------------------------------------------

fn users_page(
    app: &App,
    who: &Identity,
    f: &HashMap<String, String>,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let users = app.list_users(who).unwrap_or_default();
    page(
        "Users",
        Some(who),
        html! {
            section #user-section {
                h1 { "Users" }
                (error_box(error))
                (notice_box(notice))
                div.overflow-auto {
                    table #user-list.striped {
                        thead { tr { th { "Email" } th { "Name" } th { "Admin" } th { "Created" } th { "" } } }
                        tbody {
                            @for u in &users {
                                tr {
                                    td { (u.email) }
                                    td { (u.name) }
                                    td { @if u.is_admin { "✓" } @else { "✗" } }
                                    td { (fmt_time(&u.created_at)) }
                                    td.actions {
                                        form.inline method="post" action={ "/users/" (u.id) "/admin" } {
                                            (csrf_field(who))
                                            input type="hidden" name="is_admin" value=(if u.is_admin { "false" } else { "true" });
                                            button.outline.small type="submit" { @if u.is_admin { "Remove admin" } @else { "Make admin" } }
                                        }
                                        details.inline {
                                            summary { "Reset password" }
                                            form method="post" action={ "/users/" (u.id) "/password" } {
                                                (csrf_field(who))
                                                input type="password" name="password" minlength="8" placeholder="New password" required;
                                                button.small type="submit" { "Set" }
                                            }
                                        }
                                        @if u.id != who.id() {
                                            form.inline method="post" action={ "/users/" (u.id) "/delete" } hx-confirm={ "Delete " (u.email) "?" } {
                                                (csrf_field(who))
                                                button.outline.danger.small type="submit" { "Delete" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "New user" }
                form #user-form method="post" action="/users" {
                    (csrf_field(who))
                    div.grid {
                        label { "Email" input type="email" name="email" value=(field(f, "email")) required; }
                        label { "Name" input type="text" name="name" value=(field(f, "name")) required; }
                    }
                    label { "Password (8+ characters)" input type="password" name="password" minlength="8" required; }
                    label { input type="checkbox" name="is_admin" value="true" checked[field(f, "is_admin") == "true"]; " Administrator" }
                    button #user-submit type="submit" { "Create user" }
                }
            }
        },
    )
}

#[handler]
pub fn users_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    users_page(app, &who, &HashMap::new(), None, None).into_response()
}

#[handler]
pub fn users_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    check_csrf!(who, req, f);
    let res = tokio::task::block_in_place(|| {
        app.create_user(
            &who,
            NewUser {
                email: field(&f, "email"),
                name: field(&f, "name"),
                password: field(&f, "password"),
                is_admin: field(&f, "is_admin") == "true",
            },
        )
    });
    match res {
        Ok(u) => users_page(
            app,
            &who,
            &HashMap::new(),
            None,
            Some(&format!("Created {}", u.email)),
        )
        .into_response(),
        Err(e) => html_status(
            error_status(&e),
            users_page(app, &who, &f, Some(&e.to_string()), None),
        ),
    }
}

fn user_action(app: &App, who: &Identity, res: Result<String, AppError>) -> Response {
    match res {
        Ok(notice) => users_page(app, who, &HashMap::new(), None, Some(&notice)).into_response(),
        Err(e) => html_status(
            error_status(&e),
            users_page(app, who, &HashMap::new(), Some(&e.to_string()), None),
        ),
    }
}

#[handler]
pub fn user_admin_toggle(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    check_csrf!(who, req, f);
    let make_admin = field(&f, "is_admin") == "true";
    let res = tokio::task::block_in_place(|| {
        app.update_user(
            &who,
            id,
            UserUpdate {
                is_admin: Some(make_admin),
                ..Default::default()
            },
        )
        .map(|u| {
            format!(
                "{} is {} an administrator",
                u.email,
                if u.is_admin { "now" } else { "no longer" }
            )
        })
    });
    user_action(app, &who, res)
}

#[handler]
pub fn user_password(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    check_csrf!(who, req, f);
    let res = tokio::task::block_in_place(|| {
        app.set_password(&who, id, field(&f, "password"))
            .map(|_| "Password reset; their sessions were ended".to_string())
    });
    user_action(app, &who, res)
}

#[handler]
pub fn user_delete(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    check_csrf!(who, req, f);
    let res = tokio::task::block_in_place(|| {
        app.delete_user(&who, id)
            .map(|_| "User deleted".to_string())
    });
    user_action(app, &who, res)
}

// ---- audit (admin) -------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct PageQuery {
    offset: Option<usize>,
}

#[handler]
pub fn audit_get(req: &Request, Data(app): AppData<'_>, Query(q): Query<PageQuery>) -> Response {
    let who = who_or_login!(app, req);
    admin_only!(who);
    let offset = q.offset.unwrap_or(0);
    const LIMIT: usize = 50;
    let (entries, total) = match app.list_audit(&who, LIMIT, offset) {
        Ok(x) => x,
        Err(e) => return not_found(&who, &e),
    };
    page(
        "Audit log",
        Some(&who),
        html! {
            h1 { "Audit log" }
            p { (total) " API writes recorded. Secrets in request bodies are redacted." }
            div.overflow-auto {
                table #audit-list.striped {
                    thead { tr { th { "Time" } th { "User" } th { "Key" } th { "Request" } th { "Status" } th { "ms" } th { "IP" } th { "Error" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (fmt_time(&e.created_at)) }
                                td { (e.user_id.map(|u| u.to_string()).unwrap_or_default()) }
                                td { (e.api_key_id.map(|u| u.to_string()).unwrap_or_default()) }
                                td.wrap { code { (e.method) " " (e.path) } }
                                td { (e.status) }
                                td { (format!("{:.1}", e.duration_ms)) }
                                td { (e.ip_address.as_deref().unwrap_or("")) }
                                td.wrap { (e.error_message.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            nav.pager {
                @if offset > 0 { a href={ "/audit?offset=" (offset.saturating_sub(LIMIT)) } { "← Newer" } }
                " "
                @if (offset + LIMIT) < total as usize { a href={ "/audit?offset=" (offset + LIMIT) } { "Older →" } }
            }
        },
    )
    .into_response()
}

// ---- account -------------------------------------------------------------------------------------

fn account_page(who: &Identity, error: Option<&str>, notice: Option<&str>) -> Markup {
    page(
        "Account",
        Some(who),
        html! {
            h1 { "Account" }
            dl.details {
                dt { "Name" } dd { (who.user.name) }
                dt { "Email" } dd { (who.user.email) }
                dt { "Role" } dd { @if who.user.is_admin { "Administrator" } @else { "User" } }
            }
            p { a href="/account/trackers" { "My trackers: identities and personal tokens →" } }
            h2 { "Change password" }
            (error_box(error))
            (notice_box(notice))
            form #password-form method="post" action="/account" {
                (csrf_field(who))
                label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
                label { "New password (8+ characters)" input type="password" name="new" autocomplete="new-password" minlength="8" required; }
                label { "Repeat new password" input type="password" name="confirm" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Change password" }
            }
        },
    )
}

#[handler]
pub fn account_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    account_page(&who, None, None).into_response()
}

#[handler]
pub fn account_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    if field(&f, "new") != field(&f, "confirm") {
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&who, Some("The new passwords do not match"), None),
        );
    }
    match tokio::task::block_in_place(|| {
        app.change_own_password(&who, field(&f, "current"), field(&f, "new"))
    }) {
        // Changing the password ends all sessions, this one included.
        Ok(()) => with_cookie(
            redirect("/login"),
            &clear_cookie(crate::api::gate::SESSION_COOKIE),
        ),
        Err(e) => html_status(
            error_status(&e),
            account_page(&who, Some(&e.to_string()), None),
        ),
    }
}

/// 404 for unknown pages, with the shell when logged in.
pub fn not_found_page(who: Option<&Identity>) -> Response {
    html_status(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            who,
            html! { h1 { "Not found" } p { a href="/" { "Dashboard" } } },
        ),
    )
}
