//! SSH keys (uploaded or generated, private halves encrypted at rest), known hosts
//! (trust on first use or pinned; a changed key is refused), and the environment that sends
//! git's SSH traffic through `aiops ssh-git`.

use super::git::Git;
use super::sshclient::{fingerprint, key_line, probe_host_key};
use crate::auth::Identity;
use crate::domain::rules::validate_name;
use crate::domain::ssh::{
    HostCheck, HostKeyState, check_host, host_label, key_body, sh_quote, ssh_target,
};
use crate::domain::{KnownHost, KnownHostId, Project, SshKey, SshKeyId, UserId};
use crate::domain::{ProjectId, TenantId};
use crate::error::{AppError, AppResult};
use crate::store::tenancy::TenancyReads;
use rand::RngCore;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};

/// Environment variables `aiops ssh-git` reads (set by the server on the git child only).
/// Marks the private key among a git child's settings; it never reaches the child's
/// environment (see `git::run_git`), which gets `ENV_KEY_FD` instead.
pub const ENV_KEY: &str = "AIOPS_SSH_KEY";
/// The descriptor number `aiops ssh-git` reads the private key from.
pub const ENV_KEY_FD: &str = "AIOPS_SSH_KEY_FD";
pub const ENV_KNOWN: &str = "AIOPS_SSH_KNOWN_HOSTS";
const TOFU_SETTING: &str = "ssh.trust_on_first_use";

#[derive(Debug, Clone)]
pub struct SshKeyView {
    pub key: SshKey,
    pub tenant_name: Option<String>,
    /// Projects that use this key explicitly (id, name).
    pub projects: Vec<(ProjectId, String)>,
}

#[derive(Default)]
pub struct SshKeyInput {
    pub name: String,
    pub tenant_id: Option<TenantId>,
    pub private_key: Option<String>,
    pub public_key: Option<String>,
}

fn parse_private(text: &str) -> AppResult<PrivateKey> {
    let text = text.trim().replace("\r\n", "\n");
    let key = russh::keys::decode_secret_key(&text, None).map_err(|e| {
        let m = e.to_string();
        if m.contains("ncrypted") || m.contains("assphrase") {
            AppError::BadRequest(
                "The private key is protected by a passphrase; remove it first (ssh-keygen -p -f KEY) — aiops encrypts keys at rest itself".into(),
            )
        } else {
            AppError::BadRequest(format!(
                "private_key_content is not a private key aiops can read (OpenSSH, PEM or PKCS#8): {m}"
            ))
        }
    })?;
    if key.is_encrypted() {
        return Err(AppError::BadRequest(
            "The private key is protected by a passphrase; remove it first (ssh-keygen -p -f KEY)"
                .into(),
        ));
    }
    Ok(key)
}

fn parse_public(text: &str) -> AppResult<PublicKey> {
    PublicKey::from_openssh(text.trim()).map_err(|e| {
        AppError::BadRequest(format!(
            "public_key_content is not an OpenSSH public key (ssh-ed25519 AAAA… comment): {e}"
        ))
    })
}

fn openssh_private(key: &PrivateKey) -> AppResult<String> {
    key.to_openssh(LineEnding::LF)
        .map(|z| z.to_string())
        .map_err(|e| AppError::Internal(format!("cannot encode the private key: {e}")))
}

fn require_admin(caller: &Identity) -> AppResult<()> {
    caller.require_admin()
}

