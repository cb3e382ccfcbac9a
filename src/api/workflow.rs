//! The agent workflow (`/workflows/*`), the global agent instructions (`/agents/global`) and
//! each project's (`/projects/{id}/agents/context`).

use super::common::{AppRef, R};
use super::gate::Auth;
use super::git::WorkspaceStatusObj;
use super::issues::{CommentObj, IssueObj};
use super::strict::{Str, opt};
use crate::domain::Timestamp;
use crate::services::workflow::SubmitRequest;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// The issue workflow agents follow: claim, progress, submit, approval, complete
    Workflows,
    /// The instructions every agent context file starts with: global, then the project's
    Agents,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct IssueIdBody {
    pub issue_id: u64,
}

#[derive(Object)]
pub struct ClaimResult {
    pub message: String,
    pub issue: IssueObj,
    pub workspace: WorkspaceStatusObj,
    pub next_steps: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub warning: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProgressBody {
    pub issue_id: u64,
    #[oai(validator(max_length = 200))]
    pub status: Str,
    #[oai(validator(max_length = 60000))]
    pub comment: Option<Str>,
}

#[derive(Object)]
pub struct ProgressResult {
    pub message: String,
    pub status: String,
    pub comment: CommentObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SubmitBody {
    pub issue_id: u64,
    pub project_id: u64,
    #[oai(validator(max_length = 20000))]
    pub commit_message: Str,
    /// Only these paths (relative to the workspace); everything when absent.
    pub files: Option<Vec<String>>,
    #[oai(validator(max_length = 60000))]
    pub comment: Option<Str>,
    /// Push the current branch after committing (default true).
    pub push: Option<bool>,
    /// Also open the pull (merge) request of the session's branch (issue sessions in a
    /// worktree; needs the push).
    pub pr: Option<bool>,
}

#[derive(Object)]
pub struct SubmitResult {
    pub message: String,
    /// The first 7 characters of the new commit.
    pub commit_hash: String,
    pub commit_output: String,
    /// The branch pushed (null with `push: false`).
    #[oai(nullable)]
    pub branch: Option<String>,
    #[oai(nullable)]
    pub push_output: Option<String>,
    /// The comment posted on the issue (null when posting failed: see `warning`).
    #[oai(nullable)]
    pub comment: Option<CommentObj>,
    #[oai(skip_serializing_if_is_none)]
    pub warning: Option<String>,
    /// The pull request opened with `pr: true`.
    #[oai(skip_serializing_if_is_none)]
    pub pull_request: Option<super::pulls::PullObj>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ApprovalBody {
    pub issue_id: u64,
    #[oai(validator(max_length = 60000))]
    pub message: Option<Str>,
}

#[derive(Object)]
pub struct CommentResult {
    pub message: String,
    pub comment: CommentObj,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CompleteBody {
    pub issue_id: u64,
    #[oai(validator(max_length = 60000))]
    pub summary: Option<Str>,
}

#[derive(Object)]
pub struct IssueResult {
    pub message: String,
    pub issue: IssueObj,
}

#[derive(Object)]
pub struct UserRef {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Object)]
pub struct GlobalObj {
    /// Left out when no instructions are set.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<u64>,
    #[oai(nullable)]
    pub content: Option<String>,
    /// Left out when no instructions are set.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<Timestamp>,
    #[oai(nullable)]
    pub updated_at: Option<Timestamp>,
    #[oai(nullable)]
    pub updated_by: Option<UserRef>,
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct GlobalBody {
    #[oai(validator(max_length = 1000000))]
    pub content: Str,
}

/// A project's own agent instructions (the project's part of AGENTS.override.md).
#[derive(Object)]
pub struct ProjectContextObj {
    pub project_id: u64,
    /// Null: the project has no instructions of its own.
    #[oai(nullable)]
    pub content: Option<String>,
    #[oai(nullable)]
    pub updated_at: Option<Timestamp>,
    #[oai(nullable)]
    pub updated_by: Option<UserRef>,
    /// Whether you may change them (maintainers of the project, with a write-scope key).
    pub can_edit: bool,
    /// The AGENTS.override.md a session without an issue starts with: global + project +
    /// the issue placeholder (with an issue, its details take the placeholder's place).
    pub preview: String,
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

impl From<crate::services::context::ProjectContextView> for ProjectContextObj {
    fn from(v: crate::services::context::ProjectContextView) -> Self {
        ProjectContextObj {
            project_id: v.project_id.get(),
            updated_at: v.context.as_ref().map(|c| c.updated_at),
            content: v.context.map(|c| c.content),
            updated_by: v.updated_by.map(|u| UserRef {
                id: u.id.get(),
                name: u.name,
                email: u.email,
            }),
            can_edit: v.can_edit,
            preview: v.preview,
            message: None,
        }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectContextBody {
    /// Markdown, stored as given (line endings normalised); at most 32 KiB. Blank removes them.
    #[oai(validator(max_length = 1000000))]
    pub content: Str,
}

#[derive(Object)]
pub struct ContextResult {
    pub message: String,
    /// The file written (`AGENTS.override.md` in your workspace).
    pub tracked_path: String,
}

#[derive(Object)]
pub struct MessageObj {
    pub message: String,
}

pub struct WorkflowApi;

#[OpenApi]
impl WorkflowApi {
    /// Assign the issue to yourself on its tracker (or to the link's configured username).
    #[oai(
        path = "/workflows/claim-issue",
        method = "post",
        tag = "Tag::Workflows"
    )]
    async fn claim(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<IssueIdBody>,
    ) -> R<Json<ClaimResult>> {
        let c = app
            .sessions
            .workflow_claim(auth.identity(), body.0.issue_id.into())
            .await?;
        Ok(Json(ClaimResult {
            message: "Issue claimed successfully".into(),
            issue: c.issue.into(),
            workspace: WorkspaceStatusObj {
                error: None,
                exists: c.workspace.exists,
                path: c.workspace.path.display().to_string(),
                has_git: c.workspace.has_git,
            },
            next_steps: c.next_steps,
            warning: c.warning,
        }))
    }

