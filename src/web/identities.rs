//! `/admin/identities` (administrators): every user with the GitHub login, GitLab username and
//! Jira account id they are on the trackers (used for assignment, "my issues" and @mentions),
//! each card editable in place, and a filter by email or name. The services decide access
//! (`list_identity_maps`, `admin_set_identities`: administrators only).

use super::layout::{csrf_field, error_box, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::domain::{IdentityMap, User};
use crate::error::AppError;
use crate::services::App;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// A card's form: the three identities (a blank one clears it) and the list's filter `q`, so
/// the page comes back filtered. Kept on an error, so nothing typed is lost.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IdentityForm {
    q: String,
    github_username: String,
    gitlab_username: String,
    jira_account_id: String,
}

impl IdentityForm {
    /// The submitted value of one of `FIELDS`.
    fn value(&self, k: &str) -> &str {
        match k {
            "github_username" => &self.github_username,
            "gitlab_username" => &self.gitlab_username,
            _ => &self.jira_account_id,
        }
    }
}

/// The outcome of a save, shown on that user's card.
struct Outcome<'a> {
    user_id: u64,
    /// The submitted fields (kept on an error, so nothing typed is lost).
    form: Option<&'a IdentityForm>,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

const FIELDS: [(&str, &str); 3] = [
    ("github_username", "GitHub login"),
    ("gitlab_username", "GitLab username"),
    ("jira_account_id", "Jira account id"),
];

fn current_value<'a>(m: &'a IdentityMap, k: &str) -> &'a str {
    match k {
        "github_username" => m.github_username.as_deref(),
        "gitlab_username" => m.gitlab_username.as_deref(),
        _ => m.jira_account_id.as_deref(),
    }
    .unwrap_or("")
}

fn card(who: &Identity, u: &User, m: &IdentityMap, q: &str, out: Option<&Outcome>) -> Markup {
    let kept = out.and_then(|o| o.form);
    let id = format!("identity-{}", u.id);
    let action = format!("/admin/identities/{}", u.id);
    let target = format!("#{id}");
    html! {
        article.identity id=(id) {
            header {
                strong.member-name { (u.name) }
                " "
                small.member-email { (u.email) }
            }
            @if let Some(o) = out {
                (error_box(o.error))
                (notice_box(o.notice))
            }
            form.identity-form method="post" action=(action) hx-post=(action) hx-target=(target) hx-select=(target) hx-swap="outerHTML" {
                (csrf_field(who))
                input type="hidden" name="q" value=(q);
                div.grid {
                    @for (k, label) in FIELDS {
                        label {
                            (label)
                            input type="text" name=(k) maxlength="255" autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="not set"
                                value=(kept.map(|f| f.value(k)).unwrap_or_else(|| current_value(m, k)));
                        }
                    }
                }
                button.identity-save type="submit" { "Save identities" }
            }
        }
    }
}

fn identities_page(
    app: &App,
    who: &Identity,
    q: &str,
    out: Option<&Outcome>,
) -> Result<Markup, AppError> {
    let rows = app.trackers.list_identity_maps(who, Some(q))?;
    Ok(page(
        "Tracker identities",
        Some(who),
        html! {
            section #identities-section {
                h1 { "Tracker identities" }
                p.muted {
                    "Who each aiops user is on the trackers: issues are assigned to this login, "
                    "\"my issues\" and @mentions use it. A blank field clears it. "
                    "Users set their own under " a href="/account/trackers" { "Account → Trackers" } "."
                }
                form #identity-filter role="search" method="get" action="/admin/identities"
                    hx-get="/admin/identities" hx-trigger="input changed delay:300ms from:#identity-q, search from:#identity-q, submit" hx-target="#identity-list" hx-select="#identity-list" hx-swap="outerHTML" hx-push-url="true" {
                    fieldset role="group" {
                        input #identity-q type="search" name="q" value=(q) placeholder="Filter by email or name" aria-label="Filter users by email or name";
                        button type="submit" { "Filter" }
                    }
                }
                div #identity-list {
                    @if let Some(o) = out.filter(|o| !rows.iter().any(|(u, _)| u.id.get() == o.user_id)) {
                        // The user is gone (or filtered out): say so at the top.
                        (error_box(o.error))
                        (notice_box(o.notice))
                    }
                    @for (u, m) in &rows {
                        (card(who, u, m, q, out.filter(|o| o.user_id == u.id.get())))
                    }
                    @if rows.is_empty() {
                        p #identity-none { "No user matches \"" (q) "\". " a href="/admin/identities" { "Show everyone" } }
                    }
                }
                p { a href="/users" { "Users" } " · " a href="/integrations" { "Tracker integrations" } }
            }
        },
    ))
}

fn respond(
    app: &App,
    who: &Identity,
    status: StatusCode,
    q: &str,
    out: Option<&Outcome>,
) -> Response {
    match identities_page(app, who, q, out) {
        Ok(m) if status.is_success() => m.into_response(),
        Ok(m) => shown_error(status, m),
        Err(e) => not_found(who, &e),
    }
}

#[derive(Deserialize)]
pub struct FilterQuery {
    q: Option<String>,
}

#[handler]
pub fn identities_get(
    Data(app): AppData<'_>,
    Query(f): Query<FilterQuery>,
    WebUser(who): WebUser,
) -> Response {
    respond(
        app,
        &who,
        StatusCode::OK,
        f.q.as_deref().unwrap_or("").trim(),
        None,
    )
}

/// `POST /admin/identities/{user id}`: the three identities, saved together (a bad field saves
/// nothing); the card shows what happened.
#[handler]
pub fn identity_post(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<IdentityForm>,
) -> Response {
    let q = f.q.trim();
    let res = crate::store::run_blocking(|| {
        app.trackers.admin_set_identities(
            &who,
            id.into(),
            Some(f.github_username.clone()),
            Some(f.gitlab_username.clone()),
            Some(f.jira_account_id.clone()),
        )
    });
    match res {
        Ok((u, _)) => {
            let msg = format!("Saved identities of {}", u.email);
            let out = Outcome {
                user_id: id,
                form: None,
                error: None,
                notice: Some(&msg),
            };
            respond(app, &who, StatusCode::OK, q, Some(&out))
        }
        // Not an administrator: the same answer as the page (nothing to show them).
        Err(e @ AppError::Forbidden(_)) => not_found(&who, &e),
        Err(e) => {
            let msg = format!("Nothing was saved: {e}");
            let out = Outcome {
                user_id: id,
                form: Some(&f),
                error: Some(&msg),
                notice: None,
            };
            respond(app, &who, error_status(&e), q, Some(&out))
        }
    }
}
