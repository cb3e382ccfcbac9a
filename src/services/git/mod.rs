//! Per-user workspaces (a clone of a project per user) and git operations on them: the
//! workspace types, where a caller's workspace is, and the per-workspace lock. The git CLI is
//! the only git stack (see ARCHITECTURE.md, "Git"): `runner` runs it as a child process;
//! `read` (status, log, branches, diffs), `remote` (clone, pull, fetch, push), `commit`,
//! `branch` (create, check out, merge, delete) are the operations; `files` is the workspace's
//! file I/O (listing, reading, the context file); `worktree` the issue sessions' worktrees.
//!
//! git runs with an argument vector (never a shell), `GIT_TERMINAL_PROMPT=0`, a timeout, and
//! one operation at a time per workspace. Every path from a request is confined to the
//! workspace (no `..`, no absolute paths, no symlink escape); branch names are validated.

use crate::config::Config;
use crate::domain::ProjectId;
use crate::services::sandbox::Sandbox;
use crate::services::secrets::Secrets;
use crate::store::Store;
mod branch;
mod commit;
mod files;
mod read;
mod remote;
mod review;
pub use review::BranchDiff;
pub(crate) mod runner;
mod worktree;

pub use crate::domain::git::CommitInfo;
pub use read::{Branches, current_branch};
pub use runner::KEY_FD;
pub use worktree::{Worktree, WorktreeCommit, WorktreeSubmit, worktrees_dir};

use super::access::project_for;
use crate::auth::Identity;
use crate::domain::access::Action;
use crate::domain::git::{PorcelainStatus, user_dir};
use crate::domain::gitrules::ChangedFile;
use crate::domain::rules::{project_path_slug, tenant_slug, validate_branch};
use crate::domain::{Id, Project, Scope, Tenant};
use crate::error::{AppError, AppResult};
use crate::store::tenancy::TenancyReads;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(super) const QUICK: Duration = Duration::from_secs(60);
pub(super) const NETWORK: Duration = Duration::from_secs(600);

/// One git operation at a time per workspace.
#[derive(Default)]
pub struct GitLocks(Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>);

/// How long a git request waits for another one in the same workspace before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The workspace's git lock, or 409 after a short wait (network operations can take minutes).
pub(super) async fn acquire(
    lock: &Arc<tokio::sync::Mutex<()>>,
) -> AppResult<tokio::sync::MutexGuard<'_, ()>> {
    tokio::time::timeout(LOCK_WAIT, lock.lock())
        .await
        .map_err(|_| {
            AppError::Conflict(
                "Another git operation is running in this workspace; try again when it has finished"
                    .into(),
            )
        })
}

impl GitLocks {
    fn get(&self, p: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(p.to_path_buf()).or_default().clone()
    }
}

pub struct Workspace {
    pub project: Project,
    pub path: PathBuf,
    /// The Linux user git runs as (through `sudo -n`), for workspaces in a user's home.
    pub run_as: Option<String>,
    /// The user's sandbox (None when the sandbox is off).
    pub jail: Option<super::sandbox::Jail>,
    pub author_name: String,
    pub author_email: String,
}

#[derive(Debug, Clone)]
pub struct WorkspaceStatus {
    pub exists: bool,
    pub path: PathBuf,
    pub has_git: bool,
}

#[derive(Debug, Clone, Default)]
pub struct GitStatus {
    pub porcelain: PorcelainStatus,
    pub summary: String,
    pub last_pull: Option<chrono::DateTime<chrono::Utc>>,
    pub last_commit: Option<CommitInfo>,
    pub path: PathBuf,
    /// Every changed file with its badge (the same `git status` run as `porcelain`).
    pub files: Vec<ChangedFile>,
}

/// The diff of one changed file, for the workspace view.
#[derive(Debug, Clone)]
pub struct FileDiff {
    pub path: String,
    /// Its entries in `git status` (one for a file, the new files of a new directory; none
    /// when the path has no changes).
    pub changes: Vec<ChangedFile>,
    /// A unified diff (empty when there are no changes).
    pub text: String,
    /// The diff was longer than `FILE_DIFF_BYTES` and was cut.
    pub truncated: bool,
}

/// The most of a one-file diff the workspace view shows.
pub const FILE_DIFF_BYTES: usize = 512 * 1024;
/// How many files of a new (untracked) directory a diff shows.
pub(super) const NEW_DIR_FILES: usize = 50;

#[derive(Debug, Clone)]
pub struct FileEntry {
    pub name: String,
    pub is_directory: bool,
    pub permissions: String,
    pub size: u64,
}

pub enum FileContent {
    Text(String),
    Binary(Vec<u8>),
}

/// A project's workspace directory under `parent`: `<slug>-<id>`, or the id-less `<slug>` an
/// older version made, while that one exists, the new one does not and no other project of the
/// tenant has the same slug.
fn workspace_dir(parent: &Path, slug: &str, id: Id, slug_shared: bool) -> PathBuf {
    let keyed = parent.join(format!("{slug}-{id}"));
    let legacy = parent.join(slug);
    if !slug_shared && !keyed.exists() && legacy.join(".git").exists() {
        legacy
    } else {
        keyed
    }
}

