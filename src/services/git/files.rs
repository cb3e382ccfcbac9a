//! Workspace file I/O: the directory listing and file reads of the workspace view, and the
//! text files the server writes into a workspace (the agent context file, `.git/info/exclude`)
//! as the workspace's Linux user; every path is confined to the workspace.

use super::{FileContent, FileEntry, QUICK, Workspace};
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::git::relative_path;
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use crate::services::sandbox::as_linux_user;
use std::path::{Path, PathBuf};

const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

/// `command -- <path>` run as the Linux account `user` (`sandbox::as_linux_user`: `sudo -n -H
/// -u <user> -- …`). The path is passed as it is, not as text.
fn as_user(user: &str, command: &[&str], path: &Path) -> tokio::process::Command {
    let (program, args) = as_linux_user(user, &[], command.iter().map(|s| s.to_string()));
    let mut c = tokio::process::Command::new(program);
    c.args(args).arg("--").arg(path);
    c
}

impl Workspace {
    pub(super) async fn mkdir_p(&self, dir: &Path) -> AppResult<()> {
        match &self.run_as {
            None => std::fs::create_dir_all(dir)
                .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", dir.display()))),
            Some(u) => {
                let out = as_user(u, &["mkdir", "-p"], dir)
                    .output()
                    .await
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(AppError::Internal(format!(
                        "cannot create {} as Linux user {u}: {}",
                        dir.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
            }
        }
    }

    /// Read a text file inside the workspace (as the workspace's user); `None` when missing.
    pub(crate) async fn read_text(&self, rel: &str) -> AppResult<Option<String>> {
        let path = self.path.join(rel);
        match &self.run_as {
            // An agent controls the workspace: never follow a link out of it (AGENTS.md ->
            // the server's secret.key would copy the key into the context file).
            None if path.exists() && !stays_inside(&self.path, &path) => Err(AppError::BadRequest(
                format!("{rel} in the workspace leads outside it; remove the link"),
            )),
            None => match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(AppError::Internal(format!(
                    "cannot read {}: {e}",
                    path.display()
                ))),
            },
            Some(u) => {
                let out = as_user(u, &["cat"], &path)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if out.status.success() {
                    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Replace a text file inside the workspace (as the workspace's user).
    pub(crate) async fn write_text(&self, rel: &str, content: &str) -> AppResult<()> {
        let path = self.path.join(rel);
        match &self.run_as {
            None if path.parent().is_some_and(|d| !stays_inside(&self.path, d)) => {
                Err(AppError::BadRequest(format!(
                    "{rel} in the workspace leads outside it; remove the link"
                )))
            }
            None => {
                let tmp = path.with_extension("aiops-tmp");
                std::fs::write(&tmp, content)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .map_err(|e| {
                        AppError::Internal(format!("cannot write {}: {e}", path.display()))
                    })
            }
            Some(u) => {
                let mut child = as_user(u, &["tee"], &path)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| AppError::Internal(format!("cannot run sudo: {e}")))?;
                if let Some(mut stdin) = child.stdin.take() {
                    use tokio::io::AsyncWriteExt;
                    stdin
                        .write_all(content.as_bytes())
                        .await
                        .map_err(|e| AppError::Internal(format!("cannot write: {e}")))?;
                }
                let out = tokio::time::timeout(QUICK, child.wait_with_output())
                    .await
                    .map_err(|_| AppError::Upstream("writing the file took too long".into()))?
                    .map_err(|e| AppError::Internal(format!("cannot write: {e}")))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(AppError::Internal(format!(
                        "cannot write {} as Linux user {u}: {}",
                        path.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
            }
        }
    }

    /// Make git ignore a generated file in this checkout only (`.git/info/exclude`), so that
    /// committing everything never picks it up.
    pub(crate) async fn exclude(&self, name: &str) -> AppResult<()> {
        // A worktree's `.git` is a file: it shares the main checkout's `info/exclude`, which
        // `start_session` fills before writing a worktree's context.
        if self.path.join(".git").is_file() {
            return Ok(());
        }
        let rel = ".git/info/exclude";
        let current = self.read_text(rel).await?.unwrap_or_default();
        if current.lines().any(|l| l.trim() == name) {
            return Ok(());
        }
        self.mkdir_p(&self.path.join(".git/info")).await?;
        let mut next = current;
        if !next.is_empty() && !next.ends_with('\n') {
            next.push('\n');
        }
        next.push_str(name);
        next.push('\n');
        self.write_text(rel, &next).await
    }

    /// Remove a failed clone (as the workspace's user).
    pub(super) async fn remove_dir(&self) {
        match &self.run_as {
            None => {
                let _ = std::fs::remove_dir_all(&self.path);
            }
            Some(u) => {
                let _ = as_user(u, &["rm", "-rf"], &self.path).output().await;
            }
        }
    }
}

/// Whether `p` (which exists), with every link resolved, is inside `root`.
fn stays_inside(root: &Path, p: &Path) -> bool {
    match (root.canonicalize(), p.canonicalize()) {
        (Ok(r), Ok(real)) => real.starts_with(r),
        _ => false,
    }
}

pub(super) fn confined(root: &Path, rel: &Path) -> AppResult<PathBuf> {
    let root = root.canonicalize().map_err(|_| {
        AppError::NotFound(
            "Workspace not initialised: run `aiops workspace init <project>` first".into(),
        )
    })?;
    let full = root.join(rel);
    let real = full
        .canonicalize()
        .map_err(|_| AppError::NotFound(format!("{} not found in the workspace", rel.display())))?;
    if !real.starts_with(&root) {
        return Err(AppError::BadRequest(
            "Invalid path: it leads outside the workspace".into(),
        ));
    }
    // A committed symlink (`gitcfg -> .git/config`) must not open the repository's internals.
    if real.starts_with(root.join(".git")) {
        return Err(AppError::BadRequest(
            "Invalid path: it leads into the .git directory, which is not accessible".into(),
        ));
    }
    Ok(real)
}

fn mode_string(m: u32, dir: bool) -> String {
    let mut s = String::from(if dir { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let b = (m >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

impl Git {
    /// Directory listing inside the workspace (directories first, then by name; `.git` hidden).
    pub fn list_files(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        path: &str,
    ) -> AppResult<(String, Vec<FileEntry>)> {
        let rel = relative_path(path).map_err(AppError::BadRequest)?;
        let ws = self.workspace(caller, project_id)?;
        let dir = confined(&ws.path, &rel)?;
        if !dir.is_dir() {
            return Err(AppError::BadRequest(format!(
                "{} is a file, not a directory",
                rel.display()
            )));
        }
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| AppError::BadRequest(format!("Failed to list files: {e}")))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            #[cfg(unix)]
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            #[cfg(not(unix))]
            let mode = 0o644;
            out.push(FileEntry {
                is_directory: meta.is_dir(),
                permissions: mode_string(mode, meta.is_dir()),
                size: meta.len(),
                name,
            });
        }
        out.sort_by(|a, b| {
            b.is_directory
                .cmp(&a.is_directory)
                .then_with(|| a.name.cmp(&b.name))
        });
        let shown = rel.to_string_lossy().into_owned();
        Ok((if shown.is_empty() { "/".into() } else { shown }, out))
    }

    pub fn read_file(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        path: &str,
    ) -> AppResult<(String, FileContent)> {
        let rel =
            relative_path(path).map_err(|_| AppError::BadRequest("Invalid file path".into()))?;
        if rel.as_os_str().is_empty() {
            return Err(AppError::BadRequest(
                "Invalid file path: give a file, not the workspace".into(),
            ));
        }
        let ws = self.workspace(caller, project_id)?;
        let file = confined(&ws.path, &rel)?;
        let meta = std::fs::metadata(&file)
            .map_err(|e| AppError::NotFound(format!("Failed to read file: {e}")))?;
        if meta.is_dir() {
            return Err(AppError::BadRequest(format!(
                "{} is a directory; use the files listing",
                rel.display()
            )));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(AppError::BadRequest(format!(
                "{} is {} bytes; files over {MAX_FILE_BYTES} bytes are not shown",
                rel.display(),
                meta.len()
            )));
        }
        let bytes = std::fs::read(&file)
            .map_err(|e| AppError::NotFound(format!("Failed to read file: {e}")))?;
        let rel_s = rel.to_string_lossy().into_owned();
        Ok(match String::from_utf8(bytes) {
            Ok(t) if !t.contains('\0') => (rel_s, FileContent::Text(t)),
            Ok(t) => (rel_s, FileContent::Binary(t.into_bytes())),
            Err(e) => (rel_s, FileContent::Binary(e.into_bytes())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_as_the_linux_user_keep_the_sudo_prefix() {
        let c = as_user(
            "alice",
            &["mkdir", "-p"],
            Path::new("/home/alice/w/.git/info"),
        );
        let c = c.as_std();
        assert_eq!(c.get_program(), "sudo");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(
            args,
            [
                "-n",
                "-H",
                "-u",
                "alice",
                "--",
                "mkdir",
                "-p",
                "--",
                "/home/alice/w/.git/info"
            ]
        );
    }

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o755, true), "drwxr-xr-x");
        assert_eq!(mode_string(0o644, false), "-rw-r--r--");
    }
}
