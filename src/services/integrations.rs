//! Tracker integrations: tenant-level connections, project links with overrides, personal
//! credentials, identity mapping, and building the effective provider for a call.
//! Tokens are encrypted at rest and never returned.

use super::access::{Grants, project_for, tenant_for};
use super::trackers::{AnyProvider, Conn, Provider};
use crate::auth::Identity;
use crate::domain::Role;
use crate::domain::access::Action;
use crate::domain::issues::{
    Effective, Layer, cron_expression, effective_credentials, ensure_base_url, validate_provider,
};
use crate::domain::rules::validate_name;
use crate::domain::{CredentialId, IntegrationId, LinkId, ProjectId, TenantId, UserId};
use crate::domain::{
    Id, IdentityMap, ProjectIntegration, Scope, TenantIntegration, UserCredential,
};
use crate::error::{AppError, AppResult};
use crate::services::secrets::Secrets;
use crate::services::sync::SyncLocks;
use crate::services::trackers::Http;
use crate::store::ReadTxn;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::integrations::IntegrationReads;
use crate::store::tenancy::TenancyReads;
use serde_json::Value;
use std::sync::Arc;

const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone)]
pub struct IntegrationView {
    pub integration: TenantIntegration,
    pub tenant_name: String,
    pub token_hint: String,
    pub link_count: u64,
}

#[derive(Debug, Clone)]
pub struct LinkView {
    pub link: ProjectIntegration,
    pub project_name: String,
    pub integration_name: String,
    pub provider: String,
    pub has_override_token: bool,
    pub issue_count: u64,
}

