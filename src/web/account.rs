//! The caller's account: details and the password change.

use super::prelude::*;
use crate::auth::Identity;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

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
            p { a #notifications-link href="/account/notifications" { "🔔 Notifications: this device, quiet hours, webhook, ntfy →" } }
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

/// `POST /account`: the password change.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

#[handler]
pub fn account_get(WebUser(who): WebUser) -> Response {
    account_page(&who, None, None).into_response()
}

#[handler]
pub fn account_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<PasswordForm>) -> Response {
    if f.new != f.confirm {
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&who, Some("The new passwords do not match"), None),
        );
    }
    match crate::store::run_blocking(|| app.accounts.change_own_password(&who, &f.current, &f.new))
    {
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