/// The home directory of a Linux account (through NSS: `getent passwd`).
#[allow(
    clippy::disallowed_methods,
    reason = "getent answers at once from NSS; called from blocking contexts (run_blocking) and at start"
)]
pub(crate) fn linux_home(user: &str) -> AppResult<PathBuf> {
    let out = std::process::Command::new("getent")
        .args(["passwd", user])
        .output()
        .map_err(|e| AppError::Internal(format!("cannot run getent: {e}")))?;
    let line = String::from_utf8_lossy(&out.stdout);
    let home = line.trim().split(':').nth(5).filter(|h| h.starts_with('/'));
    match home {
        Some(h) if out.status.success() => Ok(PathBuf::from(h)),
        _ => Err(AppError::BadRequest(format!(
            "Linux user '{user}' does not exist on this server (or has no home directory): \
             fix the user's Linux username in their settings"
        ))),
    }
}

/// What to do when the caller has no workspace of a project yet.
pub(super) fn not_initialised(p: &Project) -> String {
    format!(
        "Workspace not initialised for project {}: run `aiops workspace init {}` (or POST /projects/{}/workspace/init)",
        p.name, p.name, p.id
    )
}

/// Workspaces: every git operation, workspace files and the SSH keys git uses.
pub struct Git {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) secrets: Arc<Secrets>,
    /// One git operation at a time per workspace.
    pub(crate) git_locks: GitLocks,
    pub(crate) sandbox: Arc<Sandbox>,
}

impl Git {
    /// The caller's workspace for a project (developers and up). Each user has their own clone,
    /// at `<root>/<user>/<tenant slug>/<project slug>-<project id>`: keyed by id, so two
    /// projects never share one. A workspace made by an older version at the path without the id
    /// is still used, unless another project of the tenant has the same slug.
    pub fn workspace(&self, caller: &Identity, project_id: ProjectId) -> AppResult<Workspace> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let project = project_for(&r, caller, project_id, Action::Work)?;
        let tenant: Option<Tenant> = r.get_tenant(project.tenant_id)?;
        let tslug = tenant
            .map(|t| tenant_slug(&t.name, t.id.get()))
            .unwrap_or_else(|| "tenant".into());
        let slug = project_path_slug(&project.name);
        let slug_shared = r
            .projects_in_tenant(project.tenant_id)?
            .iter()
            .any(|o| o.id != project.id && project_path_slug(&o.name) == slug);
        drop(r);
        let linux_user = caller
            .user
            .linux_username
            .as_deref()
            .filter(|_| self.config.linux_user_workspaces)
            .filter(|u| crate::domain::git::valid_linux_username(u));
        let (parent, run_as) = match linux_user {
            Some(u) => (
                linux_home(u)?.join("workspace").join(tslug),
                Some(u.to_string()),
            ),
            None => (
                self.config
                    .workspace_root
                    .join(user_dir(
                        caller.user.linux_username.as_deref(),
                        &caller.user.email,
                        caller.id(),
                    ))
                    .join(tslug),
                None,
            ),
        };
        let path = workspace_dir(&parent, &slug, project.id.get(), slug_shared);
        // A local remote (a path on this machine) is reachable from the sandbox unless it is
        // one of the server's own places (another user's workspace, the data directory).
        let jail = self.sandbox.jail_for(&caller.user)?.map(|j| {
            let remote = project
                .repo_url
                .strip_prefix("file://")
                .unwrap_or(&project.repo_url);
            j.with_rw(Path::new(remote))
        });
        Ok(Workspace {
            project,
            path,
            run_as,
            jail,
            author_name: caller.user.name.clone(),
            author_email: caller.user.email.clone(),
        })
    }

    pub fn workspace_status(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<WorkspaceStatus> {
        let ws = self.workspace(caller, project_id)?;
        Ok(WorkspaceStatus {
            exists: ws.path.is_dir(),
            has_git: ws.path.join(".git").exists(),
            path: ws.path,
        })
    }

    pub(super) async fn ready(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        write: bool,
    ) -> AppResult<(Workspace, Arc<tokio::sync::Mutex<()>>)> {
        if write {
            caller.require(Scope::Write)?;
        }
        let ws = self.workspace(caller, project_id)?;
        if !ws.path.join(".git").exists() {
            return Err(AppError::NotFound(not_initialised(&ws.project)));
        }
        let lock = self.git_locks.get(&ws.path);
        Ok((ws, lock))
    }

    pub(super) fn ref_arg(r: Option<&str>) -> AppResult<Option<String>> {
        r.map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                validate_branch(r).map_err(|e| AppError::BadRequest(format!("Invalid ref: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_workspace_answers_409_instead_of_waiting_behind_a_long_operation() {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let held = lock.clone().lock_owned().await;
        let waited = tokio::spawn({
            let lock = lock.clone();
            async move { acquire(&lock).await.map(|_| ()) }
        });
        match waited.await.unwrap() {
            Err(AppError::Conflict(m)) => assert!(m.contains("Another git operation")),
            other => panic!("expected 409, got {other:?}"),
        }
        drop(held);
        assert!(acquire(&lock).await.is_ok(), "free again once it finished");
    }
}
