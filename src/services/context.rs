//! The agent context file in a user's workspace (`AGENTS.override.md`) and the global agent
//! instructions it starts with. The text itself is built by `domain::context` (pure, tested);
//! this module gathers its inputs and writes it as the workspace's user.

use super::App;
use super::git::Workspace;
use super::issues::{CONTEXT_ISSUES, IssueFilter};
use crate::auth::Identity;
use crate::domain::context as ctx;
use crate::domain::{Id, Scope, Timestamp, User};
use crate::error::{AppError, AppResult};
use crate::store::tables::*;
use crate::store::*;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

const GLOBAL_SETTING: &str = "agents.global_context";
/// The id of the current global instructions (a new one each time they are set after none).
const GLOBAL_ID_SETTING: &str = "agents.global_context.id";
/// The `seq` name the ids come from.
const GLOBAL_SEQ: &str = "agent_contexts";

/// The global agent instructions (one value; an upsert replaces it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GlobalContext {
    pub content: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub updated_by: Option<Id>,
}

/// Where the context file was written and whether it carries an issue.
pub struct ContextWritten {
    pub path: std::path::PathBuf,
    pub issue: bool,
}

impl App {
    pub fn global_context(
        &self,
        caller: &Identity,
    ) -> AppResult<Option<(GlobalContext, Option<User>)>> {
        Ok(self
            .global_context_with_id(caller)?
            .map(|(g, by, _)| (g, by)))
    }

