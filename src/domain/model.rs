//! The stored entities. Values are serialised with serde into redb tables (see `store`).
//! New fields must carry `#[serde(default)]` so that rows written by older versions still load.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::*;

/// The bare number under every typed id: the store's key type (tables are keyed by `u64`), and
/// the id of the few rows without a type of their own: pins, audit entries (whose `refs` name
/// rows of any kind) and the global context row. Every other entity has its type in `ids`
/// (`UserId`, `TenantId`, `ProjectId`, `RunId`, …).
pub type Id = u64;
pub type Timestamp = DateTime<Utc>;

/// The current time to the microsecond: every stored and emitted timestamp has at most six
/// fractional digits (Python's `datetime.fromisoformat` before 3.11 rejects more, and the
/// original aiops CLI parses ours with it).
pub fn now() -> Timestamp {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    #[serde(default)]
    pub linux_username: Option<String>,
    #[serde(default)]
    pub aiops_cli_url: Option<String>,
    /// Encrypted at rest (see `services::secrets`) once sessions use it.
    #[serde(default)]
    pub aiops_cli_api_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub color: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    pub local_path: String,
    #[serde(default)]
    pub description: Option<String>,
    pub tenant_id: TenantId,
    pub owner_id: UserId,
    #[serde(default)]
    pub ssh_key_id: Option<SshKeyId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// Hex SHA-256 of the full key. The key itself is never stored.
    pub key_digest: String,
    /// First 12 characters of the key (`aiops_` + 6 hex), for display.
    pub key_prefix: String,
    pub scopes: Vec<Scope>,
    pub is_active: bool,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A key imported from the Python aiops: its bcrypt hash. `key_digest` is then
    /// `legacy:<prefix>:<id>` until the first use, which replaces both with the SHA-256 digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_bcrypt: Option<String>,
    /// A key made for an agent session reaches only this project (as a developer at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
}

/// A user's role in one tenant (all its projects) or in one project. Exactly one of
/// `tenant_id` and `project_id` is set; one row per (user, tenant) and per (user, project).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Membership {
    pub id: MembershipId,
    pub user_id: UserId,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    pub role: super::access::Role,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebSession {
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub id: Id,
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub api_key_id: Option<ApiKeyId>,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Option<String>,
    /// The JSON body with secrets replaced by `***REDACTED***`.
    #[serde(default)]
    pub request_body: Option<serde_json::Value>,
    pub status: u16,
    pub duration_ms: f64,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    /// Where the change was made (rows from before web auditing are API writes).
    #[serde(default)]
    pub source: AuditSource,
    /// The request's `X-Request-Id` (matches the request log line).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The channel an audited change came through.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditSource {
    #[default]
    Api,
    Web,
}

impl AuditSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSource::Api => "api",
            AuditSource::Web => "web",
        }
    }
}

