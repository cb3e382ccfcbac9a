//! Issue sync: fetch every page from the tracker, then upsert everything in one transaction,
//! so an interrupted sync leaves the previous state intact and the next run starts over from
//! the same point (nothing duplicated: issues are keyed by link + external id).

use super::access::{Grants, project_for};
use super::integrations::Trackers;
use super::issues::{put_issue, upsert_payload};
use super::trackers::Provider;
use crate::auth::Identity;
use crate::domain::access::Action;
use crate::domain::{IntegrationId, LinkId, ProjectId, TenantId, UserId};
use crate::domain::{Project, ProjectIntegration, Scope, SyncRun, SyncRunId, TenantIntegration};
use crate::error::{AppError, AppResult};
use crate::store::integrations::IntegrationReads;
use crate::store::tenancy::TenancyReads;
use std::collections::HashSet;
use std::sync::Mutex;

use crate::domain::{SyncStatus, SyncTrigger};

/// Links with a sync in progress.
#[derive(Default)]
pub struct SyncLocks(Mutex<HashSet<LinkId>>);

struct LockGuard<'a>(&'a SyncLocks, LinkId);

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.0.lock() {
            s.remove(&self.1);
        }
    }
}

impl SyncLocks {
    fn try_lock(&self, id: LinkId) -> Option<LockGuard<'_>> {
        let mut s = self.0.lock().ok()?;
        s.insert(id).then(|| LockGuard(self, id))
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub tenant_id: Option<TenantId>,
    pub integration_id: Option<IntegrationId>,
    pub project_id: Option<ProjectId>,
    pub force_full: bool,
}

#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub project_integration_id: LinkId,
    pub project_id: ProjectId,
    pub project_name: String,
    pub tenant_name: String,
    pub provider: String,
    pub integration_name: String,
    pub issues_synced: u64,
    pub created: u64,
    pub missing: u64,
    pub error: Option<String>,
    pub run_id: Option<SyncRunId>,
}

