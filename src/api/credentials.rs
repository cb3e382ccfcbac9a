//! Your personal tracker credentials and the mapping of users to tracker identities.

use super::common::{AppRef, CreatedOrOk, NoContent, R};
use super::gate::Auth;
use super::integrations::Tag;
use super::strict::{Str, opt};
use crate::domain::{IdentityMap, Timestamp};
use crate::error::AppError;
use crate::services::integrations::CredentialView;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

#[derive(Object)]
pub struct CredentialObj {
    pub id: u64,
    pub integration_id: u64,
    pub integration_name: String,
    pub integration_provider: String,
    pub has_settings: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<CredentialView> for CredentialObj {
    fn from(v: CredentialView) -> Self {
        let c = v.credential;
        CredentialObj {
            id: c.id.get(),
            integration_id: c.integration_id.get(),
            integration_name: v.integration_name,
            integration_provider: v.provider,
            has_settings: c.settings.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Object)]
pub struct CredentialsEnvelope {
    pub credentials: Vec<CredentialObj>,
}

#[derive(Object)]
pub struct CredentialRequest {
    pub integration_id: Option<u64>,
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    /// E.g. `{"username": "you@example.com"}` for your own Jira account.
    pub settings: Option<Value>,
}

#[derive(Object)]
pub struct CredentialSaved {
    pub message: String,
    pub credential_id: u64,
}

#[derive(Object)]
pub struct IdentityObj {
    pub user_id: u64,
    #[oai(nullable)]
    pub github_username: Option<String>,
    #[oai(nullable)]
    pub gitlab_username: Option<String>,
    #[oai(nullable)]
    pub jira_account_id: Option<String>,
}

impl From<IdentityMap> for IdentityObj {
    fn from(m: IdentityMap) -> Self {
        IdentityObj {
            user_id: m.user_id.get(),
            github_username: m.github_username,
            gitlab_username: m.gitlab_username,
            jira_account_id: m.jira_account_id,
        }
    }
}

#[derive(Object)]
pub struct IdentityEnvelope {
    pub identity: IdentityObj,
}

#[derive(Object)]
pub struct IdentityRequest {
    /// Omitted = unchanged, blank = cleared.
    #[oai(validator(max_length = 255))]
    pub github_username: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub gitlab_username: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_account_id: Option<Str>,
}

pub struct CredentialsApi;

#[OpenApi(tag = "Tag::Integrations")]
impl CredentialsApi {
    /// Your personal tracker credentials (tokens never returned).
    #[oai(path = "/auth/integration-credentials", method = "get")]
    async fn credentials(&self, app: AppRef<'_>, auth: Auth) -> R<Json<CredentialsEnvelope>> {
        Ok(Json(CredentialsEnvelope {
            credentials: app
                .trackers
                .list_credentials(auth.identity())?
                .into_iter()
                .map(Into::into)
                .collect(),
        }))
    }

    /// Save your personal token for an integration: 201 when new, 200 when replaced.
    #[oai(path = "/auth/integration-credentials", method = "post")]
    async fn set_credential(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<CredentialRequest>,
    ) -> R<CreatedOrOk<CredentialSaved>> {
        let b = body.0;
        let integration_id = b
            .integration_id
            .ok_or_else(|| AppError::BadRequest("integration_id is required".into()))?;
        let token = opt(b.api_token).unwrap_or_default();
        let (c, created) = crate::store::run_blocking(|| {
            app.trackers
                .set_credential(auth.identity(), integration_id.into(), &token, b.settings)
        })?;
        Ok(if created {
            CreatedOrOk::Created(Json(CredentialSaved {
                message: "Credential created successfully".into(),
                credential_id: c.id.get(),
            }))
        } else {
            CreatedOrOk::Ok(Json(CredentialSaved {
                message: "Credential updated successfully".into(),
                credential_id: c.id.get(),
            }))
        })
    }

    #[oai(path = "/auth/integration-credentials/:id", method = "delete")]
    async fn delete_credential(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| {
            app.trackers.delete_credential(auth.identity(), id.0.into())
        })?;
        Ok(NoContent::NoContent)
    }

    /// Your tracker identities (used for assignment, "my issues" and mentions).
    #[oai(path = "/auth/identity", method = "get")]
    async fn my_identity(&self, app: AppRef<'_>, auth: Auth) -> R<Json<IdentityEnvelope>> {
        let id = auth.identity();
        Ok(Json(IdentityEnvelope {
            identity: app.trackers.get_identity_map(id, id.id())?.into(),
        }))
    }

    #[oai(path = "/auth/identity", method = "put")]
    async fn set_my_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<IdentityRequest>,
    ) -> R<Json<IdentityEnvelope>> {
        let id = auth.identity();
        let b = body.0;
        let m = crate::store::run_blocking(|| {
            app.trackers.update_identity_map(
                id,
                id.id(),
                opt(b.github_username),
                opt(b.gitlab_username),
                opt(b.jira_account_id),
            )
        })?;
        Ok(Json(IdentityEnvelope { identity: m.into() }))
    }

    /// A user's tracker identities (admin, or yourself).
    #[oai(path = "/users/:id/identity", method = "get")]
    async fn user_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IdentityEnvelope>> {
        Ok(Json(IdentityEnvelope {
            identity: app
                .trackers
                .get_identity_map(auth.identity(), id.0.into())?
                .into(),
        }))
    }

    #[oai(path = "/users/:id/identity", method = "put")]
    async fn set_user_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<IdentityRequest>,
    ) -> R<Json<IdentityEnvelope>> {
        let b = body.0;
        let m = crate::store::run_blocking(|| {
            app.trackers.update_identity_map(
                auth.identity(),
                id.0.into(),
                opt(b.github_username),
                opt(b.gitlab_username),
                opt(b.jira_account_id),
            )
        })?;
        Ok(Json(IdentityEnvelope { identity: m.into() }))
    }
}
