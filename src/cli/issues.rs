//! `aiops issues …` and `aiops integrations …`: the tracker commands of the original CLI.
//! Issue ids are aiops ids (the `id` column), never tracker numbers.

use super::commands::{Ctx, existing_file, note, resolve_project, resolve_tenant, unwrap_key};
use super::output::{Format, render, table_of};
use clap::{ArgGroup, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum IssuesCommand {
    /// Start (or reuse) an AI agent session: `--project P [--issue N]` (attaches unless
    /// --no-attach), or `ISSUE_ID` (the issue's project; attaches only with --attach)
    #[command(group(ArgGroup::new("target").args(["id", "project"]).required(true)))]
    Start {
        /// The issue (aiops id); its project is used
        id: Option<u64>,
        /// Project name or id
        #[arg(long)]
        project: Option<String>,
        /// Issue (aiops id) to work on, with --project
        #[arg(long, requires = "project")]
        issue: Option<u64>,
        /// claude, codex, gemini or shell (ISSUE_ID form: any tool configured on the server)
        #[arg(long)]
        tool: Option<String>,
        /// Text typed into the agent
        #[arg(long)]
        prompt: Option<String>,
        /// Start as this user (email or id; admins)
        #[arg(long, requires = "project")]
        user: Option<String>,
        /// Attach to the session's tmux (the default with --project)
        #[arg(long)]
        attach: bool,
        /// Do not attach
        #[arg(long, conflicts_with = "attach")]
        no_attach: bool,
    },
    /// Claim an issue (assign it to you on the tracker), then start (or reuse) an agent on it
    Work {
        id: u64,
        #[arg(long, default_value = "claude")]
        tool: String,
        #[arg(long)]
        prompt: Option<String>,
        /// Attach to the agent's tmux session once started
        #[arg(long)]
        attach: bool,
    },
    /// Regenerate AGENTS.override.md for an issue in your workspace
    Context { id: u64 },
    /// List issues (newest first)
    List {
        /// open, closed, a status slug, or all
        #[arg(long)]
        status: Option<String>,
        /// github, gitlab or jira
        #[arg(long)]
        provider: Option<String>,
        /// Project name or id
        #[arg(long)]
        project: Option<String>,
        /// Tenant name, slug or id
        #[arg(long)]
        tenant: Option<String>,
        /// Part of the assignee's name
        #[arg(long)]
        assignee: Option<String>,
        /// Comma-separated labels (any matches)
        #[arg(long)]
        labels: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u32>,
    },
    /// Show one issue with its comments
    Get { id: u64 },
    /// Create an issue on the tracker
    Create {
        /// Project name or id
        #[arg(long)]
        project: String,
        /// Integration id (see `aiops integrations list`)
        #[arg(long)]
        integration: u64,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated
        #[arg(long)]
        labels: Option<String>,
        /// Jira issue type (default Task)
        #[arg(long)]
        issue_type: Option<String>,
        /// Jira priority
        #[arg(long)]
        priority: Option<String>,
    },
    /// Change title, description or labels on the tracker
    Update {
        id: u64,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated; replaces all labels
        #[arg(long)]
        labels: Option<String>,
    },
    /// Close on the tracker
    Close { id: u64 },
    /// Reopen on the tracker
    Reopen { id: u64 },
    /// Comment on the tracker (Jira @Name mentions are resolved by the server)
    #[command(group(ArgGroup::new("text").args(["body", "file"]).required(true)))]
    Comment {
        id: u64,
        body: Option<String>,
        /// Read the comment from this file
        #[arg(long, short = 'f', value_parser = existing_file)]
        file: Option<std::path::PathBuf>,
        /// Accepted for compatibility; mentions are resolved on the server
        #[arg(long)]
        no_mention_resolve: bool,
    },
    /// Edit a comment (COMMENT_ID from `issues get`)
    ModifyComment {
        id: u64,
        comment_id: String,
        body: String,
        #[arg(long)]
        no_mention_resolve: bool,
    },
    /// Assign to an aiops user (defaults to yourself) or a tracker identity
    Assign {
        id: u64,
        /// aiops user id
        #[arg(long)]
        user: Option<u64>,
        /// Tracker login / username / account id
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Sync issues from the trackers
    Sync {
        /// Tenant name, slug or id
        #[arg(long)]
        tenant: Option<String>,
        /// Project name or id
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        integration: Option<u64>,
        /// Fetch everything, not only what changed
        #[arg(long)]
        force_full: bool,
    },
    /// Pin an issue to your dashboard
    Pin { id: u64 },
    /// Unpin an issue
    Unpin { id: u64 },
    /// Your pinned issues
    Pinned,
    /// Live AI sessions (yours; admins everyone's), per project; --attach to one of them
    Sessions {
        /// Project name or id
        #[arg(long)]
        project: Option<String>,
        /// Attach to this session (session id, its prefix, or tmux target)
        #[arg(long)]
        attach: Option<String>,
        /// Everyone's sessions (admins)
        #[arg(long)]
        all_users: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Your personal tracker tokens (the tokens themselves are never shown)
    List,
    /// Set your token for an integration (prompted, hidden, when --token is not given)
    Set {
        #[arg(long, short = 'i')]
        integration_id: u64,
        #[arg(long, short = 't')]
        token: Option<String>,
    },
    /// Delete one of your tokens
    Delete { credential_id: u64 },
}

#[derive(Subcommand, Debug)]
pub enum IntegrationsCommand {
    /// List tracker integrations
    List {
        /// Tenant name, slug or id
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_parser = ["github", "gitlab", "jira"])]
        provider: Option<String>,
    },
    /// Test an integration's stored credentials (admin)
    Test { id: u64 },
    /// Sync history, newest first
    History {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn print(format: Format, data: &Value, title: Option<&str>) {
    println!("{}", render(data, format, title));
}

fn labels(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

pub(super) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut s = url_encode_pairs(pairs);
    if !s.is_empty() {
        s.insert(0, '?');
    }
    s
}

fn url_encode_pairs(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

pub async fn issues(ctx: Ctx, cmd: IssuesCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        IssuesCommand::List {
            status,
            provider,
            project,
            tenant,
            assignee,
            labels,
            limit,
            offset,
        } => {
            let project = match project {
                Some(p) => Some(resolve_project(&ctx, &p).await?.to_string()),
                None => None,
            };
            let tenant = match tenant {
                Some(t) => Some(resolve_tenant(&ctx, &t).await?.to_string()),
                None => None,
            };
            let q = query(&[
                ("status", status),
                ("provider", provider),
                ("project_id", project),
                ("tenant_id", tenant),
                ("assignee", assignee),
                ("labels", labels),
                ("limit", limit.map(|l| l.to_string())),
                ("offset", offset.map(|o| o.to_string())),
            ]);
            let resp = ctx.client.get(&format!("issues{q}")).await?;
            if f == Format::Table {
                let total = resp["total"].as_u64().unwrap_or(0);
                let list = unwrap_key(resp, "issues");
                let shown = list.as_array().map(Vec::len).unwrap_or(0);
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "external_id",
                            "title",
                            "status",
                            "provider",
                            "project_name",
                            "assignee",
                        ],
                        Some("Issues")
                    )
                );
                if (shown as u64) < total {
                    println!("Showing {shown} of {total}; use --limit/--offset for more.");
                }
            } else {
                print(f, &unwrap_key(resp, "issues"), None);
            }
        }
        IssuesCommand::Start {
            id,
            project: Some(project),
            issue,
            tool,
            prompt,
            user,
            attach: _,
            no_attach,
        } => {
            let _ = id;
            let pid = resolve_project(&ctx, &project).await?;
            let mut body = json!({});
            if let Some(i) = issue {
                body["issue_id"] = json!(i);
            }
            super::sessions::start_original(
                &ctx,
                pid,
                body,
                tool,
                prompt,
                user,
                !no_attach,
                super::sessions::Wording::Issues,
            )
            .await?;
        }
        IssuesCommand::Start {
            id,
            project: None,
            tool,
            prompt,
            attach,
            ..
        } => {
            let id = id.ok_or_else(|| anyhow::anyhow!("--project is required"))?;
            let issue = ctx.client.get(&format!("issues/{id}")).await?;
            let issue = issue.get("issue").cloned().unwrap_or(issue);
            let project = issue["project_id"].as_u64().ok_or_else(|| {
                anyhow::anyhow!("issue {id} has no project_id in the server's answer")
            })?;
            let prompt = prompt.unwrap_or_else(|| {
                format!(
                    "Work on issue {id}: {}. Read AGENTS.override.md first.",
                    issue["title"].as_str().unwrap_or("")
                )
            });
            let tool = tool.unwrap_or_else(|| "claude".into());
            let s = ctx
                .client
                .post(
                    &format!("projects/{project}/ai/sessions"),
                    &json!({"tool": tool, "issue_id": id, "prompt": prompt}),
                )
                .await?;
            super::sessions::started(ctx.format, &s);
            if attach {
                super::sessions::attach(&s, ctx.client.base(), super::sessions::Wording::Issues)?;
            }
        }
        IssuesCommand::Work {
            id,
            tool,
            prompt,
            attach,
        } => {
            let claim = ctx
                .client
                .post("workflows/claim-issue", &json!({"issue_id": id}))
                .await?;
            let project = claim["issue"]["project_id"].as_u64().ok_or_else(|| {
                anyhow::anyhow!("Failed to get project_id from claim-issue response")
            })?;
            let prompt = prompt.unwrap_or_else(|| {
                format!(
                    "Work on issue {id}: {}. Read AGENTS.override.md first.",
                    claim["issue"]["title"].as_str().unwrap_or("")
                )
            });
            let mut s = ctx
                .client
                .post(
                    &format!("projects/{project}/ai/sessions"),
                    &json!({"tool": tool, "issue_id": id, "prompt": prompt}),
                )
                .await?;
            if f == Format::Table {
                println!("✓ Issue {id} claimed successfully!");
                if let Some(w) = claim["warning"].as_str() {
                    println!("⚠ {w}");
                }
                if s["existing"] == true {
                    println!("✓ Reusing existing AI session (session ID: {})", s["id"]);
                } else {
                    println!("✓ AI session started (session ID: {})", s["id"]);
                }
                if let Some(p) = s["workspace_path"].as_str() {
                    println!("Workspace: {p}");
                }
                if s["context_populated"] == true {
                    println!("Context: AGENTS.override.md populated with issue details");
                }
                if !attach {
                    println!(
                        "To attach to the session: aiops sessions attach {}",
                        s["id"]
                    );
                }
            } else {
                s["warning"] = claim["warning"].clone();
                s["project_id"] = json!(project);
                s["issue_id"] = json!(id);
                println!("{}", render(&s, f, None));
            }
            if attach {
                super::sessions::attach(&s, ctx.client.base(), super::sessions::Wording::Issues)?;
            }
        }
        IssuesCommand::Context { id } => {
            let v = ctx
                .client
                .post(&format!("issues/{id}/agent-context"), &json!({}))
                .await?;
            if f == Format::Table {
                println!("Wrote {}", v["tracked_path"].as_str().unwrap_or(""));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        IssuesCommand::Get { id } => {
            let issue = unwrap_key(ctx.client.get(&format!("issues/{id}")).await?, "issue");
            print(f, &issue, None);
        }
        IssuesCommand::Create {
            project,
            integration,
            title,
            description,
            labels: l,
            issue_type,
            priority,
        } => {
            let pid = resolve_project(&ctx, &project).await?;
            let mut body =
                json!({"project_id": pid, "integration_id": integration, "title": title});
            if let Some(d) = description.filter(|d| !d.is_empty()) {
                body["description"] = json!(d);
            }
            if let Some(l) = l.map(|l| labels(&l)).filter(|l| !l.is_empty()) {
                body["labels"] = json!(l);
            }
            if let Some(t) = issue_type {
                body["issue_type"] = json!(t);
            }
            if let Some(p) = priority {
                body["priority"] = json!(p);
            }
            let resp = ctx.client.post("issues", &body).await?;
            note(f, "Issue created successfully!");
            print(f, &resp, None);
        }
        IssuesCommand::Update {
            id,
            title,
            description,
            labels: l,
        } => {
            let mut body = json!({});
            if let Some(t) = title.filter(|t| !t.is_empty()) {
                body["title"] = json!(t);
            }
            if let Some(d) = description.filter(|d| !d.is_empty()) {
                body["description"] = json!(d);
            }
            if let Some(l) = l.map(|l| labels(&l)).filter(|l| !l.is_empty()) {
                body["labels"] = json!(l);
            }
            let resp = ctx
                .client
                .request(Method::PATCH, &format!("issues/{id}"), Some(&body))
                .await?;
            note(f, "Issue updated successfully!");
            print(f, &resp.unwrap_or(Value::Null), None);
        }
        IssuesCommand::Close { id } => {
            ctx.client
                .post(&format!("issues/{id}/close"), &json!({}))
                .await?;
            println!("Issue {id} closed successfully!");
        }
        IssuesCommand::Reopen { id } => {
            ctx.client
                .post(&format!("issues/{id}/reopen"), &json!({}))
                .await?;
            println!("Issue {id} reopened successfully!");
        }
        IssuesCommand::Comment { id, body, file, .. } => {
            let body = match (body, file) {
                (Some(b), _) => b,
                (None, Some(p)) => {
                    let text = std::fs::read_to_string(&p)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
                    if text.trim().is_empty() {
                        anyhow::bail!("Comment file {} is empty", p.display());
                    }
                    text
                }
                (None, None) => anyhow::bail!("Provide a comment BODY or --file"),
            };
            let resp = ctx
                .client
                .post(&format!("issues/{id}/comments"), &json!({"body": body}))
                .await?;
            println!("Comment added to issue {id}!");
            if f != Format::Table {
                print(f, &unwrap_key(resp, "comment"), None);
            }
        }
        IssuesCommand::ModifyComment {
            id,
            comment_id,
            body,
            ..
        } => {
            ctx.client
                .request(
                    Method::PATCH,
                    &format!("issues/{id}/comments/{comment_id}"),
                    Some(&json!({"body": body})),
                )
                .await?;
            println!("Comment {comment_id} on issue {id} updated successfully!");
        }
        IssuesCommand::Assign { id, user, assignee } => {
            let mut body = json!({});
            if let Some(u) = user {
                body["user_id"] = json!(u);
            }
            if let Some(a) = assignee {
                body["assignee"] = json!(a);
            }
            ctx.client
                .post(&format!("issues/{id}/assign"), &body)
                .await?;
            println!("Issue {id} assigned successfully!");
        }
        IssuesCommand::Sync {
            tenant,
            project,
            integration,
            force_full,
        } => {
            let mut body = json!({"force_full": force_full});
            if let Some(t) = tenant {
                body["tenant_id"] = json!(resolve_tenant(&ctx, &t).await?);
            }
            if let Some(p) = project {
                body["project_id"] = json!(resolve_project(&ctx, &p).await?);
            }
            if let Some(i) = integration {
                body["integration_id"] = json!(i);
            }
            let resp = ctx.client.post("issues/sync", &body).await?;
            let synced = resp["synced"].as_u64().unwrap_or(0);
            let failed = resp["failed_projects"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if synced == 0 && failed.is_empty() {
                println!("No issues synchronized");
                if let Some(m) = resp["message"].as_str() {
                    println!("{m}");
                }
            } else {
                println!(
                    "✓ {}",
                    resp["message"]
                        .as_str()
                        .unwrap_or("Issue synchronization completed")
                );
                println!("Total issues synchronized: {synced}");
            }
            let projects = resp["projects"].clone();
            if projects.as_array().is_some_and(|p| !p.is_empty()) {
                if f == Format::Table {
                    println!();
                    println!(
                        "{}",
                        table_of(
                            &projects,
                            &["provider", "tenant_name", "project_name", "issues_synced"],
                            Some("Project Sync Details")
                        )
                    );
                } else {
                    print(f, &projects, None);
                }
            }
            if !failed.is_empty() {
                for p in &failed {
                    eprintln!(
                        "✗ [{}] {} -> {}: {}",
                        p["provider"].as_str().unwrap_or(""),
                        p["tenant_name"].as_str().unwrap_or(""),
                        p["project_name"].as_str().unwrap_or(""),
                        p["error"].as_str().unwrap_or("")
                    );
                }
                anyhow::bail!("{} project link(s) failed to sync", failed.len());
            }
        }
        IssuesCommand::Pin { id } => {
            let resp = ctx
                .client
                .post(&format!("issues/{id}/pin"), &json!({}))
                .await?;
            println!(
                "✓ {}",
                resp["message"]
                    .as_str()
                    .unwrap_or("Issue pinned successfully")
            );
        }
        IssuesCommand::Unpin { id } => {
            let resp = ctx
                .client
                .request(Method::DELETE, &format!("issues/{id}/pin"), None)
                .await?;
            println!(
                "✓ {}",
                resp.as_ref()
                    .and_then(|r| r["message"].as_str())
                    .unwrap_or("Issue unpinned successfully")
            );
        }
        IssuesCommand::Sessions {
            project,
            attach,
            all_users,
        } => super::sessions::issues_sessions(&ctx, project, attach, all_users).await?,
        IssuesCommand::Pinned => {
            let list = unwrap_key(ctx.client.get("issues/pinned").await?, "issues");
            if list.as_array().is_none_or(Vec::is_empty) && f == Format::Table {
                println!("No pinned issues found");
            } else if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "external_id",
                            "title",
                            "status_label",
                            "project_name",
                            "tenant_name",
                        ],
                        Some("Pinned Issues")
                    )
                );
            } else {
                print(f, &list, None);
            }
        }
    }
    Ok(())
}

