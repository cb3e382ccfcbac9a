//! Git worktrees for issue sessions: each issue session works in its own `git worktree` of the
//! user's workspace, on branch `aiops/<issue-id>-<slug>`, in `<workspace>.worktrees/<issue-id>-<slug>`
//! (a sibling of the workspace, so inside the user's directory the sandbox binds, and not an
//! untracked directory of the workspace itself). Created from the project's default branch or a
//! chosen base, reused for the same issue, committed and pushed by `workflow submit`, and removed
//! only when asked (refused while it has uncommitted changes unless forced).

use super::runner::{failed, run_git};
use super::{NETWORK, QUICK, Workspace, acquire};
use crate::auth::Identity;
use crate::domain::git::{issue_branch, relative_path};
use crate::domain::{IssueId, ProjectId};
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use std::path::{Path, PathBuf};

/// An issue session's worktree.
#[derive(Debug, Clone)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
    /// It existed already (a second session on the same issue).
    pub reused: bool,
}

/// What a submit in a worktree did.
#[derive(Debug, Clone)]
pub struct WorktreeSubmit {
    /// git's commit output (empty when there was nothing new to commit).
    pub commit_output: String,
    /// The commit now at the branch's tip.
    pub hash: String,
    pub push_output: Option<String>,
}

/// What `worktree_submit` commits and pushes.
pub struct WorktreeCommit<'a> {
    /// The worktree (one of the caller's, checked).
    pub path: &'a Path,
    pub branch: &'a str,
    pub message: &'a str,
    /// Only these paths; everything when empty.
    pub files: &'a [String],
    pub push: bool,
}

/// Where a workspace's worktrees live: `<workspace>.worktrees`.
pub fn worktrees_dir(workspace: &Path) -> PathBuf {
    let mut name = workspace
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".worktrees");
    workspace.with_file_name(name)
}

/// The worktree directory of `issue_id` under `dir` (any `<issue-id>-…` entry with a `.git`
/// file), when there is one: a renamed issue keeps its worktree.
fn existing_for_issue(dir: &Path, issue_id: IssueId) -> Option<PathBuf> {
    let prefix = format!("{issue_id}-");
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .find(|p| p.join(".git").is_file())
}

impl Workspace {
    /// The same workspace (project, user, jail, author) seen at another directory: a worktree.
    pub(crate) fn at(&self, path: PathBuf) -> Workspace {
        Workspace {
            project: self.project.clone(),
            path,
            run_as: self.run_as.clone(),
            jail: self.jail.clone(),
            author_name: self.author_name.clone(),
            author_email: self.author_email.clone(),
        }
    }
}

