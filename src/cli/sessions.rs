//! `aiops sessions …` and `aiops issues start`: AI agents in tmux.

use super::commands::{Ctx, resolve_project, unwrap_key};
use super::output::{Format, render, table_of};
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Your sessions (newest first)
    List {
        #[arg(long)]
        project: Option<String>,
        /// Only sessions still running
        #[arg(long)]
        active: bool,
        /// Everyone's (admins)
        #[arg(long)]
        all_users: bool,
    },
    /// Start an agent in a project (--tool claude|codex|gemini|shell|…)
    Start {
        project: String,
        #[arg(long, default_value = "claude")]
        tool: String,
        #[arg(long)]
        prompt: Option<String>,
        /// Attach to it (tmux) once started
        #[arg(long)]
        attach: bool,
    },
    /// Print what the agent shows now (and scrollback)
    Output {
        id: String,
        #[arg(long, default_value_t = 200)]
        lines: u32,
    },
    /// Type into a session (a newline is sent as Enter)
    Send { id: String, text: String },
    /// Attach your terminal to a session (tmux on this machine)
    Attach { id: String },
    /// Stop a session
    Stop { id: String },
    /// Run the session's command again
    Respawn { id: String },
}

async fn find(ctx: &Ctx, id: &str) -> anyhow::Result<Value> {
    let list = unwrap_key(ctx.client.get("ai/sessions?limit=500").await?, "sessions");
    list.as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| {
                    s["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id)
                        || s["session_id"] == id
                })
                .cloned()
        })
        .ok_or_else(|| anyhow::anyhow!("Session {id} not found"))
}

/// `tmux -S <socket> attach -t <target>` when the socket is on this machine; otherwise
/// `ssh -t <ssh_user>@<server host> tmux -S <socket> attach-session -t <target>`, the server
/// host being the one of the configured URL.
pub fn attach(session: &Value, base_url: &str) -> anyhow::Result<()> {
    let target = session["tmux_target"]
        .as_str()
        .filter(|t| !t.is_empty())
        .or_else(|| session["session_id"].as_str())
        .unwrap_or_default();
    if target.is_empty() {
        anyhow::bail!("Missing tmux session identifier to attach.");
    }
    let socket = session["tmux_socket"].as_str().unwrap_or_default();
    println!("Attaching to {target}…");
    println!("Press Ctrl-b then d to detach");
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
            active,
            all_users,
        } => {
            let mut q = vec![
                format!("active_only={active}"),
                format!("all_users={all_users}"),
            ];
            if let Some(p) = project {
                q.push(format!("project_id={}", resolve_project(&ctx, &p).await?));
            }
            let list = unwrap_key(
                ctx.client
                    .get(&format!("ai/sessions?{}", q.join("&")))
                    .await?,
                "sessions",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "project_id",
                            "issue_id",
                            "tool",
                            "tmux_target",
                            "is_active"
                        ],
                        Some("Sessions")
                    )
                );
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        SessionsCommand::Start {
            project,
            tool,
            prompt,
            attach: and_attach,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let mut body = json!({"tool": tool});
            if let Some(p) = prompt {
                body["prompt"] = json!(p);
            }
            let s = ctx
                .client
                .post(&format!("projects/{id}/ai/sessions"), &body)
                .await?;
            started(f, &s);
            if and_attach {
                attach(&s, ctx.client.base())?;
            }
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
            let s = find(&ctx, &id).await?;
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
        SessionsCommand::Attach { id } => {
            let s = find(&ctx, &id).await?;
            attach(&s, ctx.client.base())?;
        }
        SessionsCommand::Stop { id } => {
            ctx.client.delete(&format!("ai/sessions/{id}")).await?;
            println!("Session {id} stopped.");
        }
        SessionsCommand::Respawn { id } => {
            let v = ctx
                .client
                .post(&format!("ai/sessions/{id}/respawn"), &json!({}))
                .await?;
            println!("{}", v["message"].as_str().unwrap_or("Respawned."));
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
