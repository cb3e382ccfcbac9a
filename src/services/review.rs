//! Reviewing an agent session from the phone: the session branch's diff against its base,
//! parsed into files and hunks; line comments, kept and typed into the agent's tmux session as
//! "Reviewer on <path>:<line>: <text>" + Enter; and Approve (recorded, then handed to
//! `approve_hook`, the one place that asks for the pull request / review). Who may: the
//! session's owner (while they may work on the project) and the project's maintainers (and
//! admins); anyone else gets "not found".

use crate::auth::Identity;
use crate::domain::access::Action;
use crate::domain::review::{FileDiff, ReviewNote, comment_message, parse_diff, valid_comment};
use crate::domain::{AiSession, Project, PullRequest, Scope, SessionId, User, now};
use crate::error::{AppError, AppResult};
use crate::services::access::project_for;
use crate::services::git::BranchDiff;
use crate::services::sessions::{Sessions, Tmux};
use crate::store::accounts::AccountReads;
use std::path::PathBuf;

/// What the review page shows.
pub struct ReviewView {
    pub session: AiSession,
    pub project: Project,
    /// The diff, or why there is none (workspace gone, no base, …).
    pub diff: Result<BranchDiff, String>,
    pub files: Vec<FileDiff>,
    pub notes: Vec<ReviewNote>,
    /// The caller may comment and approve (write scope).
    pub can_comment: bool,
}

/// What became of a line comment.
pub struct Commented {
    pub note: ReviewNote,
    /// Typed into the agent's session; Err says why not (the note is kept anyway).
    pub delivered: Result<(), String>,
}

/// What became of an approval.
pub struct Approved {
    pub note: ReviewNote,
    /// What was done beyond recording it (for the page's message).
    pub outcome: String,
}

/// The base branch a session is reviewed against: the one its worktree branch was made from;
/// None (a session without a worktree) means the project's default (the remote's HEAD).
pub fn session_base(s: &AiSession) -> Option<String> {
    s.base.clone()
}

impl Sessions {
    /// The session, its project and its owner, when the caller may review it (`write`: also
    /// comment and approve).
    fn review_access(
        &self,
        caller: &Identity,
        key: &str,
        write: bool,
    ) -> AppResult<(AiSession, Project, User)> {
        caller.require(if write { Scope::Write } else { Scope::Read })?;
        let not_found = || AppError::NotFound(format!("Session {key} not found"));
        let r = self.store.read()?;
        let s = match self.session_row(caller, key) {
            Ok(s) => s,
            // Maintainers see their project's sessions by id.
            Err(AppError::NotFound(_)) => key
                .parse::<u64>()
                .ok()
                .and_then(|id| r.ai_session(SessionId::from(id)).ok().flatten())
                .ok_or_else(not_found)?,
            Err(e) => return Err(e),
        };
        if caller.project_limit().is_some_and(|p| p != s.project_id) {
            return Err(not_found());
        }
        let need = if s.user_id == caller.id() {
            Action::Work
        } else {
            Action::Manage
        };
        let project = project_for(&r, caller, s.project_id, need).map_err(|e| match e {
            AppError::Forbidden(_) if s.user_id != caller.id() => not_found(),
            e => e,
        })?;
        let owner = r
            .get_user(s.user_id)?
            .ok_or_else(|| AppError::NotFound(format!("The owner of session {key} is gone")))?;
        Ok((s, project, owner))
    }

    /// The review page's content: the diff (parsed) and the notes.
    pub async fn review(&self, caller: &Identity, key: &str) -> AppResult<ReviewView> {
        let (s, project, owner) = self.review_access(caller, key, false)?;
        let diff = match s.workspace_path.as_deref() {
            None => Err("The session has no workspace to review.".to_string()),
            Some(dir) => self
                .git
                .branch_diff(
                    &owner,
                    project.clone(),
                    &PathBuf::from(dir),
                    s.run_as.clone(),
                    session_base(&s).as_deref(),
                )
                .await
                .map_err(|e| e.to_string()),
        };
        let files = diff
            .as_ref()
            .map(|d| parse_diff(&d.text))
            .unwrap_or_default();
        let notes = self.store.read()?.review_notes(s.id)?;
        Ok(ReviewView {
            session: s,
            project,
            diff,
            files,
            notes,
            can_comment: caller.has(Scope::Write),
        })
    }

