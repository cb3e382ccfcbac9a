//! Pull requests (GitHub) and merge requests (GitLab) of a project's linked repository:
//! `/projects/{id}/pulls` (create, list, merge: `aiops git pr-create|pr-list|pr-merge`), a
//! session's own (`/ai/sessions/{id}/pull-request`: open, or open and merge) and an issue's
//! (`/issues/{id}/pulls`).

use super::common::{AppRef, Created, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::{PullRequest, Timestamp};
use crate::services::trackers::pulls::NewPull;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Pull requests (GitHub) and merge requests (GitLab) of a project's repository
    PullRequests,
}

/// A pull (merge) request.
#[derive(Object)]
pub struct PullObj {
    /// GitHub's number, GitLab's iid.
    pub number: u64,
    pub url: String,
    /// open, closed or merged.
    pub state: String,
    /// github or gitlab.
    pub provider: String,
    pub source_branch: String,
    pub target_branch: String,
    pub updated_at: Timestamp,
}

impl From<PullRequest> for PullObj {
    fn from(p: PullRequest) -> PullObj {
        PullObj {
            number: p.number,
            url: p.url,
            state: p.state,
            provider: p.provider,
            source_branch: p.head,
            target_branch: p.base,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Object)]
pub struct PullEnvelope {
    pub message: String,
    pub pull_request: PullObj,
}

#[derive(Object)]
pub struct PullsEnvelope {
    pub pull_requests: Vec<PullObj>,
    pub count: usize,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PullBody {
    #[oai(validator(max_length = 500))]
    pub title: Str,
    #[oai(validator(max_length = 60000))]
    pub description: Option<Str>,
    /// The branch with the changes.
    #[oai(validator(max_length = 200))]
    pub source_branch: Str,
    /// The branch it goes into (default: the project's default branch).
    #[oai(validator(max_length = 200))]
    pub target_branch: Option<Str>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SessionPullBody {
    /// Merge it too (the review page's Approve).
    pub merge: Option<bool>,
    /// The agent's summary for the description.
    #[oai(validator(max_length = 60000))]
    pub summary: Option<Str>,
}

pub struct PullsApi;

#[OpenApi(tag = "Tag::PullRequests")]
impl PullsApi {
    /// Open a pull (merge) request on the project's GitHub or GitLab repository.
    #[oai(path = "/projects/:id/pulls", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<PullBody>,
    ) -> R<Created<PullEnvelope>> {
        let b = body.0;
        let p = app
            .sessions
            .pull_create(
                auth.identity(),
                id.0.into(),
                NewPull {
                    title: b.title.0,
                    body: opt(b.description).unwrap_or_default(),
                    head: b.source_branch.0.trim().to_string(),
                    base: opt(b.target_branch).unwrap_or_default(),
                },
            )
            .await?;
        Ok(Created::Created(Json(PullEnvelope {
            message: format!("Opened pull request #{}: {}", p.number, p.url),
            pull_request: p.into(),
        })))
    }

    /// The project's pull (merge) requests: open (default), closed, merged or all.
    #[oai(path = "/projects/:id/pulls", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        state: Query<Option<String>>,
    ) -> R<Json<PullsEnvelope>> {
        let v = app
            .sessions
            .pull_list(auth.identity(), id.0.into(), state.0.as_deref())
            .await?;
        Ok(Json(PullsEnvelope {
            count: v.len(),
            pull_requests: v.into_iter().map(Into::into).collect(),
        }))
    }

    /// Merge a pull (merge) request.
    #[oai(path = "/projects/:id/pulls/:number/merge", method = "post")]
    async fn merge(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        number: Path<u64>,
    ) -> R<Json<PullEnvelope>> {
        let p = app
            .sessions
            .pull_merge(auth.identity(), id.0.into(), number.0)
            .await?;
        Ok(Json(PullEnvelope {
            message: format!("Pull request #{} is {}", p.number, p.state),
            pull_request: p.into(),
        }))
    }

    /// Open the pull request of a session's branch (or answer the one open already); with
    /// `merge`, merge it too.
    #[oai(path = "/ai/sessions/:id/pull-request", method = "post")]
    async fn for_session(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
        body: Json<SessionPullBody>,
    ) -> R<Json<PullEnvelope>> {
        let b = body.0;
        let summary = opt(b.summary);
        let p = app
            .sessions
            .open_or_merge_for_session(
                auth.identity(),
                &id.0,
                b.merge.unwrap_or(false),
                summary.as_deref(),
            )
            .await?;
        Ok(Json(PullEnvelope {
            message: format!("Pull request #{} ({}): {}", p.number, p.state, p.url),
            pull_request: p.into(),
        }))
    }

    /// The pull requests opened for an issue's sessions, newest first.
    #[oai(path = "/issues/:id/pulls", method = "get")]
    async fn of_issue(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<PullsEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.sessions.pulls_of_issue(auth.identity(), id.0.into())
        })?;
        Ok(Json(PullsEnvelope {
            count: v.len(),
            pull_requests: v.into_iter().map(Into::into).collect(),
        }))
    }
}
