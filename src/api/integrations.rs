//! Tracker integrations of a tenant (connections with an encrypted token), their test, and the
//! links of projects to them.

use super::common::{AppRef, Created, NoContent, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::Timestamp;
use crate::error::AppError;
use crate::services::integrations::{IntegrationInput, IntegrationView, LinkInput, LinkView};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::Value;

#[derive(Tags)]
pub(super) enum Tag {
    /// Tracker connections per tenant, project links, personal credentials, identities
    Integrations,
}

#[derive(Object)]
pub struct IntegrationObj {
    pub id: u64,
    pub name: String,
    pub provider: String,
    #[oai(nullable)]
    pub base_url: Option<String>,
    pub enabled: bool,
    pub tenant_id: u64,
    pub tenant_name: String,
    /// The Jira account email (settings.username).
    #[oai(nullable)]
    pub jira_email: Option<String>,
    /// `••••` and the last four characters; the token itself is never returned.
    pub token_hint: String,
    /// Cron expression of scheduled sync (`null` = every 15 minutes, `off` = never).
    #[oai(nullable)]
    pub sync_cron: Option<String>,
    pub project_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<IntegrationView> for IntegrationObj {
    fn from(v: IntegrationView) -> Self {
        let i = v.integration;
        IntegrationObj {
            jira_email: i
                .settings
                .get("username")
                .and_then(Value::as_str)
                .map(String::from),
            id: i.id.get(),
            name: i.name,
            provider: i.provider,
            base_url: i.base_url,
            enabled: i.enabled,
            tenant_id: i.tenant_id.get(),
            tenant_name: v.tenant_name,
            token_hint: v.token_hint,
            sync_cron: i.sync_cron,
            project_count: v.link_count,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Object)]
pub struct IntegrationsEnvelope {
    pub integrations: Vec<IntegrationObj>,
    pub count: usize,
}

impl From<Vec<IntegrationView>> for IntegrationsEnvelope {
    fn from(list: Vec<IntegrationView>) -> Self {
        let integrations: Vec<IntegrationObj> = list.into_iter().map(Into::into).collect();
        IntegrationsEnvelope {
            count: integrations.len(),
            integrations,
        }
    }
}

#[derive(Object)]
pub struct IntegrationEnvelope {
    pub integration: IntegrationObj,
}

#[derive(Object)]
pub struct IntegrationRequest {
    pub tenant_id: Option<u64>,
    /// github, gitlab or jira
    #[oai(validator(max_length = 50))]
    pub provider: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    /// Self-hosted GitLab, GitHub Enterprise (`https://host/api/v3`), Jira site (required).
    #[oai(validator(max_length = 512))]
    pub base_url: Option<Str>,
    /// Stored encrypted; blank on update keeps the stored one.
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_email: Option<Str>,
    /// Extra settings, e.g. `{"api_version": "3"}` for Jira.
    pub settings: Option<Value>,
    pub enabled: Option<bool>,
    /// Cron expression (5 or 6 fields) for scheduled sync, `off` to disable.
    #[oai(validator(max_length = 100))]
    pub sync_cron: Option<Str>,
}

impl From<IntegrationRequest> for IntegrationInput {
    fn from(b: IntegrationRequest) -> Self {
        IntegrationInput {
            tenant_id: b.tenant_id.map(Into::into),
            provider: opt(b.provider),
            name: opt(b.name),
            base_url: opt(b.base_url),
            api_token: opt(b.api_token),
            jira_email: opt(b.jira_email),
            settings: b.settings,
            enabled: b.enabled,
            sync_cron: opt(b.sync_cron),
        }
    }
}

#[derive(Object)]
pub struct TestRequest {
    #[oai(validator(max_length = 50))]
    pub provider: Option<Str>,
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub base_url: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_email: Option<Str>,
}

#[derive(Object)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

#[derive(Object)]
pub struct LinkObj {
    pub id: u64,
    pub project_id: u64,
    pub project_name: String,
    pub integration_id: u64,
    pub integration_name: String,
    pub provider: String,
    pub external_identifier: String,
    pub config: Value,
    #[oai(nullable)]
    pub last_synced_at: Option<Timestamp>,
    #[oai(nullable)]
    pub override_base_url: Option<String>,
    #[oai(nullable)]
    pub override_username: Option<String>,
    pub has_override_token: bool,
    pub issue_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<LinkView> for LinkObj {
    fn from(v: LinkView) -> Self {
        let l = v.link;
        LinkObj {
            override_username: l
                .override_settings
                .as_ref()
                .and_then(|s| s.get("username"))
                .and_then(Value::as_str)
                .map(String::from),
            id: l.id.get(),
            project_id: l.project_id.get(),
            project_name: v.project_name,
            integration_id: l.integration_id.get(),
            integration_name: v.integration_name,
            provider: v.provider,
            external_identifier: l.external_identifier,
            config: l.config,
            last_synced_at: l.last_synced_at,
            override_base_url: l.override_base_url,
            has_override_token: v.has_override_token,
            issue_count: v.issue_count,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Object)]
pub struct LinksEnvelope {
    pub links: Vec<LinkObj>,
    pub count: usize,
}

impl From<Vec<LinkView>> for LinksEnvelope {
    fn from(list: Vec<LinkView>) -> Self {
        let links: Vec<LinkObj> = list.into_iter().map(Into::into).collect();
        LinksEnvelope {
            count: links.len(),
            links,
        }
    }
}

#[derive(Object)]
pub struct LinkEnvelope {
    pub link: LinkObj,
}

#[derive(Object)]
pub struct LinkRequest {
    pub project_id: Option<u64>,
    /// owner/repo (GitHub), group/project or id (GitLab), project key (Jira).
    #[oai(validator(max_length = 255))]
    pub external_identifier: Option<Str>,
    /// jql, issue_type, close_transition, reopen_transition (Jira).
    pub config: Option<Value>,
    /// Stored encrypted; blank clears it on update.
    #[oai(validator(max_length = 4096))]
    pub override_api_token: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub override_base_url: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub override_username: Option<Str>,
}

impl From<LinkRequest> for LinkInput {
    fn from(b: LinkRequest) -> Self {
        LinkInput {
            project_id: b.project_id.map(Into::into),
            external_identifier: opt(b.external_identifier),
            config: b.config,
            override_api_token: opt(b.override_api_token),
            override_base_url: opt(b.override_base_url),
            override_username: opt(b.override_username),
        }
    }
}

pub struct IntegrationsApi;

#[OpenApi(tag = "Tag::Integrations")]
impl IntegrationsApi {
    /// Tracker integrations (tokens never returned), by tenant, provider, name.
    #[oai(path = "/integrations", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        tenant_id: Query<Option<u64>>,
        provider: Query<Option<String>>,
    ) -> R<Json<IntegrationsEnvelope>> {
        Ok(Json(
            app.trackers
                .list_integrations(
                    auth.identity(),
                    tenant_id.0.map(Into::into),
                    provider.0.as_deref(),
                )?
                .into(),
        ))
    }

    /// One tenant's integrations.
    #[oai(path = "/tenants/:id/integrations", method = "get")]
    async fn by_tenant(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IntegrationsEnvelope>> {
        Ok(Json(
            app.trackers
                .list_integrations(auth.identity(), Some(id.0.into()), None)?
                .into(),
        ))
    }

    /// Add a tracker integration to a tenant (admin). The token is stored encrypted.
    #[oai(path = "/integrations", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<IntegrationRequest>,
    ) -> R<Created<IntegrationEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.trackers
                .create_integration(auth.identity(), body.0.into())
        })?;
        Ok(Created::Created(Json(IntegrationEnvelope {
            integration: v.into(),
        })))
    }

    /// Check credentials before saving them (admin): `ok` and the tracker's answer.
    #[oai(path = "/integrations/test", method = "post")]
    async fn test_new(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<TestRequest>,
    ) -> R<Json<TestResult>> {
        let b = body.0;
        let provider =
            opt(b.provider).ok_or_else(|| AppError::BadRequest("provider is required".into()))?;
        let token =
            opt(b.api_token).ok_or_else(|| AppError::BadRequest("api_token is required".into()))?;
        let base = opt(b.base_url);
        let email = opt(b.jira_email);
        if provider.trim().eq_ignore_ascii_case("jira")
            && base.as_deref().is_none_or(|b| b.trim().is_empty())
        {
            return Err(AppError::BadRequest("Jira needs base_url".into()).into());
        }
        test_result(
            app.trackers
                .test_credentials(
                    auth.identity(),
                    &provider,
                    &token,
                    base.as_deref(),
                    email.as_deref(),
                )
                .await,
        )
    }

    #[oai(path = "/integrations/:id", method = "get")]
    async fn get(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IntegrationEnvelope>> {
        Ok(Json(IntegrationEnvelope {
            integration: app
                .trackers
                .get_integration(auth.identity(), id.0.into())?
                .into(),
        }))
    }

    /// Change an integration (admin). A blank or missing token keeps the stored one.
    #[oai(path = "/integrations/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<IntegrationRequest>,
    ) -> R<Json<IntegrationEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.trackers
                .update_integration(auth.identity(), id.0, body.0.into())
        })?;
        Ok(Json(IntegrationEnvelope {
            integration: v.into(),
        }))
    }

    /// Delete an integration with its project links and their stored issues (admin).
    #[oai(path = "/integrations/:id", method = "delete")]
    async fn delete(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| {
            app.trackers
                .delete_integration(auth.identity(), id.0.into())
        })?;
        Ok(NoContent::NoContent)
    }

    /// Test the stored credentials of an integration (admin).
    #[oai(path = "/integrations/:id/test", method = "post")]
    async fn test(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<TestResult>> {
        test_result(
            app.trackers
                .test_integration(auth.identity(), id.0.into())
                .await,
        )
    }

    /// Project links of an integration.
    #[oai(path = "/integrations/:id/projects", method = "get")]
    async fn links(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<LinksEnvelope>> {
        Ok(Json(
            app.trackers
                .list_links(auth.identity(), Some(id.0.into()), None)?
                .into(),
        ))
    }

    /// Link a project (same tenant) to the integration (admin).
    #[oai(path = "/integrations/:id/projects", method = "post")]
    async fn link(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<LinkRequest>,
    ) -> R<Created<LinkEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.trackers
                .create_link(auth.identity(), id.0.into(), body.0.into())
        })?;
        Ok(Created::Created(Json(LinkEnvelope { link: v.into() })))
    }

    /// A project's tracker links.
    #[oai(path = "/projects/:id/integrations", method = "get")]
    async fn project_links(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<LinksEnvelope>> {
        Ok(Json(
            app.trackers
                .list_links(auth.identity(), None, Some(id.0.into()))?
                .into(),
        ))
    }

    #[oai(path = "/project-integrations/:id", method = "get")]
    async fn get_link(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<LinkEnvelope>> {
        Ok(Json(LinkEnvelope {
            link: app.trackers.get_link(auth.identity(), id.0.into())?.into(),
        }))
    }

    /// Change a project link (admin). `override_api_token: ""` clears the override.
    #[oai(path = "/project-integrations/:id", method = "patch")]
    async fn update_link(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<LinkRequest>,
    ) -> R<Json<LinkEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.trackers
                .update_link(auth.identity(), id.0.into(), body.0.into())
        })?;
        Ok(Json(LinkEnvelope { link: v.into() }))
    }

    /// Remove a project link and its stored issues (admin).
    #[oai(path = "/project-integrations/:id", method = "delete")]
    async fn delete_link(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| app.trackers.delete_link(auth.identity(), id.0.into()))?;
        Ok(NoContent::NoContent)
    }
}

fn test_result(r: Result<String, AppError>) -> R<Json<TestResult>> {
    match r {
        Ok(message) => Ok(Json(TestResult { ok: true, message })),
        // The tracker's own refusal or failure is the answer to "test connection".
        Err(AppError::BadRequest(m) | AppError::Upstream(m)) if !m.is_empty() => {
            Ok(Json(TestResult {
                ok: false,
                message: m,
            }))
        }
        Err(e) => Err(e.into()),
    }
}
