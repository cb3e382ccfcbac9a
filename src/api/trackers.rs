//! Issues, integrations, personal credentials, identity mapping and sync: shapes and handlers.

use super::gate::Auth;
use super::strict::{Str, opt};
use crate::auth::Identity;
use crate::domain::{Comment, IdentityMap, SyncRun, Timestamp};
use crate::error::AppError;
use crate::services::App;
use crate::services::integrations::{
    CredentialView, IntegrationInput, IntegrationView, LinkInput, LinkView,
};
use crate::services::issues::{IssueFilter, IssueView, NewIssue};
use crate::services::sync::{SyncOutcome, SyncRequest};
use crate::services::trackers::UpdateRequest;
use poem::IntoResponse;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde_json::Value;
use std::sync::Arc;

type R<T> = poem::Result<T>;
type AppRef<'a> = Data<&'a Arc<App>>;

#[derive(Tags)]
enum Tag {
    /// Tracker issues: list, read, write through to GitHub/GitLab/Jira, pins, sync
    Issues,
    /// Tracker connections per tenant, project links, personal credentials, identities
    Integrations,
}

#[derive(ApiResponse)]
enum Created<T: poem_openapi::types::ToJSON> {
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
enum CreatedOrOk<T: poem_openapi::types::ToJSON> {
    #[oai(status = 201)]
    Created(Json<T>),
    #[oai(status = 200)]
    Ok(Json<T>),
}

#[derive(ApiResponse)]
enum NoContent {
    #[oai(status = 204)]
    NoContent,
}

// ---- shapes ------------------------------------------------------------------------------------

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
            id: i.id,
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
            integration_id: v.integration_id,
            integration_name: v.integration_name,
            project_id: i.project_id,
            project_name: v.project_name,
            tenant_id: i.tenant_id,
            tenant_name: v.tenant_name,
            missing_upstream: i.missing_upstream,
            updated_at: i.external_updated_at.unwrap_or(i.updated_at),
            created_at: i.created_at,
            pinned_at: v.pinned_at,
        }
    }
}

/// The answer of `GET /issues`: `{"issues": […], "count", "total", "offset", "limit", "next"}`.
/// Streamed when unlimited (the keys after `issues` come at the end of the stream).
#[derive(Object)]
pub struct IssuesEnvelope {
    pub issues: Vec<IssueObj>,
    /// Issues in this answer.
    pub count: usize,
    /// Every issue matching the filters (all pages).
    pub total: usize,
    pub offset: usize,
    /// The page size asked for; null when every matching issue is listed.
    #[oai(nullable)]
    pub limit: Option<usize>,
    /// The next page's relative URL (as in the `Link` header); null on the last page and
    /// without `limit`.
    #[oai(nullable)]
    pub next: Option<String>,
}

/// The issue list's body, documented as `IssuesEnvelope`: written as a stream for unlimited
/// lists, or at once for a page.
pub struct IssuesBody(poem::Body);

impl Payload for IssuesBody {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        <IssuesEnvelope as poem_openapi::types::Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <IssuesEnvelope as poem_openapi::types::Type>::register(registry);
    }
}

