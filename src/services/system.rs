//! System administration (admins): status, recent logs, self-update from a release file or URL
//! with checksum verification, and a graceful restart that re-executes the binary.

use super::App;
use crate::auth::Identity;
use crate::domain::{AiSession, TenantIntegration};
use crate::error::{AppError, AppResult};
use crate::store::tables::*;
use crate::store::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
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

async fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
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

impl App {
    pub fn log_dir(&self) -> PathBuf {
        self.config.data_dir.join("logs")
    }

    pub async fn system_status(&self, caller: &Identity) -> AppResult<Status> {
        caller.require_admin()?;
        let mut c: Vec<(String, Component)> = Vec::new();
        // The store.
        let (counts, sessions, integrations) = {
            let r = self.store.read()?;
            let mut counts = serde_json::Map::new();
            for t in ALL_TABLES {
                if let AnyTable::RowU64(d) = t {
                    counts.insert(t.name().to_string(), json!(table_len(&r, *d)?));
                }
            }
            let sessions: Vec<AiSession> = all_rows(&r, AI_SESSIONS)?;
            let integ: Vec<TenantIntegration> = all_rows(&r, INTEGRATIONS)?;
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
        let bwrap = version_of("bwrap", &["--version"]).await;
        c.push((
            "sandbox".into(),
            if let Some(why) = self.sandbox_broken.get().filter(|_| self.sandbox_on()) {
                component(
                    false,
                    format!("cannot be built, so agents, git and project playbooks refuse to run: {why}"),
                    json!({"enabled": true, "working": false, "bwrap": bwrap}),
                )
            } else if self.sandbox_on() {
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
        let tmux = version_of("tmux", &["-V"]).await;
        let active: Vec<&AiSession> = sessions.iter().filter(|s| s.is_active).collect();
        c.push((
            "tmux".into(),
            match &tmux {
                Some(v) => component(
                    true,
                    v.clone(),
                    json!({"version": v, "active_sessions": active.len()}),
                ),
                None => component(
                    false,
                    "tmux is not installed: AI sessions cannot start (apt-get install tmux)",
                    json!({}),
                ),
            },
        ));
        let git = version_of("git", &["--version"]).await;
        c.push((
            "git".into(),
            match &git {
                Some(v) => component(true, v.clone(), json!({"version": v})),
                None => component(
                    false,
                    "git is not installed (apt-get install git)",
                    json!({}),
                ),
            },
        ));
        let ansible = version_of("ansible-playbook", &["--version"]).await;
        c.push((
            "ansible".into(),
            match &ansible {
                Some(v) => component(true, v.clone(), json!({"version": v})),
                None => component(
                    false,
                    "ansible-playbook is not installed: playbooks cannot run (apt-get install ansible)",
                    json!({}),
                ),
            },
        ));
        let mut tools = serde_json::Map::new();
        let mut any = false;
        for (name, cmd) in &self.config.tools {
            if name == "shell" {
                continue;
            }
            let program = crate::domain::sessions::program_of(cmd).unwrap_or_default();
            let found = super::sessions::which(program);
            any |= found.is_some();
            tools.insert(
                name.clone(),
                json!({"available": found.is_some(), "path": found, "command": cmd}),
            );
        }
        c.push((
            "ai_tools".into(),
            component(
                any,
                if any {
                    "at least one agent tool is installed"
                } else {
                    "no agent tool is installed (claude, codex, gemini or a configured command)"
                },
                json!({"tools": tools}),
            ),
        ));
        let ws = &self.config.workspace_root;
        c.push((
            "workspaces".into(),
            component(
                true,
                format!("{}", ws.display()),
                json!({"root": ws, "exists": ws.is_dir(), "linux_user_workspaces": self.config.linux_user_workspaces}),
            ),
        ));
        let enabled = integrations.iter().filter(|i| i.enabled).count();
        c.push((
            "integrations".into(),
            component(
                true,
                format!("{} integrations, {enabled} enabled", integrations.len()),
                json!({"total": integrations.len(), "enabled": enabled}),
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
                json!({"active": active.len(), "by_tool": per_tool}),
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
        let data_dir = self.config.data_dir.clone();
        let data_dir_bytes = tokio::task::block_in_place(|| dir_size(&data_dir));
        Ok(Status {
            healthy: c.iter().all(|(_, c)| c.healthy),
            components: c,
            uptime_seconds: (crate::domain::model::now() - self.started_at).num_seconds(),
            data_dir,
            data_dir_bytes,
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
                .and_then(|v| v["level"].as_str().map(rank))
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
        use sha2::Digest;
        caller.require_admin()?;
        let want = sha256.trim().to_lowercase();
        if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::BadRequest(
                "sha256 must be the release's SHA-256 as 64 hex characters (sha256sum prints it)"
                    .into(),
            ));
        }
        let source = source.trim();
        let bytes: Vec<u8> = if source.starts_with("http://") || source.starts_with("https://") {
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
            tokio::fs::read(source)
                .await
                .map_err(|e| AppError::BadRequest(format!("cannot read {source}: {e}")))?
        };
        let got = hex::encode(sha2::Sha256::digest(&bytes));
        if got != want {
            return Err(AppError::BadRequest(format!(
                "checksum mismatch: expected {want}, the release has {got}; nothing was changed"
            )));
        }
        let exe = std::env::current_exe()
            .map_err(|e| AppError::Internal(format!("cannot locate this binary: {e}")))?;
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
        let previous = exe.with_extension("previous");
        let _ = std::fs::remove_file(&previous);
        std::fs::hard_link(&exe, &previous)
            .or_else(|_| std::fs::copy(&exe, &previous).map(|_| ()))
            .map_err(|e| AppError::Internal(format!("cannot keep the old binary: {e}")))?;
        std::fs::rename(&tmp, &exe).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            AppError::Internal(format!("cannot replace {}: {e}", exe.display()))
        })?;
        tracing::warn!(by = caller.id(), new = %new_version, "binary updated; restart to run it");
        Ok(Updated {
            previous_version: format!("aiops {}", env!("CARGO_PKG_VERSION")),
            new_version,
            path: exe,
        })
    }

    /// Ask the server to restart: it stops accepting, finishes requests in flight, stops the
    /// scheduler, then re-executes its binary (same arguments, same address).
    pub fn request_restart(&self, caller: &Identity) -> AppResult<()> {
        caller.require_admin()?;
        tracing::warn!(by = caller.id(), "restart requested");
        let _ = self.restart.send(true);
        Ok(())
    }
}
