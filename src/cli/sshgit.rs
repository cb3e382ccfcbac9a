//! `aiops ssh-git`: the SSH client git runs through `GIT_SSH_COMMAND` when the server talks to
//! an SSH remote. It takes ssh's arguments as git passes them, reads the private key once from
//! the inherited descriptor named by `AIOPS_SSH_KEY_FD` (a pipe the server filled; it is empty
//! afterwards), takes the trusted host keys from `AIOPS_SSH_KNOWN_HOSTS`, and refuses any other
//! host key. No key touches the disk, an environment or an argument list; no ssh-agent is used.

use crate::domain::ssh::parse_ssh_args;
use crate::services::ssh::{ENV_KEY_FD, ENV_KNOWN};
use crate::services::sshclient::{ExecTarget, exec_stdio};

pub async fn run(args: &[String]) -> i32 {
    match run_inner(args).await {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("aiops ssh: {e}");
            255
        }
    }
}

/// The private key from the descriptor the server handed down (read to its end, then closed).
fn read_key() -> Result<String, String> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let fd: i32 = std::env::var(ENV_KEY_FD)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| {
            format!(
                "no key descriptor in {ENV_KEY_FD}: `aiops ssh-git` is run by the aiops server for \
                 git over SSH (it hands over the key and the trusted host keys); it is not meant to \
                 be run by hand"
            )
        })?;
    // SAFETY: the descriptor was inherited for this process alone to read and is owned (and
    // closed) by the File from here on.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| format!("cannot read the key from descriptor {fd}: {e}"))?;
    if text.trim().is_empty() {
        return Err(format!(
            "descriptor {fd} held no key (it is read once, by the first ssh of a git command)"
        ));
    }
    Ok(text)
}

async fn run_inner(args: &[String]) -> Result<u32, String> {
    let inv = parse_ssh_args(args)?;
    let key_text = read_key()?;
    let key = russh::keys::decode_secret_key(&key_text, None)
        .map_err(|e| format!("the key from {ENV_KEY_FD} cannot be read: {e}"))?;
    drop(key_text);
    let known: Vec<String> = std::env::var(ENV_KNOWN)
        .unwrap_or_default()
        .lines()
        .filter_map(crate::domain::ssh::key_body)
        .collect();
    if known.is_empty() {
        return Err(format!(
            "no trusted host key for {} in {ENV_KNOWN}; refusing to connect",
            crate::domain::ssh::host_label(&inv.host, inv.port)
        ));
    }
    let user = inv
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "git".into());
    let env = inv
        .send_env
        .iter()
        .filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v)))
        .collect();
    exec_stdio(ExecTarget {
        host: &inv.host,
        port: inv.port,
        user: &user,
        known,
        key,
        command: &inv.command,
        env,
    })
    .await
    .map_err(|e| e.to_string())
}
