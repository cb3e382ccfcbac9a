//! Stored tracker issues: listing (planned and walked by `store::issues`), reading, the write
//! operations that go to the tracker first and then update the stored copy (`writes`), Jira
//! mention resolution (`mentions`), and pins (`pins`).

mod mentions;
mod pins;
mod writes;

pub use crate::domain::issues::{IssueFilter, IssueView};
pub use crate::store::issues::{IssueListing, ListedCounts};
pub(crate) use writes::{put_issue, upsert_payload};

use super::access::{Grants, project_for};
use super::integrations::Trackers;
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::access::Action;
use crate::domain::{ExternalIssue, ProjectIntegration, Scope, UserId};
use crate::domain::{IntegrationId, IssueId};
use crate::error::{AppError, AppResult};
use crate::store::ReadTxn;

pub struct IssuePage {
    pub issues: Vec<IssueView>,
    pub total: usize,
}

#[derive(Debug, Default, Clone)]
pub struct NewIssue {
    pub project_id: Option<ProjectId>,
    pub integration_id: Option<IntegrationId>,
    pub title: String,
    pub description: Option<String>,
    pub labels: Vec<String>,
    /// aiops user to assign (mapped to the tracker identity).
    pub assignee_user_id: Option<UserId>,
    /// A raw tracker identity (login, username, account id).
    pub assignee: Option<String>,
    pub issue_type: Option<String>,
    pub priority: Option<String>,
}

/// How many of a project's other issues an agent's context lists (newest first).
pub const CONTEXT_ISSUES: usize = 500;

impl Trackers {
    /// Plan an issue list: check the caller, resolve which projects they see (in the same read
    /// transaction), and let the store's planner check the filters and pick the index
    /// (`store::ReadTxn::plan_issues`). Nothing is listed yet: errors come before the first
    /// issue.
    pub fn plan_issues(&self, caller: &Identity, f: &IssueFilter) -> AppResult<IssueListing> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let visible = Grants::load(&r, caller)?.visible_project_ids(&r)?;
        r.plan_issues(f, visible, caller.id())
    }

    /// List issues into memory (the web UI's pages, the agent context). In `f.sort` order
    /// (ascending id unless asked otherwise).
    pub fn list_issues(&self, caller: &Identity, f: &IssueFilter) -> AppResult<IssuePage> {
        let mut issues = Vec::new();
        let counts = self.plan_issues(caller, f)?.for_each(|v| {
            issues.push(v);
            Ok(true)
        })?;
        let total = counts.map_or(issues.len(), |c| c.total);
        Ok(IssuePage { issues, total })
    }

    /// One issue the caller may see (404 otherwise, so ids of others' issues don't leak).
    pub fn get_issue(&self, caller: &Identity, id: IssueId) -> AppResult<IssueView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::View)?;
        r.issue_names()?.view(issue, None)
    }

    /// An issue the caller may work on (developers of its project), for the issue workflow.
    pub(crate) fn issue_for_work(&self, caller: &Identity, id: IssueId) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::Work)?;
        r.issue_names()?.view(issue, None)
    }

    /// The issue when the caller may `action` its project: 404 for non-members (so ids of
    /// others' issues don't leak), 403 for members whose role is too low.
    fn visible_issue(
        &self,
        r: &ReadTxn,
        caller: &Identity,
        id: IssueId,
        action: Action,
    ) -> AppResult<ExternalIssue> {
        let not_found = || AppError::NotFound(format!("Issue {id} not found"));
        let issue = r.get_issue(id)?.ok_or_else(not_found)?;
        match project_for(r, caller, issue.project_id, action) {
            Ok(_) => Ok(issue),
            Err(AppError::NotFound(_)) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// The issue and its link, for a write by `caller`.
    fn issue_for_write(
        &self,
        caller: &Identity,
        id: IssueId,
    ) -> AppResult<(ExternalIssue, ProjectIntegration)> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::Work)?;
        let link = r.issue_link(&issue)?.ok_or_else(|| {
            AppError::NotFound("Project is not linked to this integration".into())
        })?;
        Ok((issue, link))
    }

    /// An issue as shown, with the names of the current snapshot.
    fn view_of(&self, issue: ExternalIssue) -> AppResult<IssueView> {
        let r = self.store.read()?;
        r.issue_names()?.view(issue, None)
    }
}

#[cfg(test)]
mod tests;