impl Git {
    /// The caller's worktree for an issue of a project: the existing one, or a new one on branch
    /// `aiops/<issue-id>-<slug of title>` made from `base` (default: the project's default
    /// branch; `origin/<base>` when the remote has it, so the branch starts from what was
    /// fetched). The workspace must be initialised.
    pub async fn issue_worktree(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        issue_id: IssueId,
        title: &str,
        base: Option<&str>,
    ) -> AppResult<Worktree> {
        let base = Self::ref_arg(base)?;
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let root = worktrees_dir(&ws.path);
        let found = {
            let root = root.clone();
            crate::store::run_blocking(move || existing_for_issue(&root, issue_id))
        };
        if let Some(path) = found {
            let wt = ws.at(path.clone());
            let o = wt
                .git(&["rev-parse", "--abbrev-ref", "HEAD"], QUICK)
                .await?;
            if !o.ok {
                return Err(failed("Cannot read the issue's worktree branch", &o));
            }
            let branch = o.stdout.trim().to_string();
            let base = base.unwrap_or_else(|| ws.project.default_branch.clone());
            return Ok(Worktree {
                path,
                branch,
                base,
                reused: true,
            });
        }
        let base = match base {
            Some(b) => b,
            None if !ws.project.default_branch.trim().is_empty() => {
                ws.project.default_branch.trim().to_string()
            }
            None => "main".into(),
        };
        let (name, branch) = issue_branch(issue_id.get(), title);
        let path = root.join(&name);
        let path_arg = path.to_string_lossy().into_owned();
        // A worktree directory removed by hand leaves an entry git would refuse to reuse.
        let _ = ws.git(&["worktree", "prune"], QUICK).await?;
        let local = format!("refs/heads/{branch}");
        let exists = ws
            .git(&["rev-parse", "--verify", "--quiet", &local], QUICK)
            .await?
            .ok;
        let o = if exists {
            ws.git(&["worktree", "add", "--", &path_arg, &branch], QUICK)
                .await?
        } else {
            let remote = format!("refs/remotes/origin/{base}");
            let start = if ws
                .git(&["rev-parse", "--verify", "--quiet", &remote], QUICK)
                .await?
                .ok
            {
                format!("origin/{base}")
            } else {
                base.clone()
            };
            ws.git(
                &[
                    "worktree",
                    "add",
                    "--no-track",
                    "-b",
                    &branch,
                    "--",
                    &path_arg,
                    &start,
                ],
                QUICK,
            )
            .await?
        };
        if !o.ok {
            return Err(failed(
                &format!("Cannot create the worktree for issue {issue_id} from '{base}'"),
                &o,
            ));
        }
        tracing::info!(project = project_id.get(), issue = issue_id.get(), %branch, "worktree created");
        Ok(Worktree {
            path,
            branch,
            base,
            reused: false,
        })
    }

    /// Check that `path` is one of the caller's worktrees of the project: a directory under
    /// `<workspace>.worktrees` (a path kept on a session row is still checked).
    fn own_worktree(ws: &Workspace, path: &Path) -> AppResult<()> {
        let root = worktrees_dir(&ws.path);
        match path.strip_prefix(&root) {
            Ok(rest) if rest.components().count() == 1 => Ok(()),
            _ => Err(AppError::BadRequest(format!(
                "{} is not a worktree of this workspace",
                path.display()
            ))),
        }
    }

    /// Remove a worktree (the branch stays, with its commits). Refused while the worktree has
    /// uncommitted changes, unless `force`. A worktree already gone is only pruned.
    pub async fn remove_worktree(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        path: &Path,
        force: bool,
    ) -> AppResult<()> {
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        Self::own_worktree(&ws, path)?;
        let _g = acquire(&lock).await?;
        if !path.join(".git").is_file() {
            let _ = ws.git(&["worktree", "prune"], QUICK).await?;
            return Ok(());
        }
        let wt = ws.at(path.to_path_buf());
        let st = wt.git(&["status", "--porcelain"], QUICK).await?;
        if !st.ok {
            return Err(failed("Cannot read the worktree's status", &st));
        }
        let changed = st.stdout.lines().filter(|l| !l.trim().is_empty()).count();
        if changed > 0 && !force {
            return Err(AppError::Conflict(format!(
                "The worktree {} has {changed} uncommitted change(s): commit them (aiops workflow submit, \
                 or ask the agent to), or Close keeping the worktree; to throw them away, remove it \
                 with force (aiops sessions stop ID --worktree remove --force, or force=true in the API)",
                path.display()
            )));
        }
        let path_arg = path.to_string_lossy().into_owned();
        let mut args = vec!["worktree", "remove"];
        if force {
            args.push("--force");
        }
        args.push("--");
        args.push(&path_arg);
        let o = ws.git(&args, QUICK).await?;
        if !o.ok {
            return Err(failed("Cannot remove the worktree", &o));
        }
        tracing::info!(project = project_id.get(), path = %path.display(), "worktree removed");
        Ok(())
    }

