//! Page handlers. Each: who is calling (redirect to login if nobody), CSRF on POST, one service
//! call, render. Validation errors re-render the form with the input kept (422).

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page, swatch};
use super::members::members_section;
use super::session::*;
use crate::auth::Identity;
use crate::domain::rules::PALETTE;
use crate::domain::{Role, User};
use crate::error::AppError;
use crate::services::App;
use crate::services::access::MemberOf;
use crate::services::accounts::{NewUser, UserUpdate};
use crate::services::projects::{ProjectInput, ProjectView};
use crate::services::tenants::{TenantInput, TenantView};
use maud::{Markup, html};
use poem::http::{HeaderValue, StatusCode};
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

/// An error shown inside the re-rendered page: the real status, plus a header that tells
/// assets/app.js to let htmx swap it in like a success (htmx drops 4xx answers otherwise), so
/// the message appears next to the form that was sent.
pub(super) fn shown_error(status: StatusCode, m: Markup) -> Response {
    let mut r = html_status(status, m);
    r.headers_mut()
        .insert(SHOWN_ERROR_HEADER, HeaderValue::from_static("1"));
    r
}

pub(super) const SHOWN_ERROR_HEADER: &str = "x-aiops-swap";

/// Whether htmx sent the request (it then wants a fragment, not a navigation).
pub(super) fn is_htmx(req: &Request) -> bool {
    req.headers()
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
}

/// A success that moves elsewhere: redirect (303; for htmx, `HX-Redirect`, so the browser
/// loads the whole new page instead of cutting a fragment out of it) with a flash message
/// that assets/app.js shows as a toast there.
pub(super) fn done(req: &Request, to: &str, msg: &str) -> Response {
    let r = if is_htmx(req) {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        redirect(to)
    };
    with_cookie(r, &super::layout::flash_cookie(msg))
}

/// Like `done`, for forms whose htmx target is on the page redirected to: a plain 303 (htmx
/// follows it and swaps its part of that page), with the flash message.
pub(super) fn done_here(to: &str, msg: &str) -> Response {
    with_cookie(redirect(to), &super::layout::flash_cookie(msg))
}

pub(super) fn csrf_failed(who: &Identity) -> Response {
    forbidden_page(
        Some(who),
        "Your form expired or did not come from this site; reload the page and try again.",
    )
}

