//! Thin handlers: authorise through the service, shape the envelope.

use super::common::{AppRef, Created, Deleted, R, default_limit};
use super::gate::Auth;
use super::git::GitStatusObj;
use super::objects::*;
use super::strict::opt;
use crate::services::accounts::{NewUser, UserUpdate};
use crate::services::projects::ProjectInput;
use crate::services::tenants::TenantInput;
use crate::store::run_blocking;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Who am I, and API keys
    Auth,
    /// Tenants group projects, integrations and SSH keys
    Tenants,
    /// Git repositories owned by a user in a tenant
    Projects,
    /// User accounts (admin)
    Users,
    /// Health, version and the audit log
    System,
}

/// A project with the caller's workspace status (the single-project GET).
#[derive(Object)]
pub struct ProjectDetail {
    #[oai(flatten)]
    pub project: ProjectObj,
    pub git_status: GitStatusObj,
}

#[derive(Object)]
pub struct ProjectDetailEnvelope {
    pub project: ProjectDetail,
}

pub struct AuthApi;
pub struct TenantsApi;
pub struct ProjectsApi;
pub struct UsersApi;
pub struct SystemApi;

pub type Apis = (AuthApi, TenantsApi, ProjectsApi, UsersApi, SystemApi);

pub fn apis() -> Apis {
    (AuthApi, TenantsApi, ProjectsApi, UsersApi, SystemApi)
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// The caller: user, how they authenticated, effective scopes.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, app: AppRef<'_>, auth: Auth) -> R<Json<MeEnvelope>> {
        let id = auth.identity();
        let mut me = MeEnvelope::from(id);
        me.memberships = app
            .tenancy
            .my_memberships(id)?
            .into_iter()
            .map(MembershipObj::from)
            .collect();
        Ok(Json(me))
    }

    /// The caller's API keys, newest first.
    #[oai(path = "/auth/keys", method = "get")]
    async fn list_keys(&self, app: AppRef<'_>, auth: Auth) -> R<Json<KeysEnvelope>> {
        let keys = app.accounts.list_keys(auth.identity())?;
        Ok(Json(KeysEnvelope {
            keys: keys.into_iter().map(|k| ApiKeyObj::new(k, None)).collect(),
        }))
    }

    /// Create a key for the caller. The full key is in the response once and never again.
    #[oai(path = "/auth/keys", method = "post")]
    async fn create_key(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<CreateKeyRequest>,
    ) -> R<Created<KeyEnvelope>> {
        let b = body.0;
        let (key, raw) = run_blocking(|| {
            let scopes: Vec<String> = b.scopes.into_iter().map(|s| s.0).collect();
            app.accounts.create_key(
                auth.identity(),
                opt(b.name).as_deref().unwrap_or(""),
                &scopes,
                b.expires_days,
            )
        })?;
        Ok(Created::Created(Json(KeyEnvelope {
            key: ApiKeyObj::new(key, Some(raw)),
            message: Some(
                "API key created successfully. Save this key securely - it won't be shown again."
                    .into(),
            ),
        })))
    }

    /// Rename, re-scope (never above the caller's own scopes) or (de)activate one of the caller's keys.
    #[oai(path = "/auth/keys/:id", method = "patch")]
    async fn update_key(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<UpdateKeyRequest>,
    ) -> R<Json<KeyEnvelope>> {
        let b = body.0;
        let key = run_blocking(|| {
            let scopes: Option<Vec<String>> =
                b.scopes.map(|v| v.into_iter().map(|s| s.0).collect());
            app.accounts.update_key(
                auth.identity(),
                id.0.into(),
                opt(b.name).as_deref(),
                scopes.as_deref(),
                b.is_active,
            )
        })?;
        Ok(Json(KeyEnvelope {
            key: ApiKeyObj::new(key, None),
            message: None,
        }))
    }

    /// Revoke (delete) one of the caller's keys.
    #[oai(path = "/auth/keys/:id", method = "delete")]
    async fn revoke_key(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Deleted> {
        run_blocking(|| app.accounts.revoke_key(auth.identity(), id.0.into()))?;
        Ok(Deleted::NoContent)
    }
}