    /// Commit the worktree's changes (all, or `files`) with the caller as author, then push its
    /// branch to origin and set the upstream (`push`). Nothing new to commit is not an error:
    /// the branch's tip is pushed.
    pub async fn worktree_submit(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        req: WorktreeCommit<'_>,
    ) -> AppResult<WorktreeSubmit> {
        let WorktreeCommit {
            path,
            branch,
            message,
            files,
            push,
        } = req;
        let message = message.trim();
        if message.is_empty() {
            return Err(AppError::BadRequest("Commit message is required".into()));
        }
        let branch = Self::ref_arg(Some(branch))?
            .ok_or_else(|| AppError::BadRequest("The session has no branch".into()))?;
        let rels: Vec<String> = files
            .iter()
            .map(|f| {
                relative_path(f)
                    .map(|p| p.to_string_lossy().into_owned())
                    .map_err(AppError::BadRequest)
            })
            .collect::<AppResult<_>>()?;
        let (ws, _) = self.ready(caller, project_id, true).await?;
        Self::own_worktree(&ws, path)?;
        if !path.join(".git").is_file() {
            return Err(AppError::NotFound(format!(
                "The session's worktree {} is gone; start the issue's session again",
                path.display()
            )));
        }
        let wt = ws.at(path.to_path_buf());
        let lock = self.git_locks.get(path);
        let _g = acquire(&lock).await?;
        let mut add: Vec<&str> = vec!["add"];
        if rels.is_empty() {
            add.push("-A");
        } else {
            add.push("--");
            add.extend(rels.iter().map(String::as_str));
        }
        let o = wt.git(&add, QUICK).await?;
        if !o.ok {
            return Err(failed("Failed to commit: staging failed", &o));
        }
        let staged = wt.git(&["diff", "--cached", "--quiet"], QUICK).await?;
        let commit_output = if staged.code == Some(1) {
            let name = format!("user.name={}", wt.author_name);
            let email = format!("user.email={}", wt.author_email);
            let o = wt
                .git(&["-c", &name, "-c", &email, "commit", "-m", message], QUICK)
                .await?;
            if !o.ok {
                return Err(failed("Failed to commit", &o));
            }
            o.stdout.trim().to_string()
        } else {
            String::new()
        };
        let h = wt.git(&["rev-parse", "HEAD"], QUICK).await?;
        if !h.ok {
            return Err(failed("The worktree's branch has no commit", &h));
        }
        let hash = h.stdout.trim().to_string();
        let push_output = if push {
            Some(self.push_worktree_branch(&wt, path, &branch).await?)
        } else {
            None
        };
        Ok(WorktreeSubmit {
            commit_output,
            hash,
            push_output,
        })
    }

    /// Push the branch of one of the caller's worktrees as it is (what was committed; nothing
    /// is staged), setting its upstream: the review page's Approve, before the pull request.
    pub async fn worktree_push(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        path: &Path,
        branch: &str,
    ) -> AppResult<String> {
        let branch = Self::ref_arg(Some(branch))?
            .ok_or_else(|| AppError::BadRequest("The session has no branch".into()))?;
        let (ws, _) = self.ready(caller, project_id, true).await?;
        Self::own_worktree(&ws, path)?;
        if !path.join(".git").is_file() {
            return Err(AppError::NotFound(format!(
                "The session's worktree {} is gone; start the issue's session again",
                path.display()
            )));
        }
        let wt = ws.at(path.to_path_buf());
        let lock = self.git_locks.get(path);
        let _g = acquire(&lock).await?;
        self.push_worktree_branch(&wt, path, &branch).await
    }

    /// `git push --porcelain -u origin <branch>` in a worktree, over the project's SSH key.
    async fn push_worktree_branch(
        &self,
        wt: &Workspace,
        path: &Path,
        branch: &str,
    ) -> AppResult<String> {
        let env = self.git_ssh_env(&wt.project).await?;
        let o = run_git(
            wt,
            path,
            &["push", "--porcelain", "-u", "origin", branch],
            NETWORK,
            &env,
        )
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktrees_live_beside_the_workspace() {
        assert_eq!(
            worktrees_dir(Path::new("/ws/u-1/t/app-3")),
            PathBuf::from("/ws/u-1/t/app-3.worktrees")
        );
    }
}
