//! `aiops ssh-keys …` and `aiops known-hosts …` (admins): SSH keys for git and trusted host keys.

use super::commands::{Ctx, resolve_project, resolve_tenant, unwrap_key};
use super::output::{Format, render, table_of};
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::BufRead;

#[derive(Subcommand, Debug)]
pub enum SshKeysCommand {
    /// List keys (public halves and fingerprints)
    List {
        #[arg(short = 't', long)]
        tenant: Option<String>,
    },
    /// Upload a key pair from files, or generate an ed25519 key when no file is given
    Add {
        #[arg(short = 'n', long)]
        name: String,
        #[arg(short = 't', long)]
        tenant: Option<String>,
        /// Private key file (OpenSSH or PEM, without passphrase)
        #[arg(short = 'f', long)]
        private_key_file: Option<std::path::PathBuf>,
        /// Public key file (optional; must match)
        #[arg(short = 'p', long)]
        public_key_file: Option<std::path::PathBuf>,
    },
    /// Show one key (public half)
    Get { id: u64 },
    /// Delete a key (projects using it fall back to their tenant's keys)
    Delete {
        id: u64,
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Store the private half of a key from a file (must match its public key)
    Migrate {
        #[arg(short = 'k', long)]
        key_id: u64,
        #[arg(short = 'f', long)]
        private_key_file: std::path::PathBuf,
    },
    /// Use a key for one project's git (or --clear to use the tenant's keys)
    Assign {
        project: String,
        key_id: Option<u64>,
        #[arg(long, conflicts_with = "key_id")]
        clear: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KnownHostsCommand {
    /// Trusted host keys and the first-use policy
    List,
    /// Show a server's host key fingerprint and whether it is trusted (--pin trusts it)
    Scan {
        host: String,
        #[arg(short = 'p', long, default_value_t = 22)]
        port: u16,
        #[arg(long)]
        pin: bool,
    },
    /// Pin a host key given as text (`ssh-ed25519 AAAA…` or an ssh-keyscan line)
    Add {
        host: String,
        key: String,
        #[arg(short = 'p', long, default_value_t = 22)]
        port: u16,
    },
    /// Forget a host key
    Delete {
        id: u64,
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Trust unknown hosts on first use (on) or require pinning (off)
    Tofu {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        anyhow::bail!("cancelled (pass --yes to skip this question)")
    }
}

fn show_key(f: Format, k: &Value) {
    if f == Format::Table {
        println!("Key {} '{}'", k["id"], k["name"].as_str().unwrap_or(""));
        println!("Fingerprint: {}", k["fingerprint"].as_str().unwrap_or(""));
        println!("Public key (add it to GitHub/GitLab as a deploy key):");
        println!("{}", k["public_key"].as_str().unwrap_or(""));
    } else {
        println!("{}", render(k, f, None));
    }
}

pub async fn ssh_keys(ctx: Ctx, cmd: SshKeysCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        SshKeysCommand::List { tenant } => {
            let path = match tenant {
                Some(t) => format!(
                    "admin/ssh-keys?tenant_id={}",
                    resolve_tenant(&ctx, &t).await?
                ),
                None => "admin/ssh-keys".into(),
            };
            let list = unwrap_key(ctx.client.get(&path).await?, "ssh_keys");
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &list,
                        &[
                            "id",
                            "name",
                            "fingerprint",
                            "tenant_name",
                            "has_private_key"
                        ],
                        Some("SSH keys")
                    )
                );
            } else {
                println!("{}", render(&list, f, None));
            }
        }
        SshKeysCommand::Add {
            name,
            tenant,
            private_key_file,
            public_key_file,
        } => {
            let mut body = json!({"name": name});
            if let Some(t) = tenant {
                body["tenant_id"] = json!(resolve_tenant(&ctx, &t).await?);
            }
            if let Some(p) = private_key_file {
                body["private_key_content"] = json!(read(&p)?);
            }
            if let Some(p) = public_key_file {
                body["public_key_content"] = json!(read(&p)?);
            }
            let k = unwrap_key(ctx.client.post("admin/ssh-keys", &body).await?, "ssh_key");
            if f == Format::Table {
                println!("SSH key stored (private half encrypted; it is never shown again).");
            }
            show_key(f, &k);
        }
        SshKeysCommand::Get { id } => {
            let k = unwrap_key(
                ctx.client.get(&format!("admin/ssh-keys/{id}")).await?,
                "ssh_key",
            );
            show_key(f, &k);
        }
        SshKeysCommand::Delete { id, yes } => {
            confirm(&format!("Delete SSH key {id}?"), yes)?;
            ctx.client.delete(&format!("admin/ssh-keys/{id}")).await?;
            println!("SSH key {id} deleted.");
        }
        SshKeysCommand::Migrate {
            key_id,
            private_key_file,
        } => {
            let body = json!({"private_key_content": read(&private_key_file)?});
            let k = unwrap_key(
                ctx.client
                    .post(&format!("admin/ssh-keys/{key_id}/migrate"), &body)
                    .await?,
                "ssh_key",
            );
            println!("Private key of {key_id} stored (encrypted).");
            show_key(f, &k);
        }
        SshKeysCommand::Assign {
            project,
            key_id,
            clear,
        } => {
            let id = resolve_project(&ctx, &project).await?;
            if key_id.is_none() && !clear {
                anyhow::bail!("give a key id, or --clear to use the tenant's keys");
            }
            ctx.client
                .request(
                    reqwest::Method::PUT,
                    &format!("projects/{id}/ssh-key"),
                    Some(&json!({"ssh_key_id": key_id})),
                )
                .await?;
            match key_id {
                Some(k) => println!("Project {id} now uses SSH key {k}."),
                None => println!("Project {id} now uses its tenant's SSH keys."),
            }
        }
    }
    Ok(())
}

