//! Git, files and workspace routes (per project, the caller's own workspace; owner or admin).

use super::common::{AppRef, Created, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::services::App;
use crate::services::git::{CommitInfo, FileContent, GitStatus};
use base64::Engine;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi, Tags};
use std::sync::Arc;

#[derive(Tags)]
enum Tag {
    /// Your workspace of a project (a clone per user) and git operations on it
    Git,
}

/// A field present on a status (possibly null) and left out of the "no status" shape.
type Present<T> = MaybeUndefined<T>;

fn absent<T>(v: &MaybeUndefined<T>) -> bool {
    v.is_undefined()
}

/// The caller's workspace status (the original's GitStatus). When there is none (no workspace
/// yet, git failing) it is the original's error shape: `branch` "unknown", `dirty` null, empty
/// lists and summary, null pull times, and `error` saying what to do; the other fields are left
/// out.
#[derive(Object)]
pub struct GitStatusObj {
    /// Current branch, `detached`, or `unknown` (no status: see `error`).
    pub branch: String,
    /// Null when there is no status.
    #[oai(nullable)]
    pub dirty: Option<bool>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub upstream: Present<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ahead: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub behind: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub staged: Option<Vec<String>>,
    #[oai(skip_serializing_if_is_none)]
    pub unstaged: Option<Vec<String>>,
    pub untracked_files: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub conflicted: Option<Vec<String>>,
    /// Like `git status --short --branch`.
    pub status_summary: String,
    #[oai(nullable)]
    pub last_pull: Option<String>,
    #[oai(nullable)]
    pub last_pull_display: Option<String>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub last_commit_author: Present<String>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub last_commit_timestamp: Present<String>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub last_commit_display: Present<String>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub last_commit_hash: Present<String>,
    #[oai(nullable, skip_serializing_if = "absent")]
    pub last_commit_subject: Present<String>,
    #[oai(skip_serializing_if_is_none)]
    pub workspace_path: Option<String>,
    /// Why there is no status, and what to do (only on the "no status" shape).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

impl GitStatusObj {
    /// The original's shape for "no status": `error` says why and what to do.
    pub fn unavailable(error: String) -> Self {
        GitStatusObj {
            branch: "unknown".into(),
            dirty: None,
            upstream: MaybeUndefined::Undefined,
            ahead: None,
            behind: None,
            staged: None,
            unstaged: None,
            untracked_files: Vec::new(),
            conflicted: None,
            status_summary: String::new(),
            last_pull: None,
            last_pull_display: None,
            last_commit_author: MaybeUndefined::Undefined,
            last_commit_timestamp: MaybeUndefined::Undefined,
            last_commit_display: MaybeUndefined::Undefined,
            last_commit_hash: MaybeUndefined::Undefined,
            last_commit_subject: MaybeUndefined::Undefined,
            workspace_path: None,
            error: Some(error),
        }
    }