impl Git {
    fn key_views(
        &self,
        r: &crate::store::ReadTxn,
        keys: Vec<SshKey>,
    ) -> AppResult<Vec<SshKeyView>> {
        let projects: Vec<Project> = r.projects()?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let tenant_name = match key.tenant_id {
                Some(t) => r.get_tenant(t)?.map(|t| t.name),
                None => None,
            };
            out.push(SshKeyView {
                projects: projects
                    .iter()
                    .filter(|p| p.ssh_key_id == Some(key.id))
                    .map(|p| (p.id, p.name.clone()))
                    .collect(),
                tenant_name,
                key,
            });
        }
        Ok(out)
    }

    pub fn list_ssh_keys(
        &self,
        caller: &Identity,
        tenant_id: Option<TenantId>,
    ) -> AppResult<Vec<SshKeyView>> {
        require_admin(caller)?;
        let r = self.store.read()?;
        let keys: Vec<SshKey> = match tenant_id {
            Some(t) => r.ssh_keys_of_tenant(t)?,
            None => r.ssh_keys()?,
        };
        self.key_views(&r, keys)
    }

    pub fn get_ssh_key(&self, caller: &Identity, id: SshKeyId) -> AppResult<SshKeyView> {
        require_admin(caller)?;
        let r = self.store.read()?;
        let key: SshKey = r
            .ssh_key(id)?
            .ok_or_else(|| AppError::NotFound(format!("SSH key {id} not found")))?;
        Ok(self.key_views(&r, vec![key])?.remove(0))
    }

    /// Upload a key pair (the public half is derived when not given, and must match when
    /// given), or generate a new ed25519 key when no private key is given.
    pub fn add_ssh_key(&self, caller: &Identity, input: SshKeyInput) -> AppResult<SshKeyView> {
        require_admin(caller)?;
        let name = validate_name("Key name", &input.name).map_err(AppError::BadRequest)?;
        let private = match input.private_key.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => parse_private(text)?,
            _ => {
                if input
                    .public_key
                    .as_deref()
                    .is_some_and(|p| !p.trim().is_empty())
                {
                    return Err(AppError::BadRequest(
                        "A public key alone cannot be used for git: send private_key_content too, or neither to generate a new ed25519 key".into(),
                    ));
                }
                let mut seed = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                let mut k = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
                k.set_comment(format!(
                    "aiops-{}",
                    crate::domain::rules::project_path_slug(&name)
                ));
                k
            }
        };
        let mut public = private.public_key().clone();
        if let Some(p) = input.public_key.as_deref().filter(|p| !p.trim().is_empty()) {
            let given = parse_public(p)?;
            if key_line(&given) != key_line(&public) {
                return Err(AppError::BadRequest(
                    "public_key_content does not belong to private_key_content".into(),
                ));
            }
            public = given; // keeps the uploader's comment
        }
        let public_line = public
            .to_openssh()
            .map_err(|e| AppError::Internal(format!("cannot encode the public key: {e}")))?;
        let fp = fingerprint(&public);
        let enc = self.secrets.encrypt(&openssh_private(&private)?)?;
        let w = self.store.write()?;
        if let Some(t) = input.tenant_id
            && w.get_tenant(t)?.is_none()
        {
            return Err(AppError::NotFound(format!("Tenant {t} not found")));
        }
        if let Some(k) = w.ssh_keys()?.into_iter().find(|k| k.fingerprint == fp) {
            return Err(AppError::Conflict(format!(
                "This key is already stored as '{}' (id {}); fingerprint {fp}",
                k.name, k.id
            )));
        }
        let now = crate::domain::model::now();
        let key = SshKey {
            id: w.new_ssh_key_id()?,
            name,
            public_key: public_line,
            fingerprint: fp,
            private_key_enc: Some(enc),
            user_id: caller.id(),
            tenant_id: input.tenant_id,
            created_at: now,
            updated_at: now,
        };
        w.put_ssh_key(&key)?;
        w.commit()?;
        tracing::info!(key = key.id.get(), fingerprint = %key.fingerprint, "ssh key stored");
        self.get_ssh_key(caller, key.id)
    }

    /// Replace the private half of a stored key (it must match the stored public key).
    pub fn replace_ssh_private_key(
        &self,
        caller: &Identity,
        id: SshKeyId,
        private_key: &str,
    ) -> AppResult<SshKeyView> {
        require_admin(caller)?;
        let private = parse_private(private_key)?;
        let enc = self.secrets.encrypt(&openssh_private(&private)?)?;
        let w = self.store.write()?;
        let mut key: SshKey = w
            .ssh_key(id)?
            .ok_or_else(|| AppError::NotFound(format!("SSH key {id} not found")))?;
        if key_body(&key.public_key) != Some(key_line(private.public_key())) {
            return Err(AppError::BadRequest(format!(
                "This private key does not match key {id} ({}): its fingerprint is {}",
                key.fingerprint,
                fingerprint(private.public_key())
            )));
        }
        key.private_key_enc = Some(enc);
        key.updated_at = crate::domain::model::now();
        w.put_ssh_key(&key)?;
        w.commit()?;
        self.get_ssh_key(caller, id)
    }

    /// Delete a key; projects that used it fall back to their tenant's keys.
    pub fn delete_ssh_key(&self, caller: &Identity, id: SshKeyId) -> AppResult<()> {
        require_admin(caller)?;
        let w = self.store.write()?;
        w.delete_ssh_key(id)?
            .ok_or_else(|| AppError::NotFound(format!("SSH key {id} not found")))?;
        w.commit()?;
        Ok(())
    }

    /// Point a project at one key, or back to its tenant's keys with `None`. Maintainers of
    /// the project choose among its tenant's keys; a global key is an administrator's choice.
    pub fn set_project_ssh_key(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        key_id: Option<SshKeyId>,
    ) -> AppResult<()> {
        caller.require(crate::domain::Scope::Write)?;
        let w = self.store.write()?;
        let mut p = super::access::project_for(
            &w,
            caller,
            project_id,
            crate::domain::access::Action::Manage,
        )?;
        if let Some(k) = key_id {
            let key: SshKey = w
                .ssh_key(k)?
                .ok_or_else(|| AppError::NotFound(format!("SSH key {k} not found")))?;
            match key.tenant_id {
                Some(t) if t != p.tenant_id => {
                    return Err(AppError::NotFound(format!("SSH key {k} not found")));
                }
                Some(_) => {}
                None => caller.require_admin().map_err(|_| {
                    AppError::Forbidden(format!(
                        "SSH key {k} serves all tenants; only administrators can assign it. Choose a key of this project's tenant"
                    ))
                })?,
            }
        }
        p.ssh_key_id = key_id;
        p.updated_at = crate::domain::model::now();
        w.put_project(&p)?;
        w.commit()?;
        Ok(())
    }

    /// The key git uses for a project: its own, else its tenant's oldest, else a global one.
    fn key_for_project(&self, r: &crate::store::ReadTxn, p: &Project) -> AppResult<Option<SshKey>> {
        if let Some(id) = p.ssh_key_id
            && let Some(k) = r.ssh_key(id)?
            && k.private_key_enc.is_some()
            // Never another tenant's key, whatever the row says.
            && k.tenant_id.is_none_or(|t| t == p.tenant_id)
        {
            return Ok(Some(k));
        }
        let mut tenant_keys: Vec<SshKey> = r.ssh_keys_of_tenant(p.tenant_id)?;
        tenant_keys.sort_by_key(|k| (k.created_at, k.id));
        if let Some(k) = tenant_keys
            .into_iter()
            .find(|k| k.private_key_enc.is_some())
        {
            return Ok(Some(k));
        }
        let all: Vec<SshKey> = r.ssh_keys()?;
        Ok(all
            .into_iter()
            .find(|k| k.tenant_id.is_none() && k.private_key_enc.is_some()))
    }

    // ---- known hosts ----

    pub fn trust_on_first_use(&self) -> AppResult<bool> {
        let r = self.store.read()?;
        Ok(r.setting::<bool>(TOFU_SETTING)?.unwrap_or(true))
    }

    pub fn set_trust_on_first_use(&self, caller: &Identity, on: bool) -> AppResult<()> {
        require_admin(caller)?;
        let w = self.store.write()?;
        w.put_setting(TOFU_SETTING, &on)?;
        w.commit()?;
        Ok(())
    }

    pub fn list_known_hosts(&self, caller: &Identity) -> AppResult<Vec<KnownHost>> {
        require_admin(caller)?;
        self.store.read()?.known_hosts()
    }

    /// Pin a host key entered by an admin (`ssh-ed25519 AAAA…`, or a known_hosts line).
    pub fn add_known_host(
        &self,
        caller: &Identity,
        host: &str,
        port: u16,
        key: &str,
    ) -> AppResult<KnownHost> {
        require_admin(caller)?;
        let host = checked_host(host, port)?;
        let body = key_body(key).ok_or_else(|| {
            AppError::BadRequest(
                "key must be an OpenSSH public key line (ssh-ed25519 AAAA…), e.g. from ssh-keyscan"
                    .into(),
            )
        })?;
        let public = parse_public(&body)?;
        self.insert_known_host(&host, port, &public, "pinned", Some(caller.id()))
    }

    fn insert_known_host(
        &self,
        host: &str,
        port: u16,
        key: &PublicKey,
        source: &str,
        by: Option<UserId>,
    ) -> AppResult<KnownHost> {
        let line = key_line(key);
        let w = self.store.write()?;
        let existing: Vec<KnownHost> = w.known_hosts()?;
        if let HostCheck::Trusted(id) = check_host(&existing, host, port, &line) {
            return existing
                .into_iter()
                .find(|e| e.id == id)
                .ok_or_else(|| AppError::Internal("known host vanished".into()));
        }
        let kh = KnownHost {
            id: w.new_known_host_id()?,
            host: host.to_string(),
            port,
            key: line,
            fingerprint: fingerprint(key),
            source: source.into(),
            created_by: by,
            created_at: crate::domain::model::now(),
            last_seen_at: None,
        };
        w.put_known_host(&kh)?;
        w.commit()?;
        Ok(kh)
    }

    pub fn delete_known_host(&self, caller: &Identity, id: KnownHostId) -> AppResult<()> {
        require_admin(caller)?;
        let w = self.store.write()?;
        if !w.delete_known_host(id)? {
            return Err(AppError::NotFound(format!("Known host {id} not found")));
        }
        w.commit()?;
        Ok(())
    }

    /// Ask a server for its host key without trusting it; with `pin`, trust it.
    /// Returns the key line, its fingerprint and what the known-hosts list says about it.
    pub async fn scan_host(
        &self,
        caller: &Identity,
        host: &str,
        port: u16,
        pin: bool,
    ) -> AppResult<(String, String, HostKeyState)> {
        require_admin(caller)?;
        let host = checked_host(host, port)?;
        let key = probe_host_key(&host, port)
            .await
            .map_err(AppError::Upstream)?;
        let line = key_line(&key);
        let entries = self.list_known_hosts(caller)?;
        let state = check_host(&entries, &host, port, &line).state();
        if pin && state == HostKeyState::Unknown {
            self.insert_known_host(&host, port, &key, "pinned", Some(caller.id()))?;
            return Ok((line, fingerprint(&key), HostKeyState::Trusted));
        }
        Ok((line, fingerprint(&key), state))
    }

    /// Check (and on first use learn) the host key of an SSH remote.
    async fn verified_host_keys(&self, host: &str, port: u16) -> AppResult<Vec<String>> {
        let label = host_label(host, port);
        let offered = probe_host_key(host, port)
            .await
            .map_err(AppError::Upstream)?;
        let line = key_line(&offered);
        let entries: Vec<KnownHost> = {
            let r = self.store.read()?;
            r.known_hosts()?
        };
        match check_host(&entries, host, port, &line) {
            HostCheck::Trusted(_) => {}
            HostCheck::Changed(known) => {
                tracing::warn!(host = %label, known = %known.fingerprint, offered = %fingerprint(&offered), "ssh host key changed; refused");
                return Err(AppError::Conflict(format!(
                    "HOST KEY CHANGED for {label}: aiops trusts {} ({}, since {}) but the server now offers {}. \
                     Refusing to connect: this may be an attack. If the server's key really changed, \
                     remove the old entry (aiops known-hosts delete {}) and connect again.",
                    known.fingerprint,
                    known.source,
                    known.created_at.format("%Y-%m-%d"),
                    fingerprint(&offered),
                    known.id
                )));
            }
            HostCheck::Unknown => {
                if !self.trust_on_first_use()? {
                    return Err(AppError::BadRequest(format!(
                        "Host key of {label} is not known ({}) and trust on first use is off. \
                         Check the fingerprint with the host's owner, then pin it: \
                         aiops known-hosts scan {host} --port {port} --pin",
                        fingerprint(&offered)
                    )));
                }
                let kh = self.insert_known_host(host, port, &offered, "tofu", None)?;
                tracing::info!(host = %label, fingerprint = %kh.fingerprint, "ssh host key learned on first use");
            }
        }
        Ok(vec![line])
    }

    /// Environment for a git child that talks to `project`'s remote. Empty for non-SSH
    /// remotes. For SSH: the decrypted key and the trusted host key travel in the child's
    /// environment only (never on disk), and `GIT_SSH_COMMAND` runs this binary's client.
    pub(crate) async fn git_ssh_env(&self, project: &Project) -> AppResult<Vec<(String, String)>> {
        let Some(target) = ssh_target(&project.repo_url) else {
            return Ok(Vec::new());
        };
        let key = {
            let r = self.store.read()?;
            self.key_for_project(&r, project)?
        };
        let Some(key) = key else {
            return Err(AppError::BadRequest(format!(
                "Project {} uses SSH ({}) but no SSH key is assigned to it or its tenant. \
                 Generate one (aiops ssh-keys add --name deploy --tenant {}), add its public key \
                 to the repository host, and try again.",
                project.name, project.repo_url, project.tenant_id
            )));
        };
        let known = self.verified_host_keys(&target.host, target.port).await?;
        let private = self
            .secrets
            .decrypt(key.private_key_enc.as_deref().unwrap_or_default())?;
        let exe = std::env::current_exe()
            .map_err(|e| AppError::Internal(format!("cannot find the aiops binary: {e}")))?;
        Ok(vec![
            (
                "GIT_SSH_COMMAND".into(),
                format!("{} ssh-git", sh_quote(&exe.to_string_lossy())),
            ),
            ("GIT_SSH_VARIANT".into(), "ssh".into()),
            (ENV_KEY.into(), private),
            (ENV_KNOWN.into(), known.join("\n")),
        ])
    }
}

