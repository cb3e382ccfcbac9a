//! aiops: one binary that is both the server (`aiops serve`), the offline admin tool
//! (`aiops admin …`) and the HTTP client people and agents use (`aiops tenants list` …).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api;
mod auth;
mod cli;
mod config;
mod domain;
mod error;
mod server;
mod services;
mod store;
mod web;

use clap::Parser;

fn main() {
    let parsed = cli::Cli::parse();
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(cli::run(parsed)),
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
