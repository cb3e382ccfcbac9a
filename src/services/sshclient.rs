//! The SSH client inside the binary (russh): probing a host's key, and running git's remote
//! command with a key held in memory, for `aiops ssh-git` (what `GIT_SSH_COMMAND` points at).

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The `algorithm base64` form of a public key.
pub fn key_line(k: &PublicKey) -> String {
    k.to_openssh()
        .map(|s| crate::domain::ssh::key_body(&s).unwrap_or(s))
        .unwrap_or_default()
}

pub fn fingerprint(k: &PublicKey) -> String {
    k.fingerprint(HashAlg::Sha256).to_string()
}

/// Records the key the server offered; accepts it only when `expected` holds it.
struct Checker {
    offered: Arc<Mutex<Option<PublicKey>>>,
    expected: Vec<String>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        let line = key_line(&key);
        if let Ok(mut o) = self.offered.lock() {
            *o = Some(key);
        }
        Ok(self.expected.contains(&line))
    }
}

fn config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(600)),
        ..Default::default()
    })
}

/// Connect only far enough to learn the host key the server offers (then hang up).
pub async fn probe_host_key(host: &str, port: u16) -> Result<PublicKey, String> {
    let offered = Arc::new(Mutex::new(None));
    let h = Checker {
        offered: offered.clone(),
        expected: Vec::new(),
    };
    let res = tokio::time::timeout(CONNECT_TIMEOUT, client::connect(config(), (host, port), h))
        .await
        .map_err(|_| {
            format!(
                "no SSH answer from {host}:{port} within {}s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?;
    let got = offered.lock().ok().and_then(|mut o| o.take());
    match (got, res) {
        (Some(k), _) => Ok(k),
        (None, Err(e)) => Err(format!("cannot reach SSH server {host}:{port}: {e}")),
        (None, Ok(_)) => Err(format!("{host}:{port} offered no host key")),
    }
}

/// Why a connection failed, in words for the person who reads git's error output.
#[derive(Debug)]
pub enum SshFailure {
    HostKey(String),
    Auth(String),
    Other(String),
}

impl std::fmt::Display for SshFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshFailure::HostKey(m) | SshFailure::Auth(m) | SshFailure::Other(m) => f.write_str(m),
        }
    }
}

pub struct ExecTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    /// Accepted host keys (`algorithm base64`).
    pub known: Vec<String>,
    pub key: PrivateKey,
    pub command: &'a str,
    pub env: Vec<(String, String)>,
}

/// Run `command` on the server with stdin/stdout/stderr of this process; returns its exit code.
pub async fn exec_stdio(t: ExecTarget<'_>) -> Result<u32, SshFailure> {
    let offered = Arc::new(Mutex::new(None));
    let h = Checker {
        offered: offered.clone(),
        expected: t.known.clone(),
    };
    let label = crate::domain::ssh::host_label(t.host, t.port);
    let connected = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client::connect(config(), (t.host, t.port), h),
    )
    .await
    .map_err(|_| {
        SshFailure::Other(format!(
            "no SSH answer from {label} within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))
    })?;
    let mut session = match connected {
        Ok(s) => s,
        Err(e) => {
            let got = offered.lock().ok().and_then(|o| o.clone());
            return Err(match got {
                Some(k) => SshFailure::HostKey(format!(
                    "host key of {label} ({}) is not the trusted one; refusing to connect. \
                     Check the known hosts in aiops (aiops known-hosts list).",
                    fingerprint(&k)
                )),
                None => SshFailure::Other(format!("cannot connect to {label}: {e}")),
            });
        }
    };
    let hash = session
        .best_supported_rsa_hash()
        .await
        .map_err(|e| SshFailure::Other(format!("SSH negotiation with {label} failed: {e}")))?
        .flatten();
    let auth = session
        .authenticate_publickey(
            t.user,
            PrivateKeyWithHashAlg::new(Arc::new(t.key.clone()), hash),
        )
        .await
        .map_err(|e| SshFailure::Other(format!("SSH authentication with {label} failed: {e}")))?;
    if !auth.success() {
        return Err(SshFailure::Auth(format!(
            "{label} refused the SSH key {} for user '{}' (Permission denied, publickey). \
             Add the key's public half to the repository host (deploy key), or assign the right key to the project.",
            fingerprint(t.key.public_key()),
            t.user
        )));
    }
    let mut channel = session
        .channel_open_session()
        .await
        .map_err(|e| SshFailure::Other(format!("cannot open an SSH channel on {label}: {e}")))?;
    for (k, v) in &t.env {
        // Servers may refuse environment variables (AcceptEnv); that is not an error.
        let _ = channel.set_env(false, k.as_str(), v.as_str()).await;
    }
    channel
        .exec(true, t.command)
        .await
        .map_err(|e| SshFailure::Other(format!("cannot run the remote command on {label}: {e}")))?;

    // stdin is pumped by its own task (shutting the writer down sends EOF to the server).
    let mut writer = channel.make_writer();
    let pump = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut code = None;
    let io = |e: std::io::Error| SshFailure::Other(format!("local I/O failed: {e}"));
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                stdout.write_all(&data).await.map_err(io)?;
                stdout.flush().await.map_err(io)?;
            }
            ChannelMsg::ExtendedData { data, .. } => {
                stderr.write_all(&data).await.map_err(io)?;
            }
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            _ => {}
        }
    }
    pump.abort();
    let _ = session
        .disconnect(Disconnect::ByApplication, "", "en")
        .await;
    Ok(code.unwrap_or(255))
}
