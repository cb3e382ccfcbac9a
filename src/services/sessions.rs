//! AI sessions: an agent (claude, codex, gemini, a shell or a configured command) running in a
//! real tmux session in the user's workspace. Each aiops user has their own tmux server
//! (socket `<data_dir>/tmux/u<id>/tmux.sock`, directory mode 0700), so users cannot see or touch
//! each other's sessions; tmux keeps running when aiops restarts, and the rows are checked
//! against tmux again at start.

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::IssueId;
use crate::domain::ProjectId;
use crate::domain::SessionId;
use crate::domain::agent_state::{AgentState, Patterns, detect_as, process_end, tool_kind};
use crate::domain::sessions::{
    can_resume, find_tool_session_id, program_of, resume_command, tmux_name,
};
use crate::domain::{AiSession, ExternalIssue, Scope, UserId};
use crate::error::{AppError, AppResult};
use crate::services::accounts::Accounts;
use crate::services::audit::Audit;
use crate::services::git::Git;
use crate::services::integrations::Trackers;
use crate::services::sandbox::Sandbox;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::tenancy::TenancyReads;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TMUX_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct StartRequest {
    pub tool: Option<String>,
    pub command: Option<String>,
    pub prompt: Option<String>,
    pub rows: Option<u16>,
    pub cols: Option<u16>,
    pub issue_id: Option<IssueId>,
    /// Start as this user instead of the caller (administrators only).
    pub as_user: Option<UserId>,
    /// The branch an issue session's worktree branch is made from (default: the project's
    /// default branch). Ignored when the issue's worktree exists already.
    pub base: Option<String>,
}

/// What to do with a session's worktree when it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorktreeChoice {
    /// Leave the worktree and its branch as they are.
    #[default]
    Keep,
    /// Remove the worktree (refused with uncommitted changes); the branch stays.
    Remove,
    /// Remove it even with uncommitted changes (they are lost).
    ForceRemove,
}

impl WorktreeChoice {
    /// `keep`, `remove` (with `force`: `ForceRemove`); anything else is refused.
    pub fn parse(word: Option<&str>, force: bool) -> AppResult<WorktreeChoice> {
        match word.map(str::trim).filter(|w| !w.is_empty()) {
            None | Some("keep") => Ok(WorktreeChoice::Keep),
            Some("remove") if force => Ok(WorktreeChoice::ForceRemove),
            Some("remove") => Ok(WorktreeChoice::Remove),
            Some(o) => Err(AppError::BadRequest(format!(
                "worktree must be keep or remove, not '{o}'"
            ))),
        }
    }
}

pub struct Started {
    pub session: AiSession,
    pub existing: bool,
    pub context_populated: bool,
}

/// A session with what tmux says about it now.
#[derive(Clone)]
pub struct LiveSession {
    pub session: AiSession,
    pub alive: bool,
    pub state: Option<AgentState>,
    /// The project's name (the session list shows it), when the project still exists.
    pub project_name: Option<String>,
    /// The issue's title, when the session works on an issue that still exists.
    pub issue_title: Option<String>,
    /// Since when the agent has been in `state`, as far as this server has seen it (the
    /// watcher's record, else first seen in that state; None for ended sessions).
    pub state_since: Option<crate::domain::Timestamp>,
}

/// What a web or API control did to a session, for the message shown next to it.
pub enum Control {
    Stopped,
    AlreadyExited,
    Restarted,
    Closed,
}

/// When each active session was first seen in its current state by a page or API look the
/// watcher had not answered yet (kept in memory: a restart forgets it, and "since" starts
/// again from the first look).
type Seen =
    std::sync::Mutex<std::collections::HashMap<SessionId, (AgentState, crate::domain::Timestamp)>>;

fn seen() -> &'static Seen {
    static S: std::sync::OnceLock<Seen> = std::sync::OnceLock::new();
    S.get_or_init(Default::default)
}

fn state_since(id: SessionId, state: Option<AgentState>) -> Option<crate::domain::Timestamp> {
    let mut map = seen().lock().unwrap_or_else(|p| p.into_inner());
    let Some(state) = state else {
        map.remove(&id);
        return None;
    };
    let e = map
        .entry(id)
        .or_insert_with(|| (state, crate::domain::model::now()));
    if e.0 != state {
        *e = (state, crate::domain::model::now());
    }
    Some(e.1)
}

struct TmuxOut {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// A user's tmux server: its socket, and the Linux account it runs as (through `sudo -n`)
/// when workspaces live in Linux users' homes.
#[derive(Debug, Clone)]
pub struct Tmux {
    pub sock: PathBuf,
    pub run_as: Option<String>,
}

impl Tmux {
    /// The tmux server and target of a stored session.
    pub fn of(s: &AiSession) -> Option<(Tmux, &str)> {
        let (Some(sock), Some(t)) = (&s.tmux_socket, &s.tmux_target) else {
            return None;
        };
        Some((
            Tmux {
                sock: PathBuf::from(sock),
                run_as: s.run_as.clone(),
            },
            t.as_str(),
        ))
    }

    /// The program and arguments that run `tmux -S <sock> <args…>` as the right user.
    pub fn argv(&self, args: &[&str]) -> (String, Vec<String>) {
        let mut v: Vec<String> = vec!["-S".into(), self.sock.display().to_string()];
        v.extend(args.iter().map(|a| a.to_string()));
        match &self.run_as {
            Some(u) => crate::services::sandbox::as_linux_user(
                u,
                &[],
                std::iter::once("tmux".to_string()).chain(v),
            ),
            None => ("tmux".to_string(), v),
        }
    }

