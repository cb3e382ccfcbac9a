//! Issue sync from the trackers (`POST /issues/sync`) and the history of sync runs.

use super::common::{AppRef, R, default_limit};
use super::gate::Auth;
use super::issues::Tag;
use crate::domain::{SyncRun, Timestamp};
use crate::services::sync::{SyncOutcome, SyncRequest};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::domain::SyncStatus;

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
            project_integration_id: o.project_integration_id.get(),
            project_id: o.project_id.get(),
            project_name: o.project_name,
            tenant_name: o.tenant_name,
            provider: o.provider,
            integration_name: o.integration_name,
            issues_synced: o.issues_synced,
            issues_created: o.created,
            issues_missing: o.missing,
            status: if o.error.is_some() {
                SyncStatus::Failed
            } else {
                SyncStatus::Success
            }
            .as_str()
            .to_string(),
            error: o.error,
            run_id: o.run_id.map(u64::from),
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
            id: r.id.get(),
            project_integration_id: r.project_integration_id.get(),
            integration_id: r.integration_id.get(),
            project_id: r.project_id.get(),
            trigger: r.trigger.as_str().to_string(),
            status: r.status.as_str().to_string(),
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

pub struct SyncApi;

#[OpenApi(tag = "Tag::Issues")]
impl SyncApi {
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
            tenant_id: b.tenant_id.map(Into::into),
            integration_id: b.integration_id.map(Into::into),
            project_id: b.project_id.map(Into::into),
            force_full: b.force_full.unwrap_or(false),
        };
        let outcomes = app
            .trackers
            .sync_links(auth.identity(), &req, crate::domain::SyncTrigger::Manual)
            .await?;
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
            .trackers
            .sync_history(
                auth.identity(),
                limit.0,
                project_integration_id.0.map(Into::into),
            )?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(SyncHistory {
            count: runs.len(),
            runs,
        }))
    }
}