// ---- Entities whose behaviour later capabilities add. Their tables exist from schema v1 so the
// ---- store never needs restructuring; services for them arrive with their issues.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantIntegration {
    pub id: IntegrationId,
    pub tenant_id: TenantId,
    pub provider: String,
    pub name: String,
    #[serde(default)]
    pub base_url: Option<String>,
    /// Encrypted with the master key.
    pub api_token_enc: String,
    #[serde(default)]
    pub settings: serde_json::Value,
    pub enabled: bool,
    #[serde(default)]
    pub sync_cron: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProjectIntegration {
    pub id: LinkId,
    pub project_id: ProjectId,
    pub integration_id: IntegrationId,
    pub external_identifier: String,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub last_synced_at: Option<Timestamp>,
    #[serde(default)]
    pub override_api_token_enc: Option<String>,
    #[serde(default)]
    pub override_base_url: Option<String>,
    #[serde(default)]
    pub override_settings: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comment {
    #[serde(default)]
    pub id: Option<String>,
    pub author: String,
    pub body: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExternalIssue {
    pub id: IssueId,
    pub project_integration_id: LinkId,
    /// Denormalised for the list indexes.
    pub project_id: ProjectId,
    pub tenant_id: TenantId,
    pub external_id: String,
    pub title: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    /// The assignee's tracker identity (login, username, account id).
    #[serde(default)]
    pub assignee_key: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub external_updated_at: Option<Timestamp>,
    #[serde(default)]
    pub last_seen_at: Option<Timestamp>,
    /// Set when the issue no longer appears upstream.
    #[serde(default)]
    pub missing_upstream: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A trusted SSH host key (global: hosts are the same whoever connects).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnownHost {
    pub id: KnownHostId,
    /// Lower-cased host name or address as written in the remote URL.
    pub host: String,
    pub port: u16,
    /// `algorithm base64` (OpenSSH public key form, no comment).
    pub key: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// `tofu` (learned on first use) or `pinned` (entered by an admin).
    pub source: String,
    #[serde(default)]
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub last_seen_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PinnedIssue {
    pub id: Id,
    pub user_id: UserId,
    pub issue_id: IssueId,
    pub pinned_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserCredential {
    pub id: CredentialId,
    pub user_id: UserId,
    pub integration_id: IntegrationId,
    pub api_token_enc: String,
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IdentityMap {
    pub user_id: UserId,
    #[serde(default)]
    pub github_username: Option<String>,
    #[serde(default)]
    pub gitlab_username: Option<String>,
    #[serde(default)]
    pub jira_account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SshKey {
    pub id: SshKeyId,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    /// Encrypted private key (never written to disk in clear).
    #[serde(default)]
    pub private_key_enc: Option<String>,
    pub user_id: UserId,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AiSession {
    pub id: SessionId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    #[serde(default)]
    pub issue_id: Option<IssueId>,
    pub tool: String,
    pub session_id: String,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tmux_target: Option<String>,
    pub started_at: Timestamp,
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    pub is_active: bool,
    /// The API key made for this session's agent (revoked when the session stops).
    #[serde(default)]
    pub api_key_id: Option<ApiKeyId>,
    /// The tmux socket of the session's user.
    #[serde(default)]
    pub tmux_socket: Option<String>,
    #[serde(default)]
    pub workspace_path: Option<String>,
    /// The Linux account the agent runs as (Linux-user workspaces); None: the service user.
    #[serde(default)]
    pub run_as: Option<String>,
    /// How the session ended ("closed", "agent exited, then closed", "tmux session gone", …).
    #[serde(default)]
    pub end_reason: Option<String>,
    /// The tool's own conversation id, read from its output when it ended (Codex and Claude
    /// print one); `domain::sessions::resume_command` uses it.
    #[serde(default)]
    pub tool_session_id: Option<String>,
    /// The session's own branch (`aiops/<issue-id>-<slug>`) when it works in a git worktree
    /// (`workspace_path` is then the worktree); None: the user's workspace itself.
    #[serde(default)]
    pub branch: Option<String>,
    /// The branch the worktree's branch was made from (the project's default branch, or the
    /// base chosen at start).
    #[serde(default)]
    pub base: Option<String>,
    /// The pull (merge) request opened for the session's branch, as last seen.
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
}

/// A pull request (GitHub) or merge request (GitLab) opened for a session's branch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PullRequest {
    /// GitHub's number, GitLab's iid.
    pub number: u64,
    pub url: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    /// `github` or `gitlab`.
    pub provider: String,
    pub head: String,
    pub base: String,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backup {
    pub id: BackupId,
    pub filename: String,
    pub filepath: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_by_user_id: Option<UserId>,
    pub created_at: Timestamp,
    /// None on rows written before kinds were recorded (shown as manual).
    #[serde(default)]
    pub kind: Option<BackupKind>,
    /// SHA-256 of the archive file.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub schema_version: Option<u64>,
}

/// One sync of one project link (manual or scheduled).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncRun {
    pub id: SyncRunId,
    pub project_integration_id: LinkId,
    pub integration_id: IntegrationId,
    pub project_id: ProjectId,
    /// "manual" or "scheduled"
    pub trigger: SyncTrigger,
    /// "running", "success", "failed" or "interrupted"
    pub status: SyncStatus,
    pub full: bool,
    pub started_at: Timestamp,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub fetched: u64,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub updated: u64,
    /// Issues no longer returned upstream (marked, not deleted).
    #[serde(default)]
    pub missing: u64,
    #[serde(default)]
    pub error: Option<String>,
}

/// One `ansible-playbook` run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnsibleRun {
    pub id: RunId,
    pub user_id: UserId,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    /// The playbook as listed (`example.yml`, or a path in the project's checkout).
    pub playbook: String,
    /// The inventory file or the hosts given.
    pub inventory: String,
    #[serde(default)]
    pub extra_vars: Option<serde_json::Value>,
    pub check: bool,
    /// The arguments after `ansible-playbook`.
    #[serde(default)]
    pub args: Vec<String>,
    pub status: RunStatus,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The combined output (capped; the cap is noted at its end).
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
}

/// A playbook run on a cron expression.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnsibleSchedule {
    pub id: ScheduleId,
    pub cron: String,
    pub playbook: String,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    #[serde(default)]
    pub inventory: Option<String>,
    #[serde(default)]
    pub hosts: Option<String>,
    #[serde(default)]
    pub extra_vars: Option<serde_json::Value>,
    pub check: bool,
    pub enabled: bool,
    /// Runs as this user.
    pub created_by: UserId,
    #[serde(default)]
    pub last_run_id: Option<RunId>,
    pub created_at: Timestamp,
}

// ---- Statuses, triggers and kinds of the rows above. Every word is one this program wrote
// ---- (none of these rows comes from the SQLite import), so each set is closed: serde reads and
// ---- writes exactly the words the string fields held, and an unknown word is a decode error.
// ---- Tracker issue statuses (`ExternalIssue::status`) are the trackers' own words and stay
// ---- strings (`domain::issues` normalises them).

/// Why a sync ran.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SyncTrigger {
    /// A caller asked (API, web, CLI).
    Manual,
    /// The scheduler started it (the integration's `sync_cron`).
    Scheduled,
}

impl SyncTrigger {
    pub const ALL: [SyncTrigger; 2] = [SyncTrigger::Manual, SyncTrigger::Scheduled];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncTrigger::Manual => "manual",
            SyncTrigger::Scheduled => "scheduled",
        }
    }
}

/// Where a sync run is: `running` until it ends `success` or `failed`; a run left `running` by
/// a stopped server is marked `interrupted` at start-up.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Running,
    Success,
    Failed,
    Interrupted,
}

impl SyncStatus {
    pub const ALL: [SyncStatus; 4] = [
        SyncStatus::Running,
        SyncStatus::Success,
        SyncStatus::Failed,
        SyncStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Running => "running",
            SyncStatus::Success => "success",
            SyncStatus::Failed => "failed",
            SyncStatus::Interrupted => "interrupted",
        }
    }

    /// The run has ended (it changes no more).
    pub fn is_terminal(self) -> bool {
        !matches!(self, SyncStatus::Running)
    }
}

