//! Issues and pins in the store: an issue row, its summary (the row without its description,
//! what lists read) and its five indexes written together (`WriteTxn::put_issue`,
//! `delete_issue`), the issue list planner (`ReadTxn::plan_issues`:
//! which index serves a filter and what is still checked per row) and its walk
//! (`IssueListing::for_each`), and the names a shown issue carries (`IssueNames`).

use super::tables::*;
use super::{ReadTxn, WriteTxn, decode, encode, next_id};
use crate::domain::issues::{
    IssueFilter, IssueSort, IssueView, normalize_status, provider_filter, status_filter_key,
};
use crate::domain::list_row::{
    RowNames, integration_fragment, list_row_keys, render_list_row, splice_list_row,
};
use crate::domain::{
    Comment, ExternalIssue, Id, IdentityMap, PinnedIssue, ProjectIntegration, TenantIntegration,
    Timestamp,
};
use crate::domain::{IntegrationId, IssueId, LinkId, ProjectId, TenantId, UserId};
use crate::error::{AppError, AppResult};
use redb::{ReadOnlyTable, ReadableMultimapTable, ReadableTable, ReadableTableMetadata};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

/// The `issues_by_external` key of an issue: `<project_integration_id>:<external_id>`.
pub fn external_key(link: LinkId, external_id: &str) -> String {
    format!("{link}:{external_id}")
}

fn status_key_of(issue: &ExternalIssue) -> String {
    normalize_status(issue.status.as_deref()).0
}

/// The `issue_list_rows` row of an issue (`domain::list_row`).
fn list_row_of(issue: &ExternalIssue) -> AppResult<Vec<u8>> {
    render_list_row(issue).map_err(|e| {
        AppError::Internal(format!("cannot render issue {}'s list row: {e}", issue.id))
    })
}

/// The `issue_summaries` row of an issue: the issue without its description (which is most of
/// a row's bytes and which no list shows), read back by `decode_listed`.
fn summary_of(issue: &ExternalIssue) -> AppResult<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        id: Id,
        project_integration_id: Id,
        project_id: Id,
        tenant_id: Id,
        external_id: &'a str,
        title: &'a str,
        status: &'a Option<String>,
        assignee: &'a Option<String>,
        assignee_key: &'a Option<String>,
        url: &'a Option<String>,
        labels: &'a [String],
        comments: &'a [Comment],
        external_updated_at: &'a Option<Timestamp>,
        last_seen_at: &'a Option<Timestamp>,
        missing_upstream: bool,
        created_at: &'a Timestamp,
        updated_at: &'a Timestamp,
    }
    encode(&Summary {
        id: issue.id.get(),
        project_integration_id: issue.project_integration_id.get(),
        project_id: issue.project_id.get(),
        tenant_id: issue.tenant_id.get(),
        external_id: &issue.external_id,
        title: &issue.title,
        status: &issue.status,
        assignee: &issue.assignee,
        assignee_key: &issue.assignee_key,
        url: &issue.url,
        labels: &issue.labels,
        comments: &issue.comments,
        external_updated_at: &issue.external_updated_at,
        last_seen_at: &issue.last_seen_at,
        missing_upstream: issue.missing_upstream,
        created_at: &issue.created_at,
        updated_at: &issue.updated_at,
    })
}

// ---- writes --------------------------------------------------------------------------------