impl Trackers {
    /// Links matching the filters that the caller may sync (developers of the link's project;
    /// enabled integrations only).
    fn links_to_sync(&self, caller: &Identity, req: &SyncRequest) -> AppResult<Vec<LinkId>> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        if let (Some(t), Some(i)) = (req.tenant_id, req.integration_id) {
            let integ: TenantIntegration = r
                .get_integration(i)?
                .ok_or_else(|| AppError::NotFound(format!("Integration {i} not found")))?;
            if integ.tenant_id != t {
                return Err(AppError::BadRequest(
                    "Integration does not belong to the provided tenant".into(),
                ));
            }
        }
        if let Some(p) = req.project_id {
            let project: Project = r
                .get_project(p)?
                .ok_or_else(|| AppError::NotFound(format!("Project {p} not found")))?;
            g.check_project(&project, Action::Work)?;
        }
        let mut out = Vec::new();
        for link in r.links()? {
            if req.project_id.is_some_and(|p| p != link.project_id)
                || req.integration_id.is_some_and(|i| i != link.integration_id)
            {
                continue;
            }
            let Some(integ) = r.get_integration(link.integration_id)? else {
                continue;
            };
            if !integ.enabled || req.tenant_id.is_some_and(|t| t != integ.tenant_id) {
                continue;
            }
            let Some(project) = r.get_project(link.project_id)? else {
                continue;
            };
            if g.project_role(&project) >= Some(Action::Work.needs()) {
                out.push(link.id);
            }
        }
        Ok(out)
    }

    /// Sync every link matching the filters that the caller may sync, one after the other; a
    /// failure is recorded and the others go on.
    pub async fn sync_links(
        &self,
        caller: &Identity,
        req: &SyncRequest,
        trigger: SyncTrigger,
    ) -> AppResult<Vec<SyncOutcome>> {
        let links = crate::store::run_blocking(|| self.links_to_sync(caller, req))?;
        let mut out = Vec::with_capacity(links.len());
        for id in links {
            out.push(self.sync_link(id, req.force_full, trigger).await);
        }
        Ok(out)
    }

    /// Sync one link (developers of its project).
    pub async fn sync_one_link(
        &self,
        caller: &Identity,
        link_id: LinkId,
    ) -> AppResult<SyncOutcome> {
        caller.require(Scope::Write)?;
        crate::store::run_blocking(|| {
            let r = self.store.read()?;
            let link: ProjectIntegration = r.get_link(link_id)?.ok_or_else(|| {
                AppError::NotFound(format!("Project integration {link_id} not found"))
            })?;
            project_for(&r, caller, link.project_id, Action::Work).map(|_| ())
        })?;
        Ok(self.sync_link(link_id, false, SyncTrigger::Manual).await)
    }

    async fn sync_link(
        &self,
        link_id: LinkId,
        force_full: bool,
        trigger: SyncTrigger,
    ) -> SyncOutcome {
        let mut outcome = SyncOutcome {
            project_integration_id: link_id,
            project_id: ProjectId(0),
            project_name: String::new(),
            tenant_name: String::new(),
            provider: String::new(),
            integration_name: String::new(),
            issues_synced: 0,
            created: 0,
            missing: 0,
            error: None,
            run_id: None,
        };
        if let Err(e) = self
            .sync_link_inner(link_id, force_full, trigger, &mut outcome)
            .await
        {
            tracing::warn!(link = link_id.get(), error = %e, "issue sync failed");
            outcome.error = Some(e.to_string());
            if let Some(run) = outcome.run_id {
                let msg: String = e.to_string().chars().take(1000).collect();
                let _ = crate::store::run_blocking(|| {
                    self.finish_run(run, |r| {
                        r.status = SyncStatus::Failed;
                        r.error = Some(msg);
                    })
                });
                self.tell_if_failing(link_id, &e.to_string());
            }
        }
        outcome
    }

    async fn sync_link_inner(
        &self,
        link_id: LinkId,
        force_full: bool,
        trigger: SyncTrigger,
        o: &mut SyncOutcome,
    ) -> AppResult<()> {
        let (link, integ) = {
            let r = self.store.read()?;
            let link: ProjectIntegration = r.get_link(link_id)?.ok_or_else(|| {
                AppError::NotFound(format!("Project integration {link_id} not found"))
            })?;
            let integ: TenantIntegration = r
                .get_integration(link.integration_id)?
                .ok_or_else(|| AppError::NotFound("Integration not found".into()))?;
            o.project_id = link.project_id;
            o.project_name = r
                .get_project(link.project_id)?
                .map(|p| p.name)
                .unwrap_or_default();
            o.tenant_name = r
                .get_tenant(integ.tenant_id)?
                .map(|t| t.name)
                .unwrap_or_default();
            o.provider = integ.provider.clone();
            o.integration_name = integ.name.clone();
            (link, integ)
        };
        let _guard = self.sync_locks.try_lock(link_id).ok_or_else(|| {
            AppError::Conflict(format!(
                "A sync of {} -> {} is already running; try again when it finishes",
                integ.name, o.project_name
            ))
        })?;
        let since = if force_full {
            None
        } else {
            link.last_synced_at
        };
        let started = crate::domain::model::now();
        let run_id = crate::store::run_blocking(|| -> AppResult<SyncRunId> {
            let w = self.store.write()?;
            let run = SyncRun {
                id: w.new_sync_run_id()?,
                project_integration_id: link_id,
                integration_id: integ.id,
                project_id: link.project_id,
                trigger,
                status: SyncStatus::Running,
                full: since.is_none(),
                started_at: started,
                finished_at: None,
                fetched: 0,
                created: 0,
                updated: 0,
                missing: 0,
                error: None,
            };
            w.put_sync_run(&run)?;
            w.commit()?;
            Ok(run.id)
        })?;
        o.run_id = Some(run_id);
        let (provider, _, _) = self.provider_for(&link, None)?;
        let payloads = provider.list(since).await?;
        let fetched_at = std::time::Instant::now();
        let fetch_ms = (crate::domain::model::now() - started).num_milliseconds();
        let (created, updated, missing) =
            crate::store::run_blocking(|| -> AppResult<(u64, u64, u64)> {
                let w = self.store.write()?;
                // The link may have been deleted while we were fetching.
                let Some(mut link) = w.get_link(link_id)? else {
                    return Err(AppError::NotFound(
                        "The project link was deleted during the sync".into(),
                    ));
                };
                let now = crate::domain::model::now();
                let (mut created, mut updated) = (0u64, 0u64);
                let mut seen = HashSet::with_capacity(payloads.len());
                for p in &payloads {
                    let (issue, is_new) = upsert_payload(&w, &link, integ.tenant_id, p, now)?;
                    seen.insert(issue.id);
                    if is_new {
                        created += 1;
                    } else {
                        updated += 1;
                    }
                }
                // A full sync sees everything: issues it did not see are gone upstream (marked).
                let mut missing = 0u64;
                if since.is_none() {
                    for id in w.issue_ids_of_link(link_id)? {
                        if seen.contains(&id) {
                            continue;
                        }
                        if let Some(old) = w.get_issue(id)? {
                            if !old.missing_upstream {
                                let mut new = old.clone();
                                new.missing_upstream = true;
                                new.updated_at = now;
                                put_issue(&w, Some(&old), &new)?;
                            }
                            missing += 1;
                        }
                    }
                }
                // The next incremental run starts from when this fetch began (no race window).
                link.last_synced_at = Some(started);
                w.put_link(&link)?;
                if let Some(mut run) = w.sync_run(run_id)? {
                    run.status = SyncStatus::Success;
                    run.finished_at = Some(crate::domain::model::now());
                    run.fetched = payloads.len() as u64;
                    run.created = created;
                    run.updated = updated;
                    run.missing = missing;
                    w.put_sync_run(&run)?;
                }
                w.commit()?;
                Ok((created, updated, missing))
            })?;
        let write_ms = fetched_at.elapsed().as_millis() as u64;
        tracing::info!(link = link_id.get(), provider = %integ.provider, fetched = payloads.len(), created, updated, missing, fetch_ms, write_ms, "issue sync finished");
        o.issues_synced = payloads.len() as u64;
        o.created = created;
        o.missing = missing;
        Ok(())
    }

    /// After a failed run: when the link's last three or more runs all failed, tell the
    /// project's owner (the notifier decides how often that reaches them).
    fn tell_if_failing(&self, link_id: LinkId, error: &str) {
        let found = crate::store::run_blocking(|| -> AppResult<Option<(SyncRun, u32, UserId)>> {
            let r = self.store.read()?;
            let (mut failures, mut last) = (0u32, None);
            r.sync_runs_newest(|run| {
                if run.project_integration_id != link_id {
                    return true;
                }
                if run.status != SyncStatus::Failed {
                    return false;
                }
                failures += 1;
                last.get_or_insert(run);
                failures < 1000
            })?;
            let Some(run) = last.filter(|_| failures >= 3) else {
                return Ok(None);
            };
            let owner = r.get_project(run.project_id)?.map(|p| p.owner_id);
            Ok(owner.map(|o| (run, failures, o)))
        });
        let Ok(Some((run, failures, owner))) = found else {
            return;
        };
        let name = crate::store::run_blocking(|| {
            self.store
                .read()
                .and_then(|r| r.get_integration(run.integration_id))
                .ok()
                .flatten()
                .map(|i| i.name)
        })
        .unwrap_or_else(|| format!("integration {}", run.integration_id));
        self.events
            .publish(crate::services::events::Event::SyncFailing {
                user_id: owner,
                integration_id: run.integration_id,
                name,
                failures,
                error: error.chars().take(200).collect(),
            });
    }

    fn finish_run(&self, id: SyncRunId, f: impl FnOnce(&mut SyncRun)) -> AppResult<()> {
        let w = self.store.write()?;
        if let Some(mut run) = w.sync_run(id)? {
            f(&mut run);
            run.finished_at = Some(crate::domain::model::now());
            w.put_sync_run(&run)?;
        }
        w.commit()?;
        Ok(())
    }

    /// Runs left running by a stopped server are marked interrupted at start-up.
    pub fn mark_interrupted_syncs(&self) -> AppResult<u64> {
        let w = self.store.write()?;
        let mut n = 0;
        let running = w
            .sync_runs()?
            .into_iter()
            .filter(|run| !run.status.is_terminal());
        for mut run in running {
            run.status = SyncStatus::Interrupted;
            run.error = Some("The server stopped during this sync; the next run starts again from the last completed one.".into());
            run.finished_at = Some(crate::domain::model::now());
            w.put_sync_run(&run)?;
            n += 1;
        }
        w.commit()?;
        Ok(n)
    }

    /// Newest runs first, optionally of one link.
    pub fn sync_history(
        &self,
        caller: &Identity,
        limit: usize,
        link_id: Option<LinkId>,
    ) -> AppResult<Vec<SyncRun>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let visible = Grants::load(&r, caller)?.visible_project_ids(&r)?;
        let mut out = Vec::new();
        r.sync_runs_newest(|run| {
            if link_id.is_some_and(|l| l != run.project_integration_id) {
                return true;
            }
            if visible
                .as_ref()
                .is_some_and(|v| !v.contains(&run.project_id))
            {
                return true;
            }
            out.push(run);
            out.len() < limit.clamp(1, 1000)
        })?;
        Ok(out)
    }
}