    /// Keep a line comment and type it into the agent's session (when it runs).
    pub async fn review_comment(
        &self,
        caller: &Identity,
        key: &str,
        path: &str,
        line: u32,
        text: &str,
    ) -> AppResult<Commented> {
        let (s, _, _) = self.review_access(caller, key, true)?;
        let text = valid_comment(text).map_err(AppError::BadRequest)?;
        let path = path.trim();
        if path.is_empty() || path.len() > 1000 || path.chars().any(char::is_control) || line == 0 {
            return Err(AppError::BadRequest(
                "Comment on a line of a file of the diff (path and line number).".into(),
            ));
        }
        let mut note = ReviewNote {
            id: 0,
            session_id: s.id,
            user_id: caller.id(),
            author: caller.user.name.clone(),
            kind: "comment".into(),
            path: Some(path.to_string()),
            line: Some(line),
            text: text.to_string(),
            created_at: now(),
        };
        let w = self.store.write()?;
        w.add_review_note(&mut note)?;
        w.commit()?;
        let delivered = match Tmux::of(&s) {
            Some((tm, target)) if s.is_active => tm
                .type_line(target, &comment_message(path, line, text))
                .await
                .map_err(|e| e.to_string()),
            _ => Err("the session has ended; the comment is kept on the page".to_string()),
        };
        tracing::info!(
            session = s.id.get(),
            by = caller.id().get(),
            delivered = delivered.is_ok(),
            "review comment"
        );
        Ok(Commented { note, delivered })
    }

    /// Record an approval, then hand it on (`approve_hook`).
    pub async fn review_approve(&self, caller: &Identity, key: &str) -> AppResult<Approved> {
        let (s, _, _) = self.review_access(caller, key, true)?;
        let mut note = ReviewNote {
            id: 0,
            session_id: s.id,
            user_id: caller.id(),
            author: caller.user.name.clone(),
            kind: "approval".into(),
            path: None,
            line: None,
            text: "Approved".into(),
            created_at: now(),
        };
        let w = self.store.write()?;
        w.add_review_note(&mut note)?;
        w.commit()?;
        let outcome = self.approve_hook(caller, &s).await;
        Ok(Approved { note, outcome })
    }

    /// Push a worktree session's branch as committed (nothing is staged: what was reviewed is
    /// what goes), so the code host has the branch its pull request names.
    async fn push_reviewed(&self, caller: &Identity, s: &AiSession) -> AppResult<()> {
        let (Some(branch), Some(path)) = (&s.branch, &s.workspace_path) else {
            return Err(AppError::BadRequest(format!(
                "Session {} has no branch of its own (only issue sessions work in a worktree)",
                s.id
            )));
        };
        let owner = self.owner_identity(caller, s)?;
        self.git
            .worktree_push(&owner, s.project_id, std::path::Path::new(path), branch)
            .await?;
        Ok(())
    }

    /// The review page's "Open pull request": push the branch, then open its pull request (or
    /// answer the one already open), without merging.
    pub async fn review_open_pull(&self, caller: &Identity, key: &str) -> AppResult<PullRequest> {
        let (s, _, _) = self.review_access(caller, key, true)?;
        self.push_reviewed(caller, &s).await?;
        self.open_or_merge_for_session(caller, &s.id.to_string(), false, None)
            .await
    }

    /// What Approve does beyond recording it: a session working on its own branch gets its pull
    /// request opened (when there is none) and merged; another session on an issue asks for
    /// review on the issue (`workflow_approve`).
    async fn approve_hook(&self, caller: &Identity, s: &AiSession) -> String {
        if let Some(branch) = &s.branch {
            if let Err(e) = self.push_reviewed(caller, s).await {
                return format!(
                    "Approval recorded; the branch {branch} was not pushed, so no pull request was opened: {e}"
                );
            }
            return match self
                .open_or_merge_for_session(
                    caller,
                    &s.id.to_string(),
                    true,
                    Some("Approved on the review page."),
                )
                .await
            {
                Ok(pr) => format!(
                    "Approval recorded; pull request #{} is {} ({}).",
                    pr.number, pr.state, pr.url
                ),
                Err(e) => {
                    format!("Approval recorded; the pull request was not opened or merged: {e}")
                }
            };
        }
        let Some(issue) = s.issue_id else {
            return "Approval recorded.".into();
        };
        match self
            .workflow_approve(caller, issue, Some("Approved on the review page."))
            .await
        {
            Ok(_) => format!("Approval recorded; review requested on issue {issue}."),
            Err(e) => format!("Approval recorded; the issue was not updated: {e}"),
        }
    }
}
