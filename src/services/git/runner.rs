//! The git child-process runner: git with the options that keep a workspace's own
//! configuration from running programs, as the workspace's Linux user (`sudo -n`) or in the
//! user's sandbox, with a timeout, an optional stdout cap, and a private key passed on a
//! descriptor (never in the environment or argv); and the mapping of a failed run to an error.
//! Its capture steps (`captured`, `feed`, `collect`) are also how `sessions.rs` runs tmux.

use super::Workspace;
use crate::error::{AppError, AppResult};
use std::path::Path;
use std::time::Duration;

pub(super) struct GitOut {
    pub(super) ok: bool,
    /// The exit code (None when a signal ended git).
    pub(super) code: Option<i32>,
    /// Stdout was cut at the caller's limit (`run_git_limited`).
    pub(super) truncated: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
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
pub(super) async fn run_git(
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
pub(super) async fn run_git_limited(
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
        .partition(|(k, _)| k == crate::services::ssh::ENV_KEY);
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
        env.push((
            crate::services::ssh::ENV_KEY_FD.to_string(),
            KEY_FD.to_string(),
        ));
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
        (None, None) => match git.split_first() {
            Some((program, argv)) => (program.clone(), argv.to_vec(), env.clone()),
            None => return Err(AppError::Internal("no git command line was built".into())),
        },
        (None, Some(user)) => {
            let names: Vec<&str> = GIT_ENV_NAMES
                .iter()
                .copied()
                .chain(env.iter().map(|(k, _)| k.as_str()))
                .collect();
            let (p, a) = crate::services::sandbox::as_linux_user(user, &names, git);
            (p, a, env.clone())
        }
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&argv)
        .envs(pass_env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir);
    captured(&mut cmd, secret.is_some());
    let mut child = crate::services::sandbox::spawn_owned(cmd).await.map_err(|e| match (run_as, ws.jail.is_some()) {
        (_, true) => AppError::Internal(format!(
            "cannot run git in the agent sandbox (is bubblewrap installed? apt-get install bubblewrap): {e}"
        )),
        (None, false) => AppError::Internal(format!("cannot run git (is it installed?): {e}")),
        (Some(u), false) => AppError::Internal(format!(
            "cannot run sudo to act as Linux user {u} (is sudo installed?): {e}"
        )),
    })?;
    if let Some(key) = secret {
        // The key is far smaller than a pipe's buffer. A failed write is not an error here: git
        // then fails to authenticate, and its own message says so.
        let _ = feed(&mut child, key.as_bytes()).await;
    }
    let (out, truncated) = collect(child, timeout, limit)
        .await
        .map_err(|_| {
            AppError::Upstream(format!(
                "git {} took longer than {}s and was stopped",
                args.first().unwrap_or(&""),
                timeout.as_secs()
            ))
        })?
        .map_err(|e| AppError::Internal(format!("git failed: {e}")))?;
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

/// Set up `cmd` to be captured: stdin a pipe when the caller will `feed` it (else `/dev/null`,
/// so a child never reads the server's stdin), stdout and stderr pipes, and the child killed
/// when its handle is dropped (a timed-out or abandoned call leaves nothing running). Git here
/// and tmux (`sessions.rs`) run this way.
pub(crate) fn captured(cmd: &mut tokio::process::Command, input: bool) {
    cmd.stdin(if input {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
}

/// Write `data` to a `captured` child's stdin and close it (closing is the end of the input).
/// Nothing to do when its stdin is not a pipe.
pub(crate) async fn feed(child: &mut tokio::process::Child, data: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(data).await,
        None => Ok(()),
    }
}

/// Wait up to `timeout` for a `captured` child and its output, all of stdout or at most `limit`
/// bytes of it (then the answer says it was truncated). `Err` when the time ran out: the child
/// is killed as its handle drops.
pub(crate) async fn collect(
    child: tokio::process::Child,
    timeout: Duration,
    limit: Option<usize>,
) -> Result<std::io::Result<(std::process::Output, bool)>, tokio::time::error::Elapsed> {
    match limit {
        None => {
            tokio::time::timeout(timeout, async {
                child.wait_with_output().await.map(|out| (out, false))
            })
            .await
        }
        Some(limit) => tokio::time::timeout(timeout, read_limited(child, limit)).await,
    }
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
    pub(super) async fn git(&self, args: &[&str], timeout: Duration) -> AppResult<GitOut> {
        run_git(self, &self.path, args, timeout, &[]).await
    }

    pub(super) async fn git_env(
        &self,
        args: &[&str],
        timeout: Duration,
        env: &[(String, String)],
    ) -> AppResult<GitOut> {
        run_git(self, &self.path, args, timeout, env).await
    }
}

/// Map a failed git command to a clear error (conflicts and rejections are 409).
pub(super) fn failed(what: &str, o: &GitOut) -> AppError {
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
