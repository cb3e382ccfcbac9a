//! SSH rules with no I/O: which remotes use SSH, how `ssh` is invoked by git, and the
//! known-hosts decision (trusted / unknown / changed).

use super::{KnownHost, KnownHostId};

/// Where an SSH remote points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
}

/// The SSH endpoint of a git remote URL, or None when the remote does not use SSH
/// (https, file paths, git://).
///
/// Accepts `ssh://[user@]host[:port]/path`, `git+ssh://…`, `ssh+git://…` and the scp-like
/// `[user@]host:path` form git itself accepts.
pub fn ssh_target(url: &str) -> Option<SshTarget> {
    let url = url.trim();
    for scheme in ["ssh://", "git+ssh://", "ssh+git://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let authority = rest.split('/').next().unwrap_or("");
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()).filter(|u| !u.is_empty()), h),
                None => (None, authority),
            };
            let (host, port) = split_host_port(hostport)?;
            return Some(SshTarget { user, host, port });
        }
    }
    if url.contains("://") || url.starts_with('/') || url.starts_with('.') {
        return None;
    }
    // scp-like: the first ':' comes before any '/'.
    let colon = url.find(':')?;
    if url[..colon].contains('/') || colon + 1 >= url.len() {
        return None;
    }
    let authority = &url[..colon];
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()).filter(|u| !u.is_empty()), h),
        None => (None, authority),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some(SshTarget {
        user,
        host: host.to_ascii_lowercase(),
        port: 22,
    })
}

fn split_host_port(hp: &str) -> Option<(String, u16)> {
    if hp.is_empty() {
        return None;
    }
    if let Some(rest) = hp.strip_prefix('[') {
        // [ipv6]:port
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => 22,
            None => return None,
        };
        return Some((h.to_ascii_lowercase(), port));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_ascii_lowercase(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((hp.to_ascii_lowercase(), 22)),
    }
}

/// How a host is named in known-hosts lists: `host` on port 22, else `[host]:port`
/// (the OpenSSH convention).
pub fn host_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The `algorithm base64` part of an OpenSSH public key line (comment dropped).
pub fn key_body(line: &str) -> Option<String> {
    let mut parts = line.split_whitespace();
    let first = parts.next()?;
    // Lines from known_hosts files start with the host name(s); skip it.
    let (algo, data) = if first.starts_with("ssh-") || first.starts_with("ecdsa-") {
        (first, parts.next()?)
    } else {
        (parts.next()?, parts.next()?)
    };
    if !(algo.starts_with("ssh-") || algo.starts_with("ecdsa-") || algo.starts_with("sk-")) {
        return None;
    }
    Some(format!("{algo} {data}"))
}

/// What the known-hosts list says about a key a server offered.
#[derive(Debug, Clone, PartialEq)]
pub enum HostCheck {
    /// An entry for this host and port holds exactly this key.
    Trusted(KnownHostId),
    /// No entry for this host and port.
    Unknown,
    /// Entries exist for this host and port, none with this key: refuse.
    Changed(KnownHost),
}

impl HostCheck {
    /// The word a host-key scan answers with (`state` of `POST /admin/known-hosts/scan`).
    pub fn state(&self) -> HostKeyState {
        match self {
            HostCheck::Trusted(_) => HostKeyState::Trusted,
            HostCheck::Unknown => HostKeyState::Unknown,
            HostCheck::Changed(_) => HostKeyState::Changed,
        }
    }
}

/// A scanned host key's standing, as the scan answers it: `trusted`, `unknown` or `changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyState {
    Trusted,
    Unknown,
    Changed,
}

impl HostKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKeyState::Trusted => "trusted",
            HostKeyState::Unknown => "unknown",
            HostKeyState::Changed => "changed",
        }
    }
}