impl IntoResponse for IssuesBody {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum IssuesListResponse {
    /// The matching issues. With `limit`, when more follow: `Link: </api/v1/issues?…&offset=N&limit=L>; rel="next"`.
    #[oai(status = 200)]
    Ok(
        IssuesBody,
        /// The next page (`rel="next"`), when `limit` is given and more issues follow.
        #[oai(header = "Link")]
        Option<String>,
    ),
}

/// An issue as lists show it (no description).
fn list_item(v: IssueView) -> IssueObj {
    IssueObj {
        description: None,
        ..v.into()
    }
}

/// Issues per chunk of a streamed list, and the chunk size that sends a batch early.
const STREAM_BATCH: usize = 200;
const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// An unlimited issue list as a stream: one blocking thread plans the list (errors come back
/// as a normal error answer, before any body) and then walks it in one read transaction,
/// writing the JSON in batches into a small channel; the body is read from that channel, so a
/// slow client holds back the walk instead of growing memory, and a client that goes away ends
/// it. A failure mid-walk aborts the body (the client sees a broken answer, never a short one
/// that parses).
async fn stream_issues(app: Arc<App>, who: Identity, f: IssueFilter) -> R<IssuesBody> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), AppError>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let offset = f.offset;
    tokio::task::spawn_blocking(move || {
        let listing = match app.plan_issues(&who, &f) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        if ready_tx.send(Ok(())).is_err() {
            return; // the request was dropped meanwhile
        }
        let mut buf: Vec<u8> = Vec::with_capacity(STREAM_CHUNK_BYTES + 16 * 1024);
        buf.extend_from_slice(b"{\"issues\":[");
        let (mut in_batch, mut first) = (0usize, true);
        let walked = listing.for_each(|v| {
            if !first {
                buf.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut buf, &list_item(v).to_json())
                .map_err(|e| AppError::Internal(format!("cannot encode an issue: {e}")))?;
            in_batch += 1;
            if in_batch >= STREAM_BATCH || buf.len() >= STREAM_CHUNK_BYTES {
                in_batch = 0;
                let chunk =
                    std::mem::replace(&mut buf, Vec::with_capacity(STREAM_CHUNK_BYTES + 16 * 1024));
                // An error here means the client went away: stop reading.
                return Ok(tx.blocking_send(Ok(chunk.into())).is_ok());
            }
            Ok(true)
        });
        match walked {
            Ok(Some(c)) => {
                buf.extend_from_slice(
                    format!(
                        "],\"count\":{},\"total\":{},\"offset\":{offset},\"limit\":null,\"next\":null}}",
                        c.count, c.total
                    )
                    .as_bytes(),
                );
                let _ = tx.blocking_send(Ok(buf.into()));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("issue list stream failed: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(AppError::Internal(
                "the issue list stopped before it started; see the server log".into(),
            )
            .into());
        }
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(IssuesBody(poem::Body::from_bytes_stream(stream)))
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

#[derive(Object)]
pub struct SyncRequestBody {
    pub tenant_id: Option<u64>,
    pub integration_id: Option<u64>,
    pub project_id: Option<u64>,
    /// Fetch everything instead of what changed since the last sync (also marks issues gone
    /// upstream).
    pub force_full: Option<bool>,
}

#[derive(Object)]
pub struct SyncProject {
    pub project_integration_id: u64,
    pub project_id: u64,
    pub project_name: String,
    pub tenant_name: String,
    pub provider: String,
    pub integration_name: String,
    pub issues_synced: u64,
    pub issues_created: u64,
    pub issues_missing: u64,
    /// `success` or `failed`
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub run_id: Option<u64>,
}

impl From<SyncOutcome> for SyncProject {
    fn from(o: SyncOutcome) -> Self {
        SyncProject {
            project_integration_id: o.project_integration_id,
            project_id: o.project_id,
            project_name: o.project_name,
            tenant_name: o.tenant_name,
            provider: o.provider,
            integration_name: o.integration_name,
            issues_synced: o.issues_synced,
            issues_created: o.created,
            issues_missing: o.missing,
            status: if o.error.is_some() {
                "failed".into()
            } else {
                "success".into()
            },
            error: o.error,
            run_id: o.run_id,
        }
    }
}

#[derive(Object)]
pub struct SyncResult {
    pub message: String,
    pub synced: u64,
    pub success_count: usize,
    pub failure_count: usize,
    pub projects: Vec<SyncProject>,
    pub failed_projects: Vec<SyncProject>,
}

#[derive(Object)]
pub struct SyncRunObj {
    pub id: u64,
    pub project_integration_id: u64,
    pub integration_id: u64,
    pub project_id: u64,
    pub trigger: String,
    pub status: String,
    pub full: bool,
    pub started_at: Timestamp,
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
    #[oai(nullable)]
    pub duration_seconds: Option<f64>,
    pub issues_fetched: u64,
    pub issues_created: u64,
    pub issues_updated: u64,
    pub issues_missing: u64,
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<SyncRun> for SyncRunObj {
    fn from(r: SyncRun) -> Self {
        SyncRunObj {
            duration_seconds: r
                .finished_at
                .map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0),
            id: r.id,
            project_integration_id: r.project_integration_id,
            integration_id: r.integration_id,
            project_id: r.project_id,
            trigger: r.trigger,
            status: r.status,
            full: r.full,
            started_at: r.started_at,
            finished_at: r.finished_at,
            issues_fetched: r.fetched,
            issues_created: r.created,
            issues_updated: r.updated,
            issues_missing: r.missing,
            error: r.error,
        }
    }
}

#[derive(Object)]
pub struct SyncHistory {
    pub runs: Vec<SyncRunObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct IntegrationObj {
    pub id: u64,
    pub name: String,
    pub provider: String,
    #[oai(nullable)]
    pub base_url: Option<String>,
    pub enabled: bool,
    pub tenant_id: u64,
    pub tenant_name: String,
    /// The Jira account email (settings.username).
    #[oai(nullable)]
    pub jira_email: Option<String>,
    /// `••••` and the last four characters; the token itself is never returned.
    pub token_hint: String,
    /// Cron expression of scheduled sync (`null` = every 15 minutes, `off` = never).
    #[oai(nullable)]
    pub sync_cron: Option<String>,
    pub project_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<IntegrationView> for IntegrationObj {
    fn from(v: IntegrationView) -> Self {
        let i = v.integration;
        IntegrationObj {
            jira_email: i
                .settings
                .get("username")
                .and_then(Value::as_str)
                .map(String::from),
            id: i.id,
            name: i.name,
            provider: i.provider,
            base_url: i.base_url,
            enabled: i.enabled,
            tenant_id: i.tenant_id,
            tenant_name: v.tenant_name,
            token_hint: v.token_hint,
            sync_cron: i.sync_cron,
            project_count: v.link_count,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Object)]
pub struct IntegrationsEnvelope {
    pub integrations: Vec<IntegrationObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct IntegrationEnvelope {
    pub integration: IntegrationObj,
}

#[derive(Object)]
pub struct IntegrationRequest {
    pub tenant_id: Option<u64>,
    /// github, gitlab or jira
    #[oai(validator(max_length = 50))]
    pub provider: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub name: Option<Str>,
    /// Self-hosted GitLab, GitHub Enterprise (`https://host/api/v3`), Jira site (required).
    #[oai(validator(max_length = 512))]
    pub base_url: Option<Str>,
    /// Stored encrypted; blank on update keeps the stored one.
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_email: Option<Str>,
    /// Extra settings, e.g. `{"api_version": "3"}` for Jira.
    pub settings: Option<Value>,
    pub enabled: Option<bool>,
    /// Cron expression (5 or 6 fields) for scheduled sync, `off` to disable.
    #[oai(validator(max_length = 100))]
    pub sync_cron: Option<Str>,
}

impl From<IntegrationRequest> for IntegrationInput {
    fn from(b: IntegrationRequest) -> Self {
        IntegrationInput {
            tenant_id: b.tenant_id,
            provider: opt(b.provider),
            name: opt(b.name),
            base_url: opt(b.base_url),
            api_token: opt(b.api_token),
            jira_email: opt(b.jira_email),
            settings: b.settings,
            enabled: b.enabled,
            sync_cron: opt(b.sync_cron),
        }
    }
}

#[derive(Object)]
pub struct TestRequest {
    #[oai(validator(max_length = 50))]
    pub provider: Option<Str>,
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub base_url: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_email: Option<Str>,
}

#[derive(Object)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

#[derive(Object)]
pub struct LinkObj {
    pub id: u64,
    pub project_id: u64,
    pub project_name: String,
    pub integration_id: u64,
    pub integration_name: String,
    pub provider: String,
    pub external_identifier: String,
    pub config: Value,
    #[oai(nullable)]
    pub last_synced_at: Option<Timestamp>,
    #[oai(nullable)]
    pub override_base_url: Option<String>,
    #[oai(nullable)]
    pub override_username: Option<String>,
    pub has_override_token: bool,
    pub issue_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<LinkView> for LinkObj {
    fn from(v: LinkView) -> Self {
        let l = v.link;
        LinkObj {
            override_username: l
                .override_settings
                .as_ref()
                .and_then(|s| s.get("username"))
                .and_then(Value::as_str)
                .map(String::from),
            id: l.id,
            project_id: l.project_id,
            project_name: v.project_name,
            integration_id: l.integration_id,
            integration_name: v.integration_name,
            provider: v.provider,
            external_identifier: l.external_identifier,
            config: l.config,
            last_synced_at: l.last_synced_at,
            override_base_url: l.override_base_url,
            has_override_token: v.has_override_token,
            issue_count: v.issue_count,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Object)]
pub struct LinksEnvelope {
    pub links: Vec<LinkObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct LinkEnvelope {
    pub link: LinkObj,
}

#[derive(Object)]
pub struct LinkRequest {
    pub project_id: Option<u64>,
    /// owner/repo (GitHub), group/project or id (GitLab), project key (Jira).
    #[oai(validator(max_length = 255))]
    pub external_identifier: Option<Str>,
    /// jql, issue_type, close_transition, reopen_transition (Jira).
    pub config: Option<Value>,
    /// Stored encrypted; blank clears it on update.
    #[oai(validator(max_length = 4096))]
    pub override_api_token: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub override_base_url: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub override_username: Option<Str>,
}

impl From<LinkRequest> for LinkInput {
    fn from(b: LinkRequest) -> Self {
        LinkInput {
            project_id: b.project_id,
            external_identifier: opt(b.external_identifier),
            config: b.config,
            override_api_token: opt(b.override_api_token),
            override_base_url: opt(b.override_base_url),
            override_username: opt(b.override_username),
        }
    }
}

#[derive(Object)]
pub struct CredentialObj {
    pub id: u64,
    pub integration_id: u64,
    pub integration_name: String,
    pub integration_provider: String,
    pub has_settings: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<CredentialView> for CredentialObj {
    fn from(v: CredentialView) -> Self {
        let c = v.credential;
        CredentialObj {
            id: c.id,
            integration_id: c.integration_id,
            integration_name: v.integration_name,
            integration_provider: v.provider,
            has_settings: c.settings.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Object)]
pub struct CredentialsEnvelope {
    pub credentials: Vec<CredentialObj>,
}

#[derive(Object)]
pub struct CredentialRequest {
    pub integration_id: Option<u64>,
    #[oai(validator(max_length = 4096))]
    pub api_token: Option<Str>,
    /// E.g. `{"username": "you@example.com"}` for your own Jira account.
    pub settings: Option<Value>,
}

#[derive(Object)]
pub struct CredentialSaved {
    pub message: String,
    pub credential_id: u64,
}

#[derive(Object)]
pub struct IdentityObj {
    pub user_id: u64,
    #[oai(nullable)]
    pub github_username: Option<String>,
    #[oai(nullable)]
    pub gitlab_username: Option<String>,
    #[oai(nullable)]
    pub jira_account_id: Option<String>,
}

impl From<IdentityMap> for IdentityObj {
    fn from(m: IdentityMap) -> Self {
        IdentityObj {
            user_id: m.user_id,
            github_username: m.github_username,
            gitlab_username: m.gitlab_username,
            jira_account_id: m.jira_account_id,
        }
    }
}

#[derive(Object)]
pub struct IdentityEnvelope {
    pub identity: IdentityObj,
}

#[derive(Object)]
pub struct IdentityRequest {
    /// Omitted = unchanged, blank = cleared.
    #[oai(validator(max_length = 255))]
    pub github_username: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub gitlab_username: Option<Str>,
    #[oai(validator(max_length = 255))]
    pub jira_account_id: Option<Str>,
}

fn labels(v: Option<Vec<Str>>) -> Option<Vec<String>> {
    v.map(|l| {
        crate::domain::issues::parse_labels(
            &l.into_iter().map(|s| s.0).collect::<Vec<_>>().join(","),
        )
    })
}

fn default_limit() -> usize {
    50
}

// ---- handlers ----------------------------------------------------------------------------------

pub struct IssuesApi;
pub struct IntegrationsApi;

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
        use crate::domain::issues::{
            link_header, next_page_link, parse_sort, validate_limit, validate_offset,
        };
        let limit = validate_limit(limit.0).map_err(AppError::BadRequest)?;
        let offset = validate_offset(offset.0).map_err(AppError::BadRequest)?;
        let sort = parse_sort(sort.0.as_deref()).map_err(AppError::BadRequest)?;
        let f = IssueFilter {
            status: status.0,
            provider: provider.0.or(source.0),
            project_id: project_id.0,
            tenant_id: tenant_id.0,
            integration_id: integration_id.0,
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
        // A page: the client chose its size, and the Link header needs the total first.
        let page = tokio::task::spawn_blocking(move || app.list_issues(&who, &f))
            .await
            .map_err(|e| AppError::Internal(format!("the issue list failed: {e}")))??;
        let next = next_page_link(
            "/api/v1/issues",
            req.uri().query().unwrap_or_default(),
            offset,
            limit,
            page.total,
        );
        let envelope = IssuesEnvelope {
            count: page.issues.len(),
            issues: page.issues.into_iter().map(list_item).collect(),
            total: page.total,
            offset,
            limit,
            next: next.clone(),
        };
        let body = serde_json::to_vec(&envelope.to_json())
            .map_err(|e| AppError::Internal(format!("cannot encode the issue list: {e}")))?;
        Ok(IssuesListResponse::Ok(
            IssuesBody(poem::Body::from_vec(body)),
            next.as_deref().map(link_header),
        ))
    }

    /// The caller's pinned issues, newest pin first.
    #[oai(path = "/issues/pinned", method = "get")]
    async fn pinned(&self, app: AppRef<'_>, auth: Auth) -> R<Json<PinnedEnvelope>> {
        let issues: Vec<IssueObj> = app
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
            .create_issue(
                auth.identity(),
                NewIssue {
                    project_id: b.project_id,
                    integration_id: b.integration_id,
                    title: opt(b.title).unwrap_or_default(),
                    description: opt(b.description),
                    labels: labels(b.labels).unwrap_or_default(),
                    assignee_user_id: b.assignee_user_id,
                    assignee: opt(b.assignee),
                    issue_type: opt(b.issue_type),
                    priority: opt(b.priority),
                },
            )
            .await?;
        Ok(Created::Created(Json(IssueEnvelope { issue: v.into() })))
    }

    /// Sync stored issues from the trackers (enabled integrations; failures are per link).
    #[oai(path = "/issues/sync", method = "post")]
    async fn sync(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<SyncRequestBody>,
    ) -> R<Json<SyncResult>> {
        let b = body.0;
        let req = SyncRequest {
            tenant_id: b.tenant_id,
            integration_id: b.integration_id,
            project_id: b.project_id,
            force_full: b.force_full.unwrap_or(false),
        };
        let outcomes = app.sync_links(auth.identity(), &req, "manual").await?;
        if outcomes.is_empty() {
            return Ok(Json(SyncResult {
                message: "No project integrations matched the filters".into(),
                synced: 0,
                success_count: 0,
                failure_count: 0,
                projects: Vec::new(),
                failed_projects: Vec::new(),
            }));
        }
        let synced = outcomes
            .iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.issues_synced)
            .sum();
        let (ok, failed): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|o| o.error.is_none());
        let message = if failed.is_empty() {
            "Issue synchronization completed successfully".to_string()
        } else {
            format!(
                "Issue synchronization finished with {} failure(s): {}",
                failed.len(),
                failed
                    .iter()
                    .filter_map(|o| o.error.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        Ok(Json(SyncResult {
            message,
            synced,
            success_count: ok.len(),
            failure_count: failed.len(),
            projects: ok.into_iter().map(Into::into).collect(),
            failed_projects: failed.into_iter().map(Into::into).collect(),
        }))
    }

    /// One issue with its comments.
    #[oai(path = "/issues/:id", method = "get")]
    async fn get(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app.get_issue(auth.identity(), id.0)?.into(),
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
            .update_issue(
                auth.identity(),
                id.0,
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
            issue: app.close_issue(auth.identity(), id.0, false).await?.into(),
        }))
    }

    /// Reopen on the tracker.
    #[oai(path = "/issues/:id/reopen", method = "post")]
    async fn reopen(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app.close_issue(auth.identity(), id.0, true).await?.into(),
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
            .comment_issue(auth.identity(), id.0, &opt(body.0.body).unwrap_or_default())
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
            .assign_issue(auth.identity(), id.0, b.user_id, opt(b.assignee))
            .await?;
        Ok(Json(IssueEnvelope { issue: v.into() }))
    }

    /// Fetch this one issue (and its comments) from the tracker again.
    #[oai(path = "/issues/:id/refresh", method = "post")]
    async fn refresh(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<IssueEnvelope>> {
        Ok(Json(IssueEnvelope {
            issue: app.refresh_issue(auth.identity(), id.0).await?.into(),
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
            app.set_local_status(auth.identity(), id.0, &body.0.status.0)
        })?;
        Ok(Json(IssueEnvelope { issue: v.into() }))
    }

    /// Pin for yourself (200 also when already pinned).
    #[oai(path = "/issues/:id/pin", method = "post")]
    async fn pin(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<PinResult>> {
        let pin = crate::store::run_blocking(|| app.pin_issue(auth.identity(), id.0))?;
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
        crate::store::run_blocking(|| app.unpin_issue(auth.identity(), id.0))?;
        Ok(Json(PinResult {
            message: "Issue unpinned successfully".into(),
            issue_id: id.0,
            pinned_at: None,
        }))
    }

    /// Sync runs, newest first.
    #[oai(path = "/system/sync/history", method = "get")]
    async fn sync_history(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<usize>,
        project_integration_id: Query<Option<u64>>,
    ) -> R<Json<SyncHistory>> {
        let runs: Vec<SyncRunObj> = app
            .sync_history(auth.identity(), limit.0, project_integration_id.0)?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(SyncHistory {
            count: runs.len(),
            runs,
        }))
    }
}

#[OpenApi(tag = "Tag::Integrations")]
impl IntegrationsApi {
    /// Tracker integrations (tokens never returned), by tenant, provider, name.
    #[oai(path = "/integrations", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        tenant_id: Query<Option<u64>>,
        provider: Query<Option<String>>,
    ) -> R<Json<IntegrationsEnvelope>> {
        let list: Vec<IntegrationObj> = app
            .list_integrations(auth.identity(), tenant_id.0, provider.0.as_deref())?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(IntegrationsEnvelope {
            count: list.len(),
            integrations: list,
        }))
    }

    /// One tenant's integrations.
    #[oai(path = "/tenants/:id/integrations", method = "get")]
    async fn by_tenant(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IntegrationsEnvelope>> {
        let list: Vec<IntegrationObj> = app
            .list_integrations(auth.identity(), Some(id.0), None)?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(IntegrationsEnvelope {
            count: list.len(),
            integrations: list,
        }))
    }

    /// Add a tracker integration to a tenant (admin). The token is stored encrypted.
    #[oai(path = "/integrations", method = "post")]
    async fn create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<IntegrationRequest>,
    ) -> R<Created<IntegrationEnvelope>> {
        let v =
            crate::store::run_blocking(|| app.create_integration(auth.identity(), body.0.into()))?;
        Ok(Created::Created(Json(IntegrationEnvelope {
            integration: v.into(),
        })))
    }

    /// Check credentials before saving them (admin): `ok` and the tracker's answer.
    #[oai(path = "/integrations/test", method = "post")]
    async fn test_new(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<TestRequest>,
    ) -> R<Json<TestResult>> {
        let b = body.0;
        let provider =
            opt(b.provider).ok_or_else(|| AppError::BadRequest("provider is required".into()))?;
        let token =
            opt(b.api_token).ok_or_else(|| AppError::BadRequest("api_token is required".into()))?;
        let base = opt(b.base_url);
        let email = opt(b.jira_email);
        if provider.trim().eq_ignore_ascii_case("jira")
            && base.as_deref().is_none_or(|b| b.trim().is_empty())
        {
            return Err(AppError::BadRequest("Jira needs base_url".into()).into());
        }
        test_result(
            app.test_credentials(
                auth.identity(),
                &provider,
                &token,
                base.as_deref(),
                email.as_deref(),
            )
            .await,
        )
    }

    #[oai(path = "/integrations/:id", method = "get")]
    async fn get(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IntegrationEnvelope>> {
        Ok(Json(IntegrationEnvelope {
            integration: app.get_integration(auth.identity(), id.0)?.into(),
        }))
    }

    /// Change an integration (admin). A blank or missing token keeps the stored one.
    #[oai(path = "/integrations/:id", method = "patch")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<IntegrationRequest>,
    ) -> R<Json<IntegrationEnvelope>> {
        let v = crate::store::run_blocking(|| {
            app.update_integration(auth.identity(), id.0, body.0.into())
        })?;
        Ok(Json(IntegrationEnvelope {
            integration: v.into(),
        }))
    }

    /// Delete an integration with its project links and their stored issues (admin).
    #[oai(path = "/integrations/:id", method = "delete")]
    async fn delete(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| app.delete_integration(auth.identity(), id.0))?;
        Ok(NoContent::NoContent)
    }

    /// Test the stored credentials of an integration (admin).
    #[oai(path = "/integrations/:id/test", method = "post")]
    async fn test(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<TestResult>> {
        test_result(app.test_integration(auth.identity(), id.0).await)
    }

    /// Project links of an integration.
    #[oai(path = "/integrations/:id/projects", method = "get")]
    async fn links(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<LinksEnvelope>> {
        let links: Vec<LinkObj> = app
            .list_links(auth.identity(), Some(id.0), None)?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(LinksEnvelope {
            count: links.len(),
            links,
        }))
    }

    /// Link a project (same tenant) to the integration (admin).
    #[oai(path = "/integrations/:id/projects", method = "post")]
    async fn link(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<LinkRequest>,
    ) -> R<Created<LinkEnvelope>> {
        let v =
            crate::store::run_blocking(|| app.create_link(auth.identity(), id.0, body.0.into()))?;
        Ok(Created::Created(Json(LinkEnvelope { link: v.into() })))
    }

    /// A project's tracker links.
    #[oai(path = "/projects/:id/integrations", method = "get")]
    async fn project_links(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<LinksEnvelope>> {
        let links: Vec<LinkObj> = app
            .list_links(auth.identity(), None, Some(id.0))?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(LinksEnvelope {
            count: links.len(),
            links,
        }))
    }

    #[oai(path = "/project-integrations/:id", method = "get")]
    async fn get_link(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<LinkEnvelope>> {
        Ok(Json(LinkEnvelope {
            link: app.get_link(auth.identity(), id.0)?.into(),
        }))
    }

    /// Change a project link (admin). `override_api_token: ""` clears the override.
    #[oai(path = "/project-integrations/:id", method = "patch")]
    async fn update_link(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<LinkRequest>,
    ) -> R<Json<LinkEnvelope>> {
        let v =
            crate::store::run_blocking(|| app.update_link(auth.identity(), id.0, body.0.into()))?;
        Ok(Json(LinkEnvelope { link: v.into() }))
    }

    /// Remove a project link and its stored issues (admin).
    #[oai(path = "/project-integrations/:id", method = "delete")]
    async fn delete_link(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| app.delete_link(auth.identity(), id.0))?;
        Ok(NoContent::NoContent)
    }

    /// Your personal tracker credentials (tokens never returned).
    #[oai(path = "/auth/integration-credentials", method = "get")]
    async fn credentials(&self, app: AppRef<'_>, auth: Auth) -> R<Json<CredentialsEnvelope>> {
        Ok(Json(CredentialsEnvelope {
            credentials: app
                .list_credentials(auth.identity())?
                .into_iter()
                .map(Into::into)
                .collect(),
        }))
    }

    /// Save your personal token for an integration: 201 when new, 200 when replaced.
    #[oai(path = "/auth/integration-credentials", method = "post")]
    async fn set_credential(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<CredentialRequest>,
    ) -> R<CreatedOrOk<CredentialSaved>> {
        let b = body.0;
        let integration_id = b
            .integration_id
            .ok_or_else(|| AppError::BadRequest("integration_id is required".into()))?;
        let token = opt(b.api_token).unwrap_or_default();
        let (c, created) = crate::store::run_blocking(|| {
            app.set_credential(auth.identity(), integration_id, &token, b.settings)
        })?;
        Ok(if created {
            CreatedOrOk::Created(Json(CredentialSaved {
                message: "Credential created successfully".into(),
                credential_id: c.id,
            }))
        } else {
            CreatedOrOk::Ok(Json(CredentialSaved {
                message: "Credential updated successfully".into(),
                credential_id: c.id,
            }))
        })
    }

    #[oai(path = "/auth/integration-credentials/:id", method = "delete")]
    async fn delete_credential(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<NoContent> {
        crate::store::run_blocking(|| app.delete_credential(auth.identity(), id.0))?;
        Ok(NoContent::NoContent)
    }

    /// Your tracker identities (used for assignment, "my issues" and mentions).
    #[oai(path = "/auth/identity", method = "get")]
    async fn my_identity(&self, app: AppRef<'_>, auth: Auth) -> R<Json<IdentityEnvelope>> {
        let id = auth.identity();
        Ok(Json(IdentityEnvelope {
            identity: app.get_identity_map(id, id.id())?.into(),
        }))
    }

    #[oai(path = "/auth/identity", method = "put")]
    async fn set_my_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<IdentityRequest>,
    ) -> R<Json<IdentityEnvelope>> {
        let id = auth.identity();
        let b = body.0;
        let m = crate::store::run_blocking(|| {
            app.update_identity_map(
                id,
                id.id(),
                opt(b.github_username),
                opt(b.gitlab_username),
                opt(b.jira_account_id),
            )
        })?;
        Ok(Json(IdentityEnvelope { identity: m.into() }))
    }

    /// A user's tracker identities (admin, or yourself).
    #[oai(path = "/users/:id/identity", method = "get")]
    async fn user_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<IdentityEnvelope>> {
        Ok(Json(IdentityEnvelope {
            identity: app.get_identity_map(auth.identity(), id.0)?.into(),
        }))
    }

    #[oai(path = "/users/:id/identity", method = "put")]
    async fn set_user_identity(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<IdentityRequest>,
    ) -> R<Json<IdentityEnvelope>> {
        let b = body.0;
        let m = crate::store::run_blocking(|| {
            app.update_identity_map(
                auth.identity(),
                id.0,
                opt(b.github_username),
                opt(b.gitlab_username),
                opt(b.jira_account_id),
            )
        })?;
        Ok(Json(IdentityEnvelope { identity: m.into() }))
    }
}

fn test_result(r: Result<String, AppError>) -> R<Json<TestResult>> {
    match r {
        Ok(message) => Ok(Json(TestResult { ok: true, message })),
        // The tracker's own refusal or failure is the answer to "test connection".
        Err(AppError::BadRequest(m) | AppError::Upstream(m)) if !m.is_empty() => {
            Ok(Json(TestResult {
                ok: false,
                message: m,
            }))
        }
        Err(e) => Err(e.into()),
    }
}
