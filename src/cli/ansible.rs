//! `aiops ansible …`: playbooks, inventories, runs (followed live), schedules.

use super::commands::{Ctx, unwrap_key};
use super::output::{Format, render, table_of};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum AnsibleCommand {
    /// Playbooks you may run (the server's, or --project's)
    Playbooks {
        #[arg(long)]
        project: Option<u64>,
    },
    /// Inventory files (the server's, or --project's)
    Inventories {
        #[arg(long)]
        project: Option<u64>,
    },
    /// Run a playbook; with --follow, print its output live and exit with its exit code
    Run {
        playbook: String,
        #[arg(long)]
        project: Option<u64>,
        #[arg(long, short = 'i')]
        inventory: Option<String>,
        /// Hosts instead of an inventory: web1,web2 (localhost uses a local connection)
        #[arg(long)]
        hosts: Option<String>,
        /// key=value (repeatable) or JSON
        #[arg(long = "extra-vars", short = 'e')]
        extra_vars: Vec<String>,
        /// Check mode: report what would change
        #[arg(long)]
        check: bool,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        tags: Option<String>,
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Recent runs
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run with its output
    Show { id: u64 },
    /// Follow a run's output live
    Follow { id: u64 },
    /// Cancel a queued or running run
    Cancel { id: u64 },
    /// Scheduled runs (admins)
    Schedules {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    List,
    Add {
        /// Cron expression (5 fields, or 6 with seconds)
        #[arg(long)]
        cron: String,
        playbook: String,
        #[arg(long)]
        project: Option<u64>,
        #[arg(long, short = 'i')]
        inventory: Option<String>,
        #[arg(long)]
        hosts: Option<String>,
        #[arg(long = "extra-vars", short = 'e')]
        extra_vars: Vec<String>,
        #[arg(long)]
        check: bool,
    },
    Delete {
        id: u64,
    },
    /// Run a schedule now
    Run {
        id: u64,
    },
}

fn vars(list: &[String]) -> Value {
    match list {
        [] => Value::Null,
        [one] if one.trim_start().starts_with('{') => json!(one),
        many => json!(many.join(" ")),
    }
}

/// Print a run's output as it comes (server-sent events); returns its exit code.
async fn follow(ctx: &Ctx, id: u64) -> anyhow::Result<i32> {
    let mut resp = ctx
        .client
        .stream(&format!("/streams/ansible/runs/{id}"))
        .await?;
    let mut buf = String::new();
    let mut event = String::new();
    let mut data: Vec<String> = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(nl) = buf.find('\n') {
            let line = buf[..nl].trim_end_matches('\r').to_string();
            buf.drain(..=nl);
            if line.is_empty() {
                let text = data.join("\n");
                if event == "done" {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let status = v["status"].as_str().unwrap_or("failed");
                    eprintln!("[run {id} {status}]");
                    return Ok(match status {
                        "succeeded" => 0,
                        _ => v["exit_code"].as_i64().map(|c| c as i32).unwrap_or(1),
                    });
                } else if event == "output" {
                    println!("{text}");
                }
                event.clear();
                data.clear();
            } else if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            }
        }
    }
    anyhow::bail!("the server closed the stream of run {id} before it finished")
}

pub async fn ansible(ctx: Ctx, cmd: AnsibleCommand) -> anyhow::Result<i32> {
    let f = ctx.format;
    let q = |project: Option<u64>| {
        project
            .map(|p| format!("?project_id={p}"))
            .unwrap_or_default()
    };
    match cmd {
        AnsibleCommand::Playbooks { project } => {
            let list = unwrap_key(
                ctx.client
                    .get(&format!("ansible/playbooks{}", q(project)))
                    .await?,
                "playbooks",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(&list, &["source", "project_id", "name"], Some("Playbooks"))
                );
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        AnsibleCommand::Inventories { project } => {
            let list = unwrap_key(
                ctx.client
                    .get(&format!("ansible/inventories{}", q(project)))
                    .await?,
                "inventories",
            );
            if f == Format::Table {
                for i in list.as_array().into_iter().flatten() {
                    println!("{}", i.as_str().unwrap_or(""));
                }
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        AnsibleCommand::Run {
            playbook,
            project,
            inventory,
            hosts,
            extra_vars,
            check,
            limit,
            tags,
            follow: and_follow,
        } => {
            let body = json!({"playbook": playbook, "project_id": project, "inventory": inventory,
                "hosts": hosts, "extra_vars": vars(&extra_vars), "check": check, "limit": limit, "tags": tags});
            let v = ctx.client.post("ansible/runs", &body).await?;
            let id = v["run"]["id"].as_u64().unwrap_or(0);
            if and_follow {
                eprintln!("[run {id} queued]");
                return follow(&ctx, id).await;
            }
            if f == Format::Table {
                println!("Run {id} queued. Follow it: aiops ansible follow {id}");
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        AnsibleCommand::Runs { limit } => {
            let list = unwrap_key(
                ctx.client
                    .get(&format!("ansible/runs?limit={limit}"))
                    .await?,
                "runs",
            );
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "playbook",
                            "inventory",
                            "check",
                            "status",
                            "exit_code",
                            "created_at"
                        ],
                        Some("Ansible runs")
                    )
                );
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        AnsibleCommand::Show { id } => {
            let v = unwrap_key(ctx.client.get(&format!("ansible/runs/{id}")).await?, "run");
            if f == Format::Table {
                println!(
                    "Run {id}: {} on {} — {} (exit {})",
                    v["playbook"].as_str().unwrap_or(""),
                    v["inventory"].as_str().unwrap_or(""),
                    v["status"].as_str().unwrap_or(""),
                    v["exit_code"]
                );
                print!("{}", v["output"].as_str().unwrap_or(""));
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        AnsibleCommand::Follow { id } => return follow(&ctx, id).await,
        AnsibleCommand::Cancel { id } => {
            let v = ctx
                .client
                .post(&format!("ansible/runs/{id}/cancel"), &json!({}))
                .await?;
            println!("{}", v["message"].as_str().unwrap_or("Cancelling."));
        }
        AnsibleCommand::Schedules { command } => match command {
            ScheduleCommand::List => {
                let list = unwrap_key(ctx.client.get("ansible/schedules").await?, "schedules");
                if f == Format::Table {
                    println!(
                        "{}",
                        table_of(
                            &list,
                            &[
                                "id",
                                "cron",
                                "playbook",
                                "inventory",
                                "hosts",
                                "check",
                                "last_run_id"
                            ],
                            Some("Ansible schedules")
                        )
                    );
                } else {
                    println!("{}", render(&list, f, None));
                }
            }
            ScheduleCommand::Add {
                cron,
                playbook,
                project,
                inventory,
                hosts,
                extra_vars,
                check,
            } => {
                let v = ctx
                    .client
                    .post(
                        "ansible/schedules",
                        &json!({"cron": cron, "playbook": playbook, "project_id": project,
                            "inventory": inventory, "hosts": hosts, "extra_vars": vars(&extra_vars), "check": check}),
                    )
                    .await?;
                println!("Schedule {} added.", v["id"]);
            }
            ScheduleCommand::Delete { id } => {
                ctx.client
                    .request(Method::DELETE, &format!("ansible/schedules/{id}"), None)
                    .await?;
                println!("Schedule {id} deleted.");
            }
            ScheduleCommand::Run { id } => {
                let v = ctx
                    .client
                    .post(&format!("ansible/schedules/{id}/run"), &json!({}))
                    .await?;
                println!("Run {} started.", v["run"]["id"]);
            }
        },
    }
    Ok(0)
}