impl std::fmt::Display for HostKeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn check_host(entries: &[KnownHost], host: &str, port: u16, offered: &str) -> HostCheck {
    let host = host.to_ascii_lowercase();
    let Some(offered) = key_body(offered) else {
        return HostCheck::Unknown;
    };
    let mut first_other = None;
    for e in entries
        .iter()
        .filter(|e| e.host.eq_ignore_ascii_case(&host) && e.port == port)
    {
        if key_body(&e.key).as_deref() == Some(offered.as_str()) {
            return HostCheck::Trusted(e.id);
        }
        // Only a key of the same algorithm proves a change; a server offering another
        // algorithm than the pinned one is also refused (we never negotiate down).
        first_other.get_or_insert_with(|| e.clone());
    }
    match first_other {
        Some(e) => HostCheck::Changed(e),
        None => HostCheck::Unknown,
    }
}

/// An `ssh` invocation as git makes it through `GIT_SSH_COMMAND` (variant `ssh`):
/// `[-p port] [-o option]… [-4|-6] [-l user] [user@]host command…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshInvocation {
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
    /// Environment the caller asked to send (`-o SendEnv=NAME`).
    pub send_env: Vec<String>,
    pub command: String,
}

pub fn parse_ssh_args(args: &[String]) -> Result<SshInvocation, String> {
    let mut port = 22u16;
    let mut user = None;
    let mut send_env = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let a = a.as_str();
        match a {
            "-p" | "-o" | "-l" => {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("option {a} needs a value"))?;
                match a {
                    "-p" => port = v.parse().map_err(|_| format!("bad port '{v}'"))?,
                    "-l" => user = Some(v.clone()),
                    _ => {
                        if let Some(name) = v
                            .strip_prefix("SendEnv=")
                            .or_else(|| v.strip_prefix("SendEnv "))
                        {
                            send_env.push(name.trim().to_string());
                        }
                        // Other -o options (BatchMode, StrictHostKeyChecking…) are ours to
                        // decide and ignored.
                    }
                }
                i += 2;
            }
            "-4" | "-6" | "-T" | "-q" | "-v" | "-x" | "-a" => i += 1,
            _ if a.starts_with("-p") && a.len() > 2 => {
                port = a[2..].parse().map_err(|_| format!("bad port '{a}'"))?;
                i += 1;
            }
            _ if a.starts_with('-') => return Err(format!("unsupported ssh option '{a}'")),
            _ => break,
        }
    }
    let dest = args
        .get(i)
        .ok_or("missing destination host (usage: aiops ssh-git [-p port] [user@]host command)")?;
    let (u, host) = match dest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, dest.clone()),
    };
    let command = args.get(i + 1..).unwrap_or_default().join(" ");
    if command.trim().is_empty() {
        return Err("missing remote command (aiops ssh-git only runs git's commands)".into());
    }
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok(SshInvocation {
        user: u.or(user),
        host: host.to_ascii_lowercase(),
        port,
        send_env,
        command,
    })
}