#[OpenApi(tag = "Tag::Tenants")]
impl TenantsApi {
    /// The tenants the caller is a member of (or has projects in; admins: all), by name.
    /// `project_count` counts the projects the caller can see.
    #[oai(path = "/tenants", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        include_projects: Query<Option<bool>>,
    ) -> R<Json<TenantsEnvelope>> {
        let id = auth.identity();
        let views = app.tenancy.list_tenants(id)?;
        let mut tenants = Vec::with_capacity(views.len());
        for v in views {
            let projects = if include_projects.0.unwrap_or(false) {
                Some(app.tenancy.get_tenant(id, v.tenant.id)?.1)
            } else {
                None
            };
            tenants.push(TenantObj::new(v, projects));
        }
        Ok(Json(TenantsEnvelope {
            count: tenants.len(),
            tenants,
        }))
    }

    /// Create a tenant (admin).
    #[oai(path = "/tenants", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<TenantRequest>,
    ) -> R<Created<TenantEnvelope>> {
        let b = body.0;
        let v = run_blocking(|| {
            app.tenancy.create_tenant(
                auth.identity(),
                TenantInput {
                    name: opt(b.name),
                    description: opt(b.description),
                    color: opt(b.color),
                },
            )
        })?;
        Ok(Created::Created(Json(TenantEnvelope {
            tenant: TenantObj::new(v, None),
        })))
    }

    /// One tenant with the caller's projects in it.
    #[oai(path = "/tenants/:id", method = "get")]
    async fn get(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<TenantEnvelope>> {
        let (v, projects) = app.tenancy.get_tenant(auth.identity(), id.0.into())?;
        Ok(Json(TenantEnvelope {
            tenant: TenantObj::new(v, Some(projects)),
        }))
    }

    /// Rename or recolour a tenant (admin).
    #[oai(path = "/tenants/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<TenantRequest>,
    ) -> R<Json<TenantEnvelope>> {
        let b = body.0;
        let v = run_blocking(|| {
            app.tenancy.update_tenant(
                auth.identity(),
                id.0.into(),
                TenantInput {
                    name: opt(b.name),
                    description: opt(b.description),
                    color: opt(b.color),
                },
            )
        })?;
        Ok(Json(TenantEnvelope {
            tenant: TenantObj::new(v, None),
        }))
    }

    /// Delete a tenant with all its projects, integrations, issues and SSH keys (admin).
    #[oai(path = "/tenants/:id", method = "delete")]
    async fn delete(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Deleted> {
        run_blocking(|| app.tenancy.delete_tenant(auth.identity(), id.0.into()))?;
        Ok(Deleted::NoContent)
    }
}

fn project_input(b: ProjectRequest) -> ProjectInput {
    ProjectInput {
        name: opt(b.name),
        repo_url: opt(b.repo_url),
        default_branch: opt(b.default_branch),
        description: opt(b.description),
        tenant_id: b.tenant_id.map(Into::into),
        owner_id: b.owner_id.map(Into::into),
    }
}

