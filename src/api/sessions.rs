//! AI sessions: agents in tmux per user, with the spec's routes and shapes.

use super::common::{AppRef, Created, NoContent, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::agent_state::{AgentState, coarse};
use crate::domain::{AiSession, Timestamp};
use crate::services::sessions::{LiveSession, StartRequest, WorktreeChoice};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// AI agents (claude, codex, gemini, shell …) in tmux sessions in your workspace
    Sessions,
}

fn ssh_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "aiops".into())
}

#[derive(Object)]
pub struct SessionObj {
    /// The database id (used by /ai/sessions/{id}/…).
    pub id: u64,
    /// 32 hex characters; also accepted wherever an id is.
    pub session_id: String,
    pub project_id: u64,
    pub user_id: u64,
    #[oai(nullable)]
    pub issue_id: Option<u64>,
    pub tool: String,
    #[oai(nullable)]
    pub command: Option<String>,
    #[oai(nullable)]
    pub tmux_target: Option<String>,
    /// The tmux socket (attach with `tmux -S <socket> attach -t <target>`).
    #[oai(nullable)]
    pub tmux_socket: Option<String>,
    pub ssh_user: String,
    #[oai(nullable)]
    pub workspace_path: Option<String>,
    pub is_active: bool,
    /// running, waiting (for input), exited; null when tmux no longer has the session.
    #[oai(nullable)]
    pub state: Option<String>,
    /// The detected agent state (working, waiting_for_input, waiting_for_approval,
    /// rate_limited, idle, exited, failed); null when `state` is.
    #[oai(nullable)]
    pub agent_state: Option<AgentState>,
    pub started_at: Timestamp,
    #[oai(nullable)]
    pub ended_at: Option<Timestamp>,
    /// The project's name (in lists that look it up; null elsewhere).
    #[oai(nullable)]
    pub project_name: Option<String>,
    /// True when tmux says the agent's process ended but its pane is kept (null when tmux was
    /// not asked: ended sessions, or routes that do not look).
    #[oai(nullable)]
    pub pane_dead: Option<bool>,
    /// The account the session's tmux server runs as (the original's `tmux_server_user`).
    pub tmux_server_user: String,
    /// The command `POST /ai/sessions/{id}/resume` runs (`claude --resume <id>`, `codex resume
    /// <id>`, or the tool's latest conversation when it printed no id); null for tools that
    /// cannot resume.
    #[oai(nullable)]
    pub resume_command: Option<String>,
    /// The session's own branch when it works in a git worktree (`workspace_path` is then
    /// the worktree).
    #[oai(nullable)]
    pub branch: Option<String>,
    /// The branch that branch was made from.
    #[oai(nullable)]
    pub base: Option<String>,
}

fn obj(s: AiSession, state: Option<AgentState>) -> SessionObj {
    let resume = crate::domain::sessions::resume_command(
        &s.tool,
        s.command.as_deref().unwrap_or(&s.tool),
        s.tool_session_id.as_deref(),
    );
    SessionObj {
        id: s.id.get(),
        session_id: s.session_id,
        project_id: s.project_id.get(),
        user_id: s.user_id.get(),
        issue_id: s.issue_id.map(u64::from),
        tool: s.tool,
        command: s.command,
        tmux_target: s.tmux_target,
        tmux_socket: s.tmux_socket,
        ssh_user: ssh_user(),
        workspace_path: s.workspace_path,
        is_active: s.is_active,
        state: state.map(|st| coarse(st).to_string()),
        agent_state: state,
        started_at: s.started_at,
        ended_at: s.ended_at,
        project_name: None,
        pane_dead: state.map(AgentState::is_final),
        tmux_server_user: s.run_as.clone().unwrap_or_else(ssh_user),
        resume_command: resume,
        branch: s.branch,
        base: s.base,
    }
}

fn listed(l: LiveSession) -> SessionObj {
    SessionObj {
        project_name: l.project_name,
        ..obj(l.session, l.state)
    }
}

