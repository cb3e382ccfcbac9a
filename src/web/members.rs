//! Members of a tenant or a project on its page: a card list that fits a phone, and for
//! maintainers and administrators the add / change role / remove forms. Every action shows its
//! outcome in the section; the services decide who may do what.

use super::layout::{csrf_field, error_box, notice_box};
use super::prelude::*;
use super::projects::project_page;
use super::tenants::tenant_page;
use crate::auth::Identity;
use crate::domain::{Role, Scope};
use crate::error::AppError;
use crate::services::App;
use crate::services::access::{MemberChange, MemberOf, MemberView};
use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

fn base(target: MemberOf) -> String {
    match target {
        MemberOf::Tenant(id) => format!("/tenants/{id}/members"),
        MemberOf::Project(id) => format!("/projects/{id}/members"),
    }
}

fn caller_role(app: &App, who: &Identity, target: MemberOf) -> Option<Role> {
    match target {
        MemberOf::Tenant(id) => app.tenancy.tenant_role(who, id),
        MemberOf::Project(id) => app.tenancy.project_role(who, id),
    }
    .ok()
    .flatten()
}

/// What the forms offer: admins grant any role, maintainers viewer and developer.
fn grantable(admin: bool) -> &'static [Role] {
    if admin {
        &Role::ALL
    } else {
        &[Role::Viewer, Role::Developer]
    }
}

fn role_select(name_label: &str, roles: &[Role], selected: Role) -> Markup {
    html! {
        select name="role" aria-label=(name_label) {
            @for r in roles {
                option value=(r.as_str()) selected[*r == selected] { (r.as_str()) }
            }
        }
    }
}

fn member_row(
    who: &Identity,
    target: MemberOf,
    m: &MemberView,
    manage: bool,
    admin: bool,
) -> Markup {
    let uid = m.membership.user_id;
    let action = format!("{}/{uid}", base(target));
    let role = m.membership.role;
    // Maintainers manage the members below them; only admins touch maintainers.
    let editable = manage && (admin || role < Role::Maintainer);
    let hx = "#members-section";
    html! {
        li.member id={ "member-" (uid) } {
            div.member-who {
                strong.member-name { (m.name) @if uid == who.id() { " (you)" } }
                small.member-email { (m.email) }
            }
            span class={ "badge role role-" (role.as_str()) } { (role.as_str()) }
            @if editable {
                div.member-actions {
                    form.inline.member-role method="post" action=(action) hx-post=(action) hx-target=(hx) hx-select=(hx) hx-swap="outerHTML" {
                        (csrf_field(who))
                        input type="hidden" name="action" value="role";
                        (role_select(&format!("Role of {}", m.email), grantable(admin), role))
                        button.small.outline type="submit" { "Change" }
                    }
                    form.inline.member-remove method="post" action=(action) hx-post=(action) hx-target=(hx) hx-select=(hx) hx-swap="outerHTML" hx-confirm={ "Remove " (m.email) "?" } {
                        (csrf_field(who))
                        input type="hidden" name="action" value="remove";
                        button.small.outline.danger type="submit" { "Remove" }
                    }
                }
            }
        }
    }
}

/// The members section of a tenant or project page, with the outcome of the last action.
pub(super) fn members_section(
    app: &App,
    who: &Identity,
    target: MemberOf,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let manage = caller_role(app, who, target) >= Some(Role::Maintainer);
    let admin = who.user.is_admin && who.has(Scope::Admin);
    let members = app.tenancy.list_members(who, target);
    let action = base(target);
    let hx = "#members-section";
    html! {
        section #members-section {
            h2 { "Members" }
            p.muted {
                @match target {
                    MemberOf::Tenant(_) => "Members of the tenant reach all of its projects. ",
                    MemberOf::Project(_) => "Members of the project reach this project only; members of its tenant reach it too (the higher role counts). ",
                }
                "Viewers read; developers also work (workspaces, git, agents, issue changes); maintainers also manage (settings, integrations, members)."
            }
            div #member-outcome {
                (notice_box(notice))
                (error_box(error))
            }
            @match &members {
                Err(e) => (error_box(Some(&e.to_string()))),
                Ok(list) => {
                    ul #member-list.member-list {
                        @for m in list { (member_row(who, target, m, manage, admin)) }
                        @if list.is_empty() { li.member.muted { "No members yet." } }
                    }
                }
            }
            @if manage {
                form #member-form method="post" action=(action) hx-post=(action) hx-target=(hx) hx-select=(hx) hx-swap="outerHTML" {
                    (csrf_field(who))
                    div.grid {
                        label { "Email of the user to add"
                            input type="email" name="email" required autocomplete="off" placeholder="name@example.com";
                        }
                        label { "Role" (role_select("Role", grantable(admin), Role::Developer)) }
                    }
                    button #member-submit type="submit" { "Add member" }
                }
            }
        }
    }
}