    /// Comment `**Status Update:** <status>` (and your comment) on the issue.
    #[oai(
        path = "/workflows/update-progress",
        method = "post",
        tag = "Tag::Workflows"
    )]
    async fn progress(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ProgressBody>,
    ) -> R<Json<ProgressResult>> {
        let b = body.0;
        let comment = opt(b.comment);
        let c = app
            .sessions
            .workflow_progress(
                auth.identity(),
                b.issue_id.into(),
                &b.status.0,
                comment.as_deref(),
            )
            .await?;
        Ok(Json(ProgressResult {
            message: "Progress updated successfully".into(),
            status: b.status.0.trim().to_string(),
            comment: c.into(),
        }))
    }

    /// Commit your workspace's changes, push the branch, and comment the commit on the issue.
    #[oai(
        path = "/workflows/submit-changes",
        method = "post",
        tag = "Tag::Workflows"
    )]
    async fn submit(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<SubmitBody>,
    ) -> R<Json<SubmitResult>> {
        let b = body.0;
        let s = app
            .sessions
            .workflow_submit(
                auth.identity(),
                SubmitRequest {
                    issue_id: b.issue_id.into(),
                    project_id: b.project_id.into(),
                    message: b.commit_message.0,
                    files: b.files.unwrap_or_default(),
                    comment: opt(b.comment),
                    push: b.push.unwrap_or(true),
                    pr: b.pr.unwrap_or(false),
                },
            )
            .await?;
        Ok(Json(SubmitResult {
            message: "Changes submitted successfully".into(),
            commit_hash: s.commit_hash,
            commit_output: s.commit_output,
            branch: s.branch,
            push_output: s.push_output,
            comment: s.comment.map(Into::into),
            warning: s.warning,
            pull_request: s.pull_request.map(Into::into),
        }))
    }

