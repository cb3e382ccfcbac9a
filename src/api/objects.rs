//! JSON shapes of the API. Field names follow the original aiops so existing clients keep working;
//! tenants and projects carry the superset of its two blueprints' fields.

use super::strict::Str;
use crate::auth::{AuthMethod, Identity};
use crate::domain::{ApiKey, AuditEntry, Timestamp, User};
use crate::services::access::{MemberView, MyMembership};
use crate::services::projects::ProjectView;
use crate::services::tenants::TenantView;
use poem_openapi::Object;

#[derive(Object)]
pub struct MeUser {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    /// `api_key` or `session`
    pub auth_method: String,
    #[oai(skip_serializing_if_is_none)]
    pub api_key_id: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub api_key_name: Option<String>,
    /// Effective scopes of this request.
    pub scopes: Vec<String>,
    /// Set for an agent session's key: the only project it reaches.
    #[oai(skip_serializing_if_is_none)]
    pub project_id: Option<u64>,
}

#[derive(Object)]
pub struct MeEnvelope {
    pub user: MeUser,
    /// The caller's tenant and project memberships.
    pub memberships: Vec<MembershipObj>,
}

/// One membership: a role in a tenant (all its projects) or in one project.
#[derive(Object)]
pub struct MembershipObj {
    pub id: u64,
    pub user_id: u64,
    /// `tenant` or `project`
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub tenant_id: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub project_id: Option<u64>,
    /// The tenant's or project's name.
    pub name: String,
    /// `viewer`, `developer` or `maintainer`
    pub role: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<MyMembership> for MembershipObj {
    fn from(v: MyMembership) -> Self {
        let m = v.membership;
        MembershipObj {
            id: m.id.get(),
            user_id: m.user_id.get(),
            kind: if m.tenant_id.is_some() {
                "tenant"
            } else {
                "project"
            }
            .into(),
            tenant_id: m.tenant_id.map(u64::from),
            project_id: m.project_id.map(u64::from),
            name: v.name,
            role: m.role.as_str().into(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A member of a tenant or project.
#[derive(Object)]
pub struct MemberObj {
    pub user_id: u64,
    pub email: String,
    pub name: String,
    /// `viewer`, `developer` or `maintainer`
    pub role: String,
    #[oai(skip_serializing_if_is_none)]
    pub tenant_id: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub project_id: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<MemberView> for MemberObj {
    fn from(v: MemberView) -> Self {
        let m = v.membership;
        MemberObj {
            user_id: m.user_id.get(),
            email: v.email,
            name: v.name,
            role: m.role.as_str().into(),
            tenant_id: m.tenant_id.map(u64::from),
            project_id: m.project_id.map(u64::from),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Object)]
pub struct MembersEnvelope {
    pub members: Vec<MemberObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct MemberEnvelope {
    pub member: MemberObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add (or give `email` instead).
    pub user_id: Option<u64>,
    /// The user's email, instead of `user_id`.
    #[oai(validator(max_length = 255))]
    pub email: Option<Str>,
    /// `viewer`, `developer` or `maintainer`
    #[oai(validator(max_length = 32))]
    pub role: Str,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SetMemberRequest {
    /// `viewer`, `developer` or `maintainer`
    #[oai(validator(max_length = 32))]
    pub role: Str,
}

impl From<&Identity> for MeEnvelope {
    fn from(id: &Identity) -> Self {
        MeEnvelope {
            user: MeUser {
                id: id.user.id.get(),
                email: id.user.email.clone(),
                name: id.user.name.clone(),
                is_admin: id.user.is_admin,
                auth_method: match id.method {
                    AuthMethod::ApiKey => "api_key".into(),
                    AuthMethod::Session => "session".into(),
                    AuthMethod::System => "system".into(),
                },
                api_key_id: id.key.as_ref().map(|k| k.id.get()),
                api_key_name: id.key.as_ref().map(|k| k.name.clone()),
                scopes: id.scopes.iter().map(|s| s.as_str().to_string()).collect(),
                project_id: id.project_limit().map(u64::from),
            },
            memberships: Vec::new(),
        }
    }
}

#[derive(Object)]
pub struct ApiKeyObj {
    pub id: u64,
    pub name: String,
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub is_active: bool,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub last_used_at: Option<Timestamp>,
    #[oai(nullable)]
    pub expires_at: Option<Timestamp>,
    /// The full key: present only in the creation response.
    #[oai(skip_serializing_if_is_none)]
    pub key: Option<String>,
}

impl ApiKeyObj {
    pub fn new(k: ApiKey, raw: Option<String>) -> ApiKeyObj {
        ApiKeyObj {
            id: k.id.get(),
            name: k.name,
            key_prefix: k.key_prefix,
            scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            is_active: k.is_active,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            key: raw,
        }
    }
}

#[derive(Object)]
pub struct KeysEnvelope {
    pub keys: Vec<ApiKeyObj>,
}

#[derive(Object)]
pub struct KeyEnvelope {
    pub key: ApiKeyObj,
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    /// Any of `read`, `write`, `admin` (admin implies the others). A key can only grant what it holds.
    #[oai(default)]
    pub scopes: Vec<Str>,
    /// Days until the key expires (1-3650); omitted means never.
    pub expires_days: Option<i64>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    pub scopes: Option<Vec<Str>>,
    pub is_active: Option<bool>,
}

#[derive(Object)]
pub struct ProjectObj {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub repo_url: String,
    pub default_branch: String,
    pub local_path: String,
    pub tenant_id: u64,
    pub tenant_name: String,
    pub tenant_color: String,
    pub owner_id: u64,
    pub owner_name: String,
    /// The SSH key this project's git uses; null means the tenant's keys.
    #[oai(nullable)]
    pub ssh_key_id: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<ProjectView> for ProjectObj {
    fn from(v: ProjectView) -> Self {
        let p = v.project;
        ProjectObj {
            id: p.id.get(),
            name: p.name,
            description: p.description.unwrap_or_default(),
            repo_url: p.repo_url,
            default_branch: p.default_branch,
            local_path: p.local_path,
            tenant_id: p.tenant_id.get(),
            tenant_name: v.tenant_name,
            tenant_color: v.tenant_color,
            owner_id: p.owner_id.get(),
            owner_name: v.owner_name,
            ssh_key_id: p.ssh_key_id.map(u64::from),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Object)]
pub struct TenantObj {
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub color: String,
    pub project_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub projects: Option<Vec<ProjectObj>>,
}

impl TenantObj {
    pub fn new(v: TenantView, projects: Option<Vec<ProjectView>>) -> TenantObj {
        let t = v.tenant;
        TenantObj {
            id: t.id.get(),
            name: t.name,
            slug: v.slug,
            description: t.description.unwrap_or_default(),
            color: t.color,
            project_count: v.project_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            projects: projects.map(|ps| ps.into_iter().map(ProjectObj::from).collect()),
        }
    }
}

#[derive(Object)]
pub struct TenantsEnvelope {
    pub tenants: Vec<TenantObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct TenantEnvelope {
    pub tenant: TenantObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TenantRequest {
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<Str>,
    /// One of the palette colours (e.g. `#2563eb`); default indigo.
    #[oai(validator(max_length = 16))]
    pub color: Option<Str>,
}

#[derive(Object)]
pub struct ProjectsEnvelope {
    pub projects: Vec<ProjectObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct ProjectEnvelope {
    pub project: ProjectObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectRequest {
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub repo_url: Option<Str>,
    pub tenant_id: Option<u64>,
    /// Defaults to the caller. Only admins may name another owner.
    pub owner_id: Option<u64>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<Str>,
    #[oai(validator(max_length = 200))]
    pub default_branch: Option<Str>,
}

#[derive(Object)]
pub struct UserObj {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    #[oai(nullable)]
    pub linux_username: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<User> for UserObj {
    fn from(u: User) -> Self {
        UserObj {
            id: u.id.get(),
            email: u.email,
            name: u.name,
            is_admin: u.is_admin,
            linux_username: u.linux_username,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Object)]
pub struct UsersEnvelope {
    pub users: Vec<UserObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct UserEnvelope {
    pub user: UserObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UserRequest {
    #[oai(validator(max_length = 255))]
    pub email: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub password: Option<Str>,
    pub is_admin: Option<bool>,
    #[oai(validator(max_length = 32))]
    pub linux_username: Option<Str>,
}

#[derive(Object)]
pub struct AuditObj {
    pub id: u64,
    #[oai(nullable)]
    pub user_id: Option<u64>,
    #[oai(nullable)]
    pub api_key_id: Option<u64>,
    pub method: String,
    pub path: String,
    #[oai(nullable)]
    pub query: Option<String>,
    #[oai(nullable)]
    pub request_body: Option<serde_json::Value>,
    pub response_status: u16,
    pub response_time_ms: f64,
    #[oai(nullable)]
    pub ip_address: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    #[oai(nullable)]
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    /// Where the change was made: `api` or `web` (the browser UI).
    pub source: String,
    /// The request's `X-Request-Id` (matches the request log line), when recorded.
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// What the change was, named alike for the API and the web (`tenant.create`,
    /// `project.update`, `member.delete`, …).
    pub action: String,
}

impl From<AuditEntry> for AuditObj {
    fn from(e: AuditEntry) -> Self {
        let form_action = e
            .request_body
            .as_ref()
            .and_then(|b| b.get("action"))
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let action =
            crate::services::audit::describe(&e.method, &e.path, form_action.as_deref()).action;
        AuditObj {
            source: e.source.as_str().to_string(),
            request_id: e.request_id.clone(),
            action,
            id: e.id,
            user_id: e.user_id.map(u64::from),
            api_key_id: e.api_key_id.map(u64::from),
            method: e.method,
            path: e.path,
            query: e.query,
            request_body: e.request_body,
            response_status: e.status,
            response_time_ms: e.duration_ms,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            error_message: e.error_message,
            created_at: e.created_at,
        }
    }
}

#[derive(Object)]
pub struct AuditEnvelope {
    pub entries: Vec<AuditObj>,
    pub total: u64,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Object)]
pub struct HealthBody {
    pub status: String,
    pub version: String,
}

#[derive(Object)]
pub struct Counts {
    pub users: u64,
    pub tenants: u64,
    pub projects: u64,
    pub api_keys: u64,
}

#[derive(Object)]
pub struct SystemInfo {
    pub name: String,
    pub version: String,
    pub schema_version: u64,
    pub started_at: Timestamp,
    pub uptime_seconds: i64,
    pub counts: Counts,
}
