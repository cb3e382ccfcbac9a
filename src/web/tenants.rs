//! Tenant pages: the list and create form, a tenant's page (projects, members), edit, delete.

use super::members::members_section;
use super::prelude::*;
use super::projects::project_table;
use crate::auth::Identity;
use crate::domain::Role;
use crate::domain::rules::PALETTE;
use crate::error::AppError;
use crate::services::App;
use crate::services::access::MemberOf;
use crate::services::tenants::{TenantInput, TenantView};
use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

/// A tenant's form (create and edit); a field left out is `None` and the service says what is
/// missing (an edit without a description saves it empty, as before).
#[derive(Deserialize, Default)]
pub struct TenantForm {
    name: Option<String>,
    description: Option<String>,
    color: Option<String>,
}

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
    form: &TenantForm,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let tenants = app.tenancy.list_tenants(who).unwrap_or_default();
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
                            label { "Name" input type="text" name="name" value=(form.name.as_deref().unwrap_or("")) maxlength="255" required; }
                            label { "Description" textarea name="description" rows="2" { (form.description.as_deref().unwrap_or("")) } }
                            label { "Colour" (color_select(form.color.as_deref().unwrap_or(PALETTE[0].0))) }
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
pub fn tenants_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    tenants_page(app, &who, &TenantForm::default(), None, None).into_response()
}

#[handler]
pub fn tenants_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<TenantForm>) -> Response {
    let input = TenantInput {
        name: f.name.clone(),
        description: f.description.clone(),
        color: f.color.clone(),
    };
    match crate::store::run_blocking(|| app.tenancy.create_tenant(&who, input)) {
        Ok(t) => done_here("/tenants", &format!("Tenant {} created.", t.tenant.name)),
        // The real status (400 bad input, 409 name taken), swapped in by the form.
        Err(e) => shown_error(
            e.status(),
            tenants_page(app, &who, &f, Some(&e.to_string()), None),
        ),
    }
}

/// The caller's role on a tenant, as a word for the page ("administrator" for admins).
pub(super) fn role_word(who: &Identity, role: Option<Role>) -> Option<&'static str> {
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
    let (t, projects) = app.tenancy.get_tenant(who, id.into())?;
    let role = app.tenancy.tenant_role(who, id.into()).ok().flatten();
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
pub fn tenant_show(Data(app): AppData<'_>, Path(id): Path<u64>, WebUser(who): WebUser) -> Response {
    let members = members_section(app, &who, MemberOf::Tenant(id.into()), None, None);
    match tenant_page(app, &who, id, members) {
        Ok(m) => m.into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn tenant_edit_page(who: &Identity, id: u64, f: &TenantForm, error: Option<&str>) -> Markup {
    page(
        "Edit tenant",
        Some(who),
        html! {
            h1 { "Edit tenant" }
            form method="post" action={ "/tenants/" (id) "/edit" } {
                (csrf_field(who))
                (error_box(error))
                label { "Name" input type="text" name="name" value=(f.name.as_deref().unwrap_or("")) required; }
                label { "Description" textarea name="description" rows="2" { (f.description.as_deref().unwrap_or("")) } }
                label { "Colour" (color_select(f.color.as_deref().unwrap_or(""))) }
                button type="submit" { "Save" } " " a href={ "/tenants/" (id) } { "Cancel" }
            }
        },
    )
}

#[handler]
pub fn tenant_edit_get(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    // Shown to whoever sees the tenant; saving is the service's decision (administrators).
    match app.tenancy.get_tenant(&who, id.into()) {
        Ok((t, _)) => {
            let f = TenantForm {
                name: Some(t.tenant.name.clone()),
                description: Some(t.tenant.description.clone().unwrap_or_default()),
                color: Some(t.tenant.color.clone()),
            };
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
    CsrfForm(who, f): CsrfForm<TenantForm>,
) -> Response {
    let input = TenantInput {
        name: f.name.clone(),
        description: Some(f.description.clone().unwrap_or_default()),
        color: f.color.clone(),
    };
    match crate::store::run_blocking(|| app.tenancy.update_tenant(&who, id.into(), input)) {
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
pub fn tenant_delete_get(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    let (t, _) = match app.tenancy.get_tenant(&who, id.into()) {
        Ok(t) => t,
        Err(e) => return not_found(&who, &e),
    };
    // Only administrators may delete a tenant: the impact query says so for everyone else.
    let impact = match app.tenancy.tenant_impact(&who, id.into()) {
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
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    match crate::store::run_blocking(|| app.tenancy.delete_tenant(&who, id.into())) {
        Ok(()) => done(req, "/tenants", "Tenant deleted."),
        Err(e) => not_found(&who, &e),
    }
}
