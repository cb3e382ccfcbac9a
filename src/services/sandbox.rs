//! The agent sandbox: every command a user's agents, shells, git and project playbooks run goes
//! through bubblewrap (`bwrap`) with that user's `Jail`, so it sees its own processes only, its
//! user's workspaces, socket directory and home read-write, the system read-only, a private
//! `/tmp`, and nothing of the data directory, other users' workspaces or sockets. With
//! Linux-user workspaces the jail is entered as the mapped account (`sudo -n -u`), with the same
//! `sudo` prefix (`as_linux_user`) that git and tmux use to act as that account.

use crate::config::Config;
use crate::domain::sandbox::{Profile, bwrap_args, is_within, minimal_cover};
use crate::domain::{User, UserId};
use crate::error::{AppError, AppResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One user's sandbox.
#[derive(Debug, Clone)]
pub struct Jail {
    pub hide: Vec<PathBuf>,
    pub rw: Vec<PathBuf>,
    pub ro: Vec<PathBuf>,
    pub home: PathBuf,
    /// The mapped Linux account the jail is entered as.
    pub run_as: Option<String>,
}

impl Jail {
    /// Program and arguments that run `command` in this jail (as its Linux account when
    /// mapped). `extra_ro` are files the command needs that may sit in a hidden place (the
    /// agent's own program); `env` is added to the jail's base environment.
    pub fn argv(
        &self,
        command: &[String],
        chdir: Option<&Path>,
        die_with_parent: bool,
        env: &[(String, String)],
        extra_ro: &[PathBuf],
    ) -> (String, Vec<String>) {
        let mut e = vec![
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("HOME".to_string(), self.home.display().to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            (
                "USER".to_string(),
                self.run_as.clone().unwrap_or_else(|| "aiops".into()),
            ),
        ];
        e.extend(env.iter().cloned());
        let mut ro = self.ro.clone();
        for f in extra_ro {
            if self.hide.iter().any(|h| is_within(f, h)) || f.starts_with("/tmp") {
                ro.push(f.clone());
            }
        }
        let profile = Profile {
            hide: self.hide.clone(),
            rw: self.rw.clone(),
            ro,
            env: e,
            chdir: chdir.map(Path::to_path_buf),
            unprivileged: self.run_as.is_some(),
            die_with_parent,
        };
        let args = bwrap_args(&profile, command);
        match &self.run_as {
            None => ("bwrap".into(), args),
            Some(u) => as_linux_user(u, &[], std::iter::once("bwrap".to_string()).chain(args)),
        }
    }

    /// Make a path the jail reaches (a local git remote outside the server's own directories)
    /// visible read-write; paths inside hidden places stay hidden.
    pub fn with_rw(mut self, p: &Path) -> Jail {
        if p.is_absolute() && p.exists() && !self.hide.iter().any(|h| is_within(p, h)) {
            self.rw.push(p.to_path_buf());
        }
        self
    }
}

/// The program and arguments that run `command` as the Linux account `user`:
/// `sudo -n -H -u <user> [--preserve-env=<names>] -- <command…>` (never a password prompt, the
/// account's own HOME, and of the caller's environment only the variables named in
/// `preserve_env`). Every child run as a mapped account (the jail, git, tmux) starts this way.
pub(crate) fn as_linux_user(
    user: &str,
    preserve_env: &[&str],
    command: impl IntoIterator<Item = String>,
) -> (String, Vec<String>) {
    let mut v: Vec<String> = ["-n", "-H", "-u", user].map(String::from).to_vec();
    if !preserve_env.is_empty() {
        v.push(format!("--preserve-env={}", preserve_env.join(",")));
    }
    v.push("--".into());
    v.extend(command);
    ("sudo".into(), v)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Start a child that must die with the server (bubblewrap's `--die-with-parent`, which every
/// jailed git and playbook run uses). That flag is the kernel's parent-death signal, and the
/// kernel sends it when the *thread* that forked the child ends, not the process: a runtime
/// worker that went through `run_blocking` retires to the blocking pool and exits after tokio's
/// keep-alive, which killed a jailed playbook mid-run. So these children are forked from one
/// thread that lives as long as the process, inside the caller's runtime (the child's exit is
/// then reported to that runtime as usual).
pub(crate) async fn spawn_owned(
    cmd: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let gone = || std::io::Error::other("the server's process starter has stopped");
    spawner()
        .send(Box::new(move || {
            let _in = handle.enter();
            let mut cmd = cmd;
            let _ = tx.send(cmd.spawn());
        }))
        .map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

type SpawnJob = Box<dyn FnOnce() + Send>;

fn spawner() -> &'static std::sync::mpsc::Sender<SpawnJob> {
    static S: std::sync::OnceLock<std::sync::mpsc::Sender<SpawnJob>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        // If the thread cannot start, every send fails and `spawn_owned` says so.
        let _ = std::thread::Builder::new()
            .name("aiops-spawner".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        tx
    })
}

/// Create a private directory (0700) and its parents.
pub(crate) fn private_dir(p: &Path) -> AppResult<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", p.display())))
}

/// Whether bubblewrap can build a sandbox here; the error says how to make it work.
#[allow(
    clippy::disallowed_methods,
    reason = "run once at start, before serving"
)]
pub fn check_bwrap() -> Result<(), String> {
    let out = std::process::Command::new("bwrap")
        .args([
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--unshare-pid",
            "--cap-drop",
            "ALL",
            "--",
            "true",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(
            "the agent sandbox needs bubblewrap, which is not installed: apt-get install bubblewrap \
             (or, to run agents with the server's own powers, set sandbox = \"off\" / AIOPS_SANDBOX=off)"
                .into(),
        ),
        Err(e) => Err(format!("cannot run bwrap for the agent sandbox: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "bubblewrap cannot create a sandbox here: {}. Enable user namespaces \
             (sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000), or in a \
             container allow them (e.g. --security-opt seccomp=unconfined); to run agents with the \
             server's own powers instead, set sandbox = \"off\" / AIOPS_SANDBOX=off",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
    }
}

/// Whether agents, git and project playbooks can be confined on this machine.
pub struct Sandbox {
    pub(crate) config: Arc<Config>,
    /// Why the agent sandbox cannot be built here (checked at start), if it cannot: agents,
    /// git and project playbooks then refuse to run, with this message.
    pub sandbox_broken: std::sync::OnceLock<String>,
}

impl Sandbox {
    /// Whether agents run in the sandbox (on unless an admin turned it off).
    pub fn sandbox_on(&self) -> bool {
        self.config.sandbox
    }

    /// Check at start that the sandbox can be built; if not, remember why (agents, git and
    /// playbooks then refuse to run with that message) and return it for the start-up output.
    pub fn check_sandbox(&self) -> Option<String> {
        if !self.sandbox_on() {
            return None;
        }
        match check_bwrap() {
            Ok(()) => None,
            Err(why) => {
                let _ = self.sandbox_broken.set(why.clone());
                Some(why)
            }
        }
    }

    /// The server's own places, hidden from every jail.
    fn hidden_places(&self) -> Vec<PathBuf> {
        let mut v = vec![
            absolute(&self.config.data_dir),
            absolute(&self.config.workspace_root),
            absolute(&self.config.repo_storage_path),
            absolute(&self.config.ansible_dir),
            PathBuf::from("/etc/aiops"),
            PathBuf::from("/run/credentials"),
        ];
        if let Ok(d) = std::env::var("CREDENTIALS_DIRECTORY") {
            v.push(PathBuf::from(d));
        }
        if let Some(c) = &self.config.config_file
            && let Some(dir) = absolute(c).parent()
        {
            v.push(dir.to_path_buf());
        }
        // The service account's home (its own ssh keys, tokens …).
        if let Some(h) = &self.config.server_home {
            v.push(h.clone());
        }
        v.retain(|p| p.exists() && p != Path::new("/"));
        minimal_cover(v)
    }

    /// The jail of `user`'s agents and of the commands run for them; None when the sandbox is
    /// off. Creates the user's private directories (workspace root, socket dir, home).
    pub(crate) fn jail_for(&self, user: &User) -> AppResult<Option<Jail>> {
        if !self.sandbox_on() {
            return Ok(None);
        }
        // Nothing runs outside the sandbox while it cannot be built.
        if let Some(why) = self.sandbox_broken.get() {
            return Err(AppError::Unavailable(format!(
                "Agents, git and project playbooks are disabled: {why}"
            )));
        }
        let linux_user = user
            .linux_username
            .as_deref()
            .filter(|_| self.config.linux_user_workspaces)
            .filter(|u| crate::domain::git::valid_linux_username(u));
        let hide = self.hidden_places();
        let (rw, home) = match linux_user {
            Some(u) => {
                let home = super::git::linux_home(u)?;
                (vec![home.clone()], home)
            }
            None => {
                let ws = absolute(&self.config.workspace_root).join(crate::domain::git::user_dir(
                    user.linux_username.as_deref(),
                    &user.email,
                    user.id,
                ));
                let sock = self.tmux_dir(user.id);
                let home = self.jail_home(user.id);
                for d in [&ws, &sock, &home] {
                    private_dir(d)?;
                }
                (vec![ws, sock, home.clone()], home)
            }
        };
        let mut ro = Vec::new();
        if let Ok(exe) = std::env::current_exe()
            && let Some(dir) = exe.parent()
            && hide.iter().any(|h| is_within(dir, h))
        {
            ro.push(dir.to_path_buf());
        }
        Ok(Some(Jail {
            hide,
            rw,
            ro,
            home,
            run_as: linux_user.map(str::to_string),
        }))
    }

    /// `<data_dir>/tmux/u<id>`: the directory of a user's tmux socket.
    pub(crate) fn tmux_dir(&self, user_id: UserId) -> PathBuf {
        absolute(&self.config.data_dir)
            .join("tmux")
            .join(format!("u{user_id}"))
    }

    /// `<data_dir>/sandbox/u<id>`: the home directory of a user's jailed processes.
    fn jail_home(&self, user_id: UserId) -> PathBuf {
        absolute(&self.config.data_dir)
            .join("sandbox")
            .join(format!("u{user_id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn as_linux_user_never_prompts_and_passes_on_only_named_variables() {
        let cmd = || ["git", "status"].map(String::from);
        let (p, a) = as_linux_user("alice", &[], cmd());
        assert_eq!(p, "sudo");
        assert_eq!(a, ["-n", "-H", "-u", "alice", "--", "git", "status"]);
        let (_, a) = as_linux_user("alice", &["LC_ALL", "GIT_ASKPASS"], cmd());
        assert_eq!(
            a,
            [
                "-n",
                "-H",
                "-u",
                "alice",
                "--preserve-env=LC_ALL,GIT_ASKPASS",
                "--",
                "git",
                "status"
            ]
        );
    }

    #[test]
    fn a_mapped_jail_is_entered_through_sudo() {
        let jail = Jail {
            hide: vec![],
            rw: vec![],
            ro: vec![],
            home: PathBuf::from("/home/alice"),
            run_as: Some("alice".into()),
        };
        let (p, a) = jail.argv(&["true".to_string()], None, true, &[], &[]);
        assert_eq!(p, "sudo");
        assert_eq!(a[..6], ["-n", "-H", "-u", "alice", "--", "bwrap"]);
        let (p, _) = Jail {
            run_as: None,
            ..jail
        }
        .argv(&["true".to_string()], None, true, &[], &[]);
        assert_eq!(p, "bwrap");
    }

    /// The kernel's parent-death signal follows the thread that forked the child. A jailed
    /// child started from a thread that ends once the child runs must keep running
    /// (`spawn_owned`); the control shows the same child started plainly from that thread is
    /// killed when the thread ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jailed_child_outlives_the_thread_that_started_it() {
        use std::os::unix::process::ExitStatusExt;
        use tokio::io::AsyncBufReadExt;
        let jail = Jail {
            hide: vec![],
            rw: vec![],
            ro: vec![],
            home: std::env::temp_dir(),
            run_as: None,
        };
        let script = ["sh", "-c", "echo up; exec sleep 60"].map(String::from);
        let (program, args) = jail.argv(&script, None, true, &[], &[]);
        let cmd = move || {
            let mut c = tokio::process::Command::new(&program);
            c.args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true);
            c
        };
        // Wait (on the starting thread) until the jailed command runs, so bwrap has armed its
        // parent-death signal before the thread ends.
        async fn running(mut c: tokio::process::Child) -> tokio::process::Child {
            let out = c.stdout.take().expect("stdout is piped");
            let mut line = String::new();
            tokio::io::BufReader::new(out)
                .read_line(&mut line)
                .await
                .expect("bwrap runs (apt-get install bubblewrap)");
            assert_eq!(line.trim(), "up", "the jailed command started");
            c
        }
        let h = tokio::runtime::Handle::current();
        let (h2, mut plain) = (h.clone(), cmd());
        let mut plain = std::thread::spawn(move || {
            h2.block_on(async move { running(plain.spawn().expect("bwrap is installed")).await })
        })
        .join()
        .unwrap();
        let st = tokio::time::timeout(Duration::from_secs(20), plain.wait())
            .await
            .expect("control: a child forked from an ended thread is killed")
            .unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL), "control: {st:?}");

        let owned = cmd();
        let mut owned = std::thread::spawn(move || {
            h.block_on(async move { running(spawn_owned(owned).await.unwrap()).await })
        })
        .join()
        .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(1), owned.wait())
                .await
                .is_err(),
            "the owned child is still running after its starter thread ended"
        );
        owned.kill().await.unwrap();
    }
}
