//! Issue writes: each goes to the tracker first, then the tracker's answer is stored
//! (`store::WriteTxn::put_issue` keeps the indexes); also the sync's upsert of a tracker answer
//! and the local status edit (no tracker call).

use super::{IssueView, NewIssue};
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::access::Action;
use crate::domain::issues::validate_status_update;
use crate::domain::{
    Comment, ExternalIssue, Id, ProjectIntegration, Scope, TenantId, Timestamp, UserId,
};
use crate::error::{AppError, AppResult};
use crate::services::access::project_for;
use crate::services::integrations::Trackers;
use crate::services::trackers::{CreateRequest, IssuePayload, Provider, UpdateRequest};
use crate::store::WriteTxn;

/// Store an issue, keeping its indexes (see `store::WriteTxn::put_issue`).
pub(crate) fn put_issue(
    w: &WriteTxn,
    old: Option<&ExternalIssue>,
    new: &ExternalIssue,
) -> AppResult<()> {
    w.put_issue(old, new)
}

/// Store a tracker answer for a link: update the issue with that external id, or create it.
/// Returns the stored issue and whether it is new (inside the caller's transaction).
pub(crate) fn upsert_payload(
    w: &WriteTxn,
    link: &ProjectIntegration,
    tenant_id: TenantId,
    p: &IssuePayload,
    now: Timestamp,
) -> AppResult<(ExternalIssue, bool)> {
    let old = w.issue_by_external(link.id, &p.external_id)?;
    let mut issue = match &old {
        Some(o) => o.clone(),
        None => ExternalIssue {
            id: w.next_issue_id()?,
            project_integration_id: link.id,
            project_id: link.project_id,
            tenant_id,
            external_id: p.external_id.clone(),
            title: String::new(),
            status: None,
            assignee: None,
            assignee_key: None,
            url: None,
            labels: Vec::new(),
            comments: Vec::new(),
            body: None,
            external_updated_at: None,
            last_seen_at: None,
            missing_upstream: false,
            created_at: now,
            updated_at: now,
        },
    };
    apply_payload(&mut issue, p, now);
    w.put_issue(old.as_ref(), &issue)?;
    Ok((issue, old.is_none()))
}

/// Apply a tracker answer to a stored issue (fields the tracker owns).
pub(crate) fn apply_payload(issue: &mut ExternalIssue, p: &IssuePayload, now: Timestamp) {
    issue.title = p.title.clone();
    issue.status = p.status.clone();
    issue.assignee = p.assignee.clone();
    issue.assignee_key = p.assignee_key.clone();
    issue.url = p.url.clone().or(issue.url.take());
    issue.labels = p.labels.clone();
    if p.body.is_some() {
        issue.body = p.body.clone();
    }
    if let Some(c) = &p.comments {
        issue.comments = c.clone();
    }
    issue.external_updated_at = p.updated_at.or(issue.external_updated_at);
    issue.last_seen_at = Some(now);
    issue.missing_upstream = false;
    issue.updated_at = now;
}

impl Trackers {
    /// Write a tracker answer back into the stored issue.
    fn store_payload(
        &self,
        id: IssueId,
        p: &IssuePayload,
        tweak: impl FnOnce(&mut ExternalIssue),
    ) -> AppResult<ExternalIssue> {
        crate::store::run_blocking(|| {
            let w = self.store.write()?;
            let old = w
                .get_issue(id)?
                .ok_or_else(|| AppError::NotFound(format!("Issue {id} was deleted meanwhile")))?;
            let mut new = old.clone();
            apply_payload(&mut new, p, crate::domain::model::now());
            tweak(&mut new);
            w.put_issue(Some(&old), &new)?;
            w.commit()?;
            Ok(new)
        })
    }

