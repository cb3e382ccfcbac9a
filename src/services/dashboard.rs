//! The dashboard's project cards: the caller's projects, narrowed by a search and a tenant,
//! each with its open-issue count and the caller's workspace state (read from the files, no
//! git process), so the first screen answers "where is work waiting?".

use super::git::Git;
use super::integrations::Trackers;
use super::tenants::Tenancy;
use std::sync::Arc;

/// The dashboard's read model across projects, issues and workspaces.
pub struct Dashboard {
    pub(crate) tenancy: Arc<Tenancy>,
    pub(crate) git: Arc<Git>,
    pub(crate) trackers: Arc<Trackers>,
}
use super::issues::IssueFilter;
use super::projects::ProjectView;
use crate::auth::Identity;
use crate::domain::TenantId;
use crate::error::AppResult;

pub struct ProjectCard {
    pub view: ProjectView,
    pub open_issues: usize,
    /// The caller's workspace: None when they cannot work in the project or have none yet.
    pub workspace: Option<WorkspaceState>,
}

pub struct WorkspaceState {
    /// The checked-out branch (None: detached or unreadable).
    pub branch: Option<String>,
}

pub struct ProjectCards {
    pub cards: Vec<ProjectCard>,
    /// Projects matching the search and tenant (the cards are the first `limit` of them).
    pub matching: usize,
}

/// Whether a project matches a dashboard search: case-insensitive substring of its name,
/// repository URL, tenant name or description.
pub fn project_matches(v: &ProjectView, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return true;
    }
    [
        v.project.name.as_str(),
        v.project.repo_url.as_str(),
        v.tenant_name.as_str(),
        v.project.description.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(&q))
}

impl Dashboard {
    /// The dashboard's cards, newest project first.
    pub fn project_cards(
        &self,
        caller: &Identity,
        q: &str,
        tenant_id: Option<TenantId>,
        limit: usize,
    ) -> AppResult<ProjectCards> {
        let matching: Vec<ProjectView> = self
            .tenancy
            .list_projects(caller, tenant_id)?
            .into_iter()
            .filter(|v| project_matches(v, q))
            .collect();
        let total = matching.len();
        let mut cards = Vec::new();
        for view in matching.into_iter().take(limit) {
            let id = view.project.id;
            let open_issues = self
                .trackers
                .list_issues(
                    caller,
                    &IssueFilter {
                        project_id: Some(id),
                        status: Some("open".into()),
                        limit: Some(1),
                        ..Default::default()
                    },
                )
                .map(|p| p.total)
                .unwrap_or(0);
            let workspace = self
                .git
                .workspace_status(caller, id)
                .ok()
                .filter(|w| w.has_git)
                .map(|w| WorkspaceState {
                    branch: super::git::current_branch(&w.path).ok().flatten(),
                });
            cards.push(ProjectCard {
                view,
                open_issues,
                workspace,
            });
        }
        Ok(ProjectCards {
            cards,
            matching: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Project, ProjectId, UserId};

    #[test]
    fn the_search_looks_at_name_repository_tenant_and_description() {
        let v = ProjectView {
            project: Project {
                id: ProjectId(1),
                name: "Payments API".into(),
                repo_url: "git@github.com:acme/pay.git".into(),
                default_branch: "main".into(),
                local_path: String::new(),
                description: Some("Stripe glue".into()),
                tenant_id: TenantId(1),
                owner_id: UserId(1),
                ssh_key_id: None,
                created_at: crate::domain::model::now(),
                updated_at: crate::domain::model::now(),
            },
            tenant_name: "Acme".into(),
            tenant_color: "#2563eb".into(),
            owner_name: "Ann".into(),
        };
        for q in ["", "  ", "payments", "ACME/PAY", "acme", "stripe"] {
            assert!(project_matches(&v, q), "{q}");
        }
        assert!(!project_matches(&v, "billing"));
    }
}
