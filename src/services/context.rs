//! The agent context file in a user's workspace (`AGENTS.override.md`), the global agent
//! instructions it starts with, and each project's own instructions that follow them (stored in
//! the store, not in a workspace: every user has their own workspace, and the file is rewritten
//! at each session start). The file is `compose_file`: global + project + issue, in that order
//! (the merge rules are `domain::context`'s); this module gathers the inputs and writes it as the
//! workspace's user.

use super::access::{Grants, project_for};
use super::git::Workspace;
use super::issues::{CONTEXT_ISSUES, IssueFilter};
use super::sessions::Sessions;
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::ProjectId;
use crate::domain::access::Action;
use crate::domain::context as ctx;
use crate::domain::{Id, Scope, Timestamp, User, UserId};
use crate::error::{AppError, AppResult};
use crate::store::ReadTxn;
use crate::store::accounts::AccountReads;
use crate::store::integrations::IntegrationReads;
use serde::{Deserialize, Serialize};

/// The most a project's instructions may hold (bytes, after line endings are normalised).
pub const PROJECT_CONTEXT_MAX_BYTES: usize = 32 * 1024;
/// The heading of the project's section in the file (followed by the project's name).
pub const PROJECT_HEADING: &str = "## Project Instructions";

/// A project's own agent instructions (one per project; saving blank text removes them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProjectContext {
    pub project_id: ProjectId,
    pub content: String,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub updated_by: Option<UserId>,
}

/// A project's instructions as a reader sees them, with what the caller may do and the file an
/// agent gets.
#[derive(Debug, Clone)]
pub struct ProjectContextView {
    pub project_id: ProjectId,
    pub project_name: String,
    /// None: the project has no instructions of its own.
    pub context: Option<ProjectContext>,
    pub updated_by: Option<User>,
    /// Whether the caller may save them (maintainer of the project, with a write-scope key).
    pub can_edit: bool,
    /// Whether global instructions are set (else the repository's AGENTS.md opens the file).
    pub global_set: bool,
    /// The `AGENTS.override.md` a session without an issue starts with (with an issue, the
    /// issue block takes the placeholder's place). Without global instructions, a note stands
    /// where the repository's AGENTS.md goes.
    pub preview: String,
}

/// Stands in the preview for the repository's AGENTS.md when no global instructions are set.
pub const PREVIEW_REPO_BASE: &str = "_(No global agent instructions are set: the repository's AGENTS.md, read from the agent's checkout, goes here.)_";

/// A project's instructions as they are stored: line endings normalised to `\n`, otherwise as
/// given; None when blank (saving blank text removes them). Refused above
/// `PROJECT_CONTEXT_MAX_BYTES`.
pub fn project_instructions(text: &str) -> Result<Option<String>, String> {
    let text = text.replace("\r\n", "\n");
    if text.trim().is_empty() {
        return Ok(None);
    }
    if text.len() > PROJECT_CONTEXT_MAX_BYTES {
        return Err(format!(
            "The project instructions are {} bytes; at most {} bytes ({} KiB) fit. Shorten them, or keep long reference material in the repository and point to it.",
            text.len(),
            PROJECT_CONTEXT_MAX_BYTES,
            PROJECT_CONTEXT_MAX_BYTES / 1024
        ));
    }
    Ok(Some(text))
}

/// The opening of the file (before the notes and the issue block): the global instructions (or
/// the repository's AGENTS.md), then the project's section when it has instructions.
pub fn compose_base(global: &str, project_name: &str, project: Option<&str>) -> String {
    let global = global.trim();
    match project.map(str::trim).filter(|p| !p.is_empty()) {
        None => global.to_string(),
        Some(p) => {
            let section = format!("{PROJECT_HEADING} ({})\n\n{p}", project_name.trim());
            if global.is_empty() {
                section
            } else {
                format!("{global}\n\n{section}")
            }
        }
    }
}

/// The whole `AGENTS.override.md`: global + project + issue. With an issue body, the notes a
/// person wrote in `existing` (between the base and the block) are kept and the block replaced;
/// without one, the file is the base and the placeholder block (as the original did).
pub fn compose_file(
    existing: &str,
    global: &str,
    project_name: &str,
    project: Option<&str>,
    issue_body: Option<&str>,
) -> String {
    let base = compose_base(global, project_name, project);
    match issue_body {
        Some(body) => ctx::merge(existing, &base, &ctx::block(Some(body))),
        None => ctx::global_only(&base),
    }
}

/// The global agent instructions (one value; an upsert replaces it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GlobalContext {
    pub content: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub updated_by: Option<UserId>,
}

/// Where the context file was written and whether it carries an issue.
pub struct ContextWritten {
    pub path: std::path::PathBuf,
    pub issue: bool,
}

