//! Tracker issues: list, read, write through to the tracker (create, edit, close, reopen,
//! comment, assign, refresh), the local status and pins. The list's paging and streaming are in
//! `issue_list`; sync is in `sync`.

use super::common::{AppRef, Created, R};
use super::gate::Auth;
use super::issue_list::{IssuesListResponse, page_issues, stream_issues};
use super::strict::{Str, opt};
use crate::domain::{Comment, Timestamp};
use crate::error::AppError;
use crate::services::issues::{IssueFilter, IssueView, NewIssue};
use crate::services::trackers::UpdateRequest;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use std::sync::Arc;

#[derive(Tags)]
pub(super) enum Tag {
    /// Tracker issues: list, read, write through to GitHub/GitLab/Jira, pins, sync
    Issues,
}

#[derive(Object)]
pub struct CommentObj {
    /// The tracker's comment id (needed to edit it).
    #[oai(nullable)]
    pub id: Option<String>,
    pub author: String,
    pub body: String,
    #[oai(nullable)]
    pub created_at: Option<String>,
    #[oai(nullable)]
    pub url: Option<String>,
}

impl From<Comment> for CommentObj {
    fn from(c: Comment) -> Self {
        CommentObj {
            id: c.id,
            author: c.author,
            body: c.body,
            created_at: c.created_at,
            url: c.url,
        }
    }
}

#[derive(Object)]
pub struct IssueObj {
    /// The aiops id: use it everywhere (API, CLI, pins, sessions).
    pub id: u64,
    /// The tracker's number or key (`42`, `PROJ-12`).
    pub external_id: String,
    pub title: String,
    /// The tracker's status, verbatim.
    #[oai(nullable)]
    pub status: Option<String>,
    /// `open`, `closed`, `__none__` or a slug of the status.
    pub status_key: String,
    pub status_label: String,
    #[oai(nullable)]
    pub assignee: Option<String>,
    #[oai(nullable)]
    pub url: Option<String>,
    pub labels: Vec<String>,
    /// The description as Markdown (single-issue answers only; lists leave it out).
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// Newest first (at most 20).
    pub comments: Vec<CommentObj>,
    pub provider: String,
    pub provider_key: String,
    pub integration_id: u64,
    pub integration_name: String,
    pub project_id: u64,
    pub project_name: String,
    pub tenant_id: u64,
    pub tenant_name: String,
    /// True when the last full sync no longer found it upstream (deleted or moved).
    pub missing_upstream: bool,
    pub updated_at: Timestamp,
    pub created_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub pinned_at: Option<Timestamp>,
}

impl From<IssueView> for IssueObj {
    fn from(v: IssueView) -> Self {
        let i = v.issue;
        IssueObj {
            id: i.id.get(),
            external_id: i.external_id,
            title: i.title,
            status: i.status,
            status_key: v.status_key,
            status_label: v.status_label,
            assignee: i.assignee,
            url: i.url,
            labels: i.labels,
            description: i.body,
            comments: i.comments.into_iter().map(Into::into).collect(),
            provider_key: v.provider.to_lowercase(),
            provider: v.provider,
            integration_id: v.integration_id.get(),
            integration_name: v.integration_name,
            project_id: i.project_id.get(),
            project_name: v.project_name,
            tenant_id: i.tenant_id.get(),
            tenant_name: v.tenant_name,
            missing_upstream: i.missing_upstream,
            updated_at: i.external_updated_at.unwrap_or(i.updated_at),
            created_at: i.created_at,
            pinned_at: v.pinned_at,
        }
    }
}

#[derive(Object)]
pub struct IssueEnvelope {
    pub issue: IssueObj,
}