#[derive(Debug, Default, Clone)]
pub struct IntegrationInput {
    pub tenant_id: Option<TenantId>,
    pub provider: Option<String>,
    pub name: Option<String>,
    pub base_url: Option<String>,
    /// `None` or blank keeps the stored token on update.
    pub api_token: Option<String>,
    pub jira_email: Option<String>,
    pub settings: Option<Value>,
    pub enabled: Option<bool>,
    /// Cron expression for scheduled sync; "off" disables it; blank = default.
    pub sync_cron: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct LinkInput {
    pub project_id: Option<ProjectId>,
    pub external_identifier: Option<String>,
    pub config: Option<Value>,
    /// `None` keeps, `Some("")` clears.
    pub override_api_token: Option<String>,
    pub override_base_url: Option<String>,
    pub override_username: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CredentialView {
    pub credential: UserCredential,
    pub integration_name: String,
    pub provider: String,
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn validate_token(t: &str) -> AppResult<String> {
    let t = t.trim();
    if t.is_empty() {
        return Err(AppError::BadRequest("api_token is required".into()));
    }
    if t.len() > MAX_TOKEN_LEN {
        return Err(AppError::BadRequest(format!(
            "api_token must be at most {MAX_TOKEN_LEN} characters"
        )));
    }
    Ok(t.to_string())
}

fn validate_email(e: &str) -> AppResult<String> {
    let e = e.trim();
    if !e.contains('@') || e.len() > 255 {
        return Err(AppError::BadRequest(
            "Jira integrations need the Atlassian account email (jira_email), e.g. you@example.com"
                .into(),
        ));
    }
    Ok(e.to_string())
}

/// A tracker's "not found" while testing is its answer (wrong repository, base URL), not ours:
/// report it as a bad request so it is never mistaken for an access decision.
fn tracker_refusal(e: AppError) -> AppError {
    match e {
        AppError::NotFound(m) => AppError::BadRequest(m),
        other => other,
    }
}

/// Shown instead of a token hint to callers who do not maintain the integration's tenant.
pub const HIDDEN_HINT: &str = "(hidden: maintainers only)";

/// An integration the caller may `action` (View: sees its tenant; Manage: tenant maintainer);
/// 404 for callers who cannot see its tenant. Returns the caller's grants too.
fn integration_for(
    tx: &impl IntegrationReads,
    caller: &Identity,
    id: IntegrationId,
    action: Action,
) -> AppResult<(TenantIntegration, Grants)> {
    let not_found = || AppError::NotFound(format!("Integration {id} not found"));
    let i = tx.get_integration(id)?.ok_or_else(not_found)?;
    let t = tx.get_tenant(i.tenant_id)?.ok_or_else(not_found)?;
    let g = Grants::load(tx, caller)?;
    if !g.sees_tenant(t.id) {
        return Err(not_found());
    }
    g.check_tenant(&t, action)?;
    Ok((i, g))
}

/// A project link the caller may `action` on its project (404 for non-members).
fn link_for(
    tx: &impl IntegrationReads,
    caller: &Identity,
    id: LinkId,
    action: Action,
) -> AppResult<ProjectIntegration> {
    let not_found = || AppError::NotFound(format!("Project integration {id} not found"));
    let l = tx.get_link(id)?.ok_or_else(not_found)?;
    match project_for(tx, caller, l.project_id, action) {
        Ok(_) => Ok(l),
        Err(AppError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e),
    }
}

/// Integrations, issues and their links, pins, mentions and sync with the trackers.
pub struct Trackers {
    pub(crate) store: Arc<Store>,
    pub(crate) secrets: Arc<Secrets>,
    /// Shared HTTP client for the trackers (connection pooling, rustls).
    pub(crate) http: Http,
    /// One sync per project link at a time (manual and scheduled runs may overlap).
    pub(crate) sync_locks: SyncLocks,
    /// Where a sync that keeps failing is told (the notifier listens).
    pub(crate) events: Arc<super::events::Events>,
}

impl Trackers {
    /// The integration as `g`'s caller may see it: the token hint only for maintainers of its
    /// tenant and admins.
    fn integration_view(
        &self,
        r: &ReadTxn,
        g: &Grants,
        i: TenantIntegration,
    ) -> AppResult<IntegrationView> {
        let tenant = r.get_tenant(i.tenant_id)?;
        let token_hint = if g.tenant_role(i.tenant_id) >= Some(Role::Maintainer) {
            self.secrets
                .decrypt(&i.api_token_enc)
                .map(|t| super::secrets::mask(&t))
                .unwrap_or_else(|_| "(unreadable: master key changed?)".into())
        } else {
            HIDDEN_HINT.into()
        };
        Ok(IntegrationView {
            tenant_name: tenant.map(|t| t.name).unwrap_or_default(),
            link_count: r.link_count_of_integration(i.id)?,
            token_hint,
            integration: i,
        })
    }

    /// Integrations of the tenants the caller sees, optionally one tenant's or one provider's;
    /// ordered by tenant, provider, name (tokens are never returned).
    pub fn list_integrations(
        &self,
        caller: &Identity,
        tenant_id: Option<TenantId>,
        provider: Option<&str>,
    ) -> AppResult<Vec<IntegrationView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let mut list: Vec<TenantIntegration> = match tenant_id {
            Some(t) => {
                tenant_for(&r, caller, t, Action::View)?;
                r.integrations_in_tenant(t)?
            }
            None => r.integrations()?,
        };
        list.retain(|i| g.sees_tenant(i.tenant_id));
        if let Some(p) = provider.filter(|p| !p.is_empty()) {
            list.retain(|i| i.provider == p.to_lowercase());
        }
        list.sort_by(|a, b| {
            (a.tenant_id, &a.provider, a.name.to_lowercase()).cmp(&(
                b.tenant_id,
                &b.provider,
                b.name.to_lowercase(),
            ))
        });
        list.into_iter()
            .map(|i| self.integration_view(&r, &g, i))
            .collect()
    }

    pub fn get_integration(
        &self,
        caller: &Identity,
        id: IntegrationId,
    ) -> AppResult<IntegrationView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let (i, g) = integration_for(&r, caller, id, Action::View)?;
        self.integration_view(&r, &g, i)
    }

    pub fn create_integration(
        &self,
        caller: &Identity,
        input: IntegrationInput,
    ) -> AppResult<IntegrationView> {
        caller.require(Scope::Write)?;
        let tenant_id = input
            .tenant_id
            .ok_or_else(|| AppError::BadRequest("tenant_id is required".into()))?;
        tenant_for(&self.store.read()?, caller, tenant_id, Action::Manage)?;
        let provider = validate_provider(input.provider.as_deref().unwrap_or_default())
            .map_err(AppError::BadRequest)?;
        let name = validate_name("Name", input.name.as_deref().unwrap_or_default())
            .map_err(AppError::BadRequest)?;
        let token = validate_token(input.api_token.as_deref().unwrap_or_default())?;
        let base_url = match clean(input.base_url) {
            Some(b) => Some(ensure_base_url(&provider, Some(&b)).map_err(AppError::BadRequest)?),
            None if provider == "jira" => {
                return Err(AppError::BadRequest(
                    "Jira integrations need base_url, e.g. https://your-site.atlassian.net".into(),
                ));
            }
            None => None,
        };
        let mut settings = match input.settings {
            Some(Value::Object(o)) => Value::Object(o),
            Some(Value::Null) | None => Value::Object(Default::default()),
            Some(_) => {
                return Err(AppError::BadRequest(
                    "settings must be a JSON object".into(),
                ));
            }
        };
        if provider == "jira" {
            let email = clean(input.jira_email)
                .or_else(|| {
                    settings
                        .get("username")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "Jira integrations need the Atlassian account email (jira_email)".into(),
                    )
                })?;
            set_username(&mut settings, validate_email(&email)?)?;
        }
        let sync_cron = self.parse_cron(input.sync_cron)?;
        let token_enc = self.secrets.encrypt(&token)?;
        let w = self.store.write()?;
        tenant_for(&w, caller, tenant_id, Action::Manage)?;
        for o in w.integrations_in_tenant(tenant_id)? {
            if o.name.to_lowercase() == name.to_lowercase() {
                return Err(AppError::Conflict(
                    "Integration name already exists for this tenant.".into(),
                ));
            }
        }
        let now = crate::domain::model::now();
        let integ = TenantIntegration {
            id: w.new_integration_id()?,
            tenant_id,
            provider,
            name,
            base_url,
            api_token_enc: token_enc,
            settings,
            enabled: input.enabled.unwrap_or(true),
            sync_cron,
            created_at: now,
            updated_at: now,
        };
        w.put_integration(&integ)?;
        w.commit()?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        self.integration_view(&r, &g, integ)
    }