pub async fn integrations(ctx: Ctx, cmd: IntegrationsCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        IntegrationsCommand::List { tenant, provider } => {
            let tenant = match tenant {
                Some(t) => Some(resolve_tenant(&ctx, &t).await?.to_string()),
                None => None,
            };
            let q = query(&[("tenant_id", tenant), ("provider", provider)]);
            let list = unwrap_key(
                ctx.client.get(&format!("integrations{q}")).await?,
                "integrations",
            );
            if f == Format::Table && list.as_array().is_none_or(Vec::is_empty) {
                println!("No integrations found");
            } else if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "name",
                            "provider",
                            "tenant_name",
                            "base_url",
                            "enabled",
                            "token_hint",
                            "project_count",
                        ],
                        Some("Integrations")
                    )
                );
            } else {
                print(f, &list, None);
            }
        }
        IntegrationsCommand::Test { id } => {
            let r = ctx
                .client
                .post(&format!("integrations/{id}/test"), &json!({}))
                .await?;
            let msg = r["message"].as_str().unwrap_or_default();
            if r["ok"].as_bool() == Some(true) {
                println!("✓ {msg}");
            } else {
                anyhow::bail!("{msg}");
            }
        }
        IntegrationsCommand::History { limit } => {
            let runs = unwrap_key(
                ctx.client
                    .get(&format!("system/sync/history?limit={limit}"))
                    .await?,
                "runs",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &runs,
                        &[
                            "id",
                            "project_integration_id",
                            "trigger",
                            "status",
                            "started_at",
                            "issues_fetched",
                            "issues_created",
                            "error",
                        ],
                        Some("Sync History")
                    )
                );
            } else {
                print(f, &runs, None);
            }
        }
    }
    Ok(())
}

