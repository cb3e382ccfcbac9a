//! The issue workflow agents follow: claim an issue, report progress, submit changes (commit,
//! push and comment), ask for review, complete (comment and close). Every step goes through
//! the tracker providers, so the issue in GitHub/GitLab/Jira shows what happened.

use super::git::WorkspaceStatus;
use super::issues::IssueView;
use super::sessions::Sessions;
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::ProjectId;
use crate::domain::issues::{code_host_identifier, repo_location};
use crate::domain::rules::validate_branch;
use crate::domain::{
    AiSession, Comment, ExternalIssue, LinkId, ProjectIntegration, PullRequest, Scope,
    TenantIntegration,
};
use crate::error::{AppError, AppResult};
use crate::services::trackers::AnyProvider;
use crate::services::trackers::pulls::{NewPull, PullPayload};
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
    /// The pull request opened with `pr`.
    pub pull_request: Option<PullRequest>,
}

pub struct SubmitRequest {
    pub issue_id: IssueId,
    pub project_id: ProjectId,
    pub message: String,
    pub files: Vec<String>,
    pub comment: Option<String>,
    /// Push the current branch after committing (default on).
    pub push: bool,
    /// Also open the pull request of the session's branch (a worktree session, pushed).
    pub pr: bool,
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
        if let Some(s) = self.worktree_session(caller, req.project_id, req.issue_id)? {
            let mut done = self.submit_in_worktree(caller, &req, &s).await?;
            if req.pr {
                if done.push_output.is_none() {
                    return Err(AppError::BadRequest(
                        "A pull request needs the branch pushed: submit without --no-push".into(),
                    ));
                }
                match self
                    .open_or_merge_for_session(
                        caller,
                        &s.id.to_string(),
                        false,
                        req.comment.as_deref(),
                    )
                    .await
                {
                    Ok(p) => done.pull_request = Some(p),
                    Err(e) => {
                        let w = format!("Pushed, but the pull request was not opened: {e}");
                        done.warning = Some(match done.warning.take() {
                            Some(old) => format!("{old}; {w}"),
                            None => w,
                        });
                    }
                }
            }
            return Ok(done);
        }
        if req.pr {
            return Err(AppError::BadRequest(format!(
                "--pr needs a session on issue {} working in its own worktree (start it with aiops issues start {})",
                req.issue_id, req.issue_id
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
        self.commented(caller, &req, short, commit_output, branch, push_output)
            .await
    }

    /// Comment the commit on the issue (`**Changes Committed**`) and shape the answer.
    async fn commented(
        &self,
        caller: &Identity,
        req: &SubmitRequest,
        short: String,
        commit_output: String,
        branch: Option<String>,
        push_output: Option<String>,
    ) -> AppResult<Submitted> {
        let mut head = format!(
            "**Changes Committed**\n\nCommit: `{short}`{}\n\nMessage: {}",
            branch
                .as_deref()
                .filter(|_| push_output.is_some())
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
            pull_request: None,
        })
    }

    /// The caller's session on the issue that works in a worktree (the active one first, then
    /// the newest), if any: `workflow submit` then commits and pushes there.
    pub(crate) fn worktree_session(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        issue_id: IssueId,
    ) -> AppResult<Option<AiSession>> {
        let r = self.store.read()?;
        let mut mine: Vec<AiSession> = r
            .ai_sessions_of_user(caller.id())?
            .into_iter()
            .filter(|s| {
                s.project_id == project_id
                    && s.issue_id == Some(issue_id)
                    && s.branch.is_some()
                    && s.workspace_path.is_some()
                    && caller.project_limit().is_none_or(|p| p == s.project_id)
            })
            .collect();
        mine.sort_by_key(|s| (s.is_active, s.started_at));
        Ok(mine.pop())
    }

    /// Commit the worktree's changes and push its branch (upstream set), then comment.
    async fn submit_in_worktree(
        &self,
        caller: &Identity,
        req: &SubmitRequest,
        s: &AiSession,
    ) -> AppResult<Submitted> {
        let branch = s.branch.clone().unwrap_or_default();
        let path = std::path::PathBuf::from(s.workspace_path.clone().unwrap_or_default());
        let done = self
            .git
            .worktree_submit(
                caller,
                req.project_id,
                super::git::WorktreeCommit {
                    path: &path,
                    branch: &branch,
                    message: &req.message,
                    files: &req.files,
                    push: req.push,
                },
            )
            .await
            .map_err(|e| match e {
                AppError::Conflict(m) | AppError::BadRequest(m) if m.contains("git push failed") => {
                    AppError::Conflict(format!(
                        "{m}. The commit is on branch {branch} in the worktree {}; fix the cause and submit again (nothing new to commit is fine)",
                        path.display()
                    ))
                }
                other => other,
            })?;
        let short: String = done.hash.chars().take(7).collect();
        self.commented(
            caller,
            req,
            short,
            done.commit_output,
            Some(branch),
            done.push_output,
        )
        .await
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

/// The text of a new pull request: the issue's title and description, the agent's progress
/// notes (its `**Status Update:**` comments, oldest first) and the link back to the issue:
/// `Closes #N` when the issue lives on the same tracker as the repository, else the issue's
/// key and URL (a Jira issue).
pub fn pull_body(
    issue: &ExternalIssue,
    issue_provider: &str,
    host_provider: &str,
    summary: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(d) = issue
        .body
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        out.push_str(d);
        out.push_str("\n\n");
    }
    let notes: Vec<&str> = issue
        .comments
        .iter()
        .rev()
        .map(|c| c.body.trim())
        .filter(|b| b.starts_with("**Status Update:**"))
        .collect();
    let summary = summary.map(str::trim).filter(|s| !s.is_empty());
    if summary.is_some() || !notes.is_empty() {
        out.push_str("## Agent summary\n\n");
        for n in notes {
            out.push_str(&format!(
                "- {}\n",
                n.trim_start_matches("**Status Update:**").trim()
            ));
        }
        if let Some(s) = summary {
            out.push_str(s);
            out.push('\n');
        }
        out.push('\n');
    }
    if issue_provider == host_provider {
        out.push_str(&format!("Closes #{}", issue.external_id));
    } else {
        out.push_str(&format!("Issue {}", issue.external_id));
        if let Some(u) = &issue.url {
            out.push_str(&format!(": {u}"));
        }
    }
    out
}

impl Sessions {
    /// The project's GitHub or GitLab link as a provider (the caller's credentials first), for
    /// pull requests; the caller must be able to work in the project.
    async fn pull_host(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<(AnyProvider, String)> {
        caller.require(Scope::Write)?;
        let ws = self.git.workspace(caller, project_id)?;
        let links = {
            let r = self.store.read()?;
            r.links_of_project(project_id)?
        };
        for link in links {
            let (p, integ, _) = self.trackers.provider_for(&link, Some(caller.id()))?;
            if integ.provider == "github" || integ.provider == "gitlab" {
                return Ok((p, integ.provider));
            }
        }
        // No code-host link (a Jira-tracked project): the tenant's GitHub or GitLab integration
        // for the host the repository lives on, with the repository's path as its identifier.
        let location = repo_location(&ws.project.repo_url);
        if let Some((host, path)) = &location {
            let integrations: Vec<TenantIntegration> = {
                let r = self.store.read()?;
                r.integrations()?
            };
            for integ in integrations.into_iter().filter(|i| {
                i.enabled
                    && i.tenant_id == ws.project.tenant_id
                    && (i.provider == "github" || i.provider == "gitlab")
            }) {
                let Some(identifier) =
                    code_host_identifier(&integ.provider, integ.base_url.as_deref(), host, path)
                else {
                    continue;
                };
                let link = ProjectIntegration {
                    id: LinkId(0),
                    project_id,
                    integration_id: integ.id,
                    external_identifier: identifier,
                    config: serde_json::Value::Null,
                    last_synced_at: None,
                    override_api_token_enc: None,
                    override_base_url: None,
                    override_settings: None,
                    created_at: crate::domain::model::now(),
                    updated_at: crate::domain::model::now(),
                };
                let (p, integ, _) = self.trackers.provider_for(&link, Some(caller.id()))?;
                return Ok((p, integ.provider));
            }
        }
        Err(AppError::BadRequest(format!(
            "Project {} has no GitHub or GitLab integration for pull requests: link one (aiops projects link …), or add one to its tenant for {}",
            ws.project.name,
            location.map_or_else(
                || "the host of its repository (its repository URL names no host)".to_string(),
                |(h, _)| h
            )
        )))
    }

    /// Open a pull request from `head` into `base` (default: the project's default branch).
    pub async fn pull_create(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        mut req: NewPull,
    ) -> AppResult<PullRequest> {
        let (host, provider) = self.pull_host(caller, project_id).await?;
        validate_branch(&req.head)
            .map_err(|e| AppError::BadRequest(format!("Invalid source branch: {e}")))?;
        if req.base.trim().is_empty() {
            req.base = self
                .git
                .workspace(caller, project_id)?
                .project
                .default_branch;
        }
        validate_branch(&req.base)
            .map_err(|e| AppError::BadRequest(format!("Invalid target branch: {e}")))?;
        let p = host.open_pull(&req).await?;
        Ok(pull_of(p, &provider))
    }

    /// The project's pull requests in `state` (open, closed, merged, all).
    pub async fn pull_list(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        state: Option<&str>,
    ) -> AppResult<Vec<PullRequest>> {
        let state = match state.map(str::trim).filter(|s| !s.is_empty()) {
            None => "open",
            Some(s @ ("open" | "closed" | "merged" | "all")) => s,
            Some(o) => {
                return Err(AppError::BadRequest(format!(
                    "state must be open, closed, merged or all, not '{o}'"
                )));
            }
        };
        let (host, provider) = self.pull_host(caller, project_id).await?;
        Ok(host
            .list_pulls(state)
            .await?
            .into_iter()
            .map(|p| pull_of(p, &provider))
            .collect())
    }

    /// Merge pull request `number`; the session that opened it (if any) records the new state.
    pub async fn pull_merge(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        number: u64,
    ) -> AppResult<PullRequest> {
        let (host, provider) = self.pull_host(caller, project_id).await?;
        let pr = pull_of(host.merge_pull(number).await?, &provider);
        let owned: Vec<AiSession> = {
            let r = self.store.read()?;
            r.ai_sessions_of_project(project_id)?
        };
        for mut s in owned.into_iter().filter(|s| {
            s.pull_request
                .as_ref()
                .is_some_and(|p| p.number == number && p.provider == provider)
        }) {
            s.pull_request = Some(pr.clone());
            self.save_pull(&s)?;
        }
        Ok(pr)
    }

    /// The review page's Approve and `workflow submit --pr`: open the pull request of the
    /// session's branch (its issue's title and description, the agent's notes, `Closes #N`), or
    /// answer the one already open; with `merge`, merge it too. Only the session's owner (or an
    /// administrator) reaches a session: anyone else's answer is "not found".
    pub async fn open_or_merge_for_session(
        &self,
        caller: &Identity,
        key: &str,
        merge: bool,
        summary: Option<&str>,
    ) -> AppResult<PullRequest> {
        caller.require(Scope::Write)?;
        let mut s = self.session_row(caller, key)?;
        let (Some(branch), Some(issue_id)) = (s.branch.clone(), s.issue_id) else {
            return Err(AppError::BadRequest(format!(
                "Session {} has no branch of its own (only issue sessions work in a worktree); use aiops git pr-create",
                s.id
            )));
        };
        let owner = self.owner_identity(caller, &s)?;
        let (host, provider) = self.pull_host(&owner, s.project_id).await?;
        let mut pr = match s.pull_request.clone().filter(|p| p.provider == provider) {
            Some(p) => p,
            None => {
                let issue = self.trackers.issue_for_work(&owner, issue_id)?;
                let base = s.base.clone().unwrap_or_default();
                let req = NewPull {
                    title: issue.issue.title.clone(),
                    body: pull_body(&issue.issue, &issue.provider, &provider, summary),
                    head: branch,
                    base,
                };
                let pr = pull_of(host.open_pull(&req).await?, &provider);
                s.pull_request = Some(pr.clone());
                self.save_pull(&s)?;
                pr
            }
        };
        if merge && pr.state != "merged" {
            pr = pull_of(host.merge_pull(pr.number).await?, &provider);
            s.pull_request = Some(pr.clone());
            self.save_pull(&s)?;
        }
        Ok(pr)
    }

    /// The pull requests opened for an issue's sessions (newest first), for those who see the
    /// issue.
    pub fn pulls_of_issue(
        &self,
        caller: &Identity,
        issue_id: IssueId,
    ) -> AppResult<Vec<PullRequest>> {
        let issue = self.trackers.get_issue(caller, issue_id)?.issue;
        let r = self.store.read()?;
        let mut v: Vec<PullRequest> = r
            .ai_sessions_of_project(issue.project_id)?
            .into_iter()
            .filter(|s| s.issue_id == Some(issue_id))
            .filter_map(|s| s.pull_request)
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.updated_at));
        v.dedup_by(|a, b| a.number == b.number && a.provider == b.provider);
        Ok(v)
    }

    /// Keep a session's pull request on its row (the rest of the row as stored now).
    fn save_pull(&self, s: &AiSession) -> AppResult<()> {
        let w = self.store.write()?;
        if let Some(mut row) = w.ai_session(s.id)? {
            row.pull_request = s.pull_request.clone();
            w.put_ai_session(&row)?;
        }
        w.commit()
    }
}

fn pull_of(p: PullPayload, provider: &str) -> PullRequest {
    PullRequest {
        number: p.number,
        url: p.url,
        state: p.state,
        provider: provider.to_string(),
        head: p.head,
        base: p.base,
        updated_at: crate::domain::model::now(),
    }
}
