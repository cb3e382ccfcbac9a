//! The bubblewrap command line that confines what a user's agents, shells, git and playbooks can
//! reach: the system read-only, a private `/tmp`, `/proc` and `/dev` of their own, their user's
//! workspaces, socket directory and home read-write, and nothing of the server's data. Pure: the
//! service decides the paths, this builds the arguments.

use std::path::{Path, PathBuf};

/// What one sandboxed command may see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Hidden behind an empty tmpfs (the data directory, the workspace root, config and
    /// credential directories, the service account's home). Must exist.
    pub hide: Vec<PathBuf>,
    /// Bound read-write (the user's workspaces, tmux socket directory and home), after the
    /// hidden ones, so they show through. Must exist.
    pub rw: Vec<PathBuf>,
    /// Bound read-only after the hidden ones (e.g. the aiops binary's directory if it is in
    /// a hidden place).
    pub ro: Vec<PathBuf>,
    /// The only environment the command starts with.
    pub env: Vec<(String, String)>,
    pub chdir: Option<PathBuf>,
    /// Run as an unprivileged account (a mapped Linux user): bubblewrap then needs its own
    /// user namespace.
    pub unprivileged: bool,
    /// End with the process that started it (git, playbooks); agents' tmux servers outlive a
    /// server restart, so they don't.
    pub die_with_parent: bool,
}

/// `bwrap` arguments (without the program) that run `command` inside `p`.
pub fn bwrap_args(p: &Profile, command: &[String]) -> Vec<String> {
    let s = |x: &str| x.to_string();
    let path = |x: &Path| x.display().to_string();
    let mut a: Vec<String> = vec![
        s("--ro-bind"),
        s("/"),
        s("/"),
        s("--dev"),
        s("/dev"),
        s("--proc"),
        s("/proc"),
        s("--tmpfs"),
        s("/tmp"),
    ];
    for h in &p.hide {
        a.extend([s("--tmpfs"), path(h)]);
    }
    for r in &p.ro {
        a.extend([s("--ro-bind"), path(r), path(r)]);
    }
    for r in &p.rw {
        a.extend([s("--bind"), path(r), path(r)]);
    }
    a.extend([
        s("--unshare-pid"),
        s("--unshare-ipc"),
        s("--unshare-uts"),
        s("--unshare-cgroup-try"),
    ]);
    if p.unprivileged {
        a.push(s("--unshare-user"));
    }
    // Root inside keeps no capability: it cannot unmount what hides the server's files.
    a.extend([s("--cap-drop"), s("ALL")]);
    // A new session: no TIOCSTI keystroke injection into the terminal that started it.
    a.push(s("--new-session"));
    if p.die_with_parent {
        a.push(s("--die-with-parent"));
    }
    a.push(s("--clearenv"));
    for (k, v) in &p.env {
        a.extend([s("--setenv"), k.clone(), v.clone()]);
    }
    if let Some(d) = &p.chdir {
        a.extend([s("--chdir"), path(d)]);
    }
    a.push(s("--"));
    a.extend(command.iter().cloned());
    a
}

/// Whether `inner` is `outer` or below it (both absolute, lexically).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    inner.starts_with(outer)
}

/// The hidden directories, without those inside another hidden one (one tmpfs covers them)
/// and without duplicates, in a stable order.
pub fn minimal_cover(mut dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    dirs.sort();
    dirs.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if d == Path::new("/") {
            continue;
        }
        if !out.iter().any(|o| is_within(&d, o)) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            hide: vec!["/srv/aiops".into()],
            rw: vec!["/srv/aiops/workspaces/alice-2".into()],
            ro: vec![],
            env: vec![("HOME".into(), "/srv/aiops/sandbox/u2".into())],
            chdir: Some("/srv/aiops/workspaces/alice-2/acme/web-1".into()),
            unprivileged: false,
            die_with_parent: true,
        }
    }

    #[test]
    fn the_data_dir_is_hidden_before_the_workspace_shows_through() {
        let a = bwrap_args(&profile(), &["git".into(), "status".into()]);
        let pos = |needle: &[&str]| {
            a.windows(needle.len())
                .position(|w| w.iter().zip(needle).all(|(x, y)| x == y))
                .unwrap_or_else(|| panic!("{needle:?} in {a:?}"))
        };
        let root = pos(&["--ro-bind", "/", "/"]);
        let hide = pos(&["--tmpfs", "/srv/aiops"]);
        let rw = pos(&[
            "--bind",
            "/srv/aiops/workspaces/alice-2",
            "/srv/aiops/workspaces/alice-2",
        ]);
        assert!(root < hide && hide < rw);
        assert!(a.contains(&"--unshare-pid".to_string()));
        assert!(a.contains(&"--clearenv".to_string()));
        assert!(a.contains(&"--new-session".to_string()));
        let cap = pos(&["--cap-drop", "ALL"]);
        let dash = pos(&["--"]);
        assert!(cap < dash);
        assert_eq!(&a[dash + 1..], ["git", "status"]);
        assert!(!a.contains(&"--unshare-user".to_string()));
        assert!(
            !a.contains(&"--unshare-net".to_string()),
            "agents keep the network"
        );
    }

    #[test]
    fn agents_tmux_servers_outlive_their_starter_and_mapped_users_get_a_user_namespace() {
        let mut p = profile();
        p.die_with_parent = false;
        p.unprivileged = true;
        let a = bwrap_args(&p, &["tmux".into()]);
        assert!(!a.contains(&"--die-with-parent".to_string()));
        assert!(a.contains(&"--unshare-user".to_string()));
    }

    #[test]
    fn nested_hidden_dirs_collapse_to_the_outermost() {
        assert_eq!(
            minimal_cover(vec![
                "/srv/aiops/workspaces".into(),
                "/srv/aiops".into(),
                "/etc/aiops".into(),
                "/srv/aiops".into(),
                "/".into(),
            ]),
            vec![PathBuf::from("/etc/aiops"), PathBuf::from("/srv/aiops")]
        );
    }
}
