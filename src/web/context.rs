//! `/projects/{id}/agents-md`: the project's part of `AGENTS.override.md`. Maintainers of the
//! project edit it, every other member reads it; both see the file an agent gets (global +
//! project + issue). The service decides who may do what (`project_context`,
//! `set_project_context`).

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::error::AppError;
use crate::services::context::{PROJECT_CONTEXT_MAX_BYTES, ProjectContextView};
use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// What the page shows besides the stored state: an outcome, and the text sent (kept on an
/// error, so nothing typed is lost).
#[derive(Default)]
struct Shown<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    sent: Option<&'a str>,
}

fn agents_md_page(who: &Identity, v: &ProjectContextView, shown: &Shown) -> Markup {
    let id = v.project_id;
    let action = format!("/projects/{id}/agents-md");
    let content = v.context.as_ref().map(|c| c.content.as_str());
    page(
        &format!("Agent instructions · {}", v.project_name),
        Some(who),
        html! {
            section #agents-md-section {
                p { a href={ "/projects/" (id) } { "← " (v.project_name) } }
                h1 { "Agent instructions" }
                p.muted {
                    "Every agent started in " strong { (v.project_name) } " reads AGENTS.override.md: the "
                    a href="/settings/agents" { "global instructions" }
                    ", then these, then the issue it works on. They are kept with the project (not in anyone's "
                    "workspace) and written into each agent's checkout when its session starts."
                }
                (error_box(shown.error))
                (notice_box(shown.notice))
                @if let Some(c) = &v.context {
                    p.muted #agents-md-updated {
                        "Updated " (fmt_time(&c.updated_at))
                        @if let Some(u) = &v.updated_by { " by " (u.name) }
                    }
                }
                @if v.can_edit {
                    form #agents-md-form method="post" action=(action) hx-post=(action) hx-target="#agents-md-section" hx-select="#agents-md-section" hx-swap="outerHTML" {
                        (csrf_field(who))
                        label for="agents-md-content" { "This project's instructions (Markdown)" }
                        textarea #agents-md-content name="content" rows="14" spellcheck="false"
                            placeholder="e.g. Run `make test` before committing. The API lives in server/, the web app in web/." {
                            (shown.sent.or(content).unwrap_or(""))
                        }
                        small.muted { "At most " (PROJECT_CONTEXT_MAX_BYTES / 1024) " KiB. Save an empty text to remove them." }
                        div.toolbar {
                            button #agents-md-save type="submit" { "Save instructions" }
                        }
                    }
                } @else {
                    @if let Some(c) = content {
                        pre.pre #agents-md-content { (c) }
                    } @else {
                        p #agents-md-none { em { "This project has no instructions of its own." } }
                    }
                    p.muted #agents-md-read-only { "Read only: the maintainers of the project change these." }
                }
                h2 { "What an agent gets" }
                p.muted {
                    "AGENTS.override.md for a session without an issue. With an issue, the issue's details replace the placeholder at the end."
                    @if !v.global_set { " No global instructions are set, so the repository's own AGENTS.md opens the file." }
                }
                pre.pre #agents-md-preview { (v.preview) }
            }
        },
    )
}

#[handler]
pub fn agents_md_get(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    match app.sessions.project_context(&who, id.into()) {
        Ok(v) => agents_md_page(&who, &v, &Shown::default()).into_response(),
        Err(e) => not_found(&who, &e),
    }
}

/// The project instructions form: the text to save (`set_project_context` decides what a
/// blank one means).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ContextForm {
    content: String,
}

#[handler]
pub fn agents_md_post(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<ContextForm>,
) -> Response {
    let sent = f.content.as_str();
    match crate::store::run_blocking(|| app.sessions.set_project_context(&who, id.into(), sent)) {
        Ok(v) => {
            let msg = if v.context.is_some() {
                format!(
                    "Saved the agent instructions of {}: agents started from now on get them.",
                    v.project_name
                )
            } else {
                format!(
                    "Removed the agent instructions of {}: agents get the global instructions only.",
                    v.project_name
                )
            };
            let shown = Shown {
                notice: Some(&msg),
                ..Default::default()
            };
            agents_md_page(&who, &v, &shown).into_response()
        }
        // A validation error: the page again, with the reason and the text kept.
        Err(e @ AppError::BadRequest(_)) => match app.sessions.project_context(&who, id.into()) {
            Ok(v) => {
                let msg = format!("Nothing was saved: {e}");
                let shown = Shown {
                    error: Some(&msg),
                    sent: Some(sent),
                    ..Default::default()
                };
                shown_error(error_status(&e), agents_md_page(&who, &v, &shown))
            }
            Err(e) => not_found(&who, &e),
        },
        // Not theirs to change (403) or to see (404).
        Err(e) => not_found(&who, &e),
    }
}
