//! Commit: stage the given files (or everything) and commit with the caller as author.

use super::runner::failed;
use super::{QUICK, acquire};
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::git::relative_path;
use crate::error::{AppError, AppResult};
use crate::services::git::Git;

impl Git {
    /// Stage `files` (or everything) and commit with the caller as author. Returns the output
    /// and the new commit hash.
    pub async fn git_commit(
        &self,
        caller: &Identity,
        project_id: ProjectId,
        message: &str,
        files: &[String],
    ) -> AppResult<(String, String)> {
        let message = message.trim();
        if message.is_empty() {
            return Err(AppError::BadRequest("Commit message is required".into()));
        }
        let rels: Vec<String> = files
            .iter()
            .map(|f| {
                relative_path(f)
                    .map(|p| p.to_string_lossy().into_owned())
                    .map_err(AppError::BadRequest)
            })
            .collect::<AppResult<_>>()?;
        if rels.iter().any(String::is_empty) {
            return Err(AppError::BadRequest("Invalid path: empty file name".into()));
        }
        let (ws, lock) = self.ready(caller, project_id, true).await?;
        let _g = acquire(&lock).await?;
        let mut add: Vec<&str> = vec!["add"];
        if rels.is_empty() {
            add.push("-A");
        } else {
            add.push("--");
            add.extend(rels.iter().map(String::as_str));
        }
        let o = ws.git(&add, QUICK).await?;
        if !o.ok {
            return Err(failed("Failed to commit: staging failed", &o));
        }
        let name = format!("user.name={}", ws.author_name);
        let email = format!("user.email={}", ws.author_email);
        let o = ws
            .git(&["-c", &name, "-c", &email, "commit", "-m", message], QUICK)
            .await?;
        if !o.ok {
            let mut o = o;
            if o.stderr.is_empty() {
                o.stderr = o.stdout.trim().to_string();
            }
            return Err(failed("Failed to commit", &o));
        }
        let h = ws.git(&["rev-parse", "HEAD"], QUICK).await?;
        Ok((o.stdout.trim().to_string(), h.stdout.trim().to_string()))
    }
}