impl Sessions {
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
        let Some(g) = r.global_context::<GlobalContext>()? else {
            return Ok(None);
        };
        let id = r.global_context_id()?.unwrap_or(1);
        let by = match g.updated_by {
            Some(id) => r.get_user(id)?,
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
        let existing = match w.global_context::<GlobalContext>()? {
            Some(g) => Some((g, w.global_context_id()?)),
            None => None,
        };
        let id = match &existing {
            Some((_, Some(id))) => *id,
            // New, or set before ids existed (shown as 1 until now: the first id is 1).
            _ => w.new_global_context_id()?,
        };
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
        w.put_global_context(&g, id)?;
        w.commit()?;
        Ok((g, id))
    }

    /// Remove the global instructions (admins); returns whether there were any.
    pub fn clear_global_context(&self, caller: &Identity) -> AppResult<bool> {
        caller.require_admin()?;
        let w = self.store.write()?;
        let existed = w.delete_global_context()?;
        w.commit()?;
        Ok(existed)
    }

    fn global_text(&self) -> AppResult<Option<String>> {
        let r = self.store.read()?;
        global_text_in(&r)
    }

    /// A project's instructions, the file they give, and whether the caller may change them
    /// (reading needs a role on the project, as seeing it does: 404 otherwise).
    pub fn project_context(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<ProjectContextView> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let p = project_for(&r, caller, project_id, Action::View)?;
        let can_edit = caller.has(Scope::Write)
            && Grants::load(&r, caller)?
                .check_project(&p, Action::Manage)
                .is_ok();
        let context = project_context_in(&r, project_id)?;
        let updated_by = match context.as_ref().and_then(|c| c.updated_by) {
            Some(id) => r.get_user(id)?,
            None => None,
        };
        let global = global_text_in(&r)?;
        let preview = compose_file(
            "",
            global.as_deref().unwrap_or(PREVIEW_REPO_BASE),
            &p.name,
            context.as_ref().map(|c| c.content.as_str()),
            None,
        );
        Ok(ProjectContextView {
            project_id,
            project_name: p.name,
            context,
            updated_by,
            can_edit,
            global_set: global.is_some(),
            preview,
        })
    }

    /// Save a project's instructions (maintainers of the project); blank text removes them.
    /// Returns what readers now see.
    pub fn set_project_context(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        content: &str,
    ) -> AppResult<ProjectContextView> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        project_for(&w, caller, project_id, Action::Manage)?;
        let text = project_instructions(content).map_err(AppError::BadRequest)?;
        match text {
            Some(content) => {
                let c = ProjectContext {
                    project_id,
                    content,
                    updated_at: crate::domain::model::now(),
                    updated_by: Some(caller.id()),
                };
                w.put_project_context(project_id, &c)?;
            }
            None => w.delete_project_context(project_id)?,
        }
        w.commit()?;
        self.project_context(caller, project_id)
    }

    /// Write `AGENTS.override.md` into the caller's workspace: the global instructions (or the
    /// repository's AGENTS.md), the project's instructions, the notes already in the file, and
    /// the issue block (or the placeholder when there is no issue): `compose_file`. The file is excluded from git in that checkout.
    pub async fn write_agent_context(
        &self,
        caller: &Identity,
        ws: &Workspace,
        issue_id: Option<IssueId>,
    ) -> AppResult<ContextWritten> {
        let base = match self.global_text()? {
            Some(g) => g,
            None => ws.read_text(ctx::BASE_FILE).await?.unwrap_or_default(),
        };
        let project = {
            let r = self.store.read()?;
            project_context_in(&r, ws.project.id)?.map(|c| c.content)
        };
        let existing = ws.read_text(ctx::FILE_NAME).await?.unwrap_or_default();
        let body = match issue_id {
            None => None,
            Some(id) => {
                let issue = self.trackers.get_issue(caller, id)?;
                let view = |v: &super::issues::IssueView| ctx::IssueView {
                    id: v.issue.id.get(),
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
                let others = self.trackers.list_issues(
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
                    id: ws.project.id.get(),
                    name: ws.project.name.clone(),
                    repo_url: ws.project.repo_url.clone(),
                    workspace: ws.path.display().to_string(),
                };
                let identity = ctx::Identity {
                    name: Some(ws.author_name.clone()),
                    email: Some(ws.author_email.clone()),
                };
                Some(ctx::render_issue_context(
                    &project,
                    &view(&issue),
                    &others,
                    Some(&identity),
                    crate::domain::model::now(),
                ))
            }
        };
        let text = compose_file(
            &existing,
            &base,
            &ws.project.name,
            project.as_deref(),
            body.as_deref(),
        );
        ws.write_text(ctx::FILE_NAME, &text).await?;
        if ws.path.join(".git").exists() {
            ws.exclude(ctx::FILE_NAME).await?;
        }
        Ok(ContextWritten {
            path: ws.path.join(ctx::FILE_NAME),
            issue: issue_id.is_some(),
        })
    }

    /// Regenerate the context file for an issue in the caller's workspace (cloning it first), or
    /// in the worktree of the caller's session on the issue.
    pub async fn populate_context(
        &self,
        caller: &Identity,
        issue_id: IssueId,
    ) -> AppResult<ContextWritten> {
        caller.require(Scope::Write)?;
        let issue = self.trackers.issue_for_work(caller, issue_id)?;
        let project_id = issue.issue.project_id;
        let ws = self.git.workspace(caller, project_id)?;
        if !ws.path.join(".git").exists() {
            self.git.workspace_init(caller, project_id).await?;
        }
        // The issue's session works in its worktree: its context file is there.
        let ws = match self.worktree_session(caller, project_id, issue_id)? {
            Some(s) => match s.workspace_path.map(std::path::PathBuf::from) {
                Some(p) if p.join(".git").is_file() => ws.at(p),
                _ => ws,
            },
            None => ws,
        };
        self.write_agent_context(caller, &ws, Some(issue_id)).await
    }
}

