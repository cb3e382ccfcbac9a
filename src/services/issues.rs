//! Stored tracker issues: listing from indexes, reading, the write operations (which go to the
//! tracker first and then update the stored copy), and pins.

use super::App;
use super::access::{Grants, project_for};
use super::trackers::{CreateRequest, IssuePayload, Provider, UpdateRequest};
use crate::auth::Identity;
use crate::domain::access::Action;
use crate::domain::issues::{
    IssueSort, normalize_status, provider_filter, resolve_mentions, status_filter_key,
    validate_status_update,
};
use crate::domain::{
    Comment, ExternalIssue, Id, PinnedIssue, Project, ProjectIntegration, Scope, Tenant,
    TenantIntegration, Timestamp,
};
use crate::error::{AppError, AppResult};
use crate::store::tables::*;
use crate::store::*;
use crate::store::{ReadTxn, WriteTxn};
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct IssueView {
    pub issue: ExternalIssue,
    pub status_key: String,
    pub status_label: String,
    pub provider: String,
    pub integration_id: Id,
    pub integration_name: String,
    pub project_name: String,
    pub tenant_name: String,
    pub pinned_at: Option<Timestamp>,
}

#[derive(Debug, Default, Clone)]
pub struct IssueFilter {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub project_id: Option<Id>,
    pub tenant_id: Option<Id>,
    pub integration_id: Option<Id>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    /// Case-insensitive substring of title or external id (web UI search).
    pub q: Option<String>,
    /// Page size; `None` = every matching issue.
    pub limit: Option<usize>,
    pub offset: usize,
    pub sort: IssueSort,
}

pub struct IssuePage {
    pub issues: Vec<IssueView>,
    pub total: usize,
}

#[derive(Debug, Default, Clone)]
pub struct NewIssue {
    pub project_id: Option<Id>,
    pub integration_id: Option<Id>,
    pub title: String,
    pub description: Option<String>,
    pub labels: Vec<String>,
    /// aiops user to assign (mapped to the tracker identity).
    pub assignee_user_id: Option<Id>,
    /// A raw tracker identity (login, username, account id).
    pub assignee: Option<String>,
    pub issue_type: Option<String>,
    pub priority: Option<String>,
}

/// How many of a project's other issues an agent's context lists (newest first).
pub const CONTEXT_ISSUES: usize = 500;

