//! Tenants: labels that group projects, integrations and SSH keys.

use super::access::{Grants, tenant_for, tenant_not_found};
use super::projects::{ProjectView, project_views};
use crate::auth::Identity;
use crate::config::Config;
use crate::domain::access::Action;
use crate::domain::rules::{sanitize_color, tenant_slug, validate_name, validate_text};
use crate::domain::{Project, Role, Scope, Tenant, TenantId};
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use crate::store::Store;
use crate::store::integrations::IntegrationReads;
use crate::store::tenancy::TenancyReads;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct TenantView {
    pub tenant: Tenant,
    pub slug: String,
    /// Projects the caller can see in this tenant.
    pub project_count: u64,
}

#[derive(Default)]
pub struct TenantInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
}

/// What deleting a tenant removes, shown before the user confirms.
pub struct TenantImpact {
    pub projects: u64,
    pub integrations: u64,
}

fn view(r: &crate::store::ReadTxn, g: &Grants, t: Tenant) -> AppResult<TenantView> {
    let project_count = match g.visible_project_ids(r)? {
        None => r.project_count_in_tenant(t.id)?,
        Some(ids) => r
            .project_ids_in_tenant(t.id)?
            .into_iter()
            .filter(|p| ids.contains(p))
            .count() as u64,
    };
    Ok(TenantView {
        slug: tenant_slug(&t.name, t.id.get()),
        project_count,
        tenant: t,
    })
}

/// Tenants, projects and memberships: who sees and changes what.
pub struct Tenancy {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    /// For a project's workspace state (branch, changes) on its page.
    pub(crate) git: Arc<Git>,
}

impl Tenancy {
    /// The tenants the caller is a member of, or has a project in (admins: all), by name.
    pub fn list_tenants(&self, caller: &Identity) -> AppResult<Vec<TenantView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let mut tenants = r.tenants()?;
        tenants.retain(|t| g.sees_tenant(t.id));
        tenants.sort_by_key(|t| t.name.to_lowercase());
        tenants.into_iter().map(|t| view(&r, &g, t)).collect()
    }

    /// A tenant and the projects of it the caller can see (404 for non-members).
    pub fn get_tenant(
        &self,
        caller: &Identity,
        id: TenantId,
    ) -> AppResult<(TenantView, Vec<ProjectView>)> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let t = tenant_for(&r, caller, id, Action::View)?;
        let g = Grants::load(&r, caller)?;
        let projects: Vec<Project> = r
            .projects_in_tenant(id)?
            .into_iter()
            .filter(|p| g.project_role(p).is_some())
            .collect();
        let projects = project_views(&r, projects)?;
        Ok((view(&r, &g, t)?, projects))
    }

    /// The caller's role on a tenant itself (None: not a tenant member).
    pub fn tenant_role(&self, caller: &Identity, id: TenantId) -> AppResult<Option<Role>> {
        let r = self.store.read()?;
        Ok(Grants::load(&r, caller)?.tenant_role(id))
    }

    pub fn create_tenant(&self, caller: &Identity, input: TenantInput) -> AppResult<TenantView> {
        caller.require_admin()?;
        let name = validate_name("Tenant name", input.name.as_deref().unwrap_or(""))
            .map_err(AppError::BadRequest)?;
        let description = validate_text("Description", input.description.as_deref())
            .map_err(AppError::BadRequest)?;
        let color =
            sanitize_color(input.color.as_deref().unwrap_or("")).map_err(AppError::BadRequest)?;
        let w = self.store.write()?;
        if w.tenant_id_by_name(&name)?.is_some() {
            return Err(AppError::Conflict(format!(
                "A tenant named '{name}' already exists"
            )));
        }
        let now = crate::domain::model::now();
        let t = Tenant {
            id: w.new_tenant_id()?,
            name,
            description,
            color,
            created_at: now,
            updated_at: now,
        };
        w.put_tenant(&t)?;
        w.commit()?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        view(&r, &g, t)
    }

    pub fn update_tenant(
        &self,
        caller: &Identity,
        id: TenantId,
        input: TenantInput,
    ) -> AppResult<TenantView> {
        caller.require_admin()?;
        let w = self.store.write()?;
        let mut t = w
            .get_tenant(id)?
            .ok_or_else(|| AppError::NotFound(format!("Tenant {id} not found")))?;
        if let Some(name) = input.name {
            let name = validate_name("Tenant name", &name).map_err(AppError::BadRequest)?;
            let (old_key, new_key) = (t.name.to_lowercase(), name.to_lowercase());
            if new_key != old_key && w.tenant_id_by_name(&new_key)?.is_some() {
                return Err(AppError::Conflict(format!(
                    "A tenant named '{name}' already exists"
                )));
            }
            t.name = name;
        }
        if input.description.is_some() {
            t.description = validate_text("Description", input.description.as_deref())
                .map_err(AppError::BadRequest)?;
        }
        if let Some(c) = input.color.filter(|c| !c.trim().is_empty()) {
            t.color = sanitize_color(&c).map_err(AppError::BadRequest)?;
        }
        t.updated_at = crate::domain::model::now();
        w.put_tenant(&t)?;
        w.commit()?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        view(&r, &g, t)
    }

    /// What deleting the tenant would remove (admins, who alone may delete it).
    pub fn tenant_impact(&self, caller: &Identity, id: TenantId) -> AppResult<TenantImpact> {
        caller.require_admin()?;
        let r = self.store.read()?;
        if r.get_tenant(id)?.is_none() {
            return Err(tenant_not_found(id));
        }
        Ok(TenantImpact {
            projects: r.project_count_in_tenant(id)?,
            integrations: r.integration_count_in_tenant(id)?,
        })
    }

    /// Delete a tenant and everything under it (projects, their integrations, issues, pins,
    /// sessions; the tenant's integrations, credentials for them, SSH keys) in one transaction.
    pub fn delete_tenant(&self, caller: &Identity, id: TenantId) -> AppResult<()> {
        caller.require_admin()?;
        let w = self.store.write()?;
        if w.get_tenant(id)?.is_none() {
            return Err(AppError::NotFound(format!("Tenant {id} not found")));
        }
        w.delete_tenant(id)?;
        w.commit()?;
        tracing::info!(tenant = id.get(), "tenant deleted with its projects");
        Ok(())
    }
}
