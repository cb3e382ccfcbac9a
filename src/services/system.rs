//! System administration (admins): status, recent logs, self-update from a release file or URL
//! with checksum verification, and a graceful restart that re-executes the binary.

use super::scheduler::JobInfo;
use crate::auth::Identity;
use crate::config::Config;
use crate::domain::{AiSession, TenantIntegration};
use crate::error::{AppError, AppResult};
use crate::services::sandbox::Sandbox;
use crate::services::scheduler::JobBoard;
use crate::store::Store;
use crate::store::integrations::IntegrationReads;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const LOG_FILE_PREFIX: &str = "aiops";

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub healthy: bool,
    pub message: String,
    pub details: Value,
}

pub struct Status {
    pub healthy: bool,
    pub components: Vec<(String, Component)>,
    pub uptime_seconds: i64,
    pub data_dir: PathBuf,
    pub data_dir_bytes: u64,
    /// When the slow checks (tool versions, data dir size) last ran.
    pub checked_at: DateTime<Utc>,
    /// What needs attention, each in words with what to do (empty: nothing).
    pub attention: Vec<String>,
}

/// The results of the slow status checks, kept between their runs.
#[derive(Debug, Clone)]
pub struct Probes {
    pub checked_at: DateTime<Utc>,
    pub took_ms: u64,
    pub bwrap: Option<String>,
    pub tmux: Option<String>,
    pub git: Option<String>,
    pub ansible: Option<String>,
    pub tools: Vec<ToolProbe>,
    pub workspace_count: usize,
    pub data_dir_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ToolProbe {
    pub name: String,
    pub command: String,
    /// Where it was found on PATH; None: not installed.
    pub path: Option<String>,
}

/// A status component as people name it (the API keeps the keys).
pub fn component_title(key: &str) -> &str {
    match key {
        "database" => "Database",
        "sandbox" => "Agent sandbox",
        "tmux" => "tmux",
        "git" => "git",
        "ansible" => "Ansible",
        "ai_tools" => "Agent tools",
        "workspaces" => "Workspaces",
        "integrations" => "Integrations",
        "sessions" => "AI sessions",
        "scheduler" => "Scheduler",
        other => other,
    }
}

/// What needs attention, each item in words with what to do: every unhealthy component
/// (agent tools one by one: `missing_tools`), and every scheduled job whose last run failed.
pub fn attention_items(
    components: &[(String, Component)],
    missing_tools: &[&str],
    jobs: &[JobInfo],
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, c) in components.iter().filter(|(_, c)| !c.healthy) {
        match key.as_str() {
            "ai_tools" if !missing_tools.is_empty() => {
                for t in missing_tools {
                    out.push(format!(
                        "Agent tool {t} is not installed — install it on this server, or remove it from the tool list ([tools] in aiops.toml, AIOPS_TOOLS)"
                    ));
                }
            }
            "sandbox" => out.push(match c.message.strip_prefix("OFF: ") {
                Some(rest) => format!("The agent sandbox is off: {rest}"),
                None => format!("The agent sandbox {}", c.message),
            }),
            _ => out.push(format!("{}: {}", component_title(key), c.message)),
        }
    }
    for j in jobs.iter().filter(|j| j.failures > 0) {
        let why = j
            .last_result
            .as_deref()
            .map(|r| r.strip_prefix("failed: ").unwrap_or(r))
            .unwrap_or("no message");
        let times = if j.failures == 1 {
            "failed".to_string()
        } else {
            format!("failed {} times in a row", j.failures)
        };
        let todo = match j.key.split(':').next().unwrap_or_default() {
            "sync" => "check the integration's token and links (Integrations) and the logs",
            "ansible" => "open its last run on the Ansible page",
            "backup" => "check the free disk space and the logs",
            _ => "see the logs",
        };
        out.push(format!("{} {times}: {why} — {todo}", j.name));
    }
    out
}

pub struct LogTail {
    pub path: PathBuf,
    pub lines: Vec<String>,
    pub truncated: bool,
}

pub struct Updated {
    pub previous_version: String,
    pub new_version: String,
    pub path: PathBuf,
    /// Where the release came from (the source, or the channel's resolved URL).
    pub source: String,
    /// The channel's manifest version, when the release came from the channel.
    pub channel_version: Option<String>,
    /// What each step did, in the original's `{success, stdout, stderr}` form.
    pub steps: Vec<(&'static str, Step)>,
}

/// One step of an update, as the original reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Step {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub skipped: bool,
    pub message: Option<String>,
}

pub use crate::domain::release::{Manifest, file_path, is_http, parse_manifest};

/// Project workspaces under the root: `<root>/<user>/<tenant>/<project>` directories.
fn count_workspaces(root: &Path) -> usize {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    dirs(root)
        .iter()
        .flat_map(|u| dirs(u))
        .map(|t| dirs(&t).len())
        .sum()
}

/// The path this binary was started from. After an update replaced it, Linux names the
/// running (now unlinked) file `<path> (deleted)`: the installed binary is at `<path>`.
fn installed_exe() -> AppResult<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| AppError::Internal(format!("cannot locate this binary: {e}")))?;
    Ok(
        match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
            Some(p) => PathBuf::from(p),
            None => exe,
        },
    )
}

/// What `POST /system/ai-tools/{tool}/update` ran and how it ended.
#[derive(Debug, Clone)]
pub struct ToolUpdate {
    pub tool: String,
    pub tool_label: String,
    pub source: String,
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    pub returncode: i32,
    pub success: bool,
    pub message: String,
}

