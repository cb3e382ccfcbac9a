//! `aiops sessions …` and `aiops issues start`: AI agents in tmux.

use super::commands::{Ctx, resolve_project, unwrap_key};
use super::output::{Format, render, table_of};
use clap::{ArgGroup, Subcommand};
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Active sessions, newest first (yours; administrators see everyone's)
    List {
        #[arg(long)]
        project: Option<String>,
        /// Only sessions still running (the default)
        #[arg(long, conflicts_with = "all")]
        active: bool,
        /// Ended sessions too
        #[arg(long)]
        all: bool,
        /// Everyone's (administrators; on by default for them)
        #[arg(long)]
        all_users: bool,
    },
    /// Start an agent in a project: `--project P` or `PROJECT` (attaches unless --no-attach)
    #[command(group(ArgGroup::new("proj").args(["project", "project_opt"]).required(true)))]
    Start {
        /// Project name or id
        project: Option<String>,
        /// Project name or id
        #[arg(long = "project", value_name = "PROJECT")]
        project_opt: Option<String>,
        /// claude, codex, gemini or shell (PROJECT form: any tool configured on the server)
        #[arg(long)]
        tool: Option<String>,
        #[arg(long)]
        prompt: Option<String>,
        /// Start as this user (email or id; admins)
        #[arg(long)]
        user: Option<String>,
        /// Attach to it (tmux) once started (the default)
        #[arg(long)]
        attach: bool,
        /// Do not attach
        #[arg(long, conflicts_with = "attach")]
        no_attach: bool,
    },
    /// Print what the agent shows now (and scrollback)
    Output {
        id: String,
        #[arg(long, default_value_t = 200)]
        lines: u32,
    },
    /// Type into a session (a newline is sent as Enter)
    Send { id: String, text: String },
    /// Attach your terminal to a session (id, session id or its prefix, or tmux target)
    Attach {
        id: String,
        /// Look only in this project (name or id)
        #[arg(long)]
        project: Option<String>,
    },
    /// Stop a session
    Stop {
        id: String,
        /// An issue session's worktree: keep it (default) or remove it (its branch merged or
        /// abandoned; refused with uncommitted changes unless --force)
        #[arg(long, value_parser = ["keep", "remove"])]
        worktree: Option<String>,
        /// With --worktree remove: remove it even with uncommitted changes (they are lost)
        #[arg(long)]
        force: bool,
    },
    /// Run the session's command again
    Respawn {
        id: String,
        /// Look only in this project (name or id)
        #[arg(long)]
        project: Option<String>,
    },
}

/// Which command's words the start and attach lines use (they differ in the original).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wording {
    Issues,
    Sessions,
}

/// Does `s` match TARGET: the database id, the session id or a prefix of it (a trailing `...`
/// as in the tables is ignored), or the tmux target.
fn matches_target(s: &Value, target: &str) -> bool {
    let t = target.trim().trim_end_matches("...");
    if t.is_empty() {
        return false;
    }
    s["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(t)
        || s["session_id"]
            .as_str()
            .is_some_and(|sid| sid.starts_with(t))
        || s["tmux_target"].as_str() == Some(target.trim())
}

async fn find(ctx: &Ctx, id: &str, project: Option<&str>) -> anyhow::Result<Value> {
    let mut path = "ai/sessions?limit=500".to_string();
    if let Some(p) = project {
        path.push_str(&format!("&project_id={}", resolve_project(ctx, p).await?));
    }
    let list = unwrap_key(ctx.client.get(&path).await?, "sessions");
    let items = list.as_array().cloned().unwrap_or_default();
    // Exact ids first, then prefixes and tmux targets.
    items
        .iter()
        .find(|s| {
            s["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id) || s["session_id"] == id
        })
        .or_else(|| items.iter().find(|s| matches_target(s, id)))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("Session '{id}' not found"))
}

/// `tmux -S <socket> attach -t <target>` when the socket is on this machine; otherwise
/// `ssh -t <ssh_user>@<server host> tmux -S <socket> attach-session -t <target>`, the server
/// host being the one of the configured URL.
#[allow(
    clippy::disallowed_methods,
    reason = "the CLI hands the terminal to tmux/ssh and waits: blocking is the point"
)]
pub fn attach(session: &Value, base_url: &str, wording: Wording) -> anyhow::Result<()> {
    let target = session["tmux_target"]
        .as_str()
        .filter(|t| !t.is_empty())
        .or_else(|| session["session_id"].as_str())
        .unwrap_or_default();
    if target.is_empty() {
        anyhow::bail!("Missing tmux session identifier to attach.");
    }
    let socket = session["tmux_socket"].as_str().unwrap_or_default();
    match wording {
        Wording::Issues => {
            println!("Attaching to tmux session...");
            println!("Press Ctrl+B then D to detach from tmux");
        }
        Wording::Sessions => {
            println!("Attaching to session...");
            println!("Press Ctrl+B then D to detach");
        }
    }
    if !socket.is_empty() && std::path::Path::new(socket).exists() {
        let status = std::process::Command::new("tmux")
            .args(["-S", socket, "attach-session", "-t", target])
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run tmux (is it installed?): {e}"))?;
        if !status.success() {
            anyhow::bail!("tmux attach failed ({status})");
        }
        return Ok(());
    }
    let user = session["ssh_user"].as_str().unwrap_or("aiops");
    let host = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "Could not derive SSH host from API URL {base_url}. You can manually attach with: ssh HOST -t tmux -S {socket} attach -t {target}"
            )
        })?;
    let dest = format!("{user}@{host}");
    let mut cmd = std::process::Command::new("ssh");
    cmd.args([
        "-t",
        &dest,
        "tmux",
        "-S",
        socket,
        "attach-session",
        "-t",
        target,
    ]);
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => anyhow::bail!(
            "Error attaching to tmux ({s}). You can manually attach with: ssh {dest} -t tmux -S {socket} attach -t {target}"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "ssh not found. Please install OpenSSH to attach, or open the session's terminal in the web UI."
        ),
        Err(e) => anyhow::bail!("cannot run ssh: {e}"),
    }
}

