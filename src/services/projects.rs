//! Projects: a git repository in a tenant, owned by a user.

use super::App;
use crate::auth::Identity;
use crate::domain::rules::{
    project_path_slug, validate_branch, validate_name, validate_repo_url, validate_text,
};
use crate::domain::{
    ExternalIssue, Id, PinnedIssue, Project, ProjectIntegration, Scope, Tenant, User,
};
use crate::error::{AppError, AppResult};
use crate::store::tables::*;
use crate::store::*;
use chrono::Utc;
use redb::{ReadTransaction, WriteTransaction};

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
    pub tenant_id: Option<Id>,
    pub owner_id: Option<Id>,
}

pub(crate) fn project_views(
    r: &ReadTransaction,
    projects: Vec<Project>,
) -> AppResult<Vec<ProjectView>> {
    let tenants = r.open_table(TENANTS)?;
    let users = r.open_table(USERS)?;
    let mut out = Vec::with_capacity(projects.len());
    for p in projects {
        let tenant: Option<Tenant> = tenants
            .get(p.tenant_id)?
            .map(|v| decode(v.value()))
            .transpose()?;
        let owner: Option<User> = users
            .get(p.owner_id)?
            .map(|v| decode(v.value()))
            .transpose()?;
        out.push(ProjectView {
            tenant_name: tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            tenant_color: tenant.map(|t| t.color).unwrap_or_default(),
            owner_name: owner.map(|u| u.name).unwrap_or_default(),
            project: p,
        });
    }
    Ok(out)
}

/// Remove a project and everything that hangs off it, inside the caller's transaction.
pub(crate) fn delete_project_rows(w: &WriteTransaction, p: &Project) -> AppResult<()> {
    for piid in multi_ids_w(w, PROJECT_INTEGRATIONS_BY_PROJECT, p.id)? {
        if let Some(pi) = get_row_w::<ProjectIntegration>(w, PROJECT_INTEGRATIONS, piid)? {
            multi_del(
                w,
                PROJECT_INTEGRATIONS_BY_INTEGRATION,
                pi.integration_id,
                piid,
            )?;
        }
        for iid in multi_ids_w(w, ISSUES_BY_PROJECT_INTEGRATION, piid)? {
            if let Some(issue) = get_row_w::<ExternalIssue>(w, ISSUES, iid)? {
                delete_issue_rows(w, &issue)?;
            }
        }
        w.open_multimap_table(ISSUES_BY_PROJECT_INTEGRATION)?
            .remove_all(piid)?;
        delete_row(w, PROJECT_INTEGRATIONS, piid)?;
    }
    w.open_multimap_table(PROJECT_INTEGRATIONS_BY_PROJECT)?
        .remove_all(p.id)?;
    w.open_multimap_table(ISSUES_BY_PROJECT)?.remove_all(p.id)?;
    for sid in multi_ids_w(w, AI_SESSIONS_BY_PROJECT, p.id)? {
        if let Some(s) = get_row_w::<crate::domain::AiSession>(w, AI_SESSIONS, sid)? {
            multi_del(w, AI_SESSIONS_BY_USER, s.user_id, sid)?;
        }
        delete_row(w, AI_SESSIONS, sid)?;
    }
    w.open_multimap_table(AI_SESSIONS_BY_PROJECT)?
        .remove_all(p.id)?;
    multi_del(w, PROJECTS_BY_TENANT, p.tenant_id, p.id)?;
    multi_del(w, PROJECTS_BY_OWNER, p.owner_id, p.id)?;
    delete_row(w, PROJECTS, p.id)?;
    Ok(())
}

/// Remove one stored issue with its index entries and pins.
pub(crate) fn delete_issue_rows(w: &WriteTransaction, issue: &ExternalIssue) -> AppResult<()> {
    for pin_id in multi_ids_w(w, PINS_BY_ISSUE, issue.id)? {
        if let Some(pin) = get_row_w::<PinnedIssue>(w, PINS, pin_id)? {
            multi_del(w, PINS_BY_USER, pin.user_id, pin_id)?;
        }
        delete_row(w, PINS, pin_id)?;
    }
    w.open_multimap_table(PINS_BY_ISSUE)?.remove_all(issue.id)?;
    multi_del(w, ISSUES_BY_PROJECT, issue.project_id, issue.id)?;
    multi_del(w, ISSUES_BY_TENANT, issue.tenant_id, issue.id)?;
    w.open_multimap_table(ISSUES_BY_STATUS)?.remove(
        crate::domain::issues::normalize_status(issue.status.as_deref())
            .0
            .as_str(),
        issue.id,
    )?;
    index_del(
        w,
        ISSUES_BY_EXTERNAL,
        &format!("{}:{}", issue.project_integration_id, issue.external_id),
    )?;
    delete_row(w, ISSUES, issue.id)?;
    Ok(())
}

