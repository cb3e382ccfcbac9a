//! Command line: `serve`, offline `admin` commands, and the HTTP client commands.

pub mod admin;

use crate::config::{ServeArgs, StoreArgs};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "aiops",
    version,
    about = "aiops control plane: server, admin tool and API client"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (HTTP API + web UI)
    Serve(ServeArgs),
    /// Offline administration against the data directory (server stopped)
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

pub async fn run(cli: Cli) -> i32 {
    let res = match cli.command {
        Command::Serve(args) => crate::server::serve(args).await,
        Command::Admin { store, command } => admin::run(store, command),
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    }
}
