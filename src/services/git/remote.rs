//! Operations that talk to the project's remote with its SSH key: clone (workspace init),
//! pull, fetch, and push.

use super::runner::{failed, run_git};
use super::{NETWORK, QUICK, Workspace, acquire, current_branch};
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::Scope;
use crate::domain::gitrules;
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use std::path::PathBuf;

impl Git {
    /// Clone the project into the caller's workspace; an existing workspace is left as it is.
    /// Returns the path and whether it was created now.
    pub async fn workspace_init(
        &self,
        caller: &Identity,
        project_id: ProjectId,
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
        tracing::info!(project = project_id.get(), user = caller.id().get(), path = %ws.path.display(), "workspace cloned");
        Ok((ws.path, true))
    }

    pub async fn git_pull(
        &self,
        caller: &Identity,
        project_id: ProjectId,
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
    pub async fn git_fetch(&self, caller: &Identity, project_id: ProjectId) -> AppResult<String> {
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
        project_id: ProjectId,
        r: Option<&str>,
    ) -> AppResult<String> {
        let r = Self::ref_arg(r)?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let branch = match r {
            Some(b) => b,
            None => {
                let b =
                    crate::store::run_blocking(|| current_branch(&ws.path))?.unwrap_or_default();
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
        project_id: ProjectId,
        target: Option<&str>,
    ) -> AppResult<(String, String)> {
        let Some(t) = target.map(str::trim).filter(|t| !t.is_empty()) else {
            let (ws, lock) = self.ready(caller, project_id, true).await?;
            let current = {
                let _g = acquire(&lock).await?;
                crate::store::run_blocking(|| current_branch(&ws.path))?
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
}
