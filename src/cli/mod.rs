//! Command line: `serve`, offline `admin` commands, and the HTTP client commands.

pub mod admin;
mod ansible;
mod client;
mod commands;
mod config_file;
mod git;
mod issues;
mod output;
mod sessions;
mod ssh;
pub mod sshgit;
mod system;
mod workflow;

use crate::config::{ServeArgs, StoreArgs};
use clap::{Parser, Subcommand};
use commands::{AuthCommand, ConfigCommand, ProjectsCommand, TenantsCommand};
use output::Format;

/// Environment variables only the server may read; `serve` removes them from its environment
/// once parsed, so its child processes never see them.
pub const SERVER_SECRET_VARS: [&str; 2] = ["AIOPS_SECRET_KEY", "AIOPS_ADMIN_PASSWORD"];

/// `aiops --version`: version, git commit and build date.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("AIOPS_GIT_COMMIT"),
    ", built ",
    env!("AIOPS_BUILD_DATE"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "aiops",
    version = VERSION,
    about = "aiops control plane: server, admin tool and API client",
    after_help = "Client configuration: ~/.aiops/config.yaml (url, api_key, output_format), overridden by \
                  AIOPS_URL, AIOPS_API_KEY, AIOPS_OUTPUT_FORMAT. JSON/YAML output is the server's data \
                  unchanged (created_at/updated_at are kept; tables drop them)."
)]
pub struct Cli {
    /// Output format for client commands [default: output_format from config, else table]
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<Format>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (HTTP API + web UI)
    Serve(Box<ServeArgs>),
    /// Offline administration against the data directory (server stopped)
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Move a Python aiops 0.3.x installation (instance/app.db and instance/keys) into the store
    /// (server stopped; run against the new data dir)
    ImportSqlite {
        #[command(flatten)]
        store: StoreArgs,
        /// The Python aiops database, e.g. /home/syseng/aiops/instance/app.db
        path: std::path::PathBuf,
        /// Where its private SSH keys are [default: keys/ next to the database]
        #[arg(long)]
        keys_dir: Option<std::path::PathBuf>,
        /// Report what would be imported; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Replace everything in a store that already holds data
        #[arg(long)]
        force: bool,
    },
    /// Exit 0 when the server answers its health check (for container health checks)
    Health {
        /// Server URL [default: the configured url]
        #[arg(long)]
        url: Option<String>,
    },
    /// Client configuration (~/.aiops/config.yaml)
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Who am I, and API keys
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Tenants
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Projects
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
    },
    /// Tracker issues (ids are aiops ids; the tracker's number is external_id)
    Issues {
        #[command(subcommand)]
        command: issues::IssuesCommand,
    },
    /// Tracker integrations and sync history
    Integrations {
        #[command(subcommand)]
        command: issues::IntegrationsCommand,
    },
    /// Git in your workspace of a project
    Git {
        #[command(subcommand)]
        command: git::GitCommand,
    },
    /// Your workspace (clone) of a project
    Workspace {
        #[command(subcommand)]
        command: git::WorkspaceCommand,
    },
    /// AI agents in tmux sessions
    Sessions {
        #[command(subcommand)]
        command: sessions::SessionsCommand,
    },
    /// SSH keys for git (admins): upload, generate, assign
    SshKeys {
        #[command(subcommand)]
        command: ssh::SshKeysCommand,
    },
    /// Trusted SSH host keys (admins)
    KnownHosts {
        #[command(subcommand)]
        command: ssh::KnownHostsCommand,
    },
    /// The issue workflow for agents: claim, progress, submit, approve, complete
    Workflow {
        #[command(subcommand)]
        command: workflow::WorkflowCommand,
    },
    /// Ansible playbooks: list, run (and follow live), cancel, schedule
    Ansible {
        #[command(subcommand)]
        command: ansible::AnsibleCommand,
    },
    /// System administration (admins): status, logs, update, restart, backups
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
    /// Agent instructions (the global part of AGENTS.override.md)
    Agents {
        #[command(subcommand)]
        command: workflow::AgentsCommand,
    },
}

pub async fn run(cli: Cli) -> i32 {
    let fmt = cli.output;
    // Commands whose exit code is not just success/failure.
    if let Command::Ansible { command } = cli.command {
        let res = match commands::connect(fmt) {
            Ok(ctx) => ansible::ansible(ctx, command).await,
            Err(e) => Err(e),
        };
        return match res {
            Ok(code) => code,
            Err(e) => {
                eprintln!("Error: {e:#}");
                1
            }
        };
    }
    let res = match cli.command {
        Command::Ansible { .. } => Ok(()),
        Command::Serve(args) => crate::server::serve(*args).await,
        Command::Admin { store, command } => admin::run(store, command),
        Command::ImportSqlite {
            store,
            path,
            keys_dir,
            dry_run,
            force,
        } => admin::import_sqlite(store, &path, keys_dir.as_deref(), dry_run, force),
        Command::Config { command } => commands::config(command, fmt),
        Command::Health { url } => commands::health(url).await,
        Command::Auth { command } => match commands::connect(fmt) {
            Ok(ctx) => commands::auth(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Tenants { command } => match commands::connect(fmt) {
            Ok(ctx) => commands::tenants(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Projects { command } => match commands::connect(fmt) {
            Ok(ctx) => commands::projects(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Issues { command } => match commands::connect(fmt) {
            Ok(ctx) => issues::issues(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Integrations { command } => match commands::connect(fmt) {
            Ok(ctx) => issues::integrations(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Git { command } => match commands::connect(fmt) {
            Ok(ctx) => git::git(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Workspace { command } => match commands::connect(fmt) {
            Ok(ctx) => git::workspace(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Sessions { command } => match commands::connect(fmt) {
            Ok(ctx) => sessions::sessions(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::SshKeys { command } => match commands::connect(fmt) {
            Ok(ctx) => ssh::ssh_keys(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::KnownHosts { command } => match commands::connect(fmt) {
            Ok(ctx) => ssh::known_hosts(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Workflow { command } => match commands::connect(fmt) {
            Ok(ctx) => workflow::workflow(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::System { command } => match commands::connect(fmt) {
            Ok(ctx) => system::system(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Agents { command } => match commands::connect(fmt) {
            Ok(ctx) => workflow::agents(ctx, command).await,
            Err(e) => Err(e),
        },
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    }
}