fn global_text_in(r: &ReadTxn) -> AppResult<Option<String>> {
    Ok(r.global_context::<GlobalContext>()?
        .map(|g| g.content)
        .filter(|c| !c.trim().is_empty()))
}

fn project_context_in(r: &ReadTxn, project_id: ProjectId) -> AppResult<Option<ProjectContext>> {
    r.project_context(project_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_then_project_then_issue() {
        let f = compose_file(
            "",
            "Global rules.\n",
            "shop",
            Some("Use pnpm.\n"),
            Some("# 42 - Checkout fails\n"),
        );
        let g = f.find("Global rules.").unwrap();
        let p = f
            .find("## Project Instructions (shop)\n\nUse pnpm.")
            .unwrap();
        let marker = f.find(ctx::BASE_END).unwrap();
        let i = f.find("# 42 - Checkout fails").unwrap();
        assert!(g < p && p < marker && marker < i, "{f}");
        assert!(
            f.starts_with("Global rules.\n\n## Project Instructions"),
            "{f}"
        );
        // Without an issue: the placeholder block closes the file.
        let f = compose_file("", "Global rules.", "shop", Some("Use pnpm."), None);
        assert!(f.contains("Use pnpm."));
        assert!(f.contains(ctx::PLACEHOLDER));
    }

    #[test]
    fn no_project_text_is_the_old_file_and_no_global_starts_with_the_project() {
        let body = Some("# 1 - x");
        assert_eq!(
            compose_file("", "Base", "shop", None, body),
            ctx::merge("", "Base", &ctx::block(body))
        );
        assert_eq!(
            compose_file("", "Base", "shop", Some("  \n "), None),
            ctx::global_only("Base")
        );
        let f = compose_file("", "", "shop", Some("Only mine."), None);
        assert!(
            f.starts_with("## Project Instructions (shop)\n\nOnly mine."),
            "{f}"
        );
    }

    #[test]
    fn regeneration_keeps_notes_replaces_changed_project_text_and_is_idempotent() {
        let b1 = Some("# 1 - first");
        let first = compose_file("", "G", "shop", Some("Project v1"), b1);
        let with_notes = first.replacen(
            ctx::BASE_END,
            &format!("{}{}My notes.", ctx::BASE_END, ctx::SEPARATOR),
            1,
        );
        let second = compose_file(&with_notes, "G", "shop", Some("Project v2"), b1);
        assert!(
            second.contains("Project v2") && !second.contains("Project v1"),
            "{second}"
        );
        assert!(second.contains("My notes."), "{second}");
        let third = compose_file(&second, "G", "shop", Some("Project v2"), b1);
        assert_eq!(second, third);
        assert_eq!(third.matches(ctx::START).count(), 1);
    }

    #[test]
    fn instructions_are_kept_as_given_with_a_size_cap() {
        assert_eq!(project_instructions("  \r\n "), Ok(None));
        assert_eq!(
            project_instructions("  <b>a</b>\r\nb  "),
            Ok(Some("  <b>a</b>\nb  ".to_string()))
        );
        let max = "x".repeat(PROJECT_CONTEXT_MAX_BYTES);
        assert_eq!(project_instructions(&max), Ok(Some(max.clone())));
        let err = project_instructions(&format!("{max}y")).unwrap_err();
        assert!(err.contains("32768 bytes (32 KiB)"), "{err}");
        // CRLF counts once per line break (what a browser's textarea sends).
        let crlf = "x\r\n".repeat(PROJECT_CONTEXT_MAX_BYTES / 2);
        assert!(project_instructions(&crlf).is_ok());
    }
}
