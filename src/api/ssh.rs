//! SSH keys and known hosts (admins), and a project's key assignment.

use super::common::{AppRef, Created, NoContent, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::{KnownHost, Timestamp};
use crate::services::ssh::{SshKeyInput, SshKeyView};
use crate::store::run_blocking;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// SSH keys for git (private halves encrypted at rest, never shown) and trusted host keys
    Ssh,
}

#[derive(Object)]
pub struct ProjectRef {
    pub id: u64,
    pub name: String,
}

#[derive(Object)]
pub struct SshKeyObj {
    pub id: u64,
    pub name: String,
    /// OpenSSH one-line form: paste it into GitHub/GitLab as a deploy key.
    pub public_key: String,
    /// `SHA256:…`, as `ssh-keygen -lf` and GitHub show it.
    pub fingerprint: String,
    #[oai(nullable)]
    pub tenant_id: Option<u64>,
    #[oai(nullable)]
    pub tenant_name: Option<String>,
    pub user_id: u64,
    /// The private half is stored (encrypted); it is never returned.
    pub has_private_key: bool,
    /// Projects that use this key explicitly.
    pub projects: Vec<ProjectRef>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<SshKeyView> for SshKeyObj {
    fn from(v: SshKeyView) -> Self {
        let k = v.key;
        SshKeyObj {
            id: k.id.get(),
            name: k.name,
            public_key: k.public_key,
            fingerprint: k.fingerprint,
            tenant_id: k.tenant_id.map(u64::from),
            tenant_name: v.tenant_name,
            user_id: k.user_id.get(),
            has_private_key: k.private_key_enc.is_some(),
            projects: v
                .projects
                .into_iter()
                .map(|(id, name)| ProjectRef { id: id.get(), name })
                .collect(),
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

#[derive(Object)]
pub struct SshKeysEnvelope {
    pub ssh_keys: Vec<SshKeyObj>,
}

#[derive(Object)]
pub struct SshKeyEnvelope {
    pub ssh_key: SshKeyObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SshKeyRequest {
    #[oai(validator(max_length = 255))]
    pub name: Str,
    /// Tenant the key belongs to; global when omitted.
    pub tenant_id: Option<u64>,
    /// OpenSSH/PEM private key text. Omit to generate a new ed25519 key.
    #[oai(validator(max_length = 20000))]
    pub private_key_content: Option<Str>,
    /// Optional; must match the private key (its comment is kept).
    #[oai(validator(max_length = 20000))]
    pub public_key_content: Option<Str>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MigrateRequest {
    #[oai(validator(max_length = 20000))]
    pub private_key_content: Str,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectKeyRequest {
    /// A key id, or null to fall back to the tenant's keys.
    pub ssh_key_id: Option<u64>,
}

#[derive(Object)]
pub struct ProjectKeyObj {
    pub project_id: u64,
    #[oai(nullable)]
    pub ssh_key_id: Option<u64>,
}

#[derive(Object)]
pub struct KnownHostObj {
    pub id: u64,
    pub host: String,
    pub port: u16,
    /// `algorithm base64`.
    pub key: String,
    pub fingerprint: String,
    /// `tofu` (learned on first connection) or `pinned` (entered by an admin).
    pub source: String,
    #[oai(nullable)]
    pub created_by: Option<u64>,
    pub created_at: Timestamp,
}

impl From<KnownHost> for KnownHostObj {
    fn from(k: KnownHost) -> Self {
        KnownHostObj {
            id: k.id.get(),
            host: k.host,
            port: k.port,
            key: k.key,
            fingerprint: k.fingerprint,
            source: k.source,
            created_by: k.created_by.map(u64::from),
            created_at: k.created_at,
        }
    }
}

#[derive(Object)]
pub struct KnownHostsEnvelope {
    pub known_hosts: Vec<KnownHostObj>,
    /// Whether an unknown host's key is trusted (and recorded) on first connection.
    pub trust_on_first_use: bool,
}

#[derive(Object)]
pub struct KnownHostEnvelope {
    pub known_host: KnownHostObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct KnownHostRequest {
    #[oai(validator(max_length = 255))]
    pub host: Str,
    /// Default 22.
    pub port: Option<u16>,
    /// `ssh-ed25519 AAAA…` or a known_hosts / ssh-keyscan line.
    #[oai(validator(max_length = 20000))]
    pub key: Str,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ScanRequest {
    #[oai(validator(max_length = 255))]
    pub host: Str,
    pub port: Option<u16>,
    /// Trust the key now (only when the host is not known yet).
    pub pin: Option<bool>,
}

#[derive(Object)]
pub struct ScanResult {
    pub host: String,
    pub port: u16,
    pub key: String,
    pub fingerprint: String,
    /// `trusted`, `unknown` or `changed`.
    pub state: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PolicyRequest {
    pub trust_on_first_use: bool,
}

#[derive(Object)]
pub struct PolicyObj {
    pub trust_on_first_use: bool,
}

pub struct SshApi;

#[OpenApi(tag = "Tag::Ssh")]
impl SshApi {
    /// SSH keys (admins), optionally of one tenant.
    #[oai(path = "/admin/ssh-keys", method = "get")]
    async fn list_keys(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        tenant_id: Query<Option<u64>>,
    ) -> R<Json<SshKeysEnvelope>> {
        let keys = run_blocking(|| {
            app.git
                .list_ssh_keys(auth.identity(), tenant_id.0.map(Into::into))
        })?;
        Ok(Json(SshKeysEnvelope {
            ssh_keys: keys.into_iter().map(Into::into).collect(),
        }))
    }

    /// Upload a key pair, or generate an ed25519 key when no private key is sent.
    #[oai(path = "/admin/ssh-keys", method = "post")]
    async fn add_key(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<SshKeyRequest>,
    ) -> R<Created<SshKeyEnvelope>> {
        let b = body.0;
        let input = SshKeyInput {
            name: b.name.0,
            tenant_id: b.tenant_id.map(Into::into),
            private_key: opt(b.private_key_content),
            public_key: opt(b.public_key_content),
        };
        let key = run_blocking(|| app.git.add_ssh_key(auth.identity(), input))?;
        Ok(Created::Created(Json(SshKeyEnvelope {
            ssh_key: key.into(),
        })))
    }

    #[oai(path = "/admin/ssh-keys/:id", method = "get")]
    async fn get_key(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<SshKeyEnvelope>> {
        let key = run_blocking(|| app.git.get_ssh_key(auth.identity(), id.0.into()))?;
        Ok(Json(SshKeyEnvelope {
            ssh_key: key.into(),
        }))
    }

    /// Delete a key; projects using it fall back to their tenant's keys.
    #[oai(path = "/admin/ssh-keys/:id", method = "delete")]
    async fn delete_key(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        run_blocking(|| app.git.delete_ssh_key(auth.identity(), id.0.into()))?;
        Ok(NoContent::NoContent)
    }

    /// Store (or replace) the private half of a key; it must match the stored public key.
    #[oai(path = "/admin/ssh-keys/:id/migrate", method = "post")]
    async fn migrate_key(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<MigrateRequest>,
    ) -> R<Json<SshKeyEnvelope>> {
        let text = body.0.private_key_content.0;
        let key = run_blocking(|| {
            app.git
                .replace_ssh_private_key(auth.identity(), id.0.into(), &text)
        })?;
        Ok(Json(SshKeyEnvelope {
            ssh_key: key.into(),
        }))
    }

    /// Use one key for a project's git (admins); null falls back to the tenant's keys.
    #[oai(path = "/projects/:id/ssh-key", method = "put")]
    async fn project_key(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<ProjectKeyRequest>,
    ) -> R<Json<ProjectKeyObj>> {
        let k = body.0.ssh_key_id;
        run_blocking(|| {
            app.git
                .set_project_ssh_key(auth.identity(), id.0.into(), k.map(Into::into))
        })?;
        Ok(Json(ProjectKeyObj {
            project_id: id.0,
            ssh_key_id: k,
        }))
    }

    /// Trusted SSH host keys and the first-use policy.
    #[oai(path = "/admin/known-hosts", method = "get")]
    async fn known_hosts(&self, app: AppRef<'_>, auth: Auth) -> R<Json<KnownHostsEnvelope>> {
        let list = run_blocking(|| app.git.list_known_hosts(auth.identity()))?;
        Ok(Json(KnownHostsEnvelope {
            known_hosts: list.into_iter().map(Into::into).collect(),
            trust_on_first_use: app.git.trust_on_first_use()?,
        }))
    }

    /// Pin a host key.
    #[oai(path = "/admin/known-hosts", method = "post")]
    async fn add_known_host(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<KnownHostRequest>,
    ) -> R<Created<KnownHostEnvelope>> {
        let b = body.0;
        let kh = run_blocking(|| {
            app.git
                .add_known_host(auth.identity(), &b.host.0, b.port.unwrap_or(22), &b.key.0)
        })?;
        Ok(Created::Created(Json(KnownHostEnvelope {
            known_host: kh.into(),
        })))
    }

    /// Forget a host key (the next connection learns or must pin the new one).
    #[oai(path = "/admin/known-hosts/:id", method = "delete")]
    async fn delete_known_host(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        run_blocking(|| app.git.delete_known_host(auth.identity(), id.0.into()))?;
        Ok(NoContent::NoContent)
    }

    /// Ask a server for its host key and compare it with the trusted ones; `pin` trusts it.
    #[oai(path = "/admin/known-hosts/scan", method = "post")]
    async fn scan(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ScanRequest>,
    ) -> R<Json<ScanResult>> {
        let b = body.0;
        let port = b.port.unwrap_or(22);
        let (key, fingerprint, state) = app
            .git
            .scan_host(auth.identity(), &b.host.0, port, b.pin.unwrap_or(false))
            .await?;
        Ok(Json(ScanResult {
            host: b.host.0.trim().to_ascii_lowercase(),
            port,
            key,
            fingerprint,
            state: state.as_str().to_string(),
        }))
    }

    /// Turn trust-on-first-use on or off (off: unknown hosts must be pinned first).
    #[oai(path = "/admin/known-hosts/policy", method = "put")]
    async fn policy(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<PolicyRequest>,
    ) -> R<Json<PolicyObj>> {
        let on = body.0.trust_on_first_use;
        run_blocking(|| app.git.set_trust_on_first_use(auth.identity(), on))?;
        Ok(Json(PolicyObj {
            trust_on_first_use: on,
        }))
    }
}