    async fn run(&self, args: &[&str], input: Option<&[u8]>) -> AppResult<TmuxOut> {
        tmux(self, args, input).await
    }

    /// Type `text` (literally) into the pane at `target`, then Enter: the start prompt and a
    /// reviewer's comment. An error when the pane is gone.
    pub async fn type_line(&self, target: &str, text: &str) -> AppResult<()> {
        for args in [
            ["send-keys", "-t", target, "-l", text].as_slice(),
            ["send-keys", "-t", target, "Enter"].as_slice(),
        ] {
            let o = self.run(args, None).await?;
            if !o.ok {
                return Err(AppError::Conflict(format!(
                    "the agent's tmux session is not running ({})",
                    o.stderr
                )));
            }
        }
        Ok(())
    }

    /// Whether the pane at `target` is dead (its program ended; remain-on-exit keeps it);
    /// None when tmux has no such pane (the session is gone).
    pub async fn pane_dead(&self, target: &str) -> Option<bool> {
        let o = self
            .run(
                &["display-message", "-p", "-t", target, "#{pane_dead}"],
                None,
            )
            .await
            .ok()
            .filter(|o| o.ok)?;
        Some(o.stdout.trim() == "1")
    }

    /// One look at the pane at `target` for its agent's state, in one tmux call: the visible
    /// text, the window's bell flag, and whether the pane is dead with its exit status. None
    /// when tmux has no such pane.
    pub async fn look(&self, target: &str) -> Option<PaneLook> {
        let o = self
            .run(
                &[
                    "display-message",
                    "-p",
                    "-t",
                    target,
                    "#{pane_dead} #{window_bell_flag} #{pane_dead_status}",
                    ";",
                    "capture-pane",
                    "-p",
                    "-t",
                    target,
                ],
                None,
            )
            .await
            .ok()
            .filter(|o| o.ok)?;
        let (flags, pane) = o.stdout.split_once('\n').unwrap_or((&o.stdout, ""));
        let mut f = flags.split(' ');
        let dead = f.next() == Some("1");
        let bell = f.next() == Some("1");
        let status = f.next().unwrap_or("").trim().to_string();
        Some(PaneLook {
            pane: pane.to_string(),
            bell,
            dead,
            status,
        })
    }
}

/// What one look at a pane saw (see [`Tmux::look`]).
pub struct PaneLook {
    pub pane: String,
    pub bell: bool,
    pub dead: bool,
    /// The exit status of a dead pane's program (empty when tmux does not know it).
    pub status: String,
}

impl PaneLook {
    /// The state this look shows for a session, on its own (no earlier look: output counts as
    /// changing). The watcher, which remembers, is the better source.
    pub fn state(&self, s: &AiSession, patterns: &Patterns, changed: bool) -> AgentState {
        process_end(self.dead, &self.status).unwrap_or_else(|| {
            detect_as(
                tool_kind(&s.tool, s.command.as_deref()),
                &s.tool,
                &self.pane,
                self.bell,
                changed,
                patterns,
            )
        })
    }
}

async fn tmux(at: &Tmux, args: &[&str], input: Option<&[u8]>) -> AppResult<TmuxOut> {
    let (program, argv) = at.argv(args);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(argv);
    crate::services::git::runner::captured(&mut cmd, input.is_some());
    let mut child = cmd.spawn().map_err(|e| {
        AppError::Internal(format!(
            "cannot run tmux (is it installed? apt-get install tmux): {e}"
        ))
    })?;
    if let Some(data) = input {
        crate::services::git::runner::feed(&mut child, data)
            .await
            .map_err(|e| AppError::Internal(format!("cannot talk to tmux: {e}")))?;
    }
    let (out, _) = crate::services::git::runner::collect(child, TMUX_TIMEOUT, None)
        .await
        .map_err(|_| AppError::Upstream("tmux did not answer within 10s".into()))?
        .map_err(|e| AppError::Internal(format!("tmux failed: {e}")))?;
    Ok(TmuxOut {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Where `program` is: itself when it is a path to an executable file, else its place on PATH.
pub fn which(program: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        return executable(Path::new(program)).then(|| program.to_string());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| executable(p))
            .map(|p| p.display().to_string())
    })
}

/// Whether `program` can be run: a path to an executable file, or a name found on PATH.
fn program_exists(program: &str) -> bool {
    which(program).is_some()
}

/// Agent sessions in tmux, their terminal, their context files and the issue workflow.
pub struct Sessions {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    /// How processes on this machine (agents in tmux) reach this server; set once listening.
    pub self_url: std::sync::OnceLock<String>,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) git: Arc<Git>,
    pub(crate) audit: Arc<Audit>,
    pub(crate) trackers: Arc<Trackers>,
    /// Each live session's agent state as the watcher last saw it (`services::agent_watch`).
    pub(crate) agent_states: Arc<crate::services::agent_watch::States>,
}

impl Sessions {
    /// The URL an agent on this machine uses for the API (loopback when bound to all addresses).
    pub fn self_url(&self) -> String {
        self.self_url
            .get()
            .cloned()
            .unwrap_or_else(|| format!("http://{}", self.config.bind))
    }
}

impl Sessions {
    /// The configured agent tools, sorted, each with whether its program is installed (on
    /// PATH, or an executable path): what the web's tool pickers offer.
    pub fn agent_tools(&self) -> Vec<(String, bool)> {
        let mut tools: Vec<(String, bool)> = self
            .config
            .tools
            .iter()
            .map(|(name, cmd)| {
                let installed = program_of(cmd).is_some_and(program_exists);
                (name.clone(), installed)
            })
            .collect();
        tools.sort();
        tools
    }
}

