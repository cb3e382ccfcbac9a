//! Per-user workspaces (a clone of a project per user) and git operations on them.
//!
//! git runs as a child process with an argument vector (never a shell), `GIT_TERMINAL_PROMPT=0`,
//! a timeout, and one operation at a time per workspace. Every path from a request is confined
//! to the workspace (no `..`, no absolute paths, no symlink escape); branch names are validated.

use super::App;
use super::access::project_for;
use crate::auth::Identity;
use crate::domain::access::Action;
use crate::domain::git::{PorcelainStatus, parse_status_v2, relative_path, user_dir};
use crate::domain::gitrules::{self, BranchPick, ChangedFile};
use crate::domain::rules::{project_path_slug, tenant_slug, validate_branch};
use crate::domain::{Id, Project, Scope, Tenant};
use crate::error::{AppError, AppResult};
use crate::store::tables::*;
use crate::store::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(60);
const NETWORK: Duration = Duration::from_secs(600);
const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
const MAX_DIFF_BYTES: usize = 2 * 1024 * 1024;

/// One git operation at a time per workspace.
#[derive(Default)]
pub struct GitLocks(Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>);

/// How long a git request waits for another one in the same workspace before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The workspace's git lock, or 409 after a short wait (network operations can take minutes).
async fn acquire(lock: &Arc<tokio::sync::Mutex<()>>) -> AppResult<tokio::sync::MutexGuard<'_, ()>> {
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
const NEW_DIR_FILES: usize = 50;

#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub hash: String,
    pub author: String,
    pub email: String,
    pub date: String,
    pub subject: String,
}

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

struct GitOut {
    ok: bool,
    /// The exit code (None when a signal ended git).
    code: Option<i32>,
    /// Stdout was cut at the caller's limit (`run_git_limited`).
    truncated: bool,
    stdout: String,
    stderr: String,
}

/// Variables a git child needs; with sudo they are passed on by name (`--preserve-env`).
const GIT_ENV_NAMES: [&str; 3] = ["GIT_TERMINAL_PROMPT", "GIT_ASKPASS", "LC_ALL"];

/// The descriptor `aiops ssh-git` reads the private key from (`AIOPS_SSH_KEY_FD`).
pub const KEY_FD: i32 = 9;

/// Options that keep a workspace's own configuration from running programs when the server
/// runs git there (an agent can write `.git/config` and `.git/hooks`).
const SAFE_GIT: [&str; 6] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.ext.allow=never",
];

/// Run git in `dir`: in the user's sandbox when there is one, as `run_as` through
/// `sudo -n -H -u <user>` when given. A private key in `env` (under `ssh::ENV_KEY`) is never put
/// in the environment or argv: it goes through a pipe on the child's stdin, which a tiny shell
/// moves to descriptor `KEY_FD` (read once by `aiops ssh-git`, then empty).
async fn run_git(
    ws: &Workspace,
    dir: &Path,
    args: &[&str],
    timeout: Duration,
    env: &[(String, String)],
) -> AppResult<GitOut> {
    run_git_limited(ws, dir, args, timeout, env, None).await
}

