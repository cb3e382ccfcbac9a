//! Users, web sessions, API keys and the first-start bootstrap.

use crate::auth::password::{dummy_hash, hash_password, verify_password};
use crate::auth::ratelimit::FailureLimiter;
use crate::auth::{AuthMethod, Identity};
use crate::config::Config;
use crate::domain::ProjectId;
use crate::domain::keys::{self, check_requested_scopes, key_unusable};
use crate::domain::rules::{normalize_email, validate_name, validate_password};
use crate::domain::{ApiKey, ApiKeyId, Scope, User, UserId, WebSession};
use crate::error::{AppError, AppResult};
use crate::services::secrets::Secrets;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::tenancy::TenancyReads;
use chrono::Duration;
use std::sync::Arc;

/// What the first start did.
pub enum Bootstrap {
    /// Users exist already.
    Ready,
    /// An admin was created from AIOPS_ADMIN_EMAIL / AIOPS_ADMIN_PASSWORD.
    AdminCreated(String),
    /// No users and no admin credentials: this one-time token lets the first visitor create one.
    SetupToken(String),
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub is_admin: bool,
}

#[derive(Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    pub linux_username: Option<Option<String>>,
    /// A new password (validated with everything else before anything is saved).
    pub password: Option<String>,
}

/// Don't write `last_used_at` more often than this per key: authentication stays read-only.
pub(crate) const LAST_USED_RESOLUTION_SECS: i64 = 60;

fn random_token() -> String {
    keys::generate_key()[keys::KEY_PREFIX.len()..].to_string()
}

/// Users, logins, API keys, personal tokens and settings.
pub struct Accounts {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) secrets: Arc<Secrets>,
    /// Failed web logins per client IP.
    pub login_limiter: FailureLimiter,
    /// Failed API authentications per client IP.
    pub api_limiter: FailureLimiter,
}

impl Accounts {
    pub fn user_count(&self) -> AppResult<u64> {
        let r = self.store.read()?;
        r.user_count()
    }

    pub fn bootstrap(&self) -> AppResult<Bootstrap> {
        if self.user_count()? > 0 {
            return Ok(Bootstrap::Ready);
        }
        if let (Some(email), Some(password)) = (
            self.config.admin_email.clone(),
            self.config.admin_password.clone(),
        ) {
            let u = self.create_user(
                &Identity::system(),
                NewUser {
                    email: &email,
                    name: "Administrator",
                    password: &password,
                    is_admin: true,
                },
            )?;
            return Ok(Bootstrap::AdminCreated(u.email));
        }
        let token = random_token();
        let w = self.store.write()?;
        w.put_setup_token_digest(&keys::digest(&token))?;
        w.commit()?;
        Ok(Bootstrap::SetupToken(token))
    }

    pub fn setup_pending(&self) -> AppResult<bool> {
        let r = self.store.read()?;
        Ok(r.setup_token_digest()?.is_some() && r.user_count()? == 0)
    }

    /// True when `token` is the pending one-time setup token (constant-time comparison).
    pub fn setup_token_valid(&self, token: &str) -> AppResult<bool> {
        let r = self.store.read()?;
        if r.user_count()? > 0 {
            return Ok(false);
        }
        let stored = r.setup_token_digest()?;
        Ok(stored.is_some_and(|d| {
            subtle::ConstantTimeEq::ct_eq(d.as_slice(), keys::digest(token.trim()).as_bytes())
                .into()
        }))
    }

    /// Create the first admin with the one-time setup token.
    pub fn complete_setup(&self, token: &str, new: NewUser) -> AppResult<User> {
        if !self.setup_token_valid(token)? {
            return Err(AppError::Forbidden(
                "The setup link is invalid or was already used. Restart the server to get a new one, or use `aiops admin create-user`.".into(),
            ));
        }
        let user = self.create_user(
            &Identity::system(),
            NewUser {
                is_admin: true,
                ..new
            },
        )?;
        let w = self.store.write()?;
        w.delete_setup_token()?;
        w.commit()?;
        Ok(user)
    }

