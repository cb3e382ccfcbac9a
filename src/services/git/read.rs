//! Reads of a workspace's repository, all through the git CLI and the runner (as the
//! workspace's user, in its sandbox): status, the commit log, branches, diffs; and the current
//! branch, read from `.git/HEAD` itself.

use super::files::confined;
use super::runner::{failed, run_git_limited};
use super::{
    CommitInfo, FILE_DIFF_BYTES, FileDiff, GitStatus, NEW_DIR_FILES, QUICK, Workspace, acquire,
    not_initialised,
};
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::git::{
    PorcelainStatus, gitdir_of, head_branch, parse_branch_refs, parse_log, parse_status_v2,
    relative_path,
};
use crate::domain::gitrules;
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use std::path::Path;

const MAX_DIFF_BYTES: usize = 2 * 1024 * 1024;

/// Branch names with whether each is checked out, and the current branch.
pub type Branches = (Vec<(String, bool)>, Option<String>);

/// `git log` fields, one commit a line (a subject never has a newline), NUL between fields.
const LOG_FORMAT: &str = "--format=%H%x00%an%x00%ae%x00%aI%x00%s";

/// The checked-out branch, or None when HEAD is detached. Read from the repository's `HEAD`
/// file as the server, the way git itself resolves it: no child process (the dashboard asks
/// for every project card), and the same identity as before for a workspace in another Linux
/// user's home.
pub fn current_branch(dir: &Path) -> AppResult<Option<String>> {
    let cannot = |e: std::io::Error| {
        AppError::Internal(format!(
            "cannot open the repository at {}: {e}",
            dir.display()
        ))
    };
    let dot_git = dir.join(".git");
    // A linked worktree or a separate git dir has a `.git` file naming the real one.
    let git_dir = if dot_git.is_file() {
        let text = std::fs::read_to_string(&dot_git).map_err(cannot)?;
        match gitdir_of(&text) {
            Some(p) => dir.join(p),
            None => {
                return Err(AppError::Internal(format!(
                    "cannot open the repository at {}: .git is neither a directory nor a gitdir link",
                    dir.display()
                )));
            }
        }
    } else {
        dot_git
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).map_err(cannot)?;
    Ok(head_branch(&head))
}

/// The commit log, newest first (at most 1000); an empty repository (unborn HEAD) has none.
async fn log_in(ws: &Workspace, limit: usize) -> AppResult<Vec<CommitInfo>> {
    let n = limit.clamp(1, 1000).to_string();
    let args = [
        "log",
        "--no-mailmap",
        "--no-show-signature",
        "-n",
        &n,
        LOG_FORMAT,
    ];
    let o = ws.git(&args, QUICK).await?;
    if o.ok {
        return Ok(parse_log(&o.stdout));
    }
    let has_head = ws
        .git(&["rev-parse", "-q", "--verify", "HEAD"], QUICK)
        .await?
        .ok;
    if !has_head {
        return Ok(Vec::new());
    }
    Err(AppError::Internal(format!(
        "cannot read the history of {}: {}",
        ws.path.display(),
        o.stderr
    )))
}

/// Local and remote-tracking branches named as `git branch -a` prints them, with the current
/// branch (`domain::git::parse_branch_refs`).
async fn branches_in(ws: &Workspace) -> AppResult<Branches> {
    let current = crate::store::run_blocking(|| current_branch(&ws.path))?;
    let o = ws
        .git(
            &[
                "for-each-ref",
                "--format=%(refname)%00%(symref)",
                "refs/heads",
                "refs/remotes",
            ],
            QUICK,
        )
        .await?;
    if !o.ok {
        return Err(AppError::Internal(format!(
            "cannot read the branches of {}: {}",
            ws.path.display(),
            o.stderr
        )));
    }
    Ok((parse_branch_refs(&o.stdout, current.as_deref()), current))
}

impl Git {
    pub async fn git_status(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<GitStatus> {
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
        project_id: ProjectId,
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
                tracing::error!(project = project_id.get(), error = %detail, "git status failed");
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
        let last_commit = log_in(ws, 1).await?.into_iter().next();
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

    pub async fn git_log(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        limit: usize,
    ) -> AppResult<Vec<CommitInfo>> {
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        log_in(&ws, limit).await
    }

    pub async fn git_branches(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<Branches> {
        let (ws, lock) = self.ready(caller, project_id, false).await?;
        let _g = acquire(&lock).await?;
        branches_in(&ws).await
    }

    /// The diff of one path against HEAD (staged and unstaged changes together), for the
    /// workspace view. A new (untracked) file shows as all added lines, a new directory as its
    /// files (up to NEW_DIR_FILES); a path without changes gives an empty diff. The path is
    /// checked first (`gitrules::diff_path`: inside the workspace, never an option) and given to
    /// git after `--`; at most FILE_DIFF_BYTES are read.
    pub async fn git_file_diff(
        &self,
        caller: &Identity,
        project_id: ProjectId,
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
        project_id: ProjectId,
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
    fn summary() {
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
}