    fn parse_cron(&self, c: Option<String>) -> AppResult<Option<String>> {
        match clean(c) {
            None => Ok(None),
            Some(c) if c.eq_ignore_ascii_case("off") => Ok(Some("off".into())),
            Some(c) => {
                cron_expression(&c).map_err(AppError::BadRequest)?;
                Ok(Some(c))
            }
        }
    }

    pub fn update_integration(
        &self,
        caller: &Identity,
        id: Id,
        input: IntegrationInput,
    ) -> AppResult<IntegrationView> {
        caller.require(Scope::Write)?;
        integration_for(&self.store.read()?, caller, id.into(), Action::Manage)?;
        let token_enc = match clean(input.api_token) {
            Some(t) => Some(self.secrets.encrypt(&validate_token(&t)?)?),
            None => None,
        };
        let sync_cron = match input.sync_cron {
            Some(c) => Some(self.parse_cron(Some(c))?),
            None => None,
        };
        let w = self.store.write()?;
        let (mut i, _) = integration_for(&w, caller, id.into(), Action::Manage)?;
        if let Some(n) = input.name {
            let n = validate_name("Name", &n).map_err(AppError::BadRequest)?;
            for o in w.integrations_in_tenant(i.tenant_id)? {
                if o.id == id.into() {
                    continue;
                }
                if o.name.to_lowercase() == n.to_lowercase() {
                    return Err(AppError::Conflict(
                        "Integration name already exists for this tenant.".into(),
                    ));
                }
            }
            i.name = n;
        }
        if let Some(b) = input.base_url {
            i.base_url = match clean(Some(b)) {
                Some(b) => {
                    Some(ensure_base_url(&i.provider, Some(&b)).map_err(AppError::BadRequest)?)
                }
                None if i.provider == "jira" => {
                    return Err(AppError::BadRequest(
                        "Jira integrations need base_url".into(),
                    ));
                }
                None => None,
            };
        }
        if let Some(Value::Object(o)) = input.settings
            && let Some(s) = i.settings.as_object_mut()
        {
            for (k, v) in o {
                s.insert(k, v);
            }
        }
        if let Some(e) = clean(input.jira_email) {
            set_username(&mut i.settings, validate_email(&e)?)?;
        }
        if let Some(t) = token_enc {
            i.api_token_enc = t;
        }
        if let Some(e) = input.enabled {
            i.enabled = e;
        }
        if let Some(c) = sync_cron {
            i.sync_cron = c;
        }
        i.updated_at = crate::domain::model::now();
        w.put_integration(&i)?;
        w.commit()?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        self.integration_view(&r, &g, i)
    }