/// The tmux socket of a Linux account: `~/.aiops/tmux.sock` in its home (directory made by
/// that account with mode 0700), so only it (and root) can reach its agents.
async fn linux_tmux_socket(user: &str) -> AppResult<PathBuf> {
    let home = super::git::linux_home(user)?;
    let dir = home.join(".aiops");
    let (program, argv) = crate::services::sandbox::as_linux_user(
        user,
        &[],
        ["mkdir", "-p", "-m", "700", "--"].map(String::from),
    );
    let out = tokio::process::Command::new(program)
        .args(argv)
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
    if !out.status.success() {
        return Err(AppError::Internal(format!(
            "cannot prepare {} as Linux user {user}: {}. Allow the aiops service user passwordless sudo to {user} (see README, Linux-user workspaces).",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(dir.join("tmux.sock"))
}

fn sh_quote(s: &str) -> String {
    crate::domain::ssh::sh_quote(s)
}

/// Whether the tmux server whose own pid is `pid` runs in this server's PID namespace, i.e.
/// outside any jail: inside a jail its pid is a small number that, seen from here, is not a tmux
/// process.
fn runs_outside_jail(pid: &str) -> bool {
    pid.parse::<u32>().is_ok_and(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .map(|c| c.starts_with("tmux"))
            .unwrap_or(false)
    })
}

/// A session is its user's (and admins'); a session key sees only its own project's.
fn session_visible(caller: &Identity, s: &AiSession) -> bool {
    (s.user_id == caller.id() || (caller.user.is_admin && caller.project_limit().is_none()))
        && caller.project_limit().is_none_or(|p| p == s.project_id)
}

impl Sessions {
    /// The tmux socket of an aiops user (its directory is created with mode 0700).
    pub fn tmux_socket(&self, user_id: UserId) -> AppResult<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.sandbox.tmux_dir(user_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        Ok(dir.join("tmux.sock"))
    }

    pub(crate) fn session_row(&self, caller: &Identity, key: &str) -> AppResult<AiSession> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let found: Option<AiSession> = match key.parse::<u64>() {
            Ok(id) => r.ai_session(id.into())?,
            Err(_) => {
                let rows: Vec<AiSession> = if caller.user.is_admin {
                    r.ai_sessions()?
                } else {
                    r.ai_sessions_of_user(caller.id())?
                };
                rows.into_iter().find(|s| s.session_id == key)
            }
        };
        // Another user's session is "not found", not "forbidden": its existence is private.
        found
            .filter(|s| session_visible(caller, s))
            .ok_or_else(|| AppError::NotFound(format!("Session {key} not found")))
    }

    /// Whether tmux (at `tm`) still has the named session.
    pub(crate) async fn tmux_has(&self, tm: &Tmux, name: &str) -> bool {
        tm.run(&["has-session", "-t", name], None)
            .await
            .map(|o| o.ok)
            .unwrap_or(false)
    }

    async fn alive(&self, s: &AiSession) -> bool {
        let Some((tm, t)) = Tmux::of(s) else {
            return false;
        };
        let name = t.split(':').next().unwrap_or(t);
        tm.run(&["has-session", "-t", name], None)
            .await
            .map(|o| o.ok)
            .unwrap_or(false)
    }

    /// Start an agent for a project (optionally for one of its issues). An active session for
    /// the same user, project and issue is reused instead of starting a second agent.
    pub async fn start_session(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        req: StartRequest,
    ) -> AppResult<Started> {
        caller.require(Scope::Write)?;
        if let Some(uid) = req.as_user.filter(|u| *u != caller.id()) {
            let user: crate::domain::User = {
                let r = self.store.read()?;
                r.get_user(uid)?
                    .ok_or_else(|| AppError::NotFound(format!("User {uid} not found")))?
            };
            let target = caller.acting_as(user)?;
            let email = target.user.email.clone();
            let req = StartRequest {
                as_user: None,
                ..req
            };
            return match Box::pin(self.start_session(&target, project_id, req)).await {
                Err(AppError::NotFound(m)) if m.starts_with("Project") => {
                    Err(AppError::Forbidden(format!(
                        "{email} cannot work in project {project_id}; add them as a developer first \
                         (aiops projects members add {project_id} {email} --role developer)"
                    )))
                }
                other => other,
            };
        }
        let ws = self.git.workspace(caller, project_id)?;
        let mut issue_title = None;
        if let Some(issue_id) = req.issue_id {
            let r = self.store.read()?;
            let issue: ExternalIssue = r
                .get_issue(issue_id)?
                .ok_or_else(|| AppError::NotFound(format!("Issue {issue_id} not found")))?;
            if issue.project_id != project_id {
                return Err(AppError::BadRequest(format!(
                    "Issue {issue_id} belongs to project {}, not {project_id}",
                    issue.project_id
                )));
            }
            issue_title = Some(issue.title.clone());
            let mine: Vec<AiSession> = r.ai_sessions_of_user(caller.id())?;
            drop(r);
            for s in mine.into_iter().filter(|s| {
                s.is_active && s.project_id == project_id && s.issue_id == Some(issue_id)
            }) {
                if self.alive(&s).await {
                    return Ok(Started {
                        session: s,
                        existing: true,
                        context_populated: false,
                    });
                }
                self.end_row(s.id, "tmux session gone")?;
            }
        }
        let tool = req
            .tool
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(if req.command.is_some() {
                "custom"
            } else {
                "claude"
            })
            .to_string();
        let command = match req
            .command
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(c) => c.to_string(),
            None => self.config.tools.get(&tool).cloned().ok_or_else(|| {
                AppError::BadRequest(format!(
                    "Unsupported AI tool '{tool}'. Configured tools: {}",
                    self.config
                        .tools
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        };
        let program = program_of(&command).unwrap_or_default().to_string();
        if !program_exists(&program) {
            return Err(AppError::BadRequest(format!(
                "Agent tool '{tool}' runs `{program}`, which is not installed on this server (not found on PATH). Install it or configure another command for '{tool}' (AIOPS_TOOLS)."
            )));
        }
        if !ws.path.join(".git").exists() {
            self.git.workspace_init(caller, project_id).await?;
        }
        // An issue session works in its own worktree, on its own branch.
        let worktree = match (req.issue_id, issue_title.as_deref()) {
            (Some(issue_id), Some(title)) => Some(
                self.git
                    .issue_worktree(caller, project_id, issue_id, title, req.base.as_deref())
                    .await?,
            ),
            _ => None,
        };
        let ws = match &worktree {
            Some(wt) => {
                // The worktree shares the workspace's `info/exclude`: keep the context file
                // out of commits there first.
                if let Err(e) = ws.exclude(crate::domain::context::FILE_NAME).await {
                    tracing::warn!(project = project_id.get(), error = %e, "context file not excluded");
                }
                ws.at(wt.path.clone())
            }
            None => ws,
        };
        // The agent reads its instructions first: a failure here is logged, not fatal.
        let context_populated = match self.write_agent_context(caller, &ws, req.issue_id).await {
            Ok(w) => w.issue,
            Err(e) => {
                tracing::warn!(project = project_id.get(), error = %e, "agent context file not written");
                false
            }
        };
        let sock = match &ws.run_as {
            Some(u) => linux_tmux_socket(u).await?,
            None => self.tmux_socket(caller.id())?,
        };

        // The row first: its id names the tmux session and the agent's API key.
        let now = crate::domain::model::now();
        let mut session = {
            let w = self.store.write()?;
            let id = w.new_ai_session_id()?;
            let s = AiSession {
                id,
                project_id,
                user_id: caller.id(),
                issue_id: req.issue_id,
                tool: tool.clone(),
                session_id: hex::encode(rand::random::<[u8; 16]>()),
                command: Some(command.clone()),
                description: None,
                tmux_target: Some(format!("{}:0", tmux_name(id.get()))),
                started_at: now,
                ended_at: None,
                is_active: true,
                api_key_id: None,
                tmux_socket: Some(sock.display().to_string()),
                run_as: ws.run_as.clone(),
                workspace_path: Some(ws.path.display().to_string()),
                end_reason: None,
                tool_session_id: None,
                branch: worktree.as_ref().map(|w| w.branch.clone()),
                base: worktree.as_ref().map(|w| w.base.clone()),
                pull_request: None,
            };
            w.put_ai_session(&s)?;
            w.commit()?;
            s
        };
        match self.launch(&mut session, &ws.path, &req).await {
            Ok(()) => Ok(Started {
                session,
                existing: false,
                context_populated,
            }),
            Err(e) => {
                let _ = self.end_row(session.id, "did not start");
                Err(e)
            }
        }
    }

    /// Make the agent's key and start (or restart) its tmux session.
    async fn launch(&self, s: &mut AiSession, dir: &Path, req: &StartRequest) -> AppResult<()> {
        let tm = Tmux {
            sock: PathBuf::from(s.tmux_socket.clone().unwrap_or_default()),
            run_as: s.run_as.clone(),
        };
        let name = tmux_name(s.id.get());
        let (key, raw) = self.accounts.insert_key(
            s.user_id,
            &format!("session {} ({})", s.id, s.tool),
            vec![Scope::Read, Scope::Write],
            Some(30),
            Some(s.project_id),
        )?;
        if let Some(old) = s.api_key_id.replace(key.id) {
            self.accounts.revoke_key_internal(old)?;
        }
        self.save_session(s)?;
        let buffer = format!("aiops-key-{}", s.id);
        // The key reaches the agent through a tmux paste buffer (loaded from stdin, read once
        // and deleted by the pane), never through a command line or a file.
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // tmux takes PATH from its client, not from -e, so the wrapper puts this binary's
        // directory first itself (the agent runs `aiops …`).
        let exports: String = [
            ("AIOPS_URL", self.self_url()),
            ("AIOPS_PROJECT_ID", s.project_id.to_string()),
            ("AIOPS_SESSION_ID", s.session_id.clone()),
            (
                "AIOPS_ISSUE_ID",
                s.issue_id.map(|i| i.to_string()).unwrap_or_default(),
            ),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}; export {k}; ", sh_quote(v)))
        .collect();
        let wrapper = format!(
            "{exports}PATH={dir}:$PATH; export PATH; \
             n=0; while ! k=$(tmux show-buffer -b {b} 2>/dev/null); do n=$((n+1)); \
             if [ $n -ge 200 ]; then echo 'aiops: the API key never arrived; stop this session and start it again' >&2; exit 1; fi; \
             sleep 0.05; done; \
             tmux delete-buffer -b {b}; AIOPS_API_KEY=$k; export AIOPS_API_KEY; unset k; exec {cmd}",
            dir = sh_quote(&exe_dir),
            b = buffer,
            cmd = s.command.clone().unwrap_or_default()
        );
        self.ensure_tmux_server(&tm, s.user_id).await?;
        let exists = self.alive(s).await;
        let shell_cmd = format!("sh -c {}", sh_quote(&wrapper));
        let out = if exists {
            tm.run(
                &["respawn-pane", "-k", "-t", &format!("{name}:0"), &shell_cmd],
                None,
            )
            .await?
        } else {
            let cols = req.cols.unwrap_or(200).clamp(20, 1000).to_string();
            let rows = req.rows.unwrap_or(50).clamp(5, 500).to_string();
            let mut args: Vec<String> = vec![
                "new-session".into(),
                "-d".into(),
                "-s".into(),
                name.clone(),
                "-x".into(),
                cols,
                "-y".into(),
                rows,
                "-c".into(),
                dir.display().to_string(),
            ];
            args.push(shell_cmd);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            tm.run(&refs, None).await?
        };
        if !out.ok {
            return Err(AppError::Internal(format!(
                "tmux could not start the session: {}",
                out.stderr
            )));
        }
        let _ = tm
            .run(&["set-option", "-t", &name, "remain-on-exit", "on"], None)
            .await;
        let loaded = tm
            .run(&["load-buffer", "-b", &buffer, "-"], Some(raw.as_bytes()))
            .await?;
        if !loaded.ok {
            // The pane gives up waiting on its own; end it now so nothing lingers.
            let _ = tm.run(&["kill-session", "-t", &name], None).await;
            return Err(AppError::Internal(format!(
                "cannot hand the API key to the session: {}",
                loaded.stderr
            )));
        }
        if let Some(p) = req.prompt.as_deref().filter(|p| !p.trim().is_empty()) {
            tm.type_line(&format!("{name}:0"), p).await?;
        }
        tracing::info!(session = s.id.get(), user = s.user_id.get(), tool = %s.tool, "ai session started");
        Ok(())
    }

    /// With the sandbox on, the user's tmux server runs inside the user's jail (started here,
    /// detached, so it outlives a server restart), so every pane's process is jailed. A server
    /// found running outside the jail (started while the sandbox was off) is stopped first.
    async fn ensure_tmux_server(&self, tm: &Tmux, user_id: UserId) -> AppResult<()> {
        let user: crate::domain::User = {
            let r = self.store.read()?;
            r.get_user(user_id)?
                .ok_or_else(|| AppError::NotFound(format!("User {user_id} not found")))?
        };
        let Some(jail) = self.sandbox.jail_for(&user)? else {
            return Ok(());
        };
        if tm.run(&["list-sessions"], None).await?.ok {
            let pid = tm
                .run(&["display-message", "-p", "#{pid}"], None)
                .await?
                .stdout
                .trim()
                .to_string();
            if !runs_outside_jail(&pid) {
                return Ok(());
            }
            tracing::warn!(
                user = user_id.get(),
                "tmux server found outside the sandbox: stopping it"
            );
            let _ = tm.run(&["kill-server"], None).await;
        }
        // The agent programs the admin configured may live in hidden places (tests keep them
        // in temporary directories): they are mounted read-only.
        let programs: Vec<PathBuf> = self
            .config
            .tools
            .values()
            .filter_map(|c| program_of(c).and_then(which))
            .map(PathBuf::from)
            .collect();
        let tmux_cmd: Vec<String> = ["tmux", "-S"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                tm.sock.display().to_string(),
                "-D".into(),
                "-f".into(),
                "/dev/null".into(),
            ])
            .collect();
        let (program, args) = jail.argv(&tmux_cmd, Some(&jail.home), false, &[], &programs);
        let spawned = tokio::process::Command::new("setsid")
            .arg("-f")
            .arg(&program)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .map_err(|e| {
                AppError::Internal(format!("cannot start the sandboxed tmux server: {e}"))
            })?;
        if !spawned.success() {
            return Err(AppError::Internal(format!(
                "the sandboxed tmux server did not start ({program} exited with {spawned}); check that bubblewrap works: bwrap --ro-bind / / true"
            )));
        }
        for _ in 0..100 {
            if tm.run(&["list-sessions"], None).await?.ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(AppError::Internal(
            "the sandboxed tmux server did not come up within 5 s; see the server log and check that bubblewrap works (bwrap --ro-bind / / true)".into(),
        ))
    }

    fn save_session(&self, s: &AiSession) -> AppResult<()> {
        let w = self.store.write()?;
        w.put_ai_session(s)?;
        w.commit()?;
        Ok(())
    }

    fn end_row(&self, id: SessionId, reason: &str) -> AppResult<()> {
        let w = self.store.write()?;
        let key = if let Some(mut s) = w.ai_session(id)? {
            if s.is_active || s.end_reason.is_none() {
                s.end_reason = Some(reason.to_string());
            }
            s.is_active = false;
            s.ended_at.get_or_insert_with(crate::domain::model::now);
            let k = s.api_key_id.take();
            w.put_ai_session(&s)?;
            k
        } else {
            None
        };
        w.commit()?;
        if let Some(k) = key {
            self.accounts.revoke_key_internal(k)?;
        }
        Ok(())
    }

    /// Sessions from the store, newest first (the caller's; all users' for admins asking).
    pub fn list_sessions(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
        active_only: bool,
        all_users: bool,
        limit: usize,
    ) -> AppResult<Vec<AiSession>> {
        caller.require(Scope::Read)?;
        if all_users && !caller.user.is_admin {
            return Err(AppError::Forbidden(
                "Admin access required to view all users' sessions.".into(),
            ));
        }
        let r = self.store.read()?;
        let mut rows: Vec<AiSession> = if all_users {
            r.ai_sessions()?
        } else {
            r.ai_sessions_of_user(caller.id())?
        };
        rows.retain(|s| {
            session_visible(caller, s)
                && project_id.is_none_or(|p| s.project_id == p)
                && (!active_only || s.is_active)
        });
        rows.sort_by_key(|s| std::cmp::Reverse(s.id));
        rows.truncate(limit.clamp(1, 500));
        Ok(rows)
    }

    /// The caller's active sessions with their live state.
    pub async fn live_sessions(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
        all_users: bool,
    ) -> AppResult<Vec<LiveSession>> {
        self.session_overview(caller, project_id, true, all_users, 500)
            .await
    }

    /// Sessions as `list_sessions` selects them, with their project's name and, for active
    /// ones, what tmux says about them now (ended sessions are not asked).
    pub async fn session_overview(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
        active_only: bool,
        all_users: bool,
        limit: usize,
    ) -> AppResult<Vec<LiveSession>> {
        let rows = self.list_sessions(caller, project_id, active_only, all_users, limit)?;
        self.overview_of(rows).await
    }

    /// Project names and issue titles for session rows, and tmux's view of the active ones.
    async fn overview_of(&self, rows: Vec<AiSession>) -> AppResult<Vec<LiveSession>> {
        let (names, titles) = {
            let r = self.store.read()?;
            let mut names: std::collections::HashMap<ProjectId, String> = Default::default();
            let mut titles: std::collections::HashMap<IssueId, String> = Default::default();
            for s in &rows {
                if !names.contains_key(&s.project_id)
                    && let Some(p) = r.get_project(s.project_id)?
                {
                    names.insert(p.id, p.name);
                }
                if let Some(i) = s.issue_id
                    && !titles.contains_key(&i)
                    && let Some(issue) = r.get_issue(i)?
                {
                    titles.insert(i, issue.title);
                }
            }
            (names, titles)
        };
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let (state, since) = if s.is_active {
                self.agent_state(&s).await
            } else {
                (None, None)
            };
            out.push(LiveSession {
                alive: state.is_some(),
                state,
                project_name: names.get(&s.project_id).cloned(),
                issue_title: s.issue_id.and_then(|i| titles.get(&i).cloned()),
                state_since: since,
                session: s,
            });
        }
        Ok(out)
    }

    /// One session (owner or admin; 404 otherwise) with its project name, issue title and,
    /// while active, its state.
    pub async fn session_view(&self, caller: &Identity, key: &str) -> AppResult<LiveSession> {
        let s = self.session_row(caller, key)?;
        self.overview_of(vec![s])
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("Session {key} not found")))
    }

    /// The caller's ended sessions, newest first (all users' for admins asking), with project
    /// names and issue titles.
    pub async fn session_history(
        &self,
        caller: &Identity,
        all_users: bool,
        limit: usize,
    ) -> AppResult<Vec<LiveSession>> {
        let mut rows = self.list_sessions(caller, None, false, all_users, 500)?;
        rows.retain(|s| !s.is_active);
        rows.sort_by_key(|s| std::cmp::Reverse((s.ended_at.unwrap_or(s.started_at), s.id)));
        rows.truncate(limit.clamp(1, 500));
        self.overview_of(rows).await
    }

    /// An active session's agent state and since when: the watcher's latest look when it has
    /// one (no tmux call), else one look now. None when tmux no longer has the session.
    async fn agent_state(
        &self,
        s: &AiSession,
    ) -> (Option<AgentState>, Option<crate::domain::Timestamp>) {
        if let Some(seen) = self.agent_states.get(s.id) {
            return (Some(seen.state), Some(seen.since));
        }
        let state = self.pane_state(s).await;
        (state, state_since(s.id, state))
    }

    async fn pane_state(&self, s: &AiSession) -> Option<AgentState> {
        if let Some(seen) = self.agent_states.get(s.id) {
            return Some(seen.state);
        }
        let (tm, t) = Tmux::of(s)?;
        let look = tm.look(t).await?;
        Some(look.state(s, &self.agent_states.patterns, true))
    }

    /// The visible pane (and `lines` of scrollback) and the agent's state.
    pub async fn session_output(
        &self,
        caller: &Identity,
        key: &str,
        lines: u32,
    ) -> AppResult<(AiSession, String, Option<AgentState>)> {
        let s = self.session_row(caller, key)?;
        let Some((tm, t)) = Tmux::of(&s) else {
            return Ok((s, String::new(), None));
        };
        let start = format!("-{}", lines.min(10_000));
        let o = tm
            .run(&["capture-pane", "-p", "-J", "-t", t, "-S", &start], None)
            .await?;
        if !o.ok {
            return Err(AppError::NotFound(format!(
                "Session {key} is no longer running in tmux"
            )));
        }
        let state = self.pane_state(&s).await;
        Ok((s, o.stdout, state))
    }

    /// Type into the session (the text as given; a trailing newline presses Enter).
    pub async fn send_input(&self, caller: &Identity, key: &str, data: &str) -> AppResult<()> {
        caller.require(Scope::Write)?;
        if data.is_empty() {
            return Err(AppError::BadRequest(
                "data must be a non-empty string.".into(),
            ));
        }
        let s = self.session_row(caller, key)?;
        let Some((tm, t)) = Tmux::of(&s) else {
            return Err(AppError::NotFound(format!(
                "Session {key} has no tmux target"
            )));
        };
        let mut parts = data.split('\n').peekable();
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                let o = tm.run(&["send-keys", "-t", t, "-l", part], None).await?;
                if !o.ok {
                    return Err(AppError::NotFound(format!(
                        "Session {key} is no longer running: {}",
                        o.stderr
                    )));
                }
            }
            if parts.peek().is_some() {
                tm.run(&["send-keys", "-t", t, "Enter"], None).await?;
            }
        }
        Ok(())
    }

    /// Stop the agent: kill its tmux session, end the row, revoke its key. A session in a
    /// worktree keeps it unless `worktree` says remove; the removal is checked first (an
    /// uncommitted change refuses a plain remove before anything is stopped).
    pub async fn stop_session(
        &self,
        caller: &Identity,
        key: &str,
        worktree: WorktreeChoice,
    ) -> AppResult<AiSession> {
        caller.require(Scope::Write)?;
        let s = self.session_row(caller, key)?;
        let wt_path = s
            .branch
            .as_ref()
            .and(s.workspace_path.as_deref())
            .map(PathBuf::from);
        if worktree != WorktreeChoice::Keep && wt_path.is_none() {
            return Err(AppError::BadRequest(format!(
                "Session {} has no worktree to remove (it works in the workspace itself); close it with worktree=keep",
                s.id
            )));
        }
        let mut reason = "closed";
        if let (Some(path), true) = (&wt_path, worktree != WorktreeChoice::Keep) {
            // As the session's owner (the worktree is in their workspace), before the agent is
            // stopped: a refused removal leaves the session running.
            let owner = self.owner_identity(caller, &s)?;
            self.git
                .remove_worktree(
                    &owner,
                    s.project_id,
                    path,
                    worktree == WorktreeChoice::ForceRemove,
                )
                .await?;
            reason = "closed, worktree removed";
        }
        if let Some((tm, t)) = Tmux::of(&s) {
            if s.is_active && tm.pane_dead(t).await == Some(true) {
                reason = "agent exited, then closed";
            }
            self.remember_tool_session(&s, &tm, t).await;
            let name = t.split(':').next().unwrap_or(t);
            let _ = tm.run(&["kill-session", "-t", name], None).await;
        }
        self.end_row(s.id, reason)?;
        tracing::info!(
            session = s.id.get(),
            by = caller.id().get(),
            "ai session stopped"
        );
        let r = self.store.read()?;
        r.ai_session(s.id)?
            .ok_or_else(|| AppError::NotFound("session vanished".into()))
    }

    /// The identity a session's own git work runs as: the caller when it is theirs, else an
    /// administrator acting as its owner (only administrators see others' sessions).
    pub(crate) fn owner_identity(&self, caller: &Identity, s: &AiSession) -> AppResult<Identity> {
        if s.user_id == caller.id() {
            return Ok(caller.clone());
        }
        let user: crate::domain::User = {
            let r = self.store.read()?;
            r.get_user(s.user_id)?
                .ok_or_else(|| AppError::NotFound(format!("User {} not found", s.user_id)))?
        };
        caller.acting_as(user)
    }

    /// Keep the tool's own conversation id from its pane (Codex and Claude print one when they
    /// end), so the session can be resumed later. Best effort: nothing found, nothing kept.
    async fn remember_tool_session(&self, s: &AiSession, tm: &Tmux, target: &str) {
        if !can_resume(&s.tool) {
            return;
        }
        let out = match tm
            .run(
                &["capture-pane", "-p", "-J", "-t", target, "-S", "-2000"],
                None,
            )
            .await
        {
            Ok(o) if o.ok => o.stdout,
            _ => return,
        };
        let Some(id) = find_tool_session_id(&out) else {
            return;
        };
        let saved = (|| -> AppResult<()> {
            let w = self.store.write()?;
            if let Some(mut row) = w.ai_session(s.id)? {
                row.tool_session_id = Some(id);
                w.put_ai_session(&row)?;
            }
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = saved {
            tracing::warn!(session = s.id.get(), error = %e, "tool session id not kept");
        }
    }

    /// Start a new session that resumes an ended one's conversation (`claude --resume <id>`,
    /// `codex resume <id>`, or the tool's most recent conversation in the workspace when it
    /// printed no id), as its owner, in the same project and issue. Also answers the project's
    /// name (for the message).
    pub async fn resume_session(
        &self,
        caller: &Identity,
        key: &str,
    ) -> AppResult<(Started, String)> {
        caller.require(Scope::Write)?;
        let s = self.session_row(caller, key)?;
        if s.is_active && self.alive(&s).await {
            return Err(AppError::Conflict(format!(
                "Session {} is still running; open its terminal, or Restart it if its agent exited",
                s.id
            )));
        }
        let base = self
            .config
            .tools
            .get(&s.tool)
            .cloned()
            .or_else(|| s.command.clone())
            .unwrap_or_else(|| s.tool.clone());
        let command = resume_command(&s.tool, &base, s.tool_session_id.as_deref()).ok_or_else(|| {
            AppError::BadRequest(format!(
                "{} sessions cannot be resumed from the command line (only claude and codex can); use Start again",
                s.tool
            ))
        })?;
        if s.is_active {
            self.end_row(s.id, "resumed in a new session")?;
        }
        let started = self
            .start_session(
                caller,
                s.project_id,
                StartRequest {
                    tool: Some(s.tool.clone()),
                    command: Some(command),
                    issue_id: s.issue_id,
                    // An issue session comes back in the issue's worktree (kept, or made again
                    // on the same branch), from the same base.
                    base: s.base.clone(),
                    as_user: Some(s.user_id),
                    ..Default::default()
                },
            )
            .await?;
        let r = self.store.read()?;
        let project = r
            .get_project(s.project_id)?
            .map(|p| p.name)
            .unwrap_or_else(|| format!("#{}", s.project_id));
        Ok((started, project))
    }

    /// Run the session's command again in the same tmux window (a new key replaces the old).
    pub async fn respawn_session(&self, caller: &Identity, key: &str) -> AppResult<AiSession> {
        caller.require(Scope::Write)?;
        let mut s = self.session_row(caller, key)?;
        let dir = PathBuf::from(s.workspace_path.clone().unwrap_or_default());
        if !dir.is_dir() {
            return Err(AppError::BadRequest(format!(
                "The workspace {} is gone; start a new session",
                dir.display()
            )));
        }
        s.is_active = true;
        s.ended_at = None;
        s.end_reason = None;
        self.launch(&mut s, &dir, &StartRequest::default()).await?;
        self.save_session(&s)?;
        self.agent_states.mark_stale(s.id);
        Ok(s)
    }

    /// Kill the agent's program but keep its tmux session (the pane stays, dead, with the
    /// agent's last output) and the row active, so it can be restarted or closed; the agent's
    /// key is revoked. The signal is sent by the user's own tmux server (`run-shell`), which
    /// runs in the same jail (PID namespace) as the pane: hang-up first, then kill.
    pub async fn kill_agent(&self, caller: &Identity, key: &str) -> AppResult<Control> {
        caller.require(Scope::Write)?;
        let s = self.session_row(caller, key)?;
        let gone = || {
            AppError::Conflict(format!(
                "Session {} has already ended; start it again from the session history",
                s.id
            ))
        };
        let (tm, t) = Tmux::of(&s).ok_or_else(gone)?;
        if !s.is_active {
            return Err(gone());
        }
        match tm.pane_dead(t).await {
            None => return Err(gone()),
            Some(true) => return Ok(Control::AlreadyExited),
            Some(false) => {}
        }
        for signal in ["HUP", "TERM", "KILL"] {
            let cmd = format!("kill -{signal} #{{pane_pid}} 2>/dev/null; true");
            tm.run(&["run-shell", "-t", t, &cmd], None).await?;
            for _ in 0..30 {
                if tm.pane_dead(t).await != Some(false) {
                    self.agent_states.mark_stale(s.id);
                    self.revoke_session_key(s.id)?;
                    tracing::info!(
                        session = s.id.get(),
                        by = caller.id().get(),
                        signal,
                        "agent stopped"
                    );
                    return Ok(Control::Stopped);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Err(AppError::Upstream(format!(
            "The agent of session {} did not stop, even on SIGKILL; close the session instead",
            s.id
        )))
    }

    fn revoke_session_key(&self, id: SessionId) -> AppResult<()> {
        let w = self.store.write()?;
        let key = match w.ai_session(id)? {
            Some(mut s) => {
                let k = s.api_key_id.take();
                w.put_ai_session(&s)?;
                k
            }
            None => None,
        };
        w.commit()?;
        if let Some(k) = key {
            self.accounts.revoke_key_internal(k)?;
        }
        Ok(())
    }

    /// The web's agent controls: `stop` (kill the agent, keep the session), `restart` (run
    /// its command again), `close` (stop and end it: it leaves the active list for the
    /// history; a worktree is kept), `close-remove` (close and remove its worktree).
    pub async fn control_session(
        &self,
        caller: &Identity,
        key: &str,
        action: &str,
    ) -> AppResult<(AiSession, Control)> {
        let done = match action {
            "stop" => self.kill_agent(caller, key).await?,
            "restart" => {
                self.respawn_session(caller, key).await?;
                Control::Restarted
            }
            "close" => {
                self.stop_session(caller, key, WorktreeChoice::Keep).await?;
                Control::Closed
            }
            "close-remove" => {
                self.stop_session(caller, key, WorktreeChoice::Remove)
                    .await?;
                Control::Closed
            }
            other => {
                return Err(AppError::NotFound(format!(
                    "No session action '{other}' (stop, restart or close)"
                )));
            }
        };
        Ok((self.session_row(caller, key)?, done))
    }

    /// Start a new session with an ended one's tool, project and issue (for its owner; an
    /// admin starting another user's again starts it as that user).
    pub async fn start_again(&self, caller: &Identity, key: &str) -> AppResult<Started> {
        caller.require(Scope::Write)?;
        let s = self.session_row(caller, key)?;
        let configured = self.config.tools.contains_key(&s.tool);
        self.start_session(
            caller,
            s.project_id,
            StartRequest {
                tool: Some(s.tool.clone()),
                command: if configured { None } else { s.command.clone() },
                issue_id: s.issue_id,
                as_user: Some(s.user_id),
                ..Default::default()
            },
        )
        .await
    }

    /// Whether the session still exists in tmux; a vanished one is marked inactive.
    pub async fn validate_session(&self, caller: &Identity, key: &str) -> AppResult<(bool, bool)> {
        let s = self.session_row(caller, key)?;
        if self.alive(&s).await {
            return Ok((true, false));
        }
        let marked = s.is_active;
        if marked {
            self.end_row(s.id, "tmux session gone")?;
        }
        Ok((false, marked))
    }

    /// At start: sessions whose tmux session survived are kept, the others are ended.
    pub async fn rediscover_sessions(&self) -> AppResult<(usize, usize)> {
        let rows: Vec<AiSession> = {
            let r = self.store.read()?;
            r.ai_sessions()?
        };
        let (mut kept, mut ended) = (0, 0);
        for s in rows.into_iter().filter(|s| s.is_active) {
            if self.alive(&s).await {
                kept += 1;
            } else {
                self.end_row(s.id, "tmux session gone (found at server start)")?;
                ended += 1;
            }
        }
        Ok((kept, ended))
    }
}
