//! Reads of a workspace's repository with gix, in process (no `git` child): the current
//! branch, branches, and the commit log. Writes, network operations and the working-tree
//! status stay with the git CLI (see ARCHITECTURE.md, "Git").

use super::git::CommitInfo;
use crate::error::{AppError, AppResult};
use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;
use std::path::Path;

fn open(dir: &Path) -> AppResult<gix::Repository> {
    gix::open(dir).map_err(|e| {
        AppError::Internal(format!(
            "cannot open the repository at {}: {e}",
            dir.display()
        ))
    })
}

fn read_err(what: &str) -> impl Fn(String) -> AppError + '_ {
    move |e| AppError::Internal(format!("cannot read {what}: {e}"))
}

/// Branch names with whether each is checked out, and the current branch.
pub type Branches = (Vec<(String, bool)>, Option<String>);

/// The checked-out branch, or None when HEAD is detached.
pub fn current_branch(dir: &Path) -> AppResult<Option<String>> {
    let repo = open(dir)?;
    let name = repo
        .head_name()
        .map_err(|e| read_err("HEAD")(e.to_string()))?;
    Ok(name.map(|n| n.shorten().to_string()))
}

/// Local and remote-tracking branches named as `git branch -a` prints them (`main`,
/// `remotes/origin/main`, and a remote's symbolic HEAD as `remotes/origin/HEAD -> origin/main`),
/// each with whether it is checked out, locals first, in name order; plus the current branch.
pub fn branches(dir: &Path) -> AppResult<Branches> {
    let repo = open(dir)?;
    let current = repo
        .head_name()
        .map_err(|e| read_err("HEAD")(e.to_string()))?
        .map(|n| n.shorten().to_string());
    let refs = repo
        .references()
        .map_err(|e| read_err("references")(e.to_string()))?;
    let mut out = Vec::new();
    for r in refs
        .local_branches()
        .map_err(|e| read_err("branches")(e.to_string()))?
    {
        let r = r.map_err(|e| read_err("a branch")(e.to_string()))?;
        let name = r.name().shorten().to_string();
        let is_current = current.as_deref() == Some(&name);
        out.push((name, is_current));
    }
    for r in refs
        .remote_branches()
        .map_err(|e| read_err("branches")(e.to_string()))?
    {
        let r = r.map_err(|e| read_err("a branch")(e.to_string()))?;
        let short = r.name().shorten().to_string();
        let target = match r.target() {
            gix::refs::TargetRef::Symbolic(t) => Some(t.shorten().to_string()),
            gix::refs::TargetRef::Object(_) => None,
        };
        out.push((
            crate::domain::git::branch_a_name(&short, target.as_deref()),
            false,
        ));
    }
    Ok((out, current))
}

/// The newest `limit` commits reachable from HEAD (commit-time order, like `git log`).
/// An empty repository (unborn HEAD) has none.
pub fn log(dir: &Path, limit: usize) -> AppResult<Vec<CommitInfo>> {
    let repo = open(dir)?;
    let Ok(head) = repo.head_id() else {
        return Ok(Vec::new());
    };
    let walk = repo
        .rev_walk([head.detach()])
        .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
        .all()
        .map_err(|e| read_err("the history")(e.to_string()))?;
    let mut out = Vec::with_capacity(limit.min(1000));
    for info in walk.take(limit.clamp(1, 1000)) {
        let info = info.map_err(|e| read_err("the history")(e.to_string()))?;
        let commit = info
            .object()
            .map_err(|e| read_err("a commit")(e.to_string()))?;
        let author = commit
            .author()
            .map_err(|e| read_err("a commit author")(e.to_string()))?;
        let time = author
            .time()
            .map_err(|e| read_err("a commit time")(e.to_string()))?;
        let date = chrono::FixedOffset::east_opt(time.offset)
            .and_then(|tz| {
                chrono::DateTime::from_timestamp(time.seconds, 0).map(|t| t.with_timezone(&tz))
            })
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let subject = commit
            .message()
            .map(|m| m.summary().to_string())
            .unwrap_or_default();
        out.push(CommitInfo {
            hash: info.id.to_string(),
            author: author.name.to_string(),
            email: author.email.to_string(),
            date,
            subject,
        });
    }
    Ok(out)
}
