//! Users (administrators): the list with an edit form per user, create, delete.

use super::prelude::*;
use crate::auth::Identity;
use crate::domain::User;
use crate::error::AppError;
use crate::services::App;
use crate::services::accounts::{NewUser, UserUpdate};
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// The new-user form and each user's edit form (a field not sent reads as blank; `is_admin` is
/// the checkbox, `true` when ticked). Kept on an error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UserForm {
    email: String,
    name: String,
    password: String,
    linux_username: String,
    is_admin: String,
}

impl UserForm {
    fn admin(&self) -> bool {
        self.is_admin == "true"
    }
}

/// The outcome of saving one user, shown on that user's card.
struct UserEdit<'a> {
    id: u64,
    /// The submitted fields (kept on an error, so nothing typed is lost).
    form: Option<&'a UserForm>,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn user_card(who: &Identity, u: &User, edit: Option<&UserEdit>) -> Markup {
    let kept = edit.and_then(|e| e.form);
    let val = |kept_value: fn(&UserForm) -> &str, current: &str| -> String {
        kept.map(kept_value).unwrap_or(current).to_string()
    };
    let admin_checked = match kept {
        Some(f) => f.admin(),
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
                        label { "Name" input type="text" name="name" value=(val(|f| &f.name, &u.name)) maxlength="255" required; }
                        label { "Email" input type="email" name="email" value=(val(|f| &f.email, &u.email)) required; }
                    }
                    div.grid {
                        label { "Linux user (blank: none)" input type="text" name="linux_username" value=(val(|f| &f.linux_username, u.linux_username.as_deref().unwrap_or(""))) autocomplete="off"; }
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
    f: &UserForm,
    error: Option<&str>,
    notice: Option<&str>,
    edit: Option<&UserEdit>,
) -> Result<Markup, AppError> {
    // The service decides who may see the users (administrators).
    let users = app.accounts.list_users(who)?;
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
                        (user_card(who, u, edit.filter(|e| e.id == u.id.get())))
                    }
                }
                h2 { "New user" }
                form #user-form method="post" action="/users" {
                    (csrf_field(who))
                    div.grid {
                        label { "Email" input type="email" name="email" value=(f.email) required; }
                        label { "Name" input type="text" name="name" value=(f.name) required; }
                    }
                    label { "Password (8+ characters)" input type="password" name="password" minlength="8" required; }
                    label { input type="checkbox" name="is_admin" value="true" checked[f.admin()]; " Administrator" }
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
    f: &UserForm,
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
pub fn users_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    users_response(
        app,
        &who,
        StatusCode::OK,
        &UserForm::default(),
        None,
        None,
        None,
    )
}

#[handler]
pub fn users_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<UserForm>) -> Response {
    let res = crate::store::run_blocking(|| {
        app.accounts.create_user(
            &who,
            NewUser {
                email: &f.email,
                name: &f.name,
                password: &f.password,
                is_admin: f.admin(),
            },
        )
    });
    match res {
        Ok(u) => users_response(
            app,
            &who,
            StatusCode::OK,
            &UserForm::default(),
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
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<UserForm>,
) -> Response {
    let password = Some(f.password.clone()).filter(|p| !p.is_empty());
    let new_password = password.is_some();
    let upd = UserUpdate {
        name: Some(f.name.clone()),
        email: Some(f.email.clone()),
        is_admin: Some(f.admin()),
        linux_username: Some(Some(f.linux_username.trim().to_string()).filter(|s| !s.is_empty())),
        password,
    };
    let empty = UserForm::default();
    match crate::store::run_blocking(|| app.accounts.update_user(&who, id.into(), upd)) {
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
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let empty = UserForm::default();
    match crate::store::run_blocking(|| app.accounts.delete_user(&who, id.into())) {
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