    /// Comment a review request on the issue.
    #[oai(
        path = "/workflows/request-approval",
        method = "post",
        tag = "Tag::Workflows"
    )]
    async fn approval(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ApprovalBody>,
    ) -> R<Json<CommentResult>> {
        let b = body.0;
        let m = opt(b.message);
        let c = app
            .sessions
            .workflow_approve(auth.identity(), b.issue_id.into(), m.as_deref())
            .await?;
        Ok(Json(CommentResult {
            message: "Approval requested successfully".into(),
            comment: c.into(),
        }))
    }

    /// Comment `**✅ Issue Completed**` (and the summary) and close the issue on its tracker.
    #[oai(
        path = "/workflows/complete-issue",
        method = "post",
        tag = "Tag::Workflows"
    )]
    async fn complete(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<CompleteBody>,
    ) -> R<Json<IssueResult>> {
        let b = body.0;
        let s = opt(b.summary);
        let i = app
            .sessions
            .workflow_complete(auth.identity(), b.issue_id.into(), s.as_deref())
            .await?;
        Ok(Json(IssueResult {
            message: "Issue completed successfully".into(),
            issue: i.into(),
        }))
    }

    /// Regenerate `AGENTS.override.md` for the issue in your workspace (cloned first if needed):
    /// the global instructions, your notes in the file, and a fresh issue block.
    #[oai(
        path = "/issues/:id/agent-context",
        method = "post",
        tag = "Tag::Agents"
    )]
    async fn populate(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: poem_openapi::param::Path<u64>,
    ) -> R<Json<ContextResult>> {
        let w = app
            .sessions
            .populate_context(auth.identity(), id.0.into())
            .await?;
        Ok(Json(ContextResult {
            message: "Updated agent context files.".into(),
            tracked_path: w.path.display().to_string(),
        }))
    }

    /// The global agent instructions (null content: agents get the repository's AGENTS.md).
    #[oai(path = "/agents/global", method = "get", tag = "Tag::Agents")]
    async fn global_get(&self, app: AppRef<'_>, auth: Auth) -> R<Json<GlobalObj>> {
        Ok(Json(
            match app.sessions.global_context_with_id(auth.identity())? {
                Some((g, by, id)) => GlobalObj {
                    id: Some(id),
                    content: Some(g.content),
                    created_at: Some(g.created_at),
                    updated_at: Some(g.updated_at),
                    updated_by: by.map(|u| UserRef {
                        id: u.id.get(),
                        name: u.name,
                        email: u.email,
                    }),
                    message: None,
                },
                None => GlobalObj {
                    id: None,
                    content: None,
                    created_at: None,
                    updated_at: None,
                    updated_by: None,
                    message: Some(
                        "No global context set. System will use AGENTS.md from repository.".into(),
                    ),
                },
            },
        ))
    }

    /// Set the global agent instructions (admins).
    #[oai(path = "/agents/global", method = "put", tag = "Tag::Agents")]
    async fn global_put(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<GlobalBody>,
    ) -> R<Json<GlobalObj>> {
        let (g, id) = app
            .sessions
            .set_global_context_with_id(auth.identity(), &body.0.content.0)?;
        let u = &auth.identity().user;
        Ok(Json(GlobalObj {
            id: Some(id),
            content: Some(g.content),
            created_at: Some(g.created_at),
            updated_at: Some(g.updated_at),
            updated_by: Some(UserRef {
                id: u.id.get(),
                name: u.name.clone(),
                email: u.email.clone(),
            }),
            message: Some("Global agent context updated successfully".into()),
        }))
    }

    /// A project's own agent instructions, and the file an agent gets (members of the project).
    #[oai(
        path = "/projects/:id/agents/context",
        method = "get",
        tag = "Tag::Agents"
    )]
    async fn project_context_get(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: poem_openapi::param::Path<u64>,
    ) -> R<Json<ProjectContextObj>> {
        Ok(Json(
            app.sessions
                .project_context(auth.identity(), id.0.into())?
                .into(),
        ))
    }

    /// Set a project's own agent instructions (maintainers of the project); blank text removes
    /// them. Agents started from then on get them after the global instructions.
    #[oai(
        path = "/projects/:id/agents/context",
        method = "put",
        tag = "Tag::Agents"
    )]
    async fn project_context_put(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: poem_openapi::param::Path<u64>,
        body: Json<ProjectContextBody>,
    ) -> R<Json<ProjectContextObj>> {
        let v = crate::store::run_blocking(|| {
            app.sessions
                .set_project_context(auth.identity(), id.0.into(), &body.0.content.0)
        })?;
        let saved = v.context.is_some();
        let mut o: ProjectContextObj = v.into();
        o.message = Some(
            if saved {
                "Project agent instructions updated"
            } else {
                "Project agent instructions removed"
            }
            .into(),
        );
        Ok(Json(o))
    }

    /// Remove the global agent instructions (admins): agents get the repository's AGENTS.md.
    #[oai(path = "/agents/global", method = "delete", tag = "Tag::Agents")]
    async fn global_delete(&self, app: AppRef<'_>, auth: Auth) -> R<Json<MessageObj>> {
        let existed = app.sessions.clear_global_context(auth.identity())?;
        Ok(Json(MessageObj {
            message: if existed {
                "Global agent context deleted. System will now use AGENTS.md from repository."
            } else {
                "No global context to delete. System already uses AGENTS.md from repository."
            }
            .into(),
        }))
    }
}
