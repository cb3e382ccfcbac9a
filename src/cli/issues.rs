//! `aiops issues …` and `aiops integrations …`: the tracker commands of the original CLI.
//! Issue ids are aiops ids (the `id` column), never tracker numbers.

use super::commands::{Ctx, resolve_project, resolve_tenant, unwrap_key};
use super::output::{Format, render, table_of};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum IssuesCommand {
    /// Start (or reuse) an AI agent session for an issue, in your workspace of its project
    Start {
        id: u64,
        #[arg(long, default_value = "claude")]
        tool: String,
        /// Text typed into the agent (default: work on the issue)
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        attach: bool,
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
    Comment {
        id: u64,
        body: String,
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
}

#[derive(Subcommand, Debug)]
pub enum IntegrationsCommand {
    /// List tracker integrations
    List {
        /// Tenant name, slug or id
        #[arg(long)]
        tenant: Option<String>,
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

/// A status line: on stdout for tables, on stderr otherwise so JSON/YAML stay parseable.
fn note(f: Format, msg: &str) {
    if f == Format::Table {
        println!("{msg}");
    } else {
        eprintln!("{msg}");
    }
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
    let mut u = reqwest::Url::parse("http://x/").expect("static URL");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
    }
    u.query().unwrap_or_default().to_string()
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
            tool,
            prompt,
            attach,
        } => {
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
            let s = ctx
                .client
                .post(
                    &format!("projects/{project}/ai/sessions"),
                    &json!({"tool": tool, "issue_id": id, "prompt": prompt}),
                )
                .await?;
            super::sessions::started(ctx.format, &s);
            if attach {
                super::sessions::attach(&s, ctx.client.base())?;
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
                super::sessions::attach(&s, ctx.client.base())?;
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
        IssuesCommand::Comment { id, body, .. } => {
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
        IssuesCommand::Pinned => {
            let list = unwrap_key(ctx.client.get("issues/pinned").await?, "issues");
            if list.as_array().is_none_or(Vec::is_empty) {
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
        IntegrationsCommand::List { tenant } => {
            let path = match tenant {
                Some(t) => format!("integrations?tenant_id={}", resolve_tenant(&ctx, &t).await?),
                None => "integrations".into(),
            };
            let list = unwrap_key(ctx.client.get(&path).await?, "integrations");
            if f == Format::Table {
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