    /// Create a user (administrators, or the system caller for bootstrap and offline commands).
    pub fn create_user(&self, caller: &Identity, new: NewUser) -> AppResult<User> {
        caller.require_admin()?;
        let email = normalize_email(new.email).map_err(AppError::BadRequest)?;
        let name = validate_name("Name", new.name).map_err(AppError::BadRequest)?;
        validate_password(new.password).map_err(AppError::BadRequest)?;
        let password_hash = hash_password(new.password)?;
        let w = self.store.write()?;
        if w.user_id_by_email(&email)?.is_some() {
            return Err(AppError::Conflict(format!(
                "A user with email {email} already exists"
            )));
        }
        let now = crate::domain::model::now();
        let user = User {
            id: w.new_user_id()?,
            email,
            name,
            password_hash,
            is_admin: new.is_admin,
            linux_username: None,
            aiops_cli_url: None,
            aiops_cli_api_key: None,
            created_at: now,
            updated_at: now,
        };
        w.put_user(&user)?;
        w.commit()?;
        tracing::info!(user = user.id.get(), admin = user.is_admin, "user created");
        Ok(user)
    }

    /// One user: yourself, or anyone for administrators.
    pub fn get_user(&self, caller: &Identity, id: UserId) -> AppResult<User> {
        caller.require(Scope::Read)?;
        if caller.id() != id {
            caller.require_admin()?;
        }
        let r = self.store.read()?;
        r.get_user(id)?
            .ok_or_else(|| AppError::NotFound(format!("User {id} not found")))
    }

    pub fn find_user_by_email(&self, email: &str) -> AppResult<Option<User>> {
        let r = self.store.read()?;
        r.user_by_email(&email.trim().to_lowercase())
    }

