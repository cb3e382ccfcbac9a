//! Branch operations: create, check out (local or remote-tracking), merge (aborted on
//! conflicts), delete.

use super::runner::failed;
use super::{NETWORK, QUICK, acquire, current_branch};
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::gitrules::ChangedFile;
use crate::domain::gitrules::{self, BranchPick};
use crate::error::{AppError, AppResult};
use crate::services::git::Git;

impl Git {
    pub async fn git_create_branch(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        name: &str,
        from: Option<&str>,
        checkout: bool,
    ) -> AppResult<()> {
        let name = branch_arg(name, "Branch name is required", gitrules::check_ref_name)?;
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
        project_id: ProjectId,
        branch: &str,
    ) -> AppResult<String> {
        let pick = branch_arg(branch, "Branch name is required", gitrules::parse_pick)?;
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
        project_id: ProjectId,
        branch: &str,
    ) -> AppResult<String> {
        let pick = branch_arg(
            branch,
            "Pick the branch to merge into the current one",
            gitrules::parse_pick,
        )?;
        let rev = pick.rev();
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let Some(current) = crate::store::run_blocking(|| current_branch(&ws.path))? else {
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
        project_id: ProjectId,
        branch: &str,
    ) -> AppResult<String> {
        let pick = branch_arg(branch, "Pick the branch to delete", gitrules::parse_pick)?;
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
        let current = crate::store::run_blocking(|| current_branch(&ws.path))?;
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
}

/// The opening of every branch operation: the branch name the caller gave, read by `parse`
/// (`check_ref_name` for a new branch, `parse_pick` for an existing one); a blank name is
/// answered with `blank`, a bad one with why it is invalid (both 400).
fn branch_arg<T>(raw: &str, blank: &str, parse: fn(&str) -> Result<T, String>) -> AppResult<T> {
    if raw.trim().is_empty() {
        return Err(AppError::BadRequest(blank.into()));
    }
    parse(raw).map_err(|e| AppError::BadRequest(format!("Invalid branch name: {e}")))
}

/// The first few paths of `files`, for a message (`a, b, c and 4 more`).
fn names(files: &[ChangedFile]) -> String {
    let shown: Vec<&str> = files.iter().take(5).map(|f| f.path.as_str()).collect();
    match files.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
