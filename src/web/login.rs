//! Log in, the one-time setup of the first administrator, log out.

use super::prelude::*;
use crate::error::AppError;
use crate::services::accounts::NewUser;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    token: Option<String>,
}

/// `POST /login` (its token is checked against the login CSRF cookie, not a session).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /setup`: the first administrator, with the one-time setup token.
#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
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
    if app.accounts.setup_pending().unwrap_or(false) {
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
    WebForm(f): WebForm<LoginForm>,
) -> Response {
    let cookie = cookie_value_of(req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !ct_eq(&f.csrf_token, &cookie) {
        return html_status(
            StatusCode::FORBIDDEN,
            page(
                "Log in",
                None,
                html! { h1 { "Form expired" } p { "Reload the login page and try again." } p { a href="/login" { "Log in" } } },
            ),
        );
    }
    let next = safe_next(f.next.as_deref().or(q.next.as_deref()));
    let client = crate::api::gate::client_ip(req, &app.config.trusted_proxies);
    let email = f.email.as_str();
    match crate::store::run_blocking(|| app.accounts.login(email, &f.password, &client)) {
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

fn setup_form(token: &str, f: &SetupForm, error: Option<&str>) -> Markup {
    page(
        "Setup",
        None,
        html! {
            article.narrow {
                h1 { "Create the administrator" }
                (error_box(error))
                form method="post" action="/setup" {
                    input type="hidden" name="token" value=(token);
                    label { "Email" input type="email" name="email" value=(f.email) required; }
                    label { "Name" input type="text" name="name" value=(f.name) required; }
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
        Some(t) if app.accounts.setup_token_valid(&t).unwrap_or(false) => {
            setup_form(&t, &SetupForm::default(), None).into_response()
        }
        _ => redirect("/login"),
    }
}

#[handler]
pub fn setup_post(Data(app): AppData<'_>, WebForm(f): WebForm<SetupForm>) -> Response {
    if !app.accounts.setup_pending().unwrap_or(false) {
        return redirect("/login");
    }
    let token = f.token.as_str();
    let res = crate::store::run_blocking(|| {
        let u = app.accounts.complete_setup(
            token,
            NewUser {
                email: &f.email,
                name: &f.name,
                password: &f.password,
                is_admin: true,
            },
        )?;
        app.accounts.create_session(u.id)
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
pub fn logout(
    req: &Request,
    Data(app): AppData<'_>,
    CsrfForm(_who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    if let Some(token) = crate::api::gate::cookie_value(req, crate::api::gate::SESSION_COOKIE) {
        let _ = crate::store::run_blocking(|| app.accounts.logout(&token));
    }
    with_cookie(
        redirect("/login"),
        &clear_cookie(crate::api::gate::SESSION_COOKIE),
    )
}