/// A stored issue without its description, for lists: the (possibly long) body is skipped by
/// the decoder instead of being copied, since list answers do not carry it.
#[derive(serde::Deserialize)]
struct ListedIssue {
    id: Id,
    project_integration_id: Id,
    project_id: Id,
    tenant_id: Id,
    external_id: String,
    title: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    assignee_key: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    comments: Vec<Comment>,
    #[serde(default)]
    external_updated_at: Option<Timestamp>,
    #[serde(default)]
    last_seen_at: Option<Timestamp>,
    #[serde(default)]
    missing_upstream: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn decode_listed(bytes: &[u8]) -> AppResult<ExternalIssue> {
    let l: ListedIssue = decode(bytes)?;
    Ok(ExternalIssue {
        id: l.id,
        project_integration_id: l.project_integration_id,
        project_id: l.project_id,
        tenant_id: l.tenant_id,
        external_id: l.external_id,
        title: l.title,
        status: l.status,
        assignee: l.assignee,
        assignee_key: l.assignee_key,
        url: l.url,
        labels: l.labels,
        comments: l.comments,
        body: None,
        external_updated_at: l.external_updated_at,
        last_seen_at: l.last_seen_at,
        missing_upstream: l.missing_upstream,
        created_at: l.created_at,
        updated_at: l.updated_at,
    })
}

/// Add an issue's index entries (inside the caller's transaction).
pub(crate) fn index_issue(w: &WriteTxn, issue: &ExternalIssue) -> AppResult<()> {
    multi_add(
        w,
        ISSUES_BY_PROJECT_INTEGRATION,
        issue.project_integration_id,
        issue.id,
    )?;
    multi_add(w, ISSUES_BY_PROJECT, issue.project_id, issue.id)?;
    multi_add(w, ISSUES_BY_TENANT, issue.tenant_id, issue.id)?;
    w.open_multimap_table(ISSUES_BY_STATUS)?.insert(
        normalize_status(issue.status.as_deref()).0.as_str(),
        issue.id,
    )?;
    index_set(
        w,
        ISSUES_BY_EXTERNAL,
        &external_key(issue.project_integration_id, &issue.external_id),
        issue.id,
    )?;
    Ok(())
}

pub(crate) fn external_key(link: Id, external_id: &str) -> String {
    format!("{link}:{external_id}")
}

/// Store an updated issue, moving its status index entry when the status key changed.
pub(crate) fn put_issue(
    w: &WriteTxn,
    old: Option<&ExternalIssue>,
    new: &ExternalIssue,
) -> AppResult<()> {
    match old {
        None => index_issue(w, new)?,
        Some(o) => {
            let (ok, nk) = (
                normalize_status(o.status.as_deref()).0,
                normalize_status(new.status.as_deref()).0,
            );
            if ok != nk {
                let mut t = w.open_multimap_table(ISSUES_BY_STATUS)?;
                t.remove(ok.as_str(), new.id)?;
                t.insert(nk.as_str(), new.id)?;
            }
        }
    }
    put_row(w, ISSUES, new.id, new)
}

/// Store a tracker answer for a link: update the issue with that external id, or create it.
/// Returns the stored issue and whether it is new (inside the caller's transaction).
pub(crate) fn upsert_payload(
    w: &WriteTxn,
    link: &ProjectIntegration,
    tenant_id: Id,
    p: &IssuePayload,
    now: Timestamp,
) -> AppResult<(ExternalIssue, bool)> {
    let old: Option<ExternalIssue> = match index_get_w(
        w,
        ISSUES_BY_EXTERNAL,
        &external_key(link.id, &p.external_id),
    )? {
        Some(id) => get_row_w(w, ISSUES, id)?,
        None => None,
    };
    let mut issue = match &old {
        Some(o) => o.clone(),
        None => ExternalIssue {
            id: next_id(w, "issues")?,
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
    put_issue(w, old.as_ref(), &issue)?;
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

struct Names<'a> {
    r: &'a ReadTxn,
    links: HashMap<Id, Option<(ProjectIntegration, TenantIntegration)>>,
    projects: HashMap<Id, String>,
    tenants: HashMap<Id, String>,
}

impl<'a> Names<'a> {
    fn new(r: &'a ReadTxn) -> Self {
        Names {
            r,
            links: HashMap::new(),
            projects: HashMap::new(),
            tenants: HashMap::new(),
        }
    }

    fn link(&mut self, id: Id) -> AppResult<Option<(ProjectIntegration, TenantIntegration)>> {
        if let Some(v) = self.links.get(&id) {
            return Ok(v.clone());
        }
        let l: Option<ProjectIntegration> = get_row(self.r, PROJECT_INTEGRATIONS, id)?;
        let v = match l {
            Some(l) => get_row::<TenantIntegration>(self.r, INTEGRATIONS, l.integration_id)?
                .map(|i| (l, i)),
            None => None,
        };
        self.links.insert(id, v.clone());
        Ok(v)
    }

    fn view(&mut self, issue: ExternalIssue, pinned_at: Option<Timestamp>) -> AppResult<IssueView> {
        let (provider, integration_id, integration_name) =
            match self.link(issue.project_integration_id)? {
                Some((_, i)) => (i.provider, i.id, i.name),
                None => (String::new(), 0, String::new()),
            };
        if !self.projects.contains_key(&issue.project_id) {
            let p: Option<Project> = get_row(self.r, PROJECTS, issue.project_id)?;
            self.projects
                .insert(issue.project_id, p.map(|p| p.name).unwrap_or_default());
        }
        if !self.tenants.contains_key(&issue.tenant_id) {
            let t: Option<Tenant> = get_row(self.r, TENANTS, issue.tenant_id)?;
            self.tenants
                .insert(issue.tenant_id, t.map(|t| t.name).unwrap_or_default());
        }
        let (status_key, status_label) = normalize_status(issue.status.as_deref());
        Ok(IssueView {
            project_name: self.projects[&issue.project_id].clone(),
            tenant_name: self.tenants[&issue.tenant_id].clone(),
            status_key,
            status_label,
            provider,
            integration_id,
            integration_name,
            pinned_at,
            issue,
        })
    }
}

/// Where a list's candidate issues come from: ids ascending, walked in the list's order.
enum Source {
    /// Every issue: the rows themselves, in id order (no index lookups).
    All,
    /// The ids under one key of an index (one project, one tenant).
    Index(MultiIndex, Id),
    /// The ids under one status key of `issues_by_status`.
    Status(String),
    /// A union of index keys (a provider's links, the caller's projects), sorted.
    Ids(Vec<Id>),
}

/// The checks a candidate must still pass: what its source does not guarantee. `None` or empty
/// means "not checked".
#[derive(Default)]
struct Residual {
    status: Option<String>,
    project_id: Option<Id>,
    tenant_id: Option<Id>,
    links: Option<HashSet<Id>>,
    visible: Option<BTreeSet<Id>>,
    assignee: Option<String>,
    /// `assignee=me`: the caller's mapped tracker identities (lower case).
    mine: Option<Vec<String>>,
    labels: Vec<String>,
    q: Option<String>,
}

impl Residual {
    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.project_id.is_none()
            && self.tenant_id.is_none()
            && self.links.is_none()
            && self.visible.is_none()
            && self.assignee.is_none()
            && self.mine.is_none()
            && self.labels.is_empty()
            && self.q.is_none()
    }

    fn matches(&self, i: &ExternalIssue) -> bool {
        self.status
            .as_ref()
            .is_none_or(|s| normalize_status(i.status.as_deref()).0 == *s)
            && self.project_id.is_none_or(|p| p == i.project_id)
            && self.tenant_id.is_none_or(|t| t == i.tenant_id)
            && self
                .links
                .as_ref()
                .is_none_or(|l| l.contains(&i.project_integration_id))
            && self
                .visible
                .as_ref()
                .is_none_or(|v| v.contains(&i.project_id))
            && self.assignee.as_ref().is_none_or(|a| {
                i.assignee
                    .as_deref()
                    .is_some_and(|x| x.to_lowercase().contains(a.as_str()))
            })
            && self.mine.as_ref().is_none_or(|ids| {
                i.assignee_key
                    .as_deref()
                    .is_some_and(|k| ids.contains(&k.to_lowercase()))
            })
            && (self.labels.is_empty() || i.labels.iter().any(|l| self.labels.contains(l)))
            && self.q.as_ref().is_none_or(|q| {
                i.title.to_lowercase().contains(q.as_str())
                    || i.external_id.to_lowercase().contains(q.as_str())
            })
    }
}

/// A planned issue list: the filters validated, the caller's visibility resolved, and the read
/// transaction that every issue of the answer comes from (one consistent snapshot, however long
/// the walk takes). Made by `App::plan_issues`; `for_each` walks it.
pub struct IssueListing {
    r: ReadTxn,
    source: Source,
    residual: Residual,
    sort: IssueSort,
    offset: usize,
    limit: Option<usize>,
}

/// What a finished walk counted: `total` matching issues, `count` of them visited (the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedCounts {
    pub total: usize,
    pub count: usize,
}

/// A stored issue seen by a walk: its row bytes (when walking the table) or its id.
enum Candidate<'a> {
    Row(&'a [u8]),
    Id(Id),
}

/// Feed `it` to `f` in `sort` order until `f` says stop.
fn walk<I: DoubleEndedIterator>(
    it: I,
    sort: IssueSort,
    mut f: impl FnMut(I::Item) -> AppResult<bool>,
) -> AppResult<()> {
    match sort {
        IssueSort::IdAsc => {
            for x in it {
                if !f(x)? {
                    break;
                }
            }
        }
        IssueSort::IdDesc => {
            for x in it.rev() {
                if !f(x)? {
                    break;
                }
            }
        }
    }
    Ok(())
}

impl IssueListing {
    /// Visit the page's issues (after `offset`, at most `limit`) in order. `visit` returns
    /// whether to go on; `Ok(None)` when it stopped the walk (a client that went away), else the
    /// counts. Without residual filters the source's length is the total and rows before the
    /// page are skipped undecoded; with them every candidate is checked (to count the total).
    pub fn for_each(
        self,
        mut visit: impl FnMut(IssueView) -> AppResult<bool>,
    ) -> AppResult<Option<ListedCounts>> {
        let IssueListing {
            r,
            source,
            residual,
            sort,
            offset,
            limit,
        } = self;
        let limit = limit.unwrap_or(usize::MAX);
        let filtered = !residual.is_empty();
        let issues_t = r.open_table(ISSUES)?;
        let status_t = r.open_multimap_table(ISSUES_BY_STATUS)?;
        let known_total = if filtered {
            None
        } else {
            Some(match &source {
                Source::All => issues_t.len()? as usize,
                Source::Index(def, key) => r.open_multimap_table(*def)?.get(*key)?.len() as usize,
                Source::Status(s) => status_t.get(s.as_str())?.len() as usize,
                Source::Ids(ids) => ids.len(),
            })
        };
        let mut names = Names::new(&r);
        let (mut seen, mut taken, mut stopped) = (0usize, 0usize, false);
        let mut offer = |c: Candidate<'_>| -> AppResult<bool> {
            if !filtered {
                // Every candidate matches: skip to the page undecoded, stop after it.
                if seen < offset {
                    seen += 1;
                    return Ok(true);
                }
                if taken >= limit {
                    return Ok(false);
                }
            }
            let issue = match c {
                Candidate::Row(bytes) => Some(decode_listed(bytes)?),
                Candidate::Id(id) => match issues_t.get(id)? {
                    Some(v) => Some(decode_listed(v.value())?),
                    None => None,
                },
            };
            let Some(issue) = issue else {
                return Ok(true);
            };
            if filtered && !residual.matches(&issue) {
                return Ok(true);
            }
            seen += 1;
            if seen > offset && taken < limit {
                taken += 1;
                if !visit(names.view(issue, None)?)? {
                    stopped = true;
                    return Ok(false);
                }
            }
            Ok(true)
        };
        match &source {
            Source::All => walk(issues_t.iter()?, sort, |item| {
                let (_, row) = item?;
                offer(Candidate::Row(row.value()))
            })?,
            Source::Index(def, key) => {
                let t = r.open_multimap_table(*def)?;
                walk(t.get(*key)?, sort, |id| offer(Candidate::Id(id?.value())))?
            }
            Source::Status(s) => walk(status_t.get(s.as_str())?, sort, |id| {
                offer(Candidate::Id(id?.value()))
            })?,
            Source::Ids(ids) => walk(ids.iter(), sort, |id| offer(Candidate::Id(*id)))?,
        }
        if stopped {
            return Ok(None);
        }
        Ok(Some(ListedCounts {
            total: known_total.unwrap_or(seen),
            count: taken,
        }))
    }
}