    pub fn delete_integration(&self, caller: &Identity, id: IntegrationId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        integration_for(&w, caller, id, Action::Manage)?;
        w.delete_integration(id)?;
        w.commit()?;
        Ok(())
    }

    // ---- project links ----------------------------------------------------------------------

    fn link_view(&self, r: &ReadTxn, link: ProjectIntegration) -> AppResult<LinkView> {
        let p = r.get_project(link.project_id)?;
        let i = r.get_integration(link.integration_id)?;
        Ok(LinkView {
            project_name: p.map(|p| p.name).unwrap_or_default(),
            integration_name: i.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
            provider: i.as_ref().map(|i| i.provider.clone()).unwrap_or_default(),
            has_override_token: link.override_api_token_enc.is_some(),
            issue_count: r.issue_count_of_link(link.id)?,
            link,
        })
    }

    pub fn list_links(
        &self,
        caller: &Identity,
        integration_id: Option<IntegrationId>,
        project_id: Option<ProjectId>,
    ) -> AppResult<Vec<LinkView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let links = match (integration_id, project_id) {
            (Some(i), _) => {
                integration_for(&r, caller, i, Action::View)?;
                r.links_of_integration(i)?
            }
            (None, Some(p)) => {
                project_for(&r, caller, p, Action::View)?;
                r.links_of_project(p)?
            }
            (None, None) => r.links()?,
        };
        let visible = g.visible_project_ids(&r)?;
        let mut out = Vec::new();
        for l in links {
            if project_id.is_some() && Some(l.project_id) != project_id {
                continue;
            }
            // Links name projects and repositories: only those of projects the caller sees.
            if visible.as_ref().is_some_and(|v| !v.contains(&l.project_id)) {
                continue;
            }
            out.push(self.link_view(&r, l)?);
        }
        Ok(out)
    }

    pub fn get_link(&self, caller: &Identity, id: LinkId) -> AppResult<LinkView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let l = link_for(&r, caller, id, Action::View)?;
        self.link_view(&r, l)
    }

    fn override_settings(username: Option<String>, existing: Option<Value>) -> Option<Value> {
        match username {
            None => existing,
            Some(u) if u.trim().is_empty() => None,
            Some(u) => Some(serde_json::json!({"username": u.trim()})),
        }
    }

    pub fn create_link(
        &self,
        caller: &Identity,
        integration_id: IntegrationId,
        input: LinkInput,
    ) -> AppResult<LinkView> {
        caller.require(Scope::Write)?;
        let project_id = input
            .project_id
            .ok_or_else(|| AppError::BadRequest("project_id is required".into()))?;
        {
            let r = self.store.read()?;
            project_for(&r, caller, project_id, Action::Manage)?;
            integration_for(&r, caller, integration_id, Action::View)?;
        }
        let identifier = clean(input.external_identifier).ok_or_else(|| {
            AppError::BadRequest(
                "external_identifier is required: owner/repo for GitHub, the project path or id for GitLab, the project key for Jira".into(),
            )
        })?;
        let config = match input.config {
            Some(Value::Object(o)) => Value::Object(o),
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(_) => return Err(AppError::BadRequest("config must be a JSON object".into())),
        };
        let token_enc = match clean(input.override_api_token) {
            Some(t) => Some(self.secrets.encrypt(&validate_token(&t)?)?),
            None => None,
        };
        let w = self.store.write()?;
        let project = project_for(&w, caller, project_id, Action::Manage)?;
        let (integ, _) = integration_for(&w, caller, integration_id, Action::View)?;
        if project.tenant_id != integ.tenant_id {
            return Err(AppError::BadRequest(
                "Integration does not belong to project's tenant".into(),
            ));
        }
        if integ.provider == "github" {
            crate::domain::issues::github_repo(&identifier).map_err(AppError::BadRequest)?;
        }
        for o in w.links_of_project(project_id)? {
            if o.integration_id == integration_id {
                return Err(AppError::Conflict(format!(
                    "Project {} is already linked to integration {}",
                    project.name, integ.name
                )));
            }
        }
        let base = match clean(input.override_base_url) {
            Some(b) => {
                Some(ensure_base_url(&integ.provider, Some(&b)).map_err(AppError::BadRequest)?)
            }
            None => None,
        };
        let now = crate::domain::model::now();
        let link = ProjectIntegration {
            id: w.new_link_id()?,
            project_id,
            integration_id,
            external_identifier: identifier,
            config,
            last_synced_at: None,
            override_api_token_enc: token_enc,
            override_base_url: base,
            override_settings: Self::override_settings(input.override_username, None),
            created_at: now,
            updated_at: now,
        };
        w.put_link(&link)?;
        w.commit()?;
        let r = self.store.read()?;
        self.link_view(&r, link)
    }

    pub fn update_link(
        &self,
        caller: &Identity,
        id: LinkId,
        input: LinkInput,
    ) -> AppResult<LinkView> {
        caller.require(Scope::Write)?;
        link_for(&self.store.read()?, caller, id, Action::Manage)?;
        let token = match input.override_api_token {
            None => None,
            Some(t) if t.trim().is_empty() => Some(None),
            Some(t) => Some(Some(self.secrets.encrypt(&validate_token(&t)?)?)),
        };
        let w = self.store.write()?;
        let mut l = link_for(&w, caller, id, Action::Manage)?;
        let integ = w
            .get_integration(l.integration_id)?
            .ok_or_else(|| AppError::NotFound("Integration not found".into()))?;
        if let Some(e) = input.external_identifier {
            let e = e.trim().to_string();
            if e.is_empty() {
                return Err(AppError::BadRequest(
                    "external_identifier cannot be empty".into(),
                ));
            }
            if integ.provider == "github" {
                crate::domain::issues::github_repo(&e).map_err(AppError::BadRequest)?;
            }
            l.external_identifier = e;
        }
        if let Some(c) = input.config {
            match c {
                Value::Object(o) => {
                    let cfg = l.config.as_object_mut();
                    if let Some(cfg) = cfg {
                        for (k, v) in o {
                            if v.is_null() || v.as_str() == Some("") {
                                cfg.remove(&k);
                            } else {
                                cfg.insert(k, v);
                            }
                        }
                    } else {
                        l.config = Value::Object(o);
                    }
                }
                _ => return Err(AppError::BadRequest("config must be a JSON object".into())),
            }
        }
        if let Some(t) = token {
            l.override_api_token_enc = t;
        }
        if let Some(b) = input.override_base_url {
            l.override_base_url = match clean(Some(b)) {
                Some(b) => {
                    Some(ensure_base_url(&integ.provider, Some(&b)).map_err(AppError::BadRequest)?)
                }
                None => None,
            };
        }
        l.override_settings =
            Self::override_settings(input.override_username, l.override_settings.take());
        l.updated_at = crate::domain::model::now();
        w.put_link(&l)?;
        w.commit()?;
        let r = self.store.read()?;
        self.link_view(&r, l)
    }

    pub fn delete_link(&self, caller: &Identity, id: LinkId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let l = link_for(&w, caller, id, Action::Manage)?;
        w.delete_link(&l)?;
        w.commit()?;
        Ok(())
    }

    // ---- personal credentials -------------------------------------------------------------

    pub fn list_credentials(&self, caller: &Identity) -> AppResult<Vec<CredentialView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let creds = r.credentials_of_user(caller.id())?;
        let mut out = Vec::new();
        for c in creds {
            if let Some(i) = r.get_integration(c.integration_id)? {
                out.push(CredentialView {
                    integration_name: i.name,
                    provider: i.provider,
                    credential: c,
                });
            }
        }
        Ok(out)
    }

    /// Upsert the caller's personal token for an integration; `true` when created.
    pub fn set_credential(
        &self,
        caller: &Identity,
        integration_id: IntegrationId,
        token: &str,
        settings: Option<Value>,
    ) -> AppResult<(UserCredential, bool)> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let token = validate_token(token)?;
        let settings = match settings {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(Value::Object(o)),
            Some(_) => {
                return Err(AppError::BadRequest(
                    "settings must be a JSON object".into(),
                ));
            }
        };
        let enc = self.secrets.encrypt(&token)?;
        let w = self.store.write()?;
        integration_for(&w, caller, integration_id, Action::View)?;
        let now = crate::domain::model::now();
        let mut existing = None;
        for c in w.credentials_of_user(caller.id())? {
            if c.integration_id == integration_id {
                existing = Some(c);
            }
        }
        let (cred, created) = match existing {
            Some(mut c) => {
                c.api_token_enc = enc;
                if settings.is_some() {
                    c.settings = settings;
                }
                c.updated_at = now;
                (c, false)
            }
            None => (
                UserCredential {
                    id: w.new_credential_id()?,
                    user_id: caller.id(),
                    integration_id,
                    api_token_enc: enc,
                    settings,
                    created_at: now,
                    updated_at: now,
                },
                true,
            ),
        };
        w.put_credential(&cred)?;
        w.commit()?;
        Ok((cred, created))
    }

    pub fn delete_credential(&self, caller: &Identity, id: CredentialId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let w = self.store.write()?;
        match w.get_credential(id)? {
            Some(c) if c.user_id == caller.id() => w.delete_credential(&c)?,
            _ => return Err(AppError::NotFound("Credential not found".into())),
        }
        w.commit()?;
        Ok(())
    }

    // ---- identity mapping --------------------------------------------------------------------

    pub fn get_identity_map(&self, caller: &Identity, user_id: UserId) -> AppResult<IdentityMap> {
        caller.require(Scope::Read)?;
        if user_id != caller.id() {
            caller.require_admin().map_err(|_| {
                AppError::Forbidden("You can only see your own identity mapping".into())
            })?;
        }
        let r = self.store.read()?;
        Ok(r.get_identity_map(user_id)?.unwrap_or(IdentityMap {
            user_id,
            ..Default::default()
        }))
    }

    /// Every user with their tracker identities (administrators), in email order; `filter`
    /// keeps the users whose email or name contains it (case-insensitively).
    pub fn list_identity_maps(
        &self,
        caller: &Identity,
        filter: Option<&str>,
    ) -> AppResult<Vec<(crate::domain::User, IdentityMap)>> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let mut users = r.users()?;
        users.retain(|u| user_matches(&u.email, &u.name, filter.unwrap_or("")));
        users.sort_by(|a, b| a.email.cmp(&b.email));
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            let m = r.get_identity_map(u.id)?.unwrap_or(IdentityMap {
                user_id: u.id,
                ..Default::default()
            });
            out.push((u, m));
        }
        Ok(out)
    }

    /// An administrator sets a user's identities (the admin page: administrators only, even for
    /// their own); returns the user with the saved identities. As `update_identity_map`.
    pub fn admin_set_identities(
        &self,
        caller: &Identity,
        user_id: UserId,
        github: Option<String>,
        gitlab: Option<String>,
        jira: Option<String>,
    ) -> AppResult<(crate::domain::User, IdentityMap)> {
        caller.require_admin()?;
        let m = self.update_identity_map(caller, user_id, github, gitlab, jira)?;
        let r = self.store.read()?;
        let u = r
            .get_user(user_id)?
            .ok_or_else(|| AppError::NotFound(format!("User {user_id} not found")))?;
        Ok((u, m))
    }

    /// `None` leaves a field unchanged; a blank string clears it.
    pub fn update_identity_map(
        &self,
        caller: &Identity,
        user_id: UserId,
        github: Option<String>,
        gitlab: Option<String>,
        jira: Option<String>,
    ) -> AppResult<IdentityMap> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        if user_id != caller.id() {
            caller.require_admin()?;
        }
        let w = self.store.write()?;
        if w.get_user(user_id)?.is_none() {
            return Err(AppError::NotFound(format!("User {user_id} not found")));
        }
        let mut m = w.get_identity_map(user_id)?.unwrap_or(IdentityMap {
            user_id,
            ..Default::default()
        });
        let set = |field: &mut Option<String>, v: Option<String>| -> AppResult<()> {
            if let Some(v) = v {
                *field = identity_value(&v).map_err(AppError::BadRequest)?;
            }
            Ok(())
        };
        set(&mut m.github_username, github)?;
        set(&mut m.gitlab_username, gitlab)?;
        set(&mut m.jira_account_id, jira)?;
        w.put_identity_map(&m)?;
        w.commit()?;
        Ok(m)
    }

    pub(crate) fn identity_for(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> AppResult<Option<String>> {
        let r = self.store.read()?;
        let m = r.get_identity_map(user_id)?;
        Ok(m.and_then(|m| match provider {
            "github" => m.github_username,
            "gitlab" => m.gitlab_username,
            "jira" => m.jira_account_id,
            _ => None,
        }))
    }

    /// Jira account ids of aiops users by lower-cased name and first name (for @mentions).
    pub(crate) fn jira_people(&self) -> AppResult<Vec<(String, String)>> {
        let r = self.store.read()?;
        let maps = r.identity_maps()?;
        let mut out = Vec::new();
        for m in maps {
            let Some(acc) = m.jira_account_id else {
                continue;
            };
            if let Some(u) = r.get_user(m.user_id)? {
                out.push((u.name.to_lowercase(), acc.clone()));
                if let Some(first) = u.name.split_whitespace().next() {
                    out.push((first.to_lowercase(), acc.clone()));
                }
                if let Some(local) = u.email.split('@').next() {
                    out.push((local.to_lowercase(), acc));
                }
            }
        }
        Ok(out)
    }

    // ---- building providers ------------------------------------------------------------------

    /// The effective credentials for a link (user > project > tenant) and the provider.
    pub(crate) fn provider_for(
        &self,
        link: &ProjectIntegration,
        user_id: Option<UserId>,
    ) -> AppResult<(AnyProvider, TenantIntegration, Effective)> {
        let r = self.store.read()?;
        let integ = r
            .get_integration(link.integration_id)?
            .ok_or_else(|| AppError::NotFound("Integration not found".into()))?;
        let tenant_token = self.secrets.decrypt(&integ.api_token_enc)?;
        let project_token = link
            .override_api_token_enc
            .as_deref()
            .map(|t| self.secrets.decrypt(t))
            .transpose()?;
        let mut user_cred: Option<(String, Option<Value>)> = None;
        if let Some(uid) = user_id {
            for c in r.credentials_of_user(uid)? {
                if c.integration_id == integ.id {
                    user_cred = Some((self.secrets.decrypt(&c.api_token_enc)?, c.settings));
                }
            }
        }
        let eff = effective_credentials(
            Layer {
                token: Some(&tenant_token),
                base_url: integ.base_url.as_deref(),
                settings: Some(&integ.settings),
            },
            Some(Layer {
                token: project_token.as_deref(),
                base_url: link.override_base_url.as_deref(),
                settings: link.override_settings.as_ref(),
            }),
            user_cred.as_ref().map(|(t, s)| Layer {
                token: Some(t),
                base_url: None,
                settings: s.as_ref(),
            }),
        );
        let provider = AnyProvider::new(
            &integ.provider,
            Conn {
                base_url: eff.base_url.clone().unwrap_or_default(),
                token: eff.token.clone(),
                settings: eff.settings.clone(),
                identifier: link.external_identifier.clone(),
                config: link.config.clone(),
                http: self.http.clone(),
            },
        )?;
        Ok((provider, integ, eff))
    }

    /// "Test connection" with the stored credentials of an integration.
    pub async fn test_integration(
        &self,
        caller: &Identity,
        id: IntegrationId,
    ) -> AppResult<String> {
        caller.require(Scope::Write)?;
        integration_for(&self.store.read()?, caller, id, Action::Manage)?;
        let link = ProjectIntegration {
            id: LinkId(0),
            project_id: ProjectId(0),
            integration_id: id,
            external_identifier: "test/test".into(),
            config: Value::Null,
            last_synced_at: None,
            override_api_token_enc: None,
            override_base_url: None,
            override_settings: None,
            created_at: crate::domain::model::now(),
            updated_at: crate::domain::model::now(),
        };
        let (p, _, _) = self.provider_for(&link, None)?;
        p.test().await.map_err(|e| tracker_refusal(e.into()))
    }

    /// "Test connection" with credentials that are not stored yet.
    pub async fn test_credentials(
        &self,
        caller: &Identity,
        provider: &str,
        token: &str,
        base_url: Option<&str>,
        jira_email: Option<&str>,
    ) -> AppResult<String> {
        caller.require(Scope::Write)?;
        if !Grants::load(&self.store.read()?, caller)?.maintains_a_tenant() {
            return Err(AppError::Forbidden(
                "Testing tracker credentials is for tenant maintainers and administrators".into(),
            ));
        }
        let provider = validate_provider(provider).map_err(AppError::BadRequest)?;
        let token = validate_token(token)?;
        let mut settings = serde_json::json!({});
        if provider == "jira" {
            let e = jira_email.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
                AppError::BadRequest("Jira needs an account email (jira_email)".into())
            })?;
            set_username(&mut settings, e.trim().into())?;
        }
        let p = AnyProvider::new(
            &provider,
            Conn {
                base_url: base_url.unwrap_or_default().to_string(),
                token,
                settings,
                identifier: "test/test".into(),
                config: Value::Null,
                http: self.http.clone(),
            },
        )?;
        p.test().await.map_err(|e| tracker_refusal(e.into()))
    }
}