impl WriteTxn {
    /// One stored issue (inside this write, so a read-modify-write sees its own changes).
    pub fn get_issue(&self, id: IssueId) -> AppResult<Option<ExternalIssue>> {
        let t = self.open_table(ISSUES)?;
        let v = t.get(id.get())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// The stored issue of a link with this tracker id (`42`, `PROJ-12`), if any.
    pub fn issue_by_external(
        &self,
        link: LinkId,
        external_id: &str,
    ) -> AppResult<Option<ExternalIssue>> {
        let id = {
            let t = self.open_table(ISSUES_BY_EXTERNAL)?;
            let v = t.get(external_key(link, external_id).as_str())?;
            v.map(|v| v.value())
        };
        match id {
            Some(id) => self.get_issue(id.into()),
            None => Ok(None),
        }
    }

    /// The ids of a link's stored issues, ascending.
    pub fn issue_ids_of_link(&self, link: LinkId) -> AppResult<Vec<IssueId>> {
        let t = self.open_multimap_table(ISSUES_BY_PROJECT_INTEGRATION)?;
        let mut out = Vec::new();
        for v in t.get(link.get())? {
            out.push(IssueId(v?.value()));
        }
        Ok(out)
    }

    /// A new issue id (ids are never reused).
    pub fn next_issue_id(&self) -> AppResult<IssueId> {
        next_id(self, "issues").map(IssueId)
    }

    /// Add an issue's entries to every issue index (link, project, tenant, status key,
    /// external id) and its summary; the row itself is written by `put_issue` (or by an
    /// import's own copy).
    pub fn index_issue(&self, issue: &ExternalIssue) -> AppResult<()> {
        self.put_issue_summary(issue)?;
        self.put_issue_list_row(issue)?;
        self.open_multimap_table(ISSUES_BY_PROJECT_INTEGRATION)?
            .insert(issue.project_integration_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_PROJECT)?
            .insert(issue.project_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_TENANT)?
            .insert(issue.tenant_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_STATUS)?
            .insert(status_key_of(issue).as_str(), issue.id.get())?;
        self.open_table(ISSUES_BY_EXTERNAL)?.insert(
            external_key(issue.project_integration_id, &issue.external_id).as_str(),
            issue.id.get(),
        )?;
        Ok(())
    }

    /// Store an issue with its summary and indexes: a new one (`old` = `None`) gets every index
    /// entry; an update rewrites its summary and moves its status index entry when the status
    /// key changed (the link, project, tenant and external id of an issue never change).
    pub fn put_issue(&self, old: Option<&ExternalIssue>, new: &ExternalIssue) -> AppResult<()> {
        match old {
            None => self.index_issue(new)?,
            Some(o) => {
                let (ok, nk) = (status_key_of(o), status_key_of(new));
                if ok != nk {
                    let mut t = self.open_multimap_table(ISSUES_BY_STATUS)?;
                    t.remove(ok.as_str(), new.id.get())?;
                    t.insert(nk.as_str(), new.id.get())?;
                }
                self.put_issue_summary(new)?;
                self.put_issue_list_row(new)?;
            }
        }
        let bytes = encode(new)?;
        self.open_table(ISSUES)?
            .insert(new.id.get(), bytes.as_slice())?;
        Ok(())
    }

    /// Remove one stored issue with its index entries and everyone's pins of it.
    pub fn delete_issue(&self, issue: &ExternalIssue) -> AppResult<()> {
        let pin_ids: Vec<Id> = {
            let t = self.open_multimap_table(PINS_BY_ISSUE)?;
            let mut v = Vec::new();
            for id in t.get(issue.id.get())? {
                v.push(id?.value());
            }
            v
        };
        for pin_id in pin_ids {
            let pin: Option<PinnedIssue> = {
                let t = self.open_table(PINS)?;
                let v = t.get(pin_id)?;
                v.map(|v| decode(v.value())).transpose()?
            };
            if let Some(pin) = pin {
                self.open_multimap_table(PINS_BY_USER)?
                    .remove(pin.user_id.get(), pin_id)?;
            }
            self.open_table(PINS)?.remove(pin_id)?;
        }
        self.open_multimap_table(PINS_BY_ISSUE)?
            .remove_all(issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_PROJECT_INTEGRATION)?
            .remove(issue.project_integration_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_PROJECT)?
            .remove(issue.project_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_TENANT)?
            .remove(issue.tenant_id.get(), issue.id.get())?;
        self.open_multimap_table(ISSUES_BY_STATUS)?
            .remove(status_key_of(issue).as_str(), issue.id.get())?;
        self.open_table(ISSUES_BY_EXTERNAL)?
            .remove(external_key(issue.project_integration_id, &issue.external_id).as_str())?;
        self.open_table(ISSUE_SUMMARIES)?.remove(issue.id.get())?;
        self.open_table(ISSUE_LIST_ROWS)?.remove(issue.id.get())?;
        self.open_table(ISSUES)?.remove(issue.id.get())?;
        Ok(())
    }

    fn put_issue_summary(&self, issue: &ExternalIssue) -> AppResult<()> {
        let bytes = summary_of(issue)?;
        self.open_table(ISSUE_SUMMARIES)?
            .insert(issue.id.get(), bytes.as_slice())?;
        Ok(())
    }

    fn put_issue_list_row(&self, issue: &ExternalIssue) -> AppResult<()> {
        let bytes = list_row_of(issue)?;
        self.open_table(ISSUE_LIST_ROWS)?
            .insert(issue.id.get(), bytes.as_slice())?;
        Ok(())
    }

    /// Write the list row of every stored issue (the v7 migration: stores made before
    /// `issue_list_rows` existed). Returns how many were written.
    pub fn backfill_issue_list_rows(&self) -> AppResult<u64> {
        self.backfill_derived(ISSUE_LIST_ROWS, list_row_of)
    }

    /// Write the summary of every stored issue (the v6 migration: stores made before
    /// `issue_summaries` existed). Returns how many were written.
    pub fn backfill_issue_summaries(&self) -> AppResult<u64> {
        self.backfill_derived(ISSUE_SUMMARIES, summary_of)
    }

    /// Fill `table` with `derive(issue)` for every stored issue, keyed by its id.
    fn backfill_derived(
        &self,
        table: redb::TableDefinition<u64, &[u8]>,
        derive: fn(&ExternalIssue) -> AppResult<Vec<u8>>,
    ) -> AppResult<u64> {
        let rows = self.open_table(ISSUES)?;
        let mut out = self.open_table(table)?;
        let mut n = 0;
        for item in rows.iter()? {
            let (_, v) = item?;
            let issue: ExternalIssue = decode(v.value())?;
            out.insert(issue.id.get(), derive(&issue)?.as_slice())?;
            n += 1;
        }
        Ok(n)
    }

    /// The user's pin of an issue, if they pinned it.
    pub fn pin_of(&self, user_id: UserId, issue_id: IssueId) -> AppResult<Option<PinnedIssue>> {
        let ids: Vec<Id> = {
            let t = self.open_multimap_table(PINS_BY_USER)?;
            let mut v = Vec::new();
            for id in t.get(user_id.get())? {
                v.push(id?.value());
            }
            v
        };
        let t = self.open_table(PINS)?;
        let mut found = None;
        for id in ids {
            if let Some(v) = t.get(id)? {
                let p: PinnedIssue = decode(v.value())?;
                if p.issue_id == issue_id {
                    found = Some(p);
                }
            }
        }
        Ok(found)
    }

    /// Pin an issue for a user (the caller checked that it is not pinned yet).
    pub fn add_pin(
        &self,
        user_id: UserId,
        issue_id: IssueId,
        at: Timestamp,
    ) -> AppResult<PinnedIssue> {
        let pin = PinnedIssue {
            id: next_id(self, "pins")?,
            user_id,
            issue_id,
            pinned_at: at,
        };
        let bytes = encode(&pin)?;
        self.open_table(PINS)?.insert(pin.id, bytes.as_slice())?;
        self.open_multimap_table(PINS_BY_USER)?
            .insert(user_id.get(), pin.id)?;
        self.open_multimap_table(PINS_BY_ISSUE)?
            .insert(issue_id.get(), pin.id)?;
        Ok(pin)
    }

    /// Remove a pin with its index entries.
    pub fn delete_pin(&self, pin: &PinnedIssue) -> AppResult<()> {
        self.open_multimap_table(PINS_BY_USER)?
            .remove(pin.user_id.get(), pin.id)?;
        self.open_multimap_table(PINS_BY_ISSUE)?
            .remove(pin.issue_id.get(), pin.id)?;
        self.open_table(PINS)?.remove(pin.id)?;
        Ok(())
    }
}

// ---- reads ---------------------------------------------------------------------------------

impl ReadTxn {
    /// One stored issue (with its description).
    pub fn get_issue(&self, id: IssueId) -> AppResult<Option<ExternalIssue>> {
        let t = self.open_table(ISSUES)?;
        let v = t.get(id.get())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// The link an issue was fetched through, if it still exists.
    pub fn issue_link(&self, issue: &ExternalIssue) -> AppResult<Option<ProjectIntegration>> {
        let t = self.open_table(PROJECT_INTEGRATIONS)?;
        let v = t.get(issue.project_integration_id.get())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// The integration `integration_id` and the project's link to it (either may be missing):
    /// where a new issue of the project goes.
    pub fn issue_target(
        &self,
        project_id: ProjectId,
        integration_id: IntegrationId,
    ) -> AppResult<(Option<TenantIntegration>, Option<ProjectIntegration>)> {
        let integ: Option<TenantIntegration> = {
            let t = self.open_table(INTEGRATIONS)?;
            let v = t.get(integration_id.get())?;
            v.map(|v| decode(v.value())).transpose()?
        };
        let links = self.open_multimap_table(PROJECT_INTEGRATIONS_BY_PROJECT)?;
        let rows = self.open_table(PROJECT_INTEGRATIONS)?;
        let mut found = None;
        for id in links.get(project_id.get())? {
            if let Some(v) = rows.get(id?.value())? {
                let l: ProjectIntegration = decode(v.value())?;
                if l.integration_id == integration_id {
                    found = Some(l);
                }
            }
        }
        Ok((integ, found))
    }

    /// A user's pins, in pin id order.
    pub fn pins_of_user(&self, user_id: UserId) -> AppResult<Vec<PinnedIssue>> {
        let idx = self.open_multimap_table(PINS_BY_USER)?;
        let t = self.open_table(PINS)?;
        let mut out = Vec::new();
        for id in idx.get(user_id.get())? {
            if let Some(v) = t.get(id?.value())? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    /// The names shown beside issues of this snapshot, looked up once per listing.
    pub fn issue_names(&self) -> AppResult<IssueNames> {
        Ok(IssueNames {
            projects_t: self.open_table(PROJECTS)?,
            tenants_t: self.open_table(TENANTS)?,
            links_t: self.open_table(PROJECT_INTEGRATIONS)?,
            integrations_t: self.open_table(INTEGRATIONS)?,
            links: HashMap::new(),
            integrations: HashMap::new(),
            projects: HashMap::new(),
            tenants: HashMap::new(),
            rows: HashMap::new(),
        })
    }

    /// Plan an issue list for a caller who sees the projects `visible` (`None` = every
    /// project; `caller` is whose tracker identities `assignee=me` means). A project filter
    /// the caller cannot see, or that does not exist, is 404. The candidates come from the
    /// most selective index (project, integration/provider, the caller's projects, tenant,
    /// status, or every issue); the other filters are checked on those candidates only.
    /// Nothing is listed yet: errors come before the first issue.
    pub fn plan_issues(
        self,
        f: &IssueFilter,
        visible: Option<BTreeSet<ProjectId>>,
        caller: UserId,
    ) -> AppResult<IssueListing> {
        let r = self;
        let status = f.status.as_deref().and_then(status_filter_key);
        let provider = f.provider.as_deref().and_then(provider_filter);
        let assignee = f
            .assignee
            .as_deref()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty());
        // `assignee=me`: issues assigned to any of the caller's mapped tracker identities.
        let mine: Option<Vec<String>> = if assignee.as_deref() == Some("me") {
            let m: IdentityMap = {
                let t = r.open_table(IDENTITY_MAP)?;
                let v = t.get(caller.get())?;
                v.map(|v| decode(v.value())).transpose()?
            }
            .unwrap_or_default();
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
                None => r.open_table(PROJECTS)?.get(p.get())?.is_some(),
            };
            if !known {
                return Err(AppError::NotFound(format!(
                    "Project {p} not found: list your projects with GET /api/v1/projects"
                )));
            }
        }
        // Links allowed by integration / provider filters.
        let link_filter: Option<Vec<LinkId>> = if f.integration_id.is_some() || provider.is_some() {
            let integs: Vec<TenantIntegration> = {
                let t = r.open_table(INTEGRATIONS)?;
                match f.integration_id {
                    Some(i) => match t.get(i.get())? {
                        Some(v) => vec![decode(v.value())?],
                        None => Vec::new(),
                    },
                    None => {
                        let mut v = Vec::new();
                        for item in t.iter()? {
                            v.push(decode(item?.1.value())?);
                        }
                        v
                    }
                }
            };
            let by_integration = r.open_multimap_table(PROJECT_INTEGRATIONS_BY_INTEGRATION)?;
            let mut links = Vec::new();
            for i in integs {
                if provider
                    .as_ref()
                    .is_some_and(|p| !p.eq_ignore_ascii_case(&i.provider))
                {
                    continue;
                }
                for l in by_integration.get(i.id.get())? {
                    links.push(LinkId(l?.value()));
                }
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
        let ids_under =
            |def: MultiIndex, keys: &mut dyn Iterator<Item = Id>| -> AppResult<Vec<Id>> {
                let t = r.open_multimap_table(def)?;
                let mut ids = Vec::new();
                for k in keys {
                    for id in t.get(k)? {
                        ids.push(id?.value());
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                Ok(ids)
            };
        let source = if let Some(p) = f.project_id {
            // Checked above: the caller sees this project.
            residual.project_id = None;
            residual.visible = None;
            Source::Index(ISSUES_BY_PROJECT, p.get())
        } else if let Some(links) = &link_filter {
            residual.links = None;
            Source::Ids(ids_under(
                ISSUES_BY_PROJECT_INTEGRATION,
                &mut links.iter().map(|l| l.get()),
            )?)
        } else if let Some(vis) = &visible {
            residual.visible = None;
            Source::Ids(ids_under(
                ISSUES_BY_PROJECT,
                &mut vis.iter().map(|p| p.get()),
            )?)
        } else if let Some(t) = f.tenant_id {
            residual.tenant_id = None;
            Source::Index(ISSUES_BY_TENANT, t.get())
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
}

type MultiIndex = redb::MultimapTableDefinition<'static, u64, u64>;

// ---- names ---------------------------------------------------------------------------------

/// The parts of a link, an integration and a project or tenant that an issue shows: decoding
/// only these skips the rest of each row (settings, configs, descriptions).
#[derive(serde::Deserialize)]
struct LinkRef {
    integration_id: IntegrationId,
}

#[derive(serde::Deserialize)]
struct IntegrationRef {
    id: IntegrationId,
    provider: String,
    name: String,
}

#[derive(serde::Deserialize)]
struct NameRef {
    name: String,
}

/// Looks up (and remembers) the integration, project and tenant names of issues, in one
/// snapshot: a listing opens each table once and decodes each row once.
pub struct IssueNames {
    projects_t: ReadOnlyTable<u64, &'static [u8]>,
    tenants_t: ReadOnlyTable<u64, &'static [u8]>,
    links_t: ReadOnlyTable<u64, &'static [u8]>,
    integrations_t: ReadOnlyTable<u64, &'static [u8]>,
    /// link id -> (provider, integration id, integration name); `None` when either is gone.
    links: HashMap<LinkId, Option<(String, IntegrationId, String)>>,
    /// integration id -> (provider, id, name); many links share one integration.
    integrations: HashMap<IntegrationId, Option<(String, IntegrationId, String)>>,
    projects: HashMap<ProjectId, String>,
    tenants: HashMap<TenantId, String>,
    /// The JSON fragments of the names a list row shows, per (link, project, tenant).
    rows: HashMap<(LinkId, ProjectId, TenantId), RowNames>,
}

/// Values decoded from rows, remembered across listings next to the bytes they came from: a
/// hit costs a row read and a comparison instead of a decode, and a changed row (a rename) no
/// longer matches and is decoded again, so nothing needs invalidating. Bounded: it starts over
/// when full.
struct Memo<T> {
    map: LazyLock<Mutex<HashMap<Id, Remembered<T>>>>,
}

/// A row's bytes and the value decoded from them.
type Remembered<T> = (Box<[u8]>, T);

const MEMO_ROWS: usize = 4096;

impl<T: Clone> Memo<T> {
    const fn new() -> Self {
        Memo {
            map: LazyLock::new(|| Mutex::new(HashMap::new())),
        }
    }

    fn decode(
        &self,
        id: Id,
        bytes: &[u8],
        decode: impl FnOnce(&[u8]) -> AppResult<T>,
    ) -> AppResult<T> {
        if let Ok(m) = self.map.lock()
            && let Some((seen, v)) = m.get(&id)
            && **seen == *bytes
        {
            return Ok(v.clone());
        }
        let v = decode(bytes)?;
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= MEMO_ROWS {
                m.clear();
            }
            m.insert(id, (bytes.into(), v.clone()));
        }
        Ok(v)
    }
}

static LINK_MEMO: Memo<IntegrationId> = Memo::new();
static INTEGRATION_MEMO: Memo<(String, IntegrationId, String)> = Memo::new();
static PROJECT_NAME_MEMO: Memo<String> = Memo::new();
static TENANT_NAME_MEMO: Memo<String> = Memo::new();

fn name_in(
    t: &ReadOnlyTable<u64, &'static [u8]>,
    memo: &Memo<String>,
    id: Id,
) -> AppResult<String> {
    Ok(match t.get(id)? {
        Some(v) => memo.decode(id, v.value(), |b| Ok(decode::<NameRef>(b)?.name))?,
        None => String::new(),
    })
}

impl IssueNames {
    fn link(&mut self, id: LinkId) -> AppResult<Option<(String, IntegrationId, String)>> {
        if let Some(v) = self.links.get(&id) {
            return Ok(v.clone());
        }
        let integration_id = match self.links_t.get(id.get())? {
            Some(v) => Some(LINK_MEMO.decode(id.get(), v.value(), |b| {
                Ok(decode::<LinkRef>(b)?.integration_id)
            })?),
            None => None,
        };
        let v = match integration_id {
            Some(i) => match self.integrations.get(&i) {
                Some(v) => v.clone(),
                None => {
                    let v = match self.integrations_t.get(i.get())? {
                        Some(v) => Some(INTEGRATION_MEMO.decode(i.get(), v.value(), |b| {
                            let i: IntegrationRef = decode(b)?;
                            Ok((i.provider, i.id, i.name))
                        })?),
                        None => None,
                    };
                    self.integrations.insert(i, v.clone());
                    v
                }
            },
            None => None,
        };
        self.links.insert(id, v.clone());
        Ok(v)
    }

    fn project_name(&mut self, id: ProjectId) -> AppResult<String> {
        if let Some(n) = self.projects.get(&id) {
            return Ok(n.clone());
        }
        let n = name_in(&self.projects_t, &PROJECT_NAME_MEMO, id.get())?;
        self.projects.insert(id, n.clone());
        Ok(n)
    }

    fn tenant_name(&mut self, id: TenantId) -> AppResult<String> {
        if let Some(n) = self.tenants.get(&id) {
            return Ok(n.clone());
        }
        let n = name_in(&self.tenants_t, &TENANT_NAME_MEMO, id.get())?;
        self.tenants.insert(id, n.clone());
        Ok(n)
    }

    /// The names a list row of this link, project and tenant shows, as JSON fragments (the
    /// same names `view` gives).
    pub fn row_names(
        &mut self,
        link: LinkId,
        project: ProjectId,
        tenant: TenantId,
    ) -> AppResult<&RowNames> {
        let key = (link, project, tenant);
        if !self.rows.contains_key(&key) {
            let integration = self.link(link)?;
            let fragment = integration_fragment(
                integration
                    .as_ref()
                    .map(|(p, id, n)| (p.as_str(), *id, n.as_str())),
            );
            let (project_name, tenant_name) =
                (self.project_name(project)?, self.tenant_name(tenant)?);
            let names = fragment
                .and_then(|f| RowNames::new(&f, &project_name, &tenant_name))
                .map_err(|e| AppError::Internal(format!("cannot encode an issue's names: {e}")))?;
            self.rows.insert(key, names);
        }
        self.rows
            .get(&key)
            .ok_or_else(|| AppError::Internal("an issue list lost its names".into()))
    }

    /// The issue with its names (empty names for a link, integration, project or tenant that
    /// is gone).
    pub fn view(
        &mut self,
        issue: ExternalIssue,
        pinned_at: Option<Timestamp>,
    ) -> AppResult<IssueView> {
        let (provider, integration_id, integration_name) = self
            .link(issue.project_integration_id)?
            .unwrap_or((String::new(), IntegrationId(0), String::new()));
        let project_name = self.project_name(issue.project_id)?;
        let tenant_name = self.tenant_name(issue.tenant_id)?;
        let (status_key, status_label) = normalize_status(issue.status.as_deref());
        Ok(IssueView {
            project_name,
            tenant_name,
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

// ---- the planned list ----------------------------------------------------------------------

/// A stored issue without its description, for lists, decoded from its summary (or from its
/// row, whose (possibly long) body the decoder skips instead of copying).
#[derive(serde::Deserialize)]
struct ListedIssue {
    id: Id,
    project_integration_id: LinkId,
    project_id: ProjectId,
    tenant_id: TenantId,
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
        id: l.id.into(),
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
    project_id: Option<ProjectId>,
    tenant_id: Option<TenantId>,
    links: Option<HashSet<LinkId>>,
    visible: Option<BTreeSet<ProjectId>>,
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
/// the walk takes). Made by `ReadTxn::plan_issues`; `for_each` walks it.
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

/// A stored issue seen by a walk: its summary or row bytes (when walking a table), its
/// pre-rendered list row (when walking `issue_list_rows`) or its id.
#[derive(Clone, Copy)]
enum Candidate<'a> {
    Row(&'a [u8]),
    ListRow(&'a [u8]),
    Id(Id),
}

/// The tables a walk reads candidates and page items from.
struct WalkTables {
    issues: ReadOnlyTable<u64, &'static [u8]>,
    summaries: ReadOnlyTable<u64, &'static [u8]>,
    list_rows: ReadOnlyTable<u64, &'static [u8]>,
}

impl WalkTables {
    /// The issue (without its description) a candidate stands for; `None` if it is gone.
    fn decode(&self, c: Candidate<'_>) -> AppResult<Option<ExternalIssue>> {
        match c {
            Candidate::Row(bytes) => decode_listed(bytes).map(Some),
            // The summary, or the row of an issue written without one.
            Candidate::Id(id) => match self.summaries.get(id)? {
                Some(v) => decode_listed(v.value()).map(Some),
                None => match self.issues.get(id)? {
                    Some(v) => decode_listed(v.value()).map(Some),
                    None => Ok(None),
                },
            },
            Candidate::ListRow(_) => Err(AppError::Internal(
                "an issue list read a list row where it needed the issue".into(),
            )),
        }
    }
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
    /// Whether the walk is bounded by the page: no residual filter, so it reads at most
    /// offset + limit index entries and decodes only the page (else every candidate is read to
    /// check it and count the total).
    pub fn is_bounded(&self) -> bool {
        self.residual.is_empty() && self.limit.is_some()
    }

    /// Visit the page's issues (after `offset`, at most `limit`) in order. `visit` returns
    /// whether to go on; `Ok(None)` when it stopped the walk (a client that went away), else the
    /// counts. Without residual filters the source's length is the total and rows before the
    /// page are skipped undecoded; with them every candidate is checked (to count the total).
    pub fn for_each(
        self,
        mut visit: impl FnMut(IssueView) -> AppResult<bool>,
    ) -> AppResult<Option<ListedCounts>> {
        let mut names = self.r.issue_names()?;
        self.walk_page(false, |t, c, decoded| {
            let issue = match decoded {
                Some(i) => i,
                None => match t.decode(c)? {
                    Some(i) => i,
                    None => return Ok(None),
                },
            };
            visit(names.view(issue, None)?).map(Some)
        })
    }

    /// The same walk, visiting each page issue's API list row (`domain::list_row`: the JSON
    /// `write_list_item` writes, with the names of this snapshot) instead of its view: copied
    /// from `issue_list_rows`, not decoded and encoded again.
    pub fn for_each_row(
        self,
        mut visit: impl FnMut(&[u8]) -> AppResult<bool>,
    ) -> AppResult<Option<ListedCounts>> {
        let mut names = self.r.issue_names()?;
        let mut buf = Vec::with_capacity(2048);
        self.walk_page(true, |t, c, decoded| {
            buf.clear();
            let (guard, owned);
            let row: &[u8] = if let Candidate::ListRow(bytes) = c {
                bytes
            } else {
                let id = match (c, &decoded) {
                    (_, Some(i)) => Some(i.id.get()),
                    (Candidate::Id(id), None) => Some(id),
                    _ => None,
                };
                match id.map(|id| t.list_rows.get(id)).transpose()?.flatten() {
                    Some(g) => {
                        guard = g;
                        guard.value()
                    }
                    // An issue written without a list row: render it now.
                    None => {
                        let issue = match decoded {
                            Some(i) => i,
                            None => match t.decode(c)? {
                                Some(i) => i,
                                None => return Ok(None),
                            },
                        };
                        owned = list_row_of(&issue)?;
                        &owned
                    }
                }
            };
            let Some((link, project, tenant)) = list_row_keys(row) else {
                return Err(AppError::Internal(
                    "a stored issue list row is corrupt".into(),
                ));
            };
            let row_names = names.row_names(link, project, tenant)?;
            if !splice_list_row(row, row_names, &mut buf) {
                return Err(AppError::Internal(
                    "a stored issue list row is corrupt".into(),
                ));
            }
            visit(&buf).map(Some)
        })
    }

    /// The walk both visitors share: candidates from the planned source in order, the
    /// residual filters checked (decoding a candidate only then), the page cut out. `take`
    /// gets each page candidate with its decoded issue when the filters needed it, and answers
    /// `None` when the issue is gone (not counted), else whether to go on.
    fn walk_page(
        self,
        rows_source: bool,
        mut take: impl FnMut(
            &WalkTables,
            Candidate<'_>,
            Option<ExternalIssue>,
        ) -> AppResult<Option<bool>>,
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
        let t = WalkTables {
            issues: r.open_table(ISSUES)?,
            summaries: r.open_table(ISSUE_SUMMARIES)?,
            list_rows: r.open_table(ISSUE_LIST_ROWS)?,
        };
        let status_t = r.open_multimap_table(ISSUES_BY_STATUS)?;
        let known_total = if filtered {
            None
        } else {
            Some(match &source {
                Source::All => t.issues.len()? as usize,
                Source::Index(def, key) => r.open_multimap_table(*def)?.get(*key)?.len() as usize,
                Source::Status(s) => status_t.get(s.as_str())?.len() as usize,
                Source::Ids(ids) => ids.len(),
            })
        };
        let (mut seen, mut taken, mut stopped) = (0usize, 0usize, false);
        let mut offer = |c: Candidate<'_>| -> AppResult<bool> {
            let mut decoded = None;
            if filtered {
                let Some(issue) = t.decode(c)? else {
                    return Ok(true);
                };
                if !residual.matches(&issue) {
                    return Ok(true);
                }
                decoded = Some(issue);
            } else {
                // Every candidate matches: skip to the page undecoded, stop after it.
                if seen < offset {
                    seen += 1;
                    return Ok(true);
                }
                if taken >= limit {
                    return Ok(false);
                }
            }
            if filtered && (seen < offset || taken >= limit) {
                seen += 1;
                return Ok(true);
            }
            match take(&t, c, decoded)? {
                None => Ok(true),
                Some(go_on) => {
                    seen += 1;
                    taken += 1;
                    if !go_on {
                        stopped = true;
                    }
                    Ok(go_on)
                }
            }
        };
        let issues_len = t.issues.len()?;
        match &source {
            // Unfiltered lists of rows walk the rows themselves, when every issue has one.
            Source::All if rows_source && !filtered && t.list_rows.len()? == issues_len => {
                walk(t.list_rows.iter()?, sort, |item| {
                    let (_, row) = item?;
                    offer(Candidate::ListRow(row.value()))
                })?
            }
            // The summaries when every issue has one, else the rows themselves.
            Source::All if t.summaries.len()? == issues_len => {
                walk(t.summaries.iter()?, sort, |item| {
                    let (_, row) = item?;
                    offer(Candidate::Row(row.value()))
                })?
            }
            Source::All => walk(t.issues.iter()?, sort, |item| {
                let (_, row) = item?;
                offer(Candidate::Row(row.value()))
            })?,
            Source::Index(def, key) => {
                let idx = r.open_multimap_table(*def)?;
                walk(idx.get(*key)?, sort, |id| offer(Candidate::Id(id?.value())))?
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

#[cfg(test)]
mod tests {
    //! The planner's branches against a real redb file: each filter alone and combined, both
    //! orders, paging and totals, a caller who sees only some projects, and the writes that
    //! keep the indexes.
    use super::*;
    use crate::store::{Store, put_row};
    use serde_json::json;

    const NOW: &str = "2026-01-02T03:04:05Z";

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
    }

    fn ts() -> Timestamp {
        NOW.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn issue(
        id: Id,
        link: Id,
        project_id: ProjectId,
        tenant_id: TenantId,
        external_id: &str,
        title: &str,
        status: Option<&str>,
        assignee: Option<(&str, &str)>,
        labels: &[&str],
    ) -> ExternalIssue {
        ExternalIssue {
            id: id.into(),
            project_integration_id: link.into(),
            project_id,
            tenant_id,
            external_id: external_id.into(),
            title: title.into(),
            status: status.map(Into::into),
            assignee: assignee.map(|a| a.0.into()),
            assignee_key: assignee.map(|a| a.1.into()),
            url: Some(format!("https://example.com/{external_id}")),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            comments: Vec::new(),
            body: Some(format!("body of {id}")),
            external_updated_at: None,
            last_seen_at: None,
            missing_upstream: false,
            created_at: ts(),
            updated_at: ts(),
        }
    }

    /// Tenants alpha (1) and beta (2); projects web (10) and api (11) in alpha, ops (20) in
    /// beta; GitHub integration "gh" (100) on alpha linked to web (link 1000) and api (1001),
    /// Jira "jr" (200) on beta linked to ops (2000); six issues.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.write().unwrap();
        for (id, name) in [(1u64, "alpha"), (2, "beta")] {
            let t = json!({"id": id, "name": name, "color": "#000000",
                "created_at": NOW, "updated_at": NOW});
            put_row(&w, TENANTS, id, &t).unwrap();
        }
        for (id, name, tenant) in [(10u64, "web", 1u64), (11, "api", 1), (20, "ops", 2)] {
            let p = json!({"id": id, "name": name, "repo_url": "https://example.com/r.git",
                "default_branch": "main", "local_path": "/tmp/x", "tenant_id": tenant,
                "owner_id": 1, "created_at": NOW, "updated_at": NOW});
            put_row(&w, PROJECTS, id, &p).unwrap();
        }
        for (id, provider, name, tenant) in [(100u64, "github", "gh", 1u64), (200, "jira", "jr", 2)]
        {
            let i = json!({"id": id, "tenant_id": tenant, "provider": provider, "name": name,
                "api_token_enc": "", "settings": {"x": [1, 2, 3]}, "enabled": true,
                "created_at": NOW, "updated_at": NOW});
            put_row(&w, INTEGRATIONS, id, &i).unwrap();
        }
        for (id, project, integ) in [(1000u64, 10u64, 100u64), (1001, 11, 100), (2000, 20, 200)] {
            let l = json!({"id": id, "project_id": project, "integration_id": integ,
                "external_identifier": "o/r", "created_at": NOW, "updated_at": NOW});
            put_row(&w, PROJECT_INTEGRATIONS, id, &l).unwrap();
            w.open_multimap_table(PROJECT_INTEGRATIONS_BY_INTEGRATION)
                .unwrap()
                .insert(integ, id)
                .unwrap();
            w.open_multimap_table(PROJECT_INTEGRATIONS_BY_PROJECT)
                .unwrap()
                .insert(project, id)
                .unwrap();
        }
        let issues = [
            issue(
                1,
                1000,
                ProjectId(10),
                TenantId(1),
                "1",
                "Login fails",
                Some("open"),
                Some(("Alice", "alice")),
                &["bug"],
            ),
            issue(
                2,
                1000,
                ProjectId(10),
                TenantId(1),
                "2",
                "Crash on start",
                Some("closed"),
                None,
                &[],
            ),
            issue(
                3,
                1001,
                ProjectId(11),
                TenantId(1),
                "3",
                "Add search",
                Some("Waiting on customer"),
                Some(("Bob", "bob")),
                &["feature", "bug"],
            ),
            issue(
                4,
                2000,
                ProjectId(20),
                TenantId(2),
                "OPS-1",
                "Disk full",
                Some("Open"),
                Some(("Carol", "acc-carol")),
                &["ops"],
            ),
            issue(
                5,
                2000,
                ProjectId(20),
                TenantId(2),
                "OPS-2",
                "No status here",
                None,
                None,
                &[],
            ),
            issue(
                6,
                1001,
                ProjectId(11),
                TenantId(1),
                "4",
                "Search speed",
                Some("open"),
                Some(("alice", "ALICE")),
                &["feature"],
            ),
        ];
        for i in &issues {
            w.put_issue(None, i).unwrap();
        }
        w.commit().unwrap();
        Fixture { _dir: dir, store }
    }

    /// The ids listed and the total, as the caller (user 7) who sees `visible`.
    fn list(fx: &Fixture, f: &IssueFilter, visible: Option<&[Id]>) -> (Vec<Id>, usize) {
        let visible = visible.map(|v| v.iter().map(|&p| ProjectId(p)).collect());
        let plan = || {
            fx.store
                .read()
                .unwrap()
                .plan_issues(f, visible.clone(), UserId(7))
                .unwrap()
        };
        let (mut ids, mut written) = (Vec::new(), Vec::new());
        let counts = plan()
            .for_each(|v| {
                ids.push(v.issue.id.get());
                let mut json = Vec::new();
                crate::domain::list_row::write_list_item(&mut json, &v).unwrap();
                written.push(String::from_utf8(json).unwrap());
                Ok(true)
            })
            .unwrap()
            .unwrap();
        assert_eq!(counts.count, ids.len());
        // The API's walk copies the stored rows: the same issues, the same JSON, the same counts.
        let mut copied = Vec::new();
        let row_counts = plan()
            .for_each_row(|row| {
                copied.push(String::from_utf8(row.to_vec()).unwrap());
                Ok(true)
            })
            .unwrap()
            .unwrap();
        assert_eq!(copied, written);
        assert_eq!(row_counts, counts);
        (ids, counts.total)
    }

    fn all(fx: &Fixture, f: IssueFilter) -> Vec<Id> {
        let (ids, total) = list(fx, &f, None);
        assert_eq!(total, ids.len(), "without paging the total is the count");
        ids
    }

    fn by_status(s: &str) -> IssueFilter {
        IssueFilter {
            status: Some(s.into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_issue_in_either_order() {
        let fx = fixture();
        assert_eq!(all(&fx, IssueFilter::default()), [1, 2, 3, 4, 5, 6]);
        let desc = IssueFilter {
            sort: IssueSort::IdDesc,
            ..Default::default()
        };
        assert_eq!(all(&fx, desc), [6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn status_filter_uses_the_normalised_key() {
        let fx = fixture();
        assert_eq!(all(&fx, by_status("open")), [1, 4, 6]);
        assert_eq!(all(&fx, by_status("OPEN")), [1, 4, 6]);
        assert_eq!(all(&fx, by_status("closed")), [2]);
        assert_eq!(all(&fx, by_status("__none__")), [5]);
        let slug = normalize_status(Some("Waiting on customer")).0;
        assert!(slug != "open" && slug != "closed", "{slug}");
        assert_eq!(all(&fx, by_status(&slug)), [3]);
        assert_eq!(all(&fx, by_status("all")), [1, 2, 3, 4, 5, 6]);
        assert_eq!(all(&fx, by_status("no such status")), Vec::<Id>::new());
        let desc = IssueFilter {
            sort: IssueSort::IdDesc,
            ..by_status("open")
        };
        assert_eq!(all(&fx, desc), [6, 4, 1]);
    }

    #[test]
    fn provider_and_integration_filters_go_through_the_links() {
        let fx = fixture();
        let f = |provider: Option<&str>, integration_id: Option<IntegrationId>| IssueFilter {
            provider: provider.map(Into::into),
            integration_id,
            ..Default::default()
        };
        assert_eq!(all(&fx, f(Some("jira"), None)), [4, 5]);
        assert_eq!(all(&fx, f(Some("GitHub"), None)), [1, 2, 3, 6]);
        assert_eq!(all(&fx, f(Some("all"), None)), [1, 2, 3, 4, 5, 6]);
        assert_eq!(all(&fx, f(Some("gitlab"), None)), Vec::<Id>::new());
        assert_eq!(all(&fx, f(None, Some(IntegrationId(100)))), [1, 2, 3, 6]);
        assert_eq!(
            all(&fx, f(Some("jira"), Some(IntegrationId(100)))),
            Vec::<Id>::new()
        );
        assert_eq!(
            all(&fx, f(None, Some(IntegrationId(999)))),
            Vec::<Id>::new()
        );
    }

    #[test]
    fn project_and_tenant_filters() {
        let fx = fixture();
        let project = |p| IssueFilter {
            project_id: Some(p),
            ..Default::default()
        };
        assert_eq!(all(&fx, project(ProjectId(11))), [3, 6]);
        let err = fx
            .store
            .read()
            .unwrap()
            .plan_issues(&project(ProjectId(99)), None, UserId(7))
            .err()
            .unwrap();
        assert!(matches!(err, AppError::NotFound(_)), "{err}");
        let tenant = IssueFilter {
            tenant_id: Some(TenantId(2)),
            ..Default::default()
        };
        assert_eq!(all(&fx, tenant), [4, 5]);
        let open_in_alpha = IssueFilter {
            tenant_id: Some(TenantId(1)),
            ..by_status("open")
        };
        assert_eq!(all(&fx, open_in_alpha), [1, 6]);
        let closed_in_web = IssueFilter {
            project_id: Some(ProjectId(10)),
            ..by_status("closed")
        };
        assert_eq!(all(&fx, closed_in_web), [2]);
    }

    #[test]
    fn assignee_labels_and_text_filters() {
        let fx = fixture();
        let assignee = |a: &str| IssueFilter {
            assignee: Some(a.into()),
            ..Default::default()
        };
        assert_eq!(all(&fx, assignee("ALI")), [1, 6]);
        assert_eq!(all(&fx, assignee("  ")), [1, 2, 3, 4, 5, 6]);
        // `me` without an identity map matches nothing; with one, the mapped identities.
        assert_eq!(all(&fx, assignee("me")), Vec::<Id>::new());
        {
            let w = fx.store.write().unwrap();
            let m = IdentityMap {
                user_id: UserId(7),
                github_username: Some("Alice".into()),
                gitlab_username: None,
                jira_account_id: Some("acc-carol".into()),
            };
            put_row(&w, IDENTITY_MAP, 7u64, &m).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(all(&fx, assignee("Me")), [1, 4, 6]);
        let labels = |l: &[&str]| IssueFilter {
            labels: l.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(all(&fx, labels(&["bug"])), [1, 3]);
        assert_eq!(all(&fx, labels(&["bug", "ops"])), [1, 3, 4]);
        assert_eq!(all(&fx, labels(&["BUG"])), Vec::<Id>::new());
        let q = |q: &str| IssueFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(all(&fx, q("SEARCH")), [3, 6]);
        assert_eq!(all(&fx, q("ops-")), [4, 5]);
        assert_eq!(all(&fx, q(" ")), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn paging_counts_every_match_in_the_total() {
        let fx = fixture();
        let page = |offset, limit, f: IssueFilter| IssueFilter {
            offset,
            limit: Some(limit),
            ..f
        };
        // Unfiltered: rows before the page are skipped, the total is the table's length.
        assert_eq!(
            list(&fx, &page(1, 2, IssueFilter::default()), None),
            (vec![2, 3], 6)
        );
        assert_eq!(
            list(&fx, &page(9, 2, IssueFilter::default()), None),
            (vec![], 6)
        );
        let desc = IssueFilter {
            sort: IssueSort::IdDesc,
            ..Default::default()
        };
        assert_eq!(list(&fx, &page(0, 2, desc), None), (vec![6, 5], 6));
        // From the status index: its length is the total.
        assert_eq!(
            list(&fx, &page(1, 1, by_status("open")), None),
            (vec![4], 3)
        );
        // With a residual filter every candidate is checked to count the total.
        let bug = IssueFilter {
            labels: vec!["bug".into()],
            ..Default::default()
        };
        assert_eq!(list(&fx, &page(1, 5, bug), None), (vec![3], 2));
        let offset_only = IssueFilter {
            offset: 4,
            ..Default::default()
        };
        assert_eq!(list(&fx, &offset_only, None), (vec![5, 6], 6));
    }

    #[test]
    fn a_caller_sees_only_their_projects() {
        let fx = fixture();
        let vis: &[Id] = &[10, 20];
        assert_eq!(
            list(&fx, &IssueFilter::default(), Some(vis)),
            (vec![1, 2, 4, 5], 4)
        );
        assert_eq!(list(&fx, &by_status("open"), Some(vis)), (vec![1, 4], 2));
        let alpha = IssueFilter {
            tenant_id: Some(TenantId(1)),
            ..Default::default()
        };
        assert_eq!(list(&fx, &alpha, Some(vis)), (vec![1, 2], 2));
        let github = IssueFilter {
            provider: Some("github".into()),
            ..Default::default()
        };
        assert_eq!(list(&fx, &github, Some(vis)), (vec![1, 2], 2));
        let web = IssueFilter {
            project_id: Some(ProjectId(10)),
            ..Default::default()
        };
        assert_eq!(list(&fx, &web, Some(vis)), (vec![1, 2], 2));
        // A project the caller cannot see is "not found", like one that does not exist.
        let api = IssueFilter {
            project_id: Some(ProjectId(11)),
            ..Default::default()
        };
        let r = fx.store.read().unwrap();
        let err = r
            .plan_issues(
                &api,
                Some(vis.iter().map(|&p| ProjectId(p)).collect()),
                UserId(7),
            )
            .err()
            .unwrap();
        assert!(matches!(err, AppError::NotFound(_)), "{err}");
        // Nobody's projects: nothing.
        assert_eq!(list(&fx, &IssueFilter::default(), Some(&[])), (vec![], 0));
        let paged = IssueFilter {
            offset: 1,
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(list(&fx, &paged, Some(vis)), (vec![2, 4], 4));
    }

    #[test]
    fn listed_issues_carry_names_but_no_description() {
        let fx = fixture();
        let listing = fx
            .store
            .read()
            .unwrap()
            .plan_issues(&by_status("open"), None, UserId(7))
            .unwrap();
        let mut views = Vec::new();
        listing
            .for_each(|v| {
                views.push(v);
                Ok(true)
            })
            .unwrap();
        let v = &views[1];
        assert_eq!(v.issue.id, IssueId(4));
        assert_eq!(
            (
                v.provider.as_str(),
                v.integration_id,
                v.integration_name.as_str()
            ),
            ("jira", IntegrationId(200), "jr")
        );
        assert_eq!(
            (v.project_name.as_str(), v.tenant_name.as_str()),
            ("ops", "beta")
        );
        assert_eq!(
            (v.status_key.as_str(), v.status_label.as_str()),
            ("open", "Open")
        );
        assert!(v.issue.body.is_none());
        assert_eq!(v.issue.labels, ["ops"]);
        // A single issue keeps its description.
        let r = fx.store.read().unwrap();
        assert_eq!(
            r.get_issue(IssueId(4)).unwrap().unwrap().body.as_deref(),
            Some("body of 4")
        );
    }

    /// Names are remembered across listings by the bytes of their rows: a rename changes the
    /// bytes, so the next listing shows the new name (in both walks).
    #[test]
    fn a_rename_shows_in_the_next_listing() {
        let fx = fixture();
        let rows = |fx: &Fixture| {
            let mut out = String::new();
            fx.store
                .read()
                .unwrap()
                .plan_issues(&by_status("open"), None, UserId(7))
                .unwrap()
                .for_each_row(|r| {
                    out.push_str(std::str::from_utf8(r).unwrap());
                    Ok(true)
                })
                .unwrap();
            out
        };
        let before = rows(&fx);
        assert!(before.contains(r#""integration_name":"jr""#), "{before}");
        assert!(before.contains(r#""project_name":"ops""#), "{before}");
        {
            let w = fx.store.write().unwrap();
            let p = json!({"id": 20, "name": "ops 2", "repo_url": "https://example.com/r.git",
                "default_branch": "main", "local_path": "/tmp/x", "tenant_id": 2,
                "owner_id": 1, "created_at": NOW, "updated_at": NOW});
            put_row(&w, PROJECTS, 20u64, &p).unwrap();
            let i = json!({"id": 200, "tenant_id": 2, "provider": "jira", "name": "jr 2",
                "api_token_enc": "", "settings": {"x": [1, 2, 3]}, "enabled": true,
                "created_at": NOW, "updated_at": NOW});
            put_row(&w, INTEGRATIONS, 200u64, &i).unwrap();
            w.commit().unwrap();
        }
        let after = rows(&fx);
        assert!(after.contains(r#""integration_name":"jr 2""#), "{after}");
        assert!(after.contains(r#""project_name":"ops 2""#), "{after}");
        assert!(!after.contains(r#""project_name":"ops""#), "{after}");
        let (ids, _) = list(&fx, &by_status("open"), None);
        assert_eq!(ids, [1, 4, 6]);
    }

    #[test]
    fn a_visitor_can_stop_the_walk() {
        let fx = fixture();
        let listing = fx
            .store
            .read()
            .unwrap()
            .plan_issues(&IssueFilter::default(), None, UserId(7))
            .unwrap();
        let mut n = 0;
        let out = listing
            .for_each(|_| {
                n += 1;
                Ok(n < 2)
            })
            .unwrap();
        assert_eq!((out, n), (None, 2));
    }

    #[test]
    fn writes_keep_every_index() {
        let fx = fixture();
        // A status change moves the issue between status keys.
        {
            let w = fx.store.write().unwrap();
            let old = w.get_issue(IssueId(2)).unwrap().unwrap();
            let mut new = old.clone();
            new.status = Some("Reopened (triage)".into());
            w.put_issue(Some(&old), &new).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(all(&fx, by_status("open")), [1, 2, 4, 6]);
        assert_eq!(all(&fx, by_status("closed")), Vec::<Id>::new());
        // Pins, then deleting a pinned issue removes it from every index and every pin.
        {
            let w = fx.store.write().unwrap();
            let pin = w.add_pin(UserId(7), IssueId(2), ts()).unwrap();
            assert_eq!(
                w.pin_of(UserId(7), IssueId(2)).unwrap().map(|p| p.id),
                Some(pin.id)
            );
            assert!(w.pin_of(UserId(7), IssueId(1)).unwrap().is_none());
            w.add_pin(UserId(8), IssueId(3), ts()).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(
            fx.store
                .read()
                .unwrap()
                .pins_of_user(UserId(7))
                .unwrap()
                .len(),
            1
        );
        {
            let w = fx.store.write().unwrap();
            assert_eq!(
                w.issue_by_external(LinkId(1000), "2")
                    .unwrap()
                    .map(|i| i.id.get()),
                Some(2)
            );
            let issue = w.get_issue(IssueId(2)).unwrap().unwrap();
            w.delete_issue(&issue).unwrap();
            assert!(w.issue_by_external(LinkId(1000), "2").unwrap().is_none());
            assert_eq!(w.issue_ids_of_link(LinkId(1000)).unwrap(), [IssueId(1)]);
            w.commit().unwrap();
        }
        let r = fx.store.read().unwrap();
        assert!(r.pins_of_user(UserId(7)).unwrap().is_empty());
        assert_eq!(r.pins_of_user(UserId(8)).unwrap().len(), 1);
        drop(r);
        assert_eq!(all(&fx, by_status("open")), [1, 4, 6]);
        let web = IssueFilter {
            project_id: Some(ProjectId(10)),
            ..Default::default()
        };
        assert_eq!(all(&fx, web), [1]);
        let alpha = IssueFilter {
            tenant_id: Some(TenantId(1)),
            ..Default::default()
        };
        assert_eq!(all(&fx, alpha), [1, 3, 6]);
        assert_eq!(all(&fx, IssueFilter::default()), [1, 3, 4, 5, 6]);
        // Unpinning removes the pin and its index entries.
        let w = fx.store.write().unwrap();
        let pin = w.pin_of(UserId(8), IssueId(3)).unwrap().unwrap();
        w.delete_pin(&pin).unwrap();
        assert!(w.pin_of(UserId(8), IssueId(3)).unwrap().is_none());
        w.commit().unwrap();
    }

    #[test]
    fn writes_keep_the_summaries() {
        let fx = fixture();
        let summary = |id| {
            let r = fx.store.read().unwrap();
            let t = r.open_table(ISSUE_SUMMARIES).unwrap();
            t.get(id)
                .unwrap()
                .map(|v| decode_listed(v.value()).unwrap())
        };
        let listed = summary(3).unwrap();
        assert_eq!((listed.title.as_str(), listed.body), ("Add search", None));
        {
            let w = fx.store.write().unwrap();
            let old = w.get_issue(3.into()).unwrap().unwrap();
            let new = ExternalIssue {
                title: "Add fast search".into(),
                ..old.clone()
            };
            w.put_issue(Some(&old), &new).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(summary(3).unwrap().title, "Add fast search");
        let list_row = |id| {
            let r = fx.store.read().unwrap();
            let t = r.open_table(ISSUE_LIST_ROWS).unwrap();
            t.get(id)
                .unwrap()
                .map(|v| String::from_utf8_lossy(v.value()).into_owned())
        };
        assert!(
            list_row(3)
                .unwrap()
                .contains("\"title\":\"Add fast search\"")
        );
        {
            let w = fx.store.write().unwrap();
            let issue = w.get_issue(3.into()).unwrap().unwrap();
            w.delete_issue(&issue).unwrap();
            w.commit().unwrap();
        }
        assert!(summary(3).is_none());
        assert!(list_row(3).is_none());
    }

    /// A store from before `issue_summaries` (schema 5, issues without summaries or list rows)
    /// lists every issue from the rows, and gets the summaries and list rows when it is opened
    /// by this version.
    #[test]
    fn an_old_store_gets_the_summaries_by_migration() {
        let Fixture { _dir: dir, store } = fixture();
        {
            let w = store.write().unwrap();
            {
                let mut t = w.open_table(ISSUE_SUMMARIES).unwrap();
                let mut rows = w.open_table(ISSUE_LIST_ROWS).unwrap();
                for id in 1..=6u64 {
                    t.remove(id).unwrap();
                    rows.remove(id).unwrap();
                }
            }
            w.open_table(META)
                .unwrap()
                .insert("schema_version", 5u64.to_le_bytes().as_slice())
                .unwrap();
            w.commit().unwrap();
        }
        let fx = Fixture { _dir: dir, store };
        // Without summaries the rows serve the lists (no description either way).
        assert_eq!(all(&fx, IssueFilter::default()), [1, 2, 3, 4, 5, 6]);
        assert_eq!(all(&fx, by_status("open")), [1, 4, 6]);
        let Fixture { _dir: dir, store } = fx;
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        {
            let r = store.read().unwrap();
            let t = r.open_table(ISSUE_SUMMARIES).unwrap();
            assert_eq!(t.len().unwrap(), 6);
            assert_eq!(r.open_table(ISSUE_LIST_ROWS).unwrap().len().unwrap(), 6);
            let s = decode_listed(t.get(4).unwrap().unwrap().value()).unwrap();
            assert_eq!(
                (s.id, s.title.as_str(), s.body),
                (4.into(), "Disk full", None)
            );
            let meta = r.open_table(META).unwrap();
            let v = meta
                .get("schema_version")
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            assert_eq!(v, crate::store::SCHEMA_VERSION.to_le_bytes());
        }
        let fx = Fixture { _dir: dir, store };
        assert_eq!(all(&fx, IssueFilter::default()), [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            list(&fx, &by_status("open"), Some(&[10, 20])),
            (vec![1, 4], 2)
        );
    }

    #[test]
    fn issue_target_finds_the_projects_link() {
        let fx = fixture();
        let r = fx.store.read().unwrap();
        let (i, l) = r.issue_target(ProjectId(11), IntegrationId(100)).unwrap();
        assert_eq!(
            (i.map(|i| i.id.get()), l.map(|l| l.id.get())),
            (Some(100), Some(1001))
        );
        let (i, l) = r.issue_target(ProjectId(11), IntegrationId(200)).unwrap();
        assert_eq!(
            (i.map(|i| i.id.get()), l.map(|l| l.id.get())),
            (Some(200), None)
        );
        let issue = r.get_issue(IssueId(4)).unwrap().unwrap();
        assert_eq!(
            r.issue_link(&issue).unwrap().map(|l| l.id.get()),
            Some(2000)
        );
    }
}