/// The "Add a member" form: the user's email and the role to give.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    email: String,
    role: String,
}

/// A member row's form: `action` is `role` (with the new `role`) or `remove`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangeForm {
    action: String,
    role: String,
}

fn add(app: &App, who: &Identity, target: MemberOf, f: &AddForm) -> Result<String, AppError> {
    let email = f.email.trim();
    if email.is_empty() {
        return Err(AppError::BadRequest(
            "Enter the email of the user to add".into(),
        ));
    }
    let role = Role::parse(&f.role).map_err(AppError::BadRequest)?;
    let user_id = app.tenancy.member_user_by_email(who, target, email)?;
    crate::store::run_blocking(|| {
        app.tenancy
            .change_member(who, target, user_id, MemberChange::Add(role))
    })?;
    Ok(format!(
        "Added {} as {}",
        email.to_lowercase(),
        role.as_str()
    ))
}

fn change(
    app: &App,
    who: &Identity,
    target: MemberOf,
    user_id: u64,
    f: &ChangeForm,
) -> Result<String, AppError> {
    let email = app
        .tenancy
        .list_members(who, target)?
        .into_iter()
        .find(|m| m.membership.user_id.get() == user_id)
        .map(|m| m.email)
        .unwrap_or_else(|| format!("user {user_id}"));
    match f.action.as_str() {
        "remove" => {
            crate::store::run_blocking(|| {
                app.tenancy
                    .change_member(who, target, user_id.into(), MemberChange::Remove)
            })?;
            Ok(format!("Removed {email}"))
        }
        "role" => {
            let role = Role::parse(&f.role).map_err(AppError::BadRequest)?;
            crate::store::run_blocking(|| {
                app.tenancy
                    .change_member(who, target, user_id.into(), MemberChange::Set(role))
            })?;
            Ok(format!("{email} is now {}", role.as_str()))
        }
        other => Err(AppError::BadRequest(format!(
            "Unknown member action '{other}': use role or remove"
        ))),
    }
}

/// The whole tenant or project page with the outcome in its members section (htmx swaps just
/// that section). A caller who cannot see the target at all gets the not-found page.
fn respond(app: &App, who: &Identity, target: MemberOf, res: Result<String, AppError>) -> Response {
    let (notice, error) = match &res {
        Ok(m) => (Some(m.as_str()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let section = members_section(app, who, target, notice, error.as_deref());
    let page = match target {
        MemberOf::Tenant(id) => tenant_page(app, who, id.get(), section),
        MemberOf::Project(id) => project_page(app, who, id.get(), section),
    };
    match (page, res) {
        (Err(e), _) => not_found(who, &e),
        (Ok(m), Ok(_)) => m.into_response(),
        (Ok(m), Err(e)) => shown_error(error_status(&e), m),
    }
}

#[handler]
pub fn tenant_members_post(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<AddForm>,
) -> Response {
    let target = MemberOf::Tenant(id.into());
    respond(app, &who, target, add(app, &who, target, &f))
}

#[handler]
pub fn tenant_member_post(
    Data(app): AppData<'_>,
    Path((id, user_id)): Path<(u64, u64)>,
    CsrfForm(who, f): CsrfForm<ChangeForm>,
) -> Response {
    let target = MemberOf::Tenant(id.into());
    respond(app, &who, target, change(app, &who, target, user_id, &f))
}

#[handler]
pub fn project_members_post(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<AddForm>,
) -> Response {
    let target = MemberOf::Project(id.into());
    respond(app, &who, target, add(app, &who, target, &f))
}

#[handler]
pub fn project_member_post(
    Data(app): AppData<'_>,
    Path((id, user_id)): Path<(u64, u64)>,
    CsrfForm(who, f): CsrfForm<ChangeForm>,
) -> Response {
    let target = MemberOf::Project(id.into());
    respond(app, &who, target, change(app, &who, target, user_id, &f))
}

/// `GET …/members` (a reload after a plain form post): back to the page, at the section.
#[handler]
pub fn tenant_members_get(Path(id): Path<u64>) -> Response {
    redirect(&format!("/tenants/{id}#members-section"))
}

#[handler]
pub fn project_members_get(Path(id): Path<u64>) -> Response {
    redirect(&format!("/projects/{id}#members-section"))
}

#[handler]
pub fn tenant_member_get(Path((id, _)): Path<(u64, u64)>) -> Response {
    redirect(&format!("/tenants/{id}#members-section"))
}

#[handler]
pub fn project_member_get(Path((id, _)): Path<(u64, u64)>) -> Response {
    redirect(&format!("/projects/{id}#members-section"))
}
