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

/// No process of the same account may read this one's memory or `/proc/<pid>/environ` (the
/// master key, decrypted tokens, the SSH key `ssh-git` holds), nor attach a debugger.
fn non_dumpable() {
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `aiops ssh-git …` takes ssh's own arguments (-p, -o …) as git passes them, so it is
    // dispatched before clap, whose global `-o` would otherwise claim them.
    let ssh_git = args.get(1).map(String::as_str) == Some("ssh-git");
    if ssh_git {
        non_dumpable();
    }
    let parsed = if ssh_git {
        None
    } else {
        Some(cli::Cli::parse())
    };
    if let Some(cli::Cli {
        command: cli::Command::Serve(_),
        ..
    }) = &parsed
    {
        non_dumpable();
        // The server's secrets are in `parsed` now. Take them out of the environment so that
        // nothing it starts (agents in tmux, git and its hooks, playbooks) can read them.
        for k in cli::SERVER_SECRET_VARS {
            // SAFETY: still single-threaded: no runtime, no other thread has been started.
            unsafe { std::env::remove_var(k) };
        }
    }
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            match parsed {
                Some(p) => cli::run(p).await,
                None => cli::sshgit::run(&args[2..]).await,
            }
        }),
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