/// For the SQLite import: the public line, SHA-256 fingerprint and encrypted private key of a
/// key pair from the Python aiops (the private half may be missing or unreadable: then None,
/// with the reason).
#[cfg_attr(not(feature = "import-sqlite"), allow(dead_code))] // only the SQLite import
pub(crate) fn import_key_material(
    secrets: &super::secrets::Secrets,
    public: &str,
    private: Option<&str>,
) -> AppResult<(String, String, Option<String>, Option<String>)> {
    let (public_key, enc, warning) = match private.map(parse_private) {
        Some(Ok(k)) => {
            let enc = secrets.encrypt(&openssh_private(&k)?)?;
            (k.public_key().clone(), Some(enc), None)
        }
        Some(Err(e)) => (parse_public(public)?, None, Some(e.to_string())),
        None => (parse_public(public)?, None, None),
    };
    let line = public_key
        .to_openssh()
        .map_err(|e| AppError::Internal(format!("cannot encode the public key: {e}")))?;
    Ok((line, fingerprint(&public_key), enc, warning))
}

/// A host name or address to pin or scan, trimmed and lower-cased; refused (400) before any
/// connection when empty, with a user, path, spaces or control characters, or on port 0.
fn checked_host(host: &str, port: u16) -> AppResult<String> {
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() {
        return Err(AppError::BadRequest(
            "host is required: give the SSH server's host name or address (e.g. github.com)".into(),
        ));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return Err(AppError::BadRequest(
            "host must be a host name or address (no user, path or spaces)".into(),
        ));
    }
    if port == 0 {
        return Err(AppError::BadRequest("port must be 1-65535".into()));
    }
    Ok(host)
}