/// A tracker identity as stored: trimmed, None when blank (clears it), at most 255 characters.
pub fn identity_value(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.chars().count() > 255 {
        return Err("Identities must be at most 255 characters".into());
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// Whether a user (email, name) matches a filter: blank matches everyone, else the email or the
/// name contains it, ignoring case.
pub fn user_matches(email: &str, name: &str, filter: &str) -> bool {
    let f = filter.trim().to_lowercase();
    f.is_empty() || email.to_lowercase().contains(&f) || name.to_lowercase().contains(&f)
}

/// Put the Jira account email into a connection's settings as `username` (`null` settings
/// become an object; any other non-object is refused rather than overwritten).
fn set_username(settings: &mut Value, email: String) -> AppResult<()> {
    if settings.is_null() {
        *settings = Value::Object(Default::default());
    }
    match settings.as_object_mut() {
        Some(o) => {
            o.insert("username".into(), Value::String(email));
            Ok(())
        }
        None => Err(AppError::BadRequest(
            "the integration's settings are not a JSON object; replace them with an object (settings: {}) first".into(),
        )),
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn identity_values_are_trimmed_blank_clears_and_long_is_refused() {
        assert_eq!(identity_value("  octocat "), Ok(Some("octocat".into())));
        assert_eq!(identity_value("   "), Ok(None));
        assert_eq!(identity_value(""), Ok(None));
        let max = "é".repeat(255);
        assert_eq!(identity_value(&max), Ok(Some(max.clone())));
        assert!(
            identity_value(&format!("{max}x"))
                .unwrap_err()
                .contains("at most 255")
        );
    }

    #[test]
    fn users_filter_by_email_or_name_ignoring_case() {
        assert!(user_matches("bob@x.test", "Bob", ""));
        assert!(user_matches("bob@x.test", "Bob", "  "));
        assert!(user_matches("bob@x.test", "Robert", "BOB"));
        assert!(user_matches("r@x.test", "Bob Lee", "lee"));
        assert!(!user_matches("alice@x.test", "Alice", "bob"));
    }
}
