//! Services own the logic and the transactions. Each takes the caller's `Identity` and enforces
//! who may do what, so the API and the web UI share one set of rules.

pub mod access;
pub mod accounts;
pub mod ansible;
pub mod audit;
pub mod backup;
pub mod context;
pub mod dashboard;
pub mod demo;
pub mod git;
#[cfg(feature = "import-sqlite")]
pub mod import;
pub mod integrations;
pub mod issues;
pub mod projects;
pub mod sandbox;
pub mod scheduler;
pub mod secrets;
pub mod sessions;
pub mod ssh;
pub mod sshclient;
pub mod sync;
pub mod system;
pub mod tenants;
pub mod terminal;
pub mod trackers;
pub mod workflow;

use crate::auth::ratelimit::FailureLimiter;
use crate::config::Config;
use crate::store::Store;
use std::time::Duration;

pub struct App {
    pub store: Store,
    pub config: Config,
    /// Failed web logins per client IP.
    pub login_limiter: FailureLimiter,
    /// Failed API authentications per client IP.
    pub api_limiter: FailureLimiter,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub secrets: secrets::Secrets,
    /// Shared HTTP client for the trackers (connection pooling, rustls).
    pub http: trackers::Http,
    /// One sync per project link at a time (manual and scheduled runs may overlap).
    pub sync_locks: sync::SyncLocks,
    /// One git operation at a time per workspace.
    pub git_locks: git::GitLocks,
    /// How processes on this machine (agents in tmux) reach this server; set once listening.
    pub self_url: std::sync::OnceLock<String>,
    /// One backup or restore at a time.
    pub backup_lock: tokio::sync::Mutex<()>,
    /// The scheduler's view of its jobs (next and last runs), for status pages.
    pub jobs: scheduler::JobBoard,
    /// Set to true to make the server restart (re-exec) gracefully.
    pub restart: tokio::sync::watch::Sender<bool>,
    /// Playbook runs: concurrency slots and the live ones.
    pub ansible: ansible::AnsibleState,
    /// This app as shared by the server (for work that outlives a request).
    pub me: std::sync::OnceLock<std::sync::Weak<App>>,
    /// Why the agent sandbox cannot be built here (checked at start), if it cannot: agents,
    /// git and project playbooks then refuse to run, with this message.
    pub sandbox_broken: std::sync::OnceLock<String>,
}

impl App {
    pub fn new(store: Store, config: Config) -> crate::error::AppResult<App> {
        let per_minute = config.login_attempts_per_minute;
        let secrets = secrets::Secrets::load(config.secret_key.as_deref(), &config.data_dir)?;
        Ok(App {
            store,
            secrets,
            http: trackers::Http::from_config(&config)?,
            sync_locks: Default::default(),
            git_locks: Default::default(),
            self_url: Default::default(),
            backup_lock: Default::default(),
            jobs: Default::default(),
            restart: tokio::sync::watch::Sender::new(false),
            ansible: ansible::AnsibleState::new(config.ansible_max_concurrent),
            me: Default::default(),
            sandbox_broken: Default::default(),
            login_limiter: FailureLimiter::new(per_minute, Duration::from_secs(60)),
            // Scripts with a wrong key retry; allow more than a person typing, but still bounded.
            api_limiter: FailureLimiter::new(per_minute.saturating_mul(6), Duration::from_secs(60)),
            config,
            started_at: crate::domain::model::now(),
        })
    }
}

impl App {
    /// Wrap in an `Arc` and remember it (see `self_arc`).
    pub fn shared(self) -> std::sync::Arc<App> {
        let app = std::sync::Arc::new(self);
        let _ = app.me.set(std::sync::Arc::downgrade(&app));
        app
    }

    /// The shared app, for work that outlives the current call.
    pub fn self_arc(&self) -> crate::error::AppResult<std::sync::Arc<App>> {
        self.me
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| crate::error::AppError::Internal("the app is shutting down".into()))
    }

    /// The URL an agent on this machine uses for the API (loopback when bound to all addresses).
    pub fn self_url(&self) -> String {
        self.self_url
            .get()
            .cloned()
            .unwrap_or_else(|| format!("http://{}", self.config.bind))
    }
}

/// Version, schema and row counts, for `GET /system/info` and the dashboard.
pub struct SystemSnapshot {
    pub version: &'static str,
    pub schema_version: u64,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub users: u64,
    pub tenants: u64,
    pub projects: u64,
    pub api_keys: u64,
}

impl App {
    pub fn system_info(
        &self,
        caller: &crate::auth::Identity,
    ) -> crate::error::AppResult<SystemSnapshot> {
        use crate::store::accounts::AccountReads;
        use crate::store::tenancy::TenancyReads;
        caller.require(crate::domain::Scope::Read)?;
        let r = self.store.read()?;
        let g = access::Grants::load(&r, caller)?;
        // Administrators get the whole store's counts; everyone else what they can see.
        let (users, tenants, projects, api_keys) = if g.sees_everything() {
            (
                r.user_count()?,
                r.tenant_count()?,
                r.project_count()?,
                r.api_key_count()?,
            )
        } else {
            (
                1,
                r.tenants()?.iter().filter(|t| g.sees_tenant(t.id)).count() as u64,
                g.visible_project_ids(&r)?.map_or(0, |s| s.len() as u64),
                r.api_key_count_of_user(caller.id())?,
            )
        };
        Ok(SystemSnapshot {
            version: env!("CARGO_PKG_VERSION"),
            schema_version: self.store.schema_version()?,
            started_at: self.started_at,
            users,
            tenants,
            projects,
            api_keys,
        })
    }
}

#[cfg(test)]
mod tests;
