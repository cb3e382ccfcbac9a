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
        .map_err(|_| connect_message(host, port, &SshCause::Timeout))?;
    let got = offered.lock().ok().and_then(|mut o| o.take());
    match (got, res) {
        (Some(k), _) => Ok(k),
        (None, Err(e)) => Err(connect_message(host, port, &ssh_cause(&e))),
        (None, Ok(_)) => Err(format!("{host}:{port} offered no host key")),
    }
}

/// Why an SSH connection could not be made, in terms someone can act on.
#[derive(Debug, Clone, PartialEq)]
pub enum SshCause {
    Dns,
    Refused,
    /// Connected, then closed before the handshake (not SSH, or a firewall, or fail2ban).
    Closed,
    /// Something answered that is not an SSH server.
    NotSsh,
    Timeout,
    Other(String),
}

pub fn ssh_cause(e: &russh::Error) -> SshCause {
    match e {
        russh::Error::IO(io) => io_cause(io.kind(), &io.to_string()),
        russh::Error::HUP | russh::Error::Disconnect => SshCause::Closed,
        russh::Error::Version => SshCause::NotSsh,
        russh::Error::ConnectionTimeout | russh::Error::Elapsed(_) => SshCause::Timeout,
        other => SshCause::Other(other.to_string()),
    }
}

/// An io error's cause, from its kind (and, for name lookups, its text).
pub fn io_cause(kind: std::io::ErrorKind, text: &str) -> SshCause {
    use std::io::ErrorKind as K;
    let t = text.to_lowercase();
    match kind {
        K::ConnectionRefused => SshCause::Refused,
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            SshCause::Closed
        }
        K::TimedOut => SshCause::Timeout,
        _ if [
            "failed to lookup address",
            "name or service not known",
            "no address associated",
            "temporary failure in name resolution",
            "nodename nor servname",
        ]
        .iter()
        .any(|n| t.contains(n)) =>
        {
            SshCause::Dns
        }
        _ => SshCause::Other(text.to_string()),
    }
}

/// "cannot reach SSH server git.example.com:22: connection refused — …": cause and next step.
pub fn connect_message(host: &str, port: u16, cause: &SshCause) -> String {
    let label = crate::domain::ssh::host_label(host, port);
    match cause {
        SshCause::Dns => format!(
            "cannot reach SSH server {label}: DNS lookup failed for {host} — check the host name, and this server's DNS settings"
        ),
        SshCause::Refused => format!(
            "cannot reach SSH server {label}: connection refused — nothing listens on port {port} there; check the host and port (SSH is usually 22)"
        ),
        SshCause::Closed => format!(
            "cannot reach SSH server {label}: the server closed the connection before the SSH handshake — check that port {port} is an SSH port; a firewall or fail2ban may also be dropping this server"
        ),
        SshCause::NotSsh => format!(
            "{label} answered, but not as an SSH server — check the port (SSH is usually 22)"
        ),
        SshCause::Timeout => format!(
            "no SSH answer from {label} within {} s — check the host and port, and that a firewall lets this server through",
            CONNECT_TIMEOUT.as_secs()
        ),
        SshCause::Other(e) => {
            format!("cannot reach SSH server {label}: {e} — check the host and port")
        }
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
    .map_err(|_| SshFailure::Other(connect_message(t.host, t.port, &SshCause::Timeout)))?;
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
                None => SshFailure::Other(connect_message(t.host, t.port, &ssh_cause(&e))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn connection_failures_are_sorted_by_cause() {
        let io = |k: ErrorKind, t: &str| ssh_cause(&russh::Error::IO(std::io::Error::new(k, t)));
        assert_eq!(
            io(
                ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)"
            ),
            SshCause::Refused
        );
        assert_eq!(io(ErrorKind::UnexpectedEof, "early eof"), SshCause::Closed);
        assert_eq!(io(ErrorKind::ConnectionReset, "reset"), SshCause::Closed);
        assert_eq!(io(ErrorKind::TimedOut, "timed out"), SshCause::Timeout);
        assert_eq!(
            io(
                ErrorKind::Other,
                "failed to lookup address information: Name or service not known"
            ),
            SshCause::Dns
        );
        assert_eq!(ssh_cause(&russh::Error::HUP), SshCause::Closed);
        assert_eq!(ssh_cause(&russh::Error::Disconnect), SshCause::Closed);
        assert_eq!(ssh_cause(&russh::Error::Version), SshCause::NotSsh);
        assert!(matches!(ssh_cause(&russh::Error::Kex), SshCause::Other(_)));
    }

    #[test]
    fn connection_messages_name_the_cause_and_the_next_step() {
        let m = connect_message("git.example.com", 2222, &SshCause::Refused);
        assert_eq!(
            m,
            "cannot reach SSH server [git.example.com]:2222: connection refused — nothing listens on port 2222 there; check the host and port (SSH is usually 22)"
        );
        let m = connect_message("git.example.com", 22, &SshCause::Dns);
        assert!(
            m.contains("DNS lookup failed for git.example.com — check the host name"),
            "{m}"
        );
        let m = connect_message("10.0.0.1", 22, &SshCause::Closed);
        assert!(
            m.contains("closed the connection before the SSH handshake"),
            "{m}"
        );
        let m = connect_message("10.0.0.1", 22, &SshCause::Timeout);
        assert!(
            m.starts_with("no SSH answer from 10.0.0.1 within 20 s — check"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn probing_a_port_that_hangs_up_or_refuses_says_so() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                drop(sock);
            }
        });
        let e = probe_host_key("127.0.0.1", port).await.unwrap_err();
        assert!(
            e.contains("closed the connection before the SSH handshake"),
            "{e}"
        );
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = probe_host_key("127.0.0.1", free).await.unwrap_err();
        assert!(e.contains("connection refused — nothing listens"), "{e}");
    }
}
