//! Projects: a git repository in a tenant, with an owner and members.

use super::access::{Grants, MemberOf, project_for, put_member, tenant_for};
use super::tenants::Tenancy;
use crate::auth::Identity;
use crate::domain::Role;
use crate::domain::access::Action;
use crate::domain::rules::{
    project_path_slug, validate_branch, validate_name, validate_repo_url, validate_text,
};
use crate::domain::{Project, ProjectId, Scope, Tenant, TenantId, User, UserId};
use crate::error::{AppError, AppResult};
use crate::store::accounts::AccountReads;
use crate::store::integrations::IntegrationReads;
use crate::store::tenancy::TenancyReads;
use crate::store::{ReadTxn, WriteTxn};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub tenant_name: String,
    pub tenant_color: String,
    pub owner_name: String,
}

#[derive(Default)]
pub struct ProjectInput {
    pub name: Option<String>,
    pub repo_url: Option<String>,
    pub default_branch: Option<String>,
    pub description: Option<String>,
    pub tenant_id: Option<TenantId>,
    pub owner_id: Option<UserId>,
}

pub(crate) fn project_views(r: &ReadTxn, projects: Vec<Project>) -> AppResult<Vec<ProjectView>> {
    let mut tenant_ids: Vec<TenantId> = projects.iter().map(|p| p.tenant_id).collect();
    tenant_ids.sort_unstable();
    tenant_ids.dedup();
    let mut owner_ids: Vec<UserId> = projects.iter().map(|p| p.owner_id).collect();
    owner_ids.sort_unstable();
    owner_ids.dedup();
    let tenants: HashMap<TenantId, Tenant> = r
        .tenants_by_ids(tenant_ids)?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let owners: HashMap<UserId, User> = r
        .users_by_ids(owner_ids)?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut out = Vec::with_capacity(projects.len());
    for p in projects {
        let tenant = tenants.get(&p.tenant_id);
        out.push(ProjectView {
            tenant_name: tenant.map(|t| t.name.clone()).unwrap_or_default(),
            tenant_color: tenant.map(|t| t.color.clone()).unwrap_or_default(),
            owner_name: owners
                .get(&p.owner_id)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            project: p,
        });
    }
    Ok(out)
}

/// Refuse a project name whose workspace slug another project of the tenant already has
/// ("Dup Web" and "dup-web" would otherwise look alike to people and tools).
fn check_unique_slug(
    w: &WriteTxn,
    tenant_id: TenantId,
    name: &str,
    except: Option<ProjectId>,
) -> AppResult<()> {
    let slug = project_path_slug(name);
    for other in w.projects_in_tenant(tenant_id)? {
        if Some(other.id) != except && project_path_slug(&other.name) == slug {
            return Err(AppError::Conflict(format!(
                "Project '{}' (id {}) in this tenant already has the name '{slug}' once spaces and punctuation are folded; choose another name",
                other.name, other.id
            )));
        }
    }
    Ok(())
}