#[derive(Object)]
pub struct PinnedEnvelope {
    pub issues: Vec<IssueObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct PinResult {
    pub message: String,
    pub issue_id: u64,
    #[oai(skip_serializing_if_is_none)]
    pub pinned_at: Option<Timestamp>,
}

#[derive(Object)]
pub struct CommentEnvelope {
    pub message: String,
    pub comment: CommentObj,
}

#[derive(Object)]
pub struct CreateIssueRequest {
    pub project_id: Option<u64>,
    pub integration_id: Option<u64>,
    #[oai(validator(max_length = 512))]
    pub title: Option<Str>,
    #[oai(validator(max_length = 65536))]
    pub description: Option<Str>,
    pub labels: Option<Vec<Str>>,
    /// A tracker identity (GitHub login, GitLab username, Jira account id).
    #[oai(validator(max_length = 255))]
    pub assignee: Option<Str>,
    /// An aiops user, assigned through their identity mapping.
    pub assignee_user_id: Option<u64>,
    /// Jira only (default `Task` or the link's `issue_type`).
    #[oai(validator(max_length = 100))]
    pub issue_type: Option<Str>,
    /// Jira only.
    #[oai(validator(max_length = 100))]
    pub priority: Option<Str>,
}

#[derive(Object)]
pub struct UpdateIssueRequest {
    #[oai(validator(max_length = 512))]
    pub title: Option<Str>,
    #[oai(validator(max_length = 65536))]
    pub description: Option<Str>,
    /// `open` or `closed` (through the tracker's workflow).
    #[oai(validator(max_length = 32))]
    pub status: Option<Str>,
    /// Replaces the whole label set.
    pub labels: Option<Vec<Str>>,
}

#[derive(Object)]
pub struct CommentRequest {
    #[oai(validator(max_length = 65536))]
    pub body: Option<Str>,
}

#[derive(Object)]
pub struct AssignRequest {
    /// An aiops user (mapped to their tracker identity).
    pub user_id: Option<u64>,
    /// A tracker identity.
    #[oai(validator(max_length = 255))]
    pub assignee: Option<Str>,
}

#[derive(Object)]
pub struct LocalStatusRequest {
    /// Stored locally only (no tracker call); blank clears it. At most 128 characters.
    #[oai(validator(max_length = 1000))]
    pub status: Str,
}

fn labels(v: Option<Vec<Str>>) -> Option<Vec<String>> {
    v.map(|l| {
        crate::domain::issues::parse_labels(
            &l.into_iter().map(|s| s.0).collect::<Vec<_>>().join(","),
        )
    })
}

pub struct IssuesApi;

#[OpenApi(tag = "Tag::Issues")]
impl IssuesApi {
    /// Stored issues, **oldest first** (ascending id) unless `sort=-id`. Non-admins see the
    /// issues of their own projects.
    ///
    /// **Without `limit`, every matching issue is returned**, streamed as it is read (one
    /// consistent snapshot; the server's memory stays flat however many there are); `limit` is
    /// then null and `next` null.
    ///
    /// **Paging** (the way for new clients): pass `limit` (any positive number) and optionally
    /// `offset` (matching issues to skip). When more issues follow, the answer carries the next
    /// page's relative URL in the `next` field and in a `Link: <…>; rel="next"` header, with
    /// every other query parameter kept; follow it until `next` is null. `total` counts every
    /// matching issue, `count` the ones in this answer.
    #[oai(path = "/issues", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        req: &poem::Request,
        /// `open`, `closed`, a status slug (`in_progress`, `waiting_on_customer`), `__none__`
        /// or `all`; compared as the issues' `status_key`, in any case (`OPEN` = `open`).
        status: Query<Option<String>>,
        /// github, gitlab, jira or all (any case)
        provider: Query<Option<String>>,
        /// Alias of `provider`.
        source: Query<Option<String>>,
        /// Only this project's issues (404 when you cannot see it).
        project_id: Query<Option<u64>>,
        tenant_id: Query<Option<u64>>,
        integration_id: Query<Option<u64>>,
        /// Case-insensitive part of the assignee; `me` = your mapped tracker identities.
        assignee: Query<Option<String>>,
        /// Comma-separated; an issue matches when it has any of them.
        labels: Query<Option<String>>,
        /// Text in the title or external id.
        q: Query<Option<String>>,
        /// Page size: a positive number, no maximum. Leave it out for every matching issue.
        limit: Query<Option<i64>>,
        /// Matching issues to skip (default 0), with or without `limit`.
        offset: Query<Option<i64>>,
        /// `id` (default: oldest first) or `-id` (newest first).
        sort: Query<Option<String>>,
    ) -> R<IssuesListResponse> {
        use crate::domain::issues::{parse_sort, validate_limit, validate_offset};
        let limit = validate_limit(limit.0).map_err(AppError::BadRequest)?;
        let offset = validate_offset(offset.0).map_err(AppError::BadRequest)?;
        let sort = parse_sort(sort.0.as_deref()).map_err(AppError::BadRequest)?;
        let f = IssueFilter {
            status: status.0,
            provider: provider.0.or(source.0),
            project_id: project_id.0.map(Into::into),
            tenant_id: tenant_id.0.map(Into::into),
            integration_id: integration_id.0.map(Into::into),
            assignee: assignee.0,
            labels: labels
                .0
                .map(|l| crate::domain::issues::parse_labels(&l))
                .unwrap_or_default(),
            q: q.0,
            limit,
            offset,
            sort,
        };
        let app = Arc::clone(app.0);
        let who = auth.identity().clone();
        if limit.is_none() {
            return Ok(IssuesListResponse::Ok(
                stream_issues(app, who, f).await?,
                None,
            ));
        }
        let query = req.uri().query().unwrap_or_default();
        page_issues(app, who, f, query).await
    }