/// Read a secret: from the terminal without echo (prompt on stderr), else a line of stdin.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        // SAFETY: termios calls on fd 0 with a zeroed, then kernel-filled, struct.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        let have = unsafe { libc::tcgetattr(0, &mut saved) } == 0;
        if have {
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
        }
        let read = stdin.lock().read_line(&mut line);
        if have {
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
        }
        read?;
    } else {
        stdin.lock().read_line(&mut line)?;
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn credentials(ctx: Ctx, cmd: CredentialsCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        CredentialsCommand::List => {
            let resp = ctx.client.get("auth/integration-credentials").await?;
            let list = resp["credentials"].clone();
            if list.as_array().is_none_or(Vec::is_empty) && f == Format::Table {
                println!("No personal integration credentials configured");
                println!();
                println!("Use 'aiops credentials set' to add your personal tokens");
            } else if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "integration_id",
                            "integration_name",
                            "integration_provider",
                            "has_settings",
                        ],
                        Some("Integration Credentials")
                    )
                );
            } else {
                print(f, &json!({"credentials": list}), None);
            }
        }
        CredentialsCommand::Set {
            integration_id,
            token,
        } => {
            let token = match token {
                Some(t) => t,
                None => read_secret("Token: ")?,
            };
            if token.trim().is_empty() {
                anyhow::bail!("No token given: pass --token/-t or type it at the prompt");
            }
            let resp = ctx
                .client
                .post(
                    "auth/integration-credentials",
                    &json!({"integration_id": integration_id, "api_token": token}),
                )
                .await?;
            if f == Format::Table {
                println!(
                    "{}",
                    resp["message"]
                        .as_str()
                        .unwrap_or("Credential saved successfully")
                );
            } else {
                print(f, &resp, None);
            }
        }
        CredentialsCommand::Delete { credential_id } => {
            ctx.client
                .delete(&format!("auth/integration-credentials/{credential_id}"))
                .await?;
            println!("Credential {credential_id} deleted successfully");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_empty_values_and_encode() {
        assert_eq!(
            query(&[
                ("status", Some("open".into())),
                ("provider", None),
                ("labels", Some("a b,c".into()))
            ]),
            "?status=open&labels=a+b%2Cc"
        );
        assert_eq!(query(&[("x", None)]), "");
        assert_eq!(labels(" a, ,b "), vec!["a", "b"]);
        let t = table_of(
            &json!([{"id": 1, "title": "t", "extra": 2}]),
            &["title", "id"],
            Some("T"),
        );
        assert!(
            t.starts_with(
                "T
"
            ) && t.find("Title") < t.find("Id")
                && !t.contains("Extra"),
            "{t}"
        );
    }
}