pub async fn sessions(ctx: Ctx, cmd: SessionsCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        SessionsCommand::List {
            project,
            active: _,
            all,
            all_users,
        } => {
            // As the original: administrators see everyone's sessions without asking.
            let mut all_users = all_users;
            if !all_users && let Ok(me) = ctx.client.get("auth/me").await {
                all_users = me["user"]["is_admin"] == true;
            }
            let mut q = vec![format!("active_only={}", !all), "limit=200".to_string()];
            if let Some(p) = &project {
                q.push(format!("project_id={}", resolve_project(&ctx, p).await?));
            }
            if all_users {
                q.push("all_users=true".into());
            }
            let list = unwrap_key(
                ctx.client
                    .get(&format!("ai/sessions?{}", q.join("&")))
                    .await?,
                "sessions",
            );
            if f != Format::Table {
                println!("{}", render(&list, f, None));
                return Ok(());
            }
            let items = list.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!(
                    "{}",
                    if all {
                        "No sessions found"
                    } else {
                        "No active sessions found"
                    }
                );
                return Ok(());
            }
            let rows: Vec<Value> = items.iter().map(session_row).collect();
            let title = match (&project, all) {
                (_, true) => "Sessions".to_string(),
                (Some(p), false) => format!("Active Sessions (Project {p})"),
                (None, false) => "Active Sessions (All Projects)".to_string(),
            };
            let cols: &[&str] = if project.is_some() {
                &["id", "session_id", "issue", "tool", "status", "tmux_target"]
            } else {
                &[
                    "id",
                    "session_id",
                    "issue",
                    "tool",
                    "status",
                    "project",
                    "tmux_target",
                ]
            };
            println!("{}", table_of(&json!(rows), cols, Some(&title)));
        }
        SessionsCommand::Start {
            project,
            project_opt,
            tool,
            prompt,
            user,
            attach: _,
            no_attach,
        } => {
            let project = project.or(project_opt).unwrap_or_default();
            let id = resolve_project(&ctx, &project).await?;
            start_original(
                &ctx,
                id,
                json!({}),
                tool,
                prompt,
                user,
                !no_attach,
                Wording::Sessions,
            )
            .await?;
        }
        SessionsCommand::Output { id, lines } => {
            let v = ctx
                .client
                .get(&format!("ai/sessions/{id}/output?lines={lines}"))
                .await?;
            if f == Format::Table {
                print!("{}", v["output"].as_str().unwrap_or(""));
                eprintln!("[{}]", v["state"].as_str().unwrap_or("gone"));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SessionsCommand::Send { id, text } => {
            let s = find(&ctx, &id, None).await?;
            let data = if text.ends_with('\n') {
                text
            } else {
                format!("{text}\n")
            };
            ctx.client
                .post(
                    &format!(
                        "projects/{}/ai/sessions/{}/input",
                        s["project_id"],
                        s["session_id"].as_str().unwrap_or_default()
                    ),
                    &json!({"data": data}),
                )
                .await?;
            println!("Sent.");
        }
        SessionsCommand::Attach { id, project } => {
            let s = find(&ctx, &id, project.as_deref()).await?;
            if let Some(db) = s["id"].as_u64() {
                let v = ctx
                    .client
                    .get(&format!("ai/sessions/{db}/validate"))
                    .await?;
                if v["exists"] == false {
                    if v["marked_inactive"] == true {
                        anyhow::bail!(
                            "Session '{id}' no longer exists (tmux session terminated)\nThe session has been marked as inactive in the database."
                        );
                    }
                    anyhow::bail!("Cannot attach to session '{id}' - no tmux target available");
                }
            }
            attach(&s, ctx.client.base(), Wording::Sessions)?;
        }
        SessionsCommand::Stop {
            id,
            worktree,
            force,
        } => {
            let path = match worktree.as_deref() {
                Some(w) => format!("ai/sessions/{id}?worktree={w}&force={force}"),
                None => format!("ai/sessions/{id}"),
            };
            ctx.client.delete(&path).await?;
            match worktree.as_deref() {
                Some("remove") => println!("Session {id} stopped; its worktree was removed."),
                _ => println!("Session {id} stopped."),
            }
        }
        SessionsCommand::Respawn { id, project } => {
            let s = find(&ctx, &id, project.as_deref()).await?;
            // The original respawns only a dead pane: ask tmux through the server first.
            let db = s["id"].as_u64().unwrap_or_default();
            let out = ctx
                .client
                .get(&format!("ai/sessions/{db}/output?lines=0"))
                .await?;
            if matches!(out["state"].as_str(), Some("running" | "waiting")) {
                eprintln!("Warning: Session '{id}' is still alive, no need to respawn");
                return Ok(());
            }
            let v = ctx
                .client
                .post(&format!("ai/sessions/{db}/respawn"), &json!({}))
                .await?;
            println!(
                "✓ {}",
                v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!(
                        "Successfully respawned pane: {}",
                        s["tmux_target"].as_str().unwrap_or_default()
                    ))
            );
        }
    }
    Ok(())
}