/// The status of a failed web action: the error's own (400 bad input, 409 conflict, 502 the
/// tracker failed …). Pages re-rendered with the error use `shown_error`, so htmx swaps them in.
pub(super) fn error_status(e: &AppError) -> StatusCode {
    e.status()
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
        &login_csrf_cookie(&csrf),
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
    let client = crate::api::gate::client_ip(req, &app.config.trusted_proxies);
    let email = field(&f, "email");
    match crate::store::run_blocking(|| app.login(email, field(&f, "password"), &client)) {
        Ok((token, _)) => with_cookie(
            with_cookie(redirect(&next), &clear_login_csrf_cookie()),
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
    let res = crate::store::run_blocking(|| {
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
        Err(e) => shown_error(
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
        let _ = crate::store::run_blocking(|| app.logout(&token));
    }
    with_cookie(
        redirect("/login"),
        &clear_cookie(crate::api::gate::SESSION_COOKIE),
    )
}

// ---- dashboard -----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    agents: Option<String>,
    #[serde(default)]
    q: String,
    tenant: Option<String>,
}

#[handler]
pub async fn dashboard(
    req: &Request,
    Data(app): AppData<'_>,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let who = who_or_login!(app, req);
    let all = q.agents.as_deref() == Some("all") && who.user.is_admin;
    let tenant = q.tenant.as_deref().and_then(|t| t.parse::<u64>().ok());
    let tenants = app.list_tenants(&who).unwrap_or_default();
    let cards = app.project_cards(&who, &q.q, tenant, 12);
    // Agents first (on a phone the first screen answers "which agent needs me?").
    let agents = super::agents::agents_panel(app, &who, all).await;
    page(
        "Dashboard",
        Some(&who),
        html! {
            h1 { "Hello, " (who.user.name) }
            (agents)
            (super::issues::pinned_section(app, &who))
            section #dashboard-projects {
                div.agents-head {
                    h2 { "Projects" }
                    div.agents-links { a role="button" .secondary.outline href="/projects" { "All projects" } }
                }
                form #dashboard-search.search-bar method="get" action="/" role="search" {
                    @if all { input type="hidden" name="agents" value="all"; }
                    input type="search" name="q" value=(q.q) placeholder="Search projects (name, repository, tenant)" aria-label="Search projects";
                    @if tenants.len() > 1 {
                        select name="tenant" aria-label="Tenant" {
                            option value="" { "All tenants" }
                            @for t in &tenants {
                                option value=(t.tenant.id) selected[tenant == Some(t.tenant.id)] { (t.tenant.name) }
                            }
                        }
                    }
                    button type="submit" { "Search" }
                }
                @match &cards {
                    Err(e) => p.error role="alert" { (e.to_string()) },
                    Ok(c) if c.cards.is_empty() && (q.q.trim().is_empty() && tenant.is_none()) => {
                        p #no-projects { "No projects yet. " a href="/projects" { "Create one" } "." }
                    }
                    Ok(c) if c.cards.is_empty() => p #no-projects { "No project matches. " a href="/" { "Show all" } },
                    Ok(c) => {
                        @if c.matching > c.cards.len() {
                            p.muted { "Showing " (c.cards.len()) " of " (c.matching) " projects. " a href="/projects" { "See all" } }
                        }
                        ul #project-cards.issue-cards {
                            @for card in &c.cards { (project_card(card)) }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn project_card(c: &crate::services::dashboard::ProjectCard) -> Markup {
    let p = &c.view.project;
    html! {
        li.issue-card.project-card id={ "project-card-" (p.id) } {
            div.issue-card-top { (swatch(&c.view.tenant_color)) " " small.muted { (c.view.tenant_name) } }
            h3.issue-card-title { a href={ "/projects/" (p.id) } { (p.name) } }
            p.issue-card-meta.muted {
                @match &c.workspace {
                    Some(w) => { "Workspace on " code { (w.branch.as_deref().unwrap_or("(detached)")) } },
                    None => { "No workspace yet · default branch " code { (p.default_branch) } },
                }
            }
            div.issue-card-actions {
                a role="button" .secondary.outline href={ "/issues?project_id=" (p.id) "&status=open" } {
                    (c.open_issues) " open issue" @if c.open_issues != 1 { "s" }
                }
                a role="button" .outline href={ "/projects/" (p.id) } { "Open" }
            }
        }
    }
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
                            label { "Name" input type="text" name="name" value=(field(form, "name")) maxlength="255" required; }
                            label { "Description" textarea name="description" rows="2" { (field(form, "description")) } }
                            label { "Colour" (color_select(form.get("color").map(String::as_str).unwrap_or(PALETTE[0].0))) }
                            // The reason sits right above the button that was pressed.
                            (error_box(error))
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
    match crate::store::run_blocking(|| app.create_tenant(&who, input)) {
        Ok(t) => done_here("/tenants", &format!("Tenant {} created.", t.tenant.name)),
        // The real status (400 bad input, 409 name taken), swapped in by the form.
        Err(e) => shown_error(
            e.status(),
            tenants_page(app, &who, &f, Some(&e.to_string()), None),
        ),
    }
}

/// The caller's role on a tenant, as a word for the page ("administrator" for admins).
fn role_word(who: &Identity, role: Option<Role>) -> Option<&'static str> {
    if who.user.is_admin {
        Some("administrator")
    } else {
        role.map(Role::as_str)
    }
}

/// The tenant page: its projects and members. `members` is the members section (with the
/// outcome of a member action when there was one).
pub(super) fn tenant_page(
    app: &App,
    who: &Identity,
    id: u64,
    members: Markup,
) -> Result<Markup, AppError> {
    let (t, projects) = app.get_tenant(who, id)?;
    let role = app.tenant_role(who, id).ok().flatten();
    let manage = role >= Some(Role::Maintainer);
    Ok(page(
        &t.tenant.name,
        Some(who),
        html! {
            h1 { (swatch(&t.tenant.color)) " " (t.tenant.name) }
            p { "Slug " code { (t.slug) }
                @if let Some(r) = role_word(who, role) { " · you are " strong #my-role { (r) } } }
            @if let Some(d) = &t.tenant.description { p { (d) } }
            @if who.user.is_admin {
                p.toolbar {
                    a #tenant-edit role="button" class="outline small" href={ "/tenants/" (id) "/edit" } { "Edit" }
                    a #tenant-delete role="button" class="outline danger small" href={ "/tenants/" (id) "/delete" } { "Delete" }
                }
            }
            h2 { "Projects" }
            @if manage {
                p.toolbar {
                    a #new-project role="button" class="small" href={ "/projects?tenant_id=" (id) } { "New project" }
                    a role="button" class="outline secondary small" href="/integrations" { "Tracker integrations" }
                }
            }
            (project_table(&projects, "tenant-projects"))
            (members)
        },
    ))
}

#[handler]
pub fn tenant_show(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    let members = members_section(app, &who, MemberOf::Tenant(id), None, None);
    match tenant_page(app, &who, id, members) {
        Ok(m) => m.into_response(),
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
                button type="submit" { "Save" } " " a href={ "/tenants/" (id) } { "Cancel" }
            }
        },
    )
}

#[handler]
pub fn tenant_edit_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    // Shown to whoever sees the tenant; saving is the service's decision (administrators).
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
    match crate::store::run_blocking(|| app.update_tenant(&who, id, input)) {
        Ok(t) => done(
            req,
            &format!("/tenants/{id}"),
            &format!("Tenant {} saved.", t.tenant.name),
        ),
        Err(e @ AppError::NotFound(_)) => not_found(&who, &e),
        Err(e) => shown_error(
            error_status(&e),
            tenant_edit_page(&who, id, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn tenant_delete_get(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    let (t, _) = match app.get_tenant(&who, id) {
        Ok(t) => t,
        Err(e) => return not_found(&who, &e),
    };
    // Only administrators may delete a tenant: the impact query says so for everyone else.
    let impact = match app.tenant_impact(&who, id) {
        Ok(i) => i,
        Err(e) => return not_found(&who, &e),
    };
    page(
        "Delete tenant",
        Some(&who),
        html! {
            h1 { "Delete " (t.tenant.name) "?" }
            p #delete-impact { "This deletes the tenant, its " strong { (impact.projects) " project(s)" } " with their issues, and its "
                strong { (impact.integrations) " integration(s)" } ". It cannot be undone." }
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
    match crate::store::run_blocking(|| app.delete_tenant(&who, id)) {
        Ok(()) => done(req, "/tenants", "Tenant deleted."),
        Err(e) => not_found(&who, &e),
    }
}

// ---- projects ------------------------------------------------------------------------------------

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
    app.list_tenants(who)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| {
            Some(t.tenant.id) == keep
                || app.tenant_role(who, t.tenant.id).ok().flatten() >= Some(Role::Maintainer)
        })
        .collect()
}

/// Everyone an administrator may name as a project's owner (nobody for other callers).
fn owner_choices(app: &App, who: &Identity) -> Vec<User> {
    if who.user.is_admin {
        app.list_users(who).unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn project_fields(
    who: &Identity,
    tenants: &[TenantView],
    owners: &[User],
    f: &HashMap<String, String>,
) -> Markup {
    let selected = field(f, "tenant_id");
    let owner = match field(f, "owner_id") {
        "" => who.id().to_string(),
        o => o.to_string(),
    };
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
        @if !owners.is_empty() {
            label { "Owner (becomes a maintainer of the project)"
                select name="owner_id" {
                    @for u in owners {
                        option value=(u.id) selected[owner == u.id.to_string()] { (u.name) " · " (u.email) }
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
    let tenants = creatable_tenants(app, who, None);
    let owners = owner_choices(app, who);
    let open = error.is_some() || projects.is_empty() || !field(f, "tenant_id").is_empty();
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

fn project_input(f: &HashMap<String, String>) -> Result<ProjectInput, AppError> {
    let id = |k: &str, what: &str| match field(f, k) {
        "" => Ok(None),
        s => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("Choose {what}"))),
    };
    Ok(ProjectInput {
        name: opt_field(f, "name"),
        repo_url: opt_field(f, "repo_url"),
        default_branch: opt_field(f, "default_branch").filter(|b| !b.trim().is_empty()),
        description: Some(field(f, "description").to_string()),
        tenant_id: id("tenant_id", "a tenant")?,
        owner_id: id("owner_id", "an owner")?,
    })
}

#[derive(Deserialize)]
pub struct NewProjectQuery {
    tenant_id: Option<u64>,
}

#[handler]
pub fn projects_get(
    req: &Request,
    Data(app): AppData<'_>,
    Query(q): Query<NewProjectQuery>,
) -> Response {
    let who = who_or_login!(app, req);
    // `?tenant_id=` (the tenant page's "New project"): that tenant preselected, the form open.
    let f: HashMap<String, String> = q
        .tenant_id
        .map(|t| HashMap::from([("tenant_id".to_string(), t.to_string())]))
        .unwrap_or_default();
    projects_page(app, &who, &f, None).into_response()
}

#[handler]
pub fn projects_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = project_input(&f)
        .and_then(|input| crate::store::run_blocking(|| app.create_project(&who, input)));
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
    let p = app.get_project(who, id)?;
    let role = app.project_role(who, id).ok().flatten();
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
pub fn project_show(req: &Request, Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    let members = members_section(app, &who, MemberOf::Project(id), None, None);
    match project_page(app, &who, id, members) {
        Ok(m) => m.into_response(),
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
    let current = field(f, "current_tenant_id").parse().ok();
    let tenants = creatable_tenants(app, who, current);
    let owners = owner_choices(app, who);
    page(
        "Edit project",
        Some(who),
        html! {
            h1 { "Edit project" }
            form #project-edit-form method="post" action={ "/projects/" (id) "/edit" } {
                (error_box(error))
                input type="hidden" name="current_tenant_id" value=(field(f, "current_tenant_id"));
                (project_fields(who, &tenants, &owners, f))
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
                    "current_tenant_id".to_string(),
                    p.project.tenant_id.to_string(),
                ),
                ("owner_id".to_string(), p.project.owner_id.to_string()),
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
        .and_then(|input| crate::store::run_blocking(|| app.update_project(&who, id, input)));
    match res {
        Ok(p) => done(
            req,
            &format!("/projects/{id}"),
            &format!("Project {} saved.", p.project.name),
        ),
        Err(e @ AppError::NotFound(_)) if app.get_project(&who, id).is_err() => not_found(&who, &e),
        Err(e) => shown_error(
            error_status(&e),
            project_edit_page(app, &who, id, &f, Some(&e.to_string())),
        ),
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
    match crate::store::run_blocking(|| app.delete_project(&who, id)) {
        Ok(()) => done(req, "/projects", "Project deleted."),
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
    match crate::store::run_blocking(|| app.create_key(&who, field(&f, "name"), &scopes, expires)) {
        // Shown once, in this response only (never in a redirect URL or the log).
        Ok((_, raw)) => keys_page(app, &who, Some(&raw), &HashMap::new(), None).into_response(),
        Err(e) => shown_error(
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
    match crate::store::run_blocking(|| app.revoke_key(&who, id)) {
        Ok(()) => done_here("/keys", &format!("API key {id} revoked.")),
        Err(e) => not_found(&who, &e),
    }
}

// ---- users (admin) -------------------------------------------------------------------------------

/// The outcome of saving one user, shown on that user's card.
struct UserEdit<'a> {
    id: u64,
    /// The submitted fields (kept on an error, so nothing typed is lost).
    form: Option<&'a HashMap<String, String>>,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn user_card(who: &Identity, u: &User, edit: Option<&UserEdit>) -> Markup {
    let kept = edit.and_then(|e| e.form);
    let val = |k: &str, current: &str| -> String {
        kept.map(|f| field(f, k).to_string())
            .unwrap_or_else(|| current.to_string())
    };
    let admin_checked = match kept {
        Some(f) => field(f, "is_admin") == "true",
        None => u.is_admin,
    };
    let action = format!("/users/{}", u.id);
    html! {
        li.member.user id={ "user-" (u.id) } {
            div.member-who {
                strong.member-name { (u.name) }
                small.member-email { (u.email) }
                small.muted { "Since " (fmt_time(&u.created_at))
                    @if let Some(l) = &u.linux_username { " · Linux user " code { (l) } } }
            }
            @if u.is_admin { span.badge.role.role-admin { "admin" } } @else { span.badge.role { "user" } }
            @if let Some(e) = edit {
                div.member-outcome { (notice_box(e.notice)) }
            }
            details.user-edit open[edit.is_some_and(|e| e.error.is_some())] {
                summary { "Edit" }
                form.user-edit-form method="post" action=(action) hx-post=(action) hx-target="#user-section" hx-select="#user-section" hx-swap="outerHTML" {
                    (csrf_field(who))
                    (error_box(edit.and_then(|e| e.error)))
                    div.grid {
                        label { "Name" input type="text" name="name" value=(val("name", &u.name)) maxlength="255" required; }
                        label { "Email" input type="email" name="email" value=(val("email", &u.email)) required; }
                    }
                    div.grid {
                        label { "Linux user (blank: none)" input type="text" name="linux_username" value=(val("linux_username", u.linux_username.as_deref().unwrap_or(""))) autocomplete="off"; }
                        label { "New password (blank: unchanged)" input type="password" name="password" minlength="8" autocomplete="new-password"; }
                    }
                    label { input type="checkbox" name="is_admin" value="true" checked[admin_checked]; " Administrator" }
                    button.user-save type="submit" { "Save" }
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

fn users_page(
    app: &App,
    who: &Identity,
    f: &HashMap<String, String>,
    error: Option<&str>,
    notice: Option<&str>,
    edit: Option<&UserEdit>,
) -> Result<Markup, AppError> {
    // The service decides who may see the users (administrators).
    let users = app.list_users(who)?;
    Ok(page(
        "Users",
        Some(who),
        html! {
            section #user-section {
                h1 { "Users" }
                p { a #identities-link href="/admin/identities" { "Tracker identities" } " (GitHub, GitLab and Jira accounts of each user)" }
                (error_box(error))
                (notice_box(notice))
                ul #user-list.member-list {
                    @for u in &users {
                        (user_card(who, u, edit.filter(|e| e.id == u.id)))
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
    ))
}

/// Render the users page, or the reason it cannot be shown (not an administrator).
fn users_response(
    app: &App,
    who: &Identity,
    status: StatusCode,
    f: &HashMap<String, String>,
    error: Option<&str>,
    notice: Option<&str>,
    edit: Option<&UserEdit>,
) -> Response {
    match users_page(app, who, f, error, notice, edit) {
        Ok(m) if status.is_success() => m.into_response(),
        Ok(m) => shown_error(status, m),
        Err(e) => not_found(who, &e),
    }
}

#[handler]
pub fn users_get(req: &Request, Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    users_response(app, &who, StatusCode::OK, &HashMap::new(), None, None, None)
}

#[handler]
pub fn users_post(req: &Request, Data(app): AppData<'_>, Form(f): Fields) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = crate::store::run_blocking(|| {
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
        Ok(u) => users_response(
            app,
            &who,
            StatusCode::OK,
            &HashMap::new(),
            None,
            Some(&format!("Created {}", u.email)),
            None,
        ),
        Err(e) => users_response(
            app,
            &who,
            error_status(&e),
            &f,
            Some(&e.to_string()),
            None,
            None,
        ),
    }
}

/// `POST /users/{id}`: name, email, Linux user, admin flag and (optionally) a new password,
/// saved together by one service call (a bad field saves nothing).
#[handler]
pub fn user_edit(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let password = Some(field(&f, "password").to_string()).filter(|p| !p.is_empty());
    let new_password = password.is_some();
    let upd = UserUpdate {
        name: Some(field(&f, "name").to_string()),
        email: Some(field(&f, "email").to_string()),
        is_admin: Some(field(&f, "is_admin") == "true"),
        linux_username: Some(
            Some(field(&f, "linux_username").trim().to_string()).filter(|s| !s.is_empty()),
        ),
        password,
    };
    let empty = HashMap::new();
    match crate::store::run_blocking(|| app.update_user(&who, id, upd)) {
        Ok(u) => {
            let notice = if new_password {
                format!(
                    "Saved {}; the new password is set and their sessions were ended",
                    u.email
                )
            } else {
                format!("Saved {}", u.email)
            };
            let edit = UserEdit {
                id,
                form: None,
                error: None,
                notice: Some(&notice),
            };
            users_response(app, &who, StatusCode::OK, &empty, None, None, Some(&edit))
        }
        Err(e) => {
            let msg = format!("Nothing was saved: {e}");
            let edit = UserEdit {
                id,
                form: Some(&f),
                error: Some(&msg),
                notice: None,
            };
            // A user that is gone: say so at the top (there is no card to show it on).
            let top = matches!(e, AppError::NotFound(_)).then_some(msg.as_str());
            users_response(app, &who, error_status(&e), &empty, top, None, Some(&edit))
        }
    }
}

#[handler]
pub fn user_delete(
    req: &Request,
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let empty = HashMap::new();
    match crate::store::run_blocking(|| app.delete_user(&who, id)) {
        Ok(()) => users_response(
            app,
            &who,
            StatusCode::OK,
            &empty,
            None,
            Some("User deleted"),
            None,
        ),
        Err(e) => users_response(
            app,
            &who,
            error_status(&e),
            &empty,
            Some(&e.to_string()),
            None,
            None,
        ),
    }
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
    match crate::store::run_blocking(|| {
        app.change_own_password(&who, field(&f, "current"), field(&f, "new"))
    }) {
        // Changing the password ends all sessions, this one included.
        Ok(()) => with_cookie(
            redirect("/login"),
            &clear_cookie(crate::api::gate::SESSION_COOKIE),
        ),
        Err(e) => shown_error(
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

/// A GET of an address that only takes a form post (`/issues/5/close` reloaded after the
/// post): back to the page the form was on (the address without its action).
pub fn form_address_get(path: &str) -> Response {
    redirect(&form_parent(path))
}

/// `/issues/5/close` → `/issues/5`; `/logout` → `/`.
pub(super) fn form_parent(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
    }
}

#[cfg(test)]
mod form_parent_tests {
    #[test]
    fn a_form_address_leads_back_to_its_page() {
        assert_eq!(super::form_parent("/issues/5/close"), "/issues/5");
        assert_eq!(super::form_parent("/sessions/3/stop/"), "/sessions/3");
        assert_eq!(super::form_parent("/logout"), "/");
        assert_eq!(super::form_parent("/"), "/");
    }
}