    /// The global instructions with who set them last and their id (instructions stored
    /// before ids existed, or imported, are id 1).
    pub fn global_context_with_id(
        &self,
        caller: &Identity,
    ) -> AppResult<Option<(GlobalContext, Option<User>, Id)>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let t = r.open_table(SETTINGS)?;
        let Some(v) = t.get(GLOBAL_SETTING)? else {
            return Ok(None);
        };
        let g: GlobalContext = decode(v.value())?;
        let id = match t.get(GLOBAL_ID_SETTING)? {
            Some(v) => decode::<Id>(v.value())?,
            None => 1,
        };
        let by = match g.updated_by {
            Some(id) => get_row::<User>(&r, USERS, id)?,
            None => None,
        };
        Ok(Some((g, by, id)))
    }

    /// Set the global instructions (admins). The text must not be empty once trimmed.
    pub fn set_global_context(&self, caller: &Identity, content: &str) -> AppResult<GlobalContext> {
        Ok(self.set_global_context_with_id(caller, content)?.0)
    }

    /// As `set_global_context`, also returning the instructions' id.
    pub fn set_global_context_with_id(
        &self,
        caller: &Identity,
        content: &str,
    ) -> AppResult<(GlobalContext, Id)> {
        caller.require_admin()?;
        let content = content.trim();
        if content.is_empty() {
            return Err(AppError::BadRequest("'content' cannot be empty".into()));
        }
        let now = crate::domain::model::now();
        let w = self.store.write()?;
        let existing = {
            let t = w.open_table(SETTINGS)?;
            let g = match t.get(GLOBAL_SETTING)? {
                Some(v) => Some(decode::<GlobalContext>(v.value())?),
                None => None,
            };
            let id = match t.get(GLOBAL_ID_SETTING)? {
                Some(v) => Some(decode::<Id>(v.value())?),
                None => None,
            };
            g.map(|g| (g, id))
        };
        let id = match &existing {
            Some((_, Some(id))) => *id,
            // New, or set before ids existed (shown as 1 until now: the first id is 1).
            _ => next_id(&w, GLOBAL_SEQ)?,
        };
        let g = {
            let mut t = w.open_table(SETTINGS)?;
            let created_at = match &existing {
                Some((g, _)) => g.created_at,
                None => now,
            };
            let g = GlobalContext {
                content: content.to_string(),
                created_at,
                updated_at: now,
                updated_by: Some(caller.id()),
            };
            t.insert(GLOBAL_SETTING, encode(&g)?.as_slice())?;
            t.insert(GLOBAL_ID_SETTING, encode(&id)?.as_slice())?;
            g
        };
        w.commit()?;
        Ok((g, id))
    }

    /// Remove the global instructions (admins); returns whether there were any.
    pub fn clear_global_context(&self, caller: &Identity) -> AppResult<bool> {
        caller.require_admin()?;
        let w = self.store.write()?;
        let existed = {
            let mut t = w.open_table(SETTINGS)?;
            t.remove(GLOBAL_ID_SETTING)?;
            t.remove(GLOBAL_SETTING)?.is_some()
        };
        w.commit()?;
        Ok(existed)
    }

    fn global_text(&self) -> AppResult<Option<String>> {
        let r = self.store.read()?;
        let t = r.open_table(SETTINGS)?;
        Ok(match t.get(GLOBAL_SETTING)? {
            Some(v) => Some(decode::<GlobalContext>(v.value())?.content),
            None => None,
        }
        .filter(|c| !c.trim().is_empty()))
    }

    /// Write `AGENTS.override.md` into the caller's workspace: the global instructions (or the
    /// repository's AGENTS.md), the notes already in the file, and the issue block (or the
    /// placeholder when there is no issue). The file is excluded from git in that checkout.
    pub async fn write_agent_context(
        &self,
        caller: &Identity,
        ws: &Workspace,
        issue_id: Option<Id>,
    ) -> AppResult<ContextWritten> {
        let base = match self.global_text()? {
            Some(g) => g,
            None => ws.read_text(ctx::BASE_FILE).await?.unwrap_or_default(),
        };
        let existing = ws.read_text(ctx::FILE_NAME).await?.unwrap_or_default();
        let text = match issue_id {
            None => ctx::global_only(&base),
            Some(id) => {
                let issue = self.get_issue(caller, id)?;
                let view = |v: &super::issues::IssueView| ctx::IssueView {
                    id: v.issue.id,
                    provider: v.provider.clone(),
                    external_id: v.issue.external_id.clone(),
                    title: v.issue.title.clone(),
                    status: v.issue.status.clone(),
                    assignee: v.issue.assignee.clone(),
                    labels: v.issue.labels.clone(),
                    url: v.issue.url.clone(),
                    updated: v.issue.external_updated_at.or(Some(v.issue.updated_at)),
                    description: v.issue.body.clone(),
                    comments: v.issue.comments.clone(),
                };
                let others = self.list_issues(
                    caller,
                    &IssueFilter {
                        project_id: Some(issue.issue.project_id),
                        limit: Some(CONTEXT_ISSUES),
                        sort: crate::domain::issues::IssueSort::IdDesc,
                        ..Default::default()
                    },
                )?;
                let others: Vec<ctx::IssueView> = others.issues.iter().map(view).collect();
                let project = ctx::ProjectView {
                    id: ws.project.id,
                    name: ws.project.name.clone(),
                    repo_url: ws.project.repo_url.clone(),
                    workspace: ws.path.display().to_string(),
                };
                let identity = ctx::Identity {
                    name: Some(ws.author_name.clone()),
                    email: Some(ws.author_email.clone()),
                };
                let body = ctx::render_issue_context(
                    &project,
                    &view(&issue),
                    &others,
                    Some(&identity),
                    crate::domain::model::now(),
                );
                ctx::merge(&existing, &base, &ctx::block(Some(&body)))
            }
        };
        ws.write_text(ctx::FILE_NAME, &text).await?;
        if ws.path.join(".git").exists() {
            ws.exclude(ctx::FILE_NAME).await?;
        }
        Ok(ContextWritten {
            path: ws.path.join(ctx::FILE_NAME),
            issue: issue_id.is_some(),
        })
    }

    /// Regenerate the context file for an issue in the caller's workspace (cloning it first).
    pub async fn populate_context(
        &self,
        caller: &Identity,
        issue_id: Id,
    ) -> AppResult<ContextWritten> {
        caller.require(Scope::Write)?;
        let issue = self.issue_for_work(caller, issue_id)?;
        let project_id = issue.issue.project_id;
        let ws = self.workspace(caller, project_id)?;
        if !ws.path.join(".git").exists() {
            self.workspace_init(caller, project_id).await?;
        }
        self.write_agent_context(caller, &ws, Some(issue_id)).await
    }
}