impl App {
    fn visible_projects(&self, r: &ReadTxn, caller: &Identity) -> AppResult<Option<BTreeSet<Id>>> {
        Grants::load(r, caller)?.visible_project_ids(r)
    }

    /// Plan an issue list: check the caller and the filters (a project the caller cannot see,
    /// or that does not exist, is 404), resolve what the caller may see, and pick the candidate
    /// source: the most selective index (project, integration/provider, the caller's projects,
    /// tenant, status, or every issue). Other filters are checked on those candidates only.
    /// Nothing is listed yet: errors come before the first issue.
    pub fn plan_issues(&self, caller: &Identity, f: &IssueFilter) -> AppResult<IssueListing> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let visible = self.visible_projects(&r, caller)?;
        let status = f.status.as_deref().and_then(status_filter_key);
        let provider = f.provider.as_deref().and_then(provider_filter);
        let assignee = f
            .assignee
            .as_deref()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty());
        // `assignee=me`: issues assigned to any of the caller's mapped tracker identities.
        let mine: Option<Vec<String>> = if assignee.as_deref() == Some("me") {
            let m: crate::domain::IdentityMap =
                get_row(&r, IDENTITY_MAP, caller.id())?.unwrap_or_default();
            Some(
                [m.github_username, m.gitlab_username, m.jira_account_id]
                    .into_iter()
                    .flatten()
                    .map(|s| s.to_lowercase())
                    .collect(),
            )
        } else {
            None
        };
        let assignee = if mine.is_some() { None } else { assignee };
        let q =
            f.q.as_deref()
                .map(|a| a.trim().to_lowercase())
                .filter(|a| !a.is_empty());
        if let Some(p) = f.project_id {
            let known = match &visible {
                Some(vis) => vis.contains(&p),
                None => get_row::<Project>(&r, PROJECTS, p)?.is_some(),
            };
            if !known {
                return Err(AppError::NotFound(format!(
                    "Project {p} not found: list your projects with GET /api/v1/projects"
                )));
            }
        }
        // Links allowed by integration / provider filters.
        let link_filter: Option<Vec<Id>> = if f.integration_id.is_some() || provider.is_some() {
            let integs: Vec<TenantIntegration> = match f.integration_id {
                Some(i) => get_row::<TenantIntegration>(&r, INTEGRATIONS, i)?
                    .into_iter()
                    .collect(),
                None => all_rows(&r, INTEGRATIONS)?,
            };
            let mut links = Vec::new();
            for i in integs {
                if provider
                    .as_ref()
                    .is_some_and(|p| !p.eq_ignore_ascii_case(&i.provider))
                {
                    continue;
                }
                links.extend(multi_ids(&r, PROJECT_INTEGRATIONS_BY_INTEGRATION, i.id)?);
            }
            Some(links)
        } else {
            None
        };

        let mut residual = Residual {
            status: status.clone(),
            project_id: f.project_id,
            tenant_id: f.tenant_id,
            links: link_filter.as_ref().map(|l| l.iter().copied().collect()),
            visible: visible.clone(),
            assignee,
            mine,
            labels: f.labels.clone(),
            q,
        };
        let source = if let Some(p) = f.project_id {
            // Checked above: the caller sees this project.
            residual.project_id = None;
            residual.visible = None;
            Source::Index(ISSUES_BY_PROJECT, p)
        } else if let Some(links) = &link_filter {
            residual.links = None;
            let mut ids = Vec::new();
            for l in links {
                ids.extend(multi_ids(&r, ISSUES_BY_PROJECT_INTEGRATION, *l)?);
            }
            ids.sort_unstable();
            ids.dedup();
            Source::Ids(ids)
        } else if let Some(vis) = &visible {
            residual.visible = None;
            let mut ids = Vec::new();
            for p in vis {
                ids.extend(multi_ids(&r, ISSUES_BY_PROJECT, *p)?);
            }
            ids.sort_unstable();
            ids.dedup();
            Source::Ids(ids)
        } else if let Some(t) = f.tenant_id {
            residual.tenant_id = None;
            Source::Index(ISSUES_BY_TENANT, t)
        } else if let Some(s) = status {
            residual.status = None;
            Source::Status(s)
        } else {
            Source::All
        };
        Ok(IssueListing {
            r,
            source,
            residual,
            sort: f.sort,
            offset: f.offset,
            limit: f.limit,
        })
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
    pub fn get_issue(&self, caller: &Identity, id: Id) -> AppResult<IssueView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::View)?;
        Names::new(&r).view(issue, None)
    }

    /// An issue the caller may work on (developers of its project), for the issue workflow.
    pub(crate) fn issue_for_work(&self, caller: &Identity, id: Id) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::Work)?;
        Names::new(&r).view(issue, None)
    }

    /// The issue when the caller may `action` its project: 404 for non-members (so ids of
    /// others' issues don't leak), 403 for members whose role is too low.
    fn visible_issue(
        &self,
        r: &ReadTxn,
        caller: &Identity,
        id: Id,
        action: Action,
    ) -> AppResult<ExternalIssue> {
        let not_found = || AppError::NotFound(format!("Issue {id} not found"));
        let issue: ExternalIssue = get_row(r, ISSUES, id)?.ok_or_else(not_found)?;
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
        id: Id,
    ) -> AppResult<(ExternalIssue, ProjectIntegration)> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        let issue = self.visible_issue(&r, caller, id, Action::Work)?;
        let link: ProjectIntegration =
            get_row(&r, PROJECT_INTEGRATIONS, issue.project_integration_id)?.ok_or_else(|| {
                AppError::NotFound("Project is not linked to this integration".into())
            })?;
        Ok((issue, link))
    }

    /// Write a tracker answer back into the stored issue.
    fn store_payload(
        &self,
        id: Id,
        p: &IssuePayload,
        tweak: impl FnOnce(&mut ExternalIssue),
    ) -> AppResult<ExternalIssue> {
        crate::store::run_blocking(|| {
            let w = self.store.write()?;
            let old: ExternalIssue = get_row_w(&w, ISSUES, id)?
                .ok_or_else(|| AppError::NotFound(format!("Issue {id} was deleted meanwhile")))?;
            let mut new = old.clone();
            apply_payload(&mut new, p, crate::domain::model::now());
            tweak(&mut new);
            put_issue(&w, Some(&old), &new)?;
            w.commit()?;
            Ok(new)
        })
    }

    fn view_of(&self, issue: ExternalIssue) -> AppResult<IssueView> {
        let r = self.store.read()?;
        Names::new(&r).view(issue, None)
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
            let integ: TenantIntegration = get_row(&r, INTEGRATIONS, integration_id)?
                .ok_or_else(|| AppError::NotFound("Integration not found".into()))?;
            if integ.tenant_id != project.tenant_id {
                return Err(AppError::BadRequest(
                    "Integration does not belong to project's tenant".into(),
                ));
            }
            let mut found = None;
            for l in rows_by_ids::<ProjectIntegration>(
                &r,
                PROJECT_INTEGRATIONS,
                multi_ids(&r, PROJECT_INTEGRATIONS_BY_PROJECT, project_id)?,
            )? {
                if l.integration_id == integration_id {
                    found = Some(l);
                }
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
        id: Id,
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
        id: Id,
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
    pub async fn refresh_issue(&self, caller: &Identity, id: Id) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let (issue, link) = {
            let r = self.store.read()?;
            let issue = self.visible_issue(&r, caller, id, Action::Work)?;
            let link: ProjectIntegration =
                get_row(&r, PROJECT_INTEGRATIONS, issue.project_integration_id)?.ok_or_else(
                    || AppError::NotFound("Project is not linked to this integration".into()),
                )?;
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
        id: Id,
        user_id: Option<Id>,
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

    /// Resolve `@name` mentions for Jira: the identity map first, then Jira's user search.
    async fn jira_mentions(
        &self,
        provider: &super::trackers::AnyProvider,
        body: &str,
    ) -> AppResult<String> {
        if !body.contains('@') {
            return Ok(body.to_string());
        }
        let people = self.jira_people()?;
        let mut names: Vec<String> = Vec::new();
        resolve_mentions(body, |n| {
            names.push(n.to_string());
            None
        });
        let mut found: HashMap<String, String> = HashMap::new();
        for n in names {
            if let Some((_, acc)) = people.iter().find(|(k, _)| *k == n) {
                found.insert(n, acc.clone());
            } else if n.len() >= 2
                && let Ok(Some(acc)) = provider.find_user(&n.replace(['.', '_'], " ")).await
            {
                found.insert(n, acc);
            }
        }
        Ok(resolve_mentions(body, |n| found.get(n).cloned()).0)
    }

    pub async fn comment_issue(&self, caller: &Identity, id: Id, body: &str) -> AppResult<Comment> {
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
            if let Some(old) = get_row_w::<ExternalIssue>(&w, ISSUES, id)? {
                let mut new = old.clone();
                new.comments.insert(0, stored);
                new.comments
                    .truncate(crate::domain::issues::MAX_COMMENTS_PER_ISSUE);
                new.updated_at = crate::domain::model::now();
                put_issue(&w, Some(&old), &new)?;
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
        let (issue, link) = self.issue_for_write(caller, id)?;
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
            if let Some(old) = get_row_w::<ExternalIssue>(&w, ISSUES, id)? {
                let mut new = old.clone();
                match new
                    .comments
                    .iter_mut()
                    .find(|x| x.id.as_deref() == Some(cid.as_str()))
                {
                    Some(slot) => *slot = stored,
                    None => new.comments.insert(0, stored),
                }
                put_issue(&w, Some(&old), &new)?;
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
        id: Id,
        status: &str,
    ) -> AppResult<IssueView> {
        caller.require(Scope::Write)?;
        let status = validate_status_update(status).map_err(AppError::BadRequest)?;
        {
            let r = self.store.read()?;
            self.visible_issue(&r, caller, id, Action::Work)?;
        }
        let w = self.store.write()?;
        let old: ExternalIssue = get_row_w(&w, ISSUES, id)?
            .ok_or_else(|| AppError::NotFound(format!("Issue {id} not found")))?;
        let mut new = old.clone();
        new.status = status;
        new.updated_at = crate::domain::model::now();
        put_issue(&w, Some(&old), &new)?;
        w.commit()?;
        self.view_of(new)
    }

    // ---- pins ----------------------------------------------------------------------------------

    /// Pin for the caller; `None` when it was already pinned.
    pub fn pin_issue(&self, caller: &Identity, id: Id) -> AppResult<Option<PinnedIssue>> {
        caller.require(Scope::Write)?;
        {
            let r = self.store.read()?;
            self.visible_issue(&r, caller, id, Action::View)?;
        }
        let w = self.store.write()?;
        for pid in multi_ids_w(&w, PINS_BY_USER, caller.id())? {
            if let Some(p) = get_row_w::<PinnedIssue>(&w, PINS, pid)?
                && p.issue_id == id
            {
                return Ok(None);
            }
        }
        let pin = PinnedIssue {
            id: next_id(&w, "pins")?,
            user_id: caller.id(),
            issue_id: id,
            pinned_at: crate::domain::model::now(),
        };
        put_row(&w, PINS, pin.id, &pin)?;
        multi_add(&w, PINS_BY_USER, caller.id(), pin.id)?;
        multi_add(&w, PINS_BY_ISSUE, id, pin.id)?;
        w.commit()?;
        Ok(Some(pin))
    }

    pub fn unpin_issue(&self, caller: &Identity, id: Id) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let mut found = None;
        for pid in multi_ids_w(&w, PINS_BY_USER, caller.id())? {
            if let Some(p) = get_row_w::<PinnedIssue>(&w, PINS, pid)?
                && p.issue_id == id
            {
                found = Some(p);
            }
        }
        let pin = found.ok_or_else(|| AppError::NotFound("Issue is not pinned".into()))?;
        multi_del(&w, PINS_BY_USER, pin.user_id, pin.id)?;
        multi_del(&w, PINS_BY_ISSUE, id, pin.id)?;
        delete_row(&w, PINS, pin.id)?;
        w.commit()?;
        Ok(())
    }

    /// The caller's pinned issues, newest pin first.
    pub fn pinned_issues(&self, caller: &Identity) -> AppResult<Vec<IssueView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let mut pins: Vec<PinnedIssue> =
            rows_by_ids(&r, PINS, multi_ids(&r, PINS_BY_USER, caller.id())?)?;
        pins.sort_by_key(|p| std::cmp::Reverse(p.pinned_at));
        let mut names = Names::new(&r);
        let mut out = Vec::new();
        for p in pins {
            if let Ok(issue) = self.visible_issue(&r, caller, p.issue_id, Action::View) {
                out.push(names.view(issue, Some(p.pinned_at))?);
            }
        }
        Ok(out)
    }

    pub fn is_pinned(&self, caller: &Identity, id: Id) -> AppResult<bool> {
        let r = self.store.read()?;
        for pid in multi_ids(&r, PINS_BY_USER, caller.id())? {
            if get_row::<PinnedIssue>(&r, PINS, pid)?.is_some_and(|p| p.issue_id == id) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