pub fn started(f: Format, s: &Value) {
    if f == Format::Table {
        if s["existing"] == true {
            println!(
                "Reusing session {} ({})",
                s["id"],
                s["tool"].as_str().unwrap_or("")
            );
        } else {
            println!(
                "Started {} session {}",
                s["tool"].as_str().unwrap_or(""),
                s["id"]
            );
        }
        println!("tmux target: {}", s["tmux_target"].as_str().unwrap_or(""));
        println!("workspace: {}", s["workspace_path"].as_str().unwrap_or(""));
        println!("attach: aiops sessions attach {}", s["id"]);
    } else {
        println!("{}", render(s, f, None));
    }
}

/// Whether attaching can work here: both stdin and stdout are terminals.
fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// `issues start --project …` and `sessions start …` as the original: `--user` looked up by id
/// or exact email, `POST projects/{id}/ai/sessions`, the original's lines, then attach (unless
/// told not to, or when this is not a terminal: then the command to attach is printed).
#[allow(clippy::too_many_arguments)]
pub async fn start_original(
    ctx: &Ctx,
    project: u64,
    mut body: Value,
    tool: Option<String>,
    prompt: Option<String>,
    user: Option<String>,
    and_attach: bool,
    wording: Wording,
) -> anyhow::Result<()> {
    let f = ctx.format;
    if let Some(u) = user {
        let users = unwrap_key(ctx.client.get("users").await?, "users");
        let wanted = u.trim();
        let found = users
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| match wanted.parse::<u64>() {
                Ok(n) => x["id"].as_u64() == Some(n),
                Err(_) => x["email"].as_str() == Some(wanted),
            });
        let Some(found) = found else {
            anyhow::bail!("User '{u}' not found");
        };
        super::commands::note(
            f,
            &format!(
                "Starting session as: {}",
                found["email"].as_str().unwrap_or("")
            ),
        );
        body["user_id"] = found["id"].clone();
    }
    if let Some(t) = tool {
        body["tool"] = json!(t);
    }
    if let Some(p) = prompt {
        body["prompt"] = json!(p);
    }
    let s = ctx
        .client
        .post(&format!("projects/{project}/ai/sessions"), &body)
        .await?;
    let sid = s["session_id"].as_str().unwrap_or_default();
    if f == Format::Table {
        if s["existing"] == true {
            println!("✓ Reusing existing session (session ID: {sid})");
        } else if wording == Wording::Issues {
            println!("✓ AI session started (session ID: {sid})");
        } else {
            println!("✓ Session started (session ID: {sid})");
        }
        if let Some(w) = s["workspace_path"].as_str() {
            println!("Workspace: {w}");
        }
        if let Some(t) = s["tmux_target"].as_str() {
            println!("Tmux target: {t}");
        }
    } else {
        println!("{}", render(&s, f, None));
    }
    let target = s["tmux_target"].as_str().filter(|t| !t.is_empty());
    if and_attach && target.is_some() && interactive() {
        return attach(&s, ctx.client.base(), wording);
    }
    if let Some(t) = target {
        let hint = match wording {
            Wording::Issues => format!("To attach: aiops issues sessions --attach {t}"),
            Wording::Sessions => format!("To attach: aiops sessions attach {t}"),
        };
        super::commands::note(f, &hint);
    }
    Ok(())
}