/// Where an Ansible run is: `queued` (waiting for a slot), `running`, then one of `succeeded`,
/// `failed` (also: the server stopped while it was live) or `cancelled`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The run has ended: its status, exit code and output change no more.
    pub fn is_terminal(self) -> bool {
        !self.is_live()
    }

    /// Queued or running: the run can still be followed and cancelled.
    pub fn is_live(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// An admin asked for it.
    Manual,
    /// The backup schedule took it (only these count for retention).
    Scheduled,
    /// Taken before a restore.
    Safety,
    /// An archive an admin uploaded to restore from.
    Uploaded,
}

impl BackupKind {
    pub const ALL: [BackupKind; 4] = [
        BackupKind::Manual,
        BackupKind::Scheduled,
        BackupKind::Safety,
        BackupKind::Uploaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Manual => "manual",
            BackupKind::Scheduled => "scheduled",
            BackupKind::Safety => "safety",
            BackupKind::Uploaded => "uploaded",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(SyncTrigger, SyncStatus, RunStatus, BackupKind);

#[cfg(test)]
mod tests {
    use super::*;

    /// serde writes and reads exactly the words `as_str` gives (the words the string fields
    /// held), so stored rows and API JSON are unchanged.
    fn round_trips<T>(all: &[T], word: fn(&T) -> &'static str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug + std::fmt::Display,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", word(v)));
            assert_eq!(v.to_string(), word(v));
            assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v);
        }
        assert!(serde_json::from_str::<T>("\"Running\"").is_err());
    }

    #[test]
    fn words_are_the_stored_ones() {
        round_trips(&SyncTrigger::ALL, |v| v.as_str());
        round_trips(&SyncStatus::ALL, |v| v.as_str());
        round_trips(&RunStatus::ALL, |v| v.as_str());
        round_trips(&BackupKind::ALL, |v| v.as_str());
        let words = |all: &[&str]| all.join(",");
        assert_eq!(
            words(&SyncStatus::ALL.map(SyncStatus::as_str)),
            "running,success,failed,interrupted"
        );
        assert_eq!(
            words(&RunStatus::ALL.map(RunStatus::as_str)),
            "queued,running,succeeded,failed,cancelled"
        );
    }

    #[test]
    fn terminal_states() {
        let ended: Vec<_> = SyncStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            ended,
            [
                SyncStatus::Success,
                SyncStatus::Failed,
                SyncStatus::Interrupted
            ]
        );
        let live: Vec<_> = RunStatus::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [RunStatus::Queued, RunStatus::Running]);
        for s in RunStatus::ALL {
            assert_ne!(s.is_live(), s.is_terminal(), "{s}");
        }
    }

    #[test]
    fn rows_written_with_string_fields_still_load() {
        let run = serde_json::json!({
            "id": 1, "project_integration_id": 2, "integration_id": 3, "project_id": 4,
            "trigger": "scheduled", "status": "interrupted", "full": false,
            "started_at": "2026-01-01T00:00:00Z"
        });
        let run: SyncRun = serde_json::from_value(run).unwrap();
        assert_eq!(
            (run.trigger, run.status),
            (SyncTrigger::Scheduled, SyncStatus::Interrupted)
        );
        let backup = serde_json::json!({
            "id": 1, "filename": "a.tar.gz", "filepath": "/b/a.tar.gz", "size_bytes": 1,
            "created_at": "2026-01-01T00:00:00Z"
        });
        let b: Backup = serde_json::from_value(backup.clone()).unwrap();
        assert_eq!(b.kind, None);
        let mut with_kind = backup;
        with_kind["kind"] = "safety".into();
        let b: Backup = serde_json::from_value(with_kind.clone()).unwrap();
        assert_eq!(b.kind, Some(BackupKind::Safety));
        assert_eq!(serde_json::to_value(&b).unwrap()["kind"], with_kind["kind"]);
    }
}