    /// A status, or the "no status" shape with its reason.
    pub fn from_report(r: Result<GitStatus, String>) -> Self {
        match r {
            Ok(s) => s.into(),
            Err(why) => GitStatusObj::unavailable(why),
        }
    }
}

impl From<GitStatus> for GitStatusObj {
    fn from(s: GitStatus) -> Self {
        let p = s.porcelain;
        let c = s.last_commit;
        let present = |v: Option<String>| MaybeUndefined::from_opt_null(v);
        GitStatusObj {
            branch: if p.detached {
                "detached".into()
            } else {
                p.branch.clone().unwrap_or_else(|| "unknown".into())
            },
            dirty: Some(!(p.staged.is_empty() && p.unstaged.is_empty() && p.conflicted.is_empty())),
            upstream: present(p.upstream),
            ahead: Some(p.ahead),
            behind: Some(p.behind),
            staged: Some(p.staged),
            unstaged: Some(p.unstaged),
            untracked_files: p.untracked,
            conflicted: Some(p.conflicted),
            status_summary: s.summary,
            last_pull: s.last_pull.map(|t| t.to_rfc3339()),
            last_pull_display: s
                .last_pull
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            last_commit_author: present(c.as_ref().map(|c| c.author.clone())),
            last_commit_timestamp: present(c.as_ref().map(|c| c.date.clone())),
            last_commit_display: present(c.as_ref().map(|c| format!("{} by {}", c.date, c.author))),
            last_commit_hash: present(c.as_ref().map(|c| c.hash.chars().take(12).collect())),
            last_commit_subject: present(c.map(|c| c.subject)),
            workspace_path: Some(s.path.display().to_string()),
            error: None,
        }
    }
}

#[derive(Object)]
pub struct StatusEnvelope {
    pub status: GitStatusObj,
}

#[derive(Object)]
pub struct ResultEnvelope {
    /// git's own output.
    pub result: String,
    pub message: String,
}

#[derive(Object)]
pub struct CommitRequest {
    #[oai(validator(max_length = 10000))]
    pub message: Option<Str>,
    /// Paths relative to the workspace; all changes when omitted.
    pub files: Option<Vec<Str>>,
}

#[derive(Object)]
pub struct CommitResult {
    pub message: String,
    pub output: String,
    pub commit: String,
}

#[derive(Object)]
pub struct BranchObj {
    /// As `git branch -a` prints it: `main`, `remotes/origin/main`,
    /// `remotes/origin/HEAD -> origin/main`.
    pub name: String,
    pub is_current: bool,
    /// A remote-tracking branch (or a remote's HEAD).
    pub remote: bool,
}

#[derive(Object)]
pub struct BranchesEnvelope {
    pub branches: Vec<BranchObj>,
    #[oai(nullable)]
    pub current_branch: Option<String>,
}

#[derive(Object)]
pub struct BranchRequest {
    #[oai(validator(max_length = 200))]
    pub name: Option<Str>,
    #[oai(validator(max_length = 200))]
    pub from_branch: Option<Str>,
    /// Default true.
    pub checkout: Option<bool>,
}

#[derive(Object)]
pub struct BranchCreated {
    pub message: String,
    pub branch: String,
    pub checked_out: bool,
}

#[derive(Object)]
pub struct CheckoutRequest {
    #[oai(validator(max_length = 200))]
    pub branch: Option<Str>,
}

#[derive(Object)]
pub struct CheckoutResult {
    pub message: String,
    pub branch: String,
}

#[derive(Object)]
pub struct CommitObj {
    pub hash: String,
    pub short_hash: String,
    pub author: String,
    pub email: String,
    pub date: String,
    pub subject: String,
}

impl From<CommitInfo> for CommitObj {
    fn from(c: CommitInfo) -> Self {
        CommitObj {
            short_hash: c.hash.chars().take(12).collect(),
            hash: c.hash,
            author: c.author,
            email: c.email,
            date: c.date,
            subject: c.subject,
        }
    }
}

#[derive(Object)]
pub struct LogEnvelope {
    pub commits: Vec<CommitObj>,
}

#[derive(Object)]
pub struct DiffEnvelope {
    pub diff: String,
    pub truncated: bool,
}

#[derive(Object)]
pub struct FileObj {
    pub name: String,
    pub is_directory: bool,
    pub permissions: String,
    /// Bytes, as a string (like the original's `ls -la` parsing).
    pub size: String,
}

#[derive(Object)]
pub struct FilesEnvelope {
    pub path: String,
    pub files: Vec<FileObj>,
}

#[derive(Object)]
pub struct ContentEnvelope {
    pub path: String,
    /// The text, or null for binary files (then see `content_base64`).
    #[oai(nullable)]
    pub content: Option<String>,
    pub binary: bool,
    pub size: u64,
    #[oai(skip_serializing_if_is_none)]
    pub content_base64: Option<String>,
}

#[derive(Object)]
pub struct WorkspaceStatusObj {
    pub exists: bool,
    pub path: String,
    pub has_git: bool,
    #[oai(nullable)]
    pub error: Option<String>,
}

#[derive(Object)]
pub struct WorkspaceInit {
    pub success: bool,
    pub path: String,
    pub created: bool,
    pub message: String,
}

fn default_log() -> usize {
    20
}

pub struct GitApi;

#[OpenApi(tag = "Tag::Git")]
impl GitApi {
    /// Your workspace of the project: where it is and whether it is cloned.
    #[oai(path = "/projects/:id/workspace/status", method = "get")]
    async fn workspace_status(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<WorkspaceStatusObj>> {
        let s = app.git.workspace_status(auth.identity(), id.0.into())?;
        Ok(Json(WorkspaceStatusObj {
            error: (!s.has_git).then(|| {
                "Workspace not initialised: POST /projects/{id}/workspace/init"
                    .replace("{id}", &id.0.to_string())
            }),
            exists: s.exists,
            path: s.path.display().to_string(),
            has_git: s.has_git,
        }))
    }

    /// Clone the project into your workspace (an existing one is left unchanged).
    #[oai(path = "/projects/:id/workspace/init", method = "post")]
    async fn workspace_init(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<WorkspaceInit>> {
        let (path, created) = app.git.workspace_init(auth.identity(), id.0.into()).await?;
        let p = path.display().to_string();
        Ok(Json(WorkspaceInit {
            success: true,
            message: if created {
                format!("Workspace initialized at {p}")
            } else {
                format!("Workspace already exists at {p}")
            },
            path: p,
            created,
        }))
    }

    /// Branch, ahead/behind, staged/unstaged/untracked files, last commit. Without a workspace
    /// (or when git fails) the status is `{branch: "unknown", dirty: null, …, error}`, saying
    /// what to do.
    #[oai(path = "/projects/:id/git/status", method = "get")]
    async fn status(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<StatusEnvelope>> {
        Ok(Json(StatusEnvelope {
            status: GitStatusObj::from_report(
                app.git
                    .git_status_or_reason(auth.identity(), id.0.into(), true)
                    .await?,
            ),
        }))
    }

    /// Pull (merge) from origin; `clean=true` discards local changes first.
    #[oai(path = "/projects/:id/git/pull", method = "post")]
    async fn pull(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        r#ref: Query<Option<String>>,
        clean: Query<Option<bool>>,
    ) -> R<Json<ResultEnvelope>> {
        let out = app
            .git
            .git_pull(
                auth.identity(),
                id.0.into(),
                r#ref.0.as_deref(),
                clean.0.unwrap_or(false),
            )
            .await?;
        Ok(Json(ResultEnvelope {
            result: out,
            message: "Pull completed successfully".into(),
        }))
    }

    /// Fetch from origin (remote-tracking branches only; the working tree is untouched).
    #[oai(path = "/projects/:id/git/fetch", method = "post")]
    async fn fetch(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<ResultEnvelope>> {
        let out = app.git.git_fetch(auth.identity(), id.0.into()).await?;
        Ok(Json(ResultEnvelope {
            result: out,
            message: "Fetch completed successfully".into(),
        }))
    }

    /// Push the current branch (or `ref`) to origin.
    #[oai(path = "/projects/:id/git/push", method = "post")]
    async fn push(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        r#ref: Query<Option<String>>,
    ) -> R<Json<ResultEnvelope>> {
        let out = app
            .git
            .git_push(auth.identity(), id.0.into(), r#ref.0.as_deref())
            .await?;
        Ok(Json(ResultEnvelope {
            result: out,
            message: "Push completed successfully".into(),
        }))
    }

    /// Stage `files` (or everything) and commit as you.
    #[oai(path = "/projects/:id/git/commit", method = "post")]
    async fn commit(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<CommitRequest>,
    ) -> R<Json<CommitResult>> {
        let b = body.0;
        let files: Vec<String> = b
            .files
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.0)
            .collect();
        let (output, commit) = app
            .git
            .git_commit(
                auth.identity(),
                id.0.into(),
                &opt(b.message).unwrap_or_default(),
                &files,
            )
            .await?;
        Ok(Json(CommitResult {
            message: "Commit created successfully".into(),
            output,
            commit,
        }))
    }

    /// Local and remote branches.
    #[oai(path = "/projects/:id/git/branches", method = "get")]
    async fn branches(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<BranchesEnvelope>> {
        let (list, current) = app.git.git_branches(auth.identity(), id.0.into()).await?;
        Ok(Json(BranchesEnvelope {
            branches: list
                .into_iter()
                .map(|(name, is_current)| BranchObj {
                    remote: name.starts_with("remotes/"),
                    name,
                    is_current,
                })
                .collect(),
            current_branch: current,
        }))
    }

    /// Create a branch (from `from_branch` or HEAD) and check it out unless `checkout` is false.
    #[oai(path = "/projects/:id/git/branches", method = "post")]
    async fn create_branch(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<BranchRequest>,
    ) -> R<Created<BranchCreated>> {
        let b = body.0;
        let name = opt(b.name).unwrap_or_default();
        let checkout = b.checkout.unwrap_or(true);
        app.git
            .git_create_branch(
                auth.identity(),
                id.0.into(),
                &name,
                opt(b.from_branch).as_deref(),
                checkout,
            )
            .await?;
        let name = name.trim().to_string();
        Ok(Created::Created(Json(BranchCreated {
            message: format!("Branch '{name}' created successfully"),
            branch: name,
            checked_out: checkout,
        })))
    }

    /// Switch branches.
    #[oai(path = "/projects/:id/git/checkout", method = "post")]
    async fn checkout(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<CheckoutRequest>,
    ) -> R<Json<CheckoutResult>> {
        let b = opt(body.0.branch).unwrap_or_default();
        app.git
            .git_checkout(auth.identity(), id.0.into(), &b)
            .await?;
        let b = b.trim().to_string();
        Ok(Json(CheckoutResult {
            message: format!("Switched to branch '{b}'"),
            branch: b,
        }))
    }

    /// Recent commits, newest first.
    #[oai(path = "/projects/:id/git/log", method = "get")]
    async fn log(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        #[oai(
            default = "default_log",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<usize>,
    ) -> R<Json<LogEnvelope>> {
        let commits = app
            .git
            .git_log(auth.identity(), id.0.into(), limit.0)
            .await?;
        Ok(Json(LogEnvelope {
            commits: commits.into_iter().map(Into::into).collect(),
        }))
    }

    /// Unstaged changes (or staged with `staged=true`), optionally of one path.
    #[oai(path = "/projects/:id/git/diff", method = "get")]
    async fn diff(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        path: Query<Option<String>>,
        staged: Query<Option<bool>>,
    ) -> R<Json<DiffEnvelope>> {
        let (diff, truncated) = app
            .git
            .git_diff(
                auth.identity(),
                id.0.into(),
                path.0.as_deref(),
                staged.0.unwrap_or(false),
            )
            .await?;
        Ok(Json(DiffEnvelope { diff, truncated }))
    }

    /// A directory of your workspace.
    #[oai(path = "/projects/:id/files", method = "get")]
    async fn files(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        path: Query<Option<String>>,
    ) -> R<Json<FilesEnvelope>> {
        let (p, list) = crate::store::run_blocking(|| {
            app.git.list_files(
                auth.identity(),
                id.0.into(),
                path.0.as_deref().unwrap_or(""),
            )
        })?;
        Ok(Json(FilesEnvelope {
            path: p,
            files: list
                .into_iter()
                .map(|f| FileObj {
                    name: f.name,
                    is_directory: f.is_directory,
                    permissions: f.permissions,
                    size: f.size.to_string(),
                })
                .collect(),
        }))
    }

    /// A file of your workspace (text, or base64 for binary files; up to 5 MB). `path` may
    /// contain slashes (`/projects/1/files/src/main.rs`).
    #[oai(path = "/projects/:id/files/:path", method = "get")]
    async fn file(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        path: Path<String>,
    ) -> R<Json<ContentEnvelope>> {
        Ok(Json(file_content(app.0, auth.identity(), id.0, &path.0)?))
    }
}

fn file_content(
    app: &App,
    who: &crate::auth::Identity,
    id: u64,
    path: &str,
) -> Result<ContentEnvelope, crate::error::AppError> {
    let (p, c) = crate::store::run_blocking(|| app.git.read_file(who, id.into(), path))?;
    Ok(match c {
        FileContent::Text(t) => ContentEnvelope {
            path: p,
            size: t.len() as u64,
            content: Some(t),
            binary: false,
            content_base64: None,
        },
        FileContent::Binary(b) => ContentEnvelope {
            path: p,
            size: b.len() as u64,
            content: None,
            binary: true,
            content_base64: Some(base64::engine::general_purpose::STANDARD.encode(&b)),
        },
    })
}

/// The same as the documented route, for paths with slashes (OpenAPI has no multi-segment
/// parameters, so this one is mounted next to the service).
#[poem::handler]
pub async fn file_any_depth(
    req: &poem::Request,
    poem::web::Path((id, path)): poem::web::Path<(u64, String)>,
    Data(app): Data<&Arc<App>>,
) -> poem::Result<Json<ContentEnvelope>> {
    let who = super::gate::request_identity(req)?;
    who.require(crate::domain::Scope::Read)?;
    Ok(Json(file_content(app, &who, id, &path)?))
}