impl Tenancy {
    /// The projects the caller is a member of (directly or through the tenant), newest first.
    pub fn list_projects(
        &self,
        caller: &Identity,
        tenant_id: Option<TenantId>,
    ) -> AppResult<Vec<ProjectView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let ids: Vec<ProjectId> = match (g.visible_project_ids(&r)?, tenant_id) {
            (None, Some(t)) => r.project_ids_in_tenant(t)?,
            (None, None) => {
                let mut projects = r.projects()?;
                projects.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
                return project_views(&r, projects);
            }
            (Some(ids), _) => ids.into_iter().collect(),
        };
        let mut projects: Vec<Project> = r
            .projects_by_ids(ids)?
            .into_iter()
            .filter(|p| tenant_id.is_none_or(|t| p.tenant_id == t))
            .collect();
        projects.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        project_views(&r, projects)
    }

    /// 404 when it does not exist or the caller is not a member (ids do not leak).
    pub fn get_project(&self, caller: &Identity, id: ProjectId) -> AppResult<ProjectView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let p = project_for(&r, caller, id, Action::View)?;
        Ok(project_views(&r, vec![p])?.remove(0))
    }

    /// One project with the caller's workspace status, or why there is none (never an error
    /// once the project may be seen; no network, and no wait for a running git operation).
    pub async fn get_project_with_git_status(
        &self,
        caller: &Identity,
        id: ProjectId,
    ) -> AppResult<(ProjectView, Result<super::git::GitStatus, String>)> {
        let view = self.get_project(caller, id)?;
        let status = match self.git.git_status_or_reason(caller, id, false).await {
            Ok(r) => r,
            Err(e) => Err(match e {
                crate::error::AppError::Forbidden(why) => {
                    format!("No workspace status: {why} (workspaces are for developers and up)")
                }
                crate::error::AppError::Internal(detail) => {
                    tracing::error!(project = id.get(), error = %detail, "workspace status failed");
                    "The workspace status could not be read (see the server log); try GET /projects/{id}/git/status".to_string()
                }
                other => other.to_string(),
            }),
        };
        Ok((view, status))
    }

    /// The caller's effective role on a project (None: not a member).
    pub fn project_role(&self, caller: &Identity, id: ProjectId) -> AppResult<Option<Role>> {
        let r = self.store.read()?;
        let Some(p) = r.get_project(id)? else {
            return Ok(None);
        };
        Ok(Grants::load(&r, caller)?.project_role(&p))
    }

    /// Tenant maintainers and admins create projects; the owner (the caller unless an admin
    /// names another user) becomes a maintainer of the project.
    pub fn create_project(&self, caller: &Identity, input: ProjectInput) -> AppResult<ProjectView> {
        caller.require(Scope::Write)?;
        let name = validate_name("Project name", input.name.as_deref().unwrap_or(""))
            .map_err(AppError::BadRequest)?;
        let repo_url = validate_repo_url(input.repo_url.as_deref().unwrap_or(""))
            .map_err(AppError::BadRequest)?;
        let default_branch = validate_branch(input.default_branch.as_deref().unwrap_or("main"))
            .map_err(AppError::BadRequest)?;
        let description = validate_text("Description", input.description.as_deref())
            .map_err(AppError::BadRequest)?;
        let tenant_id = input
            .tenant_id
            .ok_or_else(|| AppError::BadRequest("tenant_id must be provided".into()))?;
        let owner_id = input.owner_id.unwrap_or(caller.id());
        let w = self.store.write()?;
        tenant_for(&w, caller, tenant_id, Action::Manage)?;
        if owner_id != caller.id() && !(caller.user.is_admin && caller.has(Scope::Admin)) {
            return Err(AppError::Forbidden(
                "Only administrators can create projects for another user; create it yourself and add them as a member".into(),
            ));
        }
        if w.get_user(owner_id)?.is_none() {
            return Err(AppError::NotFound(format!("Owner {owner_id} not found")));
        }
        check_unique_slug(&w, tenant_id, &name, None)?;
        let id = w.new_project_id()?;
        let local_path = self
            .config
            .repo_storage_path
            .join(format!("{}-{id}", project_path_slug(&name)))
            .to_string_lossy()
            .into_owned();
        let now = crate::domain::model::now();
        let p = Project {
            id,
            name,
            repo_url,
            default_branch,
            local_path,
            description,
            tenant_id,
            owner_id,
            ssh_key_id: None,
            created_at: now,
            updated_at: now,
        };
        w.put_project(&p)?;
        put_member(&w, MemberOf::Project(id), owner_id, Role::Maintainer)?;
        w.commit()?;
        let r = self.store.read()?;
        Ok(project_views(&r, vec![p])?.remove(0))
    }

    /// Maintainers edit; moving to another tenant needs maintainer there too; changing the
    /// owner is for admins. Everything is checked before anything is written.
    pub fn update_project(
        &self,
        caller: &Identity,
        id: ProjectId,
        input: ProjectInput,
    ) -> AppResult<ProjectView> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let mut p = project_for(&w, caller, id, Action::Manage)?;
        let old = p.clone();
        if let Some(n) = input.name {
            p.name = validate_name("Project name", &n).map_err(AppError::BadRequest)?;
        }
        if let Some(u) = input.repo_url {
            p.repo_url = validate_repo_url(&u).map_err(AppError::BadRequest)?;
        }
        if let Some(b) = input.default_branch {
            p.default_branch = validate_branch(&b).map_err(AppError::BadRequest)?;
        }
        if input.description.is_some() {
            p.description = validate_text("Description", input.description.as_deref())
                .map_err(AppError::BadRequest)?;
        }
        if let Some(t) = input.tenant_id.filter(|t| *t != p.tenant_id) {
            tenant_for(&w, caller, t, Action::Manage)?;
            if w.link_count_of_project(id)? > 0 {
                return Err(AppError::Conflict(
                    "The project is linked to issue trackers of its current tenant; remove those links before moving it to another tenant".into(),
                ));
            }
            p.tenant_id = t;
            // A key of the old tenant must not follow the project into the new one.
            if let Some(k) = p.ssh_key_id
                && w.ssh_key_tenant(k)?
                    .is_some_and(|kt| kt.is_some_and(|kt| kt != t))
            {
                p.ssh_key_id = None;
            }
        }
        if let Some(o) = input.owner_id.filter(|o| *o != p.owner_id) {
            if !(caller.user.is_admin && caller.has(Scope::Admin)) {
                return Err(AppError::Forbidden(
                    "Only administrators can change a project's owner; maintainers add members instead".into(),
                ));
            }
            if w.get_user(o)?.is_none() {
                return Err(AppError::NotFound(format!("Owner {o} not found")));
            }
            p.owner_id = o;
        }
        if p.name != old.name || p.tenant_id != old.tenant_id {
            check_unique_slug(&w, p.tenant_id, &p.name, Some(id))?;
        }
        // All checks passed: write (the store moves the tenant and owner index entries).
        if p.owner_id != old.owner_id {
            put_member(&w, MemberOf::Project(id), p.owner_id, Role::Maintainer)?;
        }
        p.updated_at = crate::domain::model::now();
        w.put_project(&p)?;
        w.commit()?;
        let r = self.store.read()?;
        Ok(project_views(&r, vec![p])?.remove(0))
    }

    /// Maintainers and admins may delete; issues, integration links, pins, sessions and
    /// memberships go with it.
    pub fn delete_project(&self, caller: &Identity, id: ProjectId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let p = project_for(&w, caller, id, Action::Manage)?;
        w.delete_project(&p)?;
        w.commit()?;
        Ok(())
    }
}