/// `run_git` that keeps at most `limit` bytes of stdout: past it the pipe is closed (git stops
/// on SIGPIPE) and the answer is marked truncated, so a huge diff never fills memory.
async fn run_git_limited(
    ws: &Workspace,
    dir: &Path,
    args: &[&str],
    timeout: Duration,
    env: &[(String, String)],
    limit: Option<usize>,
) -> AppResult<GitOut> {
    let run_as = ws.run_as.as_deref();
    let (secret, mut env): (Vec<_>, Vec<_>) = env
        .iter()
        .cloned()
        .partition(|(k, _)| k == super::ssh::ENV_KEY);
    let secret = secret.into_iter().next().map(|(_, v)| v);
    env.extend([
        ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
        ("GIT_ASKPASS".to_string(), "true".to_string()),
        ("LC_ALL".to_string(), "C".to_string()),
    ]);
    let mut git: Vec<String> = vec!["git".into()];
    git.extend(SAFE_GIT.iter().map(|s| s.to_string()));
    git.extend(args.iter().map(|s| s.to_string()));
    if secret.is_some() {
        env.push((super::ssh::ENV_KEY_FD.to_string(), KEY_FD.to_string()));
        let mut wrapped: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            format!("exec {KEY_FD}<&0 </dev/null; exec \"$@\""),
            "sh".into(),
        ];
        wrapped.extend(git);
        git = wrapped;
    }
    let (program, argv, pass_env) = match (&ws.jail, run_as) {
        (Some(jail), _) => {
            let (p, a) = jail.argv(&git, Some(dir), true, &env, &[]);
            (p, a, Vec::new())
        }
        (None, None) => (git[0].clone(), git[1..].to_vec(), env.clone()),
        (None, Some(user)) => {
            let names: Vec<&str> = GIT_ENV_NAMES
                .iter()
                .copied()
                .chain(env.iter().map(|(k, _)| k.as_str()))
                .collect();
            let mut a = vec![
                "-n".to_string(),
                "-H".into(),
                "-u".into(),
                user.to_string(),
                format!("--preserve-env={}", names.join(",")),
                "--".into(),
            ];
            a.extend(git);
            ("sudo".to_string(), a, env.clone())
        }
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&argv)
        .envs(pass_env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(if secret.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match (run_as, ws.jail.is_some()) {
        (_, true) => AppError::Internal(format!(
            "cannot run git in the agent sandbox (is bubblewrap installed? apt-get install bubblewrap): {e}"
        )),
        (None, false) => AppError::Internal(format!("cannot run git (is it installed?): {e}")),
        (Some(u), false) => AppError::Internal(format!(
            "cannot run sudo to act as Linux user {u} (is sudo installed?): {e}"
        )),
    })?;
    if let (Some(key), Some(mut stdin)) = (secret, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        // The key is far smaller than a pipe's buffer; closing stdin ends it.
        let _ = stdin.write_all(key.as_bytes()).await;
        drop(stdin);
    }
    let too_long = || {
        AppError::Upstream(format!(
            "git {} took longer than {}s and was stopped",
            args.first().unwrap_or(&""),
            timeout.as_secs()
        ))
    };
    let (out, truncated) = match limit {
        None => (
            tokio::time::timeout(timeout, child.wait_with_output())
                .await
                .map_err(|_| too_long())?
                .map_err(|e| AppError::Internal(format!("git failed: {e}")))?,
            false,
        ),
        Some(limit) => tokio::time::timeout(timeout, read_limited(child, limit))
            .await
            .map_err(|_| too_long())?
            .map_err(|e| AppError::Internal(format!("git failed: {e}")))?,
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if let Some(u) = run_as
        && !out.status.success()
        && (stderr.contains("a password is required") || stderr.contains("not allowed to"))
    {
        return Err(AppError::Internal(format!(
            "sudo refused to run git as Linux user {u}: {stderr}. Allow the aiops service user \
             passwordless sudo to {u} with SETENV for git (see README, Linux-user workspaces)."
        )));
    }
    Ok(GitOut {
        ok: out.status.success() || truncated,
        code: out.status.code(),
        truncated,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    })
}

/// Wait for `child`, keeping at most `limit` bytes of its stdout (and 64 KB of stderr). Past
/// the limit the read end of stdout is closed, which stops git (SIGPIPE).
async fn read_limited(
    mut child: tokio::process::Child,
    limit: usize,
) -> std::io::Result<(std::process::Output, bool)> {
    use tokio::io::AsyncReadExt;
    let so = child.stdout.take();
    let se = child.stderr.take();
    let stdout = async move {
        let mut buf = Vec::new();
        if let Some(mut so) = so {
            (&mut so)
                .take(limit as u64 + 1)
                .read_to_end(&mut buf)
                .await?;
            // Dropping `so` here closes the pipe: a git still writing gets SIGPIPE.
        }
        Ok::<_, std::io::Error>(buf)
    };
    let stderr = async move {
        let mut buf = Vec::new();
        if let Some(mut se) = se {
            (&mut se).take(64 * 1024).read_to_end(&mut buf).await?;
            // Keep draining (and dropping) the rest so git never blocks on a full pipe.
            tokio::io::copy(&mut se, &mut tokio::io::sink()).await?;
        }
        Ok::<_, std::io::Error>(buf)
    };
    let (mut out, err) = tokio::try_join!(stdout, stderr)?;
    let truncated = out.len() > limit;
    out.truncate(limit);
    let status = child.wait().await?;
    Ok((
        std::process::Output {
            status,
            stdout: out,
            stderr: err,
        },
        truncated,
    ))
}

impl Workspace {
    async fn git(&self, args: &[&str], timeout: Duration) -> AppResult<GitOut> {
        run_git(self, &self.path, args, timeout, &[]).await
    }

    async fn git_env(
        &self,
        args: &[&str],
        timeout: Duration,
        env: &[(String, String)],
    ) -> AppResult<GitOut> {
        run_git(self, &self.path, args, timeout, env).await
    }

    /// Create a directory (and its parents) as the workspace's user.
    async fn mkdir_p(&self, dir: &Path) -> AppResult<()> {
        match &self.run_as {
            None => std::fs::create_dir_all(dir)
                .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", dir.display()))),
            Some(u) => {
                let out = tokio::process::Command::new("sudo")
                    .args(["-n", "-H", "-u", u, "--", "mkdir", "-p", "--"])
                    .arg(dir)
                    .output()
                    .await
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(AppError::Internal(format!(
                        "cannot create {} as Linux user {u}: {}",
                        dir.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
            }
        }
    }

    /// Read a text file inside the workspace (as the workspace's user); `None` when missing.
    pub(crate) async fn read_text(&self, rel: &str) -> AppResult<Option<String>> {
        let path = self.path.join(rel);
        match &self.run_as {
            // An agent controls the workspace: never follow a link out of it (AGENTS.md ->
            // the server's secret.key would copy the key into the context file).
            None if path.exists() && !stays_inside(&self.path, &path) => Err(AppError::BadRequest(
                format!("{rel} in the workspace leads outside it; remove the link"),
            )),
            None => match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(AppError::Internal(format!(
                    "cannot read {}: {e}",
                    path.display()
                ))),
            },
            Some(u) => {
                let out = tokio::process::Command::new("sudo")
                    .args(["-n", "-H", "-u", u, "--", "cat", "--"])
                    .arg(&path)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if out.status.success() {
                    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Replace a text file inside the workspace (as the workspace's user).
    pub(crate) async fn write_text(&self, rel: &str, content: &str) -> AppResult<()> {
        let path = self.path.join(rel);
        match &self.run_as {
            None if path.parent().is_some_and(|d| !stays_inside(&self.path, d)) => {
                Err(AppError::BadRequest(format!(
                    "{rel} in the workspace leads outside it; remove the link"
                )))
            }
            None => {
                let tmp = path.with_extension("aiops-tmp");
                std::fs::write(&tmp, content)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .map_err(|e| {
                        AppError::Internal(format!("cannot write {}: {e}", path.display()))
                    })
            }
            Some(u) => {
                let mut child = tokio::process::Command::new("sudo")
                    .args(["-n", "-H", "-u", u, "--", "tee", "--"])
                    .arg(&path)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if let Some(mut stdin) = child.stdin.take() {
                    use tokio::io::AsyncWriteExt;
                    stdin
                        .write_all(content.as_bytes())
                        .await
                        .map_err(|e| AppError::Internal(format!("cannot write: {e}")))?;
                }
                let out = tokio::time::timeout(QUICK, child.wait_with_output())
                    .await
                    .map_err(|_| AppError::Upstream("writing the file took too long".into()))?
                    .map_err(|e| AppError::Internal(format!("cannot write: {e}")))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(AppError::Internal(format!(
                        "cannot write {} as Linux user {u}: {}",
                        path.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
            }
        }
    }

    /// Make git ignore a generated file in this checkout only (`.git/info/exclude`), so that
    /// committing everything never picks it up.
    pub(crate) async fn exclude(&self, name: &str) -> AppResult<()> {
        let rel = ".git/info/exclude";
        let current = self.read_text(rel).await?.unwrap_or_default();
        if current.lines().any(|l| l.trim() == name) {
            return Ok(());
        }
        self.mkdir_p(&self.path.join(".git/info")).await?;
        let mut next = current;
        if !next.is_empty() && !next.ends_with('\n') {
            next.push('\n');
        }
        next.push_str(name);
        next.push('\n');
        self.write_text(rel, &next).await
    }

    /// Remove a failed clone (as the workspace's user).
    async fn remove_dir(&self) {
        match &self.run_as {
            None => {
                let _ = std::fs::remove_dir_all(&self.path);
            }
            Some(u) => {
                let _ = tokio::process::Command::new("sudo")
                    .args(["-n", "-H", "-u", u, "--", "rm", "-rf", "--"])
                    .arg(&self.path)
                    .output()
                    .await;
            }
        }
    }
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

/// Map a failed git command to a clear error (conflicts and rejections are 409).
/// What to do when the caller has no workspace of a project yet.
fn not_initialised(p: &Project) -> String {
    format!(
        "Workspace not initialised for project {}: run `aiops workspace init {}` (or POST /projects/{}/workspace/init)",
        p.name, p.name, p.id
    )
}

fn failed(what: &str, o: &GitOut) -> AppError {
    let detail = if o.stderr.is_empty() {
        o.stdout.trim()
    } else {
        o.stderr.as_str()
    };
    let text = format!("{what}: {detail}");
    if detail.contains("CONFLICT") || detail.contains("conflict") || o.stdout.contains("CONFLICT") {
        let msg = format!("{what}: merge conflicts. {}", o.stdout.trim());
        return AppError::Conflict(format!(
            "{msg} Resolve them and commit, or pull with clean=true to discard local changes."
        ));
    }
    if detail.contains("[rejected]")
        || detail.contains("non-fast-forward")
        || detail.contains("fetch first")
    {
        return AppError::Conflict(format!("{text} (pull first, then push again)"));
    }
    AppError::BadRequest(text)
}

/// The first few paths of `files`, for a message (`a, b, c and 4 more`).
fn names(files: &[ChangedFile]) -> String {
    let shown: Vec<&str> = files.iter().take(5).map(|f| f.path.as_str()).collect();
    match files.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Whether `p` (which exists), with every link resolved, is inside `root`.
fn stays_inside(root: &Path, p: &Path) -> bool {
    match (root.canonicalize(), p.canonicalize()) {
        (Ok(r), Ok(real)) => real.starts_with(r),
        _ => false,
    }
}

fn confined(root: &Path, rel: &Path) -> AppResult<PathBuf> {
    let root = root.canonicalize().map_err(|_| {
        AppError::NotFound(
            "Workspace not initialised: run `aiops workspace init <project>` first".into(),
        )
    })?;
    let full = root.join(rel);
    let real = full
        .canonicalize()
        .map_err(|_| AppError::NotFound(format!("{} not found in the workspace", rel.display())))?;
    if !real.starts_with(&root) {
        return Err(AppError::BadRequest(
            "Invalid path: it leads outside the workspace".into(),
        ));
    }
    // A committed symlink (`gitcfg -> .git/config`) must not open the repository's internals.
    if real.starts_with(root.join(".git")) {
        return Err(AppError::BadRequest(
            "Invalid path: it leads into the .git directory, which is not accessible".into(),
        ));
    }
    Ok(real)
}

fn mode_string(m: u32, dir: bool) -> String {
    let mut s = String::from(if dir { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let b = (m >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

impl App {
    /// The caller's workspace for a project (developers and up). Each user has their own clone,
    /// at `<root>/<user>/<tenant slug>/<project slug>-<project id>`: keyed by id, so two
    /// projects never share one. A workspace made by an older version at the path without the id
    /// is still used, unless another project of the tenant has the same slug.
    pub fn workspace(&self, caller: &Identity, project_id: Id) -> AppResult<Workspace> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let project = project_for(&r, caller, project_id, Action::Work)?;
        let tenant: Option<Tenant> = get_row(&r, TENANTS, project.tenant_id)?;
        let tslug = tenant
            .map(|t| tenant_slug(&t.name, t.id))
            .unwrap_or_else(|| "tenant".into());
        let slug = project_path_slug(&project.name);
        let slug_shared = rows_by_ids::<Project>(
            &r,
            PROJECTS,
            multi_ids(&r, PROJECTS_BY_TENANT, project.tenant_id)?,
        )?
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
        let path = workspace_dir(&parent, &slug, project.id, slug_shared);
        // A local remote (a path on this machine) is reachable from the sandbox unless it is
        // one of the server's own places (another user's workspace, the data directory).
        let jail = self.jail_for(&caller.user)?.map(|j| {
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
        project_id: Id,
    ) -> AppResult<WorkspaceStatus> {
        let ws = self.workspace(caller, project_id)?;
        Ok(WorkspaceStatus {
            exists: ws.path.is_dir(),
            has_git: ws.path.join(".git").exists(),
            path: ws.path,
        })
    }

    /// Clone the project into the caller's workspace; an existing workspace is left as it is.
    /// Returns the path and whether it was created now.
    pub async fn workspace_init(
        &self,
        caller: &Identity,
        project_id: Id,
    ) -> AppResult<(PathBuf, bool)> {
        caller.require(Scope::Write)?;
        let ws = self.workspace(caller, project_id)?;
        let lock = self.git_locks.get(&ws.path);
        let _g = acquire(&lock).await?;
        if ws.path.join(".git").exists() {
            return Ok((ws.path, false));
        }
        if ws.path.exists()
            && std::fs::read_dir(&ws.path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(AppError::Conflict(format!(
                "{} exists and is not a git checkout; move it away and try again",
                ws.path.display()
            )));
        }
        let parent = ws
            .path
            .parent()
            .ok_or_else(|| AppError::Internal("workspace has no parent".into()))?;
        ws.mkdir_p(parent).await?;
        let dest = ws.path.to_string_lossy().into_owned();
        let env = self.git_ssh_env(&ws.project).await?;
        let o = run_git(
            &ws,
            parent,
            &["clone", "--", &ws.project.repo_url, &dest],
            NETWORK,
            &env,
        )
        .await?;
        if !o.ok {
            ws.remove_dir().await;
            return Err(failed(
                &format!("Cloning {} failed", ws.project.repo_url),
                &o,
            ));
        }
        tracing::info!(project = project_id, user = caller.id(), path = %ws.path.display(), "workspace cloned");
        Ok((ws.path, true))
    }

    async fn ready(
        &self,
        caller: &Identity,
        project_id: Id,
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

    pub async fn git_status(&self, caller: &Identity, project_id: Id) -> AppResult<GitStatus> {
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        self.status_in(&ws).await
    }

    /// The caller's workspace status, or (`Ok(Err(reason))`) why there is none: no workspace
    /// yet, git failing, or (with `wait` false) another git operation running. Only the access
    /// decision is an error. `wait` false never waits for the workspace lock.
    pub async fn git_status_or_reason(
        &self,
        caller: &Identity,
        project_id: Id,
        wait: bool,
    ) -> AppResult<Result<GitStatus, String>> {
        let ws = self.workspace(caller, project_id)?;
        if !ws.path.join(".git").exists() {
            return Ok(Err(not_initialised(&ws.project)));
        }
        let lock = self.git_locks.get(&ws.path);
        let guard = if wait {
            acquire(&lock).await
        } else {
            lock.try_lock().map_err(|_| {
                AppError::Conflict(
                    "Another git operation is running in this workspace; ask again when it has finished"
                        .into(),
                )
            })
        };
        let _g = match guard {
            Ok(g) => g,
            Err(e) => return Ok(Err(e.to_string())),
        };
        Ok(self.status_in(&ws).await.map_err(|e| match e {
            AppError::Internal(detail) => {
                tracing::error!(project = project_id, error = %detail, "git status failed");
                "git status failed on the server (see its log); try again, or re-create the workspace with `aiops workspace init`".to_string()
            }
            other => other.to_string(),
        }))
    }

    async fn status_in(&self, ws: &Workspace) -> AppResult<GitStatus> {
        let o = ws
            .git(&["status", "--porcelain=v2", "--branch", "-z"], QUICK)
            .await?;
        if !o.ok {
            return Err(failed("git status failed", &o));
        }
        let porcelain = parse_status_v2(o.stdout.as_bytes());
        let files = gitrules::parse_changes(o.stdout.as_bytes());
        let last_commit = self.last_commit(&ws.path).await?;
        let last_pull = std::fs::metadata(ws.path.join(".git/FETCH_HEAD"))
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                // File times have nanoseconds; every emitted time has at most microseconds.
                chrono::SubsecRound::trunc_subsecs(chrono::DateTime::<chrono::Utc>::from(t), 6)
            });
        let summary = summary_line(&porcelain);
        Ok(GitStatus {
            porcelain,
            files,
            summary,
            last_pull,
            last_commit,
            path: ws.path.clone(),
        })
    }

    async fn last_commit(&self, dir: &Path) -> AppResult<Option<CommitInfo>> {
        Ok(self.log_in(dir, 1).await?.into_iter().next())
    }

    async fn log_in(&self, dir: &Path, limit: usize) -> AppResult<Vec<CommitInfo>> {
        crate::store::run_blocking(|| super::gitread::log(dir, limit))
    }

    pub async fn git_log(
        &self,
        caller: &Identity,
        project_id: Id,
        limit: usize,
    ) -> AppResult<Vec<CommitInfo>> {
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        self.log_in(&ws.path, limit).await
    }

    fn ref_arg(r: Option<&str>) -> AppResult<Option<String>> {
        r.map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                validate_branch(r).map_err(|e| AppError::BadRequest(format!("Invalid ref: {e}")))
            })
            .transpose()
    }

    pub async fn git_pull(
        &self,
        caller: &Identity,
        project_id: Id,
        r: Option<&str>,
        clean: bool,
    ) -> AppResult<String> {
        let r = Self::ref_arg(r)?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let mut log = String::new();
        if clean {
            for args in [&["reset", "--hard"][..], &["clean", "-fd"][..]] {
                let o = ws.git(args, QUICK).await?;
                log.push_str(&o.stdout);
                if !o.ok {
                    return Err(failed("Discarding local changes failed", &o));
                }
            }
        }
        let name = format!("user.name={}", ws.author_name);
        let email = format!("user.email={}", ws.author_email);
        let mut args = vec![
            "-c",
            &name,
            "-c",
            &email,
            "pull",
            "--no-rebase",
            "--no-edit",
        ];
        if let Some(r) = &r {
            args.extend(["origin", r.as_str()]);
        }
        let env = self.git_ssh_env(&ws.project).await?;
        let o = ws.git_env(&args, NETWORK, &env).await?;
        log.push_str(&o.stdout);
        log.push_str(&o.stderr);
        if !o.ok {
            return Err(failed("git pull failed", &o));
        }
        Ok(log.trim().to_string())
    }

    /// `git fetch --prune origin`: update the remote-tracking branches without touching
    /// the working tree.
    pub async fn git_fetch(&self, caller: &Identity, project_id: Id) -> AppResult<String> {
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let env = self.git_ssh_env(&ws.project).await?;
        let o = ws
            .git_env(&["fetch", "--prune", "origin"], NETWORK, &env)
            .await?;
        if !o.ok {
            return Err(failed("git fetch failed", &o));
        }
        let out = format!("{}\n{}", o.stdout.trim(), o.stderr)
            .trim()
            .to_string();
        Ok(if out.is_empty() {
            "Already up to date.".into()
        } else {
            out
        })
    }

    pub async fn git_push(
        &self,
        caller: &Identity,
        project_id: Id,
        r: Option<&str>,
    ) -> AppResult<String> {
        let r = Self::ref_arg(r)?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let branch = match r {
            Some(b) => b,
            None => {
                let b = crate::store::run_blocking(|| super::gitread::current_branch(&ws.path))?
                    .unwrap_or_default();
                if b.is_empty() {
                    return Err(AppError::BadRequest(
                        "HEAD is detached: check out a branch or pass ref=<branch> to push".into(),
                    ));
                }
                b
            }
        };
        self.push_in(&ws, &["push", "--porcelain", "-u", "origin", &branch])
            .await
    }

    /// Push what is checked out to branch `target` on origin (`HEAD:refs/heads/<target>`,
    /// creating it there when it is new; a detached HEAD can be pushed this way too), or with
    /// no target the current branch to its own name (`git_push`). Returns where it went and
    /// git's output.
    pub async fn git_push_to(
        &self,
        caller: &Identity,
        project_id: Id,
        target: Option<&str>,
    ) -> AppResult<(String, String)> {
        let Some(t) = target.map(str::trim).filter(|t| !t.is_empty()) else {
            let (ws, lock) = self.ready(caller, project_id, true).await?;
            let current = {
                let _g = acquire(&lock).await?;
                crate::store::run_blocking(|| super::gitread::current_branch(&ws.path))?
            };
            let out = self.git_push(caller, project_id, None).await?;
            return Ok((current.unwrap_or_default(), out));
        };
        let spec = gitrules::push_refspec(t)
            .map_err(|e| AppError::BadRequest(format!("Invalid target branch: {e}")))?;
        let name = spec.trim_start_matches("HEAD:refs/heads/").to_string();
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let out = self
            .push_in(&ws, &["push", "--porcelain", "origin", &spec])
            .await?;
        Ok((name, out))
    }

    /// Run a push (`args`) with the project's SSH environment; git's output, or why it failed.
    async fn push_in(&self, ws: &Workspace, args: &[&str]) -> AppResult<String> {
        let env = self.git_ssh_env(&ws.project).await?;
        let o = ws.git_env(args, NETWORK, &env).await?;
        if !o.ok {
            let mut o = o;
            o.stderr = format!("{}\n{}", o.stdout.trim(), o.stderr)
                .trim()
                .to_string();
            return Err(failed("git push failed", &o));
        }
        Ok(format!("{}\n{}", o.stdout.trim(), o.stderr)
            .trim()
            .to_string())
    }

    /// Stage `files` (or everything) and commit with the caller as author. Returns the output
    /// and the new commit hash.
    pub async fn git_commit(
        &self,
        caller: &Identity,
        project_id: Id,
        message: &str,
        files: &[String],
    ) -> AppResult<(String, String)> {
        let message = message.trim();
        if message.is_empty() {
            return Err(AppError::BadRequest("Commit message is required".into()));
        }
        let rels: Vec<String> = files
            .iter()
            .map(|f| {
                relative_path(f)
                    .map(|p| p.to_string_lossy().into_owned())
                    .map_err(AppError::BadRequest)
            })
            .collect::<AppResult<_>>()?;
        if rels.iter().any(String::is_empty) {
            return Err(AppError::BadRequest("Invalid path: empty file name".into()));
        }
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let mut add: Vec<&str> = vec!["add"];
        if rels.is_empty() {
            add.push("-A");
        } else {
            add.push("--");
            add.extend(rels.iter().map(String::as_str));
        }
        let o = ws.git(&add, QUICK).await?;
        if !o.ok {
            return Err(failed("Failed to commit: staging failed", &o));
        }
        let name = format!("user.name={}", ws.author_name);
        let email = format!("user.email={}", ws.author_email);
        let o = ws
            .git(&["-c", &name, "-c", &email, "commit", "-m", message], QUICK)
            .await?;
        if !o.ok {
            let mut o = o;
            if o.stderr.is_empty() {
                o.stderr = o.stdout.trim().to_string();
            }
            return Err(failed("Failed to commit", &o));
        }
        let h = ws.git(&["rev-parse", "HEAD"], QUICK).await?;
        Ok((o.stdout.trim().to_string(), h.stdout.trim().to_string()))
    }

    pub async fn git_branches(
        &self,
        caller: &Identity,
        project_id: Id,
    ) -> AppResult<super::gitread::Branches> {
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        crate::store::run_blocking(|| super::gitread::branches(&ws.path))
    }

    pub async fn git_create_branch(
        &self,
        caller: &Identity,
        project_id: Id,
        name: &str,
        from: Option<&str>,
        checkout: bool,
    ) -> AppResult<()> {
        if name.trim().is_empty() {
            return Err(AppError::BadRequest("Branch name is required".into()));
        }
        let name = gitrules::check_ref_name(name)
            .map_err(|e| AppError::BadRequest(format!("Invalid branch name: {e}")))?;
        let from = Self::ref_arg(from)?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let mut args = vec!["branch", name.as_str()];
        if let Some(f) = &from {
            args.push(f.as_str());
        }
        let o = ws.git(&args, QUICK).await?;
        if !o.ok {
            return Err(failed("Failed to create branch", &o));
        }
        if checkout {
            let o = ws.git(&["checkout", name.as_str(), "--"], QUICK).await?;
            if !o.ok {
                return Err(failed("Failed to checkout branch", &o));
            }
        }
        Ok(())
    }

    /// Check out a branch: a local one, or a remote-tracking one as the picker names it
    /// (`remotes/origin/x`), which checks out the local `x` (made to track `origin/x` when there
    /// is none yet). Returns the branch now checked out.
    pub async fn git_checkout(
        &self,
        caller: &Identity,
        project_id: Id,
        branch: &str,
    ) -> AppResult<String> {
        if branch.trim().is_empty() {
            return Err(AppError::BadRequest("Branch name is required".into()));
        }
        let pick = gitrules::parse_pick(branch)
            .map_err(|e| AppError::BadRequest(format!("Invalid branch name: {e}")))?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let (name, o) = match &pick {
            BranchPick::Local(b) => (
                b.clone(),
                ws.git(&["checkout", b.as_str(), "--"], QUICK).await?,
            ),
            BranchPick::Remote { branch, .. } => {
                let local = format!("refs/heads/{branch}");
                let exists = ws
                    .git(&["rev-parse", "--verify", "-q", &local], QUICK)
                    .await?
                    .ok;
                let rev = pick.rev();
                let o = if exists {
                    ws.git(&["checkout", branch.as_str(), "--"], QUICK).await?
                } else {
                    ws.git(
                        &["checkout", "-b", branch.as_str(), "--track", &rev, "--"],
                        QUICK,
                    )
                    .await?
                };
                (branch.clone(), o)
            }
        };
        if !o.ok {
            return Err(failed("Failed to checkout branch", &o));
        }
        Ok(name)
    }

    /// Merge `branch` (local, or remote-tracking as `remotes/origin/x`) into the checked-out
    /// branch. Refused on a detached HEAD, for the branch itself, and while tracked files have
    /// changes (so that undoing a failed merge cannot lose work). A merge that stops on
    /// conflicts is aborted: the answer (409) names the files and nothing is left half-merged.
    pub async fn git_merge(
        &self,
        caller: &Identity,
        project_id: Id,
        branch: &str,
    ) -> AppResult<String> {
        if branch.trim().is_empty() {
            return Err(AppError::BadRequest(
                "Pick the branch to merge into the current one".into(),
            ));
        }
        let pick = gitrules::parse_pick(branch)
            .map_err(|e| AppError::BadRequest(format!("Invalid branch name: {e}")))?;
        let rev = pick.rev();
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let Some(current) =
            crate::store::run_blocking(|| super::gitread::current_branch(&ws.path))?
        else {
            return Err(AppError::BadRequest(
                "HEAD is detached: check out the branch to merge into first".into(),
            ));
        };
        if pick == BranchPick::Local(current.clone()) {
            return Err(AppError::BadRequest(format!(
                "'{rev}' is the current branch: pick another branch to merge into it"
            )));
        }
        let st = ws
            .git(
                &["status", "--porcelain=v2", "-z", "--untracked-files=no"],
                QUICK,
            )
            .await?;
        if !st.ok {
            return Err(failed("git status failed", &st));
        }
        let dirty = gitrules::parse_changes(st.stdout.as_bytes());
        if !dirty.is_empty() {
            return Err(AppError::Conflict(format!(
                "Your workspace has uncommitted changes ({}): commit them, or discard them with a \
                 clean pull, before merging, so that a failed merge can be undone without losing work",
                names(&dirty)
            )));
        }
        let name = format!("user.name={}", ws.author_name);
        let email = format!("user.email={}", ws.author_email);
        let o = ws
            .git(
                &["-c", &name, "-c", &email, "merge", "--no-edit", "--", &rev],
                NETWORK,
            )
            .await?;
        if o.ok {
            return Ok(o.stdout.trim().to_string());
        }
        let merging = ws
            .git(&["rev-parse", "-q", "--verify", "MERGE_HEAD"], QUICK)
            .await?
            .ok;
        if !merging {
            return Err(failed(&format!("Merging {rev} into {current} failed"), &o));
        }
        let conflicted = ws
            .git(&["diff", "--name-only", "--diff-filter=U", "-z"], QUICK)
            .await?;
        let files: Vec<&str> = conflicted
            .stdout
            .split('\0')
            .filter(|f| !f.is_empty())
            .collect();
        let abort = ws.git(&["merge", "--abort"], QUICK).await?;
        if !abort.ok {
            let reset = ws.git(&["reset", "--merge"], QUICK).await?;
            if !reset.ok {
                return Err(failed(
                    &format!(
                        "Merging {rev} into {current} stopped on conflicts and could not be undone; run `git merge --abort` in the workspace"
                    ),
                    &abort,
                ));
            }
        }
        Err(AppError::Conflict(format!(
            "Merging {rev} into {current} stopped on conflicts in {}; the merge was aborted and \
             your workspace is as it was. Resolve it in a terminal (git merge {rev}), or update \
             {rev} so that it merges cleanly.",
            if files.is_empty() {
                "some files".to_string()
            } else {
                files.join(", ")
            }
        )))
    }

    /// Delete a local branch (forced, like the original's branch tools: commits only on it are
    /// left to the reflog). The checked-out branch and remote-tracking branches are refused.
    pub async fn git_delete_branch(
        &self,
        caller: &Identity,
        project_id: Id,
        branch: &str,
    ) -> AppResult<String> {
        if branch.trim().is_empty() {
            return Err(AppError::BadRequest("Pick the branch to delete".into()));
        }
        let pick = gitrules::parse_pick(branch)
            .map_err(|e| AppError::BadRequest(format!("Invalid branch name: {e}")))?;
        let name = match pick {
            BranchPick::Local(b) => b,
            BranchPick::Remote { .. } => {
                return Err(AppError::BadRequest(format!(
                    "'{}' is a remote-tracking branch: only local branches are deleted here \
                     (delete it on the remote, then pull)",
                    pick.rev()
                )));
            }
        };
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let current = crate::store::run_blocking(|| super::gitread::current_branch(&ws.path))?;
        if current.as_deref() == Some(name.as_str()) {
            return Err(AppError::Conflict(format!(
                "'{name}' is checked out, so it cannot be deleted: check out another branch first"
            )));
        }
        let o = ws.git(&["branch", "-D", "--", &name], QUICK).await?;
        if !o.ok {
            return Err(failed(&format!("Failed to delete branch {name}"), &o));
        }
        Ok(o.stdout.trim().to_string())
    }

    /// The diff of one path against HEAD (staged and unstaged changes together), for the
    /// workspace view. A new (untracked) file shows as all added lines, a new directory as its
    /// files (up to NEW_DIR_FILES); a path without changes gives an empty diff. The path is
    /// checked first (`gitrules::diff_path`: inside the workspace, never an option) and given to
    /// git after `--`; at most FILE_DIFF_BYTES are read.
    pub async fn git_file_diff(
        &self,
        caller: &Identity,
        project_id: Id,
        path: &str,
    ) -> AppResult<FileDiff> {
        let rel = gitrules::diff_path(path).map_err(AppError::BadRequest)?;
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        // A directory link must not lead the diff out of the workspace.
        if ws.run_as.is_none()
            && let Some(parent) = Path::new(&rel).parent()
            && ws.path.join(parent).exists()
        {
            confined(&ws.path, parent)?;
        }
        let _g = acquire(&lock).await?;
        let st = ws
            .git(
                &[
                    "status",
                    "--porcelain=v2",
                    "-z",
                    "--untracked-files=all",
                    "--",
                    &rel,
                ],
                QUICK,
            )
            .await?;
        if !st.ok {
            return Err(failed("git status failed", &st));
        }
        let mut changes = gitrules::parse_changes(st.stdout.as_bytes());
        changes.truncate(NEW_DIR_FILES);
        let mut text = String::new();
        let mut truncated = false;
        let base = ["diff", "--no-color", "--no-ext-diff", "--no-textconv"];
        let tracked: Vec<&str> = changes
            .iter()
            .filter(|c| c.change != gitrules::Change::Untracked)
            .flat_map(|c| std::iter::once(c.path.as_str()).chain(c.orig_path.as_deref()))
            .collect();
        if !tracked.is_empty() {
            let has_head = ws
                .git(&["rev-parse", "--verify", "-q", "HEAD"], QUICK)
                .await?
                .ok;
            let runs: Vec<Vec<&str>> = if has_head {
                vec![vec!["-M", "HEAD"]]
            } else {
                vec![vec!["--cached"], vec![]]
            };
            for extra in runs {
                let mut args: Vec<&str> = base.to_vec();
                args.extend(extra);
                args.push("--");
                args.extend(tracked.iter().copied());
                truncated |= self.diff_into(&ws, &args, &mut text, &[0]).await?;
            }
        }
        for c in changes
            .iter()
            .filter(|c| c.change == gitrules::Change::Untracked)
        {
            if truncated {
                break;
            }
            let mut args: Vec<&str> = base.to_vec();
            args.extend(["--no-index", "--", "/dev/null", c.path.as_str()]);
            // --no-index exits 1 when the files differ, which a new file always does.
            truncated |= self.diff_into(&ws, &args, &mut text, &[0, 1]).await?;
        }
        Ok(FileDiff {
            path: rel,
            changes,
            text,
            truncated,
        })
    }

    /// Run a diff and append its output to `text`, within FILE_DIFF_BYTES in all; exit codes
    /// in `ok_codes` are success. Returns whether the output was cut.
    async fn diff_into(
        &self,
        ws: &Workspace,
        args: &[&str],
        text: &mut String,
        ok_codes: &[i32],
    ) -> AppResult<bool> {
        let room = FILE_DIFF_BYTES.saturating_sub(text.len());
        if room == 0 {
            return Ok(true);
        }
        let o = run_git_limited(ws, &ws.path, args, QUICK, &[], Some(room)).await?;
        if !o.truncated && !o.code.is_some_and(|c| ok_codes.contains(&c)) {
            return Err(failed("git diff failed", &o));
        }
        text.push_str(&o.stdout);
        Ok(o.truncated)
    }

    pub async fn git_diff(
        &self,
        caller: &Identity,
        project_id: Id,
        path: Option<&str>,
        staged: bool,
    ) -> AppResult<(String, bool)> {
        let rel = path
            .map(relative_path)
            .transpose()
            .map_err(AppError::BadRequest)?;
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        let mut args = vec!["diff", "--no-color", "--no-ext-diff"];
        if staged {
            args.push("--cached");
        }
        let rel_s = rel
            .map(|r| r.to_string_lossy().into_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &rel_s {
            args.extend(["--", r.as_str()]);
        }
        let o = ws.git(&args, QUICK).await?;
        if !o.ok {
            return Err(failed("git diff failed", &o));
        }
        let mut d = o.stdout;
        let truncated = d.len() > MAX_DIFF_BYTES;
        if truncated {
            let mut cut = MAX_DIFF_BYTES;
            while !d.is_char_boundary(cut) {
                cut -= 1;
            }
            d.truncate(cut);
        }
        Ok((d, truncated))
    }

    /// Directory listing inside the workspace (directories first, then by name; `.git` hidden).
    pub fn list_files(
        &self,
        caller: &Identity,
        project_id: Id,
        path: &str,
    ) -> AppResult<(String, Vec<FileEntry>)> {
        let rel = relative_path(path).map_err(AppError::BadRequest)?;
        let ws = self.workspace(caller, project_id)?;
        let dir = confined(&ws.path, &rel)?;
        if !dir.is_dir() {
            return Err(AppError::BadRequest(format!(
                "{} is a file, not a directory",
                rel.display()
            )));
        }
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| AppError::BadRequest(format!("Failed to list files: {e}")))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            #[cfg(unix)]
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            #[cfg(not(unix))]
            let mode = 0o644;
            out.push(FileEntry {
                is_directory: meta.is_dir(),
                permissions: mode_string(mode, meta.is_dir()),
                size: meta.len(),
                name,
            });
        }
        out.sort_by(|a, b| {
            b.is_directory
                .cmp(&a.is_directory)
                .then_with(|| a.name.cmp(&b.name))
        });
        let shown = rel.to_string_lossy().into_owned();
        Ok((if shown.is_empty() { "/".into() } else { shown }, out))
    }

    pub fn read_file(
        &self,
        caller: &Identity,
        project_id: Id,
        path: &str,
    ) -> AppResult<(String, FileContent)> {
        let rel =
            relative_path(path).map_err(|_| AppError::BadRequest("Invalid file path".into()))?;
        if rel.as_os_str().is_empty() {
            return Err(AppError::BadRequest(
                "Invalid file path: give a file, not the workspace".into(),
            ));
        }
        let ws = self.workspace(caller, project_id)?;
        let file = confined(&ws.path, &rel)?;
        let meta = std::fs::metadata(&file)
            .map_err(|e| AppError::NotFound(format!("Failed to read file: {e}")))?;
        if meta.is_dir() {
            return Err(AppError::BadRequest(format!(
                "{} is a directory; use the files listing",
                rel.display()
            )));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(AppError::BadRequest(format!(
                "{} is {} bytes; files over {MAX_FILE_BYTES} bytes are not shown",
                rel.display(),
                meta.len()
            )));
        }
        let bytes = std::fs::read(&file)
            .map_err(|e| AppError::NotFound(format!("Failed to read file: {e}")))?;
        let rel_s = rel.to_string_lossy().into_owned();
        Ok(match String::from_utf8(bytes) {
            Ok(t) if !t.contains('\0') => (rel_s, FileContent::Text(t)),
            Ok(t) => (rel_s, FileContent::Binary(t.into_bytes())),
            Err(e) => (rel_s, FileContent::Binary(e.into_bytes())),
        })
    }
}

/// `## main...origin/main [ahead 1]` plus short lines, like `git status --short --branch`.
fn summary_line(s: &PorcelainStatus) -> String {
    let mut head = format!("## {}", s.branch.as_deref().unwrap_or("HEAD (no branch)"));
    if let Some(u) = &s.upstream {
        head.push_str(&format!("...{u}"));
    }
    let mut ab = Vec::new();
    if s.ahead > 0 {
        ab.push(format!("ahead {}", s.ahead));
    }
    if s.behind > 0 {
        ab.push(format!("behind {}", s.behind));
    }
    if !ab.is_empty() {
        head.push_str(&format!(" [{}]", ab.join(", ")));
    }
    let mut lines = vec![head];
    lines.extend(s.conflicted.iter().map(|p| format!("UU {p}")));
    lines.extend(s.staged.iter().map(|p| format!("M  {p}")));
    lines.extend(s.unstaged.iter().map(|p| format!(" M {p}")));
    lines.extend(s.untracked.iter().map(|p| format!("?? {p}")));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_summary() {
        assert_eq!(mode_string(0o755, true), "drwxr-xr-x");
        assert_eq!(mode_string(0o644, false), "-rw-r--r--");
        let s = PorcelainStatus {
            branch: Some("main".into()),
            upstream: Some("origin/main".into()),
            ahead: 1,
            untracked: vec!["n.txt".into()],
            ..Default::default()
        };
        assert_eq!(
            summary_line(&s),
            "## main...origin/main [ahead 1]\n?? n.txt"
        );
    }

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
