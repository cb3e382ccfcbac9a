//! aiops as a library: everything the binary does, reachable by in-process tests, benches and
//! the thin `main.rs`. The binary is `aiops serve` (the server), `aiops admin …` (the offline
//! admin tool) and the HTTP client people and agents use (`aiops tenants list` …).
//!
//! Layers, each allowed to use only those below it: `cli` / `api` / `web` (parse, call one
//! service with the caller, shape the answer) → `services` (decide access, own transactions)
//! → `store` (the redb seam) and `domain` (plain rules, no I/O).

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod server;
pub mod services;
pub mod store;
pub mod web;

/// No process of the same account may read this one's memory or `/proc/<pid>/environ` (the
/// master key, decrypted tokens, the SSH key `ssh-git` holds), nor attach a debugger.
fn non_dumpable() {
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// The whole program: parse the command line, start the runtime, run the command. Returns the
/// process exit code.
pub fn run_main(args: Vec<String>) -> i32 {
    use clap::Parser;
    // `aiops ssh-git …` takes ssh's own arguments (-p, -o …) as git passes them, so it is
    // dispatched before clap, whose global `-o` would otherwise claim them.
    let ssh_git = args.get(1).map(String::as_str) == Some("ssh-git");
    if ssh_git {
        non_dumpable();
    }
    let parsed = if ssh_git {
        None
    } else {
        Some(cli::Cli::parse_from(&args))
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
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            match parsed {
                Some(p) => cli::run(p).await,
                None => cli::sshgit::run(args.get(2..).unwrap_or_default()).await,
            }
        }),
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            1
        }
    }
}
