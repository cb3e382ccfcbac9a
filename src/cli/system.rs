//! `aiops system …`: status, logs, update, restart, scheduler, and backups (admins).

use super::commands::{Ctx, Plain, confirm, unwrap_key};
use super::output::{Format, render, table_of};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Health of every part, version, uptime, data size, scheduled jobs
    Status,
    /// Recent log lines
    Logs {
        #[arg(long, default_value_t = 100)]
        lines: usize,
        /// Only lines containing this text
        #[arg(long)]
        filter: Option<String>,
        /// Minimum level: error, warn, info, debug
        #[arg(long)]
        level: Option<String>,
    },
    /// Update the server: `--skip-migrations` as the original (POST system/update); with
    /// SOURCE/--source and --sha256 the same as `update-binary`
    Update {
        /// Skip the database migrations step
        #[arg(long)]
        skip_migrations: bool,
        /// A release binary (URL or server path): see `update-binary`
        #[arg(value_name = "SOURCE")]
        source: Option<String>,
        #[arg(long = "source", value_name = "SOURCE", conflicts_with = "source")]
        source_opt: Option<String>,
        /// SHA-256 of the release binary (with SOURCE)
        #[arg(long)]
        sha256: Option<String>,
        /// Restart into it right away (with SOURCE)
        #[arg(long)]
        restart: bool,
    },
    /// Replace the server's binary with a release (URL or server path), checked by SHA-256
    UpdateBinary {
        source: String,
        #[arg(long)]
        sha256: String,
        /// Restart into it right away
        #[arg(long)]
        restart: bool,
    },
    /// Restart the server gracefully (re-executes the binary)
    Restart {
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Update, then restart the server
    UpdateAndRestart {
        #[arg(long)]
        skip_migrations: bool,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Update an AI tool on the server: codex, gemini or claude with npm or brew, or any
    /// configured tool with its own update command (no --source)
    UpdateAiTool {
        tool: String,
        #[arg(long, value_parser = ["npm", "brew"])]
        source: Option<String>,
    },
    /// Scheduled jobs and their next runs
    Scheduler,
    /// Backups of the whole store
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Take a backup now
    Create {
        #[arg(long, short = 'd')]
        description: Option<String>,
    },
    /// List backups (newest first)
    List,
    /// Download a backup archive (`-f FILE`, or the original's `-o/--output PATH`)
    Download {
        id: u64,
        /// File to write (default: the backup's file name in the current directory)
        #[arg(long = "file", short = 'f')]
        file: Option<std::path::PathBuf>,
    },
    /// Replace all data with a backup's (a safety backup is taken first)
    Restore {
        id: u64,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Delete a backup
    Delete {
        id: u64,
        /// Accepted for compatibility (no question is asked)
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Show or set the backup schedule and retention
    Schedule {
        /// Cron expression (5 fields, or 6 with seconds); "off" stops scheduled backups
        #[arg(long)]
        cron: Option<String>,
        #[arg(long)]
        keep_last: Option<u64>,
        #[arg(long)]
        keep_days: Option<u32>,
    },
}

/// The confirmation a command asks for before anything else (before the configuration is
/// checked, as in the original): restart, update-and-restart, backup restore.
pub fn confirm_first(cmd: &SystemCommand) -> anyhow::Result<()> {
    match cmd {
        SystemCommand::Restart { yes: false } => {
            confirm("Are you sure you want to restart the aiops application?")
        }
        SystemCommand::UpdateAndRestart { yes: false, .. } => {
            confirm("Are you sure you want to update and restart the aiops application?")
        }
        SystemCommand::Backup {
            command: BackupCommand::Restore { yes: false, .. },
        } => {
            eprintln!("WARNING: This will replace the current database!");
            confirm("Are you sure you want to restore from this backup?")
        }
        _ => Ok(()),
    }
}

/// `git_pull` → `Git pull`; the original's names for its steps.
fn step_label(key: &str) -> String {
    match key {
        "uv_sync" | "dependencies" => "Dependencies".into(),
        _ => {
            let words = key.replace(['_', '-'], " ");
            let mut c = words.chars();
            match c.next() {
                Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
    }
}

/// The `Update Details:` lines, one per step of `results`, whatever the steps are:
/// `✓ Download: Success`, `✗ Verify: Failed - <error>`, `⊘ Migrations: Skipped`.
pub fn update_details(results: &Value, only_success: bool) -> Vec<String> {
    let mut out = Vec::new();
    let Some(steps) = results.as_object() else {
        return out;
    };
    for (key, step) in steps {
        let label = step_label(key);
        if step.as_object().is_none_or(|o| o.is_empty()) {
            continue;
        }
        if step["skipped"] == true {
            out.push(format!("⊘ {label}: Skipped"));
        } else if step["success"] == true {
            let word = match key.as_str() {
                "uv_sync" | "dependencies" => "Updated",
                "migrations" => "Completed",
                _ => "Success",
            };
            out.push(format!("✓ {label}: {word}"));
            if !only_success {
                let stdout = step["stdout"].as_str().unwrap_or_default().trim();
                if !stdout.is_empty() {
                    out.extend(stdout.lines().map(|l| format!("  {l}")));
                }
            }
        } else if !only_success {
            out.push(format!(
                "✗ {label}: Failed - {}",
                step["error"]
                    .as_str()
                    .or_else(|| step["stderr"].as_str().filter(|e| !e.trim().is_empty()))
                    .unwrap_or("Unknown error")
                    .trim()
            ));
        }
    }
    out
}

/// `system status` in table form, as the original prints it (§2.10 of its reference): the
/// verdict, one line per component with its details (tools and integrations as check marks,
/// other values as `key: value`), then the summary.
pub fn status_lines(v: &Value) -> Vec<String> {
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let mut out = vec![
        format!(
            "{} System Status: {}",
            mark(v["healthy"] == true),
            if v["healthy"] == true {
                "Healthy"
            } else {
                "Unhealthy"
            }
        ),
        String::new(),
        "Component Status:".to_string(),
    ];
    for (name, c) in v["components"].as_object().into_iter().flatten() {
        out.push(format!(
            "{} {}: {}",
            mark(c["healthy"] == true),
            super::output::header(name),
            c["message"].as_str().unwrap_or("No status")
        ));
        for (k, d) in c["details"].as_object().into_iter().flatten() {
            match (k.as_str(), d) {
                ("error", _) => {}
                ("tools", Value::Object(tools)) => {
                    for (t, info) in tools {
                        out.push(format!("  {} {t}", mark(info["available"] == true)));
                    }
                }
                ("integrations", Value::Object(list)) => {
                    for (n, info) in list {
                        let on = if info["enabled"] == true {
                            "✓"
                        } else {
                            "○"
                        };
                        out.push(format!(
                            "  {on} {n} ({})",
                            info["provider"].as_str().unwrap_or("?")
                        ));
                    }
                }
                (_, Value::Array(items)) => out.push(format!("  {k}: {} item(s)", items.len())),
                (_, Value::String(s)) => out.push(format!("  {k}: {s}")),
                (_, other) => out.push(format!("  {k}: {other}")),
            }
        }
    }
    let summary = &v["summary"];
    out.push(String::new());
    out.push("Summary:".to_string());
    out.push(format!(
        "  Healthy: {}/{} components",
        summary["healthy_components"], summary["total_components"]
    ));
    out.push(format!(
        "  Timestamp: {}",
        v["timestamp"].as_str().unwrap_or("N/A")
    ));
    out
}

fn mb(v: &Value) -> String {
    format!("{:.2} MB", v.as_f64().unwrap_or(0.0) / 1048576.0)
}

/// `system update-binary`: replace the server's binary with a release checked by SHA-256.
async fn update_binary(ctx: &Ctx, source: &str, sha256: &str, restart: bool) -> anyhow::Result<()> {
    let v = ctx
        .client
        .post(
            "system/update",
            &json!({"source": source, "sha256": sha256, "restart": restart}),
        )
        .await?;
    if ctx.format == Format::Table {
        println!("✓ {}", v["message"].as_str().unwrap_or("Updated"));
    } else {
        println!("{}", render(&v, ctx.format, None));
    }
    Ok(())
}

pub async fn system(ctx: Ctx, cmd: SystemCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        SystemCommand::Status => {
            let v = ctx.client.get("system/status").await?;
            if f == Format::Table {
                for line in status_lines(&v) {
                    println!("{line}");
                }
                println!();
                println!(
                    "aiops {} (up {} s), data: {} ({})",
                    v["version"].as_str().unwrap_or(""),
                    v["uptime_seconds"],
                    v["data_dir"].as_str().unwrap_or(""),
                    mb(&v["data_dir_bytes"])
                );
                let jobs = &v["components"]["scheduler"]["details"]["jobs"];
                if jobs.as_array().is_some_and(|a| !a.is_empty()) {
                    println!(
                        "{}",
                        table_of(
                            jobs,
                            &["key", "cron", "next_run", "last_run", "last_result"],
                            Some("Scheduled jobs")
                        )
                    );
                }
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SystemCommand::Logs {
            lines,
            filter,
            level,
        } => {
            let mut q = format!("system/logs?lines={lines}");
            if let Some(x) = filter {
                q.push_str(&format!("&filter={}", urlencode(&x)));
            }
            if let Some(l) = level {
                q.push_str(&format!("&level={}", urlencode(&l)));
            }
            let v = ctx.client.get(&q).await?;
            if f == Format::Table {
                for l in v["lines"].as_array().into_iter().flatten() {
                    let line = l.as_str().unwrap_or("");
                    match serde_json::from_str::<Value>(line) {
                        Ok(j) => println!(
                            "{} {:5} {} {}",
                            j["timestamp"].as_str().unwrap_or(""),
                            j["level"].as_str().unwrap_or(""),
                            j["fields"]["message"].as_str().unwrap_or(""),
                            j["fields"]
                                .as_object()
                                .map(|o| o
                                    .iter()
                                    .filter(|(k, _)| *k != "message")
                                    .map(|(k, v)| format!("{k}={v}"))
                                    .collect::<Vec<_>>()
                                    .join(" "))
                                .unwrap_or_default()
                        ),
                        Err(_) => println!("{line}"),
                    }
                }
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SystemCommand::Update {
            skip_migrations,
            source,
            source_opt,
            sha256,
            restart,
        } => match (source.or(source_opt), sha256) {
            (Some(source), Some(sha256)) => {
                update_binary(&ctx, &source, &sha256, restart).await?;
            }
            (Some(_), None) => anyhow::bail!(
                "--sha256 is required with SOURCE (the release's SHA-256); or run `aiops system update` alone for the server's own update"
            ),
            (None, Some(_)) => {
                anyhow::bail!("--sha256 goes with SOURCE: see `aiops system update-binary --help`")
            }
            (None, None) => {
                super::commands::note(f, "Updating aiops application...");
                let v = ctx
                    .client
                    .post(
                        "system/update",
                        &json!({"skip_migrations": skip_migrations}),
                    )
                    .await?;
                if f == Format::Table {
                    println!("✓ {}", v["message"].as_str().unwrap_or("Update completed"));
                    if v["results"].is_object() {
                        println!("Update Details:");
                        for l in update_details(&v["results"], false) {
                            println!("{l}");
                        }
                    }
                } else {
                    println!("{}", render(&v, f, None));
                }
            }
        },
        SystemCommand::UpdateBinary {
            source,
            sha256,
            restart,
        } => update_binary(&ctx, &source, &sha256, restart).await?,
        SystemCommand::Restart { .. } => {
            super::commands::note(f, "Restarting aiops application...");
            let v = ctx.client.post("system/restart", &json!({})).await?;
            if f == Format::Table {
                println!("✓ {}", v["message"].as_str().unwrap_or("Restart initiated"));
                println!("The application will restart in a few seconds...");
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SystemCommand::UpdateAndRestart {
            skip_migrations, ..
        } => {
            super::commands::note(f, "Updating and restarting aiops application...");
            let v = ctx
                .client
                .post(
                    "system/update-and-restart",
                    &json!({"skip_migrations": skip_migrations}),
                )
                .await?;
            if f == Format::Table {
                println!(
                    "✓ {}",
                    v["message"]
                        .as_str()
                        .unwrap_or("Update completed, restart initiated")
                );
                if v["results"].is_object() {
                    println!("Update Details:");
                    for l in update_details(&v["results"], true) {
                        println!("{l}");
                    }
                }
                println!("The application will restart in a few seconds...");
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SystemCommand::UpdateAiTool { tool, source } => {
            let label = match tool.as_str() {
                "codex" => "Codex CLI",
                "gemini" => "@google/gemini-cli",
                "claude" => "Claude CLI",
                other => other,
            };
            let via = match &source {
                Some(s) => format!(" via {}", s.to_uppercase()),
                None => String::new(),
            };
            super::commands::note(f, &format!("Updating {label}{via}..."));
            let v = ctx
                .client
                .post(
                    &format!("system/ai-tools/{tool}/update"),
                    &json!({"source": source}),
                )
                .await?;
            let ok = v["success"] == true;
            let msg = v["message"].as_str().unwrap_or_default();
            if f != Format::Table {
                println!("{}", render(&v, f, None));
            } else if ok {
                println!("✓ {msg}");
                let out = v["stdout"]
                    .as_str()
                    .or_else(|| v["result"]["stdout"].as_str())
                    .unwrap_or_default()
                    .trim();
                if !out.is_empty() {
                    println!("Output:\n{out}");
                }
            } else {
                eprintln!("✗ {msg}");
                let err = v["stderr"]
                    .as_str()
                    .or_else(|| v["result"]["stderr"].as_str())
                    .unwrap_or_default()
                    .trim();
                if !err.is_empty() {
                    eprintln!("Error Output:\n{err}");
                }
            }
            if !ok {
                return Err(Plain {
                    message: format!("{label} was not updated (see above)"),
                    code: 1,
                }
                .into());
            }
        }
        SystemCommand::Scheduler => {
            let v = ctx.client.get("system/scheduler").await?;
            let jobs = unwrap_key(v, "jobs");
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &jobs,
                        &[
                            "key",
                            "kind",
                            "cron",
                            "next_run",
                            "last_run",
                            "last_result",
                            "running"
                        ],
                        Some("Scheduled jobs")
                    )
                );
            } else {
                println!("{}", render(&jobs, f, None));
            }
        }
        SystemCommand::Backup { command } => backup(ctx, command).await?,
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn backup(ctx: Ctx, cmd: BackupCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        BackupCommand::Create { description } => {
            eprintln!("Creating database backup...");
            let mut body = json!({});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let v = ctx.client.post("system/backups", &body).await?;
            if f == Format::Table {
                let b = &v["backup"];
                println!("✓ {}", v["message"].as_str().unwrap_or("Backup created"));
                println!();
                println!("Backup ID: {}", b["id"]);
                println!("Filename: {}", b["filename"].as_str().unwrap_or(""));
                println!("Size: {}", mb(&b["size_bytes"]));
                if let Some(d) = b["description"].as_str() {
                    println!("Description: {d}");
                }
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        BackupCommand::List => {
            let list = unwrap_key(ctx.client.get("system/backups").await?, "backups");
            if list.as_array().is_none_or(|a| a.is_empty()) {
                println!("No backups found.");
            } else if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "filename",
                            "size_bytes",
                            "kind",
                            "created_at",
                            "description"
                        ],
                        Some("Database Backups")
                    )
                );
                println!(
                    "Total: {} backup(s)",
                    list.as_array().map(Vec::len).unwrap_or(0)
                );
            } else {
                println!("{}", render(&json!({"backups": list}), f, None));
            }
        }
        BackupCommand::Download { id, file } => {
            let meta = ctx.client.get(&format!("system/backups/{id}")).await?;
            let name = meta["backup"]["filename"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("backup_{id}.tar.gz"));
            let dest = file.unwrap_or_else(|| std::path::PathBuf::from(name));
            super::commands::note(f, &format!("Downloading backup {id}..."));
            let n = ctx
                .client
                .download(&format!("system/backups/{id}/download"), &dest)
                .await
                .map_err(|e| {
                    let message = format!("{e:#}");
                    if message.starts_with("Download failed") {
                        Plain { message, code: 1 }.into()
                    } else {
                        e
                    }
                })?;
            println!("✓ Backup downloaded to: {} ({n} bytes)", dest.display());
        }
        BackupCommand::Restore { id, .. } => {
            super::commands::note(f, &format!("Restoring database from backup {id}..."));
            let v = ctx
                .client
                .post(&format!("system/backups/{id}/restore"), &json!({}))
                .await?;
            if f == Format::Table {
                println!("✓ {}", v["message"].as_str().unwrap_or("Database restored"));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        BackupCommand::Delete { id, .. } => {
            ctx.client
                .request(Method::DELETE, &format!("system/backups/{id}"), None)
                .await?;
            println!("✓ Backup {id} deleted");
        }
        BackupCommand::Schedule {
            cron,
            keep_last,
            keep_days,
        } => {
            let v = if cron.is_some() || keep_last.is_some() || keep_days.is_some() {
                let cur = ctx.client.get("system/backup-schedule").await?;
                let cron = match cron.as_deref() {
                    Some("off") => Value::Null,
                    Some(c) => json!(c),
                    None => cur["cron"].clone(),
                };
                let body = json!({
                    "cron": cron,
                    "keep_last": keep_last.map(|n| json!(n)).unwrap_or(cur["keep_last"].clone()),
                    "keep_days": keep_days.map(|n| json!(n)).unwrap_or(cur["keep_days"].clone()),
                });
                ctx.client
                    .request(Method::PUT, "system/backup-schedule", Some(&body))
                    .await?
                    .unwrap_or(Value::Null)
            } else {
                ctx.client.get("system/backup-schedule").await?
            };
            println!(
                "{}",
                render(&v, if f == Format::Table { Format::Yaml } else { f }, None)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_prints_like_the_original() {
        let v = json!({
            "healthy": false,
            "timestamp": "2026-12-01T10:00:00.123456+00:00",
            "components": {
                "ai_tools": {"healthy": true, "message": "1/2 AI tools available",
                    "details": {"tools": {"claude": {"available": true}, "codex": {"available": false}}}},
                "integrations": {"healthy": true, "message": "1 integration",
                    "details": {"integrations": {"gh": {"provider": "github", "enabled": false}}}},
                "tmux": {"healthy": false, "details": {"session_count": 0, "error": "no server"}}
            },
            "summary": {"healthy_components": 2, "total_components": 3}
        });
        assert_eq!(
            status_lines(&v),
            [
                "✗ System Status: Unhealthy",
                "",
                "Component Status:",
                "✓ Ai Tools: 1/2 AI tools available",
                "  ✓ claude",
                "  ✗ codex",
                "✓ Integrations: 1 integration",
                "  ○ gh (github)",
                "✗ Tmux: No status",
                "  session_count: 0",
                "",
                "Summary:",
                "  Healthy: 2/3 components",
                "  Timestamp: 2026-12-01T10:00:00.123456+00:00",
            ]
        );
    }
}