/// The most output bytes of a tool update kept per stream.
const TOOL_OUTPUT_CAP: usize = 64 << 10;

/// Environment variables a tool update command keeps (everything else, secrets included, is
/// dropped).
const TOOL_ENV_KEEP: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "NPM_CONFIG_PREFIX",
    "HOMEBREW_PREFIX",
];

/// Check an agent tool update request: the tool's label, the source, and the argv to run.
/// Errors are (404 or 400, message) as the original words them.
pub fn tool_update_plan(
    tool: &str,
    source: Option<&str>,
    commands: &std::collections::BTreeMap<String, String>,
) -> Result<(&'static str, String, Vec<String>), AppError> {
    let Some(label) = crate::config::AI_TOOLS
        .iter()
        .find(|(n, _)| *n == tool)
        .map(|(_, l)| *l)
    else {
        return Err(AppError::NotFound(format!("Unsupported AI tool '{tool}'.")));
    };
    let source = source
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let Some(source) = source else {
        return Err(AppError::BadRequest(
            "source is required (npm or brew)".into(),
        ));
    };
    if !crate::config::AI_TOOL_SOURCES.contains(&source.as_str()) {
        return Err(AppError::BadRequest(
            "Unsupported source. Use one of: npm, brew.".into(),
        ));
    }
    let argv: Vec<String> = commands
        .get(&format!("{tool}.{source}"))
        .map(|c| c.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if argv.is_empty() {
        return Err(AppError::BadRequest(format!(
            "No {source} update command is configured for {label}: set ai_tool_update_commands ({tool}.{source}=…)"
        )));
    }
    Ok((label, source, argv))
}

/// A configured tool's own update command (`ai_tool_update_commands` keyed by the bare tool
/// name), used when no npm/brew source is asked for: (label, "command", argv).
fn own_update_plan(
    config: &Config,
    tool: &str,
    source: Option<&str>,
) -> Option<(String, String, Vec<String>)> {
    let no_source = source.is_none_or(|s| s.trim().is_empty() || s.trim() == "command");
    let known =
        config.tools.contains_key(tool) || crate::config::AI_TOOLS.iter().any(|(n, _)| *n == tool);
    if !no_source || !known {
        return None;
    }
    let argv: Vec<String> = config
        .ai_tool_update_commands
        .get(tool)?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (!argv.is_empty()).then(|| (tool.to_string(), "command".to_string(), argv))
}

/// A configured agent tool as the system page shows it.
#[derive(Debug, Clone)]
pub struct ToolVersion {
    pub name: String,
    pub command: String,
    /// The first line `<program> --version` printed (None: not installed or no answer).
    pub version: Option<String>,
    /// Why there is no version (not on PATH, timed out, …).
    pub problem: Option<String>,
    /// An update command is configured for it (its own, or npm for the known tools).
    pub updatable: bool,
}

/// How long `<tool> --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// The first line of `<program> --version` (bounded time, no secrets in its environment).
async fn tool_version(program: &str) -> Result<String, String> {
    let Some(path) = crate::services::sessions::which(program) else {
        return Err("not installed (not found on PATH)".into());
    };
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg("--version")
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for k in TOOL_ENV_KEEP {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
    let o = tokio::time::timeout(VERSION_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "no answer to --version within {} s",
                VERSION_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot run it: {e}"))?;
    let text = String::from_utf8_lossy(if o.stdout.trim_ascii().is_empty() {
        &o.stderr
    } else {
        &o.stdout
    })
    .into_owned();
    let line: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    if line.is_empty() {
        return Err(format!(
            "--version printed nothing (exit {})",
            o.status.code().unwrap_or(-1)
        ));
    }
    Ok(line)
}

/// Bytes as text, at most `TOOL_OUTPUT_CAP` of them (the end is kept: errors come last).
fn capped(b: &[u8]) -> String {
    let start = b.len().saturating_sub(TOOL_OUTPUT_CAP);
    let mut t = String::from_utf8_lossy(b.get(start..).unwrap_or_default()).into_owned();
    if start > 0 {
        t.insert_str(0, "[… earlier output cut …]\n");
    }
    t
}

/// The most log bytes one log view reads.
const LOG_SCAN_BUDGET: u64 = 32 << 20;

/// The last `want` lines of `path` that `keep` accepts, reading backwards in 64 KiB blocks and
/// spending at most `budget` bytes. Also says whether the whole file was read.
fn tail_lines(
    path: &Path,
    want: usize,
    keep: &dyn Fn(&str) -> bool,
    budget: &mut u64,
) -> std::io::Result<(Vec<String>, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut pos = f.metadata()?.len();
    let mut carry: Vec<u8> = Vec::new();
    let mut found: Vec<String> = Vec::new();
    const BLOCK: u64 = 64 << 10;
    while pos > 0 && found.len() < want && *budget > 0 {
        let n = BLOCK.min(pos).min(*budget);
        pos -= n;
        *budget -= n;
        f.seek(SeekFrom::Start(pos))?;
        let mut block = vec![0u8; n as usize];
        f.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        // The first (partial) line waits for the next block unless this is the file's start.
        let mut lines: Vec<&[u8]> = block.split(|b| *b == b'\n').collect();
        carry = if pos > 0 {
            lines.remove(0).to_vec()
        } else {
            Vec::new()
        };
        for l in lines.into_iter().rev() {
            let text = String::from_utf8_lossy(l);
            if !text.is_empty() && keep(&text) {
                found.push(text.into_owned());
                if found.len() >= want {
                    break;
                }
            }
        }
    }
    found.reverse();
    Ok((found, pos == 0))
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// `program args…`'s first line of output, or None when it is missing, fails, or takes over
/// 20 s (ansible-playbook is a Python program that can take seconds to start on a busy host;
/// the answer is cached, so a slow probe costs nobody a wait).
async fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

fn component(healthy: bool, message: impl Into<String>, details: Value) -> Component {
    Component {
        healthy,
        message: message.into(),
        details,
    }
}

/// The `aiops --version` line of a binary, if it is one.
async fn aiops_version(bin: &Path) -> Option<String> {
    let v = version_of(&bin.display().to_string(), &["--version"]).await?;
    v.starts_with("aiops ").then_some(v)
}

/// Status, logs, updates and restart.
pub struct System {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    /// The scheduler's view of its jobs (next and last runs), and the probes' last results.
    pub(crate) jobs: Arc<JobBoard>,
    /// Set to true to make the server restart (re-exec) gracefully.
    pub restart: tokio::sync::watch::Sender<bool>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub(crate) sandbox: Arc<Sandbox>,
    /// For release manifests and downloads (shared with the trackers' client).
    pub(crate) http: crate::services::trackers::Http,
    /// Agent tool updates started from the web page, with their output so far.
    pub(crate) tool_jobs: Arc<std::sync::Mutex<ToolJobs>>,
}

/// The tool update jobs this server ran since it started (the last [`TOOL_JOBS_KEPT`]).
#[derive(Default)]
pub struct ToolJobs {
    next: u64,
    jobs: std::collections::BTreeMap<u64, ToolJob>,
}

/// How many finished tool update jobs are kept for their pages.
const TOOL_JOBS_KEPT: usize = 20;

/// One tool update running or done: its output as it comes (the last `TOOL_OUTPUT_CAP`
/// bytes), then how it ended.
#[derive(Debug, Clone)]
pub struct ToolJob {
    pub id: u64,
    pub tool: String,
    pub tool_label: String,
    pub command: String,
    pub output: String,
    /// `Some((success, message))` once it ended.
    pub done: Option<(bool, String)>,
}

impl ToolJob {
    fn push(&mut self, line: &str) {
        self.output.push_str(line);
        self.output.push('\n');
        if self.output.len() > TOOL_OUTPUT_CAP {
            let mut cut = self.output.len() - TOOL_OUTPUT_CAP;
            while !self.output.is_char_boundary(cut) {
                cut += 1;
            }
            self.output.replace_range(..cut, "");
        }
    }
}

impl System {
    pub fn log_dir(&self) -> PathBuf {
        self.config.data_dir.join("logs")
    }

    /// Run the slow status checks (tool versions, agent tools on PATH, workspace count, data
    /// dir size) and keep their results for `system_status`. Called by the scheduler at start
    /// and every minute, and by an admin's explicit refresh. Concurrent calls share one run.
    pub async fn refresh_probes(&self) -> Arc<Probes> {
        let asked = crate::domain::model::now();
        let _g = self.jobs.probing.lock().await;
        if let Some(p) = self.cached_probes().filter(|p| p.checked_at >= asked) {
            return p;
        }
        let started = std::time::Instant::now();
        let (bwrap, tmux, git, ansible) = tokio::join!(
            version_of("bwrap", &["--version"]),
            version_of("tmux", &["-V"]),
            version_of("git", &["--version"]),
            version_of("ansible-playbook", &["--version"]),
        );
        let tools: Vec<ToolProbe> = self
            .config
            .tools
            .iter()
            .filter(|(name, _)| name.as_str() != "shell")
            .map(|(name, cmd)| {
                let program = crate::domain::sessions::program_of(cmd).unwrap_or_default();
                ToolProbe {
                    name: name.clone(),
                    command: cmd.clone(),
                    path: super::sessions::which(program),
                }
            })
            .collect();
        let ws = self.config.workspace_root.clone();
        let data_dir = self.config.data_dir.clone();
        let (workspace_count, data_dir_bytes) =
            tokio::task::spawn_blocking(move || (count_workspaces(&ws), dir_size(&data_dir)))
                .await
                .unwrap_or_default();
        let p = Arc::new(Probes {
            checked_at: crate::domain::model::now(),
            took_ms: started.elapsed().as_millis() as u64,
            bwrap,
            tmux,
            git,
            ansible,
            tools,
            workspace_count,
            data_dir_bytes,
        });
        if let Ok(mut c) = self.jobs.probes.lock() {
            *c = Some(p.clone());
        }
        tracing::debug!(ms = p.took_ms, "status checks refreshed");
        p
    }

    fn cached_probes(&self) -> Option<Arc<Probes>> {
        self.jobs.probes.lock().ok().and_then(|c| c.clone())
    }

    /// The status of every part (admins). The slow checks come from their last background
    /// run (`checked_at` says when); `refresh` runs them now first. Store counts, sessions,
    /// integrations and jobs are read as they are now.
    pub async fn system_status(&self, caller: &Identity, refresh: bool) -> AppResult<Status> {
        caller.require_admin()?;
        let probes = match self.cached_probes() {
            Some(p) if !refresh => p,
            _ => self.refresh_probes().await,
        };
        let mut c: Vec<(String, Component)> = Vec::new();
        // The store.
        let (counts, sessions, integrations) = {
            let r = self.store.read()?;
            let mut counts = serde_json::Map::new();
            for (name, n) in r.row_counts()? {
                counts.insert(name.to_string(), json!(n));
            }
            let sessions: Vec<AiSession> = r.ai_sessions()?;
            let integ: Vec<TenantIntegration> = r.integrations()?;
            (counts, sessions, integ)
        };
        let db_size = std::fs::metadata(self.store.path())
            .map(|m| m.len())
            .unwrap_or(0);
        c.push((
            "database".into(),
            component(
                true,
                format!("redb store, schema version {}", self.store.schema_version()?),
                json!({"path": self.store.path(), "size_mb": (db_size as f64 / 1048576.0 * 100.0).round() / 100.0,
                       "schema_version": self.store.schema_version()?, "counts": counts}),
            ),
        ));
        // The agent sandbox.
        let bwrap = probes.bwrap.clone();
        c.push((
            "sandbox".into(),
            if let Some(why) = self.sandbox.sandbox_broken.get().filter(|_| self.sandbox.sandbox_on()) {
                component(
                    false,
                    format!("cannot be built, so agents, git and project playbooks refuse to run: {why}"),
                    json!({"enabled": true, "working": false, "bwrap": bwrap}),
                )
            } else if self.sandbox.sandbox_on() {
                component(
                    true,
                    format!(
                        "on: agents, shells, git and project playbooks run in bubblewrap ({})",
                        bwrap.clone().unwrap_or_default()
                    ),
                    json!({"enabled": true, "bwrap": bwrap}),
                )
            } else {
                component(
                    false,
                    "OFF: every agent, shell and project playbook runs with this server's own powers and can read its data, keys and other users' sessions. Turn it on: sandbox = \"on\" (AIOPS_SANDBOX=on)",
                    json!({"enabled": false, "bwrap": bwrap}),
                )
            },
        ));
        // Tools on this machine.
        let active: Vec<&AiSession> = sessions.iter().filter(|s| s.is_active).collect();
        c.push((
            "tmux".into(),
            match &probes.tmux {
                Some(v) => component(
                    true,
                    v.clone(),
                    json!({"version": v, "session_count": active.len(), "active_sessions": active.len()}),
                ),
                None => component(
                    false,
                    "tmux is not installed: AI sessions cannot start (apt-get install tmux)",
                    json!({"session_count": active.len()}),
                ),
            },
        ));
        c.push((
            "git".into(),
            match &probes.git {
                Some(v) => component(true, v.clone(), json!({"version": v})),
                None => component(
                    false,
                    "git is not installed (apt-get install git)",
                    json!({"version": null}),
                ),
            },
        ));
        c.push((
            "ansible".into(),
            match &probes.ansible {
                Some(v) => component(true, v.clone(), json!({"version": v})),
                None if crate::services::sessions::which("ansible-playbook").is_some() => {
                    component(
                        false,
                        "ansible-playbook is installed but `ansible-playbook --version` failed or took over 20 s: check the ansible installation",
                        json!({}),
                    )
                }
                None => component(
                    false,
                    "ansible-playbook is not installed: playbooks cannot run (apt-get install ansible)",
                    json!({}),
                ),
            },
        ));
        let mut tools = serde_json::Map::new();
        let available = probes.tools.iter().filter(|t| t.path.is_some()).count();
        let any = available > 0;
        for t in &probes.tools {
            tools.insert(
                t.name.clone(),
                json!({"available": t.path.is_some(), "path": t.path, "command": t.command}),
            );
        }
        c.push((
            "ai_tools".into(),
            component(
                any,
                if any {
                    format!("{available}/{} AI tools available", tools.len())
                } else {
                    format!(
                        "{available}/{} AI tools available: install claude, codex or gemini (or configure a tool command)",
                        tools.len()
                    )
                },
                json!({"tools": tools}),
            ),
        ));
        let ws = &self.config.workspace_root;
        let workspace_count = probes.workspace_count;
        c.push((
            "workspaces".into(),
            component(
                true,
                format!("{workspace_count} workspaces under {}", ws.display()),
                json!({"instance_path": self.config.data_dir, "workspace_count": workspace_count,
                       "session_pipes": 0, "root": ws, "exists": ws.is_dir(),
                       "linux_user_workspaces": self.config.linux_user_workspaces}),
            ),
        ));
        let enabled = integrations.iter().filter(|i| i.enabled).count();
        let mut by_name = serde_json::Map::new();
        for i in &integrations {
            by_name.insert(
                i.name.clone(),
                json!({"provider": i.provider, "enabled": i.enabled}),
            );
        }
        c.push((
            "integrations".into(),
            component(
                true,
                format!("{} integrations, {enabled} enabled", integrations.len()),
                if integrations.is_empty() {
                    json!({"count": 0, "total": 0, "enabled": 0})
                } else {
                    json!({"integrations": by_name, "total": integrations.len(), "enabled": enabled})
                },
            ),
        ));
        let mut per_tool = serde_json::Map::new();
        for s in &active {
            let n = per_tool.get(&s.tool).and_then(Value::as_u64).unwrap_or(0);
            per_tool.insert(s.tool.clone(), json!(n + 1));
        }
        c.push((
            "sessions".into(),
            component(
                true,
                format!("{} active AI sessions", active.len()),
                json!({"total_active": active.len(), "active": active.len(), "by_tool": per_tool}),
            ),
        ));
        let jobs = self.jobs.snapshot();
        c.push((
            "scheduler".into(),
            component(
                true,
                format!("{} scheduled jobs", jobs.len()),
                json!({"jobs": jobs}),
            ),
        ));
        let missing: Vec<&str> = probes
            .tools
            .iter()
            .filter(|t| t.path.is_none())
            .map(|t| t.name.as_str())
            .collect();
        let attention = attention_items(&c, &missing, &jobs);
        Ok(Status {
            healthy: c.iter().all(|(_, c)| c.healthy),
            components: c,
            uptime_seconds: (crate::domain::model::now() - self.started_at).num_seconds(),
            data_dir: self.config.data_dir.clone(),
            data_dir_bytes: probes.data_dir_bytes,
            checked_at: probes.checked_at,
            attention,
        })
    }

    /// The last `lines` lines of the log files (newest file last), optionally only lines
    /// containing `filter` (case-insensitive) or at `level` and above.
    pub fn recent_logs(
        &self,
        caller: &Identity,
        lines: usize,
        filter: Option<&str>,
        level: Option<&str>,
    ) -> AppResult<LogTail> {
        caller.require_admin()?;
        let lines = lines.clamp(1, 5000);
        let dir = self.log_dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(LOG_FILE_PREFIX))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let rank = |l: &str| match l.to_ascii_uppercase().as_str() {
            "ERROR" => 4,
            "WARN" => 3,
            "INFO" => 2,
            "DEBUG" => 1,
            _ => 0,
        };
        let min = level.map(rank).unwrap_or(0);
        let needle = filter
            .map(|f| f.trim().to_lowercase())
            .filter(|f| !f.is_empty());
        let keep = |l: &str| {
            let lvl = serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v.get("level").and_then(Value::as_str).map(rank))
                .unwrap_or(0);
            lvl >= min
                && needle
                    .as_ref()
                    .is_none_or(|n| l.to_lowercase().contains(n.as_str()))
        };
        // Newest file first, each read backwards from its end: only what is shown is read
        // (at most LOG_SCAN_BUDGET bytes in all), however big the files are.
        let mut out: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut budget = LOG_SCAN_BUDGET;
        for (i, f) in files.iter().enumerate().rev() {
            let (mut chunk, whole) =
                tail_lines(f, lines - out.len(), &keep, &mut budget).map_err(|e| {
                    AppError::Internal(format!("cannot read the log file {}: {e}", f.display()))
                })?;
            chunk.extend(out);
            out = chunk;
            if out.len() >= lines || budget == 0 {
                truncated = !whole || i > 0;
                break;
            }
        }
        Ok(LogTail {
            path: files.last().cloned().unwrap_or(dir),
            lines: out,
            truncated,
        })
    }

    /// Replace this binary with a release (a local file or an http(s) URL) whose SHA-256 is
    /// `sha256`. The new binary must answer `--version` as aiops; the old one is kept as
    /// `<exe>.previous`. Takes effect at the next (re)start.
    pub async fn system_update(
        &self,
        caller: &Identity,
        source: &str,
        sha256: &str,
    ) -> AppResult<Updated> {
        caller.require_admin()?;
        self.install_release(caller, source.trim(), sha256, None)
            .await
    }

    /// The release channel (`update_url`), for `GET /system/update-channel` (any signed-in
    /// caller: the CLI updates itself from it).
    pub fn update_channel(&self, caller: &Identity) -> AppResult<Option<String>> {
        caller.require(crate::domain::Scope::Read)?;
        Ok(self.config.update_url.clone())
    }

    /// Read the release channel's manifest: 400 when none is configured or it is invalid, 502
    /// when it cannot be fetched.
    pub async fn release_manifest(&self) -> AppResult<Manifest> {
        let Some(at) = self.config.update_url.clone() else {
            return Err(AppError::BadRequest(
                "No release channel configured: set update_url (AIOPS_UPDATE_URL) on the server, or send source and sha256.".into(),
            ));
        };
        let text = if is_http(&at) {
            let resp = self
                .http
                .client()
                .get(&at)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map_err(|e| {
                    AppError::Upstream(format!(
                        "cannot fetch the release manifest {at}: {e}; check update_url (AIOPS_UPDATE_URL)"
                    ))
                })?;
            if !resp.status().is_success() {
                return Err(AppError::Upstream(format!(
                    "the release manifest {at} answered {}; check update_url (AIOPS_UPDATE_URL)",
                    resp.status()
                )));
            }
            resp.text().await.map_err(|e| {
                AppError::Upstream(format!("cannot read the release manifest {at}: {e}"))
            })?
        } else {
            tokio::fs::read_to_string(file_path(&at))
                .await
                .map_err(|e| {
                    AppError::BadRequest(format!(
                        "cannot read the release manifest {at}: {e}; check update_url (AIOPS_UPDATE_URL)"
                    ))
                })?
        };
        parse_manifest(&text, &at).map_err(|why| {
            AppError::BadRequest(format!("the release manifest {at} is invalid: {why}"))
        })
    }

    /// Update from the release channel: its manifest names the binary and its SHA-256; the
    /// binary is installed as by `system_update`.
    pub async fn system_update_from_channel(&self, caller: &Identity) -> AppResult<Updated> {
        caller.require_admin()?;
        let m = self.release_manifest().await?;
        self.install_release(caller, &m.url, &m.sha256, Some(m.version))
            .await
    }

    async fn install_release(
        &self,
        caller: &Identity,
        source: &str,
        sha256: &str,
        channel_version: Option<String>,
    ) -> AppResult<Updated> {
        use sha2::Digest;
        let want = sha256.trim().to_lowercase();
        if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::BadRequest(
                "sha256 must be the release's SHA-256 as 64 hex characters (sha256sum prints it)"
                    .into(),
            ));
        }
        let bytes: Vec<u8> = if is_http(source) {
            let resp = self
                .http
                .client()
                .get(source)
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .map_err(|e| AppError::Upstream(format!("cannot download {source}: {e}")))?;
            if !resp.status().is_success() {
                return Err(AppError::Upstream(format!(
                    "downloading {source} answered {}",
                    resp.status()
                )));
            }
            resp.bytes()
                .await
                .map_err(|e| AppError::Upstream(format!("cannot download {source}: {e}")))?
                .to_vec()
        } else if source.is_empty() {
            return Err(AppError::BadRequest(
                "give the release as a URL (http/https) or a file path on the server".into(),
            ));
        } else {
            tokio::fs::read(file_path(source))
                .await
                .map_err(|e| AppError::BadRequest(format!("cannot read {source}: {e}")))?
        };
        let download = Step {
            success: true,
            stdout: format!("fetched {} bytes from {source}", bytes.len()),
            ..Default::default()
        };
        let got = hex::encode(sha2::Sha256::digest(&bytes));
        if got != want {
            return Err(AppError::BadRequest(format!(
                "checksum mismatch: expected {want}, the release has {got}; nothing was changed"
            )));
        }
        let exe = installed_exe()?;
        let dir = exe
            .parent()
            .ok_or_else(|| AppError::Internal("this binary has no directory".into()))?;
        let tmp = dir.join(format!(".aiops-update-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&tmp, &bytes)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        };
        write().map_err(|e| {
            AppError::Internal(format!(
                "cannot write the new binary next to {} ({e}): the service user needs write access to that directory",
                exe.display()
            ))
        })?;
        let Some(new_version) = aiops_version(&tmp).await else {
            let _ = std::fs::remove_file(&tmp);
            return Err(AppError::BadRequest(
                "the release does not run as aiops on this machine (`--version` failed): wrong file or architecture; nothing was changed".into(),
            ));
        };
        let verify = Step {
            success: true,
            stdout: format!("SHA-256 {got} matches; the release runs: {new_version}"),
            ..Default::default()
        };
        let previous = exe.with_extension("previous");
        let _ = std::fs::remove_file(&previous);
        std::fs::hard_link(&exe, &previous)
            .or_else(|_| std::fs::copy(&exe, &previous).map(|_| ()))
            .map_err(|e| AppError::Internal(format!("cannot keep the old binary: {e}")))?;
        std::fs::rename(&tmp, &exe).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            AppError::Internal(format!("cannot replace {}: {e}", exe.display()))
        })?;
        tracing::warn!(by = caller.id().get(), new = %new_version, "binary updated; restart to run it");
        let install = Step {
            success: true,
            stdout: format!(
                "installed as {} (the old binary is kept as {})",
                exe.display(),
                previous.display()
            ),
            ..Default::default()
        };
        let migrations = Step {
            success: true,
            skipped: true,
            message: Some(
                "No separate migration step: the store migrates itself when the new binary starts."
                    .into(),
            ),
            ..Default::default()
        };
        Ok(Updated {
            previous_version: format!("aiops {}", env!("CARGO_PKG_VERSION")),
            new_version,
            path: exe,
            source: source.to_string(),
            channel_version,
            steps: vec![
                ("download", download),
                ("verify", verify),
                ("install", install),
                ("migrations", migrations),
            ],
        })
    }

    /// The command that updates `tool` (admins): its label, the source (npm, brew, own), the
    /// command line as shown, and the child ready to spawn: an argument vector without a shell,
    /// stdin closed, killed when dropped, an environment without the server's secrets.
    fn tool_update_command(
        &self,
        caller: &Identity,
        tool: &str,
        source: Option<&str>,
    ) -> AppResult<(String, String, String, tokio::process::Command, String)> {
        caller.require_admin()?;
        let (label, source, argv) = match own_update_plan(&self.config, tool, source) {
            Some(plan) => plan,
            None => {
                let (l, s, a) =
                    tool_update_plan(tool, source, &self.config.ai_tool_update_commands)?;
                (l.to_string(), s, a)
            }
        };
        let command = argv.join(" ");
        let Some((program, args)) = argv.split_first() else {
            return Err(AppError::BadRequest(format!(
                "The {source} update command for {label} is empty: set ai_tool_update_commands ({tool}.{source}=…)"
            )));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for k in TOOL_ENV_KEEP {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        tracing::warn!(by = caller.id().get(), tool, source = %source, command = %command, "agent tool update");
        Ok((label, source, command, cmd, program.clone()))
    }

    /// Start updating `tool` in the background (admins; the web page's button): the job's
    /// output is kept as it comes, for [`System::tool_job`] to show while it runs.
    pub fn start_tool_update(
        &self,
        caller: &Identity,
        tool: &str,
        source: Option<&str>,
    ) -> AppResult<ToolJob> {
        use tokio::io::AsyncBufReadExt;
        let (label, source, command, mut cmd, program) =
            self.tool_update_command(caller, tool, source)?;
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let jobs = self.tool_jobs.clone();
        let job = {
            let mut j = jobs
                .lock()
                .map_err(|_| AppError::Internal("the tool job list is unusable".into()))?;
            j.next += 1;
            let job = ToolJob {
                id: j.next,
                tool: tool.to_string(),
                tool_label: label.clone(),
                command: command.clone(),
                output: String::new(),
                done: None,
            };
            j.jobs.insert(job.id, job.clone());
            while j.jobs.len() > TOOL_JOBS_KEPT {
                j.jobs.pop_first();
            }
            job
        };
        let id = job.id;
        let update = move |f: &mut dyn FnMut(&mut ToolJob)| {
            if let Ok(mut j) = jobs.lock()
                && let Some(job) = j.jobs.get_mut(&id)
            {
                f(job);
            }
        };
        let timeout = Duration::from_secs(self.config.ai_tool_update_timeout_secs);
        let upper = source.to_uppercase();
        tokio::spawn(async move {
            let end = |ok: bool, why: String| {
                let message = if ok {
                    format!("{label} {upper} command succeeded.")
                } else {
                    format!("{label} {upper} command failed. Error: {why}")
                };
                (ok, message)
            };
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let why = if e.kind() == std::io::ErrorKind::NotFound {
                        format!(
                            "{program} is not installed on the server (not found on PATH); install it, or set ai_tool_update_commands"
                        )
                    } else {
                        format!("cannot run {program}: {e}")
                    };
                    update(&mut |j| j.done = Some(end(false, why.clone())));
                    return;
                }
            };
            let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
                update(&mut |j| j.done = Some(end(false, "no output pipes".into())));
                return;
            };
            let mut out = tokio::io::BufReader::new(out).lines();
            let mut err = tokio::io::BufReader::new(err).lines();
            let (mut out_done, mut err_done) = (false, false);
            let mut last_err = String::new();
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let status = loop {
                tokio::select! {
                    l = out.next_line(), if !out_done => match l {
                        Ok(Some(l)) => update(&mut |j| j.push(&l)),
                        _ => out_done = true,
                    },
                    l = err.next_line(), if !err_done => match l {
                        Ok(Some(l)) => {
                            update(&mut |j| j.push(&l));
                            last_err = l;
                        }
                        _ => err_done = true,
                    },
                    st = child.wait(), if out_done && err_done => break st.ok(),
                    _ = &mut deadline => {
                        let _ = child.kill().await;
                        break None;
                    }
                }
            };
            let done = match status {
                Some(st) if st.success() => end(true, String::new()),
                Some(st) => end(
                    false,
                    format!(
                        "exit status {}; {}",
                        st.code().unwrap_or(-1),
                        last_err.trim()
                    ),
                ),
                None => end(
                    false,
                    format!(
                        "{command} did not finish within {} s and was stopped",
                        timeout.as_secs()
                    ),
                ),
            };
            update(&mut |j| j.done = Some(done.clone()));
        });
        Ok(job)
    }

    /// A tool update job started here, as far as it got (admins).
    pub fn tool_job(&self, caller: &Identity, id: u64) -> AppResult<ToolJob> {
        caller.require_admin()?;
        self.tool_jobs
            .lock()
            .ok()
            .and_then(|j| j.jobs.get(&id).cloned())
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "Tool update {id} is not known here (only the last {TOOL_JOBS_KEPT} since the server started are kept)"
                ))
            })
    }

    /// Update an agent tool (`codex`, `gemini`, `claude`) with its configured npm or brew
    /// command (admins). The command runs as an argument vector without a shell, with a
    /// timeout, bounded output and an environment without the server's secrets. A command
    /// that fails (or a program that is missing) is reported, not raised.
    pub async fn update_ai_tool(
        &self,
        caller: &Identity,
        tool: &str,
        source: Option<&str>,
    ) -> AppResult<ToolUpdate> {
        let (label, source, command, mut cmd, program) =
            self.tool_update_command(caller, tool, source)?;
        let upper = source.to_uppercase();
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let timeout = Duration::from_secs(self.config.ai_tool_update_timeout_secs);
        let (stdout, stderr, returncode) = match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                String::new(),
                format!(
                    "{} is not installed on the server (not found on PATH); install it, or set ai_tool_update_commands",
                    program
                ),
                127,
            ),
            Err(e) => (String::new(), format!("cannot run {program}: {e}"), 126),
            Ok(child) => match tokio::time::timeout(timeout, child.wait_with_output()).await {
                Err(_) => (
                    String::new(),
                    format!(
                        "{command} did not finish within {} s and was stopped",
                        timeout.as_secs()
                    ),
                    124,
                ),
                Ok(Err(e)) => (String::new(), format!("cannot run {program}: {e}"), 126),
                Ok(Ok(o)) => (
                    capped(&o.stdout),
                    capped(&o.stderr),
                    o.status.code().unwrap_or(-1),
                ),
            },
        };
        let success = returncode == 0;
        let message = if success {
            format!("{label} {upper} command succeeded.")
        } else {
            format!("{label} {upper} command failed. Error: {}", stderr.trim())
        };
        Ok(ToolUpdate {
            tool: tool.to_string(),
            tool_label: label,
            source,
            command,
            stdout,
            stderr,
            returncode,
            success,
            message,
        })
    }

    /// Each configured agent tool with its installed version (`<tool> --version`, at most
    /// 5 s each, all at once) and whether it can be updated from here (admins).
    pub async fn tool_versions(&self, caller: &Identity) -> AppResult<Vec<ToolVersion>> {
        caller.require_admin()?;
        let tools: Vec<(String, String)> = self
            .config
            .tools
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let checks = tools.iter().map(|(name, command)| async move {
            let program = crate::domain::sessions::program_of(command).unwrap_or(name);
            let v = tool_version(program).await;
            let cmds = &self.config.ai_tool_update_commands;
            let updatable =
                cmds.contains_key(name.as_str()) || cmds.contains_key(&format!("{name}.npm"));
            ToolVersion {
                name: name.clone(),
                command: command.clone(),
                version: v.as_ref().ok().cloned(),
                problem: v.err(),
                updatable,
            }
        });
        Ok(futures_util::future::join_all(checks).await)
    }

    /// Ask the server to restart: it stops accepting, finishes requests in flight, stops the
    /// scheduler, then re-executes its binary (same arguments, same address).
    pub fn request_restart(&self, caller: &Identity) -> AppResult<()> {
        caller.require_admin()?;
        tracing::warn!(by = caller.id().get(), "restart requested");
        let _ = self.restart.send(true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_updates_are_checked_like_the_original() {
        let cmds = crate::config::default_ai_tool_update_commands();
        let (label, source, argv) = tool_update_plan("claude", Some("NPM"), &cmds).unwrap();
        assert_eq!((label, source.as_str()), ("Claude CLI", "npm"));
        assert_eq!(argv, ["npm", "install", "-g", "@anthropic-ai/claude-code"]);
        let (_, _, argv) = tool_update_plan("gemini", Some("brew"), &cmds).unwrap();
        assert_eq!(argv, ["brew", "upgrade", "gemini-cli"]);
        let msg = |r: Result<_, AppError>| r.err().map(|e| (e.status().as_u16(), e.to_string()));
        assert_eq!(
            msg(tool_update_plan("vim", Some("npm"), &cmds)),
            Some((404, "Unsupported AI tool 'vim'.".into()))
        );
        assert_eq!(
            msg(tool_update_plan("codex", None, &cmds)),
            Some((400, "source is required (npm or brew)".into()))
        );
        assert_eq!(
            msg(tool_update_plan("codex", Some("pip"), &cmds)),
            Some((400, "Unsupported source. Use one of: npm, brew.".into()))
        );
    }

    fn job(key: &str, name: &str, failures: u32, last: Option<&str>) -> JobInfo {
        JobInfo {
            key: key.into(),
            name: name.into(),
            kind: "issue sync".into(),
            cron: "0 */15 * * * *".into(),
            next_run: None,
            last_run: None,
            last_result: last.map(str::to_string),
            failures,
            running: false,
        }
    }

    #[test]
    fn attention_items_say_what_and_what_to_do_in_words() {
        let comps = vec![
            ("database".to_string(), component(true, "redb", json!({}))),
            (
                "ai_tools".to_string(),
                component(false, "0/2 AI tools available", json!({})),
            ),
            (
                "tmux".to_string(),
                component(
                    false,
                    "tmux is not installed: AI sessions cannot start (apt-get install tmux)",
                    json!({}),
                ),
            ),
            (
                "sandbox".to_string(),
                component(
                    false,
                    "OFF: every agent runs with this server's own powers. Turn it on: sandbox = \"on\"",
                    json!({}),
                ),
            ),
        ];
        let jobs = vec![
            job(
                "sync:1",
                "Issue sync of integration GitHub acme",
                3,
                Some("failed: 1 of 1 links failed"),
            ),
            job(
                "sync:2",
                "Issue sync of integration quiet",
                0,
                Some("4 links synced"),
            ),
            job("backup", "Scheduled backup", 1, Some("failed: disk full")),
        ];
        let items = attention_items(&comps, &["codex", "gemini"], &jobs);
        assert_eq!(
            items,
            vec![
                "Agent tool codex is not installed — install it on this server, or remove it from the tool list ([tools] in aiops.toml, AIOPS_TOOLS)".to_string(),
                "Agent tool gemini is not installed — install it on this server, or remove it from the tool list ([tools] in aiops.toml, AIOPS_TOOLS)".to_string(),
                "tmux: tmux is not installed: AI sessions cannot start (apt-get install tmux)".to_string(),
                "The agent sandbox is off: every agent runs with this server's own powers. Turn it on: sandbox = \"on\"".to_string(),
                "Issue sync of integration GitHub acme failed 3 times in a row: 1 of 1 links failed — check the integration's token and links (Integrations) and the logs".to_string(),
                "Scheduled backup failed: disk full — check the free disk space and the logs".to_string(),
            ]
        );
        for i in &items {
            assert!(!i.contains("ai_tools") && !i.contains("sync:"), "{i}");
        }
        // Healthy parts and jobs that last succeeded need nothing.
        let fine = vec![("git".to_string(), component(true, "git 2.4", json!({})))];
        assert!(attention_items(&fine, &[], &jobs[1..2]).is_empty());
        // A broken sandbox reads as a sentence too.
        let broken = vec![(
            "sandbox".to_string(),
            component(
                false,
                "cannot be built, so agents refuse to run: no userns",
                json!({}),
            ),
        )];
        assert_eq!(
            attention_items(&broken, &[], &[]),
            vec![
                "The agent sandbox cannot be built, so agents refuse to run: no userns".to_string()
            ]
        );
        assert_eq!(component_title("ai_tools"), "Agent tools");
    }

    #[test]
    fn tool_output_keeps_its_end() {
        let big = vec![b'x'; TOOL_OUTPUT_CAP + 10];
        let t = capped(&big);
        assert!(t.starts_with("[… earlier output cut …]"));
        assert_eq!(capped(b"done\n"), "done\n");
    }
}
