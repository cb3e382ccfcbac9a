//! The diff a review page shows: a session's branch against its base (`git diff
//! <base>...HEAD`) in the session's own workspace (or worktree), run by the git runner as the
//! session owner's user, in the owner's sandbox. Who may see it is decided by the caller
//! (`services::review`).

use super::runner::{failed, run_git, run_git_limited};
use super::{Git, QUICK, Workspace};
use crate::domain::rules::validate_branch;
use crate::domain::{Project, User};
use crate::error::{AppError, AppResult};
use std::path::{Path, PathBuf};

/// The most of a branch diff the review page shows.
pub const REVIEW_DIFF_BYTES: usize = 2 * 1024 * 1024;

/// A session branch's diff against its base.
#[derive(Debug, Clone)]
pub struct BranchDiff {
    /// The base the diff was taken against (`origin/HEAD`, `main`, …).
    pub base: String,
    /// The branch checked out in the workspace (None: detached).
    pub branch: Option<String>,
    /// Unified diff text (no colour).
    pub text: String,
    /// The diff was longer than `REVIEW_DIFF_BYTES` and was cut.
    pub truncated: bool,
}

/// Where to look for a base when the session names none, best first.
fn base_candidates(project: &Project) -> Vec<String> {
    let mut v = vec!["origin/HEAD".to_string()];
    let d = project.default_branch.trim();
    if !d.is_empty() {
        v.push(format!("origin/{d}"));
        v.push(d.to_string());
    }
    v.extend(["origin/main", "main", "origin/master", "master"].map(String::from));
    v
}

impl Git {
    /// `git diff <base>...HEAD` in `dir`, a workspace of `project` belonging to `owner` (run as
    /// that user, in that user's sandbox). `base`: the session's base branch when it has one,
    /// else the remote's default branch (`origin/HEAD`), else the project's default branch.
    /// The caller has already decided that the diff may be shown.
    pub(crate) async fn branch_diff(
        &self,
        owner: &User,
        project: Project,
        dir: &Path,
        run_as: Option<String>,
        base: Option<&str>,
    ) -> AppResult<BranchDiff> {
        if !dir.join(".git").exists() {
            return Err(AppError::NotFound(format!(
                "The session's workspace {} is gone or is not a git checkout; there is nothing to review",
                dir.display()
            )));
        }
        let jail = self.sandbox.jail_for(owner)?.map(|j| {
            let remote = project
                .repo_url
                .strip_prefix("file://")
                .unwrap_or(&project.repo_url);
            j.with_rw(Path::new(remote))
        });
        let candidates = match base.map(str::trim).filter(|b| !b.is_empty()) {
            Some(b) => {
                validate_branch(b)
                    .map_err(|e| AppError::BadRequest(format!("Invalid base branch: {e}")))?;
                vec![b.to_string()]
            }
            None => base_candidates(&project),
        };
        let ws = Workspace {
            project,
            path: PathBuf::from(dir),
            run_as,
            jail,
            author_name: owner.name.clone(),
            author_email: owner.email.clone(),
        };
        let lock = self.git_locks.get(&ws.path);
        let _g = super::acquire(&lock).await?;
        let mut found = None;
        for c in &candidates {
            let spec = format!("{c}^{{commit}}");
            let o = run_git(
                &ws,
                &ws.path,
                &["rev-parse", "--verify", "--quiet", &spec],
                QUICK,
                &[],
            )
            .await?;
            if o.ok {
                found = Some(c.clone());
                break;
            }
        }
        let base = found.ok_or_else(|| {
            AppError::NotFound(format!(
                "No base branch to compare with (tried {}); fetch the project's default branch first",
                candidates.join(", ")
            ))
        })?;
        let range = format!("{base}...HEAD");
        let o = run_git_limited(
            &ws,
            &ws.path,
            &["diff", "--no-color", "--no-ext-diff", "-M", &range, "--"],
            QUICK,
            &[],
            Some(REVIEW_DIFF_BYTES),
        )
        .await?;
        if !o.ok && !o.truncated {
            return Err(failed("git diff failed", &o));
        }
        let head = run_git(
            &ws,
            &ws.path,
            &["symbolic-ref", "--short", "-q", "HEAD"],
            QUICK,
            &[],
        )
        .await?;
        Ok(BranchDiff {
            base,
            branch: head.ok.then(|| head.stdout.trim().to_string()),
            text: o.stdout,
            truncated: o.truncated,
        })
    }
}