    pub fn list_users(&self, caller: &Identity) -> AppResult<Vec<User>> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let mut users = r.users()?;
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }

    /// Change a user (administrators). Everything is validated (and a new password hashed)
    /// first, then written in one transaction: a bad field changes nothing.
    pub fn update_user(&self, caller: &Identity, id: UserId, upd: UserUpdate) -> AppResult<User> {
        caller.require_admin()?;
        let name = upd
            .name
            .map(|n| validate_name("Name", &n).map_err(AppError::BadRequest))
            .transpose()?;
        let email = upd
            .email
            .map(|e| normalize_email(&e).map_err(AppError::BadRequest))
            .transpose()?;
        let linux_username = upd
            .linux_username
            .map(|lu| {
                match lu.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
                    Some(s) if crate::domain::git::valid_linux_username(&s) => Ok(Some(s)),
                    Some(s) => Err(AppError::BadRequest(format!(
                        "'{s}' is not a valid Linux user name (letters, digits, '.', '_' and '-', at most 32 characters, not starting with '-' or '.')"
                    ))),
                    None => Ok(None),
                }
            })
            .transpose()?;
        let password_hash = match upd.password.as_deref() {
            Some(p) => {
                validate_password(p).map_err(AppError::BadRequest)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let w = self.store.write()?;
        let mut user = w
            .get_user(id)?
            .ok_or_else(|| AppError::NotFound(format!("User {id} not found")))?;
        let old_email = user.email.clone();
        if let Some(email) = &email
            && *email != user.email
            && w.user_id_by_email(email)?.is_some()
        {
            return Err(AppError::Conflict(format!(
                "A user with email {email} already exists"
            )));
        }
        if let Some(is_admin) = upd.is_admin
            && user.is_admin
            && !is_admin
            && w.admin_count()? <= 1
        {
            return Err(AppError::BadRequest(
                "The last administrator cannot be demoted".into(),
            ));
        }
        // Every check passed: write.
        if let Some(n) = name {
            user.name = n;
        }
        if let Some(email) = email
            && email != old_email
        {
            user.email = email; // put_user moves the email index entry
        }
        if let Some(is_admin) = upd.is_admin {
            if !is_admin {
                // A non-admin can never hold admin-scope keys.
                for mut k in w.api_keys_of_user(id)? {
                    if k.scopes.contains(&Scope::Admin) {
                        k.scopes.retain(|s| *s != Scope::Admin);
                        if k.scopes.is_empty() {
                            k.scopes.push(Scope::Read);
                        }
                        w.put_api_key(&k)?;
                    }
                }
            }
            user.is_admin = is_admin;
        }
        if let Some(lu) = linux_username {
            user.linux_username = lu;
        }
        if let Some(hash) = password_hash {
            user.password_hash = hash;
            w.end_web_sessions_of(id)?;
        }
        user.updated_at = crate::domain::model::now();
        w.put_user(&user)?;
        w.commit()?;
        Ok(user)
    }

    /// Set a user's password (administrators, or the system caller for offline commands).
    pub fn set_password(&self, caller: &Identity, id: UserId, password: &str) -> AppResult<()> {
        caller.require_admin()?;
        self.store_password(id, password)
    }

    fn store_password(&self, id: UserId, password: &str) -> AppResult<()> {
        validate_password(password).map_err(AppError::BadRequest)?;
        let hash = hash_password(password)?;
        let w = self.store.write()?;
        let mut user = w
            .get_user(id)?
            .ok_or_else(|| AppError::NotFound(format!("User {id} not found")))?;
        user.password_hash = hash;
        user.updated_at = crate::domain::model::now();
        w.put_user(&user)?;
        w.end_web_sessions_of(id)?;
        w.commit()?;
        Ok(())
    }

    pub fn change_own_password(
        &self,
        caller: &Identity,
        current: &str,
        new: &str,
    ) -> AppResult<()> {
        if !verify_password(current, &caller.user.password_hash) {
            return Err(AppError::BadRequest("Current password is incorrect".into()));
        }
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        self.store_password(caller.id(), new)
    }

    pub fn delete_user(&self, caller: &Identity, id: UserId) -> AppResult<()> {
        caller.require_admin()?;
        if caller.id() == id {
            return Err(AppError::BadRequest(
                "You cannot delete your own account".into(),
            ));
        }
        let w = self.store.write()?;
        let user = w
            .get_user(id)?
            .ok_or_else(|| AppError::NotFound(format!("User {id} not found")))?;
        let owned = w.project_ids_of_owner(id)?;
        if !owned.is_empty() {
            return Err(AppError::Conflict(format!(
                "{} owns {} project(s); reassign or delete them first",
                user.email,
                owned.len()
            )));
        }
        if user.is_admin && w.admin_count()? <= 1 {
            return Err(AppError::BadRequest(
                "The last administrator cannot be deleted".into(),
            ));
        }
        // Keys, pins, credentials, identities, memberships and web sessions go with it.
        w.delete_user(id)?;
        w.commit()?;
        Ok(())
    }

    // ---- web sessions ------------------------------------------------------------------------

    /// Check email and password; on success create a session and return its token.
    pub fn login(&self, email: &str, password: &str, client: &str) -> AppResult<(String, User)> {
        // Counted before the (slow) password check, so a burst cannot race past the limit.
        if let Err(wait) = self.login_limiter.begin_attempt(client) {
            return Err(AppError::TooManyRequests(format!(
                "Too many failed logins. Try again in {wait} seconds."
            )));
        }
        let user = self.find_user_by_email(email)?;
        let ok = match &user {
            Some(u) => verify_password(password, &u.password_hash),
            None => {
                verify_password(password, dummy_hash());
                false
            }
        };
        let Some(mut user) = user.filter(|_| ok) else {
            return Err(AppError::BadRequest("Invalid email or password.".into()));
        };
        self.login_limiter.refund(client);
        if crate::auth::password::is_legacy(&user.password_hash) {
            // Imported from the Python aiops: replace with argon2id now that we know the password.
            let hash = hash_password(password)?;
            let w = self.store.write()?;
            if let Some(mut fresh) = w.get_user(user.id)? {
                fresh.password_hash = hash.clone();
                w.put_user(&fresh)?;
            }
            w.commit()?;
            user.password_hash = hash;
            tracing::info!(
                user = user.id.get(),
                "legacy password hash upgraded to argon2id"
            );
        }
        let token = self.create_session(user.id)?;
        Ok((token, user))
    }

    pub fn create_session(&self, user_id: UserId) -> AppResult<String> {
        let token = random_token();
        let now = crate::domain::model::now();
        let session = WebSession {
            user_id,
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + Duration::hours(self.config.session_hours as i64),
        };
        let w = self.store.write()?;
        w.put_web_session(&keys::digest(&token), &session)?;
        // Expired sessions are swept on each login.
        w.sweep_web_sessions(now)?;
        w.commit()?;
        Ok(token)
    }

    pub fn session_identity(&self, token: &str) -> AppResult<Option<Identity>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let r = self.store.read()?;
        let Some(s) = r.get_web_session(&keys::digest(token))? else {
            return Ok(None);
        };
        if s.expires_at <= crate::domain::model::now() {
            return Ok(None);
        }
        let Some(user) = r.get_user(s.user_id)? else {
            return Ok(None);
        };
        Ok(Some(Identity::from_session(user, s.csrf_token)))
    }

    pub fn logout(&self, token: &str) -> AppResult<()> {
        let w = self.store.write()?;
        w.delete_web_session(&keys::digest(token))?;
        w.commit()?;
        Ok(())
    }

    // ---- API keys ----------------------------------------------------------------------------

    /// Resolve a raw key to an identity. Read-only except for a coarse `last_used_at` update.
    pub fn authenticate_key(&self, raw: &str) -> AppResult<Identity> {
        self.authenticate_key_with(raw, true)
    }

    /// `slow`: also try keys imported from the Python aiops (bcrypt). A client that keeps
    /// presenting bad keys only gets the fast lookup.
    pub fn authenticate_key_with(&self, raw: &str, slow: bool) -> AppResult<Identity> {
        let raw = raw.trim();
        if !keys::looks_like_key(raw) {
            return Err(AppError::unauthorized(
                "Malformed API key: expected 'aiops_' followed by 64 hex characters",
            ));
        }
        let digest = keys::digest(raw);
        let r = self.store.read()?;
        let invalid = || AppError::unauthorized("Invalid API key");
        let id = match r.api_key_id_by_digest(&digest)? {
            Some(id) => id,
            None if slow => {
                drop(r);
                return self.authenticate_legacy_key(raw);
            }
            None => return Err(invalid()),
        };
        let key = r.get_api_key(id)?.ok_or_else(invalid)?;
        let now = crate::domain::model::now();
        if let Some(why) = key_unusable(&key, now) {
            return Err(AppError::unauthorized(why));
        }
        let user = r.get_user(key.user_id)?.ok_or_else(invalid)?;
        drop(r);
        let stale = key
            .last_used_at
            .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_RESOLUTION_SECS);
        let mut key = key;
        if stale {
            key.last_used_at = Some(now);
            let w = self.store.write()?;
            if let Some(mut fresh) = w.get_api_key(key.id)? {
                fresh.last_used_at = Some(now);
                w.put_api_key(&fresh)?;
            }
            w.commit()?;
        }
        Ok(Identity::from_key(user, key))
    }

    /// A key imported from the Python aiops (bcrypt-hashed): found by its 12-character prefix,
    /// checked with bcrypt once, then stored under its SHA-256 digest like any other key.
    fn authenticate_legacy_key(&self, raw: &str) -> AppResult<Identity> {
        let invalid = || AppError::unauthorized("Invalid API key");
        let prefix = format!("legacy:{}:", raw.get(..12).unwrap_or(raw));
        let candidates = self.store.read()?.legacy_api_key_ids(&prefix)?;
        for id in candidates {
            let key: Option<ApiKey> = {
                let r = self.store.read()?;
                r.get_api_key(id)?
            };
            let Some(mut key) = key else { continue };
            let Some(hash) = key.legacy_bcrypt.clone() else {
                continue;
            };
            if !bcrypt::verify(raw, &hash).unwrap_or(false) {
                continue;
            }
            let w = self.store.write()?;
            key.key_digest = keys::digest(raw);
            key.legacy_bcrypt = None;
            w.put_api_key(&key)?; // moves the digest index entry
            w.commit()?;
            tracing::info!(
                key = key.id.get(),
                "imported API key verified and re-indexed"
            );
            return self.authenticate_key(raw);
        }
        Err(invalid())
    }

    /// Create a key for the caller. Scopes are capped by the caller's own (no escalation).
    pub fn create_key(
        &self,
        caller: &Identity,
        name: &str,
        scopes: &[String],
        expires_days: Option<i64>,
    ) -> AppResult<(ApiKey, String)> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let granted = check_requested_scopes(scopes, &caller.scopes, caller.user.is_admin)
            .map_err(|m| {
                if m.starts_with("Invalid") || m.starts_with("At least") {
                    AppError::BadRequest(m)
                } else {
                    AppError::Forbidden(m)
                }
            })?;
        self.insert_key(caller.id(), name, granted, expires_days, None)
    }

    /// Offline creation by `aiops admin create-key` (trusted: runs with access to the data dir).
    pub fn create_key_offline(
        &self,
        email: &str,
        name: &str,
        scopes: &[String],
        expires_days: Option<i64>,
    ) -> AppResult<(ApiKey, String)> {
        let user = self
            .find_user_by_email(email)?
            .ok_or_else(|| AppError::NotFound(format!("No user with email {}", email.trim())))?;
        let granted = check_requested_scopes(scopes, &Scope::ALL, user.is_admin)
            .map_err(AppError::BadRequest)?;
        self.insert_key(user.id, name, granted, expires_days, None)
    }

    pub(crate) fn insert_key(
        &self,
        user_id: UserId,
        name: &str,
        scopes: Vec<Scope>,
        expires_days: Option<i64>,
        project_id: Option<ProjectId>,
    ) -> AppResult<(ApiKey, String)> {
        let name = validate_name("Key name", name).map_err(|m| {
            AppError::BadRequest(if m.ends_with("required") {
                "Key name is required".into()
            } else {
                m
            })
        })?;
        let expires_at = match expires_days {
            None => None,
            Some(d) if (1..=3650).contains(&d) => {
                Some(crate::domain::model::now() + Duration::days(d))
            }
            Some(d) => {
                return Err(AppError::BadRequest(format!(
                    "expires_days must be between 1 and 3650 (got {d})"
                )));
            }
        };
        let raw = keys::generate_key();
        let now = crate::domain::model::now();
        let w = self.store.write()?;
        let key = ApiKey {
            id: w.new_api_key_id()?,
            user_id,
            name,
            key_digest: keys::digest(&raw),
            key_prefix: keys::display_prefix(&raw),
            scopes,
            is_active: true,
            last_used_at: None,
            expires_at,
            created_at: now,
            updated_at: now,
            legacy_bcrypt: None,
            project_id,
        };
        w.put_api_key(&key)?;
        w.commit()?;
        Ok((key, raw))
    }

    pub fn list_keys(&self, caller: &Identity) -> AppResult<Vec<ApiKey>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let mut keys = r.api_keys_of_user(caller.id())?;
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(keys)
    }

    fn own_key(w: &crate::store::WriteTxn, caller: &Identity, id: ApiKeyId) -> AppResult<ApiKey> {
        w.get_api_key(id)?
            .filter(|k| k.user_id == caller.id())
            .ok_or_else(|| AppError::NotFound("API key not found".into()))
    }

    pub fn update_key(
        &self,
        caller: &Identity,
        id: ApiKeyId,
        name: Option<&str>,
        scopes: Option<&[String]>,
        is_active: Option<bool>,
    ) -> AppResult<ApiKey> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let w = self.store.write()?;
        let mut key = Self::own_key(&w, caller, id)?;
        if let Some(n) = name {
            key.name = validate_name("Key name", n).map_err(AppError::BadRequest)?;
        }
        if let Some(s) = scopes {
            key.scopes =
                check_requested_scopes(s, &caller.scopes, caller.user.is_admin).map_err(|m| {
                    if m.starts_with("Invalid") || m.starts_with("At least") {
                        AppError::BadRequest(m)
                    } else {
                        AppError::Forbidden(m)
                    }
                })?;
        }
        if let Some(a) = is_active {
            // Re-activating a key is a grant too: a key cannot revive one with more than itself.
            if a && !key.is_active && caller.method == AuthMethod::ApiKey {
                for s in &key.scopes {
                    caller.require(*s)?;
                }
            }
            key.is_active = a;
        }
        key.updated_at = crate::domain::model::now();
        w.put_api_key(&key)?;
        w.commit()?;
        Ok(key)
    }

    /// Remove a key the server made itself (a session's agent key).
    pub(crate) fn revoke_key_internal(&self, id: ApiKeyId) -> AppResult<()> {
        let w = self.store.write()?;
        w.delete_api_key(id)?;
        w.commit()?;
        Ok(())
    }

    pub fn revoke_key(&self, caller: &Identity, id: ApiKeyId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let w = self.store.write()?;
        Self::own_key(&w, caller, id)?;
        w.delete_api_key(id)?;
        w.commit()?;
        Ok(())
    }
}