/// The tool a session runs: its `tool`, else guessed from its command as the original does.
fn tool_of(s: &Value) -> String {
    if let Some(t) = s["tool"].as_str().filter(|t| !t.is_empty()) {
        return t.to_string();
    }
    let cmd = s["command"].as_str().unwrap_or_default().to_lowercase();
    ["claude", "codex", "gemini"]
        .into_iter()
        .find(|t| cmd.contains(t))
        .unwrap_or("unknown")
        .to_string()
}

/// A row of the `sessions list` table: the original's columns (short session id, issue, tool,
/// alive/dead, project) plus the database id that `sessions stop` takes.
fn session_row(s: &Value) -> Value {
    let sid: String = s["session_id"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let status = if s["is_active"] != true {
        "ended"
    } else if s["pane_dead"] == true {
        "dead"
    } else {
        "alive"
    };
    json!({
        "id": s["id"].clone(),
        "session_id": format!("{sid}..."),
        "issue": s["issue_id"].as_u64().map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        "tool": s["tool"].as_str().unwrap_or("unknown"),
        "status": status,
        "project": s["project_name"].as_str().map(str::to_string)
            .unwrap_or_else(|| s["project_id"].to_string()),
        "tmux_target": s["tmux_target"].clone(),
    })
}

/// `aiops issues sessions [--project] [--attach X] [--all-users]` (the original's flow).
pub async fn issues_sessions(
    ctx: &Ctx,
    project: Option<String>,
    attach_to: Option<String>,
    all_users: bool,
) -> anyhow::Result<()> {
    let f = ctx.format;
    let mut all = all_users;
    if !all && let Ok(me) = ctx.client.get("auth/me").await {
        all = me["user"]["is_admin"] == true;
    }
    let q = if all || attach_to.is_some() {
        "?all_users=true"
    } else {
        ""
    };
    let mut found: Vec<Value> = Vec::new();
    if let Some(p) = &project {
        let pid = resolve_project(ctx, p).await?;
        let list = unwrap_key(
            ctx.client
                .get(&format!("projects/{pid}/ai/sessions{q}"))
                .await?,
            "sessions",
        );
        for mut s in list.as_array().cloned().unwrap_or_default() {
            s["project_id"] = json!(pid);
            found.push(s);
        }
    } else {
        let projects = unwrap_key(ctx.client.get("projects").await?, "projects");
        for p in projects.as_array().into_iter().flatten() {
            let Some(pid) = p["id"].as_u64() else {
                continue;
            };
            // A project whose sessions cannot be listed (no access, no workspace) has none.
            let Ok(resp) = ctx
                .client
                .get(&format!("projects/{pid}/ai/sessions{q}"))
                .await
            else {
                continue;
            };
            for mut s in unwrap_key(resp, "sessions")
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                s["project_id"] = json!(pid);
                s["project_name"] = p["name"].clone();
                found.push(s);
            }
        }
    }
    if found.is_empty() {
        super::commands::note(f, "No active AI sessions found");
        if f != Format::Table {
            println!("[]");
        }
        if attach_to.is_some() {
            anyhow::bail!("Unable to attach because no sessions are running.");
        }
        return Ok(());
    }
    if f == Format::Table {
        let rows: Vec<Value> = found
            .iter()
            .map(|s| {
                let sid: String = s["session_id"].as_str().unwrap_or_default().chars().take(12).collect();
                json!({
                    "session_id": format!("{sid}..."),
                    "issue": s["issue_id"].as_u64().map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                    "tool": tool_of(s),
                    "project": s["project_name"].as_str().map(str::to_string)
                        .unwrap_or_else(|| s["project_id"].to_string()),
                    "tmux_target": s["tmux_target"].clone(),
                })
            })
            .collect();
        let (title, cols): (String, &[&str]) = match &project {
            Some(p) => (
                format!("Active AI Sessions (Project {p})"),
                &["session_id", "issue", "tool", "tmux_target"],
            ),
            None => (
                "Active AI Sessions (All Projects)".into(),
                &["session_id", "issue", "tool", "project", "tmux_target"],
            ),
        };
        println!("{}", table_of(&json!(rows), cols, Some(&title)));
    } else if attach_to.is_none() {
        println!("{}", render(&json!(found), f, None));
    }
    if let Some(x) = attach_to {
        let Some(s) = found.iter().find(|s| matches_target(s, &x)) else {
            anyhow::bail!("Session '{x}' not found in the list above.");
        };
        attach(s, ctx.client.base(), Wording::Issues)?;
    }
    Ok(())
}
