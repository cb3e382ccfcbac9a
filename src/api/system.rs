//! System administration (admins only): status, logs, update, restart, the scheduler, and
//! backups (create, list, download, restore, delete, schedule and retention).

use super::common::{AppRef, Created, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::Timestamp;
use crate::services::backup::{BackupSchedule, BackupView};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde_json::Value;

#[derive(Tags)]
enum Tag {
    /// Status, logs, update and restart (admins)
    System,
    /// Backups of the whole store and their restore (admins)
    Backups,
}

#[derive(Object)]
pub struct ComponentObj {
    pub healthy: bool,
    pub message: String,
    pub details: Value,
}

#[derive(Object)]
pub struct SummaryObj {
    pub total_components: usize,
    pub healthy_components: usize,
    pub unhealthy_components: usize,
}

#[derive(Object)]
pub struct StatusObj {
    pub healthy: bool,
    pub timestamp: Timestamp,
    pub version: String,
    pub started_at: Timestamp,
    pub uptime_seconds: i64,
    pub data_dir: String,
    pub data_dir_bytes: u64,
    /// database, tmux, git, ansible, ai_tools, workspaces, integrations, sessions, scheduler
    pub components: std::collections::BTreeMap<String, ComponentObj>,
    pub summary: SummaryObj,
    /// When the slow checks (tool versions, data dir size) last ran: they run in the
    /// background every minute; `?refresh=1` runs them now.
    pub checked_at: Timestamp,
    /// What needs attention, each in words with what to do (empty: nothing).
    pub attention: Vec<String>,
}

#[derive(Object)]
pub struct LogsObj {
    pub ok: bool,
    /// The newest log file.
    pub path: String,
    /// JSON lines, oldest first.
    pub lines: Vec<String>,
    pub content: String,
    pub truncated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateBody {
    /// An http(s) URL or a file path on the server; with `sha256`. Without both, the release
    /// channel (`update_url`) is used.
    #[oai(validator(max_length = 4096))]
    pub source: Option<Str>,
    /// The release's SHA-256 (64 hex characters); with `source`.
    #[oai(validator(max_length = 64))]
    pub sha256: Option<Str>,
    /// Restart into the new binary once it is in place.
    pub restart: Option<bool>,
    /// Accepted for the original's clients; the store migrates itself when the new binary
    /// starts, so there is no migration step to skip.
    pub skip_migrations: Option<bool>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateRestartBody {
    /// Accepted for the original's clients (the store migrates itself at start).
    pub skip_migrations: Option<bool>,
}

/// One update step, as the original reports it.
#[derive(Object)]
pub struct StepObj {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub skipped: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

#[derive(Object)]
pub struct UpdateResults {
    /// The release fetched (URL or file).
    pub download: StepObj,
    /// SHA-256 checked and `--version` run.
    pub verify: StepObj,
    /// The binary replaced (the old one kept as `<exe>.previous`).
    pub install: StepObj,
    /// Always skipped: the store migrates itself when the new binary starts.
    pub migrations: StepObj,
}

#[derive(Object)]
pub struct UpdateObj {
    pub message: String,
    pub previous_version: String,
    pub new_version: String,
    pub path: String,
    pub restarting: bool,
    /// Where the release came from.
    pub source: String,
    /// The release channel's manifest version (null when `source` was given).
    #[oai(nullable)]
    pub channel_version: Option<String>,
    pub results: UpdateResults,
}

#[derive(Object)]
pub struct UpdateChannelObj {
    /// The server's release channel manifest (URL or file path); null when none is set.
    #[oai(nullable)]
    pub update_url: Option<String>,
    /// This server's version.
    pub version: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ToolUpdateBody {
    /// `npm` or `brew`.
    #[oai(validator(max_length = 20))]
    pub source: Option<Str>,
}

#[derive(Object)]
pub struct ToolUpdateResult {
    pub tool: String,
    pub tool_label: String,
    pub source: String,
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    pub returncode: i32,
    pub success: bool,
}

#[derive(Object)]
pub struct ToolUpdateObj {
    pub success: bool,
    pub message: String,
    pub result: ToolUpdateResult,
    /// The same as `result.stdout` (the original CLI reads it here).
    pub stdout: String,
    /// The same as `result.stderr`.
    pub stderr: String,
}

fn step_obj(s: crate::services::system::Step) -> StepObj {
    StepObj {
        success: s.success,
        stdout: s.stdout,
        stderr: s.stderr,
        error: None,
        skipped: s.skipped.then_some(true),
        message: s.message,
    }
}

fn update_obj(u: crate::services::system::Updated, restarting: bool, message: String) -> UpdateObj {
    let mut steps: std::collections::BTreeMap<&str, StepObj> =
        u.steps.into_iter().map(|(k, s)| (k, step_obj(s))).collect();
    let mut take = |k: &str| {
        steps.remove(k).unwrap_or(StepObj {
            success: false,
            stdout: String::new(),
            stderr: String::new(),
            error: Some(format!("the {k} step did not run")),
            skipped: None,
            message: None,
        })
    };
    let results = UpdateResults {
        download: take("download"),
        verify: take("verify"),
        install: take("install"),
        migrations: take("migrations"),
    };
    UpdateObj {
        message,
        previous_version: u.previous_version,
        new_version: u.new_version,
        path: u.path.display().to_string(),
        restarting,
        source: u.source,
        channel_version: u.channel_version,
        results,
    }
}

#[derive(Object)]
pub struct SystemMessage {
    pub message: String,
}

#[derive(Object)]
pub struct JobObj {
    pub key: String,
    pub kind: String,
    pub cron: String,
    #[oai(nullable)]
    pub next_run: Option<Timestamp>,
    #[oai(nullable)]
    pub last_run: Option<Timestamp>,
    #[oai(nullable)]
    pub last_result: Option<String>,
    pub running: bool,
}

#[derive(Object)]
pub struct JobsObj {
    pub jobs: Vec<JobObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct BackupUser {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Object)]
pub struct BackupObj {
    pub id: u64,
    pub filename: String,
    pub filepath: String,
    pub size_bytes: u64,
    #[oai(nullable)]
    pub description: Option<String>,
    /// manual, scheduled or safety (taken before a restore)
    #[oai(nullable)]
    pub kind: Option<String>,
    #[oai(nullable)]
    pub sha256: Option<String>,
    #[oai(nullable)]
    pub schema_version: Option<u64>,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub created_by: Option<BackupUser>,
}

fn backup_obj(v: BackupView) -> BackupObj {
    let b = v.backup;
    BackupObj {
        id: b.id.get(),
        filename: b.filename,
        filepath: b.filepath,
        size_bytes: b.size_bytes,
        description: b.description,
        kind: b.kind.map(|k| k.as_str().to_string()),
        sha256: b.sha256,
        schema_version: b.schema_version,
        created_at: b.created_at,
        created_by: v.created_by.map(|u| BackupUser {
            id: u.id.get(),
            name: u.name,
            email: u.email,
        }),
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct BackupBody {
    #[oai(validator(max_length = 2000))]
    pub description: Option<Str>,
}

#[derive(Object)]
pub struct BackupCreated {
    pub message: String,
    pub backup: BackupObj,
}

#[derive(Object)]
pub struct BackupsEnvelope {
    pub backups: Vec<BackupObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct BackupEnvelope {
    pub backup: BackupObj,
}

#[derive(Object)]
pub struct RestoreObj {
    pub message: String,
    pub backup_id: u64,
    /// The copy of the data as it was just before the restore.
    pub safety_backup_id: u64,
    /// The backup's schema version (migrated to the current one when older).
    pub from_schema_version: u64,
    pub counts: std::collections::BTreeMap<String, u64>,
}

#[derive(Object)]
pub struct ScheduleObj {
    /// Cron expression (5 fields, or 6 with seconds first); null: no scheduled backups.
    #[oai(nullable)]
    pub cron: Option<String>,
    /// Keep the newest N scheduled backups (manual and safety backups are never removed).
    #[oai(nullable)]
    pub keep_last: Option<u64>,
    /// Remove scheduled backups older than N days (the newest one always stays).
    #[oai(nullable)]
    pub keep_days: Option<u32>,
}

#[derive(ApiResponse)]
enum Archive {
    #[oai(status = 200, content_type = "application/gzip")]
    Ok(
        Binary<poem::Body>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

#[derive(poem_openapi::ApiRequest)]
enum ArchiveBody {
    #[oai(content_type = "application/gzip")]
    Gzip(Binary<Vec<u8>>),
    #[oai(content_type = "application/octet-stream")]
    Bytes(Binary<Vec<u8>>),
}

pub struct SystemApi;

#[OpenApi]
impl SystemApi {
    /// Health of every part: store, tmux, git, ansible, agent tools, workspaces,
    /// integrations, sessions, scheduler; version, uptime and data dir size.
    #[oai(path = "/system/status", method = "get", tag = "Tag::System")]
    async fn status(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        /// `1` or `true`: run the slow checks now instead of answering from their last run.
        refresh: Query<Option<String>>,
    ) -> R<Json<StatusObj>> {
        let refresh = matches!(refresh.0.as_deref(), Some("1" | "true" | "yes"));
        let s = app.system.system_status(auth.identity(), refresh).await?;
        let healthy_components = s.components.iter().filter(|(_, c)| c.healthy).count();
        let total = s.components.len();
        Ok(Json(StatusObj {
            healthy: s.healthy,
            timestamp: crate::domain::model::now(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: app.system.started_at,
            uptime_seconds: s.uptime_seconds,
            data_dir: s.data_dir.display().to_string(),
            data_dir_bytes: s.data_dir_bytes,
            components: s
                .components
                .into_iter()
                .map(|(k, c)| {
                    (
                        k,
                        ComponentObj {
                            healthy: c.healthy,
                            message: c.message,
                            details: c.details,
                        },
                    )
                })
                .collect(),
            summary: SummaryObj {
                total_components: total,
                healthy_components,
                unhealthy_components: total - healthy_components,
            },
            checked_at: s.checked_at,
            attention: s.attention,
        }))
    }

    /// The last log lines (JSON lines from `<data_dir>/logs`), optionally filtered by text or
    /// minimum level (error, warn, info, debug).
    #[oai(path = "/system/logs", method = "get", tag = "Tag::System")]
    async fn logs(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        lines: Query<Option<usize>>,
        filter: Query<Option<String>>,
        level: Query<Option<String>>,
    ) -> R<Json<LogsObj>> {
        let t = app.system.recent_logs(
            auth.identity(),
            lines.0.unwrap_or(400),
            filter.0.as_deref(),
            level.0.as_deref(),
        )?;
        Ok(Json(LogsObj {
            ok: true,
            path: t.path.display().to_string(),
            content: t.lines.join("\n"),
            lines: t.lines,
            truncated: t.truncated,
        }))
    }

    /// Replace the binary with a release after checking its SHA-256 and that it runs: from
    /// `source` + `sha256` (URL or server path), or, without them (the original's
    /// `{"skip_migrations": …}` or `{}`), from the release channel (`update_url`). With
    /// `restart: true` the server then restarts into it.
    #[oai(path = "/system/update", method = "post", tag = "Tag::System")]
    async fn update(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<UpdateBody>,
    ) -> R<Json<UpdateObj>> {
        let b = body.0;
        let given = |v: Option<Str>| opt(v).filter(|s| !s.trim().is_empty());
        let u = match (given(b.source), given(b.sha256)) {
            (Some(source), Some(sha)) => {
                app.system
                    .system_update(auth.identity(), &source, &sha)
                    .await?
            }
            (None, None) => {
                app.system
                    .system_update_from_channel(auth.identity())
                    .await?
            }
            _ => {
                auth.identity().require_admin()?;
                return Err(crate::error::AppError::BadRequest(
                    "source and sha256 go together: send both (a release URL or server path and its SHA-256), or neither to use the release channel".into(),
                )
                .into());
            }
        };
        let restarting = b.restart.unwrap_or(false);
        if restarting {
            app.system.request_restart(auth.identity())?;
        }
        let message = if restarting {
            format!(
                "System updated successfully. Restart initiated: now {}.",
                u.new_version
            )
        } else {
            format!(
                "System updated successfully to {}. Restart to run it (POST /system/restart).",
                u.new_version
            )
        };
        Ok(Json(update_obj(u, restarting, message)))
    }

    /// Update from the release channel, then restart gracefully into the new binary.
    #[oai(
        path = "/system/update-and-restart",
        method = "post",
        tag = "Tag::System"
    )]
    async fn update_and_restart(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<UpdateRestartBody>,
    ) -> R<Json<UpdateObj>> {
        let _ = body.0.skip_migrations;
        let u = app
            .system
            .system_update_from_channel(auth.identity())
            .await?;
        app.system.request_restart(auth.identity())?;
        Ok(Json(update_obj(
            u,
            true,
            "System updated successfully. Restart initiated.".into(),
        )))
    }

    /// The release channel this server updates from, and its version (any signed-in caller:
    /// `aiops update` uses it when the CLI has no `update_url` of its own).
    #[oai(path = "/system/update-channel", method = "get", tag = "Tag::System")]
    async fn update_channel(&self, app: AppRef<'_>, auth: Auth) -> R<Json<UpdateChannelObj>> {
        Ok(Json(UpdateChannelObj {
            update_url: app.system.update_channel(auth.identity())?,
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    /// Update an agent tool (`codex`, `gemini`, `claude`) with its configured npm or brew
    /// command. A failing command is a 200 with `success: false` and its output.
    #[oai(
        path = "/system/ai-tools/:tool/update",
        method = "post",
        tag = "Tag::System"
    )]
    async fn update_ai_tool(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        tool: Path<String>,
        body: Json<ToolUpdateBody>,
    ) -> R<Json<ToolUpdateObj>> {
        let source = opt(body.0.source);
        let t = app
            .system
            .update_ai_tool(auth.identity(), &tool.0, source.as_deref())
            .await?;
        Ok(Json(ToolUpdateObj {
            success: t.success,
            message: t.message,
            stdout: t.stdout.clone(),
            stderr: t.stderr.clone(),
            result: ToolUpdateResult {
                tool: t.tool,
                tool_label: t.tool_label,
                source: t.source,
                command: t.command,
                stdout: t.stdout,
                stderr: t.stderr,
                returncode: t.returncode,
                success: t.success,
            },
        }))
    }

    /// Restart gracefully: requests in flight finish, the scheduler stops, then the binary is
    /// executed again (same arguments and address).
    #[oai(path = "/system/restart", method = "post", tag = "Tag::System")]
    async fn restart(&self, app: AppRef<'_>, auth: Auth) -> R<Json<SystemMessage>> {
        app.system.request_restart(auth.identity())?;
        Ok(Json(SystemMessage {
            message: "Restart initiated. The server will be back in a moment.".into(),
        }))
    }

    /// Scheduled jobs (syncs, backups, playbooks) with their next and last runs.
    #[oai(path = "/system/scheduler", method = "get", tag = "Tag::System")]
    async fn scheduler(&self, app: AppRef<'_>, auth: Auth) -> R<Json<JobsObj>> {
        let jobs: Vec<JobObj> = app
            .scheduler
            .scheduled_jobs(auth.identity())?
            .into_iter()
            .map(|j| JobObj {
                key: j.key,
                kind: j.kind,
                cron: j.cron,
                next_run: j.next_run,
                last_run: j.last_run,
                last_result: j.last_result,
                running: j.running,
            })
            .collect();
        Ok(Json(JobsObj {
            count: jobs.len(),
            jobs,
        }))
    }

    /// Take a backup now: every table from one consistent snapshot, plus a manifest.
    #[oai(path = "/system/backups", method = "post", tag = "Tag::Backups")]
    async fn backup_create(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<BackupBody>,
    ) -> R<Created<BackupCreated>> {
        let d = opt(body.0.description);
        let b = app
            .backups
            .create_backup(auth.identity(), d.as_deref())
            .await?;
        let v = app.backups.get_backup(auth.identity(), b.id)?;
        Ok(Created::Created(Json(BackupCreated {
            message: "Backup created successfully".into(),
            backup: backup_obj(v),
        })))
    }

    /// Backups whose file exists, newest first.
    #[oai(path = "/system/backups", method = "get", tag = "Tag::Backups")]
    async fn backups(&self, app: AppRef<'_>, auth: Auth) -> R<Json<BackupsEnvelope>> {
        let list: Vec<BackupObj> = app
            .backups
            .list_backups(auth.identity())?
            .into_iter()
            .map(backup_obj)
            .collect();
        Ok(Json(BackupsEnvelope {
            count: list.len(),
            backups: list,
        }))
    }

    #[oai(path = "/system/backups/:id", method = "get", tag = "Tag::Backups")]
    async fn backup_get(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<BackupEnvelope>> {
        Ok(Json(BackupEnvelope {
            backup: backup_obj(app.backups.get_backup(auth.identity(), id.0.into())?),
        }))
    }

    /// The archive (tar.gz).
    #[oai(
        path = "/system/backups/:id/download",
        method = "get",
        tag = "Tag::Backups"
    )]
    async fn backup_download(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Archive> {
        let v = app.backups.get_backup(auth.identity(), id.0.into())?;
        let f = tokio::fs::File::open(&v.backup.filepath)
            .await
            .map_err(|e| {
                crate::error::AppError::Internal(format!("cannot read {}: {e}", v.backup.filepath))
            })?;
        Ok(Archive::Ok(
            Binary(poem::Body::from_async_read(f)),
            format!("attachment; filename=\"{}\"", v.backup.filename),
        ))
    }

    /// Replace all data with the backup's. The archive is verified first (checksums, schema),
    /// a safety backup is taken, and the server goes on with the restored data.
    #[oai(
        path = "/system/backups/:id/restore",
        method = "post",
        tag = "Tag::Backups"
    )]
    async fn backup_restore(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<RestoreObj>> {
        let r = app
            .backups
            .restore_backup(auth.identity(), id.0.into())
            .await?;
        Ok(Json(RestoreObj {
            message: format!(
                "Database restored from backup {}; the server is running on the restored data (safety backup {} holds the data from before).",
                r.backup.id, r.safety_backup.id
            ),
            backup_id: r.backup.id.get(),
            safety_backup_id: r.safety_backup.id.get(),
            from_schema_version: r.from_schema,
            counts: r.counts,
        }))
    }

    /// Restore from an uploaded archive (one downloaded from this or another aiops server):
    /// the body is the .tar.gz itself (`application/gzip` or `application/octet-stream`, at
    /// most `max_body_bytes`; the web page /admin/backups takes larger ones). It is verified
    /// completely, kept as a backup of kind `uploaded`, then restored like any backup.
    #[oai(path = "/system/backups/upload", method = "post", tag = "Tag::Backups")]
    async fn backup_upload(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        /// The archive's file name, for the backup's description.
        filename: Query<Option<String>>,
        body: ArchiveBody,
    ) -> R<Json<RestoreObj>> {
        let (ArchiveBody::Gzip(b) | ArchiveBody::Bytes(b)) = body;
        let name = filename.0.unwrap_or_else(|| "upload.tar.gz".into());
        let r = app
            .backups
            .restore_from_upload(auth.identity(), &name, std::io::Cursor::new(b.0))
            .await?;
        Ok(Json(RestoreObj {
            message: format!(
                "Database restored from the uploaded archive (now backup {}); the server is running on the restored data (safety backup {} holds the data from before).",
                r.backup.id, r.safety_backup.id
            ),
            backup_id: r.backup.id.get(),
            safety_backup_id: r.safety_backup.id.get(),
            from_schema_version: r.from_schema,
            counts: r.counts,
        }))
    }

    #[oai(path = "/system/backups/:id", method = "delete", tag = "Tag::Backups")]
    async fn backup_delete(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<SystemMessage>> {
        app.backups.delete_backup(auth.identity(), id.0.into())?;
        Ok(Json(SystemMessage {
            message: format!("Backup {} deleted", id.0),
        }))
    }

    /// When scheduled backups run and how many are kept.
    #[oai(path = "/system/backup-schedule", method = "get", tag = "Tag::Backups")]
    async fn schedule_get(&self, app: AppRef<'_>, auth: Auth) -> R<Json<ScheduleObj>> {
        let s = app.backups.backup_schedule(auth.identity())?;
        Ok(Json(ScheduleObj {
            cron: s.cron,
            keep_last: s.keep_last.map(|n| n as u64),
            keep_days: s.keep_days,
        }))
    }

    #[oai(path = "/system/backup-schedule", method = "put", tag = "Tag::Backups")]
    async fn schedule_put(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ScheduleObj>,
    ) -> R<Json<ScheduleObj>> {
        let b = body.0;
        let s = app.backups.set_backup_schedule(
            auth.identity(),
            BackupSchedule {
                cron: b.cron,
                keep_last: b.keep_last.map(|n| n as usize),
                keep_days: b.keep_days,
            },
        )?;
        Ok(Json(ScheduleObj {
            cron: s.cron,
            keep_last: s.keep_last.map(|n| n as u64),
            keep_days: s.keep_days,
        }))
    }
}
