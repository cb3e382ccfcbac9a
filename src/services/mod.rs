//! Services own the logic and the transactions. Each takes the caller's `Identity` and enforces
//! who may do what, so the API and the web UI share one set of rules.

pub mod access;
pub mod accounts;
pub mod agent_watch;
pub mod ansible;
pub mod audit;
pub mod backup;
pub mod context;
pub mod dashboard;
pub mod demo;
pub mod events;
pub mod git;
#[cfg(feature = "import-sqlite")]
pub mod import;
pub mod integrations;
pub mod issues;
pub mod notify;
pub mod projects;
pub mod review;
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
use std::sync::Arc;
use std::time::Duration;

/// The composition root: every capability service, built once at start in dependency order
/// (each service holds only what it names in its struct). Handlers take the service they need
/// (`app.accounts`, `app.trackers`, ...); services never see `App`.
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    /// Users, logins, API keys, personal tokens, settings (and the demo seed).
    pub accounts: Arc<accounts::Accounts>,
    /// Whether agents, git and playbooks can be confined here, and the confinement itself.
    pub sandbox: Arc<sandbox::Sandbox>,
    /// Workspaces: git operations, files, SSH keys.
    pub git: Arc<git::Git>,
    /// Tenants, projects, memberships, access decisions, the dashboard's project cards.
    pub tenancy: Arc<tenants::Tenancy>,
    /// The dashboard's project cards.
    pub dashboard: Arc<dashboard::Dashboard>,
    /// The audit log.
    pub audit: Arc<audit::Audit>,
    /// Integrations, issues, links, pins, mentions, sync.
    pub trackers: Arc<integrations::Trackers>,
    /// Agent sessions in tmux, their terminal, context files and the issue workflow.
    pub sessions: Arc<sessions::Sessions>,
    /// Playbooks, inventories, runs and schedules.
    pub ansible: Arc<ansible::Ansible>,
    /// Backups, restore and the one-time import.
    pub backups: Arc<backup::Backups>,
    /// Status, logs, updates, restart.
    pub system: Arc<system::System>,
    /// The scheduled jobs and what runs them.
    pub scheduler: Arc<scheduler::Scheduler>,
    /// What happened, for the notifier and live views (see `events`).
    pub events: Arc<events::Events>,
    /// Web Push subscriptions, notification preferences and the dispatcher (`notify`).
    pub notify: Arc<notify::Notifier>,
}

impl App {
    pub fn new(store: Store, config: Config) -> crate::error::AppResult<App> {
        let config = Arc::new(config);
        let store = Arc::new(store);
        let events: Arc<events::Events> = Default::default();
        let per_minute = config.login_attempts_per_minute;
        let secrets = Arc::new(secrets::Secrets::load(
            config.secret_key.as_deref(),
            &config.data_dir,
        )?);
        let accounts = Arc::new(accounts::Accounts {
            store: store.clone(),
            config: config.clone(),
            secrets: secrets.clone(),
            login_limiter: FailureLimiter::new(per_minute, Duration::from_secs(60)),
            // Scripts with a wrong key retry; allow more than a person typing, but still bounded.
            api_limiter: FailureLimiter::new(per_minute.saturating_mul(6), Duration::from_secs(60)),
        });
        let sandbox = Arc::new(sandbox::Sandbox {
            config: config.clone(),
            sandbox_broken: Default::default(),
        });
        let git = Arc::new(git::Git {
            store: store.clone(),
            config: config.clone(),
            secrets: secrets.clone(),
            git_locks: Default::default(),
            sandbox: sandbox.clone(),
        });
        let tenancy = Arc::new(tenants::Tenancy {
            store: store.clone(),
            config: config.clone(),
            git: git.clone(),
        });
        let audit = Arc::new(audit::Audit {
            store: store.clone(),
            config: config.clone(),
        });
        let trackers = Arc::new(integrations::Trackers {
            store: store.clone(),
            secrets: secrets.clone(),
            http: trackers::Http::from_config(&config)?,
            sync_locks: Default::default(),
            events: events.clone(),
        });
        let dashboard = Arc::new(dashboard::Dashboard {
            tenancy: tenancy.clone(),
            git: git.clone(),
            trackers: trackers.clone(),
        });
        let jobs: Arc<scheduler::JobBoard> = Default::default();
        let system = Arc::new(system::System {
            store: store.clone(),
            config: config.clone(),
            jobs: jobs.clone(),
            restart: tokio::sync::watch::Sender::new(false),
            started_at: crate::domain::model::now(),
            sandbox: sandbox.clone(),
            http: trackers.http.clone(),
            tool_jobs: Default::default(),
        });
        let sessions = Arc::new(sessions::Sessions {
            store: store.clone(),
            config: config.clone(),
            self_url: Default::default(),
            accounts: accounts.clone(),
            sandbox: sandbox.clone(),
            git: git.clone(),
            audit: audit.clone(),
            trackers: trackers.clone(),
            agent_states: Arc::new(agent_watch::States::new(&config)?),
        });
        let ansible = Arc::new(ansible::Ansible {
            store: store.clone(),
            config: config.clone(),
            state: ansible::AnsibleState::new(config.ansible_max_concurrent),
            git: git.clone(),
            events: events.clone(),
        });
        let backups = Arc::new(backup::Backups {
            store: store.clone(),
            config: config.clone(),
            secrets: secrets.clone(),
            backup_lock: Default::default(),
            sessions: sessions.clone(),
        });
        let scheduler = Arc::new(scheduler::Scheduler {
            store: store.clone(),
            jobs,
            trackers: trackers.clone(),
            ansible: ansible.clone(),
            backups: backups.clone(),
            audit: audit.clone(),
        });
        let notify = Arc::new(notify::Notifier::new(
            store.clone(),
            config.clone(),
            secrets.clone(),
            events.clone(),
            sessions.clone(),
        )?);
        Ok(App {
            config,
            store,
            accounts,
            sandbox,
            git,
            tenancy,
            dashboard,
            audit,
            trackers,
            sessions,
            ansible,
            backups,
            system,
            scheduler,
            events,
            notify,
        })
    }

    /// Wrap in an `Arc`, as the server shares it.
    pub fn shared(self) -> Arc<App> {
        Arc::new(self)
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

impl system::System {
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
