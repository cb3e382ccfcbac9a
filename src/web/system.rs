//! Admin pages: system status (with scheduled jobs), backups, and the log viewer.

use super::layout::{csrf_field, error_box, flash_cookie, fmt_time, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::services::App;
use crate::services::backup::BackupSchedule;
use crate::services::system::component_title;
use maud::{Markup, html};
use poem::web::{Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use crate::domain::BackupKind;

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

#[derive(Deserialize)]
pub struct StatusQuery {
    refresh: Option<String>,
}

/// "12 s ago", "3 min ago", "2 h ago".
pub fn ago(secs: i64) -> String {
    match secs.max(0) {
        s if s < 90 => format!("{s} s ago"),
        s if s < 90 * 60 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

#[handler]
pub async fn status_get(
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<StatusQuery>,
    WebUser(who): WebUser,
) -> Response {
    let refresh = matches!(q.refresh.as_deref(), Some("1" | "true"));
    let s = match app.system.system_status(&who, refresh).await {
        Ok(s) => s,
        Err(e) => return not_found(&who, &e),
    };
    let jobs = app.scheduler.scheduled_jobs(&who).unwrap_or_default();
    let tools = app.system.tool_versions(&who).await.unwrap_or_default();
    let checked = (crate::domain::model::now() - s.checked_at).num_seconds();
    page(
        "System",
        Some(&who),
        html! {
            h1 { "System" }
            p.wrap {
                "aiops " (env!("CARGO_PKG_VERSION")) " · up " (s.uptime_seconds / 60) " min · data "
                code { (s.data_dir.display()) } " (" (size(s.data_dir_bytes)) ")"
            }
            @if let Some(why) = app.sandbox.sandbox_broken.get().filter(|_| app.sandbox.sandbox_on()) {
                p #sandbox-broken.error role="alert" {
                    strong { "The agent sandbox cannot be built, so agents, git and project playbooks are disabled. " }
                    (why)
                }
            }
            @if !app.sandbox.sandbox_on() {
                p #sandbox-off.error role="alert" {
                    strong { "The agent sandbox is off. " }
                    "Agents, shells and project playbooks run with this server's own powers: any of them can read the data directory, the master key and other users' sessions. Set "
                    code { "sandbox = \"on\"" } " (or " code { "AIOPS_SANDBOX=on" } ") and restart."
                }
            }
            // Polled every 30 s (htmx swaps in the same block of the fresh page).
            section #status-live hx-get="/admin/system" hx-select="#status-live" hx-target="this"
                hx-swap="outerHTML" hx-trigger="every 30s" {
                div.status-head {
                    p #checked-at.muted data-checked-at=(s.checked_at.to_rfc3339()) {
                        "Tools checked " (ago(checked)) " · this page refreshes itself"
                    }
                    button #status-refresh.outline.secondary type="button" hx-get="/admin/system?refresh=1"
                        hx-select="#status-live" hx-target="#status-live" hx-swap="outerHTML" { "Refresh now" }
                }
                @if refresh { p.notice role="status" { "Checked again just now." } }
                @if s.attention.is_empty() {
                    p { mark #overall.ok { "✓ All parts healthy" } }
                } @else {
                    p { mark #overall.bad {
                        "✗ " (s.attention.len()) @if s.attention.len() == 1 { " thing needs attention" } @else { " things need attention" }
                    } }
                    ul #attention {
                        @for a in &s.attention { li.wrap { (a) } }
                    }
                }
                div.grid-cards #components {
                    @for (name, c) in &s.components {
                        article.component.{ @if c.healthy { "healthy" } @else { "unhealthy" } } {
                            header { strong { (component_title(name)) } " " @if c.healthy { "✓" } @else { "✗" } }
                            p.wrap { (c.message) }
                        }
                    }
                }
                h2 { "Scheduled jobs" }
                @if jobs.is_empty() {
                    p.muted { "Nothing is scheduled." }
                } @else {
                    div.overflow-auto {
                        table #jobs.striped {
                            thead { tr { th { "Job" } th { "Cron" } th { "Next run" } th { "Last run" } th { "Last result" } } }
                            tbody {
                                @for j in &jobs {
                                    tr {
                                        td { (j.name) @if j.running { " (running)" } }
                                        td { code { (j.cron) } }
                                        td { (j.next_run.as_ref().map(fmt_time).unwrap_or_default()) }
                                        td { (j.last_run.as_ref().map(fmt_time).unwrap_or_default()) }
                                        td.wrap { (j.last_result.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (tools_section(&who, &tools))
            p { a href="/admin/backups" { "Backups" } " · " a href="/admin/logs" { "Logs" } }
        },
    )
    .into_response()
}

/// The configured agent tools with their installed versions, each with an Update button when
/// an update command is configured for it.
fn tools_section(who: &Identity, tools: &[crate::services::system::ToolVersion]) -> Markup {
    html! {
        section #agent-tools {
            h2 { "Agent tools" }
            @if tools.is_empty() { p.muted { "No agent tools are configured." } }
            ul.tool-list style="list-style:none;padding:0" {
                @for t in tools {
                    li.wrap id={ "tool-" (t.name) } style="margin-bottom:.8rem" {
                        strong { (t.name) } " "
                        @match (&t.version, &t.problem) {
                            (Some(v), _) => code.tool-version { (v) },
                            (None, Some(p)) => span.muted.tool-problem { (p) },
                            _ => {},
                        }
                        br; small.muted { code { (t.command) } }
                        @if t.updatable {
                            form method="post" action={ "/admin/system/tools/" (t.name) "/update" }
                                hx-post={ "/admin/system/tools/" (t.name) "/update" } hx-target={ "#tool-result-" (t.name) }
                                hx-swap="innerHTML" hx-disabled-elt="find button" style="margin:.3rem 0 0" {
                                (csrf_field(who))
                                button.outline.secondary.tool-update type="submit" { "Update " (t.name) }
                            }
                            div.tool-result id={ "tool-result-" (t.name) } role="status" {}
                        }
                    }
                }
            }
        }
    }
}

/// `POST /admin/system/tools/{name}/update`: run the tool's update command (its own, else
/// npm) and show how it ended, with its output.
#[handler]
pub async fn tool_update(
    req: &poem::Request,
    poem::web::Data(app): AppData<'_>,
    poem::web::Path(name): poem::web::Path<String>,
    CsrfForm(who, _f): CsrfForm<NoFields>,
) -> Response {
    let own = app
        .config
        .ai_tool_update_commands
        .contains_key(name.as_str());
    let source = (!own).then_some("npm");
    if is_htmx(req) {
        // From the page: a background job whose output shows as it comes.
        return match app.system.start_tool_update(&who, &name, source) {
            Ok(job) => tool_job_fragment(&job).into_response(),
            Err(e) => shown_error(
                e.status(),
                html! { p.error role="alert" { "Not updated: " (e.to_string()) } },
            ),
        };
    }
    match app.system.update_ai_tool(&who, &name, source).await {
        Ok(t) => done(req, "/admin/system", &t.message),
        Err(e) => not_found(&who, &e),
    }
}

/// `GET /admin/system/tools/jobs/{id}`: a tool update's output so far (the fragment asks
/// again every second until the job ends).
#[handler]
pub async fn tool_job_get(
    poem::web::Data(app): AppData<'_>,
    poem::web::Path(id): poem::web::Path<u64>,
    who: WebUser,
) -> Response {
    let who = who.0;
    match app.system.tool_job(&who, id) {
        Ok(job) => tool_job_fragment(&job).into_response(),
        Err(e) => shown_error(
            e.status(),
            html! { p.error role="alert" { (e.to_string()) } },
        ),
    }
}

fn tool_job_fragment(job: &crate::services::system::ToolJob) -> Markup {
    let url = format!("/admin/system/tools/jobs/{}", job.id);
    html! {
        @match &job.done {
            None => div.tool-job hx-get=(url) hx-trigger="load delay:1s" hx-swap="outerHTML" {
                p.notice role="status" aria-busy="true" .tool-outcome { "Updating " (job.tool_label) ": " code { (job.command) } " …" }
                @if !job.output.trim().is_empty() { pre.tool-output style="white-space:pre-wrap;max-height:20rem;overflow:auto" { (job.output.trim()) } }
            },
            Some((ok, message)) => div.tool-job {
                p.{ @if *ok { "notice" } @else { "error" } } role="status" .tool-outcome { (message) }
                @if !job.output.trim().is_empty() { pre.tool-output style="white-space:pre-wrap;max-height:20rem;overflow:auto" { (job.output.trim()) } }
            },
        }
    }
}

fn backups_page(
    app: &App,
    who: &Identity,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Markup, crate::error::AppError> {
    // The services decide who may see the backups (administrators).
    let list = app.backups.list_backups(who)?;
    let sched = app.backups.backup_schedule(who)?;
    Ok(page(
        "Backups",
        Some(who),
        html! {
            h1 { "Backups" }
            (error_box(error))
            (notice_box(notice))
            form #backup-create method="post" action="/admin/backups" {
                (csrf_field(who))
                input type="hidden" name="action" value="create";
                fieldset role="group" {
                    input type="text" name="description" placeholder="Description (optional)" aria-label="Description";
                    button type="submit" { "Back up now" }
                }
            }
            details #backup-upload-box open[error.is_some()] {
                summary { "Restore from an uploaded archive" }
                p.muted { "An archive downloaded from this or another aiops server (its .tar.gz). It is checked first; you confirm before it replaces anything." }
                form #backup-upload method="post" action="/streams/admin/backups/upload" enctype="multipart/form-data" {
                    // The token first: the server checks it before reading the file.
                    (csrf_field(who))
                    label { "Backup archive (.tar.gz)"
                        input #backup-file type="file" name="archive" accept=".tar.gz,.tgz,application/gzip" required;
                    }
                    button type="submit" { "Upload and check" }
                }
            }
            div.overflow-auto {
                table #backup-list.striped {
                    thead { tr { th { "#" } th { "When" } th { "Kind" } th { "Size" } th { "Description" } th {} } }
                    tbody {
                        @for v in &list {
                            @let b = &v.backup;
                            tr {
                                td { (b.id) }
                                td { (fmt_time(&b.created_at)) }
                                td { (b.kind.map_or("manual", BackupKind::as_str)) }
                                td { (size(b.size_bytes)) }
                                td.wrap { (b.description.as_deref().unwrap_or("")) }
                                td.actions {
                                    a href={ "/api/v1/system/backups/" (b.id) "/download" } download { "Download" }
                                    " "
                                    form.inline method="post" action={ "/admin/backups/" (b.id) "/restore" }
                                        onsubmit="return confirm('Replace ALL current data with this backup? A safety backup is taken first.')" {
                                        (csrf_field(who)) button.small.outline type="submit" { "Restore" }
                                    }
                                    " "
                                    form.inline method="post" action={ "/admin/backups/" (b.id) "/delete" }
                                        onsubmit="return confirm('Delete this backup file?')" {
                                        (csrf_field(who)) button.small.outline.secondary type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No backups yet." } }
            h2 { "Schedule" }
            form #backup-schedule method="post" action="/admin/backups" {
                (csrf_field(who))
                input type="hidden" name="action" value="schedule";
                label { "Cron (5 fields, or 6 with seconds; empty: off)"
                    input type="text" name="cron" value=(sched.cron.clone().unwrap_or_default()) placeholder="0 3 * * *";
                }
                div.grid {
                    label { "Keep the newest" input type="number" min="1" name="keep_last" value=(sched.keep_last.map(|n| n.to_string()).unwrap_or_default()); }
                    label { "Remove after (days)" input type="number" min="0" name="keep_days" value=(sched.keep_days.map(|n| n.to_string()).unwrap_or_default()); }
                }
                button type="submit" { "Save schedule" }
            }
        },
    ))
}

#[handler]
pub fn backups_get(poem::web::Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    match backups_page(app, &who, None, None) {
        Ok(m) => m.into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn outcome(app: &App, who: &Identity, res: Result<String, crate::error::AppError>) -> Response {
    let shown = match &res {
        Ok(m) => backups_page(app, who, None, Some(m)),
        Err(e) => backups_page(app, who, Some(&e.to_string()), None),
    };
    match (shown, res) {
        (Err(e), _) => not_found(who, &e),
        (Ok(m), Ok(_)) => m.into_response(),
        (Ok(m), Err(e)) => shown_error(error_status(&e), m),
    }
}

/// The backups page's forms: `action=schedule` with the schedule's fields (a blank or bad
/// number is "not set"), else a new backup with its `description`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BackupsForm {
    action: String,
    cron: String,
    keep_last: String,
    keep_days: String,
    description: String,
}

#[handler]
pub async fn backups_post(
    poem::web::Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<BackupsForm>,
) -> Response {
    let res = match f.action.as_str() {
        "schedule" => {
            let num = |v: &str| v.trim().parse::<u64>().ok();
            app.backups
                .set_backup_schedule(
                    &who,
                    BackupSchedule {
                        cron: Some(f.cron.trim().to_string()).filter(|c| !c.is_empty()),
                        keep_last: num(&f.keep_last).map(|n| n as usize),
                        keep_days: num(&f.keep_days).map(|n| n as u32),
                    },
                )
                .map(|s| match s.cron {
                    Some(c) => format!("Scheduled backups: {c}."),
                    None => "Scheduled backups are off.".to_string(),
                })
        }
        _ => {
            let d = f.description.trim().to_string();
            app.backups
                .create_backup(&who, Some(&d).filter(|d| !d.is_empty()).map(|d| d.as_str()))
                .await
                .map(|b| format!("Backup #{} created ({}).", b.id, size(b.size_bytes)))
        }
    };
    outcome(app, &who, res)
}

#[handler]
pub async fn backup_action(
    poem::web::Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let res = match action.as_str() {
        "restore" => app.backups.restore_backup(&who, id.into()).await.map(|r| {
            format!(
                "Restored backup #{}. The data from just before is in safety backup #{}.",
                r.backup.id, r.safety_backup.id
            )
        }),
        "delete" => app
            .backups
            .delete_backup(&who, id.into())
            .map(|_| format!("Backup #{id} deleted.")),
        _ => Err(crate::error::AppError::NotFound("No such action".into())),
    };
    outcome(app, &who, res)
}

/// A log line's RFC 3339 timestamp (nanoseconds, UTC) as people read it: to the second.
pub fn log_time(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

/// The confirm step of a restore from an uploaded archive: what is in it, and the button
/// that replaces the data.
fn upload_confirm_page(who: &Identity, up: &crate::services::backup::StagedUpload) -> Markup {
    let m = &up.manifest;
    let count = |k: &str| m.counts.get(k).copied().unwrap_or(0);
    page(
        "Restore from an uploaded archive",
        Some(who),
        html! {
            h1 { "Restore from an uploaded archive" }
            p.notice role="status" #upload-checked {
                "The archive " strong { (up.file_name) } " (" (size(up.size_bytes)) ") is a complete aiops backup: every table matches its checksum."
            }
            dl #upload-summary {
                dt { "Taken" } dd { (fmt_time(&m.created_at)) " UTC by aiops " (m.aiops_version) }
                @if let Some(d) = &m.description { dt { "Description" } dd.wrap { (d) } }
                dt { "Holds" } dd {
                    (count("users")) " users, " (count("tenants")) " tenants, " (count("projects")) " projects, "
                    (count("issues")) " issues"
                }
            }
            article.danger-zone {
                p { strong { "Restoring replaces ALL data on this server" } " (users, tenants, projects, integrations, keys) with the archive's. "
                    "A safety backup of the current data is taken first. Afterwards you log in with the accounts in the archive." }
                form #upload-confirm method="post" action="/admin/backups/restore-upload" {
                    (csrf_field(who))
                    input type="hidden" name="token" value=(up.token);
                    input type="hidden" name="file_name" value=(up.file_name);
                    div.grid {
                        button #upload-confirm-button.danger type="submit" { "Replace all data with this archive" }
                        a #upload-cancel role="button" .secondary.outline href="/admin/backups" { "Cancel" }
                    }
                }
            }
        },
    )
}

/// `POST /streams/admin/backups/upload` (multipart: `csrf_token`, then `archive`): outside the
/// body limit, streamed to a file in the data dir; checked, then the confirm step.
#[handler]
pub async fn backup_upload(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    mut form: poem::web::Multipart,
    WebUser(who): WebUser,
) -> Response {
    let mut csrf: Option<String> = None;
    let res = loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => {
                break Err(crate::error::AppError::BadRequest(
                    "choose a backup archive (.tar.gz) to upload".into(),
                ));
            }
            Err(e) => {
                break Err(crate::error::AppError::BadRequest(format!(
                    "the upload could not be read ({e}); nothing was changed: try again"
                )));
            }
        };
        match field.name() {
            Some("csrf_token") => csrf = field.text().await.ok(),
            Some("archive") => {
                if !csrf_ok(&who, req, csrf.as_deref()) {
                    return csrf_failed(&who);
                }
                let name = field.file_name().unwrap_or("upload").to_string();
                break app
                    .backups
                    .stage_backup_upload(&who, &name, field.into_async_read())
                    .await;
            }
            _ => {}
        }
    };
    match res {
        Ok(up) => upload_confirm_page(&who, &up).into_response(),
        Err(e) => match backups_page(app, &who, Some(&e.to_string()), None) {
            Ok(m) => shown_error(error_status(&e), m),
            Err(e2) => not_found(&who, &e2),
        },
    }
}

/// The confirm step's form: the staged upload's token and file name (`upload_confirm_page`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UploadConfirmForm {
    token: String,
    file_name: String,
}

/// `POST /admin/backups/restore-upload`: the confirmed restore of an uploaded archive.
#[handler]
pub async fn backup_upload_confirm(
    poem::web::Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<UploadConfirmForm>,
) -> Response {
    let name = f.file_name;
    match app
        .backups
        .restore_uploaded_backup(&who, &f.token, &name)
        .await
    {
        Ok(r) => with_cookie(
            redirect("/admin/backups"),
            &flash_cookie(&format!(
                "Restored the uploaded archive {name} (now backup #{}). The data from before is in safety backup #{}. If you are asked to log in, use an account of the restored data.",
                r.backup.id, r.safety_backup.id
            )),
        ),
        Err(e) => match backups_page(app, &who, Some(&e.to_string()), None) {
            Ok(m) => shown_error(error_status(&e), m),
            Err(e2) => not_found(&who, &e2),
        },
    }
}

#[derive(Deserialize)]
pub struct LogQuery {
    lines: Option<usize>,
    filter: Option<String>,
    level: Option<String>,
}

#[handler]
pub fn logs_get(
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<LogQuery>,
    WebUser(who): WebUser,
) -> Response {
    let lines = q.lines.unwrap_or(200).clamp(10, 2000);
    let level = q.level.clone().filter(|l| !l.is_empty());
    let filter = q.filter.clone().filter(|l| !l.is_empty());
    let tail = app
        .system
        .recent_logs(&who, lines, filter.as_deref(), level.as_deref());
    // The service decides who may read the log (administrators).
    if let Err(e @ crate::error::AppError::Forbidden(_)) = &tail {
        return not_found(&who, e);
    }
    page(
        "Logs",
        Some(&who),
        html! {
            h1 { "Logs" }
            form method="get" action="/admin/logs" {
                div.grid {
                    select name="level" aria-label="Minimum level" {
                        @for l in ["", "error", "warn", "info", "debug"] {
                            option value=(l) selected[level.as_deref().unwrap_or("") == l] { @if l.is_empty() { "Any level" } @else { (l) } }
                        }
                    }
                    input type="text" name="filter" value=(filter.clone().unwrap_or_default()) placeholder="Text to look for";
                    input type="number" name="lines" value=(lines) min="10" max="2000";
                    button type="submit" { "Show" }
                }
            }
            @match &tail {
                Err(e) => (error_box(Some(&e.to_string()))),
                Ok(t) => {
                    p.muted.wrap { "Newest first · " code { (t.path.display()) } @if t.truncated { " (older lines left out)" } }
                    div.overflow-auto {
                        table #log-lines.striped {
                            thead { tr { th { "Time (UTC)" } th { "Level" } th { "Message" } th { "Fields" } } }
                            tbody {
                                @for l in t.lines.iter().rev() {
                                    @let j: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                                    @let ts = j.get("timestamp").and_then(|v| v.as_str()).unwrap_or("");
                                    @let level = j.get("level").and_then(|v| v.as_str()).unwrap_or("");
                                    tr.{ "log-" (level.to_lowercase()) } {
                                        td.log-time { time datetime=(ts) title=(ts) { (log_time(ts)) } }
                                        td.log-level { (level) }
                                        td.wrap.log-message { (j.pointer("/fields/message").and_then(|v| v.as_str()).unwrap_or(l)) }
                                        td.wrap.log-fields { code { @if let Some(o) = j.get("fields").and_then(|v| v.as_object()) {
                                            @for (k, v) in o { @if k != "message" { (k) "=" (v) " " } }
                                        } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
