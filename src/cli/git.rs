//! `aiops git …` and `aiops workspace …`: your workspace of a project. PROJECT is a name or id.

use super::commands::{Ctx, resolve_project, unwrap_key};
use super::issues::query;
use super::output::{Format, render, table_of};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum GitCommand {
    /// Branch, ahead/behind, changed files, last commit
    Status { project: String },
    /// Pull from origin
    Pull {
        project: String,
        #[arg(long = "ref")]
        r#ref: Option<String>,
        /// Discard local changes first
        #[arg(long)]
        clean: bool,
    },
    /// Fetch from origin (updates remote-tracking branches only)
    Fetch { project: String },
    /// Push the current branch (or --ref)
    Push {
        project: String,
        #[arg(long = "ref")]
        r#ref: Option<String>,
    },
    /// Commit all changes, or only --files "a,b"
    Commit {
        project: String,
        message: String,
        #[arg(long)]
        files: Option<String>,
    },
    /// List branches
    Branches { project: String },
    /// Create a branch (and check it out)
    Branch {
        project: String,
        name: String,
        #[arg(long = "from")]
        from: Option<String>,
        /// Create without checking it out
        #[arg(long)]
        no_checkout: bool,
    },
    /// Switch branches
    Checkout { project: String, branch: String },
    /// Recent commits
    Log {
        project: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show changes (--staged for the index)
    Diff {
        project: String,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        staged: bool,
    },
    /// List a directory of the workspace
    Files {
        project: String,
        #[arg(long, default_value = "")]
        path: String,
    },
    /// Print a file of the workspace
    Cat { project: String, file_path: String },
    /// Open a pull request (GitHub) or merge request (GitLab) on the project's repository
    #[command(name = "pr-create")]
    PrCreate {
        project: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        /// The branch with the changes
        #[arg(long = "source-branch")]
        source_branch: String,
        /// The branch it goes into (default: the project's default branch)
        #[arg(long = "target-branch")]
        target_branch: Option<String>,
    },
    /// The project's pull (merge) requests
    #[command(name = "pr-list")]
    PrList {
        project: String,
        #[arg(long, default_value = "open", value_parser = ["open", "closed", "merged", "all"])]
        state: String,
    },
    /// Merge a pull (merge) request
    #[command(name = "pr-merge")]
    PrMerge { project: String, number: u64 },
}

#[derive(Subcommand, Debug)]
pub enum WorkspaceCommand {
    /// Clone the project into your workspace
    Init { project: String },
    /// Where your workspace is and whether it exists
    Status { project: String },
}

fn encode(s: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("v", s)
        .finish()
        .trim_start_matches("v=")
        .to_string()
}

pub async fn git(ctx: Ctx, cmd: GitCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        GitCommand::Status { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let s = unwrap_key(
                ctx.client.get(&format!("projects/{id}/git/status")).await?,
                "status",
            );
            println!("{}", render(&s, f, None));
        }
        GitCommand::Pull {
            project,
            r#ref,
            clean,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let qs = query(&[("ref", r#ref), ("clean", clean.then(|| "true".into()))]);
            let r = ctx
                .client
                .request(Method::POST, &format!("projects/{id}/git/pull{qs}"), None)
                .await?
                .unwrap_or(Value::Null);
            println!("Pull successful!");
            if let Some(m) = r["result"].as_str().filter(|m| !m.is_empty()) {
                println!("{m}");
            }
        }
        GitCommand::Fetch { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let r = ctx
                .client
                .request(Method::POST, &format!("projects/{id}/git/fetch"), None)
                .await?
                .unwrap_or(Value::Null);
            println!("Fetch successful!");
            if let Some(m) = r["result"].as_str().filter(|m| !m.is_empty()) {
                println!("{m}");
            }
        }
        GitCommand::Push { project, r#ref } => {
            let id = resolve_project(&ctx, &project).await?;
            let qs = query(&[("ref", r#ref)]);
            let r = ctx
                .client
                .request(Method::POST, &format!("projects/{id}/git/push{qs}"), None)
                .await?
                .unwrap_or(Value::Null);
            println!("Push successful!");
            if let Some(m) = r["result"].as_str().filter(|m| !m.is_empty()) {
                println!("{m}");
            }
        }
        GitCommand::Commit {
            project,
            message,
            files,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let mut body = json!({"message": message});
            if let Some(list) = files {
                let files: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if !files.is_empty() {
                    body["files"] = json!(files);
                }
            }
            let r = ctx
                .client
                .post(&format!("projects/{id}/git/commit"), &body)
                .await?;
            println!("Commit created successfully!");
            if let Some(c) = r["commit"].as_str() {
                println!("{c}");
            }
        }
        GitCommand::PrCreate {
            project,
            title,
            description,
            source_branch,
            target_branch,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let mut body = json!({"title": title, "source_branch": source_branch});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(t) = target_branch {
                body["target_branch"] = json!(t);
            }
            let v = ctx
                .client
                .post(&format!("projects/{id}/pulls"), &body)
                .await?;
            let pr = &v["pull_request"];
            match f {
                Format::Table => println!(
                    "Pull request #{} created: {}",
                    pr["number"],
                    pr["url"].as_str().unwrap_or("")
                ),
                _ => println!("{}", render(pr, f, None)),
            }
        }
        GitCommand::PrList { project, state } => {
            let id = resolve_project(&ctx, &project).await?;
            let v = unwrap_key(
                ctx.client
                    .get(&format!("projects/{id}/pulls?state={}", encode(&state)))
                    .await?,
                "pull_requests",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &v,
                        &["number", "state", "source_branch", "target_branch", "url"],
                        Some("Pull requests")
                    )
                );
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        GitCommand::PrMerge { project, number } => {
            let id = resolve_project(&ctx, &project).await?;
            let v = ctx
                .client
                .post(&format!("projects/{id}/pulls/{number}/merge"), &json!({}))
                .await?;
            let pr = &v["pull_request"];
            match f {
                Format::Table => println!(
                    "Pull request #{number} merged: {}",
                    pr["url"].as_str().unwrap_or("")
                ),
                _ => println!("{}", render(pr, f, None)),
            }
        }
        GitCommand::Branches { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let b = unwrap_key(
                ctx.client
                    .get(&format!("projects/{id}/git/branches"))
                    .await?,
                "branches",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(&b, &["name", "is_current"], Some("Branches"))
                );
            } else {
                println!("{}", render(&b, f, None));
            }
        }
        GitCommand::Branch {
            project,
            name,
            from,
            no_checkout,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let mut body = json!({"name": name, "checkout": !no_checkout});
            if let Some(fr) = from {
                body["from_branch"] = json!(fr);
            }
            ctx.client
                .post(&format!("projects/{id}/git/branches"), &body)
                .await?;
            println!("Branch '{name}' created successfully!");
        }
        GitCommand::Checkout { project, branch } => {
            let id = resolve_project(&ctx, &project).await?;
            ctx.client
                .post(
                    &format!("projects/{id}/git/checkout"),
                    &json!({"branch": branch}),
                )
                .await?;
            println!("Checked out branch '{branch}'!");
        }
        GitCommand::Log { project, limit } => {
            let id = resolve_project(&ctx, &project).await?;
            let c = unwrap_key(
                ctx.client
                    .get(&format!("projects/{id}/git/log?limit={limit}"))
                    .await?,
                "commits",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &c,
                        &["short_hash", "author", "date", "subject"],
                        Some("Commits")
                    )
                );
            } else {
                println!("{}", render(&c, f, None));
            }
        }
        GitCommand::Diff {
            project,
            path,
            staged,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            let qs = query(&[("path", path), ("staged", staged.then(|| "true".into()))]);
            let d = ctx
                .client
                .get(&format!("projects/{id}/git/diff{qs}"))
                .await?;
            if f == Format::Table {
                print!("{}", d["diff"].as_str().unwrap_or_default());
            } else {
                println!("{}", render(&d, f, None));
            }
        }
        GitCommand::Files { project, path } => {
            let id = resolve_project(&ctx, &project).await?;
            let qs = query(&[("path", Some(path))]);
            let list = unwrap_key(
                ctx.client.get(&format!("projects/{id}/files{qs}")).await?,
                "files",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &["name", "is_directory", "permissions", "size"],
                        Some("Files")
                    )
                );
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        GitCommand::Cat { project, file_path } => {
            let id = resolve_project(&ctx, &project).await?;
            // One encoded segment (slashes as %2F): URLs are never normalised on the way, and
            // the server alone decides what is inside the workspace.
            let r = ctx
                .client
                .get(&format!("projects/{id}/files/{}", encode(&file_path)))
                .await?;
            // The file itself in every format, as the original (it unwraps `content`).
            if r["binary"].as_bool() == Some(true) {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(r["content_base64"].as_str().unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("bad base64 from the server: {e}"))?;
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
            } else {
                print!("{}", r["content"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

pub async fn workspace(ctx: Ctx, cmd: WorkspaceCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        WorkspaceCommand::Init { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let r = ctx
                .client
                .post(&format!("projects/{id}/workspace/init"), &json!({}))
                .await?;
            if f == Format::Table {
                println!("✓ {}", r["message"].as_str().unwrap_or("Workspace ready"));
            } else {
                println!("{}", render(&r, f, None));
            }
        }
        WorkspaceCommand::Status { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let r = ctx
                .client
                .get(&format!("projects/{id}/workspace/status"))
                .await?;
            println!("{}", render(&r, f, None));
        }
    }
    Ok(())
}
