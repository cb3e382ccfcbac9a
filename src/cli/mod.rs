//! Command line: `serve`, offline `admin` commands, and the HTTP client commands.

#![allow(
    clippy::indexing_slicing,
    reason = "the CLI reads API answers as serde_json::Value: `v[\"key\"]` answers Null for a missing key and never panics; it builds its request bodies itself as objects"
)]

pub mod admin;
mod ansible;
mod client;
mod commands;
mod config_file;
mod git;
mod issues;
mod output;
#[cfg(test)]
mod parse_tests;
mod selfupdate;
mod sessions;
mod ssh;
pub mod sshgit;
mod system;
mod workflow;

use crate::config::{ServeArgs, StoreArgs};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
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

/// What clap parses. `-o/--output` is global and taken as any string here: it is a format
/// (table, json, yaml) everywhere except `system backup download`, where the original CLI's
/// `-o PATH` is the file to write. [`Cli`] checks it once the command is known.
#[derive(Parser, Debug)]
#[command(
    name = "aiops",
    version = VERSION,
    about = "aiops control plane: server, admin tool and API client",
    after_help = "Client configuration: ~/.aiops/config.yaml (url, api_key, output_format, update_url), \
                  overridden by AIOPS_URL, AIOPS_API_KEY, AIOPS_OUTPUT_FORMAT, AIOPS_UPDATE_URL. \
                  JSON/YAML output is the server's data unchanged (created_at/updated_at are kept; \
                  tables drop them)."
)]
struct Args {
    /// Output format for client commands: table, json or yaml [default: output_format from
    /// config, else table]. For `system backup download`: the file to write.
    #[arg(short = 'o', long = "output", global = true, value_name = "FORMAT")]
    output: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The parsed command line, checked: `output` is a valid format (or was moved into
/// `system backup download --file`), and the original CLI's closed choices are enforced on its
/// own spellings. Parse with `Cli::parse()` / `Cli::try_parse_from(…)`: errors are clap's usage
/// errors (exit 2).
#[derive(Debug)]
pub struct Cli {
    pub output: Option<Format>,
    pub command: Command,
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        Args::command()
    }
    fn command_for_update() -> clap::Command {
        Args::command_for_update()
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Args::from_arg_matches(m).and_then(Cli::checked)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Cli::from_arg_matches(m)?;
        Ok(())
    }
}

impl Parser for Cli {}

/// The agent tools of the original CLI (`--tool` on `issues start --project` and
/// `sessions start --project`).
pub const ORIGINAL_TOOLS: [&str; 4] = ["claude", "codex", "gemini", "shell"];

fn invalid_value(value: &str, arg: &str, possible: &[&str]) -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::InvalidValue,
        format!(
            "invalid value '{value}' for '{arg}'\n  [possible values: {}]",
            possible.join(", ")
        ),
    )
}

impl Cli {
    fn checked(args: Args) -> Result<Cli, clap::Error> {
        let Args {
            output,
            mut command,
        } = args;
        let mut format = None;
        if let Some(raw) = output {
            match Format::parse(&raw) {
                Some(f) => format = Some(f),
                None => match &mut command {
                    Command::System {
                        command:
                            system::SystemCommand::Backup {
                                command: system::BackupCommand::Download { file, .. },
                            },
                    } => {
                        if file.is_some() {
                            return Err(clap::Error::raw(
                                clap::error::ErrorKind::ArgumentConflict,
                                "the argument '--file <FILE>' cannot be used with '--output <PATH>' (give the file once)",
                            ));
                        }
                        *file = Some(std::path::PathBuf::from(raw));
                    }
                    _ => {
                        return Err(invalid_value(
                            &raw,
                            "--output <FORMAT>",
                            &["table", "json", "yaml"],
                        ));
                    }
                },
            }
        }
        // The original spellings (`--project`) take only the original's tools; the older
        // positional forms keep accepting any tool configured on the server.
        let tool = match &command {
            Command::Issues {
                command:
                    issues::IssuesCommand::Start {
                        project: Some(_),
                        tool: Some(t),
                        ..
                    },
            } => Some(t),
            Command::Sessions {
                command:
                    sessions::SessionsCommand::Start {
                        project_opt: Some(_),
                        tool: Some(t),
                        ..
                    },
            } => Some(t),
            _ => None,
        };
        if let Some(t) = tool.filter(|t| !ORIGINAL_TOOLS.contains(&t.as_str())) {
            return Err(invalid_value(t, "--tool <TOOL>", &ORIGINAL_TOOLS));
        }
        Ok(Cli {
            output: format,
            command,
        })
    }
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
    #[command(alias = "tenant")]
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Projects
    #[command(alias = "project")]
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
    },
    /// Tracker issues (ids are aiops ids; the tracker's number is external_id)
    #[command(alias = "issue")]
    Issues {
        #[command(subcommand)]
        command: issues::IssuesCommand,
    },
    /// Tracker integrations and sync history
    #[command(alias = "integration")]
    Integrations {
        #[command(subcommand)]
        command: issues::IntegrationsCommand,
    },
    /// Your personal tracker tokens (used instead of the integration's token for your actions)
    #[command(alias = "credential")]
    Credentials {
        #[command(subcommand)]
        command: issues::CredentialsCommand,
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
    #[command(alias = "session")]
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
    #[command(alias = "agent")]
    Agents {
        #[command(subcommand)]
        command: workflow::AgentsCommand,
    },
    /// Update this CLI binary from the release channel (AIOPS_UPDATE_URL, config update_url,
    /// else the server's)
    Update {
        /// Only report whether a newer version is available
        #[arg(long)]
        check_only: bool,
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
            Err(e) => commands::report(&e),
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
        Command::Credentials { command } => match commands::connect(fmt) {
            Ok(ctx) => issues::credentials(ctx, command).await,
            Err(e) => Err(e),
        },
        Command::Update { check_only } => selfupdate::update(check_only).await,
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
        // Confirmation prompts come before the configuration check, as in the original.
        Command::System { command } => {
            match system::confirm_first(&command).and_then(|()| commands::connect(fmt)) {
                Ok(ctx) => system::system(ctx, command).await,
                Err(e) => Err(e),
            }
        }
        Command::Agents { command } => match commands::connect(fmt) {
            Ok(ctx) => workflow::agents(ctx, command).await,
            Err(e) => Err(e),
        },
    };
    match res {
        Ok(()) => 0,
        Err(e) => commands::report(&e),
    }
}