impl App {
    pub fn list_projects(
        &self,
        caller: &Identity,
        tenant_id: Option<Id>,
    ) -> AppResult<Vec<ProjectView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let mut projects: Vec<Project> = match (caller.user.is_admin, tenant_id) {
            (true, Some(t)) => rows_by_ids(&r, PROJECTS, multi_ids(&r, PROJECTS_BY_TENANT, t)?)?,
            (true, None) => all_rows(&r, PROJECTS)?,
            (false, t) => {
                rows_by_ids(&r, PROJECTS, multi_ids(&r, PROJECTS_BY_OWNER, caller.id())?)?
                    .into_iter()
                    .filter(|p: &Project| t.is_none_or(|t| p.tenant_id == t))
                    .collect()
            }
        };
        projects.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        project_views(&r, projects)
    }

    /// 404 when it does not exist; 403 when it is not the caller's.
    pub fn get_project(&self, caller: &Identity, id: Id) -> AppResult<ProjectView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let p: Project = get_row(&r, PROJECTS, id)?
            .ok_or_else(|| AppError::NotFound(format!("Project {id} not found")))?;
        if !caller.can_access_project(&p) {
            return Err(AppError::Forbidden(
                "Access denied: you do not own this project".into(),
            ));
        }
        Ok(project_views(&r, vec![p])?.remove(0))
    }

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
        if owner_id != caller.id() && !caller.user.is_admin {
            return Err(AppError::Forbidden(
                "Only administrators can create projects for another user".into(),
            ));
        }
        let w = self.store.write()?;
        if get_row_w::<Tenant>(&w, TENANTS, tenant_id)?.is_none() {
            return Err(AppError::NotFound(format!("Tenant {tenant_id} not found")));
        }
        if get_row_w::<User>(&w, USERS, owner_id)?.is_none() {
            return Err(AppError::NotFound(format!("Owner {owner_id} not found")));
        }
        let id = next_id(&w, "projects")?;
        let local_path = self
            .config
            .repo_storage_path
            .join(format!("{}-{id}", project_path_slug(&name)))
            .to_string_lossy()
            .into_owned();
        let now = Utc::now();
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
        put_row(&w, PROJECTS, id, &p)?;
        multi_add(&w, PROJECTS_BY_TENANT, tenant_id, id)?;
        multi_add(&w, PROJECTS_BY_OWNER, owner_id, id)?;
        w.commit()?;
        let r = self.store.read()?;
        Ok(project_views(&r, vec![p])?.remove(0))
    }

    pub fn update_project(
        &self,
        caller: &Identity,
        id: Id,
        input: ProjectInput,
    ) -> AppResult<ProjectView> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let mut p: Project = get_row_w(&w, PROJECTS, id)?
            .ok_or_else(|| AppError::NotFound(format!("Project {id} not found")))?;
        if !caller.can_access_project(&p) {
            return Err(AppError::Forbidden(
                "Access denied: you do not own this project".into(),
            ));
        }
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
            if get_row_w::<Tenant>(&w, TENANTS, t)?.is_none() {
                return Err(AppError::NotFound(format!("Tenant {t} not found")));
            }
            multi_del(&w, PROJECTS_BY_TENANT, p.tenant_id, id)?;
            multi_add(&w, PROJECTS_BY_TENANT, t, id)?;
            p.tenant_id = t;
        }
        if let Some(o) = input.owner_id.filter(|o| *o != p.owner_id) {
            if !caller.user.is_admin {
                return Err(AppError::Forbidden(
                    "Only administrators can change a project's owner".into(),
                ));
            }
            if get_row_w::<User>(&w, USERS, o)?.is_none() {
                return Err(AppError::NotFound(format!("Owner {o} not found")));
            }
            multi_del(&w, PROJECTS_BY_OWNER, p.owner_id, id)?;
            multi_add(&w, PROJECTS_BY_OWNER, o, id)?;
            p.owner_id = o;
        }
        p.updated_at = Utc::now();
        put_row(&w, PROJECTS, id, &p)?;
        w.commit()?;
        let r = self.store.read()?;
        Ok(project_views(&r, vec![p])?.remove(0))
    }

    /// Owners and admins may delete; issues, integrations links, pins and sessions go with it.
    pub fn delete_project(&self, caller: &Identity, id: Id) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let p: Project = get_row_w(&w, PROJECTS, id)?
            .ok_or_else(|| AppError::NotFound(format!("Project {id} not found")))?;
        if !caller.can_access_project(&p) {
            return Err(AppError::Forbidden(
                "Access denied: you do not own this project".into(),
            ));
        }
        delete_project_rows(&w, &p)?;
        w.commit()?;
        Ok(())
    }
}