#[derive(Object)]
pub struct SessionsEnvelope {
    pub sessions: Vec<SessionObj>,
    pub count: usize,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct StartBody {
    /// A configured tool name (claude, codex, gemini, shell, …).
    #[oai(validator(max_length = 64))]
    pub tool: Option<Str>,
    /// A command instead of the tool's.
    #[oai(validator(max_length = 2000))]
    pub command: Option<Str>,
    /// Typed into a new session, followed by Enter.
    #[oai(validator(max_length = 100000))]
    pub prompt: Option<Str>,
    pub rows: Option<u16>,
    pub cols: Option<u16>,
    pub issue_id: Option<u64>,
    /// Start the session as this user (administrators only; the user must be able to work in
    /// the project).
    pub user_id: Option<u64>,
    /// An issue session's worktree branch starts from this branch (default: the project's
    /// default branch).
    #[oai(validator(max_length = 200))]
    pub base: Option<Str>,
}

#[derive(Object)]
pub struct StartResult {
    pub id: u64,
    pub session_id: String,
    #[oai(nullable)]
    pub tmux_target: Option<String>,
    #[oai(nullable)]
    pub tmux_socket: Option<String>,
    pub ssh_user: String,
    /// True when an active session for the same issue was reused.
    pub existing: bool,
    pub context_populated: bool,
    #[oai(nullable)]
    pub workspace_path: Option<String>,
    pub tool: String,
}

#[derive(Object)]
pub struct ResumeResult {
    /// The new session's database id.
    pub id: u64,
    pub session_id: String,
    pub message: String,
    #[oai(nullable)]
    pub tmux_target: Option<String>,
    /// The command it runs.
    #[oai(nullable)]
    pub command: Option<String>,
    pub tool: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct InputBody {
    #[oai(validator(max_length = 100000))]
    pub data: String,
}

#[derive(Object)]
pub struct StatusOk {
    pub status: String,
}

#[derive(Object)]
pub struct OutputObj {
    pub output: String,
    /// running, waiting, exited (see the session's `state`).
    #[oai(nullable)]
    pub state: Option<String>,
    /// The detected agent state (see the session's `agent_state`).
    #[oai(nullable)]
    pub agent_state: Option<AgentState>,
}

#[derive(Object)]
pub struct ValidateObj {
    pub exists: bool,
    pub marked_inactive: bool,
    #[oai(nullable)]
    pub message: Option<String>,
}

#[derive(Object)]
pub struct SessionEnvelope {
    pub session: SessionObj,
    pub message: String,
}

pub struct SessionsApi;

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Your live sessions in a project (admins: `all_users=true` for everyone's).
    #[oai(path = "/projects/:id/ai/sessions", method = "get")]
    async fn project_sessions(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        all_users: Query<Option<bool>>,
    ) -> R<Json<SessionsEnvelope>> {
        app.git.workspace(auth.identity(), id.0.into())?;
        let live = app
            .sessions
            .live_sessions(
                auth.identity(),
                Some(id.0.into()),
                all_users.0.unwrap_or(false),
            )
            .await?;
        let sessions: Vec<SessionObj> = live.into_iter().filter(|l| l.alive).map(listed).collect();
        Ok(Json(SessionsEnvelope {
            count: sessions.len(),
            sessions,
        }))
    }

    /// Start an agent in tmux in your workspace (cloned first if needed). With `issue_id`,
    /// an active session for that issue is reused (`existing: true`).
    #[oai(path = "/projects/:id/ai/sessions", method = "post")]
    async fn start(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<StartBody>,
    ) -> R<Created<StartResult>> {
        let b = body.0;
        let started = app
            .sessions
            .start_session(
                auth.identity(),
                id.0.into(),
                StartRequest {
                    tool: opt(b.tool),
                    command: opt(b.command),
                    prompt: opt(b.prompt),
                    rows: b.rows,
                    cols: b.cols,
                    issue_id: b.issue_id.map(Into::into),
                    as_user: b.user_id.map(Into::into),
                    base: opt(b.base),
                },
            )
            .await?;
        let s = started.session;
        Ok(Created::Created(Json(StartResult {
            id: s.id.get(),
            session_id: s.session_id,
            tmux_target: s.tmux_target,
            tmux_socket: s.tmux_socket,
            ssh_user: ssh_user(),
            existing: started.existing,
            context_populated: started.context_populated,
            workspace_path: s.workspace_path,
            tool: s.tool,
        })))
    }

    /// Type into a session (a newline presses Enter).
    #[oai(path = "/projects/:id/ai/sessions/:sid/input", method = "post")]
    async fn input(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        sid: Path<String>,
        body: Json<InputBody>,
    ) -> R<Json<StatusOk>> {
        let _ = id;
        app.sessions
            .send_input(auth.identity(), &sid.0, &body.0.data)
            .await?;
        Ok(Json(StatusOk {
            status: "ok".into(),
        }))
    }

    /// Stop a session (its tmux session is killed and its agent key revoked).
    #[oai(path = "/projects/:id/ai/sessions/:sid", method = "delete")]
    async fn stop_in_project(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        sid: Path<String>,
        /// What to do with the session's worktree: `keep` (default) or `remove`.
        worktree: Query<Option<String>>,
        /// With `worktree=remove`: remove it even with uncommitted changes.
        force: Query<Option<bool>>,
    ) -> R<NoContent> {
        let _ = id;
        let choice = WorktreeChoice::parse(worktree.0.as_deref(), force.0.unwrap_or(false))?;
        app.sessions
            .stop_session(auth.identity(), &sid.0, choice)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Sessions from the store, newest first.
    #[oai(path = "/ai/sessions", method = "get")]
    async fn list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        project_id: Query<Option<u64>>,
        active_only: Query<Option<bool>>,
        all_users: Query<Option<bool>>,
        limit: Query<Option<u32>>,
    ) -> R<Json<SessionsEnvelope>> {
        let rows = app
            .sessions
            .session_overview(
                auth.identity(),
                project_id.0.map(Into::into),
                active_only.0.unwrap_or(false),
                all_users.0.unwrap_or(false),
                limit.0.unwrap_or(50) as usize,
            )
            .await?;
        let sessions: Vec<SessionObj> = rows.into_iter().map(listed).collect();
        Ok(Json(SessionsEnvelope {
            count: sessions.len(),
            sessions,
        }))
    }

    /// The pane's text (with `lines` of scrollback) and the agent's state.
    #[oai(path = "/ai/sessions/:id/output", method = "get")]
    async fn output(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
        lines: Query<Option<u32>>,
    ) -> R<Json<OutputObj>> {
        let (_, output, state) = app
            .sessions
            .session_output(auth.identity(), &id.0, lines.0.unwrap_or(200))
            .await?;
        Ok(Json(OutputObj {
            output,
            state: state.map(|s| coarse(s).to_string()),
            agent_state: state,
        }))
    }

    /// Whether tmux still has the session (a vanished one is marked inactive).
    #[oai(path = "/ai/sessions/:id/validate", method = "get")]
    async fn validate(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
    ) -> R<Json<ValidateObj>> {
        let (exists, marked_inactive) = app
            .sessions
            .validate_session(auth.identity(), &id.0)
            .await?;
        Ok(Json(ValidateObj {
            exists,
            marked_inactive,
            message: marked_inactive
                .then(|| "Session no longer exists and has been marked inactive".to_string()),
        }))
    }

    /// Resume an ended session's conversation in a new session (claude and codex; see
    /// `resume_command`). 400 for tools that cannot resume; 409 while it still runs.
    #[oai(path = "/ai/sessions/:id/resume", method = "post")]
    async fn resume(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
    ) -> R<Created<ResumeResult>> {
        let (started, project) = app.sessions.resume_session(auth.identity(), &id.0).await?;
        let s = started.session;
        Ok(Created::Created(Json(ResumeResult {
            message: format!("Resumed {} session in project {project}", s.tool),
            id: s.id.get(),
            session_id: s.session_id.clone(),
            tmux_target: s.tmux_target.clone(),
            command: s.command.clone(),
            tool: s.tool.clone(),
        })))
    }

    /// Run the session's command again in the same tmux window.
    #[oai(path = "/ai/sessions/:id/respawn", method = "post")]
    async fn respawn(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
    ) -> R<Json<SessionEnvelope>> {
        let s = app.sessions.respawn_session(auth.identity(), &id.0).await?;
        Ok(Json(SessionEnvelope {
            message: format!("Respawned {} session {}", s.tool, s.id),
            session: obj(s, None),
        }))
    }

    /// Stop a session.
    #[oai(path = "/ai/sessions/:id", method = "delete")]
    async fn stop(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<String>,
        /// What to do with the session's worktree: `keep` (default) or `remove`.
        worktree: Query<Option<String>>,
        /// With `worktree=remove`: remove it even with uncommitted changes.
        force: Query<Option<bool>>,
    ) -> R<NoContent> {
        let choice = WorktreeChoice::parse(worktree.0.as_deref(), force.0.unwrap_or(false))?;
        app.sessions
            .stop_session(auth.identity(), &id.0, choice)
            .await?;
        Ok(NoContent::NoContent)
    }
}
