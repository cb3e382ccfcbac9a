//! `aiops ssh-git`: the SSH client git runs through `GIT_SSH_COMMAND` when the server talks to
//! an SSH remote. It takes ssh's arguments as git passes them, the private key from
//! `AIOPS_SSH_KEY` and the trusted host keys from `AIOPS_SSH_KNOWN_HOSTS` (both set by the
//! server on the git child only), and refuses any other host key. No key touches the disk and
//! no ssh-agent is used.

use crate::domain::ssh::parse_ssh_args;
use crate::services::ssh::{ENV_KEY, ENV_KNOWN};
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

async fn run_inner(args: &[String]) -> Result<u32, String> {
    let inv = parse_ssh_args(args)?;
    let key_text = std::env::var(ENV_KEY).map_err(|_| {
        format!(
            "no key in {ENV_KEY}: `aiops ssh-git` is run by the aiops server for git over SSH \
             (it sets the key and the trusted host keys); it is not meant to be run by hand"
        )
    })?;
    let key = russh::keys::decode_secret_key(&key_text, None)
        .map_err(|e| format!("the key in {ENV_KEY} cannot be read: {e}"))?;
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
