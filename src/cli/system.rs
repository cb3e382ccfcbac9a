//! `aiops system …`: status, logs, update, restart, scheduler, and backups (admins).

use super::commands::{Ctx, unwrap_key};
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
    /// Replace the server's binary with a release (URL or server path), checked by SHA-256
    Update {
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
    /// Download a backup archive
    Download {
        id: u64,
        /// File to write (default: the backup's file name)
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
    Delete { id: u64 },
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

fn confirm(question: &str) -> anyhow::Result<()> {
    eprint!("{question} [y/N]: ");
    let mut a = String::new();
    std::io::stdin().read_line(&mut a)?;
    if matches!(a.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        anyhow::bail!("Aborted!")
    }
}

fn mb(v: &Value) -> String {
    format!("{:.2} MB", v.as_f64().unwrap_or(0.0) / 1048576.0)
}

pub async fn system(ctx: Ctx, cmd: SystemCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        SystemCommand::Status => {
            let v = ctx.client.get("system/status").await?;
            if f == Format::Table {
                println!(
                    "aiops {} — {} (up {} s)",
                    v["version"].as_str().unwrap_or(""),
                    if v["healthy"] == true {
                        "healthy"
                    } else {
                        "UNHEALTHY"
                    },
                    v["uptime_seconds"]
                );
                println!(
                    "data: {} ({})",
                    v["data_dir"].as_str().unwrap_or(""),
                    mb(&v["data_dir_bytes"])
                );
                if let Some(c) = v["components"].as_object() {
                    for (name, comp) in c {
                        println!(
                            "  {} {name}: {}",
                            if comp["healthy"] == true {
                                "✓"
                            } else {
                                "✗"
                            },
                            comp["message"].as_str().unwrap_or("")
                        );
                    }
                }
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
            source,
            sha256,
            restart,
        } => {
            let v = ctx
                .client
                .post(
                    "system/update",
                    &json!({"source": source, "sha256": sha256, "restart": restart}),
                )
                .await?;
            if f == Format::Table {
                println!("✓ {}", v["message"].as_str().unwrap_or("Updated"));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        SystemCommand::Restart { yes } => {
            if !yes {
                confirm("Are you sure you want to restart the aiops application?")?;
            }
            let v = ctx.client.post("system/restart", &json!({})).await?;
            println!(
                "✓ {}",
                v["message"].as_str().unwrap_or("Restart initiated.")
            );
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
            eprintln!("Downloading backup {id}...");
            let n = ctx
                .client
                .download(&format!("system/backups/{id}/download"), &dest)
                .await?;
            println!("✓ Backup downloaded to: {} ({n} bytes)", dest.display());
        }
        BackupCommand::Restore { id, yes } => {
            if !yes {
                eprintln!("WARNING: This will replace the current database!");
                confirm("Are you sure you want to restore from this backup?")?;
            }
            eprintln!("Restoring database from backup {id}...");
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
        BackupCommand::Delete { id } => {
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
