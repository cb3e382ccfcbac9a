//! The issue workflow agents follow: claim an issue, report progress, submit changes (commit,
//! push and comment), ask for review, complete (comment and close). Every step goes through
//! the tracker providers, so the issue in GitHub/GitLab/Jira shows what happened.

use super::git::WorkspaceStatus;
use super::issues::IssueView;
use super::sessions::Sessions;
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::ProjectId;
use crate::domain::{Comment, ProjectIntegration, Scope};
use crate::error::{AppError, AppResult};
use crate::store::integrations::IntegrationReads;

pub struct Claimed {
    pub issue: IssueView,
    pub workspace: WorkspaceStatus,
    pub next_steps: Vec<String>,
    pub warning: Option<String>,
}

pub struct Submitted {
    pub commit_hash: String,
    pub commit_output: String,
    pub branch: Option<String>,
    pub push_output: Option<String>,
    pub comment: Option<Comment>,
    pub warning: Option<String>,
}

pub struct SubmitRequest {
    pub issue_id: IssueId,
    pub project_id: ProjectId,
    pub message: String,
    pub files: Vec<String>,
    pub comment: Option<String>,
    /// Push the current branch after committing (default on).
    pub push: bool,
}

fn with_text(head: &str, text: Option<&str>) -> String {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("{head}\n\n{t}"),
        None => head.to_string(),
    }
}

impl Sessions {
    /// Assign the issue to the caller (or to the link's configured username) on the tracker.
    /// A tracker refusal becomes a warning and leaves the local assignee as it was.
    pub async fn workflow_claim(&self, caller: &Identity, issue_id: IssueId) -> AppResult<Claimed> {
        caller.require(Scope::Write)?;
        let issue = self.trackers.issue_for_work(caller, issue_id)?;
        let link: Option<ProjectIntegration> = {
            let r = self.store.read()?;
            r.get_link(issue.issue.project_integration_id)?
        };
        let configured = link
            .as_ref()
            .and_then(|l| l.override_settings.as_ref())
            .and_then(|s| s.get("username"))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let who = match configured {
            Some(u) => u,
            None => self.trackers.identity_for(caller.id(), &issue.provider)?.ok_or_else(|| {
                AppError::BadRequest(format!(
                    "No {p} identity configured for user: set your {p} username on the Account page or with PUT /api/v1/auth/identity",
                    p = issue.provider
                ))
            })?,
        };
        let provider = issue.provider.clone();
        let (issue, warning) = match self
            .trackers
            .assign_issue(caller, issue_id, None, Some(who))
            .await
        {
            Ok(v) => (v, None),
            Err(e) => (
                issue,
                Some(format!("Could not assign issue on {provider}: {e}")),
            ),
        };
        let workspace = self.git.workspace_status(caller, issue.issue.project_id)?;
        let pid = issue.issue.project_id;
        let next_steps = vec![
            format!(
                "Start an agent on it: aiops issues start {issue_id} (or aiops issues work {issue_id})"
            ),
            format!(
                "Report progress: aiops workflow progress {issue_id} \"in progress\" --comment \"…\""
            ),
            format!(
                "Commit, push and comment: aiops workflow submit {issue_id} --project {pid} --message \"…\""
            ),
            format!("Close it with a summary: aiops workflow complete {issue_id} --summary \"…\""),
        ];
        Ok(Claimed {
            issue,
            workspace,
            next_steps,
            warning,
        })
    }

    /// Post `**Status Update:** <status>` (and the comment) on the issue.
    pub async fn workflow_progress(
        &self,
        caller: &Identity,
        issue_id: IssueId,
        status: &str,
        comment: Option<&str>,
    ) -> AppResult<Comment> {
        let status = status.trim();
        if status.is_empty() {
            return Err(AppError::BadRequest(
                "issue_id and status are required".into(),
            ));
        }
        self.trackers
            .comment_issue(
                caller,
                issue_id,
                &with_text(&format!("**Status Update:** {status}"), comment),
            )
            .await
    }

    /// Commit the workspace's changes (all, or `files`), push the branch, and comment the commit
    /// on the issue. A failed comment is a warning: the commit and push already happened.
    pub async fn workflow_submit(
        &self,
        caller: &Identity,
        req: SubmitRequest,
    ) -> AppResult<Submitted> {
        caller.require(Scope::Write)?;
        let issue = self.trackers.issue_for_work(caller, req.issue_id)?;
        if issue.issue.project_id != req.project_id {
            return Err(AppError::BadRequest(format!(
                "Issue {} belongs to project {}, not {}",
                req.issue_id, issue.issue.project_id, req.project_id
            )));
        }
        let (commit_output, hash) = self
            .git
            .git_commit(caller, req.project_id, &req.message, &req.files)
            .await?;
        let short: String = hash.chars().take(7).collect();
        let (branch, push_output) = if req.push {
            let ws = self.git.workspace(caller, req.project_id)?;
            let branch = crate::store::run_blocking(|| super::git::current_branch(&ws.path))?;
            let out = self.git.git_push(caller, req.project_id, None).await.map_err(|e| {
                AppError::Conflict(format!(
                    "Committed {short} but the push failed: {e}. The commit is in your workspace; fix the cause and run `aiops git push {}` (or submit again with nothing new to commit)",
                    req.project_id
                ))
            })?;
            (branch, Some(out))
        } else {
            (None, None)
        };
        let mut head = format!(
            "**Changes Committed**\n\nCommit: `{short}`{}\n\nMessage: {}",
            branch
                .as_deref()
                .map(|b| format!(" pushed to `{b}`"))
                .unwrap_or_default(),
            req.message.trim()
        );
        if let Some(c) = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            head.push_str(&format!("\n\n{c}"));
        }
        let (comment, warning) = match self
            .trackers
            .comment_issue(caller, req.issue_id, &head)
            .await
        {
            Ok(c) => (Some(c), None),
            Err(e) => (
                None,
                Some(format!("The commit comment was not posted: {e}")),
            ),
        };
        Ok(Submitted {
            commit_hash: short,
            commit_output,
            branch,
            push_output,
            comment,
            warning,
        })
    }

    /// Ask for review on the issue.
    pub async fn workflow_approve(
        &self,
        caller: &Identity,
        issue_id: IssueId,
        message: Option<&str>,
    ) -> AppResult<Comment> {
        self.trackers
            .comment_issue(
                caller,
                issue_id,
                &with_text(
                    "**📝 Review Request**\n\nChanges are ready for review.",
                    message,
                ),
            )
            .await
    }

    /// Comment `**✅ Issue Completed**` (and the summary) and close the issue on the tracker.
    pub async fn workflow_complete(
        &self,
        caller: &Identity,
        issue_id: IssueId,
        summary: Option<&str>,
    ) -> AppResult<IssueView> {
        self.trackers
            .comment_issue(
                caller,
                issue_id,
                &with_text("**✅ Issue Completed**", summary),
            )
            .await?;
        self.trackers.close_issue(caller, issue_id, false).await
    }
}
