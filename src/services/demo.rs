//! Demo and benchmark data: tenants, projects, tracker links and issues in one transaction.

use super::accounts::Accounts;
use crate::domain::*;
use crate::error::{AppError, AppResult};
use crate::store::tenancy::TenancyReads;

pub struct SeedSummary {
    pub tenants: u64,
    pub projects: u64,
    pub issues: u64,
}

impl Accounts {
    /// Seed `tenants` tenants × `projects_per_tenant` projects owned by `owner_email`, and
    /// `issues` tracker issues spread over them (GitHub-style, each linked through a project
    /// integration). Idempotence is not attempted: use a fresh data dir.
    pub fn seed_demo(
        &self,
        owner_email: &str,
        tenants: u64,
        projects_per_tenant: u64,
        issues: u64,
    ) -> AppResult<SeedSummary> {
        let owner = self
            .find_user_by_email(owner_email)?
            .ok_or_else(|| AppError::NotFound(format!("No user with email {owner_email}")))?;
        let now = crate::domain::model::now();
        let w = self.store.write()?;
        let mut links = Vec::new();
        for t in 0..tenants {
            let tenant = Tenant {
                id: w.new_tenant_id()?,
                name: format!("demo-tenant-{t:03}"),
                description: Some("Demo data".into()),
                color: crate::domain::rules::PALETTE
                    .iter()
                    .cycle()
                    .nth(t as usize)
                    .map(|(hex, _)| *hex)
                    .unwrap_or_default()
                    .into(),
                created_at: now,
                updated_at: now,
            };
            if w.tenant_id_by_name(&tenant.name)?.is_some() {
                return Err(AppError::Conflict(format!(
                    "{} exists already: seed a fresh data dir",
                    tenant.name
                )));
            }
            w.put_tenant(&tenant)?;
            let integ = TenantIntegration {
                id: w.new_integration_id()?,
                tenant_id: tenant.id,
                provider: "github".into(),
                name: format!("github-{t:03}"),
                base_url: None,
                api_token_enc: self.secrets.encrypt("demo-token-not-real")?,
                settings: serde_json::json!({}),
                // Disabled: demo links point at repositories that do not exist.
                enabled: false,
                sync_cron: None,
                created_at: now,
                updated_at: now,
            };
            w.put_integration(&integ)?;
            for p in 0..projects_per_tenant {
                let id = w.new_project_id()?;
                let name = format!("demo-project-{t:03}-{p:03}");
                let project = Project {
                    id,
                    local_path: self
                        .config
                        .repo_storage_path
                        .join(&name)
                        .to_string_lossy()
                        .into_owned(),
                    name,
                    repo_url: format!("https://example.com/demo/{t}-{p}.git"),
                    default_branch: "main".into(),
                    description: None,
                    tenant_id: tenant.id,
                    owner_id: owner.id,
                    ssh_key_id: None,
                    created_at: now,
                    updated_at: now,
                };
                w.put_project(&project)?;
                let link = ProjectIntegration {
                    id: w.new_link_id()?,
                    project_id: id,
                    integration_id: integ.id,
                    external_identifier: format!("demo/{t}-{p}"),
                    config: serde_json::json!({}),
                    last_synced_at: None,
                    override_api_token_enc: None,
                    override_base_url: None,
                    override_settings: None,
                    created_at: now,
                    updated_at: now,
                };
                w.put_link(&link)?;
                links.push((link.id, id, tenant.id));
            }
        }
        if !links.is_empty() {
            let body = "Demo issue body. ".repeat(90);
            for (n, &(link, project_id, tenant_id)) in (0..issues).zip(links.iter().cycle()) {
                let status = if n % 3 == 0 { "closed" } else { "open" };
                let issue = ExternalIssue {
                    id: w.next_issue_id()?,
                    project_integration_id: link,
                    project_id,
                    tenant_id,
                    external_id: (n + 1).to_string(),
                    title: format!("Demo issue {}", n + 1),
                    status: Some(status.into()),
                    assignee: None,
                    assignee_key: None,
                    url: Some(format!("https://example.com/demo/issues/{}", n + 1)),
                    labels: vec!["demo".into()],
                    comments: Vec::new(),
                    body: Some(body.clone()),
                    external_updated_at: Some(now),
                    last_seen_at: Some(now),
                    missing_upstream: false,
                    created_at: now,
                    updated_at: now,
                };
                w.seed_issue(&issue)?;
            }
        }
        w.commit()?;
        Ok(SeedSummary {
            tenants,
            projects: tenants * projects_per_tenant,
            issues,
        })
    }
}