#[OpenApi(tag = "Tag::Projects")]
impl ProjectsApi {
    /// Projects the caller can see (admins: all), newest first.
    #[oai(path = "/projects", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        tenant_id: Query<Option<u64>>,
    ) -> R<Json<ProjectsEnvelope>> {
        let projects: Vec<ProjectObj> = app
            .tenancy
            .list_projects(auth.identity(), tenant_id.0.map(Into::into))?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(ProjectsEnvelope {
            count: projects.len(),
            projects,
        }))
    }

    /// Create a project in a tenant you maintain; `owner_id` defaults to the caller (admins may
    /// name another) and the owner becomes a maintainer of the project.
    #[oai(path = "/projects", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ProjectRequest>,
    ) -> R<Created<ProjectEnvelope>> {
        let v = run_blocking(|| {
            app.tenancy
                .create_project(auth.identity(), project_input(body.0))
        })?;
        Ok(Created::Created(Json(ProjectEnvelope {
            project: v.into(),
        })))
    }

    /// One project (its members, members of its tenant, admins), with `git_status`: the
    /// caller's workspace status, or `{branch: "unknown", dirty: null, …, error}` saying why
    /// there is none.
    #[oai(path = "/projects/:id", method = "get")]
    async fn get(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<ProjectDetailEnvelope>> {
        let (v, status) = app
            .tenancy
            .get_project_with_git_status(auth.identity(), id.0.into())
            .await?;
        Ok(Json(ProjectDetailEnvelope {
            project: ProjectDetail {
                project: v.into(),
                git_status: GitStatusObj::from_report(status),
            },
        }))
    }

    /// Update a project (maintainers; moving it needs maintainer in both tenants; only admins
    /// change the owner).
    #[oai(path = "/projects/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<ProjectRequest>,
    ) -> R<Json<ProjectEnvelope>> {
        let v = run_blocking(|| {
            app.tenancy
                .update_project(auth.identity(), id.0.into(), project_input(body.0))
        })?;
        Ok(Json(ProjectEnvelope { project: v.into() }))
    }

    /// Delete a project with its integration links, issues, pins, sessions and memberships
    /// (maintainers).
    #[oai(path = "/projects/:id", method = "delete")]
    async fn delete(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Deleted> {
        run_blocking(|| app.tenancy.delete_project(auth.identity(), id.0.into()))?;
        Ok(Deleted::NoContent)
    }
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Every user, by email (admin).
    #[oai(path = "/users", method = "get")]
    async fn list(&self, app: AppRef<'_>, auth: Auth) -> R<Json<UsersEnvelope>> {
        let users: Vec<UserObj> = app
            .accounts
            .list_users(auth.identity())?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(UsersEnvelope {
            count: users.len(),
            users,
        }))
    }

    /// Create a user (admin).
    #[oai(path = "/users", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<UserRequest>,
    ) -> R<Created<UserEnvelope>> {
        let b = body.0;
        let u = run_blocking(|| {
            app.accounts.create_user(
                auth.identity(),
                NewUser {
                    email: b.email.as_ref().map(|s| s.0.as_str()).unwrap_or(""),
                    name: b.name.as_ref().map(|s| s.0.as_str()).unwrap_or(""),
                    password: b.password.as_ref().map(|s| s.0.as_str()).unwrap_or(""),
                    is_admin: b.is_admin.unwrap_or(false),
                },
            )
        })?;
        Ok(Created::Created(Json(UserEnvelope { user: u.into() })))
    }

    /// One user (admin, or yourself).
    #[oai(path = "/users/:id", method = "get")]
    async fn get(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<UserEnvelope>> {
        Ok(Json(UserEnvelope {
            user: app.accounts.get_user(auth.identity(), id.0.into())?.into(),
        }))
    }

    /// Update name, email, admin flag, Linux user or password (admin).
    #[oai(path = "/users/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<UserRequest>,
    ) -> R<Json<UserEnvelope>> {
        let b = body.0;
        let u = run_blocking(|| {
            app.accounts.update_user(
                auth.identity(),
                id.0.into(),
                UserUpdate {
                    name: opt(b.name),
                    email: opt(b.email),
                    is_admin: b.is_admin,
                    linux_username: b.linux_username.map(|s| Some(s.0)),
                    password: opt(b.password),
                },
            )
        })?;
        Ok(Json(UserEnvelope { user: u.into() }))
    }

    /// Delete a user (admin). Refused while they own projects.
    #[oai(path = "/users/:id", method = "delete")]
    async fn delete(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Deleted> {
        run_blocking(|| app.accounts.delete_user(auth.identity(), id.0.into()))?;
        Ok(Deleted::NoContent)
    }
}

#[OpenApi(tag = "Tag::System")]
impl SystemApi {
    /// Liveness: no authentication.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> Json<HealthBody> {
        Json(HealthBody {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }

    /// Version, schema, uptime and counts.
    #[oai(path = "/system/info", method = "get")]
    async fn info(&self, app: AppRef<'_>, auth: Auth) -> R<Json<SystemInfo>> {
        let snap = app.system.system_info(auth.identity())?;
        Ok(Json(SystemInfo {
            name: "aiops".into(),
            version: snap.version.into(),
            schema_version: snap.schema_version,
            started_at: snap.started_at,
            uptime_seconds: (crate::domain::model::now() - snap.started_at).num_seconds(),
            counts: Counts {
                users: snap.users,
                tenants: snap.tenants,
                projects: snap.projects,
                api_keys: snap.api_keys,
            },
        }))
    }

    /// The audit log of API writes, newest first (admin).
    #[oai(path = "/audit", method = "get")]
    async fn audit(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        #[oai(default = "default_limit", validator(maximum(value = "500")))] limit: Query<usize>,
        #[oai(default)] offset: Query<usize>,
    ) -> R<Json<AuditEnvelope>> {
        let (entries, total) = app.audit.list_audit(auth.identity(), limit.0, offset.0)?;
        Ok(Json(AuditEnvelope {
            entries: entries.into_iter().map(Into::into).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }
}