    pub async fn create_issue(&self, caller: &Identity, n: NewIssue) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        if n.title.trim().is_empty() {
            return Err(AppError::BadRequest("Issue title is required".into()));
        }
        let project_id = n
            .project_id
            .ok_or_else(|| AppError::BadRequest("project_id is required".into()))?;
        let integration_id = n
            .integration_id
            .ok_or_else(|| AppError::BadRequest("integration_id is required".into()))?;
        let link = {
            let r = self.store.read()?;
            let project = project_for(&r, caller, project_id, Action::Work)?;
            let (integ, found) = r.issue_target(project_id, integration_id)?;
            let integ = integ.ok_or_else(|| AppError::NotFound("Integration not found".into()))?;
            if integ.tenant_id != project.tenant_id {
                return Err(AppError::BadRequest(
                    "Integration does not belong to project's tenant".into(),
                ));
            }
            found.ok_or_else(|| {
                AppError::NotFound("Project is not linked to this integration".into())
            })?
        };
        let (provider, integ, _) = self.provider_for(&link, Some(caller.id()))?;
        // Assignee: an explicit tracker identity, else the mapped identity of the given user.
        let assignee = match (
            n.assignee.filter(|a| !a.trim().is_empty()),
            n.assignee_user_id,
        ) {
            (Some(a), _) => Some(a.trim().to_string()),
            (None, Some(uid)) => {
                Some(self.identity_for(uid, &integ.provider)?.ok_or_else(|| {
                    AppError::NotFound(format!(
                        "User {uid} has no {} identity mapping",
                        integ.provider
                    ))
                })?)
            }
            (None, None) => None,
        };
        let p = provider
            .create(&CreateRequest {
                title: n.title.trim().to_string(),
                description: n.description,
                labels: n.labels,
                assignee,
                issue_type: n.issue_type,
                priority: n.priority,
                ..Default::default()
            })
            .await?;
        let issue = crate::store::run_blocking(|| -> AppResult<ExternalIssue> {
            let w = self.store.write()?;
            let now = crate::domain::model::now();
            let (issue, _) = upsert_payload(&w, &link, integ.tenant_id, &p, now)?;
            w.commit()?;
            Ok(issue)
        })?;
        self.view_of(issue)
    }

    pub async fn update_issue(
        &self,
        caller: &Identity,
        id: IssueId,
        req: UpdateRequest,
        status: Option<String>,
    ) -> AppResult<IssueView> {
        let (issue, link) = self.issue_for_write(caller, id)?;
        let (provider, _, _) = self.provider_for(&link, Some(caller.id()))?;
        let mut p = None;
        if req.title.is_some() || req.description.is_some() || req.labels.is_some() {
            p = Some(provider.update(&issue.external_id, &req).await?);
        }
        match status.as_deref().map(|s| s.trim().to_lowercase()) {
            Some(s) if matches!(s.as_str(), "closed" | "close") => {
                p = Some(provider.close(&issue.external_id).await?);
            }
            Some(s) if matches!(s.as_str(), "open" | "reopen" | "re-open") => {
                p = Some(provider.reopen(&issue.external_id).await?);
            }
            Some(other) => {
                return Err(AppError::BadRequest(format!(
                    "status '{other}' is not supported: use open or closed (or the local status edit)"
                )));
            }
            None => {}
        }
        let Some(p) = p else {
            return Err(AppError::BadRequest(
                "Nothing to update: send title, description, labels or status".into(),
            ));
        };
        let new = self.store_payload(id, &p, |_| {})?;
        self.view_of(new)
    }

    pub async fn close_issue(
        &self,
        caller: &Identity,
        id: IssueId,
        reopen: bool,
    ) -> AppResult<IssueView> {
        let (issue, link) = self.issue_for_write(caller, id)?;
        let (provider, _, _) = self.provider_for(&link, Some(caller.id()))?;
        let p = if reopen {
            provider.reopen(&issue.external_id).await?
        } else {
            provider.close(&issue.external_id).await?
        };
        let new = self.store_payload(id, &p, |_| {})?;
        self.view_of(new)
    }

    /// Re-read one issue from the tracker.
    /// Fetch the issue again from its tracker (a store write that spends the caller's tracker
    /// quota: write scope, developers).
    pub async fn refresh_issue(&self, caller: &Identity, id: IssueId) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let (issue, link) = {
            let r = self.store.read()?;
            let issue = self.visible_issue(&r, caller, id, Action::Work)?;
            let link = r.issue_link(&issue)?.ok_or_else(|| {
                AppError::NotFound("Project is not linked to this integration".into())
            })?;
            (issue, link)
        };
        let (provider, _, _) = self.provider_for(&link, Some(caller.id()))?;
        let p = provider.get(&issue.external_id).await?;
        let new = self.store_payload(id, &p, |_| {})?;
        self.view_of(new)
    }

    /// Assign to an aiops user (through the identity map) or a raw tracker identity.
    pub async fn assign_issue(
        &self,
        caller: &Identity,
        id: IssueId,
        user_id: Option<UserId>,
        assignee: Option<String>,
    ) -> AppResult<IssueView> {
        let (issue, link) = self.issue_for_write(caller, id)?;
        let (provider, integ, _) = self.provider_for(&link, Some(caller.id()))?;
        let who = match (user_id, assignee.filter(|a| !a.trim().is_empty())) {
            (Some(uid), _) => self
                .identity_for(uid, &integ.provider)?
                .ok_or_else(|| AppError::NotFound("User identity mapping not found".into()))?,
            (None, Some(a)) => a.trim().to_string(),
            (None, None) => {
                // "defaults to self", as the CLI help always promised.
                self.identity_for(caller.id(), &integ.provider)?.ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "Either user_id or assignee must be provided (you have no {} identity mapping to default to)",
                        integ.provider
                    ))
                })?
            }
        };
        let p = provider.assign(&issue.external_id, &who).await?;
        let new = self.store_payload(id, &p, |_| {})?;
        self.view_of(new)
    }

    pub async fn comment_issue(
        &self,
        caller: &Identity,
        id: IssueId,
        body: &str,
    ) -> AppResult<Comment> {
        let body = body.trim();
        if body.is_empty() {
            return Err(AppError::BadRequest("Comment body is required".into()));
        }
        let (issue, link) = self.issue_for_write(caller, id)?;
        let (provider, integ, _) = self.provider_for(&link, Some(caller.id()))?;
        let body = if integ.provider == "jira" {
            self.jira_mentions(&provider, body).await?
        } else {
            body.to_string()
        };
        let c = provider.comment(&issue.external_id, &body).await?;
        let stored = c.clone();
        crate::store::run_blocking(|| -> AppResult<()> {
            let w = self.store.write()?;
            if let Some(old) = w.get_issue(id)? {
                let mut new = old.clone();
                new.comments.insert(0, stored);
                new.comments
                    .truncate(crate::domain::issues::MAX_COMMENTS_PER_ISSUE);
                new.updated_at = crate::domain::model::now();
                w.put_issue(Some(&old), &new)?;
            }
            w.commit()?;
            Ok(())
        })?;
        Ok(c)
    }

    pub async fn edit_comment(
        &self,
        caller: &Identity,
        id: Id,
        comment_id: &str,
        body: &str,
    ) -> AppResult<Comment> {
        if body.trim().is_empty() {
            return Err(AppError::BadRequest("Comment body is required".into()));
        }
        let (issue, link) = self.issue_for_write(caller, id.into())?;
        let (provider, integ, _) = self.provider_for(&link, Some(caller.id()))?;
        let body = if integ.provider == "jira" {
            self.jira_mentions(&provider, body.trim()).await?
        } else {
            body.trim().to_string()
        };
        let c = provider
            .edit_comment(&issue.external_id, comment_id, &body)
            .await?;
        let stored = c.clone();
        let cid = comment_id.to_string();
        crate::store::run_blocking(|| -> AppResult<()> {
            let w = self.store.write()?;
            if let Some(old) = w.get_issue(id.into())? {
                let mut new = old.clone();
                match new
                    .comments
                    .iter_mut()
                    .find(|x| x.id.as_deref() == Some(cid.as_str()))
                {
                    Some(slot) => *slot = stored,
                    None => new.comments.insert(0, stored),
                }
                w.put_issue(Some(&old), &new)?;
            }
            w.commit()?;
            Ok(())
        })?;
        Ok(c)
    }

    /// The local status edit (no tracker call): trimmed, blank clears, at most 128 characters.
    pub fn set_local_status(
        &self,
        caller: &Identity,
        id: IssueId,
        status: &str,
    ) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let status = validate_status_update(status).map_err(AppError::BadRequest)?;
        {
            let r = self.store.read()?;
            self.visible_issue(&r, caller, id, Action::Work)?;
        }
        let w = self.store.write()?;
        let old = w
            .get_issue(id)?
            .ok_or_else(|| AppError::NotFound(format!("Issue {id} not found")))?;
        let mut new = old.clone();
        new.status = status;
        new.updated_at = crate::domain::model::now();
        w.put_issue(Some(&old), &new)?;
        w.commit()?;
        self.view_of(new)
    }
}