pub async fn known_hosts(ctx: Ctx, cmd: KnownHostsCommand) -> anyhow::Result<()> {
    let f = ctx.format;
    match cmd {
        KnownHostsCommand::List => {
            let v = ctx.client.get("admin/known-hosts").await?;
            if f == Format::Table {
                println!(
                    "{}",
                    table_of(
                        &v["known_hosts"],
                        &["id", "host", "port", "fingerprint", "source"],
                        Some("Known hosts")
                    )
                );
                println!(
                    "Trust on first use: {}",
                    if v["trust_on_first_use"] == true {
                        "on"
                    } else {
                        "off"
                    }
                );
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        KnownHostsCommand::Scan { host, port, pin } => {
            let v = ctx
                .client
                .post(
                    "admin/known-hosts/scan",
                    &json!({"host": host, "port": port, "pin": pin}),
                )
                .await?;
            if f == Format::Table {
                println!(
                    "{}:{} offers {}",
                    host,
                    port,
                    v["fingerprint"].as_str().unwrap_or("")
                );
                println!("{}", v["key"].as_str().unwrap_or(""));
                let state = v["state"].as_str().unwrap_or("");
                println!(
                    "State: {state}{}",
                    match state {
                        "unknown" =>
                            " (check the fingerprint with the host's owner, then run again with --pin)",
                        "changed" => " — THE HOST KEY CHANGED; connections are refused",
                        _ => "",
                    }
                );
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        KnownHostsCommand::Add { host, key, port } => {
            let v = unwrap_key(
                ctx.client
                    .post(
                        "admin/known-hosts",
                        &json!({"host": host, "port": port, "key": key}),
                    )
                    .await?,
                "known_host",
            );
            if f == Format::Table {
                println!(
                    "Pinned {} for {}:{} (id {}).",
                    v["fingerprint"].as_str().unwrap_or(""),
                    host,
                    port,
                    v["id"]
                );
            } else {
                println!("{}", render(&v, f, None));
            }
        }
        KnownHostsCommand::Delete { id, yes } => {
            confirm(&format!("Forget known host {id}?"), yes)?;
            ctx.client
                .delete(&format!("admin/known-hosts/{id}"))
                .await?;
            println!("Known host {id} removed.");
        }
        KnownHostsCommand::Tofu { state } => {
            let on = state == "on";
            ctx.client
                .request(
                    reqwest::Method::PUT,
                    "admin/known-hosts/policy",
                    Some(&json!({"trust_on_first_use": on})),
                )
                .await?;
            println!("Trust on first use: {state}");
        }
    }
    Ok(())
}