    /// The caller's pinned issues, newest pin first.
    #[oai(path = "/issues/pinned", method = "get")]
    async fn pinned(&self, app: AppRef<'_>, auth: Auth) -> R<Json<PinnedEnvelope>> {
        let issues: Vec<IssueObj> = app
            .trackers
            .pinned_issues(auth.identity())?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(PinnedEnvelope {
            count: issues.len(),
            issues,
        }))
    }

    /// Create the issue on the tracker and store it.
    #[oai(path = "/issues", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<CreateIssueRequest>,
    ) -> R<Created<IssueEnvelope>> {
        let b = body.0;
        let v = app
            .trackers
            .create_issue(
                auth.identity(),
                NewIssue {
                    project_id: b.project_id.map(Into::into),
                    integration_id: b.integration_id.map(Into::into),
                    title: opt(b.title).unwrap_or_default(),
                    description: opt(b.description),
                    labels: labels(b.labels).unwrap_or_default(),
                    assignee_user_id: b.assignee_user_id.map(Into::into),
                    assignee: opt(b.assignee),
                    issue_type: opt(b.issue_type),
                    priority: opt(b.priority),
                },
            )
            .await?;
        Ok(Created::Created(Json(IssueEnvelope { issue: v.into() })))
    }

    /// One issue with its comments.
    #[oai(path = "/issues/:id", method = "get")]
    async fn get(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app.trackers.get_issue(auth.identity(), id.0.into())?.into(),
        }))
    }

    /// Update title, description, labels on the tracker; `status` open/closed transitions it.
    #[oai(path = "/issues/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<UpdateIssueRequest>,
    ) -> R<Json<IssueEnvelope>> {
        let b = body.0;
        let v = app
            .trackers
            .update_issue(
                auth.identity(),
                id.0.into(),
                UpdateRequest {
                    title: opt(b.title),
                    description: opt(b.description),
                    labels: labels(b.labels),
                },
                opt(b.status),
            )
            .await?;
        Ok(Json(IssueEnvelope { issue: v.into() }))
    }

    /// Close on the tracker (Jira: through the matching workflow transition).
    #[oai(path = "/issues/:id/close", method = "post")]
    async fn close(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app
                .trackers
                .close_issue(auth.identity(), id.0.into(), false)
                .await?
                .into(),
        }))
    }

    /// Reopen on the tracker.
    #[oai(path = "/issues/:id/reopen", method = "post")]
    async fn reopen(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app
                .trackers
                .close_issue(auth.identity(), id.0.into(), true)
                .await?
                .into(),
        }))
    }

    /// Comment on the tracker (your personal credential when you have one). Jira `@Name`
    /// mentions are resolved to account ids.
    #[oai(path = "/issues/:id/comments", method = "post")]
    async fn comment(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<CommentRequest>,
    ) -> R<Created<CommentEnvelope>> {
        let c = app
            .trackers
            .comment_issue(
                auth.identity(),
                id.0.into(),
                &opt(body.0.body).unwrap_or_default(),
            )
            .await?;
        Ok(Created::Created(Json(CommentEnvelope {
            message: "Comment added successfully".into(),
            comment: c.into(),
        })))
    }

    /// Edit a comment on the tracker.
    #[oai(path = "/issues/:id/comments/:comment_id", method = "patch")]
    async fn edit_comment(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        comment_id: Path<String>,
        body: Json<CommentRequest>,
    ) -> R<Json<CommentEnvelope>> {
        let c = app
            .trackers
            .edit_comment(
                auth.identity(),
                id.0,
                &comment_id.0,
                &opt(body.0.body).unwrap_or_default(),
            )
            .await?;
        Ok(Json(CommentEnvelope {
            message: "Comment updated successfully".into(),
            comment: c.into(),
        }))
    }

    /// Assign to an aiops user (via their identity mapping), a tracker identity, or yourself.
    #[oai(path = "/issues/:id/assign", method = "post")]
    async fn assign(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<AssignRequest>,
    ) -> R<Json<IssueEnvelope>> {
        let b = body.0;
        let v = app
            .trackers
            .assign_issue(
                auth.identity(),
                id.0.into(),
                b.user_id.map(Into::into),
                opt(b.assignee),
            )
            .await?;
        Ok(Json(IssueEnvelope { issue: v.into() }))
    }

    /// Fetch this one issue (and its comments) from the tracker again.
    #[oai(path = "/issues/:id/refresh", method = "post")]
    async fn refresh(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app
                .trackers
                .refresh_issue(auth.identity(), id.0.into())
                .await?
                .into(),
        }))
    }

    /// Set the stored status without calling the tracker (overwritten by the next sync).
    #[oai(path = "/issues/:id/status", method = "post")]
    async fn local_status(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<LocalStatusRequest>,
    ) -> R<Json<IssueEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.trackers
                .set_local_status(auth.identity(), id.0.into(), &body.0.status.0)
        })?;
        Ok(Json(IssueEnvelope { issue: v.into() }))
    }

    /// Pin for yourself (200 also when already pinned).
    #[oai(path = "/issues/:id/pin", method = "post")]
    async fn pin(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<PinResult>> {
        let pin =
            crate::store::run_blocking(|| app.trackers.pin_issue(auth.identity(), id.0.into()))?;
        Ok(Json(match pin {
            Some(p) => PinResult {
                message: "Issue pinned successfully".into(),
                issue_id: id.0,
                pinned_at: Some(p.pinned_at),
            },
            None => PinResult {
                message: "Issue is already pinned".into(),
                issue_id: id.0,
                pinned_at: None,
            },
        }))
    }

    /// Unpin (404 when it was not pinned).
    #[oai(path = "/issues/:id/pin", method = "delete")]
    async fn unpin(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<PinResult>> {
        crate::store::run_blocking(|| app.trackers.unpin_issue(auth.identity(), id.0.into()))?;
        Ok(Json(PinResult {
            message: "Issue unpinned successfully".into(),
            issue_id: id.0,
            pinned_at: None,
        }))
    }
}
