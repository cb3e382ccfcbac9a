//! Who is calling, and what they may do: passwords, the caller identity with its effective
//! scopes, ownership checks, and the failed-login limiter.

pub mod password;
pub mod ratelimit;

use crate::domain::keys::{scopes_allowed_for_user, scopes_grant};
use crate::domain::{ApiKey, Scope, User, UserId};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ApiKey,
    Session,
    /// The server itself (scheduler jobs, offline admin commands): no user row behind it.
    System,
}

/// An authenticated caller: the user, how they authenticated, and their effective scopes.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub key: Option<ApiKey>,
    pub method: AuthMethod,
    /// Scopes after capping by the user's role (a non-admin never holds `admin`).
    pub scopes: Vec<Scope>,
    /// For session callers: the CSRF token state-changing requests must echo.
    pub csrf_token: Option<String>,
}

impl Identity {
    pub fn from_key(user: User, key: ApiKey) -> Identity {
        let allowed = scopes_allowed_for_user(user.is_admin);
        let scopes = key
            .scopes
            .iter()
            .copied()
            .filter(|s| allowed.contains(s))
            .collect();
        Identity {
            user,
            key: Some(key),
            method: AuthMethod::ApiKey,
            scopes,
            csrf_token: None,
        }
    }

    pub fn from_session(user: User, csrf_token: String) -> Identity {
        let scopes = scopes_allowed_for_user(user.is_admin);
        Identity {
            user,
            key: None,
            method: AuthMethod::Session,
            scopes,
            csrf_token: Some(csrf_token),
        }
    }

    /// An administrator acting as `user` (the original's `--user` on session start): the
    /// caller's scopes capped by what `user` may hold, no key, so every access check that
    /// follows is `user`'s own. Refused unless the caller is an unlimited admin with the
    /// admin scope.
    pub fn acting_as(&self, user: User) -> Result<Identity, AppError> {
        self.require(Scope::Admin)?;
        self.require_unlimited()?;
        if !self.user.is_admin {
            return Err(AppError::Forbidden(
                "Only administrators can act as another user".into(),
            ));
        }
        let allowed = scopes_allowed_for_user(user.is_admin);
        let scopes = self
            .scopes
            .iter()
            .copied()
            .filter(|s| allowed.contains(s))
            .collect();
        Ok(Identity {
            user,
            key: None,
            method: self.method,
            scopes,
            csrf_token: self.csrf_token.clone(),
        })
    }

    /// The server acting for itself (the scheduler, offline admin commands): an administrator
    /// with every scope and user id 0, which no stored user has.
    pub fn system() -> Identity {
        let now = crate::domain::model::now();
        Identity {
            user: User {
                id: UserId(0),
                email: "system@aiops.invalid".into(),
                name: "aiops (system)".into(),
                password_hash: String::new(),
                is_admin: true,
                linux_username: None,
                aiops_cli_url: None,
                aiops_cli_api_key: None,
                created_at: now,
                updated_at: now,
            },
            key: None,
            method: AuthMethod::System,
            scopes: Scope::ALL.to_vec(),
            csrf_token: None,
        }
    }

    /// The project a session key is limited to (agents' keys reach only their project).
    pub fn project_limit(&self) -> Option<crate::domain::ProjectId> {
        self.key.as_ref().and_then(|k| k.project_id)
    }

    /// Key management and other account-wide acts: refused to keys limited to one project
    /// (an agent must not mint itself a wider key).
    pub fn require_unlimited(&self) -> Result<(), AppError> {
        match self.project_limit() {
            None => Ok(()),
            Some(p) => Err(AppError::Forbidden(format!(
                "This key belongs to an agent session and reaches only project {p}; account settings need your own key"
            ))),
        }
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn has(&self, scope: Scope) -> bool {
        scopes_grant(&self.scopes, scope)
    }

    /// 403 unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "Insufficient permissions: missing required scope '{}'",
                scope.as_str()
            )))
        }
    }

    /// Admin routes need both the admin role and (for keys) the admin scope.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if !self.user.is_admin {
            return Err(AppError::Forbidden("Admin access required".into()));
        }
        self.require(Scope::Admin)
    }
}
