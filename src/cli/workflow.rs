//! `aiops workflow …` (the steps an agent takes on an issue) and `aiops agents global …`.

use super::commands::Ctx;
use super::output::{Format, render};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};

#[derive(Subcommand, Debug)]
pub enum WorkflowCommand {
    /// Assign the issue to yourself on its tracker
    Claim { issue_id: u64 },
    /// Comment "**Status Update:** STATUS" (and --comment) on the issue
    Progress {
        issue_id: u64,
        status: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Commit your workspace's changes, push the branch, and comment the commit on the issue
    Submit {
        issue_id: u64,
        /// Project id
        #[arg(long)]
        project: u64,
        /// Commit message
        #[arg(long, short = 'm')]
        message: String,
        /// Only these files (comma-separated paths); everything by default
        #[arg(long)]
        files: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        /// Commit without pushing
        #[arg(long)]
        no_push: bool,
        /// Also open the pull (merge) request of the session's branch and print its URL
        #[arg(long, conflicts_with = "no_push")]
        pr: bool,
    },
    /// Ask for review on the issue
    Approve {
        issue_id: u64,
        #[arg(long, short = 'm')]
        message: Option<String>,
    },
    /// Comment the summary and close the issue
    Complete {
        issue_id: u64,
        #[arg(long)]
        summary: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// The global instructions every agent context file starts with
    Global {
        #[command(subcommand)]
        command: GlobalCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum GlobalCommand {
    /// Print the global instructions
    Get,
    /// Set them from a file (or stdin) (admins)
    Set {
        #[arg(long, short = 'f', value_parser = super::commands::existing_file)]
        file: Option<std::path::PathBuf>,
    },
    /// Remove them: agents get the repository's AGENTS.md again (admins)
    Clear {
        #[arg(long)]
        yes: bool,
    },
}

fn done(f: Format, text: String, v: &Value) {
    if f == Format::Table {
        println!("{text}");
    } else {
        println!("{}", render(v, f, None));
    }
}

pub async fn workflow(ctx: Ctx, cmd: WorkflowCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        WorkflowCommand::Claim { issue_id } => {
            let v = ctx
                .client
                .post("workflows/claim-issue", &json!({"issue_id": issue_id}))
                .await?;
            // The whole response, as the original (message, issue, workspace, next_steps …).
            super::commands::note(f, &format!("Issue {issue_id} claimed successfully!"));
            println!("{}", render(&v, f, None));
        }
        WorkflowCommand::Progress {
            issue_id,
            status,
            comment,
        } => {
            let mut body = json!({"issue_id": issue_id, "status": status});
            if let Some(c) = comment {
                body["comment"] = json!(c);
            }
            let v = ctx.client.post("workflows/update-progress", &body).await?;
            done(f, format!("Progress updated for issue {issue_id}!"), &v);
        }
        WorkflowCommand::Submit {
            issue_id,
            project,
            message,
            files,
            comment,
            no_push,
            pr,
        } => {
            let mut body = json!({"issue_id": issue_id, "project_id": project,
                                  "commit_message": message, "push": !no_push});
            if pr {
                body["pr"] = json!(true);
            }
            if let Some(fs) = files {
                let list: Vec<&str> = fs
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                body["files"] = json!(list);
            }
            if let Some(c) = comment {
                body["comment"] = json!(c);
            }
            let v = ctx.client.post("workflows/submit-changes", &body).await?;
            let mut text = format!(
                "Changes submitted for issue {issue_id}! Commit {}",
                v["commit_hash"].as_str().unwrap_or("")
            );
            if let Some(b) = v["branch"].as_str() {
                text.push_str(&format!(", pushed to {b}"));
            }
            if let Some(u) = v["pull_request"]["url"].as_str() {
                text.push_str(&format!(
                    "\nPull request #{} ({}): {u}",
                    v["pull_request"]["number"],
                    v["pull_request"]["state"].as_str().unwrap_or("")
                ));
            }
            if let Some(w) = v["warning"].as_str() {
                text.push_str(&format!("\n⚠ {w}"));
            }
            done(f, text, &v);
        }
        WorkflowCommand::Approve { issue_id, message } => {
            let mut body = json!({"issue_id": issue_id});
            if let Some(m) = message {
                body["message"] = json!(m);
            }
            let v = ctx.client.post("workflows/request-approval", &body).await?;
            done(f, format!("Approval requested for issue {issue_id}!"), &v);
        }
        WorkflowCommand::Complete { issue_id, summary } => {
            let mut body = json!({"issue_id": issue_id});
            if let Some(s) = summary {
                body["summary"] = json!(s);
            }
            let v = ctx.client.post("workflows/complete-issue", &body).await?;
            done(f, format!("Issue {issue_id} completed successfully!"), &v);
        }
    }
    Ok(())
}

pub async fn agents(ctx: Ctx, cmd: AgentsCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    let AgentsCommand::Global { command } = cmd;
    match command {
        GlobalCommand::Get => {
            let v = ctx.client.get("agents/global").await?;
            if v["content"].is_null() {
                println!("No global agent context set.");
                println!(
                    "{}",
                    v["message"]
                        .as_str()
                        .unwrap_or("System will use AGENTS.md from repository.")
                );
            } else if f == Format::Table {
                println!("Global Agent Context\n");
                println!("Updated: {}", v["updated_at"].as_str().unwrap_or("N/A"));
                if let Some(n) = v["updated_by"]["name"].as_str() {
                    println!(
                        "Updated by: {n} ({})",
                        v["updated_by"]["email"].as_str().unwrap_or("")
                    );
                }
                println!("\nContent:\n{}", v["content"].as_str().unwrap_or(""));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        GlobalCommand::Set { file } => {
            let content = match file {
                Some(p) => std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
                None => {
                    if std::io::stdin().is_terminal() {
                        eprintln!("Reading content from stdin. Press Ctrl-D to finish.");
                    }
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
            };
            let content = content.trim();
            if content.is_empty() {
                anyhow::bail!("Content cannot be empty");
            }
            let v = ctx
                .client
                .request(
                    Method::PUT,
                    "agents/global",
                    Some(&json!({"content": content})),
                )
                .await?
                .unwrap_or(Value::Null);
            done(
                f,
                format!(
                    "✓ {}\n\nUpdated at: {}",
                    v["message"]
                        .as_str()
                        .unwrap_or("Global agent context updated successfully"),
                    v["updated_at"].as_str().unwrap_or("N/A")
                ),
                &v,
            );
        }
        GlobalCommand::Clear { yes } => {
            if !yes {
                eprint!("Are you sure you want to clear the global agent context? [y/N]: ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    anyhow::bail!("Aborted!");
                }
            }
            let v = ctx
                .client
                .request(Method::DELETE, "agents/global", None)
                .await?
                .unwrap_or(Value::Null);
            done(
                f,
                format!(
                    "✓ {}",
                    v["message"]
                        .as_str()
                        .unwrap_or("Global agent context cleared")
                ),
                &v,
            );
        }
    }
    Ok(())
}
