//! The caller's API keys: list, create (the key shown once), revoke.

use super::prelude::*;
use crate::auth::Identity;
use crate::services::App;
use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// `POST /keys`: a new key (`scopes` is a comma-separated list, `expires_days` blank: never).
#[derive(Deserialize, Default)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    expires_days: String,
}

fn keys_page(
    app: &App,
    who: &Identity,
    new_key: Option<&str>,
    f: &KeyForm,
    error: Option<&str>,
) -> Markup {
    let keys = app.accounts.list_keys(who).unwrap_or_default();
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
                    label { "Name" input type="text" name="name" value=(f.name) maxlength="255" required; }
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
pub fn keys_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    keys_page(app, &who, None, &KeyForm::default(), None).into_response()
}

#[handler]
pub fn keys_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<KeyForm>) -> Response {
    let scopes: Vec<String> = f
        .scopes
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let expires = match f.expires_days.as_str() {
        "" => None,
        d => d.parse::<i64>().ok(),
    };
    match crate::store::run_blocking(|| app.accounts.create_key(&who, &f.name, &scopes, expires)) {
        // Shown once, in this response only (never in a redirect URL or the log).
        Ok((_, raw)) => keys_page(app, &who, Some(&raw), &KeyForm::default(), None).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            keys_page(app, &who, None, &f, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn key_revoke(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    match crate::store::run_blocking(|| app.accounts.revoke_key(&who, id.into())) {
        Ok(()) => done_here("/keys", &format!("API key {id} revoked.")),
        Err(e) => not_found(&who, &e),
    }
}