/// Quote a word for the POSIX shell git runs `GIT_SSH_COMMAND` through.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(user: Option<&str>, host: &str, port: u16) -> Option<SshTarget> {
        Some(SshTarget {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        })
    }

    #[test]
    fn remotes() {
        assert_eq!(
            ssh_target("git@github.com:org/repo.git"),
            t(Some("git"), "github.com", 22)
        );
        assert_eq!(
            ssh_target("ssh://git@GitLab.example.com:2222/org/repo.git"),
            t(Some("git"), "gitlab.example.com", 2222)
        );
        assert_eq!(ssh_target("ssh://host/srv/r.git"), t(None, "host", 22));
        assert_eq!(
            ssh_target("ssh://u@[::1]:2200/r.git"),
            t(Some("u"), "::1", 2200)
        );
        assert_eq!(ssh_target("git+ssh://h:1/x"), t(None, "h", 1));
        assert_eq!(ssh_target("host:path/r.git"), t(None, "host", 22));
        assert_eq!(ssh_target("https://github.com/o/r.git"), None);
        assert_eq!(ssh_target("/srv/git/r.git"), None);
        assert_eq!(ssh_target("file:///srv/r.git"), None);
        assert_eq!(ssh_target("./dir:with/colon"), None);
        assert_eq!(ssh_target("dir/x:y"), None);
        assert_eq!(ssh_target("ssh://h:notaport/x"), None);
    }

    fn kh(id: u64, host: &str, port: u16, key: &str) -> KnownHost {
        KnownHost {
            id: KnownHostId(id),
            host: host.into(),
            port,
            key: key.into(),
            fingerprint: String::new(),
            source: "pinned".into(),
            created_by: None,
            created_at: crate::domain::model::now(),
            last_seen_at: None,
        }
    }

    #[test]
    fn host_checks() {
        let list = vec![
            kh(1, "a", 22, "ssh-ed25519 AAAA1 comment"),
            kh(2, "a", 2222, "ssh-ed25519 AAAA2"),
        ];
        assert_eq!(
            check_host(&list, "A", 22, "ssh-ed25519 AAAA1"),
            HostCheck::Trusted(KnownHostId(1))
        );
        assert_eq!(
            check_host(&list, "a", 2222, "ssh-ed25519 AAAA2 x@y"),
            HostCheck::Trusted(KnownHostId(2))
        );
        assert!(matches!(
            check_host(&list, "a", 22, "ssh-ed25519 AAAA9"),
            HostCheck::Changed(e) if e.id == KnownHostId(1)
        ));
        assert!(matches!(
            check_host(&list, "a", 22, "ecdsa-sha2-nistp256 AAAA1"),
            HostCheck::Changed(_)
        ));
        assert_eq!(
            check_host(&list, "b", 22, "ssh-ed25519 AAAA1"),
            HostCheck::Unknown
        );
        assert_eq!(
            check_host(&list, "a", 23, "ssh-ed25519 AAAA1"),
            HostCheck::Unknown
        );
        let states = [
            HostCheck::Trusted(KnownHostId(1)),
            HostCheck::Unknown,
            HostCheck::Changed(kh(1, "a", 22, "ssh-ed25519 AAAA1")),
        ]
        .map(|c| c.state().to_string());
        assert_eq!(states, ["trusted", "unknown", "changed"]);
    }

    #[test]
    fn key_bodies() {
        assert_eq!(
            key_body("ssh-ed25519 AAAA c").as_deref(),
            Some("ssh-ed25519 AAAA")
        );
        assert_eq!(
            key_body("[h]:2222 ssh-ed25519 AAAA").as_deref(),
            Some("ssh-ed25519 AAAA")
        );
        assert_eq!(key_body("garbage"), None);
        assert_eq!(key_body("h notakey AAAA"), None);
        assert_eq!(host_label("h", 22), "h");
        assert_eq!(host_label("h", 2222), "[h]:2222");
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn git_invocations() {
        let i = parse_ssh_args(&v(&[
            "-o",
            "SendEnv=GIT_PROTOCOL",
            "-p",
            "2222",
            "git@Host",
            "git-upload-pack '/srv/r.git'",
        ]))
        .unwrap();
        assert_eq!(i.user.as_deref(), Some("git"));
        assert_eq!(i.host, "host");
        assert_eq!(i.port, 2222);
        assert_eq!(i.send_env, vec!["GIT_PROTOCOL"]);
        assert_eq!(i.command, "git-upload-pack '/srv/r.git'");
        let i = parse_ssh_args(&v(&["-4", "h", "git-receive-pack", "'x'"])).unwrap();
        assert_eq!((i.user, i.port), (None, 22));
        assert_eq!(i.command, "git-receive-pack 'x'");
        assert!(parse_ssh_args(&v(&["-p"])).is_err());
        assert!(parse_ssh_args(&v(&["-Z", "h", "cmd"])).is_err());
        assert!(parse_ssh_args(&v(&["h"])).is_err());
        assert!(parse_ssh_args(&v(&["-p", "x", "h", "c"])).is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("/a b/aiops"), "'/a b/aiops'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }
}
