//! The dashboard: the agents panel, pinned issues and the project cards with search.

use super::prelude::*;
use maud::{Markup, html};
use poem::web::{Data, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    agents: Option<String>,
    #[serde(default)]
    q: String,
    tenant: Option<String>,
}

#[handler]
pub async fn dashboard(
    Data(app): AppData<'_>,
    Query(q): Query<DashboardQuery>,
    WebUser(who): WebUser,
) -> Response {
    let all = q.agents.as_deref() == Some("all") && who.user.is_admin;
    let tenant = q.tenant.as_deref().and_then(|t| t.parse::<u64>().ok());
    let tenants = app.tenancy.list_tenants(&who).unwrap_or_default();
    let cards = app
        .dashboard
        .project_cards(&who, &q.q, tenant.map(Into::into), 12);
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
                                option value=(t.tenant.id) selected[tenant == Some(t.tenant.id.get())] { (t.tenant.name) }
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
